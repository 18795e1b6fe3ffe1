//! Identity providers (setting `IDENTITY_PROVIDERS`): whose tokens the worker accepts, where it
//! finds them in a request, how it checks them, and which claims become the session.
//!
//! A provider is written in full (`issuer`, `audience`, `jwks_url` or `jwks`, ...) or from a
//! `preset` that needs only the provider's own identifiers and applies its documented rules;
//! any field written explicitly overrides the preset's.
//!
//! ```
//! use ivs_token_worker::identity::provider::parse_providers;
//! let providers = parse_providers(r#"{"members": {"preset": "cognito", "region": "eu-west-1",
//!     "user_pool_id": "eu-west-1_AbC123", "client_id": "1example23456789"}}"#)?;
//! assert_eq!(providers[0].issuer, "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123");
//! assert_eq!(providers[0].groups_claim.as_deref(), Some("cognito:groups"));
//! # Ok::<(), ivs_token_worker::Error>(())
//! ```

use super::jwk::{Algorithm, KeySet};
use crate::address::{check_origin, parse_url, HTTPS};
use crate::cookie::is_cookie_name;
use crate::error::{Error, Result};
use serde_json::{Map, Value};

/// The setting's name.
pub const SETTING: &str = "IDENTITY_PROVIDERS";

/// Where a provider's token is read from a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    /// `Authorization: Bearer <token>`.
    Bearer,
    /// A request header (name in lower case).
    Header(String),
    /// A cookie.
    Cookie(String),
}

impl TokenSource {
    fn parse(text: &str) -> std::result::Result<Self, String> {
        let bad = || {
            format!(
                "`{}` is not a token source; write \"bearer\", \"cookie:NAME\" or \"header:NAME\"",
                crate::text::truncate(text)
            )
        };
        if text == "bearer" {
            return Ok(Self::Bearer);
        }
        let (kind, name) = text.split_once(':').ok_or_else(bad)?;
        match kind {
            "cookie" if is_cookie_name(name) => Ok(Self::Cookie(name.to_owned())),
            // Header names are tokens like cookie names; `authorization` has its own source.
            "header"
                if is_cookie_name(name)
                    && !name.eq_ignore_ascii_case("authorization")
                    && !name.eq_ignore_ascii_case("cookie") =>
            {
                Ok(Self::Header(name.to_ascii_lowercase()))
            }
            _ => Err(bad()),
        }
    }
}

/// How the token's audience is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AudienceRule {
    /// `aud` (a string or a list) must contain one of these.
    Aud(Vec<String>),
    /// Amazon Cognito: `token_use` is `id` (then `aud` must be one of these client ids) or
    /// `access` (no `aud`; `client_id` must be one of these).
    Cognito(Vec<String>),
    /// No audience (Clerk): `azp` must be one of these origins.
    AuthorizedParty(Vec<String>),
}

/// One configured identity provider.
#[derive(Debug, Clone)]
pub struct Provider {
    /// The provider's name in `IDENTITY_PROVIDERS` (for errors and logs).
    pub name: String,
    /// Exact `iss`.
    pub issuer: String,
    /// The audience rule.
    pub audience: AudienceRule,
    /// Where the key document is fetched, if anywhere.
    pub jwks_url: Option<String>,
    /// Keys given inline (`jwks`).
    pub inline_keys: Option<KeySet>,
    /// Where tokens are read from, in order.
    pub token_from: Vec<TokenSource>,
    /// Accepted algorithms; `None`: what each key declares.
    pub algorithms: Option<Vec<Algorithm>>,
    /// Claim (exact name or dotted path) holding the viewer's groups.
    pub groups_claim: Option<String>,
    /// Claim holding the channel names the viewer may watch (as the session cookie's `channels`).
    pub channels_claim: Option<String>,
    /// Claim holding the subject; default `sub`.
    pub subject_claim: String,
    /// Claim holding a resolution cap (`SD`, `HD`, `FULL_HD`), if any.
    pub max_resolution_claim: Option<String>,
    /// Claim holding the session version (`aws:viewer-session-version`), if any.
    pub session_version_claim: Option<String>,
    /// Firebase: `auth_time` is required and must not be in the future.
    pub require_auth_time: bool,
    /// The preset the provider was written from, if any.
    pub preset: Option<String>,
    /// The `login` table as written (sign-in at the edge), read by [`crate::signin`]'s settings.
    pub login: Option<Value>,
}

impl Provider {
    /// Whether this provider reads tokens from `source`.
    pub fn reads(&self, source: &TokenSource) -> bool {
        self.token_from.contains(source)
    }
}

/// Fields a provider entry may have, besides its preset's own.
const FIELDS: &[&str] = &[
    "preset",
    "issuer",
    "audience",
    "jwks_url",
    "jwks",
    "token_from",
    "algorithms",
    "groups_claim",
    "channels_claim",
    "subject_claim",
    "max_resolution_claim",
    "session_version_claim",
    "authorized_parties",
    "login",
];

/// Each preset and the identifiers only it takes.
const PRESETS: &[(&str, &[&str])] = &[
    ("cognito", &["region", "user_pool_id", "client_id"]),
    ("auth0", &["domain"]),
    ("cloudflare-access", &["team_domain", "aud"]),
    ("firebase", &["project_id"]),
    ("supabase", &["project_ref"]),
    ("clerk", &["frontend_api"]),
];

/// Parse `IDENTITY_PROVIDERS`: a JSON object (or a JSON string holding one) mapping provider
/// names to providers. Providers are kept in name order, which is also the order in which they
/// are tried for a token source they share.
pub fn parse_providers(text: &str) -> Result<Vec<Provider>> {
    let value = crate::text::json_setting(text).map_err(|e| Error::setting(SETTING, e))?;
    let object = value
        .as_object()
        .ok_or_else(|| Error::setting(SETTING, "must be an object mapping provider names to providers"))?;
    let mut providers = Vec::with_capacity(object.len());
    for (name, entry) in object {
        if !crate::text::is_name(name) {
            return Err(Error::setting(
                SETTING,
                format!("provider `{}`: names must match [a-z0-9-]{{1,64}}", crate::text::truncate(name)),
            ));
        }
        let provider = parse_provider(name, entry)
            .map_err(|reason| Error::setting(SETTING, format!("provider `{name}`: {reason}")))?;
        providers.push(provider);
    }
    Ok(providers)
}

/// A non-empty string field.
fn text_field<'v>(entry: &'v Map<String, Value>, field: &str) -> std::result::Result<Option<&'v str>, String> {
    match entry.get(field) {
        None => Ok(None),
        Some(Value::String(s)) if !s.trim().is_empty() && s.len() <= 1024 => Ok(Some(s.trim())),
        Some(_) => Err(format!("field `{field}` must be a non-empty string")),
    }
}

/// A string or a list of strings (a comma-separated string counts as a list).
fn list_field(entry: &Map<String, Value>, field: &str) -> std::result::Result<Option<Vec<String>>, String> {
    let rule = || format!("field `{field}` must be a string or a list of non-empty strings");
    let items: Vec<String> = match entry.get(field) {
        None => return Ok(None),
        Some(Value::String(s)) => crate::text::split_list(s),
        Some(Value::Array(items)) => {
            items.iter().map(|v| v.as_str().map(|s| s.trim().to_owned())).collect::<Option<_>>().ok_or_else(rule)?
        }
        Some(_) => return Err(rule()),
    };
    if items.is_empty() || items.len() > 64 || items.iter().any(|s| s.is_empty() || s.len() > 1024) {
        return Err(rule());
    }
    Ok(Some(items))
}

/// A claim name: an exact name or a dotted path, printable, at most 256 bytes.
fn claim_field(entry: &Map<String, Value>, field: &str) -> std::result::Result<Option<String>, String> {
    match text_field(entry, field)? {
        Some(name) if name.len() <= 256 && name.bytes().all(|b| b.is_ascii_graphic()) => Ok(Some(name.to_owned())),
        Some(_) => {
            Err(format!("field `{field}` must be a claim name or dotted path (printable ASCII, at most 256 bytes)"))
        }
        None => Ok(None),
    }
}

/// An https URL (http only for localhost), through the one URL parser ([`parse_url`]).
fn check_url(field: &str, url: &str) -> std::result::Result<(), String> {
    parse_url(url, HTTPS)
        .map(|_| ())
        .map_err(|e| format!("field `{field}` must be an https URL (http only for localhost): {e}"))
}

/// Whether `issuer` may be a provider's `issuer` (an https URL, http only for localhost): the rule
/// for `IDENTITY_PROVIDERS`, which `ivs-token viewer-id --issuer` applies too.
pub fn check_issuer(issuer: &str) -> std::result::Result<(), String> {
    check_url("issuer", issuer)
}

/// A DNS name such as `example.auth0.com` (no scheme, no path).
fn check_host(field: &str, host: &str) -> std::result::Result<(), String> {
    let ok = host.len() <= 253
        && host.contains('.')
        && host.split('.').all(|label| {
            !label.is_empty() && label.len() <= 63 && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if ok {
        Ok(())
    } else {
        Err(format!("field `{field}` must be a host name such as `example.com`, without https:// or a path"))
    }
}

/// An identifier such as a project id or AWS region: letters, digits, `-` and `_`.
fn check_identifier(field: &str, value: &str) -> std::result::Result<(), String> {
    if value.len() <= 128 && value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        Ok(())
    } else {
        Err(format!("field `{field}` must be letters, digits, `-` and `_` only"))
    }
}

/// What a preset fills in; explicit fields override each of these.
#[derive(Default)]
struct PresetDefaults {
    issuer: Option<String>,
    jwks_url: Option<String>,
    audience: Option<AudienceRule>,
    token_from: Option<Vec<TokenSource>>,
    algorithms: Option<Vec<Algorithm>>,
    groups_claim: Option<String>,
    require_auth_time: bool,
}

fn preset_defaults(preset: &str, entry: &Map<String, Value>) -> std::result::Result<PresetDefaults, String> {
    let need = |field: &str| -> std::result::Result<String, String> {
        text_field(entry, field)?.map(str::to_owned).ok_or_else(|| format!("preset `{preset}` needs field `{field}`"))
    };
    let rs256 = Some(vec![Algorithm::Rs256]);
    Ok(match preset {
        "cognito" => {
            let (region, pool, client) = (need("region")?, need("user_pool_id")?, need("client_id")?);
            check_identifier("region", &region)?;
            if !pool.strip_prefix(&region).is_some_and(|rest| rest.starts_with('_')) {
                return Err(format!(
                    "field `user_pool_id` must look like `{region}_AbC123` (the pool's region, `_`, its id)"
                ));
            }
            check_identifier("user_pool_id", &pool)?;
            check_identifier("client_id", &client)?;
            let issuer = format!("https://cognito-idp.{region}.amazonaws.com/{pool}");
            PresetDefaults {
                jwks_url: Some(format!("{issuer}/.well-known/jwks.json")),
                issuer: Some(issuer),
                audience: Some(AudienceRule::Cognito(vec![client])),
                algorithms: rs256,
                groups_claim: Some("cognito:groups".into()),
                ..Default::default()
            }
        }
        "auth0" => {
            let domain = need("domain")?;
            check_host("domain", &domain)?;
            PresetDefaults {
                issuer: Some(format!("https://{domain}/")),
                jwks_url: Some(format!("https://{domain}/.well-known/jwks.json")),
                algorithms: rs256,
                ..Default::default()
            }
        }
        "cloudflare-access" => {
            let team = need("team_domain")?;
            let team = team.trim_start_matches("https://").trim_end_matches('/');
            let host = if team.contains('.') { team.to_owned() } else { format!("{team}.cloudflareaccess.com") };
            check_host("team_domain", &host)?;
            let aud = need("aud")?;
            PresetDefaults {
                issuer: Some(format!("https://{host}")),
                jwks_url: Some(format!("https://{host}/cdn-cgi/access/certs")),
                audience: Some(AudienceRule::Aud(vec![aud])),
                token_from: Some(vec![TokenSource::Header("cf-access-jwt-assertion".into())]),
                algorithms: rs256,
                ..Default::default()
            }
        }
        "firebase" => {
            let project = need("project_id")?;
            check_identifier("project_id", &project)?;
            PresetDefaults {
                issuer: Some(format!("https://securetoken.google.com/{project}")),
                jwks_url: Some(
                    "https://www.googleapis.com/robot/v1/metadata/x509/securetoken@system.gserviceaccount.com".into(),
                ),
                audience: Some(AudienceRule::Aud(vec![project])),
                algorithms: rs256,
                require_auth_time: true,
                ..Default::default()
            }
        }
        "supabase" => {
            let project = need("project_ref")?;
            check_identifier("project_ref", &project)?;
            let issuer = format!("https://{project}.supabase.co/auth/v1");
            PresetDefaults {
                jwks_url: Some(format!("{issuer}/.well-known/jwks.json")),
                issuer: Some(issuer),
                audience: Some(AudienceRule::Aud(vec!["authenticated".into()])),
                ..Default::default()
            }
        }
        "clerk" => {
            let frontend = need("frontend_api")?;
            if !entry.contains_key("authorized_parties") {
                return Err(
                    "preset `clerk` needs field `authorized_parties` (the origins of your app, checked against `azp`)"
                        .into(),
                );
            }
            let frontend = frontend.trim_start_matches("https://").trim_end_matches('/').to_owned();
            check_host("frontend_api", &frontend)?;
            PresetDefaults {
                issuer: Some(format!("https://{frontend}")),
                jwks_url: Some(format!("https://{frontend}/.well-known/jwks.json")),
                token_from: Some(vec![TokenSource::Bearer, TokenSource::Cookie("__session".into())]),
                algorithms: rs256,
                ..Default::default()
            }
        }
        other => {
            let names: Vec<&str> = PRESETS.iter().map(|(n, _)| *n).collect();
            return Err(format!(
                "field `preset`: `{}` is not a preset; use one of {}",
                crate::text::truncate(other),
                names.join(", ")
            ));
        }
    })
}

fn parse_provider(name: &str, entry: &Value) -> std::result::Result<Provider, String> {
    let entry = entry.as_object().ok_or("must be an object of provider fields")?;
    let preset = text_field(entry, "preset")?;
    let preset_fields: &[&str] = preset.and_then(|p| PRESETS.iter().find(|(n, _)| *n == p)).map_or(&[], |(_, f)| f);
    if let Some(field) = entry.keys().find(|k| !FIELDS.contains(&k.as_str()) && !preset_fields.contains(&k.as_str())) {
        let hint = PRESETS
            .iter()
            .find(|(_, f)| f.contains(&field.as_str()))
            .map(|(p, _)| format!(" (it belongs to preset `{p}`)"))
            .unwrap_or_default();
        return Err(format!(
            "unknown field `{}`{hint}; a typo here could silently weaken the check",
            crate::text::truncate(field)
        ));
    }
    let defaults = match preset {
        Some(preset) => preset_defaults(preset, entry)?,
        None => PresetDefaults::default(),
    };

    let issuer = text_field(entry, "issuer")?
        .map(str::to_owned)
        .or(defaults.issuer)
        .ok_or("field `issuer` is required (the exact `iss` of the provider's tokens)")?;
    check_issuer(&issuer)?;

    let audiences = list_field(entry, "audience")?;
    let parties = list_field(entry, "authorized_parties")?;
    if let Some(parties) = &parties {
        for party in parties {
            check_origin(party).map_err(|e| format!("field `authorized_parties`: {e}"))?;
        }
    }
    let audience = match (audiences, parties, defaults.audience) {
        // An explicit audience keeps the preset's shape (Cognito's id/access rule).
        (Some(list), _, Some(AudienceRule::Cognito(_))) => AudienceRule::Cognito(list),
        (Some(list), _, _) => AudienceRule::Aud(list),
        (None, Some(parties), _) => AudienceRule::AuthorizedParty(parties),
        (None, None, Some(rule)) => rule,
        (None, None, None) => {
            return Err("field `audience` is required (the `aud` your tokens carry: an API identifier, client id or AUD tag); without it tokens minted for any other application of the same provider would be accepted".into())
        }
    };

    let jwks_url = text_field(entry, "jwks_url")?.map(str::to_owned).or(defaults.jwks_url);
    if let Some(url) = &jwks_url {
        check_url("jwks_url", url)?;
    }
    let inline_keys = match entry.get("jwks") {
        None => None,
        Some(Value::String(text)) => Some(KeySet::parse(text).map_err(|e| format!("field `jwks`: {e}"))?),
        Some(value) => Some(KeySet::from_value(value).map_err(|e| format!("field `jwks`: {e}"))?),
    };
    if jwks_url.is_none() && inline_keys.is_none() {
        return Err("needs field `jwks_url` (where the provider publishes its keys) or `jwks` (the keys inline)".into());
    }

    let token_from = match list_field(entry, "token_from")? {
        Some(list) => list
            .iter()
            .map(|s| TokenSource::parse(s).map_err(|e| format!("field `token_from`: {e}")))
            .collect::<std::result::Result<Vec<_>, _>>()?,
        None => defaults.token_from.unwrap_or_else(|| vec![TokenSource::Bearer]),
    };
    let algorithms = match list_field(entry, "algorithms")? {
        Some(list) => Some(
            list.iter()
                .map(|name| {
                    Algorithm::parse(name).ok_or_else(|| {
                        let all: Vec<&str> = Algorithm::ALL.iter().map(|a| a.name()).collect();
                        format!(
                            "field `algorithms`: `{}` is not accepted; use {} (`none` and HS* are never accepted)",
                            crate::text::truncate(name),
                            all.join(", ")
                        )
                    })
                })
                .collect::<std::result::Result<Vec<_>, _>>()?,
        ),
        None => defaults.algorithms,
    };

    Ok(Provider {
        name: name.to_owned(),
        issuer,
        audience,
        jwks_url,
        inline_keys,
        token_from,
        algorithms,
        groups_claim: claim_field(entry, "groups_claim")?.or(defaults.groups_claim),
        channels_claim: claim_field(entry, "channels_claim")?,
        subject_claim: claim_field(entry, "subject_claim")?.unwrap_or_else(|| "sub".into()),
        max_resolution_claim: claim_field(entry, "max_resolution_claim")?,
        session_version_claim: claim_field(entry, "session_version_claim")?,
        require_auth_time: defaults.require_auth_time,
        preset: preset.map(str::to_owned),
        login: entry.get("login").cloned(),
    })
}

/// The value of a claim named exactly `name` (`cognito:groups`, `https://example.com/roles`),
/// else found by following `name` as a dotted path (`realm_access.roles`).
pub fn claim<'c>(claims: &'c Map<String, Value>, name: &str) -> Option<&'c Value> {
    if let Some(value) = claims.get(name) {
        return Some(value);
    }
    let mut parts = name.split('.');
    let mut value = claims.get(parts.next()?)?;
    for part in parts {
        value = value.as_object()?.get(part)?;
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn one(entry: Value) -> std::result::Result<Provider, String> {
        parse_providers(&json!({"p": entry}).to_string()).map(|mut v| v.remove(0)).map_err(|e| e.to_string())
    }

    #[test]
    fn generic_provider() {
        let p =
            one(json!({"issuer": "https://id.example/", "audience": ["a", "b"], "jwks_url": "https://id.example/jwks",
            "token_from": ["bearer", "cookie:id_token", "header:X-Id-Token"], "algorithms": "RS256, ES256",
            "groups_claim": "https://example.com/roles"}))
            .unwrap();
        assert_eq!(p.audience, AudienceRule::Aud(vec!["a".into(), "b".into()]));
        assert_eq!(
            p.token_from,
            [TokenSource::Bearer, TokenSource::Cookie("id_token".into()), TokenSource::Header("x-id-token".into())]
        );
        assert_eq!(p.algorithms, Some(vec![Algorithm::Rs256, Algorithm::Es256]));
        assert_eq!(p.subject_claim, "sub");
        let local =
            one(json!({"issuer": "http://127.0.0.1:9000", "audience": "a", "jwks_url": "http://localhost:9000/jwks"}))
                .unwrap();
        assert_eq!(local.token_from, [TokenSource::Bearer]);
        assert_eq!(local.algorithms, None);
    }

    #[test]
    fn presets_fill_in_and_fields_override() {
        let cognito = one(json!({"preset": "cognito", "region": "us-east-1", "user_pool_id": "us-east-1_Pool1", "client_id": "abc123"})).unwrap();
        assert_eq!(
            cognito.jwks_url.as_deref(),
            Some("https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Pool1/.well-known/jwks.json")
        );
        assert_eq!(cognito.audience, AudienceRule::Cognito(vec!["abc123".into()]));
        let local = one(
            json!({"preset": "cognito", "region": "us-east-1", "user_pool_id": "us-east-1_Pool1", "client_id": "abc123",
            "jwks_url": "http://127.0.0.1:8000/jwks.json", "groups_claim": "roles"}),
        )
        .unwrap();
        assert_eq!(local.jwks_url.as_deref(), Some("http://127.0.0.1:8000/jwks.json"));
        assert_eq!(local.issuer, cognito.issuer, "only the written field changes");
        assert_eq!(local.groups_claim.as_deref(), Some("roles"));

        let auth0 = one(json!({"preset": "auth0", "domain": "tenant.eu.auth0.com", "audience": "https://api.example"}))
            .unwrap();
        assert_eq!(auth0.issuer, "https://tenant.eu.auth0.com/");
        assert_eq!(auth0.audience, AudienceRule::Aud(vec!["https://api.example".into()]));
        let access = one(json!({"preset": "cloudflare-access", "team_domain": "myteam", "aud": "4714c1358e65fe4b408ad6d432a5f878f08194bdb4752441fd56faefa9b2b6f2"})).unwrap();
        assert_eq!(access.issuer, "https://myteam.cloudflareaccess.com");
        assert_eq!(access.jwks_url.as_deref(), Some("https://myteam.cloudflareaccess.com/cdn-cgi/access/certs"));
        assert_eq!(access.token_from, [TokenSource::Header("cf-access-jwt-assertion".into())]);
        let firebase = one(json!({"preset": "firebase", "project_id": "my-app"})).unwrap();
        assert_eq!(firebase.issuer, "https://securetoken.google.com/my-app");
        assert!(firebase.require_auth_time);
        let supabase = one(json!({"preset": "supabase", "project_ref": "abcdefgh"})).unwrap();
        assert_eq!(supabase.audience, AudienceRule::Aud(vec!["authenticated".into()]));
        assert_eq!(supabase.algorithms, None, "Supabase keys declare ES256 or RS256");
        let clerk = one(json!({"preset": "clerk", "frontend_api": "clerk.example.com", "authorized_parties": ["https://www.example.com"]})).unwrap();
        assert_eq!(clerk.audience, AudienceRule::AuthorizedParty(vec!["https://www.example.com".into()]));
        assert!(clerk.reads(&TokenSource::Cookie("__session".into())));
    }

    #[test]
    fn errors_name_provider_field_and_rule() {
        let cases = [
            (json!({"audience": "a", "jwks_url": "https://x/j"}), "field `issuer` is required"),
            (
                json!({"issuer": "http://id.example", "audience": "a", "jwks_url": "https://x/j"}),
                "field `issuer` must be an https URL",
            ),
            (json!({"issuer": "https://i", "jwks_url": "https://x/j"}), "field `audience` is required"),
            (json!({"issuer": "https://i", "audience": "a"}), "needs field `jwks_url`"),
            (json!({"issuer": "https://i", "audience": "a", "jwks_url": "ftp://x"}), "field `jwks_url` must be"),
            (
                json!({"issuer": "https://i", "audience": "a", "jwks_url": "https://x", "algorithms": ["HS256"]}),
                "`HS256` is not accepted",
            ),
            (
                json!({"issuer": "https://i", "audience": "a", "jwks_url": "https://x", "algorithms": ["none"]}),
                "`none` is not accepted",
            ),
            (
                json!({"issuer": "https://i", "audience": "a", "jwks_url": "https://x", "token_from": ["query:t"]}),
                "field `token_from`",
            ),
            (
                json!({"issuer": "https://i", "audience": "a", "jwks_url": "https://x", "token_from": ["header:Authorization"]}),
                "field `token_from`",
            ),
            (
                json!({"issuer": "https://i", "audience": "a", "jwks_url": "https://x", "audiance": "typo"}),
                "unknown field `audiance`",
            ),
            (
                json!({"issuer": "https://i", "audience": "a", "jwks_url": "https://x", "region": "us-east-1"}),
                "belongs to preset `cognito`",
            ),
            (
                json!({"issuer": "https://i", "audience": "a", "jwks": {"keys": []}}),
                "field `jwks`: the key document holds no keys",
            ),
            (json!({"preset": "okta"}), "`okta` is not a preset"),
            (
                json!({"preset": "cognito", "region": "us-east-1", "client_id": "c"}),
                "preset `cognito` needs field `user_pool_id`",
            ),
            (
                json!({"preset": "cognito", "region": "us-east-1", "user_pool_id": "eu-west-1_X", "client_id": "c"}),
                "field `user_pool_id` must look like",
            ),
            (
                json!({"preset": "auth0", "domain": "https://tenant.auth0.com/", "audience": "a"}),
                "field `domain` must be a host name",
            ),
            (json!({"preset": "clerk", "frontend_api": "clerk.example.com"}), "needs field `authorized_parties`"),
            (
                json!({"preset": "clerk", "frontend_api": "clerk.example.com", "authorized_parties": ["example.com"]}),
                "field `authorized_parties`",
            ),
            (json!({"issuer": "https://i", "audience": [], "jwks_url": "https://x"}), "field `audience` must be"),
            (
                json!({"issuer": "https://i", "audience": "a", "jwks_url": "https://x", "groups_claim": 5}),
                "field `groups_claim`",
            ),
            (json!("nope"), "must be an object"),
        ];
        for (entry, expected) in cases {
            let err = one(entry.clone()).unwrap_err();
            assert!(err.starts_with("setting IDENTITY_PROVIDERS: provider `p`: "), "{err}");
            assert!(err.contains(expected), "{entry} -> {err}");
        }
        assert!(parse_providers("{").unwrap_err().to_string().contains("not valid JSON"));
        assert!(parse_providers(r#"{"Bad Name": {}}"#).unwrap_err().to_string().contains("names must match"));
        let quoted =
            serde_json::to_string(&json!({"p": {"preset": "firebase", "project_id": "x"}}).to_string()).unwrap();
        assert_eq!(parse_providers(&quoted).unwrap().len(), 1, "a JSON string holding the object");
    }

    /// Outside review (issue 16), finding 1: what precedes a `@` is a user name, not the host, so
    /// `http://localhost:1@203.0.113.7/jwks` must not pass as localhost (the keys would come over
    /// cleartext HTTP from a remote host). Userinfo is refused in every URL field, and the error
    /// never quotes it.
    #[test]
    fn urls_with_userinfo_are_refused() {
        for (field, url) in [
            ("jwks_url", "http://localhost:1@203.0.113.7/jwks"),
            ("jwks_url", "http://[::1]@evil.example/jwks"),
            ("jwks_url", "http://127.0.0.1:8000@evil.example/jwks"),
            ("jwks_url", "http://localhost@evil.example/jwks"),
            ("jwks_url", "https://user:hunter2@id.example/jwks"),
            ("jwks_url", "https://@id.example/jwks"),
            ("issuer", "http://localhost:1@203.0.113.7"),
            ("issuer", "http://[::1]@evil.example/"),
            ("issuer", "https://user:hunter2@id.example/"),
        ] {
            let mut entry =
                json!({"issuer": "https://id.example/", "audience": "a", "jwks_url": "https://id.example/jwks"});
            entry[field] = json!(url);
            let err = one(entry).unwrap_err();
            assert!(
                err.starts_with(&format!("setting IDENTITY_PROVIDERS: provider `p`: field `{field}` ")),
                "{url} -> {err}"
            );
            assert!(err.contains("user name or password"), "{url} -> {err}");
            assert!(!err.contains("hunter2") && !err.contains("localhost:1@") && !err.contains("[::1]@"), "{err}");
        }
        // An `@` in the path is not userinfo (Firebase's key URL has one).
        let firebase = one(json!({"preset": "firebase", "project_id": "my-app"})).unwrap();
        assert!(firebase.jwks_url.unwrap().contains("securetoken@system"));
        // Hosts are compared as parsed: look-alikes of localhost stay remote.
        for url in
            ["http://localhost.evil.example/jwks", "http://127.0.0.1.evil.example/jwks", "http://[::1].evil/jwks"]
        {
            assert!(one(json!({"issuer": "https://i", "audience": "a", "jwks_url": url})).is_err(), "{url}");
        }
    }

    #[test]
    fn claims_by_exact_name_or_dotted_path() {
        let claims = json!({"cognito:groups": ["a"], "https://example.com/roles": ["r"], "realm_access": {"roles": ["x"]}, "a.b": 1, "a": {"b": 2}});
        let claims = claims.as_object().unwrap();
        assert_eq!(claim(claims, "cognito:groups"), Some(&json!(["a"])));
        assert_eq!(claim(claims, "https://example.com/roles"), Some(&json!(["r"])));
        assert_eq!(claim(claims, "realm_access.roles"), Some(&json!(["x"])));
        assert_eq!(claim(claims, "a.b"), Some(&json!(1)), "an exact name wins over a path");
        assert_eq!(claim(claims, "realm_access.missing"), None);
        assert_eq!(claim(claims, "nope"), None);
    }
}
