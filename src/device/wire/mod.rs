//! Reading the device ledger's JSON: the Durable Object's stored [`Ledger`], the [`Envelope`] the
//! worker sends it and the [`Reply`] it answers (with every type inside them). serde's derived
//! `Serialize` writes them (the attributes on the types are the format); they are read here, by
//! hand, from one `serde_json::Value`. Derived, their `Deserialize` was the module's largest
//! generated code: the internally tagged enums (`op`, `reply`, `decision`) buffer each object in
//! serde's private `Content` and decode it again per variant, and every visitor was instantiated
//! once per deserializer (JSON text, the buffered content, the JS value of `Request::json`).
//! Read here: what the derive accepted for what it wrote (missing `Option` fields and `null` are
//! `None`, `#[serde(default)]` fields and every field of [`Ledger`] default when missing, unknown
//! fields are ignored, integers out of a field's range are refused), and the same values; the
//! tests hold the exact JSON the derived code wrote for every variant, captured before.

use super::ledger::{
    ChatVerdict, Decision, Device, DeviceView, Heartbeat, Hold, Kick, Ledger, Reason, Revocation, Revoked, Unblocked,
};
use super::object::{ChannelKey, Command, Envelope, Reply};
use super::settings::{OnLimit, Policy};
use serde::de::{Deserialize, Deserializer, Error as _};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

type Read<T> = Result<T, String>;

/// One JSON object's fields.
#[derive(Clone, Copy)]
struct Fields<'v>(&'v Map<String, Value>);

impl<'v> Fields<'v> {
    fn of(value: &'v Value) -> Read<Self> {
        value.as_object().map(Self).ok_or_else(|| "expected an object".to_owned())
    }

    /// A required field.
    fn get<T>(self, key: &str, read: fn(&Value) -> Read<T>) -> Read<T> {
        match self.0.get(key) {
            Some(value) => read(value).map_err(|e| format!("field `{key}`: {e}")),
            None => Err(format!("missing field `{key}`")),
        }
    }

    /// An `Option` field: missing or `null` is `None`.
    fn optional<T>(self, key: &str, read: fn(&Value) -> Read<T>) -> Read<Option<T>> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(_) => self.get(key, read).map(Some),
        }
    }

    /// A `#[serde(default)]` field: missing is the default.
    fn defaulted<T: Default>(self, key: &str, read: fn(&Value) -> Read<T>) -> Read<T> {
        match self.0.contains_key(key) {
            true => self.get(key, read),
            false => Ok(T::default()),
        }
    }

    /// An internally tagged enum's tag.
    fn tag(self, key: &str) -> Read<&'v str> {
        self.0.get(key).and_then(Value::as_str).ok_or_else(|| format!("missing or invalid tag `{key}`"))
    }
}

fn string(value: &Value) -> Read<String> {
    value.as_str().map(str::to_owned).ok_or_else(|| "expected a string".to_owned())
}

fn boolean(value: &Value) -> Read<bool> {
    value.as_bool().ok_or_else(|| "expected a boolean".to_owned())
}

fn unsigned(value: &Value) -> Read<u64> {
    value.as_u64().ok_or_else(|| "expected a non-negative integer".to_owned())
}

fn signed(value: &Value) -> Read<i64> {
    value.as_i64().ok_or_else(|| "expected an integer".to_owned())
}

fn unsigned32(value: &Value) -> Read<u32> {
    u32::try_from(unsigned(value)?).map_err(|_| "out of range".to_owned())
}

fn size(value: &Value) -> Read<usize> {
    usize::try_from(unsigned(value)?).map_err(|_| "out of range".to_owned())
}

fn list<T>(value: &Value, read: fn(&Value) -> Read<T>) -> Read<Vec<T>> {
    let items = value.as_array().ok_or_else(|| "expected an array".to_owned())?;
    items.iter().enumerate().map(|(i, item)| read(item).map_err(|e| format!("[{i}]: {e}"))).collect()
}

fn map<T>(value: &Value, read: fn(&Value) -> Read<T>) -> Read<BTreeMap<String, T>> {
    let fields = Fields::of(value)?;
    let mut out = BTreeMap::new();
    for (key, item) in fields.0 {
        out.insert(key.clone(), read(item).map_err(|e| format!("`{key}`: {e}"))?);
    }
    Ok(out)
}

fn strings(value: &Value) -> Read<Vec<String>> {
    list(value, string)
}

fn until_map(value: &Value) -> Read<BTreeMap<String, u64>> {
    map(value, unsigned)
}

/// A unit variant, written as its name.
fn unit<T: Copy>(value: &Value, names: &[(&str, T)]) -> Read<T> {
    let name = value.as_str().ok_or_else(|| "expected a string".to_owned())?;
    names.iter().find(|(n, _)| *n == name).map(|(_, v)| *v).ok_or_else(|| format!("unknown variant `{name}`"))
}

fn unknown<T>(key: &str, tag: &str) -> Read<T> {
    Err(format!("`{key}`: unknown variant `{tag}`"))
}

fn on_limit(value: &Value) -> Read<OnLimit> {
    unit(value, &[("refuse", OnLimit::Refuse), ("evict-oldest", OnLimit::EvictOldest)])
}

fn reason(value: &Value) -> Read<Reason> {
    unit(value, &[("evicted", Reason::Evicted), ("idle", Reason::Idle), ("operator", Reason::Operator)])
}

fn heartbeat(value: &Value) -> Read<Heartbeat> {
    unit(value, &[("held", Heartbeat::Held), ("evicted", Heartbeat::Evicted)])
}

fn policy(value: &Value) -> Read<Policy> {
    let f = Fields::of(value)?;
    Ok(Policy {
        limit: f.get("limit", unsigned32)?,
        on_limit: f.get("on_limit", on_limit)?,
        idle_seconds: f.get("idle_seconds", unsigned)?,
    })
}

fn channel_key(value: &Value) -> Read<ChannelKey> {
    let f = Fields::of(value)?;
    Ok(ChannelKey { name: f.get("name", string)?, arn: f.get("arn", string)? })
}

fn command(value: &Value) -> Read<Command> {
    let f = Fields::of(value)?;
    Ok(match f.tag("op")? {
        "admit" => Command::Admit {
            device: f.get("device", string)?,
            channel: f.get("channel", channel_key)?,
            policy: f.get("policy", policy)?,
            takeover: f.get("takeover", boolean)?,
        },
        "heartbeat" => Command::Heartbeat { device: f.get("device", string)?, channel: f.get("channel", channel_key)? },
        "release" => Command::Release { device: f.get("device", string)? },
        "revoke" => Command::Revoke {
            channel: f.optional("channel", channel_key)?,
            channels: f.get("channels", |v| list(v, channel_key))?,
            block_seconds: f.optional("block_seconds", unsigned)?,
            rooms: f.defaulted("rooms", strings)?,
        },
        "chat" => Command::Chat { channel: f.get("channel", string)? },
        "unblock" => Command::Unblock { channel: f.optional("channel", string)? },
        "list" => Command::List { idle_seconds: f.get("idle_seconds", unsigned)? },
        other => return unknown("op", other),
    })
}

fn envelope(value: &Value) -> Read<Envelope> {
    let f = Fields::of(value)?;
    Ok(Envelope { viewer_id: f.get("viewer_id", string)?, command: f.get("command", command)? })
}

fn decision(value: &Value) -> Read<Decision> {
    let f = Fields::of(value)?;
    Ok(match f.tag("decision")? {
        "admitted" => Decision::Admitted {
            version: f.get("version", signed)?,
            renewed: f.get("renewed", boolean)?,
            evicted: f.get("evicted", strings)?,
        },
        "refused" => Decision::Refused { in_use: f.get("in_use", size)?, limit: f.get("limit", unsigned32)? },
        "blocked" => Decision::Blocked { until: f.get("until", unsigned)? },
        "exhausted" => Decision::Exhausted,
        "too-fast" => Decision::TooFast { retry_after: f.get("retry_after", unsigned)? },
        other => return unknown("decision", other),
    })
}

fn revoked(value: &Value) -> Read<Revoked> {
    let f = Fields::of(value)?;
    Ok(Revoked {
        devices: f.get("devices", strings)?,
        channels: f.get("channels", strings)?,
        version: f.get("version", signed)?,
        blocked_until: f.optional("blocked_until", unsigned)?,
        rooms: f.defaulted("rooms", strings)?,
    })
}

fn chat_verdict(value: &Value) -> Read<ChatVerdict> {
    let f = Fields::of(value)?;
    Ok(match f.tag("verdict")? {
        "allowed" => ChatVerdict::Allowed,
        "blocked" => ChatVerdict::Blocked { until: f.get("until", unsigned)? },
        "too-fast" => ChatVerdict::TooFast { retry_after: f.get("retry_after", unsigned)? },
        other => return unknown("verdict", other),
    })
}

fn unblocked(value: &Value) -> Read<Unblocked> {
    let f = Fields::of(value)?;
    Ok(Unblocked {
        lifted: f.get("lifted", boolean)?,
        blocked_until: f.optional("blocked_until", unsigned)?,
        blocked_channels: f.get("blocked_channels", until_map)?,
    })
}

fn device_view(value: &Value) -> Read<DeviceView> {
    let f = Fields::of(value)?;
    Ok(DeviceView {
        device: f.get("device", string)?,
        channels: f.get("channels", strings)?,
        admitted_at: f.get("admitted_at", unsigned)?,
        last_seen: f.get("last_seen", unsigned)?,
        idle: f.get("idle", boolean)?,
    })
}

fn reply(value: &Value) -> Read<Reply> {
    let f = Fields::of(value)?;
    Ok(match f.tag("reply")? {
        "decision" => Reply::Decision { decision: f.get("decision", decision)? },
        "heartbeat" => Reply::Heartbeat { state: f.get("state", heartbeat)? },
        "released" => Reply::Released { held: f.get("held", boolean)? },
        "revoked" => Reply::Revoked { revoked: f.get("revoked", revoked)? },
        "unblocked" => Reply::Unblocked { unblocked: f.get("unblocked", unblocked)? },
        "chat" => Reply::Chat { verdict: f.get("verdict", chat_verdict)? },
        "devices" => Reply::Devices {
            devices: f.get("devices", |v| list(v, device_view))?,
            pending_revocations: f.get("pending_revocations", size)?,
            blocked_until: f.optional("blocked_until", unsigned)?,
            blocked_channels: f.get("blocked_channels", until_map)?,
        },
        other => return unknown("reply", other),
    })
}

fn hold(value: &Value) -> Read<Hold> {
    let f = Fields::of(value)?;
    Ok(Hold {
        channel: f.get("channel", string)?,
        version: f.get("version", signed)?,
        since: f.get("since", unsigned)?,
    })
}

fn device(value: &Value) -> Read<Device> {
    let f = Fields::of(value)?;
    Ok(Device {
        id: f.get("id", string)?,
        version: f.get("version", signed)?,
        admitted_at: f.get("admitted_at", unsigned)?,
        last_seen: f.get("last_seen", unsigned)?,
        released: f.defaulted("released", boolean)?,
        holds: f.get("holds", |v| map(v, hold))?,
    })
}

fn revocation(value: &Value) -> Read<Revocation> {
    let f = Fields::of(value)?;
    Ok(Revocation {
        id: f.get("id", unsigned)?,
        channel_arn: f.get("channel_arn", string)?,
        channel: f.get("channel", string)?,
        version: f.get("version", signed)?,
        reason: f.get("reason", reason)?,
        devices: f.get("devices", strings)?,
        queued_at: f.get("queued_at", unsigned)?,
        attempts: f.get("attempts", unsigned32)?,
        next_attempt_at: f.get("next_attempt_at", unsigned)?,
        leased_until: f.optional("leased_until", unsigned)?,
        alone: f.defaulted("alone", boolean)?,
        last_error: f.optional("last_error", string)?,
    })
}

fn kick(value: &Value) -> Read<Kick> {
    let f = Fields::of(value)?;
    Ok(Kick {
        id: f.get("id", unsigned)?,
        room_arn: f.get("room_arn", string)?,
        queued_at: f.get("queued_at", unsigned)?,
        attempts: f.get("attempts", unsigned32)?,
        next_attempt_at: f.get("next_attempt_at", unsigned)?,
        leased_until: f.optional("leased_until", unsigned)?,
    })
}

/// The chat token floor's window: `[start, count]`, as serde writes a tuple.
fn chat_window(value: &Value) -> Read<(u64, u32)> {
    match value.as_array().map(Vec::as_slice) {
        Some([start, count]) => Ok((unsigned(start)?, unsigned32(count)?)),
        _ => Err("expected [start, count]".to_owned()),
    }
}

/// `#[serde(default)]` on the whole struct: every missing field is the default ledger's.
fn ledger(value: &Value) -> Read<Ledger> {
    let f = Fields::of(value)?;
    let mut ledger = Ledger::default();
    ledger.viewer_id = f.defaulted("viewer_id", string)?;
    ledger.devices = f.defaulted("devices", |v| list(v, device))?;
    ledger.last_version = f.defaulted("last_version", signed)?;
    ledger.clock_high = f.defaulted("clock_high", signed)?;
    ledger.revoked_through = f.defaulted("revoked_through", |v| map(v, signed))?;
    ledger.revocations = f.defaulted("revocations", |v| list(v, revocation))?;
    ledger.next_revocation_id = f.defaulted("next_revocation_id", unsigned)?;
    ledger.last_call_at = f.optional("last_call_at", unsigned)?;
    ledger.blocked_until = f.optional("blocked_until", unsigned)?;
    ledger.blocked_channels = f.defaulted("blocked_channels", until_map)?;
    ledger.chat_window = f.optional("chat_window", chat_window)?;
    ledger.kicks = f.defaulted("kicks", |v| list(v, kick))?;
    ledger.next_kick_id = f.defaulted("next_kick_id", unsigned)?;
    Ok(ledger)
}

/// `Deserialize` for each type through its reader above: the deserializer only builds a `Value`
/// (code every JSON reader of the crate shares).
macro_rules! read_through_value {
    ($($ty:ty => $read:ident,)*) => {$(
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                $read(&Value::deserialize(deserializer)?).map_err(D::Error::custom)
            }
        }
    )*};
}

read_through_value! {
    Envelope => envelope,
    Command => command,
    ChannelKey => channel_key,
    Policy => policy,
    OnLimit => on_limit,
    Reply => reply,
    Decision => decision,
    Heartbeat => heartbeat,
    Revoked => revoked,
    Unblocked => unblocked,
    DeviceView => device_view,
    Ledger => ledger,
    Device => device,
    Hold => hold,
    Revocation => revocation,
    Reason => reason,
    Kick => kick,
    ChatVerdict => chat_verdict,
}

#[cfg(test)]
mod tests;
