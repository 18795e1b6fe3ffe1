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

/// The cached configuration, the settings it was built from, and the `env` object they were read
/// from.
struct Cached {
    env: JsValue,
    /// The raw binding values of `env`, one per `names::ALL`.
    values: Vec<JsValue>,
    settings: Settings,
    loaded: Loaded,
}

/// The raw value of every setting's binding (undefined when unset).
fn binding_values(env: &JsValue) -> Vec<JsValue> {
    names::ALL.iter().map(|name| js_sys::Reflect::get(env, &JsValue::from_str(name)).unwrap_or_default()).collect()
}

thread_local! {
    static CONFIG: RefCell<Option<Cached>> = const { RefCell::new(None) };
}

/// Runs once when the isolate instantiates the module, before its first request: runs one
/// complete token request on throw-away inputs (so V8 has compiled the signing and session paths
/// and the comb's table is built), then loads the real configuration from the module-scope `env`
/// (key parsing included), so the first viewer's request finds everything ready.
#[wasm_bindgen::prelude::wasm_bindgen(start)]
pub fn warm_up() {
    let started = js_sys::Date::now();
    for _ in 0..WARM_UP_ROUNDS {
        crate::warm_up();
    }
    let warmed = js_sys::Date::now();
    // Outside workerd (or on an old compatibility date) the import is undefined: then the first
    // request loads the configuration, as before.
    let env = MODULE_ENV.with(JsValue::clone);
    if env.is_object() {
        let loaded = config_for(&env);
        STARTUP_CONFIG_OK.with(|ok| ok.set(loaded.is_ok()));
    }
    let done = js_sys::Date::now();
    STARTUP_MS.with(|ms| ms.set(done - started));
    STARTUP_CONFIG_MS.with(|ms| ms.set(if env.is_object() { done - warmed } else { -1.0 }));
}

#[wasm_bindgen::prelude::wasm_bindgen(module = "cloudflare:workers")]
extern "C" {
    /// The Worker's bindings at module scope (`import { env } from "cloudflare:workers"`).
    #[wasm_bindgen(thread_local_v2, js_name = env)]
    static MODULE_ENV: JsValue;
}

/// Rounds of warm-up at startup. One builds the table and compiles the paths; more rounds (to reach
/// V8's optimizing tier) cost ~4 ms of startup each and did not shorten the first request.
const WARM_UP_ROUNDS: u32 = 1;

thread_local! {
    /// How long the startup warm-up took (reported by the bench build).
    pub(crate) static STARTUP_MS: std::cell::Cell<f64> = const { std::cell::Cell::new(0.0) };
    /// Of which loading the real configuration at startup (-1 when `env` was not reachable).
    pub(crate) static STARTUP_CONFIG_MS: std::cell::Cell<f64> = const { std::cell::Cell::new(0.0) };
    /// How many times this isolate loaded a configuration (reported by the bench build).
    pub(crate) static LOADS: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
    /// Whether the configuration loaded at startup is valid.
    pub(crate) static STARTUP_CONFIG_OK: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Every setting as text: strings as they are, other JSON values (tables, numbers) as JSON.
fn read_settings(env: &JsValue) -> Settings {
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

/// The configuration for `env`, loaded again only when a setting changed, and cheaply:
/// - the same `env` object as last time (every request of an isolate, in workerd) costs one
///   `Object.is`;
/// - another object (the first request's `env` is not the module-scope one the startup load
///   used) whose bindings are the same values (`Object.is` per binding: strings by value, JSON
///   bindings by identity) is adopted without reading or serialising anything;
/// - only otherwise is every setting read (`Reflect`, `JSON.stringify`) and compared, and the
///   configuration loaded again if one differs.
fn config_for(env: &JsValue) -> Loaded {
    CONFIG.with(|cell| {
        let mut cached = cell.borrow_mut();
        if let Some(known) = cached.as_mut() {
            if js_sys::Object::is(&known.env, env) {
                return Rc::clone(&known.loaded);
            }
            let values = binding_values(env);
            if values.iter().zip(&known.values).all(|(a, b)| js_sys::Object::is(a, b)) {
                known.env = env.clone();
                return Rc::clone(&known.loaded);
            }
        }
        let values = binding_values(env);
        let settings = read_settings(env);
        if let Some(known) = cached.as_mut() {
            if known.settings == settings {
                (known.env, known.values) = (env.clone(), values);
                return Rc::clone(&known.loaded);
            }
        }
        LOADS.with(|n| n.set(n.get() + 1));
        let loaded = Rc::new(Config::load(&settings));
        if let Err(error) = loaded.as_ref() {
            // Names the setting and the rule, never the value (see `Error`).
            console_error!("{}", serde_json::json!({"config_error": error.to_string()}));
        }
        *cached = Some(Cached { env: env.clone(), values, settings, loaded: Rc::clone(&loaded) });
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

/// A network error within this many milliseconds is a dead connection, not a slow provider.
const QUICK_FAILURE_MS: f64 = 1000.0;
/// A key fetch is given up after this long (as `jose`'s remote key sets do): a provider that
/// accepts connections and never answers must not hold viewers' requests open.
const KEY_FETCH_TIMEOUT_MS: u32 = 5000;

/// A key document as the provider served it.
struct KeyDocument {
    body: String,
    cache_control: Option<String>,
}

/// GET a key document; the reason it could not be had, for the log. A network error that comes
/// at once is tried once more: the runtime reuses pooled connections, and one the provider has
/// just closed fails with "Network connection lost" before the request reaches it (seen in about
/// one start in twenty against a stand-in that closes after each answer). Without the retry a
/// provider never fetched yet would refuse its viewers until the next attempt is allowed. A slow
/// failure is not retried: it would double the viewer's wait. No attempt outlasts
/// [`KEY_FETCH_TIMEOUT_MS`].
async fn get_key_document(url: &str) -> Result<KeyDocument, String> {
    let timed_out = || format!("the key document did not arrive within {} s", KEY_FETCH_TIMEOUT_MS / 1000);
    let mut retried = false;
    loop {
        let request = Request::new(url, Method::Get).map_err(|_| "the key document URL is not usable".to_owned())?;
        let started = js_sys::Date::now();
        let timeout = worker::AbortSignal::from(web_sys::AbortSignal::timeout_with_u32(KEY_FETCH_TIMEOUT_MS));
        let mut response = match Fetch::Request(request).send_with_signal(&timeout).await {
            Ok(response) => response,
            Err(_) if timeout.aborted() => return Err(timed_out()),
            Err(_) if !retried && js_sys::Date::now() - started < QUICK_FAILURE_MS => {
                retried = true;
                continue;
            }
            // The runtime's own words ("Network connection lost.") say which network error it was.
            Err(error) => return Err(format!("the key document could not be fetched (network error: {error})")),
        };
        if response.status_code() != 200 {
            return Err(format!("the key document answered HTTP {}", response.status_code()));
        }
        let cache_control = response.headers().get("cache-control").ok().flatten();
        let body = response.text().await.map_err(|_| if timeout.aborted() { timed_out() } else { "the key document could not be read".to_owned() })?;
        return Ok(KeyDocument { body, cache_control });
    }
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
    let outcome = match get_key_document(url).await {
        Ok(KeyDocument { body, cache_control }) => {
            // Shared with this location's other isolates for as long as it is fresh.
            let headers = Headers::new();
            let _ = headers.set("cache-control", &format!("max-age={}", freshness(cache_control.as_deref())));
            if let Ok(copy) = Response::ok(body.clone()).map(|r| r.with_headers(headers)) {
                let _ = cache.put(url, copy).await;
            }
            Fetched::Document { body, cache_control }
        }
        Err(reason) => Fetched::Failed(reason),
    };
    if let Some(reason) = config.identity.record_fetch(provider, outcome, now) {
        // Once per run of failures; names the provider, never a token.
        console_error!("{}", serde_json::json!({"identity_provider": provider.name, "keys_unavailable": reason}));
    }
}

thread_local! {
    /// Identity providers' keys imported into WebCrypto, by key and algorithm. Bounded: cleared
    /// when it outgrows what a few providers' rotations can need.
    static CRYPTO_KEYS: RefCell<std::collections::HashMap<String, JsValue>> = RefCell::new(std::collections::HashMap::new());
}

/// A plain JavaScript object.
fn js_object(pairs: &[(&str, JsValue)]) -> Option<js_sys::Object> {
    let object = js_sys::Object::new();
    for (name, value) in pairs {
        js_sys::Reflect::set(&object, &JsValue::from_str(name), value).ok()?;
    }
    Some(object)
}

/// Call `crypto.subtle[method](...args)` and await it.
async fn subtle(method: &str, args: &[JsValue]) -> Option<JsValue> {
    use wasm_bindgen::JsCast;
    let crypto = js_sys::Reflect::get(&js_sys::global(), &JsValue::from_str("crypto")).ok()?;
    let subtle = js_sys::Reflect::get(&crypto, &JsValue::from_str("subtle")).ok()?;
    let function: js_sys::Function = js_sys::Reflect::get(&subtle, &JsValue::from_str(method)).ok()?.dyn_into().ok()?;
    let promise: js_sys::Promise = function.apply(&subtle, &args.iter().collect::<js_sys::Array>()).ok()?.dyn_into().ok()?;
    wasm_bindgen_futures::JsFuture::from(promise).await.ok()
}

/// Check an identity token's signature with the platform's WebCrypto (BoringSSL): several times
/// faster than this crate's RSA and P-256 code compiled to wasm. `None` when WebCrypto cannot
/// answer; the core then checks the signature itself.
async fn platform_verify(check: &crate::identity::credential::SignatureCheck) -> Option<bool> {
    use crate::identity::jwk::Algorithm::*;
    let text = JsValue::from_str;
    let hash = |bits: u32| text(&format!("SHA-{bits}"));
    let (import, verify) = match check.alg {
        Rs256 | Rs384 | Rs512 => {
            let bits = match check.alg { Rs256 => 256, Rs384 => 384, _ => 512 };
            (js_object(&[("name", text("RSASSA-PKCS1-v1_5")), ("hash", hash(bits))])?, js_object(&[("name", text("RSASSA-PKCS1-v1_5"))])?)
        }
        Ps256 | Ps384 | Ps512 => {
            let bits = match check.alg { Ps256 => 256, Ps384 => 384, _ => 512 };
            // RFC 7518 section 3.5: the salt is as long as the hash.
            (js_object(&[("name", text("RSA-PSS")), ("hash", hash(bits))])?, js_object(&[("name", text("RSA-PSS")), ("saltLength", JsValue::from(bits / 8))])?)
        }
        Es256 => (js_object(&[("name", text("ECDSA")), ("namedCurve", text("P-256"))])?, js_object(&[("name", text("ECDSA")), ("hash", hash(256))])?),
        Es384 => (js_object(&[("name", text("ECDSA")), ("namedCurve", text("P-384"))])?, js_object(&[("name", text("ECDSA")), ("hash", hash(384))])?),
    };
    let cached = CRYPTO_KEYS.with(|keys| keys.borrow().get(&check.key_id).cloned());
    let key = match cached {
        Some(key) => key,
        None => {
            let jwk = js_sys::JSON::parse(&check.key.to_string()).ok()?;
            let usages: js_sys::Array = [text("verify")].iter().collect();
            let key = subtle("importKey", &[text("jwk"), jwk, import.into(), JsValue::FALSE, usages.into()]).await?;
            CRYPTO_KEYS.with(|keys| {
                let mut keys = keys.borrow_mut();
                if keys.len() >= 64 {
                    keys.clear();
                }
                keys.insert(check.key_id.clone(), key.clone());
            });
            key
        }
    };
    let signature = js_sys::Uint8Array::from(check.signature.as_slice());
    let data = js_sys::Uint8Array::from(check.signing_input.as_bytes());
    subtle("verify", &[verify.into(), key, signature.into(), data.into()]).await?.as_bool()
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
    let pairs = header_pairs(headers);
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

    let loaded = config_for(&env);
    // One clock reading for the whole request: key freshness, token times and signing agree.
    let now = (started / 1000.0) as u64;
    let mut verdicts = Vec::new();
    if let Ok(config) = loaded.as_ref() {
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
        for check in config.identity.signature_checks(&core_request.presented(), now) {
            if let Some(valid) = platform_verify(&check).await {
                verdicts.push((check.digest, valid));
            }
        }
    }
    core_request.verdicts = &verdicts;
    let mut random = [0u8; 32];
    let answer = match getrandom::fill(&mut random) {
        Ok(()) => http::handle(&core_request, loaded.as_ref().as_ref(), now, random),
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
    if request.path == "/__bench/cold" {
        let same_env = MODULE_ENV.with(|module| js_sys::Object::is(module, env));
        return Some(crate::edge_bench::cold(&read_settings(env), || config_for(env), same_env));
    }
    if request.path != "/__bench" {
        return None;
    }
    let op = http::query_param(request.query, "op").ok().flatten().unwrap_or_default();
    let n = http::query_param(request.query, "n").ok().flatten().and_then(|n| n.parse().ok()).unwrap_or(100u32).min(100_000);
    if op == "check" {
        return Some(crate::edge_bench::check(n));
    }
    // Per-request configuration cost: today's path (`config_for`: one `Object.is`) and the old
    // one (read and re-serialise every setting, then compare), which another `env` object pays.
    if op == "config" || op == "settings" {
        let start = crate::edge_bench::now_ms();
        let mut sink = 0usize;
        for _ in 0..n {
            sink += if op == "config" {
                usize::from(config_for(env).is_ok())
            } else {
                let settings = read_settings(env);
                usize::from(CONFIG.with(|c| c.borrow().as_ref().is_some_and(|k| k.settings == settings)))
            };
        }
        let total = crate::edge_bench::now_ms() - start;
        return Some(serde_json::json!({"op": op, "n": n, "total_ms": total, "per_op_us": total * 1000.0 / f64::from(n.max(1)), "sink": sink}).to_string());
    }
    let settings = read_settings(env);
    let loaded = config_for(env);
    Some(match loaded.as_ref() {
        Ok(config) => crate::edge_bench::run(&op, n, config, &settings),
        Err(error) => format!("{{\"error\":{}}}", serde_json::Value::String(error.to_string())),
    })
}
