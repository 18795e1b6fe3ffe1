//! Finding the viewer's credential in a request and turning it into a [`Session`].
//!
//! **Precedence.** A request may carry several credentials (a Bearer header and a cookie, or
//! cookies of two providers). They are considered in this order, and the first one present
//! decides:
//!
//! 1. `Authorization: Bearer <token>`, when a provider reads `bearer`;
//! 2. `header:NAME` sources, providers in name order;
//! 3. `cookie:NAME` sources, providers in name order;
//! 4. the worker's own HS256 session cookie (`SESSION_COOKIE`), when `SESSION_SECRET` is set.
//!
//! Explicit headers come before cookies because an app that sends one means it, while browsers
//! send cookies by themselves. A present but invalid credential is refused with its reason; a
//! weaker one behind it is never tried instead. A token in a place several providers read is
//! routed by its `iss`. Several cookies of one name (set for different paths or domains) are
//! tried in order and the first that verifies wins.

use super::jwk::Algorithm;
use super::jwt::{self, Rejection};
use super::keystore::{Fetched, KeyStore};
use super::provider::{Provider, TokenSource};
use super::session_cookie::{SessionSecrets, LEEWAY_SECONDS};
use super::verified::VerifiedTokens;
use super::Session;
use crate::cookie::find_cookies;
use crate::error::{Error, Result};

/// At most this many same-named cookies are tried.
const MAX_SAME_NAME_COOKIES: usize = 4;

/// The credential-bearing parts of a request.
#[derive(Debug, Clone, Copy, Default)]
pub struct Presented<'a> {
    /// `Authorization` header.
    pub authorization: Option<&'a str>,
    /// `Cookie` header.
    pub cookie: Option<&'a str>,
    /// Other request headers (names in any case), for `header:NAME` sources.
    pub headers: &'a [(&'a str, &'a str)],
    /// The platform's answers to [`Identity::signature_checks`]: (token digest, valid).
    pub verdicts: &'a [([u8; 32], bool)],
}

impl<'a> Presented<'a> {
    fn header(&self, name: &str) -> Option<&'a str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| *v)
    }

    /// The token of an `Authorization: Bearer` header (scheme case-insensitive, RFC 6750).
    pub fn bearer(&self) -> Option<&'a str> {
        let value = self.authorization?.trim();
        let (scheme, token) = value.split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
    }
}

/// Everything identity needs from the configuration.
#[derive(Debug)]
pub struct Identity {
    /// Identity providers, in name order.
    pub providers: Vec<Provider>,
    /// Their fetched keys.
    pub keys: KeyStore,
    /// The HS256 session cookie's secrets, when `SESSION_SECRET` is set.
    pub sessions: Option<SessionSecrets>,
    /// The HS256 session cookie's name.
    pub cookie_name: String,
    /// Identity tokens verified in this isolate (see [`super::verified`]).
    pub verified: VerifiedTokens,
}

/// A key document to fetch, and the `kid` the request needs from it (if any).
#[derive(Debug, Clone)]
pub struct KeyFetch<'s> {
    /// The provider.
    pub provider: &'s Provider,
    /// The key the deciding token names.
    pub kid: Option<String>,
}

/// A provider token's signature for the platform to check, with the key and algorithm the core
/// chose for it (see [`Identity::signature_checks`]).
#[derive(Debug, Clone)]
pub struct SignatureCheck {
    /// SHA-256 of the token, which the verdict is returned under.
    pub digest: [u8; 32],
    /// The algorithm.
    pub alg: Algorithm,
    /// The public key, as a minimal JWK.
    pub key: serde_json::Value,
    /// A stable name for the key and algorithm, to reuse an imported key.
    pub key_id: String,
    /// The signing input.
    pub signing_input: String,
    /// The signature.
    pub signature: Vec<u8>,
}

/// The credential that decides a request.
enum Credential<'s, 'a> {
    /// Token(s) for identity providers: where they were found, who reads that place.
    Provider { source: String, readers: Vec<&'s Provider>, tokens: Vec<&'a str> },
    /// The HS256 session cookie's value(s).
    SessionCookie(Vec<&'a str>),
}

impl Identity {
    fn readers(&self, source: &TokenSource) -> Vec<&Provider> {
        self.providers.iter().filter(|p| p.reads(source)).collect()
    }

    fn locate<'s, 'a>(&'s self, presented: &Presented<'a>) -> Option<Credential<'s, 'a>> {
        if let Some(token) = presented.bearer() {
            let readers = self.readers(&TokenSource::Bearer);
            if !readers.is_empty() {
                return Some(Credential::Provider {
                    source: "Authorization: Bearer".into(),
                    readers,
                    tokens: vec![token],
                });
            }
        }
        for provider in &self.providers {
            for source in &provider.token_from {
                if let TokenSource::Header(name) = source {
                    if let Some(token) = presented.header(name).map(str::trim).filter(|t| !t.is_empty()) {
                        return Some(Credential::Provider {
                            source: format!("header `{name}`"),
                            readers: self.readers(source),
                            tokens: vec![token],
                        });
                    }
                }
            }
        }
        let cookie_header = presented.cookie.unwrap_or_default();
        for provider in &self.providers {
            for source in &provider.token_from {
                if let TokenSource::Cookie(name) = source {
                    let tokens: Vec<&str> = find_cookies(cookie_header, name)
                        .filter(|v| !v.is_empty())
                        .take(MAX_SAME_NAME_COOKIES)
                        .collect();
                    if !tokens.is_empty() {
                        return Some(Credential::Provider {
                            source: format!("cookie `{name}`"),
                            readers: self.readers(source),
                            tokens,
                        });
                    }
                }
            }
        }
        if self.sessions.is_some() {
            let values: Vec<&str> =
                find_cookies(cookie_header, &self.cookie_name).take(MAX_SAME_NAME_COOKIES).collect();
            if !values.is_empty() {
                return Some(Credential::SessionCookie(values));
            }
        }
        None
    }

    /// What to tell a viewer who sent nothing.
    fn what_to_send(&self) -> String {
        let mut ways = Vec::new();
        if !self.readers(&TokenSource::Bearer).is_empty() {
            ways.push("an `Authorization: Bearer` token from your identity provider".to_owned());
        }
        for provider in &self.providers {
            for source in &provider.token_from {
                match source {
                    TokenSource::Header(name) => ways.push(format!("the `{name}` header")),
                    TokenSource::Cookie(name) => ways.push(format!("the `{name}` cookie")),
                    TokenSource::Bearer => {}
                }
            }
        }
        if self.sessions.is_some() {
            ways.push(format!("the `{}` session cookie", self.cookie_name));
        }
        ways.dedup();
        format!("sign in first; this worker accepts {}", ways.join(", or "))
    }

    /// The provider a token belongs to, among those reading where it was found: by `iss`.
    fn route<'p>(readers: &[&'p Provider], token: &jwt::UntrustedToken<'_>) -> Option<&'p Provider> {
        let issuer = token.issuer()?;
        readers.iter().copied().find(|p| p.issuer == issuer)
    }

    /// Key documents the Workers layer should fetch before this request is answered: the
    /// provider of the deciding credential, when it has no keys, stale keys, or not the key the
    /// token names (see [`KeyStore::wants_fetch`] for the rate limit).
    pub fn fetches_for<'s>(&'s self, presented: &Presented<'_>, now: u64) -> Vec<KeyFetch<'s>> {
        let Some(Credential::Provider { readers, tokens, .. }) = self.locate(presented) else { return Vec::new() };
        let mut wanted: Vec<KeyFetch<'s>> = Vec::new();
        for token in tokens {
            let Ok(untrusted) = jwt::decode(token) else { continue };
            if let Some(provider) = Self::route(&readers, &untrusted) {
                if self.keys.wants_fetch(provider, untrusted.kid(), now)
                    && !wanted.iter().any(|f| f.provider.name == provider.name)
                {
                    wanted.push(KeyFetch { provider, kid: untrusted.kid().map(str::to_owned) });
                }
            }
        }
        wanted
    }

    /// Key documents of providers that have never had keys and may be fetched now (for the
    /// health check).
    pub fn fetches_for_health(&self, now: u64) -> Vec<KeyFetch<'_>> {
        self.providers
            .iter()
            .filter(|p| {
                self.keys.keys(p, now).is_none() && p.inline_keys.is_none() && self.keys.wants_fetch(p, None, now)
            })
            .map(|provider| KeyFetch { provider, kid: None })
            .collect()
    }

    /// The signatures of the deciding credential's provider tokens that the platform may check
    /// (tokens not verified before, whose key is known): the Workers layer asks WebCrypto and
    /// returns the answers as [`Presented::verdicts`]; everything else is still checked here.
    pub fn signature_checks(&self, presented: &Presented<'_>, now: u64) -> Vec<SignatureCheck> {
        let Some(Credential::Provider { readers, tokens, .. }) = self.locate(presented) else { return Vec::new() };
        let mut checks = Vec::new();
        for token in tokens {
            if readers.iter().any(|p| self.verified.get(&p.name, token, now).is_some()) {
                continue;
            }
            let Ok(untrusted) = jwt::decode(token) else { continue };
            let Some(provider) = Self::route(&readers, &untrusted) else { continue };
            let fetched = self.keys.keys(provider, now);
            let keys: Vec<&super::jwk::KeySet> =
                fetched.as_deref().into_iter().chain(provider.inline_keys.as_ref()).collect();
            if let Some((alg, key)) = jwt::signature_check(&untrusted, provider, &keys) {
                let jwk = key.to_public_jwk();
                let key_id =
                    format!("{}:{}", alg.name(), crate::encoding::hex(&super::verified::digest(&jwk.to_string())));
                checks.push(SignatureCheck {
                    digest: super::verified::digest(token),
                    alg,
                    key: jwk,
                    key_id,
                    signing_input: untrusted.signing_input().to_owned(),
                    signature: untrusted.signature().to_vec(),
                });
            }
        }
        checks
    }

    /// `Err` naming the first provider without usable keys (for `/healthz`).
    pub fn health(&self, now: u64) -> Result<()> {
        match self.providers.iter().find(|p| self.keys.unavailable(p, now).is_some()) {
            Some(provider) => Err(Error::ProviderUnavailable(provider.name.clone())),
            None => Ok(()),
        }
    }

    /// The viewer's session, from the credential that decides this request (see the module
    /// docs for the precedence).
    pub fn session(&self, presented: &Presented<'_>, now: u64) -> Result<Session> {
        match self.locate(presented) {
            None => Err(match &self.sessions {
                // The worker as it always was: the cookie's own message.
                Some(_) if self.providers.is_empty() => Error::Session(crate::error::SessionFault::Missing),
                _ => Error::NoCredential(self.what_to_send()),
            }),
            Some(Credential::SessionCookie(values)) => {
                let secrets =
                    self.sessions.as_ref().ok_or(Error::Internal("session cookie located without secrets"))?;
                first_success(values.iter().map(|value| secrets.verify(value, now)))
            }
            Some(Credential::Provider { source, readers, tokens }) => first_success(
                tokens.iter().map(|token| self.verify_token(&source, &readers, token, presented.verdicts, now)),
            ),
        }
    }

    /// Record a fetch of `provider`'s key document (see [`KeyStore::record`]); when the set of
    /// keys changed, tokens verified with the old set are verified again.
    pub fn record_fetch(&self, provider: &Provider, fetched: Fetched, now: u64) -> Option<String> {
        let before = self.key_ids(provider, now);
        let first_failure = self.keys.record(provider, fetched, now);
        if self.key_ids(provider, now) != before {
            self.verified.forget_provider(&provider.name);
        }
        first_failure
    }

    /// Record a key document found in the shared cache (see [`KeyStore::record_cached`]).
    pub fn record_cached(&self, provider: &Provider, body: String, cache_control: Option<String>, now: u64) {
        let before = self.key_ids(provider, now);
        self.keys.record_cached(provider, body, cache_control, now);
        if self.key_ids(provider, now) != before {
            self.verified.forget_provider(&provider.name);
        }
    }

    fn key_ids(&self, provider: &Provider, now: u64) -> Option<Vec<Option<String>>> {
        self.keys.keys(provider, now).map(|set| set.keys.iter().map(|k| k.kid.clone()).collect())
    }

    fn verify_token(
        &self,
        source: &str,
        readers: &[&Provider],
        token: &str,
        verdicts: &[([u8; 32], bool)],
        now: u64,
    ) -> Result<Session> {
        if let Some(session) = readers.iter().find_map(|p| self.verified.get(&p.name, token, now)) {
            return Ok(session);
        }
        let refused =
            |reason: String, expired: bool| Error::CredentialRefused { source: source.to_owned(), reason, expired };
        let untrusted = jwt::decode(token).map_err(|r| match r {
            Rejection::Invalid(reason) => refused(reason, false),
            Rejection::Expired | Rejection::UnknownKey => refused("the token is malformed".into(), false),
        })?;
        let provider = Self::route(readers, &untrusted).ok_or_else(|| {
            let names: Vec<&str> = readers.iter().map(|p| p.name.as_str()).collect();
            refused(
                format!("its `iss` is not the issuer of any identity provider reading it here ({})", names.join(", ")),
                false,
            )
        })?;
        let fetched = self.keys.keys(provider, now);
        let keys: Vec<&super::jwk::KeySet> =
            fetched.as_deref().into_iter().chain(provider.inline_keys.as_ref()).collect();
        if keys.is_empty() {
            return Err(Error::ProviderUnavailable(provider.name.clone()));
        }
        let digest = super::verified::digest(token);
        let verdict = verdicts.iter().find(|(d, _)| *d == digest).map(|(_, valid)| *valid);
        let session = jwt::verify(&untrusted, provider, &keys, now, verdict).map_err(|r| {
            let name = &provider.name;
            match r {
                Rejection::Expired => {
                    refused(format!("provider `{name}`: the token has expired; sign in again or refresh it"), true)
                }
                Rejection::UnknownKey => {
                    refused(format!("provider `{name}`: the token's `kid` names none of the provider's keys"), false)
                }
                Rejection::Invalid(reason) => refused(format!("provider `{name}`: {reason}"), false),
            }
        })?;
        self.verified.insert(&provider.name, token, &session, session.exp.saturating_add(LEEWAY_SECONDS), now);
        Ok(session)
    }
}

/// The first `Ok`, else the first error.
fn first_success(results: impl Iterator<Item = Result<Session>>) -> Result<Session> {
    let mut first_error = None;
    for result in results {
        match result {
            Ok(session) => return Ok(session),
            Err(error) => {
                first_error.get_or_insert(error);
            }
        }
    }
    Err(first_error.unwrap_or(Error::Internal("no credential to verify")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::jwt::tests::{claims, mint, signer_jwk, ISSUER, NOW};
    use crate::identity::keystore::Fetched;
    use crate::identity::provider::parse_providers;
    use crate::identity::session_cookie::{mint as mint_cookie, SessionClaims};
    use serde_json::json;

    const SECRET: &[u8] = b"credential-test-secret-0123456789abcdef";

    fn identity(providers: serde_json::Value, with_cookie: bool) -> Identity {
        Identity {
            providers: parse_providers(&providers.to_string()).unwrap(),
            keys: KeyStore::default(),
            sessions: with_cookie.then(|| SessionSecrets::new(SECRET.to_vec(), None)),
            cookie_name: "session".into(),
            verified: Default::default(),
        }
    }

    fn inline(extra: serde_json::Value) -> serde_json::Value {
        let mut p = json!({"issuer": ISSUER, "audience": "tv-app", "jwks": {"keys": [signer_jwk("k1")]}});
        p.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        p
    }

    fn token(sub: &str) -> String {
        let mut c = claims();
        c["sub"] = json!(sub);
        mint(&json!({"alg": "ES384", "kid": "k1"}), &c)
    }

    fn expired() -> String {
        let mut c = claims();
        c["exp"] = json!(NOW - 3600);
        mint(&json!({"alg": "ES384", "kid": "k1"}), &c)
    }

    fn cookie(sub: &str) -> String {
        mint_cookie(&SessionClaims::new(sub, NOW, 3600), SECRET)
    }

    #[test]
    fn precedence_bearer_then_headers_then_cookies_then_session() {
        let id =
            identity(json!({"idp": inline(json!({"token_from": ["bearer", "header:X-Id", "cookie:id_token"]}))}), true);
        let bearer = format!("Bearer {}", token("from-bearer"));
        let cookies = format!("session={}; id_token={}", cookie("from-session"), token("from-cookie"));
        let headers = [("x-id", token("from-header"))];
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let all = Presented { authorization: Some(&bearer), cookie: Some(&cookies), headers: &headers, verdicts: &[] };
        assert_eq!(id.session(&all, NOW).unwrap().sub, "from-bearer");
        assert_eq!(id.session(&Presented { authorization: None, ..all }, NOW).unwrap().sub, "from-header");
        assert_eq!(
            id.session(&Presented { authorization: None, headers: &[], ..all }, NOW).unwrap().sub,
            "from-cookie"
        );
        let only_session = format!("session={}", cookie("from-session"));
        assert_eq!(
            id.session(&Presented { cookie: Some(&only_session), ..Default::default() }, NOW).unwrap().sub,
            "from-session"
        );
    }

    #[test]
    fn an_invalid_credential_is_never_skipped_for_a_weaker_one() {
        let id = identity(json!({"idp": inline(json!({}))}), true);
        let good_cookie = format!("session={}", cookie("alice"));
        let bad_bearer = format!("Bearer {}", expired());
        let presented =
            Presented { authorization: Some(&bad_bearer), cookie: Some(&good_cookie), ..Default::default() };
        let error = id.session(&presented, NOW).unwrap_err();
        assert_eq!(error.slug(), "session-expired");
        assert!(
            error.to_string().starts_with("the credential in Authorization: Bearer was refused: provider `idp`"),
            "{error}"
        );
        let garbage = "Bearer not-a-jwt";
        let error = id
            .session(&Presented { authorization: Some(garbage), cookie: Some(&good_cookie), ..Default::default() }, NOW)
            .unwrap_err();
        assert_eq!((error.status(), error.slug()), (401, "session-invalid"));
        assert!(!error.to_string().contains("not-a-jwt"), "the token is never quoted");
        // A non-Bearer Authorization (Basic from a proxy) is not a credential for us.
        let basic =
            Presented { authorization: Some("Basic dXNlcjpwYXNz"), cookie: Some(&good_cookie), ..Default::default() };
        assert_eq!(id.session(&basic, NOW).unwrap().sub, "alice");
    }

    #[test]
    fn tokens_are_routed_by_issuer() {
        let mut other = inline(json!({}));
        other["issuer"] = json!("https://other.example");
        let id = identity(json!({"a-idp": other, "b-idp": inline(json!({}))}), false);
        let bearer = format!("Bearer {}", token("bob"));
        assert_eq!(
            id.session(&Presented { authorization: Some(&bearer), ..Default::default() }, NOW).unwrap().sub,
            "bob"
        );
        let mut c = claims();
        c["iss"] = json!("https://unknown.example");
        let stranger = format!("Bearer {}", mint(&json!({"alg": "ES384", "kid": "k1"}), &c));
        let error = id.session(&Presented { authorization: Some(&stranger), ..Default::default() }, NOW).unwrap_err();
        assert!(
            error.to_string().contains("not the issuer of any identity provider reading it here (a-idp, b-idp)"),
            "{error}"
        );
    }

    #[test]
    fn same_named_cookies_first_that_verifies_wins() {
        let id = identity(json!({}), true);
        let header = format!("session=stale.garbage.value; session={}", cookie("carol"));
        assert_eq!(id.session(&Presented { cookie: Some(&header), ..Default::default() }, NOW).unwrap().sub, "carol");
        let bad = "session=a.b.c; session=d.e.f";
        assert_eq!(
            id.session(&Presented { cookie: Some(bad), ..Default::default() }, NOW).unwrap_err().slug(),
            "session-invalid"
        );
    }

    #[test]
    fn the_platform_can_check_the_signature_and_the_core_still_checks_the_rest() {
        let id = identity(json!({"idp": inline(json!({}))}), false);
        let bearer = format!("Bearer {}", token("erin"));
        let presented = Presented { authorization: Some(&bearer), ..Default::default() };
        let checks = id.signature_checks(&presented, NOW);
        assert_eq!(checks.len(), 1);
        let check = &checks[0];
        assert_eq!(check.alg, Algorithm::Es384);
        // What the platform is handed really is the key and input that verify this token.
        let key = super::super::jwk::PublicJwk::from_jwk(check.key.as_object().unwrap()).unwrap();
        assert!(key.verify(check.alg, check.signing_input.as_bytes(), &check.signature));
        let refused = [(check.digest, false)];
        let error = id.session(&Presented { verdicts: &refused, ..presented }, NOW).unwrap_err();
        assert!(error.to_string().contains("signature does not verify"), "the platform's no is final: {error}");
        let accepted = [(check.digest, true)];
        assert_eq!(id.session(&Presented { verdicts: &accepted, ..presented }, NOW).unwrap().sub, "erin");
        assert!(id.signature_checks(&presented, NOW).is_empty(), "verified once: nothing left to check");
        // A platform yes never skips the claims: an expired token stays refused.
        let stale = format!("Bearer {}", expired());
        let stale_presented = Presented { authorization: Some(&stale), ..Default::default() };
        let digest = id.signature_checks(&stale_presented, NOW)[0].digest;
        let yes = [(digest, true)];
        assert_eq!(
            id.session(&Presented { verdicts: &yes, ..stale_presented }, NOW).unwrap_err().slug(),
            "session-expired"
        );
    }

    #[test]
    fn nothing_sent() {
        let classic = identity(json!({}), true);
        assert_eq!(
            classic.session(&Presented::default(), NOW).unwrap_err(),
            Error::Session(crate::error::SessionFault::Missing)
        );
        let id = identity(json!({"idp": inline(json!({"token_from": ["bearer", "cookie:id_token"]}))}), true);
        let error = id.session(&Presented::default(), NOW).unwrap_err();
        assert_eq!((error.status(), error.slug()), (401, "session-missing"));
        assert!(
            error.to_string().contains("`Authorization: Bearer` token")
                && error.to_string().contains("`id_token` cookie"),
            "{error}"
        );
    }

    #[test]
    fn fetch_planning_and_unavailable_providers() {
        let remote = json!({"issuer": ISSUER, "audience": "tv-app", "jwks_url": "https://id.example/jwks"});
        let id = identity(json!({"idp": remote}), false);
        let bearer = format!("Bearer {}", token("dave"));
        let presented = Presented { authorization: Some(&bearer), ..Default::default() };
        let fetches = id.fetches_for(&presented, NOW);
        assert_eq!((fetches.len(), fetches[0].kid.as_deref()), (1, Some("k1")), "no keys yet: fetch");
        assert_eq!(id.fetches_for_health(NOW).len(), 1);
        assert_eq!(id.health(NOW), Ok(()), "nothing failed yet");
        let error = id.session(&presented, NOW).unwrap_err();
        assert_eq!((error.status(), error.slug()), (503, "identity-provider-unavailable"));
        id.keys.record(&id.providers[0], Fetched::Failed("connection refused".into()), NOW);
        assert_eq!(id.health(NOW), Err(Error::ProviderUnavailable("idp".into())));
        assert!(id.fetches_for(&presented, NOW).is_empty(), "rate limited");
        assert_eq!(id.fetches_for(&presented, NOW + 1).len(), 1, "without keys, retried after 1 s (then 2, 4, ... 30)");
        let doc = json!({"keys": [signer_jwk("k1")]}).to_string();
        id.keys.record(&id.providers[0], Fetched::Document { body: doc, cache_control: None }, NOW + 30);
        assert_eq!(id.session(&presented, NOW + 30).unwrap().sub, "dave");
        assert_eq!(id.session(&presented, NOW + 31).unwrap().sub, "dave", "again, from the verified cache");
        assert!(id.fetches_for(&presented, NOW + 31).is_empty(), "fresh keys: nothing to fetch");
        assert_eq!(id.health(NOW + 30), Ok(()));
        // Verified once, then remembered; a key rotation that drops the key forgets it.
        assert_eq!(id.verified.len(), 1);
        id.record_fetch(
            &id.providers[0],
            Fetched::Document { body: json!({"keys": [signer_jwk("k1")]}).to_string(), cache_control: None },
            NOW + 400,
        );
        assert_eq!(id.verified.len(), 1, "same keys: kept");
        id.record_fetch(
            &id.providers[0],
            Fetched::Document { body: json!({"keys": [signer_jwk("k2")]}).to_string(), cache_control: None },
            NOW + 800,
        );
        assert!(id.verified.is_empty(), "keys changed: verify again");
        let error = id.session(&presented, NOW + 800).unwrap_err();
        assert!(error.to_string().contains("`kid` names none of the provider's keys"), "{error}");
        let garbage = Presented { authorization: Some("Bearer x.y.z"), ..Default::default() };
        assert!(id.fetches_for(&garbage, NOW + 90).is_empty(), "an unreadable token makes no fetch");
    }
}
