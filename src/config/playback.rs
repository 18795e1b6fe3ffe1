//! The playback section: `TOKEN_TTL_SECONDS`, `ALLOWED_ORIGINS` and the `CHANNELS` table.

use super::names::*;
use super::settings::Settings;
use crate::address::check_origin;
use crate::channel::claims::STRICT_ORIGIN_MAX;
use crate::channel::Channel;
use crate::error::{Error, Result};
use crate::text::split_list;
use std::collections::BTreeMap;

/// Default token lifetime.
pub const DEFAULT_TOKEN_TTL: u64 = 300;
/// Longest configurable token lifetime (one day).
pub const MAX_TOKEN_TTL: u64 = 86_400;

/// `TOKEN_TTL_SECONDS` and `ALLOWED_ORIGINS`, read before the device limits as they always were
/// (so the first broken setting reported stays the same); the channels come after them.
pub(super) fn lifetime_and_origins(settings: &Settings) -> Result<(u64, Vec<String>)> {
    let token_ttl = match settings.get(TOKEN_TTL_SECONDS) {
        None => DEFAULT_TOKEN_TTL,
        Some(text) => text.parse::<u64>().ok().filter(|n| (1..=MAX_TOKEN_TTL).contains(n)).ok_or_else(|| {
            Error::setting(TOKEN_TTL_SECONDS, format!("must be a whole number of seconds from 1 to {MAX_TOKEN_TTL}"))
        })?,
    };
    let allowed_origins = settings.get(ALLOWED_ORIGINS).map(split_list).unwrap_or_default();
    for origin in &allowed_origins {
        check_origin(origin).map_err(|e| Error::setting(ALLOWED_ORIGINS, e))?;
    }
    Ok((token_ttl, allowed_origins))
}

/// `CHANNELS`: `default_origins` is `ALLOWED_ORIGINS`, `device_limits` whether `DEVICE_LIMITS` is set.
pub(super) fn channels(
    text: Option<&str>,
    default_origins: &[String],
    device_limits: bool,
) -> Result<BTreeMap<String, Channel>> {
    let text = text.ok_or_else(|| {
        Error::setting(CHANNELS, "is not set; add a [vars.CHANNELS] table to wrangler.toml (see docs/configuration.md)")
    })?;
    let value = crate::text::json_setting(text).map_err(|e| Error::setting(CHANNELS, e))?;
    let object = value
        .as_object()
        .ok_or_else(|| Error::setting(CHANNELS, "must be an object mapping channel names to channel settings"))?;
    if object.is_empty() {
        return Err(Error::setting(CHANNELS, "must configure at least one channel"));
    }
    let mut channels = BTreeMap::new();
    for (name, value) in object {
        let mut channel = Channel::from_json(name, value).map_err(|e| Error::setting(CHANNELS, e))?;
        let explicit = value.get("device_limit").is_some_and(|v| !v.is_null());
        if !device_limits {
            if channel.device_limit && explicit {
                return Err(Error::setting(
                    CHANNELS,
                    format!("channel `{name}`: device_limit = true needs DEVICE_LIMITS (the limits to apply); set DEVICE_LIMITS or remove device_limit"),
                ));
            }
            channel.device_limit = false;
        } else if channel.device_limit && !channel.viewer_binding {
            return Err(Error::setting(
                CHANNELS,
                format!(
                    "channel `{name}`: device_limit{} needs viewer_binding: a device is stopped by revoking its viewer id at IVS; set device_limit = false for this channel, or remove viewer_binding = false",
                    if explicit { "" } else { " (on by default with DEVICE_LIMITS)" }
                ),
            ));
        }
        if channel.strict_origin {
            let origins = channel.allowed_origins.as_deref().unwrap_or(default_origins);
            if origins.is_empty() || origins.len() > STRICT_ORIGIN_MAX || origins.iter().any(|o| o == "*") {
                return Err(Error::setting(
                    CHANNELS,
                    format!(
                        "channel `{name}`: strict_origin needs 1 to {STRICT_ORIGIN_MAX} explicit origins (not `*`) in allowed_origins or ALLOWED_ORIGINS; found {}",
                        origins.len()
                    ),
                ));
            }
        }
        channels.insert(name.clone(), channel);
    }
    Ok(channels)
}
