//! The return from the provider (`/callback`): the code exchange the Workers layer performs, the
//! token endpoint's answer, the ID token's checks (the provider's rules with the client id as
//! audience, plus `nonce` and `azp`), and the session the worker's cookie will carry.

use super::settings::{ClientAuth, Login};
use super::Failure;
use crate::encoding::{b64_encode, url_encode};
use crate::identity::jwk::KeySet;
use crate::identity::jwt::{self, Rejection};
use crate::identity::provider::{AudienceRule, Provider};
use crate::identity::session_cookie::{SessionClaims, MAX_SESSION_VERSION};
use crate::identity::{ChannelGrant, Session};
use serde_json::Value;

/// The token request the Workers layer sends (RFC 6749 section 4.1.3, with the PKCE verifier).
#[derive(Clone, PartialEq, Eq)]
pub struct Exchange {
    /// The token endpoint.
    pub url: String,
    /// The form body (`application/x-www-form-urlencoded`).
    pub body: String,
    /// Request headers.
    pub headers: Vec<(&'static str, String)>,
}

impl std::fmt::Debug for Exchange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The body holds the code and maybe the client secret; headers maybe the secret.
        f.debug_struct("Exchange").field("url", &self.url).finish_non_exhaustive()
    }
}

/// The token request for `code`, authenticated as the login's client requires.
pub fn exchange(login: &Login, token_endpoint: &str, code: &str, verifier: &str, redirect_uri: &str) -> Exchange {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri),
        ("code_verifier", verifier),
    ];
    let mut headers = vec![
        ("content-type", "application/x-www-form-urlencoded".to_owned()),
        ("accept", "application/json".to_owned()),
    ];
    let secret = login.client_secret.as_ref().map(|s| s.0.as_str()).unwrap_or_default();
    match login.client_auth {
        ClientAuth::Basic => {
            // RFC 6749 section 2.3.1: each part form-encoded, then base64.
            let pair = format!("{}:{}", url_encode(&login.client_id), url_encode(secret));
            headers.push(("authorization", format!("Basic {}", b64_encode(pair.as_bytes()))));
        }
        ClientAuth::Post => form.extend([("client_id", login.client_id.as_str()), ("client_secret", secret)]),
        ClientAuth::None => form.push(("client_id", &login.client_id)),
    }
    let body = form.iter().map(|(k, v)| format!("{k}={}", url_encode(v))).collect::<Vec<_>>().join("&");
    Exchange { url: token_endpoint.to_owned(), body, headers }
}

/// What came of the token request, as the Workers layer reports it.
#[derive(Clone, PartialEq, Eq)]
pub enum Exchanged {
    /// The token endpoint answered.
    Answer {
        /// HTTP status.
        status: u16,
        /// Body.
        body: String,
    },
    /// No answer (network error, timeout); the reason, for the log.
    Failed(String),
}

impl std::fmt::Debug for Exchanged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Answer { status, .. } => write!(f, "Answer({status}, ..)"),
            Self::Failed(reason) => write!(f, "Failed({reason})"),
        }
    }
}

/// The ID token of the token endpoint's answer.
pub fn id_token(exchanged: &Exchanged, provider: &str) -> Result<String, Failure> {
    let (status, body) = match exchanged {
        Exchanged::Failed(_) => return Err(Failure::Unavailable(provider.to_owned())),
        Exchanged::Answer { status, body } => (*status, body),
    };
    let json: Option<Value> = serde_json::from_str(body).ok();
    let field = |name: &str| json.as_ref().and_then(|j| j.get(name)).and_then(Value::as_str);
    match status {
        200 => field("id_token")
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .ok_or(Failure::BadAnswer("the token endpoint's answer has no `id_token` (is `openid` among the scopes?)")),
        400 | 401 => Err(match field("error") {
            Some("invalid_grant") => Failure::CodeRejected,
            Some("invalid_client" | "unauthorized_client") => Failure::BadAnswer(
                "the provider refused the worker's client credentials (login.client_id, client secret)",
            ),
            _ => Failure::BadAnswer("the token endpoint refused the code exchange"),
        }),
        500.. => Err(Failure::Unavailable(provider.to_owned())),
        _ => Err(Failure::BadAnswer("the token endpoint answered with an unexpected status")),
    }
}

/// The `kid` an ID token names, to fetch the provider's keys before it is verified. `None` for
/// an answer without a readable ID token.
pub fn id_token_kid(exchanged: &Exchanged) -> Option<Option<String>> {
    let token = id_token(exchanged, "").ok()?;
    let untrusted = jwt::decode(&token).ok()?;
    Some(untrusted.kid().map(str::to_owned))
}

/// Verify an ID token from `provider`'s token endpoint for this sign-in: every rule the provider
/// has for its tokens, with the login's client id as the audience (OpenID Connect Core 3.1.3.7),
/// then `nonce` (it must be this sign-in's) and `azp` (when present, the client id).
pub fn verify_id_token(
    token: &str,
    provider: &Provider,
    login: &Login,
    keys: &[&KeySet],
    nonce: &str,
    now: u64,
) -> Result<Session, Failure> {
    let refused = |reason: String| Failure::IdToken(reason);
    let untrusted = jwt::decode(token).map_err(|r| match r {
        Rejection::Invalid(reason) => refused(reason),
        _ => refused("the token is malformed".into()),
    })?;
    if keys.is_empty() {
        return Err(Failure::Unavailable(provider.name.clone()));
    }
    let mut as_client = provider.clone();
    as_client.audience = match provider.audience {
        AudienceRule::Cognito(_) => AudienceRule::Cognito(vec![login.client_id.clone()]),
        _ => AudienceRule::Aud(vec![login.client_id.clone()]),
    };
    let session = jwt::verify(&untrusted, &as_client, keys, now, None).map_err(|r| match r {
        Rejection::Expired => refused("the ID token has expired (is the clock of the provider right?)".into()),
        Rejection::UnknownKey => refused("the ID token's `kid` names none of the provider's keys".into()),
        Rejection::BadSignature => {
            refused("the ID token's signature does not verify against the provider's keys".into())
        }
        Rejection::Invalid(reason) => refused(reason),
    })?;
    if session.claims.get("nonce").and_then(Value::as_str) != Some(nonce) {
        return Err(refused("its `nonce` is not this sign-in's (a replayed or injected ID token)".into()));
    }
    if let Some(azp) = session.claims.get("azp") {
        if azp.as_str() != Some(login.client_id.as_str()) {
            return Err(refused("its `azp` is not this worker's client id".into()));
        }
    }
    // OpenID Connect Core 3.1.3.7: an ID token for several audiences must say it was issued to
    // this client (`azp`); without it, another audience could be the party it was issued to.
    let audiences = session.claims.get("aud").and_then(Value::as_array).map_or(1, Vec::len);
    if audiences > 1 && session.claims.get("azp").is_none() {
        return Err(refused(
            "its `aud` names other audiences besides this worker's client id, and it has no `azp` naming this client"
                .into(),
        ));
    }
    if matches!(provider.audience, AudienceRule::Cognito(_))
        && session.claims.get("token_use").and_then(Value::as_str) != Some("id")
    {
        return Err(refused("it is not a Cognito ID token (`token_use`)".into()));
    }
    Ok(session)
}

/// The claims of the worker's session cookie for a verified sign-in at `now`: subject, groups,
/// channels and resolution as the provider's claim mapping gives them; `sv` from the provider's
/// `session_version_claim` when set, else `auth_time` (else `iat`), so that revoking every
/// session version up to a time T ends every session signed in before T; expiry at the ID
/// token's `exp` or after the login's `session_seconds`, whichever comes first.
pub fn session_claims(session: &Session, provider: &Provider, login: &Login, now: u64) -> SessionClaims {
    let mut claims = SessionClaims::new(&session.sub, now, login.session_seconds);
    claims.exp = claims.exp.min(session.exp);
    claims.channels = match &session.channels {
        ChannelGrant::All => None,
        ChannelGrant::Only(names) => Some(names.clone()),
    };
    claims.groups = (!session.groups.is_empty()).then(|| session.groups.clone());
    claims.max_resolution = session.max_resolution;
    let time_claim = |name: &str| session.claims.get(name).and_then(Value::as_u64);
    claims.sv = Some(match provider.session_version_claim {
        Some(_) => session.session_version,
        None => time_claim("auth_time")
            .or_else(|| time_claim("iat"))
            .map_or(0, |t| t.min(MAX_SESSION_VERSION as u64) as i64),
    });
    claims.idp = Some(provider.name.clone());
    // The viewer keeps the viewer id the provider's own tokens give them (its issuer's namespace).
    claims.idp_iss = session.issuer.clone();
    claims
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::jwt::tests::{claims, mint, signer_jwk, ISSUER, NOW};
    use crate::identity::provider::parse_providers;
    use crate::signin::settings::parse_login;
    use serde_json::json;

    fn setup(extra: Value, login_extra: Value) -> (Provider, Login) {
        let mut login = json!({"client_id": "tv-app"});
        login.as_object_mut().unwrap().extend(login_extra.as_object().unwrap().clone());
        let mut entry = json!({"issuer": ISSUER, "audience": "api", "jwks": {"keys": [signer_jwk("k1")]},
            "groups_claim": "groups", "login": login});
        entry.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        let provider = parse_providers(&json!({ "idp": entry }).to_string()).unwrap().remove(0);
        let secrets = |name: &str| (name == "IDP_SECRET").then(|| "s3cret:&".to_owned());
        let login = parse_login(&provider, &secrets).unwrap().unwrap();
        (provider, login)
    }

    fn id_token(extra: Value) -> String {
        let mut c = claims();
        c["aud"] = json!("tv-app");
        c["nonce"] = json!("n-123");
        c["auth_time"] = json!(NOW - 30);
        c.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        mint(&json!({"alg": "ES384", "kid": "k1"}), &c)
    }

    fn check(token: &str, provider: &Provider, login: &Login, nonce: &str) -> Result<Session, Failure> {
        let keys = provider.inline_keys.clone().unwrap();
        verify_id_token(token, provider, login, &[&keys], nonce, NOW)
    }

    #[test]
    fn the_exchange_authenticates_as_the_client_requires() {
        let (_, public) = setup(json!({}), json!({}));
        let e = exchange(&public, "https://id.example/token", "c/1", "v", "https://tv.example/callback");
        assert_eq!(e.body, "grant_type=authorization_code&code=c%2F1&redirect_uri=https%3A%2F%2Ftv.example%2Fcallback&code_verifier=v&client_id=tv-app");
        assert!(!e.headers.iter().any(|(n, _)| *n == "authorization"));
        let (_, basic) = setup(json!({}), json!({"client_secret": "IDP_SECRET"}));
        let e = exchange(&basic, "https://id.example/token", "c", "v", "r");
        // base64("tv-app:s3cret%3A%26")
        assert!(e.headers.contains(&("authorization", "Basic dHYtYXBwOnMzY3JldCUzQSUyNg==".into())));
        assert!(!e.body.contains("client_"));
        assert!(!format!("{e:?}").contains("s3cret") && !format!("{e:?}").contains("code="), "never printed");
        let (_, post) = setup(json!({}), json!({"client_secret": "IDP_SECRET", "client_auth": "post"}));
        assert!(exchange(&post, "u", "c", "v", "r").body.ends_with("&client_id=tv-app&client_secret=s3cret%3A%26"));
    }

    #[test]
    fn token_endpoint_answers() {
        let answer = |status, body: Value| Exchanged::Answer { status, body: body.to_string() };
        assert_eq!(super::id_token(&answer(200, json!({"id_token": "a.b.c"})), "idp"), Ok("a.b.c".into()));
        assert!(matches!(
            super::id_token(&answer(200, json!({"access_token": "x"})), "idp"),
            Err(Failure::BadAnswer(_))
        ));
        assert_eq!(super::id_token(&answer(400, json!({"error": "invalid_grant"})), "idp"), Err(Failure::CodeRejected));
        assert!(
            matches!(super::id_token(&answer(401, json!({"error": "invalid_client"})), "idp"), Err(Failure::BadAnswer(m)) if m.contains("client credentials"))
        );
        assert_eq!(super::id_token(&answer(503, json!({})), "idp"), Err(Failure::Unavailable("idp".into())));
        assert_eq!(
            super::id_token(&Exchanged::Failed("timeout".into()), "idp"),
            Err(Failure::Unavailable("idp".into()))
        );
        let with_kid = answer(200, json!({"id_token": id_token(json!({}))}));
        assert_eq!(id_token_kid(&with_kid), Some(Some("k1".into())));
        assert_eq!(id_token_kid(&answer(400, json!({}))), None);
    }

    #[test]
    fn the_id_token_must_be_for_this_client_and_this_sign_in() {
        let (provider, login) = setup(json!({}), json!({}));
        let session = check(&id_token(json!({})), &provider, &login, "n-123").unwrap();
        assert_eq!((session.sub.as_str(), session.groups.as_slice()), ("user-1", &["members".to_owned()][..]));
        let refused = |token: String, nonce: &str| match check(&token, &provider, &login, nonce) {
            Err(Failure::IdToken(reason)) => reason,
            other => panic!("{other:?}"),
        };
        assert!(refused(id_token(json!({})), "another-nonce").contains("`nonce`"));
        assert!(refused(id_token(json!({"nonce": null})), "n-123").contains("`nonce`"));
        assert!(
            refused(id_token(json!({"aud": "api"})), "n-123").contains("`aud`"),
            "the API audience is no ID token's"
        );
        assert!(refused(id_token(json!({"aud": ["tv-app", "other"], "azp": "other"})), "n-123").contains("`azp`"));
        // Issue 22, finding 8: another audience beside ours, and no `azp`.
        assert!(refused(id_token(json!({"aud": ["tv-app", "other"]})), "n-123").contains("other audiences"));
        assert!(
            check(&id_token(json!({"aud": ["tv-app", "other"], "azp": "tv-app"})), &provider, &login, "n-123").is_ok()
        );
        assert!(check(&id_token(json!({"aud": ["tv-app"]})), &provider, &login, "n-123").is_ok());
        assert!(refused(id_token(json!({"exp": NOW - 3600})), "n-123").contains("expired"));
        assert!(refused(id_token(json!({"iss": "https://evil.example"})), "n-123").contains("`iss`"));
        let mut forged = id_token(json!({}));
        forged.replace_range(forged.len() - 5.., "AAAAA");
        assert!(refused(forged, "n-123").contains("signature"));
        assert!(refused("not-a-jwt".into(), "n-123").contains("JWS"));
        let no_keys = verify_id_token(&id_token(json!({})), &provider, &login, &[], "n-123", NOW);
        assert_eq!(no_keys.unwrap_err(), Failure::Unavailable("idp".into()));
    }

    #[test]
    fn cognito_id_tokens_only() {
        let cognito = json!({"preset": "cognito", "region": "eu-west-1", "user_pool_id": "eu-west-1_Ab1", "client_id": "tv-app",
            "issuer": ISSUER, "jwks": {"keys": [signer_jwk("k1")]}, "algorithms": ["ES384"]});
        let (provider, login) = {
            let mut entry = cognito;
            entry["login"] = json!({"domain": "tv.auth.eu-west-1.amazoncognito.com"});
            let provider = parse_providers(&json!({ "idp": entry }).to_string()).unwrap().remove(0);
            let login = parse_login(&provider, &|_| None).unwrap().unwrap();
            (provider, login)
        };
        let ok = id_token(json!({"token_use": "id", "cognito:groups": ["vip"]}));
        assert_eq!(check(&ok, &provider, &login, "n-123").unwrap().groups, ["vip"]);
        let access = id_token(json!({"token_use": "access", "client_id": "tv-app", "aud": null}));
        assert!(matches!(check(&access, &provider, &login, "n-123"), Err(Failure::IdToken(_))));
    }

    #[test]
    fn claim_mapping_into_the_session_cookie() {
        let (provider, login) = setup(
            json!({"channels_claim": "channels", "max_resolution_claim": "res"}),
            json!({"session_seconds": 600}),
        );
        let token = id_token(json!({"channels": ["demo"], "res": "HD", "exp": NOW + 3600}));
        let session = check(&token, &provider, &login, "n-123").unwrap();
        let claims = session_claims(&session, &provider, &login, NOW);
        assert_eq!((claims.sub.as_str(), claims.iat, claims.exp), ("user-1", NOW, NOW + 600), "bounded by the setting");
        assert_eq!(claims.channels, Some(vec!["demo".to_owned()]));
        assert_eq!(claims.groups, Some(vec!["members".to_owned()]));
        assert_eq!(claims.max_resolution, Some(crate::ivs::Resolution::Hd));
        assert_eq!(claims.sv, Some((NOW - 30) as i64), "sv from auth_time");
        assert_eq!(claims.idp.as_deref(), Some("idp"));
        assert_eq!(claims.idp_iss.as_deref(), Some(ISSUER), "the provider's namespace for the viewer id");
        let short =
            check(&id_token(json!({"exp": NOW + 120, "auth_time": null, "channels": "*"})), &provider, &login, "n-123")
                .unwrap();
        let claims = session_claims(&short, &provider, &login, NOW);
        assert_eq!((claims.exp, claims.sv), (NOW + 120, Some(NOW as i64)), "bounded by the ID token; sv from iat");
        let (versioned, login) = setup(json!({"session_version_claim": "ver"}), json!({}));
        let session = check(&id_token(json!({"ver": 7})), &versioned, &login, "n-123").unwrap();
        assert_eq!(session_claims(&session, &versioned, &login, NOW).sv, Some(7));
    }
}
