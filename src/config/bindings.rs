//! The deployment's binding names against the settings the worker reads, so that a misspelled
//! setting cannot pass unnoticed.
//!
//! `[vars] DEVICE_LIMIT = ...` (one letter short) used to leave device limits off while `/healthz`
//! said ok. Every binding the deployment has (vars, secrets, Durable Objects, assets) is compared
//! with the settings: a name that is not a setting but is close to one (the same ignoring case, or
//! at most 2 letters added, removed, changed or swapped) is refused with the setting it most
//! likely means; any other UPPER_CASE name the worker does not read is reported, not refused (a
//! deployment may hold bindings for other uses). Only names are compared, never values.

use super::names;
use super::settings::Settings;
use crate::error::{Error, Result};
use crate::text::truncate;

/// Bindings a deployment of this worker has that are not settings: the device ledger's Durable
/// Object (`http::LEDGER_BINDING`, `wrangler.toml`'s `[[durable_objects.bindings]]`) and the
/// static assets, when `[assets]` names a binding `ASSETS`.
pub const RUNTIME_BINDINGS: &[&str] = &["DEVICE_LEDGER", "ASSETS"];

/// The setting `name` most likely misspells: the same name ignoring case, or (for names of 4
/// letters or more) the nearest within 1 edit, 2 from 6 letters on (Damerau-Levenshtein, in its
/// optimal string alignment form: an insertion, deletion, substitution or swap of two neighbours
/// is one edit). `None` for a setting itself and for names far from every setting.
pub fn near_setting(name: &str) -> Option<&'static str> {
    if names::ALL.contains(&name) {
        return None;
    }
    if let Some(same) = names::ALL.iter().find(|setting| setting.eq_ignore_ascii_case(name)) {
        return Some(same);
    }
    let limit = match name.len() {
        0..=3 => return None,
        4 | 5 => 1,
        _ => 2,
    };
    let upper = name.to_ascii_uppercase();
    names::ALL
        .iter()
        .filter_map(|setting| edits_within(upper.as_bytes(), setting.as_bytes(), limit).map(|d| (d, *setting)))
        .min_by_key(|(d, _)| *d)
        .map(|(_, setting)| setting)
}

/// Whether `name` reads as a setting's name: an upper-case letter, then upper-case letters,
/// digits and `_`.
pub fn is_upper_case_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_uppercase())
        && name.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

/// The optimal string alignment distance of `a` and `b` when it is at most `limit`.
fn edits_within(a: &[u8], b: &[u8], limit: usize) -> Option<usize> {
    if a.len().abs_diff(b.len()) > limit {
        return None;
    }
    // Three rows of the distance matrix: two rows back (for swaps), the previous, the current.
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current: Vec<usize> = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        current[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (previous[j] + 1).min(current[j - 1] + 1).min(previous[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(before[j - 2] + 1);
            }
            current[j] = d;
        }
        if current.iter().min().is_some_and(|&least| least > limit) {
            return None;
        }
        std::mem::swap(&mut before, &mut previous);
        std::mem::swap(&mut previous, &mut current);
    }
    Some(previous[b.len()]).filter(|&d| d <= limit)
}

/// The binding names of a deployment that are no setting the worker reads.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Unread {
    /// Names close to a setting's, with that setting, in name order: refused.
    pub misspelled: Vec<(String, &'static str)>,
    /// The other UPPER_CASE names, in name order: reported.
    pub unknown: Vec<String>,
}

/// Sort the binding names `settings` carries (none: nothing to sort) into misspelled settings
/// and unknown names; the settings, the other bindings of this worker ([`RUNTIME_BINDINGS`]) and
/// the client secrets `login` tables name are neither.
pub fn unread(settings: &Settings) -> Unread {
    let mut unread = Unread::default();
    let Some(bindings) = settings.binding_names() else { return unread };
    let client_secrets = crate::signin::settings::secret_names(settings.get(names::IDENTITY_PROVIDERS));
    for name in bindings {
        if names::ALL.contains(&name)
            || RUNTIME_BINDINGS.contains(&name)
            || client_secrets.iter().any(|secret| secret == name)
        {
            continue;
        }
        if let Some(setting) = near_setting(name) {
            unread.misspelled.push((name.to_owned(), setting));
        } else if is_upper_case_name(name) {
            unread.unknown.push(name.to_owned());
        }
    }
    unread
}

/// The error of a binding `name` that most likely means `setting`.
pub fn misspelled(name: &str, setting: &'static str) -> Error {
    Error::setting(
        setting,
        format!(
            "`{}` is not a setting; did you mean `{setting}`? rename it in wrangler.toml [vars] or the secret",
            truncate(&name.escape_debug().to_string())
        ),
    )
}

/// Check the binding names `settings` carries: the first misspelled setting is refused, naming
/// both; the unknown names are returned, sorted, for the log, `/healthz` and `ivs-token check`.
pub fn check(settings: &Settings) -> Result<Vec<String>> {
    let unread = unread(settings);
    match unread.misspelled.first() {
        Some((name, setting)) => Err(misspelled(name, setting)),
        None => Ok(unread.unknown),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checked(names: &[&str]) -> Result<Vec<String>> {
        check(&Settings::new().with_bindings(names.iter().copied()))
    }

    #[test]
    fn misspelled_settings_are_refused_naming_both() {
        let cases = [
            ("DEVICE_LIMIT", "DEVICE_LIMITS"),
            ("device_limits", "DEVICE_LIMITS"),
            ("Channels", "CHANNELS"),
            ("CHANNEL", "CHANNELS"),
            ("STAGE", "STAGES"),
            ("SESION_SECRET", "SESSION_SECRET"),
            ("SESSION_SECERT", "SESSION_SECRET"),
            ("PLAYBACK_PRIVATE_KY", "PLAYBACK_PRIVATE_KEY"),
            ("ALLOWED_ORIGIN", "ALLOWED_ORIGINS"),
            ("TOKEN_TTL_SECOND", "TOKEN_TTL_SECONDS"),
            ("AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID"),
            ("AWS_SECRET_ACCES_KEY", "AWS_SECRET_ACCESS_KEY"),
            ("ADMIN_API_TOKENS", "ADMIN_API_TOKEN"),
            ("IDENTITY_PROVIDER", "IDENTITY_PROVIDERS"),
            ("SESSION_SECRET_PREVIOUS_", "SESSION_SECRET_PREVIOUS"),
            ("Login_Url", "LOGIN_URL"),
        ];
        for (name, setting) in cases {
            if name == "AWS_ACCESS_KEY" {
                // Three letters short of AWS_ACCESS_KEY_ID: too far to guess; reported, not refused.
                assert_eq!(checked(&[name]).unwrap(), [name], "{name}");
                continue;
            }
            let err = checked(&["CHANNELS", name]).unwrap_err().to_string();
            assert_eq!(
                err,
                format!("setting {setting}: `{name}` is not a setting; did you mean `{setting}`? rename it in wrangler.toml [vars] or the secret"),
            );
            assert_eq!(near_setting(name), Some(setting), "{name}");
        }
    }

    #[test]
    fn real_settings_are_never_near_one_another() {
        // Every setting together: nothing refused, nothing unknown.
        assert_eq!(checked(names::ALL).unwrap(), Vec::<String>::new());
        for a in names::ALL {
            assert_eq!(near_setting(a), None, "{a} is a setting");
            for b in names::ALL.iter().filter(|b| *b != a) {
                // More than 2 edits apart, so no suggestion is ambiguous and no setting's
                // neighbour is another setting's misspelling.
                assert_eq!(edits_within(a.as_bytes(), b.as_bytes(), 2), None, "{a} and {b} are too close");
            }
        }
        for (a, b) in [
            ("SESSION_SECRET", "SESSION_SECRET_PREVIOUS"),
            ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"),
            ("AWS_SESSION_TOKEN", "AWS_SECRET_ACCESS_KEY"),
            ("TOKEN_TTL_SECONDS", "STAGE_TOKEN_TTL_SECONDS"),
            ("PLAYBACK_PRIVATE_KEY", "STAGE_PRIVATE_KEY"),
        ] {
            assert_eq!(checked(&[a, b]).unwrap(), Vec::<String>::new(), "{a}, {b}");
        }
    }

    #[test]
    fn other_bindings_are_neither_refused_nor_unknown() {
        let providers = r#"{"corp": {"preset": "auth0", "domain": "corp.eu.auth0.com", "audience": "a",
            "login": {"client_id": "c", "client_secret": "SESSION_SECRETS"}}}"#;
        // A client secret's name counts as a binding the worker reads, even one near a setting.
        let settings = Settings::new().with(names::IDENTITY_PROVIDERS, providers).with_bindings([
            "DEVICE_LEDGER",
            "ASSETS",
            "SESSION_SECRETS",
            "IDENTITY_PROVIDERS",
        ]);
        assert_eq!(check(&settings).unwrap(), Vec::<String>::new());
        // Lower-case names far from every setting are not settings' names at all.
        assert_eq!(checked(&["assets_fetcher", "x", ""]).unwrap(), Vec::<String>::new());
    }

    #[test]
    fn unknown_names_are_reported_sorted_not_refused() {
        assert_eq!(
            checked(&["FOO_BAR", "CHANNELS", "AWS_REGION", "SENTRY_DSN"]).unwrap(),
            ["AWS_REGION", "FOO_BAR", "SENTRY_DSN"]
        );
        assert_eq!(checked(&[]).unwrap(), Vec::<String>::new());
        // Without binding names (tests, the warm-up) nothing is checked.
        assert_eq!(check(&Settings::new().with("DEVICE_LIMIT", "{}")).unwrap(), Vec::<String>::new());
        // Settings with values count as bindings too.
        assert!(check(&Settings::new().with("DEVICE_LIMIT", "{}").with_bindings(["CHANNELS"])).is_err());
        // Every misspelling and every unknown name, for `ivs-token check`.
        let all = unread(&Settings::new().with_bindings(["STAGE", "FOO", "CHANEL", "ZED_1"]));
        assert_eq!(all.misspelled, [("CHANEL".to_owned(), "CHANNELS"), ("STAGE".to_owned(), "STAGES")]);
        assert_eq!(all.unknown, ["FOO", "ZED_1"]);
    }

    #[test]
    fn the_edit_distance() {
        let d = |a: &str, b: &str| edits_within(a.as_bytes(), b.as_bytes(), 3);
        assert_eq!(d("STAGES", "STAGES"), Some(0));
        assert_eq!(d("STAGSE", "STAGES"), Some(1), "a swap is one edit");
        assert_eq!(d("STGAES", "STAGES"), Some(1));
        assert_eq!(d("STAGE", "STAGES"), Some(1));
        assert_eq!(d("XSTAGESX", "STAGES"), Some(2));
        assert_eq!(d("ABCDEF", "STAGES"), None);
        assert_eq!(d("", "STAGES"), None);
        assert_eq!(d("", "ABC"), Some(3));
    }

    #[test]
    fn no_name_panics_or_takes_long() {
        let long = "A".repeat(100_000);
        let names = [long.as_str(), "\u{0}", "ÄÖÜ_LIMITS", "DEVICE_LİMITS", "\u{202e}CHANNELS", "__", "_"];
        for name in names {
            let _ = near_setting(name);
            let _ = checked(&[name]);
        }
        let err = checked(&["CHANNELS\u{0}"]).unwrap_err().to_string();
        assert!(err.starts_with(r"setting CHANNELS: `CHANNELS\0` is not a setting"), "{err}");
    }
}
