//! A provider's `login` table (in `IDENTITY_PROVIDERS`): the client the worker signs viewers in
//! as, and where the provider's endpoints are.
//!
//! ```
//! use ivs_token_worker::identity::provider::parse_providers;
//! use ivs_token_worker::signin::settings::parse_login;
//! let providers = parse_providers(r#"{"members": {"preset": "cognito", "region": "eu-west-1",
//!     "user_pool_id": "eu-west-1_AbC123", "client_id": "1example23456789",
//!     "login": {"domain": "tv.auth.eu-west-1.amazoncognito.com", "client_secret": "COGNITO_CLIENT_SECRET"}}}"#)?;
//! let secrets = |name: &str| (name == "COGNITO_CLIENT_SECRET").then(|| "s3cr3t".to_owned());
//! let login = parse_login(&providers[0], &secrets).unwrap().unwrap();
//! assert_eq!(login.client_id, "1example23456789");
//! assert_eq!(login.endpoints.authorization.as_deref(), Some("https://tv.auth.eu-west-1.amazoncognito.com/oauth2/authorize"));
//! # Ok::<(), ivs_token_worker::Error>(())
//! ```

use crate::address::{check_endpoint_url, HTTPS};
use crate::identity::provider::{AudienceRule, Provider};
use serde_json::{Map, Value};

/// Default longest session a sign-in gives (8 hours); the ID token's own `exp` may end it sooner.
pub const DEFAULT_SESSION_SECONDS: u64 = 8 * 3600;
/// Shortest configurable session.
pub const MIN_SESSION_SECONDS: u64 = 60;
/// Shortest `refresh_minutes`: each refresh is a round trip through the provider.
pub const MIN_REFRESH_MINUTES: u64 = 5;
/// Longest configurable session (7 days).
pub const MAX_SESSION_SECONDS: u64 = 7 * 86_400;

/// Fields a `login` table may have.
const FIELDS: &[&str] = &[
    "client_id",
    "client_secret",
    "client_auth",
    "scopes",
    "authorization_endpoint",
    "token_endpoint",
    "end_session_endpoint",
    "domain",
    "session_seconds",
    "refresh_minutes",
    "label",
];

/// Presets whose providers sign users in through their own client SDKs: no hosted authorization
/// endpoint a server can redirect to.
const NO_HOSTED_LOGIN: &[&str] = &["firebase", "supabase", "clerk", "cloudflare-access"];

/// How the worker authenticates itself at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// `client_secret_basic`: HTTP Basic with the client id and secret (the default with a secret).
    Basic,
    /// `client_secret_post`: the id and secret in the form body.
    Post,
    /// A public client (no secret): the client id in the form body; PKCE protects the code.
    None,
}

/// What the end-session endpoint expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogoutStyle {
    /// OpenID Connect RP-initiated logout: `client_id`, `post_logout_redirect_uri`.
    Oidc,
    /// Amazon Cognito's `/logout`: `client_id`, `logout_uri`.
    Cognito,
}

/// Endpoints, as far as they are written out or filled by a preset; the rest comes from the
/// issuer's discovery document.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Endpoints {
    /// Where viewers are sent to sign in.
    pub authorization: Option<String>,
    /// Where the code is exchanged.
    pub token: Option<String>,
    /// Where `/logout` continues, if anywhere.
    pub end_session: Option<String>,
    /// The provider promises `iss` in its authorization responses (RFC 9207), so a callback
    /// without it is refused (discovery's `authorization_response_iss_parameter_supported`).
    pub iss_parameter: bool,
}

/// A client secret's value: never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientSecret(pub(crate) String);

impl std::fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientSecret(..)")
    }
}

/// One provider's sign-in settings.
#[derive(Debug, Clone)]
pub struct Login {
    /// The provider's name in `IDENTITY_PROVIDERS`.
    pub provider: String,
    /// What the chooser page shows (default: the provider's name).
    pub label: String,
    /// The OAuth client id.
    pub client_id: String,
    /// The client secret's value, read from the secret binding `client_secret` names.
    pub client_secret: Option<ClientSecret>,
    /// How the client authenticates at the token endpoint.
    pub client_auth: ClientAuth,
    /// Space-separated scopes; always holds `openid`.
    pub scopes: String,
    /// Endpoints written out or filled by the preset.
    pub endpoints: Endpoints,
    /// Cognito's logout shape or OpenID Connect's.
    pub logout_style: LogoutStyle,
    /// The discovery document to read the missing endpoints from, when any is missing.
    pub discovery_url: Option<String>,
    /// The longest session a sign-in gives.
    pub session_seconds: u64,
    /// `refresh_minutes`: a page opened this long after sign-in reads the viewer's groups again
    /// first (a silent sign-in), so access bought or withdrawn since shows without a click.
    pub refresh_seconds: Option<u64>,
}

fn text(entry: &Map<String, Value>, field: &str) -> Result<Option<String>, String> {
    match entry.get(field) {
        None => Ok(None),
        Some(Value::String(s)) if !s.trim().is_empty() && s.len() <= 1024 => Ok(Some(s.trim().to_owned())),
        Some(_) => Err(format!("field `login.{field}` must be a non-empty string")),
    }
}

fn endpoint(entry: &Map<String, Value>, field: &str) -> Result<Option<String>, String> {
    let Some(url) = text(entry, field)? else { return Ok(None) };
    check_endpoint_url(&url, HTTPS).map_err(|e| format!("field `login.{field}`: {e}"))?;
    Ok(Some(url))
}

/// Whether `name` can be a secret binding's name (`COGNITO_CLIENT_SECRET`): the value itself
/// never belongs in `wrangler.toml`.
fn is_binding_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_uppercase())
        && name.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

/// The names of the secret bindings the `login` tables of `IDENTITY_PROVIDERS` name (the Workers
/// layer reads these besides the fixed settings). Best effort: a setting that does not parse
/// names none, and [`parse_login`] reports what is wrong with it.
pub fn secret_names(providers_setting: Option<&str>) -> Vec<String> {
    let Some(text) = providers_setting else { return Vec::new() };
    let value = match serde_json::from_str::<Value>(text) {
        Ok(Value::String(inner)) => serde_json::from_str::<Value>(&inner).unwrap_or(Value::Null),
        Ok(value) => value,
        Err(_) => Value::Null,
    };
    let mut names: Vec<String> = value
        .as_object()
        .into_iter()
        .flat_map(|providers| providers.values())
        .filter_map(|p| p.get("login")?.get("client_secret")?.as_str())
        .filter(|name| is_binding_name(name))
        .map(str::to_owned)
        .collect();
    names.sort();
    names.dedup();
    names
}

/// The host of an `https://host/...` issuer (Auth0's `domain`).
fn issuer_host(issuer: &str) -> &str {
    let rest = issuer.split_once("://").map_or(issuer, |(_, rest)| rest);
    rest.split('/').next().unwrap_or(rest)
}

/// `provider`'s sign-in settings (`None` without a `login` table). `secret` looks a secret
/// binding up by name. Errors say which field breaks which rule, never a secret's value.
pub fn parse_login(provider: &Provider, secret: &dyn Fn(&str) -> Option<String>) -> Result<Option<Login>, String> {
    let Some(value) = &provider.login else { return Ok(None) };
    let entry = value.as_object().ok_or("field `login` must be a table (an object) of sign-in fields")?;
    if let Some(field) = entry.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(format!("unknown field `login.{}`", crate::text::truncate(field)));
    }
    let preset = provider.preset.as_deref();
    if let Some(preset) = preset.filter(|p| NO_HOSTED_LOGIN.contains(p)) {
        return Err(format!(
            "field `login`: preset `{preset}` has no standard hosted authorization endpoint (its users sign in through its own client SDK); leave it on Bearer or cookie tokens"
        ));
    }
    if entry.contains_key("domain") && preset != Some("cognito") {
        return Err("field `login.domain` belongs to preset `cognito` (the user pool's domain)".into());
    }

    let client_id = match (text(entry, "client_id")?, &provider.audience) {
        (Some(id), _) => id,
        (None, AudienceRule::Cognito(clients)) if clients.len() == 1 => clients[0].clone(),
        _ => return Err("field `login.client_id` is required (the OAuth client the worker signs viewers in as)".into()),
    };
    if !client_id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("field `login.client_id` must be printable ASCII".into());
    }
    let client_secret = match text(entry, "client_secret")? {
        None => None,
        Some(name) if !is_binding_name(&name) => {
            return Err("field `login.client_secret` must be the NAME of a secret binding (like `IDP_CLIENT_SECRET`, set with `wrangler secret put`), never the secret itself".into())
        }
        Some(name) => Some(ClientSecret(secret(&name).filter(|v| !v.trim().is_empty()).ok_or_else(|| {
            format!("field `login.client_secret` names secret `{name}`, which is not set; set it with `wrangler secret put {name}` (or in .dev.vars)")
        })?)),
    };
    let client_auth = match (text(entry, "client_auth")?.as_deref(), &client_secret) {
        (None | Some("basic"), Some(_)) => ClientAuth::Basic,
        (Some("post"), Some(_)) => ClientAuth::Post,
        (None | Some("none"), None) => ClientAuth::None,
        (Some("basic" | "post"), None) => {
            return Err("field `login.client_auth` needs `login.client_secret` (a public client uses none)".into())
        }
        _ => return Err("field `login.client_auth` must be basic, post or none".into()),
    };
    let scopes: Vec<String> = match entry.get("scopes") {
        None => vec!["openid".into()],
        Some(Value::String(s)) => s.split([' ', ',']).filter(|s| !s.is_empty()).map(str::to_owned).collect(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<_>>()
            .ok_or("field `login.scopes` must be a string or a list of scope names")?,
        Some(_) => return Err("field `login.scopes` must be a string or a list of scope names".into()),
    };
    if !scopes.iter().any(|s| s == "openid")
        || scopes.iter().any(|s| s.is_empty() || !s.bytes().all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\'))
    {
        return Err("field `login.scopes` must include `openid` (scope names are printable ASCII)".into());
    }

    let (mut endpoints, logout_style) = match preset {
        Some("cognito") => {
            let domain = text(entry, "domain")?.ok_or(
                "preset `cognito` with `login` needs field `login.domain`: the user pool's domain (`<prefix>.auth.<region>.amazoncognito.com` or your custom domain)",
            )?;
            let base = if domain.contains("://") {
                domain.trim_end_matches('/').to_owned()
            } else {
                format!("https://{domain}")
            };
            check_endpoint_url(&base, HTTPS).map_err(|e| format!("field `login.domain`: {e}"))?;
            let endpoints = Endpoints {
                authorization: Some(format!("{base}/oauth2/authorize")),
                token: Some(format!("{base}/oauth2/token")),
                end_session: Some(format!("{base}/logout")),
                iss_parameter: false,
            };
            (endpoints, LogoutStyle::Cognito)
        }
        Some("auth0") => {
            let host = issuer_host(&provider.issuer);
            let endpoints = Endpoints {
                authorization: Some(format!("https://{host}/authorize")),
                token: Some(format!("https://{host}/oauth/token")),
                end_session: Some(format!("https://{host}/oidc/logout")),
                iss_parameter: false,
            };
            (endpoints, LogoutStyle::Oidc)
        }
        _ => (Endpoints::default(), LogoutStyle::Oidc),
    };
    for (field, slot) in [
        ("authorization_endpoint", &mut endpoints.authorization),
        ("token_endpoint", &mut endpoints.token),
        ("end_session_endpoint", &mut endpoints.end_session),
    ] {
        if let Some(url) = endpoint(entry, field)? {
            *slot = Some(url);
        }
    }
    let discovery_url = (endpoints.authorization.is_none() || endpoints.token.is_none())
        .then(|| format!("{}/.well-known/openid-configuration", provider.issuer.trim_end_matches('/')));
    if let Some(url) = &discovery_url {
        check_endpoint_url(url, HTTPS).map_err(|e| {
            format!("the issuer's discovery document ({e}) cannot be read; write out `login.authorization_endpoint` and `login.token_endpoint`")
        })?;
    }
    let session_seconds = match entry.get("session_seconds") {
        None => DEFAULT_SESSION_SECONDS,
        Some(v) => v.as_u64().filter(|n| (MIN_SESSION_SECONDS..=MAX_SESSION_SECONDS).contains(n)).ok_or_else(|| {
            format!("field `login.session_seconds` must be a whole number from {MIN_SESSION_SECONDS} to {MAX_SESSION_SECONDS}")
        })?,
    };
    let refresh_seconds = match entry.get("refresh_minutes") {
        None => None,
        Some(v) => Some(
            v.as_u64()
                .filter(|n| (MIN_REFRESH_MINUTES..=session_seconds / 60).contains(n))
                .ok_or_else(|| {
                    format!(
                        "field `login.refresh_minutes` must be a whole number from {MIN_REFRESH_MINUTES} to the session's length in minutes ({}); leave it out to read groups only at sign-in",
                        session_seconds / 60
                    )
                })?
                * 60,
        ),
    };
    let label = text(entry, "label")?.unwrap_or_else(|| provider.name.clone());
    Ok(Some(Login {
        provider: provider.name.clone(),
        label,
        client_id,
        client_secret,
        client_auth,
        scopes: scopes.join(" "),
        endpoints,
        logout_style,
        discovery_url,
        session_seconds,
        refresh_seconds,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::provider::parse_providers;
    use serde_json::json;

    fn login(entry: Value) -> Result<Option<Login>, String> {
        let providers = parse_providers(&json!({ "p": entry }).to_string()).map_err(|e| e.to_string())?;
        parse_login(&providers[0], &|name| (name == "IDP_SECRET").then(|| "the-secret-value".to_owned()))
    }

    fn generic(login_table: Value) -> Value {
        json!({"issuer": "https://id.example", "audience": "tv", "jwks_url": "https://id.example/jwks", "login": login_table})
    }

    #[test]
    fn generic_issuer_discovers_its_endpoints() {
        let l = login(generic(json!({"client_id": "tv"}))).unwrap().unwrap();
        assert_eq!(l.discovery_url.as_deref(), Some("https://id.example/.well-known/openid-configuration"));
        assert_eq!((l.client_auth, l.scopes.as_str(), l.label.as_str()), (ClientAuth::None, "openid", "p"));
        assert_eq!(l.session_seconds, DEFAULT_SESSION_SECONDS);
        let l = login(generic(json!({"client_id": "tv", "client_secret": "IDP_SECRET", "scopes": ["openid", "groups"],
            "authorization_endpoint": "https://id.example/auth", "token_endpoint": "https://id.example/token", "session_seconds": 600})))
        .unwrap()
        .unwrap();
        assert_eq!(l.discovery_url, None, "both endpoints written out: nothing to discover");
        assert_eq!((l.client_auth, l.scopes.as_str()), (ClientAuth::Basic, "openid groups"));
        assert_eq!(l.client_secret, Some(ClientSecret("the-secret-value".into())));
        assert!(!format!("{l:?}").contains("the-secret-value"), "never printed");
        assert!(login(json!({"issuer": "https://i.example", "audience": "a", "jwks_url": "https://i.example/j"}))
            .unwrap()
            .is_none());
    }

    #[test]
    fn presets_fill_the_endpoints() {
        let cognito = json!({"preset": "cognito", "region": "eu-west-1", "user_pool_id": "eu-west-1_Ab1", "client_id": "c1",
            "login": {"domain": "tv.auth.eu-west-1.amazoncognito.com"}});
        let l = login(cognito).unwrap().unwrap();
        assert_eq!(l.client_id, "c1", "the preset's client_id");
        assert_eq!(l.endpoints.token.as_deref(), Some("https://tv.auth.eu-west-1.amazoncognito.com/oauth2/token"));
        assert_eq!(l.endpoints.end_session.as_deref(), Some("https://tv.auth.eu-west-1.amazoncognito.com/logout"));
        assert_eq!((l.logout_style, l.discovery_url.as_deref()), (LogoutStyle::Cognito, None));
        let local = json!({"preset": "cognito", "region": "eu-west-1", "user_pool_id": "eu-west-1_Ab1", "client_id": "c1",
            "login": {"domain": "http://127.0.0.1:9000", "token_endpoint": "http://127.0.0.1:9001/token"}});
        let l = login(local).unwrap().unwrap();
        assert_eq!(l.endpoints.authorization.as_deref(), Some("http://127.0.0.1:9000/oauth2/authorize"));
        assert_eq!(l.endpoints.token.as_deref(), Some("http://127.0.0.1:9001/token"), "written out wins");
        let auth0 = json!({"preset": "auth0", "domain": "tenant.eu.auth0.com", "audience": "https://api",
            "login": {"client_id": "abc", "client_secret": "IDP_SECRET"}});
        let l = login(auth0).unwrap().unwrap();
        assert_eq!(l.endpoints.authorization.as_deref(), Some("https://tenant.eu.auth0.com/authorize"));
        assert_eq!(l.endpoints.token.as_deref(), Some("https://tenant.eu.auth0.com/oauth/token"));
        assert_eq!(l.logout_style, LogoutStyle::Oidc);
    }

    #[test]
    fn errors_name_the_field_and_the_rule() {
        let cases = [
            (generic(json!("yes")), "field `login` must be a table"),
            (generic(json!({"client_id": "tv", "cliend_secret": "X"})), "unknown field `login.cliend_secret`"),
            (generic(json!({})), "field `login.client_id` is required"),
            (
                generic(json!({"client_id": "tv", "client_secret": "s3cr3t-value"})),
                "must be the NAME of a secret binding",
            ),
            (
                generic(json!({"client_id": "tv", "client_secret": "MISSING_SECRET"})),
                "names secret `MISSING_SECRET`, which is not set",
            ),
            (generic(json!({"client_id": "tv", "client_auth": "post"})), "needs `login.client_secret`"),
            (
                generic(json!({"client_id": "tv", "client_secret": "IDP_SECRET", "client_auth": "jwt"})),
                "must be basic, post or none",
            ),
            (generic(json!({"client_id": "tv", "scopes": "profile email"})), "must include `openid`"),
            (
                generic(json!({"client_id": "tv", "token_endpoint": "http://id.example/token"})),
                "field `login.token_endpoint`",
            ),
            (generic(json!({"client_id": "tv", "session_seconds": 10})), "field `login.session_seconds`"),
            (generic(json!({"client_id": "tv", "domain": "x.example"})), "belongs to preset `cognito`"),
            (
                json!({"preset": "cognito", "region": "eu-west-1", "user_pool_id": "eu-west-1_Ab1", "client_id": "c1", "login": {}}),
                "needs field `login.domain`",
            ),
            (
                json!({"preset": "firebase", "project_id": "app", "login": {"client_id": "x"}}),
                "no standard hosted authorization endpoint",
            ),
            (
                json!({"preset": "clerk", "frontend_api": "clerk.example.com", "authorized_parties": ["https://a.example"], "login": {}}),
                "no standard hosted authorization endpoint",
            ),
        ];
        for (entry, expected) in cases {
            let err = login(entry.clone()).unwrap_err();
            assert!(err.contains(expected), "{entry} -> {err}");
            assert!(!err.contains("s3cr3t-value") && !err.contains("the-secret-value"), "{err}");
        }
    }

    #[test]
    fn secret_binding_names_are_found() {
        let setting =
            json!({"a": {"login": {"client_secret": "A_SECRET"}}, "b": {"login": {"client_secret": "not a name"}},
            "c": {"login": {"client_secret": "A_SECRET"}}, "d": {}})
            .to_string();
        assert_eq!(secret_names(Some(&setting)), ["A_SECRET"]);
        assert_eq!(
            secret_names(Some(&serde_json::to_string(&setting).unwrap())),
            ["A_SECRET"],
            "a JSON string holding it"
        );
        assert!(secret_names(Some("{")).is_empty() && secret_names(None).is_empty());
    }
}
