//! The AWS Query protocol as STS speaks it: form-encoded request bodies in, XML documents out. Both
//! the AssumeRole operation ([`crate::sts`]) and the error faults of Query calls
//! ([`crate::faults::Protocol::Query`]) write their answers with it.

use crate::sigv4;

/// The API version the SDKs send and the XML namespace they expect.
pub(crate) const VERSION: &str = "2011-06-15";

/// The pairs of a form-encoded body, decoded (`+` is a space).
pub(crate) fn form(body: &[u8]) -> Vec<(String, String)> {
    sigv4::decode_pairs(&String::from_utf8_lossy(body))
}

/// The value of the first `name` parameter.
pub(crate) fn param<'p>(params: &'p [(String, String)], name: &str) -> Option<&'p str> {
    params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
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

/// `text` with the five characters XML reserves written as entities.
pub(crate) fn xml_escape(text: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

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
