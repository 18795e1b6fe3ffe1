//! The policy that turns (configuration, channel, verified session) into a signed token: which
//! claims, which lifetime. Every way the worker issues a token (JSON API, watch page) goes here.

use super::claims::{sign, uuid_v4, PlaybackClaims};
use super::Channel;
use crate::error::{Error, Result};
use crate::identity::viewer_id::ViewerIdKey;
use crate::identity::Session;
use crate::ivs::Resolution;
use crate::key::PlaybackKey;
use std::collections::BTreeMap;

/// What the playback policy reads from the worker's settings besides the channel table.
#[derive(Debug, Clone, Copy)]
pub struct PlaybackSettings<'c> {
    /// The signing key (`PLAYBACK_PRIVATE_KEY`).
    pub key: &'c PlaybackKey,
    /// Key for `aws:viewer-id`.
    pub viewer_ids: &'c ViewerIdKey,
    /// `TOKEN_TTL_SECONDS` (before the 600 s cap for bound tokens).
    pub token_ttl: u64,
    /// `ALLOWED_ORIGINS`; empty when unset.
    pub allowed_origins: &'c [String],
    /// Signed tokens shareable between viewers, reused briefly.
    pub cache: &'c TokenCache,
}

impl PlaybackSettings<'_> {
    /// The origins a channel's tokens carry: its own list, else `ALLOWED_ORIGINS`, else `*`.
    pub fn token_origins(&self, channel: &Channel) -> String {
        match (&channel.allowed_origins, self.allowed_origins.is_empty()) {
            (Some(list), _) => list.join(","),
            (None, false) => self.allowed_origins.join(","),
            (None, true) => "*".to_owned(),
        }
    }
}

/// A token issued for one viewer and channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedToken {
    /// Channel name.
    pub channel: String,
    /// The signed JWT.
    pub token: String,
    /// The channel's playback URL with `?token=` appended.
    pub playback_url: String,
    /// The token's `exp`, Unix seconds.
    pub expires_at: u64,
}

/// Look up `name` and check that `session`, requesting from `country`, may watch it: the
/// session's `channels` grant, then the channel's own access rules (groups, countries).
pub fn authorize<'c>(
    channels: &'c BTreeMap<String, Channel>,
    session: &Session,
    name: &str,
    country: Option<&str>,
) -> Result<&'c Channel> {
    let channel = channels.get(name).ok_or_else(|| Error::UnknownChannel(name.to_owned()))?;
    if !session.channels.allows(name) {
        return Err(Error::ChannelForbidden(name.to_owned()));
    }
    channel.access.check(session, country).map_err(|rule| Error::ChannelRule { channel: name.to_owned(), rule })?;
    Ok(channel)
}

/// The claims for `session` watching `channel` at `now`. `random` feeds `aws:single-use-uuid`.
///
/// - origins: the channel's list, else `ALLOWED_ORIGINS`, else `*`;
/// - viewer binding (default on): `aws:viewer-id` derived from the session's source and `sub`,
///   and `sv` as the version;
/// - resolution: the lower of the channel's and the session's caps;
/// - lifetime: `TOKEN_TTL_SECONDS`, at most 600 s when a viewer id or single-use id is present.
pub fn claims_for(
    config: &PlaybackSettings<'_>,
    channel: &Channel,
    session: &Session,
    now: u64,
    random: [u8; 16],
) -> PlaybackClaims {
    claims_with(config, channel, session, None, now, random)
}

/// [`claims_for`] on a device-limited channel: `aws:viewer-session-version` is the version the
/// viewer's device ledger admitted this device with (see [`crate::device::ledger`]), not `sv`.
pub fn admitted_claims(
    config: &PlaybackSettings<'_>,
    channel: &Channel,
    session: &Session,
    version: i64,
    now: u64,
    random: [u8; 16],
) -> PlaybackClaims {
    claims_with(config, channel, session, Some(version), now, random)
}

fn claims_with(
    config: &PlaybackSettings<'_>,
    channel: &Channel,
    session: &Session,
    admitted: Option<i64>,
    now: u64,
    random: [u8; 16],
) -> PlaybackClaims {
    let mut claims = PlaybackClaims::new(&channel.arn, now, config.token_ttl);
    claims.allowed_origin = Some(config.token_origins(channel));
    claims.strict_origin = channel.strict_origin.then_some(true);
    if channel.viewer_binding {
        claims.viewer_id = Some(config.viewer_ids.viewer_id_for(session));
        claims.viewer_session_version = Some(admitted.unwrap_or(session.session_version));
    }
    if channel.single_use {
        claims.single_use_uuid = Some(uuid_v4(random));
    }
    claims.maximum_resolution = match (channel.max_resolution, session.max_resolution) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    claims.clamp_expiry();
    claims
}

/// How long a signed token may be handed out again: a fifth of its lifetime, at most 60 s, so a
/// reused token always has at least 80% of its lifetime left.
pub fn reuse_window(ttl: u64) -> u64 {
    (ttl / 5).min(60)
}

/// Tokens already signed, by (channel, resolution cap), for reuse within [`reuse_window`].
/// Only tokens without `aws:viewer-id` and `aws:single-use-uuid` go here: their claims are the
/// same for every viewer of the channel, so a copy reveals nothing and grants nothing more.
/// Runtime state, not configuration: it lives in [`crate::isolate::IsolateState`], beside the
/// worker's configuration, and a new configuration (a new key, new settings) starts with an empty
/// cache.
#[derive(Debug, Clone, Default)]
pub struct TokenCache(std::cell::RefCell<std::collections::HashMap<ReuseKey, (u64, IssuedToken)>>);

/// A reusable token's identity: the channel name and the resolution cap.
type ReuseKey = (String, Option<Resolution>);

/// Sign a token for `session` on `channel`, or reuse an identical one signed moments ago.
pub fn issue(
    config: &PlaybackSettings<'_>,
    channel: &Channel,
    session: &Session,
    now: u64,
    random: [u8; 16],
) -> IssuedToken {
    issue_claims(config, channel, claims_for(config, channel, session, now, random))
}

/// Sign a token for a device the viewer's ledger admitted on a device-limited channel, carrying
/// the admitted `version` as `aws:viewer-session-version` (never reused: it is viewer-bound).
pub fn issue_admitted(
    config: &PlaybackSettings<'_>,
    channel: &Channel,
    session: &Session,
    version: i64,
    now: u64,
    random: [u8; 16],
) -> IssuedToken {
    issue_claims(config, channel, admitted_claims(config, channel, session, version, now, random))
}

fn issue_claims(config: &PlaybackSettings<'_>, channel: &Channel, claims: PlaybackClaims) -> IssuedToken {
    let now = claims.iat;
    let shareable = !claims.is_bound();
    let cache_key = (channel.name.clone(), claims.maximum_resolution);
    if shareable {
        if let Some((iat, issued)) = config.cache.0.borrow().get(&cache_key) {
            if *iat <= now && now < iat.saturating_add(reuse_window(config.token_ttl)) {
                return issued.clone();
            }
        }
    }
    let token = sign(&claims, config.key);
    let issued = IssuedToken {
        channel: channel.name.clone(),
        playback_url: format!("{}?token={token}", channel.playback_url),
        token,
        expires_at: claims.exp,
    };
    if shareable {
        config.cache.0.borrow_mut().insert(cache_key, (claims.iat, issued.clone()));
    }
    issued
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::claims::verify;
    use crate::config::{names, tests::settings, Config};
    use crate::identity::ChannelGrant;

    const NOW: u64 = 1_800_000_000;

    fn session(grant: ChannelGrant, max: Option<Resolution>) -> Session {
        Session {
            channels: grant,
            max_resolution: max,
            session_version: 4,
            ..Session::new("alice@example.com", NOW + 3600)
        }
    }

    #[test]
    fn default_channel_is_viewer_bound_and_capped() {
        let config = Config::load(&settings().with(names::TOKEN_TTL_SECONDS, "3600")).unwrap();
        let tokens = TokenCache::default();
        let s = session(ChannelGrant::All, None);
        let issued = issue(&config.playback_settings(&tokens), &config.channels["demo"], &s, NOW, [0; 16]);
        let verified = verify(&issued.token, &[config.key.public_key()], NOW).unwrap();
        let c = &verified.claims;
        assert_eq!(c["aws:channel-arn"], "arn:aws:ivs:us-west-2:123456789012:channel/demo1");
        assert_eq!(c["aws:viewer-id"], config.viewer_ids.viewer_id(None, "alice@example.com"));
        assert_eq!(c["aws:viewer-session-version"], 4);
        assert_eq!(c["exp"], NOW + 600, "viewer-bound tokens are capped at 600 s");
        assert_eq!(c["iat"], NOW);
        assert_eq!(c["aws:access-control-allow-origin"], "*");
        assert!(c.get("aws:single-use-uuid").is_none() && c.get("aws:strict-origin-enforcement").is_none());
        assert_eq!(issued.expires_at, NOW + 600);
        assert_eq!(issued.playback_url, format!("https://x.live-video.net/demo.m3u8?token={}", issued.token));
    }

    #[test]
    fn a_limited_channel_carries_the_admitted_version() {
        let config = Config::load(&crate::config::tests::device_settings()).unwrap();
        let tokens = TokenCache::default();
        let demo = &config.channels["demo"];
        assert!(demo.device_limit);
        let s = session(ChannelGrant::All, None);
        let issued = issue_admitted(&config.playback_settings(&tokens), demo, &s, 1_800_000_007, NOW, [0; 16]);
        let c = verify(&issued.token, &[config.key.public_key()], NOW).unwrap().claims;
        assert_eq!(c["aws:viewer-session-version"], 1_800_000_007, "the ledger's version, not sv");
        assert_eq!(c["aws:viewer-id"], config.viewer_ids.viewer_id(None, "alice@example.com"));
        assert_eq!(c["exp"], NOW + 300);
        let plain = issue(&config.playback_settings(&tokens), demo, &s, NOW, [0; 16]);
        let c = verify(&plain.token, &[config.key.public_key()], NOW).unwrap().claims;
        assert_eq!(c["aws:viewer-session-version"], 4, "the unlimited path still carries sv");
        assert!(tokens.0.borrow().is_empty());
    }

    #[test]
    fn unbound_channel_uses_the_configured_ttl() {
        let config = Config::load(&settings().with(names::TOKEN_TTL_SECONDS, "3600")).unwrap();
        let tokens = TokenCache::default();
        let issued = issue(
            &config.playback_settings(&tokens),
            &config.channels["open"],
            &session(ChannelGrant::All, None),
            NOW,
            [0; 16],
        );
        let c = verify(&issued.token, &[config.key.public_key()], NOW).unwrap().claims;
        assert_eq!(c["exp"], NOW + 3600);
        assert!(c.get("aws:viewer-id").is_none() && c.get("aws:viewer-session-version").is_none());
    }

    #[test]
    fn single_use_strict_and_resolution() {
        let config = Config::load(&settings()).unwrap();
        let tokens = TokenCache::default();
        let vip = &config.channels["vip"];
        let a = issue(
            &config.playback_settings(&tokens),
            vip,
            &session(ChannelGrant::All, Some(Resolution::FullHd)),
            NOW,
            [1; 16],
        );
        let b = issue(
            &config.playback_settings(&tokens),
            vip,
            &session(ChannelGrant::All, Some(Resolution::Sd)),
            NOW,
            [2; 16],
        );
        let ca = verify(&a.token, &[config.key.public_key()], NOW).unwrap().claims;
        let cb = verify(&b.token, &[config.key.public_key()], NOW).unwrap().claims;
        assert_eq!(ca["aws:maximum-resolution"], "HD", "channel cap wins when lower");
        assert_eq!(cb["aws:maximum-resolution"], "SD", "session cap wins when lower");
        assert_eq!(ca["aws:strict-origin-enforcement"], true);
        assert_eq!(ca["aws:access-control-allow-origin"], "https://a.example");
        assert_ne!(ca["aws:single-use-uuid"], cb["aws:single-use-uuid"]);
        assert_eq!(ca["exp"], NOW + 300);
    }

    #[test]
    fn shareable_tokens_are_reused_within_the_window_only() {
        let config = Config::load(&settings()).unwrap(); // TTL 300: window 60 s
        let tokens = TokenCache::default();
        let open = &config.channels["open"];
        let first = issue(&config.playback_settings(&tokens), open, &session(ChannelGrant::All, None), NOW, [0; 16]);
        let again =
            issue(&config.playback_settings(&tokens), open, &session(ChannelGrant::All, None), NOW + 59, [0; 16]);
        assert_eq!(first, again, "same claims within 60 s: the signed token is reused");
        let other_cap = issue(
            &config.playback_settings(&tokens),
            open,
            &session(ChannelGrant::All, Some(Resolution::Sd)),
            NOW + 1,
            [0; 16],
        );
        assert_ne!(first.token, other_cap.token, "a different resolution cap is a different token");
        let later =
            issue(&config.playback_settings(&tokens), open, &session(ChannelGrant::All, None), NOW + 60, [0; 16]);
        assert_ne!(first.token, later.token, "outside the window: signed afresh");
        let c = verify(&later.token, &[config.key.public_key()], NOW + 60).unwrap().claims;
        assert_eq!(c["iat"], NOW + 60);
        let clock_went_back =
            issue(&config.playback_settings(&tokens), open, &session(ChannelGrant::All, None), NOW + 30, [0; 16]);
        assert_ne!(clock_went_back.token, later.token);
    }

    #[test]
    fn bound_tokens_are_never_reused() {
        let config = Config::load(&settings()).unwrap();
        let tokens = TokenCache::default();
        let s = session(ChannelGrant::All, None);
        let a = issue(&config.playback_settings(&tokens), &config.channels["demo"], &s, NOW, [0; 16]);
        let b = issue(&config.playback_settings(&tokens), &config.channels["demo"], &s, NOW + 1, [0; 16]);
        assert_ne!(a.token, b.token, "viewer-bound");
        let c = issue(&config.playback_settings(&tokens), &config.channels["vip"], &s, NOW, [1; 16]);
        let d = issue(&config.playback_settings(&tokens), &config.channels["vip"], &s, NOW, [2; 16]);
        assert_ne!(c.token, d.token, "single-use");
        assert!(tokens.0.borrow().is_empty());
    }

    #[test]
    fn reuse_window_is_a_fifth_capped_at_a_minute() {
        assert_eq!(reuse_window(300), 60);
        assert_eq!(reuse_window(100), 20);
        assert_eq!(reuse_window(4), 0);
        assert_eq!(reuse_window(86_400), 60);
    }

    #[test]
    fn authorization() {
        let config = Config::load(&settings()).unwrap();
        let only_demo = session(ChannelGrant::Only(vec!["demo".into()]), None);
        assert!(authorize(&config.channels, &only_demo, "demo", None).is_ok());
        assert_eq!(
            authorize(&config.channels, &only_demo, "vip", None).unwrap_err(),
            Error::ChannelForbidden("vip".into())
        );
        assert_eq!(
            authorize(&config.channels, &only_demo, "nope", None).unwrap_err(),
            Error::UnknownChannel("nope".into())
        );
    }
}
