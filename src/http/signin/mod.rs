//! `GET /login`, `GET /callback/PROVIDER`, `GET /logout`: sign-in at the edge (see
//! [`crate::signin`]; the watch and stage pages' redirect to `/login` is
//! [`crate::signin::SignIn::page_sign_in`]).
//!
//! The routes answer only when a provider has a `login` table (404 otherwise, like any unknown
//! path). Their errors are pages in words (never a chain of redirects), and every answer of
//! `/callback/PROVIDER` clears the single-use state cookie. Each provider has its own redirect URI,
//! `/callback/PROVIDER`, checked against the provider the state cookie names, and its `iss`
//! parameter (RFC 9207) is checked too, so that one provider's code is never sent to another's
//! token endpoint (the mix-up attack of RFC 9700 section 4.4). The network work (the discovery
//! document, the code exchange, the provider's keys) is asked for by the request plan
//! ([`super::plan`]) from [`discovery_for`] and [`exchange_for`]; the token endpoint's answer
//! comes back with the request.

use super::problem::Problem;
use super::request::{query_param, Request};
use super::response::session_set_cookie;
use super::response::Response;
use super::route::{Route, CALLBACK_PREFIX};
use super::watch::{edge_session_login, html, is_local_path, redirect, REFRESH_PARAM};
use crate::address::is_local_host;
use crate::config::Config;
use crate::cookie::find_cookie;
use crate::error::Error;
use crate::identity::provider::Provider;
use crate::identity::session_cookie::MAX_COOKIE_BYTES;
use crate::isolate::IsolateState;
use crate::page::Look;
use crate::signin::callback::{self, Exchange};
use crate::signin::flow::{self, state_cookie_name, Pending, StateFault, STATE_TTL_SECONDS};
use crate::signin::settings::{Endpoints, Login};
use crate::signin::{login_link, Failure, RECENT_COOKIE, RECENT_SECONDS};

const METHODS: &str = "GET, HEAD";

/// The flow's own paths: a `return_to` naming one (or a path under one) would lead back into the
/// flow, and becomes the default instead.
const FLOW_PATHS: [&str; 3] = ["/login", "/callback", "/logout"];

/// The redirect URI of `provider` at this worker: its own callback path, so that an answer
/// arriving at one provider's callback can never be taken for another's.
fn redirect_uri(request: &Request<'_>, provider: &str) -> Result<String, Failure> {
    Ok(format!("{}{CALLBACK_PREFIX}{provider}", origin(request)?))
}

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
fn page(status: u16, heading: &str, message: &str, link: Option<(&str, &str)>, look: &Look<'_>) -> Response {
    html(status, crate::page::message_page(heading, message, link, look), crate::page::message_csp(look))
}

fn failure_page(failure: &Failure, look: &Look<'_>, retry: Option<&str>) -> Response {
    let link = retry.map(|href| (href, "Sign in again"));
    let mut response = page(failure.status(), failure.title(), &failure.message(), link, look);
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
            &Look::plain(nonce),
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
    let into_flow = FLOW_PATHS
        .iter()
        .any(|p| return_to == *p || return_to.starts_with(&format!("{p}?")) || return_to.starts_with(&format!("{p}/")));
    Ok(if into_flow { default_return(config) } else { return_to })
}

pub(super) fn login_route(
    request: &Request<'_>,
    config: Result<&Config, &Error>,
    state: &IsolateState,
    now: u64,
    random: [u8; 32],
) -> Response {
    let nonce = page_nonce(&random);
    let config = match enabled(request, config, &nonce) {
        Ok(config) => config,
        Err(response) => return response,
    };
    let look = Look::new(&nonce, config.brand.as_ref());
    let outcome = (|| -> Result<Response, Failure> {
        let return_to = return_to_param(request, config)?;
        let logins = &config.signin.logins;
        let login = match query_param(request.query, "provider").map_err(bad_request)? {
            None if logins.len() == 1 => &logins[0],
            None => {
                let choices: Vec<(&str, String)> =
                    logins.iter().map(|l| (l.label.as_str(), login_link(Some(&l.provider), &return_to))).collect();
                return Ok(html(200, crate::page::chooser_page(&choices, &look), crate::page::message_csp(&look)));
            }
            Some(name) => config.signin.login(&name).ok_or(Failure::UnknownProvider)?,
        };
        let endpoints = config
            .signin
            .endpoints(&state.discovery, login, now)
            .ok_or_else(|| Failure::Unavailable(login.provider.clone()))?;
        // Always set when a provider has a `login` table (SignIn::load).
        let key = config.signin.state_key.as_ref().ok_or_else(|| Failure::Unavailable(login.provider.clone()))?;
        let redirect_uri = redirect_uri(request, &login.provider)?;
        let mut pending = Pending::new(&login.provider, &return_to, &random, now);
        pending.silent = query_param(request.query, REFRESH_PARAM).map_err(bad_request)?.as_deref() == Some("1");
        let authorization = endpoints.authorization.as_deref().unwrap_or_default();
        let location = flow::authorization_url(authorization, login, &redirect_uri, &pending);
        let state_cookie =
            session_set_cookie(state_cookie_name(request.host), &pending.seal(key), STATE_TTL_SECONDS, request.host);
        Ok(redirect(location).with_header("set-cookie", state_cookie))
    })();
    outcome.unwrap_or_else(|failure| failure_page(&failure, &look, None))
}

/// The state of a `/callback/PROVIDER` request, checked: its cookie, signed by this worker,
/// unexpired, its `state` parameter, and the provider it started with, which must be the one
/// whose callback path the answer arrived at.
fn checked_state<'c>(
    request: &Request<'_>,
    config: &'c Config,
    route_provider: &str,
    now: u64,
) -> Result<(Pending, &'c Login), Failure> {
    let state = query_param(request.query, "state").map_err(bad_request)?.unwrap_or_default();
    let value = find_cookie(request.cookie.unwrap_or_default(), state_cookie_name(request.host))
        .filter(|v| !v.is_empty())
        .ok_or(Failure::State(StateFault::Missing))?;
    let key = config.signin.state_key.as_ref().ok_or(Failure::State(StateFault::Forged))?;
    let pending = Pending::open(value, &state, key, now).map_err(Failure::State)?;
    if pending.provider != route_provider {
        return Err(Failure::MixUp("it came back at another provider's callback address"));
    }
    let login = config.signin.login(&pending.provider).ok_or(Failure::State(StateFault::Forged))?;
    Ok((pending, login))
}

/// The authorization response's `iss` (RFC 9207): when present it must be the provider's issuer,
/// and it must be present when the provider's discovery document promises it.
fn checked_iss(request: &Request<'_>, provider: &Provider, endpoints: &Endpoints) -> Result<(), Failure> {
    match query_param(request.query, "iss").map_err(bad_request)? {
        Some(iss) if iss == provider.issuer => Ok(()),
        Some(_) => Err(Failure::MixUp("its `iss` names another issuer")),
        None if endpoints.iss_parameter => Err(Failure::MixUp("it has no `iss`, which this provider always sends")),
        None => Ok(()),
    }
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

/// For the Workers layer: the code exchange a `GET /callback/PROVIDER` needs, when its state and
/// `iss` checks pass and it carries a code; with the provider whose keys will verify the ID token.
pub(super) fn exchange_for<'c>(
    request: &Request<'_>,
    config: &'c Config,
    state: &IsolateState,
    now: u64,
) -> Option<(Exchange, &'c Provider)> {
    let Route::Callback(route_provider) = Route::of(request.path) else { return None };
    if request.method != "GET" || !config.signin.enabled() {
        return None;
    }
    let Checked { pending, login, provider, endpoints, code } =
        checked_callback(request, config, state, route_provider, now).ok()?;
    let redirect_uri = redirect_uri(request, &login.provider).ok()?;
    let exchange = callback::exchange(login, endpoints.token.as_deref()?, &code, &pending.verifier, &redirect_uri);
    Some((exchange, provider))
}

/// A callback that passed every check made before its code may be exchanged.
struct Checked<'c> {
    pending: Pending,
    login: &'c Login,
    provider: &'c Provider,
    endpoints: Endpoints,
    code: String,
}

/// Every check of a `/callback/PROVIDER` before its code is exchanged, in one place: the code is
/// sent (by [`exchange_for`]) exactly when the route (by `complete`) would use its answer. A
/// failure after the state check carries the link that starts the sign-in again.
fn checked_callback<'c>(
    request: &Request<'_>,
    config: &'c Config,
    state: &IsolateState,
    route_provider: &str,
    now: u64,
) -> Result<Checked<'c>, (Failure, Option<String>)> {
    let (pending, login) = checked_state(request, config, route_provider, now).map_err(|f| (f, None))?;
    let retry = login_link(Some(&login.provider), &pending.return_to);
    let fail = |failure: Failure| (failure, Some(retry.clone()));
    let provider = provider_of(config, login).ok_or_else(|| fail(Failure::State(StateFault::Forged)))?;
    let endpoints = config
        .signin
        .endpoints(&state.discovery, login, now)
        .ok_or_else(|| fail(Failure::Unavailable(login.provider.clone())))?;
    // RFC 9207 section 2.4: `iss` is checked on error answers too, before anything else is read.
    checked_iss(request, provider, &endpoints).map_err(fail)?;
    let code = code_of(request).map_err(|failure| match failure {
        Failure::ProviderError(code) if pending.silent && flow::INTERACTION_ERRORS.contains(&code.as_str()) => {
            fail(Failure::InteractionRequired)
        }
        failure => fail(failure),
    })?;
    Ok(Checked { pending, login, provider, endpoints, code })
}

/// For the Workers layer: the login whose discovery document this request needs: the provider
/// `/login` sends the viewer to, the one whose callback path `/callback/PROVIDER` is, the one
/// the session came from at `/logout`. None for any other request, for the chooser page and
/// for a `/logout` without a session: a provider that hangs delays only its own sign-ins.
pub(super) fn discovery_for<'c>(request: &Request<'_>, config: &'c Config, now: u64) -> Option<&'c Login> {
    let login = match Route::of(request.path) {
        Route::Login => match query_param(request.query, "provider").ok()? {
            Some(name) => config.signin.login(&name),
            None => match config.signin.logins.as_slice() {
                [one] => Some(one),
                _ => None,
            },
        },
        Route::Logout => session_login(request, config, now),
        Route::Callback(name) => config.signin.login(name),
        _ => None,
    }?;
    login.discovery_url.is_some().then_some(login)
}

pub(super) fn callback_route(
    request: &Request<'_>,
    config: Result<&Config, &Error>,
    state: &IsolateState,
    route_provider: &str,
    now: u64,
    random: [u8; 32],
) -> Response {
    let nonce = page_nonce(&random);
    let config = match enabled(request, config, &nonce) {
        Ok(config) => config,
        Err(response) => return response,
    };
    let look = Look::new(&nonce, config.brand.as_ref());
    // A provider without sign-in has no callback: an unknown path, like any other.
    if config.signin.login(route_provider).is_none() {
        return Response::problem(&Error::NotFound);
    }
    let mut response = match complete(request, config, state, route_provider, now) {
        Ok(response) => response,
        // A silent refresh the provider would not do silently: the ordinary sign-in, at once.
        Err((Failure::InteractionRequired, Some(retry))) => redirect(retry),
        Err((failure, retry)) => failure_page(&failure, &look, retry.as_deref()),
    };
    // Single use: whatever the outcome, this sign-in's state is gone.
    response.headers.push(("set-cookie", clear_cookie(state_cookie_name(request.host), request.host)));
    response
}

fn complete(
    request: &Request<'_>,
    config: &Config,
    state: &IsolateState,
    route_provider: &str,
    now: u64,
) -> Result<Response, (Failure, Option<String>)> {
    let Checked { pending, login, provider, .. } = checked_callback(request, config, state, route_provider, now)?;
    let retry = login_link(Some(&login.provider), &pending.return_to);
    let fail = |failure: Failure| (failure, Some(retry.clone()));
    let exchanged = request.exchanged.ok_or_else(|| fail(Failure::Unavailable(login.provider.clone())))?;
    let token = callback::id_token(exchanged, &login.provider).map_err(fail)?;
    let fetched = state.identity.keys.keys(provider, now);
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

/// The login a `/logout` request's session came from: its `idp`, else the only one offering
/// sign-in; none without a session.
fn session_login<'c>(request: &Request<'_>, config: &'c Config, now: u64) -> Option<&'c Login> {
    // No session cookie: nothing to end at a provider.
    find_cookie(request.cookie.unwrap_or_default(), &config.identity.cookie_name).filter(|v| !v.is_empty())?;
    let from_edge = edge_session_login(request, config, now);
    match (from_edge, config.signin.logins.as_slice()) {
        (Some(login), _) => Some(login),
        (None, [one]) => Some(one),
        _ => None,
    }
}

pub(super) fn logout_route(
    request: &Request<'_>,
    config: Result<&Config, &Error>,
    state: &IsolateState,
    now: u64,
    random: [u8; 32],
) -> Response {
    let nonce = page_nonce(&random);
    let config = match enabled(request, config, &nonce) {
        Ok(config) => config,
        Err(response) => return response,
    };
    let look = Look::new(&nonce, config.brand.as_ref());
    let cookies = request.cookie.unwrap_or_default();
    let session = find_cookie(cookies, &config.identity.cookie_name).filter(|v| !v.is_empty());
    let signed_out = || {
        let link = login_link(None, &default_return(config));
        page(200, "Signed out", "You are signed out.", Some((&link, "Sign in again")), &look)
    };
    if session.is_none() {
        return signed_out();
    }
    let login = session_login(request, config, now);
    let end_session = login.and_then(|l| Some((l, config.signin.endpoints(&state.discovery, l, now)?.end_session?)));
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
mod tests;
