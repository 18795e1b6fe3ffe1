//! The operator API's pure parts: its bearer token (`ADMIN_API_TOKEN`), compared in constant
//! time, the body of `POST /v1/admin/revoke`: `{"sub", "issuer"?, "channel"?,
//! "block_seconds"?}`, and that of `POST /v1/admin/devices`: `{"sub", "issuer"?}` (a subject in a
//! body, not in a URL that platform request logs may keep). A viewer id is derived from the subject *and* where it was vouched for
//! (`identity::viewer_id`): `issuer` names the identity provider of a viewer who signs in there
//! (its `issuer`, exactly its tokens' `iss`); without it, the subject is a session-cookie viewer's.
//!
//! ```
//! use ivs_token_worker::device::admin::{parse_revoke, AdminToken};
//! let token = AdminToken::new(b"an-operator-token-of-at-least-32-bytes");
//! assert!(token.authorizes(Some("Bearer an-operator-token-of-at-least-32-bytes")));
//! assert!(!token.authorizes(Some("Bearer an-operator-token-of-at-least-32-bytez")));
//! let revoke = parse_revoke(br#"{"sub": "alice@example.com", "channel": "demo", "block_seconds": 3600}"#)?;
//! assert_eq!((revoke.sub.as_str(), revoke.channel.as_deref(), revoke.block_seconds), ("alice@example.com", Some("demo"), Some(3600)));
//! # Ok::<(), ivs_token_worker::Error>(())
//! ```

use crate::error::{Error, Result};
use crate::identity::provider::check_issuer;
use crate::identity::MAX_SUBJECT_LEN;
use crate::text::is_name;
use hmac::{KeyInit, Mac};
use serde_json::Value;
use sha2::Sha256;

type HmacSha256 = hmac::Hmac<Sha256>;

/// The largest body the operator API reads (`POST /v1/admin/revoke`, `POST /v1/admin/devices`);
/// the Workers layer reads no more than this (the request plan's `Need::Body`).
pub const MAX_BODY_BYTES: usize = 4096;
/// The longest block: one year.
pub const MAX_BLOCK_SECONDS: u64 = 366 * 86_400;

/// Fixed key of the comparison MAC (not a secret: it only makes both sides fixed-length tags).
const COMPARE_KEY: &[u8] = b"ivs-token-worker admin token v1";

/// `ADMIN_API_TOKEN`, kept only as a MAC tag, compared in constant time.
#[derive(Clone)]
pub struct AdminToken {
    tag: Vec<u8>,
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(..)")
    }
}

fn mac(bytes: &[u8]) -> HmacSha256 {
    let mut mac =
        <HmacSha256 as KeyInit>::new_from_slice(COMPARE_KEY).unwrap_or_else(|_| HmacSha256::new(&Default::default()));
    mac.update(bytes);
    mac
}

impl AdminToken {
    /// From the secret's value (checked by the configuration with the rule of every secret).
    pub fn new(secret: &[u8]) -> Self {
        Self { tag: mac(secret).finalize().into_bytes().to_vec() }
    }

    /// Whether `presented` is the token. Both are reduced to fixed-length MAC tags first and the
    /// tags compared in constant time, so neither the token's length nor its first differing
    /// byte shows in the timing.
    pub fn matches(&self, presented: &str) -> bool {
        mac(presented.as_bytes()).verify_slice(&self.tag).is_ok()
    }

    /// Whether an `Authorization` header carries the token: `Bearer <token>` (scheme in any case).
    pub fn authorizes(&self, authorization: Option<&str>) -> bool {
        let presented = authorization.and_then(|value| {
            let (scheme, token) = value.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        });
        // Compare something either way, so a missing header takes as long as a wrong one.
        let ok = self.matches(presented.unwrap_or(""));
        ok && presented.is_some()
    }
}

/// `POST /v1/admin/revoke`'s body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokeRequest {
    /// The viewer's subject, as their identity carries it (the worker derives the viewer id).
    pub sub: String,
    /// The identity provider's issuer for a provider's viewer; `None` for the worker's own
    /// session cookie. With `sub`, what the viewer id is derived from
    /// (`config.viewer_ids.viewer_id(issuer, sub)`).
    pub issuer: Option<String>,
    /// Only this channel (a name in `CHANNELS`); every device-limited channel when absent.
    pub channel: Option<String>,
    /// Refuse the viewer's token requests (on that channel, or all) for this many seconds.
    pub block_seconds: Option<u64>,
}

const FIELDS: &str = "sub, issuer, channel, block_seconds";

/// Whether `sub` may name a viewer in the operator API: 1 to [`MAX_SUBJECT_LEN`] characters (as
/// the OpenAPI document states it; no session's subject is longer, so a longer one names nobody).
pub fn is_subject(sub: &str) -> bool {
    !sub.is_empty() && sub.chars().count() <= MAX_SUBJECT_LEN
}

/// A JSON number that is a whole number within `u64` (`60` and `60.0`, not `1.5`).
fn whole_number(value: &Value) -> Option<u64> {
    value.as_u64().or_else(|| {
        let f = value.as_f64()?;
        // Bounded well below 2^53, where every whole f64 is exact.
        (f.fract() == 0.0 && (0.0..=1e15).contains(&f)).then_some(f as u64)
    })
}

/// The JSON object of an operator API body with only `fields`; every error a `400` naming the
/// rule, never quoting what was sent.
fn body_object(body: &[u8], fields: &str) -> Result<serde_json::Map<String, Value>> {
    let bad = |text: String| Error::BadRequest(text);
    if body.len() > MAX_BODY_BYTES {
        return Err(bad(format!("the body is larger than {MAX_BODY_BYTES} bytes")));
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|_| bad(format!("the body must be a JSON object with the fields {fields}")))?;
    let Value::Object(object) = value else {
        return Err(bad(format!("the body must be a JSON object with the fields {fields}")));
    };
    if let Some(unknown) = object.keys().find(|k| !fields.split(", ").any(|f| f == k.as_str())) {
        return Err(bad(format!("unknown field `{}`; known fields: {fields}", crate::text::truncate(unknown))));
    }
    Ok(object)
}

/// The viewer a body names: `sub`, and `issuer` for a provider's viewer.
fn viewer_fields(object: &serde_json::Map<String, Value>) -> Result<(String, Option<String>)> {
    let bad = |text: String| Error::BadRequest(text);
    let sub = match object.get("sub") {
        Some(Value::String(sub)) if is_subject(sub) => sub.clone(),
        Some(Value::String(_)) => return Err(bad(format!("field `sub` must be 1 to {MAX_SUBJECT_LEN} characters"))),
        Some(_) => return Err(bad("field `sub` must be a string: the viewer's subject".into())),
        None => return Err(bad("field `sub` is required: the viewer's subject, as their identity carries it".into())),
    };
    let issuer = match object.get("issuer") {
        None | Some(Value::Null) => None,
        Some(Value::String(issuer)) if issuer.len() <= 1024 && check_issuer(issuer).is_ok() => Some(issuer.clone()),
        Some(_) => {
            return Err(bad(
                "field `issuer` must be an identity provider's issuer, an https URL (http only for localhost), exactly as its tokens' `iss`".into(),
            ))
        }
    };
    Ok((sub, issuer))
}

/// Parse `POST /v1/admin/unblock`'s `{"sub": "...", "issuer": "URL"?, "channel": "NAME"?}`: the
/// viewer, and the channel whose block to lift (every block when absent).
pub fn parse_unblock(body: &[u8]) -> Result<(String, Option<String>, Option<String>)> {
    let object = body_object(body, "sub, issuer, channel")?;
    let (sub, issuer) = viewer_fields(&object)?;
    let channel = match object.get("channel") {
        None | Some(Value::Null) => None,
        Some(Value::String(name)) if is_name(name) => Some(name.clone()),
        Some(_) => {
            return Err(Error::BadRequest("field `channel` must be a channel name matching [a-z0-9-]{1,64}".into()))
        }
    };
    Ok((sub, issuer, channel))
}

/// Parse `POST /v1/admin/devices`'s `{"sub": "...", "issuer": "URL"?}`: the viewer to list.
pub fn parse_list(body: &[u8]) -> Result<(String, Option<String>)> {
    viewer_fields(&body_object(body, "sub, issuer")?)
}

/// Parse `{"sub": "...", "issuer": "URL"?, "channel": "NAME"?, "block_seconds": N?}`. Every error
/// is a `400` that names the field and the rule, and never quotes the subject.
pub fn parse_revoke(body: &[u8]) -> Result<RevokeRequest> {
    let bad = |text: String| Error::BadRequest(text);
    let object = body_object(body, FIELDS)?;
    let (sub, issuer) = viewer_fields(&object)?;
    let channel = match object.get("channel") {
        None | Some(Value::Null) => None,
        Some(Value::String(name)) if is_name(name) => Some(name.clone()),
        Some(_) => return Err(bad("field `channel` must be a channel name matching [a-z0-9-]{1,64}".into())),
    };
    let block_seconds = match object.get("block_seconds") {
        None | Some(Value::Null) => None,
        // JSON Schema's `integer` includes integral numbers written with a fraction (`60.0`).
        Some(value) => Some(whole_number(value).filter(|n| (1..=MAX_BLOCK_SECONDS).contains(n)).ok_or_else(|| {
            bad(format!("field `block_seconds` must be a whole number of seconds from 1 to {MAX_BLOCK_SECONDS}"))
        })?),
    };
    Ok(RevokeRequest { sub, issuer, channel, block_seconds })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::problem::Problem;

    const TOKEN: &str = "an-operator-token-of-at-least-32-bytes";

    #[test]
    fn the_bearer_token() {
        let token = AdminToken::new(TOKEN.as_bytes());
        assert!(token.matches(TOKEN));
        assert!(token.authorizes(Some(&format!("Bearer {TOKEN}"))));
        assert!(token.authorizes(Some(&format!("bearer  {TOKEN} "))));
        for wrong in [
            None,
            Some(""),
            Some("Bearer"),
            Some("Bearer "),
            Some(TOKEN),
            Some(&*format!("Basic {TOKEN}")),
            Some(&*format!("Bearer {TOKEN}x")),
            Some(&*format!("Bearer {}", &TOKEN[1..])),
        ] {
            assert!(!token.authorizes(wrong), "{wrong:?}");
        }
        assert!(!AdminToken::new(b"").authorizes(None), "an empty token never authorizes a missing header");
        assert!(!format!("{token:?}").contains("operator"));
    }

    #[test]
    fn revoke_bodies() {
        assert_eq!(
            parse_revoke(br#"{"sub": "alice"}"#).unwrap(),
            RevokeRequest { sub: "alice".into(), issuer: None, channel: None, block_seconds: None }
        );
        assert_eq!(
            parse_revoke(br#"{"sub": "a", "issuer": "https://id.example/"}"#).unwrap().issuer.as_deref(),
            Some("https://id.example/")
        );
        assert_eq!(parse_revoke(br#"{"sub": "a", "channel": null, "block_seconds": null}"#).unwrap().channel, None);
        assert_eq!(parse_revoke(br#"{"sub": "a", "block_seconds": 60.0}"#).unwrap().block_seconds, Some(60));
        let wide = format!(r#"{{"sub": "{}"}}"#, "\u{e9}".repeat(256));
        assert!(parse_revoke(wide.as_bytes()).is_ok(), "256 characters, 512 bytes: as the document counts");
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (b"".to_vec(), "the body must be a JSON object"),
            (b"[]".to_vec(), "the body must be a JSON object"),
            (b"{".to_vec(), "the body must be a JSON object"),
            (br#"{"channel": "demo"}"#.to_vec(), "field `sub` is required"),
            (br#"{"sub": ""}"#.to_vec(), "field `sub` must be 1 to 256 characters"),
            (format!(r#"{{"sub": "{}"}}"#, "x".repeat(257)).into_bytes(), "field `sub` must be 1 to 256 characters"),
            (br#"{"sub": 7}"#.to_vec(), "field `sub` must be a string"),
            (br#"{"sub": "a", "channel": "Demo"}"#.to_vec(), "field `channel` must be a channel name"),
            (
                br#"{"sub": "a", "block_seconds": 0}"#.to_vec(),
                "field `block_seconds` must be a whole number of seconds from 1 to 31622400",
            ),
            (br#"{"sub": "a", "block_seconds": 1.5}"#.to_vec(), "field `block_seconds` must be"),
            (br#"{"sub": "a", "block_seconds": 1e300}"#.to_vec(), "field `block_seconds` must be"),
            (br#"{"sub": "a", "block_seconds": -60.0}"#.to_vec(), "field `block_seconds` must be"),
            (br#"{"sub": "a", "block_seconds": 31622401}"#.to_vec(), "field `block_seconds` must be"),
            (
                br#"{"sub": "a", "subject": "b"}"#.to_vec(),
                "unknown field `subject`; known fields: sub, issuer, channel, block_seconds",
            ),
            (
                br#"{"sub": "a", "issuer": "id.example"}"#.to_vec(),
                "field `issuer` must be an identity provider's issuer",
            ),
            (br#"{"sub": "a", "issuer": "http://id.example"}"#.to_vec(), "field `issuer` must be"),
            (br#"{"sub": "a", "issuer": 1}"#.to_vec(), "field `issuer` must be"),
            (vec![b' '; MAX_BODY_BYTES + 1], "the body is larger than 4096 bytes"),
        ];
        for (body, expected) in cases {
            let err = parse_revoke(&body).unwrap_err();
            assert_eq!(err.status(), 400);
            assert!(err.to_string().starts_with(expected), "expected {expected:?}, got {err}");
            assert!(!err.to_string().contains("xxxx"), "never quotes the subject");
        }
    }
}
