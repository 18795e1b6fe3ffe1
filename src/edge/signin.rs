//! Sign-in at the edge: the network work the core describes for `/login`, `/callback` and
//! `/logout` (see `http::signin`): discovery documents (fetched with a timeout, shared through
//! the Cache API like key documents), the code exchange at the token endpoint, and the keys the
//! ID token needs. Logs name the provider and a status or reason, never a code, token or secret.

use super::keys::refresh_keys;
use crate::config::Config;
use crate::http;
use crate::identity::keystore::{freshness, Fetched};
use crate::signin::callback::{self, Exchange, Exchanged};
use wasm_bindgen::JsValue;
use worker::{console_error, Cache, Fetch, Headers, Method, Request, RequestInit, RequestRedirect, Response};

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

/// GET a discovery document.
async fn get_document(url: &str) -> Fetched {
    let outcome = async {
        let request = Request::new(url, Method::Get).map_err(|_| "the URL is not usable".to_owned())?;
        let mut response = send(request).await?;
        if response.status_code() != 200 {
            return Err(format!("HTTP {}", response.status_code()));
        }
        let cache_control = response.headers().get("cache-control").ok().flatten();
        let body = response.text().await.map_err(|_| "the body could not be read".to_owned())?;
        Ok(Fetched::Document { body, cache_control })
    };
    outcome.await.unwrap_or_else(|reason: String| Fetched::Failed(format!("discovery document: {reason}")))
}

/// Fetch the discovery documents this request needs, from the Cache API when another isolate
/// of this location put them there.
async fn discover(config: &Config, request: &http::Request<'_>, now: u64) {
    for login in http::signin::discoveries(request, config, now) {
        let (Some(url), Some(provider)) =
            (login.discovery_url.as_deref(), config.identity.providers.iter().find(|p| p.name == login.provider))
        else {
            continue;
        };
        let store = &config.signin.discovery;
        let cache = Cache::default();
        if store.endpoints(&login.provider, now).is_none() {
            if let Ok(Some(mut cached)) = cache.get(url, false).await {
                let cache_control = cached.headers().get("cache-control").ok().flatten();
                if let Ok(body) = cached.text().await {
                    store.record(&login.provider, &provider.issuer, Fetched::Document { body, cache_control }, now);
                    if store.endpoints(&login.provider, now).is_some() {
                        continue;
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
        if let Some(reason) = store.record(&login.provider, &provider.issuer, fetched, now) {
            console_error!(
                "{}",
                serde_json::json!({"identity_provider": login.provider, "sign_in_unavailable": reason})
            );
        }
    }
}

/// POST the code exchange.
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
        let body = response.text().await.map_err(|_| "the answer could not be read".to_owned())?;
        Ok(Exchanged::Answer { status, body })
    };
    outcome.await.unwrap_or_else(Exchanged::Failed)
}

/// Everything a sign-in route needs from the network, done before the core answers; for a
/// `/callback`, what came of the code exchange.
pub(crate) async fn prepare(config: &Config, request: &http::Request<'_>, now: u64) -> Option<Exchanged> {
    discover(config, request, now).await;
    let (exchange, provider) = http::signin::exchange_for(request, config, now)?;
    let exchanged = post(&exchange).await;
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
    if let Some(kid) = callback::id_token_kid(&exchanged) {
        if config.identity.keys.wants_fetch(provider, kid.as_deref(), now) {
            config.identity.keys.begin_fetch(provider, now);
            refresh_keys(config, provider, kid.as_deref(), now).await;
        }
    }
    Some(exchanged)
}
