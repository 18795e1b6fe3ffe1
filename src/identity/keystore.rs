//! The per-isolate cache of identity providers' fetched keys, and its decisions: when to fetch,
//! what to keep when a fetch fails. Pure: the Workers layer does the fetching and reports back.
//!
//! - Keys are fresh for the document's `Cache-Control: max-age`, clamped to
//!   [`MIN_MAX_AGE`]..=[`MAX_MAX_AGE`] ([`DEFAULT_MAX_AGE`] without one).
//! - A token naming an unknown `kid` triggers a refetch (rotation is picked up at once), but no
//!   provider is fetched more than once per [`REFETCH_INTERVAL`], so a flood of forged `kid`s
//!   causes no fetch storm.
//! - A provider that has no keys yet and whose fetch failed is retried sooner, after
//!   [`FIRST_RETRY`] seconds doubling up to [`REFETCH_INTERVAL`]: one transient failure (a
//!   provider busy as the isolate starts) must not refuse its viewers for the whole interval.
//! - When the provider is unreachable or answers garbage, the last good keys stay in use for
//!   up to [`STALE_LIMIT`] past their freshness.

use super::jwk::KeySet;
use super::provider::Provider;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

/// Shortest freshness honoured, whatever the document says.
pub const MIN_MAX_AGE: u64 = 60;
/// Longest freshness honoured.
pub const MAX_MAX_AGE: u64 = 86_400;
/// Freshness of a document without `max-age`.
pub const DEFAULT_MAX_AGE: u64 = 300;
/// At most one fetch per provider per this many seconds.
pub const REFETCH_INTERVAL: u64 = 30;
/// The first wait after a failed fetch of a provider without keys; it doubles with each further
/// failure, up to [`REFETCH_INTERVAL`].
pub const FIRST_RETRY: u64 = 1;
/// How long past their freshness the last good keys are used while the provider fails.
pub const STALE_LIMIT: u64 = 86_400;

/// What is known of one provider's keys.
#[derive(Debug, Clone, Default)]
struct Entry {
    keys: Option<Rc<KeySet>>,
    fresh_until: u64,
    last_attempt: Option<u64>,
    /// Why the last fetch failed, while it keeps failing.
    failure: Option<String>,
    /// Failed fetches in a row.
    failures: u32,
}

impl Entry {
    /// Seconds to wait after the last attempt before fetching again.
    fn retry_interval(&self) -> u64 {
        if self.keys.is_some() || self.failures == 0 {
            return REFETCH_INTERVAL;
        }
        FIRST_RETRY.saturating_mul(1u64 << (self.failures - 1).min(16)).min(REFETCH_INTERVAL)
    }
}

/// The outcome of a fetch, as the Workers layer reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    /// The provider answered 200 with this body and this `Cache-Control` header.
    Document {
        /// Response body.
        body: String,
        /// The `Cache-Control` header, if any.
        cache_control: Option<String>,
    },
    /// Anything else: network error, non-200 status; the reason, for the log.
    Failed(String),
}

/// Keys of every provider with a `jwks_url`, by provider name. Runtime state: lives in
/// [`super::IdentityCaches`], beside the configuration, and a new configuration starts empty.
#[derive(Debug, Default)]
pub struct KeyStore(RefCell<BTreeMap<String, Entry>>);

/// `max-age` of a `Cache-Control` value, clamped; [`DEFAULT_MAX_AGE`] when absent or unreadable.
pub fn freshness(cache_control: Option<&str>) -> u64 {
    let max_age = cache_control.and_then(|value| {
        value.split(',').find_map(|directive| {
            let (name, seconds) = directive.trim().split_once('=')?;
            name.trim().eq_ignore_ascii_case("max-age").then(|| seconds.trim().trim_matches('"').parse::<u64>().ok())?
        })
    });
    max_age.unwrap_or(DEFAULT_MAX_AGE).clamp(MIN_MAX_AGE, MAX_MAX_AGE)
}

impl KeyStore {
    /// The usable fetched keys of `provider` at `now`: fresh, or stale within [`STALE_LIMIT`].
    pub fn keys(&self, provider: &Provider, now: u64) -> Option<Rc<KeySet>> {
        let entries = self.0.borrow();
        let entry = entries.get(&provider.name)?;
        entry.keys.clone().filter(|_| now < entry.fresh_until.saturating_add(STALE_LIMIT))
    }

    /// Whether the Workers layer should fetch `provider`'s key document now, for a token naming
    /// `kid` (or for none: a health check or a token without `kid`).
    pub fn wants_fetch(&self, provider: &Provider, kid: Option<&str>, now: u64) -> bool {
        if provider.jwks_url.is_none() {
            return false;
        }
        let entries = self.0.borrow();
        let Some(entry) = entries.get(&provider.name) else { return true };
        if entry.last_attempt.is_some_and(|t| now < t.saturating_add(entry.retry_interval())) {
            return false;
        }
        let Some(keys) = &entry.keys else { return true };
        let known = |kid: &str| {
            keys.find(kid).is_some() || provider.inline_keys.as_ref().is_some_and(|k| k.find(kid).is_some())
        };
        now >= entry.fresh_until || kid.is_some_and(|kid| !known(kid))
    }

    /// Note that a fetch of `provider`'s keys starts at `now`, so that requests arriving while it
    /// is under way do not start their own: they use the keys there are, or learn that the key
    /// they name is unknown. A provider without any keys yet is not claimed: its first viewers
    /// would otherwise be refused for the length of one fetch (a bounded burst of fetches instead).
    pub fn begin_fetch(&self, provider: &Provider, now: u64) {
        if let Some(entry) = self.0.borrow_mut().get_mut(&provider.name) {
            if entry.keys.is_some() {
                entry.last_attempt = Some(now);
            }
        }
    }

    /// Record a fetch of `provider`'s keys made at `now`. A document that does not parse counts
    /// as a failure. Returns the failure's reason when this is the first of a run of failures
    /// (to be logged once), `None` otherwise.
    pub fn record(&self, provider: &Provider, fetched: Fetched, now: u64) -> Option<String> {
        self.store(provider, fetched, now, true)
    }

    /// Record a key document found in a shared cache (the Workers Cache API) rather than
    /// fetched: it does not count as a fetch, so a token naming a key it lacks (a rotation the
    /// cached copy predates) may still refetch at once.
    pub fn record_cached(&self, provider: &Provider, body: String, cache_control: Option<String>, now: u64) {
        self.store(provider, Fetched::Document { body, cache_control }, now, false);
    }

    fn store(&self, provider: &Provider, fetched: Fetched, now: u64, attempt: bool) -> Option<String> {
        let mut entries = self.0.borrow_mut();
        let entry = entries.entry(provider.name.clone()).or_default();
        if attempt {
            entry.last_attempt = Some(now);
        }
        let parsed = match fetched {
            Fetched::Document { body, cache_control } => KeySet::parse(&body)
                .map(|keys| (keys, freshness(cache_control.as_deref())))
                .map_err(|e| format!("the key document is unusable: {e}")),
            Fetched::Failed(reason) => Err(reason),
        };
        match parsed {
            Ok((keys, max_age)) => {
                entry.keys = Some(Rc::new(keys));
                entry.fresh_until = now.saturating_add(max_age);
                entry.failure = None;
                entry.failures = 0;
                None
            }
            Err(_) if !attempt => None,
            Err(reason) => {
                let first = entry.failure.is_none();
                entry.failure = Some(reason.clone());
                entry.failures = entry.failures.saturating_add(1);
                first.then_some(reason)
            }
        }
    }

    /// Whether `provider` has no usable keys at all: no inline keys, nothing fetched that is
    /// still usable, and the last fetch failed. The reason of that failure.
    pub fn unavailable(&self, provider: &Provider, now: u64) -> Option<String> {
        if provider.inline_keys.is_some() || self.keys(provider, now).is_some() {
            return None;
        }
        self.0.borrow().get(&provider.name).and_then(|e| e.failure.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::jwt::tests::signer_jwk;
    use crate::identity::provider::parse_providers;
    use serde_json::json;

    fn provider() -> Provider {
        parse_providers(
            &json!({"idp": {"issuer": "https://id.example", "audience": "a", "jwks_url": "https://id.example/jwks"}})
                .to_string(),
        )
        .unwrap()
        .remove(0)
    }

    fn document(kids: &[&str], cache_control: Option<&str>) -> Fetched {
        let keys: Vec<_> = kids.iter().map(|k| signer_jwk(k)).collect();
        Fetched::Document { body: json!({ "keys": keys }).to_string(), cache_control: cache_control.map(str::to_owned) }
    }

    #[test]
    fn max_age_is_read_and_clamped() {
        assert_eq!(freshness(None), 300);
        assert_eq!(freshness(Some("public, max-age=3600, must-revalidate")), 3600);
        assert_eq!(freshness(Some("max-age=5")), 60);
        assert_eq!(freshness(Some("max-age=99999999")), 86_400);
        assert_eq!(freshness(Some("MAX-AGE=\"120\"")), 120);
        assert_eq!(freshness(Some("no-cache")), 300);
        assert_eq!(freshness(Some("max-age=-1")), 300);
    }

    #[test]
    fn fetch_once_then_cache_then_refresh() {
        let (store, p) = (KeyStore::default(), provider());
        assert!(store.wants_fetch(&p, Some("k1"), 1000), "never fetched");
        assert_eq!(store.record(&p, document(&["k1"], Some("max-age=600")), 1000), None);
        assert!(store.keys(&p, 1000).unwrap().find("k1").is_some());
        assert!(!store.wants_fetch(&p, Some("k1"), 1599), "fresh");
        assert!(!store.wants_fetch(&p, None, 1599));
        assert!(store.wants_fetch(&p, Some("k1"), 1600), "stale: refresh");
    }

    #[test]
    fn unknown_kid_refetches_at_most_every_30_seconds() {
        let (store, p) = (KeyStore::default(), provider());
        store.record(&p, document(&["k1"], None), 1000);
        assert!(!store.wants_fetch(&p, Some("k2"), 1029), "fetched 29 s ago");
        assert!(store.wants_fetch(&p, Some("k2"), 1030), "rotation: one refetch");
        store.record(&p, document(&["k1"], None), 1030);
        // A flood of forged kids: no fetch until 30 s have passed, whatever the kid.
        let fetches = (1030..1060)
            .flat_map(|t| (0..100).map(move |i| (t, format!("forged-{i}"))))
            .filter(|(t, kid)| store.wants_fetch(&p, Some(kid), *t))
            .count();
        assert_eq!(fetches, 0);
        assert!(store.wants_fetch(&p, Some("forged"), 1060));
    }

    #[test]
    fn a_fetch_under_way_is_not_started_twice() {
        let (store, p) = (KeyStore::default(), provider());
        store.begin_fetch(&p, 1000);
        assert!(store.wants_fetch(&p, Some("k1"), 1000), "no keys yet: not claimed");
        store.record(&p, document(&["k1"], None), 1000);
        assert!(store.wants_fetch(&p, Some("k2"), 1040));
        store.begin_fetch(&p, 1040);
        assert!(
            !store.wants_fetch(&p, Some("k2"), 1040),
            "the second concurrent request waits for no fetch of its own"
        );
    }

    #[test]
    fn failures_keep_the_last_good_keys_for_a_bounded_time() {
        let (store, p) = (KeyStore::default(), provider());
        assert_eq!(
            store.record(&p, Fetched::Failed("HTTP 503".into()), 1000),
            Some("HTTP 503".into()),
            "first failure is reported"
        );
        assert_eq!(store.unavailable(&p, 1000), Some("HTTP 503".into()));
        assert_eq!(store.record(&p, Fetched::Failed("HTTP 503".into()), 1030), None, "logged once");
        store.record(&p, document(&["k1"], Some("max-age=60")), 1060);
        assert_eq!(store.unavailable(&p, 1060), None);
        let garbage = Fetched::Document { body: "<html>".into(), cache_control: None };
        assert!(store.record(&p, garbage, 1200).unwrap().contains("unusable"));
        assert!(store.keys(&p, 1200).is_some(), "last good keys kept");
        assert!(store.keys(&p, 1120 + STALE_LIMIT - 1).is_some());
        assert!(store.keys(&p, 1120 + STALE_LIMIT).is_none(), "but not forever");
        assert!(store.unavailable(&p, 1120 + STALE_LIMIT).is_some());
    }

    #[test]
    fn a_provider_without_keys_is_retried_with_backoff() {
        let (store, p) = (KeyStore::default(), provider());
        let mut at = 1000;
        let mut waits = Vec::new();
        for _ in 0..8 {
            store.record(&p, Fetched::Failed("network error".into()), at);
            let next = (at + 1..at + 100).find(|t| store.wants_fetch(&p, None, *t)).unwrap();
            waits.push(next - at);
            at = next;
        }
        assert_eq!(waits, [1, 2, 4, 8, 16, 30, 30, 30]);
        store.record(&p, document(&["k1"], Some("max-age=60")), at);
        store.record(&p, Fetched::Failed("network error".into()), at + 60);
        assert!(!store.wants_fetch(&p, Some("k2"), at + 61), "with keys held, the full interval again");
        assert!(store.wants_fetch(&p, Some("k2"), at + 90));
    }

    #[test]
    fn a_shared_cache_copy_is_not_a_fetch() {
        let (store, p) = (KeyStore::default(), provider());
        let Fetched::Document { body, .. } = document(&["k1"], None) else { unreachable!() };
        store.record_cached(&p, body, Some("max-age=600".into()), 1000);
        assert!(store.keys(&p, 1000).is_some());
        assert!(!store.wants_fetch(&p, Some("k1"), 1001));
        assert!(store.wants_fetch(&p, Some("k2"), 1001), "a newer key than the cached copy: fetch at once");
        store.record_cached(&p, "garbage".into(), None, 1002);
        assert!(
            store.keys(&p, 1002).is_some() && store.unavailable(&p, 1002).is_none(),
            "a bad cached copy changes nothing"
        );
    }

    #[test]
    fn inline_only_providers_never_fetch() {
        let p = parse_providers(
            &json!({"idp": {"issuer": "https://id.example", "audience": "a", "jwks": {"keys": [signer_jwk("k1")]}}})
                .to_string(),
        )
        .unwrap()
        .remove(0);
        let store = KeyStore::default();
        assert!(!store.wants_fetch(&p, Some("other"), 0));
        assert_eq!(store.unavailable(&p, 0), None);
    }
}
