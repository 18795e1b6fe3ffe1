//! The operator API: `POST /v1/admin/revoke`'s body (`device::admin::parse_revoke`) and the bearer
//! token check on a fuzzed `Authorization` header.
#![no_main]
use ivs_token_worker::http::problem::Problem;
use ivs_token_worker::device::admin::{parse_revoke, AdminToken, MAX_BLOCK_SECONDS, MAX_BODY_BYTES};
use ivs_token_worker::identity::MAX_SUBJECT_LEN;
use libfuzzer_sys::fuzz_target;

const TOKEN: &str = "fuzz-admin-token-0123456789abcdefghij";

fuzz_target!(|data: &[u8]| {
    match parse_revoke(data) {
        Ok(request) => {
            assert!(data.len() <= MAX_BODY_BYTES);
            assert!(!request.sub.is_empty() && request.sub.len() <= MAX_SUBJECT_LEN);
            assert!(request.channel.as_deref().is_none_or(ivs_token_worker::text::is_name));
            let issuer_ok = |i: &str| ivs_token_worker::identity::provider::check_issuer(i).is_ok();
            assert!(request.issuer.as_deref().is_none_or(issuer_ok));
            assert!(request.block_seconds.is_none_or(|n| (1..=MAX_BLOCK_SECONDS).contains(&n)));
        }
        Err(error) => {
            assert_eq!(error.status(), 400);
            let message = error.to_string();
            assert!(message.len() < 400, "{message}");
        }
    }
    let header = String::from_utf8_lossy(data);
    let token = AdminToken::new(TOKEN.as_bytes());
    let expected = header
        .trim()
        .split_once(' ')
        .is_some_and(|(scheme, rest)| scheme.eq_ignore_ascii_case("bearer") && rest.trim() == TOKEN);
    assert_eq!(token.authorizes(Some(&header)), expected);
});
