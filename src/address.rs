//! URL-valued settings and request origins: hosts, ports, origin patterns, playback and service
//! endpoint URLs. Parsing here is where a bad URL setting is caught.

use crate::text::{split_list, truncate};

fn is_host(host: &str) -> bool {
    !host.is_empty() && host.len() <= 253 && host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
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
    port.is_none_or(|p| {
        (1..=5).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u16>().is_ok_and(|n| n > 0)
    })
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
        return Err(format!(
            "`{}` must start with {secure}:// ({insecure}:// is allowed only for localhost)",
            truncate(url)
        ));
    }
    if !path.bytes().all(|b| b.is_ascii_alphanumeric() || b"/-._~%".contains(&b)) {
        return Err(format!("`{}` must have no query, fragment or unusual characters in its path", truncate(url)));
    }
    Ok(())
}

/// Validate a service origin (`https://host[:port]`, `http` only for localhost, no path, query or
/// fragment) and return it normalized: no trailing slash, no default port (`:443` for https,
/// `:80` for http), so the host a request is signed for is the `Host` the client sends.
pub fn service_origin(url: &str) -> Result<String, String> {
    check_endpoint_url(url, "https", "http")?;
    let trimmed = url.strip_suffix('/').unwrap_or(url);
    let after_scheme = trimmed.find("://").map_or(0, |i| i + 3);
    if trimmed[after_scheme..].contains('/') {
        return Err(format!("`{}` must be an origin such as https://host:port, without a path", truncate(url)));
    }
    let default_port = if trimmed.starts_with("https://") { ":443" } else { ":80" };
    Ok(trimmed.strip_suffix(default_port).unwrap_or(trimmed).to_owned())
}

/// The origin part (`scheme://host[:port]`) of an already validated URL.
pub fn url_origin(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    match url[after_scheme..].find('/') {
        Some(i) => &url[..after_scheme + i],
        None => url,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        for good in ["*", "https://example.com", "http://localhost:8787", "https://*.example.com", "http://[::1]:3000"]
        {
            check_origin(good).unwrap();
        }
        for bad in [
            "example.com",
            "https://example.com/",
            "https://a.com/path",
            "ftp://a.com",
            "https://a.com:99999",
            "https://a b.com",
            "https://",
        ] {
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
        check_playback_url("https://abc.us-west-2.playback.live-video.net/api/video/v1/us-west-2.123.channel.x.m3u8")
            .unwrap();
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
    fn service_origins() {
        for (url, origin) in [
            ("https://ivs.us-west-2.amazonaws.com", "https://ivs.us-west-2.amazonaws.com"),
            ("https://ivs.us-west-2.amazonaws.com/", "https://ivs.us-west-2.amazonaws.com"),
            ("https://ivs.example:443", "https://ivs.example"),
            ("https://ivs.example:8443", "https://ivs.example:8443"),
            ("http://127.0.0.1:8788", "http://127.0.0.1:8788"),
            ("http://localhost:80/", "http://localhost"),
        ] {
            assert_eq!(service_origin(url).as_deref(), Ok(origin), "{url}");
        }
        for (bad, rule) in [
            ("http://ivs.example", "allowed only for localhost"),
            ("ftp://ivs.example", "must start with https://"),
            ("https://ivs.example/prefix", "without a path"),
            ("https://ivs.example?x=1", "invalid host"),
            ("ivs.example", "not an absolute URL"),
        ] {
            let err = service_origin(bad).unwrap_err();
            assert!(err.contains(rule), "{bad}: {err}");
        }
    }
}
