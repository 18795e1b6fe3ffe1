//! An identity provider's JWT: `identity::jwt::decode` (untrusted shape and header rules) and
//! `verify` against a fixed provider with fixed inline keys, then the whole credential path
//! (Bearer header) of `identity::Identity`.
#![no_main]
use ivs_token_worker::http::problem::Problem;
use ivs_token_worker::identity::jwt::{decode, verify};
use ivs_token_worker::identity::Presented;
use ivs_token_worker_fuzz::NOW;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else { return };
    let config = ivs_token_worker_fuzz::shared_config(false);
    if let Ok(untrusted) = decode(token) {
        let _ = (untrusted.issuer(), untrusted.kid());
        for provider in &config.identity.providers {
            let keys = provider.inline_keys.as_ref().expect("inline keys");
            // `None`: the core checks the signature itself. `Some(true)`: the platform's WebCrypto
            // said the signature is good; every other rule (alg, iss, aud, times) still holds.
            for verdict in [None, Some(true)] {
                if let Ok(session) = verify(&untrusted, provider, &[keys], NOW, verdict) {
                    assert!(!session.sub.is_empty() && session.sub.len() <= 256);
                    assert!(untrusted.issuer() == Some(provider.issuer.as_str()), "verified for the wrong issuer");
                }
            }
        }
    }
    let bearer = format!("Bearer {token}");
    let presented = Presented { authorization: Some(&bearer), ..Default::default() };
    let state = ivs_token_worker_fuzz::shared_state(false);
    if let Err(error) = config.identity.session(&state.identity, &presented, NOW) {
        assert!(matches!(error.status(), 401 | 403), "{error}");
        assert!(
            !ivs_token_worker_fuzz::looks_like_jwt(token) || !error.to_string().contains(token),
            "the token is never quoted"
        );
    }
});
