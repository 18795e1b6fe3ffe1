//! `aws:viewer-id`: a stable, non-reversible identifier derived from the session subject.
//!
//! IVS requires the viewer id to be at most 40 characters and not personal data, yet an operator
//! must be able to compute it to revoke a viewer (`StartViewerSessionRevocation`). So it is a keyed
//! hash of the subject:
//!
//! ```text
//! viewer_id = first 40 hex digits of HMAC-SHA256(key, subject)
//! key       = VIEWER_ID_SECRET (bytes of the string), when set
//!           = SHA-256("ivs-token-worker viewer-id v1" || P-384 private scalar), otherwise
//! ```
//!
//! Without the key, the id cannot be linked back to a subject (no dictionary attack on e-mail
//! addresses). `ivs-token viewer-id --sub ID` computes it. Setting `VIEWER_ID_SECRET` keeps viewer
//! ids stable across a signing-key rotation.
//!
//! ```
//! use ivs_token_worker::identity::viewer_id::ViewerIdKey;
//! let key = ViewerIdKey::from_secret(b"an operator's viewer-id secret, 32+ bytes");
//! let id = key.viewer_id("alice@example.com");
//! assert_eq!(id.len(), 40);
//! assert_eq!(id, key.viewer_id("alice@example.com"));
//! ```

use crate::encoding::hex;
use crate::key::PlaybackKey;
use hmac::{KeyInit, Mac};
use sha2::{Digest, Sha256};

const DERIVATION_LABEL: &[u8] = b"ivs-token-worker viewer-id v1";

/// The HMAC key viewer ids are derived with.
#[derive(Clone)]
pub struct ViewerIdKey {
    key: Vec<u8>,
}

impl std::fmt::Debug for ViewerIdKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ViewerIdKey(..)")
    }
}

impl ViewerIdKey {
    /// From an explicit secret (`VIEWER_ID_SECRET`).
    pub fn from_secret(secret: &[u8]) -> Self {
        Self { key: secret.to_vec() }
    }

    /// Derived from the playback signing key (the default).
    pub fn from_playback_key(key: &PlaybackKey) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(DERIVATION_LABEL);
        hasher.update(key.scalar_bytes());
        Self { key: hasher.finalize().to_vec() }
    }

    /// The viewer id for `subject`: 40 lower-case hex digits.
    pub fn viewer_id(&self, subject: &str) -> String {
        let mut mac = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(&self.key)
            .unwrap_or_else(|_| <hmac::Hmac<Sha256> as KeyInit>::new(&Default::default()));
        mac.update(subject.as_bytes());
        let digest = mac.finalize().into_bytes();
        let mut id = hex(&digest);
        id.truncate(crate::ivs::VIEWER_ID_MAX_LEN);
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4231_case_2_prefix() {
        // HMAC-SHA256(key "Jefe", "what do ya want for nothing?") from RFC 4231, first 40 digits.
        let id = ViewerIdKey::from_secret(b"Jefe").viewer_id("what do ya want for nothing?");
        assert_eq!(id, "5bdcc146bf60754e6a042426089575c75a003f08");
    }

    #[test]
    fn stable_distinct_and_keyed() {
        let a = ViewerIdKey::from_secret(b"k1");
        let b = ViewerIdKey::from_secret(b"k2");
        assert_eq!(a.viewer_id("alice"), a.viewer_id("alice"));
        assert_ne!(a.viewer_id("alice"), a.viewer_id("bob"));
        assert_ne!(a.viewer_id("alice"), b.viewer_id("alice"));
        assert!(!a.viewer_id("alice").contains("alice"));
    }

    #[test]
    fn derived_from_the_playback_key() {
        let k1 = PlaybackKey::from_scalar_bytes(&[1u8; 48]).unwrap();
        let k2 = PlaybackKey::from_scalar_bytes(&[2u8; 48]).unwrap();
        let id1 = ViewerIdKey::from_playback_key(&k1).viewer_id("alice");
        assert_eq!(id1, ViewerIdKey::from_playback_key(&k1).viewer_id("alice"));
        assert_ne!(id1, ViewerIdKey::from_playback_key(&k2).viewer_id("alice"));
        assert_eq!(id1.len(), 40);
        assert!(id1.bytes().all(|b| b.is_ascii_hexdigit()));
    }
}
