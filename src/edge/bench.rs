//! Bench-only route (cargo feature `bench`, never in the deployed worker): times core operations
//! inside workerd, where the question "how much CPU does a token cost" has to be answered.
//!
//! `GET /__bench?op=OP&n=N` runs OP N times in this request and answers
//! `{"op","n","total_ms","per_op_us"}`. OPs: `parse` (key parse), `sign` (ES384 signature),
//! `mint` (claims + sign + encode, viewer-bound channel), `session` (cookie verification),
//! `request` (the whole /v1/token core path: cookie, session, claims, signature, JSON), `reuse`
//! (a token for a channel without viewer binding, served again from the reuse cache), `chat`
//! (the whole `POST /v1/chat-token` plan but its two round trips: see [`chat_token`]),
//! `noop` (the loop alone). `GET /__bench/cold` reports this isolate's first config load and first
//! token, measured when that request arrived (call it first on a fresh isolate).

use crate::channel::policy::issue;
use crate::config::{names, Config, Settings};
use crate::http;
use crate::identity::{session_cookie::SessionClaims, Session};
use crate::isolate::IsolateState;
use crate::key::PlaybackKey;
use wasm_bindgen::JsCast;

/// `performance.now()` (sub-millisecond where the runtime allows), else `Date.now()`.
pub(crate) fn now_ms() -> f64 {
    let performance = js_sys::Reflect::get(&js_sys::global(), &"performance".into()).ok();
    let now = performance.as_ref().and_then(|p| js_sys::Reflect::get(p, &"now".into()).ok());
    match (performance, now.and_then(|f| f.dyn_into::<js_sys::Function>().ok())) {
        (Some(p), Some(f)) => f.call0(&p).ok().and_then(|v| v.as_f64()).unwrap_or_else(js_sys::Date::now),
        _ => js_sys::Date::now(),
    }
}

/// Cold-start figures of this isolate: the first request's configuration lookup (loaded at
/// startup when the module-scope `env` was reachable) and its first token.
pub fn cold(settings: &Settings, lookup: impl FnOnce() -> super::settings::Loaded, same_env: bool) -> String {
    // What the first /v1/token request pays before signing: the lookup fetch() does.
    let t0 = now_ms();
    let looked_up = lookup();
    let t1 = now_ms();
    // A full load for comparison (what the first request paid before the startup load).
    let again = Config::load(settings).is_ok();
    let second_load_ms = now_ms() - t1;
    let t1 = now_ms();
    let Ok(config) = &looked_up.config else { return r#"{"error":"configuration does not load"}"#.into() };
    let Some(channel) = config.channels.values().next() else { return r#"{"error":"no channel"}"#.into() };
    let session = Session::new("bench", u64::MAX);
    let issued = issue(
        &config.playback_settings(&looked_up.state.tokens),
        channel,
        &session,
        (js_sys::Date::now() / 1000.0) as u64,
        [1; 16],
    );
    let t2 = now_ms();
    let startup = super::startup::STARTUP_MS.with(std::cell::Cell::get);
    let startup_config = super::startup::STARTUP_CONFIG_MS.with(std::cell::Cell::get);
    serde_json::json!({"config_load_ms": t1 - t0, "first_mint_ms": t2 - t1, "startup_warm_up_ms": startup, "startup_config_ms": startup_config, "startup_config_ok": super::startup::STARTUP_CONFIG_OK.with(std::cell::Cell::get), "loads": super::settings::LOADS.with(std::cell::Cell::get),
        "module_env_is_request_env": same_env, "second_config_load_ms": second_load_ms, "second_ok": again, "token_len": issued.token.len()}).to_string()
}

/// The comb's k·G against p384's own (variable-base, no table) for `n` scalars inside wasm: edge
/// scalars first (0, 1, 2, n-1, n-2, (n±1)/2, 2^k±1 for some k), then pseudo-random ones.
/// Answers the number checked, or the first mismatch.
pub fn check(n: u32) -> String {
    use p384::elliptic_curve::bigint::U384;
    use p384::elliptic_curve::ops::Reduce;
    use p384::elliptic_curve::sec1::ToSec1Point;
    use p384::elliptic_curve::Curve;
    let order: U384 = *p384::NistP384::ORDER;
    let one = U384::ONE;
    let mut edges = vec![
        U384::ZERO,
        one,
        one.wrapping_add(&one),
        order.wrapping_sub(&one),
        order.wrapping_sub(&one).wrapping_sub(&one),
        order.shr_vartime(1),
        order.shr_vartime(1).wrapping_add(&one),
        U384::MAX,
    ];
    for k in [1u32, 31, 32, 63, 64, 127, 128, 191, 255, 320, 382, 383] {
        let p = one.shl_vartime(k);
        edges.extend([p, p.wrapping_add(&one), p.wrapping_sub(&one)]);
    }
    let mut state = 0x5eed_u64;
    for i in 0..n as usize {
        let k: [u8; 48] = match edges.get(i) {
            Some(e) => e.to_be_bytes().into(),
            None => std::array::from_fn(|_| {
                state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                (state >> 56) as u8
            }),
        };
        let scalar = <p384::Scalar as Reduce<U384>>::reduce(&U384::from_be_slice(&k));
        let reference = (p384::ProjectivePoint::GENERATOR * scalar).to_affine().to_sec1_point(false);
        let comb = crate::key::comb::mul_base_affine(&k);
        let expected = (reference.as_bytes().len() == 97).then(|| &reference.as_bytes()[1..]);
        let got = comb.map(|(x, y)| [x, y].concat());
        if got.as_deref() != expected {
            return serde_json::json!({"error": format!("comb differs from p384 for k = {}", crate::encoding::hex(&k))}).to_string();
        }
    }
    serde_json::json!({"op": "check", "checked": n}).to_string()
}

/// One RFC 7515 example (tests/fixtures/jws): the key, the algorithm, the signing input and
/// signature. Identity tokens' signature verification is timed with these.
fn jws_vector(
    file: &str,
) -> Option<(crate::identity::jwk::PublicJwk, crate::identity::jwk::Algorithm, String, Vec<u8>)> {
    let value: serde_json::Value = serde_json::from_str(file).ok()?;
    let key = crate::identity::jwk::PublicJwk::from_jwk(value["jwk"].as_object()?).ok()?;
    let alg = crate::identity::jwk::Algorithm::parse(value["alg"].as_str()?)?;
    let (signed, signature) = value["jws"].as_str()?.rsplit_once('.')?;
    Some((key, alg, signed.to_owned(), crate::encoding::b64url_decode(signature)?))
}

/// IVS Chat's answer to `CreateChatToken`, as long as a real one (a token of about 800 characters).
const CHAT_ANSWER: &str = concat!(
    r#"{"token":""#,
    "AQICAHgBenchChatTokenOfARealisticLength0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
    "AQICAHgBenchChatTokenOfARealisticLength0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
    "AQICAHgBenchChatTokenOfARealisticLength0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
    "AQICAHgBenchChatTokenOfARealisticLength0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
    "AQICAHgBenchChatTokenOfARealisticLength0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
    "AQICAHgBenchChatTokenOfARealisticLength0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
    "AQICAHgBenchChatTokenOfARealisticLength0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
    r#"","tokenExpirationTime":"2027-01-15T08:01:00.000Z","sessionExpirationTime":"2027-01-15T09:00:00.000Z"}"#
);

/// One `POST /v1/chat-token` through the plan the fetch handler runs, with its two waits
/// answered in place: the viewer's ledger by `device::object::apply` on a fresh in-memory ledger
/// (the Durable Object's decision, without the hop to the object and its SQLite write), and
/// IVS Chat by [`CHAT_ANSWER`] (without the round trip). What is timed is the worker's own work
/// per chat token: the session cookie, the channel grant, the chat grant (viewer id, role,
/// attributes), the ledger's verdict, the SigV4-signed `CreateChatToken` request, reading IVS
/// Chat's answer and the JSON reply. The status, so a refusal is never timed as a token.
fn chat_token(config: &Config, state: &IsolateState, target: &str, cookie: &str, now: u64) -> (u16, usize) {
    let mut request = http::Request::new("POST", target);
    request.cookie = Some(cookie);
    let mut plan = http::Plan::new(request, Ok(config), state, now, [0; 32]);
    while let Some(need) = plan.next_need() {
        match need {
            http::Need::Ledger(ask) => {
                let mut ledger = crate::device::ledger::Ledger::new(&ask.viewer_id);
                let reply = crate::device::object::apply(&mut ledger, &ask.command, now);
                plan.ledger_answered(http::LedgerAnswer::Replied(reply));
            }
            http::Need::ChatToken { request, .. } => {
                // The signed request the fetch handler would send: kept, so its signing is timed.
                std::hint::black_box(&request);
                plan.chat_answered(crate::chat::api::read_create_answer(200, None, CHAT_ANSWER));
            }
            _ => return (599, 0),
        }
    }
    let answer = plan.answer();
    (answer.status, answer.body.len())
}

/// Run `op` `n` times against `config` and the isolate's `state` beside it.
pub fn run(op: &str, n: u32, config: &Config, state: &IsolateState, settings: &Settings) -> String {
    let rs256 = jws_vector(include_str!("../../tests/fixtures/jws/rfc7515-a2-rs256.json"));
    let es256 = jws_vector(include_str!("../../tests/fixtures/jws/rfc7515-a3-es256.json"));
    let (Some(rs256), Some(es256)) = (rs256, es256) else { return r#"{"error":"the JWS vectors do not load"}"#.into() };
    let verify = |(key, alg, signed, signature): &(
        crate::identity::jwk::PublicJwk,
        crate::identity::jwk::Algorithm,
        String,
        Vec<u8>,
    )| { usize::from(key.verify(*alg, signed.as_bytes(), signature)) };
    if verify(&rs256) == 0 || verify(&es256) == 0 {
        return r#"{"error":"the JWS vectors do not verify"}"#.into(); // never time a fast refusal
    }
    let verified = crate::identity::verified::VerifiedTokens::default();
    verified.insert(
        "bench",
        &crate::identity::verified::digest(&rs256.2),
        &Session::new("bench-viewer", u64::MAX),
        u64::MAX,
        0,
    );
    let now = (js_sys::Date::now() / 1000.0) as u64;
    let Some(channel) = config.channels.values().next() else { return r#"{"error":"no channel"}"#.into() };
    let session = Session::new("bench-viewer", now + 3600);
    let Some(sessions) = config.identity.sessions.as_ref() else {
        return r#"{"error":"the bench needs SESSION_SECRET"}"#.into();
    };
    let cookie = sessions.mint(&SessionClaims::new("bench-viewer", now, 3600));
    let cookie_header = format!("{}={cookie}", config.identity.cookie_name);
    let target = crate::page::watch::token_endpoint(&channel.name);
    let key_text = settings.get(names::PLAYBACK_PRIVATE_KEY).unwrap_or_default().to_owned();
    let chat_target = config
        .channels
        .values()
        .find(|c| c.chat.is_some())
        .map(|c| format!("{}?channel={}", http::route::CHAT_TOKEN_PATH, c.name));
    let mut sink = 0usize;
    let start = now_ms();
    for i in 0..n {
        sink += match op {
            "parse" => PlaybackKey::parse(&key_text).map(|k| k.sign(b"x")[0] as usize).unwrap_or(0),
            "sign" => config.key.sign(&i.to_le_bytes())[0] as usize,
            "mint" => issue(&config.playback_settings(&state.tokens), channel, &session, now, [0; 16]).token.len(),
            "session" => sessions.verify(&cookie, now).map(|s| s.sub.len()).unwrap_or(0),
            // An identity provider's token verified for the first time (RSA 2048, P-256), and
            // again (the verified-token cache: a hash and a lookup).
            "verify-rs256" => verify(&rs256),
            "verify-es256" => verify(&es256),
            "verify-cached" => {
                verified.get("bench", &crate::identity::verified::digest(&rs256.2), now).map_or(0, |s| s.sub.len())
            }
            "reuse" => match config.channels.values().find(|c| !c.viewer_binding && !c.single_use) {
                Some(open) => issue(&config.playback_settings(&state.tokens), open, &session, now, [0; 16]).token.len(),
                None => 0,
            },
            "request" => {
                let mut request = http::Request::new("GET", &target);
                request.cookie = Some(&cookie_header);
                let response = http::handle(&request, Ok(config), state, now, [0; 32]);
                // A refused request would be timed as a (cheap) token: report it instead.
                if response.status != 200 {
                    return serde_json::json!({"error": format!("status {}", response.status)}).to_string();
                }
                response.body.len()
            }
            "chat" => match chat_target.as_deref() {
                Some(target) => match chat_token(config, state, target, &cookie_header, now) {
                    (200, length) => length,
                    (status, _) => return serde_json::json!({"error": format!("chat status {status}")}).to_string(),
                },
                None => return r#"{"error":"the chat bench needs a channel with a chat room"}"#.into(),
            },
            _ => i as usize,
        };
    }
    let total = now_ms() - start;
    serde_json::json!({"op": op, "n": n, "total_ms": total, "per_op_us": total * 1000.0 / f64::from(n.max(1)), "sink": sink}).to_string()
}
