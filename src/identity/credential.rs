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
//! routed by its `iss`.
//!
//! **Several cookies of one name.** Browsers send them when cookies of one name were set for
//! different paths or domains: a stale one, typically, or one tossed by someone who can set
//! cookies on a parent domain. Malformed ones are skipped (they count for nothing); at most
//! [`MAX_SAME_NAME_COOKIES`] well-formed ones are verified. When two verify for different accounts
//! the request is refused rather than one chosen (a tossed cookie of the attacker's own account
//! would have the viewer watch as the attacker); otherwise the first that verifies wins. Names
//! with the `__Host-` prefix cannot be tossed at all.
//!
//! **Once per request.** [`Identity::locate`] finds the deciding credential and reads it once
//! (each provider token decoded and routed, its digest taken); the [`Located`] value it returns
//! says which keys to fetch and which signatures the platform may check, carries the platform's
//! verdicts, and gives the session. Nothing after `locate` reads the request again, so no token
//! is decoded twice.

use super::jwk::{Algorithm, KeySet, PublicJwk};
use super::jwt::{self, Rejection, UntrustedToken};
use super::keystore::{Fetched, KeyStore};
use super::provider::{Provider, TokenSource};
use super::session_cookie::{self, ParsedCookie, SessionSecrets, LEEWAY_SECONDS};
use super::verified::{self, VerifiedTokens};
use super::Session;
use crate::cookie::find_cookies;
use crate::error::{Error, Result};

/// At most this many well-formed same-named cookies are verified (malformed ones do not count).
pub const MAX_SAME_NAME_COOKIES: usize = 4;

/// The credential-bearing parts of a request.
#[derive(Debug, Clone, Copy, Default)]
pub struct Presented<'a> {
    /// `Authorization` header.
    pub authorization: Option<&'a str>,
    /// `Cookie` header.
    pub cookie: Option<&'a str>,
    /// Other request headers (names in any case), for `header:NAME` sources.
    pub headers: &'a [(&'a str, &'a str)],
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
/// chose for it (see [`Located::signature_checks`]).
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

/// One provider token of the deciding credential, read once.
#[derive(Debug)]
struct ProviderToken<'s, 'a> {
    /// SHA-256 of the token: its name in the verified-token cache and in the platform's verdicts.
    digest: [u8; 32],
    /// The token decoded (not trusted yet).
    decoded: UntrustedToken<'a>,
    /// The provider it belongs to, among those reading where it was found: by `iss`.
    provider: Option<&'s Provider>,
}

/// The credential that decides a request.
#[derive(Debug)]
enum Credential<'s, 'a> {
    /// Token(s) for identity providers: where they were found, who reads that place, the
    /// well-formed tokens, and why the first malformed one is (if any).
    Provider {
        source: String,
        readers: Vec<&'s Provider>,
        tokens: Vec<ProviderToken<'s, 'a>>,
        malformed: Option<Rejection>,
    },
    /// The HS256 session cookie's well-formed value(s), and why the first malformed one is.
    SessionCookie { values: Vec<ParsedCookie<'a>>, malformed: Option<Error> },
}

/// The credential that decides a request, found and read once by [`Identity::locate`]; what the
/// Workers layer fetches and asks the platform for before the request is answered, and the
/// platform's answers. [`Located::session`] turns it into the viewer's session.
#[derive(Debug)]
pub struct Located<'s, 'a> {
    identity: &'s Identity,
    credential: Option<Credential<'s, 'a>>,
    /// The platform's verdicts on signatures (see [`Located::signature_checks`]): (token digest,
    /// key id, valid).
    verdicts: Vec<([u8; 32], String, bool)>,
}

impl Identity {
    fn readers(&self, source: &TokenSource) -> Vec<&Provider> {
        self.providers.iter().filter(|p| p.reads(source)).collect()
    }

    /// Provider tokens found in one place, each decoded once and routed by its `iss`.
    fn provider_credential<'s, 'a>(
        &'s self,
        source: String,
        place: &TokenSource,
        tokens: impl Iterator<Item = &'a str>,
    ) -> Credential<'s, 'a> {
        let readers = self.readers(place);
        let (tokens, malformed) = well_formed(tokens.map(|token| {
            jwt::decode(token).map(|decoded| {
                let provider = Self::route(&readers, &decoded);
                ProviderToken { digest: verified::digest(token), decoded, provider }
            })
        }));
        Credential::Provider { source, readers, tokens, malformed }
    }

    /// Find the credential that decides this request (see the module docs for the precedence)
    /// and read it: provider tokens are decoded here, once, and nowhere else.
    pub fn locate<'s, 'a>(&'s self, presented: &Presented<'a>) -> Located<'s, 'a> {
        Located { identity: self, credential: self.find(presented), verdicts: Vec::new() }
    }

    fn find<'s, 'a>(&'s self, presented: &Presented<'a>) -> Option<Credential<'s, 'a>> {
        if let Some(token) = presented.bearer() {
            if self.providers.iter().any(|p| p.reads(&TokenSource::Bearer)) {
                return Some(self.provider_credential(
                    "Authorization: Bearer".into(),
                    &TokenSource::Bearer,
                    std::iter::once(token),
                ));
            }
        }
        for provider in &self.providers {
            for source in &provider.token_from {
                if let TokenSource::Header(name) = source {
                    if let Some(token) = presented.header(name).map(str::trim).filter(|t| !t.is_empty()) {
                        return Some(self.provider_credential(
                            format!("header `{name}`"),
                            source,
                            std::iter::once(token),
                        ));
                    }
                }
            }
        }
        let cookie_header = presented.cookie.unwrap_or_default();
        for provider in &self.providers {
            for source in &provider.token_from {
                if let TokenSource::Cookie(name) = source {
                    let mut tokens = find_cookies(cookie_header, name).filter(|v| !v.is_empty()).peekable();
                    if tokens.peek().is_some() {
                        return Some(self.provider_credential(format!("cookie `{name}`"), source, tokens));
                    }
                }
            }
        }
        if self.sessions.is_some() {
            let mut values = find_cookies(cookie_header, &self.cookie_name).peekable();
            if values.peek().is_some() {
                let (values, malformed) = well_formed(values.map(session_cookie::parse));
                return Some(Credential::SessionCookie { values, malformed });
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
    fn route<'p>(readers: &[&'p Provider], token: &UntrustedToken<'_>) -> Option<&'p Provider> {
        let issuer = token.issuer()?;
        readers.iter().copied().find(|p| p.issuer == issuer)
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

    /// `Err` naming the first provider without usable keys (for `/healthz`).
    pub fn health(&self, now: u64) -> Result<()> {
        match self.providers.iter().find(|p| self.keys.unavailable(p, now).is_some()) {
            Some(provider) => Err(Error::ProviderUnavailable(provider.name.clone())),
            None => Ok(()),
        }
    }

    /// The viewer's session from the credential that decides this request, without the
    /// platform's help: [`Identity::locate`], then [`Located::session`].
    pub fn session(&self, presented: &Presented<'_>, now: u64) -> Result<Session> {
        self.locate(presented).session(now)
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
}

impl<'s> Located<'s, '_> {
    /// The identity this credential was located by.
    pub fn identity(&self) -> &'s Identity {
        self.identity
    }

    /// The deciding credential's provider tokens that were read and routed to a provider.
    fn routed(&self) -> impl Iterator<Item = (&ProviderToken<'s, '_>, &UntrustedToken<'_>, &'s Provider)> {
        let tokens = match &self.credential {
            Some(Credential::Provider { tokens, .. }) => tokens.as_slice(),
            _ => &[],
        };
        tokens.iter().filter_map(|t| Some((t, &t.decoded, t.provider?)))
    }

    /// Key documents the Workers layer should fetch before this request is answered: the
    /// provider of the deciding credential, when it has no keys, stale keys, or not the key the
    /// token names (see [`KeyStore::wants_fetch`] for the rate limit).
    pub fn key_fetches(&self, now: u64) -> Vec<KeyFetch<'s>> {
        let keys = &self.identity.keys;
        let mut wanted: Vec<KeyFetch<'s>> = Vec::new();
        for (_, untrusted, provider) in self.routed() {
            if keys.wants_fetch(provider, untrusted.kid(), now)
                && !wanted.iter().any(|f| f.provider.name == provider.name)
            {
                wanted.push(KeyFetch { provider, kid: untrusted.kid().map(str::to_owned) });
            }
        }
        wanted
    }

    /// The signatures of the deciding credential's provider tokens that the platform may check
    /// (tokens neither verified nor refused before, whose keys are known: one check per key that
    /// may have signed it, at most [`jwt::MAX_KEYS_WITHOUT_KID`] for a token without `kid`): the
    /// Workers layer asks WebCrypto and hands the answers back with [`Located::record_verdict`];
    /// everything else is still checked here.
    pub fn signature_checks(&self, now: u64) -> Vec<SignatureCheck> {
        let identity = self.identity;
        let mut checks = Vec::new();
        for (token, untrusted, provider) in self.routed() {
            if identity.verified.get(&provider.name, &token.digest, now).is_some()
                || identity.verified.failure(&provider.name, &token.digest, now).is_some()
            {
                continue;
            }
            let fetched = identity.keys.keys(provider, now);
            let keys: Vec<&KeySet> = fetched.as_deref().into_iter().chain(provider.inline_keys.as_ref()).collect();
            let Ok((alg, candidates)) = jwt::signature_keys(untrusted, provider, &keys) else { continue };
            for key in candidates {
                let jwk = key.to_public_jwk();
                checks.push(SignatureCheck {
                    digest: token.digest,
                    alg,
                    key_id: key_id(alg, &jwk),
                    key: jwk,
                    signing_input: untrusted.signing_input().to_owned(),
                    signature: untrusted.signature().to_vec(),
                });
            }
        }
        checks
    }

    /// The platform's answer to one of [`Located::signature_checks`].
    pub fn record_verdict(&mut self, check: &SignatureCheck, valid: bool) {
        self.verdicts.push((check.digest, check.key_id.clone(), valid));
    }

    /// The platform's answer for the token of `digest` under `key` and `alg`, if it was asked.
    fn verdict(&self, digest: &[u8; 32], alg: Algorithm, key: &PublicJwk) -> Option<bool> {
        let mut answers = self.verdicts.iter().filter(|(d, _, _)| d == digest).peekable();
        answers.peek()?;
        let id = key_id(alg, &key.to_public_jwk());
        answers.find(|(_, k, _)| *k == id).map(|(_, _, valid)| *valid)
    }

    /// The viewer's session, from the credential that decides this request (see the module
    /// docs for the precedence).
    pub fn session(&self, now: u64) -> Result<Session> {
        let identity = self.identity;
        match &self.credential {
            None => Err(match &identity.sessions {
                // The worker as it always was: the cookie's own message.
                Some(_) if identity.providers.is_empty() => Error::Session(crate::error::SessionFault::Missing),
                _ => Error::NoCredential(identity.what_to_send()),
            }),
            Some(Credential::SessionCookie { values, malformed }) => {
                let secrets =
                    identity.sessions.as_ref().ok_or(Error::Internal("session cookie located without secrets"))?;
                let source = || format!("cookie `{}`", identity.cookie_name);
                one_account(values.iter().map(|value| (None, secrets.verify_parsed(value, now))), source)
                    .unwrap_or_else(|| Err(malformed.clone().unwrap_or(Error::Internal("no credential to verify"))))
            }
            Some(Credential::Provider { source, readers, tokens, malformed }) => {
                let outcomes = tokens.iter().map(|token| {
                    (token.provider.map(|p| p.name.as_str()), self.verify_token(source, readers, token, now))
                });
                one_account(outcomes, || source.clone()).unwrap_or_else(|| {
                    let reason = match malformed {
                        Some(Rejection::Invalid(reason)) => reason.clone(),
                        _ => "the token is malformed".into(),
                    };
                    Err(Error::CredentialRefused { source: source.clone(), reason, expired: false })
                })
            }
        }
    }

    fn verify_token(
        &self,
        source: &str,
        readers: &[&Provider],
        token: &ProviderToken<'s, '_>,
        now: u64,
    ) -> Result<Session> {
        let identity = self.identity;
        let refused =
            |reason: String, expired: bool| Error::CredentialRefused { source: source.to_owned(), reason, expired };
        let untrusted = &token.decoded;
        let provider = token.provider.ok_or_else(|| {
            let names: Vec<&str> = readers.iter().map(|p| p.name.as_str()).collect();
            refused(
                format!("its `iss` is not the issuer of any identity provider reading it here ({})", names.join(", ")),
                false,
            )
        })?;
        if let Some(session) = identity.verified.get(&provider.name, &token.digest, now) {
            return Ok(session);
        }
        let name = &provider.name;
        let reject = |r: Rejection| match r {
            Rejection::Expired => {
                refused(format!("provider `{name}`: the token has expired; sign in again or refresh it"), true)
            }
            Rejection::UnknownKey => {
                refused(format!("provider `{name}`: the token's `kid` names none of the provider's keys"), false)
            }
            Rejection::BadSignature => refused(
                format!("provider `{name}`: the token's signature does not verify against the provider's keys"),
                false,
            ),
            Rejection::Invalid(reason) => refused(format!("provider `{name}`: {reason}"), false),
        };
        // A token refused before is never verified again: a bad signature is refused at once, a
        // good one has only its claims checked again.
        let remembered = identity.verified.failure(name, &token.digest, now);
        if remembered == Some(false) {
            return Err(reject(Rejection::BadSignature));
        }
        let fetched = identity.keys.keys(provider, now);
        let keys: Vec<&KeySet> = fetched.as_deref().into_iter().chain(provider.inline_keys.as_ref()).collect();
        if keys.is_empty() {
            return Err(Error::ProviderUnavailable(name.clone()));
        }
        let verdict = |alg, key: &PublicJwk| remembered.or_else(|| self.verdict(&token.digest, alg, key));
        if let Err(rejection) = jwt::verify_signature(untrusted, provider, &keys, verdict) {
            if rejection == Rejection::BadSignature {
                identity.verified.insert_failure(name, &token.digest, false, now);
            }
            return Err(reject(rejection));
        }
        let session = jwt::accept(untrusted, provider, now).map_err(|rejection| {
            if remembered.is_none() {
                identity.verified.insert_failure(name, &token.digest, true, now);
            }
            reject(rejection)
        })?;
        identity.verified.insert(name, &token.digest, &session, session.exp.saturating_add(LEEWAY_SECONDS), now);
        Ok(session)
    }
}

/// A stable name for a key and algorithm: the platform's imported keys are kept under it, and its
/// verdicts come back under it.
fn key_id(alg: Algorithm, jwk: &serde_json::Value) -> String {
    format!("{}:{}", alg.name(), crate::encoding::hex(&verified::digest(&jwk.to_string())))
}

/// The well-formed items, up to [`MAX_SAME_NAME_COOKIES`], and the first malformed one's error.
/// Malformed items are skipped without counting against the bound: junk cookies put ahead of a
/// viewer's cannot push it out.
fn well_formed<T, E>(items: impl Iterator<Item = std::result::Result<T, E>>) -> (Vec<T>, Option<E>) {
    let (mut good, mut first_error) = (Vec::new(), None);
    for item in items {
        match item {
            Ok(value) => {
                good.push(value);
                if good.len() == MAX_SAME_NAME_COOKIES {
                    break;
                }
            }
            Err(error) => {
                first_error.get_or_insert(error);
            }
        }
    }
    (good, first_error)
}

/// The session of the credentials that verify, when they are all one account (provider and
/// subject): the first. Two accounts are refused. Else the first error; `None` when there was
/// nothing to verify.
fn one_account<'p>(
    outcomes: impl Iterator<Item = (Option<&'p str>, Result<Session>)>,
    source: impl FnOnce() -> String,
) -> Option<Result<Session>> {
    let (mut first, mut first_error) = (None::<(Option<&str>, Session)>, None);
    for (provider, outcome) in outcomes {
        match (outcome, &first) {
            (Ok(session), None) => first = Some((provider, session)),
            (Ok(session), Some((p, chosen))) => {
                if (*p, chosen.sub.as_str()) != (provider, session.sub.as_str()) {
                    return Some(Err(Error::SessionConflict(source())));
                }
            }
            (Err(error), _) => {
                first_error.get_or_insert(error);
            }
        }
    }
    match (first, first_error) {
        (Some((_, session)), _) => Some(Ok(session)),
        (None, Some(error)) => Some(Err(error)),
        (None, None) => None,
    }
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
        let all = Presented { authorization: Some(&bearer), cookie: Some(&cookies), headers: &headers };
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
    fn same_named_cookies_one_account_wins_two_accounts_are_refused() {
        let id = identity(json!({}), true);
        let session = |header: &str| id.session(&Presented { cookie: Some(header), ..Default::default() }, NOW);
        let header = format!("session=stale.garbage.value; session={}", cookie("carol"));
        assert_eq!(session(&header).unwrap().sub, "carol");
        let bad = "session=a.b.c; session=d.e.f";
        assert_eq!(session(bad).unwrap_err().slug(), "session-invalid");
        // Issue 16, finding 5 (cookie tossing). Two cookies of one account: fine, whichever order.
        let twice = format!(
            "session={}; session={}",
            cookie("carol"),
            mint_cookie(&SessionClaims::new("carol", NOW, 60), SECRET)
        );
        assert_eq!(session(&twice).unwrap().sub, "carol");
        // Someone who can set a cookie on a parent domain puts their own valid session ahead of
        // the viewer's: refused, never chosen (the viewer would watch as them).
        let tossed = format!("session={}; session={}", cookie("mallory"), cookie("carol"));
        let error = session(&tossed).unwrap_err();
        assert_eq!((error.status(), error.slug()), (401, "session-invalid"));
        let detail = error.to_string();
        assert!(detail.contains("two session cookies for different accounts"), "{detail}");
        assert!(detail.contains("clear") && !detail.contains("mallory") && !detail.contains("carol"), "{detail}");
        // Malformed cookies ahead of the viewer's are skipped, not counted against the bound.
        let junk = format!("{}session={}", "session=junk; ".repeat(8), cookie("carol"));
        assert_eq!(session(&junk).unwrap().sub, "carol");
        let algorithm = format!("{}session={}", "session=eyJhbGciOiJub25lIn0.e30.; ".repeat(5), cookie("carol"));
        assert_eq!(session(&algorithm).unwrap().sub, "carol");
    }

    /// The same for an identity provider's cookie.
    #[test]
    fn same_named_provider_cookies() {
        let id = identity(json!({"idp": inline(json!({"token_from": ["cookie:id_token"]}))}), false);
        let session = |header: &str| id.session(&Presented { cookie: Some(header), ..Default::default() }, NOW);
        let junk = format!("{}id_token={}", "id_token=x.y.z; ".repeat(6), token("victor"));
        assert_eq!(session(&junk).unwrap().sub, "victor");
        let tossed = format!("id_token={}; id_token={}", token("mallory"), token("victor"));
        let error = session(&tossed).unwrap_err();
        assert_eq!(error.status(), 401);
        assert!(error.to_string().contains("two session cookies for different accounts"), "{error}");
        let only_junk = "id_token=x.y.z; id_token=a.b.c";
        assert!(session(only_junk).unwrap_err().to_string().contains("not base64url-encoded JSON"));
    }

    #[test]
    fn the_platform_can_check_the_signature_and_the_core_still_checks_the_rest() {
        let id = identity(json!({"idp": inline(json!({}))}), false);
        let bearer = format!("Bearer {}", token("erin"));
        let presented = Presented { authorization: Some(&bearer), ..Default::default() };
        let checks = id.locate(&presented).signature_checks(NOW);
        assert_eq!(checks.len(), 1);
        let check = &checks[0];
        assert_eq!(check.alg, Algorithm::Es384);
        // What the platform is handed really is the key and input that verify this token.
        let key = super::super::jwk::PublicJwk::from_jwk(check.key.as_object().unwrap()).unwrap();
        assert!(key.verify(check.alg, check.signing_input.as_bytes(), &check.signature));
        let with_verdict = |id: &Identity, presented: &Presented<'_>, valid: bool| {
            let mut located = id.locate(presented);
            for check in located.signature_checks(NOW) {
                located.record_verdict(&check, valid);
            }
            located.session(NOW)
        };
        let error = with_verdict(&id, &presented, false).unwrap_err();
        assert!(error.to_string().contains("signature does not verify"), "the platform's no is final: {error}");
        assert!(id.locate(&presented).signature_checks(NOW).is_empty(), "refused once: nothing left to check");
        // (An isolate that never heard the platform's no.)
        let id = identity(json!({"idp": inline(json!({}))}), false);
        assert_eq!(with_verdict(&id, &presented, true).unwrap().sub, "erin");
        assert!(id.locate(&presented).signature_checks(NOW).is_empty(), "verified once: nothing left to check");
        // A platform yes never skips the claims: an expired token stays refused.
        let stale = format!("Bearer {}", expired());
        let stale_presented = Presented { authorization: Some(&stale), ..Default::default() };
        assert_eq!(id.locate(&stale_presented).signature_checks(NOW).len(), 1);
        assert_eq!(with_verdict(&id, &stale_presented, true).unwrap_err().slug(), "session-expired");
    }

    /// Issue 15: what the Workers layer does for one request (locate, plan the key fetches, hand
    /// the signatures to the platform, then the session) reads each token once. `session` takes
    /// the located value, so it has no request to read again.
    #[test]
    fn a_request_reads_its_credential_once() {
        let decodes = || jwt::DECODES.with(std::cell::Cell::get);
        let remote = json!({"issuer": ISSUER, "audience": "tv-app", "jwks_url": "https://id.example/jwks",
            "token_from": ["bearer", "cookie:id_token"]});
        let id = identity(json!({"idp": remote}), false);
        let doc = json!({"keys": [signer_jwk("k1")]}).to_string();
        let bearer = format!("Bearer {}", token("frank"));
        let cookies = format!("id_token={}; id_token={}", token("frank"), expired());
        for (presented, tokens) in [
            (Presented { authorization: Some(&bearer), ..Default::default() }, 1),
            (Presented { cookie: Some(&cookies), ..Default::default() }, 2),
        ] {
            let start = decodes();
            let mut located = id.locate(&presented);
            assert_eq!(decodes() - start, tokens, "located: each token decoded");
            for fetch in located.key_fetches(NOW) {
                let fetched = Fetched::Document { body: doc.clone(), cache_control: None };
                id.record_fetch(fetch.provider, fetched, NOW);
            }
            for check in located.signature_checks(NOW) {
                located.record_verdict(&check, true);
            }
            assert_eq!(located.session(NOW).unwrap().sub, "frank");
            assert_eq!(decodes() - start, tokens, "and never again for this request");
        }
    }

    /// Signature verifications this thread has run so far.
    fn verifications() -> usize {
        crate::identity::jwk::VERIFICATIONS.with(std::cell::Cell::get)
    }

    /// A provider whose key document holds `count` ES384 keys, none named by a kid-less token;
    /// with `with_signer`, the last of them is the key tokens are signed with.
    fn many_keys(count: u8, with_signer: bool) -> Identity {
        use crate::identity::jwt::tests::key_jwk;
        let mut keys: Vec<serde_json::Value> = (1..=count)
            .map(|i| key_jwk(&crate::key::PlaybackKey::from_scalar_bytes(&[i; 48]).unwrap(), &format!("k{i}")))
            .collect();
        if with_signer {
            keys.pop();
            keys.push(signer_jwk("signer"));
        }
        identity(json!({"idp": {"issuer": ISSUER, "audience": "tv-app", "jwks": {"keys": keys}}}), false)
    }

    fn kidless(sub: &str, exp: u64) -> String {
        let mut c = claims();
        c["sub"] = json!(sub);
        c["exp"] = json!(exp);
        mint(&json!({"alg": "ES384"}), &c)
    }

    /// Issue 16, finding 2: a token without `kid` was verified against every key that fits (32
    /// RSA-8192 keys: 315 ms of wasm CPU per request), and again on every request. Now: refused
    /// unread when more than three keys fit, at most three verifications otherwise, and a failing
    /// token is not verified again.
    #[test]
    fn a_kidless_token_costs_a_bounded_number_of_verifications_once() {
        let forged = |presented_id: &Identity, bearer: &str| {
            let start = verifications();
            let presented = Presented { authorization: Some(bearer), ..Default::default() };
            let error = presented_id.session(&presented, NOW).unwrap_err();
            (error, verifications() - start)
        };
        // Six keys fit: refused before any verification (it was six verifications a request).
        let crowded = many_keys(6, false);
        let bearer = format!("Bearer {}", kidless("mallory", NOW + 600));
        let (error, cost) = forged(&crowded, &bearer);
        assert_eq!(cost, 0, "{error}");
        assert!(error.to_string().contains("has no `kid`") && error.to_string().contains("6 of"), "{error}");
        // Three keys fit: at most three verifications, then none for the same token again.
        let three = many_keys(3, false);
        let (error, cost) = forged(&three, &bearer);
        assert_eq!(cost, 3, "{error}");
        assert!(error.to_string().contains("signature does not verify"), "{error}");
        let (again, cost) = forged(&three, &bearer);
        assert_eq!((cost, &again), (0, &error), "a failing token is remembered, with its reason");
        // A genuine kid-less token still works among three keys, once.
        let signed = many_keys(3, true);
        let good = format!("Bearer {}", kidless("grace", NOW + 600));
        let presented = Presented { authorization: Some(&good), ..Default::default() };
        let start = verifications();
        assert_eq!(signed.session(&presented, NOW).unwrap().sub, "grace");
        assert_eq!(signed.session(&presented, NOW).unwrap().sub, "grace");
        assert!(verifications() - start <= 3);
        // A validly signed token the claims refuse (expired) costs one verification, once; its
        // claims are still checked each time.
        let stale = format!("Bearer {}", expired());
        let one = identity(json!({"idp": inline(json!({}))}), false);
        let (error, cost) = forged(&one, &stale);
        assert_eq!((cost, error.slug()), (1, "session-expired"));
        let (error, cost) = forged(&one, &stale);
        assert_eq!((cost, error.slug()), (0, "session-expired"));
    }

    /// The platform is handed every candidate key of a kid-less token (at most three), and its
    /// answers decide without any verification here.
    #[test]
    fn a_kidless_tokens_candidates_go_to_the_platform() {
        let signed = many_keys(3, true);
        let good = format!("Bearer {}", kidless("heidi", NOW + 600));
        let presented = Presented { authorization: Some(&good), ..Default::default() };
        let mut located = signed.locate(&presented);
        let checks = located.signature_checks(NOW);
        assert_eq!(checks.len(), 3, "one check per candidate key");
        let mut ids: Vec<&str> = checks.iter().map(|c| c.key_id.as_str()).collect();
        ids.dedup();
        assert_eq!(ids.len(), 3);
        for check in &checks {
            let key = super::super::jwk::PublicJwk::from_jwk(check.key.as_object().unwrap()).unwrap();
            let valid = key.verify(check.alg, check.signing_input.as_bytes(), &check.signature);
            located.record_verdict(check, valid);
        }
        let start = verifications();
        assert_eq!(located.session(NOW).unwrap().sub, "heidi");
        assert_eq!(verifications() - start, 0, "the platform's answers decided");
        // Ivan's claims under Heidi's signature.
        let ivan = kidless("ivan", NOW + 600);
        let (signed_part, _) = ivan.rsplit_once('.').unwrap();
        let (_, signature) = good.rsplit_once('.').unwrap();
        let forged = format!("Bearer {signed_part}.{signature}");
        let presented = Presented { authorization: Some(&forged), ..Default::default() };
        let mut located = signed.locate(&presented);
        for check in located.signature_checks(NOW) {
            located.record_verdict(&check, false);
        }
        let start = verifications();
        assert!(located.session(NOW).unwrap_err().to_string().contains("signature does not verify"));
        assert_eq!(verifications() - start, 0);
        assert!(signed.locate(&presented).signature_checks(NOW).is_empty(), "a known failure is not checked again");
    }

    /// Issue 16: two providers reading the Bearer header; a token of the second is verified once,
    /// then answered from the cache.
    #[test]
    fn two_providers_reading_one_place_keep_their_verified_tokens() {
        let mut other = inline(json!({}));
        other["issuer"] = json!("https://other.example");
        let id = identity(json!({"a-idp": other, "b-idp": inline(json!({}))}), false);
        let bearer = format!("Bearer {}", token("bob"));
        let presented = Presented { authorization: Some(&bearer), ..Default::default() };
        assert_eq!(id.session(&presented, NOW).unwrap().sub, "bob");
        let start = verifications();
        for _ in 0..3 {
            assert_eq!(id.session(&presented, NOW).unwrap().sub, "bob");
        }
        assert_eq!(verifications() - start, 0, "verified once");
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
        let fetches_for = |presented: &Presented<'_>, now| id.locate(presented).key_fetches(now).len();
        let fetches = id.locate(&presented).key_fetches(NOW);
        assert_eq!((fetches.len(), fetches[0].kid.as_deref()), (1, Some("k1")), "no keys yet: fetch");
        assert_eq!(id.fetches_for_health(NOW).len(), 1);
        assert_eq!(id.health(NOW), Ok(()), "nothing failed yet");
        let error = id.session(&presented, NOW).unwrap_err();
        assert_eq!((error.status(), error.slug()), (503, "identity-provider-unavailable"));
        id.keys.record(&id.providers[0], Fetched::Failed("connection refused".into()), NOW);
        assert_eq!(id.health(NOW), Err(Error::ProviderUnavailable("idp".into())));
        assert_eq!(fetches_for(&presented, NOW), 0, "rate limited");
        assert_eq!(fetches_for(&presented, NOW + 1), 1, "without keys, retried after 1 s (then 2, 4, ... 30)");
        let doc = json!({"keys": [signer_jwk("k1")]}).to_string();
        id.keys.record(&id.providers[0], Fetched::Document { body: doc, cache_control: None }, NOW + 30);
        assert_eq!(id.session(&presented, NOW + 30).unwrap().sub, "dave");
        assert_eq!(id.session(&presented, NOW + 31).unwrap().sub, "dave", "again, from the verified cache");
        assert_eq!(fetches_for(&presented, NOW + 31), 0, "fresh keys: nothing to fetch");
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
        assert_eq!(fetches_for(&garbage, NOW + 90), 0, "an unreadable token makes no fetch");
    }
}
