//! `PLAYBACK_PRIVATE_KEY` parsing (`key::PlaybackKey::parse`): SEC1 and PKCS#8 PEM, with EC
//! PARAMETERS, CRLF, base64 of PEM, bare base64 DER (every accepted form is in the seed corpus).
#![no_main]
use ivs_token_worker::key::PlaybackKey;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match PlaybackKey::parse(text) {
        Ok(key) => {
            // Whatever was accepted round-trips through both PEM forms to the same key.
            let public = key.public_key().to_der();
            let sec1 = PlaybackKey::parse(&key.to_sec1_pem()).expect("SEC1 round trip");
            let pkcs8 = PlaybackKey::parse(&key.to_pkcs8_pem()).expect("PKCS#8 round trip");
            assert_eq!(sec1.public_key().to_der(), public);
            assert_eq!(pkcs8.public_key().to_der(), public);
            let signature = key.sign(b"message");
            assert!(key.public_key().verify(b"message", &signature));
        }
        Err(error) => {
            // Reasons never quote key material: no run of 16+ base64 characters of the input
            // appears in the message. (Not "the input is not in the message": the fuzzer builds
            // inputs out of the message's own words, e.g. "th `ivs-token keyge".)
            let message = error.to_string();
            let base64 = |c: char| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=' | '-' | '_');
            for run in text.split(|c: char| !base64(c)).filter(|run| run.len() >= 16) {
                assert!(!message.contains(run), "{message}");
            }
        }
    }
});
