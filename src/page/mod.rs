//! The HTML pages the worker serves: the watch page ([`watch`]), the stage page ([`stage`]), the
//! local index ([`index`]), the sign-in chooser ([`signin`]) and pages that only explain
//! something ([`message`]). Pages carry what they need (a signed token) inside, so the player
//! starts without a second round trip.
//!
//! Everything that comes from settings or the session reaches a page through two escapes only:
//! [`escape_html`] for text and attributes, and [`json_for_script`] for the data block, which
//! cannot contain `<`, `>` or `&` and so can never close its `<script>` or open a comment.

pub mod index;
pub mod message;
pub mod signin;
pub mod stage;
pub mod watch;

pub use index::index_page;
pub use message::{message_csp, message_form_csp, message_form_page, message_page};
pub use signin::chooser_page;
pub use stage::{stage_csp, stage_page, BROADCAST_SDK_SCRIPT};
pub use watch::{watch_csp, watch_page, Heartbeat};

use crate::encoding::b64url_encode;

/// The page style every page shares, inline under the per-response CSP nonce.
const PAGE_CSS: &str = include_str!("../../web/watch.css");

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
pub(crate) const IVS_HOSTS: &str = "https://*.live-video.net";

pub(crate) fn document(title: &str, nonce: &str, body: &str) -> String {
    document_styled(title, nonce, PAGE_CSS, "", body)
}

pub(crate) fn document_styled(title: &str, nonce: &str, css: &str, extra_css: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"referrer\" content=\"no-referrer\">\n<link rel=\"icon\" href=\"data:,\">\n<title>{}</title>\n\
         <style nonce=\"{nonce}\">{css}{extra_css}</style>\n</head>\n<body>\n{body}</body>\n</html>\n",
        escape_html(title)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_for_script_round_trips() {
        let value = json!({"a": "</script><!--&\u{2028}\u{2029}>"});
        let escaped = json_for_script(&value);
        assert!(!escaped.contains('<') && !escaped.contains('>') && !escaped.contains('&'));
        assert_eq!(serde_json::from_str::<serde_json::Value>(&escaped).unwrap(), value);
    }
}
