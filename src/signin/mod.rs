//! Sign-in at the edge: the worker itself signs viewers in at an identity provider (OpenID Connect
//! authorization code flow with PKCE) and keeps them signed in with its own session cookie, so a
//! team with a provider and no web app of its own gets a members-only watch page by configuration.
//!
//! | module | part |
//! |---|---|
//! | [`settings`] | a provider's `login` table: client, scopes, endpoints, presets |
//! | [`discovery`] | the issuer's discovery document and its per-isolate cache (runtime state, beside the settings) |
//! | [`flow`] | PKCE, `state`, `nonce`, the signed state cookie, authorization and logout URLs |
//! | [`callback`] | the code exchange, the ID token's checks, the session it gives |
//!
//! Pure like the rest of the core: randomness and time are arguments, and the Workers layer
//! fetches the discovery document and performs the code exchange that this module describes.

pub mod callback;
pub mod discovery;
pub mod flow;
pub mod settings;

use crate::cookie::find_cookie;
use crate::encoding::url_encode;
use crate::identity::provider::Provider;
use discovery::DiscoveryStore;
use flow::{StateFault, StateKey};
use settings::{parse_login, Endpoints, Login};

/// Marks a sign-in completed in the last minute: while it is set, a page that still finds no
/// valid session shows a sign-in link instead of redirecting again (no redirect loop).
pub const RECENT_COOKIE: &str = "ivs-signin-recent";
/// How long [`RECENT_COOKIE`] lives: at most one automatic round trip to the provider a minute.
pub const RECENT_SECONDS: u64 = 60;

/// The sign-in settings of every provider with a `login` table: configuration only; the
/// discovered endpoints are runtime state, a [`DiscoveryStore`] handed in beside it.
#[derive(Debug, Default)]
pub struct SignIn {
    /// Providers viewers can sign in with, in provider name order.
    pub logins: Vec<Login>,
    /// The state cookie's key (set whenever `logins` is not empty).
    pub state_key: Option<StateKey>,
}

impl SignIn {
    /// The `login` tables of `providers`; `secret` looks secret bindings up by name. Sign-in
    /// keeps viewers signed in with the worker's session cookie, so it needs `session_secret`.
    pub fn load(
        providers: &[Provider],
        secret: &dyn Fn(&str) -> Option<String>,
        session_secret: Option<&[u8]>,
    ) -> Result<Self, String> {
        let mut logins = Vec::new();
        for provider in providers {
            if let Some(login) =
                parse_login(provider, secret).map_err(|e| format!("provider `{}`: {e}", provider.name))?
            {
                logins.push(login);
            }
        }
        if logins.is_empty() {
            return Ok(Self::default());
        }
        let secret = session_secret.ok_or(
            "sign-in at the edge (`login` in IDENTITY_PROVIDERS) keeps viewers signed in with the worker's session cookie: set SESSION_SECRET",
        )?;
        Ok(Self { logins, state_key: Some(StateKey::derive(secret)) })
    }

    /// Whether any provider offers sign-in.
    pub fn enabled(&self) -> bool {
        !self.logins.is_empty()
    }

    /// The login of the provider named `name`.
    pub fn login(&self, name: &str) -> Option<&Login> {
        self.logins.iter().find(|l| l.provider == name)
    }

    /// What a page at `page_path` does for a viewer without a valid session (`cookie`: the
    /// request's `Cookie` header); `None` when sign-in at the edge is off.
    pub fn page_sign_in(&self, cookie: Option<&str>, page_path: &str) -> Option<PageSignIn> {
        let provider = match self.logins.as_slice() {
            [] => return None,
            [one] => Some(one.provider.as_str()),
            _ => None,
        };
        let href = login_link(provider, page_path);
        Some(if find_cookie(cookie.unwrap_or_default(), RECENT_COOKIE).is_some() {
            PageSignIn::Link {
                href,
                message: "You were just signed in, but this browser did not keep the session (are cookies blocked?). Sign in again.",
            }
        } else {
            PageSignIn::Redirect(href)
        })
    }

    /// Whether the Workers layer should fetch `login`'s discovery document now (`discovery`: what
    /// this isolate has discovered).
    pub fn wants_discovery(&self, discovery: &DiscoveryStore, login: &Login, now: u64) -> bool {
        login.discovery_url.is_some() && discovery.wants_fetch(&login.provider, now)
    }

    /// `login`'s endpoints: those written out (or filled by its preset), the rest discovered
    /// (`discovery`: what this isolate has discovered). `None` while the authorization or token
    /// endpoint is unknown (discovery failed).
    pub fn endpoints(&self, discovery: &DiscoveryStore, login: &Login, now: u64) -> Option<Endpoints> {
        let written = &login.endpoints;
        let found = login.discovery_url.as_ref().and_then(|_| discovery.endpoints(&login.provider, now));
        let found = found.unwrap_or_default();
        let endpoints = Endpoints {
            authorization: written.authorization.clone().or(found.authorization),
            token: written.token.clone().or(found.token),
            end_session: written.end_session.clone().or(found.end_session),
            iss_parameter: found.iss_parameter,
        };
        (endpoints.authorization.is_some() && endpoints.token.is_some()).then_some(endpoints)
    }
}

/// `/login` for `provider` (or the chooser, for none), returning to `return_to`.
pub fn login_link(provider: Option<&str>, return_to: &str) -> String {
    let back = format!("return_to={}", url_encode(return_to));
    match provider {
        Some(name) => format!("/login?provider={}&{back}", url_encode(name)),
        None => format!("/login?{back}"),
    }
}

/// What a page (`/watch/NAME`, `/stage/NAME`) does for a viewer without a valid session when
/// sign-in at the edge is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageSignIn {
    /// Redirect to `/login` (the chooser when several providers offer sign-in).
    Redirect(String),
    /// A sign-in completed less than [`RECENT_SECONDS`] ago and still left no usable session:
    /// no second automatic round trip (no loop), a page with this link and message instead.
    Link {
        /// Where the link goes (`/login?...`).
        href: String,
        /// What the page says.
        message: &'static str,
    },
}

/// Why a sign-in step failed, in words a viewer can act on. Never holds a code, token or secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The provider (discovery, token endpoint or keys) could not be reached. 503.
    Unavailable(String),
    /// The viewer cancelled, or the provider refused them (`error=access_denied`). 403.
    Cancelled,
    /// The provider answered the authorization request with another error (its code). 502.
    ProviderError(String),
    /// The state cookie or parameter failed. 403.
    State(StateFault),
    /// The answer came back from, or names, another provider than the one this browser's sign-in
    /// started with (an OpenID Connect mix-up, RFC 9700 section 4.4): what does not match. 403.
    MixUp(&'static str),
    /// The code was already used or has expired (`invalid_grant`). 400.
    CodeRejected,
    /// The token endpoint's answer is not usable. 502.
    BadAnswer(&'static str),
    /// The ID token failed a rule. 401.
    IdToken(String),
    /// The request itself is wrong (parameters). 400.
    BadRequest(String),
    /// `/login?provider=` names no provider offering sign-in. 404.
    UnknownProvider,
    /// The session would not fit in a cookie (too many groups). 500.
    TooLarge,
    /// A silent sign-in (`prompt=none`) needs the viewer at the provider: the sign-in starts
    /// again with a page (a redirect, never shown as a page itself).
    InteractionRequired,
}

impl Failure {
    /// What the page says.
    pub fn message(&self) -> String {
        match self {
            Self::Unavailable(name) => format!(
                "The identity provider `{name}` cannot be reached right now, so you cannot be signed in. Try again in a minute."
            ),
            Self::Cancelled => "Sign-in was cancelled, or the identity provider did not let this account in.".into(),
            Self::ProviderError(code) => format!("The identity provider could not sign you in (it answered `{code}`)."),
            Self::State(StateFault::Missing) => "This sign-in did not start in this browser, or it was already completed. Start again.".into(),
            Self::State(StateFault::Expired) => "This sign-in took too long (more than 10 minutes). Start again.".into(),
            Self::State(StateFault::Forged | StateFault::Mismatch) => {
                "This sign-in answer does not belong to the sign-in this browser started (a forged or replayed `state`). Start again.".into()
            }
            Self::MixUp(what) => format!(
                "This sign-in answer belongs to a different identity provider than the one this browser started with ({what}), so it was not used. Start again."
            ),
            Self::CodeRejected => "This sign-in answer was already used, or it expired. Start again.".into(),
            Self::BadAnswer(what) => format!("The identity provider's answer could not be used: {what}."),
            Self::IdToken(reason) => format!("The identity provider's ID token was refused: {reason}."),
            Self::BadRequest(reason) => reason.clone(),
            Self::UnknownProvider => "No identity provider of that name offers sign-in here.".into(),
            Self::TooLarge => "Your account's groups do not fit in a session cookie (4096 bytes). Ask the operator to map fewer groups.".into(),
            Self::InteractionRequired => "The identity provider needs you to sign in again. Start again.".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::problem::Problem;
    use crate::identity::keystore::Fetched;
    use crate::identity::provider::parse_providers;
    use serde_json::json;

    #[test]
    fn loading_and_endpoints() {
        let providers = parse_providers(
            &json!({
                "a": {"issuer": "https://a.example", "audience": "x", "jwks_url": "https://a.example/jwks", "login": {"client_id": "x"}},
                "b": {"issuer": "https://b.example", "audience": "x", "jwks_url": "https://b.example/jwks"},
            })
            .to_string(),
        )
        .unwrap();
        let error = SignIn::load(&providers, &|_| None, None).unwrap_err();
        assert!(error.contains("set SESSION_SECRET"), "{error}");
        let signin = SignIn::load(&providers, &|_| None, Some(b"0123456789abcdef0123456789abcdef")).unwrap();
        assert_eq!(signin.logins.len(), 1);
        assert!(signin.enabled() && signin.login("a").is_some() && signin.login("b").is_none());
        let login = signin.login("a").unwrap();
        let discovery = DiscoveryStore::default();
        assert!(signin.wants_discovery(&discovery, login, 100));
        assert_eq!(signin.endpoints(&discovery, login, 100), None, "nothing known yet");
        let doc = json!({"issuer": "https://a.example", "authorization_endpoint": "https://a.example/auth",
            "token_endpoint": "https://a.example/token", "end_session_endpoint": "https://a.example/end"});
        discovery.record(
            "a",
            "https://a.example",
            Fetched::Document { body: doc.to_string(), cache_control: None },
            100,
        );
        let endpoints = signin.endpoints(&discovery, login, 101).unwrap();
        assert_eq!(endpoints.end_session.as_deref(), Some("https://a.example/end"));
        assert!(!signin.wants_discovery(&discovery, login, 101));
        assert!(!SignIn::load(&providers[1..], &|_| None, None).unwrap().enabled(), "no login, no secret needed");
    }

    #[test]
    fn failures_are_words_with_a_status() {
        for failure in [
            Failure::Unavailable("idp".into()),
            Failure::Cancelled,
            Failure::ProviderError("server_error".into()),
            Failure::State(StateFault::Missing),
            Failure::State(StateFault::Forged),
            Failure::MixUp("it came back at another provider's callback"),
            Failure::CodeRejected,
            Failure::IdToken("its `nonce` is not this sign-in's".into()),
            Failure::TooLarge,
        ] {
            assert!((400..600).contains(&failure.status()));
            assert!(!failure.message().is_empty() && !failure.title().is_empty() && !failure.slug().is_empty());
        }
        assert_eq!(Failure::Unavailable("idp".into()).status(), 503);
        assert_eq!(Failure::Cancelled.status(), 403);
    }
}
