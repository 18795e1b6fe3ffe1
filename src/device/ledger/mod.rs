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
//!
//! | module | part |
//! |---|---|
//! | [`state`] | the ledger itself: devices, holds, queued revocations, blocks |
//! | [`slots`] | admissions, heartbeats, releases, the listing, versions |
//! | [`queue`] | the revocation queue and the operator's revocation |
//! | `chat` | the chat token floor and blocks, the chat disconnects owed to IVS Chat |
//! | [`events`] | log lines, and why a device lost its slot |

mod chat;
mod events;
mod queue;
mod slots;
mod state;
#[cfg(test)]
mod tests;

pub use super::settings::Policy;
pub use chat::{ChatVerdict, KickCall, KickOutcome, CHAT_TOKENS_PER_WINDOW, CHAT_WINDOW};
pub use events::{Event, Reason};
pub use queue::{
    backoff, CallOutcome, Pair, PairError, RevocationCall, RevokeScope, Revoked, Unblocked, BACKOFF_BASE, BACKOFF_MAX,
    CALL_SPACING, LEASE_SECONDS, MAX_BATCH, MAX_QUEUE,
};
pub use slots::{unledgered_version, Decision, DeviceView, Heartbeat, MAX_VERSION, MAX_VERSION_LEAD};
pub use state::{ChannelRef, Device, Hold, Kick, Ledger, Revocation};
