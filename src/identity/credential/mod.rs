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

use super::caches::IdentityCaches;
use super::jwk::{Algorithm, KeySet, PublicJwk};
use super::jwt::{self, Rejection, UntrustedToken};
use super::provider::{Provider, TokenSource};
use super::session_cookie::{self, ParsedCookie, SessionSecrets, LEEWAY_SECONDS};
use super::verified;
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

/// Everything identity needs from the configuration: what the operator set, immutable. What the
/// isolate learns at run time (providers' keys, verified tokens) is in [`IdentityCaches`], handed
/// in beside it.
#[derive(Debug)]
pub struct Identity {
    /// Identity providers, in name order.
    pub providers: Vec<Provider>,
    /// The HS256 session cookie's secrets, when `SESSION_SECRET` is set.
    pub sessions: Option<SessionSecrets>,
    /// The HS256 session cookie's name.
    pub cookie_name: String,
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
    caches: &'s IdentityCaches,
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
    /// and read it: provider tokens are decoded here, once, and nowhere else. `caches`: this
    /// isolate's keys and verified tokens, which the located credential is checked against.
    pub fn locate<'s, 'a>(&'s self, caches: &'s IdentityCaches, presented: &Presented<'a>) -> Located<'s, 'a> {
        Located { identity: self, caches, credential: self.find(presented), verdicts: Vec::new() }
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
    pub fn fetches_for_health(&self, caches: &IdentityCaches, now: u64) -> Vec<KeyFetch<'_>> {
        let keys = &caches.keys;
        self.providers
            .iter()
            .filter(|p| keys.keys(p, now).is_none() && p.inline_keys.is_none() && keys.wants_fetch(p, None, now))
            .map(|provider| KeyFetch { provider, kid: None })
            .collect()
    }

    /// `Err` naming the first provider without usable keys (for `/healthz`).
    pub fn health(&self, caches: &IdentityCaches, now: u64) -> Result<()> {
        match self.providers.iter().find(|p| caches.keys.unavailable(p, now).is_some()) {
            Some(provider) => Err(Error::ProviderUnavailable(provider.name.clone())),
            None => Ok(()),
        }
    }

    /// The viewer's session from the credential that decides this request, without the
    /// platform's help: [`Identity::locate`], then [`Located::session`].
    pub fn session(&self, caches: &IdentityCaches, presented: &Presented<'_>, now: u64) -> Result<Session> {
        self.locate(caches, presented).session(now)
    }
}

impl<'s> Located<'s, '_> {
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
    /// token names (see [`super::keystore::KeyStore::wants_fetch`] for the rate limit).
    pub fn key_fetches(&self, now: u64) -> Vec<KeyFetch<'s>> {
        let keys = &self.caches.keys;
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
        let caches = self.caches;
        let mut checks = Vec::new();
        for (token, untrusted, provider) in self.routed() {
            if caches.verified.get(&provider.name, &token.digest, now).is_some()
                || caches.verified.failure(&provider.name, &token.digest, now).is_some()
            {
                continue;
            }
            let fetched = caches.keys.keys(provider, now);
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
        let caches = self.caches;
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
        if let Some(session) = caches.verified.get(&provider.name, &token.digest, now) {
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
        let remembered = caches.verified.failure(name, &token.digest, now);
        if remembered == Some(false) {
            return Err(reject(Rejection::BadSignature));
        }
        let fetched = caches.keys.keys(provider, now);
        let keys: Vec<&KeySet> = fetched.as_deref().into_iter().chain(provider.inline_keys.as_ref()).collect();
        if keys.is_empty() {
            return Err(Error::ProviderUnavailable(name.clone()));
        }
        let verdict = |alg, key: &PublicJwk| remembered.or_else(|| self.verdict(&token.digest, alg, key));
        if let Err(rejection) = jwt::verify_signature(untrusted, provider, &keys, verdict) {
            if rejection == Rejection::BadSignature {
                caches.verified.insert_failure(name, &token.digest, false, now);
            }
            return Err(reject(rejection));
        }
        let session = jwt::accept(untrusted, provider, now).map_err(|rejection| {
            if remembered.is_none() {
                caches.verified.insert_failure(name, &token.digest, true, now);
            }
            reject(rejection)
        })?;
        caches.verified.insert(name, &token.digest, &session, session.exp.saturating_add(LEEWAY_SECONDS), now);
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
mod tests;
