//! Bench-only route (cargo feature `bench`, never in the deployed worker): times core operations
//! inside workerd, where the question "how much CPU does a token cost" has to be answered.
//!
//! `GET /__bench?op=OP&n=N` runs OP N times in this request and answers
//! `{"op","n","total_ms","per_op_us"}`. OPs: `parse` (key parse), `sign` (ES384 signature),
//! `mint` (claims + sign + encode, viewer-bound channel), `session` (cookie verification),
//! `request` (the whole /v1/token core path: cookie, session, claims, signature, JSON), `reuse`
//! (a token for a channel without viewer binding, served again from the reuse cache),
//! `noop` (the loop alone). `GET /__bench/cold` reports this isolate's first config load and first
//! token, measured when that request arrived (call it first on a fresh isolate).

use crate::config::{names, Config, Settings};
use crate::grant::issue;
use crate::http;
use crate::key::PlaybackKey;
use crate::identity::{session_cookie::SessionClaims, Session};
use wasm_bindgen::JsCast;

/// `performance.now()` (sub-millisecond where the runtime allows), else `Date.now()`.
fn now_ms() -> f64 {
    let performance = js_sys::Reflect::get(&js_sys::global(), &"performance".into()).ok();
    let now = performance.as_ref().and_then(|p| js_sys::Reflect::get(p, &"now".into()).ok());
    match (performance, now.and_then(|f| f.dyn_into::<js_sys::Function>().ok())) {
        (Some(p), Some(f)) => f.call0(&p).ok().and_then(|v| v.as_f64()).unwrap_or_else(js_sys::Date::now),
        _ => js_sys::Date::now(),
    }
}

/// Cold-start figures of this isolate: (config load ms, first mint ms).
pub fn cold(settings: &Settings) -> String {
    let t0 = now_ms();
    let config = Config::load(settings);
    let t1 = now_ms();
    let again = Config::load(settings).is_ok();
    let second_load_ms = now_ms() - t1;
    let t1 = now_ms();
    let Ok(config) = config else { return r#"{"error":"configuration does not load"}"#.into() };
    let Some(channel) = config.channels.values().next() else { return r#"{"error":"no channel"}"#.into() };
    let session = Session::new("bench", u64::MAX);
    let issued = issue(&config, channel, &session, (js_sys::Date::now() / 1000.0) as u64, [1; 16]);
    let t2 = now_ms();
    let startup = crate::edge::STARTUP_MS.with(std::cell::Cell::get);
    serde_json::json!({"config_load_ms": t1 - t0, "first_mint_ms": t2 - t1, "startup_warm_up_ms": startup, "second_config_load_ms": second_load_ms, "second_ok": again, "token_len": issued.token.len()}).to_string()
}

/// Run `op` `n` times against `config`.
pub fn run(op: &str, n: u32, config: &Config, settings: &Settings) -> String {
    let now = (js_sys::Date::now() / 1000.0) as u64;
    let Some(channel) = config.channels.values().next() else { return r#"{"error":"no channel"}"#.into() };
    let session = Session::new("bench-viewer", now + 3600);
    let Some(sessions) = config.identity.sessions.as_ref() else { return r#"{"error":"the bench needs SESSION_SECRET"}"#.into() };
    let cookie = sessions.mint(&SessionClaims::new("bench-viewer", now, 3600));
    let cookie_header = format!("{}={cookie}", config.identity.cookie_name);
    let target = format!("/v1/token?channel={}", channel.name);
    let key_text = settings.get(names::PLAYBACK_PRIVATE_KEY).unwrap_or_default().to_owned();
    let mut sink = 0usize;
    let start = now_ms();
    for i in 0..n {
        sink += match op {
            "parse" => PlaybackKey::parse(&key_text).map(|k| k.sign(b"x")[0] as usize).unwrap_or(0),
            "sign" => config.key.sign(&i.to_le_bytes())[0] as usize,
            "mint" => issue(config, channel, &session, now, [0; 16]).token.len(),
            "session" => sessions.verify(&cookie, now).map(|s| s.sub.len()).unwrap_or(0),
            "reuse" => match config.channels.values().find(|c| !c.viewer_binding && !c.single_use) {
                Some(open) => issue(config, open, &session, now, [0; 16]).token.len(),
                None => 0,
            },
            "request" => {
                let mut request = http::Request::new("GET", &target);
                request.cookie = Some(&cookie_header);
                let response = http::handle(&request, Ok(config), now, [0; 32]);
                // A refused request would be timed as a (cheap) token: report it instead.
                if response.status != 200 {
                    return serde_json::json!({"error": format!("status {}", response.status)}).to_string();
                }
                response.body.len()
            }
            _ => i as usize,
        };
    }
    let total = now_ms() - start;
    serde_json::json!({"op": op, "n": n, "total_ms": total, "per_op_us": total * 1000.0 / f64::from(n.max(1)), "sink": sink}).to_string()
}
