//! What every IVS token shares: ES384 JWS compact serialization (signing with a given header) and
//! the format checks before any claim is read (segments, `alg`, `typ`, raw `r||s`, signature).

use crate::encoding::{b64url_decode, b64url_encode};
use crate::error::{Error, Result};
use crate::key::{PlaybackKey, PublicKey};
use serde_json::{Map, Value};

/// Sign `payload` (JSON bytes) under `header_json` as `base64url(header).base64url(payload).base64url(r||s)`.
pub fn sign_compact(header_json: &str, payload: &[u8], key: &PlaybackKey) -> String {
    let mut token = String::with_capacity(header_json.len() * 4 / 3 + payload.len() * 4 / 3 + 140);
    token.push_str(&b64url_encode(header_json.as_bytes()));
    token.push('.');
    token.push_str(&b64url_encode(payload));
    let signature = key.sign(token.as_bytes());
    token.push('.');
    token.push_str(&b64url_encode(&signature));
    token
}

/// Decode one JWS segment as a JSON object.
pub(crate) fn decode_json_segment(segment: &str) -> Option<Map<String, Value>> {
    let bytes = b64url_decode(segment)?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

/// A token whose ES384 signature verified: its decoded header and claims, and which key verified it.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedToken {
    /// The JOSE header.
    pub header: Map<String, Value>,
    /// The claims.
    pub claims: Map<String, Value>,
    /// Index into the `keys` slice of the key that verified the signature.
    pub key_index: usize,
}

pub(crate) fn invalid(reason: impl Into<String>) -> Error {
    Error::InvalidToken(reason.into())
}

/// Check the JWS format IVS reads (three segments, `alg` ES384, `typ` JWT when present, a raw
/// 96-byte signature) and the signature against any of `keys`; then decode the claims. No claim
/// rule is checked here: that is each token kind's verifier.
pub fn verify_es384(token: &str, keys: &[PublicKey]) -> Result<VerifiedToken> {
    let token = token.trim();
    let parts: Vec<&str> = token.split('.').collect();
    let [header_b64, claims_b64, signature_b64] = parts[..] else {
        return Err(invalid(format!("token contains an invalid number of segments ({}, expected 3)", parts.len())));
    };
    let header = decode_json_segment(header_b64).ok_or_else(|| invalid("the header is not base64url-encoded JSON"))?;
    match header.get("alg").and_then(Value::as_str) {
        Some("ES384") => {}
        Some(other) => return Err(invalid(format!("header alg is `{other}`; IVS accepts only ES384"))),
        None => return Err(invalid("header has no alg; IVS accepts only ES384")),
    }
    if let Some(typ) = header.get("typ") {
        if typ != "JWT" {
            return Err(invalid("header typ must be `JWT` when present"));
        }
    }
    let signature = b64url_decode(signature_b64).ok_or_else(|| invalid("the signature is not base64url"))?;
    if signature.len() != crate::key::SIGNATURE_LEN {
        return Err(invalid(format!(
            "the signature is {} bytes; ES384 is 96 raw bytes (r||s), not DER",
            signature.len()
        )));
    }
    let signed = &token[..header_b64.len() + 1 + claims_b64.len()];
    let key_index = keys
        .iter()
        .position(|key| key.verify(signed.as_bytes(), &signature))
        .ok_or_else(|| invalid("the signature does not verify against the given public key(s)"))?;
    let claims = decode_json_segment(claims_b64).ok_or_else(|| invalid("the claims are not base64url-encoded JSON"))?;
    Ok(VerifiedToken { header, claims, key_index })
}

/// `exp` as IVS reads it: integer seconds (not milliseconds), still in the future at `now`.
pub(crate) fn check_exp(claims: &Map<String, Value>, now: u64) -> Result<u64> {
    /// `exp` values above this are certainly milliseconds (year 5138 in seconds): the bug in
    /// IVS's own Node.js sample (`Date.now() + ...`).
    const EXP_MILLISECONDS_THRESHOLD: u64 = 100_000_000_000;
    let exp = claims
        .get("exp")
        .ok_or_else(|| invalid("claim exp is missing"))?
        .as_u64()
        .ok_or_else(|| invalid("claim exp must be an integer number of seconds since the epoch"))?;
    if exp >= EXP_MILLISECONDS_THRESHOLD {
        return Err(invalid(format!("claim exp {exp} is in milliseconds; IVS reads seconds (divide by 1000)")));
    }
    if exp <= now {
        return Err(invalid(format!("the token expired {} s ago (exp {exp})", now - exp)));
    }
    Ok(exp)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Sign arbitrary JSON claims with an arbitrary header, to test the verifiers' refusals.
    pub(crate) fn forge(header: &str, claims: &Value, key: &PlaybackKey) -> String {
        sign_compact(header, claims.to_string().as_bytes(), key)
    }

    #[test]
    fn format_refusals_name_the_rule() {
        let key = PlaybackKey::from_scalar_bytes(&[3u8; 48]).unwrap();
        let keys = [key.public_key()];
        let claims = serde_json::json!({"exp": 1});
        for (token, expected) in [
            ("a.b".to_owned(), "invalid number of segments"),
            (forge(r#"{"alg":"ES256"}"#, &claims, &key), "only ES384"),
            (forge(r#"{"alg":"ES384","typ":"JOSE"}"#, &claims, &key), "typ must be `JWT`"),
            (format!("{}.AAAA", &forge(r#"{"alg":"ES384"}"#, &claims, &key).rsplit_once('.').unwrap().0), "not DER"),
        ] {
            let err = verify_es384(&token, &keys).unwrap_err().to_string();
            assert!(err.contains(expected), "expected {expected:?}, got {err:?}");
        }
        let good = forge(r#"{"alg":"ES384","typ":"JWT","kid":"k"}"#, &claims, &key);
        let verified = verify_es384(&good, &keys).unwrap();
        assert_eq!(verified.header["kid"], "k");
        let other = PlaybackKey::from_scalar_bytes(&[4u8; 48]).unwrap();
        assert!(verify_es384(&good, &[other.public_key()]).unwrap_err().to_string().contains("does not verify"));
    }
}
