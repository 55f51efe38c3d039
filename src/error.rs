//! The functions' errors: one enum, and the one place that names each kind as a stable `errorType`.
//!
//! A Step Functions `Retry` or `Catch`, an alarm or a person reading a dead-letter queue matches on
//! these names, so they never change; the message carries the detail (AWS error code, request id).

use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_sts::operation::assume_role::AssumeRoleError;
use aws_sdk_supplychain::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use lambda_runtime::Diagnostic;

/// Every way an invocation can fail. The variant decides the `errorType`; the text is the `errorMessage`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// The event is not one of the accepted shapes, or its instance id is malformed. Never retried.
    #[error("{0}")]
    InvalidInput(String),
    /// Supply Chain has no such instance (`ResourceNotFoundException`).
    #[error("{0}")]
    InstanceNotFound(String),
    /// The instance carries the deletion-protection tag set to `true`.
    #[error("{0}")]
    DeletionProtected(String),
    /// The function's role may not make the call (`AccessDeniedException`).
    #[error("{0}")]
    AccessDenied(String),
    /// Another change to the instance is under way (`ConflictException`), and it is not a deletion.
    #[error("{0}")]
    Conflict(String),
    /// `ServiceQuotaExceededException`.
    #[error("{0}")]
    QuotaExceeded(String),
    /// Still throttled after the SDK's own retries.
    #[error("{0}")]
    Throttled(String),
    /// 5xx answers or no connection, after the SDK's own retries.
    #[error("{0}")]
    ServiceUnavailable(String),
    /// The invocation's deadline (less the safety margin) came before the service answered.
    #[error("{0}")]
    Timeout(String),
    /// An announcement could not be put on the event bus.
    #[error("{0}")]
    PublishFailed(String),
    /// The next status check could not be scheduled.
    #[error("{0}")]
    ScheduleFailed(String),
    /// The request targets an account it may not reach: a third account named by an event from
    /// another account (a confused deputy), or one outside `ALLOWED_ACCOUNT_IDS`. Never retried.
    #[error("{0}")]
    AccountNotAllowed(String),
    /// The request targets a region other than the function's own that is not in `ALLOWED_REGIONS`.
    /// Never retried.
    #[error("{0}")]
    RegionNotAllowed(String),
    /// The member role of the target account cannot be assumed (missing, or not trusting the
    /// function's role). Never retried: a deployment has to change first.
    #[error("{0}")]
    RoleNotAssumable(String),
    /// Anything else: a bug, or an answer the model does not describe.
    #[error("{0}")]
    Unexpected(String),
}

impl Error {
    /// The stable name sent to Lambda as `errorType`.
    pub fn error_type(&self) -> &'static str {
        match self {
            Error::InvalidInput(_) => "InvalidInput",
            Error::InstanceNotFound(_) => "InstanceNotFound",
            Error::DeletionProtected(_) => "DeletionProtected",
            Error::AccessDenied(_) => "AccessDenied",
            Error::Conflict(_) => "Conflict",
            Error::QuotaExceeded(_) => "QuotaExceeded",
            Error::Throttled(_) => "Throttled",
            Error::ServiceUnavailable(_) => "ServiceUnavailable",
            Error::Timeout(_) => "Timeout",
            Error::PublishFailed(_) => "PublishFailed",
            Error::ScheduleFailed(_) => "ScheduleFailed",
            Error::AccountNotAllowed(_) => "AccountNotAllowed",
            Error::RegionNotAllowed(_) => "RegionNotAllowed",
            Error::RoleNotAssumable(_) => "RoleNotAssumable",
            Error::Unexpected(_) => "Unexpected",
        }
    }

    /// Whether the same event may succeed when delivered again later.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Error::Conflict(_)
                | Error::Throttled(_)
                | Error::ServiceUnavailable(_)
                | Error::Timeout(_)
                | Error::PublishFailed(_)
                | Error::ScheduleFailed(_)
        )
    }

    /// Classifies a failed Supply Chain call. `operation` names the call in the message.
    pub(crate) fn from_supply_chain<E>(operation: &str, err: SdkError<E>) -> Error
    where
        E: ServiceErrorKind + ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        // The member role's credentials are fetched (AssumeRole) when a call needs them: a failure
        // to get them reaches here as the call's dispatch failure.
        if let Some(credentials) = credentials_error(&err as &(dyn std::error::Error + 'static)) {
            return from_credentials(operation, credentials);
        }
        let kind = match &err {
            SdkError::ServiceError(ctx) => ctx.err().kind(ctx.raw().status().as_u16()),
            SdkError::TimeoutError(_) => Kind::Timeout,
            SdkError::DispatchFailure(failure) if failure.is_timeout() => Kind::Timeout,
            // No answer at all (refused, reset, dropped) after the SDK's retries: the service is unreachable.
            SdkError::DispatchFailure(_) => Kind::Unavailable,
            SdkError::ResponseError(ctx) if ctx.raw().status().is_server_error() => Kind::Unavailable,
            _ => Kind::Unexpected,
        };
        let message = describe(operation, &err);
        kind.into_error(message)
    }
}

impl Error {
    /// Classifies a failed Organizations call (the organization sweep's account listing): its
    /// error codes are not Supply Chain's, but they sort into the same kinds.
    pub(crate) fn from_organizations<E>(operation: &str, err: SdkError<E>) -> Error
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        Error::from_other_service(operation, err, |code| match code {
            "AccessDeniedException" | "AWSOrganizationsNotInUseException" => Some(Kind::AccessDenied),
            "TooManyRequestsException" => Some(Kind::Throttled),
            "ServiceException" => Some(Kind::Unavailable),
            "InvalidInputException" => Some(Kind::Invalid),
            _ => None,
        })
    }

    /// Classifies a failed S3 call (the organization sweep's plan and results). A missing object is
    /// not an instance that is gone: the request named a file that is not there (`InvalidInput`);
    /// a missing bucket is the stack's own state (`Unexpected`).
    pub(crate) fn from_s3<E>(operation: &str, err: SdkError<E>) -> Error
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        Error::from_other_service(operation, err, |code| match code {
            "AccessDenied" | "AllAccessDisabled" | "InvalidAccessKeyId" => Some(Kind::AccessDenied),
            "SlowDown" | "RequestLimitExceeded" => Some(Kind::Throttled),
            "InternalError" | "ServiceUnavailable" => Some(Kind::Unavailable),
            // A key the request named that is not there: the request's to correct.
            "NoSuchKey" => Some(Kind::Invalid),
            "NoSuchBucket" => Some(Kind::Unexpected),
            _ => None,
        })
    }

    /// Classifies a failed call of a service other than Supply Chain by its error code (`by_code`),
    /// else by its HTTP status, and its transport failures as every call's.
    fn from_other_service<E>(operation: &str, err: SdkError<E>, by_code: impl Fn(&str) -> Option<Kind>) -> Error
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let kind = match &err {
            SdkError::ServiceError(ctx) => {
                ctx.err().code().and_then(&by_code).unwrap_or_else(|| Kind::from_status(ctx.raw().status().as_u16()))
            }
            SdkError::TimeoutError(_) => Kind::Timeout,
            SdkError::DispatchFailure(failure) if failure.is_timeout() => Kind::Timeout,
            SdkError::DispatchFailure(_) => Kind::Unavailable,
            SdkError::ResponseError(ctx) if ctx.raw().status().is_server_error() => Kind::Unavailable,
            _ => Kind::Unexpected,
        };
        kind.into_error(describe(operation, &err))
    }
}

/// The credentials error behind a failed call, if that is why it failed.
fn credentials_error<'e>(err: &'e (dyn std::error::Error + 'static)) -> Option<&'e CredentialsError> {
    let mut source = err.source();
    while let Some(error) = source {
        if let Some(credentials) = error.downcast_ref::<CredentialsError>() {
            return Some(credentials);
        }
        source = error.source();
    }
    None
}

/// A failure to get a member role's credentials: STS refusing the role (it does not exist, or
/// does not trust the function's role) is `RoleNotAssumable`, for good; STS throttling or
/// unavailable may pass.
fn from_credentials(operation: &str, credentials: &CredentialsError) -> Error {
    type AssumeRoleFailure = aws_sdk_sts::error::SdkError<AssumeRoleError, aws_smithy_runtime_api::http::Response>;
    let message = format!("{operation} was not called: the credentials of the target account: {}", DisplayErrorContext(credentials));
    let sts = std::error::Error::source(credentials).and_then(|source| source.downcast_ref::<AssumeRoleFailure>());
    match (credentials, sts) {
        (CredentialsError::ProviderTimedOut(_), _) => Error::Timeout(message),
        (_, Some(SdkError::ServiceError(ctx))) => {
            let status = ctx.raw().status().as_u16();
            match ctx.err().code() {
                Some("Throttling" | "ThrottlingException" | "RequestLimitExceeded") => Error::Throttled(message),
                _ if status == 429 => Error::Throttled(message),
                _ if status >= 500 => Error::ServiceUnavailable(message),
                _ => Error::RoleNotAssumable(message),
            }
        }
        (_, Some(SdkError::ResponseError(ctx))) if ctx.raw().status().is_server_error() => Error::ServiceUnavailable(message),
        (_, Some(SdkError::TimeoutError(_) | SdkError::DispatchFailure(_))) => Error::ServiceUnavailable(message),
        (CredentialsError::InvalidConfiguration(_), _) => Error::RoleNotAssumable(message),
        _ => Error::Unexpected(message),
    }
}

/// How a service error is classified, before it becomes an [`Error`] with its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    NotFound,
    AccessDenied,
    Conflict,
    QuotaExceeded,
    Throttled,
    Unavailable,
    Invalid,
    Timeout,
    Unexpected,
}

impl Kind {
    /// For error codes the model does not name (a 503's `ServiceUnavailableException`, codes added later),
    /// the HTTP status still tells throttling and server faults apart.
    pub(crate) fn from_status(status: u16) -> Kind {
        match status {
            429 => Kind::Throttled,
            403 => Kind::AccessDenied,
            404 => Kind::NotFound,
            500..=599 => Kind::Unavailable,
            _ => Kind::Unexpected,
        }
    }

    fn into_error(self, message: String) -> Error {
        match self {
            Kind::NotFound => Error::InstanceNotFound(message),
            Kind::AccessDenied => Error::AccessDenied(message),
            Kind::Conflict => Error::Conflict(message),
            Kind::QuotaExceeded => Error::QuotaExceeded(message),
            Kind::Throttled => Error::Throttled(message),
            Kind::Unavailable => Error::ServiceUnavailable(message),
            // We validate every id before calling, so a ValidationException is still about the input.
            Kind::Invalid => Error::InvalidInput(message),
            Kind::Timeout => Error::Timeout(message),
            Kind::Unexpected => Error::Unexpected(message),
        }
    }
}

/// Maps an operation's modeled errors to a [`Kind`]; implemented for each Supply Chain operation used.
pub(crate) trait ServiceErrorKind {
    fn kind(&self, status: u16) -> Kind;
}

/// The Supply Chain operations share one error list in the model; this writes the same match for each.
macro_rules! supply_chain_error_kind {
    ($($error:ty),+ $(,)?) => {$(
        impl ServiceErrorKind for $error {
            fn kind(&self, status: u16) -> Kind {
                use $error as E;
                match self {
                    E::ResourceNotFoundException(_) => Kind::NotFound,
                    E::AccessDeniedException(_) => Kind::AccessDenied,
                    E::ConflictException(_) => Kind::Conflict,
                    E::ServiceQuotaExceededException(_) => Kind::QuotaExceeded,
                    E::ThrottlingException(_) => Kind::Throttled,
                    E::InternalServerException(_) => Kind::Unavailable,
                    E::ValidationException(_) => Kind::Invalid,
                    // Codes this SDK does not know yet.
                    _ => Kind::from_status(status),
                }
            }
        }
    )+};
}

supply_chain_error_kind!(
    aws_sdk_supplychain::operation::delete_instance::DeleteInstanceError,
    aws_sdk_supplychain::operation::get_instance::GetInstanceError,
    aws_sdk_supplychain::operation::list_instances::ListInstancesError,
    aws_sdk_supplychain::operation::list_tags_for_resource::ListTagsForResourceError,
    aws_sdk_supplychain::operation::tag_resource::TagResourceError,
    aws_sdk_supplychain::operation::untag_resource::UntagResourceError,
);

/// One line that keeps what a person needs to follow the failure up: the call, the AWS error code and
/// message, the HTTP status and the request id.
pub(crate) fn describe<E>(operation: &str, err: &SdkError<E>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match err {
        SdkError::ServiceError(ctx) => {
            let e = ctx.err();
            let request_id = ctx.raw().headers().get("x-amzn-requestid");
            format!(
                "{operation} failed: {}: {} (HTTP {}, request id {})",
                e.code().unwrap_or("UnknownError"),
                e.message().unwrap_or("no message"),
                ctx.raw().status().as_u16(),
                request_id.unwrap_or("unknown"),
            )
        }
        // Only attempts carry an SDK timeout: the invocation's budget is applied around the call.
        SdkError::TimeoutError(_) => {
            format!("{operation} got no answer on any attempt within the attempt timeout (ATTEMPT_TIMEOUT_MS)")
        }
        SdkError::DispatchFailure(failure) if failure.is_timeout() => {
            format!("{operation} did not complete in time: {}", DisplayErrorContext(err))
        }
        SdkError::DispatchFailure(_) => {
            format!("{operation} could not reach the service: {}", DisplayErrorContext(err))
        }
        _ => format!("{operation} failed: {}", DisplayErrorContext(err)),
    }
}

impl From<Error> for Diagnostic {
    fn from(error: Error) -> Diagnostic {
        Diagnostic { error_type: error.error_type().to_owned(), error_message: error.to_string() }
    }
}

/// The JSON kind of a value, for messages that must not echo a whole payload.
pub(crate) fn kind_of(value: &serde_json::Value) -> &'static str {
    use serde_json::Value;
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Quotes user text for a message, escaped and cut short so that a message never carries a payload.
pub(crate) fn quoted(text: &str) -> String {
    const MAX: usize = 64;
    if text.chars().count() <= MAX {
        format!("{text:?}")
    } else {
        let head: String = text.chars().take(MAX).collect();
        format!("{head:?}… ({} characters)", text.chars().count())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_maps_to_its_stable_error_type_on_the_wire() {
        let cases = [
            (Error::InvalidInput("m".into()), "InvalidInput", false),
            (Error::InstanceNotFound("m".into()), "InstanceNotFound", false),
            (Error::DeletionProtected("m".into()), "DeletionProtected", false),
            (Error::AccessDenied("m".into()), "AccessDenied", false),
            (Error::Conflict("m".into()), "Conflict", true),
            (Error::QuotaExceeded("m".into()), "QuotaExceeded", false),
            (Error::Throttled("m".into()), "Throttled", true),
            (Error::ServiceUnavailable("m".into()), "ServiceUnavailable", true),
            (Error::Timeout("m".into()), "Timeout", true),
            (Error::PublishFailed("m".into()), "PublishFailed", true),
            (Error::ScheduleFailed("m".into()), "ScheduleFailed", true),
            (Error::AccountNotAllowed("m".into()), "AccountNotAllowed", false),
            (Error::RegionNotAllowed("m".into()), "RegionNotAllowed", false),
            (Error::RoleNotAssumable("m".into()), "RoleNotAssumable", false),
            (Error::Unexpected("m".into()), "Unexpected", false),
        ];
        for (error, name, retryable) in cases {
            assert_eq!(error.is_retryable(), retryable, "{name}");
            let diagnostic = Diagnostic::from(error);
            assert_eq!(diagnostic.error_type, name);
            assert_eq!(diagnostic.error_message, "m");
        }
    }

    #[test]
    fn unknown_error_codes_are_classified_by_http_status() {
        assert_eq!(Kind::from_status(429), Kind::Throttled);
        assert_eq!(Kind::from_status(503), Kind::Unavailable);
        assert_eq!(Kind::from_status(500), Kind::Unavailable);
        assert_eq!(Kind::from_status(403), Kind::AccessDenied);
        assert_eq!(Kind::from_status(404), Kind::NotFound);
        assert_eq!(Kind::from_status(418), Kind::Unexpected);
    }
}
