//! The identity section: `IDENTITY_PROVIDERS`, the worker's own session cookie (`SESSION_SECRET`,
//! `SESSION_SECRET_PREVIOUS`, `SESSION_COOKIE`) and the viewer-id key (`VIEWER_ID_SECRET`).

use super::names::*;
use super::settings::Settings;
use crate::error::{Error, Result};
use crate::identity::provider::{parse_providers, TokenSource};
use crate::identity::session_cookie::{check_secret, SessionSecrets, MAKE_A_SECRET};
use crate::identity::viewer_id::ViewerIdKey;
use crate::identity::Identity;
use crate::key::PlaybackKey;

/// What the identity section gives the configuration.
pub(super) struct IdentitySection {
    /// Providers and the session cookie.
    pub(super) identity: Identity,
    /// The key for `aws:viewer-id`.
    pub(super) viewer_ids: ViewerIdKey,
    /// `SESSION_SECRET`, for what else the worker keys with it (sign-in's state cookie).
    pub(super) session_secret: Option<Vec<u8>>,
}

/// Load the identity section; `key` is the signing key, the viewer-id key's fallback.
pub(super) fn load(settings: &Settings, key: &PlaybackKey) -> Result<IdentitySection> {
    let providers = settings.get(IDENTITY_PROVIDERS).map(parse_providers).transpose()?.unwrap_or_default();
    // With identity providers the worker's own cookie is optional.
    let current = secret_bytes(settings, SESSION_SECRET, providers.is_empty())?;
    let previous = secret_bytes(settings, SESSION_SECRET_PREVIOUS, false)?;
    let viewer_ids = match secret_bytes(settings, VIEWER_ID_SECRET, false)? {
        Some(secret) => ViewerIdKey::from_secret(&secret),
        None => ViewerIdKey::from_playback_key(key),
    };

    let cookie_name = settings.get(SESSION_COOKIE).unwrap_or("session").to_owned();
    if !crate::cookie::is_cookie_name(&cookie_name) {
        return Err(Error::setting(
            SESSION_COOKIE,
            "must be a cookie name: letters, digits and !#$%&'*+-.^_`|~, at most 64",
        ));
    }
    if current.is_some() {
        if let Some(p) = providers.iter().find(|p| p.reads(&TokenSource::Cookie(cookie_name.clone()))) {
            return Err(Error::setting(
                IDENTITY_PROVIDERS,
                format!("provider `{}`: field `token_from`: cookie `{cookie_name}` is also SESSION_COOKIE, the worker's own session cookie; rename one", p.name),
            ));
        }
    }
    let sessions = current.clone().map(|current| SessionSecrets::new(current, previous));
    Ok(IdentitySection { identity: Identity { providers, sessions, cookie_name }, viewer_ids, session_secret: current })
}

/// A secret setting's bytes, checked to look random; `required`: unset is an error.
pub(super) fn secret_bytes(settings: &Settings, name: &'static str, required: bool) -> Result<Option<Vec<u8>>> {
    match settings.get(name) {
        None if required => Err(Error::setting(
            name,
            format!("is not set; set it with `wrangler secret put` (or in .dev.vars for `wrangler dev`) to a random string of 32+ bytes, e.g. {MAKE_A_SECRET}"),
        )),
        None => Ok(None),
        Some(value) => match check_secret(value.as_bytes()) {
            Ok(()) => Ok(Some(value.as_bytes().to_vec())),
            Err(rule) => Err(Error::setting(name, rule)),
        },
    }
}
