//! Slots: a token request's admission (refuse, take over, evict the oldest or an idle device),
//! heartbeats and releases, the operator's listing, and the versions the tokens carry.

use super::events::{Event, Reason};
use super::state::{ChannelRef, Device, Hold, Ledger};
use crate::device::settings::{OnLimit, Policy};
use crate::error::{Error, Result};
use serde::Serialize;
use std::collections::BTreeMap;

/// How far ahead of the clock a version may run, in seconds: versions rise by one for each new
/// device, so an account that admits devices faster than one a second would otherwise push them
/// ever further ahead, and "revoke every session started before T" would miss the newest. 15
/// leaves room for a burst (a family's devices opened together, a dozen concurrent takeovers)
/// and bounds the margin an operator revoking by hand adds to T.
pub const MAX_VERSION_LEAD: i64 = 15;

/// IVS's version is a 32-bit integer: no version above this is issued.
pub const MAX_VERSION: i64 = i32::MAX as i64;

/// The answer to a token request on a limited channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Heartbeat {
    /// The device holds its slot on that channel: `204`.
    Held,
    /// It does not (any more): `409 device-evicted`.
    Evicted,
}

/// A device as the operator's listing shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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

/// A version for `now`, within IVS's 32-bit range.
pub(super) fn clamp_version(now: u64) -> i64 {
    i64::try_from(now).unwrap_or(i64::MAX).min(MAX_VERSION)
}

/// The version a token carries when it was issued without the ledger (the object could not be
/// reached and the policy serves anyway): `now`, within IVS's range. Not above every version the
/// ledger issued (those may run ahead of the clock by a few), but above every ceiling revoked
/// before the last second.
pub fn unledgered_version(now: u64) -> i64 {
    clamp_version(now)
}

impl Ledger {
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

    pub(super) fn prune_blocks(&mut self, now: u64) {
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
}
