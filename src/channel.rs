//! A configured IVS channel and the value types its settings are made of: channel ARN, playback
//! URL, origin patterns and maximum resolution. Parsing here is where bad configuration is caught,
//! so that everything downstream can trust these values (including the HTML page, which embeds
//! them).

use std::fmt;

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
    // AWS: at most 128 characters, `arn:aws:ivs:[a-z0-9-]+:[0-9]+:<kind>/[a-zA-Z0-9-]+`; accounts have 12 digits.
    if text.len() > 128 {
        return None;
    }
    let rest = text.strip_prefix("arn:aws:ivs:")?;
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

/// Whether `name` is a valid channel name: `[a-z0-9-]{1,64}`.
pub fn is_channel_name(name: &str) -> bool {
    (1..=64).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn is_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

/// Whether `host` (with or without a port) is this machine: `localhost`, `127.0.0.1` or `[::1]`.
pub fn is_local_host(host: &str) -> bool {
    let name = if host.starts_with('[') {
        host.find(']').map_or(host, |end| &host[..=end])
    } else {
        host.split(':').next().unwrap_or(host)
    };
    matches!(name, "localhost" | "127.0.0.1" | "[::1]")
}

/// Split `scheme://authority` into (scheme, host, port) when well formed.
fn split_authority(text: &str) -> Option<(&str, &str, Option<&str>)> {
    let (scheme, authority) = text.split_once("://")?;
    if authority == "[::1]" {
        return Some((scheme, authority, None));
    }
    if let Some(port_text) = authority.strip_prefix("[::1]:") {
        return Some((scheme, "[::1]", Some(port_text)));
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => Some((scheme, host, Some(port))),
        None => Some((scheme, authority, None)),
    }
}

fn is_port(port: Option<&str>) -> bool {
    port.is_none_or(|p| (1..=5).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u16>().is_ok_and(|n| n > 0))
}

/// Validate one origin pattern as IVS accepts it in `aws:access-control-allow-origin`:
/// `*`, or `http(s)://host[:port]` where the host may start with `*.`.
pub fn check_origin(origin: &str) -> Result<(), String> {
    if origin == "*" {
        return Ok(());
    }
    let bad = || {
        format!("`{origin}` is not an origin; write `https://host` or `https://host:port` (no path, no trailing slash), optionally `https://*.domain`")
    };
    let (scheme, host, port) = split_authority(origin).ok_or_else(bad)?;
    let host_ok = match host.strip_prefix("*.") {
        Some(rest) => is_host(rest),
        None => is_host(host) || host == "[::1]",
    };
    if (scheme == "https" || scheme == "http") && host_ok && is_port(port) {
        Ok(())
    } else {
        Err(bad())
    }
}

/// Whether a request's `Origin` header matches an origin pattern (exactly, or by a `*.` host).
pub fn origin_matches(pattern: &str, origin: &str) -> bool {
    if pattern == origin {
        return true;
    }
    let (Some((p_scheme, p_host, p_port)), Some((o_scheme, o_host, o_port))) =
        (split_authority(pattern), split_authority(origin))
    else {
        return false;
    };
    let Some(suffix) = p_host.strip_prefix('*') else { return false };
    p_scheme == o_scheme
        && p_port == o_port
        && o_host.len() > suffix.len()
        && o_host.to_ascii_lowercase().ends_with(&suffix.to_ascii_lowercase())
}

/// Validate a playback URL: `https://host[:port]/path.m3u8` (plain `http` only for localhost),
/// with no query or fragment, since the worker appends `?token=`.
pub fn check_playback_url(url: &str) -> Result<(), String> {
    let (origin, path) = url
        .split_once("://")
        .and_then(|(scheme, rest)| rest.find('/').map(|i| (format!("{scheme}://{}", &rest[..i]), &rest[i..])))
        .ok_or_else(|| format!("`{url}` is not an absolute URL with a path"))?;
    let (scheme, host, port) = split_authority(&origin).ok_or_else(|| format!("`{url}` is not a URL"))?;
    if !(is_host(host) || host == "[::1]") || !is_port(port) {
        return Err(format!("`{url}` has an invalid host or port"));
    }
    match scheme {
        "https" => {}
        "http" if is_local_host(host) => {}
        "http" => return Err(format!("`{url}` must use https (http is allowed only for localhost)")),
        _ => return Err(format!("`{url}` must start with https://")),
    }
    if path.contains(['?', '#']) {
        return Err(format!("`{url}` must not have a query or fragment; the worker appends ?token="));
    }
    let path_ok = path.bytes().all(|b| b.is_ascii_alphanumeric() || b"/-._~%".contains(&b));
    if !path_ok || !path.ends_with(".m3u8") {
        return Err(format!("`{url}` must be the channel's playback URL, a path ending in .m3u8"));
    }
    Ok(())
}

/// Validate a service endpoint URL: `<scheme>://host[:port][/path]` with no query or fragment,
/// where `<scheme>` is `secure` (`https`, `wss`), or `insecure` (`http`, `ws`) for localhost only.
pub fn check_endpoint_url(url: &str, secure: &str, insecure: &str) -> Result<(), String> {
    let (scheme, rest) = url.split_once("://").ok_or_else(|| format!("`{}` is not an absolute URL", truncate(url)))?;
    let (authority, path) = rest.find('/').map_or((rest, ""), |i| (&rest[..i], &rest[i..]));
    let (_, host, port) = split_authority(&format!("{scheme}://{authority}"))
        .map(|(s, h, p)| (s.to_owned(), h.to_owned(), p.map(str::to_owned)))
        .ok_or_else(|| format!("`{}` is not a URL", truncate(url)))?;
    if !(is_host(&host) || host == "[::1]") || !is_port(port.as_deref()) {
        return Err(format!("`{}` has an invalid host or port", truncate(url)));
    }
    if scheme != secure && !(scheme == insecure && is_local_host(&host)) {
        return Err(format!("`{}` must start with {secure}:// ({insecure}:// is allowed only for localhost)", truncate(url)));
    }
    if !path.bytes().all(|b| b.is_ascii_alphanumeric() || b"/-._~%".contains(&b)) {
        return Err(format!("`{}` must have no query, fragment or unusual characters in its path", truncate(url)));
    }
    Ok(())
}

/// The origin part (`scheme://host[:port]`) of an already validated URL.
pub fn url_origin(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    match url[after_scheme..].find('/') {
        Some(i) => &url[..after_scheme + i],
        None => url,
    }
}

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
    /// Cap for `aws:maximum-resolution`.
    pub max_resolution: Option<Resolution>,
    /// Who may watch, beyond the session's `channels` grant: groups, countries.
    pub access: crate::access::AccessRules,
}

const CHANNEL_FIELDS: &str = "arn, playback_url, title, allowed_origins, strict_origin, single_use, viewer_binding, max_resolution, groups, allowed_countries, blocked_countries";

impl Channel {
    /// Build a channel from its JSON object in `CHANNELS`. Errors name the field and the rule.
    pub fn from_json(name: &str, value: &serde_json::Value) -> Result<Self, String> {
        if !is_channel_name(name) {
            return Err(format!("channel name `{}` must match [a-z0-9-]{{1,64}}", truncate(name)));
        }
        let object = value
            .as_object()
            .ok_or_else(|| format!("channel `{name}` must be an object with {CHANNEL_FIELDS}"))?;
        if let Some(unknown) = object.keys().find(|k| !CHANNEL_FIELDS.split(", ").any(|f| f == k.as_str())) {
            return Err(format!("channel `{name}` has unknown field `{}`; known fields: {CHANNEL_FIELDS}", truncate(unknown)));
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
            Some(value) => Some(parse_origin_list(value).map_err(|e| format!("channel `{name}`: `allowed_origins` {e}"))?),
        };
        let max_resolution = match string("max_resolution")? {
            None => None,
            Some(text) => Some(Resolution::parse(&text).ok_or_else(|| {
                format!("channel `{name}`: `max_resolution` must be SD, HD or FULL_HD")
            })?),
        };
        let access = crate::access::AccessRules::from_object(object).map_err(|e| format!("channel `{name}`: {e}"))?;
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
            max_resolution,
        })
    }
}

/// Parse an origin list given as a JSON array of strings or a comma-separated string.
pub fn parse_origin_list(value: &serde_json::Value) -> Result<Vec<String>, String> {
    let items: Vec<String> = match value {
        serde_json::Value::String(s) => split_list(s),
        serde_json::Value::Array(items) => items
            .iter()
            .map(|v| v.as_str().map(|s| s.trim().to_owned()).ok_or("must contain only strings"))
            .collect::<Result<_, _>>()?,
        _ => return Err("must be an array of origins or a comma-separated string".into()),
    };
    if items.is_empty() {
        return Err("must list at least one origin (or `*`)".into());
    }
    for item in &items {
        check_origin(item)?;
    }
    Ok(items)
}

/// Split a comma-separated list (origins, channel names), trimming and dropping empty entries.
pub fn split_list(text: &str) -> Vec<String> {
    text.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

/// Shorten user-supplied text before quoting it in an error message.
pub(crate) fn truncate(text: &str) -> String {
    let short: String = text.chars().take(64).filter(|c| !c.is_control()).collect();
    if short.len() < text.len() { format!("{short}...") } else { short }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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

    #[test]
    fn names() {
        assert!(is_channel_name("demo-1"));
        assert!(is_channel_name(&"a".repeat(64)));
        for bad in ["", "Demo", "a_b", "a b", "é", &"a".repeat(65), "../x"] {
            assert!(!is_channel_name(bad), "{bad}");
        }
    }

    #[test]
    fn origins() {
        for good in ["*", "https://example.com", "http://localhost:8787", "https://*.example.com", "http://[::1]:3000"] {
            check_origin(good).unwrap();
        }
        for bad in ["example.com", "https://example.com/", "https://a.com/path", "ftp://a.com", "https://a.com:99999", "https://a b.com", "https://"] {
            assert!(check_origin(bad).is_err(), "{bad}");
        }
        assert!(origin_matches("https://*.example.com", "https://www.example.com"));
        assert!(origin_matches("https://*.example.com", "https://a.b.example.com"));
        assert!(!origin_matches("https://*.example.com", "https://example.com"));
        assert!(!origin_matches("https://*.example.com", "https://evil-example.com"));
        assert!(!origin_matches("https://*.example.com", "http://www.example.com"));
        assert!(!origin_matches("https://*.example.com", "https://www.example.com:8443"));
        assert!(origin_matches("https://a.com", "https://a.com"));
        assert!(!origin_matches("https://a.com", "https://a.com.evil"));
        assert!(!origin_matches("*", "https://a.com"), "`*` is not a CORS allow-list entry");
    }

    #[test]
    fn playback_urls() {
        check_playback_url("https://abc.us-west-2.playback.live-video.net/api/video/v1/us-west-2.123.channel.x.m3u8").unwrap();
        check_playback_url("http://127.0.0.1:9000/live/demo.m3u8").unwrap();
        for bad in [
            "http://example.com/a.m3u8",
            "https://example.com/a.mp4",
            "https://example.com/a.m3u8?x=1",
            "https://example.com/a.m3u8#f",
            "https://example.com",
            "javascript:alert(1)//a.m3u8",
            "https://exa mple.com/a.m3u8",
            "https://example.com/a\"<b.m3u8",
        ] {
            assert!(check_playback_url(bad).is_err(), "{bad}");
        }
        assert_eq!(url_origin("http://127.0.0.1:9000/live/demo.m3u8"), "http://127.0.0.1:9000");
    }

    #[test]
    fn channel_from_json() {
        let channel = Channel::from_json(
            "demo",
            &json!({"arn": "arn:aws:ivs:us-west-2:123456789012:channel/abc", "playback_url": "https://x.net/a.m3u8",
                    "allowed_origins": "https://a.com, https://b.com", "max_resolution": "HD", "single_use": true}),
        )
        .unwrap();
        assert_eq!(channel.title, "demo");
        assert_eq!(channel.allowed_origins.as_deref(), Some(&["https://a.com".to_owned(), "https://b.com".to_owned()][..]));
        assert_eq!(channel.max_resolution, Some(Resolution::Hd));
        assert!(channel.single_use && channel.viewer_binding && !channel.strict_origin);

        let base = json!({"arn": "arn:aws:ivs:us-west-2:123456789012:channel/abc", "playback_url": "https://x.net/a.m3u8"});
        let with = |k: &str, v: serde_json::Value| {
            let mut o = base.clone();
            o[k] = v;
            Channel::from_json("demo", &o).unwrap_err()
        };
        assert!(with("strict_orign", json!(true)).contains("unknown field `strict_orign`"));
        assert!(with("single_use", json!("yes")).contains("`single_use` must be true or false"));
        assert!(with("max_resolution", json!("4K")).contains("SD, HD or FULL_HD"));
        assert!(with("arn", json!("arn:x")).contains("`arn` must look like"));
        assert!(with("allowed_origins", json!([1])).contains("only strings"));
        assert!(with("title", json!("")).contains("`title`"));
        assert!(Channel::from_json("Bad Name", &base).unwrap_err().contains("[a-z0-9-]"));
        assert!(Channel::from_json("demo", &json!([])).unwrap_err().contains("must be an object"));
    }
}
