//! Device limits over HTTP: the ledger step of `/v1/token` and `/watch/NAME` on a device-limited
//! channel, `POST /v1/heartbeat`, and the operator API (`POST /v1/admin/revoke`,
//! `GET /v1/admin/devices`).
//!
//! A viewer's devices live in a Durable Object that only the Workers layer can reach (an
//! `.await`), so the core answers such a request in two pure halves:
//! 1. [`ledger_ask`] says which command to send to which viewer's object (none for every other
//!    request); the layer sends it and puts the answer in [`Request::ledger`];
//! 2. [`super::handle`] answers from that answer.
//!
//! Both halves derive the command with the same functions (`admission`, `heartbeat_plan`,
//! `revoke_command`, `list_command`), and a route uses an answer only when it was given for
//! exactly the command it derives. A request the layer did not ask for (or whose object could
//! not be reached) follows the documented policy: tokens are served without the ledger (logged
//! as `"ledger": "unreachable"`), heartbeats answer 204, operator calls 503.

use super::request::{channel_param, query_param, session_of, Request};
use super::response::{allowed_headers, cors_headers, preflight, session_set_cookie, Response};
use super::route::Route;
use crate::channel::policy::authorize;
use crate::channel::Channel;
use crate::config::Config;
use crate::device::id::{
    device_of, parse_takeover, DeviceSource, RequestDevice, DEVICE_COOKIE, DEVICE_COOKIE_MAX_AGE, DEVICE_HEADER,
    RANDOM_BYTES,
};
use crate::device::ledger::{unledgered_version, ChannelRef, Heartbeat};
use crate::device::object::{ChannelKey, Command, Envelope, LedgerAnswer, Reply};
use crate::device::settings::DeviceSettings;
use crate::error::{Error, Result};
use crate::identity::Session;
use sha2::{Digest, Sha256};

/// The Durable Object binding of the device ledgers (`wrangler.toml`).
pub const LEDGER_BINDING: &str = "DEVICE_LEDGER";

/// Methods of `/v1/heartbeat`.
const HEARTBEAT_METHODS: &str = "POST, OPTIONS";
/// Methods of `/v1/admin/revoke`.
const REVOKE_METHODS: &str = "POST";
/// Methods of `/v1/admin/devices` (POST: the subject in a body instead of the URL).
const DEVICES_METHODS: &str = "GET, HEAD, POST";

/// How much body an operator route may have read: none unless the route exists for this
/// deployment, its method takes a body and the operator's gate passed (bearer token), so an
/// anonymous body is never read at all; then at most the operator API's limit.
pub(super) fn operator_body_limit(request: &Request<'_>, config: Result<&Config, &Error>) -> Option<usize> {
    let methods = match Route::of(request.path) {
        Route::AdminRevoke => REVOKE_METHODS,
        Route::AdminDevices => DEVICES_METHODS,
        _ => return None,
    };
    (request.method == "POST" && operator(request, config, methods).is_ok())
        .then_some(crate::device::admin::MAX_BODY_BYTES)
}

/// The command the Workers layer must send to a viewer's object before [`super::handle`] can
/// answer `request`, if any. Pure and cheap: it derives what the route derives, and nothing for
/// a request the route will refuse anyway.
pub fn ledger_ask(
    request: &Request<'_>,
    config: Result<&Config, &Error>,
    now: u64,
    random: [u8; 32],
) -> Option<Envelope> {
    let config = config.ok()?;
    let devices = config.devices.as_ref()?;
    match (request.method, Route::of(request.path)) {
        ("GET" | "HEAD", Route::Token) => {
            let name = channel_param(request.query).ok()?;
            let session = session_of(config, request, now).ok()?;
            let channel = authorize(&config.channels, &session, &name, request.country().as_deref()).ok()?;
            admission(request, config, devices, channel, &session, random).ok()?.map(|(ask, _)| ask)
        }
        ("GET" | "HEAD" | "POST", Route::Watch(name)) => {
            let session = session_of(config, request, now).ok()?;
            let channel = authorize(&config.channels, &session, name, request.country().as_deref()).ok()?;
            admission(request, config, devices, channel, &session, random).ok()?.map(|(ask, _)| ask)
        }
        ("POST", Route::Heartbeat) => match heartbeat_plan(request, config, now).ok()? {
            HeartbeatPlan::Ask(ask) => Some(ask),
            HeartbeatPlan::Nothing | HeartbeatPlan::NoDevice => None,
        },
        // Through the operator's gate first, as the routes go: no token, no ledger call.
        ("POST", Route::AdminRevoke) => {
            operator(request, Ok(config), REVOKE_METHODS).ok()?;
            revoke_command(request, config).ok()
        }
        ("GET" | "HEAD" | "POST", Route::AdminDevices) => {
            operator(request, Ok(config), DEVICES_METHODS).ok()?;
            list_command(request, config, devices).ok()
        }
        _ => None,
    }
}

/// A request that changes who holds a slot (a takeover, a heartbeat or release) from another site
/// is refused, unless that site is an app in `ALLOWED_ORIGINS`: browsers say where a request comes
/// from in `Sec-Fetch-Site`, and a cross-site navigation carries the viewer's (SameSite=Lax)
/// cookie, so without this any page could evict the account's devices. Clients that send no
/// `Sec-Fetch-Site` (apps, older browsers) are not browsers on another site.
fn refuse_cross_site(request: &Request<'_>, config: &Config) -> Result<()> {
    let cross_site = request.header("sec-fetch-site").is_some_and(|v| v.eq_ignore_ascii_case("cross-site"));
    if cross_site && cors_headers(config, request.origin).is_empty() {
        return Err(Error::CrossSite);
    }
    Ok(())
}

/// The randomness a new device id is made of: derived from the request's, so it shares no bytes
/// with the nonce or the single-use id made from the same 32 bytes.
fn device_random(random: [u8; 32]) -> [u8; RANDOM_BYTES] {
    let digest = Sha256::new().chain_update(b"ivs-token-worker device id\0").chain_update(random).finalize();
    let mut bytes = [0u8; RANDOM_BYTES];
    bytes.copy_from_slice(&digest[..RANDOM_BYTES]);
    bytes
}

fn channel_key(channel: &Channel) -> ChannelKey {
    ChannelRef { name: &channel.name, arn: &channel.arn }.into()
}

/// The admission command of a token request (`/v1/token`, `/watch/NAME`) of `session` on
/// `channel`, with the request's device; `None` when the channel has no device limit. A bad
/// `X-Device-Id` or `takeover` is a `400`.
fn admission(
    request: &Request<'_>,
    config: &Config,
    devices: &DeviceSettings,
    channel: &Channel,
    session: &Session,
    random: [u8; 32],
) -> Result<Option<(Envelope, RequestDevice)>> {
    if !channel.device_limit {
        return Ok(None);
    }
    let device = device_of(request.header(DEVICE_HEADER), request.cookie, device_random(random))?;
    let asked = parse_takeover(query_param(request.query, "takeover")?.as_deref())?;
    let takeover = match Route::of(request.path) {
        // The watch page takes over only through its button's POST, never through a link (a GET
        // any site can make, or a `return_to` after sign-in): a GET's `takeover` takes nothing.
        Route::Watch(_) => request.method == "POST",
        _ => asked,
    };
    if takeover {
        refuse_cross_site(request, config)?;
    }
    let command = Command::Admit {
        device: device.id.clone(),
        channel: channel_key(channel),
        policy: devices.limits.policy_for(&session.groups),
        takeover,
    };
    Ok(Some((Envelope { viewer_id: config.viewer_ids.viewer_id_for(session), command }, device)))
}

/// What a token request on `channel` is signed with, decided by the viewer's ledger.
pub(super) struct Admission {
    /// `aws:viewer-session-version` for a device-limited channel; `None` for any other.
    pub version: Option<i64>,
    /// `unreachable` when the version was issued without the ledger, for the log line.
    pub ledger: Option<&'static str>,
}

/// Decide a token request of `session` on `channel` (after `authorize`): the version to sign
/// with, or the error to answer (`400` bad device id or `takeover`, `403 device-limit`,
/// `403 viewer-blocked`), and the device cookie to set with the answer, whatever it is: a
/// "watch here instead" that follows a refusal is then the same device.
pub(super) fn admit(
    request: &Request<'_>,
    config: &Config,
    channel: &Channel,
    session: &Session,
    now: u64,
    random: [u8; 32],
) -> (Result<Admission>, Option<String>) {
    let Some(devices) = config.devices.as_ref() else {
        return (Ok(Admission { version: None, ledger: None }), None);
    };
    let (ask, device) = match admission(request, config, devices, channel, session, random) {
        Ok(Some(found)) => found,
        Ok(None) => return (Ok(Admission { version: None, ledger: None }), None),
        Err(error) => return (Err(error), None),
    };
    let set_cookie = device_cookie(&device, request.host);
    let outcome = match answer_for(request, &ask) {
        Some(LedgerAnswer::Replied(Reply::Decision { decision })) => {
            decision.clone().into_result().map(|version| Admission { version: Some(version), ledger: None })
        }
        Some(LedgerAnswer::Unbound) => Err(unbound()),
        Some(LedgerAnswer::Replied(_)) | Some(LedgerAnswer::Unreachable(_)) | None => {
            Ok(Admission { version: Some(unledgered_version(now)), ledger: Some("unreachable") })
        }
    };
    (outcome, set_cookie)
}

/// The answer the layer got for exactly `ask`, if it asked.
fn answer_for<'a>(request: &Request<'a>, ask: &Envelope) -> Option<&'a LedgerAnswer> {
    request.ledger.filter(|exchange| exchange.ask == *ask).map(|exchange| &exchange.answer)
}

fn unbound() -> Error {
    Error::setting(
        crate::config::names::DEVICE_LIMITS,
        "is set, but the worker has no Durable Object binding DEVICE_LEDGER (class DeviceLedger); add it to wrangler.toml as docs/devices.md shows",
    )
}

/// The device cookie for `device` when the answer should set it.
fn device_cookie(device: &RequestDevice, host: Option<&str>) -> Option<String> {
    device.sets_cookie().then(|| session_set_cookie(DEVICE_COOKIE, &device.id, DEVICE_COOKIE_MAX_AGE, host))
}

/// What a heartbeat comes to before the ledger is asked.
enum HeartbeatPlan {
    /// Ask the viewer's ledger.
    Ask(Envelope),
    /// Nothing is held here: a channel without a device limit, or a release by a device without an id.
    Nothing,
    /// A device without an id never held a slot: `409`.
    NoDevice,
}

/// The plan of `POST /v1/heartbeat?channel=NAME[&release=true]` (parameters, session, channel,
/// device: each error a problem).
fn heartbeat_plan(request: &Request<'_>, config: &Config, now: u64) -> Result<HeartbeatPlan> {
    refuse_cross_site(request, config)?;
    let name = channel_param(request.query)?;
    let release = match query_param(request.query, "release")?.as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(Error::BadRequest("query parameter `release` must be true or false".into())),
    };
    let session = session_of(config, request, now)?;
    let channel = authorize(&config.channels, &session, &name, request.country().as_deref())?;
    // No randomness: a device without an id holds nothing (the id it would get is unused).
    let device = device_of(request.header(DEVICE_HEADER), request.cookie, [0; RANDOM_BYTES])?;
    if !channel.device_limit || config.devices.is_none() {
        return Ok(HeartbeatPlan::Nothing);
    }
    if device.source == DeviceSource::New {
        return Ok(if release { HeartbeatPlan::Nothing } else { HeartbeatPlan::NoDevice });
    }
    let command = if release {
        Command::Release { device: device.id }
    } else {
        Command::Heartbeat { device: device.id, channel: channel_key(channel) }
    };
    Ok(HeartbeatPlan::Ask(Envelope { viewer_id: config.viewer_ids.viewer_id_for(&session), command }))
}

/// `POST /v1/heartbeat?channel=NAME`: `204` while the device holds its slot on that channel,
/// `409 device-evicted` once it does not; `&release=true` gives the slot up (the page closed).
pub(super) fn heartbeat_route(request: &Request<'_>, config: Result<&Config, &Error>, now: u64) -> Response {
    let config = match config {
        Ok(config) if config.devices.is_some() => config,
        _ => return Response::problem(&Error::NotFound),
    };
    let cors = cors_headers(config, request.origin);
    let mut response = match request.method {
        "OPTIONS" => preflight(
            HEARTBEAT_METHODS,
            !cors.is_empty(),
            HEARTBEAT_METHODS,
            format!("{}, {DEVICE_HEADER}", allowed_headers(config)),
        ),
        "POST" => heartbeat_answer(request, config, now),
        _ => Response::problem(&Error::MethodNotAllowed { allow: HEARTBEAT_METHODS }),
    };
    response.headers.push(("vary", "Origin, Cookie".into()));
    response.headers.extend(cors);
    response
}

fn heartbeat_answer(request: &Request<'_>, config: &Config, now: u64) -> Response {
    let no_content = || Response::new(204, vec![("cache-control", "no-store".into())], String::new());
    let mut response = match heartbeat_plan(request, config, now) {
        Err(error) => Response::problem(&error),
        Ok(HeartbeatPlan::Nothing) => no_content(),
        Ok(HeartbeatPlan::NoDevice) => Response::problem(&Error::DeviceEvicted),
        Ok(HeartbeatPlan::Ask(ask)) => match answer_for(request, &ask) {
            Some(LedgerAnswer::Replied(Reply::Heartbeat { state: Heartbeat::Evicted })) => {
                Response::problem(&Error::DeviceEvicted)
            }
            Some(LedgerAnswer::Replied(Reply::Heartbeat { state: Heartbeat::Held } | Reply::Released { .. })) => {
                no_content()
            }
            Some(LedgerAnswer::Unbound) => Response::problem(&unbound()),
            // Never stop a playing device because its ledger could not be asked.
            _ => {
                let mut response = no_content();
                response.ledger = Some("unreachable");
                response
            }
        },
    };
    response.channel = channel_param(request.query).ok();
    response
}

/// The operator API's gate: `404` without `ADMIN_API_TOKEN` (the API does not exist), the
/// method, then `401` without the right bearer token.
fn operator<'c>(
    request: &Request<'_>,
    config: Result<&'c Config, &Error>,
    methods: &'static str,
) -> std::result::Result<(&'c Config, &'c DeviceSettings), Response> {
    let config = config.map_err(|_| Response::problem(&Error::NotFound))?;
    let devices = config
        .devices
        .as_ref()
        .filter(|d| d.admin_token.is_some())
        .ok_or_else(|| Response::problem(&Error::NotFound))?;
    if !methods.split(", ").any(|m| m == request.method) {
        return Err(Response::problem(&Error::MethodNotAllowed { allow: methods }));
    }
    let authorized = devices.admin_token.as_ref().is_some_and(|token| token.authorizes(request.authorization));
    if !authorized {
        return Err(Response::problem(&Error::Unauthorized).with_header("www-authenticate", "Bearer"));
    }
    Ok((config, devices))
}

const NOT_LIMITED: &str =
    "field `channel` names a channel without a device limit; name a device-limited one, or leave it out (every channel)";

/// The revoke command of `POST /v1/admin/revoke` (after the gate, [`operator`]).
fn revoke_command(request: &Request<'_>, config: &Config) -> Result<Envelope> {
    let body = crate::device::admin::parse_revoke(request.body)?;
    let channel = match &body.channel {
        None => None,
        Some(name) => match config.channels.get(name) {
            Some(channel) if channel.device_limit => Some(channel_key(channel)),
            Some(_) => return Err(Error::BadRequest(NOT_LIMITED.into())),
            None => return Err(Error::UnknownChannel(name.clone())),
        },
    };
    let channels = config.limited_channels().into_iter().map(ChannelKey::from).collect();
    let command = Command::Revoke { channel, channels, block_seconds: body.block_seconds };
    Ok(Envelope { viewer_id: config.viewer_ids.viewer_id(body.issuer.as_deref(), &body.sub), command })
}

/// `POST /v1/admin/revoke`: revoke every device of a viewer at IVS (on one channel or all),
/// free their slots, and optionally block the viewer. `202` with what was queued.
pub(super) fn revoke_route(request: &Request<'_>, config: Result<&Config, &Error>) -> Response {
    let (config, _) = match operator(request, config, REVOKE_METHODS) {
        Ok(found) => found,
        Err(response) => return response,
    };
    let ask = match revoke_command(request, config) {
        Ok(ask) => ask,
        Err(error) => return Response::problem(&error),
    };
    match answer_for(request, &ask) {
        Some(LedgerAnswer::Replied(Reply::Revoked { revoked })) => {
            let mut channels = revoked.channels.clone();
            channels.sort();
            Response::json(
                202,
                serde_json::json!({
                    "viewer_id": ask.viewer_id,
                    "devices": revoked.devices,
                    "channels": channels,
                    "version": revoked.version,
                    "blocked_until": revoked.blocked_until,
                }),
            )
        }
        Some(LedgerAnswer::Unbound) => Response::problem(&unbound()),
        _ => Response::problem(&Error::LedgerUnavailable),
    }
}

/// The list command of `GET /v1/admin/devices?sub=SUBJECT[&issuer=URL]` (after the gate, [`operator`]).
fn list_command(request: &Request<'_>, config: &Config, devices: &DeviceSettings) -> Result<Envelope> {
    let command = Command::List { idle_seconds: devices.limits.idle_seconds };
    if request.method == "POST" {
        let (sub, issuer) = crate::device::admin::parse_list(request.body)?;
        return Ok(Envelope { viewer_id: config.viewer_ids.viewer_id(issuer.as_deref(), &sub), command });
    }
    let sub =
        query_param(request.query, "sub")?.filter(|sub| crate::device::admin::is_subject(sub)).ok_or_else(|| {
            Error::BadRequest("query parameter `sub` is required: the viewer's subject (1 to 256 characters)".into())
        })?;
    let issuer = query_param(request.query, "issuer")?;
    if let Some(issuer) = &issuer {
        crate::identity::provider::check_issuer(issuer).map_err(|_| {
            Error::BadRequest(
                "query parameter `issuer` must be an identity provider's issuer, exactly as its tokens' `iss`".into(),
            )
        })?;
    }
    Ok(Envelope { viewer_id: config.viewer_ids.viewer_id(issuer.as_deref(), &sub), command })
}

/// `GET /v1/admin/devices?sub=SUBJECT[&issuer=URL]` (or `POST` with `{"sub", "issuer"?}`, which
/// keeps the subject out of URLs that request logs keep): a viewer's devices (channels, since when,
/// last seen, idle), the revocations still owed to IVS, and any block, for support staff.
pub(super) fn devices_route(request: &Request<'_>, config: Result<&Config, &Error>) -> Response {
    let (config, devices) = match operator(request, config, DEVICES_METHODS) {
        Ok(found) => found,
        Err(response) => return response,
    };
    let ask = match list_command(request, config, devices) {
        Ok(ask) => ask,
        Err(error) => return Response::problem(&error),
    };
    match answer_for(request, &ask) {
        Some(LedgerAnswer::Replied(Reply::Devices {
            devices,
            pending_revocations,
            blocked_until,
            blocked_channels,
        })) => Response::json(
            200,
            serde_json::json!({
                "viewer_id": ask.viewer_id,
                "devices": devices,
                "pending_revocations": pending_revocations,
                "blocked_until": blocked_until,
                "blocked_channels": blocked_channels,
            }),
        ),
        Some(LedgerAnswer::Unbound) => Response::problem(&unbound()),
        _ => Response::problem(&Error::LedgerUnavailable),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::claims::verify;
    use crate::config::tests::{device_settings, settings, ADMIN_TOKEN};
    use crate::config::{names, Config};
    use crate::device::ledger::{Decision, Ledger};
    use crate::device::object::{apply, LedgerExchange};
    use crate::http::tests::{body, cookie_for, NOW};
    use crate::http::{handle, log_line};
    use crate::identity::session_cookie::SessionClaims;
    use std::collections::BTreeMap;

    /// The Workers layer in miniature: ask the viewer's ledger what `ledger_ask` says, hand the
    /// answer to `handle`. Ledgers are kept by viewer id, like the objects.
    struct Edge {
        config: Config,
        ledgers: BTreeMap<String, Ledger>,
    }

    struct Call<'a> {
        method: &'a str,
        target: &'a str,
        cookie: Option<&'a str>,
        device: Option<&'a str>,
        authorization: Option<&'a str>,
        body: &'a [u8],
        now: u64,
        random: u8,
        /// `Sec-Fetch-Site`, as a browser sends it.
        fetch_site: Option<&'a str>,
        origin: Option<&'a str>,
    }

    impl<'a> Call<'a> {
        fn get(target: &'a str, cookie: &'a str) -> Self {
            Self {
                method: "GET",
                target,
                cookie: Some(cookie),
                device: None,
                authorization: None,
                body: b"",
                now: NOW,
                random: 1,
                fetch_site: None,
                origin: None,
            }
        }
    }

    impl Edge {
        fn new(settings: crate::config::Settings) -> Self {
            Self { config: Config::load(&settings).unwrap(), ledgers: BTreeMap::new() }
        }

        fn call(&mut self, call: Call<'_>) -> Response {
            let mut headers: Vec<(&str, &str)> = call.device.map(|d| vec![("x-device-id", d)]).unwrap_or_default();
            headers.extend(call.fetch_site.map(|site| ("sec-fetch-site", site)));
            let mut request = Request::new(call.method, call.target);
            request.cookie = call.cookie;
            request.origin = call.origin;
            request.host = Some("tv.example");
            request.headers = &headers;
            request.authorization = call.authorization;
            request.body = call.body;
            let random = [call.random; 32];
            let exchange = ledger_ask(&request, Ok(&self.config), call.now, random).map(|ask| {
                let ledger = self.ledgers.entry(ask.viewer_id.clone()).or_insert_with(|| Ledger::new(&ask.viewer_id));
                let reply = apply(ledger, &ask.command, call.now);
                LedgerExchange { ask, answer: LedgerAnswer::Replied(reply) }
            });
            request.ledger = exchange.as_ref();
            let response = handle(&request, Ok(&self.config), call.now, random);
            assert!(!log_line(&request, &response, 1.0).contains("alice"), "logs name viewers by id only");
            response
        }
    }

    fn refusing() -> crate::config::Settings {
        device_settings()
            .with(names::DEVICE_LIMITS, r#"{"default": 1, "groups": {"family": 2}}"#)
            .with(names::ADMIN_API_TOKEN, ADMIN_TOKEN)
    }

    fn device_cookie_of(response: &Response) -> String {
        let set = response.header("set-cookie").expect("a device cookie");
        assert!(set.starts_with("ivs_device=") && set.contains("HttpOnly") && set.contains("Secure"), "{set}");
        set.split(';').next().unwrap().to_owned()
    }

    fn version_of(edge: &Edge, response: &Response) -> i64 {
        let token = body(response)["token"].as_str().unwrap().to_owned();
        let claims = verify(&token, &[edge.config.key.public_key()], NOW).unwrap().claims;
        claims["aws:viewer-session-version"].as_i64().unwrap()
    }

    #[test]
    fn a_second_device_is_refused_until_it_takes_over() {
        let mut edge = Edge::new(refusing());
        let alice = cookie_for(&SessionClaims::new("alice", NOW, 3600));
        let tv = edge.call(Call::get("/v1/token?channel=demo", &alice));
        assert_eq!(tv.status, 200, "{}", tv.body);
        let tv_cookie = format!("{alice}; {}", device_cookie_of(&tv));
        let tv_version = version_of(&edge, &tv);

        // The same device again (a renewal): same version, no new slot.
        let renewed = edge.call(Call { now: NOW + 5, random: 2, ..Call::get("/v1/token?channel=demo", &tv_cookie) });
        assert_eq!((renewed.status, version_of(&edge, &renewed)), (200, tv_version));

        // A second browser: refused with the count, and it gets its own device cookie.
        let phone = edge.call(Call { now: NOW + 6, random: 3, ..Call::get("/v1/token?channel=demo", &alice) });
        assert_eq!(phone.status, 403, "{}", phone.body);
        assert_eq!(body(&phone)["type"], "urn:ivs-token-worker:problem:device-limit");
        assert!(body(&phone)["detail"].as_str().unwrap().starts_with("1 of 1 devices"));
        let phone_cookie = format!("{alice}; {}", device_cookie_of(&phone));

        // It takes over: admitted with a higher version; the TV's heartbeat says it was evicted.
        let taken = edge.call(Call {
            now: NOW + 7,
            random: 4,
            ..Call::get("/v1/token?channel=demo&takeover=true", &phone_cookie)
        });
        assert_eq!(taken.status, 200, "{}", taken.body);
        assert!(version_of(&edge, &taken) > tv_version);
        let beat = |edge: &mut Edge, cookie: &str| {
            edge.call(Call { method: "POST", now: NOW + 8, ..Call::get("/v1/heartbeat?channel=demo", cookie) }).status
        };
        assert_eq!(beat(&mut edge, &tv_cookie), 409);
        assert_eq!(beat(&mut edge, &phone_cookie), 204);
        let ledger = edge.ledgers.values().next().unwrap();
        assert_eq!(ledger.revocations.len(), 1, "the TV's revocation is queued");
        assert_eq!(ledger.revocations[0].version, tv_version);
    }

    #[test]
    fn bad_device_ids_and_takeover_values_change_nothing() {
        let mut edge = Edge::new(refusing());
        let alice = cookie_for(&SessionClaims::new("alice", NOW, 3600));
        for device in ["short", "has space inside", "\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}", &"x".repeat(65)]
        {
            let r = edge.call(Call { device: Some(device), ..Call::get("/v1/token?channel=demo", &alice) });
            assert_eq!(r.status, 400, "{device:?}");
            assert!(body(&r)["detail"].as_str().unwrap().contains("X-Device-Id"));
            assert!(r.header("set-cookie").is_none());
        }
        let r = edge.call(Call::get("/v1/token?channel=demo&takeover=yes", &alice));
        assert_eq!(
            (r.status, body(&r)["detail"].as_str().unwrap()),
            (400, "query parameter `takeover` must be true or false")
        );
        assert!(edge.ledgers.is_empty(), "no ledger was asked");
        // A native app names its device: no cookie is set for it.
        let app = edge.call(Call { device: Some("app-install-0001"), ..Call::get("/v1/token?channel=demo", &alice) });
        assert_eq!(app.status, 200);
        assert!(app.header("set-cookie").is_none());
        assert_eq!(edge.ledgers.values().next().unwrap().devices[0].id, "app-install-0001");
    }

    #[test]
    fn groups_raise_the_limit_and_unlimited_channels_are_untouched() {
        let mut edge = Edge::new(refusing());
        let mut family = SessionClaims::new("bob", NOW, 3600);
        family.groups = Some(vec!["family".into()]);
        let bob = cookie_for(&family);
        for (i, expected) in [(1u8, 200), (2, 200), (3, 403)] {
            let r = edge.call(Call { random: i, ..Call::get("/v1/token?channel=demo", &bob) });
            assert_eq!(r.status, expected, "device {i}");
        }
        // `open` opted out (device_limit = false): any number of devices, no cookie, no ledger call.
        let r = edge.call(Call { random: 9, ..Call::get("/v1/token?channel=open", &bob) });
        assert_eq!(r.status, 200);
        assert!(r.header("set-cookie").is_none());
        assert_eq!(edge.ledgers.values().next().unwrap().devices.len(), 2);
    }

    #[test]
    fn the_watch_page_says_it_in_words_and_offers_to_watch_here() {
        let mut edge = Edge::new(refusing());
        let alice = cookie_for(&SessionClaims::new("alice", NOW, 3600));
        let first = edge.call(Call::get("/watch/demo", &alice));
        assert_eq!(first.status, 200);
        assert!(first.body.contains("\"heartbeat\":{\"endpoint\":\"/v1/heartbeat?channel=demo\""));
        device_cookie_of(&first);
        let second = edge.call(Call { random: 5, ..Call::get("/watch/demo", &alice) });
        assert_eq!(second.status, 403);
        assert!(second.body.contains("Already watching on other devices"));
        assert!(second.body.contains(
            "<form method=\"post\" action=\"/watch/demo?takeover=true\"><button type=\"submit\">Watch here instead</button></form>"
        ));
        assert!(second.header("content-security-policy").unwrap().contains("form-action 'self'"));
        let second_cookie = format!("{alice}; {}", device_cookie_of(&second));
        let taken = edge.call(Call {
            method: "POST",
            random: 6,
            fetch_site: Some("same-origin"),
            ..Call::get("/watch/demo?takeover=true", &second_cookie)
        });
        assert_eq!((taken.status, taken.header("location")), (303, Some("/watch/demo")), "{}", taken.body);
        let watching = edge.call(Call { random: 7, ..Call::get("/watch/demo", &second_cookie) });
        assert_eq!(watching.status, 200, "the device that took over plays");
        let unlimited = edge.call(Call::get("/watch/open", &alice));
        assert!(!unlimited.body.contains("\"heartbeat\":"));
    }

    /// Issue 22, finding 5: a takeover evicts (and revokes at IVS) the account's oldest device,
    /// so a link on another site (or a `return_to` after sign-in) must not be able to make one.
    #[test]
    fn a_takeover_is_a_same_origin_post_never_a_link() {
        let mut edge = Edge::new(refusing().with(names::ALLOWED_ORIGINS, "https://app.example"));
        let alice = cookie_for(&SessionClaims::new("alice", NOW, 3600));
        let first = edge.call(Call::get("/watch/demo", &alice));
        let first_cookie = format!("{alice}; {}", device_cookie_of(&first));
        let second = edge.call(Call { random: 5, ..Call::get("/watch/demo", &alice) });
        let second_cookie = format!("{alice}; {}", device_cookie_of(&second));
        let holders = |edge: &Edge| edge.ledgers.values().next().unwrap().devices.len();
        // A top-level GET, from any site, with `takeover=true`: the page is refused, nothing moves.
        for site in [None, Some("cross-site"), Some("same-origin")] {
            let r = edge.call(Call { fetch_site: site, ..Call::get("/watch/demo?takeover=true", &second_cookie) });
            assert_eq!(r.status, 403, "{site:?}: {}", r.body);
            assert!(r.body.contains("Already watching on other devices"));
        }
        // The API's takeover from a navigation or form on another site: refused.
        let cross = |method: &'static str, target: &'static str, origin: Option<&'static str>| Call {
            method,
            fetch_site: Some("cross-site"),
            origin,
            ..Call::get(target, &second_cookie)
        };
        for call in [
            cross("GET", "/v1/token?channel=demo&takeover=true", None),
            cross("GET", "/v1/token?channel=demo&takeover=true", Some("https://evil.example")),
            cross("POST", "/watch/demo?takeover=true", None),
            cross("POST", "/v1/heartbeat?channel=demo&release=true", Some("https://evil.example")),
        ] {
            let (method, target) = (call.method, call.target);
            let r = edge.call(call);
            assert_eq!((r.status, r.problem), (403, Some("cross-site-request")), "{method} {target}: {}", r.body);
        }
        assert_eq!(holders(&edge), 1, "nothing changed");
        let r = edge.call(Call { random: 8, ..Call::get("/v1/token?channel=demo", &first_cookie) });
        assert_eq!(r.status, 200, "the first device still holds its slot");
        // An app in ALLOWED_ORIGINS may (CORS), and so may a client that sends no Sec-Fetch-Site.
        let allowed = edge.call(Call {
            fetch_site: Some("cross-site"),
            origin: Some("https://app.example"),
            ..Call::get("/v1/token?channel=demo&takeover=true", &second_cookie)
        });
        assert_eq!(allowed.status, 200, "{}", allowed.body);
        let app = edge.call(Call { random: 9, ..Call::get("/v1/token?channel=demo&takeover=true", &first_cookie) });
        assert_eq!(app.status, 200, "{}", app.body);
        // Without DEVICE_LIMITS the page takes no POST at all.
        let plain = handle(&Request::new("POST", "/watch/demo"), Ok(&crate::http::tests::config()), NOW, [0; 32]);
        assert_eq!((plain.status, plain.header("allow")), (405, Some("GET, HEAD")));
    }

    #[test]
    fn heartbeats_and_release() {
        let mut edge = Edge::new(refusing());
        let alice = cookie_for(&SessionClaims::new("alice", NOW, 3600));
        let post = |edge: &mut Edge, target: &str, cookie: &str, now: u64| {
            edge.call(Call { method: "POST", now, ..Call::get(target, cookie) })
        };
        // Without a device id nothing is held.
        assert_eq!(post(&mut edge, "/v1/heartbeat?channel=demo", &alice, NOW).status, 409);
        let tv = edge.call(Call::get("/v1/token?channel=demo", &alice));
        let tv_cookie = format!("{alice}; {}", device_cookie_of(&tv));
        assert_eq!(post(&mut edge, "/v1/heartbeat?channel=demo", &tv_cookie, NOW + 80).status, 204);
        // Kept alive by heartbeats past the idle time: a new device is still refused.
        let other = edge.call(Call { now: NOW + 120, random: 7, ..Call::get("/v1/token?channel=demo", &alice) });
        assert_eq!(other.status, 403);
        // The page closes: the slot goes to the next device, and the closed one is revoked.
        assert_eq!(post(&mut edge, "/v1/heartbeat?channel=demo&release=true", &tv_cookie, NOW + 121).status, 204);
        let other = edge.call(Call { now: NOW + 122, random: 7, ..Call::get("/v1/token?channel=demo", &alice) });
        assert_eq!(other.status, 200);
        assert_eq!(post(&mut edge, "/v1/heartbeat?channel=demo", &tv_cookie, NOW + 123).status, 409);
        for (target, status) in [
            ("/v1/heartbeat?channel=demo&release=maybe", 400),
            ("/v1/heartbeat", 400),
            ("/v1/heartbeat?channel=nope", 404),
            ("/v1/heartbeat?channel=open", 204),
        ] {
            assert_eq!(post(&mut edge, target, &tv_cookie, NOW + 124).status, status, "{target}");
        }
        assert_eq!(edge.call(Call::get("/v1/heartbeat?channel=demo", &alice)).status, 405);
        let anonymous = edge.call(Call { method: "POST", cookie: None, ..Call::get("/v1/heartbeat?channel=demo", "") });
        assert_eq!(anonymous.status, 401);
    }

    /// Issue 22, finding 2: the Workers layer reads a body only for the operator API's POSTs,
    /// only where the route exists and only once the bearer token passed, and never past
    /// [`crate::device::admin::MAX_BODY_BYTES`].
    #[test]
    fn a_body_is_read_only_after_the_operator_gate() {
        let limited = Config::load(&refusing()).unwrap();
        let plain = crate::http::tests::config();
        let bearer = format!("Bearer {ADMIN_TOKEN}");
        let limit = |config: &Config, method: &str, target: &str, authorization: Option<&str>| {
            let mut request = Request::new(method, target);
            request.authorization = authorization;
            crate::http::body_limit(&request, Ok(config))
        };
        let max = Some(crate::device::admin::MAX_BODY_BYTES);
        assert_eq!(limit(&limited, "POST", "/v1/admin/revoke", Some(&bearer)), max);
        assert_eq!(limit(&limited, "POST", "/v1/admin/devices", Some(&bearer)), max);
        for (config, method, target, authorization) in [
            (&limited, "POST", "/v1/admin/revoke", None),
            (&limited, "POST", "/v1/admin/revoke", Some("Bearer wrong")),
            (&limited, "PUT", "/v1/admin/revoke", Some(bearer.as_str())),
            (&limited, "GET", "/v1/admin/devices", Some(bearer.as_str())),
            (&limited, "POST", "/v1/admin/devices", None),
            (&limited, "POST", "/v1/heartbeat", Some(bearer.as_str())),
            (&limited, "POST", "/watch/demo", Some(bearer.as_str())),
            (&plain, "POST", "/v1/admin/revoke", Some(bearer.as_str())),
            (&plain, "POST", "/nope", None),
        ] {
            assert_eq!(limit(config, method, target, authorization), None, "{method} {target} {authorization:?}");
        }
        let error = Config::load(&settings().with(names::CHANNELS, "{}")).unwrap_err();
        let mut request = Request::new("POST", "/v1/admin/revoke");
        request.authorization = Some(&bearer);
        assert_eq!(crate::http::body_limit(&request, Err(&error)), None, "a misconfigured worker reads nothing");
        let r = crate::http::too_large(crate::device::admin::MAX_BODY_BYTES);
        assert_eq!((r.status, r.problem), (413, Some("payload-too-large")));
        assert!(body(&r)["detail"].as_str().unwrap().contains("4096 bytes"));
    }

    #[test]
    fn the_operator_revokes_blocks_and_lists() {
        let mut edge = Edge::new(refusing());
        let alice = cookie_for(&SessionClaims::new("alice", NOW, 3600));
        let tv = edge.call(Call::get("/v1/token?channel=demo", &alice));
        assert_eq!(tv.status, 200);
        let bearer = format!("Bearer {ADMIN_TOKEN}");
        let admin = |edge: &mut Edge, method: &str, target: &str, authorization: Option<&str>, body: &[u8]| {
            edge.call(Call { method, authorization, body, now: NOW + 10, cookie: None, ..Call::get(target, "") })
        };
        let listed = admin(&mut edge, "GET", "/v1/admin/devices?sub=alice", Some(&bearer), b"");
        assert_eq!(listed.status, 200, "{}", listed.body);
        assert_eq!(body(&listed)["devices"].as_array().unwrap().len(), 1);
        assert_eq!(body(&listed)["devices"][0]["channels"], serde_json::json!(["demo"]));
        // Issue 22: the same listing with the subject in a body, out of URLs that request logs keep.
        let posted = admin(&mut edge, "POST", "/v1/admin/devices", Some(&bearer), br#"{"sub": "alice"}"#);
        assert_eq!((posted.status, body(&posted)), (200, body(&listed)));
        for bad in [&b""[..], br#"{"sub": "alice", "channel": "demo"}"#, br#"{"issuer": "https://id.example"}"#] {
            let r = admin(&mut edge, "POST", "/v1/admin/devices", Some(&bearer), bad);
            assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(bad));
        }

        for (authorization, status) in [(None, 401), (Some("Bearer wrong"), 401), (Some(ADMIN_TOKEN), 401)] {
            let r = admin(&mut edge, "POST", "/v1/admin/revoke", authorization, br#"{"sub": "alice"}"#);
            assert_eq!(r.status, status);
            assert_eq!(r.header("www-authenticate"), Some("Bearer"));
        }
        for bad in [
            &b"not json"[..],
            br#"{"sub": 1}"#,
            br#"{"sub": "alice", "channel": "open"}"#,
            br#"{"sub": "alice", "x": 1}"#,
        ] {
            let r = admin(&mut edge, "POST", "/v1/admin/revoke", Some(&bearer), bad);
            assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(bad));
        }
        assert_eq!(edge.ledgers.values().next().unwrap().devices.len(), 1, "nothing changed");

        let revoked =
            admin(&mut edge, "POST", "/v1/admin/revoke", Some(&bearer), br#"{"sub": "alice", "block_seconds": 600}"#);
        assert_eq!(revoked.status, 202, "{}", revoked.body);
        let json = body(&revoked);
        assert_eq!(json["devices"].as_array().unwrap().len(), 1);
        assert_eq!(json["channels"], serde_json::json!(["demo", "vip"]));
        assert_eq!(json["blocked_until"], NOW + 10 + 600);
        assert!(!revoked.body.contains("alice"));
        let blocked = edge.call(Call { now: NOW + 20, ..Call::get("/v1/token?channel=demo", &alice) });
        assert_eq!(
            (blocked.status, body(&blocked)["type"].as_str().unwrap()),
            (403, "urn:ivs-token-worker:problem:viewer-blocked")
        );
        let after = edge.call(Call { now: NOW + 700, ..Call::get("/v1/token?channel=demo", &alice) });
        assert_eq!(after.status, 200);
        // A block of one channel: that channel only, and the listing says so.
        let one = br#"{"sub": "alice", "channel": "vip", "block_seconds": 60}"#;
        let r = edge.call(Call {
            method: "POST",
            authorization: Some(&bearer),
            body: one,
            now: NOW + 701,
            cookie: None,
            ..Call::get("/v1/admin/revoke", "")
        });
        assert_eq!((r.status, body(&r)["channels"].clone()), (202, serde_json::json!(["vip"])));
        let listed = edge.call(Call {
            authorization: Some(&bearer),
            now: NOW + 702,
            cookie: None,
            ..Call::get("/v1/admin/devices?sub=alice", "")
        });
        assert_eq!(body(&listed)["blocked_channels"], serde_json::json!({"vip": NOW + 761}));
        assert_eq!(body(&listed)["blocked_until"], serde_json::Value::Null);
        assert_eq!(admin(&mut edge, "DELETE", "/v1/admin/revoke", Some(&bearer), b"").status, 405);

        // Without ADMIN_API_TOKEN the operator API does not exist.
        let mut closed = Edge::new(device_settings());
        for path in ["/v1/admin/revoke", "/v1/admin/devices?sub=alice"] {
            assert_eq!(admin(&mut closed, "POST", path, Some(&bearer), b"{}").status, 404);
        }
    }

    #[test]
    fn an_unreachable_ledger_serves_logs_and_counts_and_a_missing_binding_says_so() {
        let config = Config::load(&refusing()).unwrap();
        let alice = cookie_for(&SessionClaims::new("alice", NOW, 3600));
        let mut request = Request::new("GET", "/v1/token?channel=demo");
        request.cookie = Some(&alice);
        let ask = ledger_ask(&request, Ok(&config), NOW, [1; 32]).expect("a limited channel asks the ledger");
        for answer in [LedgerAnswer::Unreachable("timeout".into()), LedgerAnswer::Unbound] {
            let exchange = LedgerExchange { ask: ask.clone(), answer: answer.clone() };
            let mut request = request;
            request.ledger = Some(&exchange);
            let response = handle(&request, Ok(&config), NOW, [1; 32]);
            let line = log_line(&request, &response, 1.0);
            if answer == LedgerAnswer::Unbound {
                assert_eq!(response.status, 500);
                assert!(body(&response)["detail"].as_str().unwrap().contains("DEVICE_LEDGER"));
            } else {
                assert_eq!(response.status, 200);
                let token = body(&response)["token"].as_str().unwrap().to_owned();
                let claims = verify(&token, &[config.key.public_key()], NOW).unwrap().claims;
                assert_eq!(claims["aws:viewer-session-version"], NOW);
                assert!(line.contains("\"ledger\":\"unreachable\""), "{line}");
            }
        }
        // An answer given for another command is not used for this one.
        let mut other = ask.clone();
        other.viewer_id = "someone-else".into();
        let exchange = LedgerExchange {
            ask: other,
            answer: LedgerAnswer::Replied(Reply::Decision { decision: Decision::Refused { in_use: 9, limit: 1 } }),
        };
        request.ledger = Some(&exchange);
        assert_eq!(handle(&request, Ok(&config), NOW, [1; 32]).status, 200);
    }
}
