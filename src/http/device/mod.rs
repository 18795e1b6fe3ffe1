//! Device limits over HTTP: the ledger step of `/v1/token` and `/watch/NAME` on a device-limited
//! channel, `POST /v1/heartbeat`, and the operator API (`POST /v1/admin/revoke`,
//! `GET /v1/admin/devices`).
//!
//! A viewer's devices live in a Durable Object that only the Workers layer can reach (an
//! `.await`), so the core answers such a request in two pure halves:
//! 1. [`ledger_ask`] says which command to send to which viewer's object (none for every other
//!    request); the request plan ([`super::plan`]) asks the Workers layer to send it and hands
//!    the answer back with the request;
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
use crate::device::admin::{Viewer, ViewerRef};
use crate::device::id::{
    device_of, parse_takeover, DeviceSource, RequestDevice, DEVICE_COOKIE, DEVICE_COOKIE_MAX_AGE, DEVICE_HEADER,
    RANDOM_BYTES,
};
use crate::device::ledger::{unledgered_version, ChannelRef, Heartbeat};
use crate::device::object::{ChannelKey, Command, Envelope, LedgerAnswer, Reply};
use crate::device::settings::DeviceSettings;
use crate::error::{Error, Result};
use crate::identity::Session;
use crate::isolate::IsolateState;
use sha2::{Digest, Sha256};

/// The Durable Object binding of the device ledgers (`wrangler.toml`).
pub const LEDGER_BINDING: &str = "DEVICE_LEDGER";

/// Methods of `/v1/heartbeat`.
const HEARTBEAT_METHODS: &str = "POST, OPTIONS";
/// Methods of `/v1/admin/revoke`.
const REVOKE_METHODS: &str = "POST";
/// Methods of `/v1/admin/unblock`.
const UNBLOCK_METHODS: &str = "POST";
/// Methods of `/v1/admin/devices` (POST: the subject in a body instead of the URL).
const DEVICES_METHODS: &str = "GET, HEAD, POST";

/// How much body an operator route may have read: none unless the route exists for this
/// deployment, its method takes a body and the operator's gate passed (bearer token), so an
/// anonymous body is never read at all; then at most the operator API's limit.
pub(super) fn operator_body_limit(request: &Request<'_>, config: Result<&Config, &Error>) -> Option<usize> {
    let (methods, _) = operator_command(Route::of(request.path))?;
    (request.method == "POST" && operator(request, config, methods).is_ok())
        .then_some(crate::device::admin::MAX_BODY_BYTES)
}

/// The command the plan asks the Workers layer to send to a viewer's object before
/// [`super::handle`] can answer `request`, if any. Pure and cheap: it derives what the route
/// derives, and nothing for a request the route will refuse anyway.
pub(super) fn ledger_ask(
    request: &Request<'_>,
    config: Result<&Config, &Error>,
    state: &IsolateState,
    now: u64,
    random: [u8; 32],
) -> Option<Envelope> {
    let config = config.ok()?;
    let devices = config.devices.as_ref()?;
    match (request.method, Route::of(request.path)) {
        ("GET" | "HEAD", Route::Token) => {
            let name = channel_param(request.query).ok()?;
            let session = session_of(config, state, request, now).ok()?;
            let channel = authorize(&config.channels, &session, &name, request.country().as_deref()).ok()?;
            admission(request, config, devices, channel, &session, random).ok()?.map(|(ask, _)| ask)
        }
        ("GET" | "HEAD" | "POST", Route::Watch(name)) => {
            let session = session_of(config, state, request, now).ok()?;
            let channel = authorize(&config.channels, &session, name, request.country().as_deref()).ok()?;
            admission(request, config, devices, channel, &session, random).ok()?.map(|(ask, _)| ask)
        }
        ("POST", Route::Heartbeat) => match heartbeat_plan(request, config, state, now).ok()? {
            HeartbeatPlan::Ask(ask) => Some(ask),
            HeartbeatPlan::Nothing | HeartbeatPlan::NoDevice => None,
        },
        // Through the operator's gate first, as the routes go: no token, no ledger call.
        (_, route @ (Route::AdminRevoke | Route::AdminUnblock | Route::AdminDevices)) => {
            let (methods, command) = operator_command(route)?;
            let (config, devices) = operator(request, Ok(config), methods).ok()?;
            command(request, config, devices).ok()
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
fn heartbeat_plan(request: &Request<'_>, config: &Config, state: &IsolateState, now: u64) -> Result<HeartbeatPlan> {
    refuse_cross_site(request, config)?;
    let name = channel_param(request.query)?;
    let release = match query_param(request.query, "release")?.as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(Error::BadRequest("query parameter `release` must be true or false".into())),
    };
    let session = session_of(config, state, request, now)?;
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
pub(super) fn heartbeat_route(
    request: &Request<'_>,
    config: Result<&Config, &Error>,
    state: &IsolateState,
    now: u64,
) -> Response {
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
        "POST" => heartbeat_answer(request, config, state, now),
        _ => Response::problem(&Error::MethodNotAllowed { allow: HEARTBEAT_METHODS }),
    };
    response.headers.push(("vary", "Origin, Cookie".into()));
    response.headers.extend(cors);
    response
}

fn heartbeat_answer(request: &Request<'_>, config: &Config, state: &IsolateState, now: u64) -> Response {
    let no_content = || Response::new(204, vec![("cache-control", "no-store".into())], String::new());
    let mut response = match heartbeat_plan(request, config, state, now) {
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
    // A misconfigured worker says so (as /healthz does), not "no such path": an operator acting
    // during a show must see why the call failed.
    let config = config.map_err(Response::problem)?;
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

/// How an operator command is derived from its request (after the gate, [`operator`]).
type OperatorCommand = fn(&Request<'_>, &Config, &DeviceSettings) -> Result<Envelope>;

/// The methods and the command of an operator route: one table for the routes and for
/// [`ledger_ask`], so the command asked for is the one the route answers from.
fn operator_command(route: Route<'_>) -> Option<(&'static str, OperatorCommand)> {
    Some(match route {
        Route::AdminRevoke => (REVOKE_METHODS, revoke_command),
        Route::AdminUnblock => (UNBLOCK_METHODS, unblock_command),
        Route::AdminDevices => (DEVICES_METHODS, list_command),
        _ => return None,
    })
}

/// An operator route: the gate, its command, and the ledger's answer to exactly that command,
/// which `reply` turns into the route's answer (`None`: not this command's reply).
fn operator_route(
    request: &Request<'_>,
    config: Result<&Config, &Error>,
    reply: impl FnOnce(&Envelope, &Reply) -> Option<Response>,
) -> Response {
    let Some((methods, command)) = operator_command(Route::of(request.path)) else {
        return Response::problem(&Error::NotFound);
    };
    let (config, devices) = match operator(request, config, methods) {
        Ok(found) => found,
        Err(response) => return response,
    };
    let ask = match command(request, config, devices) {
        Ok(ask) => ask,
        Err(error) => return Response::problem(&error),
    };
    match answer_for(request, &ask) {
        Some(LedgerAnswer::Replied(answer)) => {
            reply(&ask, answer).unwrap_or_else(|| Response::problem(&Error::LedgerUnavailable))
        }
        Some(LedgerAnswer::Unbound) => Response::problem(&unbound()),
        _ => Response::problem(&Error::LedgerUnavailable),
    }
}

const NOT_LIMITED: &str =
    "field `channel` names a channel without a device limit; name a device-limited one, or leave it out (every channel)";

/// The revoke command of `POST /v1/admin/revoke` (after the gate, [`operator`]).
fn revoke_command(request: &Request<'_>, config: &Config, _: &DeviceSettings) -> Result<Envelope> {
    let body = crate::device::admin::parse_revoke(request.body)?;
    let viewer_id = operator_viewer(config, &body.viewer)?.0;
    let channel = match &body.channel {
        None => None,
        Some(name) => match config.channels.get(name) {
            Some(channel) if channel.device_limit => Some(channel_key(channel)),
            Some(_) => return Err(Error::BadRequest(NOT_LIMITED.into())),
            None => return Err(Error::UnknownChannel(name.clone())),
        },
    };
    let channels = config.limited_channels().into_iter().map(ChannelKey::from).collect();
    // One kick for video and chat: the rooms of the channels in scope (every room without one).
    let mut rooms: Vec<String> = config
        .channels
        .values()
        .filter(|c| body.channel.as_ref().is_none_or(|name| name == &c.name))
        .filter_map(|c| c.chat.as_ref().map(|room| room.arn.clone()))
        .collect();
    rooms.sort();
    rooms.dedup();
    let command = Command::Revoke { channel, channels, block_seconds: body.block_seconds, rooms };
    Ok(Envelope { viewer_id, command })
}

/// The viewer an operator call names, resolved against the deployment's identity providers (a
/// `provider` is mapped to its issuer; a bare subject is refused where there are providers), and
/// its viewer id, derived exactly as the token routes derive it from a session.
fn operator_viewer(config: &Config, viewer: &ViewerRef) -> Result<(String, Viewer)> {
    let viewer = viewer.resolve(&config.identity.providers, config.identity.sessions.is_some())?;
    Ok((config.viewer_ids.viewer_id(viewer.issuer.as_deref(), &viewer.sub), viewer))
}

/// The unblock command of `POST /v1/admin/unblock` (after the gate, [`operator`]).
fn unblock_command(request: &Request<'_>, config: &Config, _: &DeviceSettings) -> Result<Envelope> {
    let (viewer, channel) = crate::device::admin::parse_unblock(request.body)?;
    let viewer_id = operator_viewer(config, &viewer)?.0;
    if let Some(name) = &channel {
        if !config.channels.contains_key(name) {
            return Err(Error::UnknownChannel(name.clone()));
        }
    }
    Ok(Envelope { viewer_id, command: Command::Unblock { channel } })
}

/// `POST /v1/admin/unblock`: lift an operator's block of a viewer (of one channel, or every block),
/// the undo of a revoke's `block_seconds`. `200` with the blocks left and whether one was lifted.
pub(super) fn unblock_route(request: &Request<'_>, config: Result<&Config, &Error>) -> Response {
    operator_route(request, config, |ask, reply| match reply {
        Reply::Unblocked { unblocked } => Some(Response::json(
            200,
            serde_json::json!({
                "viewer_id": ask.viewer_id,
                "lifted": unblocked.lifted,
                "blocked_until": unblocked.blocked_until,
                "blocked_channels": unblocked.blocked_channels,
            }),
        )),
        _ => None,
    })
}

/// `POST /v1/admin/revoke`: revoke every device of a viewer at IVS (on one channel or all),
/// free their slots, and optionally block the viewer. `202` with what was queued.
pub(super) fn revoke_route(request: &Request<'_>, config: Result<&Config, &Error>) -> Response {
    operator_route(request, config, |ask, reply| match reply {
        Reply::Revoked { revoked } => {
            let mut channels = revoked.channels.clone();
            channels.sort();
            Some(Response::json(
                202,
                serde_json::json!({
                    "viewer_id": ask.viewer_id,
                    "devices": revoked.devices,
                    "channels": channels,
                    "version": revoked.version,
                    "blocked_until": revoked.blocked_until,
                    "chat_rooms": revoked.rooms,
                }),
            ))
        }
        _ => None,
    })
}

/// The viewer a listing names: `POST`'s body, or `GET`'s query (after the gate, [`operator`]).
fn listed_viewer(request: &Request<'_>, config: &Config) -> Result<(String, Viewer)> {
    let viewer = if request.method == "POST" {
        crate::device::admin::parse_list(request.body)?
    } else {
        let param = |name: &str| query_param(request.query, name);
        crate::device::admin::list_query(param("sub")?, param("provider")?, param("issuer")?, param("session_cookie")?)?
    };
    operator_viewer(config, &viewer)
}

/// The list command of `POST /v1/admin/devices` and `GET /v1/admin/devices?sub=SUBJECT&...`
/// (after the gate, [`operator`]).
fn list_command(request: &Request<'_>, config: &Config, devices: &DeviceSettings) -> Result<Envelope> {
    let command = Command::List { idle_seconds: devices.limits.idle_seconds };
    Ok(Envelope { viewer_id: listed_viewer(request, config)?.0, command })
}

/// `POST /v1/admin/devices` with `{"sub", "provider"?, "issuer"?, "session_cookie"?}` (or the older
/// `GET` with them as query parameters, in URLs that request logs may keep): a viewer's devices
/// (channels, since when, last seen, idle), the revocations still owed to IVS, any block, and which provider the viewer
/// is of (`provider`: its name, `session_cookie`, or `null` for an issuer no provider has), for
/// support staff.
pub(super) fn devices_route(request: &Request<'_>, config: Result<&Config, &Error>) -> Response {
    // Where the viewer comes from, as the request named it (the ledger does not keep it): used
    // only with the ledger's answer to the command derived from the same request.
    let source = config.ok().and_then(|config| listed_viewer(request, config).ok()).and_then(|(_, v)| v.source);
    operator_route(request, config, |ask, reply| match reply {
        Reply::Devices { devices, pending_revocations, blocked_until, blocked_channels } => Some(Response::json(
            200,
            serde_json::json!({
                "viewer_id": ask.viewer_id,
                "provider": source,
                "devices": devices,
                "pending_revocations": pending_revocations,
                "blocked_until": blocked_until,
                "blocked_channels": blocked_channels,
            }),
        )),
        _ => None,
    })
}

#[cfg(test)]
mod tests;
