//! The watch page: HTML with the signed playback URL already inside, so the player starts without
//! calling `/v1/token` first (the round trip IVS's own docs suggest saving).

use super::{document_styled, escape_html, json_for_script, Look, IVS_HOSTS, PAGE_CSS};
use crate::address::url_origin;
use crate::channel::policy::IssuedToken;
use crate::channel::Channel;
use crate::chat::messaging::Messaging;
use crate::config::player::{Player, DEFAULT_PLAYER_SCRIPT, IVS_WASM_BINARY, IVS_WASM_WORKER};

/// The page script, served inline under the per-response CSP nonce (no extra request).
const WATCH_JS: &str = include_str!("../../web/watch.js");
/// The chat panel's script, on the page of a channel with a room only (inline like the page's
/// own), so a page without a room is exactly what it was before chat.
const CHAT_JS: &str = include_str!("../../web/chat.js");
/// The chat panel's style, after the shared one, on the same pages only.
const CHAT_CSS: &str = include_str!("../../web/chat.css");
/// The bundled Amazon IVS Chat messaging SDK (from the npm package, a Workers static asset;
/// global `IVSChatMessaging`).
pub const CHAT_SDK_SCRIPT: &str = "/sdk/amazon-ivs-chat-messaging.min.js";

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

/// The image sources of a watch page without a brand (the brand's logo may add one).
const IMAGES: &str = "'self' data:";

/// The Content-Security-Policy of a watch page; `chat`: the room's messaging endpoint, whose
/// WebSocket origin `connect-src` then allows (the SDK itself is a script of this worker's).
pub fn watch_csp(channel: &Channel, player: &Player, chat: Option<&Messaging>, look: &Look<'_>) -> String {
    let nonce = look.nonce;
    let (logo, stylesheet) = (look.logo_source(IMAGES), look.stylesheet_source(&format!("'nonce-{nonce}'")));
    let media = media_sources(channel);
    let external = player.external_origin().map(|o| format!(" {o}")).unwrap_or_default();
    let ivs_player = if player.script_url == DEFAULT_PLAYER_SCRIPT && !media.contains(IVS_HOSTS) {
        format!(" {IVS_HOSTS}")
    } else {
        String::new()
    };
    let chat = chat.map(|m| format!(" {}", m.csp_source)).unwrap_or_default();
    format!(
        "default-src 'none'; script-src 'nonce-{nonce}' 'self' 'wasm-unsafe-eval'{external}; \
         style-src 'nonce-{nonce}'{stylesheet}; img-src {IMAGES}{logo}; media-src 'self' blob: {media}; \
         connect-src 'self' {media}{ivs_player}{external}{chat}; worker-src 'self' blob:{external}; \
         base-uri 'none'; form-action 'self'; frame-ancestors 'self'"
    )
}

/// Where the page of channel `name` renews its token (`GET /v1/token?channel=NAME`).
pub fn token_endpoint(name: &str) -> String {
    format!("/v1/token?channel={name}")
}

/// Where the "Watch here instead" button of channel `name`'s page POSTs (the page itself: the
/// POST is the takeover, the query says so to a reader of the address).
pub fn takeover_url(name: &str) -> String {
    format!("/watch/{name}?takeover=true")
}

/// Where the chat panel of channel `name` gets its chat tokens (`POST /v1/chat-token?channel=NAME`).
pub fn chat_token_endpoint(name: &str) -> String {
    format!("/v1/chat-token?channel={name}")
}

/// The chat panel beside the player: messages, a status line for problems, the input (disabled
/// until connected, and for good with the reason when the viewer may only read).
const CHAT_PANEL: &str = "<aside id=\"chat\" class=\"chat\" aria-label=\"Chat\">\n<h2>Chat</h2>\n\
    <p id=\"chat-status\" class=\"chat-status\" role=\"status\" aria-live=\"polite\">Connecting to the chat\u{2026}</p>\n\
    <ol id=\"chat-messages\" class=\"chat-messages\"></ol>\n\
    <p id=\"chat-reason\" class=\"chat-reason\" hidden></p>\n\
    <form id=\"chat-form\" class=\"chat-form\"><input id=\"chat-input\" type=\"text\" maxlength=\"500\" autocomplete=\"off\" \
    aria-label=\"Message\" placeholder=\"Say something\" disabled><button id=\"chat-send\" type=\"submit\" disabled>Send</button></form>\n</aside>\n";

/// How a watch page on a device-limited channel keeps its slot: it beats every `interval_seconds`
/// while open, stops playing when the answer is `409 device-evicted`, and releases its slot when
/// the page closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Heartbeat {
    /// Seconds between two heartbeats.
    pub interval_seconds: u64,
}

impl Heartbeat {
    /// A third of the idle time (at most 60 s, at least 1 s): two heartbeats may be lost before
    /// the device counts as idle.
    pub fn for_idle_seconds(idle_seconds: u64) -> Self {
        Self { interval_seconds: (idle_seconds / 3).clamp(1, 60) }
    }
}

/// The watch page for `channel`, carrying `issued` (token and playback URL) in its data block;
/// `heartbeat` on a device-limited channel; `chat` (the room's messaging endpoint) adds the chat
/// panel, the chat SDK and its script.
pub fn watch_page(
    channel: &Channel,
    issued: &IssuedToken,
    player: &Player,
    heartbeat: Option<Heartbeat>,
    chat: Option<&Messaging>,
    look: &Look<'_>,
) -> String {
    let nonce = look.nonce;
    let mut data = serde_json::json!({
        "channel": channel.name,
        "title": channel.title,
        "playback_url": issued.playback_url,
        "expires_at": issued.expires_at,
        "token_endpoint": token_endpoint(&channel.name),
    });
    if let Some(heartbeat) = heartbeat {
        data["heartbeat"] = serde_json::json!({
            "endpoint": format!("/v1/heartbeat?channel={}", channel.name),
            "interval_ms": heartbeat.interval_seconds * 1000,
            "takeover_url": takeover_url(&channel.name),
        });
    }
    if player.script_url == DEFAULT_PLAYER_SCRIPT {
        data["ivs_player"] = serde_json::json!({"wasm_worker": IVS_WASM_WORKER, "wasm_binary": IVS_WASM_BINARY});
    }
    if let Some(chat) = chat {
        // Nothing secret: where to connect and where to ask for a token (the token itself is
        // fetched with the viewer's credentials, on every connect).
        data["chat"] = serde_json::json!({
            "region_or_url": chat.region_or_url,
            "token_endpoint": chat_token_endpoint(&channel.name),
        });
    }
    let stage = "<div class=\"stage\">\n\
         <video id=\"video\" playsinline controls muted autoplay></video>\n\
         <div id=\"status\" class=\"status\" role=\"status\" aria-live=\"polite\" hidden>\
         <p id=\"status-text\"></p><button id=\"retry\" type=\"button\">Retry</button></div>\n</div>\n";
    let (player_area, chat_scripts, chat_css) = match chat {
        None => (stage.to_owned(), String::new(), ""),
        Some(_) => (
            format!("<div class=\"watch-layout\">\n{stage}{CHAT_PANEL}</div>\n"),
            format!(
                "<script src=\"{CHAT_SDK_SCRIPT}\" nonce=\"{nonce}\"></script>\n<script nonce=\"{nonce}\">{CHAT_JS}</script>\n"
            ),
            CHAT_CSS,
        ),
    };
    let body = format!(
        "<main>\n<h1>{title}</h1>\n{player_area}</main>\n\
         <script type=\"application/json\" id=\"watch-data\">{data}</script>\n\
         <script src=\"{script}\" nonce=\"{nonce}\"></script>\n\
         <script nonce=\"{nonce}\">{WATCH_JS}</script>\n{chat_scripts}",
        title = escape_html(&channel.title),
        data = json_for_script(&data),
        script = escape_html(&player.script_url),
    );
    document_styled(&channel.title, look, PAGE_CSS, chat_css, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    const N: &Look<'static> = &Look { nonce: "N", brand: None };

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
            device_limit: false,
            max_resolution: None,
            access: Default::default(),
            chat: None,
        }
    }

    fn issued(url: &str) -> IssuedToken {
        IssuedToken {
            channel: "demo".into(),
            token: "t.t.t".into(),
            playback_url: format!("{url}?token=t.t.t"),
            expires_at: 1,
        }
    }

    #[test]
    fn hostile_titles_cannot_break_out() {
        let hostile = "</script><script>alert(1)</script><!-- \"' & \u{2028}";
        let ch = channel(hostile, "https://a.live-video.net/x.m3u8");
        let html = watch_page(&ch, &issued(&ch.playback_url), &Player::default(), None, None, &Look::plain("NONCE"));
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
    fn page_carries_the_playback_url_and_nonce() {
        let ch = channel("Demo", "https://a.live-video.net/x.m3u8");
        let html = watch_page(&ch, &issued(&ch.playback_url), &Player::default(), None, None, &Look::plain("N0NCE"));
        assert!(html.contains("https://a.live-video.net/x.m3u8?token=t.t.t"));
        assert!(html.contains("\"token_endpoint\":\"/v1/token?channel=demo\""));
        assert!(html.contains("\"wasm_worker\":\"/player/amazon-ivs-wasmworker.min.js\""));
        assert_eq!(html.matches("nonce=\"N0NCE\"").count(), 3, "style, player script, inline script");
        let hls = Player::parse("/player/hls.min.js").unwrap();
        let html = watch_page(&ch, &issued(&ch.playback_url), &hls, None, None, N);
        assert!(html.contains("<script src=\"/player/hls.min.js\"") && !html.contains("\"ivs_player\":"));
        assert!(!html.contains("\"heartbeat\":"), "no heartbeat on a channel without a device limit");
        let limited = watch_page(&ch, &issued(&ch.playback_url), &hls, Some(Heartbeat::for_idle_seconds(90)), None, N);
        assert!(limited.contains(
            "\"heartbeat\":{\"endpoint\":\"/v1/heartbeat?channel=demo\",\"interval_ms\":30000,\"takeover_url\":\"/watch/demo?takeover=true\"}"
        ));
        assert_eq!(Heartbeat::for_idle_seconds(5).interval_seconds, 1);
        assert_eq!(Heartbeat::for_idle_seconds(3600).interval_seconds, 60);
    }

    #[test]
    fn csp_allows_only_what_the_player_needs() {
        let ivs = channel("t", "https://abc.us-west-2.playback.live-video.net/api/video/v1/x.m3u8");
        let csp = watch_csp(&ivs, &Player::default(), None, N);
        assert!(csp.starts_with("default-src 'none'; script-src 'nonce-N' 'self' 'wasm-unsafe-eval';"));
        assert!(csp.contains(
            "media-src 'self' blob: https://abc.us-west-2.playback.live-video.net https://*.live-video.net;"
        ));
        assert!(csp.contains("worker-src 'self' blob:;"));
        assert!(!csp.contains("unsafe-inline"));
        let local = channel("t", "http://127.0.0.1:9000/live/x.m3u8");
        let csp = watch_csp(&local, &Player::default(), None, N);
        assert!(
            csp.contains("connect-src 'self' http://127.0.0.1:9000 https://*.live-video.net;"),
            "IVS player config"
        );
        assert!(csp.contains("media-src 'self' blob: http://127.0.0.1:9000;"));
        let cdn = Player::parse("https://cdn.example/player/hls.min.js").unwrap();
        let csp = watch_csp(&local, &cdn, None, N);
        assert!(csp.contains("connect-src 'self' http://127.0.0.1:9000 https://cdn.example;"));
        assert!(csp.contains("script-src 'nonce-N' 'self' 'wasm-unsafe-eval' https://cdn.example;"));
        assert!(!csp.contains("live-video.net"));
    }

    #[test]
    fn csp_is_exact_without_a_brand_and_adds_only_the_brand_origins() {
        let ch = channel("t", "https://abc.us-west-2.playback.live-video.net/x.m3u8");
        let plain = "default-src 'none'; script-src 'nonce-N' 'self' 'wasm-unsafe-eval'; style-src 'nonce-N'; \
             img-src 'self' data:; media-src 'self' blob: https://abc.us-west-2.playback.live-video.net https://*.live-video.net; \
             connect-src 'self' https://abc.us-west-2.playback.live-video.net https://*.live-video.net; worker-src 'self' blob:; \
             base-uri 'none'; form-action 'self'; frame-ancestors 'self'";
        assert_eq!(watch_csp(&ch, &Player::default(), None, N), plain);
        let brand =
            crate::page::tests::brand(serde_json::json!({"title": "Club", "logo_url": "https://img.example/l.png",
            "stylesheet_url": "http://127.0.0.1:9000/b.css", "colors": {"background": "#000"}}));
        let branded = watch_csp(&ch, &Player::default(), None, &Look::new("N", Some(&brand)));
        assert_eq!(
            branded,
            plain
                .replace("style-src 'nonce-N';", "style-src 'nonce-N' http://127.0.0.1:9000;")
                .replace("img-src 'self' data:;", "img-src 'self' data: https://img.example;")
        );
        let colours = crate::page::tests::brand(serde_json::json!({"title": "Club", "logo_url": "/logo.png"}));
        assert_eq!(
            watch_csp(&ch, &Player::default(), None, &Look::new("N", Some(&colours))),
            plain,
            "'self' is there already"
        );
        let html =
            watch_page(&ch, &issued(&ch.playback_url), &Player::default(), None, None, &Look::new("N", Some(&brand)));
        assert!(html.contains("<title>t \u{b7} Club</title>") && html.contains("<h1>t</h1>"));
        assert!(html.contains(
            ":root{--page-background:#000}</style>\n<link rel=\"stylesheet\" href=\"http://127.0.0.1:9000/b.css\">"
        ));
        assert_eq!(html.matches("</script>").count(), 3);
    }

    #[test]
    fn a_room_adds_the_panel_its_scripts_and_only_its_websocket_origin() {
        let ch = channel("Demo", "https://abc.us-west-2.playback.live-video.net/x.m3u8");
        let room = crate::chat::Room::from_json(
            &serde_json::json!({"room": "arn:aws:ivschat:us-west-2:123456789012:room/demo"}),
        )
        .unwrap();
        let local = crate::chat::messaging::messaging(&room, Some("http://127.0.0.1:8788"));
        let html = watch_page(&ch, &issued(&ch.playback_url), &Player::default(), None, Some(&local), N);
        assert!(html.contains(
            "\"chat\":{\"region_or_url\":\"ws://127.0.0.1:8788/\",\"token_endpoint\":\"/v1/chat-token?channel=demo\"}"
        ));
        assert!(
            html.contains("<div class=\"watch-layout\">\n<div class=\"stage\">") && html.contains("<aside id=\"chat\"")
        );
        assert!(html.contains(&format!("<script src=\"{CHAT_SDK_SCRIPT}\" nonce=\"N\"></script>")));
        assert_eq!(html.matches("</script>").count(), 5, "data, player, page script, chat SDK, chat script");
        assert!(html.contains(&format!("{PAGE_CSS}{CHAT_CSS}</style>")));
        let plain = watch_csp(&ch, &Player::default(), None, N);
        let csp = watch_csp(&ch, &Player::default(), Some(&local), N);
        assert_eq!(csp, plain.replace("; worker-src", " ws://127.0.0.1:8788; worker-src"));
        let real = crate::chat::messaging::messaging(&room, None);
        let csp = watch_csp(&ch, &Player::default(), Some(&real), N);
        assert_eq!(csp, plain.replace("; worker-src", " wss://edge.ivschat.us-west-2.amazonaws.com; worker-src"));
        let html = watch_page(&ch, &issued(&ch.playback_url), &Player::default(), None, Some(&real), N);
        assert!(html.contains("\"region_or_url\":\"us-west-2\""));
        let without = watch_page(&ch, &issued(&ch.playback_url), &Player::default(), None, None, N);
        assert!(!without.contains("chat") && !without.contains("watch-layout"), "no room, no trace of chat");
    }
}
