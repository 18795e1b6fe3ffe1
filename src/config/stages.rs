//! The stages section: `STAGES`, `STAGE_PRIVATE_KEY` and `STAGE_TOKEN_TTL_SECONDS`.

use super::names::*;
use super::settings::Settings;
use crate::error::{Error, Result};
use crate::key::PlaybackKey;
use crate::stage::Stage;
use std::collections::BTreeMap;

/// Default participant token lifetime.
pub const DEFAULT_STAGE_TOKEN_TTL: u64 = 3600;

/// What the stages section gives the configuration.
pub(super) struct StagesSection {
    /// Stages by name (empty when `STAGES` is unset).
    pub(super) stages: BTreeMap<String, Stage>,
    /// `STAGE_PRIVATE_KEY`, when set.
    pub(super) stage_key: Option<PlaybackKey>,
    /// Participant token lifetime in seconds.
    pub(super) stage_token_ttl: u64,
}

/// Load the stages section.
pub(super) fn load(settings: &Settings) -> Result<StagesSection> {
    let stages = crate::stage::parse_stages(settings.get(STAGES)).map_err(|e| Error::setting(STAGES, e))?;
    let stage_key = settings
        .get(STAGE_PRIVATE_KEY)
        .map(|text| PlaybackKey::parse(text).map_err(|e| Error::setting(STAGE_PRIVATE_KEY, e.to_string())))
        .transpose()?;
    let stage_token_ttl = match settings.get(STAGE_TOKEN_TTL_SECONDS) {
        None => DEFAULT_STAGE_TOKEN_TTL,
        Some(text) => {
            text.parse::<u64>().ok().filter(|n| (1..=crate::stage::claims::MAX_TTL).contains(n)).ok_or_else(|| {
                Error::setting(
                    STAGE_TOKEN_TTL_SECONDS,
                    format!(
                        "must be a whole number of seconds from 1 to {} (14 days, the IVS limit)",
                        crate::stage::claims::MAX_TTL
                    ),
                )
            })?
        }
    };
    Ok(StagesSection { stages, stage_key, stage_token_ttl })
}
