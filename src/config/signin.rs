//! The sign-in section: the `login` tables of `IDENTITY_PROVIDERS` and the client secrets they
//! name (see [`crate::signin::settings`]).

use super::names::{self, IDENTITY_PROVIDERS};
use super::settings::Settings;
use crate::error::{Error, Result};
use crate::identity::provider::Provider;
use crate::signin::SignIn;

/// Load the sign-in section for `providers`; `session_secret` keys the state cookie.
pub(super) fn load(settings: &Settings, providers: &[Provider], session_secret: Option<&[u8]>) -> Result<SignIn> {
    // The worker sends a client secret to its provider: it must never be one of the worker's own.
    for provider in providers {
        let named = provider.login.as_ref().and_then(|l| l.get("client_secret")).and_then(|v| v.as_str());
        if let Some(own) = named.filter(|name| names::ALL.contains(name)) {
            return Err(Error::setting(
                IDENTITY_PROVIDERS,
                format!(
                    "provider `{}`: field `login.client_secret` names `{own}`, a setting the worker itself reads, which it would then send to the provider; store the provider's client secret in a secret of its own (like `IDP_CLIENT_SECRET`) and name that",
                    provider.name
                ),
            ));
        }
    }
    SignIn::load(providers, &|name| settings.get(name).map(str::to_owned), session_secret)
        .map_err(|e| Error::setting(IDENTITY_PROVIDERS, e))
}
