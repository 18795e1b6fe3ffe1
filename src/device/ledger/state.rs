//! What a viewer's ledger holds: its devices and their holds, the revocations owed to IVS, the
//! operator's blocks and the highest versions; stored whole after every operation.

use super::events::{Event, Reason};
use serde::Serialize;
use std::collections::BTreeMap;

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
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hold {
    /// The channel's name when the hold began (for logs).
    pub channel: String,
    /// The version its tokens on this channel carry.
    pub version: i64,
    /// When it first got a token for this channel, Unix seconds.
    pub since: u64,
}

impl Device {
    pub(super) fn is_idle(&self, now: u64, idle_seconds: u64) -> bool {
        self.released || now >= self.last_seen.saturating_add(idle_seconds)
    }
}

/// One revocation owed to IVS: every session of the viewer on `channel_arn` at or below `version`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
    pub(super) fn is_due(&self, now: u64) -> bool {
        self.next_attempt_at <= now && self.leased_until.is_none_or(|until| until <= now)
    }

    /// The region of its channel (from the ARN).
    pub fn region(&self) -> &str {
        crate::ivs::parse_ivs_arn(&self.channel_arn, "channel").map_or("", |arn| arn.region)
    }
}

/// One `DisconnectUser` owed to IVS Chat: the viewer, out of one room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Kick {
    /// Its id in this ledger.
    pub id: u64,
    /// The room's ARN.
    pub room_arn: String,
    /// When it was queued.
    pub queued_at: u64,
    /// Failed attempts so far.
    pub attempts: u32,
    /// Not handed out before this time.
    pub next_attempt_at: u64,
    /// Handed out until this time (then handed out again, unless answered).
    #[serde(default)]
    pub leased_until: Option<u64>,
}

/// The state of one viewer. Serialize it whole into the object's storage after every operation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
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
    /// Chat tokens asked for in the current window: (its start, how many).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chat_window: Option<(u64, u32)>,
    /// `DisconnectUser` calls owed to IVS Chat.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub kicks: Vec<Kick>,
    /// The id of the next kick.
    #[serde(skip_serializing_if = "is_zero")]
    pub next_kick_id: u64,
    /// Log lines not yet taken ([`Ledger::take_events`]); never stored.
    #[serde(skip)]
    pub(super) events: Vec<Event>,
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

    pub(super) fn log(&mut self, event: Event) {
        self.events.push(event);
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}
