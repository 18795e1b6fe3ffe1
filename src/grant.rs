//! The policy that turns (configuration, channel, verified session) into a signed token: which
//! claims, which lifetime. Every way the worker issues a token (JSON API, watch page) goes here.

use crate::channel::Channel;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::session::Session;
use crate::token::{sign, uuid_v4, PlaybackClaims};

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

/// Look up `name` and check that `session` may watch it.
pub fn authorize<'c>(config: &'c Config, session: &Session, name: &str) -> Result<&'c Channel> {
    let channel = config.channels.get(name).ok_or_else(|| Error::UnknownChannel(name.to_owned()))?;
    if !session.channels.allows(name) {
        return Err(Error::ChannelForbidden(name.to_owned()));
    }
    Ok(channel)
}

/// The claims for `session` watching `channel` at `now`. `random` feeds `aws:single-use-uuid`.
///
/// - origins: the channel's list, else `ALLOWED_ORIGINS`, else `*`;
/// - viewer binding (default on): `aws:viewer-id` derived from `sub`, and `sv` as the version;
/// - resolution: the lower of the channel's and the session's caps;
/// - lifetime: `TOKEN_TTL_SECONDS`, at most 600 s when a viewer id or single-use id is present.
pub fn claims_for(config: &Config, channel: &Channel, session: &Session, now: u64, random: [u8; 16]) -> PlaybackClaims {
    let mut claims = PlaybackClaims::new(&channel.arn, now, config.token_ttl);
    claims.allowed_origin = Some(config.token_origins(channel));
    claims.strict_origin = channel.strict_origin.then_some(true);
    if channel.viewer_binding {
        claims.viewer_id = Some(config.viewer_ids.viewer_id(&session.sub));
        claims.viewer_session_version = Some(session.session_version);
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

/// Sign a token for `session` on `channel`.
pub fn issue(config: &Config, channel: &Channel, session: &Session, now: u64, random: [u8; 16]) -> IssuedToken {
    let claims = claims_for(config, channel, session, now, random);
    let token = sign(&claims, &config.key);
    IssuedToken {
        channel: channel.name.clone(),
        playback_url: format!("{}?token={token}", channel.playback_url),
        token,
        expires_at: claims.exp,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::Resolution;
    use crate::config::{names, tests::settings, Config};
    use crate::session::ChannelGrant;
    use crate::token::verify;

    const NOW: u64 = 1_800_000_000;

    fn session(grant: ChannelGrant, max: Option<Resolution>) -> Session {
        Session { sub: "alice@example.com".into(), exp: NOW + 3600, channels: grant, max_resolution: max, session_version: 4 }
    }

    #[test]
    fn default_channel_is_viewer_bound_and_capped() {
        let config = Config::load(&settings().with(names::TOKEN_TTL_SECONDS, "3600")).unwrap();
        let s = session(ChannelGrant::All, None);
        let issued = issue(&config, &config.channels["demo"], &s, NOW, [0; 16]);
        let verified = verify(&issued.token, &[config.key.public_key()], NOW).unwrap();
        let c = &verified.claims;
        assert_eq!(c["aws:channel-arn"], "arn:aws:ivs:us-west-2:123456789012:channel/demo1");
        assert_eq!(c["aws:viewer-id"], config.viewer_ids.viewer_id("alice@example.com"));
        assert_eq!(c["aws:viewer-session-version"], 4);
        assert_eq!(c["exp"], NOW + 600, "viewer-bound tokens are capped at 600 s");
        assert_eq!(c["iat"], NOW);
        assert_eq!(c["aws:access-control-allow-origin"], "*");
        assert!(c.get("aws:single-use-uuid").is_none() && c.get("aws:strict-origin-enforcement").is_none());
        assert_eq!(issued.expires_at, NOW + 600);
        assert_eq!(issued.playback_url, format!("https://x.live-video.net/demo.m3u8?token={}", issued.token));
    }

    #[test]
    fn unbound_channel_uses_the_configured_ttl() {
        let config = Config::load(&settings().with(names::TOKEN_TTL_SECONDS, "3600")).unwrap();
        let issued = issue(&config, &config.channels["open"], &session(ChannelGrant::All, None), NOW, [0; 16]);
        let c = verify(&issued.token, &[config.key.public_key()], NOW).unwrap().claims;
        assert_eq!(c["exp"], NOW + 3600);
        assert!(c.get("aws:viewer-id").is_none() && c.get("aws:viewer-session-version").is_none());
    }

    #[test]
    fn single_use_strict_and_resolution() {
        let config = Config::load(&settings()).unwrap();
        let vip = &config.channels["vip"];
        let a = issue(&config, vip, &session(ChannelGrant::All, Some(Resolution::FullHd)), NOW, [1; 16]);
        let b = issue(&config, vip, &session(ChannelGrant::All, Some(Resolution::Sd)), NOW, [2; 16]);
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
    fn authorization() {
        let config = Config::load(&settings()).unwrap();
        let only_demo = session(ChannelGrant::Only(vec!["demo".into()]), None);
        assert!(authorize(&config, &only_demo, "demo").is_ok());
        assert_eq!(authorize(&config, &only_demo, "vip").unwrap_err(), Error::ChannelForbidden("vip".into()));
        assert_eq!(authorize(&config, &only_demo, "nope").unwrap_err(), Error::UnknownChannel("nope".into()));
    }
}
