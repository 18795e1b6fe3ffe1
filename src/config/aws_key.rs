//! The AWS key the worker holds (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
//! `AWS_SESSION_TOKEN`): read once, for every feature that calls AWS (device limits' revocations,
//! IVS Chat), each saying why it needs it when it is missing.

use crate::aws::{Credentials, Part};
use crate::config::names;
use crate::config::settings::Settings;
use crate::error::{Error, Result};

/// The AWS key (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), required:
/// `why` says which feature needs it, `{}` standing for the missing names.
pub(super) fn aws_key(settings: &Settings, why: &str) -> Result<Credentials> {
    use names::*;
    let missing: Vec<&str> =
        [AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY].into_iter().filter(|name| settings.get(name).is_none()).collect();
    if let Some(first) = missing.first() {
        return Err(Error::setting(
            first,
            format!("is not set; {}; set it with `wrangler secret put`", why.replace("{}", &missing.join(" and "))),
        ));
    }
    let credentials = Credentials::new(
        settings.get(AWS_ACCESS_KEY_ID).unwrap_or_default(),
        settings.get(AWS_SECRET_ACCESS_KEY).unwrap_or_default(),
        settings.get(AWS_SESSION_TOKEN),
    );
    credentials.check().map_err(|(part, rule)| {
        let name = match part {
            Part::AccessKeyId => AWS_ACCESS_KEY_ID,
            Part::SecretAccessKey => AWS_SECRET_ACCESS_KEY,
            Part::SessionToken => AWS_SESSION_TOKEN,
        };
        Error::setting(name, rule)
    })?;
    Ok(credentials)
}
