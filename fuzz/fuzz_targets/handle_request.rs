//! The whole request path: `http::handle` with an arbitrary structured request (method, path,
//! query, Cookie, Authorization, Origin, Host, other headers, country, clock) against a fixed
//! configuration (every channel kind, cookie sessions, identity providers with inline keys), or
//! against a configuration that failed to load. Besides "never panics": never a 5xx but the
//! misconfiguration's 500, `HEAD` has no body, 405 carries `Allow`, and no secret or presented
//! credential is ever echoed in a response or log line.
#![no_main]
use arbitrary::Arbitrary;
use ivs_token_worker::config::{names, Config};
use ivs_token_worker::error::Error;
use ivs_token_worker::http::{handle, log_line, Request};
use ivs_token_worker_fuzz as fx;
use libfuzzer_sys::fuzz_target;
use serde_json::json;

#[derive(Debug, Arbitrary)]
enum Method {
    Get,
    Head,
    Options,
    Post,
    Other(String),
}

#[derive(Debug, Arbitrary)]
enum Path {
    Health,
    Token,
    PublicKey,
    OpenApi,
    DevLogin,
    Watch(String),
    StageToken,
    Stage(String),
    Index,
    SignIn(u8),
    Other(String),
}

/// A credential drawn from what the configuration accepts, near misses, or arbitrary text.
#[derive(Debug, Arbitrary)]
enum Credential {
    None,
    Session { previous: bool, groups: bool, only_demo: bool },
    ProviderToken { mapped: bool, expired: bool, kid: Option<String> },
    Text(String),
}

#[derive(Debug, Arbitrary)]
struct Input {
    method: Method,
    path: Path,
    query: String,
    channel: Option<u8>,
    cookie: Credential,
    stale_cookie_first: bool,
    cookie_extra: Option<String>,
    bearer: Credential,
    header_token: Credential,
    authorization_raw: Option<String>,
    origin: Option<String>,
    host: Option<String>,
    local_host: bool,
    dev_country: Option<String>,
    country: Option<String>,
    headers: Vec<(String, String)>,
    clock_offset: i32,
    random: [u8; 32],
    config: u8,
}

const CHANNEL_NAMES: &[&str] = &["demo", "open", "vip", "members", "de", "not-fr", "nope", "Bad"];
const STAGE_NAMES: &[&str] = &["studio", "club", "nope"];

fn broken() -> &'static Error {
    thread_local! {
        static BROKEN: &'static Error = Box::leak(Box::new(Config::load(&fx::settings().with(names::CHANNELS, "{}")).unwrap_err()));
    }
    BROKEN.with(|e| *e)
}

fn credential(c: &Credential) -> Option<String> {
    match c {
        Credential::None => None,
        Credential::Session { previous, groups, only_demo } => {
            let groups: &[&str] = if *groups { &["members"] } else { &[] };
            Some(fx::session_cookie("alice", *previous, groups, only_demo.then_some(&["demo"][..])))
        }
        Credential::ProviderToken { mapped, expired, kid } => {
            let mut claims = if *mapped { fx::mapped_claims("bob") } else { fx::provider_claims("bob") };
            if *expired {
                claims["exp"] = json!(fx::NOW - 3600);
            }
            let kid = kid.clone().unwrap_or_else(|| if *mapped { "k2" } else { "k1" }.into());
            Some(fx::provider_token(&json!({"alg": "ES384", "kid": kid}), &claims))
        }
        Credential::Text(text) => Some(text.clone()),
    }
}

fuzz_target!(|input: Input| {
    let method = match &input.method {
        Method::Get => "GET".to_owned(),
        Method::Head => "HEAD".to_owned(),
        Method::Options => "OPTIONS".to_owned(),
        Method::Post => "POST".to_owned(),
        Method::Other(m) => m.clone(),
    };
    let path = match &input.path {
        Path::Health => "/healthz".to_owned(),
        Path::Token => "/v1/token".to_owned(),
        Path::PublicKey => "/v1/public-key".to_owned(),
        Path::OpenApi => "/openapi.json".to_owned(),
        Path::DevLogin => "/dev/login".to_owned(),
        Path::Watch(name) => format!("/watch/{name}"),
        Path::StageToken => "/v1/stage-token".to_owned(),
        Path::Stage(name) => format!("/stage/{name}"),
        Path::Index => "/".to_owned(),
        Path::SignIn(i) => ["/login", "/callback", "/logout"][usize::from(*i) % 3].to_owned(),
        Path::Other(p) => p.clone(),
    };
    let query = match (input.channel, &input.path) {
        (Some(i), Path::StageToken) => {
            format!("stage={}&publish={}&{}", STAGE_NAMES[usize::from(i) % STAGE_NAMES.len()], i % 2 == 0, input.query)
        }
        (Some(i), _) => format!("channel={}&{}", CHANNEL_NAMES[usize::from(i) % CHANNEL_NAMES.len()], input.query),
        (None, _) => input.query.clone(),
    };
    let target = if query.is_empty() { path } else { format!("{path}?{query}") };

    let session = credential(&input.cookie);
    let id_token = credential(&input.header_token);
    let bearer = credential(&input.bearer);
    // Only credentials minted here are checked for echoes: arbitrary text may occur in a page by chance.
    let minted =
        |c: &Credential, value: &Option<String>| if matches!(c, Credential::Text(_)) { None } else { value.clone() };
    let presented =
        [minted(&input.cookie, &session), minted(&input.header_token, &id_token), minted(&input.bearer, &bearer)];
    let mut cookie = String::new();
    if input.stale_cookie_first {
        cookie.push_str("session=stale.cookie.value; ");
    }
    if let Some(value) = &session {
        cookie.push_str(&format!("session={value}"));
    }
    if let Some(extra) = &input.cookie_extra {
        cookie.push_str("; ");
        cookie.push_str(extra);
    }
    let authorization = input.authorization_raw.clone().or(bearer.map(|t| format!("Bearer {t}")));
    let mut headers: Vec<(String, String)> = input.headers.iter().take(8).cloned().collect();
    if let Some(token) = &id_token {
        headers.push(("x-id-token".into(), token.clone()));
    }
    if let Some(country) = &input.dev_country {
        headers.push(("x-dev-country".into(), country.clone()));
    }
    let header_refs: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let host = if input.local_host { Some("127.0.0.1:8787".to_owned()) } else { input.host.clone() };

    let mut request = Request::new(&method, &target);
    request.cookie = (!cookie.is_empty()).then_some(cookie.as_str());
    request.authorization = authorization.as_deref();
    request.origin = input.origin.as_deref();
    request.host = host.as_deref();
    request.headers = &header_refs;
    request.country = input.country.as_deref();
    let unloaded = ivs_token_worker::isolate::IsolateState::new();
    let (config, state) = match input.config % 3 {
        0 => (Ok(fx::shared_config(true)), fx::shared_state(true)),
        1 => (Ok(fx::shared_config(false)), fx::shared_state(false)),
        _ => (Err(broken()), &unloaded),
    };
    let now = fx::NOW.saturating_add_signed(i64::from(input.clock_offset));
    let response = handle(&request, config, state, now, input.random);

    assert!((200..600).contains(&response.status));
    if config.is_ok() {
        assert!(response.status < 500, "{} for {method} {target}: {}", response.status, response.body);
    } else {
        assert!(matches!(response.status, 200 | 204 | 302 | 404 | 405 | 500 | 503), "{}", response.status);
    }
    if method == "HEAD" {
        assert!(response.body.is_empty(), "HEAD answered with a body");
    }
    if response.status == 405 {
        assert!(response.header("allow").is_some_and(|a| !a.is_empty()), "405 without Allow");
    }
    let line = log_line(&request, &response, 1.0);
    let secrets = [fx::SESSION_SECRET, fx::SESSION_SECRET_PREVIOUS];
    for text in [response.body.as_str(), line.as_str()] {
        for secret in secrets {
            assert!(!text.contains(secret), "a session secret in an answer");
        }
        for value in presented.iter().flatten() {
            assert!(!text.contains(value), "a presented credential echoed: {text}");
        }
    }
    for (_, value) in &response.headers {
        for secret in secrets {
            assert!(!value.contains(secret));
        }
    }
});
