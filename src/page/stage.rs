//! The stage page: a real-time stage with a fresh participant token already inside.

use super::{document_styled, escape_html, json_for_script, Look, IVS_HOSTS, PAGE_CSS};
use crate::address::url_origin;
use crate::stage::policy::IssuedStageToken;
use crate::stage::Stage;

/// The stage page's script (inline under the nonce, like the watch page's).
const STAGE_JS: &str = include_str!("../../web/stage.js");
/// The stage page's style, after the shared one.
const STAGE_CSS: &str = include_str!("../../web/stage.css");
/// The bundled Amazon IVS Web Broadcast SDK (from the npm package, a Workers static asset;
/// global `IVSBroadcastClient`).
pub const BROADCAST_SDK_SCRIPT: &str = "/sdk/amazon-ivs-web-broadcast.min.js";

/// The image sources of a stage page without a brand (the brand's logo may add one).
const IMAGES: &str = "'self' data: blob:";

/// The Content-Security-Policy of a stage page: the SDK from this worker; connections to the
/// stage's own events and WHIP origins (taken from its settings) and to IVS hosts; camera and
/// remote media as `mediastream:`/`blob:`.
pub fn stage_csp(stage: &Stage, look: &Look<'_>) -> String {
    let nonce = look.nonce;
    let (logo, stylesheet) = (look.logo_source(IMAGES), look.stylesheet_source(&format!("'nonce-{nonce}'")));
    let mut connect = vec![url_origin(&stage.events_url).to_owned(), url_origin(&stage.whip_url).to_owned()];
    for ivs in [IVS_HOSTS, "wss://*.live-video.net"] {
        connect.push(ivs.to_owned());
    }
    connect.dedup();
    format!(
        "default-src 'none'; script-src 'nonce-{nonce}' 'self' 'wasm-unsafe-eval'; style-src 'nonce-{nonce}'{stylesheet}; \
         img-src {IMAGES}{logo}; media-src 'self' blob: mediastream:; connect-src 'self' {}; worker-src 'self' blob:; \
         base-uri 'none'; form-action 'none'; frame-ancestors 'self'",
        connect.join(" ")
    )
}

/// The stage page for `stage`, carrying `issued` (a participant token) in its data block.
pub fn stage_page(stage: &Stage, issued: &IssuedStageToken, look: &Look<'_>) -> String {
    let nonce = look.nonce;
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
    document_styled(&stage.title, look, PAGE_CSS, STAGE_CSS, &body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
        let caps = crate::stage::claims::Capabilities { allow_publish: false, allow_subscribe: true };
        let issued = IssuedStageToken {
            stage: "room".into(),
            token: "t.t.t".into(),
            participant_id: "p".into(),
            expires_at: 1,
            capabilities: caps,
        };
        let html = stage_page(&stage, &issued, &Look::plain("N"));
        assert!(!html.contains("<script>alert") && !html.contains("id=\"join-camera\""));
        assert_eq!(html.matches("</script>").count(), 3);
        assert!(html.contains("\"token_endpoint\":\"/v1/stage-token?stage=room\""));
        let csp = stage_csp(&stage, &Look::plain("N"));
        assert!(csp.contains("connect-src 'self' ws://127.0.0.1:9001 http://127.0.0.1:9000 https://*.live-video.net wss://*.live-video.net;"), "{csp}");
        assert!(csp.contains("style-src 'nonce-N'; img-src 'self' data: blob:; media-src"), "{csp}");
        assert!(!csp.contains("unsafe-inline"));
        let brand = crate::page::tests::brand(json!({"title": "Club", "logo_url": "https://img.example/l.png",
            "stylesheet_url": "https://css.example/b.css", "colors": {"accent": "#123"}}));
        let look = Look::new("N", Some(&brand));
        assert_eq!(
            stage_csp(&stage, &look),
            csp.replace("style-src 'nonce-N';", "style-src 'nonce-N' https://css.example;")
                .replace("img-src 'self' data: blob:;", "img-src 'self' data: blob: https://img.example;")
        );
        let html = stage_page(&stage, &issued, &look);
        assert!(html.contains(&format!("{STAGE_CSS}:root{{--page-accent:#123;--page-on-accent:#fff}}</style>")));
        assert!(html.contains(
            "<header class=\"brand\"><img class=\"brand-logo\" src=\"https://img.example/l.png\" alt=\"Club\">"
        ));
    }
}
