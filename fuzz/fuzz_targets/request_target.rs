//! The request target and query: `http::Request::new`, `http::query_param`, `http::percent_decode`.
#![no_main]
use ivs_token_worker::http::{percent_decode, query_param, Request};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(target) = std::str::from_utf8(data) else { return };
    let request = Request::new("GET", target);
    assert!(!request.path.contains('?'));
    assert_eq!(request.path.len() + request.query.len() + usize::from(target.contains('?')), target.len());
    for name in ["channel", "return_to", "sub", "channels", ""] {
        match query_param(request.query, name) {
            Ok(Some(value)) => assert!(value.len() <= request.query.len()),
            Ok(None) | Err(_) => {}
        }
    }
    if let Some(decoded) = percent_decode(target) {
        assert!(decoded.len() <= target.len());
        let bytes = target.as_bytes();
        for (i, _) in target.match_indices('%') {
            let hex = &bytes[i + 1..(i + 3).min(bytes.len())];
            assert!(
                hex.len() == 2 && hex.iter().all(u8::is_ascii_hexdigit),
                "a `%` escape without two hex digits was accepted"
            );
        }
        // Every escape is exactly two hex digits: re-encoding what was decoded and decoding that
        // again gives the same text.
        let encoded: String = decoded.bytes().map(|b| format!("%{b:02X}")).collect();
        assert_eq!(percent_decode(&encoded).as_deref(), Some(decoded.as_str()));
        if !target.contains('+') {
            let escapes = target.matches('%').count();
            assert_eq!(decoded.len(), target.len() - 2 * escapes, "an escape other than %XX was accepted");
        }
    }
});
