//! Writes the seed corpora (`fuzz/seeds/TARGET/`): every accepted form of each input, as the test
//! suites use them, plus the near misses they test. `fuzz/run.sh` merges them into the committed,
//! minimized corpora (`fuzz/corpus/TARGET/`). Run: `cargo run --bin seeds -- fuzz/seeds`.
use ivs_token_worker_fuzz as fx;
use serde_json::json;
use std::path::Path;

fn write(dir: &Path, target: &str, seeds: &[String]) {
    write_bytes(dir, target, seeds)
}

fn write_bytes<S: AsRef<[u8]>>(dir: &Path, target: &str, seeds: &[S]) {
    let dir = dir.join(target);
    std::fs::create_dir_all(&dir).expect("seed directory");
    for (i, seed) in seeds.iter().enumerate() {
        std::fs::write(dir.join(format!("seed-{i:03}")), seed.as_ref()).expect("seed file");
    }
}

/// The base64 body of a one-block PEM, on one line (bare base64 DER).
fn der_base64(pem: &str) -> String {
    pem.lines().filter(|l| !l.starts_with("-----")).collect()
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn main() {
    let root = std::env::args().nth(1).unwrap_or_else(|| "seeds".into());
    let dir = Path::new(&root);
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");

    let alice = fx::session_cookie("alice", false, &[], None);
    let old = fx::session_cookie("carol", true, &["members"], Some(&["demo", "vip"]));
    let idp = fx::provider_token(&json!({"alg": "ES384", "kid": "k1", "typ": "JWT"}), &fx::provider_claims("bob"));
    let mapped = fx::provider_token(&json!({"alg": "ES384", "kid": "k2"}), &fx::mapped_claims("dave"));
    let mut expired_claims = fx::provider_claims("eve");
    expired_claims["exp"] = json!(fx::NOW - 3600);
    let expired = fx::provider_token(&json!({"alg": "ES384", "kid": "k1"}), &expired_claims);
    let unsigned = |header: serde_json::Value| {
        let b = |v: &serde_json::Value| ivs_token_worker::encoding::b64url_encode(v.to_string().as_bytes());
        format!("{}.{}.", b(&header), b(&fx::provider_claims("mallory")))
    };
    let x509_token = std::fs::read_to_string(repo.join("tests/fixtures/x509/token.jwt")).unwrap_or_default();
    // RFC 7515 appendix A.2 (RS256) and A.3 (ES256): the fixtures the unit tests use.
    let rfc = |name: &str| -> (String, String) {
        let text = std::fs::read_to_string(repo.join("tests/fixtures/jws").join(name)).unwrap_or_default();
        let value: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        (value["jwk"].to_string(), value["jws"].as_str().unwrap_or_default().to_owned())
    };
    let (es256_jwk, es256_jws) = rfc("rfc7515-a3-es256.json");
    let (rs256_jwk, rs256_jws) = rfc("rfc7515-a2-rs256.json");

    write(
        dir,
        "cookie_header",
        &[
            format!("other=1; session={alice}"),
            format!("session=stale.garbage.value; session={alice}"),
            format!("session=\"{old}\"; theme=dark"),
            format!("id_token={idp}; session={alice}"),
            "a=1; b=2;; =; session; session=".into(),
            "  session = \"q\" ; x=a=b".into(),
        ],
    );
    write(
        dir,
        "session_cookie",
        &[
            alice.clone(),
            old.clone(),
            fx::session_cookie("x".repeat(256).as_str(), false, &["a", "b"], Some(&["*"])),
            ivs_token_worker::identity::session_cookie::mint(
                &ivs_token_worker::identity::session_cookie::SessionClaims::new("late", fx::NOW - 7200, 3600),
                fx::SESSION_SECRET.as_bytes(),
            ),
            "a.b.c".into(),
            "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIn0.".into(),
        ],
    );
    write(
        dir,
        "provider_jwt",
        &[
            idp.clone(),
            mapped.clone(),
            expired,
            unsigned(json!({"alg": "none"})),
            unsigned(json!({"alg": "HS256", "kid": "k1"})),
            unsigned(json!({"alg": "ES384", "jku": "https://evil.example/jwks"})),
            unsigned(json!({"alg": "ES384", "crit": ["exp"]})),
            unsigned(json!({"alg": "ES384", "kid": "../../etc/passwd"})),
            es256_jws,
            rs256_jws,
            x509_token.trim().to_owned(),
        ],
    );
    let certificates = std::fs::read_to_string(repo.join("tests/fixtures/x509/certificates.json")).unwrap_or_default();
    write(
        dir,
        "key_document",
        &[
            json!({"keys": [fx::provider_jwk("k1"), fx::provider_jwk("k2")]}).to_string(),
            format!(r#"{{"keys":[{es256_jwk},{rs256_jwk}]}}"#),
            format!(r#"{{"keys":[{rs256_jwk}],"public_cert":{{"kid":"x","cert":"-----BEGIN CERTIFICATE-----"}}}}"#),
            certificates,
            r#"{"keys":[{"kty":"oct","k":"c2VjcmV0"},{"kty":"EC","crv":"P-521"}]}"#.into(),
        ],
    );
    let conftest_channels = json!({
        "demo": {"arn": "arn:aws:ivs:us-west-2:123456789012:channel/demo1", "playback_url": "https://play.example.net/demo.m3u8", "title": "Demo"},
        "vip": {"arn": "arn:aws:ivs:us-west-2:123456789012:channel/vip1", "playback_url": "https://play.example.net/vip.m3u8",
                "single_use": true, "strict_origin": true, "allowed_origins": ["https://app.example"], "max_resolution": "HD"},
        "local": {"arn": "arn:aws:ivs:eu-west-1:123456789012:channel/AbC-123", "playback_url": "http://127.0.0.1:9000/x.m3u8",
                  "allowed_origins": "https://a.example, https://*.b.example", "blocked_countries": ["fr", "DE"]}
    });
    write(dir, "channels_setting", &[
        fx::channels().to_string(),
        conftest_channels.to_string(),
        serde_json::to_string(&fx::channels().to_string()).unwrap_or_default(),
        r#"{"x": {"arn": "arn:aws:ivs:us-west-2:123456789012:channel/a", "playback_url": "https://a/b.m3u8", "strict_origin": true}}"#.into(),
        "{}".into(),
    ]);
    write(dir, "identity_providers_setting", &[
        fx::identity_providers().to_string(),
        json!({"members": {"preset": "cognito", "region": "us-east-1", "user_pool_id": "us-east-1_AbC123xyz", "client_id": "1example23456789abcdefghij"}}).to_string(),
        json!({"auth0": {"preset": "auth0", "domain": "your-tenant.us.auth0.com", "audience": "https://tv.example.com/api", "groups_claim": "https://tv.example.com/roles"}}).to_string(),
        json!({"access": {"preset": "cloudflare-access", "team_domain": "yourteam", "aud": "4714c1358e65fe4b408ad6d432a5f878f08194bdb4752441fd56faefa9b2b6f2"}}).to_string(),
        json!({"firebase": {"preset": "firebase", "project_id": "your-project"}, "supabase": {"preset": "supabase", "project_ref": "abcdefghijklmnop"},
               "clerk": {"preset": "clerk", "frontend_api": "clerk.your-domain.com", "authorized_parties": ["https://www.your-domain.com"]}}).to_string(),
        json!({"local": {"issuer": "http://127.0.0.1:9999", "audience": "a", "jwks_url": "http://127.0.0.1:9999/jwks", "token_from": ["bearer", "cookie:id_token"]}}).to_string(),
    ]);
    write(dir, "stages_setting", &[
        fx::stages().to_string(),
        serde_json::to_string(&fx::stages().to_string()).unwrap_or_default(),
        r#"{"x": {"arn": "arn:aws:ivs:us-east-1:123456789012:stage/a", "public_key_arn": "arn:aws:ivs:eu-west-1:123456789012:public-key/b", "whip_url": "http://x"}}"#.into(),
    ]);
    write(
        dir,
        "device_limits_setting",
        &[
            json!({"default": 2}).to_string(),
            json!({"default": 2, "groups": {"members": 3, "staff": 5}, "on_limit": "evict-oldest", "idle_seconds": 90})
                .to_string(),
            serde_json::to_string(&json!({"default": 1, "on_limit": "refuse", "idle_seconds": 3600}).to_string())
                .unwrap_or_default(),
            json!({"default": 100, "groups": {"": 1, "kids": 0}, "idle_seconds": 4}).to_string(),
            json!({"default": "2", "on_limit": "evict", "limit": 3}).to_string(),
            "{}".into(),
        ],
    );
    write(
        dir,
        "device_id",
        &[
            "tv-livingroom-01\n".into(),
            "\nsession=x; ivs_device=Zm9vYmFyYmF6cXV4LWRldmljZQ".into(),
            "\nivs_device=bad; ivs_device=\"quoted-device-id\"".into(),
            "bad id!\nivs_device=cookie-device-1".into(),
            format!("{}\n", "x".repeat(65)),
            "true".into(),
        ],
    );
    write(
        dir,
        "admin_body",
        &[
            json!({"sub": "alice@example.com"}).to_string(),
            json!({"sub": "alice@example.com", "channel": "demo", "block_seconds": 3600}).to_string(),
            json!({"sub": "bob", "issuer": "https://id.example/", "channel": "demo"}).to_string(),
            json!({"sub": "", "channel": "Demo", "block_seconds": 0, "extra": true}).to_string(),
            "Bearer fuzz-admin-token-0123456789abcdefghij".into(),
            "bearer  fuzz-admin-token-0123456789abcdefghi".into(),
        ],
    );
    let arn = |id: &str| format!("arn:aws:ivs:us-west-2:123456789012:channel/{id}");
    write_bytes(dir, "revocation_answer", &[
        b"\x00\n{}".to_vec(),
        [b"\x00\n".to_vec(), json!({"errors": [{"channelArn": arn("b"), "viewerId": "5bdcc146bf60754e6a042426089575c75a003f08", "code": "ThrottlingException", "message": "Rate exceeded"},
                                                    {"channelArn": arn("c"), "viewerId": "5bdcc146bf60754e6a042426089575c75a003f08", "code": "ValidationException", "message": "bad"}]}).to_string().into_bytes()].concat(),
        b"\x04ThrottlingException:http://internal.amazon.com/coral/com.amazonaws.ivs/\n{\"message\":\"Rate exceeded\"}".to_vec(),
        b"\x01\n{\"__type\":\"com.amazonaws.ivs#ValidationException\",\"message\":\"m\"}".to_vec(),
        b"\x05\n<html>bad gateway</html>".to_vec(),
    ]);
    let key = fx::playback_key();
    let sec1 = key.to_sec1_pem();
    let pkcs8 = key.to_pkcs8_pem();
    write(
        dir,
        "private_key",
        &[
            sec1.clone(),
            format!("-----BEGIN EC PARAMETERS-----\nBgUrgQQAIg==\n-----END EC PARAMETERS-----\n{sec1}"),
            pkcs8.clone(),
            sec1.replace('\n', "\r\n"),
            base64(sec1.as_bytes()),
            base64(pkcs8.as_bytes()),
            der_base64(&sec1),
            der_base64(&pkcs8),
            key.public_key_pem(),
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n".into(),
        ],
    );
    write(
        dir,
        "request_target",
        &[
            "/v1/token?channel=demo".into(),
            "/v1/token?a=1&channel=de%6do&channel=vip".into(),
            "/dev/login?sub=carol&return_to=%2Fwatch%2Fvip&channels=a,,b".into(),
            "/watch/demo?x=%e2%82%ac+%ff%".into(),
            "?".into(),
        ],
    );
    write_bytes(dir, "comb", &comb_edge_scalars());
    // Structured input: raw bytes that `arbitrary` turns into requests; the fuzzer grows the rest.
    write(
        dir,
        "handle_request",
        &[
            String::from_utf8_lossy(&[1u8; 64]).into_owned(),
            String::from_utf8_lossy(&(0u8..=127).collect::<Vec<u8>>()).into_owned(),
        ],
    );
}

/// The comb's edge scalars, big-endian: 0, 1, 2, n-2, n-1, n, n+1, (n-1)/2, (n+1)/2, 2^384-1,
/// and 2^k-1, 2^k, 2^k+1 at every window boundary (k a multiple of 7) and the top bits.
fn comb_edge_scalars() -> Vec<[u8; 48]> {
    use p384::elliptic_curve::bigint::U384;
    use p384::elliptic_curve::Curve;
    let n: U384 = *p384::NistP384::ORDER;
    let one = U384::ONE;
    let half = n.shr_vartime(1);
    let mut values = vec![
        U384::ZERO,
        one,
        one.wrapping_add(&one),
        n.wrapping_sub(&one).wrapping_sub(&one),
        n.wrapping_sub(&one),
        n,
        n.wrapping_add(&one),
        half,
        half.wrapping_add(&one),
        U384::MAX,
    ];
    for k in (0..384).step_by(7).chain(380..384) {
        let p = one.shl_vartime(k);
        values.extend([p.wrapping_sub(&one), p, p.wrapping_add(&one)]);
    }
    values.iter().map(|v| v.to_be_bytes().into()).collect()
}
