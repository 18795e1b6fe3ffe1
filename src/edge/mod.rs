//! The thin Cloudflare Workers layer (wasm32 only): reads the request, the settings, the clock and
//! randomness from the runtime, calls the pure core, and writes its answer back.
//!
//! | module | job |
//! |---|---|
//! | [`settings`] | this isolate's configuration and its runtime state, both new only when a setting changes |
//! | [`startup`] | the warm-up and configuration load at isolate startup |
//! | [`keys`] | identity providers' key documents: fetch, Cache API |
//! | [`webcrypto`] | identity tokens' signatures through the platform's WebCrypto |
//! | [`signin`] | sign-in at the edge: discovery documents, the code exchange |
//! | [`body`] | bodies read with a hard cap: the operator's request, providers' answers |
//! | [`devices`] | device limits: the per-viewer Durable Object `DeviceLedger`, asking it, its IVS and IVS Chat calls |
//! | [`aws`] | a signed AWS request sent with `fetch`: revocations, chat tokens, chat disconnects |
//! | `bench` | `/__bench` (feature `bench` only): core operations timed inside workerd |

mod aws;
#[cfg(feature = "bench")]
mod bench;
mod body;
mod devices;
mod keys;
mod settings;
mod signin;
mod startup;
mod webcrypto;

use crate::error::Error;
use crate::http;
use keys::refresh_keys;
use settings::config_for;
use webcrypto::platform_verify;
use worker::{console_log, event, Context, Env, Headers, Request, Response};

/// How long `CreateChatToken` may take: a viewer is waiting for the chat panel.
const CHAT_TIMEOUT_MS: u32 = 5_000;

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

/// Request headers as (lower-case name, value), for `header:NAME` identity sources and the
/// local country stand-in.
fn header_pairs(headers: &Headers) -> Vec<(String, String)> {
    headers.entries().map(|(name, value)| (name.to_ascii_lowercase(), value)).collect()
}

#[event(fetch)]
async fn fetch(mut request: Request, env: Env, ctx: Context) -> worker::Result<Response> {
    let started = js_sys::Date::now();
    let url = request.inner().url();
    let method = request.inner().method();
    let headers = request.headers();
    let origin = headers.get("origin").ok().flatten();
    let cookie = headers.get("cookie").ok().flatten();
    let authorization = headers.get("authorization").ok().flatten();
    let country = request.cf().and_then(|cf| cf.country());
    let content_length = headers.get("content-length").ok().flatten();
    let headers = request.headers();
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

    // The configuration and, beside it, the isolate's caches under it (new with each reload).
    let loaded = config_for(&env);
    let (config, state) = (loaded.config.as_ref(), &loaded.state);
    let mut random = [0u8; 32];
    if getrandom::fill(&mut random).is_err() {
        return to_response(http::Response::problem(&Error::Internal("the runtime gave no randomness; retry")));
    }
    // One clock reading for the whole request: key freshness, token times and signing agree.
    let now = (started / 1000.0) as u64;
    // The core resolves the request once and lists what it needs, in order; this layer only does
    // the I/O for each need and hands the result back.
    let mut plan = http::Plan::new(core_request, config, state, now, random);
    while let Some(need) = plan.next_need() {
        match need {
            http::Need::Body { limit } => {
                plan.body_read(body::read_capped(request.stream(), content_length.clone(), limit).await);
            }
            http::Need::Keys(fetches) => {
                for fetch in fetches {
                    refresh_keys(&state.identity, fetch.provider, fetch.kid.as_deref(), now).await;
                }
            }
            http::Need::Signature(check) => {
                if let Some(valid) = platform_verify(&check).await {
                    plan.verdict(&check, valid);
                }
            }
            http::Need::Discovery { login, wait } => signin::discovery(&loaded, &login.provider, wait, &ctx).await,
            http::Need::CodeExchange { exchange, provider } => {
                plan.exchanged(signin::exchange(&exchange, provider).await);
            }
            // Device limits: the viewer's ledger decides (a Durable Object, so an await here).
            http::Need::Ledger(ask) => plan.ledger_answered(devices::ask(&env, &ask).await),
            http::Need::ChatToken { request, delay_ms } => {
                if delay_ms > 0 {
                    worker::Delay::from(std::time::Duration::from_millis(delay_ms.into())).await;
                }
                plan.chat_answered(match aws::send(&request, CHAT_TIMEOUT_MS).await {
                    aws::Sent::Answered { status, error_type, body } => {
                        crate::chat::api::read_create_answer(status, error_type.as_deref(), &body)
                    }
                    aws::Sent::Failed(_) => crate::chat::api::Created::Retry { status: 0, code: None },
                });
            }
        }
    }
    let answer = plan.answer();
    console_log!("{}", plan.log_line(&answer, js_sys::Date::now() - started));
    to_response(answer)
}

#[cfg(feature = "bench")]
fn bench_route(request: &http::Request<'_>, env: &Env) -> Option<String> {
    use http::route::BenchRoute;
    match http::Route::of(request.path) {
        // A readiness probe that loads nothing, so the cold route stays cold.
        http::Route::Bench(BenchRoute::Ping) => return Some("pong".into()),
        http::Route::Bench(BenchRoute::Cold) => {
            let same_env = startup::MODULE_ENV.with(|module| js_sys::Object::is(module, env));
            return Some(bench::cold(&settings::read_settings(env), || config_for(env), same_env));
        }
        http::Route::Bench(BenchRoute::Operations) => {}
        _ => return None,
    }
    let op = http::query_param(request.query, "op").ok().flatten().unwrap_or_default();
    let n = http::query_param(request.query, "n")
        .ok()
        .flatten()
        .and_then(|n| n.parse().ok())
        .unwrap_or(100u32)
        .min(100_000);
    if op == "check" {
        return Some(bench::check(n));
    }
    // Per-request configuration cost: today's path (`config_for`: one `Object.is`) and the old
    // one (read and re-serialise every setting, then compare), which another `env` object pays.
    if op == "config" || op == "settings" {
        let start = bench::now_ms();
        let mut sink = 0usize;
        for _ in 0..n {
            sink += if op == "config" {
                usize::from(config_for(env).config.is_ok())
            } else {
                let settings = settings::read_settings(env);
                usize::from(settings::CONFIG.with(|c| c.borrow().as_ref().is_some_and(|k| k.settings == settings)))
            };
        }
        let total = bench::now_ms() - start;
        return Some(serde_json::json!({"op": op, "n": n, "total_ms": total, "per_op_us": total * 1000.0 / f64::from(n.max(1)), "sink": sink}).to_string());
    }
    let settings = settings::read_settings(env);
    let loaded = config_for(env);
    Some(match &loaded.config {
        Ok(config) => bench::run(&op, n, config, &loaded.state, &settings),
        Err(error) => format!("{{\"error\":{}}}", serde_json::Value::String(error.to_string())),
    })
}
