//! The worker's own session cookie: an HS256 JWT signed with `SESSION_SECRET`.
//!
//! Claims: `sub` (required), `exp` (required), `nbf` and `iat` (optional), `channels` (names the
//! session may watch; absent or containing `"*"` means all), `max_resolution` (`SD`/`HD`/`FULL_HD`)
//! `groups` (names of the viewer's groups, for channels' and stages' `groups` rules) and `sv`
//! (session version, becomes `aws:viewer-session-version`); a sign-in at the edge adds `idp` (the
//! provider it went through, for `/logout`) and `idp_iss` (that provider's issuer: the viewer id's
//! namespace, as for the provider's own tokens). Everything else is ignored.
//!
//! The signature is checked (in constant time) before the claims are read, against the current
//! secret and then the previous one, so the secret can be rotated without logging viewers out.
//!
//! ```
//! use ivs_token_worker::identity::session_cookie::{SessionClaims, SessionSecrets, mint};
//! let secret = b"q8Zt3vKe0XwN5rLm2YcB7pHs4FdJ9aGu";
//! let cookie = mint(&SessionClaims::new("alice", 1_700_000_000, 3600), secret);
//! let secrets = SessionSecrets::new(secret.to_vec(), None);
//! let session = secrets.verify(&cookie, 1_700_000_100)?;
//! assert_eq!(session.sub, "alice");
//! # Ok::<(), ivs_token_worker::Error>(())
//! ```

use crate::encoding::b64url_encode;
use crate::error::{Error, Result, SessionFault};
use crate::identity::{parse_groups, ChannelGrant, Session, MAX_SUBJECT_LEN};
use crate::ivs::Resolution;
use crate::jose::{self, read_compact, Compact, Seconds};
use hmac::{KeyInit, Mac};
use serde::Serialize;
use serde_json::{Map, Value};
use sha2::Sha256;

type HmacSha256 = hmac::Hmac<Sha256>;

/// Browsers store at most 4096 bytes a cookie; anything larger is refused unread.
pub const MAX_COOKIE_BYTES: usize = 4096;
/// Clock skew tolerated on `exp`, `nbf` and `iat`.
pub const LEEWAY_SECONDS: u64 = 30;
/// The shortest accepted session secret.
pub const MIN_SECRET_BYTES: usize = 32;
/// How to make a secret, for errors about one.
pub const MAKE_A_SECRET: &str = "`openssl rand -base64 48`";

/// The rule for every secret setting (`SESSION_SECRET`, `SESSION_SECRET_PREVIOUS`,
/// `VIEWER_ID_SECRET`): at least [`MIN_SECRET_BYTES`], and not obviously made by hand. Refused:
/// fewer than 6 different bytes; one byte 8 or more times in a row (a name padded to length); a
/// pattern repeated (`password` 4 times); bytes so uneven that their frequencies carry
/// under 2 bits each. Random secrets pass by far (a 32-character hex one, the weakest usual kind,
/// has about 14 different bytes, 3.6 bits each), so this refuses only what no one should deploy;
/// it cannot tell a random secret from a well-mixed phrase. The error never quotes the secret.
pub fn check_secret(secret: &[u8]) -> std::result::Result<(), String> {
    if secret.len() < MIN_SECRET_BYTES {
        return Err(format!(
            "is {} bytes; it must be at least {MIN_SECRET_BYTES} random bytes (e.g. {MAKE_A_SECRET})",
            secret.len()
        ));
    }
    let mut counts = [0usize; 256];
    for &b in secret {
        counts[usize::from(b)] += 1;
    }
    let n = secret.len() as f64;
    // Cheapest first; the pattern search runs only on what has no long run (so it stays fast).
    let why = if counts.iter().filter(|&&c| c > 0).count() < 6 {
        "it has fewer than 6 different bytes"
    } else if secret.chunk_by(|a, b| a == b).any(|run| run.len() >= 8) {
        "it has one byte 8 or more times in a row"
    } else if (1..=secret.len() / 2).any(|p| secret[p..].iter().zip(secret).all(|(a, b)| a == b)) {
        "it is a shorter pattern repeated"
    } else if counts.iter().filter(|&&c| c > 0).map(|&c| c as f64 / n).map(|p| -p * p.log2()).sum::<f64>() < 2.0 {
        "its bytes are too uneven (under 2 bits of entropy each)"
    } else {
        return Ok(());
    };
    Err(format!("does not look random: {why}; make one with {MAKE_A_SECRET}"))
}

/// The largest `sv`: `StartViewerSessionRevocation` takes a 32-bit version filter, so a larger
/// session version could never be revoked.
pub const MAX_SESSION_VERSION: i64 = i32::MAX as i64;

const HEADER_JSON: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

/// The current session secret and, during a rotation, the previous one.
#[derive(Clone)]
pub struct SessionSecrets {
    current: Vec<u8>,
    previous: Option<Vec<u8>>,
}

impl std::fmt::Debug for SessionSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionSecrets").field("previous", &self.previous.is_some()).finish_non_exhaustive()
    }
}

fn claims_error(what: &'static str) -> Error {
    Error::Session(SessionFault::Claims(what))
}

impl SessionSecrets {
    /// Secrets as raw bytes. Length rules are checked by the configuration loader.
    pub fn new(current: Vec<u8>, previous: Option<Vec<u8>>) -> Self {
        Self { current, previous }
    }

    /// Mint a session cookie value with the current secret.
    pub fn mint(&self, claims: &SessionClaims) -> String {
        mint(claims, &self.current)
    }

    /// Verify a session cookie's value at time `now` (Unix seconds).
    pub fn verify(&self, cookie: &str, now: u64) -> Result<Session> {
        self.verify_parsed(&parse(cookie)?, now)
    }

    /// Verify a cookie [`parse`] read: the signature (in constant time, current secret then the
    /// previous one), then the claims.
    pub fn verify_parsed(&self, cookie: &ParsedCookie<'_>, now: u64) -> Result<Session> {
        let valid = std::iter::once(&self.current)
            .chain(self.previous.as_ref())
            .any(|secret| mac(secret, cookie.compact.signing_input.as_bytes()).verify_slice(&cookie.signature).is_ok());
        if !valid {
            return Err(Error::Session(SessionFault::Signature));
        }
        let claims = cookie.compact.claims().ok_or(Error::Session(SessionFault::Malformed))?;
        parse_claims(&claims, now)
    }
}

/// A session cookie's value read but not verified: its shape and header are right.
#[derive(Debug, Clone)]
pub struct ParsedCookie<'a> {
    compact: Compact<'a>,
    signature: Vec<u8>,
}

/// Read a session cookie's value without verifying it: at most 4096 bytes, three base64url
/// segments, a JSON header saying HS256. What is refused here is malformed, whoever's secret.
pub fn parse(cookie: &str) -> Result<ParsedCookie<'_>> {
    if cookie.len() > MAX_COOKIE_BYTES {
        return Err(Error::Session(SessionFault::TooLarge));
    }
    let malformed = || Error::Session(SessionFault::Malformed);
    let compact = read_compact(cookie).map_err(|_| malformed())?;
    if compact.alg() != Some("HS256") {
        return Err(Error::Session(SessionFault::Algorithm));
    }
    let signature = compact.signature().ok_or_else(malformed)?;
    Ok(ParsedCookie { compact, signature })
}

fn mac(secret: &[u8], message: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(secret)
        .unwrap_or_else(|_| <HmacSha256 as KeyInit>::new(&Default::default()));
    mac.update(message);
    mac
}

/// A date claim of the session cookie: this worker writes whole seconds, so nothing else is one.
fn numeric_date(claims: &Map<String, Value>, name: &str, what: &'static str) -> Result<Option<u64>> {
    jose::numeric_date(claims, name, Seconds::Whole).map_err(|_| claims_error(what))
}

fn parse_claims(claims: &Map<String, Value>, now: u64) -> Result<Session> {
    let sub = match claims.get("sub") {
        Some(Value::String(s)) if !s.is_empty() && s.len() <= MAX_SUBJECT_LEN => s.clone(),
        None => return Err(claims_error("`sub` is required")),
        Some(_) => return Err(claims_error("`sub` must be a non-empty string of at most 256 bytes")),
    };
    let exp = numeric_date(claims, "exp", "`exp` must be an integer NumericDate (seconds)")?
        .ok_or_else(|| claims_error("`exp` is required"))?;
    let nbf = numeric_date(claims, "nbf", "`nbf` must be an integer NumericDate (seconds)")?;
    let iat = numeric_date(claims, "iat", "`iat` must be an integer NumericDate (seconds)")?;
    if exp.saturating_add(LEEWAY_SECONDS) <= now {
        return Err(Error::Session(SessionFault::Expired));
    }
    let earliest = nbf.into_iter().chain(iat).max();
    if earliest.is_some_and(|t| t > now.saturating_add(LEEWAY_SECONDS)) {
        return Err(Error::Session(SessionFault::NotYetValid));
    }
    let channels = match claims.get("channels") {
        None => ChannelGrant::All,
        Some(Value::String(s)) if s == "*" => ChannelGrant::All,
        Some(Value::Array(items)) => {
            let names: Vec<String> = items
                .iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect::<Option<_>>()
                .ok_or_else(|| claims_error("`channels` must be an array of channel names"))?;
            if names.iter().any(|n| n == "*") {
                ChannelGrant::All
            } else {
                ChannelGrant::Only(names)
            }
        }
        Some(_) => return Err(claims_error("`channels` must be an array of channel names or \"*\"")),
    };
    let max_resolution = match claims.get("max_resolution") {
        None => None,
        Some(v) => Some(
            v.as_str()
                .and_then(Resolution::parse)
                .ok_or_else(|| claims_error("`max_resolution` must be SD, HD or FULL_HD"))?,
        ),
    };
    let session_version = match claims.get("sv") {
        None => 0,
        Some(v) => v.as_i64().filter(|n| (0..=MAX_SESSION_VERSION).contains(n)).ok_or_else(|| {
            claims_error("`sv` must be an integer from 0 to 2147483647, the range IVS revocation accepts")
        })?,
    };
    let groups = match claims.get("groups") {
        None => Vec::new(),
        Some(value) => parse_groups(value).map_err(|_| {
            claims_error("`groups` must be an array of at most 256 group names (strings of 1 to 256 bytes)")
        })?,
    };
    // A sign-in at the edge names the provider's issuer: the viewer id is then in that provider's
    // namespace, the same as for the provider's own tokens. Without it, the cookie's own (as since 0.1.0).
    let issuer = match claims.get("idp_iss") {
        None => None,
        Some(Value::String(s)) if !s.is_empty() && s.len() <= 1024 => Some(s.clone()),
        Some(_) => return Err(claims_error("`idp_iss` must be a non-empty string of at most 1024 bytes")),
    };
    Ok(Session { sub, issuer, exp, channels, groups, max_resolution, session_version, claims: claims.clone() })
}

/// The claims of a session this crate mints (CLI, tests, `/dev/login`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionClaims {
    /// Subject.
    pub sub: String,
    /// Issued at.
    pub iat: u64,
    /// Expiry.
    pub exp: u64,
    /// Channel names; `None` grants all.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channels: Option<Vec<String>>,
    /// Resolution cap.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_resolution: Option<Resolution>,
    /// Session version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sv: Option<i64>,
    /// Group names.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<String>>,
    /// The identity provider a sign-in at the edge (`/login`) went through, for `/logout`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idp: Option<String>,
    /// That provider's issuer (`iss`): the namespace of the session's viewer id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idp_iss: Option<String>,
}

impl SessionClaims {
    /// A session for `sub`, issued at `now`, valid for `ttl` seconds, every channel granted.
    pub fn new(sub: &str, now: u64, ttl: u64) -> Self {
        Self {
            sub: sub.to_owned(),
            iat: now,
            exp: now.saturating_add(ttl),
            channels: None,
            max_resolution: None,
            sv: None,
            groups: None,
            idp: None,
            idp_iss: None,
        }
    }
}

/// Mint a session cookie value: an HS256 JWT over `claims` with `secret`.
pub fn mint(claims: &SessionClaims, secret: &[u8]) -> String {
    let payload = serde_json::to_vec(claims).unwrap_or_default();
    let signed = format!("{}.{}", b64url_encode(HEADER_JSON.as_bytes()), b64url_encode(&payload));
    let tag = mac(secret, signed.as_bytes()).finalize().into_bytes();
    format!("{signed}.{}", b64url_encode(&tag))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoding::b64url_decode;
    use serde_json::json;

    const SECRET: &[u8] = b"test-secret-test-secret-test-secret!";
    const OLD: &[u8] = b"previous-secret-0123456789abcdefghijklmn";
    const NOW: u64 = 1_800_000_000;

    /// Secrets as `openssl rand` and the usual generators make them pass the rule, every time (a
    /// fixed-seed sample of 20,000 of each kind); made-up ones do not.
    #[test]
    fn random_secrets_pass_the_rule_made_up_ones_do_not() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut random = |buf: &mut [u8]| {
            for b in buf {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                *b = (state >> 24) as u8;
            }
        };
        for _ in 0..20_000 {
            let (mut b16, mut b32, mut b48) = ([0u8; 16], [0u8; 32], [0u8; 48]);
            random(&mut b16);
            random(&mut b32);
            random(&mut b48);
            let hex16 = crate::encoding::hex(&b16);
            let uuid =
                format!("{}-{}-{}-{}-{}", &hex16[..8], &hex16[8..12], &hex16[12..16], &hex16[16..20], &hex16[20..]);
            for secret in [
                hex16.clone(),
                hex16.to_ascii_uppercase(),
                uuid,
                b64url_encode(&b32),
                b64url_encode(&b48),
                crate::encoding::hex(&b32),
            ] {
                assert_eq!(check_secret(secret.as_bytes()), Ok(()), "{secret}");
            }
            assert_eq!(check_secret(&b32), Ok(()), "raw bytes");
        }
        for (secret, why) in [
            (b"a".repeat(32), "fewer than 6 different bytes"),
            (b"abc".repeat(11), "fewer than 6 different bytes"),
            (b"secret-1".repeat(4), "a shorter pattern repeated"),
            (b"0123456789abcdef".repeat(2), "a shorter pattern repeated"),
            (b"my-session-secret-xxxxxxxxxxxxxxxx".to_vec(), "8 or more times in a row"),
            (b"aaaaaaabaaaaaaacaaaaaaadaaaaaaaeaaaaaaaf".to_vec(), "too uneven"),
            (b"0123456789abcdef".to_vec(), "is 16 bytes"),
        ] {
            let err = check_secret(&secret).unwrap_err();
            assert!(err.contains(why) && err.contains("openssl rand -base64 48"), "{err}");
        }
    }

    fn secrets() -> SessionSecrets {
        SessionSecrets::new(SECRET.to_vec(), Some(OLD.to_vec()))
    }

    fn raw(header: &str, claims: &Value, secret: &[u8]) -> String {
        let signed = format!("{}.{}", b64url_encode(header.as_bytes()), b64url_encode(claims.to_string().as_bytes()));
        let tag = mac(secret, signed.as_bytes()).finalize().into_bytes();
        format!("{signed}.{}", b64url_encode(&tag))
    }

    fn fault(cookie: &str) -> SessionFault {
        match secrets().verify(cookie, NOW) {
            Err(Error::Session(f)) => f,
            other => panic!("expected a session fault, got {other:?}"),
        }
    }

    #[test]
    fn rfc7515_hs256_example_signature_verifies() {
        // RFC 7515 appendix A.1: the HS256 JWS example and its key.
        let key =
            b64url_decode("AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow")
                .unwrap();
        let token = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let (signed, sig) = token.rsplit_once('.').unwrap();
        assert!(mac(&key, signed.as_bytes()).verify_slice(&b64url_decode(sig).unwrap()).is_ok());
    }

    #[test]
    fn mint_then_verify_with_all_claims() {
        let mut claims = SessionClaims::new("alice", NOW, 3600);
        claims.channels = Some(vec!["demo".into()]);
        claims.max_resolution = Some(Resolution::Sd);
        claims.sv = Some(7);
        claims.groups = Some(vec!["members".into(), "staff".into()]);
        let session = secrets().verify(&mint(&claims, SECRET), NOW).unwrap();
        assert_eq!(session.sub, "alice");
        assert_eq!(session.issuer, None, "the worker's own cookie: its subjects' viewer ids as since 0.1.0");
        assert_eq!(session.exp, NOW + 3600);
        assert_eq!(session.channels, ChannelGrant::Only(vec!["demo".into()]));
        assert!(session.channels.allows("demo") && !session.channels.allows("other"));
        assert_eq!(session.max_resolution, Some(Resolution::Sd));
        assert_eq!(session.session_version, 7);
        assert_eq!(session.groups, ["members", "staff"]);
        let plain = secrets().verify(&mint(&SessionClaims::new("bob", NOW, 60), SECRET), NOW).unwrap();
        assert!(plain.groups.is_empty());
    }

    #[test]
    fn previous_secret_still_accepted_other_secrets_not() {
        let claims = SessionClaims::new("bob", NOW, 60);
        assert!(secrets().verify(&mint(&claims, OLD), NOW).is_ok());
        assert_eq!(fault(&mint(&claims, b"some-other-secret-some-other-secret")), SessionFault::Signature);
        let only_current = SessionSecrets::new(SECRET.to_vec(), None);
        assert!(only_current.verify(&mint(&claims, OLD), NOW).is_err());
    }

    #[test]
    fn algorithm_confusion_is_refused() {
        let claims = json!({"sub": "eve", "exp": NOW + 60});
        for header in [r#"{"alg":"none"}"#, r#"{"alg":"HS512"}"#, r#"{"alg":"ES384"}"#, r#"{"alg":"hs256"}"#, r#"{}"#] {
            assert_eq!(fault(&raw(header, &claims, SECRET)), SessionFault::Algorithm, "{header}");
        }
        // alg none with an empty signature segment.
        let unsigned =
            format!("{}.{}.", b64url_encode(br#"{"alg":"none"}"#), b64url_encode(claims.to_string().as_bytes()));
        assert_eq!(fault(&unsigned), SessionFault::Algorithm);
    }

    #[test]
    fn time_rules_with_leeway() {
        let h = HEADER_JSON;
        assert!(secrets().verify(&raw(h, &json!({"sub": "a", "exp": NOW - 29}), SECRET), NOW).is_ok());
        assert_eq!(fault(&raw(h, &json!({"sub": "a", "exp": NOW - 30}), SECRET)), SessionFault::Expired);
        assert!(secrets().verify(&raw(h, &json!({"sub": "a", "exp": NOW + 99, "nbf": NOW + 30}), SECRET), NOW).is_ok());
        assert_eq!(
            fault(&raw(h, &json!({"sub": "a", "exp": NOW + 99, "nbf": NOW + 31}), SECRET)),
            SessionFault::NotYetValid
        );
        assert_eq!(
            fault(&raw(h, &json!({"sub": "a", "exp": NOW + 99, "iat": NOW + 31}), SECRET)),
            SessionFault::NotYetValid
        );
    }

    #[test]
    fn claim_types() {
        let h = HEADER_JSON;
        let cases = [
            (json!({"exp": NOW + 60}), "`sub` is required"),
            (json!({"sub": 5, "exp": NOW + 60}), "`sub` must be"),
            (json!({"sub": "", "exp": NOW + 60}), "`sub` must be"),
            (json!({"sub": "a"}), "`exp` is required"),
            (json!({"sub": "a", "exp": "tomorrow"}), "`exp` must be"),
            (json!({"sub": "a", "exp": 1.5e9}), "`exp` must be"),
            (json!({"sub": "a", "exp": NOW + 60, "nbf": "x"}), "`nbf` must be"),
            (json!({"sub": "a", "exp": NOW + 60, "channels": "demo"}), "`channels` must be"),
            (json!({"sub": "a", "exp": NOW + 60, "channels": [1]}), "`channels` must be"),
            (json!({"sub": "a", "exp": NOW + 60, "max_resolution": "4K"}), "`max_resolution`"),
            (json!({"sub": "a", "exp": NOW + 60, "sv": -1}), "`sv` must be"),
            (json!({"sub": "a", "exp": NOW + 60, "sv": "1"}), "`sv` must be"),
            (json!({"sub": "a", "exp": NOW + 60, "sv": 2_147_483_648_i64}), "`sv` must be"),
            (json!({"sub": "a", "exp": NOW + 60, "groups": [1]}), "`groups` must be"),
            (json!({"sub": "a", "exp": NOW + 60, "groups": {"a": true}}), "`groups` must be"),
        ];
        for (claims, expected) in cases {
            let err = secrets().verify(&raw(h, &claims, SECRET), NOW).unwrap_err().to_string();
            assert!(err.contains(expected), "{claims} -> {err}");
        }
        let all = secrets()
            .verify(&raw(h, &json!({"sub": "a", "exp": NOW + 60, "channels": ["x", "*"]}), SECRET), NOW)
            .unwrap();
        assert_eq!(all.channels, ChannelGrant::All);
    }

    #[test]
    fn malformed_and_oversized() {
        assert_eq!(fault(""), SessionFault::Malformed);
        assert_eq!(fault("a.b"), SessionFault::Malformed);
        assert_eq!(fault("a.b.c.d"), SessionFault::Malformed);
        assert_eq!(fault("!!!.b.c"), SessionFault::Malformed);
        let good = mint(&SessionClaims::new("a", NOW, 60), SECRET);
        let (signed, _) = good.rsplit_once('.').unwrap();
        assert_eq!(fault(&format!("{signed}.***")), SessionFault::Malformed);
        assert_eq!(fault(&"a".repeat(MAX_COOKIE_BYTES + 1)), SessionFault::TooLarge);
        // Signed but the payload is not JSON.
        let signed = format!("{}.{}", b64url_encode(HEADER_JSON.as_bytes()), b64url_encode(b"not json"));
        let tag = mac(SECRET, signed.as_bytes()).finalize().into_bytes();
        assert_eq!(fault(&format!("{signed}.{}", b64url_encode(&tag))), SessionFault::Malformed);
    }

    #[test]
    fn tampered_claims_fail_the_signature() {
        let good = mint(&SessionClaims::new("alice", NOW, 60), SECRET);
        let parts: Vec<&str> = good.split('.').collect();
        let evil = b64url_encode(json!({"sub": "alice", "exp": NOW + 999_999}).to_string().as_bytes());
        assert_eq!(fault(&format!("{}.{evil}.{}", parts[0], parts[2])), SessionFault::Signature);
    }

    #[test]
    fn a_sign_in_at_the_edge_names_its_providers_issuer() {
        let mut claims = SessionClaims::new("alice", NOW, 3600);
        claims.idp = Some("members".into());
        claims.idp_iss = Some("https://id.example".into());
        let session = secrets().verify(&mint(&claims, SECRET), NOW).unwrap();
        assert_eq!(session.issuer.as_deref(), Some("https://id.example"));
        let bad = raw(HEADER_JSON, &json!({"sub": "a", "exp": NOW + 60, "idp_iss": 5}), SECRET);
        assert!(secrets().verify(&bad, NOW).unwrap_err().to_string().contains("`idp_iss`"));
    }
}
