//! The ledger's log lines ([`Event`]) and why a device lost its slot ([`Reason`]).

use crate::device::id::device_digest;
use serde::Serialize;

/// Why a device lost its slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    /// The oldest active device, evicted for a new one (`takeover=true` or `evict-oldest`).
    Evicted,
    /// An idle or released device whose slot was given to a new one.
    Idle,
    /// An operator revoked the viewer (`POST /v1/admin/revoke`).
    Operator,
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
    /// An operator lifted the viewer's block (of one channel, or every block).
    ViewerUnblocked {
        /// The viewer id.
        viewer_id: String,
        /// The channel whose block was lifted; every block when absent.
        channel: Option<String>,
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
    /// IVS Chat disconnected the viewer from a room (an operator's revocation).
    ChatDisconnected {
        /// The viewer id.
        viewer_id: String,
        /// The room's ARN.
        room_arn: String,
        /// Failed attempts before.
        attempts: u32,
    },
    /// A `DisconnectUser` failed and will be retried.
    ChatDisconnectRetry {
        /// The viewer id.
        viewer_id: String,
        /// The room's ARN.
        room_arn: String,
        /// Failed attempts so far.
        attempts: u32,
        /// The next attempt, Unix seconds.
        next_attempt_at: u64,
        /// Why it failed (an AWS error type or a status, never AWS's message).
        reason: String,
    },
    /// A `DisconnectUser` IVS Chat can never accept, dropped.
    ChatDisconnectDropped {
        /// The viewer id.
        viewer_id: String,
        /// The room's ARN.
        room_arn: String,
        /// Why.
        reason: String,
    },
}

/// Log lines name a device by its digest: its id may be a browser's cookie.
fn as_digest<S: serde::Serializer>(device: &str, serializer: S) -> std::result::Result<S::Ok, S::Error> {
    serializer.serialize_str(&device_digest(device))
}
