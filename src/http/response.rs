//! A complete response as the core writes it (status, headers, body), problem documents
//! (RFC 9457) for every error, and the one log line per request.

use super::problem::Problem;
use super::request::Request;
use crate::address::is_local_host;
use crate::address::origin_matches;
use crate::config::Config;
use crate::error::Error;
use crate::identity::provider::TokenSource;
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
    /// How the device ledger was consulted when it could not decide (`unreachable`), for the
    /// log line: what an operator counts to see tokens served without the limit.
    pub ledger: Option<&'static str>,
    /// Why an upstream AWS API (IVS Chat) did not serve the request, for the log line.
    pub upstream: Option<crate::aws::call::Fault>,
}

impl Response {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// A response with no log annotations yet.
    pub(crate) fn new(status: u16, headers: Vec<(&'static str, String)>, body: String) -> Self {
        Self { status, headers, body, channel: None, problem: None, ledger: None, upstream: None }
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
        if let Error::TooManyNewDevices { retry_after }
        | Error::ChatTooFast { retry_after }
        | Error::ChatUnavailable { retry_after } = error
        {
            response.headers.push(("retry-after", retry_after.to_string()));
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
        "ledger": response.ledger,
        "upstream": response.upstream.map(crate::aws::call::Fault::as_str),
        "duration_ms": (duration_ms * 1000.0).round() / 1000.0,
    })
    .to_string()
}

/// A `Set-Cookie` value for the session: HttpOnly, SameSite=Lax, `Path=/`, no `Domain`, and
/// Secure except on localhost (`make dev` serves plain http). The name is the one the worker reads
/// (`SESSION_COOKIE`); a `__Host-` or `__Secure-` name is always Secure, as its prefix requires
/// (browsers accept Secure cookies from http://localhost).
pub fn session_set_cookie(name: &str, value: &str, max_age: u64, host: Option<&str>) -> String {
    let prefixed = name.starts_with("__Host-") || name.starts_with("__Secure-");
    let secure = if host.is_some_and(is_local_host) && !prefixed { "" } else { "; Secure" };
    format!("{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}")
}

/// What every token API route (`/v1/token`, `/v1/stage-token`, `/v1/chat-token`) shares around
/// its answer, for any methods: `methods` the route answers, `cors_methods` those a
/// cross-origin page may use (`/v1/chat-token`: POST).
pub(crate) fn cors_api(
    request: &Request<'_>,
    config: Result<&Config, &Error>,
    methods: &'static str,
    cors_methods: &'static str,
    answer: impl FnOnce(&Config) -> Response,
) -> Response {
    if !methods.split(", ").any(|method| method == request.method) {
        return Response::problem(&Error::MethodNotAllowed { allow: methods });
    }
    let config = match config {
        Ok(config) => config,
        Err(error) => return Response::problem(error),
    };
    let cors = cors_headers(config, request.origin);
    let mut response = if request.method == "OPTIONS" {
        preflight(methods, !cors.is_empty(), cors_methods, allowed_headers(config))
    } else {
        let mut response = answer(config);
        // RFC 6750 section 3: a refused Bearer token says so in the challenge.
        if response.status == 401 && request.presented().bearer().is_some() && reads_bearer(config) {
            response.headers.push(("www-authenticate", r#"Bearer error="invalid_token""#.into()));
        }
        response
    };
    let vary = if reads_bearer(config) { "Origin, Cookie, Authorization" } else { "Origin, Cookie" };
    response.headers.push(("vary", vary.into()));
    response.headers.extend(cors);
    response
}

/// CORS headers for a request whose `Origin` is in `ALLOWED_ORIGINS` (nothing otherwise).
pub(super) fn cors_headers(config: &Config, origin: Option<&str>) -> Vec<(&'static str, String)> {
    match origin {
        Some(origin) if config.allowed_origins.iter().any(|p| origin_matches(p, origin)) => vec![
            ("access-control-allow-origin", origin.to_owned()),
            ("access-control-allow-credentials", "true".into()),
        ],
        _ => Vec::new(),
    }
}

pub(super) fn reads_bearer(config: &Config) -> bool {
    config.identity.providers.iter().any(|p| p.reads(&TokenSource::Bearer))
}

/// Request headers a cross-origin page may send: `Authorization` (Bearer tokens) and the
/// headers identity providers are read from.
pub(super) fn allowed_headers(config: &Config) -> String {
    let mut names = vec!["authorization".to_owned()];
    for provider in &config.identity.providers {
        for source in &provider.token_from {
            if let TokenSource::Header(name) = source {
                if !names.contains(name) {
                    names.push(name.clone());
                }
            }
        }
    }
    names.join(", ")
}

/// A CORS preflight answer (`204`): `Allow` lists the route's methods; for an allowed origin
/// (`cors_allowed`), also the methods and request headers a cross-origin page may use.
pub(crate) fn preflight(
    allow: &'static str,
    cors_allowed: bool,
    cors_methods: &'static str,
    headers: String,
) -> Response {
    let fixed = vec![("cache-control", "no-store".into()), ("x-content-type-options", "nosniff".into())];
    let preflight = Response::new(204, fixed, String::new()).with_header("allow", allow);
    if !cors_allowed {
        return preflight;
    }
    preflight
        .with_header("access-control-allow-methods", cors_methods)
        .with_header("access-control-allow-headers", headers)
        .with_header("access-control-max-age", "600")
}
