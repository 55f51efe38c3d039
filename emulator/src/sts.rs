//! STS `AssumeRole` in the AWS Query protocol, as the AWS SDKs speak it: a form-encoded `POST /`
//! (`Action=AssumeRole&Version=2011-06-15&RoleArn=…&RoleSessionName=…&DurationSeconds=…`), signed
//! with service `sts`, answered in XML. Errors are `<ErrorResponse>` documents
//! ([`crate::faults::Protocol::Query`]).

use std::time::Duration;

use crate::accounts::{Account, Caller, Role, RoleArn, Session, DEFAULT_SESSION_SECONDS, MAX_SESSION_SECONDS};
use crate::query::{param, xml_escape, VERSION};
use crate::store::{ApiError, Store};

/// The signing name of STS.
pub(crate) const SERVICE: &str = "sts";

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
    length(role_arn, "roleArn", 20, 2048)?;
    check_session_name(session_name)?;
    let requested = requested_seconds(params, store.config.min_session_seconds)?;
    let parsed = RoleArn::parse(role_arn).ok_or_else(|| validation(format!("{role_arn} is invalid")))?;
    let role = trusted_role(&store.config.accounts, &parsed, caller, role_arn)?;
    let seconds = session_seconds(requested, role)?;
    let session = Session::issue(&parsed, session_name, store.now() + Duration::from_secs(seconds));
    store.sessions.insert(session.credentials.access_key_id.clone(), session.clone());
    Ok(session)
}

/// Refuses a `field` whose length is outside `min..=max` characters, as the model bounds it.
fn length(value: &str, field: &str, min: usize, max: usize) -> Result<(), ApiError> {
    let n = value.chars().count();
    if n < min {
        Err(validation(crate::model::violation(value, field, &format!("Member must have length greater than or equal to {min}"))))
    } else if n > max {
        Err(validation(crate::model::violation(value, field, &format!("Member must have length less than or equal to {max}"))))
    } else {
        Ok(())
    }
}

/// Checks `RoleSessionName` against the model: 2 to 64 characters of `[\w+=,.@-]`.
fn check_session_name(session_name: &str) -> Result<(), ApiError> {
    length(session_name, "roleSessionName", 2, 64)?;
    if !session_name.chars().all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c)) {
        return Err(validation(crate::model::violation(
            session_name,
            "roleSessionName",
            "Member must satisfy regular expression pattern: [\\w+=,.@-]*",
        )));
    }
    Ok(())
}

/// The `DurationSeconds` asked for, when there is one, checked against the bounds every role
/// shares: at least `min` (the configured shortest session), at most [`MAX_SESSION_SECONDS`].
fn requested_seconds(params: &[(String, String)], min: u64) -> Result<Option<u64>, ApiError> {
    let Some(raw) = param(params, "DurationSeconds") else {
        return Ok(None);
    };
    let seconds: i64 = raw.parse().map_err(|_| validation(format!("Invalid value '{raw}' for DurationSeconds")))?;
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
    Ok(Some(seconds as u64))
}

/// The role `parsed` names, when it exists and its trust policy lets `caller` assume it.
fn trusted_role<'a>(accounts: &'a [Account], parsed: &RoleArn, caller: &Caller, role_arn: &str) -> Result<&'a Role, ApiError> {
    // STS does not tell a missing role from one that does not trust the caller: both are AccessDenied.
    accounts
        .iter()
        .filter(|account| account.account_id == parsed.account_id)
        .flat_map(|account| &account.roles)
        .find(|role| role.name == parsed.name && role.trusts(caller))
        .ok_or_else(|| ApiError {
            status: 403,
            error_type: "AccessDenied".into(),
            message: format!("User: {} is not authorized to perform: sts:AssumeRole on resource: {role_arn}", caller.arn),
        })
}

/// How long the session lasts: the duration asked for, which the role's longest session bounds,
/// or else [`DEFAULT_SESSION_SECONDS`], shortened to the role's longest session.
fn session_seconds(requested: Option<u64>, role: &Role) -> Result<u64, ApiError> {
    let max = role.max_session_seconds.unwrap_or(DEFAULT_SESSION_SECONDS);
    match requested {
        Some(seconds) if seconds > max => {
            Err(validation(format!("The requested DurationSeconds exceeds the MaxSessionDuration set for this role ({max} seconds).")))
        }
        Some(seconds) => Ok(seconds),
        None => Ok(DEFAULT_SESSION_SECONDS.min(max)),
    }
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
}
