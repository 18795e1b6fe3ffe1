//! The issuer's discovery document (`/.well-known/openid-configuration`, OpenID Connect
//! Discovery 1.0): its endpoints, checked, and the per-isolate cache of what was fetched. Pure:
//! the Workers layer fetches (and shares through the Cache API, like key documents) and reports
//! back; freshness follows `Cache-Control` with the key store's clamps.
//!
//! One fetch per provider is in flight at a time ([`DiscoveryStore::begin_fetch`]); a stale
//! document is served while it is fetched again in the background ([`Need::Revalidate`]); a
//! failed fetch is retried [`RETRY_SECONDS`] after it ended, not after the request that made it
//! started.

use super::settings::Endpoints;
use crate::address::{check_endpoint_url, HTTPS};
use crate::identity::keystore::{freshness, Fetched, STALE_LIMIT};
use serde_json::Value;
use std::cell::RefCell;
use std::collections::BTreeMap;

/// A failed discovery fetch is tried again this many seconds after it ended, at the earliest.
pub const RETRY_SECONDS: u64 = 5;
/// A fetch claimed by [`DiscoveryStore::begin_fetch`] holds its claim this long at most: the
/// Workers layer gives up on a provider after 5 s, so a claim never outlives its fetch for long.
pub const IN_FLIGHT_SECONDS: u64 = 6;

/// What a request needs done about a provider's discovery document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// No usable document: fetch it before answering.
    Fetch,
    /// A stale but usable document: answer with it, fetch a fresh one in the background.
    Revalidate,
}

/// Read a discovery document for `issuer`: its `issuer` must be exactly the provider's (OpenID
/// Connect Discovery, section 4.3), its endpoints https URLs (http only for localhost), and when
/// it lists `code_challenge_methods_supported`, S256 must be among them.
pub fn parse(body: &str, issuer: &str) -> Result<Endpoints, String> {
    let doc: Value = serde_json::from_str(body).map_err(|_| "the discovery document is not JSON".to_owned())?;
    let doc = doc.as_object().ok_or("the discovery document is not a JSON object")?;
    if doc.get("issuer").and_then(Value::as_str) != Some(issuer) {
        return Err("the discovery document's `issuer` is not the provider's issuer".into());
    }
    let url = |field: &str| -> Result<Option<String>, String> {
        match doc.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(url)) => {
                check_endpoint_url(url, HTTPS).map_err(|e| format!("the discovery document's `{field}`: {e}"))?;
                Ok(Some(url.clone()))
            }
            Some(_) => Err(format!("the discovery document's `{field}` is not a URL")),
        }
    };
    let authorization =
        url("authorization_endpoint")?.ok_or("the discovery document has no `authorization_endpoint`")?;
    let token = url("token_endpoint")?.ok_or("the discovery document has no `token_endpoint`")?;
    if let Some(methods) = doc.get("code_challenge_methods_supported").and_then(Value::as_array) {
        if !methods.iter().any(|m| m == "S256") {
            return Err("the provider does not support PKCE with S256 (`code_challenge_methods_supported`)".into());
        }
    }
    // RFC 9207 section 3: only `true` promises the parameter; anything else leaves it optional.
    let iss_parameter = doc.get("authorization_response_iss_parameter_supported") == Some(&Value::Bool(true));
    Ok(Endpoints {
        authorization: Some(authorization),
        token: Some(token),
        end_session: url("end_session_endpoint")?,
        iss_parameter,
    })
}

#[derive(Debug, Clone, Default)]
struct Entry {
    endpoints: Option<Endpoints>,
    fresh_until: u64,
    /// When the last fetch ended.
    last_attempt: Option<u64>,
    /// A fetch under way, claimed until this time.
    in_flight_until: Option<u64>,
    failure: Option<String>,
}

/// What is known of each provider's discovery document, by provider name. Runtime state: lives
/// in [`crate::isolate::IsolateState`], beside the configuration, and a new configuration starts
/// empty.
#[derive(Debug, Default)]
pub struct DiscoveryStore(RefCell<BTreeMap<String, Entry>>);

impl DiscoveryStore {
    /// The discovered endpoints of `provider` at `now`: fresh, or stale within the key store's
    /// [`STALE_LIMIT`] while the provider fails.
    pub fn endpoints(&self, provider: &str, now: u64) -> Option<Endpoints> {
        let entries = self.0.borrow();
        self.endpoints_of(entries.get(provider)?, now)
    }

    /// Why the last fetch failed, while it keeps failing.
    pub fn failure(&self, provider: &str) -> Option<String> {
        self.0.borrow().get(provider).and_then(|e| e.failure.clone())
    }

    /// Whether the Workers layer should fetch `provider`'s document now, and whether the request
    /// must wait for it. Nothing while another request's fetch is under way, or within
    /// [`RETRY_SECONDS`] of the last fetch's end.
    pub fn need(&self, provider: &str, now: u64) -> Option<Need> {
        let entries = self.0.borrow();
        let Some(entry) = entries.get(provider) else { return Some(Need::Fetch) };
        let in_flight = entry.in_flight_until.is_some_and(|until| now < until);
        let retry_later = entry.last_attempt.is_some_and(|t| now < t.saturating_add(RETRY_SECONDS));
        if in_flight || retry_later || (entry.endpoints.is_some() && now < entry.fresh_until) {
            return None;
        }
        Some(if self.endpoints_of(entry, now).is_some() { Need::Revalidate } else { Need::Fetch })
    }

    /// Whether the Workers layer should fetch `provider`'s document now (see [`Self::need`]).
    pub fn wants_fetch(&self, provider: &str, now: u64) -> bool {
        self.need(provider, now).is_some()
    }

    /// Claim the fetch of `provider`'s document at `now`, before the first await: requests that
    /// arrive while it is under way do not start their own.
    pub fn begin_fetch(&self, provider: &str, now: u64) {
        let mut entries = self.0.borrow_mut();
        entries.entry(provider.to_owned()).or_default().in_flight_until = Some(now.saturating_add(IN_FLIGHT_SECONDS));
    }

    fn endpoints_of(&self, entry: &Entry, now: u64) -> Option<Endpoints> {
        entry.endpoints.clone().filter(|_| now < entry.fresh_until.saturating_add(STALE_LIMIT))
    }

    /// Record a fetch of `provider`'s document (for `issuer`) that ended at `now`, and release
    /// its claim. A failure keeps the last good endpoints. Returns the reason of a failure when it
    /// is the first of a run (to log once).
    pub fn record(&self, provider: &str, issuer: &str, fetched: Fetched, now: u64) -> Option<String> {
        let mut entries = self.0.borrow_mut();
        let entry = entries.entry(provider.to_owned()).or_default();
        entry.last_attempt = Some(now);
        entry.in_flight_until = None;
        let outcome = match fetched {
            Fetched::Document { body, cache_control } => {
                parse(&body, issuer).map(|endpoints| (endpoints, freshness(cache_control.as_deref())))
            }
            Fetched::Failed(reason) => Err(reason),
        };
        match outcome {
            Ok((endpoints, max_age)) => {
                entry.endpoints = Some(endpoints);
                entry.fresh_until = now.saturating_add(max_age);
                entry.failure = None;
                None
            }
            Err(reason) => {
                let first = entry.failure.is_none();
                entry.failure = Some(reason.clone());
                first.then_some(reason)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ISSUER: &str = "https://id.example";

    fn doc(extra: Value) -> String {
        let mut d = json!({"issuer": ISSUER, "authorization_endpoint": "https://id.example/auth",
            "token_endpoint": "https://id.example/token", "jwks_uri": "https://id.example/jwks",
            "code_challenge_methods_supported": ["S256"]});
        d.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        d.to_string()
    }

    #[test]
    fn documents_are_checked() {
        let e = parse(&doc(json!({"end_session_endpoint": "https://id.example/logout"})), ISSUER).unwrap();
        assert_eq!(e.authorization.as_deref(), Some("https://id.example/auth"));
        assert_eq!(e.end_session.as_deref(), Some("https://id.example/logout"));
        assert_eq!(parse(&doc(json!({})), ISSUER).unwrap().end_session, None);
        assert!(!parse(&doc(json!({})), ISSUER).unwrap().iss_parameter);
        assert!(
            !parse(&doc(json!({"authorization_response_iss_parameter_supported": "true"})), ISSUER)
                .unwrap()
                .iss_parameter
        );
        assert!(
            parse(&doc(json!({"authorization_response_iss_parameter_supported": true})), ISSUER).unwrap().iss_parameter
        );
        for (bad, expected) in [
            (doc(json!({"issuer": "https://evil.example"})), "`issuer` is not the provider's issuer"),
            (doc(json!({"authorization_endpoint": "http://id.example/auth"})), "`authorization_endpoint`"),
            (doc(json!({"token_endpoint": null})), "no `token_endpoint`"),
            (doc(json!({"code_challenge_methods_supported": ["plain"]})), "PKCE with S256"),
            ("<html>".into(), "not JSON"),
        ] {
            assert!(parse(&bad, ISSUER).unwrap_err().contains(expected), "{bad}");
        }
    }

    #[test]
    fn the_store_caches_retries_and_keeps_the_last_good_document() {
        let store = DiscoveryStore::default();
        assert!(store.wants_fetch("p", 100));
        assert_eq!(store.record("p", ISSUER, Fetched::Failed("down".into()), 100).as_deref(), Some("down"));
        assert!(!store.wants_fetch("p", 101), "rate limited");
        assert!(store.wants_fetch("p", 105));
        assert_eq!(store.record("p", ISSUER, Fetched::Failed("down".into()), 105), None, "logged once per run");
        let ok = Fetched::Document { body: doc(json!({})), cache_control: Some("max-age=600".into()) };
        assert_eq!(store.record("p", ISSUER, ok, 110), None);
        assert!(store.endpoints("p", 111).is_some() && store.failure("p").is_none());
        assert!(!store.wants_fetch("p", 600) && store.wants_fetch("p", 710));
        store.record("p", ISSUER, Fetched::Failed("down".into()), 710);
        assert!(store.endpoints("p", 720).is_some(), "stale, still used while the provider fails");
    }

    /// Issue 22, finding 3: 30 concurrent requests made 59 fetches of a hanging provider's
    /// document, and the retry window, timed from the request's start, had passed by the time
    /// the 5 s timeout ended the fetch.
    #[test]
    fn one_fetch_in_flight_stale_served_and_retry_timed_from_the_end() {
        let store = DiscoveryStore::default();
        assert_eq!(store.need("p", 100), Some(Need::Fetch));
        store.begin_fetch("p", 100);
        for t in 100..100 + IN_FLIGHT_SECONDS {
            assert_eq!(store.need("p", t), None, "one fetch in flight at {t}");
        }
        // The fetch timed out after 5 s: the retry window starts then.
        store.record("p", ISSUER, Fetched::Failed("no answer within 5 s".into()), 105);
        assert_eq!(store.need("p", 105 + RETRY_SECONDS - 1), None);
        assert_eq!(store.need("p", 105 + RETRY_SECONDS), Some(Need::Fetch));
        // A claim that was never recorded (the isolate's fetch vanished) expires.
        store.begin_fetch("p", 200);
        assert_eq!(store.need("p", 200 + IN_FLIGHT_SECONDS), Some(Need::Fetch));
        // A stale document is used while it is fetched again.
        let ok = Fetched::Document { body: doc(json!({})), cache_control: Some("max-age=600".into()) };
        store.record("p", ISSUER, ok, 300);
        assert_eq!(store.need("p", 899), None, "fresh");
        assert_eq!(store.need("p", 900), Some(Need::Revalidate));
        assert!(store.endpoints("p", 900).is_some());
        store.begin_fetch("p", 900);
        assert_eq!(store.need("p", 901), None);
        assert!(store.endpoints("p", 901).is_some(), "served stale while revalidating");
    }
}
