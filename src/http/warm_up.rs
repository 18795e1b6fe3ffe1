//! The startup warm-up: one complete `/v1/token` request on throw-away settings, so the first real
//! request does not pay for building tables or for V8 compiling the signing and session paths.

use crate::{config, http, identity, isolate, key};

/// Exercise the expensive one-time paths with throw-away inputs: p384's lazily built basepoint
/// table, key and settings parsing, session verification, claims, signing and the JSON answer
/// (one complete `/v1/token` request). The Workers layer calls it at isolate startup, so the first
/// real request does not pay for building tables or for V8 compiling these paths. It touches no
/// real configuration and no secret.
pub fn warm_up() {
    std::hint::black_box(warm_up_request());
}

/// The warm-up's complete `/v1/token` request on throw-away settings, and its answer.
fn warm_up_request() -> Option<http::Response> {
    let key = key::PlaybackKey::from_scalar_bytes(&[0x5a; 48]).ok()?;
    let secret = "warm-up-session-secret-not-a-real-one";
    let settings = config::Settings::new()
        .with(config::names::PLAYBACK_PRIVATE_KEY, key.to_sec1_pem())
        .with(config::names::SESSION_SECRET, secret)
        .with(
            config::names::CHANNELS,
            r#"{"warm-up":{"arn":"arn:aws:ivs:us-west-2:000000000000:channel/warmup","playback_url":"https://warm-up.live-video.net/w.m3u8"}}"#,
        );
    let config = config::Config::load(&settings).ok()?;
    let cookie = format!(
        "session={}",
        identity::session_cookie::mint(
            &identity::session_cookie::SessionClaims::new("warm-up", 0, 60),
            secret.as_bytes()
        )
    );
    let mut request = http::Request::new("GET", "/v1/token?channel=warm-up");
    request.cookie = Some(&cookie);
    Some(http::handle(&request, Ok(&config), &isolate::IsolateState::new(), 1, [0; 32]))
}

#[cfg(test)]
mod tests {
    #[test]
    fn warm_up_serves_a_complete_token_request() {
        // If the warm-up ever stopped reaching the signer, it would silently stop warming anything.
        let response = super::warm_up_request().expect("the warm-up settings load");
        assert_eq!(response.status, 200, "{}", response.body);
        let body: serde_json::Value = serde_json::from_str(&response.body).unwrap();
        assert_eq!(body["token"].as_str().unwrap().split('.').count(), 3);
        super::warm_up();
    }
}
