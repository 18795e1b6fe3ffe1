//! What an isolate has learned about identity since its configuration loaded: providers' fetched
//! keys ([`KeyStore`]) and the tokens already verified or refused ([`VerifiedTokens`]). Runtime
//! state, not configuration: it lives beside [`super::Identity`] (in
//! [`crate::isolate::IsolateState`]), starts empty, and is dropped with the configuration it was
//! learned under.

use super::keystore::{Fetched, KeyStore};
use super::provider::Provider;
use super::verified::VerifiedTokens;

/// The identity caches of one isolate (see the module docs).
#[derive(Debug, Default)]
pub struct IdentityCaches {
    /// Providers' fetched keys.
    pub keys: KeyStore,
    /// Identity tokens verified (or refused) in this isolate (see [`super::verified`]).
    pub verified: VerifiedTokens,
}

impl IdentityCaches {
    /// Record a fetch of `provider`'s key document (see [`KeyStore::record`]); when the set of
    /// keys changed, tokens verified with the old set are verified again.
    pub fn record_fetch(&self, provider: &Provider, fetched: Fetched, now: u64) -> Option<String> {
        let before = self.key_ids(provider, now);
        let first_failure = self.keys.record(provider, fetched, now);
        if self.key_ids(provider, now) != before {
            self.verified.forget_provider(&provider.name);
        }
        first_failure
    }

    /// Record a key document found in the shared cache (see [`KeyStore::record_cached`]).
    pub fn record_cached(&self, provider: &Provider, body: String, cache_control: Option<String>, now: u64) {
        let before = self.key_ids(provider, now);
        self.keys.record_cached(provider, body, cache_control, now);
        if self.key_ids(provider, now) != before {
            self.verified.forget_provider(&provider.name);
        }
    }

    fn key_ids(&self, provider: &Provider, now: u64) -> Option<Vec<Option<String>>> {
        self.keys.keys(provider, now).map(|set| set.keys.iter().map(|k| k.kid.clone()).collect())
    }
}
