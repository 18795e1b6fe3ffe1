//! The viewer's chat in the ledger: whether a chat token may be asked for now (an operator's
//! block, and a floor under how often: chat tokens are single use, so a chat client asks again on
//! every reconnect, and nothing else should let a viewer turn the worker into a
//! `CreateChatToken` amplifier against the account's quota), and the `DisconnectUser` calls an
//! operator's revocation owes IVS Chat, queued and retried like revocations.

use super::events::Event;
use super::queue::{backoff, LEASE_SECONDS};
use super::state::{Kick, Ledger};
use crate::chat::api::{read_disconnect_answer, Created};
use serde::Serialize;

/// The window of the chat token floor, in seconds.
pub const CHAT_WINDOW: u64 = 60;
/// Chat tokens a viewer may ask for per [`CHAT_WINDOW`]: enough for several tabs and a flaky
/// network's reconnects, a few hundredths of IVS Chat's default 200 TPS per viewer at most.
pub const CHAT_TOKENS_PER_WINDOW: u32 = 10;
/// Queued disconnects beyond this are dropped, oldest first (each names one room: the rooms of
/// a configuration, asked again by the next revocation).
pub const MAX_KICKS: usize = 64;

/// Whether the viewer may have a chat token now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "kebab-case")]
pub enum ChatVerdict {
    /// Yes (counted against the floor).
    Allowed,
    /// An operator blocked the viewer (every channel, or this one) until then.
    Blocked {
        /// The block's end, Unix seconds.
        until: u64,
    },
    /// Too many in this window: retry after this many seconds.
    TooFast {
        /// Seconds to wait.
        retry_after: u64,
    },
}

/// One `DisconnectUser` call to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KickCall {
    /// The queued kick's id (for [`Ledger::kick_result`]).
    pub id: u64,
    /// The room's ARN.
    pub room_arn: String,
    /// The room's region: the endpoint and the signing scope.
    pub region: String,
    /// The `userId` to disconnect: the viewer id.
    pub user_id: String,
}

/// How IVS Chat answered a [`KickCall`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KickOutcome {
    /// Disconnected (or nothing left to disconnect: the room is gone).
    Done,
    /// Throttled, a server or network error, access denied: retried with backoff.
    Retry(String),
    /// A request IVS Chat can never accept (validation): dropped, saying why.
    Drop(String),
}

impl KickOutcome {
    /// What IVS Chat's answer to `DisconnectUser` (its status, `x-amzn-ErrorType` and body) means
    /// for the kick: only the error type and status are kept for the log, never AWS's message.
    pub fn of_answer(status: u16, error_type: Option<&str>, body: &str) -> Self {
        let with_code =
            |code: Option<String>| format!("HTTP {status} {}", code.unwrap_or_default()).trim_end().to_owned();
        match read_disconnect_answer(status, error_type, body) {
            None | Some(Created::Token(_)) => Self::Done,
            Some(Created::Refused { status: 400, code }) => Self::Drop(with_code(code)),
            // Access denied and the like: an IAM policy being fixed; never dropped for it.
            Some(Created::Refused { code, .. } | Created::Retry { code, .. }) => Self::Retry(with_code(code)),
        }
    }
}

impl Ledger {
    /// Whether the viewer may have a chat token for `channel` (its name) at `now`; an allowed one
    /// is counted.
    pub fn chat_token(&mut self, channel: &str, now: u64) -> ChatVerdict {
        let block = self.blocked_until.into_iter().chain(self.blocked_channels.get(channel).copied()).max();
        if let Some(until) = block.filter(|until| *until > now) {
            self.log(Event::ViewerBlocked { viewer_id: self.viewer_id.clone(), channel: channel.to_owned(), until });
            return ChatVerdict::Blocked { until };
        }
        let (start, count) = match self.chat_window {
            Some((start, count)) if now >= start && now < start.saturating_add(CHAT_WINDOW) => (start, count),
            _ => (now, 0),
        };
        if count >= CHAT_TOKENS_PER_WINDOW {
            return ChatVerdict::TooFast { retry_after: start.saturating_add(CHAT_WINDOW).saturating_sub(now).max(1) };
        }
        self.chat_window = Some((start, count + 1));
        ChatVerdict::Allowed
    }

    /// Queue a `DisconnectUser` for each of `rooms` (ARNs), due at once; a room already queued
    /// is not queued twice.
    pub fn queue_kicks(&mut self, rooms: &[String], now: u64) {
        for room in rooms {
            if self.kicks.iter().any(|k| &k.room_arn == room) {
                continue;
            }
            let id = self.next_kick_id;
            self.next_kick_id += 1;
            self.kicks.push(Kick {
                id,
                room_arn: room.clone(),
                queued_at: now,
                attempts: 0,
                next_attempt_at: now,
                leased_until: None,
            });
        }
        let excess = self.kicks.len().saturating_sub(MAX_KICKS);
        self.kicks.drain(..excess);
    }

    /// The next `DisconnectUser` to make at `now`, if one is due; leased for [`LEASE_SECONDS`].
    pub fn due_kick(&mut self, now: u64) -> Option<KickCall> {
        let viewer_id = self.viewer_id.clone();
        let kick = self
            .kicks
            .iter_mut()
            .find(|k| k.next_attempt_at <= now && k.leased_until.is_none_or(|until| until <= now))?;
        kick.leased_until = Some(now.saturating_add(LEASE_SECONDS));
        let region = crate::ivs::parse_arn(&kick.room_arn, "ivschat", "room").map_or("", |arn| arn.region).to_owned();
        Some(KickCall { id: kick.id, room_arn: kick.room_arn.clone(), region, user_id: viewer_id })
    }

    /// Apply IVS Chat's answer to the kick `id` at `now`; `random` spreads the retries.
    pub fn kick_result(&mut self, id: u64, outcome: &KickOutcome, now: u64, random: u32) {
        let Some(index) = self.kicks.iter().position(|k| k.id == id) else { return };
        let viewer_id = self.viewer_id.clone();
        match outcome {
            KickOutcome::Done => {
                let kick = self.kicks.remove(index);
                self.log(Event::ChatDisconnected { viewer_id, room_arn: kick.room_arn, attempts: kick.attempts });
            }
            KickOutcome::Drop(reason) => {
                let kick = self.kicks.remove(index);
                self.log(Event::ChatDisconnectDropped { viewer_id, room_arn: kick.room_arn, reason: reason.clone() });
            }
            KickOutcome::Retry(reason) => {
                let kick = &mut self.kicks[index];
                kick.attempts = kick.attempts.saturating_add(1);
                kick.leased_until = None;
                kick.next_attempt_at = now.saturating_add(backoff(kick.attempts, random));
                let (room_arn, attempts, next_attempt_at) =
                    (kick.room_arn.clone(), kick.attempts, kick.next_attempt_at);
                self.log(Event::ChatDisconnectRetry {
                    viewer_id,
                    room_arn,
                    attempts,
                    next_attempt_at,
                    reason: reason.clone(),
                });
            }
        }
    }

    /// When the next kick is due (or its lease ends).
    pub(super) fn next_kick_at(&self) -> Option<u64> {
        self.kicks.iter().map(|k| k.next_attempt_at.max(k.leased_until.unwrap_or(0))).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000;
    const ROOM: &str = "arn:aws:ivschat:us-west-2:123456789012:room/abc";

    #[test]
    fn the_floor_allows_a_burst_then_waits_for_the_window() {
        let mut ledger = Ledger::new("viewer");
        for i in 0..CHAT_TOKENS_PER_WINDOW {
            assert_eq!(ledger.chat_token("demo", NOW + u64::from(i)), ChatVerdict::Allowed, "{i}");
        }
        assert_eq!(ledger.chat_token("demo", NOW + 20), ChatVerdict::TooFast { retry_after: 40 });
        assert_eq!(ledger.chat_token("other", NOW + 59), ChatVerdict::TooFast { retry_after: 1 }, "per viewer");
        assert_eq!(ledger.chat_token("demo", NOW + 60), ChatVerdict::Allowed, "a new window");
        assert_eq!(ledger.chat_token("demo", NOW - 100), ChatVerdict::Allowed, "a clock that stepped back");
    }

    #[test]
    fn blocks_refuse_chat_tokens_until_they_end() {
        let mut ledger = Ledger::new("viewer");
        ledger.blocked_channels.insert("demo".into(), NOW + 30);
        assert_eq!(ledger.chat_token("demo", NOW), ChatVerdict::Blocked { until: NOW + 30 });
        assert_eq!(ledger.chat_token("other", NOW), ChatVerdict::Allowed);
        assert_eq!(ledger.chat_token("demo", NOW + 30), ChatVerdict::Allowed);
        ledger.blocked_until = Some(NOW + 100);
        assert_eq!(ledger.chat_token("other", NOW + 31), ChatVerdict::Blocked { until: NOW + 100 });
        assert!(matches!(ledger.take_events()[0], Event::ViewerBlocked { .. }));
    }

    #[test]
    fn kicks_are_leased_retried_and_never_lost_to_throttling() {
        let mut ledger = Ledger::new("viewer");
        ledger.queue_kicks(&[ROOM.to_owned(), ROOM.to_owned()], NOW);
        assert_eq!(ledger.kicks.len(), 1, "one per room");
        let call = ledger.due_kick(NOW).unwrap();
        assert_eq!((call.region.as_str(), call.user_id.as_str()), ("us-west-2", "viewer"));
        assert_eq!(ledger.due_kick(NOW + 1), None, "leased");
        assert_eq!(ledger.next_kick_at(), Some(NOW + LEASE_SECONDS));
        ledger.kick_result(call.id, &KickOutcome::Retry("ThrottlingException".into()), NOW + 1, 0);
        assert!(matches!(&ledger.take_events()[..], [Event::ChatDisconnectRetry { attempts: 1, .. }]));
        let retry_at = ledger.next_kick_at().unwrap();
        assert!(retry_at > NOW + 1);
        assert_eq!(ledger.due_kick(retry_at - 1), None);
        // The object restarts between the call and its answer: the stored kick is leased, so it
        // is sent again once the lease ends, not lost and not sent twice at once.
        ledger.due_kick(retry_at).unwrap();
        let mut ledger: Ledger = serde_json::from_str(&serde_json::to_string(&ledger).unwrap()).unwrap();
        assert_eq!(ledger.due_kick(retry_at + 1), None);
        let again = ledger.due_kick(retry_at + LEASE_SECONDS).unwrap();
        ledger.kick_result(again.id, &KickOutcome::Done, retry_at + LEASE_SECONDS, 0);
        assert!(ledger.kicks.is_empty() && ledger.next_kick_at().is_none());
        let events = ledger.take_events();
        assert!(matches!(&events[..], [Event::ChatDisconnected { attempts: 1, .. }]), "{events:?}");
        ledger.queue_kicks(&[ROOM.to_owned()], NOW);
        let call = ledger.due_kick(NOW).unwrap();
        ledger.kick_result(call.id, &KickOutcome::Drop("ValidationException".into()), NOW, 0);
        assert!(ledger.kicks.is_empty());
    }

    #[test]
    fn answers_keep_or_drop_a_kick_as_ivs_chat_means_them() {
        assert_eq!(KickOutcome::of_answer(200, None, "{}"), KickOutcome::Done);
        assert_eq!(KickOutcome::of_answer(404, Some("ResourceNotFoundException"), "{}"), KickOutcome::Done);
        assert_eq!(
            KickOutcome::of_answer(400, Some("ValidationException"), r#"{"message":"userId: x"}"#),
            KickOutcome::Drop("HTTP 400 ValidationException".into())
        );
        for (status, kept) in [(403, "HTTP 403 AccessDeniedException"), (429, "HTTP 429 ThrottlingException")] {
            let code = kept.rsplit(' ').next();
            assert_eq!(KickOutcome::of_answer(status, code, "{}"), KickOutcome::Retry(kept.into()));
        }
        assert_eq!(KickOutcome::of_answer(503, None, "<html>"), KickOutcome::Retry("HTTP 503".into()));
    }

    #[test]
    fn a_ledger_without_chat_stores_what_it_stored_before() {
        let ledger = Ledger::new("viewer");
        let stored = serde_json::to_string(&ledger).unwrap();
        assert!(!stored.contains("chat") && !stored.contains("kick"), "{stored}");
    }
}
