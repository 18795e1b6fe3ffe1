//! Sign-in at the edge: the network work the request plan asks for at `/login`,
//! `/callback/PROVIDER` and `/logout`: discovery documents (fetched with a timeout, shared through
//! the Cache API like key documents) and the code exchange at the token endpoint. Logs name the
//! provider and a status or reason, never a code, token or secret.

use super::body::read_text;
use super::settings::Loaded;
use crate::config::Config;
use crate::identity::jwk::MAX_DOCUMENT_BYTES;
use crate::identity::keystore::{freshness, Fetched};
use crate::identity::provider::Provider;
use crate::isolate::IsolateState;
use crate::signin::callback::{Exchange, Exchanged};
use std::rc::Rc;
use wasm_bindgen::JsValue;
use worker::{console_error, Cache, Context, Fetch, Headers, Method, Request, RequestInit, RequestRedirect, Response};

/// No request to the provider outlasts this: a provider that never answers must not hold the
/// viewer's sign-in open.
const TIMEOUT_MS: u32 = 5000;

async fn send(request: Request) -> Result<Response, String> {
    let timeout = worker::AbortSignal::from(web_sys::AbortSignal::timeout_with_u32(TIMEOUT_MS));
    match Fetch::Request(request).send_with_signal(&timeout).await {
        Ok(response) => Ok(response),
        Err(_) if timeout.aborted() => Err(format!("no answer within {} s", TIMEOUT_MS / 1000)),
        Err(error) => Err(format!("network error: {error}")),
    }
}

/// GET a discovery document, no larger than a key document may be.
async fn get_document(url: &str) -> Fetched {
    let outcome = async {
        let request = Request::new(url, Method::Get).map_err(|_| "the URL is not usable".to_owned())?;
        let mut response = send(request).await?;
        if response.status_code() != 200 {
            return Err(format!("HTTP {}", response.status_code()));
        }
        let cache_control = response.headers().get("cache-control").ok().flatten();
        let body = read_text(&mut response, MAX_DOCUMENT_BYTES, "the answer").await?;
        Ok(Fetched::Document { body, cache_control })
    };
    outcome.await.unwrap_or_else(|reason: String| Fetched::Failed(format!("discovery document: {reason}")))
}

/// The clock now, in Unix seconds: a fetch's outcome is recorded at its end, so the retry
/// window after a slow failure starts when the failure is known.
fn clock() -> u64 {
    (js_sys::Date::now() / 1000.0) as u64
}

/// Fetch `provider_name`'s discovery document (from the Cache API first, when this isolate knows
/// nothing of it and another isolate of this location put it there) and record it.
async fn discover(config: &Config, state: &IsolateState, provider_name: &str) {
    let Some(login) = config.signin.login(provider_name) else { return };
    let (Some(url), Some(provider)) =
        (login.discovery_url.as_deref(), config.identity.providers.iter().find(|p| p.name == login.provider))
    else {
        return;
    };
    let store = &state.discovery;
    let cache = Cache::default();
    if store.endpoints(&login.provider, clock()).is_none() {
        if let Ok(Some(mut cached)) = cache.get(url, false).await {
            let cache_control = cached.headers().get("cache-control").ok().flatten();
            if let Ok(body) = cached.text().await {
                store.record(&login.provider, &provider.issuer, Fetched::Document { body, cache_control }, clock());
                if store.endpoints(&login.provider, clock()).is_some() {
                    return;
                }
            }
        }
    }
    let fetched = get_document(url).await;
    if let Fetched::Document { body, cache_control } = &fetched {
        let headers = Headers::new();
        let _ = headers.set("cache-control", &format!("max-age={}", freshness(cache_control.as_deref())));
        if let Ok(copy) = Response::ok(body.clone()).map(|r| r.with_headers(headers)) {
            let _ = cache.put(url, copy).await;
        }
    }
    if let Some(reason) = store.record(&login.provider, &provider.issuer, fetched, clock()) {
        console_error!("{}", serde_json::json!({"identity_provider": login.provider, "sign_in_unavailable": reason}));
    }
}

/// POST the code exchange; the answer no larger than a key document may be.
async fn post(exchange: &Exchange) -> Exchanged {
    let outcome = async {
        let headers = Headers::new();
        for (name, value) in &exchange.headers {
            headers.set(name, value).map_err(|_| "a header is not usable".to_owned())?;
        }
        let mut init = RequestInit::new();
        init.with_method(Method::Post)
            .with_headers(headers)
            .with_redirect(RequestRedirect::Manual)
            .with_body(Some(JsValue::from_str(&exchange.body)));
        let request = Request::new_with_init(&exchange.url, &init)
            .map_err(|_| "the token endpoint URL is not usable".to_owned())?;
        let mut response = send(request).await?;
        let status = response.status_code();
        let body = read_text(&mut response, MAX_DOCUMENT_BYTES, "the answer").await?;
        Ok(Exchanged::Answer { status, body })
    };
    outcome.await.unwrap_or_else(Exchanged::Failed)
}

/// POST the code exchange the plan asked for, logging what went wrong (the provider and a status
/// or reason, never the code or a secret).
pub(crate) async fn exchange(exchange: &Exchange, provider: &Provider) -> Exchanged {
    let exchanged = post(exchange).await;
    match &exchanged {
        Exchanged::Failed(reason) => {
            console_error!("{}", serde_json::json!({"identity_provider": provider.name, "token_endpoint": reason}))
        }
        Exchanged::Answer { status, .. } if *status != 200 => {
            console_error!(
                "{}",
                serde_json::json!({"identity_provider": provider.name, "token_endpoint_status": status})
            )
        }
        Exchanged::Answer { .. } => {}
    }
    exchanged
}

/// Fetch the discovery document the plan asked for: now, when the answer waits for it, or after
/// the answer (`ctx.wait_until`) while a stale one serves.
pub(crate) async fn discovery(loaded: &Loaded, provider: &str, wait: bool, ctx: &Context) {
    if wait {
        if let Ok(config) = &loaded.config {
            discover(config, &loaded.state, provider).await;
        }
        return;
    }
    // The fetch after the answer records into the state of the configuration it started under,
    // even if a reload replaced it meanwhile (then it is dropped with that state).
    let (loaded, name) = (Rc::clone(loaded), provider.to_owned());
    ctx.wait_until(async move {
        if let Ok(config) = &loaded.config {
            discover(config, &loaded.state, &name).await;
        }
    });
}
