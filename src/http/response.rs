//! A complete response as the core writes it (status, headers, body), problem documents
//! (RFC 9457) for every error, and the one log line per request.

use super::request::Request;
use crate::error::Error;
use crate::text::truncate;

/// A complete response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Headers, in order.
    pub headers: Vec<(&'static str, String)>,
    /// Body.
    pub body: String,
    /// The channel the request was about, for the log line.
    pub channel: Option<String>,
    /// The problem slug when the response is an error, for the log line.
    pub problem: Option<&'static str>,
}

impl Response {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// A response with no log annotations yet.
    pub(crate) fn new(status: u16, headers: Vec<(&'static str, String)>, body: String) -> Self {
        Self { status, headers, body, channel: None, problem: None }
    }

    pub(crate) fn json(status: u16, body: serde_json::Value) -> Self {
        let headers = vec![
            ("content-type", "application/json".into()),
            ("cache-control", "no-store".into()),
            ("x-content-type-options", "nosniff".into()),
        ];
        Self::new(status, headers, body.to_string())
    }

    /// An RFC 9457 `application/problem+json` response for `error`.
    pub fn problem(error: &Error) -> Self {
        Self::problem_with_status(error, error.status())
    }

    /// [`Response::problem`] with another status than the error's own (`/healthz` answers 503).
    pub(crate) fn problem_with_status(error: &Error, status: u16) -> Self {
        let body = serde_json::json!({
            "type": format!("urn:ivs-token-worker:problem:{}", error.slug()),
            "title": error.title(),
            "status": status,
            "detail": error.to_string(),
        });
        let mut response = Self::json(status, body);
        response.headers[0].1 = "application/problem+json".into();
        if let Error::MethodNotAllowed { allow } = error {
            response.headers.push(("allow", (*allow).into()));
        }
        response.problem = Some(error.slug());
        response
    }

    pub(crate) fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}

/// One structured log line for a request: never the token, cookie, query or key.
pub fn log_line(request: &Request<'_>, response: &Response, duration_ms: f64) -> String {
    serde_json::json!({
        "method": request.method,
        "path": truncate(request.path),
        "status": response.status,
        "channel": response.channel,
        "problem": response.problem,
        "duration_ms": (duration_ms * 1000.0).round() / 1000.0,
    })
    .to_string()
}
