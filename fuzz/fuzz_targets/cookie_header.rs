//! The `Cookie` request header: finding cookies by name, and the session cookie as the worker
//! reads it from a whole header (same-named cookies, quotes, stray separators).
#![no_main]
use ivs_token_worker::cookie::{find_cookie, find_cookies, is_cookie_name};
use ivs_token_worker::identity::Presented;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let header = String::from_utf8_lossy(data);
    for name in ["session", "id_token", "a", ""] {
        let all: Vec<&str> = find_cookies(&header, name).collect();
        assert_eq!(find_cookie(&header, name), all.first().copied());
        for value in all {
            // A value is a slice of one `;`-separated pair, never spanning two cookies.
            assert!(!value.contains(';'));
        }
    }
    let _ = is_cookie_name(&header);
    let config = ivs_token_worker_fuzz::shared_config(true);
    let presented = Presented { cookie: Some(&header), ..Default::default() };
    let state = ivs_token_worker_fuzz::shared_state(true);
    if let Ok(session) = config.identity.session(&state.identity, &presented, ivs_token_worker_fuzz::NOW) {
        assert!(!session.sub.is_empty());
    }
});
