//! The worker's configuration: Worker vars and secrets, validated once into a [`Config`].
//!
//! Settings arrive as strings (secrets, `.dev.vars`) or as JSON values (tables and numbers in
//! `wrangler.toml`, which the worker layer turns into JSON text). Every error names the setting
//! and the rule it breaks, and never quotes a secret's value.
//!
//! | module | what |
//! |---|---|
//! | this one | [`Config::load`]: the sections' loaders in turn, into one [`Config`]; `PLAYBACK_PRIVATE_KEY` |
//! | [`names`] | the settings' names |
//! | [`settings`] | raw settings as text, and the deployment's binding names |
//! | [`bindings`] | binding names against the settings: misspelled ones refused, unknown ones reported |
//! | `identity` | loader: `IDENTITY_PROVIDERS`, `SESSION_SECRET`(`_PREVIOUS`), `SESSION_COOKIE`, `VIEWER_ID_SECRET` |
//! | `playback` | loader: `TOKEN_TTL_SECONDS`, `ALLOWED_ORIGINS`, `CHANNELS` |
//! | `devices` | loader: `DEVICE_LIMITS`, its AWS key, `IVS_API_ENDPOINT`, `ADMIN_API_TOKEN` |
//! | `chat` | loader: what IVS Chat needs when a channel has a room (the AWS key, `IVS_CHAT_API_ENDPOINT`) |
//! | `aws_key` | the AWS key, read for every feature that calls AWS |
//! | `stages` | loader: `STAGES`, `STAGE_PRIVATE_KEY`, `STAGE_TOKEN_TTL_SECONDS` |
//! | `signin` | loader: the providers' `login` tables and the client secrets they name |
//! | `pages` | loader: `LOGIN_URL`, `DEV_LOGIN`, `PLAYER_SCRIPT_URL`, `PAGE_BRAND` |
//! | [`player`] | `PLAYER_SCRIPT_URL`: the watch page's player |
//! | [`brand`] | `PAGE_BRAND`: the pages' site name, logo, colours and stylesheet |
//!
//! `Config` is what the operator set, and nothing else: what an isolate learns while it runs is
//! [`crate::isolate::IsolateState`], beside it.

mod aws_key;
pub mod bindings;
pub mod brand;
mod chat;
mod devices;
mod identity;
pub mod names;
mod pages;
mod playback;
pub mod player;
pub mod settings;
mod signin;
mod stages;

pub use brand::Brand;
pub use playback::{DEFAULT_TOKEN_TTL, MAX_TOKEN_TTL};
pub use player::Player;
pub use settings::Settings;
pub use stages::DEFAULT_STAGE_TOKEN_TTL;

use crate::channel::policy::{PlaybackSettings, TokenCache};
use crate::channel::Channel;
use crate::chat::ChatSettings;
use crate::device::ledger::ChannelRef;
use crate::device::settings::DeviceSettings;
use crate::error::{Error, Result};
use crate::identity::viewer_id::ViewerIdKey;
use crate::identity::Identity;
use crate::key::PlaybackKey;
use crate::signin::SignIn;
use crate::stage::policy::StageSettings;
use crate::stage::Stage;
use std::collections::BTreeMap;

/// The validated configuration the core works from: what the operator set, immutable. What an
/// isolate learns while it runs (keys, verified tokens, discovery documents, reusable tokens) is
/// not here but beside it, in [`crate::isolate::IsolateState`].
#[derive(Debug)]
pub struct Config {
    /// The signing key.
    pub key: PlaybackKey,
    /// Who the viewer is: identity providers, their keys, the HS256 session cookie.
    pub identity: Identity,
    /// Channels by name.
    pub channels: BTreeMap<String, Channel>,
    /// Real-time stages by name (empty when `STAGES` is unset).
    pub stages: BTreeMap<String, Stage>,
    /// `STAGE_PRIVATE_KEY`, when set; otherwise stages use [`Config::key`].
    pub stage_key: Option<PlaybackKey>,
    /// Participant token lifetime in seconds.
    pub stage_token_ttl: u64,
    /// Token lifetime in seconds (before the 600 s cap for bound tokens).
    pub token_ttl: u64,
    /// `ALLOWED_ORIGINS`; empty when unset.
    pub allowed_origins: Vec<String>,
    /// Key for `aws:viewer-id`.
    pub viewer_ids: ViewerIdKey,
    /// `LOGIN_URL`, if set.
    pub login_url: Option<String>,
    /// `DEV_LOGIN=true`: `/dev/login` answers on localhost.
    pub dev_login: bool,
    /// The watch page's player.
    pub player: Player,
    /// `PAGE_BRAND`: what every page shows of the operator's brand; `None` when unset.
    pub brand: Option<Brand>,
    /// Sign-in at the edge: the providers with a `login` table.
    pub signin: SignIn,
    /// Device limits, the AWS key that revokes at IVS, the operator API's token; `None` when
    /// `DEVICE_LIMITS` is unset (then no channel is limited and nothing else is read).
    pub devices: Option<DeviceSettings>,
    /// The AWS key and endpoint IVS Chat is called with; `None` when no channel has a `chat`
    /// room.
    pub chat: Option<ChatSettings>,
    /// The deployment's UPPER_CASE bindings the worker does not read, and no misspelling of a
    /// setting (see [`bindings`]): reported in the log, `/healthz` and `ivs-token check`.
    pub unknown_settings: Vec<String>,
}

/// `PLAYBACK_PRIVATE_KEY`: the signing key.
fn playback_key(settings: &Settings) -> Result<PlaybackKey> {
    use names::PLAYBACK_PRIVATE_KEY;
    let key_text = settings.get(PLAYBACK_PRIVATE_KEY).ok_or_else(|| {
        Error::setting(
            PLAYBACK_PRIVATE_KEY,
            "is not set; store the P-384 private key PEM with `wrangler secret put PLAYBACK_PRIVATE_KEY < private.pem`",
        )
    })?;
    PlaybackKey::parse(key_text).map_err(|e| Error::setting(PLAYBACK_PRIVATE_KEY, e.to_string()))
}

impl Config {
    /// Validate `settings` into a configuration, one section at a time, each by its own loader
    /// reading its own settings. The first broken rule is reported.
    pub fn load(settings: &Settings) -> Result<Self> {
        // First: a misspelled setting would otherwise read as unset, and be reported as such or
        // not at all (`DEVICE_LIMIT` left device limits off).
        let unknown_settings = bindings::check(settings)?;
        let key = playback_key(settings)?;
        let identity::IdentitySection { identity, viewer_ids, session_secret } = identity::load(settings, &key)?;
        let (token_ttl, allowed_origins) = playback::lifetime_and_origins(settings)?;
        let devices = devices::load(settings)?;
        let channels = playback::channels(settings.get(names::CHANNELS), &allowed_origins, devices.is_some())?;
        let chat = chat::load_chat(settings, &channels)?;
        let stages::StagesSection { stages, stage_key, stage_token_ttl } = stages::load(settings)?;
        let (login_url, dev_login) = pages::login(settings, session_secret.is_some())?;
        let signin = signin::load(settings, &identity.providers, session_secret.as_deref())?;
        let (player, brand) = pages::look(settings)?;
        Ok(Self {
            key,
            identity,
            channels,
            stages,
            stage_key,
            stage_token_ttl,
            token_ttl,
            allowed_origins,
            viewer_ids,
            login_url,
            dev_login,
            player,
            brand,
            signin,
            devices,
            chat,
            unknown_settings,
        })
    }

    /// The channels whose viewers count toward their device limit (none without `DEVICE_LIMITS`),
    /// as the ledger names them.
    pub fn limited_channels(&self) -> Vec<ChannelRef<'_>> {
        self.channels.values().filter(|c| c.device_limit).map(|c| ChannelRef { name: &c.name, arn: &c.arn }).collect()
    }

    /// What the playback policy reads: the key, the viewer-id key, lifetime, origins, and beside
    /// them `cache`, the isolate's reusable tokens ([`crate::isolate::IsolateState::tokens`]).
    pub fn playback_settings<'c>(&'c self, cache: &'c TokenCache) -> PlaybackSettings<'c> {
        PlaybackSettings {
            key: &self.key,
            viewer_ids: &self.viewer_ids,
            token_ttl: self.token_ttl,
            allowed_origins: &self.allowed_origins,
            cache,
        }
    }

    /// What the stage policy reads: participant tokens are signed with `STAGE_PRIVATE_KEY`, else
    /// `PLAYBACK_PRIVATE_KEY`.
    pub fn stage_settings(&self) -> StageSettings<'_> {
        StageSettings {
            key: self.stage_key.as_ref().unwrap_or(&self.key),
            viewer_ids: &self.viewer_ids,
            token_ttl: self.stage_token_ttl,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) const SESSION_SECRET: &str = "test-session-secret-0123456789abcdef";

    pub(crate) fn settings() -> Settings {
        let key = PlaybackKey::from_scalar_bytes(&[3u8; 48]).unwrap();
        Settings::new()
            .with(names::PLAYBACK_PRIVATE_KEY, key.to_sec1_pem())
            .with(names::SESSION_SECRET, SESSION_SECRET)
            .with(
                names::CHANNELS,
                r#"{"demo": {"arn": "arn:aws:ivs:us-west-2:123456789012:channel/demo1", "playback_url": "https://x.live-video.net/demo.m3u8"},
                    "vip": {"arn": "arn:aws:ivs:us-west-2:123456789012:channel/vip1", "playback_url": "https://x.live-video.net/vip.m3u8",
                            "single_use": true, "max_resolution": "HD", "strict_origin": true, "allowed_origins": ["https://a.example"]},
                    "open": {"arn": "arn:aws:ivs:us-west-2:123456789012:channel/open1", "playback_url": "https://x.live-video.net/open.m3u8",
                             "viewer_binding": false}}"#,
            )
    }

    fn error_for(settings: &Settings) -> String {
        Config::load(settings).unwrap_err().to_string()
    }

    #[test]
    fn loads_with_defaults() {
        let config = Config::load(&settings()).unwrap();
        let tokens = TokenCache::default();
        assert_eq!(config.identity.cookie_name, "session");
        assert_eq!(config.token_ttl, 300);
        assert_eq!(config.channels.len(), 3);
        assert_eq!(config.playback_settings(&tokens).token_origins(&config.channels["demo"]), "*");
        assert_eq!(config.playback_settings(&tokens).token_origins(&config.channels["vip"]), "https://a.example");
        let with_origins =
            Config::load(&settings().with(names::ALLOWED_ORIGINS, "https://a.com, https://b.com")).unwrap();
        assert_eq!(
            with_origins.playback_settings(&tokens).token_origins(&with_origins.channels["demo"]),
            "https://a.com,https://b.com"
        );
    }

    #[test]
    fn page_settings() {
        let config = Config::load(&settings()).unwrap();
        assert_eq!((config.login_url, config.dev_login), (None, false));
        let config = Config::load(
            &settings()
                .with(names::LOGIN_URL, "https://auth.example/login?app=tv")
                .with(names::DEV_LOGIN, "true")
                .with(names::PLAYER_SCRIPT_URL, "/player/hls.min.js"),
        )
        .unwrap();
        assert_eq!(config.login_url.as_deref(), Some("https://auth.example/login?app=tv"));
        assert!(config.dev_login);
        assert_eq!(config.player.script_url, "/player/hls.min.js");
        assert!(Config::load(&settings().with(names::LOGIN_URL, "/login")).is_ok());
        assert!(Config::load(&settings().with(names::LOGIN_URL, "http://localhost:3000/login")).is_ok());
    }

    /// Outside review (issue 16), finding 1: `LOGIN_URL` and `PLAYER_SCRIPT_URL` refuse userinfo;
    /// the host is what follows the `@`, so these are remote hosts, not localhost.
    #[test]
    fn url_settings_refuse_userinfo() {
        for (name, url) in [
            (names::LOGIN_URL, "http://localhost:1@203.0.113.7/login"),
            (names::LOGIN_URL, "http://[::1]@evil.example/login"),
            (names::LOGIN_URL, "https://user:hunter2@auth.example/login"),
            (names::PLAYER_SCRIPT_URL, "https://user:hunter2@cdn.example/player.js"),
            (names::PLAYER_SCRIPT_URL, "https://cdn.example@evil.example/player.js"),
        ] {
            let err = error_for(&settings().with(name, url));
            assert!(err.starts_with(&format!("setting {name}: ")), "{url} -> {err}");
            assert!(err.contains("user name or password"), "{url} -> {err}");
            assert!(!err.contains("hunter2") && !err.contains("localhost:1@"), "{err}");
        }
    }

    /// Outside review (issue 16), finding 4: origin settings refuse a wildcard over a public suffix
    /// and plain http off this machine, naming the setting (and the channel and field).
    #[test]
    fn origin_settings_refuse_what_no_one_should_deploy() {
        let channel = |origins: &str| {
            format!(
                r#"{{"x": {{"arn": "arn:aws:ivs:us-west-2:123456789012:channel/a", "playback_url": "https://a.example/b.m3u8", "allowed_origins": {origins}}}}}"#
            )
        };
        let cases = [
            (
                settings().with(names::ALLOWED_ORIGINS, "https://app.example, https://*.com"),
                "setting ALLOWED_ORIGINS: `https://*.com` ",
            ),
            (settings().with(names::ALLOWED_ORIGINS, "https://*.co.uk"), "setting ALLOWED_ORIGINS: `https://*.co.uk` "),
            (
                settings().with(names::ALLOWED_ORIGINS, "http://app.example"),
                "setting ALLOWED_ORIGINS: `http://app.example` must start with https://",
            ),
            (
                settings().with(names::CHANNELS, channel(r#"["https://*.co.uk"]"#)),
                "setting CHANNELS: channel `x`: `allowed_origins` `https://*.co.uk` ",
            ),
            (
                settings().with(names::CHANNELS, channel(r#""http://tv.example""#)),
                "setting CHANNELS: channel `x`: `allowed_origins` `http://tv.example` must start with https://",
            ),
        ];
        for (settings, expected) in cases {
            let err = error_for(&settings);
            assert!(err.starts_with(expected), "expected {expected:?}, got {err:?}");
        }
        let fine = settings().with(names::ALLOWED_ORIGINS, "https://*.example.co.uk, http://localhost:8787");
        assert_eq!(Config::load(&fine).unwrap().allowed_origins.len(), 2);
    }

    /// Outside review (issue 16), finding 4: a secret of the right length that is obviously not
    /// random (32 `a`s, a short pattern repeated, a name padded with one character) is refused,
    /// for each of the three secrets, with the way to make one and without quoting it.
    #[test]
    fn secrets_that_are_not_random_are_refused() {
        let weak = [
            "a".repeat(32),
            "c".repeat(48),
            "abc".repeat(16),
            "password".repeat(4),
            "0123456789abcdef".repeat(2),
            format!("{}b", "a".repeat(31)),
            format!("load-session-secret-{}", "s".repeat(40)),
            "abababababababababababababababababcdcdcdcdcdcdcdcd".into(),
        ];
        for name in [names::SESSION_SECRET, names::SESSION_SECRET_PREVIOUS, names::VIEWER_ID_SECRET] {
            for secret in &weak {
                let err = error_for(&settings().with(name, secret.clone()));
                assert!(err.starts_with(&format!("setting {name}: does not look random")), "{secret}: {err}");
                assert!(err.contains("openssl rand -base64 48"), "{err}");
                assert!(!err.contains(&secret[..6]), "never quotes the secret: {err}");
            }
        }
        // The secrets the tests, benchmarks, fuzzers and the warm-up use are fine.
        for secret in [
            SESSION_SECRET,
            "warm-up-session-secret-not-a-real-one",
            "bench-session-secret-0123456789abcdef",
            "fuzz-session-secret-0123456789abcdefghij",
            "fuzz-previous-secret-0123456789abcdefghij",
            "a-secret-from-before-the-rotation-0123456789",
            "another-secret-another-secret-another!!",
            "test-secret-test-secret-test-secret!",
            "an operator's viewer-id secret, 32+ bytes",
        ] {
            for name in [names::SESSION_SECRET, names::SESSION_SECRET_PREVIOUS, names::VIEWER_ID_SECRET] {
                Config::load(&settings().with(name, secret)).unwrap_or_else(|e| panic!("{secret}: {e}"));
            }
        }
    }

    #[test]
    fn identity_providers_make_the_session_secret_optional() {
        let providers = r#"{"idp": {"issuer": "https://id.example", "audience": "a", "jwks_url": "https://id.example/jwks", "token_from": ["bearer", "cookie:id_token"]}}"#;
        let config =
            Config::load(&settings().with(names::SESSION_SECRET, "").with(names::IDENTITY_PROVIDERS, providers))
                .unwrap();
        assert!(config.identity.sessions.is_none());
        assert_eq!(config.identity.providers.len(), 1);
        let both = Config::load(&settings().with(names::IDENTITY_PROVIDERS, providers)).unwrap();
        assert!(both.identity.sessions.is_some(), "the cookie stays a first-class source");
        let cases = [
            (settings().with(names::SESSION_SECRET, "").with(names::IDENTITY_PROVIDERS, providers).with(names::DEV_LOGIN, "true"), "setting DEV_LOGIN: needs SESSION_SECRET"),
            (settings().with(names::IDENTITY_PROVIDERS, providers).with(names::SESSION_COOKIE, "id_token"), "setting IDENTITY_PROVIDERS: provider `idp`: field `token_from`: cookie `id_token` is also SESSION_COOKIE"),
            (settings().with(names::IDENTITY_PROVIDERS, "[]"), "setting IDENTITY_PROVIDERS: must be an object"),
        ];
        for (settings, expected) in cases {
            let err = error_for(&settings);
            assert!(err.starts_with(expected), "expected {expected:?}, got {err:?}");
        }
    }

    #[test]
    fn channels_may_arrive_as_a_json_string() {
        let text = settings().get(names::CHANNELS).unwrap().to_owned();
        let quoted = serde_json::to_string(&text).unwrap();
        assert_eq!(Config::load(&settings().with(names::CHANNELS, quoted)).unwrap().channels.len(), 3);
    }

    pub(crate) const AWS_SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    pub(crate) const ADMIN_TOKEN: &str = "test-admin-token-0123456789abcdefghij";

    /// The test settings with device limits: every channel limited but `open` (no viewer binding).
    pub(crate) fn device_settings() -> Settings {
        let channels = settings()
            .get(names::CHANNELS)
            .unwrap()
            .replace(r#""viewer_binding": false"#, r#""viewer_binding": false, "device_limit": false"#);
        settings()
            .with(names::CHANNELS, channels)
            .with(names::DEVICE_LIMITS, r#"{"default": 2, "groups": {"family": 4}, "on_limit": "evict-oldest"}"#)
            .with(names::AWS_ACCESS_KEY_ID, "AKIAIOSFODNN7EXAMPLE")
            .with(names::AWS_SECRET_ACCESS_KEY, AWS_SECRET)
    }

    #[test]
    fn device_limits_change_nothing_unless_set() {
        let config = Config::load(&settings()).unwrap();
        assert!(config.devices.is_none());
        assert!(config.channels.values().all(|c| !c.device_limit));
        assert!(config.limited_channels().is_empty());
        // The AWS secrets and the endpoint are not even read without DEVICE_LIMITS.
        let ignored = settings().with(names::AWS_ACCESS_KEY_ID, "junk").with(names::IVS_API_ENDPOINT, "junk");
        assert!(Config::load(&ignored).unwrap().devices.is_none());
    }

    #[test]
    fn device_limits_with_their_key_endpoint_and_operator_token() {
        let config = Config::load(&device_settings()).unwrap();
        let devices = config.devices.as_ref().unwrap();
        assert_eq!(devices.limits.limit_for(&["family".into()]), 4);
        assert_eq!(devices.credentials.access_key_id(), "AKIAIOSFODNN7EXAMPLE");
        assert_eq!((devices.ivs_endpoint.as_deref(), devices.admin_token.is_none()), (None, true));
        let limited: Vec<&str> = config.limited_channels().iter().map(|c| c.name).collect();
        assert_eq!(limited, ["demo", "vip"], "on by default; `open` opted out");
        let config = Config::load(
            &device_settings()
                .with(names::AWS_SESSION_TOKEN, "FwoGZXIvYXdzEBYaDk")
                .with(names::IVS_API_ENDPOINT, "http://127.0.0.1:8788/")
                .with(names::ADMIN_API_TOKEN, ADMIN_TOKEN),
        )
        .unwrap();
        let devices = config.devices.as_ref().unwrap();
        assert_eq!(devices.credentials.session_token(), Some("FwoGZXIvYXdzEBYaDk"));
        assert_eq!(devices.ivs_endpoint.as_deref(), Some("http://127.0.0.1:8788"));
        assert!(devices.admin_token.as_ref().unwrap().matches(ADMIN_TOKEN));
        let opt_out = device_settings().with(
            names::CHANNELS,
            r#"{"a": {"arn": "arn:aws:ivs:us-west-2:123456789012:channel/a", "playback_url": "https://a/b.m3u8", "device_limit": false}}"#,
        );
        assert!(Config::load(&opt_out).unwrap().limited_channels().is_empty());
    }

    #[test]
    fn device_limit_errors_name_the_setting_and_the_rule() {
        let open_bound = r#"{"open": {"arn": "arn:aws:ivs:us-west-2:123456789012:channel/a", "playback_url": "https://a/b.m3u8", "viewer_binding": false}}"#;
        let cases = [
            (device_settings().with(names::DEVICE_LIMITS, r#"{"default": 0}"#), "setting DEVICE_LIMITS: field `default` must be a whole number of devices from 1 to 100"),
            (device_settings().with(names::DEVICE_LIMITS, r#"{"default": 1, "max": 2}"#), "setting DEVICE_LIMITS: has unknown field `max`"),
            (device_settings().with(names::DEVICE_LIMITS, r#"{"default": 1, "idle_seconds": 1}"#), "setting DEVICE_LIMITS: field `idle_seconds`"),
            (device_settings().with(names::AWS_ACCESS_KEY_ID, ""), "setting AWS_ACCESS_KEY_ID: is not set; DEVICE_LIMITS needs AWS_ACCESS_KEY_ID (an AWS key"),
            (device_settings().with(names::AWS_ACCESS_KEY_ID, "").with(names::AWS_SECRET_ACCESS_KEY, ""), "setting AWS_ACCESS_KEY_ID: is not set; DEVICE_LIMITS needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"),
            (device_settings().with(names::AWS_SECRET_ACCESS_KEY, ""), "setting AWS_SECRET_ACCESS_KEY: is not set"),
            (device_settings().with(names::AWS_ACCESS_KEY_ID, "not-a-key-id-value"), "setting AWS_ACCESS_KEY_ID: must be 16 to 128"),
            (device_settings().with(names::AWS_SECRET_ACCESS_KEY, "short-secret"), "setting AWS_SECRET_ACCESS_KEY: is 12 bytes"),
            (device_settings().with(names::AWS_ACCESS_KEY_ID, "ASIAIOSFODNN7EXAMPLE"), "setting AWS_SESSION_TOKEN: is missing"),
            (device_settings().with(names::IVS_API_ENDPOINT, "http://ivs.example"), "setting IVS_API_ENDPOINT: `http://ivs.example` must start with https://"),
            (device_settings().with(names::IVS_API_ENDPOINT, "https://ivs.example/v1"), "setting IVS_API_ENDPOINT: `https://ivs.example/v1` must be an origin"),
            (device_settings().with(names::ADMIN_API_TOKEN, "short-admin-token"), "setting ADMIN_API_TOKEN: is 17 bytes; it must be at least 32"),
            (settings().with(names::ADMIN_API_TOKEN, ADMIN_TOKEN), "setting ADMIN_API_TOKEN: needs DEVICE_LIMITS"),
            (device_settings().with(names::CHANNELS, open_bound), "setting CHANNELS: channel `open`: device_limit (on by default with DEVICE_LIMITS) needs viewer_binding"),
            (device_settings().with(names::CHANNELS, open_bound.replace("false", "false, \"device_limit\": true")), "setting CHANNELS: channel `open`: device_limit needs viewer_binding"),
            (settings().with(names::CHANNELS, r#"{"a": {"arn": "arn:aws:ivs:us-west-2:123456789012:channel/a", "playback_url": "https://a/b.m3u8", "device_limit": true}}"#), "setting CHANNELS: channel `a`: device_limit = true needs DEVICE_LIMITS"),
        ];
        for (settings, expected) in cases {
            let err = error_for(&settings);
            assert!(err.starts_with(expected), "expected {expected:?}, got {err:?}");
            for secret in [AWS_SECRET, ADMIN_TOKEN, "short-secret", "short-admin-token"] {
                assert!(!err.contains(secret), "{err}");
            }
        }
    }

    #[test]
    fn every_error_names_its_setting_and_hides_secrets() {
        let cases = [
            (settings().with(names::PLAYBACK_PRIVATE_KEY, ""), "setting PLAYBACK_PRIVATE_KEY: is not set"),
            (settings().with(names::PLAYBACK_PRIVATE_KEY, "garbage-key-value"), "setting PLAYBACK_PRIVATE_KEY: the key is neither PEM"),
            (settings().with(names::SESSION_SECRET, "  "), "setting SESSION_SECRET: is not set"),
            (settings().with(names::SESSION_SECRET, "short-secret-value"), "setting SESSION_SECRET: is 18 bytes"),
            (settings().with(names::SESSION_SECRET_PREVIOUS, "short-previous"), "setting SESSION_SECRET_PREVIOUS: is 14 bytes"),
            (settings().with(names::VIEWER_ID_SECRET, "short"), "setting VIEWER_ID_SECRET"),
            (settings().with(names::SESSION_COOKIE, "a b"), "setting SESSION_COOKIE"),
            (settings().with(names::TOKEN_TTL_SECONDS, "0"), "setting TOKEN_TTL_SECONDS: must be a whole number"),
            (settings().with(names::TOKEN_TTL_SECONDS, "86401"), "setting TOKEN_TTL_SECONDS"),
            (settings().with(names::TOKEN_TTL_SECONDS, "5m"), "setting TOKEN_TTL_SECONDS"),
            (settings().with(names::ALLOWED_ORIGINS, "example.com"), "setting ALLOWED_ORIGINS: `example.com` is not an origin"),
            (settings().with(names::CHANNELS, ""), "setting CHANNELS: is not set"),
            (settings().with(names::LOGIN_URL, "javascript:alert(1)"), "setting LOGIN_URL"),
            (settings().with(names::LOGIN_URL, "http://login.example/"), "setting LOGIN_URL"),
            (settings().with(names::LOGIN_URL, "//evil.example/"), "setting LOGIN_URL"),
            (settings().with(names::DEV_LOGIN, "yes"), "setting DEV_LOGIN: must be true or false"),
            (settings().with(names::PLAYER_SCRIPT_URL, "http://cdn.example/p.js"), "setting PLAYER_SCRIPT_URL"),
            (settings().with(names::PLAYER_SCRIPT_URL, "https://cdn.example/p.js;x.js"), "setting PLAYER_SCRIPT_URL: must not contain `;` or `,`"),
            (settings().with(names::PAGE_BRAND, r#"{"title": "x", "colors": {"accent": "red;}</style><script>"}}"#), "setting PAGE_BRAND: field `colors.accent` must be a colour"),
            (settings().with(names::PAGE_BRAND, r#"{"title": "x", "logo_url": "javascript:alert(1)"}"#), "setting PAGE_BRAND: field `logo_url` must be an https URL"),
            (settings().with(names::CHANNELS, "{"), "setting CHANNELS: is not valid JSON"),
            (settings().with(names::CHANNELS, "[]"), "setting CHANNELS: must be an object"),
            (settings().with(names::CHANNELS, "{}"), "setting CHANNELS: must configure at least one channel"),
            (settings().with(names::CHANNELS, r#"{"x": {"arn": "arn:aws:ivs:us-west-2:123456789012:channel/a", "playback_url": "https://a/b.m3u8", "strict_origin": true}}"#), "setting CHANNELS: channel `x`: strict_origin needs 1 to 5"),
        ];
        for (settings, expected) in cases {
            let err = error_for(&settings);
            assert!(err.starts_with(expected), "expected {expected:?}, got {err:?}");
            assert!(!err.contains("garbage-key-value") && !err.contains("short-secret-value"));
        }
    }
}
