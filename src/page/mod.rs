//! The HTML pages the worker serves: the watch page ([`watch`]), the stage page ([`stage`]), the
//! local index ([`index`]), the sign-in chooser ([`signin`]) and pages that only explain
//! something ([`message`]). Pages carry what they need (a signed token) inside, so the player
//! starts without a second round trip.
//!
//! Everything that comes from settings or the session reaches a page through two escapes only:
//! [`escape_html`] for text and attributes, and [`json_for_script`] for the data block, which
//! cannot contain `<`, `>` or `&` and so can never close its `<script>` or open a comment.
//!
//! Every page of a response is written with one [`Look`]: the nonce of its inline style and
//! scripts, and the operator's brand (`PAGE_BRAND`). A page and its Content-Security-Policy are
//! built from the same `Look`, so the brand's logo and stylesheet origins are allowed exactly
//! when the page names them, and a page without a brand is the page as it always was.

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

use crate::config::Brand;
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

/// What every page of one response shares: the nonce its inline style and scripts carry, and the
/// operator's brand, which the page shows and its Content-Security-Policy allows.
#[derive(Debug, Clone, Copy)]
pub struct Look<'a> {
    /// The response's CSP nonce ([`nonce`]).
    pub nonce: &'a str,
    /// `PAGE_BRAND`, when set (and the configuration loaded).
    pub brand: Option<&'a Brand>,
}

impl<'a> Look<'a> {
    /// A page with this nonce and brand.
    pub fn new(nonce: &'a str, brand: Option<&'a Brand>) -> Self {
        Self { nonce, brand }
    }

    /// A page without a brand.
    pub fn plain(nonce: &'a str) -> Self {
        Self { nonce, brand: None }
    }

    /// What a CSP's `img-src`, whose sources are `sources`, adds for the brand's logo: ` SOURCE`,
    /// or nothing (no logo, or a source it has already, like `'self'`).
    pub(crate) fn logo_source(&self, sources: &str) -> String {
        added(self.brand.and_then(|b| b.logo.as_ref()), sources)
    }

    /// What a CSP's `style-src`, whose sources are `sources`, adds for the brand's stylesheet.
    pub(crate) fn stylesheet_source(&self, sources: &str) -> String {
        added(self.brand.and_then(|b| b.stylesheet.as_ref()), sources)
    }
}

fn added(asset: Option<&crate::config::brand::Asset>, sources: &str) -> String {
    match asset {
        Some(asset) if !sources.split(' ').any(|s| s == asset.csp_source) => format!(" {}", asset.csp_source),
        _ => String::new(),
    }
}

pub(crate) fn document(title: &str, look: &Look<'_>, body: &str) -> String {
    document_styled(title, look, PAGE_CSS, "", body)
}

/// A page: the shared head (its style under the nonce, then the brand's colours and stylesheet),
/// the brand's header, then `body`.
pub(crate) fn document_styled(title: &str, look: &Look<'_>, css: &str, extra_css: &str, body: &str) -> String {
    let nonce = look.nonce;
    let (title, brand_css, stylesheet, header) = match look.brand {
        None => (escape_html(title), String::new(), String::new(), String::new()),
        Some(brand) => {
            let name = escape_html(&brand.title);
            let stylesheet = brand
                .stylesheet
                .as_ref()
                .map(|css| format!("<link rel=\"stylesheet\" href=\"{}\">\n", escape_html(&css.url)))
                .unwrap_or_default();
            // With a logo its alt text names the site; the name beside it is not read twice.
            let header = match &brand.logo {
                Some(logo) => format!(
                    "<header class=\"brand\"><img class=\"brand-logo\" src=\"{}\" alt=\"{name}\"><span class=\"brand-name\" aria-hidden=\"true\">{name}</span></header>\n",
                    escape_html(&logo.url)
                ),
                None => format!("<header class=\"brand\"><span class=\"brand-name\">{name}</span></header>\n"),
            };
            (format!("{} \u{b7} {name}", escape_html(title)), brand.css(), stylesheet, header)
        }
    };
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"referrer\" content=\"no-referrer\">\n<link rel=\"icon\" href=\"data:,\">\n<title>{title}</title>\n\
         <style nonce=\"{nonce}\">{css}{extra_css}{brand_css}</style>\n{stylesheet}</head>\n<body>\n{header}{body}</body>\n</html>\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    pub(crate) fn brand(value: serde_json::Value) -> Brand {
        Brand::from_json(&value).unwrap()
    }

    #[test]
    fn no_brand_is_the_page_as_before() {
        let html = document("A <b>", &Look::plain("N"), "<main></main>\n");
        assert_eq!(
            html,
            format!(
                "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
                 <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
                 <meta name=\"referrer\" content=\"no-referrer\">\n<link rel=\"icon\" href=\"data:,\">\n<title>A &lt;b&gt;</title>\n\
                 <style nonce=\"N\">{PAGE_CSS}</style>\n</head>\n<body>\n<main></main>\n</body>\n</html>\n"
            )
        );
        assert!(!html.contains("class=\"brand") && !html.contains("<link rel=\"stylesheet\""));
    }

    #[test]
    fn a_brand_shows_its_name_logo_colours_and_stylesheet() {
        let brand = brand(json!({"title": "Club <&> \"Stars\"", "logo_url": "https://cdn.example/logo.png?a=1&b=2",
            "colors": {"accent": "#1A3D8F"}, "stylesheet_url": "https://css.example/brand.css"}));
        let html = document("Sign in", &Look::new("N", Some(&brand)), "<main></main>\n");
        assert!(html.contains("<title>Sign in \u{b7} Club &lt;&amp;&gt; &quot;Stars&quot;</title>"), "{html}");
        assert!(html.contains(&format!("<style nonce=\"N\">{PAGE_CSS}:root{{--page-accent:#1a3d8f;--page-on-accent:#fff}}</style>\n<link rel=\"stylesheet\" href=\"https://css.example/brand.css\">\n</head>")));
        assert!(html.contains(
            "<body>\n<header class=\"brand\"><img class=\"brand-logo\" src=\"https://cdn.example/logo.png?a=1&amp;b=2\" alt=\"Club &lt;&amp;&gt; &quot;Stars&quot;\">\
             <span class=\"brand-name\" aria-hidden=\"true\">Club &lt;&amp;&gt; &quot;Stars&quot;</span></header>\n<main>"
        ));
        let named = document("x", &Look::new("N", Some(&super::tests::brand(json!({"title": "Club"})))), "");
        assert!(named.contains("<header class=\"brand\"><span class=\"brand-name\">Club</span></header>"));
        assert!(named.contains(&format!("{PAGE_CSS}</style>\n</head>")), "no colours, no custom properties");
    }

    #[test]
    fn json_for_script_round_trips() {
        let value = json!({"a": "</script><!--&\u{2028}\u{2029}>"});
        let escaped = json_for_script(&value);
        assert!(!escaped.contains('<') && !escaped.contains('>') && !escaped.contains('&'));
        assert_eq!(serde_json::from_str::<serde_json::Value>(&escaped).unwrap(), value);
    }
}
