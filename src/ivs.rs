//! IVS's own value types, shared by every product feature: resource ARNs and the
//! `aws:maximum-resolution` cap.

use std::fmt;

/// IVS limits `aws:viewer-id` (and a participant token's default `user_id`) to this many characters.
pub const VIEWER_ID_MAX_LEN: usize = 40;

/// `aws:maximum-resolution`: IVS offers only renditions up to this one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Resolution {
    /// Standard definition.
    Sd,
    /// High definition (720p).
    Hd,
    /// Full HD (1080p).
    FullHd,
}

impl Resolution {
    /// Parse the IVS spelling: `SD`, `HD` or `FULL_HD`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "SD" => Some(Self::Sd),
            "HD" => Some(Self::Hd),
            "FULL_HD" => Some(Self::FullHd),
            _ => None,
        }
    }

    /// The IVS spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sd => "SD",
            Self::Hd => "HD",
            Self::FullHd => "FULL_HD",
        }
    }
}

impl serde::Serialize for Resolution {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl fmt::Display for Resolution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// IVS: a participant's or chat user's `attributes` are at most 1 KB in all (measured here as
/// their JSON text, the strictest reading).
pub const ATTRIBUTES_MAX_BYTES: usize = 1024;

/// The JSON size IVS counts against [`ATTRIBUTES_MAX_BYTES`].
pub fn attributes_size(attributes: &std::collections::BTreeMap<String, String>) -> usize {
    serde_json::to_string(attributes).map_or(usize::MAX, |s| s.len())
}

/// The parts of an IVS ARN: `arn:aws:ivs:<region>:<account>:<kind>/<id>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IvsArn<'a> {
    /// The region, e.g. `us-west-2`.
    pub region: &'a str,
    /// The 12-digit account.
    pub account: &'a str,
    /// The resource id (after `<kind>/`).
    pub id: &'a str,
}

/// Parse an IVS ARN of resource type `kind` (`channel`, `stage`, `public-key`):
/// `arn:aws:ivs:<region>:<12 digits>:<kind>/<id>`, at most 128 characters, id `[a-zA-Z0-9-]+`.
pub fn parse_ivs_arn<'a>(text: &'a str, kind: &str) -> Option<IvsArn<'a>> {
    parse_arn(text, "ivs", kind)
}

/// Parse an ARN of the IVS family's `service` (`ivs`, `ivschat`) and resource type `kind`:
/// `arn:aws:<service>:<region>:<12 digits>:<kind>/<id>`, with [`parse_ivs_arn`]'s rules.
pub fn parse_arn<'a>(text: &'a str, service: &str, kind: &str) -> Option<IvsArn<'a>> {
    // AWS: at most 128 characters, `arn:aws:ivs:[a-z0-9-]+:[0-9]+:<kind>/[a-zA-Z0-9-]+`; accounts have 12 digits.
    if text.len() > 128 {
        return None;
    }
    let rest = text.strip_prefix("arn:aws:")?.strip_prefix(service)?.strip_prefix(':')?;
    let mut parts = rest.splitn(3, ':');
    let (region, account, resource) = (parts.next()?, parts.next()?, parts.next()?);
    let region_ok = !region.is_empty()
        && region.len() <= 32
        && region.split('-').count() >= 3
        && region.split('-').all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
    let account_ok = account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit());
    let id = resource.strip_prefix(kind)?.strip_prefix('/')?;
    let id_ok = !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    (region_ok && account_ok && id_ok).then_some(IvsArn { region, account, id })
}

/// Whether `text` is an IVS channel ARN: `arn:aws:ivs:<region>:<12 digits>:channel/<id>`.
pub fn is_channel_arn(text: &str) -> bool {
    parse_ivs_arn(text, "channel").is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns() {
        assert!(is_channel_arn("arn:aws:ivs:us-west-2:123456789012:channel/AbCd3EfGh1Jk"));
        assert!(is_channel_arn("arn:aws:ivs:ap-northeast-1:123456789012:channel/x"));
        assert!(is_channel_arn("arn:aws:ivs:us-east-1:123456789012:channel/a-b"));
        assert!(!is_channel_arn(&format!("arn:aws:ivs:us-east-1:123456789012:channel/{}", "a".repeat(100))));
        for bad in [
            "",
            "arn:aws:ivs:us-west-2:12345678901:channel/a",
            "arn:aws:ivs:us-west-2:1234567890123:channel/a",
            "arn:aws:ivs:us-west-2:123456789012:stage/a",
            "arn:aws:ivs:us-west-2:123456789012:channel/",
            "arn:aws:ivs:us-west-2:123456789012:channel/a_b",
            "arn:aws:ivs:US-WEST-2:123456789012:channel/a",
            "arn:aws:ivs:uswest:123456789012:channel/a",
            "arn:aws:s3:us-west-2:123456789012:channel/a",
        ] {
            assert!(!is_channel_arn(bad), "{bad}");
        }
    }
}
