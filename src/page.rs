//! The watch page: HTML with the signed playback URL already inside, so the player starts without
//! calling `/v1/token` first (the round trip IVS's own docs suggest saving).
//!
//! Everything that comes from settings or the session reaches the page through two escapes only:
//! [`escape_html`] for text and attributes, and [`json_for_script`] for the data block, which
//! cannot contain `<`, `>` or `&` and so can never close its `<script>` or open a comment.

use crate::channel::{url_origin, Channel};
use crate::encoding::b64url_encode;
use crate::grant::IssuedToken;
use crate::stage::Stage;
use crate::stage_grant::IssuedStageToken;

/// The page script, served inline under the per-response CSP nonce (no extra request).
const WATCH_JS: &str = include_str!("../web/watch.js");
/// The page style, inline under the same nonce.
const WATCH_CSS: &str = include_str!("../web/watch.css");
/// The stage page's script (inline under the nonce, like the watch page's).
const STAGE_JS: &str = include_str!("../web/stage.js");
/// The stage page's style, after the watch page's.
const STAGE_CSS: &str = include_str!("../web/stage.css");
/// The bundled Amazon IVS Web Broadcast SDK (from the npm package, a Workers static asset;
/// global `IVSBroadcastClient`).
pub const BROADCAST_SDK_SCRIPT: &str = "/sdk/amazon-ivs-web-broadcast.min.js";

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
    /// Check a `PLAYER_SCRIPT_URL` value: a path on this worker or an https URL.
    pub fn parse(url: &str) -> Result<Self, String> {
        let safe_chars = url.bytes().all(|b| b.is_ascii_graphic() && !b"\"'<>\\`".contains(&b));
        let local = url.starts_with('/') && !url.starts_with("//");
        let remote = url.strip_prefix("https://").is_some_and(|rest| rest.contains('/') && !rest.starts_with('/'));
        if safe_chars && (local || remote) && url.ends_with(".js") {
            Ok(Self { script_url: url.to_owned() })
        } else {
            Err(format!("must be a path on this worker (/player/x.js) or an https URL of a .js file, not `{}`", crate::channel::truncate(url)))
        }
    }

    /// The origin of an external player script, if any (added to the CSP).
    fn external_origin(&self) -> Option<&str> {
        self.script_url.starts_with("https://").then(|| url_origin(&self.script_url))
    }
}

/// A fresh CSP nonce: base64url of 16 random bytes.
pub fn nonce(random: &[u8; 16]) -> String {
    b64url_encode(random)
}

/// Escape text for HTML element content and quoted attribute values.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// JSON safe inside `<script type="application/json">`: `<`, `>`, `&` and the JavaScript line
/// separators are written as `\u` escapes, which JSON.parse reads back unchanged.
pub fn json_for_script(value: &serde_json::Value) -> String {
    let json = value.to_string();
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

/// IVS hosts: renditions and segments come from other `*.live-video.net` hosts than the
/// multivariant playlist's, and the IVS player fetches its device configuration from one.
const IVS_HOSTS: &str = "https://*.live-video.net";

/// Media sources the player needs for `channel`: its playback origin, plus every IVS host when
/// the playback URL is an IVS one.
fn media_sources(channel: &Channel) -> String {
    let origin = url_origin(&channel.playback_url);
    let host = origin.split("://").nth(1).unwrap_or_default();
    if host == "live-video.net" || host.ends_with(".live-video.net") {
        format!("{origin} {IVS_HOSTS}")
    } else {
        origin.to_owned()
    }
}

/// The Content-Security-Policy of a watch page.
pub fn watch_csp(channel: &Channel, player: &Player, nonce: &str) -> String {
    let media = media_sources(channel);
    let external = player.external_origin().map(|o| format!(" {o}")).unwrap_or_default();
    let ivs_player = if player.script_url == DEFAULT_PLAYER_SCRIPT && !media.contains(IVS_HOSTS) {
        format!(" {IVS_HOSTS}")
    } else {
        String::new()
    };
    format!(
        "default-src 'none'; script-src 'nonce-{nonce}' 'self' 'wasm-unsafe-eval'{external}; \
         style-src 'nonce-{nonce}'; img-src 'self' data:; media-src 'self' blob: {media}; \
         connect-src 'self' {media}{ivs_player}{external}; worker-src 'self' blob:{external}; \
         base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
    )
}

/// The Content-Security-Policy of a message page (no script at all).
pub fn message_csp(nonce: &str) -> String {
    format!("default-src 'none'; style-src 'nonce-{nonce}'; base-uri 'none'; form-action 'none'; frame-ancestors 'self'")
}

fn document(title: &str, nonce: &str, body: &str) -> String {
    document_styled(title, nonce, WATCH_CSS, "", body)
}

fn document_styled(title: &str, nonce: &str, css: &str, extra_css: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"referrer\" content=\"no-referrer\">\n<link rel=\"icon\" href=\"data:,\">\n<title>{}</title>\n\
         <style nonce=\"{nonce}\">{css}{extra_css}</style>\n</head>\n<body>\n{body}</body>\n</html>\n",
        escape_html(title)
    )
}

/// The watch page for `channel`, carrying `issued` (token and playback URL) in its data block.
pub fn watch_page(channel: &Channel, issued: &IssuedToken, player: &Player, nonce: &str) -> String {
    let mut data = serde_json::json!({
        "channel": channel.name,
        "title": channel.title,
        "playback_url": issued.playback_url,
        "expires_at": issued.expires_at,
        "token_endpoint": format!("/v1/token?channel={}", channel.name),
    });
    if player.script_url == DEFAULT_PLAYER_SCRIPT {
        data["ivs_player"] = serde_json::json!({"wasm_worker": IVS_WASM_WORKER, "wasm_binary": IVS_WASM_BINARY});
    }
    let body = format!(
        "<main>\n<h1>{title}</h1>\n<div class=\"stage\">\n\
         <video id=\"video\" playsinline controls muted autoplay></video>\n\
         <div id=\"status\" class=\"status\" role=\"status\" aria-live=\"polite\" hidden>\
         <p id=\"status-text\"></p><button id=\"retry\" type=\"button\">Retry</button></div>\n</div>\n</main>\n\
         <script type=\"application/json\" id=\"watch-data\">{data}</script>\n\
         <script src=\"{script}\" nonce=\"{nonce}\"></script>\n\
         <script nonce=\"{nonce}\">{WATCH_JS}</script>\n",
        title = escape_html(&channel.title),
        data = json_for_script(&data),
        script = escape_html(&player.script_url),
    );
    document(&channel.title, nonce, &body)
}

/// The Content-Security-Policy of a stage page: the SDK from this worker; connections to the
/// stage's own events and WHIP origins (taken from its settings) and to IVS hosts; camera and
/// remote media as `mediastream:`/`blob:`.
pub fn stage_csp(stage: &Stage, nonce: &str) -> String {
    let mut connect = vec![url_origin(&stage.events_url).to_owned(), url_origin(&stage.whip_url).to_owned()];
    for ivs in [IVS_HOSTS, "wss://*.live-video.net"] {
        connect.push(ivs.to_owned());
    }
    connect.dedup();
    format!(
        "default-src 'none'; script-src 'nonce-{nonce}' 'self' 'wasm-unsafe-eval'; style-src 'nonce-{nonce}'; \
         img-src 'self' data: blob:; media-src 'self' blob: mediastream:; connect-src 'self' {}; worker-src 'self' blob:; \
         base-uri 'none'; form-action 'none'; frame-ancestors 'self'",
        connect.join(" ")
    )
}

/// The stage page for `stage`, carrying `issued` (a participant token) in its data block.
pub fn stage_page(stage: &Stage, issued: &IssuedStageToken, nonce: &str) -> String {
    let publish = issued.capabilities.allow_publish;
    let endpoint = format!("/v1/stage-token?stage={}{}", stage.name, if publish { "&publish=true" } else { "" });
    let data = serde_json::json!({
        "stage": stage.name,
        "title": stage.title,
        "token": issued.token,
        "participant_id": issued.participant_id,
        "expires_at": issued.expires_at,
        "capabilities": issued.capabilities.names(),
        "token_endpoint": endpoint,
    });
    let camera = if publish { "<button id=\"join-camera\" type=\"button\">Join on camera</button>\n" } else { "" };
    let body = format!(
        "<main>\n<h1>{title}</h1>\n<div class=\"controls\">{camera}<span id=\"connection\" class=\"connection\">Connecting...</span></div>\n\
         <div id=\"status\" class=\"status stage-status\" role=\"status\" aria-live=\"polite\" hidden>\
         <p id=\"status-text\"></p><button id=\"retry\" type=\"button\">Retry</button></div>\n\
         <div id=\"participants\" class=\"participants\"><p id=\"empty\" class=\"empty\">Nobody is on camera yet.</p></div>\n</main>\n\
         <script type=\"application/json\" id=\"stage-data\">{data}</script>\n\
         <script src=\"{BROADCAST_SDK_SCRIPT}\" nonce=\"{nonce}\"></script>\n\
         <script nonce=\"{nonce}\">{STAGE_JS}</script>\n",
        title = escape_html(&stage.title),
        data = json_for_script(&data),
    );
    document_styled(&stage.title, nonce, WATCH_CSS, STAGE_CSS, &body)
}

/// A page that only explains something (no session, forbidden, unknown channel, misconfigured).
pub fn message_page(heading: &str, message: &str, link: Option<(&str, &str)>, nonce: &str) -> String {
    let link = link
        .map(|(href, text)| format!("<p><a href=\"{}\">{}</a></p>\n", escape_html(href), escape_html(text)))
        .unwrap_or_default();
    let body = format!(
        "<main class=\"message\">\n<h1>{}</h1>\n<p>{}</p>\n{link}</main>\n",
        escape_html(heading),
        escape_html(message)
    );
    document(heading, nonce, &body)
}

/// The local dev index (`GET /` under `make dev`): a link to each channel's watch page.
/// `channels` are (name, title) pairs.
pub fn index_page(channels: &[(&str, &str)], nonce: &str) -> String {
    let items: String = channels
        .iter()
        .map(|(name, title)| {
            format!("<li><a href=\"/watch/{}\">{}</a> <code>{}</code></li>\n", escape_html(name), escape_html(title), escape_html(name))
        })
        .collect();
    let body = format!(
        "<main class=\"message\">\n<h1>ivs-token-worker (local)</h1>\n<h2>Channels</h2>\n<ul>\n{items}</ul>\n\
         <p>Local sign-in happens on the first visit (<code>/dev/login</code>). The token API: \
         <code>/v1/token?channel=NAME</code>.</p>\n</main>\n"
    );
    document("ivs-token-worker (local)", nonce, &body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn channel(title: &str, url: &str) -> Channel {
        Channel {
            name: "demo".into(),
            title: title.into(),
            arn: "arn:aws:ivs:us-west-2:123456789012:channel/a".into(),
            playback_url: url.into(),
            allowed_origins: None,
            strict_origin: false,
            single_use: false,
            viewer_binding: true,
            max_resolution: None,
            access: Default::default(),
        }
    }

    fn issued(url: &str) -> IssuedToken {
        IssuedToken { channel: "demo".into(), token: "t.t.t".into(), playback_url: format!("{url}?token=t.t.t"), expires_at: 1 }
    }

    #[test]
    fn hostile_titles_cannot_break_out() {
        let hostile = "</script><script>alert(1)</script><!-- \"' & \u{2028}";
        let ch = channel(hostile, "https://a.live-video.net/x.m3u8");
        let html = watch_page(&ch, &issued(&ch.playback_url), &Player::default(), "NONCE");
        assert!(!html.contains("<script>alert"));
        assert!(!html.contains("<!-- \""));
        assert_eq!(html.matches("</script>").count(), 3, "only our own three script elements close");
        let start = html.find("id=\"watch-data\">").unwrap() + "id=\"watch-data\">".len();
        let end = start + html[start..].find("</script>").unwrap();
        let data: serde_json::Value = serde_json::from_str(&html[start..end]).unwrap();
        assert_eq!(data["title"], hostile, "JSON.parse gives the exact title back");
        assert!(html.contains("<h1>&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;!-- &quot;&#39; &amp;"));
    }

    #[test]
    fn json_for_script_round_trips() {
        let value = json!({"a": "</script><!--&\u{2028}\u{2029}>"});
        let escaped = json_for_script(&value);
        assert!(!escaped.contains('<') && !escaped.contains('>') && !escaped.contains('&'));
        assert_eq!(serde_json::from_str::<serde_json::Value>(&escaped).unwrap(), value);
    }

    #[test]
    fn page_carries_the_playback_url_and_nonce() {
        let ch = channel("Demo", "https://a.live-video.net/x.m3u8");
        let html = watch_page(&ch, &issued(&ch.playback_url), &Player::default(), "N0NCE");
        assert!(html.contains("https://a.live-video.net/x.m3u8?token=t.t.t"));
        assert!(html.contains("\"token_endpoint\":\"/v1/token?channel=demo\""));
        assert!(html.contains("\"wasm_worker\":\"/player/amazon-ivs-wasmworker.min.js\""));
        assert_eq!(html.matches("nonce=\"N0NCE\"").count(), 3, "style, player script, inline script");
        let hls = Player::parse("/player/hls.min.js").unwrap();
        let html = watch_page(&ch, &issued(&ch.playback_url), &hls, "N");
        assert!(html.contains("<script src=\"/player/hls.min.js\"") && !html.contains("\"ivs_player\":"));
    }

    #[test]
    fn csp_allows_only_what_the_player_needs() {
        let ivs = channel("t", "https://abc.us-west-2.playback.live-video.net/api/video/v1/x.m3u8");
        let csp = watch_csp(&ivs, &Player::default(), "N");
        assert!(csp.starts_with("default-src 'none'; script-src 'nonce-N' 'self' 'wasm-unsafe-eval';"));
        assert!(csp.contains("media-src 'self' blob: https://abc.us-west-2.playback.live-video.net https://*.live-video.net;"));
        assert!(csp.contains("worker-src 'self' blob:;"));
        assert!(!csp.contains("unsafe-inline"));
        let local = channel("t", "http://127.0.0.1:9000/live/x.m3u8");
        let csp = watch_csp(&local, &Player::default(), "N");
        assert!(csp.contains("connect-src 'self' http://127.0.0.1:9000 https://*.live-video.net;"), "IVS player config");
        assert!(csp.contains("media-src 'self' blob: http://127.0.0.1:9000;"));
        let cdn = Player::parse("https://cdn.example/player/hls.min.js").unwrap();
        let csp = watch_csp(&local, &cdn, "N");
        assert!(csp.contains("connect-src 'self' http://127.0.0.1:9000 https://cdn.example;"));
        assert!(csp.contains("script-src 'nonce-N' 'self' 'wasm-unsafe-eval' https://cdn.example;"));
        assert!(!csp.contains("live-video.net"));
    }

    #[test]
    fn player_urls() {
        for good in ["/player/hls.min.js", "https://cdn.example/x/player.js"] {
            Player::parse(good).unwrap();
        }
        for bad in ["//evil.example/x.js", "http://cdn.example/x.js", "javascript:alert(1)//.js", "/x.js\"onload=\"", "https:///x.js", "/player/x"] {
            assert!(Player::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn stage_page_escapes_and_its_csp_follows_the_stage_urls() {
        let hostile = "</script><script>alert(1)</script><!--";
        let mut stage = crate::stage::Stage::from_json(
            "room",
            &json!({"arn": "arn:aws:ivs:us-east-1:123456789012:stage/a", "public_key_arn": "arn:aws:ivs:us-east-1:123456789012:public-key/k",
                    "whip_url": "http://127.0.0.1:9000/whip", "events_url": "ws://127.0.0.1:9001"}),
        )
        .unwrap();
        stage.title = hostile.into();
        let caps = crate::token::stage::Capabilities { allow_publish: false, allow_subscribe: true };
        let issued = IssuedStageToken { stage: "room".into(), token: "t.t.t".into(), participant_id: "p".into(), expires_at: 1, capabilities: caps };
        let html = stage_page(&stage, &issued, "N");
        assert!(!html.contains("<script>alert") && !html.contains("id=\"join-camera\""));
        assert_eq!(html.matches("</script>").count(), 3);
        assert!(html.contains("\"token_endpoint\":\"/v1/stage-token?stage=room\""));
        let csp = stage_csp(&stage, "N");
        assert!(csp.contains("connect-src 'self' ws://127.0.0.1:9001 http://127.0.0.1:9000 https://*.live-video.net wss://*.live-video.net;"), "{csp}");
        assert!(!csp.contains("unsafe-inline"));
    }

    #[test]
    fn index_page_escapes_titles() {
        let html = index_page(&[("demo", "<b>Demo</b> & co")], "N");
        assert!(html.contains("<li><a href=\"/watch/demo\">&lt;b&gt;Demo&lt;/b&gt; &amp; co</a>"));
        assert!(!html.contains("<script") && !html.contains("<b>"));
    }

    #[test]
    fn message_pages_escape() {
        let html = message_page("No <session>", "Sign in & retry", Some(("/login?a=1&b=\"2\"", "Sign in")), "N");
        assert!(html.contains("<h1>No &lt;session&gt;</h1>"));
        assert!(html.contains("href=\"/login?a=1&amp;b=&quot;2&quot;\""));
        assert!(!html.contains("<script"));
    }
}
