//! The `IDENTITY_PROVIDERS` setting: `identity::provider::parse_providers`, then the whole
//! `config::Config::load` with it.
#![no_main]
use ivs_token_worker::config::{names, Config};
use ivs_token_worker::identity::provider::parse_providers;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match parse_providers(text) {
        Ok(providers) => {
            for provider in &providers {
                assert!(ivs_token_worker::text::is_name(&provider.name));
                assert!(provider.jwks_url.is_some() || provider.inline_keys.is_some(), "a provider without keys");
            }
        }
        Err(error) => assert!(error.to_string().starts_with("setting IDENTITY_PROVIDERS: "), "{error}"),
    }
    let settings = ivs_token_worker_fuzz::settings().with(names::IDENTITY_PROVIDERS, text);
    if let Err(error) = Config::load(&settings) {
        assert!(error.to_string().starts_with("setting "), "{error}");
    }
});
