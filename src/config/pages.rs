//! The pages section: `LOGIN_URL`, `DEV_LOGIN`, and the pages' look: `PLAYER_SCRIPT_URL`
//! ([`super::player`]) and `PAGE_BRAND` ([`super::brand`]).

use super::brand::Brand;
use super::names::*;
use super::player::Player;
use super::settings::Settings;
use crate::address::{is_url_safe, parse_url, HTTPS};
use crate::error::{Error, Result};

/// `LOGIN_URL` and `DEV_LOGIN`; `session_secret`: whether `SESSION_SECRET` is set, which
/// `/dev/login` signs in with.
pub(super) fn login(settings: &Settings, session_secret: bool) -> Result<(Option<String>, bool)> {
    let login_url = settings.get(LOGIN_URL).map(str::to_owned);
    if let Some(url) = &login_url {
        check_login_url(url).map_err(|e| Error::setting(LOGIN_URL, e))?;
    }
    let dev_login = match settings.get(DEV_LOGIN) {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(Error::setting(DEV_LOGIN, "must be true or false")),
    };
    if dev_login && !session_secret {
        return Err(Error::setting(
            DEV_LOGIN,
            "needs SESSION_SECRET: /dev/login signs in with the worker's own session cookie",
        ));
    }
    Ok((login_url, dev_login))
}

/// `PLAYER_SCRIPT_URL` and `PAGE_BRAND`, read after sign-in's settings as they always were.
pub(super) fn look(settings: &Settings) -> Result<(Player, Option<Brand>)> {
    let player = match settings.get(PLAYER_SCRIPT_URL) {
        None => Player::default(),
        Some(url) => Player::parse(url).map_err(|e| Error::setting(PLAYER_SCRIPT_URL, e))?,
    };
    let brand = settings.get(PAGE_BRAND).map(Brand::parse).transpose().map_err(|e| Error::setting(PAGE_BRAND, e))?;
    Ok((player, brand))
}

/// `LOGIN_URL`: a path on this worker, or an absolute URL through the one URL parser.
fn check_login_url(url: &str) -> std::result::Result<(), String> {
    const RULE: &str = "must be an https URL (http only for localhost) or a path starting with /, without quotes, spaces or angle brackets";
    if url.starts_with('/') && !url.starts_with("//") {
        return if is_url_safe(url) { Ok(()) } else { Err(RULE.into()) };
    }
    if !url.contains("://") {
        return Err(RULE.into());
    }
    parse_url(url, HTTPS).map(|_| ()).map_err(|e| format!("{RULE}: {e}"))
}
