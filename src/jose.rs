//! Compact JWS, the format of every token the worker reads or writes: the one reader of it
//! ([`read_compact`]: segments, header, signing input) and of its dates ([`numeric_date`]), which
//! IVS tokens, identity providers' tokens and the session cookie each add their rules to; and ES384
//! signing and the format checks IVS makes before any claim is read (`alg`, `typ`, raw `r||s`).

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
    // Text first: one JSON reader (serde_json's over `str`) serves the whole module.
    match serde_json::from_str(std::str::from_utf8(&bytes).ok()?).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

/// A compact JWS split into its three segments, its header decoded; nothing trusted yet. The
/// claims and the signature stay encoded until a reader asks, so that each token kind checks in
/// its own order (a session cookie decodes its claims only once its MAC matches).
#[derive(Debug, Clone)]
pub struct Compact<'a> {
    /// `header.claims` as sent: the bytes the signature covers.
    pub signing_input: &'a str,
    /// The JOSE header.
    pub header: Map<String, Value>,
    claims_b64: &'a str,
    signature_b64: &'a str,
}

/// Why a text is not a compact JWS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    /// Not three `.`-separated segments (how many there are).
    Segments(usize),
    /// The header is not base64url-encoded JSON (an object).
    Header,
}

/// Split `token` into a [`Compact`] and decode its header.
pub fn read_compact(token: &str) -> std::result::Result<Compact<'_>, Malformed> {
    let mut parts = token.split('.');
    let (Some(header_b64), Some(claims_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Malformed::Segments(token.split('.').count()));
    };
    let header = decode_json_segment(header_b64).ok_or(Malformed::Header)?;
    let signing_input = &token[..header_b64.len() + 1 + claims_b64.len()];
    Ok(Compact { signing_input, header, claims_b64, signature_b64 })
}

impl Compact<'_> {
    /// The claims, decoded: `None` when they are not base64url-encoded JSON (an object).
    pub fn claims(&self) -> Option<Map<String, Value>> {
        decode_json_segment(self.claims_b64)
    }

    /// The signature, decoded: `None` when it is not base64url.
    pub fn signature(&self) -> Option<Vec<u8>> {
        b64url_decode(self.signature_b64)
    }

    /// The header's `alg`, when it is a string.
    pub fn alg(&self) -> Option<&str> {
        self.header.get("alg").and_then(Value::as_str)
    }
}

/// How a token kind writes its dates (RFC 7519's NumericDate).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seconds {
    /// Whole seconds only: what this worker writes (its session cookie) and IVS reads.
    Whole,
    /// Fractions allowed, the whole second counts: some identity providers write them.
    Fractional,
}

/// A claim that should be a NumericDate is not one (the caller names it in its own words).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotADate;

/// Claim `name` as a NumericDate: `Ok(None)` when absent.
pub fn numeric_date(
    claims: &Map<String, Value>,
    name: &str,
    seconds: Seconds,
) -> std::result::Result<Option<u64>, NotADate> {
    let Some(value) = claims.get(name) else { return Ok(None) };
    let fraction = || match seconds {
        Seconds::Whole => None,
        // Below 1e12: a larger value is no date in seconds (and would not fit a whole second).
        Seconds::Fractional => value.as_f64().filter(|f| f.is_finite() && *f >= 0.0 && *f < 1e12).map(|f| f as u64),
    };
    value.as_u64().or_else(fraction).map(Some).ok_or(NotADate)
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
    let compact = read_compact(token.trim()).map_err(|malformed| match malformed {
        Malformed::Segments(n) => invalid(format!("token contains an invalid number of segments ({n}, expected 3)")),
        Malformed::Header => invalid("the header is not base64url-encoded JSON"),
    })?;
    match compact.alg() {
        Some("ES384") => {}
        Some(other) => return Err(invalid(format!("header alg is `{other}`; IVS accepts only ES384"))),
        None => return Err(invalid("header has no alg; IVS accepts only ES384")),
    }
    if let Some(typ) = compact.header.get("typ") {
        if typ != "JWT" {
            return Err(invalid("header typ must be `JWT` when present"));
        }
    }
    let signature = compact.signature().ok_or_else(|| invalid("the signature is not base64url"))?;
    if signature.len() != crate::key::SIGNATURE_LEN {
        return Err(invalid(format!(
            "the signature is {} bytes; ES384 is 96 raw bytes (r||s), not DER",
            signature.len()
        )));
    }
    let key_index = keys
        .iter()
        .position(|key| key.verify(compact.signing_input.as_bytes(), &signature))
        .ok_or_else(|| invalid("the signature does not verify against the given public key(s)"))?;
    let claims = compact.claims().ok_or_else(|| invalid("the claims are not base64url-encoded JSON"))?;
    Ok(VerifiedToken { header: compact.header, claims, key_index })
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

    /// RFC 7515, appendix A.1: the example JWS, read by the one reader.
    #[test]
    fn reads_the_rfc_7515_example() {
        let token = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let compact = read_compact(token).unwrap();
        assert_eq!(compact.alg(), Some("HS256"));
        assert_eq!(compact.header.get("typ").and_then(Value::as_str), Some("JWT"));
        assert_eq!(compact.signing_input, &token[..token.rfind('.').unwrap()]);
        let claims = compact.claims().unwrap();
        assert_eq!((claims["iss"].as_str(), claims["exp"].as_u64()), (Some("joe"), Some(1_300_819_380)));
        assert_eq!(compact.signature().unwrap().len(), 32);
        assert_eq!(read_compact("a.b").unwrap_err(), Malformed::Segments(2));
        assert_eq!(read_compact("a.b.c.d").unwrap_err(), Malformed::Segments(4));
        assert_eq!(read_compact("e30x.e30.AA").unwrap_err(), Malformed::Header);
        let unreadable = read_compact("e30.!!.!!").unwrap();
        assert!(unreadable.claims().is_none() && unreadable.signature().is_none(), "read only when asked");
    }

    /// One NumericDate reader; the one difference between token kinds is a parameter.
    #[test]
    fn numeric_dates_whole_or_fractional() {
        let claims = serde_json::json!({"a": 1_500_000_000, "b": 1.5e9, "c": "1500000000", "d": -1, "e": 1e13, "f": 1500000000.9})
            .as_object()
            .unwrap()
            .clone();
        let read = |name, seconds| numeric_date(&claims, name, seconds);
        for seconds in [Seconds::Whole, Seconds::Fractional] {
            assert_eq!(read("a", seconds), Ok(Some(1_500_000_000)));
            assert_eq!(read("absent", seconds), Ok(None));
            assert_eq!(read("c", seconds), Err(NotADate));
            assert_eq!(read("d", seconds), Err(NotADate));
            assert_eq!(read("e", seconds), Err(NotADate));
        }
        assert_eq!(read("b", Seconds::Whole), Err(NotADate), "the worker's own cookies carry whole seconds");
        assert_eq!(read("b", Seconds::Fractional), Ok(Some(1_500_000_000)));
        assert_eq!(read("f", Seconds::Fractional), Ok(Some(1_500_000_000)), "the whole second counts");
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
