//! `aws:viewer-id`: a stable, non-reversible identifier derived from who vouched for the viewer
//! and the session subject.
//!
//! IVS requires the viewer id to be at most 40 characters and not personal data, yet an operator
//! must be able to compute it to revoke a viewer (`StartViewerSessionRevocation`). So it is a keyed
//! hash of the subject, in the namespace of the source that vouched for it:
//!
//! ```text
//! viewer_id = first 40 hex digits of HMAC-SHA256(key, message)
//! message   = sub                                  the worker's own session cookie (as since 0.1.0)
//!           = 0xFF || "ivs-token-worker viewer-id v2 provider" || 0x00
//!             || issuer length (8 bytes, big-endian) || issuer || sub
//!                                                  a session from an identity provider
//! key       = VIEWER_ID_SECRET (bytes of the string), when set
//!           = SHA-256("ivs-token-worker viewer-id v1" || P-384 private scalar), otherwise
//! ```
//!
//! A provider's subjects are its own: `user-1` at one provider is not `user-1` at another, nor the
//! `user-1` of the worker's cookie, so each provider's viewers get their own ids. The namespace is
//! the provider's issuer (`iss`, exactly as its tokens carry it), not its name in
//! `IDENTITY_PROVIDERS`: the name is a local label an operator may rename (which would silently
//! change every id and undo revocations), while the issuer identifies the source; two entries with
//! one issuer (a pool with two app clients) are one source, and share ids.
//!
//! No provider message equals a cookie's: it starts with the byte 0xFF, which no UTF-8 text (a
//! cookie's `sub`) contains; and the issuer's length prefix makes every (issuer, subject) pair its
//! own message. The cookie's message is the subject alone, so the ids of cookie sessions stay what
//! they have been since 0.1.0.
//!
//! Without the key, the id cannot be linked back to a subject (no dictionary attack on e-mail
//! addresses). `ivs-token viewer-id --sub ID [--issuer URL]` computes it. Setting
//! `VIEWER_ID_SECRET` keeps viewer ids stable across a signing-key rotation.
//!
//! ```
//! use ivs_token_worker::identity::viewer_id::ViewerIdKey;
//! let key = ViewerIdKey::from_secret(b"an operator's viewer-id secret, 32+ bytes");
//! let id = key.viewer_id(None, "alice@example.com");
//! assert_eq!(id.len(), 40);
//! assert_eq!(id, key.viewer_id(None, "alice@example.com"));
//! assert_ne!(id, key.viewer_id(Some("https://id.example"), "alice@example.com"));
//! ```

use super::Session;
use crate::encoding::hex;
use crate::key::PlaybackKey;
use hmac::{KeyInit, Mac};
use sha2::{Digest, Sha256};

const DERIVATION_LABEL: &[u8] = b"ivs-token-worker viewer-id v1";

/// What a provider session's message starts with: 0xFF (never in UTF-8, so never in a cookie's
/// `sub`), the version tag, and a NUL that ends it.
const PROVIDER_TAG: &[u8] = b"\xffivs-token-worker viewer-id v2 provider\x00";

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

    /// The viewer id of `session`: `aws:viewer-id`, and a stage's default `user_id`.
    pub fn viewer_id_for(&self, session: &Session) -> String {
        self.viewer_id(session.issuer.as_deref(), &session.sub)
    }

    /// The viewer id for `subject` as vouched for by the identity provider whose `iss` is
    /// `issuer`, or by the worker's own session cookie (`None`): 40 lower-case hex digits.
    pub fn viewer_id(&self, issuer: Option<&str>, subject: &str) -> String {
        let mut mac = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(&self.key)
            .unwrap_or_else(|_| <hmac::Hmac<Sha256> as KeyInit>::new(&Default::default()));
        if let Some(issuer) = issuer {
            mac.update(PROVIDER_TAG);
            mac.update(&(issuer.len() as u64).to_be_bytes());
            mac.update(issuer.as_bytes());
        }
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
        // HMAC-SHA256(key "Jefe", "what do ya want for nothing?") from RFC 4231, first 40 digits:
        // the cookie's derivation is the plain HMAC of the subject, unchanged since 0.1.0.
        let id = ViewerIdKey::from_secret(b"Jefe").viewer_id(None, "what do ya want for nothing?");
        assert_eq!(id, "5bdcc146bf60754e6a042426089575c75a003f08");
    }

    #[test]
    fn provider_derivation_vector() {
        // HMAC-SHA256(key "Jefe", 0xFF "ivs-token-worker viewer-id v2 provider" 0x00
        // 00 00 00 00 00 00 00 12 "https://id.example" "alice"), first 40 digits; computed
        // independently with Python's hmac (tests/harness.py holds the same derivation).
        let id = ViewerIdKey::from_secret(b"Jefe").viewer_id(Some("https://id.example"), "alice");
        assert_eq!(id, "e15761c0deeda6495f294f0979b9d1793a009ce3");
    }

    #[test]
    fn stable_distinct_and_keyed() {
        let a = ViewerIdKey::from_secret(b"k1");
        let b = ViewerIdKey::from_secret(b"k2");
        assert_eq!(a.viewer_id(None, "alice"), a.viewer_id(None, "alice"));
        assert_ne!(a.viewer_id(None, "alice"), a.viewer_id(None, "bob"));
        assert_ne!(a.viewer_id(None, "alice"), b.viewer_id(None, "alice"));
        assert!(!a.viewer_id(None, "alice").contains("alice"));
        let idp = Some("https://id.example");
        assert_eq!(a.viewer_id(idp, "alice"), a.viewer_id(idp, "alice"));
        assert_ne!(a.viewer_id(idp, "alice"), b.viewer_id(idp, "alice"));
    }

    #[test]
    fn each_source_is_its_own_namespace() {
        let k = ViewerIdKey::from_secret(b"k1");
        let cookie = k.viewer_id(None, "user-1");
        let a = k.viewer_id(Some("https://a.example"), "user-1");
        let b = k.viewer_id(Some("https://b.example"), "user-1");
        assert!(cookie != a && cookie != b && a != b, "one subject, three sources, three viewers");
        // The issuer is taken exactly: Auth0's trailing slash is part of it.
        assert_ne!(k.viewer_id(Some("https://a.example/"), "user-1"), a);
        // The boundary between issuer and subject cannot be moved.
        assert_ne!(k.viewer_id(Some("https://a.example"), "/x"), k.viewer_id(Some("https://a.example/"), "x"));
        assert_ne!(k.viewer_id(Some(""), "user-1"), cookie);
        // A cookie subject spelling out a provider's message without the 0xFF byte is still a
        // cookie subject.
        let spelled = "ivs-token-worker viewer-id v2 provider\0\0\0\0\0\0\0\0\x11https://a.example";
        assert_eq!(spelled.len() + 1, PROVIDER_TAG.len() + 8 + 17);
        assert_ne!(k.viewer_id(None, &format!("{spelled}user-1")), a);
    }

    #[test]
    fn a_session_names_its_source() {
        let k = ViewerIdKey::from_secret(b"k1");
        let mut session = Session::new("user-1", 0);
        assert_eq!(k.viewer_id_for(&session), k.viewer_id(None, "user-1"));
        session.issuer = Some("https://a.example".into());
        assert_eq!(k.viewer_id_for(&session), k.viewer_id(Some("https://a.example"), "user-1"));
    }

    #[test]
    fn derived_from_the_playback_key() {
        let k1 = PlaybackKey::from_scalar_bytes(&[1u8; 48]).unwrap();
        let k2 = PlaybackKey::from_scalar_bytes(&[2u8; 48]).unwrap();
        let id1 = ViewerIdKey::from_playback_key(&k1).viewer_id(None, "alice");
        assert_eq!(id1, ViewerIdKey::from_playback_key(&k1).viewer_id(None, "alice"));
        assert_ne!(id1, ViewerIdKey::from_playback_key(&k2).viewer_id(None, "alice"));
        assert_eq!(id1.len(), 40);
        assert!(id1.bytes().all(|b| b.is_ascii_hexdigit()));
    }
}
