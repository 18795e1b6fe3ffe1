//! The `DEVICE_LIMITS` setting, through `config::Config::load` with every other setting fixed
//! (the AWS key it needs included; no `ADMIN_API_TOKEN`, which blank `DEVICE_LIMITS` would refuse).
#![no_main]
use ivs_token_worker::config::{names, Config};
use ivs_token_worker::device::settings::{IDLE_RANGE, LIMIT_RANGE};
use ivs_token_worker::http::problem::Problem;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let settings =
        ivs_token_worker_fuzz::device_settings().with(names::DEVICE_LIMITS, text).with(names::ADMIN_API_TOKEN, "");
    match Config::load(&settings) {
        Ok(config) => {
            // Blank text is an unset setting: no limits, no limited channel.
            let Some(devices) = &config.devices else {
                assert!(text.trim().is_empty());
                assert!(config.limited_channels().is_empty());
                return;
            };
            let limits = &devices.limits;
            assert!(LIMIT_RANGE.contains(&limits.default) && IDLE_RANGE.contains(&limits.idle_seconds));
            assert!(limits.groups.values().all(|n| LIMIT_RANGE.contains(n)));
            let all: Vec<String> = limits.groups.keys().cloned().collect();
            let policy = limits.policy_for(&all);
            assert!(LIMIT_RANGE.contains(&policy.limit) && policy.limit >= *limits.groups.values().max().unwrap_or(&1));
            assert_eq!(limits.limit_for(&[]), limits.default);
            assert!(config.limited_channels().iter().all(|c| config.channels[c.name].viewer_binding));
        }
        Err(error) => {
            let message = error.to_string();
            assert!(message.starts_with("setting DEVICE_LIMITS: "), "{message}");
            assert_eq!(error.status(), 500);
        }
    }
});
