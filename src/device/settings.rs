//! `DEVICE_LIMITS`: how many devices one viewer may watch on at once, per group, and what happens
//! at the limit. Validated like `CHANNELS`: unknown fields refused, every error naming the field
//! and the rule.
//!
//! ```
//! use ivs_token_worker::device::settings::{DeviceLimits, OnLimit};
//! let limits = DeviceLimits::parse(r#"{"default": 2, "groups": {"family": 5}, "on_limit": "evict-oldest"}"#)?;
//! assert_eq!(limits.limit_for(&["family".to_owned()]), 5);
//! assert_eq!(limits.limit_for(&[]), 2);
//! assert_eq!((limits.on_limit, limits.idle_seconds), (OnLimit::EvictOldest, 90));
//! # Ok::<(), String>(())
//! ```

use super::admin::AdminToken;
use crate::aws::Credentials;
use crate::text::truncate;
use serde_json::Value;
use std::collections::BTreeMap;

/// The smallest and largest limit: `default` and every group's.
pub const LIMIT_RANGE: std::ops::RangeInclusive<u32> = 1..=100;
/// `idle_seconds` when unset.
pub const DEFAULT_IDLE_SECONDS: u64 = 90;
/// The range of `idle_seconds`.
pub const IDLE_RANGE: std::ops::RangeInclusive<u64> = 5..=3600;
/// The most groups `groups` may name.
pub const MAX_GROUPS: usize = 64;

const FIELDS: &str = "default, groups, on_limit, idle_seconds";

/// What a new device meets when every slot is held by a device that is not idle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum OnLimit {
    /// Refuse the new device (`403 device-limit`) unless it asks `takeover=true` (the default).
    #[serde(rename = "refuse")]
    Refuse,
    /// Admit the new device and evict the one admitted longest ago.
    #[serde(rename = "evict-oldest")]
    EvictOldest,
}

impl OnLimit {
    /// The setting's spelling: `refuse`, `evict-oldest`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Refuse => "refuse",
            Self::EvictOldest => "evict-oldest",
        }
    }
}

/// Everything device limits need, assembled and validated by the configuration when
/// `DEVICE_LIMITS` is set.
#[derive(Debug, Clone)]
pub struct DeviceSettings {
    /// `DEVICE_LIMITS`.
    pub limits: DeviceLimits,
    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`: the key revocations
    /// are signed with.
    pub credentials: Credentials,
    /// `IVS_API_ENDPOINT`, normalized to an origin; `None` calls `https://ivs.<region>.amazonaws.com`.
    pub ivs_endpoint: Option<String>,
    /// `ADMIN_API_TOKEN`; without it the operator API answers 404.
    pub admin_token: Option<AdminToken>,
}

/// What one admission is decided by: the viewer's limit (from their groups), the policy at the
/// limit, and when a device counts as idle ([`DeviceLimits::policy_for`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Policy {
    /// Devices the viewer may watch on at once.
    pub limit: u32,
    /// What happens at the limit.
    pub on_limit: OnLimit,
    /// Seconds of silence after which a device no longer counts.
    pub idle_seconds: u64,
}

/// The validated `DEVICE_LIMITS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceLimits {
    /// The limit of a viewer in none of `groups`.
    pub default: u32,
    /// Limits by group name; a viewer gets the highest of the groups they are in.
    pub groups: BTreeMap<String, u32>,
    /// What happens at the limit.
    pub on_limit: OnLimit,
    /// A device silent this long no longer counts (but is revoked when its slot is given away).
    pub idle_seconds: u64,
}

impl DeviceLimits {
    /// Parse the setting's text: a JSON object, or a JSON string holding one (a TOML table in
    /// `wrangler.toml` arrives as JSON). The error is the rule broken, without the setting's name.
    pub fn parse(text: &str) -> Result<Self, String> {
        Self::from_json(&crate::text::json_setting(text)?)
    }

    /// Build from the setting's JSON object.
    pub fn from_json(value: &Value) -> Result<Self, String> {
        let object = value.as_object().ok_or_else(|| format!("must be an object with the fields {FIELDS}"))?;
        if let Some(unknown) = object.keys().find(|k| !FIELDS.split(", ").any(|f| f == k.as_str())) {
            return Err(format!("has unknown field `{}`; known fields: {FIELDS}", truncate(unknown)));
        }
        let limit = |value: &Value, what: &str| -> Result<u32, String> {
            value
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .filter(|n| LIMIT_RANGE.contains(n))
                .ok_or_else(|| format!("{what} must be a whole number of devices from 1 to 100"))
        };
        let default = match object.get("default") {
            None | Some(Value::Null) => {
                return Err(
                    "field `default` is required: how many devices a viewer may watch on at once (1 to 100)".into()
                )
            }
            Some(value) => limit(value, "field `default`")?,
        };
        let groups = match object.get("groups") {
            None | Some(Value::Null) => BTreeMap::new(),
            Some(Value::Object(map)) if map.len() <= MAX_GROUPS => map
                .iter()
                .map(|(group, value)| {
                    if group.is_empty() || group.len() > crate::identity::MAX_GROUP_LEN {
                        return Err("field `groups`: group names must be 1 to 256 bytes".to_owned());
                    }
                    Ok((group.clone(), limit(value, &format!("field `groups`: group `{}`", truncate(group)))?))
                })
                .collect::<Result<_, _>>()?,
            Some(_) => {
                return Err(format!(
                    "field `groups` must be a table of at most {MAX_GROUPS} groups, each mapping a group name to its limit (1 to 100)"
                ))
            }
        };
        let on_limit = match object.get("on_limit") {
            None | Some(Value::Null) => OnLimit::Refuse,
            Some(Value::String(s)) if s == "refuse" => OnLimit::Refuse,
            Some(Value::String(s)) if s == "evict-oldest" => OnLimit::EvictOldest,
            Some(Value::String(s)) if ["takeover", "take-over", "newest", "newest-wins"].contains(&s.as_str()) => {
                return Err(format!(
                    "field `on_limit` is \"{s}\"; for the newest device to take over write \"evict-oldest\" (takeover=true is what a single request asks for); or \"refuse\""
                ))
            }
            Some(_) => return Err("field `on_limit` must be \"refuse\" or \"evict-oldest\"".into()),
        };
        let idle_seconds = match object.get("idle_seconds") {
            None | Some(Value::Null) => DEFAULT_IDLE_SECONDS,
            Some(value) => value.as_u64().filter(|n| IDLE_RANGE.contains(n)).ok_or_else(|| {
                format!(
                    "field `idle_seconds` must be a whole number of seconds from {} to {}",
                    IDLE_RANGE.start(),
                    IDLE_RANGE.end()
                )
            })?,
        };
        Ok(Self { default, groups, on_limit, idle_seconds })
    }

    /// The limit of a viewer in `groups`: the highest limit of the groups they are in, else
    /// `default`. (A group's limit may be below `default`: being in it then lowers the limit
    /// only when the viewer is in no group with a higher one.)
    pub fn limit_for(&self, groups: &[String]) -> u32 {
        groups.iter().filter_map(|g| self.groups.get(g)).copied().max().unwrap_or(self.default)
    }

    /// The admission policy of a viewer in `groups`.
    pub fn policy_for(&self, groups: &[String]) -> Policy {
        Policy { limit: self.limit_for(groups), on_limit: self.on_limit, idle_seconds: self.idle_seconds }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_groups() {
        let limits = DeviceLimits::parse(r#"{"default": 1}"#).unwrap();
        assert_eq!(
            limits,
            DeviceLimits { default: 1, groups: BTreeMap::new(), on_limit: OnLimit::Refuse, idle_seconds: 90 }
        );
        let limits = DeviceLimits::parse(
            r#"{"default": 2, "groups": {"family": 5, "kids": 1, "team": 100}, "idle_seconds": 5}"#,
        )
        .unwrap();
        let g = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(limits.limit_for(&g(&[])), 2);
        assert_eq!(limits.limit_for(&g(&["other"])), 2);
        assert_eq!(limits.limit_for(&g(&["kids"])), 1, "a group's own limit, even below default");
        assert_eq!(limits.limit_for(&g(&["kids", "family"])), 5, "the highest of the viewer's groups");
        assert_eq!(limits.limit_for(&g(&["team", "family"])), 100);
        assert_eq!(limits.idle_seconds, 5);
        assert_eq!(limits.policy_for(&g(&["family"])), Policy { limit: 5, on_limit: OnLimit::Refuse, idle_seconds: 5 });
        let quoted = serde_json::to_string(r#"{"default": 3, "on_limit": "evict-oldest"}"#).unwrap();
        assert_eq!(DeviceLimits::parse(&quoted).unwrap().on_limit, OnLimit::EvictOldest);
    }

    #[test]
    fn every_error_names_the_field_and_the_rule() {
        let cases = [
            ("", "is not valid JSON"),
            ("[]", "must be an object with the fields default, groups, on_limit, idle_seconds"),
            (
                r#"{"default": 2, "limit": 3}"#,
                "has unknown field `limit`; known fields: default, groups, on_limit, idle_seconds",
            ),
            (r#"{}"#, "field `default` is required"),
            // Issue 24: the request's word for the setting's value.
            (
                r#"{"default": 2, "on_limit": "takeover"}"#,
                "field `on_limit` is \"takeover\"; for the newest device to take over write \"evict-oldest\"",
            ),
            (r#"{"default": 0}"#, "field `default` must be a whole number of devices from 1 to 100"),
            (r#"{"default": 101}"#, "field `default` must be"),
            (r#"{"default": 2.5}"#, "field `default` must be"),
            (r#"{"default": "2"}"#, "field `default` must be"),
            (r#"{"default": -1}"#, "field `default` must be"),
            (r#"{"default": 4294967297}"#, "field `default` must be"),
            (
                r#"{"default": 1, "groups": {"vip": 0}}"#,
                "field `groups`: group `vip` must be a whole number of devices from 1 to 100",
            ),
            (r#"{"default": 1, "groups": ["vip"]}"#, "field `groups` must be a table"),
            (r#"{"default": 1, "groups": {"": 2}}"#, "field `groups`: group names must be 1 to 256 bytes"),
            (r#"{"default": 1, "on_limit": "evict"}"#, "field `on_limit` must be \"refuse\" or \"evict-oldest\""),
            (r#"{"default": 1, "on_limit": true}"#, "field `on_limit` must be"),
            (
                r#"{"default": 1, "idle_seconds": 4}"#,
                "field `idle_seconds` must be a whole number of seconds from 5 to 3600",
            ),
            (r#"{"default": 1, "idle_seconds": 3601}"#, "field `idle_seconds` must be"),
        ];
        for (text, expected) in cases {
            let err = DeviceLimits::parse(text).unwrap_err();
            assert!(err.starts_with(expected), "{text}: expected {expected:?}, got {err:?}");
        }
        let many: serde_json::Map<String, Value> = (0..65).map(|i| (format!("g{i}"), Value::from(1))).collect();
        let err = DeviceLimits::from_json(&serde_json::json!({"default": 1, "groups": many})).unwrap_err();
        assert!(err.contains("at most 64 groups"), "{err}");
    }
}
