//! Which device a request comes from: `device::id::device_of` on a fuzzed `X-Device-Id` header and
//! `Cookie` header, and the `takeover` query value.
#![no_main]
use ivs_token_worker::device::id::{device_of, is_device_id, parse_takeover, DeviceSource, RANDOM_BYTES};
use ivs_token_worker::http::problem::Problem;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // The first line is the header (absent when empty), the rest the Cookie header.
    let (header, cookies) = text.split_once('\n').unwrap_or((&text, ""));
    let header = (!header.is_empty()).then_some(header);
    match device_of(header, Some(cookies), [7; RANDOM_BYTES]) {
        Ok(device) => {
            assert!(is_device_id(&device.id), "{:?}", device.id);
            match device.source {
                DeviceSource::Header => assert_eq!(Some(device.id.as_str()), header.map(str::trim)),
                DeviceSource::Cookie => assert!(header.is_none() && cookies.contains(device.id.as_str())),
                DeviceSource::New => assert!(header.is_none()),
            }
        }
        Err(error) => {
            assert!(header.is_some_and(|h| !is_device_id(h.trim())));
            assert_eq!(error.status(), 400);
            // The refused value is never echoed.
            if header.is_some_and(|h| h.len() >= 8 && !h.contains(char::is_whitespace)) {
                assert!(!error.to_string().contains(header.unwrap_or_default()));
            }
        }
    }
    match parse_takeover(Some(&text)) {
        Ok(value) => assert_eq!(text, if value { "true" } else { "false" }),
        Err(error) => assert_eq!(error.status(), 400),
    }
});
