//! The start of a sign-in: PKCE (RFC 7636, S256), `state` and `nonce`, the signed state cookie
//! that carries them to the callback (no server-side state), and the authorization and logout
//! URLs.
//!
//! The state cookie is `base64url(JSON) "." base64url(HMAC-SHA256(key, JSON))` where the key is
//! derived from `SESSION_SECRET` ([`StateKey`]); it binds the provider, `return_to`, `state`,
//! `nonce`, the PKCE verifier and an expiry [`STATE_TTL_SECONDS`] away. It is HttpOnly and
//! SameSite=Lax (the callback is a top-level GET from the provider's site), and the callback
//! clears it, so a callback URL replayed later finds none.

use super::settings::{Login, LogoutStyle};
use crate::encoding::{b64url_decode, b64url_encode, url_encode};
use hmac::{KeyInit, Mac};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

type HmacSha256 = hmac::Hmac<Sha256>;

/// How long a sign-in may take, from `/login` to `/callback`.
pub const STATE_TTL_SECONDS: u64 = 600;
/// The state cookie's name on a local host (`wrangler dev` over http), where no prefix can be used.
pub const STATE_COOKIE: &str = "ivs-signin";
/// The state cookie's name everywhere else: `__Host-` makes browsers refuse it unless this origin
/// set it over https without a `Domain`, so a sibling subdomain or a network attacker cannot plant
/// their own sign-in's state in a viewer's browser (which would sign the viewer in as them).
pub const HOST_STATE_COOKIE: &str = "__Host-ivs-signin";

/// The state cookie's name for a request to `host`.
pub fn state_cookie_name(host: Option<&str>) -> &'static str {
    if host.is_some_and(crate::address::is_local_host) {
        STATE_COOKIE
    } else {
        HOST_STATE_COOKIE
    }
}
/// The longest state cookie accepted, in bytes.
pub const MAX_STATE_COOKIE_BYTES: usize = 2048;

/// The key state cookies are signed with, derived from `SESSION_SECRET` (so a state cookie is no
/// session cookie, and the other way round).
#[derive(Clone)]
pub struct StateKey([u8; 32]);

impl std::fmt::Debug for StateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StateKey(..)")
    }
}

fn mac(key: &[u8], message: &[u8]) -> HmacSha256 {
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| <HmacSha256 as KeyInit>::new(&Default::default()));
    mac.update(message);
    mac
}

impl StateKey {
    /// `HMAC-SHA256(session_secret, "ivs-token-worker sign-in state v1")`.
    pub fn derive(session_secret: &[u8]) -> Self {
        Self(mac(session_secret, b"ivs-token-worker sign-in state v1").finalize().into_bytes().into())
    }
}

/// One sign-in under way: what the state cookie carries from `/login` to `/callback`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pending {
    /// The provider's name.
    #[serde(rename = "p")]
    pub provider: String,
    /// Where the viewer goes once signed in (a path of this worker).
    #[serde(rename = "r")]
    pub return_to: String,
    /// The `state` parameter.
    #[serde(rename = "s")]
    pub state: String,
    /// The `nonce` the ID token must carry.
    #[serde(rename = "n")]
    pub nonce: String,
    /// The PKCE code verifier.
    #[serde(rename = "v")]
    pub verifier: String,
    /// Expiry, Unix seconds.
    #[serde(rename = "e")]
    pub exp: u64,
    /// A silent sign-in (`prompt=none`): refreshing the groups of a viewer who is still signed
    /// in at the provider. Where the provider wants the viewer to act, the sign-in starts again
    /// the ordinary way instead of failing.
    #[serde(rename = "q", default, skip_serializing_if = "std::ops::Not::not")]
    pub silent: bool,
}

impl<'de> Deserialize<'de> for Pending {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Self::from_value(&Value::deserialize(deserializer)?)
            .ok_or_else(|| serde::de::Error::custom("not a sign-in state (fields p, r, s, n, v, e and q)"))
    }
}

/// Why a state cookie was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateFault {
    /// Not in the request: the sign-in did not start in this browser, or was already completed.
    Missing,
    /// Not signed by this worker, or not of the expected shape.
    Forged,
    /// Older than [`STATE_TTL_SECONDS`].
    Expired,
    /// The `state` parameter is not the cookie's.
    Mismatch,
}

impl Pending {
    /// A new sign-in at `now` for `provider`, with `state`, `nonce` and verifier from `random`
    /// (fresh randomness; each value is SHA-256 of its own label and `random`).
    pub fn new(provider: &str, return_to: &str, random: &[u8; 32], now: u64) -> Self {
        let derive = |label: &[u8], len: usize| {
            let mut hasher = Sha256::new();
            hasher.update(label);
            hasher.update(random);
            b64url_encode(&hasher.finalize()[..len])
        };
        Self {
            provider: provider.to_owned(),
            return_to: return_to.to_owned(),
            state: derive(b"state", 16),
            nonce: derive(b"nonce", 16),
            // 32 bytes: a 43-character verifier, the RFC 7636 minimum length and entropy.
            verifier: derive(b"verifier", 32),
            exp: now.saturating_add(STATE_TTL_SECONDS),
            silent: false,
        }
    }

    /// A sign-in from the state cookie's JSON, as the derived `Serialize` writes it: read by hand
    /// from a `Value` (as the device ledger's JSON is, `device::wire`), so that no derived
    /// deserializer is compiled into the module. `q` defaults to `false`; unknown fields are
    /// ignored.
    fn from_value(value: &Value) -> Option<Self> {
        let fields = value.as_object()?;
        let text = |key: &str| fields.get(key)?.as_str().map(str::to_owned);
        Some(Self {
            provider: text("p")?,
            return_to: text("r")?,
            state: text("s")?,
            nonce: text("n")?,
            verifier: text("v")?,
            exp: fields.get("e")?.as_u64()?,
            silent: match fields.get("q") {
                None => false,
                Some(q) => q.as_bool()?,
            },
        })
    }

    /// The state cookie's value.
    pub fn seal(&self, key: &StateKey) -> String {
        let payload = b64url_encode(&serde_json::to_vec(self).unwrap_or_default());
        let tag = mac(&key.0, payload.as_bytes()).finalize().into_bytes();
        format!("{payload}.{}", b64url_encode(&tag))
    }

    /// Open a state cookie's value at `now` and check that `state` (the callback's parameter)
    /// is its own. The signature is checked (in constant time) before anything is read.
    pub fn open(value: &str, state: &str, key: &StateKey, now: u64) -> Result<Self, StateFault> {
        if value.len() > MAX_STATE_COOKIE_BYTES {
            return Err(StateFault::Forged);
        }
        let (payload, tag) = value.split_once('.').ok_or(StateFault::Forged)?;
        let tag = b64url_decode(tag).ok_or(StateFault::Forged)?;
        mac(&key.0, payload.as_bytes()).verify_slice(&tag).map_err(|_| StateFault::Forged)?;
        let json = b64url_decode(payload).and_then(|json| String::from_utf8(json).ok());
        let value = json.and_then(|json| serde_json::from_str::<Value>(&json).ok());
        let pending = value.as_ref().and_then(Self::from_value).ok_or(StateFault::Forged)?;
        if pending.exp <= now {
            return Err(StateFault::Expired);
        }
        let same = pending.state.len() == state.len()
            && pending.state.bytes().zip(state.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
        if !same {
            return Err(StateFault::Mismatch);
        }
        Ok(pending)
    }

    /// The PKCE code challenge: `base64url(SHA-256(verifier))` (method S256).
    pub fn challenge(&self) -> String {
        code_challenge(&self.verifier)
    }
}

/// `base64url(SHA-256(verifier))`: the S256 code challenge of RFC 7636.
pub fn code_challenge(verifier: &str) -> String {
    b64url_encode(&Sha256::digest(verifier.as_bytes()))
}

/// `url` with `params` added to its query.
pub fn with_query(url: &str, params: &[(&str, &str)]) -> String {
    let mut out = url.to_owned();
    let mut separator = if url.contains('?') { '&' } else { '?' };
    for (name, value) in params {
        out.push(separator);
        out.push_str(name);
        out.push('=');
        out.push_str(&url_encode(value));
        separator = '&';
    }
    out
}

/// Where the viewer is sent to sign in: the authorization code flow with PKCE, `state` and
/// `nonce` (OpenID Connect Core 3.1.2.1).
pub fn authorization_url(endpoint: &str, login: &Login, redirect_uri: &str, pending: &Pending) -> String {
    let challenge = pending.challenge();
    let mut query = vec![
        ("response_type", "code"),
        ("client_id", login.client_id.as_str()),
        ("redirect_uri", redirect_uri),
        ("scope", login.scopes.as_str()),
        ("state", pending.state.as_str()),
        ("nonce", pending.nonce.as_str()),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    if pending.silent {
        // OpenID Connect Core 3.1.2.1: no page at the provider; an error if the viewer must act.
        query.push(("prompt", "none"));
    }
    with_query(endpoint, &query)
}

/// The authorization errors with which a provider answers `prompt=none` when the viewer would
/// have to act (OpenID Connect Core 3.1.2.6): the sign-in then starts again with a page.
pub const INTERACTION_ERRORS: [&str; 4] =
    ["login_required", "interaction_required", "consent_required", "account_selection_required"];

/// Where `/logout` continues at the provider: its end-session endpoint, with the way back
/// (`post_logout_redirect_uri`, or Cognito's `logout_uri`), which must be registered there.
pub fn logout_url(endpoint: &str, login: &Login, back: &str) -> String {
    match login.logout_style {
        LogoutStyle::Oidc => {
            with_query(endpoint, &[("client_id", &login.client_id), ("post_logout_redirect_uri", back)])
        }
        LogoutStyle::Cognito => with_query(endpoint, &[("client_id", &login.client_id), ("logout_uri", back)]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::provider::parse_providers;
    use crate::signin::settings::parse_login;
    use serde_json::json;

    const NOW: u64 = 1_800_000_000;

    fn login() -> Login {
        let providers = parse_providers(
            &json!({"idp": {"issuer": "https://id.example", "audience": "tv", "jwks_url": "https://id.example/jwks",
                "login": {"client_id": "tv:app", "scopes": "openid groups"}}})
            .to_string(),
        )
        .unwrap();
        parse_login(&providers[0], &|_| None).unwrap().unwrap()
    }

    #[test]
    fn pkce_s256_matches_rfc_7636_appendix_b() {
        assert_eq!(
            code_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        let pending = Pending::new("idp", "/watch/demo", &[1; 32], NOW);
        assert_eq!(pending.verifier.len(), 43);
        assert!(pending.verifier.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b)));
        let other = Pending::new("idp", "/watch/demo", &[2; 32], NOW);
        assert!(pending.state != other.state && pending.nonce != other.nonce && pending.verifier != other.verifier);
        assert!(pending.state != pending.nonce, "each value from its own label");
    }

    #[test]
    fn the_authorization_url_carries_the_flow() {
        let pending = Pending::new("idp", "/watch/demo", &[1; 32], NOW);
        let url = authorization_url("https://id.example/auth", &login(), "https://tv.example/callback", &pending);
        let expected = format!(
            "https://id.example/auth?response_type=code&client_id=tv%3Aapp&redirect_uri=https%3A%2F%2Ftv.example%2Fcallback\
             &scope=openid%20groups&state={}&nonce={}&code_challenge={}&code_challenge_method=S256",
            pending.state,
            pending.nonce,
            pending.challenge()
        );
        assert_eq!(url, expected);
        assert!(authorization_url("https://id.example/auth?tenant=a", &login(), "x", &pending)
            .starts_with("https://id.example/auth?tenant=a&response_type=code&"));
    }

    /// The state cookie's JSON as the derived `Serialize` writes it (and the derived `Deserialize`
    /// read it, before it was read by hand): both values of `q`, `q` absent, unknown fields.
    #[test]
    fn the_state_cookie_json_is_read_as_written() {
        let mut pending = Pending::new("idp", "/watch/demo", &[1; 32], NOW);
        let golden = format!(
            r#"{{"p":"idp","r":"/watch/demo","s":"{}","n":"{}","v":"{}","e":1800000600}}"#,
            pending.state, pending.nonce, pending.verifier
        );
        assert_eq!(serde_json::to_string(&pending).unwrap(), golden);
        assert_eq!(serde_json::from_str::<Pending>(&golden).unwrap(), pending);
        let key = StateKey::derive(b"a-session-secret-of-32-bytes-or-more");
        assert_eq!(Pending::open(&pending.seal(&key), &pending.state, &key, NOW), Ok(pending.clone()));
        pending.silent = true;
        let silent = golden.replace('}', r#","q":true}"#);
        assert_eq!(serde_json::to_string(&pending).unwrap(), silent);
        assert_eq!(serde_json::from_str::<Pending>(&silent).unwrap(), pending);
        assert_eq!(Pending::open(&pending.seal(&key), &pending.state, &key, NOW), Ok(pending.clone()));
        let later = silent.replace('}', r#","z":[1]}"#);
        assert_eq!(serde_json::from_str::<Pending>(&later).unwrap(), pending);
        for bad in [
            golden.replace(r#""p":"idp""#, r#""p":1"#),
            golden.replace("1800000600", "-1"),
            silent.replace("true", "null"),
        ] {
            assert!(serde_json::from_str::<Pending>(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_state_cookie_is_signed_bound_and_short_lived() {
        let key = StateKey::derive(b"a-session-secret-of-32-bytes-or-more");
        let pending = Pending::new("idp", "/watch/demo", &[1; 32], NOW);
        let sealed = pending.seal(&key);
        assert!(!sealed.contains("watch"), "base64url, not readable at a glance");
        assert_eq!(Pending::open(&sealed, &pending.state, &key, NOW + 1), Ok(pending.clone()));
        assert_eq!(Pending::open(&sealed, "another-state", &key, NOW + 1), Err(StateFault::Mismatch));
        assert_eq!(Pending::open(&sealed, &pending.state, &key, NOW + STATE_TTL_SECONDS), Err(StateFault::Expired));
        let other_key = StateKey::derive(b"another-session-secret-of-32-bytes");
        assert_eq!(Pending::open(&sealed, &pending.state, &other_key, NOW), Err(StateFault::Forged));
        // A forged payload (another return_to) under the old signature.
        let (_, tag) = sealed.split_once('.').unwrap();
        let mut forged = pending.clone();
        forged.return_to = "//evil.example".into();
        let forged_payload = b64url_encode(&serde_json::to_vec(&forged).unwrap());
        assert_eq!(
            Pending::open(&format!("{forged_payload}.{tag}"), &pending.state, &key, NOW),
            Err(StateFault::Forged)
        );
        for garbage in ["", ".", "a.b", "x".repeat(5000).as_str(), "e30.AAAA"] {
            assert_eq!(Pending::open(garbage, &pending.state, &key, NOW), Err(StateFault::Forged), "{garbage}");
        }
    }

    #[test]
    fn logout_urls_in_both_shapes() {
        let mut l = login();
        assert_eq!(
            logout_url("https://id.example/logout", &l, "https://tv.example/logout"),
            "https://id.example/logout?client_id=tv%3Aapp&post_logout_redirect_uri=https%3A%2F%2Ftv.example%2Flogout"
        );
        l.logout_style = LogoutStyle::Cognito;
        assert!(
            logout_url("https://d.example/logout", &l, "https://tv.example/logout").contains("&logout_uri=https%3A")
        );
    }
}
