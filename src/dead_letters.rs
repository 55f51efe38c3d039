//! The adapter to SQS: an SQS message that can never succeed is moved to the dead-letter queue at
//! once, with its error, instead of coming back until the queue's redrive policy moves it.

use aws_sdk_sqs::types::MessageAttributeValue;
use aws_sdk_sqs::Client;

use crate::deadline::Budget;
use crate::error::{describe, Error};

/// The `errorMessage` attribute is cut to this many bytes: the message (body and attributes) must
/// stay within SQS's size limit, and the body is the request, which matters more.
const MAX_ERROR_MESSAGE_BYTES: usize = 4096;

/// The queue (`DEAD_LETTER_QUEUE_URL`), with the SDK client built once at init.
#[derive(Debug, Clone)]
pub struct DeadLetterQueue {
    client: Client,
    url: String,
}

impl DeadLetterQueue {
    pub fn new(client: Client, url: impl Into<String>) -> Self {
        DeadLetterQueue { client, url: url.into() }
    }

    /// Sends `body` unchanged, with the string attributes `errorType` and `errorMessage` of `error`.
    /// A failure is described for the log: the caller keeps the message in its batch's failures.
    pub async fn send(&self, body: &str, error: &Error, budget: &Budget) -> Result<(), String> {
        const OP: &str = "SendMessage";
        let attribute = |value: String| {
            MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
                .map_err(|e| format!("the message attribute is incomplete: {e}"))
        };
        let call = self
            .client
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .message_attributes("errorType", attribute(error.error_type().to_owned())?)
            .message_attributes("errorMessage", attribute(attribute_text(&error.to_string()))?)
            .send();
        match budget.within(OP, call).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(describe(OP, &e)),
            Err(timeout) => Err(timeout.to_string()),
        }
    }
}

/// `text` as SQS accepts it in a string attribute: only the characters of XML 1.0 (others become
/// U+FFFD), at most [`MAX_ERROR_MESSAGE_BYTES`] bytes, cut at a character boundary.
fn attribute_text(text: &str) -> String {
    let allowed = |c: char| matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}');
    let mut out = String::with_capacity(text.len().min(MAX_ERROR_MESSAGE_BYTES));
    for c in text.chars().map(|c| if allowed(c) { c } else { '\u{FFFD}' }) {
        if out.len() + c.len_utf8() > MAX_ERROR_MESSAGE_BYTES {
            break;
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_messages_keep_only_what_sqs_accepts_in_an_attribute() {
        assert_eq!(attribute_text("bad\u{0}id\u{1b}"), "bad\u{FFFD}id\u{FFFD}");
        assert_eq!(attribute_text("tab\there\nok"), "tab\there\nok");
        let long = "é".repeat(MAX_ERROR_MESSAGE_BYTES);
        let cut = attribute_text(&long);
        assert!(cut.len() <= MAX_ERROR_MESSAGE_BYTES && cut.len() > MAX_ERROR_MESSAGE_BYTES - 2, "{}", cut.len());
        assert!(cut.chars().all(|c| c == 'é'));
    }
}
