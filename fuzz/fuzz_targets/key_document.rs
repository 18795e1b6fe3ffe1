//! Identity providers' key documents (`identity::jwk::KeySet::parse`): JWKS and Firebase-style
//! objects of X.509 certificate PEMs by key id.
#![no_main]
use ivs_token_worker::identity::jwk::{Algorithm, KeySet, MAX_KEYS};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(document) = std::str::from_utf8(data) else { return };
    if let Ok(set) = KeySet::parse(document) {
        assert!(!set.keys.is_empty() && set.keys.len() <= MAX_KEYS);
        for key in &set.keys {
            // Whatever was parsed must be usable without panicking, with any algorithm.
            for alg in Algorithm::ALL {
                let _ = key.allows(alg) && key.verify(alg, b"a.b", &[0u8; 64]);
            }
            if let Some(kid) = &key.kid {
                assert!(set.find(kid).is_some());
            }
        }
    }
});
