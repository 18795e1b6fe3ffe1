//! The operator API's pure parts: its bearer token (`ADMIN_API_TOKEN`), compared in constant
//! time, and its bodies: `POST /v1/admin/revoke`'s `{"sub", "provider"?, "issuer"?,
//! "session_cookie"?, "channel"?, "block_seconds"?}`, `POST /v1/admin/unblock`'s (the same without
//! `block_seconds`) and `POST /v1/admin/devices`'s (the viewer alone; a subject in a body, not in a
//! URL that platform request logs may keep).
//!
//! A viewer id is derived from the subject *and* where it was vouched for
//! (`identity::viewer_id`), so a body names both: `provider`, a name in `IDENTITY_PROVIDERS`
//! (mapped to that provider's `issuer` here, by [`ViewerRef::resolve`]), or `issuer`, exactly its
//! tokens' `iss`, or `"session_cookie": true` for a viewer of the app's own session cookie. A
//! deployment with identity providers refuses a subject that says none of these, instead of
//! acting on the session-cookie viewer of that subject, who is most likely nobody; one without
//! them takes a bare subject as a session-cookie viewer's, as it always did.
//!
//! ```
//! use ivs_token_worker::device::admin::{parse_revoke, AdminToken};
//! let token = AdminToken::new(b"an-operator-token-of-at-least-32-bytes");
//! assert!(token.authorizes(Some("Bearer an-operator-token-of-at-least-32-bytes")));
//! assert!(!token.authorizes(Some("Bearer an-operator-token-of-at-least-32-bytez")));
//! let revoke = parse_revoke(br#"{"sub": "alice@example.com", "session_cookie": true, "channel": "demo", "block_seconds": 3600}"#)?;
//! assert_eq!((revoke.channel.as_deref(), revoke.block_seconds), (Some("demo"), Some(3600)));
//! // No identity providers here: the app's own session cookie vouches for alice.
//! let viewer = revoke.viewer.resolve(&[], true)?;
//! assert_eq!((viewer.sub.as_str(), viewer.issuer, viewer.source.as_deref()), ("alice@example.com", None, Some("session_cookie")));
//! # Ok::<(), ivs_token_worker::Error>(())
//! ```

use crate::error::{Error, Result};
use crate::identity::provider::{check_issuer, Provider};
use crate::identity::MAX_SUBJECT_LEN;
use crate::text::is_name;
use hmac::{KeyInit, Mac};
use serde_json::Value;
use sha2::Sha256;

type HmacSha256 = hmac::Hmac<Sha256>;

/// The largest body the operator API reads (`POST /v1/admin/revoke`, `POST /v1/admin/devices`);
/// the Workers layer reads no more than this (the request plan's `Need::Body`).
pub const MAX_BODY_BYTES: usize = 4096;
/// The longest block: one year.
pub const MAX_BLOCK_SECONDS: u64 = 366 * 86_400;

/// Fixed key of the comparison MAC (not a secret: it only makes both sides fixed-length tags).
const COMPARE_KEY: &[u8] = b"ivs-token-worker admin token v1";

/// `ADMIN_API_TOKEN`, kept only as a MAC tag, compared in constant time.
#[derive(Clone)]
pub struct AdminToken {
    tag: Vec<u8>,
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(..)")
    }
}

fn mac(bytes: &[u8]) -> HmacSha256 {
    let mut mac =
        <HmacSha256 as KeyInit>::new_from_slice(COMPARE_KEY).unwrap_or_else(|_| HmacSha256::new(&Default::default()));
    mac.update(bytes);
    mac
}

impl AdminToken {
    /// From the secret's value (checked by the configuration with the rule of every secret).
    pub fn new(secret: &[u8]) -> Self {
        Self { tag: mac(secret).finalize().into_bytes().to_vec() }
    }

    /// Whether `presented` is the token. Both are reduced to fixed-length MAC tags first and the
    /// tags compared in constant time, so neither the token's length nor its first differing
    /// byte shows in the timing.
    pub fn matches(&self, presented: &str) -> bool {
        mac(presented.as_bytes()).verify_slice(&self.tag).is_ok()
    }

    /// Whether an `Authorization` header carries the token: `Bearer <token>` (scheme in any case).
    pub fn authorizes(&self, authorization: Option<&str>) -> bool {
        let presented = authorization.and_then(|value| {
            let (scheme, token) = value.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        });
        // Compare something either way, so a missing header takes as long as a wrong one.
        let ok = self.matches(presented.unwrap_or(""));
        ok && presented.is_some()
    }
}

/// `POST /v1/admin/revoke`'s body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokeRequest {
    /// The viewer, as the body names it (resolve it with [`ViewerRef::resolve`]).
    pub viewer: ViewerRef,
    /// Only this channel (a name in `CHANNELS`); every device-limited channel when absent.
    pub channel: Option<String>,
    /// Refuse the viewer's token requests (on that channel, or all) for this many seconds.
    pub block_seconds: Option<u64>,
}

const FIELDS: &str = "sub, provider, issuer, session_cookie, channel, block_seconds";
/// The fields that name a viewer, in every body.
const VIEWER_FIELDS: &str = "sub, provider, issuer, session_cookie";
/// What [`Viewer::source`] says of a viewer of the app's own session cookie (no provider is named
/// so: provider names are `[a-z0-9-]`).
pub const SESSION_COOKIE_SOURCE: &str = "session_cookie";
/// How many provider names an error lists at most.
const NAMES_LISTED: usize = 8;

/// The viewer an operator call names, as sent: the subject, and what it says of where the subject
/// was vouched for. [`ViewerRef::resolve`] checks it against the deployment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ViewerRef {
    /// The viewer's subject, as their identity carries it (never quoted in an error or a log).
    pub sub: String,
    /// A provider's name in `IDENTITY_PROVIDERS` (`[a-z0-9-]{1,64}`).
    pub provider: Option<String>,
    /// A provider's issuer, exactly as its tokens' `iss`.
    pub issuer: Option<String>,
    /// `true`: a viewer of the app's own session cookie, which no provider vouches for.
    pub session_cookie: bool,
}

/// A viewer, resolved: what its viewer id is derived from
/// (`config.viewer_ids.viewer_id(issuer, sub)`, as the token routes derive it from a session).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Viewer {
    /// The subject.
    pub sub: String,
    /// The issuer of the viewer's provider; `None` for the app's own session cookie.
    pub issuer: Option<String>,
    /// Where the viewer comes from, for the listing: the provider's name (the one the call named,
    /// else the first in name order with that issuer), [`SESSION_COOKIE_SOURCE`], or `None` for an
    /// issuer no configured provider has.
    pub source: Option<String>,
}

/// The configured providers' names, for an error: `a, b, c` (at most [`NAMES_LISTED`]).
fn provider_names(providers: &[Provider]) -> String {
    let names: Vec<&str> = providers.iter().take(NAMES_LISTED).map(|p| p.name.as_str()).collect();
    let more = providers.len().saturating_sub(NAMES_LISTED);
    let more = (more > 0).then(|| format!(" and {more} more"));
    format!("{}{}", names.join(", "), more.unwrap_or_default())
}

impl ViewerRef {
    /// The viewer this names on a deployment with `providers` (`IDENTITY_PROVIDERS`, in name
    /// order), whose own session cookie is on when `session_cookies` (`SESSION_SECRET` is set).
    /// Every error is a `400` that says what to send instead:
    /// - `provider` must be a configured provider's name, and agree with `issuer` when both are
    ///   given;
    /// - `session_cookie` is `true` only for a viewer no provider vouches for, on a deployment
    ///   that has the session cookie;
    /// - on a deployment with identity providers, a subject that names none of these is refused:
    ///   it would act on the session-cookie viewer of that subject, most likely nobody.
    pub fn resolve(&self, providers: &[Provider], session_cookies: bool) -> Result<Viewer> {
        let bad = |text: String| Error::BadRequest(text);
        let names = provider_names(providers);
        if self.session_cookie && (self.provider.is_some() || self.issuer.is_some()) {
            return Err(bad(format!(
                "`session_cookie`: true says the viewer signed in with the app's own session cookie, which no identity provider vouches for; send `provider` or `issuer` for a provider's viewer, or `session_cookie` alone{}",
                if providers.is_empty() { String::new() } else { format!(" (providers: {names})") }
            )));
        }
        if self.session_cookie {
            if !session_cookies {
                return Err(bad(format!(
                    "`session_cookie`: this deployment has no SESSION_SECRET, so no viewer signs in with the app's own session cookie; name the viewer's provider (`provider`: one of {names})"
                )));
            }
            return Ok(Viewer { sub: self.sub.clone(), issuer: None, source: Some(SESSION_COOKIE_SOURCE.into()) });
        }
        if let Some(name) = &self.provider {
            let Some(provider) = providers.iter().find(|p| &p.name == name) else {
                return Err(bad(if providers.is_empty() {
                    "`provider`: this deployment has no identity providers (IDENTITY_PROVIDERS is not set); leave `provider` out: a subject alone is a viewer of the app's own session cookie".into()
                } else {
                    format!(
                        "`provider`: no identity provider is named `{}`; name one of {names} (the names in IDENTITY_PROVIDERS)",
                        crate::text::truncate(name)
                    )
                }));
            };
            if self.issuer.as_deref().is_some_and(|issuer| issuer != provider.issuer) {
                return Err(bad(format!(
                    "`provider` and `issuer` disagree: provider `{}` has the issuer `{}`; send `provider` alone",
                    provider.name, provider.issuer
                )));
            }
            return Ok(Viewer {
                sub: self.sub.clone(),
                issuer: Some(provider.issuer.clone()),
                source: Some(provider.name.clone()),
            });
        }
        if let Some(issuer) = &self.issuer {
            let source = providers.iter().find(|p| &p.issuer == issuer).map(|p| p.name.clone());
            return Ok(Viewer { sub: self.sub.clone(), issuer: Some(issuer.clone()), source });
        }
        if !providers.is_empty() {
            return Err(bad(format!(
                "`sub` alone does not say which viewer: this deployment has identity providers, and each has subjects of its own; name the viewer's provider (`provider`: one of {names}){}",
                if session_cookies {
                    " or, for a viewer signed in with the app's own session cookie, say so with `\"session_cookie\": true`"
                } else {
                    ""
                }
            )));
        }
        Ok(Viewer { sub: self.sub.clone(), issuer: None, source: Some(SESSION_COOKIE_SOURCE.into()) })
    }
}

/// Whether `sub` may name a viewer in the operator API: 1 to [`MAX_SUBJECT_LEN`] characters (as
/// the OpenAPI document states it; no session's subject is longer, so a longer one names nobody).
pub fn is_subject(sub: &str) -> bool {
    !sub.is_empty() && sub.chars().count() <= MAX_SUBJECT_LEN
}

/// A JSON number that is a whole number within `u64` (`60` and `60.0`, not `1.5`).
fn whole_number(value: &Value) -> Option<u64> {
    value.as_u64().or_else(|| {
        let f = value.as_f64()?;
        // Bounded well below 2^53, where every whole f64 is exact.
        (f.fract() == 0.0 && (0.0..=1e15).contains(&f)).then_some(f as u64)
    })
}

/// The JSON object of an operator API body with only `fields`; every error a `400` naming the
/// rule, never quoting what was sent.
fn body_object(body: &[u8], fields: &str) -> Result<serde_json::Map<String, Value>> {
    let bad = |text: String| Error::BadRequest(text);
    if body.len() > MAX_BODY_BYTES {
        return Err(bad(format!("the body is larger than {MAX_BODY_BYTES} bytes")));
    }
    // Text first (invalid UTF-8 is as malformed as for serde_json's byte reader), so one JSON
    // reader serves the whole module.
    let value: Value = std::str::from_utf8(body)
        .ok()
        .and_then(|text| serde_json::from_str(text).ok())
        .ok_or_else(|| bad(format!("the body must be a JSON object with the fields {fields}")))?;
    let Value::Object(object) = value else {
        return Err(bad(format!("the body must be a JSON object with the fields {fields}")));
    };
    if let Some(unknown) = object.keys().find(|k| !fields.split(", ").any(|f| f == k.as_str())) {
        return Err(bad(format!("unknown field `{}`; known fields: {fields}", crate::text::truncate(unknown))));
    }
    Ok(object)
}

/// The viewer a body names: `sub`, and `provider`, `issuer` or `session_cookie` (each `null`
/// as if absent).
fn viewer_fields(object: &serde_json::Map<String, Value>) -> Result<ViewerRef> {
    let bad = |text: String| Error::BadRequest(text);
    let sub = match object.get("sub") {
        Some(Value::String(sub)) if is_subject(sub) => sub.clone(),
        Some(Value::String(_)) => return Err(bad(format!("field `sub` must be 1 to {MAX_SUBJECT_LEN} characters"))),
        Some(_) => return Err(bad("field `sub` must be a string: the viewer's subject".into())),
        None => return Err(bad("field `sub` is required: the viewer's subject, as their identity carries it".into())),
    };
    let provider = match object.get("provider") {
        None | Some(Value::Null) => None,
        Some(Value::String(name)) if is_name(name) => Some(name.clone()),
        Some(_) => {
            return Err(bad(
                "field `provider` must be the name of one of the deployment's identity providers (in IDENTITY_PROVIDERS), matching [a-z0-9-]{1,64}".into(),
            ))
        }
    };
    let issuer = match object.get("issuer") {
        None | Some(Value::Null) => None,
        Some(Value::String(issuer)) if issuer.len() <= 1024 && check_issuer(issuer).is_ok() => Some(issuer.clone()),
        Some(_) => {
            return Err(bad(
                "field `issuer` must be an identity provider's issuer, an https URL (http only for localhost), exactly as its tokens' `iss`".into(),
            ))
        }
    };
    let session_cookie = match object.get("session_cookie") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(flag)) => *flag,
        Some(_) => {
            return Err(bad(
                "field `session_cookie` must be true (a viewer of the app's own session cookie) or false".into()
            ))
        }
    };
    Ok(ViewerRef { sub, provider, issuer, session_cookie })
}

/// Parse `POST /v1/admin/unblock`'s `{"sub", "provider"?, "issuer"?, "session_cookie"?,
/// "channel"?}`: the viewer, and the channel whose block to lift (every block when absent).
pub fn parse_unblock(body: &[u8]) -> Result<(ViewerRef, Option<String>)> {
    let object = body_object(body, &format!("{VIEWER_FIELDS}, channel"))?;
    let viewer = viewer_fields(&object)?;
    let channel = match object.get("channel") {
        None | Some(Value::Null) => None,
        Some(Value::String(name)) if is_name(name) => Some(name.clone()),
        Some(_) => {
            return Err(Error::BadRequest("field `channel` must be a channel name matching [a-z0-9-]{1,64}".into()))
        }
    };
    Ok((viewer, channel))
}

/// Parse `POST /v1/admin/devices`'s `{"sub", "provider"?, "issuer"?, "session_cookie"?}`: the
/// viewer to list.
pub fn parse_list(body: &[u8]) -> Result<ViewerRef> {
    viewer_fields(&body_object(body, VIEWER_FIELDS)?)
}

/// The viewer of `GET /v1/admin/devices?sub=...[&provider=NAME][&issuer=URL][&session_cookie=true]`
/// (the listing's older form), from its query parameters as decoded, with the rules of the body's
/// fields.
pub fn list_query(
    sub: Option<String>,
    provider: Option<String>,
    issuer: Option<String>,
    session_cookie: Option<String>,
) -> Result<ViewerRef> {
    let bad = |text: &str| Error::BadRequest(text.into());
    let sub = sub
        .filter(|sub| is_subject(sub))
        .ok_or_else(|| bad("query parameter `sub` is required: the viewer's subject (1 to 256 characters)"))?;
    if provider.as_deref().is_some_and(|name| !is_name(name)) {
        return Err(bad("query parameter `provider` must be the name of one of the deployment's identity providers, matching [a-z0-9-]{1,64}"));
    }
    if issuer.as_deref().is_some_and(|issuer| issuer.len() > 1024 || check_issuer(issuer).is_err()) {
        return Err(bad(
            "query parameter `issuer` must be an identity provider's issuer, exactly as its tokens' `iss`",
        ));
    }
    let session_cookie = match session_cookie.as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(bad("query parameter `session_cookie` must be true or false")),
    };
    Ok(ViewerRef { sub, provider, issuer, session_cookie })
}

/// Parse `{"sub", "provider"?, "issuer"?, "session_cookie"?, "channel"?, "block_seconds"?}`.
/// Every error is a `400` that names the field and the rule, and never quotes the subject.
pub fn parse_revoke(body: &[u8]) -> Result<RevokeRequest> {
    let bad = |text: String| Error::BadRequest(text);
    let object = body_object(body, FIELDS)?;
    let viewer = viewer_fields(&object)?;
    let channel = match object.get("channel") {
        None | Some(Value::Null) => None,
        Some(Value::String(name)) if is_name(name) => Some(name.clone()),
        Some(_) => return Err(bad("field `channel` must be a channel name matching [a-z0-9-]{1,64}".into())),
    };
    let block_seconds = match object.get("block_seconds") {
        None | Some(Value::Null) => None,
        // JSON Schema's `integer` includes integral numbers written with a fraction (`60.0`).
        Some(value) => Some(whole_number(value).filter(|n| (1..=MAX_BLOCK_SECONDS).contains(n)).ok_or_else(|| {
            bad(format!("field `block_seconds` must be a whole number of seconds from 1 to {MAX_BLOCK_SECONDS}"))
        })?),
    };
    Ok(RevokeRequest { viewer, channel, block_seconds })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::problem::Problem;

    const TOKEN: &str = "an-operator-token-of-at-least-32-bytes";

    #[test]
    fn the_bearer_token() {
        let token = AdminToken::new(TOKEN.as_bytes());
        assert!(token.matches(TOKEN));
        assert!(token.authorizes(Some(&format!("Bearer {TOKEN}"))));
        assert!(token.authorizes(Some(&format!("bearer  {TOKEN} "))));
        for wrong in [
            None,
            Some(""),
            Some("Bearer"),
            Some("Bearer "),
            Some(TOKEN),
            Some(&*format!("Basic {TOKEN}")),
            Some(&*format!("Bearer {TOKEN}x")),
            Some(&*format!("Bearer {}", &TOKEN[1..])),
        ] {
            assert!(!token.authorizes(wrong), "{wrong:?}");
        }
        assert!(!AdminToken::new(b"").authorizes(None), "an empty token never authorizes a missing header");
        assert!(!format!("{token:?}").contains("operator"));
    }

    fn viewer(sub: &str) -> ViewerRef {
        ViewerRef { sub: sub.into(), ..ViewerRef::default() }
    }

    const AUTH0: &str = "https://tenant.us.auth0.com/";
    const COGNITO: &str = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123xyz";

    /// Two providers (in name order, as the configuration keeps them), and a second entry of the
    /// Cognito pool (another app client: one issuer, one source).
    fn providers() -> Vec<Provider> {
        let keys = r#""jwks_url": "https://keys.example/jwks""#;
        crate::identity::provider::parse_providers(&format!(
            r#"{{"auth0": {{"issuer": "{AUTH0}", "audience": "a", {keys}}},
                "members": {{"issuer": "{COGNITO}", "audience": "b", {keys}}},
                "members-tv": {{"issuer": "{COGNITO}", "audience": "c", {keys}}}}}"#
        ))
        .unwrap()
    }

    fn resolved(body: &str, providers: &[Provider], session_cookies: bool) -> Result<Viewer> {
        parse_list(body.as_bytes())?.resolve(providers, session_cookies)
    }

    #[test]
    fn a_provider_is_named_by_its_name_and_mapped_to_its_issuer() {
        let providers = providers();
        let by_name = resolved(r#"{"sub": "auth0|42", "provider": "auth0"}"#, &providers, true).unwrap();
        assert_eq!(
            by_name,
            Viewer { sub: "auth0|42".into(), issuer: Some(AUTH0.into()), source: Some("auth0".into()) }
        );
        // The issuer alone, and both when they agree: the same viewer.
        assert_eq!(
            resolved(&format!(r#"{{"sub": "auth0|42", "issuer": "{AUTH0}"}}"#), &providers, true).unwrap(),
            by_name
        );
        let both = format!(r#"{{"sub": "auth0|42", "provider": "auth0", "issuer": "{AUTH0}"}}"#);
        assert_eq!(resolved(&both, &providers, true).unwrap(), by_name);
        // One issuer, two entries: the name the call gave, else the first in name order.
        let tv = resolved(r#"{"sub": "u", "provider": "members-tv"}"#, &providers, false).unwrap();
        assert_eq!((tv.issuer.as_deref(), tv.source.as_deref()), (Some(COGNITO), Some("members-tv")));
        let pool = resolved(&format!(r#"{{"sub": "u", "issuer": "{COGNITO}"}}"#), &providers, false).unwrap();
        assert_eq!((pool.issuer.as_deref(), pool.source.as_deref()), (Some(COGNITO), Some("members")));
        // An issuer no provider has is taken as given (as before); the listing says no provider.
        let other = resolved(r#"{"sub": "u", "issuer": "https://other.example"}"#, &providers, true).unwrap();
        assert_eq!((other.issuer.as_deref(), other.source), (Some("https://other.example"), None));
    }

    #[test]
    fn a_viewer_that_cannot_be_found_is_refused_with_what_to_send() {
        let providers = providers();
        let cases = [
            (
                r#"{"sub": "a", "provider": "okta"}"#,
                true,
                "`provider`: no identity provider is named `okta`; name one of auth0, members, members-tv (the names in IDENTITY_PROVIDERS)",
            ),
            (
                r#"{"sub": "a", "provider": "auth0", "issuer": "https://tenant.us.auth0.com"}"#,
                true,
                "`provider` and `issuer` disagree: provider `auth0` has the issuer `https://tenant.us.auth0.com/`; send `provider` alone",
            ),
            (
                r#"{"sub": "a"}"#,
                true,
                "`sub` alone does not say which viewer: this deployment has identity providers, and each has subjects of its own; name the viewer's provider (`provider`: one of auth0, members, members-tv) or, for a viewer signed in with the app's own session cookie, say so with `\"session_cookie\": true`",
            ),
            (r#"{"sub": "a", "session_cookie": false}"#, true, "`sub` alone does not say which viewer"),
            (r#"{"sub": "a", "provider": null}"#, true, "`sub` alone does not say which viewer"),
            (
                r#"{"sub": "a"}"#,
                false,
                "`sub` alone does not say which viewer: this deployment has identity providers, and each has subjects of its own; name the viewer's provider (`provider`: one of auth0, members, members-tv)",
            ),
            (
                r#"{"sub": "a", "session_cookie": true}"#,
                false,
                "`session_cookie`: this deployment has no SESSION_SECRET, so no viewer signs in with the app's own session cookie; name the viewer's provider (`provider`: one of auth0, members, members-tv)",
            ),
            (r#"{"sub": "a", "provider": "auth0", "session_cookie": true}"#, true, "`session_cookie`: true says the viewer signed in with the app's own session cookie, which no identity provider vouches for"),
            (r#"{"sub": "a", "issuer": "https://id.example", "session_cookie": true}"#, true, "`session_cookie`: true says"),
        ];
        for (body, session_cookies, expected) in cases {
            let error = resolved(body, &providers, session_cookies).unwrap_err();
            assert_eq!(error.status(), 400, "{body}");
            let message = error.to_string();
            assert!(message.starts_with(expected), "{body}: expected {expected:?}, got {message}");
            if !session_cookies {
                assert!(!message.contains("session_cookie\": true"), "{body}: {message}");
            }
        }
        // Without identity providers a provider's name names nobody.
        let none = resolved(r#"{"sub": "a", "provider": "auth0"}"#, &[], true).unwrap_err().to_string();
        assert!(none.starts_with("`provider`: this deployment has no identity providers"), "{none}");
    }

    #[test]
    fn the_session_cookie_viewer_with_and_without_providers() {
        let cookie = Viewer { sub: "alice".into(), issuer: None, source: Some(SESSION_COOKIE_SOURCE.into()) };
        // Without identity providers a bare subject is the session cookie's viewer, as always.
        assert_eq!(resolved(r#"{"sub": "alice"}"#, &[], true).unwrap(), cookie);
        assert_eq!(resolved(r#"{"sub": "alice", "session_cookie": true}"#, &[], true).unwrap(), cookie);
        // With them, only when the call says so.
        assert_eq!(resolved(r#"{"sub": "alice", "session_cookie": true}"#, &providers(), true).unwrap(), cookie);
        assert_eq!(
            resolved(r#"{"sub": "alice", "provider": "auth0", "session_cookie": false}"#, &providers(), true)
                .unwrap()
                .issuer
                .as_deref(),
            Some(AUTH0)
        );
    }

    #[test]
    fn the_listings_query_follows_the_bodys_rules() {
        let some = |s: &str| Some(s.to_owned());
        let query = list_query(some("a"), some("auth0"), None, some("false")).unwrap();
        assert_eq!(query, ViewerRef { provider: some("auth0"), ..viewer("a") });
        assert!(list_query(some("a"), None, None, some("true")).unwrap().session_cookie);
        for (sub, provider, issuer, flag, expected) in [
            (None, None, None, None, "query parameter `sub` is required"),
            (some(""), None, None, None, "query parameter `sub` is required"),
            (some("a"), some("Auth0"), None, None, "query parameter `provider` must be"),
            (some("a"), None, some("tenant"), None, "query parameter `issuer` must be"),
            (some("a"), None, None, some("1"), "query parameter `session_cookie` must be true or false"),
        ] {
            let message = list_query(sub, provider, issuer, flag).unwrap_err().to_string();
            assert!(message.starts_with(expected), "{message}");
        }
        let bare = list_query(some("a"), None, None, None).unwrap();
        assert!(bare.resolve(&providers(), true).unwrap_err().to_string().starts_with("`sub` alone"));
    }

    #[test]
    fn many_providers_are_listed_in_part() {
        let entries: Vec<String> =
            (0..20).map(|i| format!(r#""p{i:02}": {{"issuer": "https://p{i}.example", "audience": "a", "jwks_url": "https://keys.example/jwks"}}"#)).collect();
        let providers = crate::identity::provider::parse_providers(&format!("{{{}}}", entries.join(","))).unwrap();
        let message = resolved(r#"{"sub": "a", "provider": "nope"}"#, &providers, true).unwrap_err().to_string();
        assert!(message.contains("p00, p01, p02, p03, p04, p05, p06, p07 and 12 more"), "{message}");
        assert!(message.len() < 400, "{message}");
    }

    #[test]
    fn revoke_bodies() {
        assert_eq!(
            parse_revoke(br#"{"sub": "alice"}"#).unwrap(),
            RevokeRequest { viewer: viewer("alice"), channel: None, block_seconds: None }
        );
        assert_eq!(
            parse_revoke(br#"{"sub": "a", "issuer": "https://id.example/"}"#).unwrap().viewer.issuer.as_deref(),
            Some("https://id.example/")
        );
        assert_eq!(
            parse_revoke(br#"{"sub": "a", "provider": "auth0", "issuer": null, "session_cookie": null}"#)
                .unwrap()
                .viewer,
            ViewerRef { provider: Some("auth0".into()), ..viewer("a") }
        );
        assert!(parse_revoke(br#"{"sub": "a", "session_cookie": true}"#).unwrap().viewer.session_cookie);
        assert!(!parse_revoke(br#"{"sub": "a", "session_cookie": false}"#).unwrap().viewer.session_cookie);
        assert_eq!(parse_revoke(br#"{"sub": "a", "channel": null, "block_seconds": null}"#).unwrap().channel, None);
        assert_eq!(parse_revoke(br#"{"sub": "a", "block_seconds": 60.0}"#).unwrap().block_seconds, Some(60));
        let wide = format!(r#"{{"sub": "{}"}}"#, "\u{e9}".repeat(256));
        assert!(parse_revoke(wide.as_bytes()).is_ok(), "256 characters, 512 bytes: as the document counts");
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (b"".to_vec(), "the body must be a JSON object"),
            (b"[]".to_vec(), "the body must be a JSON object"),
            (b"{".to_vec(), "the body must be a JSON object"),
            (br#"{"channel": "demo"}"#.to_vec(), "field `sub` is required"),
            (br#"{"sub": ""}"#.to_vec(), "field `sub` must be 1 to 256 characters"),
            (format!(r#"{{"sub": "{}"}}"#, "x".repeat(257)).into_bytes(), "field `sub` must be 1 to 256 characters"),
            (br#"{"sub": 7}"#.to_vec(), "field `sub` must be a string"),
            (br#"{"sub": "a", "channel": "Demo"}"#.to_vec(), "field `channel` must be a channel name"),
            (
                br#"{"sub": "a", "block_seconds": 0}"#.to_vec(),
                "field `block_seconds` must be a whole number of seconds from 1 to 31622400",
            ),
            (br#"{"sub": "a", "block_seconds": 1.5}"#.to_vec(), "field `block_seconds` must be"),
            (br#"{"sub": "a", "block_seconds": 1e300}"#.to_vec(), "field `block_seconds` must be"),
            (br#"{"sub": "a", "block_seconds": -60.0}"#.to_vec(), "field `block_seconds` must be"),
            (br#"{"sub": "a", "block_seconds": 31622401}"#.to_vec(), "field `block_seconds` must be"),
            (
                br#"{"sub": "a", "subject": "b"}"#.to_vec(),
                "unknown field `subject`; known fields: sub, provider, issuer, session_cookie, channel, block_seconds",
            ),
            (br#"{"sub": "a", "provider": "Auth0"}"#.to_vec(), "field `provider` must be the name of one of"),
            (br#"{"sub": "a", "provider": ""}"#.to_vec(), "field `provider` must be"),
            (br#"{"sub": "a", "provider": 1}"#.to_vec(), "field `provider` must be"),
            (br#"{"sub": "a", "session_cookie": "yes"}"#.to_vec(), "field `session_cookie` must be true"),
            (br#"{"sub": "a", "session_cookie": 1}"#.to_vec(), "field `session_cookie` must be true"),
            (
                br#"{"sub": "a", "issuer": "id.example"}"#.to_vec(),
                "field `issuer` must be an identity provider's issuer",
            ),
            (br#"{"sub": "a", "issuer": "http://id.example"}"#.to_vec(), "field `issuer` must be"),
            (br#"{"sub": "a", "issuer": 1}"#.to_vec(), "field `issuer` must be"),
            (vec![b' '; MAX_BODY_BYTES + 1], "the body is larger than 4096 bytes"),
        ];
        for (body, expected) in cases {
            let err = parse_revoke(&body).unwrap_err();
            assert_eq!(err.status(), 400);
            assert!(err.to_string().starts_with(expected), "expected {expected:?}, got {err}");
            assert!(!err.to_string().contains("xxxx"), "never quotes the subject");
        }
    }
}
