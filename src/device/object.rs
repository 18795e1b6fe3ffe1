//! The protocol of a viewer's Durable Object: what the worker asks it ([`Command`]), what it
//! answers ([`Reply`]), and the whole of its decision as one pure function over the stored
//! [`Ledger`] ([`apply`]). The object itself (in the Workers layer) only loads the ledger, calls
//! [`apply`], stores the ledger, arms its alarm and writes the log lines, with no `.await`
//! between the load and the store: each command is decided atomically.
//!
//! ```
//! use ivs_token_worker::device::ledger::{Decision, Ledger, Policy};
//! use ivs_token_worker::device::object::{apply, ChannelKey, Command, Reply};
//! use ivs_token_worker::device::settings::OnLimit;
//! let demo = ChannelKey { name: "demo".into(), arn: "arn:aws:ivs:us-west-2:123456789012:channel/demo1".into() };
//! let policy = Policy { limit: 1, on_limit: OnLimit::Refuse, idle_seconds: 90 };
//! let mut ledger = Ledger::new("5bdcc146bf60754e6a042426089575c75a003f08");
//! let admit = |device: &str| Command::Admit { device: device.into(), channel: demo.clone(), policy, takeover: false };
//! assert!(matches!(apply(&mut ledger, &admit("tv-livingroom"), 1_800_000_000), Reply::Decision { decision: Decision::Admitted { .. } }));
//! assert!(matches!(apply(&mut ledger, &admit("phone-1234"), 1_800_000_001), Reply::Decision { decision: Decision::Refused { .. } }));
//! // The command crosses to the object as JSON.
//! let wire = serde_json::to_string(&admit("phone-1234")).unwrap();
//! assert_eq!(serde_json::from_str::<Command>(&wire).unwrap(), admit("phone-1234"));
//! ```

use super::ledger::{
    ChannelRef, ChatVerdict, Decision, DeviceView, Heartbeat, Ledger, Policy, RevokeScope, Revoked, Unblocked,
};
use serde::Serialize;

/// A channel as a command carries it (the owned form of [`ChannelRef`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChannelKey {
    /// The channel's name in `CHANNELS`.
    pub name: String,
    /// Its ARN.
    pub arn: String,
}

impl ChannelKey {
    /// The borrowed form the ledger takes.
    pub fn as_ref(&self) -> ChannelRef<'_> {
        ChannelRef { name: &self.name, arn: &self.arn }
    }
}

impl From<ChannelRef<'_>> for ChannelKey {
    fn from(channel: ChannelRef<'_>) -> Self {
        Self { name: channel.name.to_owned(), arn: channel.arn.to_owned() }
    }
}

/// What the worker asks a viewer's object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Command {
    /// A token request of `device` on a limited channel ([`Ledger::admit`]).
    Admit {
        /// The device id.
        device: String,
        /// The channel.
        channel: ChannelKey,
        /// The viewer's limit and policy.
        policy: Policy,
        /// `takeover=true`.
        takeover: bool,
    },
    /// `POST /v1/heartbeat` ([`Ledger::heartbeat`]).
    Heartbeat {
        /// The device id.
        device: String,
        /// The channel.
        channel: ChannelKey,
    },
    /// `POST /v1/heartbeat?release=true`: the page closed ([`Ledger::release`]).
    Release {
        /// The device id.
        device: String,
    },
    /// The operator's revocation ([`Ledger::revoke_viewer`]).
    Revoke {
        /// Only this channel; else every channel in `channels` and every one a device holds.
        channel: Option<ChannelKey>,
        /// Every device-limited channel of the configuration.
        channels: Vec<ChannelKey>,
        /// Refuse the viewer's token requests for this long.
        block_seconds: Option<u64>,
        /// The chat rooms (ARNs) to disconnect the viewer from.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        rooms: Vec<String>,
    },
    /// The operator lifts a block ([`Ledger::unblock`]).
    Unblock {
        /// Only this channel's block (its name); every block when absent.
        channel: Option<String>,
    },
    /// A chat token request on a channel ([`Ledger::chat_token`]).
    Chat {
        /// The channel's name.
        channel: String,
    },
    /// The operator's listing ([`Ledger::list`]).
    List {
        /// `DEVICE_LIMITS.idle_seconds`.
        idle_seconds: u64,
    },
}

/// What the object answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reply", rename_all = "kebab-case")]
pub enum Reply {
    /// To [`Command::Admit`].
    Decision {
        /// The ledger's decision.
        decision: Decision,
    },
    /// To [`Command::Heartbeat`].
    Heartbeat {
        /// Whether the device still holds its slot.
        state: Heartbeat,
    },
    /// To [`Command::Release`].
    Released {
        /// Whether the device held a slot.
        held: bool,
    },
    /// To [`Command::Revoke`].
    Revoked {
        /// What was revoked and queued.
        revoked: Revoked,
    },
    /// To [`Command::Unblock`].
    Unblocked {
        /// The blocks left.
        unblocked: Unblocked,
    },
    /// To [`Command::Chat`].
    Chat {
        /// Whether the viewer may have a chat token now.
        verdict: ChatVerdict,
    },
    /// To [`Command::List`].
    Devices {
        /// The devices holding a slot, oldest first.
        devices: Vec<DeviceView>,
        /// Revocations not yet accepted by IVS.
        pending_revocations: usize,
        /// An operator's block of every channel, until then.
        blocked_until: Option<u64>,
        /// An operator's blocks of single channels: channel name -> until then.
        blocked_channels: std::collections::BTreeMap<String, u64>,
    },
}

/// Apply `command` to the viewer's `ledger` at `now` (Unix seconds). The caller stores the
/// ledger afterwards, then arms the alarm at [`Ledger::next_alarm`].
pub fn apply(ledger: &mut Ledger, command: &Command, now: u64) -> Reply {
    match command {
        Command::Admit { device, channel, policy, takeover } => {
            Reply::Decision { decision: ledger.admit(device, channel.as_ref(), *policy, *takeover, now) }
        }
        Command::Heartbeat { device, channel } => {
            Reply::Heartbeat { state: ledger.heartbeat(device, channel.as_ref(), now) }
        }
        Command::Release { device } => Reply::Released { held: ledger.release(device, now) },
        Command::Revoke { channel, channels, block_seconds, rooms } => {
            let block_until = block_seconds.map(|seconds| now.saturating_add(seconds));
            let revoked = match channel {
                Some(channel) => ledger.revoke_viewer(RevokeScope::Channel(channel.as_ref()), block_until, now),
                None => {
                    let all: Vec<ChannelRef<'_>> = channels.iter().map(ChannelKey::as_ref).collect();
                    ledger.revoke_viewer(RevokeScope::Viewer(&all), block_until, now)
                }
            };
            ledger.queue_kicks(rooms, now);
            Reply::Revoked { revoked: Revoked { rooms: rooms.clone(), ..revoked } }
        }
        Command::Chat { channel } => Reply::Chat { verdict: ledger.chat_token(channel, now) },
        Command::Unblock { channel } => Reply::Unblocked { unblocked: ledger.unblock(channel.as_deref(), now) },
        Command::List { idle_seconds } => Reply::Devices {
            devices: ledger.list(now, *idle_seconds),
            pending_revocations: ledger.revocations.len(),
            blocked_until: ledger.blocked_until.filter(|until| *until > now),
            blocked_channels: ledger
                .blocked_channels
                .iter()
                .filter(|(_, until)| **until > now)
                .map(|(c, u)| (c.clone(), *u))
                .collect(),
        },
    }
}

/// A command for one viewer's object, as the worker sends it: the object is named by `viewer_id`
/// and creates its ledger with it the first time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Envelope {
    /// The viewer's `aws:viewer-id` (never the subject).
    pub viewer_id: String,
    /// What to do.
    pub command: Command,
}

/// A command sent to a viewer's object, and how that went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerExchange {
    /// What was sent (what the request plan asked for).
    pub ask: Envelope,
    /// What came back.
    pub answer: LedgerAnswer,
}

/// How a viewer's object answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LedgerAnswer {
    /// It decided.
    Replied(Reply),
    /// It could not be reached (the reason, for the log; never shown to the viewer).
    Unreachable(String),
    /// The worker has no Durable Object binding `DEVICE_LEDGER`: a deployment error.
    Unbound,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::settings::OnLimit;

    const NOW: u64 = 1_800_000_000;

    fn demo() -> ChannelKey {
        ChannelKey { name: "demo".into(), arn: "arn:aws:ivs:us-west-2:123456789012:channel/demo1".into() }
    }

    fn admit(device: &str, takeover: bool) -> Command {
        let policy = Policy { limit: 2, on_limit: OnLimit::Refuse, idle_seconds: 90 };
        Command::Admit { device: device.into(), channel: demo(), policy, takeover }
    }

    /// The object stores the ledger as JSON between commands: a restart between any two gives
    /// the same answers as one long-lived object.
    #[test]
    fn every_command_survives_a_restart_between_commands() {
        let commands = [
            admit("device-aaaa", false),
            admit("device-bbbb", false),
            admit("device-cccc", false),
            Command::Heartbeat { device: "device-aaaa".into(), channel: demo() },
            admit("device-cccc", true),
            Command::Heartbeat { device: "device-aaaa".into(), channel: demo() },
            Command::Release { device: "device-bbbb".into() },
            Command::List { idle_seconds: 90 },
            Command::Revoke { channel: None, channels: vec![demo()], block_seconds: Some(60), rooms: vec![] },
            Command::Chat { channel: "demo".into() },
            admit("device-bbbb", false),
            Command::List { idle_seconds: 90 },
        ];
        let mut live = Ledger::new("viewer");
        let mut stored = serde_json::to_string(&Ledger::new("viewer")).unwrap();
        for (i, command) in commands.iter().enumerate() {
            let now = NOW + i as u64;
            let wire: Command = serde_json::from_str(&serde_json::to_string(command).unwrap()).unwrap();
            let expected = apply(&mut live, command, now);
            let mut restarted: Ledger = serde_json::from_str(&stored).unwrap();
            let reply = apply(&mut restarted, &wire, now);
            stored = serde_json::to_string(&restarted).unwrap();
            assert_eq!(reply, expected, "command {i}");
            let reply_wire: Reply = serde_json::from_str(&serde_json::to_string(&reply).unwrap()).unwrap();
            assert_eq!(reply_wire, reply, "command {i} round-trips");
        }
        let Reply::Devices { devices, pending_revocations, blocked_until, .. } =
            apply(&mut live, &Command::List { idle_seconds: 90 }, NOW + 20)
        else {
            panic!("a listing answers devices")
        };
        assert!(devices.is_empty(), "the operator's revocation freed every slot; the blocked device was not admitted");
        assert_eq!(pending_revocations, 2, "the takeover's eviction and the operator's revocation are queued");
        assert_eq!(blocked_until, Some(NOW + 8 + 60));
    }

    #[test]
    fn takeover_and_heartbeats_through_the_protocol() {
        let mut ledger = Ledger::new("viewer");
        for device in ["device-aaaa", "device-bbbb"] {
            assert!(matches!(
                apply(&mut ledger, &admit(device, false), NOW),
                Reply::Decision { decision: Decision::Admitted { .. } }
            ));
        }
        let refused = apply(&mut ledger, &admit("device-cccc", false), NOW + 1);
        assert_eq!(refused, Reply::Decision { decision: Decision::Refused { in_use: 2, limit: 2 } });
        let taken = apply(&mut ledger, &admit("device-cccc", true), NOW + 2);
        assert!(
            matches!(taken, Reply::Decision { decision: Decision::Admitted { ref evicted, .. } } if evicted == &["device-aaaa"])
        );
        let beat = |ledger: &mut Ledger, device: &str| {
            apply(ledger, &Command::Heartbeat { device: device.into(), channel: demo() }, NOW + 3)
        };
        assert_eq!(beat(&mut ledger, "device-aaaa"), Reply::Heartbeat { state: Heartbeat::Evicted });
        assert_eq!(beat(&mut ledger, "device-bbbb"), Reply::Heartbeat { state: Heartbeat::Held });
        assert_eq!(
            apply(&mut ledger, &Command::Release { device: "nobody-1".into() }, NOW + 4),
            Reply::Released { held: false }
        );
        let wire =
            serde_json::to_value(Envelope { viewer_id: "viewer".into(), command: admit("device-dddd", true) }).unwrap();
        assert_eq!(wire["command"]["op"], "admit");
        assert_eq!(wire["command"]["policy"]["on_limit"], "refuse");
    }
}
