//! IVS playback tokens: the claim set, ES384 JWS compact signing, and a verifier that checks
//! every documented IVS rule (the tool to reach for when IVS answers 403).
//!
//! ```
//! use ivs_token_worker::{channel::claims::{sign, verify, PlaybackClaims}, key::PlaybackKey};
//! let key = PlaybackKey::from_scalar_bytes(&[7u8; 48])?;
//! let claims = PlaybackClaims::new("arn:aws:ivs:us-west-2:123456789012:channel/abc", 1_700_000_000, 300);
//! let token = sign(&claims, &key);
//! let checked = verify(&token, &[key.public_key()], 1_700_000_100)?;
//! assert_eq!(checked.claims["exp"], 1_700_000_300);
//! # Ok::<(), ivs_token_worker::Error>(())
//! ```

use crate::error::Result;
use crate::ivs::{is_channel_arn, Resolution, VIEWER_ID_MAX_LEN};
use crate::jose::{check_exp, invalid, sign_compact, verify_es384, VerifiedToken};
use crate::key::{PlaybackKey, PublicKey};
use crate::text::split_list;
use serde::Serialize;
use serde_json::{Map, Value};

/// The JOSE header of every token we sign, byte for byte.
pub const HEADER_JSON: &str = r#"{"alg":"ES384","typ":"JWT"}"#;

/// IVS refuses tokens carrying `aws:viewer-id` or `aws:single-use-uuid` whose `exp` is more than
/// this many seconds ahead.
pub const BOUND_TOKEN_MAX_TTL: u64 = 600;

/// IVS allows at most this many origins when strict origin enforcement is on.
pub const STRICT_ORIGIN_MAX: usize = 5;

/// The claims of an IVS playback token, serialized in this order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlaybackClaims {
    /// `aws:channel-arn`.
    #[serde(rename = "aws:channel-arn")]
    pub channel_arn: String,
    /// `aws:access-control-allow-origin`: comma-separated origins, `*` for all.
    #[serde(rename = "aws:access-control-allow-origin", skip_serializing_if = "Option::is_none")]
    pub allowed_origin: Option<String>,
    /// `aws:strict-origin-enforcement`.
    #[serde(rename = "aws:strict-origin-enforcement", skip_serializing_if = "Option::is_none")]
    pub strict_origin: Option<bool>,
    /// `aws:viewer-id`, at most 40 characters.
    #[serde(rename = "aws:viewer-id", skip_serializing_if = "Option::is_none")]
    pub viewer_id: Option<String>,
    /// `aws:viewer-session-version` (only with a viewer id).
    #[serde(rename = "aws:viewer-session-version", skip_serializing_if = "Option::is_none")]
    pub viewer_session_version: Option<i64>,
    /// `aws:single-use-uuid`.
    #[serde(rename = "aws:single-use-uuid", skip_serializing_if = "Option::is_none")]
    pub single_use_uuid: Option<String>,
    /// `aws:maximum-resolution`.
    #[serde(rename = "aws:maximum-resolution", skip_serializing_if = "Option::is_none")]
    pub maximum_resolution: Option<Resolution>,
    /// Expiry, Unix seconds.
    pub exp: u64,
    /// Issue time, Unix seconds.
    pub iat: u64,
}

impl PlaybackClaims {
    /// Claims for `channel_arn`, issued at `now`, expiring `ttl` seconds later, all options off.
    pub fn new(channel_arn: &str, now: u64, ttl: u64) -> Self {
        Self {
            channel_arn: channel_arn.to_owned(),
            allowed_origin: None,
            strict_origin: None,
            viewer_id: None,
            viewer_session_version: None,
            single_use_uuid: None,
            maximum_resolution: None,
            exp: now.saturating_add(ttl),
            iat: now,
        }
    }

    /// Whether IVS's 10-minute cap applies (a viewer id or single-use id is present).
    pub fn is_bound(&self) -> bool {
        self.viewer_id.is_some() || self.single_use_uuid.is_some()
    }

    /// Enforce the 600 s cap where it applies, by lowering `exp`. Called by every signer.
    pub fn clamp_expiry(&mut self) {
        if self.is_bound() {
            self.exp = self.exp.min(self.iat.saturating_add(BOUND_TOKEN_MAX_TTL));
        }
    }
}

/// Sign `claims` as a JWS compact token: `base64url(header).base64url(claims).base64url(r||s)`.
/// The 600 s cap is applied first, so no signer in this crate can produce a token IVS refuses for it.
pub fn sign(claims: &PlaybackClaims, key: &PlaybackKey) -> String {
    let mut claims = claims.clone();
    claims.clamp_expiry();
    // Serializing a struct of strings, integers and booleans cannot fail.
    let payload = serde_json::to_vec(&claims).unwrap_or_default();
    sign_compact(HEADER_JSON, &payload, key)
}

/// Verify a playback token as IVS would at time `now`: signature against any of `keys`, then every
/// documented rule. The error names the first rule broken.
pub fn verify(token: &str, keys: &[PublicKey], now: u64) -> Result<VerifiedToken> {
    let verified = verify_es384(token, keys)?;
    check_claims(&verified.claims, now)?;
    Ok(verified)
}

fn check_claims(claims: &Map<String, Value>, now: u64) -> Result<()> {
    let arn = claims
        .get("aws:channel-arn")
        .ok_or_else(|| invalid("claim aws:channel-arn is missing"))?
        .as_str()
        .ok_or_else(|| invalid("claim aws:channel-arn must be a string"))?;
    if !is_channel_arn(arn) {
        return Err(invalid(
            "claim aws:channel-arn is not a channel ARN (arn:aws:ivs:<region>:<account>:channel/<id>)",
        ));
    }
    let exp = check_exp(claims, now)?;
    let viewer_id = match claims.get("aws:viewer-id") {
        None => None,
        Some(Value::String(id)) if (1..=VIEWER_ID_MAX_LEN).contains(&id.chars().count()) => Some(id),
        Some(Value::String(id)) => {
            return Err(invalid(format!(
                "claim aws:viewer-id is {} characters; IVS allows 1 to {VIEWER_ID_MAX_LEN}",
                id.chars().count()
            )))
        }
        Some(_) => return Err(invalid("claim aws:viewer-id must be a string")),
    };
    if let Some(version) = claims.get("aws:viewer-session-version") {
        if !version.is_i64() {
            return Err(invalid("claim aws:viewer-session-version must be a 64-bit integer"));
        }
        if viewer_id.is_none() {
            return Err(invalid("claim aws:viewer-session-version is only valid with aws:viewer-id"));
        }
    }
    let single_use = match claims.get("aws:single-use-uuid") {
        None => false,
        Some(Value::String(id)) if is_uuid(id) => true,
        Some(_) => return Err(invalid("claim aws:single-use-uuid must be a UUID string")),
    };
    if (viewer_id.is_some() || single_use) && exp > now.saturating_add(BOUND_TOKEN_MAX_TTL) {
        return Err(invalid(format!(
            "exp is {} s ahead; with aws:viewer-id or aws:single-use-uuid IVS allows at most {BOUND_TOKEN_MAX_TTL} s",
            exp - now
        )));
    }
    if let Some(resolution) = claims.get("aws:maximum-resolution") {
        if resolution.as_str().and_then(Resolution::parse).is_none() {
            return Err(invalid("claim aws:maximum-resolution must be SD, HD or FULL_HD"));
        }
    }
    let origins = match claims.get("aws:access-control-allow-origin") {
        None => None,
        Some(Value::String(list)) => Some(split_list(list)),
        Some(_) => return Err(invalid("claim aws:access-control-allow-origin must be a string")),
    };
    match claims.get("aws:strict-origin-enforcement") {
        None | Some(Value::Bool(false)) => {}
        Some(Value::Bool(true)) => {
            let count = origins.as_ref().map_or(0, Vec::len);
            if count == 0 || count > STRICT_ORIGIN_MAX {
                return Err(invalid(format!(
                    "strict origin enforcement needs 1 to {STRICT_ORIGIN_MAX} origins in aws:access-control-allow-origin, found {count}"
                )));
            }
        }
        Some(_) => return Err(invalid("claim aws:strict-origin-enforcement must be a boolean")),
    }
    Ok(())
}

/// Whether `text` is a hyphenated UUID (8-4-4-4-12 hex digits).
pub fn is_uuid(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 36
        && bytes.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

/// A version-4 UUID from 16 random bytes (RFC 9562 section 5.4).
pub fn uuid_v4(random: [u8; 16]) -> String {
    let mut b = random;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = crate::encoding::hex(&b);
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:ivs:us-west-2:123456789012:channel/abcDEF123";
    const NOW: u64 = 1_800_000_000;

    fn key() -> PlaybackKey {
        PlaybackKey::from_scalar_bytes(&[3u8; 48]).unwrap()
    }

    use crate::encoding::b64url_decode;
    use crate::jose::tests::forge;

    #[test]
    fn header_is_exact_and_claims_serialize_in_order() {
        let mut claims = PlaybackClaims::new(ARN, NOW, 300);
        claims.allowed_origin = Some("*".into());
        claims.maximum_resolution = Some(Resolution::FullHd);
        let token = sign(&claims, &key());
        let mut parts = token.split('.');
        assert_eq!(parts.next().unwrap(), "eyJhbGciOiJFUzM4NCIsInR5cCI6IkpXVCJ9");
        let payload = String::from_utf8(b64url_decode(parts.next().unwrap()).unwrap()).unwrap();
        assert_eq!(
            payload,
            format!(
                r#"{{"aws:channel-arn":"{ARN}","aws:access-control-allow-origin":"*","aws:maximum-resolution":"FULL_HD","exp":{},"iat":{NOW}}}"#,
                NOW + 300
            )
        );
        assert_eq!(b64url_decode(parts.next().unwrap()).unwrap().len(), 96);
    }

    #[test]
    fn signing_is_deterministic() {
        let claims = PlaybackClaims::new(ARN, NOW, 300);
        assert_eq!(sign(&claims, &key()), sign(&claims, &key()));
    }

    #[test]
    fn bound_tokens_are_capped_at_600_seconds() {
        let mut claims = PlaybackClaims::new(ARN, NOW, 86_400);
        claims.viewer_id = Some("v".into());
        let token = sign(&claims, &key());
        let verified = verify(&token, &[key().public_key()], NOW).unwrap();
        assert_eq!(verified.claims["exp"], NOW + 600);

        let mut claims = PlaybackClaims::new(ARN, NOW, 86_400);
        claims.single_use_uuid = Some(uuid_v4([0; 16]));
        let verified = verify(&sign(&claims, &key()), &[key().public_key()], NOW).unwrap();
        assert_eq!(verified.claims["exp"], NOW + 600);

        let plain = PlaybackClaims::new(ARN, NOW, 86_400);
        let verified = verify(&sign(&plain, &key()), &[key().public_key()], NOW).unwrap();
        assert_eq!(verified.claims["exp"], NOW + 86_400);
    }

    #[test]
    fn verify_accepts_any_of_several_keys() {
        let other = PlaybackKey::from_scalar_bytes(&[5u8; 48]).unwrap();
        let token = sign(&PlaybackClaims::new(ARN, NOW, 60), &key());
        let verified = verify(&token, &[other.public_key(), key().public_key()], NOW).unwrap();
        assert_eq!(verified.key_index, 1);
        assert!(verify(&token, &[other.public_key()], NOW).unwrap_err().to_string().contains("does not verify"));
    }

    #[test]
    fn verify_refusals_name_the_rule() {
        let k = key();
        let keys = [k.public_key()];
        let h = HEADER_JSON;
        let exp = NOW + 60;
        let cases: Vec<(String, &str)> = vec![
            ("a.b".into(), "invalid number of segments"),
            (
                forge(r#"{"alg":"ES256","typ":"JWT"}"#, &serde_json::json!({"aws:channel-arn": ARN, "exp": exp}), &k),
                "only ES384",
            ),
            (forge(r#"{"alg":"none"}"#, &serde_json::json!({"aws:channel-arn": ARN, "exp": exp}), &k), "only ES384"),
            (forge(h, &serde_json::json!({"aws:channel-arn": ARN, "exp": exp * 1000}), &k), "milliseconds"),
            (forge(h, &serde_json::json!({"aws:channel-arn": ARN, "exp": NOW - 5}), &k), "expired 5 s ago"),
            (forge(h, &serde_json::json!({"aws:channel-arn": ARN, "exp": "soon"}), &k), "integer number of seconds"),
            (forge(h, &serde_json::json!({"exp": exp}), &k), "aws:channel-arn is missing"),
            (forge(h, &serde_json::json!({"aws:channel-arn": "arn:aws:ivs:x", "exp": exp}), &k), "not a channel ARN"),
            (
                forge(h, &serde_json::json!({"aws:channel-arn": ARN, "exp": exp, "aws:viewer-id": "x".repeat(41)}), &k),
                "41 characters",
            ),
            (
                forge(h, &serde_json::json!({"aws:channel-arn": ARN, "exp": NOW + 601, "aws:viewer-id": "v"}), &k),
                "at most 600 s",
            ),
            (
                forge(h, &serde_json::json!({"aws:channel-arn": ARN, "exp": exp, "aws:viewer-session-version": 1}), &k),
                "only valid with aws:viewer-id",
            ),
            (
                forge(h, &serde_json::json!({"aws:channel-arn": ARN, "exp": exp, "aws:single-use-uuid": "nope"}), &k),
                "UUID",
            ),
            (
                forge(h, &serde_json::json!({"aws:channel-arn": ARN, "exp": exp, "aws:maximum-resolution": "4K"}), &k),
                "SD, HD or FULL_HD",
            ),
            (
                forge(
                    h,
                    &serde_json::json!({"aws:channel-arn": ARN, "exp": exp, "aws:strict-origin-enforcement": true,
                "aws:access-control-allow-origin": "https://a.com,https://b.com,https://c.com,https://d.com,https://e.com,https://f.com"}),
                    &k,
                ),
                "found 6",
            ),
        ];
        for (token, expected) in cases {
            let err = verify(&token, &keys, NOW).unwrap_err().to_string();
            assert!(err.contains(expected), "expected {expected:?}, got {err:?}");
        }
        let good = sign(&PlaybackClaims::new(ARN, NOW, 60), &k);
        let mut tampered: Vec<char> = good.chars().collect();
        let i = good.find('.').unwrap() + 3;
        tampered[i] = if tampered[i] == 'A' { 'B' } else { 'A' };
        let tampered: String = tampered.into_iter().collect();
        assert!(verify(&tampered, &keys, NOW).is_err());
    }

    #[test]
    fn uuid_v4_shape() {
        let id = uuid_v4([0xff; 16]);
        assert!(is_uuid(&id));
        assert_eq!(&id[14..15], "4");
        assert_eq!(id, "ffffffff-ffff-4fff-bfff-ffffffffffff");
        assert!(!is_uuid("ffffffff-ffff-4fff-bfff-fffffffffff"));
    }
}
