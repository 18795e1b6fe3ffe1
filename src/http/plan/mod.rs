//! One request, resolved once: its route, the credential it presents, and what its answer needs
//! from outside the core, in order. Sans I/O, like quinn-proto's connection or rustls' unbuffered
//! API: the plan says what it needs, the Workers layer fetches it and hands it back, and nothing
//! here awaits, reads a clock or opens a socket.
//!
//! ```text
//! let mut plan = Plan::new(request, config, &state, now, random);
//! while let Some(need) = plan.next_need() {
//!     // fulfil `need` (read the body, fetch keys, ask WebCrypto, the token endpoint, the ledger)
//!     // and hand its result back: plan.body_read(..), plan.verdict(..), plan.exchanged(..), ...
//! }
//! let response = plan.answer();
//! ```
//!
//! The needs come in a fixed order, each derived from the [`Route`] and from what the earlier
//! ones brought, never from a second look at the path:
//!
//! | need | when |
//! |---|---|
//! | [`Need::Body`] | an operator POST whose bearer token passed: at most its limit |
//! | [`Need::Keys`] | the credential's provider has no, stale or not the named key; `/healthz`: every provider |
//! | [`Need::Signature`] | each provider token's signature the platform may check (one key at a time) |
//! | [`Need::Discovery`] | `/login`, `/callback/PROVIDER`, `/logout`: that provider's discovery document, if not fresh |
//! | [`Need::CodeExchange`] | a `/callback/PROVIDER` whose state and `iss` checks passed |
//! | [`Need::Keys`] | the keys of the ID token the exchange brought, if not known |
//! | [`Need::Ledger`] | a device-limited token, a heartbeat, an operator command, a chat token: the viewer's ledger |
//! | [`Need::ChatToken`] | a chat token the ledger allowed: `CreateChatToken`; once more if IVS Chat throttled or failed |
//!
//! Key documents and discovery documents go into the isolate's runtime state beside the
//! configuration ([`IsolateState`]: the Workers layer records them there), so the plan is handed
//! nothing back for those.

use super::chat::{chat_call, chat_ledger_ask};
use super::device::{ledger_ask, operator_body_limit};
use super::request::Request;
use super::response::{log_line, Response};
use super::route::Route;
use super::signin::{discovery_for, exchange_for};
use crate::aws::call::HttpRequest;
use crate::capped::Unread;
use crate::chat::api::Created;
use crate::config::Config;
use crate::device::object::{Envelope, LedgerAnswer, LedgerExchange};
use crate::error::Error;
use crate::identity::credential::{KeyFetch, Located, SignatureCheck};
use crate::identity::provider::Provider;
use crate::isolate::IsolateState;
use crate::signin::callback::{self, Exchange, Exchanged};
use crate::signin::settings::Login;

/// What the Workers layer must do before the plan can answer.
#[derive(Debug)]
pub enum Need<'c> {
    /// Read the request body, at most `limit` bytes (more: [`Unread::TooLarge`], nothing
    /// read beyond the limit); then [`Plan::body_read`].
    Body {
        /// The most bytes that may be read.
        limit: usize,
    },
    /// Fetch these key documents and record them in the isolate's key store
    /// ([`IsolateState::identity`]; already claimed, so concurrent requests do not fetch them too).
    Keys(Vec<KeyFetch<'c>>),
    /// Check this signature with the platform's WebCrypto; then [`Plan::verdict`].
    Signature(SignatureCheck),
    /// Fetch this login's discovery document and record it in the isolate's
    /// [`IsolateState::discovery`] (already claimed). `wait`: none is usable, the answer needs it; otherwise a stale one is
    /// used and the fresh one is fetched after the answer.
    Discovery {
        /// The provider's login settings.
        login: &'c Login,
        /// Whether the answer waits for it.
        wait: bool,
    },
    /// Send the code exchange to the provider's token endpoint; then [`Plan::exchanged`].
    CodeExchange {
        /// The request to send.
        exchange: Exchange,
        /// The provider it goes to (for the log: never the code or a secret).
        provider: &'c Provider,
    },
    /// Send this command to the viewer's device ledger; then [`Plan::ledger_answered`].
    Ledger(Envelope),
    /// Wait `delay_ms`, then send this signed `CreateChatToken` to IVS Chat; then
    /// [`Plan::chat_answered`] (read with [`crate::chat::api::read_create_answer`]).
    ChatToken {
        /// The signed request.
        request: HttpRequest,
        /// A pause before it: 0 for the first try, a random 100 to 399 ms before the retry.
        delay_ms: u32,
    },
}

/// The most `CreateChatToken` calls one request makes: one retry.
const CHAT_ATTEMPTS: u8 = 2;

/// Where the plan stands: the next kind of need it will consider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Body,
    Keys,
    Signatures,
    Discovery,
    Exchange,
    IdTokenKeys,
    Ledger,
    Chat,
    Done,
}

/// A request being answered (see the module docs).
#[derive(Debug)]
pub struct Plan<'r, 'c> {
    request: Request<'r>,
    config: Result<&'c Config, &'c Error>,
    state: &'c IsolateState,
    now: u64,
    random: [u8; 32],
    step: Step,
    located: Option<Located<'c, 'r>>,
    body: Vec<u8>,
    /// Whether the signature checks were read, those not yet handed out, and the tokens a
    /// valid verdict has settled.
    checks_read: bool,
    checks: Vec<SignatureCheck>,
    settled: Vec<[u8; 32]>,
    exchange_provider: Option<&'c Provider>,
    exchanged: Option<Exchanged>,
    asked: Option<Envelope>,
    ledger: Option<LedgerExchange>,
    chat_attempts: u8,
    chat: Option<Created>,
    /// An answer decided before the route runs (a body over its limit).
    early: Option<Response>,
}

impl<'r, 'c> Plan<'r, 'c> {
    /// Resolve `request` under `config` (or the error loading it gave), with `state`, the
    /// isolate's caches beside that configuration. `now` is Unix seconds, one reading for the
    /// whole request; `random` is fresh randomness for this request.
    pub fn new(
        request: Request<'r>,
        config: Result<&'c Config, &'c Error>,
        state: &'c IsolateState,
        now: u64,
        random: [u8; 32],
    ) -> Self {
        let located = config.ok().map(|config| config.identity.locate(&state.identity, &request.presented()));
        Self {
            request,
            config,
            state,
            now,
            random,
            step: Step::Body,
            located,
            body: Vec::new(),
            checks_read: false,
            checks: Vec::new(),
            settled: Vec::new(),
            exchange_provider: None,
            exchanged: None,
            asked: None,
            ledger: None,
            chat_attempts: 0,
            chat: None,
            early: None,
        }
    }

    /// The route the request names.
    pub fn route(&self) -> Route<'r> {
        Route::of(self.request.path)
    }

    /// The request as the routes see it: with everything handed back so far.
    fn view(&self) -> Request<'_> {
        let mut view = self.request;
        view.located = self.located.as_ref();
        view.body = &self.body;
        view.exchanged = self.exchanged.as_ref();
        view.ledger = self.ledger.as_ref();
        view.chat = self.chat.as_ref();
        view
    }

    /// The next thing the Workers layer must do, or `None` when [`Plan::answer`] can answer.
    pub fn next_need(&mut self) -> Option<Need<'c>> {
        loop {
            let config = match self.config {
                Ok(config) if self.early.is_none() => config,
                _ => {
                    self.step = Step::Done;
                    return None;
                }
            };
            match self.step {
                Step::Body => {
                    self.step = Step::Keys;
                    if let Some(limit) = body_limit(self.route(), &self.request, config) {
                        return Some(Need::Body { limit });
                    }
                }
                Step::Keys => {
                    self.step = Step::Signatures;
                    let mut fetches = self.located.as_ref().map(|l| l.key_fetches(self.now)).unwrap_or_default();
                    if self.route() == Route::Health {
                        fetches.extend(config.identity.fetches_for_health(&self.state.identity, self.now));
                    }
                    if let Some(need) = claimed(self.state, fetches, self.now) {
                        return Some(need);
                    }
                }
                Step::Signatures => {
                    if !self.checks_read {
                        // Read once the keys are in: a check needs the key it names.
                        self.checks_read = true;
                        self.checks = self.located.as_ref().map(|l| l.signature_checks(self.now)).unwrap_or_default();
                        self.checks.reverse();
                    }
                    // A token is settled by the first key that verifies it (several candidate
                    // keys only for a token without `kid`).
                    while let Some(check) = self.checks.pop() {
                        if !self.settled.contains(&check.digest) {
                            return Some(Need::Signature(check));
                        }
                    }
                    self.step = Step::Discovery;
                }
                Step::Discovery => {
                    self.step = Step::Exchange;
                    if !config.signin.enabled() {
                        continue;
                    }
                    let Some(login) = discovery_for(&self.view(), config, self.now) else { continue };
                    let store = &self.state.discovery;
                    let wait = match store.need(&login.provider, self.now) {
                        Some(crate::signin::discovery::Need::Fetch) => true,
                        Some(crate::signin::discovery::Need::Revalidate) => false,
                        None => continue,
                    };
                    store.begin_fetch(&login.provider, self.now);
                    return Some(Need::Discovery { login, wait });
                }
                Step::Exchange => {
                    self.step = Step::IdTokenKeys;
                    if !config.signin.enabled() {
                        continue;
                    }
                    if let Some((exchange, provider)) = exchange_for(&self.view(), config, self.state, self.now) {
                        self.exchange_provider = Some(provider);
                        return Some(Need::CodeExchange { exchange, provider });
                    }
                }
                Step::IdTokenKeys => {
                    self.step = Step::Ledger;
                    let (Some(provider), Some(exchanged)) = (self.exchange_provider, self.exchanged.as_ref()) else {
                        continue;
                    };
                    let Some(kid) = callback::id_token_kid(exchanged) else { continue };
                    if self.state.identity.keys.wants_fetch(provider, kid.as_deref(), self.now) {
                        let fetch = KeyFetch { provider, kid };
                        if let Some(need) = claimed(self.state, vec![fetch], self.now) {
                            return Some(need);
                        }
                    }
                }
                Step::Ledger => {
                    self.step = Step::Chat;
                    // Blocks and the chat token floor live in the ledger, with or without device
                    // limits.
                    let ask = match self.route() {
                        Route::ChatToken => chat_ledger_ask(&self.view(), config, self.state, self.now),
                        _ => ledger_ask(&self.view(), Ok(config), self.state, self.now, self.random),
                    };
                    if let Some(ask) = ask {
                        self.asked = Some(ask.clone());
                        return Some(Need::Ledger(ask));
                    }
                }
                Step::Chat => {
                    let retry = matches!(self.chat, None | Some(Created::Retry { .. }));
                    if !retry || self.chat_attempts >= CHAT_ATTEMPTS || self.route() != Route::ChatToken {
                        self.step = Step::Done;
                        continue;
                    }
                    let Some(request) = chat_call(&self.view(), config, self.state, self.now) else {
                        self.step = Step::Done;
                        continue;
                    };
                    let delay_ms = match self.chat_attempts {
                        0 => 0,
                        // Equal spread over 100-399 ms from the request's randomness: requests
                        // throttled together do not retry together.
                        _ => 100 + u32::from(u16::from_le_bytes([self.random[30], self.random[31]])) % 300,
                    };
                    self.chat_attempts += 1;
                    return Some(Need::ChatToken { request, delay_ms });
                }
                Step::Done => return None,
            }
        }
    }

    /// What came of [`Need::Body`].
    pub fn body_read(&mut self, body: Result<Vec<u8>, Unread>) {
        match body {
            Ok(body) => self.body = body,
            Err(Unread::TooLarge(too_large)) => {
                self.early = Some(Response::problem(&Error::PayloadTooLarge { limit: too_large.limit }))
            }
            Err(Unread::Broken) => {
                self.early = Some(Response::problem(&Error::BadRequest(
                    "the request body could not be read to its end; send it again".into(),
                )))
            }
        }
    }

    /// The platform's verdict on a [`Need::Signature`] check (not given: the core checks the
    /// signature itself, as it does on the native path).
    pub fn verdict(&mut self, check: &SignatureCheck, valid: bool) {
        if let Some(located) = self.located.as_mut() {
            located.record_verdict(check, valid);
        }
        if valid {
            self.settled.push(check.digest);
        }
    }

    /// What the token endpoint answered to [`Need::CodeExchange`].
    pub fn exchanged(&mut self, exchanged: Exchanged) {
        self.exchanged = Some(exchanged);
    }

    /// What the viewer's ledger answered to [`Need::Ledger`].
    pub fn ledger_answered(&mut self, answer: LedgerAnswer) {
        if let Some(ask) = self.asked.take() {
            self.ledger = Some(LedgerExchange { ask, answer });
        }
    }

    /// What IVS Chat answered to [`Need::ChatToken`] (a failure to reach it:
    /// [`Created::Retry`]).
    pub fn chat_answered(&mut self, created: Created) {
        self.chat = Some(created);
    }

    /// The answer, from everything handed back (what was not is treated as the documented
    /// failure of its step: keys not fetched, an unreachable ledger, no code exchange).
    pub fn answer(&mut self) -> Response {
        match self.early.take() {
            Some(early) => early,
            None => super::handle(&self.view(), self.config, self.state, self.now, self.random),
        }
    }

    /// The log line of `response` to this request (see [`log_line`]).
    pub fn log_line(&self, response: &Response, duration_ms: f64) -> String {
        log_line(&self.request, response, duration_ms)
    }
}

/// How many bytes of the request body may be read; `None`: read none (every route but the
/// operator API's POSTs, and those before their gate passes).
fn body_limit(route: Route<'_>, request: &Request<'_>, config: &Config) -> Option<usize> {
    match route {
        Route::AdminRevoke | Route::AdminDevices | Route::AdminUnblock => operator_body_limit(request, Ok(config)),
        _ => None,
    }
}

/// Claim `fetches` (so that requests arriving while they are under way do not start their own: a
/// request cannot wait on another's fetch in Workers) and ask for them.
fn claimed<'c>(state: &IsolateState, fetches: Vec<KeyFetch<'c>>, now: u64) -> Option<Need<'c>> {
    if fetches.is_empty() {
        return None;
    }
    for fetch in &fetches {
        state.identity.keys.begin_fetch(fetch.provider, now);
    }
    Some(Need::Keys(fetches))
}

#[cfg(test)]
pub(crate) mod tests;
