//! The tests of [`super`]: the plan driven by a fake Workers layer, which every native test of a
//! request that needs I/O uses, so no test re-implements the layer's sequence.

use super::*;
use crate::capped::TooLarge;
use crate::chat::api::read_create_answer;
use crate::config::tests::{device_settings, settings, ADMIN_TOKEN};
use crate::config::{names, Config};
use crate::device::ledger::Ledger;
use crate::device::object::apply;
use crate::http::tests::{cookie_for, NOW};
use crate::identity::jwt::tests::{claims, mint, signer_jwk, ISSUER};
use crate::identity::keystore::Fetched;
use crate::identity::session_cookie::SessionClaims;
use serde_json::json;
use std::collections::BTreeMap;

/// The Workers layer in miniature: fulfils each need the way the real one does, from what the
/// test set up, and writes down what was asked, in order.
#[derive(Default)]
pub(crate) struct FakeEdge {
    /// The viewers' ledgers, by viewer id (the Durable Objects); `None` in `unreachable` mode.
    pub ledgers: BTreeMap<String, Ledger>,
    /// Answer every ledger command with this instead of asking a ledger.
    pub ledger_answer: Option<LedgerAnswer>,
    /// What the token endpoint answers to a code exchange (none: the exchange is not answered).
    pub token_endpoint: Option<Exchanged>,
    /// Key documents by URL, recorded when the plan asks for them.
    pub key_documents: BTreeMap<String, String>,
    /// Discovery documents by URL.
    pub discovery_documents: BTreeMap<String, String>,
    /// The request body (read only when the plan asks for it).
    pub body: Vec<u8>,
    /// The platform's verdict on every signature check (none: not given).
    pub verdict: Option<bool>,
    /// IVS Chat's answers to `CreateChatToken`, in order: (status, `x-amzn-ErrorType`, body);
    /// status 0 or none left: no answer (a network error).
    pub chat_answers: std::collections::VecDeque<(u16, Option<String>, String)>,
    /// What the plan asked for, in order.
    pub asked: Vec<String>,
}

impl FakeEdge {
    /// Fulfil `plan`'s needs, then answer.
    pub(crate) fn run(&mut self, mut plan: Plan<'_, '_>) -> Response {
        while let Some(need) = plan.next_need() {
            // A plan under a configuration that failed to load needs nothing.
            let config = plan.config.expect("needs come only from a loaded configuration");
            match need {
                Need::Body { limit } => {
                    self.asked.push(format!("body {limit}"));
                    let body = self.body.clone();
                    let read = if body.len() > limit { Err(Unread::TooLarge(TooLarge { limit })) } else { Ok(body) };
                    plan.body_read(read);
                }
                Need::Keys(fetches) => {
                    for fetch in fetches {
                        self.asked.push(format!("keys {}", fetch.provider.name));
                        let url = fetch.provider.jwks_url.clone().unwrap_or_default();
                        let fetched = match self.key_documents.get(&url) {
                            Some(body) => Fetched::Document { body: body.clone(), cache_control: None },
                            None => Fetched::Failed("unreachable".into()),
                        };
                        plan.state.identity.record_fetch(fetch.provider, fetched, plan.now);
                    }
                }
                Need::Signature(check) => {
                    self.asked.push("signature".into());
                    if let Some(valid) = self.verdict {
                        plan.verdict(&check, valid);
                    }
                }
                Need::Discovery { login, wait } => {
                    self.asked.push(format!("discovery {} {}", login.provider, if wait { "now" } else { "later" }));
                    let url = login.discovery_url.clone().unwrap_or_default();
                    let fetched = match self.discovery_documents.get(&url) {
                        Some(body) => Fetched::Document { body: body.clone(), cache_control: None },
                        None => Fetched::Failed("unreachable".into()),
                    };
                    let issuer = &config.identity.providers.iter().find(|p| p.name == login.provider).unwrap().issuer;
                    plan.state.discovery.record(&login.provider, issuer, fetched, plan.now);
                }
                Need::CodeExchange { exchange, provider } => {
                    self.asked.push(format!("code-exchange {} {}", provider.name, exchange.url));
                    if let Some(answer) = self.token_endpoint.clone() {
                        plan.exchanged(answer);
                    }
                }
                Need::Ledger(ask) => {
                    self.asked.push(format!("ledger {}", command_name(&ask)));
                    let answer = self.ledger_answer.clone().unwrap_or_else(|| {
                        let ledger =
                            self.ledgers.entry(ask.viewer_id.clone()).or_insert_with(|| Ledger::new(&ask.viewer_id));
                        LedgerAnswer::Replied(apply(ledger, &ask.command, plan.now))
                    });
                    plan.ledger_answered(answer);
                }
                Need::ChatToken { request, delay_ms } => {
                    self.asked.push(format!("chat-token {} {delay_ms}", request.url));
                    let (status, error_type, body) = self.chat_answers.pop_front().unwrap_or((0, None, String::new()));
                    plan.chat_answered(match status {
                        0 => Created::Retry { status: 0, code: None },
                        _ => read_create_answer(status, error_type.as_deref(), &body),
                    });
                }
            }
        }
        plan.answer()
    }
}

/// The command's name as it travels to the object (`"op"`).
fn command_name(ask: &Envelope) -> String {
    serde_json::to_value(&ask.command).unwrap()["op"].as_str().unwrap_or_default().to_owned()
}

const JWKS_URL: &str = "https://id.example/jwks";

fn remote_provider_config() -> Config {
    let providers = json!({"idp": {"issuer": ISSUER, "audience": "tv-app", "jwks_url": JWKS_URL,
        "groups_claim": "groups"}});
    Config::load(&device_settings().with(names::IDENTITY_PROVIDERS, providers.to_string())).unwrap()
}

fn provider_token() -> String {
    let mut c = claims();
    c["aud"] = json!("tv-app");
    mint(&json!({"alg": "ES384", "kid": "k1"}), &c)
}

fn fake_with_keys() -> FakeEdge {
    let mut edge = FakeEdge::default();
    edge.key_documents.insert(JWKS_URL.into(), json!({"keys": [signer_jwk("k1")]}).to_string());
    edge
}

/// A device-limited token for a provider's viewer: the keys, then the signature, then the ledger,
/// and nothing else; the second request of the isolate needs only the ledger.
#[test]
fn a_provider_viewers_token_asks_for_keys_then_signature_then_ledger() {
    let config = remote_provider_config();
    let state = IsolateState::new();
    let bearer = format!("Bearer {}", provider_token());
    let mut request = Request::new("GET", "/v1/token?channel=demo");
    request.authorization = Some(&bearer);
    request.headers = &[("x-device-id", "device-0000000001")];
    let mut edge = fake_with_keys();
    let response = edge.run(Plan::new(request, Ok(&config), &state, NOW, [1; 32]));
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(edge.asked, ["keys idp", "signature", "ledger admit"]);

    // The platform's verdicts decide: a signature it refuses is a refused token.
    let mut refusing = fake_with_keys();
    refusing.verdict = Some(false);
    let fresh = remote_provider_config();
    let response = refusing.run(Plan::new(request, Ok(&fresh), &IsolateState::new(), NOW, [1; 32]));
    assert_eq!(response.status, 401, "{}", response.body);
    assert!(!refusing.asked.iter().any(|a| a.starts_with("ledger")), "no ledger call for a refused viewer");

    // Keys known and the token verified in this isolate: only the ledger is left.
    edge.asked.clear();
    let response = edge.run(Plan::new(request, Ok(&config), &state, NOW + 1, [2; 32]));
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(edge.asked, ["ledger admit"]);
}

/// A channel without a device limit, a route without a viewer, a refused request: no ledger.
#[test]
fn requests_that_need_nothing_ask_for_nothing() {
    let config = Config::load(&device_settings().with(names::ADMIN_API_TOKEN, ADMIN_TOKEN)).unwrap();
    let state = IsolateState::new();
    let alice = cookie_for(&SessionClaims::new("alice", NOW, 3600));
    for (method, target, cookie, status) in [
        ("GET", "/v1/token?channel=open", Some(alice.as_str()), 200),
        ("GET", "/v1/token?channel=demo", None, 401),
        ("GET", "/v1/token?channel=nope", Some(alice.as_str()), 404),
        ("GET", "/healthz", None, 200),
        ("GET", "/openapi.json", None, 200),
        ("POST", "/v1/admin/revoke", None, 401),
        ("GET", "/callback/idp?code=x", None, 404),
    ] {
        let mut request = Request::new(method, target);
        request.cookie = cookie;
        let mut edge = FakeEdge { body: br#"{"sub": "alice"}"#.to_vec(), ..FakeEdge::default() };
        let response = edge.run(Plan::new(request, Ok(&config), &state, NOW, [1; 32]));
        assert_eq!(response.status, status, "{target}: {}", response.body);
        assert!(edge.asked.is_empty(), "{target}: {:?}", edge.asked);
    }
}

/// The operator's body is read only after the gate, at most its limit; a larger one is a 413
/// with no ledger command.
#[test]
fn an_operator_command_reads_its_body_after_the_gate_then_asks_the_ledger() {
    let config = Config::load(&device_settings().with(names::ADMIN_API_TOKEN, ADMIN_TOKEN)).unwrap();
    let state = IsolateState::new();
    let bearer = format!("Bearer {ADMIN_TOKEN}");
    let mut request = Request::new("POST", "/v1/admin/revoke");
    request.authorization = Some(&bearer);
    let mut edge = FakeEdge { body: br#"{"sub": "alice"}"#.to_vec(), ..FakeEdge::default() };
    let response = edge.run(Plan::new(request, Ok(&config), &state, NOW, [1; 32]));
    assert_eq!(response.status, 202, "{}", response.body);
    assert_eq!(edge.asked, ["body 4096", "ledger revoke"]);

    let mut large = FakeEdge { body: vec![b' '; 5000], ..FakeEdge::default() };
    let response = large.run(Plan::new(request, Ok(&config), &state, NOW, [1; 32]));
    assert_eq!((response.status, response.problem), (413, Some("payload-too-large")));
    assert_eq!(large.asked, ["body 4096"]);
}

/// Sign-in: the discovery document when none is fresh, then (at the callback) the code exchange
/// and the ID token's keys; a stale document is served and fetched again after the answer.
#[test]
fn sign_in_asks_for_discovery_then_the_code_exchange() {
    let providers = json!({"idp": {"issuer": ISSUER, "audience": "tv-app", "jwks_url": JWKS_URL,
        "groups_claim": "groups", "login": {"client_id": "tv-app"}}});
    let config = Config::load(&settings().with(names::IDENTITY_PROVIDERS, providers.to_string())).unwrap();
    let state = IsolateState::new();
    let discovery_url = format!("{ISSUER}/.well-known/openid-configuration");
    let document = json!({"issuer": ISSUER, "authorization_endpoint": "https://id.example/auth",
        "token_endpoint": "https://id.example/token", "jwks_uri": JWKS_URL});
    let mut edge = fake_with_keys();
    edge.discovery_documents.insert(discovery_url, document.to_string());
    let mut login = Request::new("GET", "/login?return_to=%2Fwatch%2Fdemo");
    login.host = Some("tv.example");
    let response = edge.run(Plan::new(login, Ok(&config), &state, NOW, [3; 32]));
    assert_eq!(response.status, 302, "{}", response.body);
    assert_eq!(edge.asked, ["discovery idp now"]);
    let location = response.header("location").unwrap().to_owned();
    let state_cookie = response
        .headers
        .iter()
        .find(|(n, v)| *n == "set-cookie" && v.starts_with("__Host-ivs-signin="))
        .map(|(_, v)| v.split(';').next().unwrap().to_owned())
        .unwrap();
    let param = |name: &str| crate::http::query_param(location.split_once('?').unwrap().1, name).unwrap().unwrap();
    let mut c = claims();
    c["aud"] = json!("tv-app");
    c["nonce"] = json!(param("nonce"));
    let id_token = mint(&json!({"alg": "ES384", "kid": "k1"}), &c);
    edge.token_endpoint =
        Some(Exchanged::Answer { status: 200, body: json!({"id_token": id_token, "access_token": "a"}).to_string() });
    edge.asked.clear();
    let target = format!("/callback/idp?code=the-code&state={}", param("state"));
    let mut callback = Request::new("GET", &target);
    callback.host = Some("tv.example");
    callback.cookie = Some(&state_cookie);
    let response = edge.run(Plan::new(callback, Ok(&config), &state, NOW + 5, [4; 32]));
    assert_eq!(response.status, 302, "{}", response.body);
    assert_eq!(edge.asked, ["code-exchange idp https://id.example/token", "keys idp"]);

    // Long after: the document is stale, so it is used and fetched again after the answer.
    edge.asked.clear();
    let later = NOW + 3600;
    let response = edge.run(Plan::new(login, Ok(&config), &state, later, [5; 32]));
    assert_eq!(response.status, 302, "{}", response.body);
    assert_eq!(edge.asked, ["discovery idp later"]);
}

/// A configuration that failed to load asks for nothing: every route answers from the error.
#[test]
fn a_misconfigured_worker_asks_for_nothing() {
    let error = Config::load(&settings().with(names::CHANNELS, "{}")).unwrap_err();
    let bearer = format!("Bearer {ADMIN_TOKEN}");
    let mut request = Request::new("POST", "/v1/admin/revoke");
    request.authorization = Some(&bearer);
    let state = IsolateState::new();
    let mut plan = Plan::new(request, Err(&error), &state, NOW, [1; 32]);
    assert!(plan.next_need().is_none());
    assert_eq!(plan.answer().status, 500);
    let mut edge = FakeEdge::default();
    let _ = edge.run(Plan::new(Request::new("GET", "/healthz"), Err(&error), &IsolateState::new(), NOW, [1; 32]));
    assert!(edge.asked.is_empty());
}
