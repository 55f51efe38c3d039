//! The organization sweep's plan: its id (the plan step's invocation id, which names the plan's
//! files in the stack's bucket, `plans/<planId>/` and `results/<planId>/`, and is carried on every
//! event of its phases), and where a file of the bucket is.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::error::{kind_of, quoted, Error};

/// An object of the stack's bucket, named as Step Functions names one (`ItemReader`'s
/// `Parameters`, `ResultWriterDetails`): `{"Bucket", "Key"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct S3Location {
    pub bucket: String,
    pub key: String,
}

/// A plan id: 1 to 128 of the characters `A-Z a-z 0-9 - _` (a Lambda request id is a UUID). No `/`
/// or `.`, so a key built from it (`plans/<planId>/plan.jsonl`) never leaves its own prefix.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PlanId(String);

/// What a plan id may be, for error messages.
const ACCEPTED: &str = "1 to 128 of the characters A-Z a-z 0-9 - _, such as the plan step's \"sweepId\"";

impl PlanId {
    /// Validates `value`, naming `field` in the error.
    pub fn parse(field: &str, value: &Value) -> Result<PlanId, Error> {
        let Value::String(text) = value else {
            return Err(Error::InvalidInput(format!("{field} is {}, but it must be a string of {ACCEPTED}", kind_of(value))));
        };
        if (1..=128).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            Ok(PlanId(text.clone()))
        } else {
            Err(Error::InvalidInput(format!("{field} {} is not a plan id: {ACCEPTED}", quoted(text))))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The prefix of the plan's own files in the stack's bucket: `plans/<planId>/`.
    pub fn plans_prefix(&self) -> String {
        format!("plans/{}/", self.0)
    }
}

impl fmt::Display for PlanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for PlanId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

/// Read back with the same validation as [`PlanId::parse`].
impl<'de> Deserialize<'de> for PlanId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        PlanId::parse("planId", &Value::String(text)).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_id_is_a_request_id_and_never_a_path() {
        let id = PlanId::parse("planId", &Value::from("5a0d7c3e-9b1f-4e62-8c4a-7f2e1d9b3c60")).unwrap();
        assert_eq!(id.plans_prefix(), "plans/5a0d7c3e-9b1f-4e62-8c4a-7f2e1d9b3c60/");
        for bad in ["", "..", "a/b", "../other", "a b", &"x".repeat(129)] {
            let error = PlanId::parse("planId", &Value::from(bad)).unwrap_err();
            assert!(error.to_string().contains("is not a plan id"), "{bad:?}: {error}");
        }
        assert!(PlanId::parse("planId", &Value::from(3)).unwrap_err().to_string().contains("is a number"));
        assert!(serde_json::from_value::<PlanId>(Value::from("a/../b")).is_err());
    }
}
