//! STS `AssumeRole` in the AWS Query protocol, as the AWS SDKs speak it: a form-encoded `POST /`
//! (`Action=AssumeRole&Version=2011-06-15&RoleArn=…&RoleSessionName=…&DurationSeconds=…`), signed
//! with service `sts`, answered in XML. Errors are `<ErrorResponse>` documents
//! ([`crate::faults::Protocol::Query`]).

use std::time::Duration;

use crate::accounts::{Caller, RoleArn, Session, DEFAULT_SESSION_SECONDS, MAX_SESSION_SECONDS};
use crate::sigv4;
use crate::store::{ApiError, Store};

/// The signing name of STS.
pub(crate) const SERVICE: &str = "sts";

/// The API version the SDKs send and the XML namespace they expect.
const VERSION: &str = "2011-06-15";

/// The pairs of a form-encoded body, decoded (`+` is a space).
pub(crate) fn form(body: &[u8]) -> Vec<(String, String)> {
    sigv4::decode_pairs(&String::from_utf8_lossy(body))
}

/// The value of the first `name` parameter.
pub(crate) fn param<'p>(params: &'p [(String, String)], name: &str) -> Option<&'p str> {
    params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn validation(message: impl Into<String>) -> ApiError {
    ApiError { status: 400, error_type: "ValidationError".into(), message: message.into() }
}

/// 400 `InvalidAction`: an action the emulator does not serve.
pub(crate) fn invalid_action(action: &str) -> ApiError {
    ApiError {
        status: 400,
        error_type: "InvalidAction".into(),
        message: format!("Could not find operation {action} for version {VERSION}"),
    }
}

/// How a refused signature reads in STS's own codes.
pub(crate) fn signature_refused(message: String) -> ApiError {
    let code = if message.starts_with("Missing Authentication Token") {
        "MissingAuthenticationToken"
    } else if message.contains("security token") || message.contains("unknown access key") {
        "InvalidClientTokenId"
    } else {
        "SignatureDoesNotMatch"
    };
    ApiError { status: 403, error_type: code.into(), message }
}

/// STS's answer to a call signed with expired session credentials. STS answers 403 `ExpiredToken`
/// (its model declares `ExpiredTokenException`, 400, which the service does not send here).
pub(crate) fn expired() -> ApiError {
    ApiError { status: 403, error_type: "ExpiredToken".into(), message: "The security token included in the request is expired".into() }
}

/// Checks an AssumeRole request against the model and the role's trust policy, then issues a
/// session and keeps it in the store.
pub(crate) fn assume_role(store: &mut Store, caller: &Caller, params: &[(String, String)]) -> Result<Session, ApiError> {
    let role_arn = param(params, "RoleArn").ok_or_else(|| validation(crate::model::missing("roleArn")))?;
    let session_name = param(params, "RoleSessionName").ok_or_else(|| validation(crate::model::missing("roleSessionName")))?;
    let length = |value: &str, field: &str, min: usize, max: usize| {
        let n = value.chars().count();
        if n < min {
            Err(validation(crate::model::violation(value, field, &format!("Member must have length greater than or equal to {min}"))))
        } else if n > max {
            Err(validation(crate::model::violation(value, field, &format!("Member must have length less than or equal to {max}"))))
        } else {
            Ok(())
        }
    };
    length(role_arn, "roleArn", 20, 2048)?;
    length(session_name, "roleSessionName", 2, 64)?;
    if !session_name.chars().all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c)) {
        return Err(validation(crate::model::violation(
            session_name,
            "roleSessionName",
            "Member must satisfy regular expression pattern: [\\w+=,.@-]*",
        )));
    }
    let requested = match param(params, "DurationSeconds") {
        None => None,
        Some(raw) => {
            let seconds: i64 = raw.parse().map_err(|_| validation(format!("Invalid value '{raw}' for DurationSeconds")))?;
            let min = store.config.min_session_seconds;
            if seconds < min as i64 {
                return Err(validation(crate::model::violation(
                    raw,
                    "durationSeconds",
                    &format!("Member must have value greater than or equal to {min}"),
                )));
            }
            if seconds > MAX_SESSION_SECONDS as i64 {
                return Err(validation(crate::model::violation(
                    raw,
                    "durationSeconds",
                    &format!("Member must have value less than or equal to {MAX_SESSION_SECONDS}"),
                )));
            }
            Some(seconds as u64)
        }
    };
    let parsed = RoleArn::parse(role_arn).ok_or_else(|| validation(format!("{role_arn} is invalid")))?;
    // STS does not tell a missing role from one that does not trust the caller: both are AccessDenied.
    let role = store
        .config
        .accounts
        .iter()
        .filter(|account| account.account_id == parsed.account_id)
        .flat_map(|account| &account.roles)
        .find(|role| role.name == parsed.name && role.trusts(caller))
        .ok_or_else(|| ApiError {
            status: 403,
            error_type: "AccessDenied".into(),
            message: format!("User: {} is not authorized to perform: sts:AssumeRole on resource: {role_arn}", caller.arn),
        })?;
    let max = role.max_session_seconds.unwrap_or(DEFAULT_SESSION_SECONDS);
    let seconds = match requested {
        Some(seconds) if seconds > max => {
            return Err(validation(format!(
                "The requested DurationSeconds exceeds the MaxSessionDuration set for this role ({max} seconds)."
            )))
        }
        Some(seconds) => seconds,
        None => DEFAULT_SESSION_SECONDS.min(max),
    };
    let session = Session::issue(&parsed, session_name, store.now() + Duration::from_secs(seconds));
    store.sessions.insert(session.credentials.access_key_id.clone(), session.clone());
    Ok(session)
}

/// The `AssumeRoleResponse` document for an issued session.
pub(crate) fn assume_role_xml(session: &Session, request_id: &str) -> String {
    let token = session.credentials.session_token.as_deref().unwrap_or_default();
    format!(
        "<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/{VERSION}/\">\n\
         \x20 <AssumeRoleResult>\n\
         \x20   <Credentials>\n\
         \x20     <AccessKeyId>{}</AccessKeyId>\n\
         \x20     <SecretAccessKey>{}</SecretAccessKey>\n\
         \x20     <SessionToken>{}</SessionToken>\n\
         \x20     <Expiration>{}</Expiration>\n\
         \x20   </Credentials>\n\
         \x20   <AssumedRoleUser>\n\
         \x20     <AssumedRoleId>{}</AssumedRoleId>\n\
         \x20     <Arn>{}</Arn>\n\
         \x20   </AssumedRoleUser>\n\
         \x20 </AssumeRoleResult>\n\
         \x20 <ResponseMetadata>\n\
         \x20   <RequestId>{}</RequestId>\n\
         \x20 </ResponseMetadata>\n\
         </AssumeRoleResponse>\n",
        xml_escape(&session.credentials.access_key_id),
        xml_escape(&session.credentials.secret_access_key),
        xml_escape(token),
        rfc3339(session.expires),
        xml_escape(&session.assumed_role_id),
        xml_escape(&session.assumed_role_arn),
        xml_escape(request_id),
    )
}

/// The `ErrorResponse` document of the Query protocol: `Type` is `Sender` for 4xx, `Receiver` for 5xx.
pub(crate) fn error_xml(status: u16, code: &str, message: &str, request_id: &str) -> String {
    let kind = if status >= 500 { "Receiver" } else { "Sender" };
    format!(
        "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/{VERSION}/\">\n\
         \x20 <Error>\n\
         \x20   <Type>{kind}</Type>\n\
         \x20   <Code>{}</Code>\n\
         \x20   <Message>{}</Message>\n\
         \x20 </Error>\n\
         \x20 <RequestId>{}</RequestId>\n\
         </ErrorResponse>\n",
        xml_escape(code),
        xml_escape(message),
        xml_escape(request_id),
    )
}

fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// `YYYY-MM-DDTHH:MM:SSZ` for a time since the Unix epoch (whole seconds, as STS writes it).
pub(crate) fn rfc3339(since_epoch: Duration) -> String {
    let secs = since_epoch.as_secs();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's `civil_from_days`).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rest / 3600, rest % 3600 / 60, rest % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expirations_are_written_in_utc_as_sts_writes_them() {
        assert_eq!(rfc3339(Duration::ZERO), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(Duration::from_secs(951_782_400)), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(Duration::from_secs(1_798_761_599)), "2026-12-31T23:59:59Z");
    }

    #[test]
    fn form_bodies_decode_percent_escapes_and_plus_signs() {
        let params = form(b"Action=AssumeRole&RoleArn=arn%3Aaws%3Aiam%3A%3A210987654321%3Arole%2FR&RoleSessionName=a+b");
        assert_eq!(param(&params, "Action"), Some("AssumeRole"));
        assert_eq!(param(&params, "RoleArn"), Some("arn:aws:iam::210987654321:role/R"));
        assert_eq!(param(&params, "RoleSessionName"), Some("a b"));
        assert_eq!(param(&params, "DurationSeconds"), None);
    }

    #[test]
    fn error_documents_escape_their_text_and_name_the_side_at_fault() {
        let xml = error_xml(403, "AccessDenied", "<not> & allowed", "rid");
        assert!(xml.contains("<Type>Sender</Type>") && xml.contains("<Code>AccessDenied</Code>"), "{xml}");
        assert!(xml.contains("&lt;not&gt; &amp; allowed"), "{xml}");
        assert!(error_xml(503, "ServiceUnavailable", "m", "rid").contains("<Type>Receiver</Type>"));
    }
}
