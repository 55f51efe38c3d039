//! Verification of AWS Signature Version 4 `Authorization` headers.
//!
//! The canonical request is rebuilt the way the AWS SDKs build it for services other than S3:
//!
//! * canonical URI: the path exactly as received, percent-encoded a second time (`%3A` becomes
//!   `%253A`), keeping unreserved characters and `/`;
//! * canonical query: every `key=value` pair decoded, then re-encoded (everything but unreserved
//!   characters), sorted by encoded key then encoded value;
//! * canonical headers: the headers named in `SignedHeaders`, lowercase, values trimmed with inner
//!   runs of spaces collapsed, sorted by name;
//! * payload hash: the `x-amz-content-sha256` header when present, else the hex SHA-256 of the body.
//!
//! Without configured credentials only the structure of the header is checked (algorithm,
//! credential scope, service (`scn`, or `sts` for AssumeRole), a served region, signed headers);
//! with credentials the access key must match and the signature is recomputed and compared.

use hmac::{Hmac, Mac};
use hyper::HeaderMap;
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::{Digest, Sha256};

use crate::http::header;

/// The signing name of the Supply Chain service.
pub const SERVICE: &str = "scn";

const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// Characters kept as they are by SigV4 encoding: the RFC 3986 unreserved set.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// The same set, keeping `/` too: used for the canonical URI.
const UNRESERVED_AND_SLASH: &AsciiSet = &UNRESERVED.remove(b'/');

/// Static credentials the emulator checks signatures against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticCredentials {
    /// The access key id requests must be signed with.
    pub access_key_id: String,
    /// The secret used to recompute signatures.
    pub secret_access_key: String,
    /// When set, requests must carry this value in `x-amz-security-token`.
    pub session_token: Option<String>,
}

impl StaticCredentials {
    /// Credentials without a session token.
    pub fn new(access_key_id: impl Into<String>, secret_access_key: impl Into<String>) -> Self {
        StaticCredentials { access_key_id: access_key_id.into(), secret_access_key: secret_access_key.into(), session_token: None }
    }
}

/// The parsed parts of an `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    /// The access key id from the credential scope.
    pub access_key_id: String,
    /// The `yyyymmdd` date of the scope.
    pub date: String,
    /// The region of the scope.
    pub region: String,
    /// The service of the scope.
    pub service: String,
    /// The signed header names, as listed.
    pub signed_headers: Vec<String>,
    /// The hex signature.
    pub signature: String,
}

/// Parses `AWS4-HMAC-SHA256 Credential=AKID/date/region/service/aws4_request, SignedHeaders=..., Signature=...`.
pub fn parse_authorization(value: &str) -> Result<Authorization, String> {
    let rest = value
        .strip_prefix(ALGORITHM)
        .filter(|rest| rest.starts_with(' '))
        .ok_or_else(|| format!("Authorization header must use the {ALGORITHM} algorithm (Signature Version 4)"))?;
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let part = part.trim();
        if let Some(v) = part.strip_prefix("Credential=") {
            credential = Some(v);
        } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
            signed_headers = Some(v);
        } else if let Some(v) = part.strip_prefix("Signature=") {
            signature = Some(v);
        }
    }
    let credential = credential.ok_or("Authorization header requires a 'Credential' parameter")?;
    let signed_headers = signed_headers.ok_or("Authorization header requires a 'SignedHeaders' parameter")?;
    let signature = signature.ok_or("Authorization header requires a 'Signature' parameter")?;
    let scope: Vec<&str> = credential.split('/').collect();
    let [access_key_id, date, region, service, terminator] = scope[..] else {
        return Err(format!("Credential '{credential}' must have the form <access key>/<yyyymmdd>/<region>/<service>/aws4_request"));
    };
    if access_key_id.is_empty() {
        return Err("Credential has an empty access key id".into());
    }
    if date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("Credential date '{date}' is not in yyyymmdd form"));
    }
    if terminator != "aws4_request" {
        return Err(format!("Credential should be scoped with a valid terminator: 'aws4_request', not '{terminator}'"));
    }
    if signature.len() != 64 || !signature.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("Signature must be 64 hexadecimal characters".into());
    }
    Ok(Authorization {
        access_key_id: access_key_id.into(),
        date: date.into(),
        region: region.into(),
        service: service.into(),
        signed_headers: signed_headers.split(';').map(str::to_owned).collect(),
        signature: signature.to_ascii_lowercase(),
    })
}

/// What a request needs to be checked against.
#[derive(Debug, Clone)]
pub struct Expectations<'a> {
    /// The service the scope must name: [`SERVICE`] for Supply Chain, `sts` for STS.
    pub service: &'a str,
    /// The regions a scope may name.
    pub regions: &'a [String],
    /// When set, the signature is recomputed with these credentials.
    pub credentials: Option<&'a StaticCredentials>,
}

/// Verifies the SigV4 signature of a request; `Ok` carries the parsed header.
///
/// `raw_path` and `raw_query` are the request target exactly as received on the wire.
pub fn verify(
    method: &str,
    raw_path: &str,
    raw_query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
    expect: &Expectations<'_>,
) -> Result<Authorization, String> {
    let authorization = headers
        .get("authorization")
        .ok_or("Missing Authentication Token: the request has no Authorization header")?
        .to_str()
        .map_err(|_| "Authorization header is not valid ASCII".to_owned())?;
    let auth = parse_authorization(authorization)?;
    if auth.service != expect.service {
        return Err(format!("Credential should be scoped to correct service: '{}', not '{}'", expect.service, auth.service));
    }
    if !expect.regions.contains(&auth.region) {
        return Err(format!("Credential should be scoped to a valid region: '{}', not '{}'", expect.regions.join("', '"), auth.region));
    }
    if !auth.signed_headers.iter().any(|h| h == "host") {
        return Err("'Host' must be a signed header".into());
    }
    let amz_date = header(headers, "x-amz-date").ok_or("Authorization header requires an 'X-Amz-Date' header")?;
    if !amz_date.starts_with(&auth.date) {
        return Err(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}'",
            auth.date, amz_date
        ));
    }
    let Some(credentials) = expect.credentials else {
        return Ok(auth);
    };
    if auth.access_key_id != credentials.access_key_id {
        return Err(format!("The security token included in the request is invalid: unknown access key id '{}'", auth.access_key_id));
    }
    if let Some(token) = &credentials.session_token {
        match header(headers, "x-amz-security-token") {
            Some(sent) if sent == token => {}
            Some(_) => return Err("The security token included in the request is invalid".into()),
            None => {
                return Err("The request is missing the 'X-Amz-Security-Token' header".into());
            }
        }
    }
    let canonical = canonical_request(method, raw_path, raw_query, headers, body, &auth)?;
    let scope = format!("{}/{}/{}/aws4_request", auth.date, auth.region, auth.service);
    let string_to_sign = format!("{ALGORITHM}\n{amz_date}\n{scope}\n{}", hex::encode(Sha256::digest(canonical.as_bytes())));
    let key = signing_key(&credentials.secret_access_key, &auth.date, &auth.region, &auth.service);
    let expected = hex::encode(hmac(&key, string_to_sign.as_bytes()));
    if expected != auth.signature {
        return Err(format!(
            "The request signature we calculated does not match the signature you provided. \
             Check your AWS Secret Access Key and signing method.\n\
             The Canonical String for this request should have been\n'{canonical}'\n\n\
             The String-to-Sign should have been\n'{string_to_sign}'"
        ));
    }
    Ok(auth)
}

/// Builds the canonical request string for a received request.
pub fn canonical_request(
    method: &str,
    raw_path: &str,
    raw_query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
    auth: &Authorization,
) -> Result<String, String> {
    let path = if raw_path.is_empty() { "/" } else { raw_path };
    let canonical_uri = utf8_percent_encode(path, UNRESERVED_AND_SLASH).to_string();
    let canonical_query = canonical_query(raw_query.unwrap_or(""));

    let mut names: Vec<String> = auth.signed_headers.iter().map(|h| h.to_ascii_lowercase()).collect();
    names.sort();
    let mut canonical_headers = String::new();
    for name in &names {
        let values: Vec<String> =
            headers.get_all(name.as_str()).iter().map(|v| collapse_spaces(&String::from_utf8_lossy(v.as_bytes()))).collect();
        if values.is_empty() {
            return Err(format!("Header '{name}' is listed in SignedHeaders but missing from the request"));
        }
        canonical_headers.push_str(&format!("{name}:{}\n", values.join(",")));
    }
    let payload_hash = match header(headers, "x-amz-content-sha256") {
        Some(hash) => hash.to_owned(),
        None => hex::encode(Sha256::digest(body)),
    };
    Ok(format!("{method}\n{canonical_uri}\n{canonical_query}\n{canonical_headers}\n{}\n{payload_hash}", names.join(";")))
}

fn canonical_query(raw: &str) -> String {
    let mut pairs: Vec<(String, String)> = raw
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (encode(&decode_query(k)), encode(&decode_query(v)))
        })
        .collect();
    pairs.sort();
    pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&")
}

/// The `name=value` pairs of a query string or a form-encoded body, each part decoded.
pub(crate) fn decode_pairs(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode_query(k), decode_query(v))
        })
        .collect()
}

/// Decodes one query component the way form decoding does (`+` is a space).
pub fn decode_query(component: &str) -> String {
    percent_decode_str(&component.replace('+', " ")).decode_utf8_lossy().into_owned()
}

fn encode(value: &str) -> String {
    utf8_percent_encode(value, UNRESERVED).to_string()
}

fn collapse_spaces(value: &str) -> String {
    value.split(' ').filter(|s| !s.is_empty()).collect::<Vec<_>>().join(" ")
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// Derives the SigV4 signing key: HMAC chain from `"AWS4" + secret` over date, region, service.
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> Vec<u8> {
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    hmac(&k_service, b"aws4_request")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_aws_documentation_signing_key_example_is_reproduced() {
        // Example from the AWS SigV4 documentation ("Examples of how to derive a signing key").
        let key = signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20120215", "us-east-1", "iam");
        assert_eq!(hex::encode(key), "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d");
    }

    #[test]
    fn the_canonical_uri_encodes_an_encoded_path_a_second_time() {
        let auth = Authorization {
            access_key_id: "AKID".into(),
            date: "20240101".into(),
            region: "us-east-1".into(),
            service: "scn".into(),
            signed_headers: vec!["host".into()],
            signature: "0".repeat(64),
        };
        let mut headers = HeaderMap::new();
        headers.insert("host", "127.0.0.1:1".parse().unwrap());
        let canonical = canonical_request("GET", "/api/tags/arn%3Aaws%3Ascn%2Fx", Some("b=2&a=%20x&a=1"), &headers, b"", &auth).unwrap();
        let lines: Vec<&str> = canonical.lines().collect();
        assert_eq!(lines[1], "/api/tags/arn%253Aaws%253Ascn%252Fx");
        assert_eq!(lines[2], "a=%20x&a=1&b=2");
        assert_eq!(lines[3], "host:127.0.0.1:1");
    }

    #[test]
    fn malformed_authorization_headers_are_explained() {
        assert!(parse_authorization("Basic abc").unwrap_err().contains("AWS4-HMAC-SHA256"));
        let err =
            parse_authorization("AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/scn, SignedHeaders=host, Signature=00").unwrap_err();
        assert!(err.contains("Credential"), "{err}");
    }
}
