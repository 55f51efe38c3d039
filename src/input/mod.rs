//! Input shapes: each event is classified by hand into what the functions act on, so that anything
//! else becomes `InvalidInput` with a sentence saying what was wrong and which shapes are accepted.
//! One module a function ([`delete`], [`check`], [`sweep`]); what they share is here: the raw
//! payload, JSON read without ambiguity, and the near-miss rule for members.

pub mod approval;
pub mod check;
pub mod delete;
pub mod sweep;

use std::fmt;

use serde_json::{Map, Value};

use crate::error::{kind_of, quoted, Error};
use crate::model::{AccountId, InstanceId};

pub use check::{parse_check_event, CheckEvent, CHECK_SHAPES};
pub use delete::{parse_delete_event, DeleteEvent, SqsItem, DELETE_SHAPES, REQUEST_MEMBERS};

/// The event exactly as the runtime hands it over: JSON, or why it is not JSON. Deserialising into
/// this never fails, so that bytes that are not JSON (or JSON nested deeper than the parser's limit)
/// become our `InvalidInput` instead of the runtime's own deserialisation error.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    Json(Value),
    NotJson(String),
}

impl<'de> serde::Deserialize<'de> for Payload {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match <Unambiguous as serde::Deserialize>::deserialize(deserializer) {
            Ok(Unambiguous(value)) => Payload::Json(value),
            Err(error) => Payload::NotJson(error.to_string()),
        })
    }
}

impl Payload {
    /// The JSON value, or `InvalidInput` naming the parse error and the accepted shapes.
    pub fn json(&self, shapes: &str) -> Result<&Value, Error> {
        match self {
            Payload::Json(value) => Ok(value),
            Payload::NotJson(reason) => Err(invalid(format!("the event {}; {shapes}", not_json(reason)))),
        }
    }
}

/// Reads `text` as JSON, refusing an object that has a member twice ([`Unambiguous`]); `what`
/// names the text in the error.
fn read_json(what: &str, text: &str) -> Result<Value, Error> {
    serde_json::from_str::<Unambiguous>(text)
        .map(|Unambiguous(value)| value)
        .map_err(|error| invalid(format!("{what} {}; {DELETE_SHAPES}", not_json(&error.to_string()))))
}

/// The start of the parser's message for a member given twice.
const TWICE: &str = "the member ";

fn not_json(reason: &str) -> String {
    if reason.starts_with(TWICE) {
        format!("is ambiguous: {reason}; JSON parsers disagree on which of the two values counts")
    } else {
        format!("is not JSON ({})", quoted(reason))
    }
}

/// JSON read as `serde_json::Value` reads it, except that an object with the same member twice is
/// refused: parsers disagree on which value such an object means (serde_json keeps the last, others
/// the first), and a function that deletes must never guess which instance was meant.
struct Unambiguous(Value);

impl<'de> serde::Deserialize<'de> for Unambiguous {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(UnambiguousVisitor).map(Unambiguous)
    }
}

struct UnambiguousVisitor;

impl<'de> serde::de::Visitor<'de> for UnambiguousVisitor {
    type Value = Value;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("any JSON value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_str<E>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_owned()))
    }

    fn visit_string<E>(self, value: String) -> Result<Value, E> {
        Ok(Value::String(value))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        <Unambiguous as serde::Deserialize>::deserialize(deserializer).map(|Unambiguous(value)| value)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Unambiguous(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let Unambiguous(value) = map.next_value()?;
            if object.contains_key(&key) {
                return Err(serde::de::Error::custom(format!("{TWICE}{} appears twice in one object", quoted(&key))));
            }
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

/// The member of `known` that `member` is a near miss of: the same once case, `_` and `-` are
/// ignored (`dry_run`, `DryRun`, `Dry-Run` for `dryRun`), but not the same. `None` for an exact
/// member or one that is merely unknown.
pub fn near_miss<'a>(member: &str, known: &[&'a str]) -> Option<&'a str> {
    fn folded(text: &str) -> String {
        text.chars().filter(|c| !matches!(c, '_' | '-')).flat_map(char::to_lowercase).collect()
    }
    let member_folded = folded(member);
    known.iter().copied().find(|k| *k != member && folded(k) == member_folded)
}

/// Refuses an object with a near miss of one of the `known` members ([`near_miss`]), naming the
/// member meant. Members that are merely unknown pass.
pub(crate) fn refuse_near_misses(what: &str, object: &Map<String, Value>, known: &[&str]) -> Result<(), Error> {
    for member in object.keys() {
        if let Some(meant) = near_miss(member, known) {
            return Err(invalid(format!(
                "{what} has the member {}, which is not accepted: did you mean {meant}? Members are matched exactly, \
                 so that a misspelt one is never ignored",
                quoted(member)
            )));
        }
    }
    Ok(())
}

/// The member EventBridge adds at the top level of every event it replays from an archive.
const REPLAY_NAME: &str = "replay-name";

/// Refuses an object that carries `replay-name`: a replay puts archived history back on the bus,
/// and history read again must never act again (delete, or start re-checks). The stack's rules
/// leave replays out; this refusal holds wherever else a replayed event arrives from (an SQS
/// queue, a rule of someone else's, a direct invocation). `what` names the object in errors.
pub(crate) fn refuse_replay(what: &str, object: &Map<String, Value>) -> Result<(), Error> {
    match object.get(REPLAY_NAME) {
        None => Ok(()),
        Some(name) => Err(invalid(format!(
            "{what} carries \"{REPLAY_NAME}\" ({}): it is a replay of archived events, which is history and is never acted on \
             again; accepted: the original event sent anew, without \"{REPLAY_NAME}\"",
            match name {
                Value::String(name) => quoted(name),
                other => kind_of(other).to_owned(),
            }
        ))),
    }
}

/// Refuses an EventBridge event (an object with `detail-type`) whose `account` is not `home`: the
/// events a function takes only from the stack itself (the checker's Deletion Started) must not
/// be sendable by another account. EventBridge sets `account` to the account that put the event,
/// and no sender can choose it. An event without `account` did not come through EventBridge: only
/// a principal allowed to invoke the function directly can send one, and the stack's own account
/// grants that. Without `home` (a local runtime's placeholder ARN) nothing tells the accounts apart.
pub fn refuse_event_from_elsewhere(event: &Value, home: Option<&AccountId>, function: &str) -> Result<(), Error> {
    let (Value::Object(object), Some(home)) = (event, home) else {
        return Ok(());
    };
    if !object.contains_key("detail-type") {
        return Ok(());
    }
    let Some(account) = object.get("account") else {
        return Ok(());
    };
    let sender = AccountId::parse("the EventBridge event's \"account\"", account)?;
    if &sender == home {
        return Ok(());
    }
    Err(invalid(format!(
        "the EventBridge event comes from account {sender}, but {function} takes EventBridge events only from its own account \
         {home}, where the stack's functions put them; accepted: events put in account {home}"
    )))
}

/// The instance id of a request object: from `instanceId`, or from a previous output's `instance.instanceId`.
fn instance_id_of(what: &str, object: &Map<String, Value>, shapes: &str) -> Result<InstanceId, Error> {
    match (object.get("instanceId"), object.get("instance")) {
        (Some(id), None) => InstanceId::parse(&field_name(what, "instanceId"), id),
        (None, Some(Value::Object(instance))) => match instance.get("instanceId") {
            Some(id) => InstanceId::parse(&field_name(what, "instance.instanceId"), id),
            None => Err(invalid(format!("{what} has an \"instance\" without \"instanceId\"; {shapes}"))),
        },
        (None, Some(other)) => {
            Err(invalid(format!("{what} has \"instance\" {}, but it must be an object; {shapes}", kind_of(other))))
        }
        (Some(_), Some(_)) => Err(invalid(format!(
            "{what} has both \"instanceId\" and \"instance\"; exactly one of them is accepted, so that the instance to act on is never ambiguous"
        ))),
        (None, None) => Err(invalid(format!("{what} names no instance (no \"instanceId\" and no \"instance\"); {shapes}"))),
    }
}

fn as_object<'a>(what: &str, value: &'a Value, shapes: &str) -> Result<&'a Map<String, Value>, Error> {
    match value {
        Value::Object(object) => Ok(object),
        other => Err(invalid(format!("{what} is {}, but it must be a JSON object; {shapes}", kind_of(other)))),
    }
}

fn field_name(what: &str, field: &str) -> String {
    if what == "the event" {
        field.to_owned()
    } else {
        format!("{field} in {what}")
    }
}

fn invalid(message: String) -> Error {
    Error::InvalidInput(message)
}

#[cfg(test)]
mod payload_tests {
    use super::*;
    use crate::input::delete::{parse_delete_event, DeleteEvent, DELETE_SHAPES};
    use crate::model::Home;
    use serde::Deserialize;

    fn payload(bytes: &[u8]) -> Payload {
        // As the runtime deserialises: serde_path_to_error over a slice deserializer.
        serde_json::from_slice::<Payload>(bytes).unwrap_or_else(|_| {
            let mut deserializer = serde_json::Deserializer::from_slice(bytes);
            Payload::deserialize(&mut deserializer).unwrap()
        })
    }

    #[test]
    fn bytes_that_are_not_json_become_invalid_input() {
        for bytes in [&b"not json"[..], b"", b"{\"instanceId\":", b"\xff\xfe"] {
            let error = payload(bytes).json(DELETE_SHAPES).unwrap_err();
            assert!(matches!(&error, Error::InvalidInput(m) if m.contains("is not JSON") && m.contains("accepted shapes")), "{error}");
        }
    }

    #[test]
    fn a_member_given_twice_is_ambiguous_and_refused() {
        let bytes = br#"{"instanceId": "0c3b2f4e-8a1d-4c6e-9f2b-7d5a1e3c9b40", "instanceId": "5e7a9c1b-3d2f-4a6e-8b0c-1f3e5a7c9d2b"}"#;
        let error = payload(bytes).json(DELETE_SHAPES).unwrap_err();
        assert!(
            matches!(&error, Error::InvalidInput(m) if m.contains("ambiguous") && m.contains("\"instanceId\" appears twice")),
            "{error}"
        );
        // Nested too, and in an SQS message body.
        let nested = br#"{"detail-type": "x", "source": "ops", "detail": {"dryRun": true, "dryRun": false}}"#;
        assert!(matches!(payload(nested), Payload::NotJson(_)));
        let body = r#"{"instanceId": "0c3b2f4e-8a1d-4c6e-9f2b-7d5a1e3c9b40", "dryRun": false, "dryRun": true}"#;
        let event = serde_json::json!({"Records": [{"messageId": "m1", "body": body}]});
        let Ok(DeleteEvent::Sqs(items)) = parse_delete_event(&event) else { panic!("not a batch") };
        assert!(matches!(&items[0].request, Err(Error::InvalidInput(m)) if m.contains("\"dryRun\" appears twice")), "{:?}", items[0]);
    }

    #[test]
    fn an_eventbridge_event_from_another_account_is_refused_and_one_from_the_own_account_is_not() {
        let home = Home::resolve("arn:aws:lambda:us-east-1:123456789012:function:check-instance-status", "us-east-1").unwrap().account;
        assert_eq!(home.as_ref().map(AccountId::as_str), Some("123456789012"));
        let from =
            |account: &str| serde_json::json!({"detail-type": "Supply Chain Instance Deletion Started", "account": account, "detail": {}});
        let error = refuse_event_from_elsewhere(&from("210987654321"), home.as_ref(), "the status checker").unwrap_err();
        assert!(
            matches!(&error, Error::InvalidInput(m) if m.contains("comes from account 210987654321") && m.contains("only from its own account 123456789012")),
            "{error}"
        );
        assert!(
            matches!(refuse_event_from_elsewhere(&from("me"), home.as_ref(), "x"), Err(Error::InvalidInput(m)) if m.contains("12 digits"))
        );
        assert_eq!(refuse_event_from_elsewhere(&from("123456789012"), home.as_ref(), "x"), Ok(()));
        // Not EventBridge's: a direct invocation, which only the stack's own account may make.
        let direct = serde_json::json!({"detail-type": "Supply Chain Instance Deletion Started", "detail": {}});
        assert_eq!(refuse_event_from_elsewhere(&direct, home.as_ref(), "x"), Ok(()));
        assert_eq!(
            refuse_event_from_elsewhere(&serde_json::json!({"instanceId": "x", "account": "210987654321"}), home.as_ref(), "x"),
            Ok(())
        );
        // A local runtime's placeholder ARN names no account.
        assert_eq!(Home::resolve("function-arn", "us-east-1").unwrap().account, None);
        assert_eq!(refuse_event_from_elsewhere(&from("210987654321"), None, "x"), Ok(()));
    }

    #[test]
    fn json_nested_past_the_parser_limit_becomes_invalid_input() {
        let nested = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        let error = payload(nested.as_bytes()).json(DELETE_SHAPES).unwrap_err();
        assert!(matches!(&error, Error::InvalidInput(m) if m.contains("recursion limit")), "{error}");
    }
}
