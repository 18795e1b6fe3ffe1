//! Fixtures shared by the fuzz targets and the seed generator: one fixed configuration with every
//! kind of channel, cookie sessions (current and previous secret) and an identity provider with
//! inline keys, plus the credentials that configuration accepts, so fuzzed inputs that start from
//! a seed reach the signer rather than stopping at the first check.
#![forbid(unsafe_code)]

use ivs_token_worker::config::{names, Config, Settings};
use ivs_token_worker::encoding::b64url_encode;
use ivs_token_worker::identity::session_cookie::{mint, SessionClaims};
use ivs_token_worker::isolate::IsolateState;
use ivs_token_worker::key::PlaybackKey;
use serde_json::{json, Value};

/// The clock of every target (2027-01-15), so seeds minted here stay valid.
pub const NOW: u64 = 1_800_000_000;
/// The identity provider's issuer.
pub const ISSUER: &str = "https://id.example";
/// The fixed HS256 session secret (a test value, not a real one).
pub const SESSION_SECRET: &str = "fuzz-session-secret-0123456789abcdefghij";
/// The previous session secret, still accepted.
pub const SESSION_SECRET_PREVIOUS: &str = "fuzz-previous-secret-0123456789abcdefghij";

/// The playback signing key (a fixed test scalar).
pub fn playback_key() -> PlaybackKey {
    PlaybackKey::from_scalar_bytes(&[0x11; 48]).expect("a valid scalar")
}

/// The identity provider's signing key (a fixed test scalar), ES384.
pub fn provider_key() -> PlaybackKey {
    PlaybackKey::from_scalar_bytes(&[0x42; 48]).expect("a valid scalar")
}

/// The provider key as an ES384 JWK with `kid`.
pub fn provider_jwk(kid: &str) -> Value {
    // A P-384 SubjectPublicKeyInfo ends with the 97-byte uncompressed point 04 || x || y.
    let der = provider_key().public_key().to_der();
    let point = &der[der.len() - 97..];
    json!({"kty": "EC", "crv": "P-384", "kid": kid, "alg": "ES384", "use": "sig",
           "x": b64url_encode(&point[1..49]), "y": b64url_encode(&point[49..])})
}

/// The fixed `CHANNELS` table: one channel of every kind.
pub fn channels() -> Value {
    let arn = |id: &str| format!("arn:aws:ivs:us-west-2:123456789012:channel/{id}");
    json!({
        "demo": {"arn": arn("demo1"), "playback_url": "https://x.live-video.net/demo.m3u8", "title": "Demo <b>&"},
        "open": {"arn": arn("open1"), "playback_url": "https://x.live-video.net/open.m3u8", "viewer_binding": false},
        "vip": {"arn": arn("vip1"), "playback_url": "https://x.live-video.net/vip.m3u8", "single_use": true,
                "strict_origin": true, "allowed_origins": ["https://app.example"], "max_resolution": "HD"},
        "members": {"arn": arn("m1"), "playback_url": "https://x.live-video.net/m.m3u8", "groups": ["members", "staff"]},
        "de": {"arn": arn("de1"), "playback_url": "https://x.live-video.net/de.m3u8", "allowed_countries": ["DE"]},
        "not-fr": {"arn": arn("nfr1"), "playback_url": "https://x.live-video.net/nfr.m3u8", "blocked_countries": ["FR"]}
    })
}

/// The fixed `IDENTITY_PROVIDERS` table: a provider with inline keys read from a Bearer header,
/// a cookie and a header, which also signs viewers in (`login`), and a second one mapping every
/// optional claim.
pub fn identity_providers() -> Value {
    json!({
        "idp": {"issuer": ISSUER, "audience": ["tv-app"], "jwks": {"keys": [provider_jwk("k1")]},
                "token_from": ["bearer", "cookie:id_token", "header:x-id-token"], "groups_claim": "groups",
                // Sign-in at the edge (/login, /callback, /logout), endpoints written out: no network.
                "login": {"client_id": "tv-app", "authorization_endpoint": "https://id.example/auth",
                          "token_endpoint": "https://id.example/token", "end_session_endpoint": "https://id.example/end"}},
        "mapped": {"issuer": "https://mapped.example", "audience": "tv-app", "jwks": {"keys": [provider_jwk("k2")]},
                   "algorithms": ["ES384", "RS256"], "token_from": ["bearer"], "groups_claim": "https://example.com/roles",
                   "channels_claim": "app.channels", "subject_claim": "app.user", "max_resolution_claim": "res",
                   "session_version_claim": "sv"}
    })
}

/// The fixed `STAGES` table: a stage anyone signed in may join, and a members-only one with publishers.
pub fn stages() -> Value {
    let arn = |kind: &str, id: &str| format!("arn:aws:ivs:us-east-1:123456789012:{kind}/{id}");
    json!({
        "studio": {"arn": arn("stage", "Studio0001"), "public_key_arn": arn("public-key", "Key01"),
                   "whip_url": "https://Studio0001.global-bm.whip.live-video.net", "publish_groups": ["staff"], "title": "Studio"},
        "club": {"arn": arn("stage", "Club0001"), "public_key_arn": arn("public-key", "Key01"),
                 "whip_url": "https://Club0001.global-bm.whip.live-video.net", "events_url": "wss://events.example.net",
                 "subscribe_groups": "members, staff", "publish_groups": "staff"}
    })
}

/// The fixed settings; `extra` overrides (for the settings targets).
pub fn settings() -> Settings {
    Settings::new()
        .with(names::PLAYBACK_PRIVATE_KEY, playback_key().to_sec1_pem())
        .with(names::SESSION_SECRET, SESSION_SECRET)
        .with(names::SESSION_SECRET_PREVIOUS, SESSION_SECRET_PREVIOUS)
        .with(names::CHANNELS, channels().to_string())
        .with(names::IDENTITY_PROVIDERS, identity_providers().to_string())
        .with(names::ALLOWED_ORIGINS, "https://app.example, https://*.example.org")
        .with(names::TOKEN_TTL_SECONDS, "600")
        .with(names::STAGES, stages().to_string())
}

/// The fixed settings with device limits: the AWS key they need, and `open` (no viewer binding)
/// opted out of the limit.
pub fn device_settings() -> Settings {
    let mut channels = channels();
    channels["open"]["device_limit"] = json!(false);
    settings()
        .with(names::CHANNELS, channels.to_string())
        .with(names::DEVICE_LIMITS, json!({"default": 2, "groups": {"members": 3, "staff": 5}}).to_string())
        .with(names::AWS_ACCESS_KEY_ID, "AKIAIOSFODNN7EXAMPLE")
        .with(names::AWS_SECRET_ACCESS_KEY, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
        .with(names::ADMIN_API_TOKEN, "fuzz-admin-token-0123456789abcdefghij")
}

/// The fixed configuration, with the dev sign-in or a login URL.
pub fn config(dev_login: bool) -> Config {
    let settings = if dev_login {
        settings().with(names::DEV_LOGIN, "true")
    } else {
        settings().with(names::LOGIN_URL, "https://auth.example/login?app=tv")
    };
    Config::load(&settings).expect("the fuzz configuration loads")
}

/// A session cookie value for `sub`, signed with the current (or previous) secret.
pub fn session_cookie(sub: &str, previous: bool, groups: &[&str], channels: Option<&[&str]>) -> String {
    let mut claims = SessionClaims::new(sub, NOW, 3600);
    claims.groups = (!groups.is_empty()).then(|| groups.iter().map(|g| g.to_string()).collect());
    claims.channels = channels.map(|c| c.iter().map(|c| c.to_string()).collect());
    let secret = if previous { SESSION_SECRET_PREVIOUS } else { SESSION_SECRET };
    mint(&claims, secret.as_bytes())
}

/// A JWT signed by the provider key with this header and these claims.
pub fn provider_token(header: &Value, claims: &Value) -> String {
    let input =
        format!("{}.{}", b64url_encode(header.to_string().as_bytes()), b64url_encode(claims.to_string().as_bytes()));
    format!("{input}.{}", b64url_encode(&provider_key().sign(input.as_bytes())))
}

/// Claims the `idp` provider accepts.
pub fn provider_claims(sub: &str) -> Value {
    json!({"iss": ISSUER, "aud": ["other", "tv-app"], "sub": sub, "exp": NOW + 600, "iat": NOW, "groups": ["members"]})
}

/// Claims the `mapped` provider accepts (every optional claim present).
pub fn mapped_claims(sub: &str) -> Value {
    json!({"iss": "https://mapped.example", "aud": "tv-app", "exp": NOW + 600, "nbf": NOW - 10, "app": {"user": sub, "channels": ["demo", "vip"]},
           "https://example.com/roles": ["staff"], "res": "SD", "sv": 3})
}

thread_local! {
    /// The fixed configurations, built once per fuzzing thread. Leaked: they live as long as the
    /// process.
    static CONFIGS: (&'static Config, &'static Config) = (Box::leak(Box::new(config(true))), Box::leak(Box::new(config(false))));
    /// Beside each, its isolate's state: the caches, kept across inputs as an isolate keeps them
    /// across requests (an `IsolateState` is not `Sync`, so one per fuzzing thread).
    static STATES: (&'static IsolateState, &'static IsolateState) =
        (Box::leak(Box::new(IsolateState::new())), Box::leak(Box::new(IsolateState::new())));
}

/// The fixed configuration (see [`config`]), built once.
pub fn shared_config(dev_login: bool) -> &'static Config {
    CONFIGS.with(|(dev, login)| if dev_login { *dev } else { *login })
}

/// The runtime state beside [`shared_config`]`(dev_login)`, built once.
pub fn shared_state(dev_login: bool) -> &'static IsolateState {
    STATES.with(|(dev, login)| if dev_login { *dev } else { *login })
}

/// Whether `text` is JWT-shaped (three base64url segments, at least 24 bytes): the values an
/// "is it echoed?" check looks for. Shorter or spaced text can occur inside an error message by
/// chance (the fuzzer found `ization: Bearer wa` inside "the credential in Authorization: Bearer
/// was refused"), which says nothing about leaks.
pub fn looks_like_jwt(text: &str) -> bool {
    let segments: Vec<&str> = text.split('.').collect();
    text.len() >= 24
        && segments.len() == 3
        && segments[..2].iter().all(|s| !s.is_empty())
        && text.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}
