//! `GET /watch/NAME`: the watch page with a freshly signed token inside; `/dev/login`: the local
//! sign-in of `make dev`.

use super::device::admit;
use super::problem::Problem;
use super::request::{query_param, session_of, Request};
use super::response::{session_set_cookie, Response};
use crate::address::is_local_host;
use crate::channel::policy::{authorize, issue, issue_admitted};
use crate::chat::messaging::messaging;
use crate::config::Config;
use crate::cookie::find_cookie;
use crate::error::{Error, Result};
use crate::isolate::IsolateState;
use crate::page::Look;
use crate::signin::login_link;
use crate::signin::settings::Login;
use crate::signin::PageSignIn;
use crate::text::{is_name, split_list};

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

pub(super) fn html(status: u16, body: String, csp: String) -> Response {
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

pub(super) fn redirect(location: String) -> Response {
    let headers = vec![
        ("location", location),
        ("cache-control", "private, no-store".into()),
        ("referrer-policy", "no-referrer".into()),
    ];
    Response::new(302, headers, String::new())
}

/// `error` answered as a page with this heading, message and optional link.
fn message_page(error: &Error, heading: &str, message: &str, link: Option<(&str, &str)>, look: &Look<'_>) -> Response {
    let mut response =
        html(error.status(), crate::page::message_page(heading, message, link, look), crate::page::message_csp(look));
    response.problem = Some(error.slug());
    response
}

/// An error as a human page (the page routes' counterpart of [`Response::problem`]).
pub(super) fn message_for(error: &Error, look: &Look<'_>, link: Option<(&str, &str)>) -> Response {
    let (heading, message) = match error {
        Error::Session(_) | Error::NoCredential(_) | Error::CredentialRefused { .. } => {
            ("Sign in to watch", "This stream is for signed-in viewers. Sign in, then open this page again.".to_owned())
        }
        Error::ChannelForbidden(_) | Error::ChannelRule { .. } => {
            ("Not included in your access", "Your account does not include this channel.".to_owned())
        }
        Error::UnknownChannel(_) | Error::NotFound => {
            ("Channel not found", "There is no channel at this address.".to_owned())
        }
        Error::StageForbidden { .. } => {
            ("Not included in your access", "Your account may not join this stage.".to_owned())
        }
        Error::UnknownStage(_) => ("Stage not found", "There is no stage at this address.".to_owned()),
        Error::SessionConflict(_) => (
            "Signed in twice",
            "This browser sent sign-ins for two different accounts. Clear this site's cookies, then sign in again."
                .to_owned(),
        ),
        other => ("Temporarily unavailable", format!("The stream page cannot be served right now ({other}).")),
    };
    message_page(error, heading, &message, link, look)
}

/// `/login?...&refresh=1`: a silent sign-in (`prompt=none`) that reads the viewer's groups again.
pub(super) const REFRESH_PARAM: &str = "refresh";

/// For a viewer signed in at the edge whose groups do not include what `page` shows: the link
/// that signs them in again at their provider (silently where it can) and comes back to `page`
/// with fresh groups, as a viewer who has just bought access needs. `None` for the app's own
/// session cookie (the app refreshes it) and where `LOGIN_URL` replaces sign-in at the edge.
fn refresh_link(request: &Request<'_>, config: &Config, page: &str, now: u64) -> Option<String> {
    if config.login_url.is_some() {
        return None;
    }
    let login = edge_session_login(request, config, now)?;
    Some(format!("{}&{REFRESH_PARAM}=1", login_link(Some(&login.provider), page)))
}

/// The login that signed in the request's session cookie (its `idp` claim), if it was one.
pub(super) fn edge_session_login<'c>(request: &Request<'_>, config: &'c Config, now: u64) -> Option<&'c Login> {
    edge_session(request, config, now).map(|(login, _)| login)
}

/// The login that signed in the request's session cookie, and when (`iat`).
fn edge_session<'c>(request: &Request<'_>, config: &'c Config, now: u64) -> Option<(&'c Login, u64)> {
    let value =
        find_cookie(request.cookie.unwrap_or_default(), &config.identity.cookie_name).filter(|v| !v.is_empty())?;
    let session = config.identity.sessions.as_ref()?.verify(value, now).ok()?;
    let login = config.signin.login(session.claims.get("idp")?.as_str()?)?;
    Some((login, session.claims.get("iat").and_then(serde_json::Value::as_u64).unwrap_or(0)))
}

/// A page opened `refresh_minutes` after its viewer signed in at the edge reads their groups
/// again first: the silent sign-in's link. Not right after a sign-in (a browser that keeps no
/// cookie would loop), not for a takeover's POST, not with `LOGIN_URL`.
pub(super) fn refresh_due(request: &Request<'_>, config: &Config, page: &str, now: u64) -> Option<String> {
    if request.method != "GET" || config.login_url.is_some() {
        return None;
    }
    if find_cookie(request.cookie.unwrap_or_default(), crate::signin::RECENT_COOKIE).is_some() {
        return None;
    }
    let (login, signed_in_at) = edge_session(request, config, now)?;
    let due = signed_in_at.saturating_add(login.refresh_seconds?) <= now;
    due.then(|| format!("{}&{REFRESH_PARAM}=1", login_link(Some(&login.provider), page)))
}

/// A page the viewer's access does not include. A viewer signed in at the edge may have bought
/// or been given access since: their groups were copied at sign-in, so the page offers to read
/// them again (a silent sign-in where the provider allows it) and come back.
pub(super) fn refused(
    request: &Request<'_>,
    config: &Config,
    error: &Error,
    page: &str,
    now: u64,
    look: &Look<'_>,
) -> Response {
    let what = if page.starts_with("/stage/") { "stage" } else { "channel" };
    let forbidden =
        matches!(error, Error::ChannelForbidden(_) | Error::ChannelRule { .. } | Error::StageForbidden { .. });
    match refresh_link(request, config, page, now).filter(|_| forbidden) {
        Some(href) => message_page(
            error,
            "Not included in your access",
            &format!("Your account does not include this {what}. If you have just bought or been given access, refresh it: you are signed in again and brought back here."),
            Some((&href, "Refresh my access")),
            look,
        ),
        None => message_for(error, look, None),
    }
}

/// A device-limit refusal or block as the watch page says it: at the limit, with a "Watch here
/// instead" button that POSTs to the page (a takeover is never a link: any site could make that).
fn device_message(error: &Error, name: &str, look: &Look<'_>) -> Response {
    let (heading, message) = match error {
        Error::DeviceLimit { in_use, limit } => {
            let message = format!(
                "This account is watching on {in_use} of its {limit} devices. Stop on one of them, or watch here instead: the device that started first stops."
            );
            let takeover = crate::page::watch::takeover_url(name);
            let body = crate::page::message_form_page(
                "Already watching on other devices",
                &message,
                (&takeover, "Watch here instead"),
                look,
            );
            let mut response = html(error.status(), body, crate::page::message_form_csp(look));
            response.problem = Some(error.slug());
            return response;
        }
        Error::ViewerBlocked { .. } => (
            "Playback suspended",
            "Playback for this account is suspended for now. Contact support if you think this is a mistake."
                .to_owned(),
        ),
        Error::TooManyNewDevices { retry_after } => {
            let message =
                format!("This account started watching on new devices very fast. Try again in {retry_after} seconds.");
            return message_page(error, "Too many new devices", &message, None, look)
                .with_header("retry-after", retry_after.to_string());
        }
        other => return message_for(other, look, None),
    };
    message_page(error, heading, &message, None, look)
}

pub(super) const PAGE_METHODS: &str = "GET, HEAD";
/// `/watch/NAME` with `DEVICE_LIMITS`: its "Watch here instead" button POSTs to it.
const WATCH_METHODS_WITH_TAKEOVER: &str = "GET, HEAD, POST";

/// The answer of a page to a viewer without a valid session: a 302 to `LOGIN_URL` (or to
/// `/dev/login` on localhost when enabled) with `return_to=<page>`, else the 401 page. Errors that
/// signing in cannot fix (not a 401, or two accounts' cookies) get their own page.
pub(super) fn sign_in(config: &Config, request: &Request<'_>, page: &str, error: &Error, look: &Look<'_>) -> Response {
    if error.status() != 401 || matches!(error, Error::SessionConflict(_)) {
        // Signing in again would not help (a provider without keys; the other account's cookie
        // stays): say what is wrong instead.
        return message_for(error, look, None);
    }
    // Sign-in at the edge (a provider's `login` table), unless LOGIN_URL is set.
    if let Some(next) = config.signin.page_sign_in(request.cookie, page).filter(|_| config.login_url.is_none()) {
        let mut response = match next {
            PageSignIn::Redirect(href) => redirect(href),
            PageSignIn::Link { href, message } => {
                let body = crate::page::message_page("Sign in to watch", message, Some((&href, "Sign in")), look);
                html(401, body, crate::page::message_csp(look))
            }
        };
        response.problem = Some(error.slug());
        return response;
    }
    let return_to = percent_encode(page);
    let dev_login = config.dev_login && request.host.is_some_and(is_local_host);
    match &config.login_url {
        Some(login) => {
            let separator = if login.contains('?') { '&' } else { '?' };
            let mut response = redirect(format!("{login}{separator}return_to={return_to}"));
            response.problem = Some(error.slug());
            response
        }
        None if dev_login => redirect(format!("/dev/login?return_to={return_to}")),
        None => message_for(error, look, None),
    }
}

/// What both page routes (`/watch/NAME`, `/stage/NAME`) share before their own work: the
/// methods, the CSP nonce (from `random[16..]`), the name rule (`unknown` answers a bad name) and
/// the configuration's own error, each answered as a page. `page` gets the configuration and the
/// page's [`Look`] (the nonce and `PAGE_BRAND`; a configuration that failed to load has no brand).
pub(super) fn page_route(
    request: &Request<'_>,
    config: Result<&Config, &Error>,
    name: &str,
    random: &[u8; 32],
    (methods, unknown): (&'static str, Error),
    page: impl FnOnce(&Config, &Look<'_>) -> Response,
) -> Response {
    if !methods.split(", ").any(|m| m == request.method) {
        return Response::problem(&Error::MethodNotAllowed { allow: methods });
    }
    let mut nonce_bytes = [0u8; 16];
    nonce_bytes.copy_from_slice(&random[16..]);
    let nonce = crate::page::nonce(&nonce_bytes);
    let look = Look::new(&nonce, config.ok().and_then(|c| c.brand.as_ref()));
    if !is_name(name) {
        return message_for(&unknown, &look, None);
    }
    match config {
        Ok(config) => page(config, &look),
        Err(error) => message_for(error, &look, None),
    }
}

pub(super) fn watch_route(
    request: &Request<'_>,
    config: Result<&Config, &Error>,
    state: &IsolateState,
    name: &str,
    now: u64,
    random: [u8; 32],
) -> Response {
    let methods = match config {
        Ok(config) if config.devices.is_some() => WATCH_METHODS_WITH_TAKEOVER,
        _ => PAGE_METHODS,
    };
    page_route(request, config, name, &random, (methods, Error::UnknownChannel(String::new())), |config, look| {
        watch_page(request, config, state, name, now, &random, look)
    })
}

fn watch_page(
    request: &Request<'_>,
    config: &Config,
    state: &IsolateState,
    name: &str,
    now: u64,
    random: &[u8; 32],
    look: &Look<'_>,
) -> Response {
    let page = format!("/watch/{name}");
    let mut response = match session_of(config, state, request, now) {
        Err(error) => sign_in(config, request, &page, &error, look),
        Ok(_) if let Some(href) = refresh_due(request, config, &page, now) => redirect(href),
        Ok(session) => match authorize(&config.channels, &session, name, request.country().as_deref()) {
            Err(error) => refused(request, config, &error, &format!("/watch/{name}"), now, look),
            Ok(channel) => {
                let mut single_use = [0u8; 16];
                single_use.copy_from_slice(&random[..16]);
                let (admission, cookie) = admit(request, config, channel, &session, now, *random);
                let mut response = match admission {
                    Err(error) => device_message(&error, name, look),
                    // The takeover is done: see the page (Post/Redirect/Get, so a reload asks nothing again).
                    Ok(admission) if request.method == "POST" => {
                        let mut see = redirect(format!("/watch/{name}"));
                        see.status = 303;
                        see.ledger = admission.ledger;
                        see
                    }
                    Ok(admission) => {
                        let settings = config.playback_settings(&state.tokens);
                        let issued = match admission.version {
                            Some(version) => issue_admitted(&settings, channel, &session, version, now, single_use),
                            None => issue(&settings, channel, &session, now, single_use),
                        };
                        let limited = admission.version.is_some().then_some(config.devices.as_ref()).flatten();
                        let heartbeat =
                            limited.map(|d| crate::page::Heartbeat::for_idle_seconds(d.limits.idle_seconds));
                        let endpoint = config.chat.as_ref().and_then(|chat| chat.endpoint.as_deref());
                        let chat = channel.chat.as_ref().map(|room| messaging(room, endpoint));
                        let body =
                            crate::page::watch_page(channel, &issued, &config.player, heartbeat, chat.as_ref(), look);
                        let csp = crate::page::watch_csp(channel, &config.player, chat.as_ref(), look);
                        let mut page = html(200, body, csp);
                        page.ledger = admission.ledger;
                        page
                    }
                };
                if let Some(cookie) = cookie {
                    response.headers.push(("set-cookie", cookie));
                }
                response
            }
        },
    };
    response.channel = Some(name.to_owned());
    response
}

/// Session lifetime of a local dev sign-in.
const DEV_SESSION_SECONDS: u64 = 12 * 3600;

pub(super) fn dev_login_route(request: &Request<'_>, config: Result<&Config, &Error>, now: u64) -> Response {
    // Invisible (404) unless enabled *and* the request is addressed to this machine.
    let config = match config {
        Ok(config) if config.dev_login && request.host.is_some_and(is_local_host) => config,
        _ => return Response::problem(&Error::NotFound),
    };
    if !matches!(request.method, "GET" | "HEAD") {
        return Response::problem(&Error::MethodNotAllowed { allow: PAGE_METHODS });
    }
    let outcome = (|| -> Result<Response> {
        let sub = query_param(request.query, "sub")?.unwrap_or_else(|| "dev-viewer".to_owned());
        // Printable ASCII: a dev sign-in needs no more, and the contract can state it exactly.
        if sub.is_empty() || sub.len() > crate::identity::MAX_SUBJECT_LEN || !sub.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(Error::BadRequest("query parameter `sub` must be 1 to 256 printable ASCII characters".into()));
        }
        let default_target =
            config.channels.keys().next().map(|n| format!("/watch/{n}")).unwrap_or_else(|| "/healthz".into());
        let return_to = query_param(request.query, "return_to")?.unwrap_or(default_target);
        if !is_local_path(&return_to) {
            return Err(Error::BadRequest(
                "query parameter `return_to` must be a path of this worker, like /watch/demo".into(),
            ));
        }
        let mut claims = crate::identity::session_cookie::SessionClaims::new(&sub, now, DEV_SESSION_SECONDS);
        claims.channels = query_param(request.query, "channels")?.map(|c| split_list(&c));
        // Groups make a dev sign-in a chat moderator or a reader (a room's `moderators` and
        // `senders`), as a provider's groups claim would.
        claims.groups = query_param(request.query, "groups")?.map(|g| split_list(&g));
        let secrets = config.identity.sessions.as_ref().ok_or(Error::NotFound)?;
        let cookie =
            session_set_cookie(&config.identity.cookie_name, &secrets.mint(&claims), DEV_SESSION_SECONDS, request.host);
        Ok(redirect(return_to).with_header("set-cookie", cookie))
    })();
    outcome.unwrap_or_else(|error| Response::problem(&error))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::claims::verify;
    use crate::config::names;
    use crate::config::tests::settings;
    use crate::http::handle;
    use crate::http::tests::{config, cookie_for, NOW};
    use crate::identity::session_cookie::SessionClaims;

    fn watch(config: &Config, state: &IsolateState, path: &str, cookie: Option<&str>, host: &str) -> Response {
        let mut request = Request::new("GET", path);
        request.cookie = cookie;
        request.host = Some(host);
        handle(&request, Ok(config), state, NOW, [7; 32])
    }

    #[test]
    fn watch_page_embeds_a_valid_token_under_a_nonce_csp() {
        let config = config();
        let state = IsolateState::new();
        let cookie = cookie_for(&SessionClaims::new("alice", NOW, 3600));
        let response = watch(&config, &state, "/watch/demo", Some(&cookie), "tv.example");
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
        let token: String =
            response.body[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c)).collect();
        let claims = verify(&token, &[config.key.public_key()], NOW).unwrap().claims;
        assert_eq!(claims["aws:channel-arn"], "arn:aws:ivs:us-west-2:123456789012:channel/demo1");
    }

    /// Issue 24: with `PAGE_BRAND` every page of the watch route (the player, sign-in, not
    /// included, device limit) shows the brand, and its CSP allows exactly the brand's origins;
    /// a configuration that failed to load has no brand to show.
    #[test]
    fn every_watch_route_page_wears_the_brand() {
        let brand = r##"{"title": "Club <Stars>", "logo_url": "https://img.example/logo.png",
                        "stylesheet_url": "https://css.example/brand.css", "colors": {"accent": "#1a3d8f"}}"##;
        let config = Config::load(&settings().with(names::PAGE_BRAND, brand)).unwrap();
        let state = IsolateState::new();
        let header = "<header class=\"brand\"><img class=\"brand-logo\" src=\"https://img.example/logo.png\" alt=\"Club &lt;Stars&gt;\">";
        let mut only_demo = SessionClaims::new("bob", NOW, 3600);
        only_demo.channels = Some(vec!["demo".into()]);
        let bob = cookie_for(&only_demo);
        for (path, cookie, status) in
            [("/watch/demo", Some(bob.as_str()), 200), ("/watch/demo", None, 401), ("/watch/vip", Some(&bob), 403)]
        {
            let r = watch(&config, &state, path, cookie, "tv.example");
            assert_eq!(r.status, status, "{path}: {}", r.body);
            assert!(r.body.contains(header) && r.body.contains("--page-accent:#1a3d8f"), "{path}: {}", r.body);
            assert!(r.body.contains("<link rel=\"stylesheet\" href=\"https://css.example/brand.css\">"));
            let csp = r.header("content-security-policy").unwrap();
            assert!(csp.contains(" https://css.example;") && csp.contains(" https://img.example;"), "{csp}");
            assert_eq!(csp.matches("example").count(), 2, "{path}: no other origin: {csp}");
            assert!(!csp.contains("unsafe-inline"));
        }
        let nonce = crate::page::nonce(&[7; 16]);
        let look = Look::new(&nonce, config.brand.as_ref());
        let r = device_message(&Error::DeviceLimit { in_use: 2, limit: 2 }, "demo", &look);
        assert!(r.body.contains(header) && r.body.contains("<form method=\"post\""));
        assert_eq!(
            r.header("content-security-policy"),
            Some(format!("default-src 'none'; style-src 'nonce-{nonce}' https://css.example; img-src data: https://img.example; base-uri 'none'; form-action 'self'; frame-ancestors 'self'").as_str())
        );
        let broken = Error::setting(names::CHANNELS, "is not set");
        let mut request = Request::new("GET", "/watch/demo");
        request.host = Some("tv.example");
        let r = handle(&request, Err(&broken), &IsolateState::new(), NOW, [7; 32]);
        assert_eq!(r.header("content-security-policy"), Some(crate::page::message_csp(&Look::plain(&nonce)).as_str()));
        assert!(!r.body.contains("class=\"brand"));
    }

    /// Issue 25: a channel with a chat room gets the panel, told where to connect (the stand-in's
    /// WebSocket when `IVS_CHAT_API_ENDPOINT` is set) and allowed to connect there by its CSP.
    #[test]
    fn a_channel_with_a_room_gets_the_chat_panel_and_its_websocket_in_the_csp() {
        let channels = serde_json::json!({"demo": {"arn": "arn:aws:ivs:us-west-2:123456789012:channel/demo1",
            "playback_url": "https://x.live-video.net/demo.m3u8",
            "chat": {"room": "arn:aws:ivschat:us-west-2:123456789012:room/demo"}}});
        let config = Config::load(
            &settings()
                .with(names::CHANNELS, channels.to_string())
                .with(names::AWS_ACCESS_KEY_ID, "AKIAIOSFODNN7EXAMPLE")
                .with(names::AWS_SECRET_ACCESS_KEY, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
                .with(names::IVS_CHAT_API_ENDPOINT, "http://127.0.0.1:8788/"),
        )
        .unwrap();
        let cookie = cookie_for(&SessionClaims::new("alice", NOW, 3600));
        let r = watch(&config, &IsolateState::new(), "/watch/demo", Some(&cookie), "127.0.0.1:8787");
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(r.body.contains("\"region_or_url\":\"ws://127.0.0.1:8788/\"") && r.body.contains("id=\"chat-input\""));
        let csp = r.header("content-security-policy").unwrap();
        assert!(csp.contains(" ws://127.0.0.1:8788; worker-src"), "{csp}");
        let plain =
            watch(&super::super::tests::config(), &IsolateState::new(), "/watch/demo", Some(&cookie), "127.0.0.1:8787");
        assert!(!plain.body.contains("id=\"chat") && !plain.header("content-security-policy").unwrap().contains("ws:"));
    }

    #[test]
    fn watch_without_session() {
        let plain = config();
        let plain_state = IsolateState::new();
        let r = watch(&plain, &plain_state, "/watch/demo", None, "tv.example");
        assert_eq!((r.status, r.header("content-type")), (401, Some("text/html; charset=utf-8")));
        assert!(r.body.contains("Sign in to watch") && !r.body.contains("<script"));

        let login = Config::load(&settings().with(names::LOGIN_URL, "https://auth.example/login?app=tv")).unwrap();

        let login_state = IsolateState::new();
        let r = watch(&login, &login_state, "/watch/demo", Some("session=garbage"), "tv.example");
        assert_eq!(
            (r.status, r.header("location")),
            (302, Some("https://auth.example/login?app=tv&return_to=/watch/demo"))
        );

        let dev = Config::load(&settings().with(names::DEV_LOGIN, "true")).unwrap();

        let dev_state = IsolateState::new();
        let r = watch(&dev, &dev_state, "/watch/demo", None, "127.0.0.1:8787");
        assert_eq!((r.status, r.header("location")), (302, Some("/dev/login?return_to=/watch/demo")));
        assert_eq!(
            watch(&dev, &dev_state, "/watch/demo", None, "tv.example").status,
            401,
            "dev login is for localhost only"
        );
    }

    #[test]
    fn watch_errors_are_pages() {
        let config = config();
        let state = IsolateState::new();
        let mut only_demo = SessionClaims::new("bob", NOW, 3600);
        only_demo.channels = Some(vec!["demo".into()]);
        let bob = cookie_for(&only_demo);
        for (path, status, text) in [
            ("/watch/vip", 403, "does not include this channel"),
            ("/watch/nope", 404, "no channel at this address"),
            ("/watch/Bad%3Cname%3E", 404, "no channel at this address"),
            ("/watch/", 404, "no channel at this address"),
        ] {
            let r = watch(&config, &state, path, Some(&bob), "tv.example");
            assert_eq!(r.status, status, "{path}");
            assert!(r.body.contains(text), "{path}");
            assert!(!r.body.contains("Bad") && !r.body.contains("%3C"), "the path is not echoed");
        }
        let error = Config::load(&settings().with(names::SESSION_SECRET, "")).unwrap_err();
        let mut request = Request::new("GET", "/watch/demo");
        request.host = Some("tv.example");
        let r = handle(&request, Err(&error), &IsolateState::new(), NOW, [0; 32]);
        assert_eq!(r.status, 500);
        assert!(r.body.contains("SESSION_SECRET"));
    }

    #[test]
    fn dev_login_only_on_localhost_when_enabled() {
        let dev = Config::load(&settings().with(names::DEV_LOGIN, "true")).unwrap();
        let dev_state = IsolateState::new();
        let r = watch(&dev, &dev_state, "/dev/login?sub=carol&return_to=/watch/vip", None, "localhost:8787");
        assert_eq!((r.status, r.header("location")), (302, Some("/watch/vip")));
        let set_cookie = r.header("set-cookie").unwrap();
        assert!(set_cookie.ends_with("; Path=/; Max-Age=43200; HttpOnly; SameSite=Lax"), "{set_cookie}");
        let value = set_cookie.strip_prefix("session=").unwrap().split(';').next().unwrap();
        assert_eq!(dev.identity.sessions.as_ref().unwrap().verify(value, NOW).unwrap().sub, "carol");

        let r = watch(&dev, &dev_state, "/dev/login?sub=mod&groups=moderators,%20staff", None, "127.0.0.1");
        let value = r.header("set-cookie").unwrap().strip_prefix("session=").unwrap().split(';').next().unwrap();
        let session = dev.identity.sessions.as_ref().unwrap().verify(value, NOW).unwrap();
        assert_eq!(session.groups, ["moderators", "staff"], "groups for chat roles");

        let default = watch(&dev, &dev_state, "/dev/login", None, "127.0.0.1");
        assert_eq!(default.header("location"), Some("/watch/demo"));
        for bad in ["//evil.example/", "https://evil.example/", "/\\evil.example", "watch/demo"] {
            let r =
                watch(&dev, &dev_state, &format!("/dev/login?return_to={}", percent_encode(bad)), None, "127.0.0.1");
            assert_eq!(r.status, 400, "{bad}");
        }
        for bad_sub in ["", "a%20b", "%C3%A9", "%00"] {
            assert_eq!(
                watch(&dev, &dev_state, &format!("/dev/login?sub={bad_sub}"), None, "127.0.0.1").status,
                400,
                "{bad_sub}"
            );
        }
        assert_eq!(watch(&dev, &dev_state, "/dev/login", None, "tv.example").status, 404);
        assert_eq!(watch(&dev, &dev_state, "/dev/login", None, "localhost.evil.example").status, 404);
        assert_eq!(
            watch(&config(), &IsolateState::new(), "/dev/login", None, "127.0.0.1").status,
            404,
            "disabled by default"
        );
    }

    /// Issue 16, finding 5: a `__Host-` session cookie (the recommended `SESSION_COOKIE`) is set
    /// with what its prefix requires (`Secure`, `Path=/`, no `Domain`) even on localhost, where
    /// other cookies are not `Secure`, and the worker reads the cookie it sets.
    #[test]
    fn a_host_prefixed_session_cookie_is_set_as_the_prefix_requires_and_read_back() {
        let dev =
            Config::load(&settings().with(names::DEV_LOGIN, "true").with(names::SESSION_COOKIE, "__Host-session"))
                .unwrap();
        let dev_state = IsolateState::new();
        let r = watch(&dev, &dev_state, "/dev/login?sub=judy&return_to=/watch/demo", None, "127.0.0.1:8787");
        let set_cookie = r.header("set-cookie").unwrap();
        assert!(set_cookie.starts_with("__Host-session=") && set_cookie.contains("; Path=/;"), "{set_cookie}");
        assert!(set_cookie.ends_with("; Secure") && !set_cookie.contains("Domain"), "{set_cookie}");
        let pair = set_cookie.split(';').next().unwrap();
        assert_eq!(watch(&dev, &dev_state, "/watch/demo", Some(pair), "127.0.0.1:8787").status, 200, "read back");
        assert!(session_set_cookie("__Secure-s", "v", 60, Some("localhost")).ends_with("; Secure"));
        assert!(!session_set_cookie("session", "v", 60, Some("localhost")).contains("Secure"), "make dev: plain http");
    }

    /// Two accounts' session cookies: a page that says what to do, never a redirect to sign in
    /// (signing in again would not clear the other cookie).
    #[test]
    fn two_accounts_cookies_get_a_page_saying_what_to_do() {
        let login = Config::load(&settings().with(names::LOGIN_URL, "https://auth.example/login")).unwrap();
        let login_state = IsolateState::new();
        let alice = cookie_for(&SessionClaims::new("alice", NOW, 3600));
        let mallory = cookie_for(&SessionClaims::new("mallory", NOW, 3600));
        let both = format!("{mallory}; {alice}");
        let r = watch(&login, &login_state, "/watch/demo", Some(&both), "tv.example");
        assert_eq!((r.status, r.header("location")), (401, None));
        assert!(r.body.contains("Signed in twice") && r.body.contains("Clear this site"), "{}", r.body);
    }

    /// Issue 16: a refused identity-provider credential (a Bearer token, a provider cookie that
    /// does not verify) gets the sign-in page, as a refused session cookie does, not "Temporarily
    /// unavailable"; a provider without keys (503) is the one that is temporarily unavailable, and
    /// is never sent to sign in (signing in again cannot help: it would loop).
    #[test]
    fn a_refused_provider_credential_gets_the_sign_in_page() {
        use crate::identity::jwt::tests::{signer_jwk, ISSUER};
        let with_provider = |extra: &[(&'static str, &str)], keys: serde_json::Value| {
            let mut provider = serde_json::json!({"issuer": ISSUER, "audience": "tv-app",
                "token_from": ["bearer", "cookie:id_token"]});
            provider.as_object_mut().unwrap().extend(keys.as_object().unwrap().clone());
            let mut s = settings().with(names::IDENTITY_PROVIDERS, serde_json::json!({"idp": provider}).to_string());
            for (name, value) in extra {
                s = s.with(name, *value);
            }
            Config::load(&s).unwrap()
        };
        let inline = serde_json::json!({"jwks": {"keys": [signer_jwk("k1")]}});
        let page = |config: &Config, authorization: Option<&str>, cookie: Option<&str>| {
            let mut request = Request::new("GET", "/watch/demo");
            request.authorization = authorization;
            request.cookie = cookie;
            request.host = Some("tv.example");
            // Malformed tokens and a provider without keys: nothing here is cached, a new isolate each time.
            handle(&request, Ok(config), &IsolateState::new(), NOW, [7; 32])
        };
        let plain = with_provider(&[], inline.clone());
        for (authorization, cookie) in [(Some("Bearer a.b.c"), None), (None, Some("id_token=x.y.z"))] {
            let r = page(&plain, authorization, cookie);
            assert_eq!(r.status, 401, "{authorization:?} {cookie:?}");
            assert!(r.body.contains("Sign in to watch") && !r.body.contains("Temporarily"), "{}", r.body);
        }
        let login = with_provider(&[(names::LOGIN_URL, "https://auth.example/login")], inline);
        let r = page(&login, Some("Bearer a.b.c"), None);
        assert_eq!((r.status, r.header("location")), (302, Some("https://auth.example/login?return_to=/watch/demo")));
        let keyless = serde_json::json!({"jwks_url": "https://id.example/jwks"});
        let bearer = format!(
            "Bearer {}",
            crate::identity::jwt::tests::mint(
                &serde_json::json!({"alg": "ES384", "kid": "k1"}),
                &crate::identity::jwt::tests::claims()
            )
        );
        let down = with_provider(&[(names::LOGIN_URL, "https://auth.example/login")], keyless);
        let r = page(&down, Some(&bearer), None);
        assert_eq!((r.status, r.header("location")), (503, None));
        assert!(r.body.contains("Temporarily unavailable"), "{}", r.body);
    }

    #[test]
    fn cookies_are_secure_off_localhost() {
        assert!(session_set_cookie("s", "v", 60, Some("tv.example")).ends_with("; Secure"));
        assert!(!session_set_cookie("s", "v", 60, Some("[::1]:8787")).contains("Secure"));
        assert!(is_local_host("127.0.0.1:8787") && is_local_host("[::1]") && !is_local_host("127.0.0.1.example"));
        assert!(is_local_host("[::1]:8787") && !is_local_host("[::1") && !is_local_host("[::2]"));
    }
}
