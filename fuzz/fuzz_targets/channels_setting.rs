//! The `CHANNELS` setting, through `config::Config::load` with every other setting fixed.
#![no_main]
use ivs_token_worker::config::{names, Config};
use ivs_token_worker::http::problem::Problem;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let settings = ivs_token_worker_fuzz::settings().with(names::CHANNELS, text);
    match Config::load(&settings) {
        Ok(config) => {
            for (name, channel) in &config.channels {
                assert!(ivs_token_worker::text::is_name(name));
                let _ = config.playback_settings(&Default::default()).token_origins(channel);
            }
        }
        Err(error) => {
            let message = error.to_string();
            assert!(message.starts_with("setting CHANNELS: "), "{message}");
            assert_eq!(error.status(), 500);
        }
    }
});
