//! IVS real-time participant tokens: the claim set, ES384 signing with the public key's ARN as
//! `kid`, and a verifier for every documented rule. Shared by the worker and the CLI.
//!
//! ```
//! use ivs_token_worker::{key::PlaybackKey, stage::claims::{sign, verify, StageClaims}};
//! let key = PlaybackKey::from_scalar_bytes(&[7u8; 48])?;
//! let claims = StageClaims::new(
//!     "arn:aws:ivs:us-east-1:123456789012:stage/abc", "https://abc.global-bm.whip.live-video.net",
//!     "wss://global.events.live-video.net", "participant-1", 1_700_000_000, 3600);
//! let kid = "arn:aws:ivs:us-east-1:123456789012:public-key/k1";
//! let token = sign(&claims, kid, &key);
//! let checked = verify(&token, &[key.public_key()], 1_700_000_100)?;
//! assert_eq!(checked.header["kid"], kid);
//! assert_eq!(checked.claims["topic"], "abc");
//! # Ok::<(), ivs_token_worker::Error>(())
//! ```

use crate::encoding::b64url_encode;
use crate::error::Result;
use crate::ivs::parse_ivs_arn;
use crate::jose::{check_exp, invalid, sign_compact, verify_es384, VerifiedToken};
use crate::key::{PlaybackKey, PublicKey};
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// IVS: a participant token's `exp` is at most 14 days after its `iat`.
pub const MAX_TTL: u64 = 14 * 24 * 3600;
/// IVS: `jti` (the participant id) is at most 64 characters of `A-Za-z0-9_-`.
pub const JTI_MAX_LEN: usize = 64;
/// IVS: `user_id` is at most 128 characters.
pub const USER_ID_MAX_LEN: usize = 128;
pub use crate::ivs::{attributes_size, ATTRIBUTES_MAX_BYTES};
/// The only participant token version.
pub const VERSION: &str = "1.0";

/// `capabilities`: only `true` members are written (a subscriber carries only `allow_subscribe`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Capabilities {
    /// `allow_publish: true` when granted.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub allow_publish: bool,
    /// `allow_subscribe: true`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub allow_subscribe: bool,
}

impl Capabilities {
    /// The capability names of the JSON API: `SUBSCRIBE`, `PUBLISH`.
    pub fn names(&self) -> Vec<&'static str> {
        let mut names = Vec::new();
        if self.allow_subscribe {
            names.push("SUBSCRIBE");
        }
        if self.allow_publish {
            names.push("PUBLISH");
        }
        names
    }
}

/// The claims of a participant token, serialized in this order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StageClaims {
    /// Expiry, Unix seconds.
    pub exp: u64,
    /// Issue time, Unix seconds.
    pub iat: u64,
    /// The participant id.
    pub jti: String,
    /// Visible to every participant: never personal data (the worker uses the viewer id).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// The stage ARN.
    pub resource: String,
    /// The stage id (last part of the ARN).
    pub topic: String,
    /// The events endpoint.
    pub events_url: String,
    /// The WHIP endpoint.
    pub whip_url: String,
    /// What the participant may do.
    pub capabilities: Capabilities,
    /// Visible to every participant.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
    /// Always `1.0`.
    pub version: &'static str,
}

impl StageClaims {
    /// A subscribe-only participant `jti` of the stage `stage_arn`, issued at `now` for `ttl`
    /// seconds (at most [`MAX_TTL`]; more is lowered).
    pub fn new(stage_arn: &str, whip_url: &str, events_url: &str, jti: &str, now: u64, ttl: u64) -> Self {
        Self {
            exp: now.saturating_add(ttl.min(MAX_TTL)),
            iat: now,
            jti: jti.to_owned(),
            user_id: None,
            resource: stage_arn.to_owned(),
            topic: stage_arn.rsplit_once('/').map_or("", |(_, id)| id).to_owned(),
            events_url: events_url.to_owned(),
            whip_url: whip_url.to_owned(),
            capabilities: Capabilities { allow_publish: false, allow_subscribe: true },
            attributes: BTreeMap::new(),
            version: VERSION,
        }
    }
}

/// A fresh participant id from 16 random bytes: 22 characters of base64url (128 bits).
pub fn participant_id(random: [u8; 16]) -> String {
    b64url_encode(&random)
}

/// The header `{"alg":"ES384","typ":"JWT","kid":"<public key ARN>"}`.
pub fn header_json(kid: &str) -> String {
    format!(r#"{{"alg":"ES384","typ":"JWT","kid":{}}}"#, Value::String(kid.to_owned()))
}

/// Sign `claims` with `key`, naming the imported public key `kid`.
pub fn sign(claims: &StageClaims, kid: &str, key: &PlaybackKey) -> String {
    let mut claims = claims.clone();
    claims.exp = claims.exp.min(claims.iat.saturating_add(MAX_TTL));
    // Serializing strings, integers and booleans cannot fail.
    let payload = serde_json::to_vec(&claims).unwrap_or_default();
    sign_compact(&header_json(kid), &payload, key)
}

/// Whether `token` looks like a participant token rather than a playback token (for `verify`).
pub fn is_participant_token(verified: &VerifiedToken) -> bool {
    verified.header.contains_key("kid") || verified.claims.contains_key("resource")
}

/// Verify a participant token as IVS would at `now`: signature, then every documented rule.
pub fn verify(token: &str, keys: &[PublicKey], now: u64) -> Result<VerifiedToken> {
    let verified = verify_es384(token, keys)?;
    check(&verified.header, &verified.claims, now)?;
    Ok(verified)
}

fn string<'a>(claims: &'a Map<String, Value>, name: &str) -> Result<&'a str> {
    claims
        .get(name)
        .ok_or_else(|| invalid(format!("claim {name} is missing")))?
        .as_str()
        .ok_or_else(|| invalid(format!("claim {name} must be a string")))
}

fn check(header: &Map<String, Value>, claims: &Map<String, Value>, now: u64) -> Result<()> {
    let kid = header
        .get("kid")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("header kid is missing: it must be the public key ARN"))?;
    let key_arn = parse_ivs_arn(kid, "public-key").ok_or_else(|| {
        invalid("header kid is not a public key ARN (arn:aws:ivs:<region>:<account>:public-key/<id>)")
    })?;
    let resource = string(claims, "resource")?;
    let stage_arn = parse_ivs_arn(resource, "stage")
        .ok_or_else(|| invalid("claim resource is not a stage ARN (arn:aws:ivs:<region>:<account>:stage/<id>)"))?;
    if key_arn.region != stage_arn.region {
        return Err(invalid(format!(
            "header kid names a public key in {} but the stage is in {}; public keys are regional",
            key_arn.region, stage_arn.region
        )));
    }
    if string(claims, "topic")? != stage_arn.id {
        return Err(invalid(format!("claim topic must be the stage id `{}` (the end of resource)", stage_arn.id)));
    }
    if string(claims, "version")? != VERSION {
        return Err(invalid("claim version must be \"1.0\""));
    }
    let jti = string(claims, "jti")?;
    if jti.is_empty()
        || jti.len() > JTI_MAX_LEN
        || !jti.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(invalid(format!("claim jti must be 1 to {JTI_MAX_LEN} characters of A-Z a-z 0-9 - _")));
    }
    let exp = check_exp(claims, now)?;
    let iat = claims
        .get("iat")
        .ok_or_else(|| invalid("claim iat is missing"))?
        .as_u64()
        .ok_or_else(|| invalid("claim iat must be an integer number of seconds since the epoch"))?;
    if exp > iat.saturating_add(MAX_TTL) {
        return Err(invalid(format!("exp is {} s after iat; IVS allows at most 14 days ({MAX_TTL} s)", exp - iat)));
    }
    let events_url = string(claims, "events_url")?;
    if !(events_url.starts_with("wss://") || events_url.starts_with("ws://")) {
        return Err(invalid("claim events_url must be a wss:// URL (the stage's endpoints.events)"));
    }
    let whip_url = string(claims, "whip_url")?;
    if !(whip_url.starts_with("https://") || whip_url.starts_with("http://")) {
        return Err(invalid("claim whip_url must be an https:// URL (the stage's endpoints.whip)"));
    }
    let capabilities = claims
        .get("capabilities")
        .ok_or_else(|| invalid("claim capabilities is missing"))?
        .as_object()
        .ok_or_else(|| invalid("claim capabilities must be an object"))?;
    let mut granted = 0;
    for (name, value) in capabilities {
        if name != "allow_publish" && name != "allow_subscribe" {
            return Err(invalid(format!(
                "claim capabilities has unknown member `{}`; IVS knows allow_publish and allow_subscribe",
                crate::text::truncate(name)
            )));
        }
        match value {
            Value::Bool(true) => granted += 1,
            Value::Bool(false) => {}
            _ => return Err(invalid(format!("capabilities.{name} must be a boolean"))),
        }
    }
    if granted == 0 {
        return Err(invalid("claim capabilities grants nothing: set allow_subscribe and/or allow_publish to true"));
    }
    match claims.get("user_id") {
        None => {}
        Some(Value::String(id)) if id.chars().count() <= USER_ID_MAX_LEN => {}
        Some(Value::String(id)) => {
            return Err(invalid(format!(
                "claim user_id is {} characters; IVS allows at most {USER_ID_MAX_LEN}",
                id.chars().count()
            )))
        }
        Some(_) => return Err(invalid("claim user_id must be a string")),
    }
    match claims.get("attributes") {
        None => {}
        Some(Value::Object(map)) => {
            if map.values().any(|v| !v.is_string()) {
                return Err(invalid("claim attributes must map strings to strings"));
            }
            let size = Value::Object(map.clone()).to_string().len();
            if size > ATTRIBUTES_MAX_BYTES {
                return Err(invalid(format!("claim attributes is {size} bytes of JSON; IVS allows at most 1 KB")));
            }
        }
        Some(_) => return Err(invalid("claim attributes must be an object of strings")),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoding::b64url_decode;
    use crate::jose::tests::forge;
    use serde_json::json;

    const ARN: &str = "arn:aws:ivs:us-east-1:123456789012:stage/AbCdEf012345";
    const KID: &str = "arn:aws:ivs:us-east-1:123456789012:public-key/KeY0123";
    const WHIP: &str = "https://AbCdEf012345.global-bm.whip.live-video.net";
    const EVENTS: &str = "wss://global.events.live-video.net";
    const NOW: u64 = 1_800_000_000;

    fn key() -> PlaybackKey {
        PlaybackKey::from_scalar_bytes(&[3u8; 48]).unwrap()
    }

    fn good_claims() -> Value {
        json!({"exp": NOW + 60, "iat": NOW, "jti": "p1", "resource": ARN, "topic": "AbCdEf012345", "events_url": EVENTS,
               "whip_url": WHIP, "capabilities": {"allow_subscribe": true}, "version": "1.0"})
    }

    #[test]
    fn header_and_claims_serialize_exactly() {
        let mut claims = StageClaims::new(ARN, WHIP, EVENTS, "p-1_x", NOW, 3600);
        claims.user_id = Some("v1".into());
        claims.capabilities.allow_publish = true;
        claims.attributes.insert("display_name".into(), "Ann".into());
        let token = sign(&claims, KID, &key());
        let mut parts = token.split('.');
        let header = String::from_utf8(b64url_decode(parts.next().unwrap()).unwrap()).unwrap();
        assert_eq!(header, format!(r#"{{"alg":"ES384","typ":"JWT","kid":"{KID}"}}"#));
        let payload = String::from_utf8(b64url_decode(parts.next().unwrap()).unwrap()).unwrap();
        assert_eq!(
            payload,
            format!(
                r#"{{"exp":{},"iat":{NOW},"jti":"p-1_x","user_id":"v1","resource":"{ARN}","topic":"AbCdEf012345","events_url":"{EVENTS}","whip_url":"{WHIP}","capabilities":{{"allow_publish":true,"allow_subscribe":true}},"attributes":{{"display_name":"Ann"}},"version":"1.0"}}"#,
                NOW + 3600
            )
        );
        let subscriber = sign(&StageClaims::new(ARN, WHIP, EVENTS, "p", NOW, 60), KID, &key());
        let claims = verify(&subscriber, &[key().public_key()], NOW).unwrap().claims;
        assert_eq!(claims["capabilities"], json!({"allow_subscribe": true}), "no false member");
        assert!(claims.get("attributes").is_none() && claims.get("user_id").is_none());
    }

    #[test]
    fn lifetime_is_capped_at_14_days() {
        let claims = StageClaims::new(ARN, WHIP, EVENTS, "p", NOW, MAX_TTL * 2);
        let verified = verify(&sign(&claims, KID, &key()), &[key().public_key()], NOW).unwrap();
        assert_eq!(verified.claims["exp"], NOW + MAX_TTL);
    }

    #[test]
    fn participant_ids_are_22_url_safe_characters() {
        let id = participant_id([0xfb; 16]);
        assert_eq!(id.len(), 22);
        assert!(id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_ne!(participant_id([1; 16]), participant_id([2; 16]));
    }

    #[test]
    fn verify_refusals_name_the_rule() {
        let k = key();
        let h = format!(r#"{{"alg":"ES384","typ":"JWT","kid":"{KID}"}}"#);
        let with = |field: &str, value: Value| {
            let mut c = good_claims();
            c[field] = value;
            forge(&h, &c, &k)
        };
        let without = |field: &str| {
            let mut c = good_claims();
            c.as_object_mut().unwrap().remove(field);
            forge(&h, &c, &k)
        };
        let cases: Vec<(String, &str)> = vec![
            (forge(r#"{"alg":"ES384","typ":"JWT"}"#, &good_claims(), &k), "kid is missing"),
            (forge(r#"{"alg":"ES384","kid":"k1"}"#, &good_claims(), &k), "kid is not a public key ARN"),
            (forge(&h.replace("us-east-1", "eu-west-1"), &good_claims(), &k), "public keys are regional"),
            (with("resource", json!("arn:aws:ivs:us-east-1:123456789012:channel/x")), "not a stage ARN"),
            (with("topic", json!("other")), "claim topic must be the stage id"),
            (with("version", json!("2.0")), "version must be \"1.0\""),
            (with("jti", json!("a b")), "claim jti must be 1 to 64"),
            (with("jti", json!("a".repeat(65))), "claim jti must be 1 to 64"),
            (without("jti"), "claim jti is missing"),
            (with("exp", json!((NOW + 60) * 1000)), "milliseconds"),
            (with("exp", json!(NOW - 1)), "expired"),
            (with("exp", json!(NOW + MAX_TTL + 1)), "at most 14 days"),
            (without("iat"), "claim iat is missing"),
            (with("events_url", json!("https://x")), "events_url must be a wss://"),
            (without("whip_url"), "claim whip_url is missing"),
            (with("capabilities", json!({"allow_subscribe": false})), "grants nothing"),
            (with("capabilities", json!({"allow_subscribe": "yes"})), "must be a boolean"),
            (with("capabilities", json!({"allow_admin": true})), "unknown member"),
            (with("user_id", json!("u".repeat(129))), "at most 128"),
            (with("attributes", json!({"a": 1})), "strings to strings"),
            (with("attributes", json!({"a": "x".repeat(1020)})), "at most 1 KB"),
        ];
        for (token, expected) in cases {
            let err = verify(&token, &[k.public_key()], NOW).unwrap_err().to_string();
            assert!(err.contains(expected), "expected {expected:?}, got {err:?}");
        }
        verify(&forge(&h, &good_claims(), &k), &[k.public_key()], NOW).unwrap();
    }
}
