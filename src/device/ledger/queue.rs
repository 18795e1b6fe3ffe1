//! The revocation queue: what is owed to IVS, handed out one call at a time (a single
//! `StartViewerSessionRevocation` or a batch of up to 20 channels), retried with backoff until IVS
//! accepts it, and merged per channel when it grows; and the operator's revocation that fills it.

use super::events::{Event, Reason};
use super::slots::clamp_version;
use super::state::{ChannelRef, Ledger, Revocation};
use serde::Serialize;
use std::collections::BTreeMap;

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
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Revoked {
    /// Devices that lost their slot.
    pub devices: Vec<String>,
    /// Channels a revocation was queued for.
    pub channels: Vec<String>,
    /// The ceiling revoked.
    pub version: i64,
    /// The block's end, if one was set.
    pub blocked_until: Option<u64>,
    /// The chat rooms (ARNs) a disconnect was queued for (not written when none: the reply of
    /// a revocation without chat is the JSON of before).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rooms: Vec<String>,
}

/// One IVS call: a single `StartViewerSessionRevocation` (one pair) or a
/// `BatchStartViewerSessionRevocation` (2 to 20 pairs), all in one region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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

/// The wait before attempt `attempts + 1` (seconds): `d = min(BACKOFF_MAX, BACKOFF_BASE *
/// 2^(attempts-1))`, then a random point of `[d/2, d]` ("equal jitter"): it grows with every
/// attempt, never exceeds [`BACKOFF_MAX`], and spreads viewers throttled together.
pub fn backoff(attempts: u32, random: u32) -> u64 {
    let exponent = attempts.saturating_sub(1).min(20);
    let ceiling = BACKOFF_BASE.saturating_mul(1 << exponent).min(BACKOFF_MAX);
    let half = ceiling / 2;
    half + u64::from(random) % (ceiling - half + 1)
}

/// The blocks left after an operator lifted one ([`Ledger::unblock`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unblocked {
    /// Whether there was a block to lift.
    pub lifted: bool,
    /// The block of every channel still in force, until then.
    pub blocked_until: Option<u64>,
    /// Blocks of single channels still in force: channel name -> until then.
    pub blocked_channels: BTreeMap<String, u64>,
}

impl Ledger {
    /// An operator lifts a block: of `channel` only, or (without one) every block of the viewer,
    /// the one of every channel and those of single channels. Revocations already queued stay
    /// queued (the sessions they stop were revoked); the viewer may ask for tokens again at once.
    pub fn unblock(&mut self, channel: Option<&str>, now: u64) -> Unblocked {
        self.prune_blocks(now);
        let lifted = match channel {
            Some(name) => self.blocked_channels.remove(name).is_some(),
            None => {
                let had = self.blocked_until.is_some() || !self.blocked_channels.is_empty();
                self.blocked_until = None;
                self.blocked_channels.clear();
                had
            }
        };
        if lifted {
            self.log(Event::ViewerUnblocked { viewer_id: self.viewer_id.clone(), channel: channel.map(str::to_owned) });
        }
        Unblocked { lifted, blocked_until: self.blocked_until, blocked_channels: self.blocked_channels.clone() }
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
            rooms: Vec::new(),
        }
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

    /// When the object's alarm should fire next (Unix seconds): the earliest due revocation (not
    /// before the call spacing allows) or chat disconnect; `None` when nothing is owed to IVS.
    pub fn next_alarm(&self) -> Option<u64> {
        let spacing = self.last_call_at.map_or(0, |at| at.saturating_add(CALL_SPACING));
        let revocation = self
            .revocations
            .iter()
            .map(|r| r.next_attempt_at.max(r.leased_until.unwrap_or(0)))
            .min()
            .map(|at| at.max(spacing));
        revocation.into_iter().chain(self.next_kick_at()).min()
    }

    pub(super) fn queue(
        &mut self,
        arn: &str,
        channel: &str,
        version: i64,
        reason: Reason,
        devices: Vec<String>,
        now: u64,
    ) {
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
}
