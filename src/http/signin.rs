//! `GET /login`, `GET /callback`, `GET /logout`: sign-in at the edge (see [`crate::signin`]; the
//! watch and stage pages' redirect to `/login` is [`crate::signin::SignIn::page_sign_in`]).
//!
//! The routes answer only when a provider has a `login` table (404 otherwise, like any unknown
//! path). Their errors are pages in words (never a chain of redirects), and every answer of
//! `/callback` clears the single-use state cookie. The network work (the discovery document,
//! the code exchange, the provider's keys) is done by the Workers layer before [`super::handle`]
//! runs: [`discoveries`] and [`exchange_for`] say what, [`Request::exchanged`] brings the answer.

use super::request::{query_param, Request};
use super::response::session_set_cookie;
use super::response::Response;
use super::watch::{html, is_local_path, redirect};
use crate::address::is_local_host;
use crate::config::Config;
use crate::cookie::find_cookie;
use crate::error::Error;
use crate::identity::provider::Provider;
use crate::identity::session_cookie::MAX_COOKIE_BYTES;
use crate::signin::callback::{self, Exchange};
use crate::signin::flow::{self, Pending, StateFault, STATE_COOKIE, STATE_TTL_SECONDS};
use crate::signin::settings::Login;
use crate::signin::{login_link, Failure, RECENT_COOKIE, RECENT_SECONDS};

const METHODS: &str = "GET, HEAD";

/// The flow's own paths: a `return_to` naming one would lead back into the flow, and becomes the
/// default instead.
const FLOW_PATHS: [&str; 3] = ["/login", "/callback", "/logout"];

/// `scheme://host` of this worker as the request reached it: http only on a local host.
fn origin(request: &Request<'_>) -> Result<String, Failure> {
    let host = request.host.filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_graphic()));
    let host = host.ok_or_else(|| Failure::BadRequest("the request names no host".into()))?;
    let scheme = if is_local_host(host) { "http" } else { "https" };
    Ok(format!("{scheme}://{host}"))
}

fn page_nonce(random: &[u8; 32]) -> String {
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&random[16..]);
    crate::page::nonce(&bytes)
}

/// A page that explains, with a link on (when the viewer can act on it).
fn page(status: u16, heading: &str, message: &str, link: Option<(&str, &str)>, nonce: &str) -> Response {
    html(status, crate::page::message_page(heading, message, link, nonce), crate::page::message_csp(nonce))
}

fn failure_page(failure: &Failure, nonce: &str, retry: Option<&str>) -> Response {
    let link = retry.map(|href| (href, "Sign in again"));
    let mut response = page(failure.status(), failure.heading(), &failure.message(), link, nonce);
    response.problem = Some(failure.slug());
    response
}

fn clear_cookie(name: &str, host: Option<&str>) -> String {
    session_set_cookie(name, "", 0, host)
}

/// The configuration, when the route answers at all: GET/HEAD only, and 404 unless sign-in is on.
fn enabled<'c>(request: &Request<'_>, config: Result<&'c Config, &Error>, nonce: &str) -> Result<&'c Config, Response> {
    match config {
        Ok(config) if config.signin.enabled() => {
            if matches!(request.method, "GET" | "HEAD") {
                Ok(config)
            } else {
                Err(Response::problem(&Error::MethodNotAllowed { allow: METHODS }))
            }
        }
        Ok(_) => Err(Response::problem(&Error::NotFound)),
        Err(error) if matches!(request.method, "GET" | "HEAD") => Err(page(
            error.status(),
            "Temporarily unavailable",
            &format!("Sign-in is not available ({error})."),
            None,
            nonce,
        )),
        Err(_) => Err(Response::problem(&Error::NotFound)),
    }
}

fn bad_request(error: Error) -> Failure {
    Failure::BadRequest(error.to_string())
}

/// Where a sign-in returns without `return_to`: the first channel's watch page.
fn default_return(config: &Config) -> String {
    config.channels.keys().next().map_or_else(|| "/healthz".to_owned(), |n| format!("/watch/{n}"))
}

/// The `return_to` of `/login`: a path of this worker (no open redirect), by default the first
/// channel's watch page, which also stands in for a path back into the flow itself.
fn return_to_param(request: &Request<'_>, config: &Config) -> Result<String, Failure> {
    let return_to =
        query_param(request.query, "return_to").map_err(bad_request)?.unwrap_or_else(|| default_return(config));
    if !is_local_path(&return_to) {
        return Err(Failure::BadRequest(
            "query parameter `return_to` must be a path of this worker, like /watch/demo".into(),
        ));
    }
    let into_flow = FLOW_PATHS.iter().any(|p| return_to == *p || return_to.starts_with(&format!("{p}?")));
    Ok(if into_flow { default_return(config) } else { return_to })
}

pub(super) fn login_route(
    request: &Request<'_>,
    config: Result<&Config, &Error>,
    now: u64,
    random: [u8; 32],
) -> Response {
    let nonce = page_nonce(&random);
    let config = match enabled(request, config, &nonce) {
        Ok(config) => config,
        Err(response) => return response,
    };
    let outcome = (|| -> Result<Response, Failure> {
        let return_to = return_to_param(request, config)?;
        let logins = &config.signin.logins;
        let login = match query_param(request.query, "provider").map_err(bad_request)? {
            None if logins.len() == 1 => &logins[0],
            None => {
                let choices: Vec<(&str, String)> =
                    logins.iter().map(|l| (l.label.as_str(), login_link(Some(&l.provider), &return_to))).collect();
                return Ok(html(200, crate::page::chooser_page(&choices, &nonce), crate::page::message_csp(&nonce)));
            }
            Some(name) => config.signin.login(&name).ok_or(Failure::UnknownProvider)?,
        };
        let endpoints =
            config.signin.endpoints(login, now).ok_or_else(|| Failure::Unavailable(login.provider.clone()))?;
        // Always set when a provider has a `login` table (SignIn::load).
        let key = config.signin.state_key.as_ref().ok_or_else(|| Failure::Unavailable(login.provider.clone()))?;
        let redirect_uri = format!("{}/callback", origin(request)?);
        let pending = Pending::new(&login.provider, &return_to, &random, now);
        let authorization = endpoints.authorization.as_deref().unwrap_or_default();
        let location = flow::authorization_url(authorization, login, &redirect_uri, &pending);
        let state_cookie = session_set_cookie(STATE_COOKIE, &pending.seal(key), STATE_TTL_SECONDS, request.host);
        Ok(redirect(location).with_header("set-cookie", state_cookie))
    })();
    outcome.unwrap_or_else(|failure| failure_page(&failure, &nonce, None))
}

/// The state of a `/callback` request, checked: its cookie, signed by this worker, unexpired,
/// and its `state` parameter.
fn checked_state<'c>(request: &Request<'_>, config: &'c Config, now: u64) -> Result<(Pending, &'c Login), Failure> {
    let state = query_param(request.query, "state").map_err(bad_request)?.unwrap_or_default();
    let value = find_cookie(request.cookie.unwrap_or_default(), STATE_COOKIE)
        .filter(|v| !v.is_empty())
        .ok_or(Failure::State(StateFault::Missing))?;
    let key = config.signin.state_key.as_ref().ok_or(Failure::State(StateFault::Forged))?;
    let pending = Pending::open(value, &state, key, now).map_err(Failure::State)?;
    let login = config.signin.login(&pending.provider).ok_or(Failure::State(StateFault::Forged))?;
    Ok((pending, login))
}

fn provider_of<'c>(config: &'c Config, login: &Login) -> Option<&'c Provider> {
    config.identity.providers.iter().find(|p| p.name == login.provider)
}

/// The code of a `/callback` answering a successful authorization.
fn code_of(request: &Request<'_>) -> Result<String, Failure> {
    if let Some(error) = query_param(request.query, "error").map_err(bad_request)? {
        return Err(match error.as_str() {
            "access_denied" => Failure::Cancelled,
            // Only a well-formed error code is shown; the provider's free text never is.
            code if !code.is_empty()
                && code.len() <= 64
                && code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') =>
            {
                Failure::ProviderError(code.to_owned())
            }
            _ => Failure::ProviderError("an unreadable error".into()),
        });
    }
    query_param(request.query, "code")
        .map_err(bad_request)?
        .filter(|c| !c.is_empty() && c.len() <= 2048)
        .ok_or_else(|| Failure::BadRequest("the provider's answer has no `code`".into()))
}

/// For the Workers layer: the code exchange a `GET /callback` needs, when its state checks
/// pass and it carries a code; with the provider whose keys will verify the ID token.
pub fn exchange_for<'c>(request: &Request<'_>, config: &'c Config, now: u64) -> Option<(Exchange, &'c Provider)> {
    if request.path != "/callback" || request.method != "GET" || !config.signin.enabled() {
        return None;
    }
    let (pending, login) = checked_state(request, config, now).ok()?;
    let code = code_of(request).ok()?;
    let endpoints = config.signin.endpoints(login, now)?;
    let redirect_uri = format!("{}/callback", origin(request).ok()?);
    let exchange = callback::exchange(login, endpoints.token.as_deref()?, &code, &pending.verifier, &redirect_uri);
    Some((exchange, provider_of(config, login)?))
}

/// For the Workers layer: the logins whose discovery document a sign-in route needs fetched now.
pub fn discoveries<'c>(request: &Request<'_>, config: &'c Config, now: u64) -> Vec<&'c Login> {
    if !FLOW_PATHS.contains(&request.path) {
        return Vec::new();
    }
    config.signin.logins.iter().filter(|l| config.signin.wants_discovery(l, now)).collect()
}

pub(super) fn callback_route(
    request: &Request<'_>,
    config: Result<&Config, &Error>,
    now: u64,
    random: [u8; 32],
) -> Response {
    let nonce = page_nonce(&random);
    let config = match enabled(request, config, &nonce) {
        Ok(config) => config,
        Err(response) => return response,
    };
    let mut response = match complete(request, config, now) {
        Ok(response) => response,
        Err((failure, retry)) => failure_page(&failure, &nonce, retry.as_deref()),
    };
    // Single use: whatever the outcome, this sign-in's state is gone.
    response.headers.push(("set-cookie", clear_cookie(STATE_COOKIE, request.host)));
    response
}

fn complete(request: &Request<'_>, config: &Config, now: u64) -> Result<Response, (Failure, Option<String>)> {
    let (pending, login) = checked_state(request, config, now).map_err(|f| (f, None))?;
    let retry = login_link(Some(&login.provider), &pending.return_to);
    let fail = |failure: Failure| (failure, Some(retry.clone()));
    code_of(request).map_err(fail)?;
    let provider = provider_of(config, login).ok_or_else(|| fail(Failure::State(StateFault::Forged)))?;
    let exchanged = request.exchanged.ok_or_else(|| fail(Failure::Unavailable(login.provider.clone())))?;
    let token = callback::id_token(exchanged, &login.provider).map_err(fail)?;
    let fetched = config.identity.keys.keys(provider, now);
    let keys: Vec<&crate::identity::jwk::KeySet> =
        fetched.as_deref().into_iter().chain(provider.inline_keys.as_ref()).collect();
    let session = callback::verify_id_token(&token, provider, login, &keys, &pending.nonce, now).map_err(fail)?;
    let claims = callback::session_claims(&session, provider, login, now);
    let secrets = config.identity.sessions.as_ref().ok_or_else(|| fail(Failure::BadAnswer("no session secret")))?;
    let value = secrets.mint(&claims);
    // Room for the cookie's name and attributes within what browsers store.
    if value.len() > MAX_COOKIE_BYTES - 128 {
        return Err(fail(Failure::TooLarge));
    }
    let lifetime = claims.exp.saturating_sub(now).max(1);
    Ok(redirect(pending.return_to.clone())
        .with_header("set-cookie", session_set_cookie(&config.identity.cookie_name, &value, lifetime, request.host))
        .with_header("set-cookie", session_set_cookie(RECENT_COOKIE, "1", RECENT_SECONDS, request.host)))
}

pub(super) fn logout_route(
    request: &Request<'_>,
    config: Result<&Config, &Error>,
    now: u64,
    random: [u8; 32],
) -> Response {
    let nonce = page_nonce(&random);
    let config = match enabled(request, config, &nonce) {
        Ok(config) => config,
        Err(response) => return response,
    };
    let cookies = request.cookie.unwrap_or_default();
    let session = find_cookie(cookies, &config.identity.cookie_name).filter(|v| !v.is_empty());
    let signed_out = || {
        let link = login_link(None, &default_return(config));
        page(200, "Signed out", "You are signed out.", Some((&link, "Sign in again")), &nonce)
    };
    let Some(value) = session else { return signed_out() };
    // Which provider the session came from: its `idp`, else the only one offering sign-in.
    let idp = config
        .identity
        .sessions
        .as_ref()
        .and_then(|s| s.verify(value, now).ok())
        .and_then(|s| s.claims.get("idp").and_then(serde_json::Value::as_str).map(str::to_owned));
    let login = match (idp, config.signin.logins.as_slice()) {
        (Some(name), _) => config.signin.login(&name),
        (None, [one]) => Some(one),
        _ => None,
    };
    let end_session = login.and_then(|l| Some((l, config.signin.endpoints(l, now)?.end_session?)));
    let mut response = match (end_session, origin(request)) {
        (Some((login, endpoint)), Ok(origin)) => {
            redirect(flow::logout_url(&endpoint, login, &format!("{origin}/logout")))
        }
        _ => signed_out(),
    };
    response.headers.push(("set-cookie", clear_cookie(&config.identity.cookie_name, request.host)));
    // A viewer who signs out and comes back is sent to sign in again at once.
    response.headers.push(("set-cookie", clear_cookie(RECENT_COOKIE, request.host)));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::names;
    use crate::config::tests::settings;
    use crate::encoding::url_encode;
    use crate::http::handle;
    use crate::http::tests::NOW;
    use crate::identity::jwt::tests::{claims, mint, signer_jwk, ISSUER};
    use crate::signin::callback::Exchanged;
    use serde_json::json;

    const HOST: &str = "tv.example";

    fn provider(extra: serde_json::Value) -> serde_json::Value {
        let mut p = json!({"issuer": ISSUER, "audience": "tv-app", "jwks": {"keys": [signer_jwk("k1")]},
            "groups_claim": "groups", "login": {"client_id": "tv-app", "client_secret": "IDP_SECRET",
            "authorization_endpoint": "https://id.example/auth", "token_endpoint": "https://id.example/token",
            "end_session_endpoint": "https://id.example/end"}});
        p.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        p
    }

    fn config_with(providers: serde_json::Value) -> Config {
        Config::load(
            &settings()
                .with(names::IDENTITY_PROVIDERS, providers.to_string())
                .with("IDP_SECRET", "client-secret-value"),
        )
        .unwrap()
    }

    fn config() -> Config {
        config_with(json!({ "idp": provider(json!({})) }))
    }

    struct Call<'a> {
        target: &'a str,
        cookie: Option<&'a str>,
        exchanged: Option<&'a Exchanged>,
        method: &'a str,
    }

    fn call(config: &Config, c: Call<'_>) -> Response {
        let mut request = Request::new(c.method, c.target);
        request.host = Some(HOST);
        request.cookie = c.cookie;
        request.exchanged = c.exchanged;
        handle(&request, Ok(config), NOW, [5; 32])
    }

    fn get<'a>(target: &'a str, cookie: Option<&'a str>) -> Call<'a> {
        Call { target, cookie, exchanged: None, method: "GET" }
    }

    fn cookie_value<'r>(response: &'r Response, name: &str) -> Option<&'r str> {
        response
            .headers
            .iter()
            .filter(|(n, _)| *n == "set-cookie")
            .find_map(|(_, v)| v.strip_prefix(&format!("{name}=")))
            .map(|v| v.split(';').next().unwrap())
    }

    fn param(url: &str, name: &str) -> String {
        let query = url.split_once('?').unwrap().1;
        query_param(query, name).unwrap().unwrap()
    }

    /// `/login` for `return_to`: the authorization URL and the state cookie.
    fn start(config: &Config, return_to: &str) -> (String, String) {
        let r = call(config, get(&format!("/login?provider=idp&return_to={}", url_encode(return_to)), None));
        assert_eq!(r.status, 302, "{}", r.body);
        let state_cookie = format!("{STATE_COOKIE}={}", cookie_value(&r, STATE_COOKIE).unwrap());
        (r.header("location").unwrap().to_owned(), state_cookie)
    }

    fn id_token(nonce: &str, extra: serde_json::Value) -> String {
        let mut c = claims();
        c["aud"] = json!("tv-app");
        c["nonce"] = json!(nonce);
        c["sub"] = json!("viewer-7");
        c.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        mint(&json!({"alg": "ES384", "kid": "k1"}), &c)
    }

    fn answer(token: &str) -> Exchanged {
        Exchanged::Answer { status: 200, body: json!({"id_token": token, "access_token": "at"}).to_string() }
    }

    #[test]
    fn the_whole_flow() {
        let config = config();
        // The watch page sends a viewer without a session to /login.
        let r = call(&config, get("/watch/demo", None));
        assert_eq!((r.status, r.header("location")), (302, Some("/login?provider=idp&return_to=%2Fwatch%2Fdemo")));
        let (location, state_cookie) = start(&config, "/watch/demo");
        assert!(location.starts_with("https://id.example/auth?response_type=code&client_id=tv-app&"));
        assert_eq!(param(&location, "redirect_uri"), "https://tv.example/callback");
        assert_eq!(param(&location, "code_challenge_method"), "S256");
        let (state, nonce) = (param(&location, "state"), param(&location, "nonce"));
        let target = format!("/callback?code=the-code&state={state}");
        // What the Workers layer is asked to send.
        let mut request = Request::new("GET", &target);
        request.host = Some(HOST);
        request.cookie = Some(&state_cookie);
        let (exchange, provider) = exchange_for(&request, &config, NOW).unwrap();
        assert_eq!((exchange.url.as_str(), provider.name.as_str()), ("https://id.example/token", "idp"));
        let verifier = param(&format!("?{}", exchange.body), "code_verifier");
        assert_eq!(flow::code_challenge(&verifier), param(&location, "code_challenge"));
        assert!(exchange.body.contains("code=the-code") && exchange.headers.iter().any(|(n, _)| *n == "authorization"));
        // The answer, and the session it gives.
        let exchanged = answer(&id_token(&nonce, json!({})));
        let r = call(&config, Call { exchanged: Some(&exchanged), ..get(&target, Some(&state_cookie)) });
        assert_eq!((r.status, r.header("location")), (302, Some("/watch/demo")), "{}", r.body);
        let session = cookie_value(&r, "session").unwrap();
        let verified = config.identity.sessions.as_ref().unwrap().verify(session, NOW).unwrap();
        assert_eq!((verified.sub.as_str(), verified.groups.as_slice()), ("viewer-7", &["members".to_owned()][..]));
        assert_eq!(verified.claims["idp"], "idp");
        assert_eq!(verified.issuer.as_deref(), Some(ISSUER), "the viewer id in the provider's namespace");
        assert_eq!(cookie_value(&r, STATE_COOKIE), Some(""), "the state cookie is cleared");
        assert_eq!(cookie_value(&r, RECENT_COOKIE), Some("1"));
        let set = r.headers.iter().find(|(n, v)| *n == "set-cookie" && v.starts_with("session=")).unwrap();
        assert!(set.1.contains("; HttpOnly; SameSite=Lax; Secure"), "{}", set.1);
        assert!(!r.body.contains("the-code") && !r.body.contains("client-secret-value"));
        // The session opens the page, with the viewer id a Bearer token of this provider gives.
        let r = call(&config, get("/watch/demo", Some(&format!("session={session}"))));
        assert_eq!(r.status, 200);
        let start = r.body.find("?token=").unwrap() + 7;
        let token: String =
            r.body[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c)).collect();
        let claims = crate::channel::claims::verify(&token, &[config.key.public_key()], NOW).unwrap().claims;
        assert_eq!(claims["aws:viewer-id"], config.viewer_ids.viewer_id(Some(ISSUER), "viewer-7"));
    }

    #[test]
    fn attacks_and_errors_are_pages_in_words() {
        let config = config();
        let (location, state_cookie) = start(&config, "/watch/demo");
        let (state, nonce) = (param(&location, "state"), param(&location, "nonce"));
        let good = answer(&id_token(&nonce, json!({})));
        let callback = |target: &str, cookie: Option<&str>, exchanged: Option<&Exchanged>| {
            let r = call(&config, Call { exchanged, ..get(target, cookie) });
            assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"), "{target}");
            assert!(r.header("location").is_none(), "never a redirect on failure");
            assert_eq!(cookie_value(&r, STATE_COOKIE), Some(""), "cleared on failure too");
            assert!(cookie_value(&r, "session").is_none());
            r
        };
        let ok_target = format!("/callback?code=c&state={state}");
        for (target, cookie, exchanged, status, text) in [
            (ok_target.clone(), None, Some(&good), 403, "did not start in this browser"),
            (
                format!("/callback?code=c&state=forged{state}"),
                Some(state_cookie.as_str()),
                Some(&good),
                403,
                "forged or replayed",
            ),
            (ok_target.clone(), Some("ivs-signin=e30.AAAA"), Some(&good), 403, "forged or replayed"),
            (
                format!("/callback?error=access_denied&state={state}"),
                Some(state_cookie.as_str()),
                None,
                403,
                "cancelled",
            ),
            (
                format!("/callback?error=server_error&state={state}"),
                Some(state_cookie.as_str()),
                None,
                502,
                "server_error",
            ),
            (format!("/callback?error=%3Cb%3E&state={state}"), Some(state_cookie.as_str()), None, 502, "unreadable"),
            (format!("/callback?state={state}"), Some(state_cookie.as_str()), Some(&good), 400, "no `code`"),
            (ok_target.clone(), Some(state_cookie.as_str()), None, 503, "cannot be reached"),
        ] {
            let r = callback(&target, cookie, exchanged);
            assert_eq!(r.status, status, "{target}: {}", r.body);
            assert!(r.body.contains(text), "{target}: {}", r.body);
            assert!(!r.body.contains("<b>"));
        }
        let answers = [
            (Exchanged::Answer { status: 400, body: r#"{"error":"invalid_grant"}"#.into() }, 400, "already used"),
            (Exchanged::Failed("timeout".into()), 503, "cannot be reached"),
            (Exchanged::Answer { status: 502, body: "<html>".into() }, 503, "cannot be reached"),
            (answer(&id_token("another-nonce", json!({}))), 401, "`nonce`"),
            (answer(&id_token(&nonce, json!({"aud": "someone-else"}))), 401, "`aud`"),
            (answer(&id_token(&nonce, json!({"exp": NOW - 3600}))), 401, "expired"),
        ];
        for (exchanged, status, text) in answers {
            let r = callback(&ok_target, Some(&state_cookie), Some(&exchanged));
            assert_eq!(r.status, status, "{exchanged:?}: {}", r.body);
            assert!(r.body.contains(text), "{}", r.body);
            assert!(r.body.contains("/login?provider=idp&amp;return_to=%2Fwatch%2Fdemo"), "a way to start again");
        }
        // Nothing to exchange for a request whose state fails.
        let mut request = Request::new("GET", &ok_target);
        request.host = Some(HOST);
        assert!(exchange_for(&request, &config, NOW).is_none());
        request.cookie = Some(&state_cookie);
        assert!(exchange_for(&request, &config, NOW + STATE_TTL_SECONDS).is_none(), "expired state");
        let denied = format!("/callback?error=access_denied&state={state}");
        assert!(exchange_for(&Request { query: denied.split_once('?').unwrap().1, ..request }, &config, NOW).is_none());
    }

    #[test]
    fn return_to_is_a_path_of_this_worker() {
        let config = config();
        for bad in ["//evil.example/", "https://evil.example/", "/\\evil.example", "watch/demo", "/\tx"] {
            let r = call(&config, get(&format!("/login?provider=idp&return_to={}", url_encode(bad)), None));
            assert_eq!(r.status, 400, "{bad}");
            assert!(r.body.contains("must be a path of this worker") && cookie_value(&r, STATE_COOKIE).is_none());
        }
        for into_flow in ["/callback", "/login?x=1", "/logout"] {
            let r = call(&config, get(&format!("/login?provider=idp&return_to={}", url_encode(into_flow)), None));
            let value = cookie_value(&r, STATE_COOKIE).unwrap();
            let (payload, _) = value.split_once('.').unwrap();
            let pending: Pending = serde_json::from_slice(&crate::encoding::b64url_decode(payload).unwrap()).unwrap();
            assert_eq!(pending.return_to, "/watch/demo", "{into_flow}: back into the flow becomes the default");
        }
        let r = call(&config, get("/login", None));
        assert_eq!(
            param(&format!("?{}", r.header("location").unwrap().split_once('?').unwrap().1), "client_id"),
            "tv-app"
        );
        assert_eq!(call(&config, get("/login?provider=nope", None)).status, 404);
        assert_eq!(call(&config, Call { method: "POST", ..get("/login", None) }).status, 405);
        let head = call(&config, Call { method: "HEAD", ..get("/logout", None) });
        assert_eq!((head.status, head.body.as_str()), (200, ""));
    }

    #[test]
    fn chooser_logout_loop_guard_and_login_url() {
        let two = config_with(json!({"idp": provider(json!({})), "staff": provider(json!({"login": {"client_id": "s",
            "authorization_endpoint": "https://id.example/auth", "token_endpoint": "https://id.example/token", "label": "Staff SSO"}}))}));
        let r = call(&two, get("/watch/demo", None));
        assert_eq!(r.header("location"), Some("/login?return_to=%2Fwatch%2Fdemo"));
        let r = call(&two, get("/login?return_to=%2Fwatch%2Fdemo", None));
        assert_eq!(r.status, 200);
        assert!(r.body.contains("href=\"/login?provider=staff&amp;return_to=%2Fwatch%2Fdemo\">Staff SSO</a>"));

        let config = config();
        // Logout continues at the provider's end-session endpoint, then shows the page.
        let mut claims = crate::identity::session_cookie::SessionClaims::new("viewer-7", NOW, 600);
        claims.idp = Some("idp".into());
        let session = format!("session={}", config.identity.sessions.as_ref().unwrap().mint(&claims));
        let r = call(&config, get("/logout", Some(&session)));
        assert_eq!(r.status, 302);
        assert_eq!(
            r.header("location"),
            Some("https://id.example/end?client_id=tv-app&post_logout_redirect_uri=https%3A%2F%2Ftv.example%2Flogout")
        );
        assert_eq!((cookie_value(&r, "session"), cookie_value(&r, RECENT_COOKIE)), (Some(""), Some("")));
        let r = call(&config, get("/logout", None));
        assert_eq!(r.status, 200);
        assert!(r.body.contains("You are signed out"));

        // Right after a sign-in, no second automatic redirect: a page with a link.
        let r = call(&config, get("/watch/demo", Some("ivs-signin-recent=1")));
        assert_eq!(r.status, 401);
        assert!(r.body.contains("href=\"/login?provider=idp&amp;return_to=%2Fwatch%2Fdemo\""));

        // LOGIN_URL keeps working and wins.
        let providers = json!({ "idp": provider(json!({})) }).to_string();
        let with_url = Config::load(
            &settings()
                .with(names::IDENTITY_PROVIDERS, providers)
                .with("IDP_SECRET", "x")
                .with(names::LOGIN_URL, "https://auth.example/login"),
        )
        .unwrap();
        assert_eq!(
            call(&with_url, get("/watch/demo", None)).header("location"),
            Some("https://auth.example/login?return_to=/watch/demo")
        );
        // Without any `login` table the routes do not exist.
        let plain = crate::http::tests::config();
        for path in FLOW_PATHS {
            assert_eq!(call(&plain, get(path, None)).status, 404, "{path}");
        }
    }

    #[test]
    fn the_stage_page_signs_in_the_same_way() {
        let providers = json!({ "idp": provider(json!({})) }).to_string();
        let config = Config::load(
            &settings()
                .with(names::IDENTITY_PROVIDERS, providers)
                .with("IDP_SECRET", "x")
                .with(names::STAGES, crate::stage::policy::tests::stages_json()),
        )
        .unwrap();
        let name = config.stages.keys().next().unwrap().clone();
        let r = call(&config, get(&format!("/stage/{name}"), None));
        assert_eq!(r.status, 302);
        assert_eq!(r.header("location"), Some(format!("/login?provider=idp&return_to=%2Fstage%2F{name}").as_str()));
    }

    #[test]
    fn configuration_rules() {
        let providers = json!({ "idp": provider(json!({})) }).to_string();
        let error = Config::load(
            &settings()
                .with(names::IDENTITY_PROVIDERS, &*providers)
                .with("IDP_SECRET", "x")
                .with(names::SESSION_SECRET, ""),
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.starts_with("setting IDENTITY_PROVIDERS: sign-in at the edge") && error.contains("SESSION_SECRET"),
            "{error}"
        );
        let error = Config::load(&settings().with(names::IDENTITY_PROVIDERS, &*providers)).unwrap_err().to_string();
        assert!(error.contains("provider `idp`: field `login.client_secret` names secret `IDP_SECRET`"), "{error}");
    }
}
