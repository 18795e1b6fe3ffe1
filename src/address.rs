//! URL-valued settings and request origins: hosts, ports, origin patterns, playback and service
//! endpoint URLs. Parsing here is where a bad URL setting is caught.
//!
//! Every absolute URL a setting holds (channels' `playback_url`, stages' `whip_url` and
//! `events_url`, identity providers' `issuer` and `jwks_url`, `LOGIN_URL`, `PLAYER_SCRIPT_URL`)
//! goes through one function, [`parse_url`]: the WHATWG URL parser (the `url` crate; the
//! standard the Workers runtime's `fetch` and browsers follow), held to a stricter shape. The host
//! it checks is the host the parser found, so what is checked is what is fetched: no user name or
//! password (`http://localhost:1@203.0.113.7/` is a request to 203.0.113.7), the host written
//! exactly as the parser reads it, and `http`/`ws` only for this machine.

use crate::text::{split_list, truncate};

/// A DNS name: letters, digits, `-` and `.`, no empty label (a final `.` is allowed).
fn is_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        && !host.starts_with('.')
        && !host.contains("..")
}

/// Whether `host` (a request's host, with or without a port) is this machine: `localhost`,
/// `127.0.0.1` or `[::1]`, then nothing or `:` and a port number.
pub fn is_local_host(host: &str) -> bool {
    ["localhost", "127.0.0.1", "[::1]"].iter().any(|name| {
        host.strip_prefix(name).is_some_and(|rest| rest.is_empty() || rest.strip_prefix(':').is_some_and(is_port_text))
    })
}

/// A port as written: 1 to 5 digits, 1 to 65535.
fn is_port_text(port: &str) -> bool {
    (1..=5).contains(&port.len())
        && port.bytes().all(|b| b.is_ascii_digit())
        && port.parse::<u16>().is_ok_and(|n| n > 0)
}

/// The schemes a URL setting may use: `secure` for any host, `insecure` (if any) only for this
/// machine (`localhost`, `127.0.0.1`, `[::1]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schemes {
    /// Allowed for every host.
    pub secure: &'static str,
    /// Allowed only for this machine.
    pub insecure: Option<&'static str>,
}

/// `https`, or `http` for this machine.
pub const HTTPS: Schemes = Schemes { secure: "https", insecure: Some("http") };
/// `https` only.
pub const HTTPS_ONLY: Schemes = Schemes { secure: "https", insecure: None };
/// `wss`, or `ws` for this machine.
pub const WSS: Schemes = Schemes { secure: "wss", insecure: Some("ws") };

/// An absolute URL that passed [`parse_url`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedUrl<'t> {
    /// The scheme, as written (lower case).
    pub scheme: &'t str,
    /// The host as the URL parser reads it: a lower-case DNS name, a dotted IPv4 address or
    /// `[IPv6]`. The text holds the same host (in any letter case).
    pub host: String,
    /// The port, if written.
    pub port: Option<u16>,
    /// Path, query and fragment exactly as written; empty when the URL ends after the host.
    pub rest: &'t str,
}

impl ParsedUrl<'_> {
    /// Whether the host is this machine: `localhost`, `127.0.0.1` or `[::1]`.
    pub fn is_local(&self) -> bool {
        matches!(self.host.as_str(), "localhost" | "127.0.0.1" | "[::1]")
    }
}

/// Whether `text` holds only what a URL or path setting may: printable ASCII without spaces,
/// quotes, angle brackets, backslashes (a URL parser reads `\` as `/`) or backticks.
pub fn is_url_safe(text: &str) -> bool {
    text.bytes().all(|b| b.is_ascii_graphic() && !b"\"'<>\\`".contains(&b))
}

/// `text` as an error message may quote it: shortened, and with any user name or password
/// replaced by `***` (a password is a secret).
fn shown(text: &str) -> String {
    match text.split_once("://") {
        Some((scheme, rest)) => {
            let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            match rest[..end].rfind('@') {
                Some(at) => truncate(&format!("{scheme}://***{}", &rest[at..])),
                None => truncate(text),
            }
        }
        None => truncate(text),
    }
}

/// Parse an absolute URL setting: `scheme://host[:port][path][?query][#fragment]`, where the
/// scheme is `schemes.secure`, or `schemes.insecure` for this machine only. Refused: any byte
/// outside printable ASCII, spaces, quotes, angle brackets, backslashes and backticks; a user name
/// or password (anything before an `@` in the authority: it is not the host); a host other than a
/// DNS name of letters, digits, `-` and `.`, an IPv4 address or `[IPv6]`, or one written other
/// than as the URL parser reads it (`127.1`, `0x7f.0.0.1`, `%6cocalhost`); a port outside 1 to
/// 65535. Errors quote the URL without its user name or password.
pub fn parse_url(text: &str, schemes: Schemes) -> Result<ParsedUrl<'_>, String> {
    parse_shown_as(text, schemes, text)
}

/// [`parse_url`], with errors quoting `display` (the setting as written) instead of `text`.
fn parse_shown_as<'t>(text: &'t str, schemes: Schemes, display: &str) -> Result<ParsedUrl<'t>, String> {
    let shown = || shown(display);
    if !is_url_safe(text) {
        return Err(format!(
            "`{}` must be printable ASCII without spaces, quotes, angle brackets, backslashes or backticks",
            shown()
        ));
    }
    let must_start = || match schemes.insecure {
        Some(insecure) => format!(
            "`{}` must start with {}:// ({insecure}:// is allowed only for localhost, 127.0.0.1 or [::1])",
            shown(),
            schemes.secure
        ),
        None => format!("`{}` must start with {}://", shown(), schemes.secure),
    };
    let (scheme, after) = text.split_once("://").ok_or_else(must_start)?;
    if scheme != schemes.secure && Some(scheme) != schemes.insecure {
        return Err(must_start());
    }
    let end = after.find(['/', '?', '#']).unwrap_or(after.len());
    let (authority, rest) = after.split_at(end);
    if authority.contains('@') {
        return Err(format!(
            "`{}` must not carry a user name or password (`user@` or `user:password@` before the host): the host is what follows the `@`",
            shown()
        ));
    }
    let (host_text, port_text) = match authority.strip_prefix('[') {
        Some(inner) => match inner.split_once(']') {
            Some((address, tail)) => (&authority[..address.len() + 2], tail.strip_prefix(':')),
            None => (authority, None),
        },
        None => match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        },
    };
    if host_text.is_empty() {
        return Err(format!("`{}` has no host", shown()));
    }
    if port_text.is_some_and(|p| !is_port_text(p)) {
        return Err(format!("`{}` must have a port from 1 to 65535, or none", shown()));
    }
    let url = url::Url::parse(text).map_err(|e| format!("`{}` is not a URL ({e})", shown()))?;
    let host = match url.host() {
        Some(url::Host::Domain(name)) if is_host(name) => name.to_owned(),
        Some(url::Host::Ipv4(address)) => address.to_string(),
        Some(url::Host::Ipv6(address)) => format!("[{address}]"),
        _ => {
            return Err(format!(
                "`{}` must have a host name of letters, digits, `-` and `.`, or an IP address",
                shown()
            ))
        }
    };
    if !host_text.eq_ignore_ascii_case(&host)
        || authority.len() != host_text.len() + port_text.map_or(0, |p| p.len() + 1)
    {
        return Err(format!("`{}` must write its host as a URL parser reads it: `{host}`", shown()));
    }
    let parsed = ParsedUrl { scheme, host, port: port_text.and_then(|p| p.parse().ok()), rest };
    if scheme != schemes.secure && !parsed.is_local() {
        return Err(must_start());
    }
    Ok(parsed)
}

/// Validate one origin pattern as IVS accepts it in `aws:access-control-allow-origin` and the
/// CORS allow-list reads it: `*`, or `https://host[:port]` through [`parse_url`] (`http` only for
/// localhost), where the host may start with `*.` when what follows is a domain under a public
/// suffix, not the suffix itself (`https://*.example.co.uk`, never `https://*.co.uk`).
pub fn check_origin(origin: &str) -> Result<(), String> {
    if origin == "*" {
        return Ok(());
    }
    let bad = || {
        format!("`{}` is not an origin; write `https://host` or `https://host:port` (no path, no trailing slash), optionally `https://*.domain`", shown(origin))
    };
    let (text, wildcard) = match origin.split_once("://*.") {
        Some((scheme, base)) => (format!("{scheme}://{base}"), true),
        None => (origin.to_owned(), false),
    };
    if !text.contains("://") {
        return Err(bad());
    }
    let parsed = parse_shown_as(&text, HTTPS, origin)?;
    if !parsed.rest.is_empty() {
        return Err(bad());
    }
    if wildcard {
        let base = parsed.host.trim_end_matches('.');
        if base.starts_with('[') || base.parse::<std::net::Ipv4Addr>().is_ok() {
            return Err(format!("`{}`: a `*.` wildcard needs a domain name, not an IP address", shown(origin)));
        }
        if is_public_suffix(base) {
            return Err(format!(
                "`{}` covers every site under `{base}`, a public suffix (on the Public Suffix List, or a bare top-level name) where anyone can register a name; put the wildcard under a domain you control, e.g. `https://*.example.{base}`",
                shown(origin)
            ));
        }
    }
    Ok(())
}

/// The Public Suffix List's rules of two or more labels, wildcards and exceptions, grouped by
/// parent domain, one parent a line: `uk ac co gov ...` holds `ac.uk`, `co.uk`, `gov.uk`; `*` is
/// a wildcard (`ck !www *`: `*.ck`), `!label` an exception (`!www.ck`). Grouped, the list is 31 KB
/// of the wasm's gzip instead of 41 KB (`scripts/update-public-suffixes.py` writes the file).
const PUBLIC_SUFFIXES: &str = include_str!("public_suffixes.txt");

/// Whether `name` (a lower-case ASCII domain, no trailing dot) is itself a public suffix by the
/// Public Suffix List: a name where anyone can register a name below (`com`, `co.uk`,
/// `github.io`), rather than a domain someone holds (`example.co.uk`). A single label always is
/// (the list's default rule `*`); otherwise the list must name it, exactly or by a wildcard
/// (`*.ck` covers `a.ck`) that no exception (`!www.ck`) lifts. Read at configuration load, for
/// wildcard origins only: a scan of the list's parents, well under a millisecond.
pub fn is_public_suffix(name: &str) -> bool {
    let Some((first, parent)) = name.split_once('.') else {
        return true;
    };
    // Every rule naming `name` is on its parent's line, and each parent has one line.
    let mut lines = PUBLIC_SUFFIXES.lines().filter(|line| !line.starts_with("//"));
    let Some(labels) = lines.find_map(|line| line.strip_prefix(parent)?.strip_prefix(' ')) else {
        return false;
    };
    let mut by_wildcard = false;
    for label in labels.split(' ') {
        if label == first {
            return true;
        }
        if label.strip_prefix('!') == Some(first) {
            return false;
        }
        by_wildcard |= label == "*";
    }
    by_wildcard
}

/// Whether a request's `Origin` header matches an origin pattern (one that passed
/// [`check_origin`]): exactly, or by a `*.` host. The origin is parsed first, through
/// [`parse_url`]: anything but exactly `scheme://host[:port]` (a path, a query, a fragment, a user
/// name, `null`) matches nothing, so `https://evil.test/.example.org` is not under
/// `https://*.example.org`. The wildcard compares the parsed host, scheme and port.
pub fn origin_matches(pattern: &str, origin: &str) -> bool {
    let Ok(request) = parse_url(origin, HTTPS) else { return false };
    if !request.rest.is_empty() {
        return false;
    }
    if pattern == origin {
        return true;
    }
    let Some((scheme, rest)) = pattern.split_once("://*.") else { return false };
    let (domain, port) = match rest.split_once(':') {
        Some((domain, port)) => (domain, Some(port.parse::<u16>().ok())),
        None => (rest, None),
    };
    request.scheme == scheme
        && port.map_or(request.port.is_none(), |port| port.is_some() && request.port == port)
        && request
            .host
            .strip_suffix(domain.to_ascii_lowercase().as_str())
            .is_some_and(|below| below.len() > 1 && below.ends_with('.'))
}

/// Validate a playback URL: `https://host[:port]/path.m3u8` (plain `http` only for localhost),
/// with no query or fragment, since the worker appends `?token=`.
pub fn check_playback_url(url: &str) -> Result<(), String> {
    let parsed = parse_url(url, HTTPS)?;
    let path = parsed.rest;
    if path.contains(['?', '#']) {
        return Err(format!("`{}` must not have a query or fragment; the worker appends ?token=", shown(url)));
    }
    let path_ok = path.bytes().all(|b| b.is_ascii_alphanumeric() || b"/-._~%".contains(&b));
    if !path_ok || !path.ends_with(".m3u8") {
        return Err(format!("`{}` must be the channel's playback URL, a path ending in .m3u8", shown(url)));
    }
    Ok(())
}

/// Validate a service endpoint URL: `<scheme>://host[:port][/path]` with no query or fragment,
/// where the scheme is one of `schemes` ([`HTTPS`] for WHIP, [`WSS`] for events).
pub fn check_endpoint_url(url: &str, schemes: Schemes) -> Result<(), String> {
    let parsed = parse_url(url, schemes)?;
    if !parsed.rest.bytes().all(|b| b.is_ascii_alphanumeric() || b"/-._~%".contains(&b)) {
        return Err(format!("`{}` must have no query, fragment or unusual characters in its path", shown(url)));
    }
    Ok(())
}

/// Validate a service origin (`https://host[:port]` through [`parse_url`], `http` only for
/// localhost, no path, query or fragment; a final `/` is allowed) and return it normalized: the
/// host as the URL parser reads it, no trailing slash, no default port (`:443` for https, `:80`
/// for http), so the host a request is signed for is the `Host` the client sends.
pub fn service_origin(url: &str) -> Result<String, String> {
    let parsed = parse_url(url, HTTPS)?;
    if !(parsed.rest.is_empty() || parsed.rest == "/") {
        return Err(format!(
            "`{}` must be an origin such as https://host:port, without a path, query or fragment",
            shown(url)
        ));
    }
    let default = if parsed.scheme == "https" { 443 } else { 80 };
    Ok(match parsed.port.filter(|port| *port != default) {
        Some(port) => format!("{}://{}:{port}", parsed.scheme, parsed.host),
        None => format!("{}://{}", parsed.scheme, parsed.host),
    })
}

/// The origin part (`scheme://host[:port]`) of a URL that passed [`parse_url`] (whose authority
/// is exactly the host and port).
pub fn url_origin(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    match url[after_scheme..].find(['/', '?', '#']) {
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
        assert!(origin_matches("https://*.example.com", "https://WWW.Example.com"));
        assert!(origin_matches("http://localhost:8787", "http://localhost:8787"));
        assert!(origin_matches("http://[::1]:3000", "http://[::1]:3000"));
    }

    /// Outside review (issue 16), finding 4: the request's `Origin` is parsed first; anything
    /// that is not exactly `scheme://host[:port]` matches no pattern, though its text ends with
    /// the pattern's domain.
    #[test]
    fn origins_that_are_not_scheme_host_port_match_nothing() {
        for origin in [
            "https://evil.test/.example.com",
            "https://evil.test#.example.com",
            "https://evil.test?.example.com",
            "https://evil.test@a.example.com",
            "https://evil.test:1@a.example.com",
            "https://evil.test\\.example.com",
            "https://evil.test%2f.example.com",
            "https://evil.test .example.com",
            "https://evil.test\t.example.com",
            "https://a.example.com/",
            "https://a.example.com:",
            "https://a.example.com:0",
            "https://.example.com",
            "https://a..example.com",
            "https:a.example.com",
            "null",
            "",
        ] {
            assert!(!origin_matches("https://*.example.com", origin), "{origin:?}");
        }
    }

    /// Outside review (issue 16), finding 4: origins no one should deploy. A wildcard over a
    /// public suffix lets anyone who registers a name there read the token API with the viewer's
    /// cookies; a plain-http origin off this machine is a page anyone on the path can rewrite.
    #[test]
    fn origins_no_one_should_deploy_are_refused() {
        for (bad, rule) in [
            ("https://*.com", "public suffix"),
            ("https://*.co.uk", "public suffix"),
            ("https://*.com.", "public suffix"),
            ("https://*.github.io", "public suffix"),
            ("https://*.workers.dev", "public suffix"),
            ("https://*.example", "public suffix"),
            ("https://*.203.0.113.7", "needs a domain name"),
            ("https://*.0.113.7", "must write its host"),
            ("https://*.[::1]", "needs a domain name"),
            ("http://app.example", "must start with https://"),
            ("http://*.example.org", "must start with https://"),
            ("http://localhost.example", "must start with https://"),
            ("https://user@a.example", "user name or password"),
            ("https://*.a.example/", "is not an origin"),
        ] {
            let err = check_origin(bad).unwrap_err();
            assert!(err.contains(rule), "{bad} -> {err}");
            assert!(err.starts_with(&format!("`{bad}`")) || bad.contains('@'), "{bad} -> {err}");
        }
        for good in [
            "https://*.example.co.uk",
            "https://*.my-app.github.io",
            "https://*.example.org",
            "http://localhost:8787",
            "http://127.0.0.1:3000",
            "http://[::1]",
            "https://203.0.113.7",
            "https://app.example:8443",
        ] {
            check_origin(good).unwrap();
        }
    }

    /// Outside review (issue 16), finding 1: the host checked is the host the URL parser (and so
    /// the fetch) reads. Userinfo is refused outright; look-alikes of localhost stay remote.
    #[test]
    fn parse_url_checks_the_host_the_fetch_uses() {
        for url in [
            "http://localhost:1@203.0.113.7/jwks",
            "http://[::1]@evil.example/jwks",
            "http://127.0.0.1@evil.example/",
            "http://localhost:8787@evil.example:8787/",
            "https://user:hunter2@id.example/jwks",
            "https://@id.example/",
            "https://a@b@id.example/",
        ] {
            let err = parse_url(url, HTTPS).unwrap_err();
            assert!(err.contains("must not carry a user name or password"), "{url} -> {err}");
            assert!(!err.contains("hunter2") && !err.contains("localhost:1") && !err.contains("[::1]@"), "{err}");
            for check in [check_playback_url, |u: &str| check_endpoint_url(u, HTTPS)] {
                assert!(check(url).is_err(), "{url}");
            }
        }
        let remote = [
            "http://localhost.evil.example/",
            "http://127.0.0.1.evil.example/",
            "http://evil.example/localhost",
            "http://evil.example#@localhost",
            "http://evil.example?@localhost",
            "http://[::1].evil/",
            "http://localhost:99999/",
            "http://localhost:0/",
            "http://localhost:/",
            "http://127.1/",
            "http://0x7f.0.0.1/",
            "http://2130706433/",
            "http://%6cocalhost/",
            "http://[0:0::1]/",
            "http:localhost/",
            "http:/localhost/",
            "http:///localhost/",
            "http://localhost\\@evil.example/",
            "http://local host/",
            "HTTP://localhost/",
            "ws://localhost/",
            "https://a_b.example/",
            "https://a;b.example/",
            "https://a,b.example/",
            "https://*.example/",
        ];
        for url in remote {
            assert!(parse_url(url, HTTPS).is_err(), "{url}");
        }
        for (url, host, port) in [
            ("http://localhost:9000/jwks", "localhost", Some(9000)),
            ("http://127.0.0.1/", "127.0.0.1", None),
            ("http://[::1]:3000", "[::1]", Some(3000)),
            ("https://ID.Example/a@b?c=@#@", "id.example", None),
            ("https://203.0.113.7:443/", "203.0.113.7", Some(443)),
        ] {
            let parsed = parse_url(url, HTTPS).unwrap();
            assert_eq!((parsed.host.as_str(), parsed.port), (host, port), "{url}");
        }
        assert_eq!(parse_url("wss://x.example/e", WSS).unwrap().rest, "/e");
        assert!(parse_url("ws://x.example", WSS).unwrap_err().contains("must start with wss://"));
        assert!(parse_url("http://localhost/x.js", HTTPS_ONLY).is_err());
        assert!(is_local_host("localhost:8787") && is_local_host("[::1]") && is_local_host("127.0.0.1"));
        for host in ["localhost:1@evil.example", "localhost.evil", "[::1]@evil", "127.0.0.1:x", "localhost:"] {
            assert!(!is_local_host(host), "{host}");
        }
    }

    #[test]
    fn public_suffixes() {
        for suffix in [
            "com",
            "example",
            "co.uk",
            "github.io",
            "workers.dev",
            "pages.dev",
            "a.ck",
            "xn--55qx5d.cn",
            // Wildcards over a parent of two labels, and rules of three labels and more.
            "ward.kawasaki.jp",
            "x.compute.amazonaws.com",
            "s3.dualstack.us-east-1.amazonaws.com",
            "accident-investigation.aero",
        ] {
            assert!(is_public_suffix(suffix), "{suffix}");
        }
        for domain in [
            "example.com",
            "example.co.uk",
            "me.github.io",
            "www.ck",
            "a.b.ck",
            "live-video.net",
            // Exceptions lift a wildcard: `!city.kawasaki.jp` under `*.kawasaki.jp`.
            "city.kawasaki.jp",
            "city.yokohama.jp",
            "www.city.kawasaki.jp",
            // A parent that is not itself a rule, a label that is only a prefix of a rule's.
            "kawasaki.jp",
            "c.uk",
            "co.u",
            "o.uk",
        ] {
            assert!(!is_public_suffix(domain), "{domain}");
        }
    }

    /// A rule of the list, its labels right to left (`co.uk` -> `uk`, `co`).
    struct Rule<'a> {
        exception: bool,
        labels: Vec<&'a str>,
    }

    /// The official algorithm (https://publicsuffix.org/list/), read straight from the rules:
    /// a rule matches when its labels, right to left, equal the name's (`*` any one label); an
    /// exception wins, else the rule with the most labels, else the default rule `*`; the public
    /// suffix is the matched labels (an exception's minus its first). `name` is a public suffix
    /// when it is its own public suffix. `rules` are those under the name's top-level label (no
    /// other rule can match).
    fn reference_is_public_suffix(rules: &[Rule], name: &str) -> bool {
        let labels: Vec<&str> = name.split('.').rev().collect();
        let mut longest = 1; // the default rule `*`
        for rule in rules {
            let matches =
                rule.labels.len() <= labels.len() && rule.labels.iter().zip(&labels).all(|(r, l)| r == l || *r == "*");
            if matches && rule.exception {
                return rule.labels.len() - 1 == labels.len();
            }
            if matches {
                longest = longest.max(rule.labels.len());
            }
        }
        longest == labels.len()
    }

    #[test]
    fn grouped_list_answers_as_the_official_rules() {
        // The grouped file back to one rule a line (`uk ac co` -> `ac.uk`, `co.uk`).
        let mut rules = Vec::new();
        let mut parents = std::collections::HashSet::new();
        for line in PUBLIC_SUFFIXES.lines().filter(|line| !line.starts_with("//")) {
            let mut words = line.split(' ');
            let parent = words.next().unwrap();
            assert!(parents.insert(parent), "parent {parent} on two lines");
            for word in words {
                rules.push(match word.strip_prefix('!') {
                    Some(label) => format!("!{label}.{parent}"),
                    None => format!("{word}.{parent}"),
                });
            }
        }
        assert!(rules.len() > 8_000, "{} rules", rules.len());
        let mut by_top: std::collections::HashMap<&str, Vec<Rule>> = std::collections::HashMap::new();
        for rule in &rules {
            let (exception, name) = rule.strip_prefix('!').map_or((false, rule.as_str()), |name| (true, name));
            let labels: Vec<&str> = name.split('.').rev().collect();
            by_top.entry(labels[0]).or_default().push(Rule { exception, labels });
        }
        // Names: every 7th rule's name (a wildcard as a label), one label above and below it, its
        // parent, and the parent under another top-level label; plus every exception's name.
        let mut names = Vec::new();
        for (i, rule) in rules.iter().enumerate() {
            let name = rule.trim_start_matches('!').replace('*', "wild");
            if rule.starts_with('!') || i % 7 == 0 {
                let parent = name.split_once('.').unwrap().1.to_owned();
                let other_top = format!("{}.zz", name.rsplit_once('.').unwrap().0);
                names.extend([format!("a.{name}"), parent, other_top, name]);
            }
        }
        assert!(names.len() > 4_000, "{} names", names.len());
        let mut suffixes = 0;
        for name in &names {
            let top = name.rsplit('.').next().unwrap();
            let expected = reference_is_public_suffix(by_top.get(top).map_or(&[], Vec::as_slice), name);
            assert_eq!(is_public_suffix(name), expected, "{name}");
            suffixes += usize::from(expected);
        }
        // Both answers are well represented in the sample.
        assert!(suffixes > names.len() / 5 && suffixes < names.len() * 4 / 5, "{suffixes} of {}", names.len());
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
            ("https://IVS.Example", "https://ivs.example"),
        ] {
            assert_eq!(service_origin(url).as_deref(), Ok(origin), "{url}");
        }
        for (bad, rule) in [
            ("http://ivs.example", "allowed only for localhost"),
            ("ftp://ivs.example", "must start with https://"),
            ("https://ivs.example/prefix", "without a path"),
            ("https://ivs.example?x=1", "without a path, query or fragment"),
            ("https://user:pw@ivs.example", "must not carry a user name or password"),
            ("ivs.example", "must start with https://"),
        ] {
            let err = service_origin(bad).unwrap_err();
            assert!(err.contains(rule), "{bad}: {err}");
        }
    }
}
