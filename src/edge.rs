//! The thin Cloudflare Workers layer (wasm32 only): reads the request, the settings, the clock and
//! randomness from the runtime, calls the pure core, and writes its answer back.
//!
//! The parsed configuration (above all the P-384 key, whose parsing costs far more than a
//! signature) is cached for the life of the isolate and rebuilt only when a setting's value
//! changes, e.g. after `wrangler secret put`.

use crate::config::{names, Config, Settings};
use crate::error::Error;
use crate::http;
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::JsValue;
use crate::identity::keystore::{freshness, Fetched};
use crate::identity::provider::Provider;
use worker::{console_error, console_log, event, Cache, Context, Env, Fetch, Headers, Method, Request, Response};

type Loaded = Rc<Result<Config, Error>>;

thread_local! {
    /// The settings the cached configuration was built from, and the result of building it.
    static CONFIG: RefCell<Option<(Settings, Loaded)>> = const { RefCell::new(None) };
}

/// Runs once when the isolate instantiates the module, before its first request: builds p384's
/// basepoint table (a lazy static otherwise built inside the first signature) and runs the
/// signing and session code once, so V8 has compiled it. This moves several milliseconds of
/// one-time work out of the first viewer's request into isolate startup.
#[wasm_bindgen::prelude::wasm_bindgen(start)]
pub fn warm_up() {
    let started = js_sys::Date::now();
    for _ in 0..WARM_UP_ROUNDS {
        crate::warm_up();
    }
    STARTUP_MS.with(|ms| ms.set(js_sys::Date::now() - started));
}

/// Rounds of warm-up at startup. One builds the table and compiles the paths; more rounds (to reach
/// V8's optimizing tier) cost ~4 ms of startup each and did not shorten the first request.
const WARM_UP_ROUNDS: u32 = 1;

thread_local! {
    /// How long the startup warm-up took (reported by the bench build).
    pub(crate) static STARTUP_MS: std::cell::Cell<f64> = const { std::cell::Cell::new(0.0) };
}

/// Every setting as text: strings as they are, other JSON values (tables, numbers) as JSON.
fn read_settings(env: &Env) -> Settings {
    let mut settings = Settings::new();
    for name in names::ALL {
        let Ok(value) = js_sys::Reflect::get(env, &JsValue::from_str(name)) else { continue };
        if let Some(text) = value.as_string() {
            settings.insert(name, text);
        } else if !value.is_undefined() && !value.is_null() {
            if let Some(json) = js_sys::JSON::stringify(&value).ok().and_then(|s| s.as_string()) {
                settings.insert(name, json);
            }
        }
    }
    settings
}

fn load_config(settings: Settings) -> Loaded {
    CONFIG.with(|cell| {
        let mut cached = cell.borrow_mut();
        if let Some((known, loaded)) = cached.as_ref() {
            if *known == settings {
                return Rc::clone(loaded);
            }
        }
        let loaded = Rc::new(Config::load(&settings));
        if let Err(error) = loaded.as_ref() {
            // Names the setting and the rule, never the value (see `Error`).
            console_error!("{}", serde_json::json!({"config_error": error.to_string()}));
        }
        *cached = Some((settings, Rc::clone(&loaded)));
        loaded
    })
}

/// The request target (`/path?query`) of an absolute URL.
fn target_of(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    url[after_scheme..].find('/').map_or("/", |i| &url[after_scheme + i..])
}

/// The host (with port) of an absolute URL.
fn host_of(url: &str) -> Option<&str> {
    let rest = &url[url.find("://")? + 3..];
    Some(rest.split(['/', '?', '#']).next().unwrap_or(rest))
}

fn to_response(answer: http::Response) -> worker::Result<Response> {
    let headers = Headers::new();
    for (name, value) in &answer.headers {
        headers.append(name, value)?;
    }
    let builder = Response::builder().with_status(answer.status).with_headers(headers);
    Ok(if answer.body.is_empty() { builder.empty() } else { builder.fixed(answer.body.into_bytes()) })
}

/// Fetch `provider`'s key document and hand the outcome to the key store. A fresh isolate first
/// looks in the Cache API, where another isolate of this location may have put it, and is done
/// when that copy has the key the request needs.
async fn refresh_keys(config: &Config, provider: &Provider, kid: Option<&str>, now: u64) {
    let Some(url) = provider.jwks_url.as_deref() else { return };
    let keys = &config.identity.keys;
    let cache = Cache::default();
    if keys.keys(provider, now).is_none() {
        if let Ok(Some(mut cached)) = cache.get(url, false).await {
            let cache_control = cached.headers().get("cache-control").ok().flatten();
            if let Ok(body) = cached.text().await {
                config.identity.record_cached(provider, body, cache_control, now);
                let has_key = |set: &crate::identity::jwk::KeySet| kid.is_none_or(|kid| set.find(kid).is_some());
                if keys.keys(provider, now).is_some_and(|set| has_key(&set)) {
                    return;
                }
            }
        }
    }
    let outcome = match Request::new(url, Method::Get) {
        Ok(request) => match Fetch::Request(request).send().await {
            Ok(mut response) if response.status_code() == 200 => {
                let cache_control = response.headers().get("cache-control").ok().flatten();
                match response.text().await {
                    Ok(body) => {
                        // Shared with this location's other isolates for as long as it is fresh.
                        let headers = Headers::new();
                        let _ = headers.set("cache-control", &format!("max-age={}", freshness(cache_control.as_deref())));
                        if let Ok(copy) = Response::ok(body.clone()).map(|r| r.with_headers(headers)) {
                            let _ = cache.put(url, copy).await;
                        }
                        Fetched::Document { body, cache_control }
                    }
                    Err(_) => Fetched::Failed("the key document could not be read".into()),
                }
            }
            Ok(response) => Fetched::Failed(format!("the key document answered HTTP {}", response.status_code())),
            Err(_) => Fetched::Failed("the key document could not be fetched (network error)".into()),
        },
        Err(_) => Fetched::Failed("the key document URL is not usable".into()),
    };
    if let Some(reason) = config.identity.record_fetch(provider, outcome, now) {
        // Once per run of failures; names the provider, never a token.
        console_error!("{}", serde_json::json!({"identity_provider": provider.name, "keys_unavailable": reason}));
    }
}

/// Request headers as (lower-case name, value), for `header:NAME` identity sources and the
/// local country stand-in.
fn header_pairs(headers: &Headers) -> Vec<(String, String)> {
    headers.entries().map(|(name, value)| (name.to_ascii_lowercase(), value)).collect()
}

#[event(fetch)]
async fn fetch(request: Request, env: Env, _ctx: Context) -> worker::Result<Response> {
    let started = js_sys::Date::now();
    let url = request.inner().url();
    let method = request.inner().method();
    let headers = request.headers();
    let origin = headers.get("origin").ok().flatten();
    let cookie = headers.get("cookie").ok().flatten();
    let authorization = headers.get("authorization").ok().flatten();
    let country = request.cf().and_then(|cf| cf.country());
    let pairs = header_pairs(&headers);
    let header_refs: Vec<(&str, &str)> = pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();

    let mut core_request = http::Request::new(&method, target_of(&url));
    core_request.origin = origin.as_deref();
    core_request.cookie = cookie.as_deref();
    core_request.host = host_of(&url);
    core_request.authorization = authorization.as_deref();
    core_request.country = country.as_deref();
    core_request.headers = &header_refs;

    #[cfg(feature = "bench")]
    if let Some(answer) = bench_route(&core_request, &env) {
        return Response::ok(answer);
    }

    let loaded = load_config(read_settings(&env));
    if let Ok(config) = loaded.as_ref() {
        let now = (started / 1000.0) as u64;
        let mut fetches = config.identity.fetches_for(&core_request.presented(), now);
        if core_request.path == "/healthz" {
            fetches.extend(config.identity.fetches_for_health(now));
        }
        // Claimed before the first await: requests arriving while these fetches are under way
        // do not start their own (a request cannot wait on another request's fetch in Workers).
        for fetch in &fetches {
            config.identity.keys.begin_fetch(fetch.provider, now);
        }
        for fetch in fetches {
            refresh_keys(config, fetch.provider, fetch.kid.as_deref(), now).await;
        }
    }
    let mut random = [0u8; 32];
    let answer = match getrandom::fill(&mut random) {
        Ok(()) => {
            let now = (started / 1000.0) as u64;
            http::handle(&core_request, loaded.as_ref().as_ref(), now, random)
        }
        Err(_) => http::Response::problem(&Error::Internal("the runtime gave no randomness; retry")),
    };
    console_log!("{}", http::log_line(&core_request, &answer, js_sys::Date::now() - started));
    to_response(answer)
}

#[cfg(feature = "bench")]
fn bench_route(request: &http::Request<'_>, env: &Env) -> Option<String> {
    if request.path == "/__bench/ping" {
        return Some("pong".into()); // readiness probe that loads nothing, so /__bench/cold stays cold
    }
    let settings = read_settings(env);
    if request.path == "/__bench/cold" {
        return Some(crate::edge_bench::cold(&settings));
    }
    if request.path != "/__bench" {
        return None;
    }
    let op = http::query_param(request.query, "op").ok().flatten().unwrap_or_default();
    let n = http::query_param(request.query, "n").ok().flatten().and_then(|n| n.parse().ok()).unwrap_or(100u32).min(100_000);
    let loaded = load_config(settings.clone());
    Some(match loaded.as_ref() {
        Ok(config) => crate::edge_bench::run(&op, n, config, &settings),
        Err(error) => format!("{{\"error\":{}}}", serde_json::Value::String(error.to_string())),
    })
}
