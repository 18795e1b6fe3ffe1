//! Verifying an identity provider's JWT (RFC 7519, with the RFC 8725 best practices).
//!
//! Two steps. [`decode`] reads a token without trusting it: only its shape, its header rules, and
//! the `iss` and `kid` needed to route it to a provider and a key. [`verify`] then checks it
//! against one provider and its keys: algorithm pinned by the provider AND fitting the key,
//! signature, then `iss`, audience, `exp`/`nbf`/`iat` and the provider's own rules. The claims
//! are read only after the signature has verified.

use super::jwk::{Algorithm, KeySet, PublicJwk};
use super::provider::{claim, AudienceRule, Provider};
use super::{parse_groups, ChannelGrant, Session, MAX_SUBJECT_LEN};
use crate::identity::session_cookie::{LEEWAY_SECONDS, MAX_SESSION_VERSION};
use crate::ivs::Resolution;
use crate::jose::{self, read_compact, Compact, Malformed, Seconds};
use serde_json::{Map, Value};

/// Largest identity token accepted, in bytes (cookies stop at 4 KiB; headers allow more).
pub const MAX_TOKEN_BYTES: usize = 8192;
/// Longest accepted `kid`.
pub const MAX_KID_LEN: usize = 256;

/// A token read but not yet trusted.
#[derive(Debug, Clone)]
pub struct UntrustedToken<'t> {
    header: Map<String, Value>,
    claims: Map<String, Value>,
    signing_input: &'t str,
    signature: Vec<u8>,
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// The token names a `kid` the provider's keys do not have (yet): worth one refetch.
    UnknownKey,
    /// `exp` is past (beyond the leeway).
    Expired,
    /// The signature does not verify against the provider's keys.
    BadSignature,
    /// Anything else; the reason says what, never quoting the token.
    Invalid(String),
}

fn invalid(reason: impl Into<String>) -> Rejection {
    Rejection::Invalid(reason.into())
}

/// Whether a `kid` is plain data: printable, no path, URL or escape characters. A `kid` is only
/// ever compared with the keys' own, but one that looks like a path or URL is an attack probe.
pub fn is_safe_kid(kid: &str) -> bool {
    (1..=MAX_KID_LEN).contains(&kid.len())
        && kid.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.+/=~".contains(&b))
        && !kid.starts_with('/')
        && !kid.contains("..")
        && !kid.contains("//")
}

#[cfg(test)]
thread_local! {
    /// How many times [`decode`] ran on this thread (tests run one per thread): shows that a
    /// request's token is read once.
    pub(crate) static DECODES: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Read a token's shape and header without trusting it. Refused: oversized, not three
/// base64url segments of JSON objects, no `alg`, `alg` none or HS*, a `jku`/`x5u`/`jwk`/`x5c`
/// header (keys are never taken from the token), any `crit` header, an unsafe `kid`.
pub fn decode(token: &str) -> Result<UntrustedToken<'_>, Rejection> {
    #[cfg(test)]
    DECODES.with(|n| n.set(n.get() + 1));
    if token.len() > MAX_TOKEN_BYTES {
        return Err(invalid(format!("the token is larger than {MAX_TOKEN_BYTES} bytes")));
    }
    let compact = read_compact(token).map_err(|malformed| match malformed {
        Malformed::Segments(_) => invalid("the token is not a JWS (three base64url segments)"),
        Malformed::Header => invalid("the token's header is not base64url-encoded JSON"),
    })?;
    let claims = compact.claims().ok_or_else(|| invalid("the token's claims is not base64url-encoded JSON"))?;
    let signature = compact.signature().ok_or_else(|| invalid("the token's signature is not base64url"))?;
    let Compact { signing_input, header, .. } = compact;
    match header.get("alg").and_then(Value::as_str) {
        None => return Err(invalid("the token's header has no `alg`")),
        Some(alg) if alg.eq_ignore_ascii_case("none") => {
            return Err(invalid("unsigned tokens (`alg` none) are never accepted"))
        }
        Some(alg) if alg.starts_with("HS") => return Err(invalid(
            "HMAC-signed tokens (HS*) are not accepted from identity providers; only their public-key signatures are",
        )),
        Some(_) => {}
    }
    for name in ["jku", "x5u", "jwk", "x5c"] {
        if header.contains_key(name) {
            return Err(invalid(format!(
                "the token's header has `{name}`; keys are taken only from the provider's configured key document"
            )));
        }
    }
    if header.contains_key("crit") {
        return Err(invalid("the token's header has `crit` extensions, which this worker does not understand"));
    }
    match header.get("kid") {
        None => {}
        Some(Value::String(kid)) if is_safe_kid(kid) => {}
        Some(_) => {
            return Err(invalid(
                "the token's `kid` must be a short string of letters, digits and -_.+/=~ (no path or URL)",
            ))
        }
    }
    Ok(UntrustedToken { header, claims, signing_input, signature })
}

impl UntrustedToken<'_> {
    /// The unverified `iss`, to route the token to its provider.
    pub fn issuer(&self) -> Option<&str> {
        self.claims.get("iss").and_then(Value::as_str)
    }

    /// The signing input (`header.claims`, as sent).
    pub fn signing_input(&self) -> &str {
        self.signing_input
    }

    /// The signature bytes.
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    /// The `kid` header, if any.
    pub fn kid(&self) -> Option<&str> {
        self.header.get("kid").and_then(Value::as_str)
    }

    fn algorithm(&self) -> Option<Algorithm> {
        self.header.get("alg").and_then(Value::as_str).and_then(Algorithm::parse)
    }
}

/// The most keys a token without `kid` is checked against. Providers name their keys; one that
/// does not publishes one key, or two while it rotates. Without the bound, a forged kid-less token
/// would cost one verification per key of the document (32 RSA-8192 keys: 315 ms of wasm CPU).
pub const MAX_KEYS_WITHOUT_KID: usize = 3;

/// The keys that may have signed `token` for `provider`, and the algorithm: everything decided
/// before the signature itself is checked. The algorithm must be one the provider accepts (its
/// configured list, or else what its keys declare); the key (by `kid`, or every key that fits when
/// there is none, at most [`MAX_KEYS_WITHOUT_KID`]) must fit it too. What the Workers layer hands
/// to the platform's WebCrypto, one check per key (see [`verify_signature`]'s `verdict`).
pub fn signature_keys<'k>(
    token: &UntrustedToken<'_>,
    provider: &Provider,
    keys: &[&'k KeySet],
) -> Result<(Algorithm, Vec<&'k PublicJwk>), Rejection> {
    let alg = token
        .algorithm()
        .ok_or_else(|| invalid("the token's `alg` is not one of RS256/384/512, PS256/384/512, ES256, ES384"))?;
    if provider.algorithms.as_ref().is_some_and(|list| !list.contains(&alg)) {
        return Err(invalid(format!("the token's `alg` {} is not accepted for this provider", alg.name())));
    }
    let candidates: Vec<&PublicJwk> = match token.kid() {
        Some(kid) => vec![keys.iter().find_map(|set| set.find(kid)).ok_or(Rejection::UnknownKey)?],
        None => keys.iter().flat_map(|set| set.keys.iter()).collect(),
    };
    // Without a configured list, each key accepts only the algorithm it declares.
    let fits = |key: &&PublicJwk| key.allows(alg) && (provider.algorithms.is_some() || key.declared() == alg);
    let usable: Vec<&PublicJwk> = candidates.into_iter().filter(fits).collect();
    if usable.is_empty() {
        return Err(invalid(format!("the token's `alg` {} does not fit the provider's key(s)", alg.name())));
    }
    if usable.len() > MAX_KEYS_WITHOUT_KID {
        return Err(invalid(format!(
            "the token has no `kid`, and {} of the provider's keys fit its `alg` {}; without `kid` at most {MAX_KEYS_WITHOUT_KID} are tried (the provider must name its signing key in the token's `kid`)",
            usable.len(),
            alg.name()
        )));
    }
    Ok((alg, usable))
}

/// Check `token`'s signature against the keys [`signature_keys`] chose: good when one of them
/// verifies it. `verdict` gives the platform's answer for a key and algorithm when it was asked
/// (or a remembered outcome); the others are checked here.
pub fn verify_signature(
    token: &UntrustedToken<'_>,
    provider: &Provider,
    keys: &[&KeySet],
    verdict: impl Fn(Algorithm, &PublicJwk) -> Option<bool>,
) -> Result<(), Rejection> {
    let (alg, usable) = signature_keys(token, provider, keys)?;
    let verified = usable.iter().any(|key| {
        verdict(alg, key).unwrap_or_else(|| key.verify(alg, token.signing_input.as_bytes(), &token.signature))
    });
    if verified {
        Ok(())
    } else {
        Err(Rejection::BadSignature)
    }
}

/// A date claim of a provider's token: some providers write fractional seconds.
fn numeric_date(claims: &Map<String, Value>, name: &str) -> Result<Option<u64>, Rejection> {
    jose::numeric_date(claims, name, Seconds::Fractional)
        .map_err(|_| invalid(format!("claim `{name}` must be a NumericDate (seconds)")))
}

fn string_list(value: Option<&Value>) -> Vec<&str> {
    match value {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

fn check_claims(claims: &Map<String, Value>, provider: &Provider, now: u64) -> Result<(), Rejection> {
    if claims.get("iss").and_then(Value::as_str) != Some(provider.issuer.as_str()) {
        return Err(invalid("the token's `iss` is not this provider's issuer"));
    }
    let aud = string_list(claims.get("aud"));
    let one_of = |values: &[&str], allowed: &[String]| values.iter().any(|v| allowed.iter().any(|a| a == v));
    match &provider.audience {
        AudienceRule::Aud(allowed) => {
            if !one_of(&aud, allowed) {
                return Err(invalid("the token's `aud` does not contain this provider's configured audience"));
            }
        }
        AudienceRule::Cognito(clients) => match claims.get("token_use").and_then(Value::as_str) {
            Some("id") if one_of(&aud, clients) => {}
            Some("id") => return Err(invalid("the Cognito ID token's `aud` is not the configured client_id")),
            Some("access") if one_of(&string_list(claims.get("client_id")), clients) => {}
            Some("access") => {
                return Err(invalid("the Cognito access token's `client_id` is not the configured client_id"))
            }
            _ => return Err(invalid("the Cognito token's `token_use` must be `id` or `access`")),
        },
        AudienceRule::AuthorizedParty(parties) => {
            if !one_of(&string_list(claims.get("azp")), parties) {
                return Err(invalid("the token's `azp` is not one of the configured authorized_parties"));
            }
        }
    }
    let exp = numeric_date(claims, "exp")?
        .ok_or_else(|| invalid("the token has no `exp`; tokens without an expiry are not accepted"))?;
    if exp.saturating_add(LEEWAY_SECONDS) <= now {
        return Err(Rejection::Expired);
    }
    let soon = now.saturating_add(LEEWAY_SECONDS);
    if numeric_date(claims, "nbf")?.is_some_and(|t| t > soon) || numeric_date(claims, "iat")?.is_some_and(|t| t > soon)
    {
        return Err(invalid("the token is not valid yet (`nbf`/`iat` in the future)"));
    }
    if provider.require_auth_time {
        match numeric_date(claims, "auth_time")? {
            Some(t) if t <= soon => {}
            Some(_) => return Err(invalid("the token's `auth_time` is in the future")),
            None => return Err(invalid("the token has no `auth_time`")),
        }
    }
    Ok(())
}

/// Verify `token` as a token of `provider`, with its current `keys` (fetched and/or inline), at
/// `now`; on success, the [`Session`] its claims give. `verdict` is the platform's answer on the
/// signature, when it was asked (the Workers layer asks WebCrypto, which is faster than this
/// crate's RSA and P-256 code in wasm); every other rule is checked here either way.
/// [`verify_signature`] then [`accept`].
pub fn verify(
    token: &UntrustedToken<'_>,
    provider: &Provider,
    keys: &[&KeySet],
    now: u64,
    verdict: Option<bool>,
) -> Result<Session, Rejection> {
    verify_signature(token, provider, keys, |_, _| verdict)?;
    accept(token, provider, now)
}

/// The rules after the signature: `iss`, audience, times and the provider's own rules, then the
/// [`Session`] the claims give. Only for a token whose signature verified.
pub fn accept(token: &UntrustedToken<'_>, provider: &Provider, now: u64) -> Result<Session, Rejection> {
    check_claims(&token.claims, provider, now)?;
    session_from_claims(&token.claims, provider)
}

/// The session a verified token's claims give, under the provider's claim mapping.
fn session_from_claims(claims: &Map<String, Value>, provider: &Provider) -> Result<Session, Rejection> {
    let name = |field: &str, configured: &str| format!("claim `{}` ({field})", crate::text::truncate(configured));
    let sub = match claim(claims, &provider.subject_claim) {
        Some(Value::String(s)) if !s.is_empty() && s.len() <= MAX_SUBJECT_LEN => s.clone(),
        _ => {
            return Err(invalid(format!(
                "{} must be a non-empty string of at most 256 bytes",
                name("subject_claim", &provider.subject_claim)
            )))
        }
    };
    let mut session = Session::new(&sub, numeric_date(claims, "exp")?.unwrap_or_default());
    // The provider's issuer, which `check_claims` found to be exactly the token's `iss`: the
    // namespace of its subjects (and so of its viewers' ids).
    session.issuer = Some(provider.issuer.clone());
    session.claims = claims.clone();
    if let Some(field) = &provider.groups_claim {
        // A provider leaves the claim out for a viewer in no group.
        if let Some(value) = claim(claims, field) {
            session.groups =
                parse_groups(value).map_err(|rule| invalid(format!("{} {rule}", name("groups_claim", field))))?;
        }
    }
    if let Some(field) = &provider.channels_claim {
        let value =
            claim(claims, field).ok_or_else(|| invalid(format!("{} is missing", name("channels_claim", field))))?;
        let names = parse_groups(value)
            .map_err(|_| invalid(format!("{} must be a list of channel names", name("channels_claim", field))))?;
        session.channels = if names.iter().any(|n| n == "*") { ChannelGrant::All } else { ChannelGrant::Only(names) };
    }
    if let Some(field) = &provider.max_resolution_claim {
        if let Some(value) = claim(claims, field) {
            let cap = value.as_str().and_then(Resolution::parse);
            session.max_resolution = Some(cap.ok_or_else(|| {
                invalid(format!("{} must be SD, HD or FULL_HD", name("max_resolution_claim", field)))
            })?);
        }
    }
    if let Some(field) = &provider.session_version_claim {
        if let Some(value) = claim(claims, field) {
            let version = value.as_i64().filter(|n| (0..=MAX_SESSION_VERSION).contains(n));
            session.session_version = version.ok_or_else(|| {
                invalid(format!("{} must be an integer from 0 to 2147483647", name("session_version_claim", field)))
            })?;
        }
    }
    Ok(session)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::encoding::b64url_encode;
    use crate::identity::jwk::tests::{ES256, RS256};
    use crate::identity::provider::parse_providers;
    use crate::key::PlaybackKey;
    use serde_json::json;

    pub(crate) const NOW: u64 = 1_800_000_000;
    pub(crate) const ISSUER: &str = "https://id.example";

    /// A P-384 key this test signs with, published as an ES384 JWK with `kid`.
    pub(crate) fn signer() -> PlaybackKey {
        PlaybackKey::from_scalar_bytes(&[0x42; 48]).unwrap()
    }

    pub(crate) fn signer_jwk(kid: &str) -> Value {
        key_jwk(&signer(), kid)
    }

    /// The public ES384 JWK of `key`, with `kid`.
    pub(crate) fn key_jwk(key: &PlaybackKey, kid: &str) -> Value {
        let point =
            p384::ecdsa::VerifyingKey::from_public_key_der(&key.public_key().to_der()).unwrap().to_sec1_point(false);
        let bytes = point.as_bytes();
        json!({"kty": "EC", "crv": "P-384", "kid": kid, "x": b64url_encode(&bytes[1..49]), "y": b64url_encode(&bytes[49..])})
    }

    use p384::pkcs8::DecodePublicKey;

    /// A token signed by [`signer`] with the given header and claims.
    pub(crate) fn mint(header: &Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            b64url_encode(header.to_string().as_bytes()),
            b64url_encode(claims.to_string().as_bytes())
        );
        format!("{input}.{}", b64url_encode(&signer().sign(input.as_bytes())))
    }

    pub(crate) fn claims() -> Value {
        json!({"iss": ISSUER, "aud": ["other", "tv-app"], "sub": "user-1", "exp": NOW + 600, "iat": NOW, "groups": ["members"]})
    }

    fn provider(extra: Value) -> Provider {
        let mut entry = json!({"issuer": ISSUER, "audience": "tv-app", "jwks": {"keys": [signer_jwk("k1")]}, "groups_claim": "groups"});
        entry.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        parse_providers(&json!({"idp": entry}).to_string()).unwrap().remove(0)
    }

    fn check(provider: &Provider, token: &str) -> Result<Session, Rejection> {
        let keys = provider.inline_keys.clone().unwrap();
        verify(&decode(token)?, provider, &[&keys], NOW, None)
    }

    fn header() -> Value {
        json!({"alg": "ES384", "kid": "k1", "typ": "JWT"})
    }

    #[test]
    fn a_valid_token_becomes_a_session() {
        let p = provider(json!({}));
        let session = check(&p, &mint(&header(), &claims())).unwrap();
        assert_eq!(session.sub, "user-1");
        assert_eq!(session.issuer.as_deref(), Some(ISSUER), "the namespace of the viewer id");
        assert_eq!(session.exp, NOW + 600);
        assert_eq!(session.groups, ["members"]);
        assert_eq!(session.channels, ChannelGrant::All);
        let no_kid = mint(&json!({"alg": "ES384"}), &claims());
        assert!(check(&p, &no_kid).is_ok(), "without kid, every key that fits is tried");
    }

    #[test]
    fn rfc7515_rs256_example_through_the_whole_path() {
        // The RFC's own token: claims {"iss":"joe","exp":1300819380,...}, no aud.
        let jwks = json!({"keys": [serde_json::from_str::<Value>(RS256.jwk.as_str()).unwrap()]});
        let p = parse_providers(
            &json!({"rfc": {"issuer": "https://joe.example", "audience": "x", "jwks": jwks}}).to_string(),
        )
        .unwrap()
        .remove(0);
        let keys = p.inline_keys.clone().unwrap();
        let token = decode(RS256.jws.as_str()).unwrap();
        assert_eq!(token.issuer(), Some("joe"));
        // The signature verifies; the claims then fail on the issuer, proving the order.
        assert_eq!(
            verify(&token, &p, &[&keys], 1_300_819_000, None),
            Err(invalid("the token's `iss` is not this provider's issuer"))
        );
    }

    /// RFC 8725 section 2 and 3, one by one.
    #[test]
    fn rfc8725_attacks_are_refused() {
        let p = provider(json!({}));
        let claims = claims();
        let unsigned =
            format!("{}.{}.", b64url_encode(br#"{"alg":"none"}"#), b64url_encode(claims.to_string().as_bytes()));
        assert!(matches!(check(&p, &unsigned), Err(Rejection::Invalid(r)) if r.contains("`alg` none")));
        let none_upper =
            format!("{}.{}.", b64url_encode(br#"{"alg":"NONE"}"#), b64url_encode(claims.to_string().as_bytes()));
        assert!(check(&p, &none_upper).is_err());

        // Alg confusion: HS256 "signed" with the public key's bytes as the HMAC secret.
        use hmac::{KeyInit, Mac};
        let input = format!(
            "{}.{}",
            b64url_encode(br#"{"alg":"HS256","kid":"k1"}"#),
            b64url_encode(claims.to_string().as_bytes())
        );
        let mut mac =
            <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(signer().public_key_pem().as_bytes()).unwrap();
        mac.update(input.as_bytes());
        let confused = format!("{input}.{}", b64url_encode(&mac.finalize().into_bytes()));
        assert!(matches!(check(&p, &confused), Err(Rejection::Invalid(r)) if r.contains("HMAC-signed")));

        // An algorithm the provider does not accept, and one that does not fit the key.
        let es256_only = provider(json!({"algorithms": ["ES256"]}));
        assert!(
            matches!(check(&es256_only, &mint(&header(), &claims)), Err(Rejection::Invalid(r)) if r.contains("not accepted"))
        );
        let rs_header = json!({"alg": "RS256", "kid": "k1"});
        let rs = provider(json!({"algorithms": ["RS256", "ES384"]}));
        assert!(
            matches!(check(&rs, &mint(&rs_header, &claims)), Err(Rejection::Invalid(r)) if r.contains("does not fit"))
        );
        // Without a configured list, an ES384 key accepts ES384 only.
        assert!(
            matches!(check(&p, &mint(&rs_header, &claims)), Err(Rejection::Invalid(r)) if r.contains("does not fit"))
        );

        for (name, value) in [
            ("jku", json!("https://evil.example/jwks")),
            ("x5u", json!("https://evil.example/c")),
            ("jwk", signer_jwk("k1")),
            ("x5c", json!(["MII"])),
            ("crit", json!(["exp"])),
        ] {
            let mut h = header();
            h[name] = value;
            assert!(matches!(check(&p, &mint(&h, &claims)), Err(Rejection::Invalid(r)) if r.contains(name)), "{name}");
        }
        for kid in
            ["../../etc/passwd", "/keys/1", "https://evil.example/k", "k1?x=1", "k\u{0}", "a b", "", &"k".repeat(300)]
        {
            let mut h = header();
            h["kid"] = json!(kid);
            assert!(
                matches!(check(&p, &mint(&h, &claims)), Err(Rejection::Invalid(r)) if r.contains("`kid`")),
                "{kid:?}"
            );
        }
        let mut h = header();
        h["kid"] = json!(5);
        assert!(check(&p, &mint(&h, &claims)).is_err());
        let mut h = header();
        h["kid"] = json!("unknown-kid");
        assert_eq!(check(&p, &mint(&h, &claims)), Err(Rejection::UnknownKey));
        assert!(is_safe_kid("YGKt0oY2NYPv4k3PtqJzgs6EJAD3EPXl+yGJkKIbzr8="), "Cognito's base64 kids are fine");
    }

    #[test]
    fn claim_rules() {
        let p = provider(json!({}));
        let with = |patch: Value| {
            let mut c = claims();
            for (k, v) in patch.as_object().unwrap() {
                if v.is_null() {
                    c.as_object_mut().unwrap().remove(k);
                } else {
                    c[k] = v.clone();
                }
            }
            check(&p, &mint(&header(), &c))
        };
        let reason = |r: Result<Session, Rejection>| match r {
            Err(Rejection::Invalid(reason)) => reason,
            other => panic!("expected a refusal, got {other:?}"),
        };
        assert!(reason(with(json!({"iss": "https://evil.example"}))).contains("`iss`"));
        assert!(reason(with(json!({"iss": null}))).contains("`iss`"));
        assert!(reason(with(json!({"aud": "other"}))).contains("`aud`"));
        assert!(reason(with(json!({"aud": null}))).contains("`aud`"));
        assert!(with(json!({"aud": "tv-app"})).is_ok(), "aud as a string");
        assert!(reason(with(json!({"exp": null}))).contains("no `exp`"));
        assert!(reason(with(json!({"exp": "tomorrow"}))).contains("`exp`"));
        assert_eq!(with(json!({"exp": NOW - 30})), Err(Rejection::Expired));
        assert!(with(json!({"exp": NOW - 29})).is_ok(), "30 s leeway");
        assert!(reason(with(json!({"nbf": NOW + 31}))).contains("not valid yet"));
        assert!(reason(with(json!({"iat": NOW + 31}))).contains("not valid yet"));
        assert!(with(json!({"nbf": NOW + 30, "iat": 1.8e9})).is_ok());
        assert!(reason(with(json!({"sub": ""}))).contains("subject_claim"));
        assert!(reason(with(json!({"sub": null}))).contains("subject_claim"));
        assert!(reason(with(json!({"groups": [1]}))).contains("groups_claim"));
        assert!(with(json!({"groups": null})).unwrap().groups.is_empty(), "no groups claim: no groups");
        // A tampered payload no longer matches the signature.
        let token = mint(&header(), &claims());
        let parts: Vec<&str> = token.split('.').collect();
        let mut evil = claims();
        evil["sub"] = json!("admin");
        let forged = format!("{}.{}.{}", parts[0], b64url_encode(evil.to_string().as_bytes()), parts[2]);
        assert_eq!(check(&p, &forged), Err(Rejection::BadSignature));
        assert!(reason(check(&p, &"a".repeat(MAX_TOKEN_BYTES + 1))).contains("larger than"));
        for bad in ["", "a.b", "a.b.c.d", "!.b.c", "e30.e30.!!"] {
            assert!(check(&p, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn claim_mapping() {
        let p = provider(
            json!({"subject_claim": "email", "groups_claim": "realm_access.roles", "channels_claim": "https://tv.example/channels",
            "max_resolution_claim": "tier", "session_version_claim": "sv"}),
        );
        let mut c = claims();
        c["email"] = json!("viewer@example.com");
        c["realm_access"] = json!({"roles": ["vip"]});
        c["https://tv.example/channels"] = json!(["demo", "news"]);
        c["tier"] = json!("HD");
        c["sv"] = json!(3);
        let session = check(&p, &mint(&header(), &c)).unwrap();
        assert_eq!(session.sub, "viewer@example.com");
        assert_eq!(session.groups, ["vip"]);
        assert_eq!(session.channels, ChannelGrant::Only(vec!["demo".into(), "news".into()]));
        assert_eq!(session.max_resolution, Some(Resolution::Hd));
        assert_eq!(session.session_version, 3);
        c["https://tv.example/channels"] = json!("*");
        assert_eq!(check(&p, &mint(&header(), &c)).unwrap().channels, ChannelGrant::All);
        c.as_object_mut().unwrap().remove("https://tv.example/channels");
        assert!(check(&p, &mint(&header(), &c)).is_err(), "a configured channels claim is required");
    }

    #[test]
    fn cognito_id_and_access_tokens() {
        let p = provider(json!({}));
        let mut p = p;
        p.audience = AudienceRule::Cognito(vec!["client-1".into()]);
        let mut id = claims();
        id["aud"] = json!("client-1");
        id["token_use"] = json!("id");
        assert!(check(&p, &mint(&header(), &id)).is_ok());
        let mut access = claims();
        access.as_object_mut().unwrap().remove("aud");
        access["client_id"] = json!("client-1");
        access["token_use"] = json!("access");
        assert!(check(&p, &mint(&header(), &access)).is_ok());
        access["client_id"] = json!("client-2");
        assert!(check(&p, &mint(&header(), &access)).is_err());
        id["token_use"] = json!("refresh");
        assert!(check(&p, &mint(&header(), &id)).is_err());
        id["token_use"] = json!("access");
        assert!(check(&p, &mint(&header(), &id)).is_err(), "an ID token relabelled as access has no client_id");
    }

    #[test]
    fn firebase_auth_time_and_clerk_azp() {
        let mut p = provider(json!({}));
        p.require_auth_time = true;
        let mut c = claims();
        assert!(check(&p, &mint(&header(), &c)).is_err(), "auth_time required");
        c["auth_time"] = json!(NOW - 100);
        assert!(check(&p, &mint(&header(), &c)).is_ok());
        c["auth_time"] = json!(NOW + 100);
        assert!(check(&p, &mint(&header(), &c)).is_err());

        let mut clerk = provider(json!({}));
        clerk.audience = AudienceRule::AuthorizedParty(vec!["https://www.example.com".into()]);
        let mut c = claims();
        c["azp"] = json!("https://www.example.com");
        assert!(check(&clerk, &mint(&header(), &c)).is_ok());
        c["azp"] = json!("https://evil.example");
        assert!(check(&clerk, &mint(&header(), &c)).is_err());
    }

    #[test]
    fn keys_from_several_sets_and_curves() {
        let p = provider(json!({}));
        let es256: KeySet = KeySet::parse(&format!(r#"{{"keys":[{}]}}"#, ES256.jwk.as_str())).unwrap();
        let own = p.inline_keys.clone().unwrap();
        assert!(
            verify(&decode(&mint(&header(), &claims())).unwrap(), &p, &[&es256, &own], NOW, None).is_ok(),
            "found in the second set"
        );
        assert_eq!(
            verify(&decode(&mint(&header(), &claims())).unwrap(), &p, &[&es256], NOW, None),
            Err(Rejection::UnknownKey)
        );
    }
}

#[cfg(test)]
mod x509_tests {
    use super::*;
    use crate::identity::provider::parse_providers;
    use serde_json::json;

    /// A Firebase-shaped certificate document and a token signed by its key (tests/fixtures/x509).
    const CERTIFICATES: &str = include_str!("../../tests/fixtures/x509/certificates.json");
    const TOKEN: &str = include_str!("../../tests/fixtures/x509/token.jwt");

    #[test]
    fn firebase_certificate_document_verifies_its_token() {
        let providers = json!({"firebase": {"preset": "firebase", "project_id": "demo-project"}});
        let provider = parse_providers(&providers.to_string()).unwrap().remove(0);
        let keys = KeySet::parse(CERTIFICATES).unwrap();
        let session = verify(&decode(TOKEN.trim()).unwrap(), &provider, &[&keys], 1_800_000_000, None).unwrap();
        assert_eq!(session.sub, "firebase-user-1");
        let other =
            parse_providers(&json!({"firebase": {"preset": "firebase", "project_id": "other-project"}}).to_string())
                .unwrap()
                .remove(0);
        assert!(
            verify(&decode(TOKEN.trim()).unwrap(), &other, &[&keys], 1_800_000_000, None).is_err(),
            "another project's token"
        );
    }
}
