//! The HTTP contract, as pure functions: a request's relevant parts in, a complete response out.
//! The worker layer only copies fields between these types and the Workers runtime, so every
//! status, header and body here is tested natively.
//!
//! | module | routes |
//! |---|---|
//! | this one | dispatch, `/healthz`, `/v1/public-key` |
//! | [`route`] | the one place that knows the paths: a path resolved into its route |
//! | [`plan`] | a request resolved once: what it needs from outside the core, in order, then its answer |
//! | [`request`] | the request as the core sees it, query parsing, the presented session |
//! | [`problem`] | the one table from errors to HTTP status, problem slug and title |
//! | [`response`] | responses, problem documents, the log line |
//! | [`token`] | `/v1/token`: the JSON token API, CORS |
//! | [`openapi`] | `/openapi.json`: the HTTP contract as an OpenAPI 3.1 document |
//! | [`chat`] | `/v1/chat-token`: IVS Chat tokens as the chat SDK's `tokenProvider` wants them |
//! | [`stage`] | `/v1/stage-token`: participant tokens as JSON; `/stage/NAME`: the stage page |
//! | [`watch`] | `/watch/NAME`: the watch page; `/dev/login`: local sign-in |
//! | [`signin`] | `/login`, `/callback/PROVIDER`, `/logout`: sign-in at the edge (OpenID Connect) |
//! | [`device`] | device limits: the ledger step of token requests, `/v1/heartbeat`, `/v1/admin/revoke`, `/v1/admin/unblock`, `/v1/admin/devices` |
//! | [`index`] | `/`: the local dev index of channels (404 elsewhere) |
//! | [`warm_up`] | the startup warm-up: one whole `/v1/token` request on throw-away settings |

pub mod chat;
pub mod device;
pub mod index;
pub mod openapi;
pub mod plan;
pub mod problem;
pub mod request;
pub mod response;
pub mod route;
pub mod signin;
pub mod stage;
pub mod token;
pub mod warm_up;
pub mod watch;

pub use crate::device::object::{LedgerAnswer, LedgerExchange};
pub use device::LEDGER_BINDING;
pub use plan::{Need, Plan};
pub use request::{percent_decode, query_param, session_of, Request, DEV_COUNTRY_HEADER};
pub use response::{log_line, Response};
pub use route::Route;

use crate::config::Config;
use crate::error::Error;
use crate::isolate::IsolateState;

/// Methods of the read-only routes (`/healthz`, `/v1/public-key`).
const HEALTH_METHODS: &str = "GET, HEAD";

/// Answer one request. `config` is the loaded configuration or the error that loading it gave;
/// `state` is the isolate's runtime state beside it (its caches); `now` is Unix seconds; `random`
/// is fresh randomness for this request.
pub fn handle(
    request: &Request<'_>,
    config: Result<&Config, &Error>,
    state: &IsolateState,
    now: u64,
    random: [u8; 32],
) -> Response {
    let mut response = match Route::of(request.path) {
        Route::Health => health(request, config, state, now),
        Route::Token => token::token_route(request, config, state, now, random),
        Route::StageToken => stage::stage_token_route(request, config, state, now, random),
        Route::ChatToken => chat::chat_token_route(request, config, state, now),
        Route::PublicKey => public_key_route(request, config),
        Route::Heartbeat => device::heartbeat_route(request, config, state, now),
        Route::AdminRevoke => device::revoke_route(request, config),
        Route::AdminDevices => device::devices_route(request, config),
        Route::AdminUnblock => device::unblock_route(request, config),
        Route::OpenApi => openapi::openapi_route(request, config),
        Route::DevLogin => watch::dev_login_route(request, config, now),
        Route::Login => signin::login_route(request, config, state, now, random),
        Route::Callback(provider) => signin::callback_route(request, config, state, provider, now, random),
        Route::Logout => signin::logout_route(request, config, state, now, random),
        Route::Index => index::index_route(request, config, random),
        Route::Watch(name) => watch::watch_route(request, config, state, name, now, random),
        Route::Stage(name) => stage::stage_page_route(request, config, state, name, now, random),
        // Answered by the Workers layer before the core; the core itself has nothing there.
        #[cfg(feature = "bench")]
        Route::Bench(_) => Response::problem(&Error::NotFound),
        Route::Unknown => Response::problem(&Error::NotFound),
    };
    if request.method == "HEAD" {
        response.body.clear();
    }
    response
}

fn health(request: &Request<'_>, config: Result<&Config, &Error>, state: &IsolateState, now: u64) -> Response {
    if !matches!(request.method, "GET" | "HEAD") {
        return Response::problem(&Error::MethodNotAllowed { allow: HEALTH_METHODS });
    }
    match config.map(|config| (config, config.identity.health(&state.identity, now))) {
        // Bindings the worker does not read are listed (issue 24), but do not make it unhealthy.
        Ok((config, Ok(()))) if !config.unknown_settings.is_empty() => {
            Response::json(200, serde_json::json!({"status": "ok", "unknown_settings": config.unknown_settings}))
        }
        Ok((_, Ok(()))) => Response::json(200, serde_json::json!({"status": "ok"})),
        // Unhealthy, but 503 rather than 500: the probe itself worked.
        Ok((_, Err(error))) => Response::problem_with_status(&error, 503),
        Err(error) => Response::problem_with_status(error, 503),
    }
}

/// The SPKI PEM of the signing key, for `aws ivs import-playback-key-pair`. Public by nature.
fn public_key_route(request: &Request<'_>, config: Result<&Config, &Error>) -> Response {
    if !matches!(request.method, "GET" | "HEAD") {
        return Response::problem(&Error::MethodNotAllowed { allow: HEALTH_METHODS });
    }
    match config {
        Ok(config) => Response::new(
            200,
            vec![
                ("content-type", "text/plain; charset=utf-8".into()),
                ("cache-control", "public, max-age=300".into()),
                ("x-content-type-options", "nosniff".into()),
            ],
            config.key.public_key_pem(),
        ),
        Err(error) => Response::problem(error),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::config::{
        names,
        tests::{settings, SESSION_SECRET},
    };
    use crate::identity::session_cookie::{mint, SessionClaims};

    pub(crate) const NOW: u64 = 1_800_000_000;

    pub(crate) fn config() -> Config {
        Config::load(&settings().with(names::ALLOWED_ORIGINS, "https://app.example, https://*.example.org")).unwrap()
    }

    pub(crate) fn cookie_for(claims: &SessionClaims) -> String {
        format!("other=1; session={}", mint(claims, SESSION_SECRET.as_bytes()))
    }

    pub(crate) fn get(
        config: &Config,
        state: &IsolateState,
        target: &str,
        cookie: Option<&str>,
        origin: Option<&str>,
    ) -> Response {
        let mut request = Request::new("GET", target);
        request.cookie = cookie;
        request.origin = origin;
        handle(&request, Ok(config), state, NOW, [9; 32])
    }

    pub(crate) fn body(response: &Response) -> serde_json::Value {
        serde_json::from_str(&response.body).unwrap()
    }

    #[test]
    fn problems_have_the_right_status_and_shape() {
        let config = config();
        let state = IsolateState::new();
        let alice = cookie_for(&SessionClaims::new("alice", NOW, 3600));
        let mut demo_only = SessionClaims::new("bob", NOW, 3600);
        demo_only.channels = Some(vec!["demo".into()]);
        let bob = cookie_for(&demo_only);
        let expired = cookie_for(&SessionClaims::new("carol", NOW - 7200, 3600));
        let cases: Vec<(&str, Option<&str>, u16, &str)> = vec![
            ("/v1/token", Some(&alice), 400, "bad-request"),
            ("/v1/token?channel=", Some(&alice), 400, "bad-request"),
            ("/v1/token?channel=Bad%20Name", Some(&alice), 400, "bad-request"),
            ("/v1/token?channel=demo&channel=vip", Some(&alice), 400, "bad-request"),
            ("/v1/token?channel=%ff", Some(&alice), 400, "bad-request"),
            ("/v1/token?channel=demo", None, 401, "session-missing"),
            ("/v1/token?channel=demo", Some("session="), 401, "session-invalid"),
            ("/v1/token?channel=demo", Some(&expired), 401, "session-expired"),
            ("/v1/token?channel=vip", Some(&bob), 403, "channel-forbidden"),
            ("/v1/token?channel=nope", Some(&alice), 404, "unknown-channel"),
            ("/nope", Some(&alice), 404, "not-found"),
        ];
        for (target, cookie, status, slug) in cases {
            let response = get(&config, &state, target, cookie, None);
            assert_eq!(response.status, status, "{target}: {}", response.body);
            assert_eq!(response.header("content-type"), Some("application/problem+json"));
            let json = body(&response);
            assert_eq!(json["type"], format!("urn:ivs-token-worker:problem:{slug}"), "{target}");
            assert_eq!(json["status"], status);
            assert!(json["title"].is_string() && json["detail"].is_string());
            assert!(!response.body.contains("eyJ"), "no token or cookie in problems: {}", response.body);
        }
    }

    #[test]
    fn methods() {
        let config = config();
        let state = IsolateState::new();
        for (method, path, allow) in [
            ("POST", "/v1/token", "GET, HEAD, OPTIONS"),
            ("DELETE", "/healthz", "GET, HEAD"),
            ("PUT", "/openapi.json", "GET, HEAD"),
        ] {
            let response = handle(&Request::new(method, path), Ok(&config), &state, NOW, [0; 32]);
            assert_eq!(response.status, 405);
            assert_eq!(response.header("allow"), Some(allow));
        }
    }

    #[test]
    fn health_reveals_no_settings() {
        let config = config();
        let state = IsolateState::new();
        let ok = handle(&Request::new("GET", "/healthz"), Ok(&config), &state, NOW, [0; 32]);
        assert_eq!((ok.status, ok.body.as_str()), (200, r#"{"status":"ok"}"#));
        let head = handle(&Request::new("HEAD", "/healthz"), Ok(&config), &state, NOW, [0; 32]);
        assert_eq!((head.status, head.body.as_str()), (200, ""));
        let error = Config::load(&settings().with(names::SESSION_SECRET, "")).unwrap_err();
        let bad = handle(&Request::new("GET", "/healthz"), Err(&error), &IsolateState::new(), NOW, [0; 32]);
        assert_eq!(bad.status, 503);
        assert_eq!(body(&bad)["status"], 503);
        let misconfigured =
            handle(&Request::new("GET", "/v1/token?channel=demo"), Err(&error), &IsolateState::new(), NOW, [0; 32]);
        assert_eq!(misconfigured.status, 500);
        assert!(body(&misconfigured)["detail"].as_str().unwrap().contains("SESSION_SECRET"));
    }

    #[test]
    fn health_lists_unknown_settings_and_refuses_misspelled_ones() {
        let bindings = ["PLAYBACK_PRIVATE_KEY", "SESSION_SECRET", "CHANNELS", "DEVICE_LEDGER", "FOO_BAR"];
        let config = Config::load(&settings().with_bindings(bindings)).unwrap();
        let state = IsolateState::new();
        let ok = handle(&Request::new("GET", "/healthz"), Ok(&config), &state, NOW, [0; 32]);
        assert_eq!((ok.status, ok.body.as_str()), (200, r#"{"status":"ok","unknown_settings":["FOO_BAR"]}"#));
        let error = Config::load(&settings().with_bindings(["DEVICE_LIMIT"])).unwrap_err();
        let bad = handle(&Request::new("GET", "/healthz"), Err(&error), &IsolateState::new(), NOW, [0; 32]);
        assert_eq!(bad.status, 503);
        assert!(body(&bad)["detail"].as_str().unwrap().contains("did you mean `DEVICE_LIMITS`?"), "{}", bad.body);
    }

    #[test]
    fn public_key_route_serves_spki_pem() {
        let config = config();
        let state = IsolateState::new();
        let response = handle(&Request::new("GET", "/v1/public-key"), Ok(&config), &state, NOW, [0; 32]);
        assert_eq!(response.status, 200);
        assert_eq!(response.header("content-type"), Some("text/plain; charset=utf-8"));
        assert_eq!(response.body, config.key.public_key_pem());
        assert!(response.body.starts_with("-----BEGIN PUBLIC KEY-----\n"));
        let post = handle(&Request::new("POST", "/v1/public-key"), Ok(&config), &state, NOW, [0; 32]);
        assert_eq!(post.status, 405);
    }

    /// No input may panic the worker (a panic aborts the isolate). Every route, host, method and
    /// configuration is combined exhaustively; queries, cookies and origins are drawn at random
    /// from garbage, near-misses and hostile bytes.
    #[test]
    fn no_request_panics() {
        let configs = [
            Config::load(&settings().with(names::STAGES, crate::stage::policy::tests::stages_json())).unwrap(),
            Config::load(&settings().with(names::DEV_LOGIN, "true").with(
                names::PAGE_BRAND,
                r##"{"title": "Club <b>&", "logo_url": "/logo.png", "colors": {"accent": "#222"}, "stylesheet_url": "https://cdn.example/c.css"}"##,
            ))
            .unwrap(),
            Config::load(&settings().with(names::LOGIN_URL, "/login?x=1")).unwrap(),
            Config::load(&settings().with(names::IDENTITY_PROVIDERS, r#"{"idp": {"issuer": "https://id.example", "audience": "a",
                "jwks_url": "https://id.example/jwks", "login": {"client_id": "a", "token_endpoint": "https://id.example/t",
                "authorization_endpoint": "https://id.example/a", "end_session_endpoint": "https://id.example/e",
                "refresh_minutes": 5}}}"#)).unwrap(),
        ];
        let configs = {
            let mut configs = Vec::from(configs);
            let device_settings =
                crate::config::tests::device_settings().with(names::ADMIN_API_TOKEN, crate::config::tests::ADMIN_TOKEN);
            // Chat on two channels, one of them device-limited.
            let with_rooms = device_settings.get(names::CHANNELS).unwrap().replace(
                r#""playback_url": "https://x.live-video.net/demo.m3u8"}"#,
                r#""playback_url": "https://x.live-video.net/demo.m3u8", "chat": {"room": "arn:aws:ivschat:us-west-2:123456789012:room/a", "senders": ["members"], "display_name_claim": "name"}}"#,
            ).replace(
                r#""viewer_binding": false"#,
                r#""viewer_binding": false, "chat": {"room": "arn:aws:ivschat:eu-west-1:123456789012:room/b", "moderators": "staff"}"#,
            );
            configs.push(Config::load(&device_settings).unwrap());
            configs.push(Config::load(&device_settings.with(names::CHANNELS, with_rooms)).unwrap());
            configs
        };
        let error = Config::load(&settings().with(names::CHANNELS, "{}")).unwrap_err();
        // Each configuration with its isolate's state, kept across the requests.
        let states: Vec<IsolateState> = (0..=configs.len()).map(|_| IsolateState::new()).collect();
        let admin = format!("Bearer {}", crate::config::tests::ADMIN_TOKEN);
        let mut edge = plan::tests::FakeEdge::default();
        let good = cookie_for(&SessionClaims::new("alice", NOW, 3600));
        // Signed in at the edge an hour ago: due for the refresh where `refresh_minutes` is set.
        let mut edge_claims = SessionClaims::new("bob", NOW - 3600, 7200);
        edge_claims.idp = Some("idp".into());
        edge_claims.idp_iss = Some("https://id.example".into());
        let edge_session = cookie_for(&edge_claims);
        let paths = [
            "",
            "/",
            "//",
            "/watch/",
            "/watch/demo",
            "/watch/vip",
            "/watch/nope",
            "/watch/Bad",
            "/watch/demo/",
            "/v1/token",
            "/v1/public-key",
            "/dev/login",
            "/healthz",
            "/%2e%2e",
            "/watch/\u{e9}",
            "/stage/open",
            "/stage/club",
            "/v1/stage-token",
            "/login",
            "/callback",
            "/callback/idp",
            "/callback/other",
            "/logout",
            "/v1/heartbeat",
            "/v1/admin/revoke",
            "/v1/admin/devices",
            "/v1/admin/unblock",
            "/v1/chat-token",
        ];
        let hosts = [
            "",
            "[",
            "]",
            "[::1",
            "[::1]",
            "[::1]:",
            ":",
            "127.0.0.1:",
            "localhost",
            "localhost:x",
            "tv.example",
            "\u{e9}:8787",
        ];
        let methods = ["GET", "HEAD", "POST", "OPTIONS", "DELETE", "", "get"];
        let pieces = [
            "",
            "?",
            "&",
            "=",
            "channel=",
            "channel=demo",
            "channel=vip",
            "stage=open",
            "stage=club",
            "publish=true",
            "publish=x",
            "channel=%",
            "channel=%e2%82",
            "%ff%fe",
            "return_to=//x",
            "return_to=%2Fwatch%2Fdemo",
            "return_to=\\x",
            "sub=",
            "channels=a,,b",
            "\u{e9}",
            "\u{0}",
            "<script>",
            "session=",
            "session=a.b.c",
            "session=...",
            &good,
            &edge_session,
            "refresh=1",
            "eyJ",
            "\"",
            ";",
            "https://a.example",
            "provider=idp",
            "state=x",
            "iss=https://id.example",
            "iss=https://evil.example",
            "code=c",
            "error=access_denied",
            "ivs-signin=e30.AAAA",
            "ivs-signin-recent=1",
            "takeover=true",
            "takeover=1",
            "release=true",
            "release=",
            "sub=alice",
            "issuer=https://id.example",
            "ivs_device=abcdefgh12345678",
            "ivs_device=\u{e9}",
        ];
        let devices = ["", "short", "device-0000000001", "\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}"];
        let bodies: [&[u8]; 4] =
            [b"", br#"{"sub": "alice"}"#, br#"{"sub": "alice", "channel": "demo", "block_seconds": 1}"#, b"\xff{"];
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut pick = |count: usize| {
            (0..count)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    pieces[(state % pieces.len() as u64) as usize]
                })
                .collect::<Vec<_>>()
                .join("&")
        };
        let mut count = 0u32;
        for path in paths {
            for host in hosts {
                for method in methods {
                    for (config, state) in configs.iter().map(Ok).chain([Err(&error)]).zip(&states) {
                        for _ in 0..3 {
                            let (query, cookie, origin) = (pick(3), pick(2).replace('&', "; "), pick(1));
                            let target = format!("{path}?{query}");
                            let device = devices[count as usize % devices.len()];
                            let headers = [("x-device-id", device)];
                            let mut request = Request::new(method, &target);
                            request.cookie = Some(&cookie);
                            request.origin = Some(&origin);
                            request.host = Some(host);
                            request.headers = if device.is_empty() { &[] } else { &headers };
                            request.authorization = count.is_multiple_of(2).then_some(admin.as_str());
                            // Through the plan, with the ledgers kept across requests.
                            edge.body = bodies[count as usize % bodies.len()].to_vec();
                            let response = edge.run(Plan::new(request, config, state, NOW, [count as u8; 32]));
                            assert!((200..600).contains(&response.status));
                            let _ = log_line(&request, &response, 0.5);
                            count += 1;
                        }
                    }
                }
            }
        }
        assert_eq!(count, 28 * 12 * 7 * 7 * 3);
    }

    #[test]
    fn query_parsing() {
        assert_eq!(query_param("a=1&channel=de%6do", "channel").unwrap().as_deref(), Some("demo"));
        assert_eq!(query_param("channel", "channel").unwrap().as_deref(), Some(""));
        assert_eq!(query_param("x=1", "channel").unwrap(), None);
        assert!(query_param("channel=%zz", "channel").is_err());
        assert!(query_param("channel=%", "channel").is_err());
        assert_eq!(percent_decode("a+b%20c").as_deref(), Some("a b c"));
        assert_eq!(percent_decode("%e2%82%ac").as_deref(), Some("€"));
    }

    /// Found by the `request_target` fuzz target: `u8::from_str_radix` accepts a leading sign,
    /// so `%+7` decoded to byte 7 instead of being refused as a bad escape.
    #[test]
    fn percent_escapes_are_exactly_two_hex_digits() {
        for bad in ["7%+7,+", "%+7", "%-1", "%+f", "% 1", "%1"] {
            assert_eq!(percent_decode(bad), None, "{bad:?}");
        }
        assert!(query_param("channel=%+7", "channel").is_err());
        assert_eq!(percent_decode("%7e%7E").as_deref(), Some("~~"));
    }

    #[test]
    fn log_lines_hold_no_secrets() {
        let config = config();
        let state = IsolateState::new();
        let cookie = cookie_for(&SessionClaims::new("alice", NOW, 3600));
        let mut request = Request::new("GET", "/v1/token?channel=demo");
        request.cookie = Some(&cookie);
        let response = handle(&request, Ok(&config), &state, NOW, [0; 32]);
        let line = log_line(&request, &response, 1.23456);
        let json: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(json["status"], 200);
        assert_eq!(json["channel"], "demo");
        assert_eq!(json["path"], "/v1/token");
        assert_eq!(json["duration_ms"], 1.235);
        assert!(!line.contains("eyJ") && !line.contains("alice"));
    }
}
