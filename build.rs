//! Build script: the OpenAPI document (`openapi/openapi.json`, kept indented for readers of the
//! repository) is embedded without its insignificant whitespace (`$OUT_DIR/openapi.json`, read by
//! `http::openapi::DOCUMENT`): 155,154 -> 85,831 bytes of the module's data, 2,536 bytes of its
//! gzip -9 (525,299 -> 522,763). Only whitespace outside strings is dropped, so the keys keep
//! their order and the strings their bytes; serde_json then checks that both texts hold the same
//! document.

use std::path::PathBuf;

const SOURCE: &str = "openapi/openapi.json";

fn main() {
    println!("cargo:rerun-if-changed={SOURCE}");
    println!("cargo:rerun-if-changed=build.rs");
    let text = std::fs::read_to_string(SOURCE).unwrap_or_else(|e| panic!("{SOURCE}: {e}"));
    let minified = minify(&text);
    let document: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{SOURCE} is not valid JSON: {e}"));
    let embedded: serde_json::Value = serde_json::from_str(&minified).expect("the minified document parses");
    assert!(document == embedded, "{SOURCE}: the minified document differs from the original");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("openapi.json");
    std::fs::write(&out, minified).unwrap_or_else(|e| panic!("{}: {e}", out.display()));
}

/// `text` without the whitespace between JSON tokens (RFC 8259's space, tab, LF and CR).
fn minify(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in text.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if !matches!(c, ' ' | '\t' | '\n' | '\r') {
            in_string = c == '"';
            out.push(c);
        }
    }
    out
}
