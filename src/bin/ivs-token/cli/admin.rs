//! `ivs-token admin`: the worker's operator API (`POST /v1/admin/revoke`,
//! `POST /v1/admin/devices`) over HTTPS (plain http only for this machine: the bearer token must
//! not travel in the clear), with a blocking client (ureq, rustls). The token never appears in
//! the output, in an error, or on the command line.

use super::client::agent_for;
use super::{read_text, unusable, Failure};
use ivs_token_worker::address::service_origin;
use ivs_token_worker::device::admin::ViewerRef;
use ivs_token_worker::identity::provider::check_issuer;
use ivs_token_worker::identity::session_cookie::check_secret;
use ivs_token_worker::identity::MAX_SUBJECT_LEN;
use serde_json::{Map, Value};
use std::path::PathBuf;
use std::time::Duration;

/// The arguments of `ivs-token admin`.
#[derive(clap::Args)]
pub struct AdminArgs {
    #[command(subcommand)]
    pub command: AdminCommand,
}

/// The operator API's commands.
#[derive(clap::Subcommand)]
pub enum AdminCommand {
    /// Revoke every device of a viewer at IVS (POST /v1/admin/revoke), on one channel or all,
    /// disconnect them from those channels' chat rooms (the answer's `chat_rooms`), and
    /// optionally block their token requests; prints the worker's answer (JSON).
    Revoke {
        #[command(flatten)]
        target: AdminTarget,
        /// Only this device-limited channel (a name in CHANNELS); default: every limited channel.
        #[arg(long, value_name = "NAME")]
        channel: Option<String>,
        /// Also refuse the viewer's token requests (403 viewer-blocked) for this many seconds.
        #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=ivs_token_worker::device::admin::MAX_BLOCK_SECONDS))]
        block_seconds: Option<u64>,
    },
    /// Lift an operator's block of a viewer (POST /v1/admin/unblock): every block, or one
    /// channel's with --channel; prints the worker's answer (JSON).
    Unblock {
        #[command(flatten)]
        target: AdminTarget,
        /// Only this channel's block (a name in CHANNELS); default: every block of the viewer.
        #[arg(long, value_name = "NAME")]
        channel: Option<String>,
    },
    /// List a viewer's devices (POST /v1/admin/devices): channels, since when, last seen, idle;
    /// the revocations still owed to IVS and any block. Prints the worker's answer (JSON).
    Devices {
        #[command(flatten)]
        target: AdminTarget,
    },
}

/// What every `admin` command names: the worker, the viewer, the token's file.
#[derive(clap::Args)]
pub struct AdminTarget {
    /// The worker's origin, e.g. https://www.example.com (http:// only for localhost).
    #[arg(long, value_name = "URL")]
    pub url: String,
    /// The viewer's subject (`sub`, or the value of the provider's `subject_claim`).
    #[arg(long, value_name = "ID")]
    pub sub: String,
    /// For a viewer signed in at an identity provider: the provider's name in
    /// IDENTITY_PROVIDERS (the worker maps it to the provider's issuer).
    #[arg(long, value_name = "NAME")]
    pub provider: Option<String>,
    /// For a viewer signed in at an identity provider: its issuer, exactly as its tokens' `iss`
    /// (--provider is simpler: the worker knows each provider's issuer).
    #[arg(long, value_name = "URL")]
    pub issuer: Option<String>,
    /// For a viewer of the app's own session cookie, which no identity provider vouches for. A
    /// worker with identity providers needs --provider, --issuer or this; one without them takes
    /// --sub alone as such a viewer.
    #[arg(long, conflicts_with_all = ["provider", "issuer"])]
    pub session_cookie: bool,
    /// File holding the operator API token (default: the ADMIN_API_TOKEN environment variable).
    // Not `#[arg(env)]`: clap would show the variable's value in --help.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
}

/// How long one call may take in all: connecting, TLS, sending, the whole answer.
const TIMEOUT: Duration = Duration::from_secs(15);
/// The largest answer read (the API's answers are a few KB).
const MAX_ANSWER_BYTES: u64 = 1 << 20;
/// Exit code: the worker refused the request (a 3xx or 4xx answer); retrying will not help.
const REFUSED: u8 = 4;
/// Exit code: no usable answer (network failure, timeout, a 5xx answer, not the API's JSON).
const FAILED: u8 = 5;
/// Where the token comes from when there is no `--token-file`.
const TOKEN_VARIABLE: &str = "ADMIN_API_TOKEN";

pub fn run(args: AdminArgs) -> Result<(), Failure> {
    let command = args.command;
    let (request, token_file) = match command {
        AdminCommand::Revoke { target, channel, block_seconds } => {
            let origin = check_target(&target)?;
            if let Some(name) = &channel {
                if !ivs_token_worker::text::is_name(name) {
                    return Err(unusable("--channel must be a channel name matching [a-z0-9-]{1,64}"));
                }
            }
            let body = revoke_body(&viewer_of(&target), channel.as_deref(), block_seconds);
            (Request { url: format!("{origin}/v1/admin/revoke"), body }, target.token_file)
        }
        AdminCommand::Unblock { target, channel } => {
            let origin = check_target(&target)?;
            if let Some(name) = &channel {
                if !ivs_token_worker::text::is_name(name) {
                    return Err(unusable("--channel must be a channel name matching [a-z0-9-]{1,64}"));
                }
            }
            let body = revoke_body(&viewer_of(&target), channel.as_deref(), None);
            (Request { url: format!("{origin}/v1/admin/unblock"), body }, target.token_file)
        }
        AdminCommand::Devices { target } => {
            let origin = check_target(&target)?;
            // POST, not GET with a query: the subject stays out of URLs that request logs keep.
            let body = revoke_body(&viewer_of(&target), None, None);
            (Request { url: format!("{origin}/v1/admin/devices"), body }, target.token_file)
        }
    };
    let token = admin_token(token_file.as_deref())?;
    let answer = send(&request, &token)?;
    println!("{}", serde_json::to_string_pretty(&answer).unwrap_or_default());
    Ok(())
}

/// One call of the operator API: every one is a POST of a JSON body (a subject never
/// travels in a URL).
struct Request {
    url: String,
    body: Value,
}

/// The worker's origin, after the checks the worker makes too (made first, so a typo costs
/// no request).
fn check_target(target: &AdminTarget) -> Result<String, Failure> {
    let origin = worker_origin(&target.url)?;
    if target.sub.is_empty() || target.sub.len() > MAX_SUBJECT_LEN {
        return Err(unusable(format!("--sub must be 1 to {MAX_SUBJECT_LEN} bytes")));
    }
    if let Some(issuer) = &target.issuer {
        check_issuer(issuer).map_err(|rule| unusable(format!("--issuer {issuer:?}: {rule}")))?;
    }
    if let Some(name) = &target.provider {
        if !ivs_token_worker::text::is_name(name) {
            return Err(unusable(
                "--provider must be an identity provider's name in the worker's IDENTITY_PROVIDERS, matching [a-z0-9-]{1,64}",
            ));
        }
    }
    Ok(origin)
}

/// The viewer the flags name. The worker resolves it: it maps `--provider` to that provider's
/// issuer and refuses a bare `--sub` where it has identity providers.
fn viewer_of(target: &AdminTarget) -> ViewerRef {
    ViewerRef {
        sub: target.sub.clone(),
        provider: target.provider.clone(),
        issuer: target.issuer.clone(),
        session_cookie: target.session_cookie,
    }
}

/// The worker's origin from `--url`: `https://host[:port]`, `http` only for localhost,
/// 127.0.0.1 or [::1], no path, query, fragment or user name.
fn worker_origin(url: &str) -> Result<String, Failure> {
    service_origin(url).map_err(|rule| {
        let why = if url.get(..7).is_some_and(|scheme| scheme.eq_ignore_ascii_case("http://")) {
            "; the admin token must not travel in the clear"
        } else {
            ""
        };
        unusable(format!("--url: {rule}{why}"))
    })
}

/// `POST /v1/admin/revoke`'s body: `sub`, and each optional field only when given (without
/// `block_seconds`, `POST /v1/admin/unblock`'s; without `channel` too, `POST /v1/admin/devices`'s).
fn revoke_body(viewer: &ViewerRef, channel: Option<&str>, block_seconds: Option<u64>) -> Value {
    let mut body = Map::new();
    body.insert("sub".into(), viewer.sub.as_str().into());
    if let Some(provider) = &viewer.provider {
        body.insert("provider".into(), provider.as_str().into());
    }
    if let Some(issuer) = &viewer.issuer {
        body.insert("issuer".into(), issuer.as_str().into());
    }
    if viewer.session_cookie {
        body.insert("session_cookie".into(), true.into());
    }
    if let Some(channel) = channel {
        body.insert("channel".into(), channel.into());
    }
    if let Some(seconds) = block_seconds {
        body.insert("block_seconds".into(), seconds.into());
    }
    Value::Object(body)
}

/// The token from `--token-file`, else `ADMIN_API_TOKEN`, trimmed; held to the worker's rule
/// for secrets, and to what an HTTP header carries. Errors never quote it.
fn admin_token(file: Option<&std::path::Path>) -> Result<String, Failure> {
    let (token, source) = match file {
        Some(path) => (read_text(path)?, path.display().to_string()),
        None => (
            std::env::var(TOKEN_VARIABLE).map_err(|_| {
                unusable(format!("no operator API token: set {TOKEN_VARIABLE} or pass --token-file FILE"))
            })?,
            TOKEN_VARIABLE.to_owned(),
        ),
    };
    let token = token.trim().to_owned();
    if !token.bytes().all(|b| b.is_ascii_graphic() || b == b' ') {
        return Err(unusable(format!("{source}: the token must be printable ASCII (it is sent in a header)")));
    }
    check_secret(token.as_bytes()).map_err(|rule| unusable(format!("{source}: the token {rule}")))?;
    Ok(token)
}

/// Send `request` with the bearer token; the answer's JSON when it is a 2xx.
fn send(request: &Request, token: &str) -> Result<Value, Failure> {
    let agent = agent_for(&request.url, TIMEOUT)?;
    let bearer = format!("Bearer {token}");
    let sent = agent
        .post(&request.url)
        .header("authorization", &bearer)
        .header("accept", "application/json")
        .header("content-type", "application/json")
        .send(request.body.to_string());
    let what = format!("POST {}", request.url);
    let mut response = sent.map_err(|error| Failure(FAILED, redact(&no_answer(&what, &error), token)))?;
    let status = response.status().as_u16();
    let location = response.headers().get("location").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let text = response
        .body_mut()
        .with_config()
        .limit(MAX_ANSWER_BYTES)
        .read_to_string()
        .map_err(|error| Failure(FAILED, redact(&no_answer(&what, &error), token)))?;
    let json = serde_json::from_str::<Value>(&text).ok();
    match (status, json) {
        (200..=299, Some(json)) => Ok(json),
        (200..=299, None) => Err(Failure(
            FAILED,
            redact(&format!("{what}: {status}, but the answer is not JSON: {}", excerpt(&text)), token),
        )),
        (_, json) => {
            let code = if status >= 500 { FAILED } else { REFUSED };
            Err(Failure(code, redact(&refusal(&what, status, json.as_ref(), &text, location.as_deref()), token)))
        }
    }
}

fn no_answer(what: &str, error: &ureq::Error) -> String {
    match error {
        ureq::Error::Timeout(_) => format!("{what}: no answer within {} s", TIMEOUT.as_secs()),
        error => format!("{what}: no answer: {error}"),
    }
}

/// The message for a non-2xx answer: its status and the problem's title and `detail`
/// (RFC 9457), with a hint for the usual causes.
fn refusal(what: &str, status: u16, json: Option<&Value>, text: &str, location: Option<&str>) -> String {
    let field = |name: &str| json.and_then(|j| j.get(name)).and_then(Value::as_str);
    let mut message = match (field("title"), field("detail")) {
        (Some(title), Some(detail)) => format!("{what}: {status} {title}: {detail}"),
        (None, Some(detail)) => format!("{what}: {status}: {detail}"),
        _ if (300..400).contains(&status) => {
            format!(
                "{what}: {status}, a redirect to {} (not followed; pass that origin as --url)",
                excerpt(location.unwrap_or("nowhere"))
            )
        }
        _ => format!("{what}: {status}: {}", excerpt(text)),
    };
    match status {
        401 => message.push_str(&format!(
            " (the token from {TOKEN_VARIABLE} or --token-file is not the worker's ADMIN_API_TOKEN)"
        )),
        404 if field("type").is_some_and(|t| t.ends_with(":not-found")) => {
            message.push_str(" (a worker without ADMIN_API_TOKEN and DEVICE_LIMITS has no operator API)")
        }
        _ => {}
    }
    message
}

/// At most 200 characters of `text`, on one line, without control characters.
fn excerpt(text: &str) -> String {
    let line: String = text.trim().chars().map(|c| if c.is_control() { ' ' } else { c }).take(200).collect();
    if line.is_empty() {
        "(empty)".to_owned()
    } else {
        line
    }
}

/// `message` with every occurrence of the token replaced: whatever a server or a proxy
/// echoes, the token is not printed.
fn redact(message: &str, token: &str) -> String {
    if token.is_empty() {
        message.to_owned()
    } else {
        message.replace(token, "***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn viewer(sub: &str) -> ViewerRef {
        ViewerRef { sub: sub.into(), ..ViewerRef::default() }
    }

    #[test]
    fn the_devices_body_reaches_the_worker_as_given() {
        let sub = "alice+bob@example.com&issuer=https://evil.example #x=ü/%";
        let issuer = "https://id.example";
        let named = ViewerRef { issuer: Some(issuer.into()), ..viewer(sub) };
        let body = revoke_body(&named, None, None).to_string();
        assert_eq!(ivs_token_worker::device::admin::parse_list(body.as_bytes()).unwrap(), named);
        let plain = revoke_body(&viewer("a b"), None, None).to_string();
        assert_eq!(ivs_token_worker::device::admin::parse_list(plain.as_bytes()).unwrap(), viewer("a b"));
    }

    #[test]
    fn the_revoke_body_is_json_with_only_the_given_fields() {
        let sub = "quote\" back\\slash {\"sub\": \"mallory\"}";
        let body = revoke_body(&viewer(sub), None, None);
        assert_eq!(body, serde_json::json!({ "sub": sub }));
        let parsed = ivs_token_worker::device::admin::parse_revoke(body.to_string().as_bytes()).unwrap();
        assert_eq!(parsed.viewer.sub, sub);
        let named = ViewerRef { issuer: Some("https://id.example".into()), ..viewer("alice") };
        let full = revoke_body(&named, Some("launch"), Some(3600));
        let parsed = ivs_token_worker::device::admin::parse_revoke(full.to_string().as_bytes()).unwrap();
        assert_eq!(
            (parsed.viewer.issuer.as_deref(), parsed.channel.as_deref(), parsed.block_seconds),
            (Some("https://id.example"), Some("launch"), Some(3600))
        );
    }

    #[test]
    fn the_provider_and_the_session_cookie_travel_as_named() {
        let by_name = ViewerRef { provider: Some("auth0".into()), ..viewer("auth0|42") };
        let body = revoke_body(&by_name, None, None);
        assert_eq!(body, serde_json::json!({"sub": "auth0|42", "provider": "auth0"}));
        assert_eq!(ivs_token_worker::device::admin::parse_list(body.to_string().as_bytes()).unwrap(), by_name);
        let cookie = ViewerRef { session_cookie: true, ..viewer("alice") };
        let body = revoke_body(&cookie, Some("demo"), None);
        assert_eq!(body, serde_json::json!({"sub": "alice", "session_cookie": true, "channel": "demo"}));
        let (parsed, channel) = ivs_token_worker::device::admin::parse_unblock(body.to_string().as_bytes()).unwrap();
        assert_eq!((parsed, channel.as_deref()), (cookie, Some("demo")));
    }

    fn parse(args: &[&str]) -> Result<super::super::Cli, clap::Error> {
        use clap::Parser;
        super::super::Cli::try_parse_from(args)
    }

    #[test]
    fn the_flags_name_the_viewer() {
        let base = ["ivs-token", "admin", "revoke", "--url", "https://tv.example", "--sub", "alice"];
        let target = |extra: &[&str]| {
            let args: Vec<&str> = base.iter().chain(extra).copied().collect();
            match parse(&args).map(|cli| cli.command) {
                Ok(super::super::Command::Admin(AdminArgs { command: AdminCommand::Revoke { target, .. } })) => {
                    Ok(viewer_of(&target))
                }
                Ok(_) => panic!("not admin revoke"),
                Err(error) => Err(error),
            }
        };
        assert_eq!(target(&["--provider", "auth0"]).unwrap().provider.as_deref(), Some("auth0"));
        assert!(target(&["--session-cookie"]).unwrap().session_cookie);
        let both = target(&["--provider", "auth0", "--issuer", "https://id.example/"]).unwrap();
        assert_eq!((both.provider.as_deref(), both.issuer.as_deref()), (Some("auth0"), Some("https://id.example/")));
        for conflicting in
            [&["--session-cookie", "--provider", "auth0"][..], &["--session-cookie", "--issuer", "https://id.example"]]
        {
            let error = target(conflicting).unwrap_err();
            assert_eq!(error.kind(), clap::error::ErrorKind::ArgumentConflict, "{conflicting:?}");
            assert_eq!(error.exit_code(), 2);
        }
        let bad = AdminTarget {
            url: "https://tv.example".into(),
            sub: "alice".into(),
            provider: Some("Auth0".into()),
            issuer: None,
            session_cookie: false,
            token_file: None,
        };
        let Err(Failure(code, message)) = check_target(&bad) else { panic!("a bad --provider went through") };
        assert_eq!(code, 3);
        assert!(message.starts_with("--provider must be an identity provider's name"), "{message}");
    }

    #[test]
    fn plain_http_only_for_this_machine() {
        for (url, origin) in [
            ("https://www.example.com", "https://www.example.com"),
            ("https://www.example.com/", "https://www.example.com"),
            ("http://127.0.0.1:8787", "http://127.0.0.1:8787"),
            ("http://localhost:8787/", "http://localhost:8787"),
            ("http://[::1]:8787", "http://[::1]:8787"),
        ] {
            assert_eq!(worker_origin(url).ok().as_deref(), Some(origin), "{url}");
        }
        for (url, rule) in [
            ("http://example.com", "must not travel in the clear"),
            ("HTTP://example.com", "must not travel in the clear"),
            ("http://localhost.example.com", "must not travel in the clear"),
            ("https://www.example.com/v1/admin/devices", "without a path"),
            ("https://user:pw@www.example.com", "user name or password"),
            ("www.example.com", "must start with https://"),
        ] {
            let Err(Failure(code, message)) = worker_origin(url) else { panic!("{url} accepted") };
            assert_eq!(code, 3);
            assert!(message.starts_with("--url: ") && message.contains(rule), "{url}: {message}");
        }
    }

    #[test]
    fn refusals_say_the_status_and_the_detail() {
        let problem = serde_json::json!({
            "type": "urn:ivs-token-worker:problem:unauthorized",
            "title": "Not authorized",
            "status": 401,
            "detail": "this path needs `Authorization: Bearer <ADMIN_API_TOKEN>`",
        });
        let message = refusal("POST https://tv.example/v1/admin/revoke", 401, Some(&problem), "", None);
        assert!(message.contains("401 Not authorized: this path needs"), "{message}");
        assert!(message.contains("not the worker's ADMIN_API_TOKEN"), "{message}");
        let redirect = refusal("GET x", 301, None, "", Some("https://www.example.com/v1/admin/devices"));
        assert!(redirect.contains("301, a redirect to https://www.example.com"), "{redirect}");
        let html = refusal("GET x", 502, None, "<html>\n<b>Bad gateway</b>\n</html>", None);
        assert_eq!(html, "GET x: 502: <html> <b>Bad gateway</b> </html>");
        assert_eq!(redact("Bearer s3cr3t-token echoed: s3cr3t-token", "s3cr3t-token"), "Bearer *** echoed: ***");
    }
}
