//! Device limits, the product feature that limits how many devices one viewer watches on at once
//! and stops the evicted ones at IVS (issue 18; operator's guide: `docs/devices.md`). Everything
//! here is pure: the Durable Object, the routes and the IVS calls live in the glue and the HTTP
//! layer, built on this API.
//!
//! | module | part |
//! |---|---|
//! | [`settings`] | `DEVICE_LIMITS`: limits per group, the policy at the limit, idle time; [`settings::DeviceSettings`] as the configuration assembles it |
//! | [`id`] | the device of a request: `X-Device-Id`, the device cookie, a new id; `takeover` |
//! | [`ledger`] | one viewer's devices, versions and revocation queue, and every operation on them |
//! | [`object`] | the protocol of a viewer's Durable Object: commands, replies, and the decision as one pure function |
//! | `wire` | reading the ledger's, the commands' and the replies' JSON (written by serde's derived `Serialize`) |
//! | [`revocation`] | the IVS revocation calls: bodies, signed requests, answers |
//! | [`admin`] | the operator API: its bearer token, its bodies, the viewer they name |
//!
//! # How the pieces fit (for the glue and the routes)
//!
//! `config.devices` is `Some` only with `DEVICE_LIMITS`; a channel is limited when
//! `channel.device_limit` (then it is always viewer-bound). `config.limited_channels()` lists them
//! as [`ledger::ChannelRef`]s. One Durable Object per viewer, named by the viewer id
//! (`config.viewer_ids.viewer_id_for(&session)`, never the subject), holds one
//! [`ledger::Ledger`] (`Ledger::new(viewer_id)` the first time; it is plain serde: store it as JSON
//! after every operation, and take its log lines with `Ledger::take_events`, one JSON line each).
//! Time is Unix seconds from `Date.now()`; randomness from `crypto.getRandomValues`.
//!
//! **A token request on a limited channel** (`GET /v1/token`, the watch page):
//! 1. after `channel::policy::authorize`: `id::device_of(X-Device-Id, Cookie, random)` (a bad
//!    header is a 400 and nothing else happens) and `id::parse_takeover(query "takeover")`;
//! 2. the object runs `ledger.admit(&device.id, channel_ref, limits.policy_for(&session.groups),
//!    takeover, now)`, stores the ledger (evictions are queued in it before anything else),
//!    sets its alarm to `ledger.next_alarm()` when there is one, and answers the
//!    [`ledger::Decision`] (serde, tagged `decision`);
//! 3. the worker turns it into a version or an error with `Decision::into_result()`
//!    (`403 device-limit` with the count, `403 viewer-blocked`), and signs with
//!    `channel::policy::issue_admitted(.., version, ..)`; when `device.sets_cookie()`, it sets
//!    the cookie [`id::DEVICE_COOKIE`] for [`id::DEVICE_COOKIE_MAX_AGE`] (`HttpOnly`, `Secure`
//!    except on localhost, like the session cookie). The answer never waits on IVS.
//! 4. when the object cannot be reached, the documented policy serves anyway (and logs and
//!    counts it): sign with `ledger::unledgered_version(now)`.
//!
//! **A heartbeat** (`POST /v1/heartbeat?channel=NAME`): `ledger.heartbeat(device, channel, now)`:
//! [`ledger::Heartbeat::Held`] is a 204, `Evicted` a `409 device-evicted`
//! (`Error::DeviceEvicted`). A page that closes may call `ledger.release(device, now)`.
//!
//! **The alarm** (also run right after an admission that evicted): while
//! `ledger.due_revocations(now, ledger::MAX_BATCH)` gives a call, store the ledger (the call is
//! leased), send `revocation::signed_request(&call, &devices.credentials,
//! devices.ivs_endpoint.as_deref(), now)`, read the answer with `revocation::read_answer(&call,
//! status, x-amzn-ErrorType, body)` (no answer: `CallOutcome::Network(reason)`), apply it with
//! `ledger.revocation_result(&call, &outcome, now, random)`, store, log; then re-arm the alarm
//! at `ledger.next_alarm()`. Calls are spaced [`ledger::CALL_SPACING`] apart, so one call per
//! alarm is the simple schedule. An outbound fetch lets other requests into the object: never
//! hold the ledger borrowed across it; load, apply, store around each step.
//!
//! **The operator** (`POST /v1/admin/revoke`): 404 without `devices.admin_token`; else
//! `admin_token.authorizes(Authorization)` or a `401` (`Error::Unauthorized`);
//! `admin::parse_revoke(body)` (400s); `request.viewer.resolve(&config.identity.providers,
//! config.identity.sessions.is_some())` maps a `provider` to its issuer and refuses a bare
//! subject where there are providers (400s); the viewer id is `config.viewer_ids.viewer_id(
//! viewer.issuer.as_deref(), &viewer.sub)`, as the token routes derive it from a session; the channel, if named, must be a limited channel; then
//! `ledger.revoke_viewer(RevokeScope::Channel(c) | RevokeScope::Viewer(&config.limited_channels()),
//! block_seconds.map(|s| now + s), now)` answers a [`ledger::Revoked`]. `ledger.list(now,
//! idle_seconds)` lists the devices (channel, since, last seen, idle).

pub mod admin;
pub mod id;
pub mod ledger;
pub mod object;
pub mod revocation;
pub mod settings;
mod wire;
