//! Identity providers' key documents: fetched when a token first needs them, shared with this
//! location's other isolates through the Cache API, and handed to the core's key store.

use super::body::read_text;
use crate::identity::jwk::MAX_DOCUMENT_BYTES;
use crate::identity::keystore::{freshness, Fetched};
use crate::identity::provider::Provider;
use crate::identity::IdentityCaches;
use worker::{console_error, Cache, Fetch, Headers, Method, Request, Response};

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
        let body = read_text(&mut response, MAX_DOCUMENT_BYTES, "the key document").await.map_err(|reason| {
            if timeout.aborted() {
                timed_out()
            } else {
                reason
            }
        })?;
        return Ok(KeyDocument { body, cache_control });
    }
}

/// Fetch `provider`'s key document and hand the outcome to the isolate's key store (`caches`). A
/// fresh isolate first
/// looks in the Cache API, where another isolate of this location may have put it, and is done
/// when that copy has the key the request needs.
pub(crate) async fn refresh_keys(caches: &IdentityCaches, provider: &Provider, kid: Option<&str>, now: u64) {
    let Some(url) = provider.jwks_url.as_deref() else { return };
    let keys = &caches.keys;
    let cache = Cache::default();
    if keys.keys(provider, now).is_none() {
        if let Ok(Some(mut cached)) = cache.get(url, false).await {
            let cache_control = cached.headers().get("cache-control").ok().flatten();
            if let Ok(body) = cached.text().await {
                caches.record_cached(provider, body, cache_control, now);
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
    if let Some(reason) = caches.record_fetch(provider, outcome, now) {
        // Once per run of failures; names the provider, never a token.
        console_error!("{}", serde_json::json!({"identity_provider": provider.name, "keys_unavailable": reason}));
    }
}
