//! Playback channels, the product feature for private IVS channels: a channel's settings
//! (`CHANNELS`), the [`policy`] that decides who may watch and which claims their token carries,
//! and the playback token's [`claims`]. Parsing here is where bad configuration is caught, so that
//! everything downstream can trust these values (including the HTML page, which embeds them).

pub mod claims;
pub mod policy;

use crate::address::{check_playback_url, parse_origin_list};
use crate::ivs::{is_channel_arn, Resolution};
use crate::text::{is_name, truncate};

/// One channel the worker signs tokens for, as configured in `CHANNELS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channel {
    /// The name viewers use (`?channel=NAME`, `/watch/NAME`).
    pub name: String,
    /// Human title for the watch page; defaults to the name.
    pub title: String,
    /// The channel ARN, `aws:channel-arn`.
    pub arn: String,
    /// The channel's playback URL (`.m3u8`).
    pub playback_url: String,
    /// Origins for `aws:access-control-allow-origin`; `None` uses `ALLOWED_ORIGINS`.
    pub allowed_origins: Option<Vec<String>>,
    /// `aws:strict-origin-enforcement`.
    pub strict_origin: bool,
    /// Adds `aws:single-use-uuid` to every token.
    pub single_use: bool,
    /// Adds `aws:viewer-id` and `aws:viewer-session-version` (default on).
    pub viewer_binding: bool,
    /// Counts toward the viewer's device limit (`DEVICE_LIMITS`); on by default when device
    /// limits are configured, always off without them (the configuration settles it).
    pub device_limit: bool,
    /// Cap for `aws:maximum-resolution`.
    pub max_resolution: Option<Resolution>,
    /// Who may watch, beyond the session's `channels` grant: groups, countries.
    pub access: crate::access::AccessRules,
    /// The channel's IVS Chat room (`chat`), if it has one: everyone who may watch may read.
    pub chat: Option<crate::chat::Room>,
}

const CHANNEL_FIELDS: &str = "arn, playback_url, title, allowed_origins, strict_origin, single_use, viewer_binding, device_limit, max_resolution, groups, allowed_countries, blocked_countries, chat";

impl Channel {
    /// Build a channel from its JSON object in `CHANNELS`. Errors name the field and the rule.
    pub fn from_json(name: &str, value: &serde_json::Value) -> Result<Self, String> {
        if !is_name(name) {
            return Err(format!("channel name `{}` must match [a-z0-9-]{{1,64}}", truncate(name)));
        }
        let object =
            value.as_object().ok_or_else(|| format!("channel `{name}` must be an object with {CHANNEL_FIELDS}"))?;
        if let Some(unknown) = object.keys().find(|k| !CHANNEL_FIELDS.split(", ").any(|f| f == k.as_str())) {
            return Err(format!(
                "channel `{name}` has unknown field `{}`; known fields: {CHANNEL_FIELDS}",
                truncate(unknown)
            ));
        }
        let string = |field: &str| -> Result<Option<String>, String> {
            match object.get(field) {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(format!("channel `{name}`: `{field}` must be a string")),
            }
        };
        let boolean = |field: &str, default: bool| -> Result<bool, String> {
            match object.get(field) {
                None | Some(serde_json::Value::Null) => Ok(default),
                Some(serde_json::Value::Bool(b)) => Ok(*b),
                Some(_) => Err(format!("channel `{name}`: `{field}` must be true or false")),
            }
        };

        let arn = string("arn")?.ok_or_else(|| format!("channel `{name}`: `arn` is required"))?;
        if !is_channel_arn(&arn) {
            return Err(format!(
                "channel `{name}`: `arn` must look like arn:aws:ivs:<region>:<12-digit account>:channel/<id>"
            ));
        }
        let playback_url =
            string("playback_url")?.ok_or_else(|| format!("channel `{name}`: `playback_url` is required"))?;
        check_playback_url(&playback_url).map_err(|e| format!("channel `{name}`: `playback_url` {e}"))?;

        let title = string("title")?.unwrap_or_else(|| name.to_owned());
        if title.is_empty() || title.chars().count() > 200 || title.chars().any(char::is_control) {
            return Err(format!("channel `{name}`: `title` must be 1 to 200 printable characters"));
        }
        let allowed_origins = match object.get("allowed_origins") {
            None | Some(serde_json::Value::Null) => None,
            Some(value) => {
                Some(parse_origin_list(value).map_err(|e| format!("channel `{name}`: `allowed_origins` {e}"))?)
            }
        };
        let max_resolution = match string("max_resolution")? {
            None => None,
            Some(text) => Some(
                Resolution::parse(&text)
                    .ok_or_else(|| format!("channel `{name}`: `max_resolution` must be SD, HD or FULL_HD"))?,
            ),
        };
        let access = crate::access::AccessRules::from_object(object).map_err(|e| format!("channel `{name}`: {e}"))?;
        let chat = match object.get("chat") {
            None | Some(serde_json::Value::Null) => None,
            Some(table) => Some(crate::chat::Room::from_json(table).map_err(|e| format!("channel `{name}`: {e}"))?),
        };
        Ok(Self {
            name: name.to_owned(),
            access,
            title,
            arn,
            playback_url,
            allowed_origins,
            strict_origin: boolean("strict_origin", false)?,
            single_use: boolean("single_use", false)?,
            viewer_binding: boolean("viewer_binding", true)?,
            device_limit: boolean("device_limit", true)?,
            max_resolution,
            chat,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn channel_from_json() {
        let channel = Channel::from_json(
            "demo",
            &json!({"arn": "arn:aws:ivs:us-west-2:123456789012:channel/abc", "playback_url": "https://x.net/a.m3u8",
                    "allowed_origins": "https://a.com, https://b.com", "max_resolution": "HD", "single_use": true}),
        )
        .unwrap();
        assert_eq!(channel.title, "demo");
        assert_eq!(
            channel.allowed_origins.as_deref(),
            Some(&["https://a.com".to_owned(), "https://b.com".to_owned()][..])
        );
        assert_eq!(channel.max_resolution, Some(Resolution::Hd));
        assert!(channel.single_use && channel.viewer_binding && !channel.strict_origin && channel.device_limit);

        let base =
            json!({"arn": "arn:aws:ivs:us-west-2:123456789012:channel/abc", "playback_url": "https://x.net/a.m3u8"});
        let with = |k: &str, v: serde_json::Value| {
            let mut o = base.clone();
            o[k] = v;
            Channel::from_json("demo", &o).unwrap_err()
        };
        assert!(with("strict_orign", json!(true)).contains("unknown field `strict_orign`"));
        assert!(with("single_use", json!("yes")).contains("`single_use` must be true or false"));
        assert!(with("device_limit", json!(1)).contains("`device_limit` must be true or false"));
        assert!(with("max_resolution", json!("4K")).contains("SD, HD or FULL_HD"));
        assert!(with("arn", json!("arn:x")).contains("`arn` must look like"));
        assert!(with("allowed_origins", json!([1])).contains("only strings"));
        assert!(with("title", json!("")).contains("`title`"));
        assert!(with("chat", json!({"room": "x"})).contains("channel `demo`: `chat.room` must look like"));
        assert!(Channel::from_json("Bad Name", &base).unwrap_err().contains("[a-z0-9-]"));
        assert!(Channel::from_json("demo", &json!([])).unwrap_err().contains("must be an object"));
    }
}
