//! `PLAYER_SCRIPT_URL`: which player script the watch page loads (default: the bundled IVS web
//! player, served as a Workers static asset).

use crate::address::{is_url_safe, parse_url, url_origin, HTTPS_ONLY};

/// Which player script the page loads, and what it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Player {
    /// URL of the player script: a path on this worker (default: the bundled IVS player) or an
    /// absolute https URL.
    pub script_url: String,
}

/// The bundled Amazon IVS web player (from the npm package, served as a Workers static asset).
pub const DEFAULT_PLAYER_SCRIPT: &str = "/player/amazon-ivs-player.min.js";
/// The IVS player's web worker, beside the default script.
pub const IVS_WASM_WORKER: &str = "/player/amazon-ivs-wasmworker.min.js";
/// The IVS player's WebAssembly binary, beside the default script.
pub const IVS_WASM_BINARY: &str = "/player/amazon-ivs-wasmworker.min.wasm";

impl Default for Player {
    fn default() -> Self {
        Self { script_url: DEFAULT_PLAYER_SCRIPT.to_owned() }
    }
}

impl Player {
    /// Check a `PLAYER_SCRIPT_URL` value: a path on this worker or an https URL, without `;` or
    /// `,` (the URL's origin goes into the page's Content-Security-Policy header).
    pub fn parse(url: &str) -> Result<Self, String> {
        const RULE: &str = "must be a path on this worker (/player/x.js) or an https URL of a .js file";
        if url.contains([';', ',']) {
            return Err("must not contain `;` or `,`: the script's origin is written into the Content-Security-Policy header, where `;` separates directives and `,` policies".into());
        }
        let local = url.starts_with('/') && !url.starts_with("//");
        let fits = if !local && url.contains("://") {
            // An absolute URL: through the one URL parser (a real host, no user name or password).
            parse_url(url, HTTPS_ONLY).map_err(|e| format!("{RULE}: {e}"))?.rest.starts_with('/')
        } else {
            local && is_url_safe(url)
        };
        if fits && url.ends_with(".js") {
            Ok(Self { script_url: url.to_owned() })
        } else {
            Err(format!("{RULE}, not `{}`", crate::text::truncate(url)))
        }
    }

    /// The origin of an external player script, if any (added to the CSP).
    pub fn external_origin(&self) -> Option<&str> {
        self.script_url.starts_with("https://").then(|| url_origin(&self.script_url))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn player_urls() {
        for good in ["/player/hls.min.js", "https://cdn.example/x/player.js"] {
            Player::parse(good).unwrap();
        }
        for bad in [
            "//evil.example/x.js",
            "http://cdn.example/x.js",
            "javascript:alert(1)//.js",
            "/x.js\"onload=\"",
            "https:///x.js",
            "/player/x",
        ] {
            assert!(Player::parse(bad).is_err(), "{bad}");
        }
    }

    /// Outside review (issue 16), finding 4: the script URL's origin is written into the
    /// Content-Security-Policy header, where `;` separates directives and `,` policies.
    #[test]
    fn csp_separators_are_refused() {
        for bad in [
            "https://cdn.example/player.js;script-src-elem.js",
            "https://cdn.example/a,b.js",
            "https://cdn.example/x.js?a=1;b=2.js",
            "https://cdn.example;script-src/x.js",
            "https://cdn.example,x/x.js",
            "/player/a;b.js",
            "/player/a,b.js",
        ] {
            let err = Player::parse(bad).unwrap_err();
            assert!(err.contains("`;`") && err.contains("Content-Security-Policy"), "{bad} -> {err}");
        }
    }
}
