//! Who the viewer is: every source of identity the worker accepts, reduced to one [`Session`].
//!
//! | module | part |
//! |---|---|
//! | [`credential`] | where credentials are found in a request, their precedence, the resulting session |
//! | [`caches`] | what the isolate learned beside the configuration: fetched keys, verified tokens |
//! | [`provider`] | identity providers (`IDENTITY_PROVIDERS`) and their presets |
//! | [`jwt`] | verifying a provider's JWT (RFC 7519 / RFC 8725) |
//! | [`jwk`] | providers' public keys: JWKS and X.509 certificate documents |
//! | [`keystore`] | the per-isolate cache of fetched keys: freshness, refetch limits, failures |
//! | [`verified`] | identity tokens already verified in this isolate |
//! | [`session_cookie`] | the worker's own HS256 session cookie (`SESSION_SECRET`) |
//! | [`viewer_id`] | `aws:viewer-id`: who vouched for the viewer and the subject, keyed and shortened |
//!
//! Whatever the source, the result is the same [`Session`], so revocation, channel grants and
//! group rules work unchanged for every source. The session names its source (`issuer`), so
//! that `aws:viewer-id` tells one source's subject from another's ([`viewer_id`]).

use crate::ivs::Resolution;

pub mod caches;
pub mod credential;
pub mod jwk;
pub mod jwt;
pub mod keystore;
pub mod provider;
pub mod session_cookie;
pub mod verified;
pub mod viewer_id;

pub use caches::IdentityCaches;
pub use credential::{Identity, Located, Presented};

/// The longest accepted subject (`sub`), in bytes.
pub const MAX_SUBJECT_LEN: usize = 256;
/// The most groups a session may carry; more is refused rather than truncated, so no rule is
/// decided on a partial list.
pub const MAX_GROUPS: usize = 256;
/// The longest accepted group name, in bytes.
pub const MAX_GROUP_LEN: usize = 256;

/// Which channels a session may watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelGrant {
    /// Every configured channel.
    All,
    /// Only these channel names.
    Only(Vec<String>),
}

impl ChannelGrant {
    /// Whether the grant covers `channel`.
    pub fn allows(&self, channel: &str) -> bool {
        match self {
            Self::All => true,
            Self::Only(names) => names.iter().any(|n| n == channel),
        }
    }
}

/// A verified session: who the viewer is and what their identity grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The viewer's subject (`sub`, or the provider's configured subject claim).
    pub sub: String,
    /// The `iss` of the identity provider that vouched for the session; `None` for the worker's
    /// own session cookie. A subject is unique only at its source, so the viewer id is derived
    /// from both ([`viewer_id::ViewerIdKey::viewer_id_for`]).
    pub issuer: Option<String>,
    /// Expiry, Unix seconds.
    pub exp: u64,
    /// Channels this session may watch.
    pub channels: ChannelGrant,
    /// The viewer's groups (for channels' and stages' `groups` rules); empty when none.
    pub groups: Vec<String>,
    /// Resolution cap from the session, if any.
    pub max_resolution: Option<Resolution>,
    /// Session version (`sv`, default 0): becomes `aws:viewer-session-version`.
    pub session_version: i64,
    /// The credential's verified claims, for what the operator maps from them (stages'
    /// `attributes` and `user_id_claim`); empty when the source has none.
    pub claims: serde_json::Map<String, serde_json::Value>,
}

impl Session {
    /// A session cookie's session for `sub` until `exp`, granting every channel, in no group, no
    /// caps.
    pub fn new(sub: &str, exp: u64) -> Self {
        Self {
            sub: sub.to_owned(),
            issuer: None,
            exp,
            channels: ChannelGrant::All,
            groups: Vec::new(),
            max_resolution: None,
            session_version: 0,
            claims: Default::default(),
        }
    }

    /// A claim's value as attribute text (stages' `attributes`, chat's display name): strings as
    /// they are, numbers and booleans as JSON; other shapes are left out.
    pub fn claim_text(&self, claim: &str) -> Option<String> {
        match self.claims.get(claim)? {
            serde_json::Value::String(s) => Some(s.clone()),
            value @ (serde_json::Value::Number(_) | serde_json::Value::Bool(_)) => Some(value.to_string()),
            _ => None,
        }
    }

    /// Whether the viewer is in at least one of `groups`.
    pub fn in_any_group(&self, groups: &[String]) -> bool {
        self.groups.iter().any(|g| groups.contains(g))
    }
}

/// Parse a claim holding a list of group names: an array of strings (a single string is one
/// group, as some providers write a lone role). Bounded by [`MAX_GROUPS`] and [`MAX_GROUP_LEN`].
pub fn parse_groups(value: &serde_json::Value) -> Result<Vec<String>, &'static str> {
    const RULE: &str = "must be an array of at most 256 group names (strings of 1 to 256 bytes)";
    let items: Vec<&serde_json::Value> = match value {
        serde_json::Value::String(_) => vec![value],
        serde_json::Value::Array(items) if items.len() <= MAX_GROUPS => items.iter().collect(),
        _ => return Err(RULE),
    };
    items
        .into_iter()
        .map(|v| v.as_str().filter(|s| (1..=MAX_GROUP_LEN).contains(&s.len())).map(str::to_owned).ok_or(RULE))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn groups_claim_shapes() {
        assert_eq!(parse_groups(&json!(["a", "b"])).unwrap(), ["a", "b"]);
        assert_eq!(parse_groups(&json!("admins")).unwrap(), ["admins"]);
        assert_eq!(parse_groups(&json!([])).unwrap(), Vec::<String>::new());
        for bad in
            [json!([1]), json!({"a": 1}), json!([""]), json!(["x".repeat(257)]), json!(vec!["g"; 257]), json!(null)]
        {
            assert!(parse_groups(&bad).is_err(), "{bad}");
        }
        let mut s = Session::new("a", 1);
        s.groups = vec!["members".into()];
        assert!(s.in_any_group(&["vip".into(), "members".into()]));
        assert!(!s.in_any_group(&["vip".into()]));
    }
}
