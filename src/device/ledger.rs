//! The ledger of one viewer: the devices holding a slot, the channels each holds and the version
//! its tokens carry there, the revocations owed to IVS, and an operator's block. A Durable Object
//! per viewer keeps one [`Ledger`] in its storage and applies every operation here to it, one at
//! a time, saving the result before it answers or calls IVS.
//!
//! Everything is pure: `now` (Unix seconds) and randomness are arguments, so the whole state
//! machine is tested natively, object restarts included (the ledger serializes to JSON).
//!
//! # Slots
//!
//! A device holds one slot across every limited channel (the limit counts devices, not streams).
//! A device asking again (a reload, a renewal, another channel) keeps its slot. A new device is
//! admitted while fewer than `limit` devices hold slots. When all are held:
//!
//! - the slots of idle devices (silent for `idle_seconds`, or released) are given away first,
//!   oldest first, whatever the policy: an idle device no longer counts, but it may still be
//!   playing, so it is revoked exactly like an evicted one;
//! - then, if the devices still active fill the limit, `takeover=true` or `on_limit =
//!   "evict-oldest"` evicts the oldest active ones, otherwise the new device is refused with the
//!   count in use (and nothing changes: no idle device is revoked for a refusal).
//!
//! Lowering a limit evicts nobody: the devices beyond it keep their slots until a new device
//! arrives.
//!
//! # Versions
//!
//! IVS revokes by ceiling: `StartViewerSessionRevocation(channel, viewer, v)` stops every session
//! of that viewer on that channel whose `aws:viewer-session-version` is `<= v`, and, for a time IVS
//! does not document, refuses new ones. So:
//!
//! - every admission of a new device gets a version above every version this viewer was ever
//!   issued: `max(previous + 1, now)`, which keeps the meaning "revoke every session started
//!   before time T" (`<= T`) and stays within IVS's 32-bit integer until 2038-01-19; a version
//!   never runs more than [`MAX_VERSION_LEAD`] seconds ahead of the clock (a viewer admitting
//!   devices faster than one a second, beyond a burst, is asked to wait: [`Decision::TooFast`]), so "before T"
//!   holds within that margin however fast an account churns devices;
//! - a device's tokens on every channel carry its admission version, and a renewal or a reload
//!   keeps it: a device's sessions on a channel are all `<= v`, so one revocation removes them
//!   all, and since versions follow admission order, revoking the oldest device on a channel
//!   (`<= v`) leaves every younger device there untouched;
//! - the ledger remembers the highest ceiling revoked on each channel; a token that would carry a
//!   version at or below it (which IVS would refuse) gets a fresh version instead.
//!
//! One case cannot be exact: when the slot of an idle device is given away and an *older* active
//! device holds the same channel, the ceiling that stops the idle device stops the older one there
//! too. The ledger reports it (`collateral-revocation`), and that device's next token on the
//! channel carries a fresh version, so a reload or renewal plays again.
//!
//! # Revocations
//!
//! Every eviction queues one [`Revocation`] per channel the device held, before anything else
//! happens. [`Ledger::due_revocations`] hands out one IVS call at a time (a single
//! `StartViewerSessionRevocation`, or a `BatchStartViewerSessionRevocation` of up to 20 channels,
//! all in one region, entries on the same channel merged into their highest ceiling), at most one
//! per [`CALL_SPACING`] seconds per viewer, and leases it for [`LEASE_SECONDS`]: an object that
//! restarts mid-call sends it again once the lease ends (revocations are idempotent).
//! [`Ledger::revocation_result`] removes what IVS accepted, retries throttling, server errors,
//! network errors and access errors with exponential backoff and jitter (nothing is ever dropped
//! for those), and drops only what IVS can never accept (validation, unknown channel), saying why.
//! [`Ledger::next_alarm`] is when the object's alarm should fire next.
//!
//! ```
//! use ivs_token_worker::device::ledger::{ChannelRef, Decision, Ledger, Policy};
//! use ivs_token_worker::device::settings::OnLimit;
//! let demo = ChannelRef { name: "demo", arn: "arn:aws:ivs:us-west-2:123456789012:channel/demo1" };
//! let policy = Policy { limit: 1, on_limit: OnLimit::Refuse, idle_seconds: 90 };
//! let mut ledger = Ledger::new("5bdcc146bf60754e6a042426089575c75a003f08");
//! let tv = ledger.admit("tv-livingroom", demo, policy, false, 1_800_000_000);
//! assert!(matches!(tv, Decision::Admitted { version: 1_800_000_000, .. }));
//! let phone = ledger.admit("phone-1234", demo, policy, false, 1_800_000_010);
//! assert_eq!(phone, Decision::Refused { in_use: 1, limit: 1 });
//! let phone = ledger.admit("phone-1234", demo, policy, true, 1_800_000_020);
//! assert!(matches!(&phone, Decision::Admitted { version: 1_800_000_020, evicted, .. } if evicted == &["tv-livingroom"]));
//! let call = ledger.due_revocations(1_800_000_020, 20).unwrap();
//! assert_eq!(call.pairs[0].version, 1_800_000_000);
//! ```

use super::id::device_digest;
use super::settings::OnLimit;
pub use super::settings::Policy;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How far ahead of the clock a version may run, in seconds: versions rise by one for each new
/// device, so an account that admits devices faster than one a second would otherwise push them
/// ever further ahead, and "revoke every session started before T" would miss the newest. 15
/// leaves room for a burst (a family's devices opened together, a dozen concurrent takeovers)
/// and bounds the margin an operator revoking by hand adds to T.
pub const MAX_VERSION_LEAD: i64 = 15;

/// IVS's version is a 32-bit integer: no version above this is issued.
pub const MAX_VERSION: i64 = i32::MAX as i64;
/// The most channels in one `BatchStartViewerSessionRevocation`.
pub const MAX_BATCH: usize = 20;
/// Seconds between two IVS calls of one viewer's object (IVS allows 2 batch and about 10 single
/// calls per second per account and region; a viewer's object stays well below either).
pub const CALL_SPACING: u64 = 1;
/// How long a handed-out call is leased before it may be handed out again.
pub const LEASE_SECONDS: u64 = 60;
/// The first retry waits up to this long (then 2x per attempt).
pub const BACKOFF_BASE: u64 = 2;
/// No retry waits longer than this.
pub const BACKOFF_MAX: u64 = 300;
/// Queued revocations beyond this are merged per channel (highest ceiling kept).
pub const MAX_QUEUE: usize = 256;
/// Device ids kept per merged revocation, for its log lines.
const MAX_DEVICES_NAMED: usize = 20;

/// A channel as the ledger knows it: its name (for logs and heartbeats) and its ARN (what IVS
/// revokes on).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelRef<'a> {
    /// The channel's name in `CHANNELS`.
    pub name: &'a str,
    /// Its ARN.
    pub arn: &'a str,
}

/// One device holding a slot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    /// The device id.
    pub id: String,
    /// Its admission version: the version of its tokens on every channel unless one was revoked
    /// at or above it (see [`Hold::version`]).
    pub version: i64,
    /// When it was admitted, Unix seconds.
    pub admitted_at: u64,
    /// Its last token request or heartbeat, Unix seconds.
    pub last_seen: u64,
    /// It said it stopped ([`Ledger::release`]): idle until it asks again.
    #[serde(default)]
    pub released: bool,
    /// The channels it holds, by ARN.
    pub holds: BTreeMap<String, Hold>,
}

/// A device's hold on one channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    /// The channel's name when the hold began (for logs).
    pub channel: String,
    /// The version its tokens on this channel carry.
    pub version: i64,
    /// When it first got a token for this channel, Unix seconds.
    pub since: u64,
}

impl Device {
    fn is_idle(&self, now: u64, idle_seconds: u64) -> bool {
        self.released || now >= self.last_seen.saturating_add(idle_seconds)
    }
}

/// Why a device lost its slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    /// The oldest active device, evicted for a new one (`takeover=true` or `evict-oldest`).
    Evicted,
    /// An idle or released device whose slot was given to a new one.
    Idle,
    /// An operator revoked the viewer (`POST /v1/admin/revoke`).
    Operator,
}

/// One revocation owed to IVS: every session of the viewer on `channel_arn` at or below `version`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    /// Its id in this ledger.
    pub id: u64,
    /// The channel's ARN.
    pub channel_arn: String,
    /// The channel's name when queued (for logs).
    pub channel: String,
    /// The ceiling: `viewerSessionVersionsLessThanOrEqualTo`.
    pub version: i64,
    /// Why.
    pub reason: Reason,
    /// The devices it stops (for logs; empty for an operator's revocation of a channel).
    pub devices: Vec<String>,
    /// When it was queued.
    pub queued_at: u64,
    /// Failed attempts so far.
    pub attempts: u32,
    /// Not handed out before this time.
    pub next_attempt_at: u64,
    /// Handed out in a call until this time (then handed out again, unless answered).
    #[serde(default)]
    pub leased_until: Option<u64>,
    /// Send it in a call of its own channel only (a batch holding it was refused as invalid).
    #[serde(default)]
    pub alone: bool,
    /// The last failure, for logs and the operator's listing.
    #[serde(default)]
    pub last_error: Option<String>,
}

impl Revocation {
    fn is_due(&self, now: u64) -> bool {
        self.next_attempt_at <= now && self.leased_until.is_none_or(|until| until <= now)
    }

    /// The region of its channel (from the ARN).
    pub fn region(&self) -> &str {
        crate::ivs::parse_ivs_arn(&self.channel_arn, "channel").map_or("", |arn| arn.region)
    }
}

/// The answer to a token request on a limited channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "kebab-case")]
pub enum Decision {
    /// Sign the token with `aws:viewer-session-version` = `version`.
    Admitted {
        /// The version the token carries.
        version: i64,
        /// The device already held a slot (a renewal, a reload, another channel).
        renewed: bool,
        /// Devices that lost their slot to this one (their revocations are queued). For logs and
        /// the object only: the viewer's answer never says which devices or where.
        evicted: Vec<String>,
    },
    /// Every slot is held by an active device: `403 device-limit`.
    Refused {
        /// Active devices.
        in_use: usize,
        /// The viewer's limit.
        limit: u32,
    },
    /// An operator blocked the viewer (or this channel for them) until `until`: `403`.
    Blocked {
        /// Unix seconds.
        until: u64,
    },
    /// No version is left below IVS's 32-bit limit (from 2038-01-19): `500`.
    Exhausted,
    /// This viewer admitted new devices faster than one a second for a while: the next version
    /// would run more than [`MAX_VERSION_LEAD`] seconds ahead of the clock. `429`, retry then.
    TooFast {
        /// Seconds until a version is free again.
        retry_after: u64,
    },
}

impl Decision {
    /// The version to sign with, or the error to answer.
    pub fn into_result(self) -> Result<i64> {
        match self {
            Self::Admitted { version, .. } => Ok(version),
            Self::Refused { in_use, limit } => Err(Error::DeviceLimit { in_use, limit }),
            Self::Blocked { until } => Err(Error::ViewerBlocked { until }),
            Self::Exhausted => Err(Error::Internal(
                "no aws:viewer-session-version is left below 2^31 for this viewer; device limits need a new version scheme",
            )),
            Self::TooFast { retry_after } => Err(Error::TooManyNewDevices { retry_after }),
        }
    }
}

/// The answer to a heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Heartbeat {
    /// The device holds its slot on that channel: `204`.
    Held,
    /// It does not (any more): `409 device-evicted`.
    Evicted,
}

/// What an operator's revocation covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokeScope<'a> {
    /// Every channel: those given (every device-limited channel of the configuration) and every
    /// channel a device of the viewer holds. A block covers every channel.
    Viewer(&'a [ChannelRef<'a>]),
    /// One channel; a block covers that channel only.
    Channel(ChannelRef<'a>),
}

/// What an operator's revocation did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revoked {
    /// Devices that lost their slot.
    pub devices: Vec<String>,
    /// Channels a revocation was queued for.
    pub channels: Vec<String>,
    /// The ceiling revoked.
    pub version: i64,
    /// The block's end, if one was set.
    pub blocked_until: Option<u64>,
}

/// One IVS call: a single `StartViewerSessionRevocation` (one pair) or a
/// `BatchStartViewerSessionRevocation` (2 to 20 pairs), all in one region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevocationCall {
    /// The region every pair's channel is in: the endpoint and the signing scope.
    pub region: String,
    /// The (channel, viewer, ceiling) triples to send, one per channel.
    pub pairs: Vec<Pair>,
    /// The queued revocations the call covers (several may merge into one pair).
    pub ids: Vec<u64>,
}

impl RevocationCall {
    /// Whether it goes to `BatchStartViewerSessionRevocation`.
    pub fn is_batch(&self) -> bool {
        self.pairs.len() > 1
    }
}

/// One `viewerSession` of a revocation call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pair {
    /// `channelArn`.
    pub channel_arn: String,
    /// `viewerId`.
    pub viewer_id: String,
    /// `viewerSessionVersionsLessThanOrEqualTo`.
    pub version: i64,
}

/// How IVS answered a revocation call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallOutcome {
    /// `200`. A batch lists the pairs that failed on their own (empty for a single call).
    Answered(Vec<PairError>),
    /// Another status, with IVS's error type when it gave one (`ThrottlingException`).
    Status {
        /// The HTTP status.
        status: u16,
        /// The error type (`x-amzn-ErrorType` without its URL, or the body's `__type`).
        code: Option<String>,
    },
    /// No answer: DNS, connection, timeout.
    Network(String),
}

/// One pair a batch answer lists under `errors`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairError {
    /// `channelArn`.
    pub channel_arn: String,
    /// `viewerId`.
    pub viewer_id: String,
    /// `code`.
    pub code: String,
    /// `message`.
    pub message: String,
}

/// A log line's content: one per admission, refusal, eviction and revocation outcome. Names the
/// viewer by id and the channel, never the subject or a token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    /// A new device got a slot.
    DeviceAdmitted {
        /// The viewer id.
        viewer_id: String,
        /// The channel.
        channel: String,
        /// The device, logged as its digest ([`device_digest`]).
        #[serde(serialize_with = "as_digest")]
        device: String,
        /// Its version.
        version: i64,
        /// Devices holding a slot now (this one included).
        holding: usize,
        /// The limit.
        limit: u32,
    },
    /// A device refused at the limit.
    DeviceRefused {
        /// The viewer id.
        viewer_id: String,
        /// The channel.
        channel: String,
        /// Active devices.
        in_use: usize,
        /// The limit.
        limit: u32,
    },
    /// A token request during an operator's block.
    ViewerBlocked {
        /// The viewer id.
        viewer_id: String,
        /// The channel.
        channel: String,
        /// The block's end.
        until: u64,
    },
    /// A device lost its slot.
    DeviceEvicted {
        /// The viewer id.
        viewer_id: String,
        /// The device, logged as its digest ([`device_digest`]).
        #[serde(serialize_with = "as_digest")]
        device: String,
        /// Why.
        reason: Reason,
        /// The channels revoked for it.
        channels: Vec<String>,
    },
    /// A device that keeps its slot is stopped on a channel by a revocation meant for another
    /// (see the module documentation); its next token there gets a fresh version.
    CollateralRevocation {
        /// The viewer id.
        viewer_id: String,
        /// The channel.
        channel: String,
        /// The device, logged as its digest ([`device_digest`]).
        #[serde(serialize_with = "as_digest")]
        device: String,
    },
    /// IVS accepted a revocation.
    RevocationAccepted {
        /// The viewer id.
        viewer_id: String,
        /// The channel's ARN.
        channel_arn: String,
        /// The ceiling.
        version: i64,
        /// Failed attempts before.
        attempts: u32,
    },
    /// A revocation failed and will be retried.
    RevocationRetry {
        /// The viewer id.
        viewer_id: String,
        /// The channel's ARN.
        channel_arn: String,
        /// The ceiling.
        version: i64,
        /// Failed attempts so far.
        attempts: u32,
        /// The next attempt, Unix seconds.
        next_attempt_at: u64,
        /// Why it failed.
        reason: String,
    },
    /// A revocation IVS can never accept, dropped.
    RevocationDropped {
        /// The viewer id.
        viewer_id: String,
        /// The channel's ARN.
        channel_arn: String,
        /// The ceiling.
        version: i64,
        /// Why.
        reason: String,
    },
}

/// Log lines name a device by its digest: its id may be a browser's cookie.
fn as_digest<S: serde::Serializer>(device: &str, serializer: S) -> std::result::Result<S::Ok, S::Error> {
    serializer.serialize_str(&device_digest(device))
}

/// The state of one viewer. Serialize it whole into the object's storage after every operation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Ledger {
    /// The viewer's `aws:viewer-id` (the object's name).
    pub viewer_id: String,
    /// Devices holding a slot, in admission order (oldest first).
    pub devices: Vec<Device>,
    /// The highest version ever issued to this viewer.
    pub last_version: i64,
    /// The latest clock reading a version was issued at: versions stay within
    /// [`MAX_VERSION_LEAD`] of it, and a clock that steps back does not stop admissions.
    pub clock_high: i64,
    /// The highest ceiling ever revoked, by channel ARN.
    pub revoked_through: BTreeMap<String, i64>,
    /// Revocations not yet accepted by IVS.
    pub revocations: Vec<Revocation>,
    /// The id of the next revocation.
    pub next_revocation_id: u64,
    /// When the last IVS call was handed out.
    pub last_call_at: Option<u64>,
    /// An operator's block of every channel, until then.
    pub blocked_until: Option<u64>,
    /// An operator's block of single channels, by name.
    pub blocked_channels: BTreeMap<String, u64>,
    /// Log lines not yet taken ([`Ledger::take_events`]); never stored.
    #[serde(skip)]
    events: Vec<Event>,
}

impl Ledger {
    /// An empty ledger for the viewer with this `aws:viewer-id`.
    pub fn new(viewer_id: &str) -> Self {
        Self { viewer_id: viewer_id.to_owned(), ..Self::default() }
    }

    /// The log lines of the operations since the last call, oldest first.
    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    /// Decide a token request of `device` on `channel` at `now`: the version to sign with, a
    /// refusal, or a block. `takeover` is the request's `takeover=true`.
    pub fn admit(
        &mut self,
        device: &str,
        channel: ChannelRef<'_>,
        policy: Policy,
        takeover: bool,
        now: u64,
    ) -> Decision {
        self.prune_blocks(now);
        let block = [self.blocked_until, self.blocked_channels.get(channel.name).copied()].into_iter().flatten().max();
        if let Some(until) = block {
            self.log(Event::ViewerBlocked { viewer_id: self.viewer_id.clone(), channel: channel.name.into(), until });
            return Decision::Blocked { until };
        }

        if let Some(index) = self.devices.iter().position(|d| d.id == device) {
            let watermark = self.revoked_through.get(channel.arn).copied().unwrap_or(i64::MIN);
            let (current, admission) = {
                let held = &self.devices[index];
                (held.holds.get(channel.arn).map(|h| h.version), held.version)
            };
            let version = match current.or(Some(admission)).filter(|v| *v > watermark) {
                Some(version) => version,
                None => match self.next_version(now) {
                    Ok(version) => version,
                    Err(decision) => return decision,
                },
            };
            let held = &mut self.devices[index];
            held.last_seen = held.last_seen.max(now);
            held.released = false;
            let hold = held.holds.entry(channel.arn.to_owned()).or_insert_with(|| Hold {
                channel: channel.name.to_owned(),
                version,
                since: now,
            });
            hold.version = version;
            return Decision::Admitted { version, renewed: true, evicted: Vec::new() };
        }

        // A new device: which slots it takes, decided before anything changes.
        let limit = policy.limit as usize;
        let mut idle: Vec<usize> = Vec::new();
        let mut active: Vec<usize> = Vec::new();
        for (i, d) in self.devices.iter().enumerate() {
            if d.is_idle(now, policy.idle_seconds) {
                idle.push(i);
            } else {
                active.push(i);
            }
        }
        let needed = (self.devices.len() + 1).saturating_sub(limit);
        let from_idle = needed.min(idle.len());
        let from_active = needed - from_idle;
        if from_active > 0 && !(takeover || policy.on_limit == OnLimit::EvictOldest) {
            self.log(Event::DeviceRefused {
                viewer_id: self.viewer_id.clone(),
                channel: channel.name.into(),
                in_use: active.len(),
                limit: policy.limit,
            });
            return Decision::Refused { in_use: active.len(), limit: policy.limit };
        }
        let version = match self.next_version(now) {
            Ok(version) => version,
            Err(decision) => return decision,
        };
        // Devices are kept in admission order, so the first of each list are the oldest.
        let mut leaving: Vec<(usize, Reason)> = idle[..from_idle].iter().map(|&i| (i, Reason::Idle)).collect();
        leaving.extend(active[..from_active].iter().map(|&i| (i, Reason::Evicted)));
        leaving.sort_unstable_by_key(|(i, _)| std::cmp::Reverse(*i));
        let mut gone: Vec<(Device, Reason)> = leaving.into_iter().map(|(i, r)| (self.devices.remove(i), r)).collect();
        gone.reverse();
        let evicted = gone.iter().map(|(d, _)| d.id.clone()).collect();
        for (device, reason) in gone {
            self.evict(device, reason, now);
        }
        let mut holds = BTreeMap::new();
        holds.insert(channel.arn.to_owned(), Hold { channel: channel.name.to_owned(), version, since: now });
        self.devices.push(Device {
            id: device.to_owned(),
            version,
            admitted_at: now,
            last_seen: now,
            released: false,
            holds,
        });
        self.log(Event::DeviceAdmitted {
            viewer_id: self.viewer_id.clone(),
            channel: channel.name.into(),
            device: device.into(),
            version,
            holding: self.devices.len(),
            limit: policy.limit,
        });
        Decision::Admitted { version, renewed: false, evicted }
    }

    /// A heartbeat of `device` watching `channel` at `now`: [`Heartbeat::Held`] (and the device
    /// counts as active again) while it holds that channel, else [`Heartbeat::Evicted`].
    pub fn heartbeat(&mut self, device: &str, channel: ChannelRef<'_>, now: u64) -> Heartbeat {
        match self.devices.iter_mut().find(|d| d.id == device && d.holds.contains_key(channel.arn)) {
            Some(held) => {
                held.last_seen = held.last_seen.max(now);
                held.released = false;
                Heartbeat::Held
            }
            None => Heartbeat::Evicted,
        }
    }

    /// `device` says it stopped watching (a page closed): it no longer counts, and its slot goes
    /// to the next new device, which revokes it then (so a release cannot be used to keep
    /// playing beyond the limit). Asking again before that keeps its slot. Returns whether it
    /// held one.
    pub fn release(&mut self, device: &str, now: u64) -> bool {
        match self.devices.iter_mut().find(|d| d.id == device) {
            Some(held) => {
                held.released = true;
                held.last_seen = held.last_seen.max(now);
                true
            }
            None => false,
        }
    }

    /// An operator's revocation: every device of the viewer in `scope` loses its slot (on a single
    /// channel: that hold; a device left with none loses its slot), and a revocation of every
    /// version issued up to `now` is queued for every channel in scope, so sessions the ledger
    /// does not know of (tokens issued while the object could not be reached) stop too.
    /// `block_until` refuses the viewer's token requests in scope until then.
    pub fn revoke_viewer(&mut self, scope: RevokeScope<'_>, block_until: Option<u64>, now: u64) -> Revoked {
        let ceiling = self.last_version.max(clamp_version(now));
        self.last_version = ceiling;
        let mut channels: BTreeMap<String, String> = BTreeMap::new(); // ARN -> name
        let mut devices = Vec::new();
        match scope {
            RevokeScope::Viewer(given) => {
                channels.extend(given.iter().map(|c| (c.arn.to_owned(), c.name.to_owned())));
                for device in std::mem::take(&mut self.devices) {
                    for (arn, hold) in &device.holds {
                        channels.entry(arn.clone()).or_insert_with(|| hold.channel.clone());
                    }
                    devices.push(device);
                }
                if let Some(until) = block_until {
                    self.blocked_until = Some(self.blocked_until.unwrap_or(0).max(until));
                }
            }
            RevokeScope::Channel(channel) => {
                channels.insert(channel.arn.to_owned(), channel.name.to_owned());
                for device in &mut self.devices {
                    if let Some(hold) = device.holds.remove(channel.arn) {
                        let mut only = device.clone();
                        only.holds = BTreeMap::from([(channel.arn.to_owned(), hold)]);
                        devices.push(only);
                    }
                }
                self.devices.retain(|d| !d.holds.is_empty());
                if let Some(until) = block_until {
                    let entry = self.blocked_channels.entry(channel.name.to_owned()).or_insert(0);
                    *entry = (*entry).max(until);
                }
            }
        }
        for device in &devices {
            self.log(Event::DeviceEvicted {
                viewer_id: self.viewer_id.clone(),
                device: device.id.clone(),
                reason: Reason::Operator,
                channels: device.holds.values().map(|h| h.channel.clone()).collect(),
            });
        }
        for (arn, name) in &channels {
            let named = devices.iter().filter(|d| d.holds.contains_key(arn)).map(|d| d.id.clone()).collect();
            self.queue(arn, name, ceiling, Reason::Operator, named, now);
        }
        Revoked {
            devices: devices.into_iter().map(|d| d.id).collect(),
            channels: channels.into_values().collect(),
            version: ceiling,
            blocked_until: block_until,
        }
    }

    /// The devices holding a slot, oldest first, for the operator's listing.
    pub fn list(&self, now: u64, idle_seconds: u64) -> Vec<DeviceView> {
        self.devices
            .iter()
            .map(|d| DeviceView {
                device: d.id.clone(),
                channels: d.holds.values().map(|h| h.channel.clone()).collect(),
                admitted_at: d.admitted_at,
                last_seen: d.last_seen,
                idle: d.is_idle(now, idle_seconds),
            })
            .collect()
    }

    /// The next IVS call to make at `now`, if one is due: at most `max` pairs (1 to 20), in one
    /// region. The call is leased for [`LEASE_SECONDS`]; answer it with
    /// [`Ledger::revocation_result`].
    pub fn due_revocations(&mut self, now: u64, max: usize) -> Option<RevocationCall> {
        if self.last_call_at.is_some_and(|at| now < at.saturating_add(CALL_SPACING)) {
            return None;
        }
        let max = max.clamp(1, MAX_BATCH);
        let first = self.revocations.iter().filter(|r| r.is_due(now)).min_by_key(|r| (r.next_attempt_at, r.id))?;
        let region = first.region().to_owned();
        let alone = first.alone.then(|| first.channel_arn.clone());
        let mut pairs: Vec<Pair> = Vec::new();
        let mut ids = Vec::new();
        for revocation in self.revocations.iter_mut().filter(|r| r.is_due(now) && r.region() == region) {
            if alone.as_ref().is_some_and(|arn| *arn != revocation.channel_arn) || (alone.is_none() && revocation.alone)
            {
                continue;
            }
            match pairs.iter().position(|p| p.channel_arn == revocation.channel_arn) {
                Some(i) => pairs[i].version = pairs[i].version.max(revocation.version),
                None if pairs.len() < max => pairs.push(Pair {
                    channel_arn: revocation.channel_arn.clone(),
                    viewer_id: self.viewer_id.clone(),
                    version: revocation.version,
                }),
                None => continue,
            }
            revocation.leased_until = Some(now.saturating_add(LEASE_SECONDS));
            ids.push(revocation.id);
        }
        self.last_call_at = Some(now);
        Some(RevocationCall { region, pairs, ids })
    }

    /// Apply IVS's answer to `call` at `now`. `random` spreads the retries (jitter).
    pub fn revocation_result(&mut self, call: &RevocationCall, outcome: &CallOutcome, now: u64, random: u32) {
        let verdict_for = |arn: &str| -> Verdict {
            match outcome {
                CallOutcome::Answered(errors) => match errors.iter().find(|e| e.channel_arn == arn) {
                    None => Verdict::Accepted,
                    Some(e) if is_retryable_code(&e.code) => {
                        Verdict::Retry(format!("{}: {}", e.code, shorten(&e.message)))
                    }
                    Some(e) => Verdict::Drop(format!("{}: {}", e.code, shorten(&e.message))),
                },
                CallOutcome::Status { status, code } => {
                    let what = format!("HTTP {status}{}", code.as_deref().map(|c| format!(" {c}")).unwrap_or_default());
                    match status {
                        429 | 403 | 500..=599 => Verdict::Retry(what),
                        400 if call.is_batch() => Verdict::Split(what),
                        _ => Verdict::Drop(what),
                    }
                }
                CallOutcome::Network(reason) => Verdict::Retry(format!("network: {}", shorten(reason))),
            }
        };
        let mut kept = Vec::with_capacity(self.revocations.len());
        for mut revocation in std::mem::take(&mut self.revocations) {
            if !call.ids.contains(&revocation.id) {
                kept.push(revocation);
                continue;
            }
            revocation.leased_until = None;
            let (viewer_id, channel_arn, version) =
                (self.viewer_id.clone(), revocation.channel_arn.clone(), revocation.version);
            match verdict_for(&revocation.channel_arn) {
                Verdict::Accepted => self.events.push(Event::RevocationAccepted {
                    viewer_id,
                    channel_arn,
                    version,
                    attempts: revocation.attempts,
                }),
                Verdict::Drop(reason) => {
                    self.events.push(Event::RevocationDropped { viewer_id, channel_arn, version, reason })
                }
                Verdict::Split(reason) => {
                    // One invalid pair refuses a whole batch: send each channel on its own, now.
                    revocation.alone = true;
                    revocation.last_error = Some(reason);
                    kept.push(revocation);
                }
                Verdict::Retry(reason) => {
                    revocation.attempts = revocation.attempts.saturating_add(1);
                    revocation.next_attempt_at = now.saturating_add(backoff(revocation.attempts, random));
                    revocation.last_error = Some(reason.clone());
                    self.events.push(Event::RevocationRetry {
                        viewer_id,
                        channel_arn,
                        version,
                        attempts: revocation.attempts,
                        next_attempt_at: revocation.next_attempt_at,
                        reason,
                    });
                    kept.push(revocation);
                }
            }
        }
        self.revocations = kept;
    }

    /// When the object's alarm should fire next (Unix seconds): the earliest due revocation, not
    /// before the call spacing allows; `None` when nothing is owed to IVS.
    pub fn next_alarm(&self) -> Option<u64> {
        let earliest = self.revocations.iter().map(|r| r.next_attempt_at.max(r.leased_until.unwrap_or(0))).min()?;
        let spacing = self.last_call_at.map_or(0, |at| at.saturating_add(CALL_SPACING));
        Some(earliest.max(spacing))
    }

    /// A version above every one issued, at most [`MAX_VERSION_LEAD`] seconds ahead of `now`;
    /// else the decision to answer ([`Decision::TooFast`], [`Decision::Exhausted`]).
    fn next_version(&mut self, now: u64) -> std::result::Result<i64, Decision> {
        let clock = clamp_version(now).max(self.clock_high);
        let version = self.last_version.saturating_add(1).max(clock);
        if version > MAX_VERSION {
            return Err(Decision::Exhausted);
        }
        let lead = version - clock;
        if lead > MAX_VERSION_LEAD {
            return Err(Decision::TooFast { retry_after: (lead - MAX_VERSION_LEAD) as u64 });
        }
        self.last_version = version;
        self.clock_high = clock;
        Ok(version)
    }

    fn prune_blocks(&mut self, now: u64) {
        if self.blocked_until.is_some_and(|until| until <= now) {
            self.blocked_until = None;
        }
        self.blocked_channels.retain(|_, until| *until > now);
    }

    /// Take `device`'s slot away: a revocation per channel it held, queued.
    fn evict(&mut self, device: Device, reason: Reason, now: u64) {
        self.log(Event::DeviceEvicted {
            viewer_id: self.viewer_id.clone(),
            device: device.id.clone(),
            reason,
            channels: device.holds.values().map(|h| h.channel.clone()).collect(),
        });
        for (arn, hold) in &device.holds {
            self.queue(arn, &hold.channel, hold.version, reason, vec![device.id.clone()], now);
        }
    }

    fn queue(&mut self, arn: &str, channel: &str, version: i64, reason: Reason, devices: Vec<String>, now: u64) {
        let watermark = self.revoked_through.entry(arn.to_owned()).or_insert(i64::MIN);
        *watermark = (*watermark).max(version);
        let collateral: Vec<String> = self
            .devices
            .iter()
            .filter(|d| d.holds.get(arn).is_some_and(|h| h.version <= version))
            .map(|d| d.id.clone())
            .collect();
        for device in collateral {
            self.log(Event::CollateralRevocation {
                viewer_id: self.viewer_id.clone(),
                channel: channel.into(),
                device,
            });
        }
        self.revocations.push(Revocation {
            id: self.next_revocation_id,
            channel_arn: arn.to_owned(),
            channel: channel.to_owned(),
            version,
            reason,
            devices,
            queued_at: now,
            attempts: 0,
            next_attempt_at: now,
            leased_until: None,
            alone: false,
            last_error: None,
        });
        self.next_revocation_id += 1;
        if self.revocations.len() > MAX_QUEUE {
            self.compact(now);
        }
    }

    /// Merge the revocations not in a call, per channel: the highest ceiling covers the others.
    fn compact(&mut self, now: u64) {
        let (leased, free): (Vec<Revocation>, Vec<Revocation>) =
            std::mem::take(&mut self.revocations).into_iter().partition(|r| r.leased_until.is_some_and(|t| t > now));
        let mut merged: Vec<Revocation> = Vec::new();
        for revocation in free {
            match merged.iter_mut().find(|m| m.channel_arn == revocation.channel_arn) {
                Some(m) => {
                    m.version = m.version.max(revocation.version);
                    m.next_attempt_at = m.next_attempt_at.min(revocation.next_attempt_at);
                    m.attempts = m.attempts.min(revocation.attempts);
                    m.alone |= revocation.alone;
                    for device in revocation.devices {
                        if m.devices.len() < MAX_DEVICES_NAMED && !m.devices.contains(&device) {
                            m.devices.push(device);
                        }
                    }
                }
                None => merged.push(revocation),
            }
        }
        self.revocations = leased;
        self.revocations.extend(merged);
    }

    fn log(&mut self, event: Event) {
        self.events.push(event);
    }
}

/// A device as the operator's listing shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceView {
    /// The device id.
    pub device: String,
    /// The channels it holds, by name.
    pub channels: Vec<String>,
    /// Holding a slot since, Unix seconds.
    pub admitted_at: u64,
    /// Last token request or heartbeat, Unix seconds.
    pub last_seen: u64,
    /// Silent for `idle_seconds` or released: it no longer counts.
    pub idle: bool,
}

enum Verdict {
    Accepted,
    Retry(String),
    Split(String),
    Drop(String),
}

/// Batch error codes worth retrying: throttling, IVS's own failures, and access errors (an IAM
/// policy the operator fixes: dropping would lose the revocation).
fn is_retryable_code(code: &str) -> bool {
    ["Throttl", "Internal", "ServiceUnavailable", "AccessDenied", "PendingVerification"]
        .iter()
        .any(|c| code.contains(c))
}

fn shorten(text: &str) -> String {
    let mut short: String = text.chars().filter(|c| !c.is_control()).take(200).collect();
    if short.len() < text.len() {
        short.push_str("...");
    }
    short
}

/// A version for `now`, within IVS's 32-bit range.
fn clamp_version(now: u64) -> i64 {
    i64::try_from(now).unwrap_or(i64::MAX).min(MAX_VERSION)
}

/// The version a token carries when it was issued without the ledger (the object could not be
/// reached and the policy serves anyway): `now`, within IVS's range. Not above every version the
/// ledger issued (those may run ahead of the clock by a few), but above every ceiling revoked
/// before the last second.
pub fn unledgered_version(now: u64) -> i64 {
    clamp_version(now)
}

/// The wait before attempt `attempts + 1` (seconds): `d = min(BACKOFF_MAX, BACKOFF_BASE *
/// 2^(attempts-1))`, then a random point of `[d/2, d]` ("equal jitter"): it grows with every
/// attempt, never exceeds [`BACKOFF_MAX`], and spreads viewers throttled together.
pub fn backoff(attempts: u32, random: u32) -> u64 {
    let exponent = attempts.saturating_sub(1).min(20);
    let ceiling = BACKOFF_BASE.saturating_mul(1 << exponent).min(BACKOFF_MAX);
    let half = ceiling / 2;
    half + u64::from(random) % (ceiling - half + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000;
    const VIEWER: &str = "5bdcc146bf60754e6a042426089575c75a003f08";

    fn arn(id: &str) -> String {
        format!("arn:aws:ivs:us-west-2:123456789012:channel/{id}")
    }

    /// Channels `c0`.. `c29` in us-west-2 and `eu0` in eu-west-1, leaked for `ChannelRef`'s borrows.
    fn ch(name: &str) -> ChannelRef<'static> {
        let arn = if name.starts_with("eu") {
            format!("arn:aws:ivs:eu-west-1:123456789012:channel/{name}")
        } else {
            arn(name)
        };
        ChannelRef { name: Box::leak(name.to_owned().into_boxed_str()), arn: Box::leak(arn.into_boxed_str()) }
    }

    fn policy(limit: u32, on_limit: OnLimit) -> Policy {
        Policy { limit, on_limit, idle_seconds: 90 }
    }

    fn refuse(limit: u32) -> Policy {
        policy(limit, OnLimit::Refuse)
    }

    fn admitted(decision: &Decision) -> (i64, bool, Vec<String>) {
        match decision {
            Decision::Admitted { version, renewed, evicted } => (*version, *renewed, evicted.clone()),
            other => panic!("not admitted: {other:?}"),
        }
    }

    /// The queued (channel ARN, ceiling, devices) triples, in queue order.
    fn queued(ledger: &Ledger) -> Vec<(String, i64, Vec<String>)> {
        ledger.revocations.iter().map(|r| (r.channel_arn.clone(), r.version, r.devices.clone())).collect()
    }

    /// A small deterministic generator (xorshift64*), so property runs are reproducible.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    #[test]
    fn a_device_keeps_its_slot_and_version_on_every_channel() {
        let mut ledger = Ledger::new(VIEWER);
        let (v, renewed, evicted) = admitted(&ledger.admit("tv-000001", ch("c0"), refuse(2), false, NOW));
        assert_eq!((v, renewed, evicted.len()), (NOW as i64, false, 0));
        let (again, renewed, _) = admitted(&ledger.admit("tv-000001", ch("c0"), refuse(2), false, NOW + 300));
        assert_eq!((again, renewed), (v, true), "a renewal or reload keeps the version");
        let (other, renewed, _) = admitted(&ledger.admit("tv-000001", ch("c1"), refuse(2), false, NOW + 400));
        assert_eq!((other, renewed), (v, true), "another channel: the same slot, the same version");
        assert_eq!(ledger.devices.len(), 1);
        assert_eq!(ledger.devices[0].last_seen, NOW + 400);
        let events = ledger.take_events();
        assert_eq!(events.len(), 1, "renewals are not logged as admissions: {events:?}");
        assert!(
            matches!(&events[0], Event::DeviceAdmitted { device, holding: 1, limit: 2, .. } if device == "tv-000001")
        );
    }

    #[test]
    fn at_the_limit_refuse_changes_nothing_and_says_how_many() {
        let mut ledger = Ledger::new(VIEWER);
        ledger.admit("device-a", ch("c0"), refuse(2), false, NOW);
        ledger.admit("device-b", ch("c1"), refuse(2), false, NOW + 1);
        ledger.take_events();
        let before = ledger.clone();
        assert_eq!(
            ledger.admit("device-c", ch("c0"), refuse(2), false, NOW + 2),
            Decision::Refused { in_use: 2, limit: 2 }
        );
        assert_eq!(ledger.take_events().len(), 1);
        assert_eq!(ledger, before);
        let err = Decision::Refused { in_use: 2, limit: 2 }.into_result().unwrap_err();
        assert_eq!((err.status(), err.slug()), (403, "device-limit"));
        assert!(err.to_string().starts_with("2 of 2 devices are already watching"));
    }

    #[test]
    fn takeover_and_evict_oldest_evict_the_oldest_on_every_channel_it_held() {
        for (on_limit, takeover) in [(OnLimit::Refuse, true), (OnLimit::EvictOldest, false)] {
            let mut ledger = Ledger::new(VIEWER);
            let (va, ..) = admitted(&ledger.admit("device-a", ch("c0"), policy(2, on_limit), false, NOW));
            ledger.admit("device-a", ch("c1"), policy(2, on_limit), false, NOW + 1);
            let (vb, ..) = admitted(&ledger.admit("device-b", ch("c0"), policy(2, on_limit), false, NOW + 2));
            let (vc, renewed, evicted) =
                admitted(&ledger.admit("device-c", ch("c0"), policy(2, on_limit), takeover, NOW + 3));
            assert!(va < vb && vb < vc && !renewed);
            assert_eq!(evicted, ["device-a"]);
            assert_eq!(
                queued(&ledger),
                [(arn("c0"), va, vec!["device-a".into()]), (arn("c1"), va, vec!["device-a".into()])],
                "one revocation per channel the evicted device held, at its version"
            );
            assert!(vb > va, "the ceiling on c0 leaves device-b there untouched");
            assert_eq!(ledger.heartbeat("device-a", ch("c0"), NOW + 4), Heartbeat::Evicted);
            assert_eq!(ledger.heartbeat("device-b", ch("c0"), NOW + 4), Heartbeat::Held);
            assert_eq!(ledger.heartbeat("device-b", ch("c1"), NOW + 4), Heartbeat::Evicted, "not held there");
            assert!(ledger.take_events().iter().any(
                |e| matches!(e, Event::DeviceEvicted { reason: Reason::Evicted, channels, .. } if channels.len() == 2)
            ));
        }
    }

    #[test]
    fn twelve_concurrent_takeovers_in_any_order_leave_one_holder_and_eleven_revocations() {
        let mut rng = Rng(0x5eed);
        for round in 0..200 {
            let mut order: Vec<usize> = (0..12).collect();
            for i in (1..order.len()).rev() {
                order.swap(i, rng.below(i + 1));
            }
            let mut ledger = Ledger::new(VIEWER);
            let mut versions = Vec::new();
            for (step, device) in order.iter().enumerate() {
                // Requests arriving within the same second or a few apart, as the object serializes them.
                let now = NOW + if round % 2 == 0 { 0 } else { step as u64 / 3 };
                let (version, _, evicted) =
                    admitted(&ledger.admit(&format!("device-{device:02}"), ch("c0"), refuse(1), true, now));
                assert_eq!(evicted.len(), usize::from(step > 0));
                versions.push(version);
            }
            assert!(versions.windows(2).all(|w| w[0] < w[1]), "versions strictly increase: {versions:?}");
            assert_eq!(ledger.devices.len(), 1);
            assert_eq!(ledger.devices[0].id, format!("device-{:02}", order[11]), "the last one holds the slot");
            let revocations = queued(&ledger);
            assert_eq!(revocations.len(), 11);
            for (i, (channel, version, devices)) in revocations.iter().enumerate() {
                assert_eq!(
                    (channel, *version, devices.clone()),
                    (&arn("c0"), versions[i], vec![format!("device-{:02}", order[i])])
                );
                assert!(*version < ledger.devices[0].version, "no revocation reaches the holder");
            }
        }
    }

    #[test]
    fn idle_devices_no_longer_count_but_are_revoked_when_their_slot_is_given_away() {
        let mut ledger = Ledger::new(VIEWER);
        let (va, ..) = admitted(&ledger.admit("device-a", ch("c0"), refuse(2), false, NOW));
        ledger.admit("device-b", ch("c1"), refuse(2), false, NOW + 50);
        // 100 s later device-a has been silent for 100 s > 90: it does not count.
        let (_, _, evicted) = admitted(&ledger.admit("device-c", ch("c0"), refuse(2), false, NOW + 100));
        assert_eq!(evicted, ["device-a"], "refuse, yet the idle device's slot is given away");
        assert_eq!(queued(&ledger), [(arn("c0"), va, vec!["device-a".into()])]);
        assert!(ledger.take_events().iter().any(|e| matches!(e, Event::DeviceEvicted { reason: Reason::Idle, .. })));
        // Under the limit an idle device keeps its slot and comes back with its version.
        let mut ledger = Ledger::new(VIEWER);
        let (va, ..) = admitted(&ledger.admit("device-a", ch("c0"), refuse(3), false, NOW));
        ledger.admit("device-b", ch("c0"), refuse(3), false, NOW + 500);
        assert!(ledger.revocations.is_empty());
        assert_eq!(ledger.list(NOW + 500, 90).iter().map(|d| d.idle).collect::<Vec<_>>(), [true, false]);
        assert_eq!(admitted(&ledger.admit("device-a", ch("c0"), refuse(3), false, NOW + 600)), (va, true, vec![]));
        assert!(!ledger.list(NOW + 600, 90)[0].idle);
    }

    #[test]
    fn a_refusal_revokes_no_idle_device() {
        // The limit was lowered to 1: one active and one idle device. The idle slot alone is not
        // enough for a newcomer, so it is refused and the idle device is left alone.
        let mut ledger = Ledger::new(VIEWER);
        ledger.admit("device-a", ch("c0"), refuse(2), false, NOW);
        ledger.admit("device-b", ch("c0"), refuse(2), false, NOW + 100);
        assert_eq!(
            ledger.admit("device-c", ch("c0"), refuse(1), false, NOW + 120),
            Decision::Refused { in_use: 1, limit: 1 }
        );
        assert!(ledger.revocations.is_empty() && ledger.devices.len() == 2);
        // Lowering the limit evicted nobody; a takeover then frees both slots.
        let (_, _, evicted) = admitted(&ledger.admit("device-c", ch("c0"), refuse(1), true, NOW + 130));
        assert_eq!(evicted, ["device-a", "device-b"]);
        assert_eq!(ledger.devices.len(), 1);
    }

    #[test]
    fn a_released_device_is_idle_until_it_asks_again() {
        let mut ledger = Ledger::new(VIEWER);
        let (va, ..) = admitted(&ledger.admit("device-a", ch("c0"), refuse(1), false, NOW));
        assert!(ledger.release("device-a", NOW + 5));
        assert!(!ledger.release("device-x", NOW + 5));
        assert_eq!(
            admitted(&ledger.admit("device-a", ch("c0"), refuse(1), false, NOW + 6)),
            (va, true, vec![]),
            "a reload"
        );
        ledger.release("device-a", NOW + 7);
        let (_, _, evicted) = admitted(&ledger.admit("device-b", ch("c0"), refuse(1), false, NOW + 8));
        assert_eq!(evicted, ["device-a"], "its slot is given away, and it is revoked");
        assert_eq!(queued(&ledger), [(arn("c0"), va, vec!["device-a".into()])]);
    }

    #[test]
    fn an_older_device_stopped_by_an_idle_ones_ceiling_gets_a_fresh_version() {
        let mut ledger = Ledger::new(VIEWER);
        let (va, ..) = admitted(&ledger.admit("device-a", ch("c0"), refuse(2), false, NOW));
        let (vb, ..) = admitted(&ledger.admit("device-b", ch("c0"), refuse(2), false, NOW + 1));
        // device-a keeps beating, device-b goes quiet; a third device takes device-b's slot.
        ledger.heartbeat("device-a", ch("c0"), NOW + 100);
        ledger.take_events();
        let (vc, _, evicted) = admitted(&ledger.admit("device-c", ch("c1"), refuse(2), false, NOW + 120));
        assert_eq!(evicted, ["device-b"]);
        assert_eq!(queued(&ledger), [(arn("c0"), vb, vec!["device-b".into()])]);
        let events = ledger.take_events();
        assert!(
            events.iter().any(|e| matches!(e, Event::CollateralRevocation { device, .. } if device == "device-a")),
            "{events:?}"
        );
        // device-a's next token on c0 must be above the ceiling (IVS would refuse <= vb).
        let (fresh, renewed, _) = admitted(&ledger.admit("device-a", ch("c0"), refuse(2), false, NOW + 121));
        assert!(renewed && fresh > vb && fresh > vc && va < vb);
        assert_eq!(admitted(&ledger.admit("device-a", ch("c0"), refuse(2), false, NOW + 122)).0, fresh, "and keeps it");
        // Its admission version still serves channels without a revocation.
        assert_eq!(admitted(&ledger.admit("device-a", ch("c2"), refuse(2), false, NOW + 123)).0, va);
    }

    #[test]
    fn versions_strictly_increase_and_stay_within_32_bits() {
        let mut ledger = Ledger::new(VIEWER);
        let mut last = 0;
        for (i, now) in [NOW, NOW, NOW - 100, NOW + 5, NOW + 5, 3, NOW + 1000].into_iter().enumerate() {
            let (v, ..) = admitted(&ledger.admit(&format!("device-{i}"), ch("c0"), refuse(1), true, now));
            assert!(v > last && v >= (now as i64).min(MAX_VERSION), "{v} after {last} at {now}");
            last = v;
        }
        assert_eq!(ledger.last_version, last);
        let mut late = Ledger::new(VIEWER);
        assert_eq!(
            admitted(&late.admit("device-a", ch("c0"), refuse(5), false, u64::MAX)).0,
            MAX_VERSION,
            "2038 and later: the cap"
        );
        assert_eq!(late.admit("device-b", ch("c0"), refuse(5), false, u64::MAX), Decision::Exhausted);
        assert_eq!(Decision::Exhausted.into_result().unwrap_err().status(), 500);
        assert_eq!(unledgered_version(NOW), NOW as i64);
        assert_eq!(unledgered_version(u64::MAX), MAX_VERSION);
    }

    /// Issue 22, finding 9: 300 takeovers in 4.5 s ran versions 294 s ahead of the clock, so
    /// "revoke every session started before T" (`<= T`) missed the newest devices.
    #[test]
    fn versions_stay_within_a_few_seconds_of_the_clock() {
        let mut ledger = Ledger::new(VIEWER);
        let mut admitted_count = 0;
        let mut refused = 0;
        for i in 0..300u64 {
            let now = NOW + i * 15 / 1000; // 300 takeovers in 4.5 s
            match ledger.admit(&format!("device-{i}"), ch("c0"), refuse(2), true, now) {
                Decision::Admitted { version, .. } => {
                    assert!(version <= now as i64 + MAX_VERSION_LEAD, "{version} at {now}");
                    admitted_count += 1;
                }
                Decision::TooFast { retry_after } => {
                    assert!((1..=MAX_VERSION_LEAD as u64).contains(&retry_after), "{retry_after}");
                    refused += 1;
                }
                other => panic!("{other:?}"),
            }
        }
        // 16 in the first second (leads 0 to 15), then one a second for the next four.
        assert_eq!(admitted_count, 16 + 4);
        assert_eq!(admitted_count + refused, 300);
        let error = Decision::TooFast { retry_after: 2 }.into_result().unwrap_err();
        assert_eq!((error.status(), error.slug()), (429, "too-many-new-devices"));
        // Once the clock catches up, new devices are admitted again; the versions still rise.
        let before = ledger.last_version;
        let (v, ..) = admitted(&ledger.admit("device-late", ch("c0"), refuse(2), true, NOW + 10));
        assert!(v > before && v <= (NOW + 10) as i64 + MAX_VERSION_LEAD);
        // An operator's ceiling at T covers every device admitted before T.
        let revoked = ledger.revoke_viewer(RevokeScope::Viewer(&[]), None, NOW + 10);
        assert!(revoked.version >= v);
    }

    #[test]
    fn an_operator_revokes_every_device_and_may_block() {
        let mut ledger = Ledger::new(VIEWER);
        ledger.admit("device-a", ch("c0"), refuse(3), false, NOW);
        ledger.admit("device-a", ch("c1"), refuse(3), false, NOW);
        ledger.admit("device-b", ch("c2"), refuse(3), false, NOW + 1);
        let limited = [ch("c0"), ch("c3")];
        let revoked = ledger.revoke_viewer(RevokeScope::Viewer(&limited), Some(NOW + 600), NOW + 10);
        assert_eq!(revoked.devices, ["device-a", "device-b"]);
        assert_eq!(revoked.channels, ["c0", "c1", "c2", "c3"], "the given channels and every channel held");
        assert_eq!(revoked.version, (NOW + 10) as i64, "everything issued until now, ledger or not");
        assert!(ledger.devices.is_empty());
        assert_eq!(ledger.revocations.len(), 4);
        assert!(ledger.revocations.iter().all(|r| r.version == revoked.version && r.reason == Reason::Operator));
        assert_eq!(ledger.heartbeat("device-a", ch("c0"), NOW + 11), Heartbeat::Evicted);
        assert_eq!(
            ledger.admit("device-a", ch("c0"), refuse(3), false, NOW + 11),
            Decision::Blocked { until: NOW + 600 }
        );
        assert_eq!(
            ledger.admit("device-z", ch("c9"), refuse(3), false, NOW + 599),
            Decision::Blocked { until: NOW + 600 }
        );
        let err = Decision::Blocked { until: NOW + 600 }.into_result().unwrap_err();
        assert_eq!((err.status(), err.slug()), (403, "viewer-blocked"));
        let (v, ..) = admitted(&ledger.admit("device-a", ch("c0"), refuse(3), false, NOW + 600));
        assert!(v > revoked.version, "a new admission is above the revoked ceiling");
        assert_eq!(ledger.blocked_until, None, "an expired block is forgotten");
    }

    #[test]
    fn an_operator_revocation_of_one_channel_frees_only_what_it_must() {
        let mut ledger = Ledger::new(VIEWER);
        ledger.admit("device-a", ch("c0"), refuse(3), false, NOW);
        ledger.admit("device-a", ch("c1"), refuse(3), false, NOW);
        ledger.admit("device-b", ch("c0"), refuse(3), false, NOW + 1);
        ledger.admit("device-c", ch("c1"), refuse(3), false, NOW + 2);
        let revoked = ledger.revoke_viewer(RevokeScope::Channel(ch("c0")), Some(NOW + 60), NOW + 10);
        assert_eq!(
            (revoked.devices, revoked.channels),
            (vec!["device-a".to_owned(), "device-b".into()], vec!["c0".to_owned()])
        );
        assert_eq!(queued(&ledger), [(arn("c0"), (NOW + 10) as i64, vec!["device-a".into(), "device-b".into()])]);
        let left: Vec<&str> = ledger.devices.iter().map(|d| d.id.as_str()).collect();
        assert_eq!(left, ["device-a", "device-c"], "device-a still holds c1; device-b held only c0");
        assert_eq!(ledger.heartbeat("device-a", ch("c1"), NOW + 11), Heartbeat::Held);
        assert_eq!(ledger.heartbeat("device-a", ch("c0"), NOW + 11), Heartbeat::Evicted);
        assert_eq!(
            ledger.admit("device-a", ch("c0"), refuse(3), false, NOW + 12),
            Decision::Blocked { until: NOW + 60 }
        );
        assert!(
            matches!(ledger.admit("device-a", ch("c1"), refuse(3), false, NOW + 12), Decision::Admitted { .. }),
            "only c0 is blocked"
        );
    }

    #[test]
    fn calls_batch_up_to_twenty_channels_of_one_region_merging_ceilings() {
        let mut ledger = Ledger::new(VIEWER);
        let channels: Vec<ChannelRef<'static>> = (0..25).map(|i| ch(&format!("c{i}"))).chain([ch("eu0")]).collect();
        for channel in &channels {
            ledger.admit("device-a", *channel, refuse(1), false, NOW);
        }
        ledger.admit("device-b", ch("c0"), refuse(1), true, NOW + 1);
        let vb = ledger.devices[0].version;
        ledger.admit("device-c", ch("c0"), refuse(1), true, NOW + 2);
        assert_eq!(ledger.revocations.len(), 26 + 1);
        // The oldest due first: device-a's holds queued in ARN order, eu-west-1's before us-west-2's.
        let first = ledger.due_revocations(NOW + 2, 20).unwrap();
        assert_eq!((first.region.as_str(), first.pairs.len(), first.is_batch()), ("eu-west-1", 1, false));
        assert_eq!(ledger.due_revocations(NOW + 2, 20), None, "one call per second");
        let second = ledger.due_revocations(NOW + 3, 20).unwrap();
        assert!(second.is_batch());
        assert_eq!((second.region.as_str(), second.pairs.len(), second.ids.len()), ("us-west-2", 20, 21));
        assert_eq!(
            second.pairs[0],
            Pair { channel_arn: arn("c0"), viewer_id: VIEWER.into(), version: vb },
            "c0's two merged"
        );
        let third = ledger.due_revocations(NOW + 4, 20).unwrap();
        assert_eq!((third.region.as_str(), third.pairs.len()), ("us-west-2", 5));
        assert_eq!(ledger.due_revocations(NOW + 5, 20), None, "all leased");
        assert_eq!(ledger.next_alarm(), Some(NOW + 2 + LEASE_SECONDS));
        ledger.revocation_result(&first, &CallOutcome::Answered(vec![]), NOW + 5, 0);
        ledger.revocation_result(&third, &CallOutcome::Answered(vec![]), NOW + 5, 0);
        assert_eq!(ledger.next_alarm(), Some(NOW + 3 + LEASE_SECONDS));
        // A lease that runs out (the object restarted mid-call) hands the call out again.
        assert_eq!(ledger.due_revocations(NOW + 2 + LEASE_SECONDS, 20), None);
        let again = ledger.due_revocations(NOW + 3 + LEASE_SECONDS, 20).unwrap();
        assert_eq!(again.ids, second.ids);
        ledger.revocation_result(&again, &CallOutcome::Answered(vec![]), NOW + 70, 0);
        assert!(ledger.revocations.is_empty());
        for channel in &channels[..3] {
            ledger.admit("device-d", *channel, refuse(1), true, NOW + 80);
        }
        ledger.admit("device-e", ch("c0"), refuse(1), true, NOW + 81);
        assert_eq!(ledger.due_revocations(NOW + 81, 2).unwrap().pairs.len(), 2, "max is honoured");
    }

    #[test]
    fn answers_remove_retry_or_drop() {
        let setup = || {
            let mut ledger = Ledger::new(VIEWER);
            for c in ["c0", "c1", "c2"] {
                ledger.admit("device-a", ch(c), refuse(1), false, NOW);
            }
            ledger.admit("device-b", ch("c0"), refuse(1), true, NOW + 1);
            ledger.take_events();
            let call = ledger.due_revocations(NOW + 1, 20).unwrap();
            (ledger, call)
        };
        let (mut ledger, call) = setup();
        ledger.revocation_result(&call, &CallOutcome::Answered(vec![]), NOW + 2, 7);
        assert!(ledger.revocations.is_empty() && ledger.next_alarm().is_none());
        assert_eq!(ledger.take_events().iter().filter(|e| matches!(e, Event::RevocationAccepted { .. })).count(), 3);

        for outcome in [
            CallOutcome::Status { status: 429, code: Some("ThrottlingException".into()) },
            CallOutcome::Status { status: 500, code: None },
            CallOutcome::Status { status: 503, code: None },
            CallOutcome::Status { status: 403, code: Some("AccessDeniedException".into()) },
            CallOutcome::Network("connection reset".into()),
        ] {
            let (mut ledger, call) = setup();
            ledger.revocation_result(&call, &outcome, NOW + 2, 0);
            assert_eq!(ledger.revocations.len(), 3, "{outcome:?}: never dropped");
            assert!(ledger
                .revocations
                .iter()
                .all(|r| r.attempts == 1 && r.next_attempt_at == NOW + 3 && r.leased_until.is_none()));
            assert_eq!(ledger.next_alarm(), Some(NOW + 3));
            assert_eq!(ledger.due_revocations(NOW + 2, 20), None, "backing off");
            let retry = ledger.due_revocations(NOW + 3, 20).unwrap();
            assert_eq!(retry.ids, call.ids);
            ledger.revocation_result(&retry, &outcome, NOW + 3, 0);
            assert!(ledger.revocations.iter().all(|r| r.attempts == 2 && r.next_attempt_at == NOW + 5));
            assert!(ledger.revocations[0].last_error.is_some());
        }

        // A batch refused as invalid is split into single calls; a single one refused is dropped.
        let (mut ledger, call) = setup();
        ledger.revocation_result(
            &call,
            &CallOutcome::Status { status: 400, code: Some("ValidationException".into()) },
            NOW + 2,
            0,
        );
        assert_eq!(ledger.revocations.len(), 3);
        let single = ledger.due_revocations(NOW + 2, 20).unwrap();
        assert!(!single.is_batch());
        ledger.revocation_result(
            &single,
            &CallOutcome::Status { status: 400, code: Some("ValidationException".into()) },
            NOW + 2,
            0,
        );
        assert_eq!(ledger.revocations.len(), 2);
        assert!(ledger
            .take_events()
            .iter()
            .any(|e| matches!(e, Event::RevocationDropped { reason, .. } if reason == "HTTP 400 ValidationException")));
        let single = ledger.due_revocations(NOW + 3, 20).unwrap();
        ledger.revocation_result(&single, &CallOutcome::Answered(vec![]), NOW + 3, 0);
        let single = ledger.due_revocations(NOW + 4, 20).unwrap();
        ledger.revocation_result(
            &single,
            &CallOutcome::Status { status: 404, code: Some("ResourceNotFoundException".into()) },
            NOW + 4,
            0,
        );
        assert!(ledger.revocations.is_empty());

        // A batch answered 200 with errors: each pair on its own.
        let (mut ledger, call) = setup();
        let error = |c: &str, code: &str| PairError {
            channel_arn: arn(c),
            viewer_id: VIEWER.into(),
            code: code.into(),
            message: "m".into(),
        };
        let errors = vec![error("c1", "ThrottlingException"), error("c2", "ValidationException")];
        ledger.revocation_result(&call, &CallOutcome::Answered(errors), NOW + 2, 0);
        assert_eq!(queued(&ledger).iter().map(|q| q.0.clone()).collect::<Vec<_>>(), [arn("c1")]);
        let events = ledger.take_events();
        let kinds: Vec<&str> = events
            .iter()
            .map(|e| match e {
                Event::RevocationAccepted { .. } => "accepted",
                Event::RevocationRetry { .. } => "retry",
                Event::RevocationDropped { .. } => "dropped",
                _ => "other",
            })
            .collect();
        assert_eq!(kinds, ["accepted", "retry", "dropped"]);
    }

    #[test]
    fn a_revocation_queued_during_a_call_is_not_lost_when_the_call_succeeds() {
        let mut ledger = Ledger::new(VIEWER);
        ledger.admit("device-a", ch("c0"), refuse(1), false, NOW);
        ledger.admit("device-b", ch("c0"), refuse(1), true, NOW + 1);
        let call = ledger.due_revocations(NOW + 1, 20).unwrap();
        // While IVS answers, another takeover queues a higher ceiling on the same channel.
        ledger.admit("device-c", ch("c0"), refuse(1), true, NOW + 1);
        ledger.revocation_result(&call, &CallOutcome::Answered(vec![]), NOW + 2, 0);
        assert_eq!(queued(&ledger).len(), 1);
        assert_eq!(queued(&ledger)[0].2, ["device-b"]);
    }

    #[test]
    fn backoff_grows_and_is_bounded() {
        let mut previous_floor = 0;
        for attempts in 1..=40 {
            let samples: Vec<u64> = [0, 1, 7, 1000, u32::MAX].iter().map(|r| backoff(attempts, *r)).collect();
            let floor = *samples.iter().min().unwrap();
            assert!(samples.iter().all(|d| *d >= 1 && *d <= BACKOFF_MAX), "{attempts}: {samples:?}");
            assert!(floor >= previous_floor, "{attempts}: grows");
            previous_floor = floor;
        }
        assert_eq!((backoff(1, 0), backoff(1, 1)), (1, 2));
        assert_eq!((backoff(4, 0), backoff(4, 8)), (8, 16));
        assert_eq!((backoff(30, 0), backoff(30, 150)), (150, 300));
        let spread: std::collections::BTreeSet<u64> = (0..1000).map(|r| backoff(9, r)).collect();
        assert!(spread.len() > 100, "jitter spreads retries");
    }

    #[test]
    fn a_long_queue_is_merged_per_channel() {
        let mut ledger = Ledger::new(VIEWER);
        for i in 0..300 {
            ledger.admit(&format!("device-{i}"), ch(if i % 2 == 0 { "c0" } else { "c1" }), refuse(1), true, NOW + i);
        }
        assert!(ledger.revocations.len() <= MAX_QUEUE);
        let newest_c0 = ledger.revocations.iter().filter(|r| r.channel_arn == arn("c0")).map(|r| r.version).max();
        // The holder now is device-299 on c1; the last evicted, device-298, held c0.
        assert_eq!(newest_c0, Some(ledger.devices[0].version - 1));
        assert_eq!(ledger.revoked_through[&arn("c0")], ledger.devices[0].version - 1);
    }

    /// Random operations on a ledger that is stored and loaded (serialized and parsed) between
    /// every two, beside a twin that never is: same decisions, same state, and the invariants hold.
    #[test]
    fn random_operations_survive_restarts_and_keep_the_invariants() {
        let mut rng = Rng(42);
        let channels = [ch("c0"), ch("c1"), ch("c2"), ch("eu0")];
        for run in 0..60 {
            let limit = 1 + (run % 4) as u32;
            let on_limit = if run % 3 == 0 { OnLimit::EvictOldest } else { OnLimit::Refuse };
            let policy = Policy { limit, on_limit, idle_seconds: 30 };
            let mut stored = serde_json::to_string(&Ledger::new(VIEWER)).unwrap();
            let mut twin = Ledger::new(VIEWER);
            let mut now = NOW;
            let mut issued: Vec<i64> = Vec::new();
            for _ in 0..150 {
                now += rng.below(20) as u64;
                let mut ledger: Ledger = serde_json::from_str(&stored).unwrap();
                let device = format!("device-{}", rng.below(6));
                let channel = channels[rng.below(channels.len())];
                let op = rng.below(10);
                let before_devices: Vec<Device> = ledger.devices.clone();
                let before_queue = ledger.revocations.len();
                match op {
                    0..=4 => {
                        let takeover = rng.below(4) == 0;
                        let watermark = ledger.revoked_through.get(channel.arn).copied();
                        let a = ledger.admit(&device, channel, policy, takeover, now);
                        assert_eq!(a, twin.admit(&device, channel, policy, takeover, now));
                        if let Decision::Admitted { version, renewed, evicted } = &a {
                            assert!(watermark.is_none_or(|w| *version > w), "a token IVS would refuse");
                            if !renewed {
                                assert!(issued.iter().all(|v| v < version), "a new admission is above all before");
                                // Every evicted device: one revocation per channel it held.
                                let held: usize = before_devices
                                    .iter()
                                    .filter(|d| evicted.contains(&d.id))
                                    .map(|d| d.holds.len())
                                    .sum();
                                assert_eq!(ledger.revocations.len() - before_queue, held);
                            }
                            issued.push(*version);
                        }
                        if !matches!(a, Decision::Admitted { renewed: false, .. }) {
                            assert!(ledger.devices.len() <= before_devices.len().max(1));
                        }
                        assert!(ledger.devices.len() <= (limit as usize).max(before_devices.len()));
                    }
                    5 => assert_eq!(ledger.heartbeat(&device, channel, now), twin.heartbeat(&device, channel, now)),
                    6 => assert_eq!(ledger.release(&device, now), twin.release(&device, now)),
                    7 if rng.below(5) == 0 => {
                        let scope = if rng.below(2) == 0 {
                            RevokeScope::Viewer(&channels)
                        } else {
                            RevokeScope::Channel(channel)
                        };
                        let block = (rng.below(2) == 0).then_some(now + 30);
                        assert_eq!(ledger.revoke_viewer(scope, block, now), twin.revoke_viewer(scope, block, now));
                    }
                    _ => {
                        let call = ledger.due_revocations(now, 20);
                        assert_eq!(call, twin.due_revocations(now, 20));
                        if let Some(call) = call {
                            // The object may restart between the call and its answer.
                            stored = serde_json::to_string(&ledger).unwrap();
                            ledger = serde_json::from_str(&stored).unwrap();
                            let outcome = match rng.below(4) {
                                0 => CallOutcome::Status { status: 429, code: None },
                                1 => CallOutcome::Network("timeout".into()),
                                _ => CallOutcome::Answered(vec![]),
                            };
                            let random = rng.next() as u32;
                            ledger.revocation_result(&call, &outcome, now, random);
                            twin.revocation_result(&call, &outcome, now, random);
                        }
                    }
                }
                assert_eq!(ledger.take_events(), twin.take_events());
                assert_eq!(ledger, twin);
                let ids: std::collections::BTreeSet<&str> = ledger.devices.iter().map(|d| d.id.as_str()).collect();
                assert_eq!(ids.len(), ledger.devices.len(), "one entry per device");
                assert!(ledger.devices.windows(2).all(|w| w[0].version < w[1].version), "admission order");
                for r in &ledger.revocations {
                    assert!(r.version <= ledger.last_version && r.version >= 0);
                }
                stored = serde_json::to_string(&ledger).unwrap();
            }
            // Whatever IVS did, answering every call in the end empties the queue.
            let mut ledger: Ledger = serde_json::from_str(&stored).unwrap();
            while let Some(at) = ledger.next_alarm() {
                now = now.max(at);
                let call = ledger.due_revocations(now, 20).unwrap();
                ledger.revocation_result(&call, &CallOutcome::Answered(vec![]), now, 0);
            }
            assert!(ledger.revocations.is_empty());
        }
    }

    #[test]
    fn the_stored_form_is_plain_json() {
        let mut ledger = Ledger::new(VIEWER);
        ledger.admit("device-a", ch("c0"), refuse(1), false, NOW);
        ledger.admit("device-b", ch("c0"), refuse(1), true, NOW);
        let json = serde_json::to_value(&ledger).unwrap();
        assert_eq!(json["viewer_id"], VIEWER);
        assert_eq!(json["devices"][0]["holds"][arn("c0")]["version"], NOW + 1);
        assert_eq!(json["revocations"][0]["reason"], "evicted");
        assert!(json.get("events").is_none(), "log lines are never stored");
        // Fields added later default when an older object's state is read.
        let old: Ledger = serde_json::from_str(&format!(r#"{{"viewer_id": "{VIEWER}"}}"#)).unwrap();
        assert_eq!(old, Ledger::new(VIEWER));
        // Issue 22: a device is logged by its digest, never by its id (a browser's cookie value).
        let evicted = serde_json::to_value(Event::DeviceEvicted {
            viewer_id: VIEWER.into(),
            device: "device-a".into(),
            reason: Reason::Evicted,
            channels: vec![],
        })
        .unwrap();
        assert_eq!(evicted["device"], device_digest("device-a"));
        assert!(!evicted.to_string().contains("device-a"));
        let event = serde_json::to_value(Event::DeviceRefused {
            viewer_id: VIEWER.into(),
            channel: "c0".into(),
            in_use: 2,
            limit: 2,
        })
        .unwrap();
        assert_eq!(
            event,
            serde_json::json!({"event": "device-refused", "viewer_id": VIEWER, "channel": "c0", "in_use": 2, "limit": 2})
        );
        let decision =
            serde_json::to_value(Decision::Admitted { version: 5, renewed: false, evicted: vec![] }).unwrap();
        assert_eq!(
            decision,
            serde_json::json!({"decision": "admitted", "version": 5, "renewed": false, "evicted": []})
        );
    }
}
