//! Identity tokens already verified in this isolate, so a viewer's next request with the same
//! token costs a hash instead of an RSA or ECDSA verification (ES256 verification is a
//! variable-base scalar multiplication, far dearer than signing with a precomputed table).
//!
//! An entry is keyed by SHA-256 of the token, so no token is kept; it holds the session the
//! token gave, and is used only until the token's `exp` (with the usual leeway) and only while
//! the provider's keys are the ones it was verified with: new keys (a rotation, a revoked key
//! removed from the document) empty the provider's entries. Bounded by [`CAPACITY`].
//!
//! Failures are remembered too, under the same digest, so a refused token is never verified
//! twice: a signature that did not verify is refused at once, and a token whose signature verified
//! but whose claims were refused (expired, say) has only its claims checked again. They are kept
//! apart from the verified tokens, for [`FAILURE_SECONDS`] at most and bounded by
//! [`FAILURE_CAPACITY`]: anyone can send failing tokens, and they must never push a viewer's
//! verified token out.

use super::Session;
use sha2::{Digest, Sha256};
use std::cell::RefCell;
use std::collections::HashMap;

/// Most tokens remembered; when full, expired entries go first, then the ones expiring soonest.
pub const CAPACITY: usize = 1024;

/// Most failures remembered; when full, expired ones go first, then the oldest.
pub const FAILURE_CAPACITY: usize = 1024;
/// How long a failure is remembered (unless the provider's keys change first).
pub const FAILURE_SECONDS: u64 = 600;

#[derive(Debug, Clone)]
struct Failure {
    provider: String,
    /// Remembered until this time.
    until: u64,
    /// Whether the signature verified (and the claims were what failed).
    signature_valid: bool,
}

#[derive(Debug, Clone)]
struct Entry {
    provider: String,
    /// Usable until this time (the token's `exp` plus leeway).
    until: u64,
    session: Session,
}

/// The cache itself. Runtime state: lives in [`super::IdentityCaches`], beside the configuration,
/// and a new configuration starts empty.
#[derive(Debug, Default)]
pub struct VerifiedTokens {
    verified: RefCell<HashMap<[u8; 32], Entry>>,
    failed: RefCell<HashMap<[u8; 32], Failure>>,
}

/// SHA-256 of a token (or any text): how tokens are named without being kept.
pub fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl VerifiedTokens {
    /// The session the token of digest `key` ([`digest`]) gave when `provider` verified it, if
    /// still usable at `now`.
    pub fn get(&self, provider: &str, key: &[u8; 32], now: u64) -> Option<Session> {
        let mut entries = self.verified.borrow_mut();
        match entries.get(key) {
            Some(entry) if now >= entry.until => {
                entries.remove(key);
                None
            }
            // Another provider's entry stays: two providers may read the same place.
            Some(entry) if entry.provider == provider => Some(entry.session.clone()),
            _ => None,
        }
    }

    /// Remember that `provider` verified the token of digest `key` into `session`, usable until
    /// `until`.
    pub fn insert(&self, provider: &str, key: &[u8; 32], session: &Session, until: u64, now: u64) {
        let mut entries = self.verified.borrow_mut();
        if entries.len() >= CAPACITY {
            entries.retain(|_, e| now < e.until);
        }
        if entries.len() >= CAPACITY {
            if let Some(soonest) = entries.iter().min_by_key(|(_, e)| e.until).map(|(k, _)| *k) {
                entries.remove(&soonest);
            }
        }
        entries.insert(*key, Entry { provider: provider.to_owned(), until, session: session.clone() });
    }

    /// Forget every token of `provider` (its keys changed), verified or failed.
    pub fn forget_provider(&self, provider: &str) {
        self.verified.borrow_mut().retain(|_, e| e.provider != provider);
        self.failed.borrow_mut().retain(|_, f| f.provider != provider);
    }

    /// Whether `provider` refused the token of digest `key` (remembered at `now`): `Some(false)`
    /// when its signature did not verify, `Some(true)` when the signature verified but the claims
    /// were refused.
    pub fn failure(&self, provider: &str, key: &[u8; 32], now: u64) -> Option<bool> {
        let failed = self.failed.borrow();
        failed.get(key).filter(|f| f.provider == provider && now < f.until).map(|f| f.signature_valid)
    }

    /// Remember that `provider` refused the token of digest `key` at `now`; `signature_valid`:
    /// whether its signature verified.
    pub fn insert_failure(&self, provider: &str, key: &[u8; 32], signature_valid: bool, now: u64) {
        let mut failed = self.failed.borrow_mut();
        if failed.len() >= FAILURE_CAPACITY {
            failed.retain(|_, f| now < f.until);
        }
        if failed.len() >= FAILURE_CAPACITY {
            if let Some(oldest) = failed.iter().min_by_key(|(_, f)| f.until).map(|(k, _)| *k) {
                failed.remove(&oldest);
            }
        }
        let until = now.saturating_add(FAILURE_SECONDS);
        failed.insert(*key, Failure { provider: provider.to_owned(), until, signature_valid });
    }

    /// How many failures are remembered.
    pub fn failures(&self) -> usize {
        self.failed.borrow().len()
    }

    /// How many tokens are remembered.
    pub fn len(&self) -> usize {
        self.verified.borrow().len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_until_expiry_per_provider() {
        let cache = VerifiedTokens::default();
        let session = Session::new("alice", 2000);
        cache.insert("idp", &digest("token-a"), &session, 2030, 1000);
        assert_eq!(cache.get("idp", &digest("token-a"), 1500).unwrap().sub, "alice");
        assert!(cache.get("other", &digest("token-a"), 1500).is_none(), "another provider's entry is not used");
        assert!(cache.get("idp", &digest("token-b"), 1500).is_none());
        cache.insert("idp", &digest("token-a"), &session, 2030, 1000);
        assert!(cache.get("idp", &digest("token-a"), 2030).is_none(), "expired");
        assert!(cache.is_empty(), "an expired entry is dropped when met");
        cache.insert("idp", &digest("token-a"), &session, 2030, 1000);
        cache.insert("idp2", &digest("token-b"), &session, 2030, 1000);
        cache.forget_provider("idp");
        assert_eq!(cache.len(), 1);
    }

    /// Failures are remembered per provider, apart from verified tokens, bounded, and forgotten
    /// with the provider's keys.
    #[test]
    fn failures_are_remembered_apart_and_bounded() {
        let cache = VerifiedTokens::default();
        let session = Session::new("alice", 2000);
        cache.insert("idp", &digest("good"), &session, 99_999, 1000);
        cache.insert_failure("idp", &digest("forged"), false, 1000);
        cache.insert_failure("idp", &digest("expired"), true, 1000);
        assert_eq!(cache.failure("idp", &digest("forged"), 1000), Some(false));
        assert_eq!(cache.failure("idp", &digest("expired"), 1000), Some(true));
        assert_eq!(cache.failure("other", &digest("forged"), 1000), None, "per provider");
        assert_eq!(cache.failure("idp", &digest("forged"), 1000 + FAILURE_SECONDS), None, "for a while only");
        for i in 0..FAILURE_CAPACITY as u64 + 10 {
            cache.insert_failure("idp", &digest(&format!("junk-{i}")), false, 1001);
        }
        assert_eq!(cache.failures(), FAILURE_CAPACITY, "never more than the bound");
        assert_eq!(cache.failure("idp", &digest("forged"), 1100), None, "the oldest went first");
        assert!(cache.get("idp", &digest("good"), 1100).is_some(), "failures never push a verified token out");
        cache.forget_provider("idp");
        assert_eq!((cache.failures(), cache.len()), (0, 0), "new keys: everything is checked again");
    }

    /// Issue 16: looking a token up for another provider (two providers read the same place)
    /// dropped the entry, so the provider that verified it verified it again on every request.
    #[test]
    fn another_providers_lookup_keeps_the_entry() {
        let cache = VerifiedTokens::default();
        cache.insert("b-idp", &digest("token"), &Session::new("bob", 2000), 2030, 1000);
        assert!(cache.get("a-idp", &digest("token"), 1500).is_none());
        assert_eq!(cache.get("b-idp", &digest("token"), 1500).map(|s| s.sub).as_deref(), Some("bob"));
    }

    #[test]
    fn bounded() {
        let cache = VerifiedTokens::default();
        let session = Session::new("s", 0);
        for i in 0..CAPACITY as u64 + 10 {
            cache.insert("idp", &digest(&format!("token-{i}")), &session, 5000 + i, 1000);
        }
        assert_eq!(cache.len(), CAPACITY);
        assert!(cache.get("idp", &digest("token-0"), 1000).is_none(), "the soonest to expire went first");
        assert!(cache.get("idp", &digest(&format!("token-{}", CAPACITY + 9)), 1000).is_some());
        // Expired entries make room before live ones are evicted.
        cache.insert("idp", &digest("late"), &session, 9000, 7000);
        assert_eq!(cache.len(), 1);
    }
}
