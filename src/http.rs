//! The HTTP contract, as pure functions: a request's relevant parts in, a complete response out.
//! The worker layer only copies fields between these types and the Workers runtime, so every
//! status, header and body here is tested natively.

use crate::channel::{is_channel_name, is_local_host, origin_matches, split_list, truncate};
use crate::config::Config;
use crate::cookie::find_cookie;
use crate::error::{Error, Result, SessionFault};
use crate::grant::{authorize, issue};
use crate::session::Session;

/// The parts of an HTTP request the core looks at.
#[derive(Debug, Clone, Copy, Default)]
pub struct Request<'a> {
    /// Method, upper case.
    pub method: &'a str,
    /// Path, without query.
    pub path: &'a str,
    /// Raw query string, without `?`.
    pub query: &'a str,
    /// `Origin` header.
    pub origin: Option<&'a str>,
    /// `Cookie` header.
    pub cookie: Option<&'a str>,
    /// The host the request was sent to (`Host`), with any port.
    pub host: Option<&'a str>,
}

impl<'a> Request<'a> {
    /// A request from its method and target (`/path?query`).
    pub fn new(method: &'a str, target: &'a str) -> Self {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        Self { method, path, query, origin: None, cookie: None, host: None }
    }
}

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
    fn new(status: u16, headers: Vec<(&'static str, String)>, body: String) -> Self {
        Self { status, headers, body, channel: None, problem: None }
    }

    fn json(status: u16, body: serde_json::Value) -> Self {
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
    fn problem_with_status(error: &Error, status: u16) -> Self {
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

    fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}

/// The value of query parameter `name`, percent-decoded. `Err` when it is repeated or not UTF-8.
pub fn query_param(query: &str, name: &str) -> Result<Option<String>> {
    let mut found = None;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if percent_decode(key).as_deref() != Some(name) {
            continue;
        }
        if found.is_some() {
            return Err(Error::BadRequest(format!("query parameter `{name}` is given more than once")));
        }
        found = Some(
            percent_decode(value)
                .ok_or_else(|| Error::BadRequest(format!("query parameter `{name}` is not valid percent-encoded UTF-8")))?,
        );
    }
    Ok(found)
}

/// Decode `%XX` escapes and `+` (as a space); `None` on a bad escape or invalid UTF-8.
pub fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// The session of a request: the named cookie, verified.
pub fn session_of(config: &Config, request: &Request<'_>, now: u64) -> Result<Session> {
    let cookie = request
        .cookie
        .and_then(|header| find_cookie(header, &config.cookie_name))
        .ok_or(Error::Session(SessionFault::Missing))?;
    config.sessions.verify(cookie, now)
}

/// The channel name from `?channel=`, validated.
fn channel_param(query: &str) -> Result<String> {
    let name = query_param(query, "channel")?
        .ok_or_else(|| Error::BadRequest("query parameter `channel` is required: GET /v1/token?channel=NAME".into()))?;
    if !is_channel_name(&name) {
        // The value is not echoed: it is attacker-controlled and already known to be invalid.
        return Err(Error::BadRequest("query parameter `channel` must be a channel name matching [a-z0-9-]{1,64}".into()));
    }
    Ok(name)
}

/// CORS headers for a request whose `Origin` is in `ALLOWED_ORIGINS` (nothing otherwise).
fn cors_headers(config: &Config, origin: Option<&str>) -> Vec<(&'static str, String)> {
    match origin {
        Some(origin) if config.allowed_origins.iter().any(|p| origin_matches(p, origin)) => vec![
            ("access-control-allow-origin", origin.to_owned()),
            ("access-control-allow-credentials", "true".into()),
        ],
        _ => Vec::new(),
    }
}

const TOKEN_METHODS: &str = "GET, OPTIONS";
/// Methods of the read-only routes (`/healthz`, `/v1/public-key`).
const HEALTH_METHODS: &str = "GET, HEAD";

/// Answer one request. `config` is the loaded configuration or the error that loading it gave;
/// `now` is Unix seconds; `random` is fresh randomness for this request.
pub fn handle(request: &Request<'_>, config: Result<&Config, &Error>, now: u64, random: [u8; 32]) -> Response {
    let mut response = match request.path {
        "/healthz" => health(request, config),
        "/v1/token" => token_route(request, config, now, random),
        "/v1/public-key" => public_key_route(request, config),
        "/dev/login" => dev_login_route(request, config, now),
        path => match path.strip_prefix("/watch/") {
            Some(name) => watch_route(request, config, name, now, random),
            None => Response::problem(&Error::NotFound),
        },
    };
    if request.method == "HEAD" {
        response.body.clear();
    }
    response
}

fn health(request: &Request<'_>, config: Result<&Config, &Error>) -> Response {
    if !matches!(request.method, "GET" | "HEAD") {
        return Response::problem(&Error::MethodNotAllowed { allow: HEALTH_METHODS });
    }
    match config {
        Ok(_) => Response::json(200, serde_json::json!({"status": "ok"})),
        // Unhealthy, but 503 rather than 500: the probe itself worked.
        Err(error) => Response::problem_with_status(error, 503),
    }
}

/// The SPKI PEM of the signing key, for `aws ivs import-playback-key-pair`. Public by nature.
fn public_key_route(request: &Request<'_>, config: Result<&Config, &Error>) -> Response {
    if !matches!(request.method, "GET" | "HEAD") {
        return Response::problem(&Error::MethodNotAllowed { allow: HEALTH_METHODS });
    }
    match config {
        Ok(config) => Response::new(
            200,
            vec![
                ("content-type", "text/plain; charset=utf-8".into()),
                ("cache-control", "public, max-age=300".into()),
                ("x-content-type-options", "nosniff".into()),
            ],
            config.key.public_key_pem(),
        ),
        Err(error) => Response::problem(error),
    }
}

fn token_route(request: &Request<'_>, config: Result<&Config, &Error>, now: u64, random: [u8; 32]) -> Response {
    if !matches!(request.method, "GET" | "OPTIONS") {
        return Response::problem(&Error::MethodNotAllowed { allow: TOKEN_METHODS });
    }
    let config = match config {
        Ok(config) => config,
        Err(error) => return Response::problem(error),
    };
    let cors = cors_headers(config, request.origin);
    let mut response = if request.method == "OPTIONS" {
        let headers = vec![("cache-control", "no-store".into()), ("x-content-type-options", "nosniff".into())];
        let mut preflight = Response::new(204, headers, String::new());
        if !cors.is_empty() {
            preflight = preflight
                .with_header("access-control-allow-methods", TOKEN_METHODS)
                .with_header("access-control-max-age", "600");
        }
        preflight
    } else {
        let channel = channel_param(request.query);
        let outcome = channel.clone().and_then(|name| {
            let session = session_of(config, request, now)?;
            let channel = authorize(config, &session, &name)?;
            let mut single_use = [0u8; 16];
            single_use.copy_from_slice(&random[..16]);
            Ok(issue(config, channel, &session, now, single_use))
        });
        let mut response = match outcome {
            Ok(issued) => Response::json(
                200,
                serde_json::json!({
                    "channel": issued.channel,
                    "token": issued.token,
                    "playback_url": issued.playback_url,
                    "expires_at": issued.expires_at,
                }),
            ),
            Err(error) => Response::problem(&error),
        };
        response.channel = channel.ok();
        response
    };
    response.headers.push(("vary", "Origin, Cookie".into()));
    response.headers.extend(cors);
    response
}

// ---- The watch page and local sign-in ----

/// Whether `path` is a path of this worker, safe as a redirect target (no open redirect).
pub fn is_local_path(path: &str) -> bool {
    path.starts_with('/')
        && !path.starts_with("//")
        && !path.starts_with("/\\")
        && path.len() <= 512
        && path.bytes().all(|b| b.is_ascii_graphic() && b != b'\\')
}

/// Percent-encode everything but unreserved characters and `/` (for `return_to`).
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A `Set-Cookie` value for the session: HttpOnly, SameSite=Lax, Secure except on localhost.
pub fn session_set_cookie(name: &str, value: &str, max_age: u64, host: Option<&str>) -> String {
    let secure = if host.is_some_and(is_local_host) { "" } else { "; Secure" };
    format!("{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}")
}

fn html(status: u16, body: String, csp: String) -> Response {
    let headers = vec![
        ("content-type", "text/html; charset=utf-8".into()),
        ("cache-control", "private, no-store".into()),
        ("referrer-policy", "no-referrer".into()),
        ("x-content-type-options", "nosniff".into()),
        ("content-security-policy", csp),
        ("vary", "Cookie".into()),
    ];
    Response::new(status, headers, body)
}

fn redirect(location: String) -> Response {
    let headers = vec![
        ("location", location),
        ("cache-control", "private, no-store".into()),
        ("referrer-policy", "no-referrer".into()),
    ];
    Response::new(302, headers, String::new())
}

/// An error as a human page (the watch route's counterpart of [`Response::problem`]).
fn message_for(error: &Error, nonce: &str, link: Option<(&str, &str)>) -> Response {
    let (heading, message) = match error {
        Error::Session(_) => ("Sign in to watch", "This stream is for signed-in viewers. Sign in, then open this page again.".to_owned()),
        Error::ChannelForbidden(_) => ("Not included in your access", "Your account does not include this channel.".to_owned()),
        Error::UnknownChannel(_) | Error::NotFound => ("Channel not found", "There is no channel at this address.".to_owned()),
        other => ("Temporarily unavailable", format!("The stream page cannot be served right now ({other}).")),
    };
    let mut response = html(error.status(), crate::page::message_page(heading, &message, link, nonce), crate::page::message_csp(nonce));
    response.problem = Some(error.slug());
    response
}

const PAGE_METHODS: &str = "GET, HEAD";

fn watch_route(request: &Request<'_>, config: Result<&Config, &Error>, name: &str, now: u64, random: [u8; 32]) -> Response {
    if !matches!(request.method, "GET" | "HEAD") {
        return Response::problem(&Error::MethodNotAllowed { allow: PAGE_METHODS });
    }
    let mut nonce_bytes = [0u8; 16];
    nonce_bytes.copy_from_slice(&random[16..]);
    let nonce = crate::page::nonce(&nonce_bytes);
    if !is_channel_name(name) {
        return message_for(&Error::UnknownChannel(String::new()), &nonce, None);
    }
    let config = match config {
        Ok(config) => config,
        Err(error) => return message_for(error, &nonce, None),
    };
    let mut response = match session_of(config, request, now) {
        Err(error) => {
            let return_to = percent_encode(&format!("/watch/{name}"));
            let dev_login = config.dev_login && request.host.is_some_and(is_local_host);
            match &config.login_url {
                Some(login) => {
                    let separator = if login.contains('?') { '&' } else { '?' };
                    let mut response = redirect(format!("{login}{separator}return_to={return_to}"));
                    response.problem = Some(error.slug());
                    response
                }
                None if dev_login => redirect(format!("/dev/login?return_to={return_to}")),
                None => message_for(&error, &nonce, None),
            }
        }
        Ok(session) => match authorize(config, &session, name) {
            Err(error) => message_for(&error, &nonce, None),
            Ok(channel) => {
                let mut single_use = [0u8; 16];
                single_use.copy_from_slice(&random[..16]);
                let issued = issue(config, channel, &session, now, single_use);
                let body = crate::page::watch_page(channel, &issued, &config.player, &nonce);
                html(200, body, crate::page::watch_csp(channel, &config.player, &nonce))
            }
        },
    };
    response.channel = Some(name.to_owned());
    response
}

/// Session lifetime of a local dev sign-in.
const DEV_SESSION_SECONDS: u64 = 12 * 3600;

fn dev_login_route(request: &Request<'_>, config: Result<&Config, &Error>, now: u64) -> Response {
    // Invisible (404) unless enabled *and* the request is addressed to this machine.
    let config = match config {
        Ok(config) if config.dev_login && request.host.is_some_and(is_local_host) => config,
        _ => return Response::problem(&Error::NotFound),
    };
    if request.method != "GET" {
        return Response::problem(&Error::MethodNotAllowed { allow: "GET" });
    }
    let outcome = (|| -> Result<Response> {
        let sub = query_param(request.query, "sub")?.unwrap_or_else(|| "dev-viewer".to_owned());
        if sub.is_empty() || sub.len() > crate::session::MAX_SUBJECT_LEN {
            return Err(Error::BadRequest("query parameter `sub` must be 1 to 256 bytes".into()));
        }
        let default_target = config.channels.keys().next().map(|n| format!("/watch/{n}")).unwrap_or_else(|| "/healthz".into());
        let return_to = query_param(request.query, "return_to")?.unwrap_or(default_target);
        if !is_local_path(&return_to) {
            return Err(Error::BadRequest("query parameter `return_to` must be a path of this worker, like /watch/demo".into()));
        }
        let mut claims = crate::session::SessionClaims::new(&sub, now, DEV_SESSION_SECONDS);
        claims.channels = query_param(request.query, "channels")?.map(|c| split_list(&c));
        let cookie = session_set_cookie(&config.cookie_name, &config.sessions.mint(&claims), DEV_SESSION_SECONDS, request.host);
        Ok(redirect(return_to).with_header("set-cookie", cookie))
    })();
    outcome.unwrap_or_else(|error| Response::problem(&error))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{names, tests::{settings, SESSION_SECRET}};
    use crate::session::{mint, SessionClaims};
    use crate::token::verify;

    const NOW: u64 = 1_800_000_000;

    fn config() -> Config {
        Config::load(&settings().with(names::ALLOWED_ORIGINS, "https://app.example, https://*.example.org")).unwrap()
    }

    fn cookie_for(claims: &SessionClaims) -> String {
        format!("other=1; session={}", mint(claims, SESSION_SECRET.as_bytes()))
    }

    fn get(config: &Config, target: &str, cookie: Option<&str>, origin: Option<&str>) -> Response {
        let mut request = Request::new("GET", target);
        request.cookie = cookie;
        request.origin = origin;
        handle(&request, Ok(config), NOW, [9; 32])
    }

    fn body(response: &Response) -> serde_json::Value {
        serde_json::from_str(&response.body).unwrap()
    }

    #[test]
    fn token_success_contract() {
        let config = config();
        let cookie = cookie_for(&SessionClaims::new("alice", NOW, 3600));
        let response = get(&config, "/v1/token?channel=demo", Some(&cookie), Some("https://app.example"));
        assert_eq!(response.status, 200, "{}", response.body);
        assert_eq!(response.header("content-type"), Some("application/json"));
        assert_eq!(response.header("cache-control"), Some("no-store"));
        assert_eq!(response.header("vary"), Some("Origin, Cookie"));
        assert_eq!(response.header("access-control-allow-origin"), Some("https://app.example"));
        assert_eq!(response.header("access-control-allow-credentials"), Some("true"));
        let json = body(&response);
        let token = json["token"].as_str().unwrap();
        assert_eq!(json["channel"], "demo");
        assert_eq!(json["playback_url"], format!("https://x.live-video.net/demo.m3u8?token={token}"));
        let claims = verify(token, &[config.key.public_key()], NOW).unwrap().claims;
        assert_eq!(json["expires_at"], claims["exp"]);
        assert_eq!(json.as_object().unwrap().len(), 4);
    }

    #[test]
    fn cors_only_for_listed_origins() {
        let config = config();
        let cookie = cookie_for(&SessionClaims::new("alice", NOW, 3600));
        let wildcard = get(&config, "/v1/token?channel=demo", Some(&cookie), Some("https://tv.example.org"));
        assert_eq!(wildcard.header("access-control-allow-origin"), Some("https://tv.example.org"));
        let evil = get(&config, "/v1/token?channel=demo", Some(&cookie), Some("https://evil.example"));
        assert_eq!(evil.header("access-control-allow-origin"), None);
        assert_eq!(evil.header("access-control-allow-credentials"), None);
        // Problems carry CORS too, so the page can read why.
        let denied = get(&config, "/v1/token?channel=demo", None, Some("https://app.example"));
        assert_eq!(denied.status, 401);
        assert_eq!(denied.header("access-control-allow-origin"), Some("https://app.example"));
    }

    #[test]
    fn preflight() {
        let config = config();
        let mut request = Request::new("OPTIONS", "/v1/token?channel=demo");
        request.origin = Some("https://app.example");
        let response = handle(&request, Ok(&config), NOW, [0; 32]);
        assert_eq!(response.status, 204);
        assert!(response.body.is_empty());
        assert_eq!(response.header("access-control-allow-origin"), Some("https://app.example"));
        assert_eq!(response.header("access-control-allow-methods"), Some("GET, OPTIONS"));
        request.origin = Some("https://evil.example");
        let response = handle(&request, Ok(&config), NOW, [0; 32]);
        assert_eq!(response.status, 204);
        assert_eq!(response.header("access-control-allow-origin"), None);
    }

    #[test]
    fn problems_have_the_right_status_and_shape() {
        let config = config();
        let alice = cookie_for(&SessionClaims::new("alice", NOW, 3600));
        let mut demo_only = SessionClaims::new("bob", NOW, 3600);
        demo_only.channels = Some(vec!["demo".into()]);
        let bob = cookie_for(&demo_only);
        let expired = cookie_for(&SessionClaims::new("carol", NOW - 7200, 3600));
        let cases: Vec<(&str, Option<&str>, u16, &str)> = vec![
            ("/v1/token", Some(&alice), 400, "bad-request"),
            ("/v1/token?channel=", Some(&alice), 400, "bad-request"),
            ("/v1/token?channel=Bad%20Name", Some(&alice), 400, "bad-request"),
            ("/v1/token?channel=demo&channel=vip", Some(&alice), 400, "bad-request"),
            ("/v1/token?channel=%ff", Some(&alice), 400, "bad-request"),
            ("/v1/token?channel=demo", None, 401, "session-missing"),
            ("/v1/token?channel=demo", Some("session="), 401, "session-invalid"),
            ("/v1/token?channel=demo", Some(&expired), 401, "session-expired"),
            ("/v1/token?channel=vip", Some(&bob), 403, "channel-forbidden"),
            ("/v1/token?channel=nope", Some(&alice), 404, "unknown-channel"),
            ("/nope", Some(&alice), 404, "not-found"),
        ];
        for (target, cookie, status, slug) in cases {
            let response = get(&config, target, cookie, None);
            assert_eq!(response.status, status, "{target}: {}", response.body);
            assert_eq!(response.header("content-type"), Some("application/problem+json"));
            let json = body(&response);
            assert_eq!(json["type"], format!("urn:ivs-token-worker:problem:{slug}"), "{target}");
            assert_eq!(json["status"], status);
            assert!(json["title"].is_string() && json["detail"].is_string());
            assert!(!response.body.contains("eyJ"), "no token or cookie in problems: {}", response.body);
        }
    }

    #[test]
    fn methods() {
        let config = config();
        for (method, path, allow) in [("POST", "/v1/token", "GET, OPTIONS"), ("DELETE", "/healthz", "GET, HEAD")] {
            let response = handle(&Request::new(method, path), Ok(&config), NOW, [0; 32]);
            assert_eq!(response.status, 405);
            assert_eq!(response.header("allow"), Some(allow));
        }
    }

    #[test]
    fn health_reveals_no_settings() {
        let config = config();
        let ok = handle(&Request::new("GET", "/healthz"), Ok(&config), NOW, [0; 32]);
        assert_eq!((ok.status, ok.body.as_str()), (200, r#"{"status":"ok"}"#));
        let head = handle(&Request::new("HEAD", "/healthz"), Ok(&config), NOW, [0; 32]);
        assert_eq!((head.status, head.body.as_str()), (200, ""));
        let error = Config::load(&settings().with(names::SESSION_SECRET, "")).unwrap_err();
        let bad = handle(&Request::new("GET", "/healthz"), Err(&error), NOW, [0; 32]);
        assert_eq!(bad.status, 503);
        assert_eq!(body(&bad)["status"], 503);
        let misconfigured = handle(&Request::new("GET", "/v1/token?channel=demo"), Err(&error), NOW, [0; 32]);
        assert_eq!(misconfigured.status, 500);
        assert!(body(&misconfigured)["detail"].as_str().unwrap().contains("SESSION_SECRET"));
    }

    #[test]
    fn public_key_route_serves_spki_pem() {
        let config = config();
        let response = handle(&Request::new("GET", "/v1/public-key"), Ok(&config), NOW, [0; 32]);
        assert_eq!(response.status, 200);
        assert_eq!(response.header("content-type"), Some("text/plain; charset=utf-8"));
        assert_eq!(response.body, config.key.public_key_pem());
        assert!(response.body.starts_with("-----BEGIN PUBLIC KEY-----\n"));
        let post = handle(&Request::new("POST", "/v1/public-key"), Ok(&config), NOW, [0; 32]);
        assert_eq!(post.status, 405);
    }

    fn watch(config: &Config, path: &str, cookie: Option<&str>, host: &str) -> Response {
        let mut request = Request::new("GET", path);
        request.cookie = cookie;
        request.host = Some(host);
        handle(&request, Ok(config), NOW, [7; 32])
    }

    #[test]
    fn watch_page_embeds_a_valid_token_under_a_nonce_csp() {
        let config = config();
        let cookie = cookie_for(&SessionClaims::new("alice", NOW, 3600));
        let response = watch(&config, "/watch/demo", Some(&cookie), "tv.example");
        assert_eq!(response.status, 200, "{}", response.body);
        assert_eq!(response.header("content-type"), Some("text/html; charset=utf-8"));
        assert_eq!(response.header("cache-control"), Some("private, no-store"));
        assert_eq!(response.header("referrer-policy"), Some("no-referrer"));
        assert_eq!(response.header("x-content-type-options"), Some("nosniff"));
        let nonce = crate::page::nonce(&[7; 16]);
        let csp = response.header("content-security-policy").unwrap();
        assert!(csp.contains(&format!("'nonce-{nonce}'")));
        assert!(response.body.contains(&format!("<script nonce=\"{nonce}\">")));
        let start = response.body.find("?token=").unwrap() + 7;
        let token: String = response.body[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c)).collect();
        let claims = verify(&token, &[config.key.public_key()], NOW).unwrap().claims;
        assert_eq!(claims["aws:channel-arn"], "arn:aws:ivs:us-west-2:123456789012:channel/demo1");
    }

    #[test]
    fn watch_without_session() {
        let plain = config();
        let r = watch(&plain, "/watch/demo", None, "tv.example");
        assert_eq!((r.status, r.header("content-type")), (401, Some("text/html; charset=utf-8")));
        assert!(r.body.contains("Sign in to watch") && !r.body.contains("<script"));

        let login = Config::load(&settings().with(names::LOGIN_URL, "https://auth.example/login?app=tv")).unwrap();
        let r = watch(&login, "/watch/demo", Some("session=garbage"), "tv.example");
        assert_eq!((r.status, r.header("location")), (302, Some("https://auth.example/login?app=tv&return_to=/watch/demo")));

        let dev = Config::load(&settings().with(names::DEV_LOGIN, "true")).unwrap();
        let r = watch(&dev, "/watch/demo", None, "127.0.0.1:8787");
        assert_eq!((r.status, r.header("location")), (302, Some("/dev/login?return_to=/watch/demo")));
        assert_eq!(watch(&dev, "/watch/demo", None, "tv.example").status, 401, "dev login is for localhost only");
    }

    #[test]
    fn watch_errors_are_pages() {
        let config = config();
        let mut only_demo = SessionClaims::new("bob", NOW, 3600);
        only_demo.channels = Some(vec!["demo".into()]);
        let bob = cookie_for(&only_demo);
        for (path, status, text) in [
            ("/watch/vip", 403, "does not include this channel"),
            ("/watch/nope", 404, "no channel at this address"),
            ("/watch/Bad%3Cname%3E", 404, "no channel at this address"),
            ("/watch/", 404, "no channel at this address"),
        ] {
            let r = watch(&config, path, Some(&bob), "tv.example");
            assert_eq!(r.status, status, "{path}");
            assert!(r.body.contains(text), "{path}");
            assert!(!r.body.contains("Bad") && !r.body.contains("%3C"), "the path is not echoed");
        }
        let error = Config::load(&settings().with(names::SESSION_SECRET, "")).unwrap_err();
        let mut request = Request::new("GET", "/watch/demo");
        request.host = Some("tv.example");
        let r = handle(&request, Err(&error), NOW, [0; 32]);
        assert_eq!(r.status, 500);
        assert!(r.body.contains("SESSION_SECRET"));
    }

    #[test]
    fn dev_login_only_on_localhost_when_enabled() {
        let dev = Config::load(&settings().with(names::DEV_LOGIN, "true")).unwrap();
        let r = watch(&dev, "/dev/login?sub=carol&return_to=/watch/vip", None, "localhost:8787");
        assert_eq!((r.status, r.header("location")), (302, Some("/watch/vip")));
        let set_cookie = r.header("set-cookie").unwrap();
        assert!(set_cookie.ends_with("; Path=/; Max-Age=43200; HttpOnly; SameSite=Lax"), "{set_cookie}");
        let value = set_cookie.strip_prefix("session=").unwrap().split(';').next().unwrap();
        assert_eq!(dev.sessions.verify(value, NOW).unwrap().sub, "carol");

        let default = watch(&dev, "/dev/login", None, "127.0.0.1");
        assert_eq!(default.header("location"), Some("/watch/demo"));
        for bad in ["//evil.example/", "https://evil.example/", "/\\evil.example", "watch/demo"] {
            let r = watch(&dev, &format!("/dev/login?return_to={}", percent_encode(bad)), None, "127.0.0.1");
            assert_eq!(r.status, 400, "{bad}");
        }
        assert_eq!(watch(&dev, "/dev/login", None, "tv.example").status, 404);
        assert_eq!(watch(&dev, "/dev/login", None, "localhost.evil.example").status, 404);
        assert_eq!(watch(&config(), "/dev/login", None, "127.0.0.1").status, 404, "disabled by default");
    }

    /// No input may panic the worker (a panic aborts the isolate). Every route, host, method and
    /// configuration is combined exhaustively; queries, cookies and origins are drawn at random
    /// from garbage, near-misses and hostile bytes.
    #[test]
    fn no_request_panics() {
        let configs = [
            Config::load(&settings()).unwrap(),
            Config::load(&settings().with(names::DEV_LOGIN, "true")).unwrap(),
            Config::load(&settings().with(names::LOGIN_URL, "/login?x=1")).unwrap(),
        ];
        let error = Config::load(&settings().with(names::CHANNELS, "{}")).unwrap_err();
        let good = cookie_for(&SessionClaims::new("alice", NOW, 3600));
        let paths = [
            "", "/", "//", "/watch/", "/watch/demo", "/watch/vip", "/watch/nope", "/watch/Bad", "/watch/demo/", "/v1/token",
            "/v1/public-key", "/dev/login", "/healthz", "/%2e%2e", "/watch/\u{e9}",
        ];
        let hosts = ["", "[", "]", "[::1", "[::1]", "[::1]:", ":", "127.0.0.1:", "localhost", "localhost:x", "tv.example", "\u{e9}:8787"];
        let methods = ["GET", "HEAD", "POST", "OPTIONS", "DELETE", "", "get"];
        let pieces = [
            "", "?", "&", "=", "channel=", "channel=demo", "channel=vip", "channel=%", "channel=%e2%82", "%ff%fe", "return_to=//x",
            "return_to=%2Fwatch%2Fdemo", "return_to=\\x", "sub=", "channels=a,,b", "\u{e9}", "\u{0}", "<script>", "session=",
            "session=a.b.c", "session=...", &good, "eyJ", "\"", ";", "https://a.example",
        ];
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut pick = |count: usize| {
            (0..count)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    pieces[(state % pieces.len() as u64) as usize]
                })
                .collect::<Vec<_>>()
                .join("&")
        };
        let mut count = 0u32;
        for path in paths {
            for host in hosts {
                for method in methods {
                    for config in configs.iter().map(Ok).chain([Err(&error)]) {
                        for _ in 0..3 {
                            let (query, cookie, origin) = (pick(3), pick(2).replace('&', "; "), pick(1));
                            let target = format!("{path}?{query}");
                            let mut request = Request::new(method, &target);
                            request.cookie = Some(&cookie);
                            request.origin = Some(&origin);
                            request.host = Some(host);
                            let response = handle(&request, config, NOW, [count as u8; 32]);
                            assert!((200..600).contains(&response.status));
                            let _ = log_line(&request, &response, 0.5);
                            count += 1;
                        }
                    }
                }
            }
        }
        assert_eq!(count, 15 * 12 * 7 * 4 * 3);
    }

    #[test]
    fn cookies_are_secure_off_localhost() {
        assert!(session_set_cookie("s", "v", 60, Some("tv.example")).ends_with("; Secure"));
        assert!(!session_set_cookie("s", "v", 60, Some("[::1]:8787")).contains("Secure"));
        assert!(is_local_host("127.0.0.1:8787") && is_local_host("[::1]") && !is_local_host("127.0.0.1.example"));
        assert!(is_local_host("[::1]:8787") && !is_local_host("[::1") && !is_local_host("[::2]"));
    }

    #[test]
    fn query_parsing() {
        assert_eq!(query_param("a=1&channel=de%6do", "channel").unwrap().as_deref(), Some("demo"));
        assert_eq!(query_param("channel", "channel").unwrap().as_deref(), Some(""));
        assert_eq!(query_param("x=1", "channel").unwrap(), None);
        assert!(query_param("channel=%zz", "channel").is_err());
        assert!(query_param("channel=%", "channel").is_err());
        assert_eq!(percent_decode("a+b%20c").as_deref(), Some("a b c"));
        assert_eq!(percent_decode("%e2%82%ac").as_deref(), Some("€"));
    }

    #[test]
    fn log_lines_hold_no_secrets() {
        let config = config();
        let cookie = cookie_for(&SessionClaims::new("alice", NOW, 3600));
        let mut request = Request::new("GET", "/v1/token?channel=demo");
        request.cookie = Some(&cookie);
        let response = handle(&request, Ok(&config), NOW, [0; 32]);
        let line = log_line(&request, &response, 1.23456);
        let json: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(json["status"], 200);
        assert_eq!(json["channel"], "demo");
        assert_eq!(json["path"], "/v1/token");
        assert_eq!(json["duration_ms"], 1.235);
        assert!(!line.contains("eyJ") && !line.contains("alice"));
    }
}
