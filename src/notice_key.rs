//! The adapter to KMS: the stack's HMAC key (`NOTICE_KEY_ID`), with which the sweep signs the
//! marks it writes and checks the marks it reads. The key never leaves KMS, and only the sweep's
//! role may use it (template.yaml, `NoticeKey`), so a mark whose MAC verifies was written by this
//! deployment's sweep; nobody else, whatever tagging rights they have, can make one.

use aws_sdk_kms::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_kms::operation::verify_mac::VerifyMacError;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::MacAlgorithmSpec;
use aws_sdk_kms::Client;

use crate::deadline::Budget;
use crate::error::{describe, Error};

/// The MAC algorithm of a `HMAC_256` key.
const ALGORITHM: MacAlgorithmSpec = MacAlgorithmSpec::HmacSha256;

/// The stack's HMAC key, with the SDK client built once at init.
#[derive(Debug, Clone)]
pub(crate) struct NoticeKey {
    client: Client,
    key_id: String,
}

impl NoticeKey {
    pub(crate) fn new(client: Client, key_id: impl Into<String>) -> Self {
        NoticeKey { client, key_id: key_id.into() }
    }

    /// The MAC of `message` (`GenerateMac`), in base64.
    pub(crate) async fn sign(&self, message: &str, budget: &Budget) -> Result<String, Error> {
        const OP: &str = "GenerateMac";
        let call = self.client.generate_mac().key_id(&self.key_id).mac_algorithm(ALGORITHM).message(Blob::new(message)).send();
        let output = budget.within(OP, call).await?.map_err(|error| from_kms(OP, error))?;
        let mac = output.mac().ok_or_else(|| Error::Unexpected(format!("{OP} answered no MAC for key {:?}", self.key_id)))?;
        Ok(aws_smithy_types::base64::encode(mac.as_ref()))
    }

    /// Whether `mac` (base64) is the key's MAC of `message` (`VerifyMac`). A MAC that is not base64
    /// or does not match is `false`; only a failed call is an error.
    pub(crate) async fn verifies(&self, message: &str, mac: &str, budget: &Budget) -> Result<bool, Error> {
        const OP: &str = "VerifyMac";
        let Ok(mac) = aws_smithy_types::base64::decode(mac) else {
            return Ok(false);
        };
        // KMS takes a MAC of 1 to 6144 bytes; anything else is not one of ours, and is not sent.
        if mac.is_empty() || mac.len() > 6_144 {
            return Ok(false);
        }
        let call =
            self.client.verify_mac().key_id(&self.key_id).mac_algorithm(ALGORITHM).message(Blob::new(message)).mac(Blob::new(mac)).send();
        match budget.within(OP, call).await? {
            Ok(output) => Ok(output.mac_valid()),
            Err(SdkError::ServiceError(context)) if matches!(context.err(), VerifyMacError::KmsInvalidMacException(_)) => Ok(false),
            Err(error) => Err(from_kms(OP, error)),
        }
    }
}

/// Classifies a failed KMS call into the functions' error kinds.
fn from_kms<E>(operation: &str, err: SdkError<E>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let message = describe(operation, &err);
    match &err {
        SdkError::ServiceError(context) => match context.err().code() {
            Some("ThrottlingException") => Error::Throttled(message),
            Some("AccessDeniedException" | "DisabledException" | "KMSInvalidStateException" | "NotFoundException") => {
                Error::AccessDenied(message)
            }
            Some("DependencyTimeoutException" | "KMSInternalException" | "KeyUnavailableException") => Error::ServiceUnavailable(message),
            _ if context.raw().status().as_u16() == 429 => Error::Throttled(message),
            _ if context.raw().status().is_server_error() => Error::ServiceUnavailable(message),
            _ => Error::Unexpected(message),
        },
        SdkError::TimeoutError(_) => Error::Timeout(message),
        SdkError::DispatchFailure(failure) if failure.is_timeout() => Error::Timeout(message),
        SdkError::DispatchFailure(_) => Error::ServiceUnavailable(message),
        SdkError::ResponseError(context) if context.raw().status().is_server_error() => Error::ServiceUnavailable(message),
        _ => Error::Unexpected(message),
    }
}
