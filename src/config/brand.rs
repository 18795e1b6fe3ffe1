//! `PAGE_BRAND`: the pages in the operator's colours: a site name, a logo, three colours and an
//! optional stylesheet. Validated like `DEVICE_LIMITS` (unknown fields refused, every error naming
//! the field and the rule), and each value held to a shape that cannot leave its place in the
//! page: the title is plain text (escaped where it is written), colours are hex digits only (never
//! arbitrary CSS inside the page's `<style>`), and the two URLs go through the one URL parser, so
//! the origins they add to the Content-Security-Policy are exactly `scheme://host[:port]`.
//!
//! ```
//! use ivs_token_worker::config::brand::Brand;
//! let brand = Brand::parse(r##"{"title": "Northside FC", "logo_url": "https://cdn.example/logo.png",
//!                              "colors": {"background": "#101820", "accent": "#fee715"}}"##)?;
//! assert_eq!(brand.logo.as_ref().map(|l| l.csp_source.as_str()), Some("https://cdn.example"));
//! assert_eq!(brand.css(), ":root{--page-background:#101820;--page-accent:#fee715;--page-on-accent:#111}");
//! # Ok::<(), String>(())
//! ```

use crate::address::{is_url_safe, parse_url, HTTPS};
use crate::text::truncate;
use serde_json::{Map, Value};

/// The longest `title`, in characters.
pub const MAX_TITLE_CHARS: usize = 80;

const FIELDS: &str = "title, logo_url, colors, stylesheet_url";
const COLOR_FIELDS: &str = "background, text, accent";
const COLOR_RULE: &str = "must be a colour written as #rgb, #rrggbb or #rrggbbaa (hexadecimal digits only)";
const URL_RULE: &str =
    "must be an https URL (http only for localhost) or a path on this worker starting with / (not //)";

/// The validated `PAGE_BRAND`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Brand {
    /// The site name: in every page's header and `<title>`, and the logo's `alt` text.
    pub title: String,
    /// The logo, shown in the header.
    pub logo: Option<Asset>,
    /// The page colours; each unset one keeps the default.
    pub colors: Colors,
    /// A stylesheet loaded after the page's own style.
    pub stylesheet: Option<Asset>,
}

/// A file a branded page loads: its URL and what the Content-Security-Policy must allow for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asset {
    /// The URL as configured: an absolute URL, or a path on this worker.
    pub url: String,
    /// The CSP source that allows it: `'self'` for a path, else the URL's origin as the URL
    /// parser reads it (lower-case host, port if written).
    pub csp_source: String,
}

/// The three brand colours.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Colors {
    /// The page background.
    pub background: Option<Color>,
    /// The text.
    pub text: Option<Color>,
    /// Buttons, links and the header's rule.
    pub accent: Option<Color>,
}

/// A colour that passed the hex grammar: `#` and 3, 6 or 8 hexadecimal digits, kept in lower case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Color(String);

impl Color {
    /// Parse `#rgb`, `#rrggbb` or `#rrggbbaa`; nothing else (no names, no functions, no `;`).
    pub fn parse(text: &str) -> Option<Self> {
        let digits = text.strip_prefix('#')?;
        let fits = matches!(digits.len(), 3 | 6 | 8) && digits.bytes().all(|b| b.is_ascii_hexdigit());
        fits.then(|| Self(text.to_ascii_lowercase()))
    }

    /// The colour as CSS reads it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Red, green and blue, 0 to 255 (alpha ignored).
    fn rgb(&self) -> [u8; 3] {
        let digits = &self.0[1..];
        let channel = |i: usize| match digits.len() {
            3 => u8::from_str_radix(&digits[i..=i], 16).unwrap_or(0) * 17,
            _ => u8::from_str_radix(&digits[2 * i..2 * i + 2], 16).unwrap_or(0),
        };
        [channel(0), channel(1), channel(2)]
    }

    /// WCAG relative luminance, 0 (black) to 1 (white).
    fn luminance(&self) -> f64 {
        let linear = |c: u8| {
            let c = f64::from(c) / 255.0;
            if c <= 0.039_28 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        };
        let [r, g, b] = self.rgb();
        0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b)
    }

    /// The text colour for a label on this colour: the page's dark `#111` or white, whichever
    /// contrasts more.
    pub fn text_on(&self) -> &'static str {
        let l = self.luminance();
        let on_dark_text = (l + 0.05) / (0.0056 + 0.05);
        let on_white = 1.05 / (l + 0.05);
        if on_dark_text >= on_white {
            "#111"
        } else {
            "#fff"
        }
    }
}

/// `field` of `object`, with JSON `null` read as unset.
fn field<'v>(object: &'v Map<String, Value>, name: &str) -> Option<&'v Value> {
    object.get(name).filter(|v| !v.is_null())
}

fn refuse_unknown(object: &Map<String, Value>, known: &str, within: &str) -> Result<(), String> {
    match object.keys().find(|k| !known.split(", ").any(|f| f == k.as_str())) {
        Some(unknown) => Err(format!("{within}has unknown field `{}`; known fields: {known}", truncate(unknown))),
        None => Ok(()),
    }
}

/// A URL field: an absolute URL through the one URL parser ([`parse_url`]: https, or http for
/// this machine), or a path on this worker.
fn asset(value: &Value, name: &str) -> Result<Asset, String> {
    let url = value.as_str().ok_or_else(|| format!("field `{name}` {URL_RULE}; it is not a string"))?.trim();
    if url.starts_with('/') && !url.starts_with("//") {
        if !is_url_safe(url) || url.len() > 512 {
            return Err(format!(
                "field `{name}` {URL_RULE}, of at most 512 printable ASCII characters without spaces, quotes, angle brackets, backslashes or backticks"
            ));
        }
        return Ok(Asset { url: url.to_owned(), csp_source: "'self'".into() });
    }
    if !url.contains("://") {
        return Err(format!("field `{name}` {URL_RULE}, not `{}`", truncate(url)));
    }
    let parsed = parse_url(url, HTTPS).map_err(|e| format!("field `{name}` {URL_RULE}: {e}"))?;
    let port = parsed.port.map(|p| format!(":{p}")).unwrap_or_default();
    Ok(Asset { url: url.to_owned(), csp_source: format!("{}://{}{port}", parsed.scheme, parsed.host) })
}

fn color(colors: &Map<String, Value>, name: &str) -> Result<Option<Color>, String> {
    let Some(value) = field(colors, name) else { return Ok(None) };
    let text = value.as_str().unwrap_or_default();
    match Color::parse(text) {
        Some(color) => Ok(Some(color)),
        None if value.is_string() => Err(format!("field `colors.{name}` {COLOR_RULE}, not `{}`", truncate(text))),
        None => Err(format!("field `colors.{name}` {COLOR_RULE}, as a string (\"#0e0f12\")")),
    }
}

impl Brand {
    /// Parse the setting's text: a JSON object, or a JSON string holding one (a TOML table in
    /// `wrangler.toml` arrives as JSON). The error is the rule broken, without the setting's name.
    pub fn parse(text: &str) -> Result<Self, String> {
        Self::from_json(&crate::text::json_setting(text)?)
    }

    /// Build from the setting's JSON object.
    pub fn from_json(value: &Value) -> Result<Self, String> {
        let object = value.as_object().ok_or_else(|| format!("must be an object with the fields {FIELDS}"))?;
        refuse_unknown(object, FIELDS, "")?;
        let title = match field(object, "title") {
            None => {
                return Err(format!(
                    "field `title` is required: the site name every page shows in its header and browser tab (1 to {MAX_TITLE_CHARS} characters), also the logo's alt text"
                ))
            }
            Some(Value::String(title)) => title.trim(),
            Some(_) => return Err(format!("field `title` must be a string of 1 to {MAX_TITLE_CHARS} characters")),
        };
        let length = title.chars().count();
        if !(1..=MAX_TITLE_CHARS).contains(&length) {
            return Err(format!("field `title` must be 1 to {MAX_TITLE_CHARS} characters; it has {length}"));
        }
        // Plain text on one line: no control characters, line separators or bidirectional
        // overrides (which could make the name read as something else).
        let hidden = |c: char| {
            c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        };
        if title.chars().any(hidden) {
            return Err(
                "field `title` must be plain text on one line: no control characters, line separators or bidirectional overrides"
                    .into(),
            );
        }
        let logo = field(object, "logo_url").map(|v| asset(v, "logo_url")).transpose()?;
        let stylesheet = field(object, "stylesheet_url").map(|v| asset(v, "stylesheet_url")).transpose()?;
        let colors = match field(object, "colors") {
            None => Colors::default(),
            Some(Value::Object(colors)) => {
                refuse_unknown(colors, COLOR_FIELDS, "field `colors` ")?;
                Colors {
                    background: color(colors, "background")?,
                    text: color(colors, "text")?,
                    accent: color(colors, "accent")?,
                }
            }
            Some(_) => {
                return Err(format!(
                    "field `colors` must be a table with the fields {COLOR_FIELDS}, each a colour written as #rgb, #rrggbb or #rrggbbaa"
                ))
            }
        };
        Ok(Self { title: title.to_owned(), logo, colors, stylesheet })
    }

    /// The CSS custom properties of the configured colours (the page style reads `--page-*`), plus
    /// the text colour that stays readable on the accent; empty when no colour is set. Only
    /// validated hex colours reach it.
    pub fn css(&self) -> String {
        let Colors { background, text, accent } = &self.colors;
        let mut properties = Vec::new();
        for (name, color) in [("background", background), ("text", text), ("accent", accent)] {
            if let Some(color) = color {
                properties.push(format!("--page-{name}:{}", color.as_str()));
            }
        }
        if let Some(accent) = accent {
            properties.push(format!("--page-on-accent:{}", accent.text_on()));
        }
        if properties.is_empty() {
            return String::new();
        }
        format!(":root{{{}}}", properties.join(";"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(value: Value) -> Result<Brand, String> {
        Brand::from_json(&value)
    }

    #[test]
    fn a_full_brand() {
        let brand = Brand::parse(
            r##"{"title": " Northside FC ", "logo_url": "https://CDN.example:8443/img/logo.svg?v=2",
                 "colors": {"background": "#101820", "text": "#F2F2F2", "accent": "#fee715cc"},
                 "stylesheet_url": "https://styles.example/brand.css"}"##,
        )
        .unwrap();
        assert_eq!(brand.title, "Northside FC");
        let logo = brand.logo.as_ref().unwrap();
        assert_eq!(
            (logo.url.as_str(), logo.csp_source.as_str()),
            ("https://CDN.example:8443/img/logo.svg?v=2", "https://cdn.example:8443")
        );
        assert_eq!(brand.stylesheet.as_ref().unwrap().csp_source, "https://styles.example");
        assert_eq!(brand.colors.text.as_ref().unwrap().as_str(), "#f2f2f2");
        assert_eq!(
            brand.css(),
            ":root{--page-background:#101820;--page-text:#f2f2f2;--page-accent:#fee715cc;--page-on-accent:#111}"
        );
    }

    #[test]
    fn the_smallest_brand_and_other_good_forms() {
        let brand = parse(json!({"title": "Club"})).unwrap();
        assert_eq!(brand.css(), "", "no colour, no custom property");
        assert_eq!((brand.logo, brand.stylesheet, brand.colors), (None, None, Colors::default()));
        // A JSON string holding the object (`--var PAGE_BRAND:'{...}'`), nulls as unset, paths.
        let text = serde_json::to_string(&json!({"title": "Club", "colors": {"accent": "#222"}, "logo_url": "/brand/logo.png", "stylesheet_url": null}).to_string()).unwrap();
        let brand = Brand::parse(&text).unwrap();
        assert_eq!(brand.logo.as_ref().unwrap().csp_source, "'self'");
        assert_eq!(brand.css(), ":root{--page-accent:#222;--page-on-accent:#fff}");
        let local = parse(json!({"title": "Club", "logo_url": "http://127.0.0.1:9000/logo.png"})).unwrap();
        assert_eq!(local.logo.unwrap().csp_source, "http://127.0.0.1:9000");
        let title = "Ünïcode & <Co> \"quoted\" 'single'".to_owned() + &"x".repeat(48);
        assert_eq!(parse(json!({ "title": title })).unwrap().title.chars().count(), 80);
    }

    #[test]
    fn on_accent_text_contrasts() {
        for (accent, on) in [("#f0c93b", "#111"), ("#ffffff", "#111"), ("#000", "#fff"), ("#1a3d8f", "#fff")] {
            assert_eq!(Color::parse(accent).unwrap().text_on(), on, "{accent}");
        }
    }

    #[test]
    fn every_bad_field_is_named_with_its_rule() {
        let cases = [
            (json!([]), "must be an object with the fields title, logo_url, colors, stylesheet_url"),
            (json!({}), "field `title` is required"),
            (json!({"title": "x", "font": "Arial"}), "has unknown field `font`; known fields: title, logo_url"),
            (json!({"title": 3}), "field `title` must be a string of 1 to 80"),
            (json!({"title": "  "}), "field `title` must be 1 to 80 characters; it has 0"),
            (json!({"title": "x".repeat(81)}), "field `title` must be 1 to 80 characters; it has 81"),
            (json!({"title": "two\nlines"}), "field `title` must be plain text on one line"),
            (json!({"title": "evil\u{202e}txt.exe"}), "field `title` must be plain text on one line"),
            (json!({"title": "x", "colors": "#fff"}), "field `colors` must be a table with the fields background, text, accent"),
            (json!({"title": "x", "colors": {"link": "#fff"}}), "field `colors` has unknown field `link`; known fields: background, text, accent"),
            (json!({"title": "x", "colors": {"accent": "red"}}), "field `colors.accent` must be a colour written as #rgb, #rrggbb or #rrggbbaa (hexadecimal digits only), not `red`"),
            (json!({"title": "x", "colors": {"text": 255}}), "field `colors.text` must be a colour written as #rgb, #rrggbb or #rrggbbaa (hexadecimal digits only), as a string"),
            (json!({"title": "x", "colors": {"background": "#12345"}}), "field `colors.background` must be a colour"),
            (json!({"title": "x", "colors": {"background": "#1234"}}), "field `colors.background` must be a colour"),
            (json!({"title": "x", "colors": {"background": "#ggg"}}), "field `colors.background` must be a colour"),
            (json!({"title": "x", "logo_url": 1}), "field `logo_url` must be an https URL (http only for localhost) or a path on this worker starting with / (not //); it is not a string"),
            (json!({"title": "x", "logo_url": "logo.png"}), "field `logo_url` must be an https URL"),
            (json!({"title": "x", "logo_url": "//evil.example/logo.png"}), "field `logo_url` must be an https URL"),
            (json!({"title": "x", "logo_url": "http://cdn.example/logo.png"}), "field `logo_url` must be an https URL (http only for localhost) or a path on this worker starting with / (not //): `http://cdn.example/logo.png` must start with https://"),
            (json!({"title": "x", "logo_url": "https://user:pw@cdn.example/logo.png"}), "field `logo_url` must be an https URL (http only for localhost) or a path on this worker starting with / (not //): `https://***@cdn.example/logo.png` must not carry a user name"),
            (json!({"title": "x", "stylesheet_url": "http://localhost.example/b.css"}), "field `stylesheet_url` must be an https URL"),
            (json!({"title": "x", "stylesheet_url": "/b.css\"onload=\"x"}), "field `stylesheet_url` must be an https URL (http only for localhost) or a path on this worker starting with / (not //), of at most 512"),
        ];
        for (value, expected) in cases {
            let err = parse(value.clone()).unwrap_err();
            assert!(err.starts_with(expected), "{value}: expected {expected:?}, got {err:?}");
        }
    }

    /// Values that would break out of the `<style>` block, the CSP header or an attribute, or run
    /// script, are refused before any page is written.
    #[test]
    fn hostile_values_are_refused() {
        for color in [
            "red;}</style><script>alert(1)</script>",
            "#fff;}body{display:none",
            "#fff}",
            "#fff\"",
            "expression(alert(1))",
            "var(--x)",
            "rgb(0,0,0)",
            "#fff ",
            "",
        ] {
            let err = parse(json!({"title": "x", "colors": {"accent": color}})).unwrap_err();
            assert!(err.starts_with("field `colors.accent` must be a colour"), "{color}: {err}");
        }
        for url in [
            "javascript:alert(1)",
            "JavaScript:alert(1)//https://x",
            "data:image/svg+xml,<svg onload=alert(1)>",
            "data:image/png;base64,iVBORw0KGgo=",
            "vbscript:msgbox",
            "http://cdn.example/logo.png",
            "http://localhost.evil.example/logo.png",
            "https://cdn.example;script-src *;/x.png",
            "https://cdn.example,evil.example/x.png",
            "https://cdn.example/x.png\" onerror=\"alert(1)",
            "https://cdn.example/<x>.png",
            "https://*.example/x.png",
            "https:///x.png",
            "/x.png'",
            "/\\evil.example/x.png",
        ] {
            for name in ["logo_url", "stylesheet_url"] {
                let err = parse(json!({"title": "x", name: url})).unwrap_err();
                assert!(err.starts_with(&format!("field `{name}` must be an https URL")), "{url}: {err}");
            }
        }
    }
}
