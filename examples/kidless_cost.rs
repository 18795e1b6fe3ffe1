//! What a forged identity-provider token without `kid` costs the worker, natively (issue 16,
//! finding 2): microseconds per `GET /v1/token` request through `http::handle` against a provider
//! whose key document is `JWKS_FILE`, for
//!
//! - a request with no credential (the floor),
//! - a fresh forged kid-less RS256 token every request (its signature a random number below the
//!   modulus, so every verification is a full one),
//! - the same forged token again and again.
//!
//! ```sh
//! cargo run --release --example kidless_cost -- JWKS_FILE [REQUESTS]
//! ```
//!
//! `JWKS_FILE` is a key document of RSA keys of one size, e.g. 32 RSA-8192 keys (the most the
//! worker accepts); any JWKS generator will do. Prints one JSON line.

use ivs_token_worker::config::{names, Config, Settings};
use ivs_token_worker::encoding::b64url_encode;
use ivs_token_worker::http::{handle, Request};
use ivs_token_worker::isolate::IsolateState;
use ivs_token_worker::key::PlaybackKey;
use std::time::Instant;

const NOW: u64 = 1_800_000_000;
const ISSUER: &str = "https://id.example";

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("usage: kidless_cost JWKS_FILE [REQUESTS]");
    let requests: u32 = args.next().map_or(20, |n| n.parse().expect("REQUESTS is a number"));
    let jwks: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("JWKS_FILE is readable")).expect("JSON");
    let keys = jwks["keys"].as_array().expect("a JWKS").len();
    let modulus_bytes = ivs_token_worker::encoding::b64url_decode(jwks["keys"][0]["n"].as_str().expect("RSA keys"))
        .expect("base64url")
        .len();
    let key = PlaybackKey::from_scalar_bytes(&[0x42; 48]).expect("valid scalar");
    let providers = serde_json::json!({"idp": {"issuer": ISSUER, "audience": "tv-app", "jwks": jwks}});
    let settings = Settings::new()
        .with(names::PLAYBACK_PRIVATE_KEY, key.to_sec1_pem())
        .with(names::IDENTITY_PROVIDERS, providers.to_string())
        .with(names::CHANNELS, r#"{"demo":{"arn":"arn:aws:ivs:us-west-2:123456789012:channel/demo","playback_url":"https://x.live-video.net/demo.m3u8"}}"#);
    let config = Config::load(&settings).expect("the configuration loads");
    let isolate = IsolateState::new();

    let input = format!(
        "{}.{}",
        b64url_encode(br#"{"alg":"RS256","typ":"JWT"}"#),
        b64url_encode(
            serde_json::json!({"iss": ISSUER, "aud": "tv-app", "sub": "mallory", "exp": NOW + 600})
                .to_string()
                .as_bytes()
        )
    );
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut forged = || {
        // A leading zero byte keeps the number below any modulus of this size.
        let signature: Vec<u8> = (0..modulus_bytes)
            .map(|i| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                if i == 0 {
                    0
                } else {
                    state as u8
                }
            })
            .collect();
        format!("Bearer {input}.{}", b64url_encode(&signature))
    };
    let time = |authorization: &mut dyn FnMut() -> Option<String>| {
        let mut total = 0.0;
        let mut statuses = std::collections::BTreeSet::new();
        for _ in 0..requests {
            let header = authorization();
            let mut request = Request::new("GET", "/v1/token?channel=demo");
            request.authorization = header.as_deref();
            request.host = Some("tv.example");
            let start = Instant::now();
            let response = handle(&request, Ok(&config), &isolate, NOW, [7; 32]);
            total += start.elapsed().as_secs_f64();
            statuses.insert(response.status);
        }
        (total * 1e6 / f64::from(requests), statuses)
    };
    let (none_us, none_status) = time(&mut || None);
    let (fresh_us, fresh_status) = time(&mut || Some(forged()));
    let same = forged();
    let (same_us, same_status) = time(&mut || Some(same.clone()));
    println!(
        "{}",
        serde_json::json!({
            "keys": keys,
            "rsa_bits": modulus_bytes * 8,
            "requests": requests,
            "no_credential_us": none_us.round(),
            "fresh_forged_kidless_us": fresh_us.round(),
            "same_forged_kidless_us": same_us.round(),
            "statuses": [none_status, fresh_status, same_status],
        })
    );
}
