//! The worker's HS256 session cookie (`identity::session_cookie`): a value as a browser sends it,
//! verified against the current and the previous secret.
#![no_main]
use ivs_token_worker::http::problem::Problem;
use ivs_token_worker::identity::session_cookie::SessionSecrets;
use ivs_token_worker_fuzz::{NOW, SESSION_SECRET, SESSION_SECRET_PREVIOUS};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(cookie) = std::str::from_utf8(data) else { return };
    let secrets =
        SessionSecrets::new(SESSION_SECRET.as_bytes().to_vec(), Some(SESSION_SECRET_PREVIOUS.as_bytes().to_vec()));
    match secrets.verify(cookie, NOW) {
        Ok(session) => {
            assert!(!session.sub.is_empty() && session.sub.len() <= 256);
            assert!(session.exp + 30 > NOW, "an expired session was accepted");
        }
        Err(error) => {
            assert_eq!(error.status(), 401);
            // The refusal never quotes the cookie (checked for JWT-shaped values: any shorter or
            // spaced text could be a piece of the message itself).
            assert!(!ivs_token_worker_fuzz::looks_like_jwt(cookie) || !error.to_string().contains(cookie));
        }
    }
});
