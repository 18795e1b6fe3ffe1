//! AWS Signature Version 4 (`AWS4-HMAC-SHA256`) in the `Authorization` header, for requests
//! without a query string: what the IVS API needs (one JSON `POST` to one host).
//!
//! ```text
//! canonical request = METHOD \n path \n (empty query) \n
//!                     lower-case name:trimmed value \n ... (sorted by name) \n
//!                     signed header names joined by ; \n hex(SHA-256(body))
//! string to sign    = AWS4-HMAC-SHA256 \n X-Amz-Date \n yyyymmdd/region/service/aws4_request \n
//!                     hex(SHA-256(canonical request))
//! signing key       = HMAC("AWS4" + secret, yyyymmdd) -> region -> service -> "aws4_request"
//! signature         = hex(HMAC(signing key, string to sign))
//! ```
//!
//! Signed headers are `host`, `x-amz-date`, `x-amz-security-token` (temporary credentials) and
//! the request's own. Checked against the AWS signing test suite (tests/fixtures/sigv4) and,
//! for IVS-shaped requests, against botocore (tests/test_sigv4.py).

use super::Credentials;
use crate::encoding::hex;
use hmac::{KeyInit, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = hmac::Hmac<Sha256>;

/// The algorithm name, first in the string to sign and in `Authorization`.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// One request to sign. The worker signs only requests without a query string.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// `GET`, `POST`, ...
    pub method: &'a str,
    /// The `Host` header the HTTP client will send: the URL's host, with its port unless it is
    /// the scheme's default (`ivs.us-west-2.amazonaws.com`, `127.0.0.1:8788`).
    pub host: &'a str,
    /// The absolute path, already normalized and URI-encoded (`/StartViewerSessionRevocation`).
    pub path: &'a str,
    /// Every other header to sign and send (`content-type`), names in any case. Not `host`,
    /// `x-amz-date`, `x-amz-security-token` or `authorization`: the signer adds those.
    pub headers: &'a [(&'a str, &'a str)],
    /// The body, exactly as it will be sent.
    pub body: &'a [u8],
}

/// A signature and every step that led to it (the steps are what AWS's error messages and the
/// test suite compare).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    /// `X-Amz-Date`: `yyyymmddThhmmssZ`.
    pub amz_date: String,
    /// The canonical request.
    pub canonical_request: String,
    /// The string to sign.
    pub string_to_sign: String,
    /// The signature: 64 lower-case hex digits.
    pub signature: String,
    /// `SignedHeaders`: the signed header names, lower case, sorted, joined by `;`.
    pub signed_headers: String,
    /// The `Authorization` header's value.
    pub authorization: String,
    /// `X-Amz-Security-Token`, for temporary credentials.
    pub security_token: Option<String>,
}

impl Signed {
    /// The headers the signer added, to send with the request's own: `x-amz-date`,
    /// `x-amz-security-token` (temporary credentials) and `authorization`.
    pub fn added_headers(&self) -> Vec<(&'static str, String)> {
        let mut headers = vec![("x-amz-date", self.amz_date.clone())];
        if let Some(token) = &self.security_token {
            headers.push(("x-amz-security-token", token.clone()));
        }
        headers.push(("authorization", self.authorization.clone()));
        headers
    }
}

/// A signed JSON `POST`: every header to send besides `host` (which the HTTP client derives
/// from the URL) and `content-length`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedPost {
    /// `content-type`, `x-amz-date`, `x-amz-security-token` (temporary credentials), `authorization`.
    pub headers: Vec<(&'static str, String)>,
    /// The signature and its steps.
    pub signed: Signed,
}

impl SignedPost {
    /// The value of header `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str())
    }
}

/// The content type of the AWS JSON APIs the worker calls.
pub const JSON: &str = "application/json";

/// Sign a JSON `POST` of `body` to `https://host/path` for `service` in `region` at `time` (Unix
/// seconds): the one request shape the worker sends (IVS's `StartViewerSessionRevocation`).
pub fn sign_json_post(
    credentials: &Credentials,
    region: &str,
    service: &str,
    host: &str,
    path: &str,
    body: &[u8],
    time: u64,
) -> SignedPost {
    let request = Request { method: "POST", host, path, headers: &[("content-type", JSON)], body };
    let signed = sign(&request, credentials, region, service, time);
    let mut headers = vec![("content-type", JSON.to_owned())];
    headers.extend(signed.added_headers());
    SignedPost { headers, signed }
}

/// Sign `request` with `credentials` for `service` in `region` at `time` (Unix seconds).
pub fn sign(request: &Request<'_>, credentials: &Credentials, region: &str, service: &str, time: u64) -> Signed {
    let amz_date = amz_date(time);
    let date = &amz_date[..8];
    let token = credentials.session_token();

    let mut headers: Vec<(String, String)> =
        request.headers.iter().map(|(name, value)| (name.to_ascii_lowercase(), canonical_value(value))).collect();
    headers.push(("host".into(), canonical_value(request.host)));
    headers.push(("x-amz-date".into(), amz_date.clone()));
    if let Some(token) = token {
        headers.push(("x-amz-security-token".into(), canonical_value(token)));
    }
    // A stable sort keeps repeated headers in request order; their values join with commas.
    headers.sort_by(|a, b| a.0.cmp(&b.0));
    let mut merged: Vec<(String, String)> = Vec::with_capacity(headers.len());
    for (name, value) in headers {
        match merged.last_mut() {
            Some((last, joined)) if *last == name => {
                joined.push(',');
                joined.push_str(&value);
            }
            _ => merged.push((name, value)),
        }
    }
    let signed_headers = merged.iter().map(|(name, _)| name.as_str()).collect::<Vec<_>>().join(";");
    let canonical_headers: String = merged.iter().map(|(name, value)| format!("{name}:{value}\n")).collect();
    let canonical_request = format!(
        "{}\n{}\n\n{canonical_headers}\n{signed_headers}\n{}",
        request.method,
        request.path,
        payload_hash(request.body)
    );

    let scope = format!("{date}/{region}/{service}/aws4_request");
    let string_to_sign =
        format!("{ALGORITHM}\n{amz_date}\n{scope}\n{}", hex(&Sha256::digest(canonical_request.as_bytes())));

    let mut key = hmac(format!("AWS4{}", credentials.secret_access_key()).as_bytes(), date.as_bytes());
    for part in [region, service, "aws4_request"] {
        key = hmac(&key, part.as_bytes());
    }
    let signature = hex(&hmac(&key, string_to_sign.as_bytes()));
    let authorization = format!(
        "{ALGORITHM} Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
        credentials.access_key_id()
    );
    Signed {
        amz_date,
        canonical_request,
        string_to_sign,
        signature,
        signed_headers,
        authorization,
        security_token: token.map(str::to_owned),
    }
}

/// Hex SHA-256 of a body, the last line of the canonical request (and the value of
/// `x-amz-content-sha256` for the services that want it; IVS does not).
pub fn payload_hash(body: &[u8]) -> String {
    hex(&Sha256::digest(body))
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length.
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(key).unwrap_or_else(|_| HmacSha256::new(&Default::default()));
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// A header value as SigV4 signs it: trimmed, every run of spaces and tabs one space.
fn canonical_value(value: &str) -> String {
    value.split([' ', '\t']).filter(|part| !part.is_empty()).collect::<Vec<_>>().join(" ")
}

/// `X-Amz-Date` for Unix seconds `time`: `yyyymmddThhmmssZ`, UTC.
pub fn amz_date(time: u64) -> String {
    let days = time / 86_400;
    let seconds = time % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!("{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z", seconds / 3600, seconds % 3600 / 60, seconds % 60)
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's `civil_from_days`).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One case of the AWS signing test suite (tests/fixtures/sigv4/CASE): the request, its
    /// context, and the expected canonical request, string to sign and signature.
    struct Case {
        name: &'static str,
        request: &'static str,
        context: &'static str,
        canonical_request: &'static str,
        string_to_sign: &'static str,
        signature: &'static str,
        signed_request: &'static str,
    }

    macro_rules! case {
        ($name:literal) => {
            Case {
                name: $name,
                request: include_str!(concat!("../../tests/fixtures/sigv4/", $name, "/request.txt")),
                context: include_str!(concat!("../../tests/fixtures/sigv4/", $name, "/context.json")),
                canonical_request: include_str!(concat!(
                    "../../tests/fixtures/sigv4/",
                    $name,
                    "/header-canonical-request.txt"
                )),
                string_to_sign: include_str!(concat!(
                    "../../tests/fixtures/sigv4/",
                    $name,
                    "/header-string-to-sign.txt"
                )),
                signature: include_str!(concat!("../../tests/fixtures/sigv4/", $name, "/header-signature.txt")),
                signed_request: include_str!(concat!(
                    "../../tests/fixtures/sigv4/",
                    $name,
                    "/header-signed-request.txt"
                )),
            }
        };
    }

    fn cases() -> Vec<Case> {
        vec![
            case!("get-vanilla"),
            case!("get-vanilla-with-session-token"),
            case!("post-vanilla"),
            case!("post-header-key-case"),
            case!("post-header-key-sort"),
            case!("post-header-value-case"),
            case!("post-x-www-form-urlencoded"),
            case!("post-sts-header-before"),
        ]
    }

    /// `2015-08-30T12:36:00Z` as Unix seconds.
    fn parse_timestamp(text: &str) -> u64 {
        let n = |range: std::ops::Range<usize>| text[range].parse::<u64>().unwrap();
        let (year, month, day) = (n(0..4), n(5..7), n(8..10));
        let days = (0..).take(200_000).find(|d| civil_from_days(*d) == (year, month, day)).expect("a date after 1970");
        days * 86_400 + n(11..13) * 3600 + n(14..16) * 60 + n(17..19)
    }

    #[test]
    fn the_aws_signing_test_suite() {
        for case in cases() {
            let context: serde_json::Value = serde_json::from_str(case.context).unwrap();
            let (head, body) = case.request.split_once("\n\n").unwrap_or((case.request, ""));
            let mut lines = head.lines();
            let request_line = lines.next().unwrap();
            let mut parts = request_line.split(' ');
            let (method, path) = (parts.next().unwrap(), parts.next().unwrap());
            let mut host = "";
            let mut headers = Vec::new();
            for line in lines {
                let (name, value) = line.split_once(':').unwrap();
                if name.eq_ignore_ascii_case("host") {
                    host = value;
                } else {
                    headers.push((name, value));
                }
            }
            // `sign_body` cases also sign `x-amz-content-sha256` (the body's hash), a header of
            // the request as S3 sends it; the signer itself never adds it.
            let hash = payload_hash(body.as_bytes());
            if context["sign_body"] == true {
                headers.push(("x-amz-content-sha256", &hash));
            }
            let credentials = &context["credentials"];
            let credentials = Credentials::new(
                credentials["access_key_id"].as_str().unwrap(),
                credentials["secret_access_key"].as_str().unwrap(),
                credentials["token"].as_str(),
            );
            let request = Request { method, host, path, headers: &headers, body: body.as_bytes() };
            let time = parse_timestamp(context["timestamp"].as_str().unwrap());
            let signed = sign(
                &request,
                &credentials,
                context["region"].as_str().unwrap(),
                context["service"].as_str().unwrap(),
                time,
            );
            assert_eq!(signed.canonical_request, case.canonical_request.trim_end(), "{}: canonical request", case.name);
            assert_eq!(signed.string_to_sign, case.string_to_sign.trim_end(), "{}: string to sign", case.name);
            assert_eq!(signed.signature, case.signature.trim(), "{}: signature", case.name);
            let authorization =
                case.signed_request.lines().find_map(|line| line.strip_prefix("Authorization:")).unwrap_or_default();
            assert_eq!(signed.authorization, authorization, "{}: Authorization", case.name);
            if let Some(token) = credentials.session_token() {
                assert!(case.signed_request.contains(&format!("X-Amz-Security-Token:{token}\n")), "{}", case.name);
                assert!(signed.added_headers().contains(&("x-amz-security-token", token.to_owned())));
            }
        }
    }

    #[test]
    fn dates() {
        assert_eq!(amz_date(0), "19700101T000000Z");
        assert_eq!(amz_date(1_440_938_160), "20150830T123600Z");
        assert_eq!(amz_date(951_782_400), "20000229T000000Z", "a leap day of a century divisible by 400");
        assert_eq!(amz_date(4_107_542_399), "21000228T235959Z");
        assert_eq!(amz_date(4_107_542_400), "21000301T000000Z", "2100 is no leap year");
        assert_eq!(amz_date(2_147_483_647), "20380119T031407Z");
        assert_eq!(parse_timestamp("2015-08-30T12:36:00Z"), 1_440_938_160);
    }

    #[test]
    fn header_values_are_trimmed_and_folded() {
        assert_eq!(canonical_value("  a   b\t c  "), "a b c");
        assert_eq!(canonical_value(""), "");
    }

    #[test]
    fn repeated_headers_join_in_request_order() {
        let credentials = Credentials::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", None);
        let headers = [("My-Header1", "value2"), ("x-b", "1"), ("my-header1", "value1")];
        let request = Request { method: "GET", host: "example.amazonaws.com", path: "/", headers: &headers, body: b"" };
        let signed = sign(&request, &credentials, "us-east-1", "service", 1_440_938_160);
        assert!(signed.canonical_request.contains("my-header1:value2,value1\nx-amz-date:20150830T123600Z\nx-b:1\n"));
        assert_eq!(signed.signed_headers, "host;my-header1;x-amz-date;x-b");
    }

    #[test]
    fn a_json_post_signs_content_type_host_and_date() {
        let credentials = Credentials::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", Some("tok"));
        let post = sign_json_post(&credentials, "us-west-2", "ivs", "127.0.0.1:8788", "/X", b"{}", 1_440_938_160);
        assert_eq!(post.signed.signed_headers, "content-type;host;x-amz-date;x-amz-security-token");
        assert!(post
            .signed
            .canonical_request
            .starts_with("POST\n/X\n\ncontent-type:application/json\nhost:127.0.0.1:8788\n"));
        let names: Vec<&str> = post.headers.iter().map(|(k, _)| *k).collect();
        assert_eq!(names, ["content-type", "x-amz-date", "x-amz-security-token", "authorization"]);
        assert_eq!(post.header("x-amz-security-token"), Some("tok"));
        let other_time = sign_json_post(&credentials, "us-west-2", "ivs", "127.0.0.1:8788", "/X", b"{}", 1_440_938_161);
        assert_ne!(post.signed.signature, other_time.signed.signature);
    }
}
