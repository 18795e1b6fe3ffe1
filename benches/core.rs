//! Native micro-benchmarks of the core (plain harness: medians of repeated timed batches).
//! `cargo bench --bench core` prints a table; `-- --json` prints JSON for bench/run.py.

use ivs_token_worker::channel::policy::issue;
use ivs_token_worker::config::{names, Config, Settings};
use ivs_token_worker::http::{handle, Request};
use ivs_token_worker::identity::session_cookie::{mint, SessionClaims};
use ivs_token_worker::identity::Session;
use ivs_token_worker::isolate::IsolateState;
use ivs_token_worker::key::{comb, PlaybackKey};
use p384::elliptic_curve::ops::Reduce;
use p384::elliptic_curve::sec1::ToSec1Point;
use std::hint::black_box;
use std::time::Instant;

const NOW: u64 = 1_800_000_000;
const SECRET: &str = "bench-session-secret-0123456789abcdef";

/// Median microseconds per call of `f`, over `batches` batches sized to ~20 ms each.
fn median_us(mut f: impl FnMut() -> usize, batches: usize) -> f64 {
    let start = Instant::now();
    let mut calibrate = 0;
    while start.elapsed().as_millis() < 20 {
        black_box(f());
        calibrate += 1;
    }
    let per_batch = calibrate.max(1);
    let mut samples: Vec<f64> = (0..batches)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..per_batch {
                black_box(f());
            }
            t.elapsed().as_secs_f64() * 1e6 / per_batch as f64
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn main() {
    let json = std::env::args().any(|a| a == "--json");
    let batches = if std::env::args().any(|a| a == "--quick") { 3 } else { 15 };
    let key = PlaybackKey::from_scalar_bytes(&[0x42; 48]).expect("valid scalar");
    let sec1 = key.to_sec1_pem();
    let params = format!("-----BEGIN EC PARAMETERS-----\nBgUrgQQAIg==\n-----END EC PARAMETERS-----\n{sec1}");
    let pkcs8 = key.to_pkcs8_pem();
    let wrapped = <base64ct::Base64 as base64ct::Encoding>::encode_string(sec1.as_bytes());
    let settings = Settings::new()
        .with(names::PLAYBACK_PRIVATE_KEY, sec1.clone())
        .with(names::SESSION_SECRET, SECRET)
        .with(names::CHANNELS, r#"{"demo":{"arn":"arn:aws:ivs:us-west-2:123456789012:channel/demo","playback_url":"https://x.live-video.net/demo.m3u8"}}"#);
    let config = Config::load(&settings).expect("bench configuration loads");
    let state = IsolateState::new();
    let channel = &config.channels["demo"];
    let session = Session::new("viewer", NOW + 3600);
    let cookie = mint(&SessionClaims::new("viewer", NOW, 3600), SECRET.as_bytes());
    let cookie_header = format!("session={cookie}");

    let mut n = 0u64;
    let mut k = [0x3cu8; 48];
    let rows: Vec<(&str, f64)> = vec![
        ("key parse: SEC1 PEM", median_us(|| PlaybackKey::parse(&sec1).map(|_| 1).unwrap_or(0), batches)),
        ("key parse: SEC1 + EC PARAMETERS", median_us(|| PlaybackKey::parse(&params).map(|_| 1).unwrap_or(0), batches)),
        ("key parse: PKCS#8 PEM", median_us(|| PlaybackKey::parse(&pkcs8).map(|_| 1).unwrap_or(0), batches)),
        ("key parse: base64 of PEM", median_us(|| PlaybackKey::parse(&wrapped).map(|_| 1).unwrap_or(0), batches)),
        ("configuration load (key + settings)", median_us(|| Config::load(&settings).map(|_| 1).unwrap_or(0), batches)),
        (
            "k·G: comb (this crate)",
            median_us(
                || {
                    n += 1;
                    k[0] = n as u8;
                    k[1] = (n >> 8) as u8;
                    comb::mul_base_affine(&k).map(|p| p.0[0] as usize).unwrap_or(0)
                },
                batches,
            ),
        ),
        (
            "k·G: p384 precomputed table",
            median_us(
                || {
                    n += 1;
                    k[0] = n as u8;
                    let s = <p384::Scalar as Reduce<p384::U384>>::reduce(&p384::U384::from_be_slice(&k));
                    (p384::ProjectivePoint::GENERATOR * s).to_affine().to_sec1_point(false).as_bytes()[1] as usize
                },
                batches,
            ),
        ),
        ("comb table build (w=7)", median_us(|| comb::Table::build().size_bytes(), batches.min(5))),
        (
            "ES384 sign",
            median_us(
                || {
                    n += 1;
                    key.sign(&n.to_le_bytes())[0] as usize
                },
                batches,
            ),
        ),
        // `now` stays fixed: the session must stay valid, and viewer-bound tokens are never
        // reused, so every call signs afresh.
        (
            "mint (claims + sign + encode)",
            median_us(
                || issue(&config.playback_settings(&state.tokens), channel, &session, NOW, [0; 16]).token.len(),
                batches,
            ),
        ),
        (
            "session cookie verification",
            median_us(
                || config.identity.sessions.as_ref().unwrap().verify(&cookie, NOW).map(|s| s.sub.len()).unwrap_or(0),
                batches,
            ),
        ),
        (
            "GET /v1/token core path",
            median_us(
                || {
                    let mut request = Request::new("GET", "/v1/token?channel=demo");
                    request.cookie = Some(&cookie_header);
                    let response = handle(&request, Ok(&config), &state, NOW, [0; 32]);
                    assert_eq!(response.status, 200, "the benchmark must time real tokens: {}", response.body);
                    response.body.len()
                },
                batches,
            ),
        ),
    ];
    if json {
        let map: serde_json::Map<String, serde_json::Value> =
            rows.iter().map(|(k, v)| ((*k).to_owned(), serde_json::json!(v))).collect();
        println!("{}", serde_json::Value::Object(map));
    } else {
        println!("{:<40} {:>12}", "operation (native, release)", "µs (median)");
        for (name, us) in rows {
            println!("{name:<40} {us:>12.1}");
        }
    }
}
