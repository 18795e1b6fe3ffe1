//! One AWS JSON API call as the worker sends it: the endpoint of a service in a region (or the
//! configured stand-in), the signed `POST`, and the error type of a failed answer. Shared by the
//! IVS revocations and the IVS Chat calls.

use super::{sigv4, Credentials};

/// A request ready to send: `POST url` with these headers and this body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// The full URL.
    pub url: String,
    /// The headers to send (the HTTP client adds `host` and `content-length`).
    pub headers: Vec<(&'static str, String)>,
    /// The JSON body.
    pub body: String,
}

/// The endpoint of AWS service `host_prefix` (`ivs`, `ivschat`) in `region`, or the configured
/// origin when one is set (already validated by the configuration: `IVS_API_ENDPOINT`,
/// `IVS_CHAT_API_ENDPOINT`).
pub fn endpoint(host_prefix: &str, region: &str, configured: Option<&str>) -> String {
    match configured {
        Some(origin) => origin.trim_end_matches('/').to_owned(),
        None => format!("https://{host_prefix}.{region}.amazonaws.com"),
    }
}

/// `body` as a signed JSON `POST` to `origin` + `path`, for `service` in `region` at `now` (Unix
/// seconds). The signed host is the origin's authority, as the HTTP client will send it.
pub fn signed_post(
    credentials: &Credentials,
    service: &str,
    region: &str,
    origin: &str,
    path: &str,
    body: String,
    now: u64,
) -> HttpRequest {
    let host = origin.split_once("://").map_or(origin, |(_, authority)| authority);
    let signed = sigv4::sign_json_post(credentials, region, service, host, path, body.as_bytes(), now);
    HttpRequest { url: format!("{origin}{path}"), headers: signed.headers, body }
}

/// The error type of a failed call: `x-amzn-ErrorType` (`ThrottlingException:http://...`), else
/// the body's `__type` (`com.amazonaws.ivs#ThrottlingException`), without namespace or URL. Only
/// the type: AWS's message may quote what was sent, so it is never logged or shown.
pub fn error_code(header: Option<&str>, body: &str) -> Option<String> {
    let from_body = || {
        let value: serde_json::Value = serde_json::from_str(body).ok()?;
        value.get("__type").and_then(|t| t.as_str()).map(str::to_owned)
    };
    let raw = header.map(str::to_owned).or_else(from_body)?;
    let code = raw.split(':').next().unwrap_or_default();
    let code = code.rsplit('#').next().unwrap_or_default().trim();
    let safe = !code.is_empty() && code.len() <= 64 && code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.');
    safe.then(|| code.to_owned())
}

/// Why an AWS call did not serve a request, in a few words for a log line: one byte, never AWS's
/// message (which may quote what was sent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// `ThrottlingException` (429).
    Throttled,
    /// A 5xx.
    ServerError,
    /// No answer, or one that could not be read.
    NoAnswer,
    /// `AccessDeniedException`: the key's IAM policy.
    AccessDenied,
    /// `ValidationException`.
    Invalid,
    /// `ResourceNotFoundException`: the resource (a room) does not exist.
    NotFound,
    /// Another refusal.
    Refused,
}

impl Fault {
    /// The fault of an answer with `status` (0: none) and error type `code`.
    pub fn of(status: u16, code: Option<&str>) -> Self {
        match (status, code) {
            (_, Some("ThrottlingException")) | (429, _) => Self::Throttled,
            (_, Some("AccessDeniedException")) => Self::AccessDenied,
            (_, Some("ValidationException")) => Self::Invalid,
            (_, Some("ResourceNotFoundException")) => Self::NotFound,
            (0 | 200, _) => Self::NoAnswer,
            (500.., _) => Self::ServerError,
            _ => Self::Refused,
        }
    }

    /// Its name in the log line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Throttled => "throttled",
            Self::ServerError => "server-error",
            Self::NoAnswer => "no-answer",
            Self::AccessDenied => "access-denied",
            Self::Invalid => "invalid-request",
            Self::NotFound => "not-found",
            Self::Refused => "refused",
        }
    }
}
