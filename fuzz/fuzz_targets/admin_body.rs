//! The operator API: `POST /v1/admin/revoke`'s body (`device::admin::parse_revoke`), the viewer it
//! names resolved against a deployment with and without identity providers, and the bearer token
//! check on a fuzzed `Authorization` header.
#![no_main]
use ivs_token_worker::device::admin::{parse_revoke, AdminToken, MAX_BLOCK_SECONDS, MAX_BODY_BYTES};
use ivs_token_worker::http::problem::Problem;
use ivs_token_worker::identity::provider::{parse_providers, Provider};
use ivs_token_worker::identity::MAX_SUBJECT_LEN;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn providers() -> &'static [Provider] {
    static PROVIDERS: OnceLock<Vec<Provider>> = OnceLock::new();
    PROVIDERS.get_or_init(|| {
        parse_providers(
            r#"{"auth0": {"issuer": "https://tenant.auth0.com/", "audience": "a", "jwks_url": "https://tenant.auth0.com/jwks"},
                "idp": {"issuer": "https://id.example", "audience": "a", "jwks_url": "https://id.example/jwks"}}"#,
        )
        .unwrap()
    })
}

const TOKEN: &str = "fuzz-admin-token-0123456789abcdefghij";

fuzz_target!(|data: &[u8]| {
    match parse_revoke(data) {
        Ok(request) => {
            assert!(data.len() <= MAX_BODY_BYTES);
            assert!(request.channel.as_deref().is_none_or(ivs_token_worker::text::is_name));
            let issuer_ok = |i: &str| ivs_token_worker::identity::provider::check_issuer(i).is_ok();
            let viewer = &request.viewer;
            assert!(!viewer.sub.is_empty() && viewer.sub.chars().count() <= MAX_SUBJECT_LEN);
            assert!(viewer.issuer.as_deref().is_none_or(issuer_ok));
            for (providers, cookies) in [(providers(), true), (providers(), false), (&[][..], true)] {
                match viewer.resolve(providers, cookies) {
                    Ok(resolved) => {
                        assert_eq!(resolved.sub, viewer.sub);
                        // A provider viewer's issuer is the named provider's; no provider, no issuer.
                        if let Some(name) = &viewer.provider {
                            let provider = providers.iter().find(|p| &p.name == name).unwrap();
                            assert_eq!(resolved.issuer.as_deref(), Some(provider.issuer.as_str()));
                        }
                        assert_eq!(resolved.issuer.is_none(), viewer.provider.is_none() && viewer.issuer.is_none());
                        // With providers, a bare subject is never taken as the cookie's viewer.
                        assert!(providers.is_empty() || resolved.issuer.is_some() || viewer.session_cookie);
                    }
                    Err(error) => {
                        assert_eq!(error.status(), 400);
                        assert!(error.to_string().len() < 600);
                    }
                }
            }
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
