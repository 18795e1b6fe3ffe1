//! The tests of [`super`]: `device` end to end through the pure core.

use super::*;
use crate::channel::claims::verify;
use crate::config::tests::{device_settings, settings, ADMIN_TOKEN};
use crate::config::{names, Config};
use crate::device::ledger::{Decision, Ledger};
use crate::device::object::LedgerExchange;
use crate::http::plan::tests::FakeEdge;
use crate::http::plan::{Need, Plan};
use crate::http::tests::{body, cookie_for, NOW};
use crate::http::{handle, log_line};
use crate::identity::session_cookie::SessionClaims;
use std::collections::BTreeMap;

/// A deployment and its viewers' ledgers (kept by viewer id, like the objects), each request
/// driven through the plan by the fake Workers layer.
struct Edge {
    config: Config,
    state: IsolateState,
    ledgers: BTreeMap<String, Ledger>,
}

struct Call<'a> {
    method: &'a str,
    target: &'a str,
    cookie: Option<&'a str>,
    device: Option<&'a str>,
    authorization: Option<&'a str>,
    body: &'a [u8],
    now: u64,
    random: u8,
    /// `Sec-Fetch-Site`, as a browser sends it.
    fetch_site: Option<&'a str>,
    origin: Option<&'a str>,
}

impl<'a> Call<'a> {
    fn get(target: &'a str, cookie: &'a str) -> Self {
        Self {
            method: "GET",
            target,
            cookie: Some(cookie),
            device: None,
            authorization: None,
            body: b"",
            now: NOW,
            random: 1,
            fetch_site: None,
            origin: None,
        }
    }
}

impl Edge {
    fn new(settings: crate::config::Settings) -> Self {
        Self { config: Config::load(&settings).unwrap(), state: IsolateState::new(), ledgers: BTreeMap::new() }
    }

    fn call(&mut self, call: Call<'_>) -> Response {
        let mut headers: Vec<(&str, &str)> = call.device.map(|d| vec![("x-device-id", d)]).unwrap_or_default();
        headers.extend(call.fetch_site.map(|site| ("sec-fetch-site", site)));
        let mut request = Request::new(call.method, call.target);
        request.cookie = call.cookie;
        request.origin = call.origin;
        request.host = Some("tv.example");
        request.headers = &headers;
        request.authorization = call.authorization;
        let random = [call.random; 32];
        let mut fake = FakeEdge { body: call.body.to_vec(), ..FakeEdge::default() };
        std::mem::swap(&mut fake.ledgers, &mut self.ledgers);
        let response = fake.run(Plan::new(request, Ok(&self.config), &self.state, call.now, random));
        std::mem::swap(&mut fake.ledgers, &mut self.ledgers);
        assert!(!log_line(&request, &response, 1.0).contains("alice"), "logs name viewers by id only");
        response
    }
}

fn refusing() -> crate::config::Settings {
    device_settings()
        .with(names::DEVICE_LIMITS, r#"{"default": 1, "groups": {"family": 2}}"#)
        .with(names::ADMIN_API_TOKEN, ADMIN_TOKEN)
}

fn device_cookie_of(response: &Response) -> String {
    let set = response.header("set-cookie").expect("a device cookie");
    assert!(set.starts_with("ivs_device=") && set.contains("HttpOnly") && set.contains("Secure"), "{set}");
    set.split(';').next().unwrap().to_owned()
}

fn version_of(edge: &Edge, response: &Response) -> i64 {
    let token = body(response)["token"].as_str().unwrap().to_owned();
    let claims = verify(&token, &[edge.config.key.public_key()], NOW).unwrap().claims;
    claims["aws:viewer-session-version"].as_i64().unwrap()
}

#[test]
fn a_second_device_is_refused_until_it_takes_over() {
    let mut edge = Edge::new(refusing());
    let alice = cookie_for(&SessionClaims::new("alice", NOW, 3600));
    let tv = edge.call(Call::get("/v1/token?channel=demo", &alice));
    assert_eq!(tv.status, 200, "{}", tv.body);
    let tv_cookie = format!("{alice}; {}", device_cookie_of(&tv));
    let tv_version = version_of(&edge, &tv);

    // The same device again (a renewal): same version, no new slot.
    let renewed = edge.call(Call { now: NOW + 5, random: 2, ..Call::get("/v1/token?channel=demo", &tv_cookie) });
    assert_eq!((renewed.status, version_of(&edge, &renewed)), (200, tv_version));

    // A second browser: refused with the count, and it gets its own device cookie.
    let phone = edge.call(Call { now: NOW + 6, random: 3, ..Call::get("/v1/token?channel=demo", &alice) });
    assert_eq!(phone.status, 403, "{}", phone.body);
    assert_eq!(body(&phone)["type"], "urn:ivs-token-worker:problem:device-limit");
    assert!(body(&phone)["detail"].as_str().unwrap().starts_with("1 of 1 devices"));
    let phone_cookie = format!("{alice}; {}", device_cookie_of(&phone));

    // It takes over: admitted with a higher version; the TV's heartbeat says it was evicted.
    let taken =
        edge.call(Call { now: NOW + 7, random: 4, ..Call::get("/v1/token?channel=demo&takeover=true", &phone_cookie) });
    assert_eq!(taken.status, 200, "{}", taken.body);
    assert!(version_of(&edge, &taken) > tv_version);
    let beat = |edge: &mut Edge, cookie: &str| {
        edge.call(Call { method: "POST", now: NOW + 8, ..Call::get("/v1/heartbeat?channel=demo", cookie) }).status
    };
    assert_eq!(beat(&mut edge, &tv_cookie), 409);
    assert_eq!(beat(&mut edge, &phone_cookie), 204);
    let ledger = edge.ledgers.values().next().unwrap();
    assert_eq!(ledger.revocations.len(), 1, "the TV's revocation is queued");
    assert_eq!(ledger.revocations[0].version, tv_version);
}

#[test]
fn bad_device_ids_and_takeover_values_change_nothing() {
    let mut edge = Edge::new(refusing());
    let alice = cookie_for(&SessionClaims::new("alice", NOW, 3600));
    for device in ["short", "has space inside", "\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}", &"x".repeat(65)] {
        let r = edge.call(Call { device: Some(device), ..Call::get("/v1/token?channel=demo", &alice) });
        assert_eq!(r.status, 400, "{device:?}");
        assert!(body(&r)["detail"].as_str().unwrap().contains("X-Device-Id"));
        assert!(r.header("set-cookie").is_none());
    }
    let r = edge.call(Call::get("/v1/token?channel=demo&takeover=yes", &alice));
    assert_eq!(
        (r.status, body(&r)["detail"].as_str().unwrap()),
        (400, "query parameter `takeover` must be true or false")
    );
    assert!(edge.ledgers.is_empty(), "no ledger was asked");
    // A native app names its device: no cookie is set for it.
    let app = edge.call(Call { device: Some("app-install-0001"), ..Call::get("/v1/token?channel=demo", &alice) });
    assert_eq!(app.status, 200);
    assert!(app.header("set-cookie").is_none());
    assert_eq!(edge.ledgers.values().next().unwrap().devices[0].id, "app-install-0001");
}

#[test]
fn groups_raise_the_limit_and_unlimited_channels_are_untouched() {
    let mut edge = Edge::new(refusing());
    let mut family = SessionClaims::new("bob", NOW, 3600);
    family.groups = Some(vec!["family".into()]);
    let bob = cookie_for(&family);
    for (i, expected) in [(1u8, 200), (2, 200), (3, 403)] {
        let r = edge.call(Call { random: i, ..Call::get("/v1/token?channel=demo", &bob) });
        assert_eq!(r.status, expected, "device {i}");
    }
    // `open` opted out (device_limit = false): any number of devices, no cookie, no ledger call.
    let r = edge.call(Call { random: 9, ..Call::get("/v1/token?channel=open", &bob) });
    assert_eq!(r.status, 200);
    assert!(r.header("set-cookie").is_none());
    assert_eq!(edge.ledgers.values().next().unwrap().devices.len(), 2);
}

#[test]
fn the_watch_page_says_it_in_words_and_offers_to_watch_here() {
    let mut edge = Edge::new(refusing());
    let alice = cookie_for(&SessionClaims::new("alice", NOW, 3600));
    let first = edge.call(Call::get("/watch/demo", &alice));
    assert_eq!(first.status, 200);
    assert!(first.body.contains("\"heartbeat\":{\"endpoint\":\"/v1/heartbeat?channel=demo\""));
    device_cookie_of(&first);
    let second = edge.call(Call { random: 5, ..Call::get("/watch/demo", &alice) });
    assert_eq!(second.status, 403);
    assert!(second.body.contains("Already watching on other devices"));
    assert!(second.body.contains(
        "<form method=\"post\" action=\"/watch/demo?takeover=true\"><button type=\"submit\">Watch here instead</button></form>"
    ));
    assert!(second.header("content-security-policy").unwrap().contains("form-action 'self'"));
    let second_cookie = format!("{alice}; {}", device_cookie_of(&second));
    let taken = edge.call(Call {
        method: "POST",
        random: 6,
        fetch_site: Some("same-origin"),
        ..Call::get("/watch/demo?takeover=true", &second_cookie)
    });
    assert_eq!((taken.status, taken.header("location")), (303, Some("/watch/demo")), "{}", taken.body);
    let watching = edge.call(Call { random: 7, ..Call::get("/watch/demo", &second_cookie) });
    assert_eq!(watching.status, 200, "the device that took over plays");
    let unlimited = edge.call(Call::get("/watch/open", &alice));
    assert!(!unlimited.body.contains("\"heartbeat\":"));
}

/// Issue 22, finding 5: a takeover evicts (and revokes at IVS) the account's oldest device,
/// so a link on another site (or a `return_to` after sign-in) must not be able to make one.
#[test]
fn a_takeover_is_a_same_origin_post_never_a_link() {
    let mut edge = Edge::new(refusing().with(names::ALLOWED_ORIGINS, "https://app.example"));
    let alice = cookie_for(&SessionClaims::new("alice", NOW, 3600));
    let first = edge.call(Call::get("/watch/demo", &alice));
    let first_cookie = format!("{alice}; {}", device_cookie_of(&first));
    let second = edge.call(Call { random: 5, ..Call::get("/watch/demo", &alice) });
    let second_cookie = format!("{alice}; {}", device_cookie_of(&second));
    let holders = |edge: &Edge| edge.ledgers.values().next().unwrap().devices.len();
    // A top-level GET, from any site, with `takeover=true`: the page is refused, nothing moves.
    for site in [None, Some("cross-site"), Some("same-origin")] {
        let r = edge.call(Call { fetch_site: site, ..Call::get("/watch/demo?takeover=true", &second_cookie) });
        assert_eq!(r.status, 403, "{site:?}: {}", r.body);
        assert!(r.body.contains("Already watching on other devices"));
    }
    // The API's takeover from a navigation or form on another site: refused.
    let cross = |method: &'static str, target: &'static str, origin: Option<&'static str>| Call {
        method,
        fetch_site: Some("cross-site"),
        origin,
        ..Call::get(target, &second_cookie)
    };
    for call in [
        cross("GET", "/v1/token?channel=demo&takeover=true", None),
        cross("GET", "/v1/token?channel=demo&takeover=true", Some("https://evil.example")),
        cross("POST", "/watch/demo?takeover=true", None),
        cross("POST", "/v1/heartbeat?channel=demo&release=true", Some("https://evil.example")),
    ] {
        let (method, target) = (call.method, call.target);
        let r = edge.call(call);
        assert_eq!((r.status, r.problem), (403, Some("cross-site-request")), "{method} {target}: {}", r.body);
    }
    assert_eq!(holders(&edge), 1, "nothing changed");
    let r = edge.call(Call { random: 8, ..Call::get("/v1/token?channel=demo", &first_cookie) });
    assert_eq!(r.status, 200, "the first device still holds its slot");
    // An app in ALLOWED_ORIGINS may (CORS), and so may a client that sends no Sec-Fetch-Site.
    let allowed = edge.call(Call {
        fetch_site: Some("cross-site"),
        origin: Some("https://app.example"),
        ..Call::get("/v1/token?channel=demo&takeover=true", &second_cookie)
    });
    assert_eq!(allowed.status, 200, "{}", allowed.body);
    let app = edge.call(Call { random: 9, ..Call::get("/v1/token?channel=demo&takeover=true", &first_cookie) });
    assert_eq!(app.status, 200, "{}", app.body);
    // Without DEVICE_LIMITS the page takes no POST at all.
    let plain = handle(
        &Request::new("POST", "/watch/demo"),
        Ok(&crate::http::tests::config()),
        &IsolateState::new(),
        NOW,
        [0; 32],
    );
    assert_eq!((plain.status, plain.header("allow")), (405, Some("GET, HEAD")));
}

#[test]
fn heartbeats_and_release() {
    let mut edge = Edge::new(refusing());
    let alice = cookie_for(&SessionClaims::new("alice", NOW, 3600));
    let post = |edge: &mut Edge, target: &str, cookie: &str, now: u64| {
        edge.call(Call { method: "POST", now, ..Call::get(target, cookie) })
    };
    // Without a device id nothing is held.
    assert_eq!(post(&mut edge, "/v1/heartbeat?channel=demo", &alice, NOW).status, 409);
    let tv = edge.call(Call::get("/v1/token?channel=demo", &alice));
    let tv_cookie = format!("{alice}; {}", device_cookie_of(&tv));
    assert_eq!(post(&mut edge, "/v1/heartbeat?channel=demo", &tv_cookie, NOW + 80).status, 204);
    // Kept alive by heartbeats past the idle time: a new device is still refused.
    let other = edge.call(Call { now: NOW + 120, random: 7, ..Call::get("/v1/token?channel=demo", &alice) });
    assert_eq!(other.status, 403);
    // The page closes: the slot goes to the next device, and the closed one is revoked.
    assert_eq!(post(&mut edge, "/v1/heartbeat?channel=demo&release=true", &tv_cookie, NOW + 121).status, 204);
    let other = edge.call(Call { now: NOW + 122, random: 7, ..Call::get("/v1/token?channel=demo", &alice) });
    assert_eq!(other.status, 200);
    assert_eq!(post(&mut edge, "/v1/heartbeat?channel=demo", &tv_cookie, NOW + 123).status, 409);
    for (target, status) in [
        ("/v1/heartbeat?channel=demo&release=maybe", 400),
        ("/v1/heartbeat", 400),
        ("/v1/heartbeat?channel=nope", 404),
        ("/v1/heartbeat?channel=open", 204),
    ] {
        assert_eq!(post(&mut edge, target, &tv_cookie, NOW + 124).status, status, "{target}");
    }
    assert_eq!(edge.call(Call::get("/v1/heartbeat?channel=demo", &alice)).status, 405);
    let anonymous = edge.call(Call { method: "POST", cookie: None, ..Call::get("/v1/heartbeat?channel=demo", "") });
    assert_eq!(anonymous.status, 401);
}

/// Issue 22, finding 2: the Workers layer reads a body only for the operator API's POSTs,
/// only where the route exists and only once the bearer token passed, and never past
/// [`crate::device::admin::MAX_BODY_BYTES`].
#[test]
fn a_body_is_read_only_after_the_operator_gate() {
    let limited = Config::load(&refusing()).unwrap();
    let plain = crate::http::tests::config();
    let bearer = format!("Bearer {ADMIN_TOKEN}");
    let limit = |config: &Config, method: &str, target: &str, authorization: Option<&str>| {
        let mut request = Request::new(method, target);
        request.authorization = authorization;
        // Only the operator's gate decides: none of the isolate's caches is read.
        match Plan::new(request, Ok(config), &IsolateState::new(), NOW, [0; 32]).next_need() {
            Some(Need::Body { limit }) => Some(limit),
            _ => None,
        }
    };
    let max = Some(crate::device::admin::MAX_BODY_BYTES);
    assert_eq!(limit(&limited, "POST", "/v1/admin/revoke", Some(&bearer)), max);
    assert_eq!(limit(&limited, "POST", "/v1/admin/devices", Some(&bearer)), max);
    for (config, method, target, authorization) in [
        (&limited, "POST", "/v1/admin/revoke", None),
        (&limited, "POST", "/v1/admin/revoke", Some("Bearer wrong")),
        (&limited, "PUT", "/v1/admin/revoke", Some(bearer.as_str())),
        (&limited, "GET", "/v1/admin/devices", Some(bearer.as_str())),
        (&limited, "POST", "/v1/admin/devices", None),
        (&limited, "POST", "/v1/heartbeat", Some(bearer.as_str())),
        (&limited, "POST", "/watch/demo", Some(bearer.as_str())),
        (&plain, "POST", "/v1/admin/revoke", Some(bearer.as_str())),
        (&plain, "POST", "/nope", None),
    ] {
        assert_eq!(limit(config, method, target, authorization), None, "{method} {target} {authorization:?}");
    }
    let error = Config::load(&settings().with(names::CHANNELS, "{}")).unwrap_err();
    let mut request = Request::new("POST", "/v1/admin/revoke");
    request.authorization = Some(&bearer);
    assert!(
        Plan::new(request, Err(&error), &IsolateState::new(), NOW, [0; 32]).next_need().is_none(),
        "a misconfigured worker reads nothing"
    );
    request.authorization = Some(&bearer);
    let mut edge = FakeEdge { body: vec![b' '; crate::device::admin::MAX_BODY_BYTES + 1], ..FakeEdge::default() };
    let r = edge.run(Plan::new(request, Ok(&limited), &IsolateState::new(), NOW, [0; 32]));
    assert_eq!((r.status, r.problem), (413, Some("payload-too-large")));
    assert!(body(&r)["detail"].as_str().unwrap().contains("4096 bytes"));
}

/// Issue 24: an operator calling a misconfigured worker during a show learns that it is
/// misconfigured and which setting, not "no such path"; and a 409 tells an app not to ask again by
/// itself (docs/devices.md), where it used to say to request a new token.
#[test]
fn messages_an_operator_and_an_app_can_act_on() {
    let error = Config::load(&refusing().with(names::DEVICE_LIMITS, r#"{"default": 0}"#)).unwrap_err();
    let bearer = format!("Bearer {ADMIN_TOKEN}");
    for (method, path) in [("POST", "/v1/admin/revoke"), ("GET", "/v1/admin/devices?sub=alice")] {
        let mut request = Request::new(method, path);
        request.authorization = Some(&bearer);
        let r = handle(&request, Err(&error), &IsolateState::new(), NOW, [0; 32]);
        assert_eq!((r.status, r.problem), (500, Some("misconfigured")), "{path}: {}", r.body);
        assert!(body(&r)["detail"].as_str().unwrap().contains("DEVICE_LIMITS"), "{}", r.body);
    }
    let evicted = Error::DeviceEvicted.to_string();
    assert!(evicted.contains("takeover=true only when the viewer chooses") && !evicted.contains("request a new token"));
}

/// Issue 24: a block can be lifted (`POST /v1/admin/unblock`), of one channel or all of them.
#[test]
fn an_operator_lifts_a_block() {
    let mut edge = Edge::new(refusing());
    let alice = cookie_for(&SessionClaims::new("alice", NOW, 3600));
    let bearer = format!("Bearer {ADMIN_TOKEN}");
    let admin = |edge: &mut Edge, path: &str, authorization: Option<&str>, body: &[u8], now: u64| {
        edge.call(Call { method: "POST", authorization, body, now, cookie: None, ..Call::get(path, "") })
    };
    let token =
        |edge: &mut Edge, now: u64| edge.call(Call { now, ..Call::get("/v1/token?channel=demo", &alice) }).status;
    assert_eq!(token(&mut edge, NOW), 200);
    let blocked =
        admin(&mut edge, "/v1/admin/revoke", Some(&bearer), br#"{"sub": "alice", "block_seconds": 600}"#, NOW + 1);
    assert_eq!(blocked.status, 202, "{}", blocked.body);
    assert_eq!(token(&mut edge, NOW + 2), 403);
    // Refused before anything changes: no token, a bad body, a channel not configured.
    for (authorization, body, status) in [
        (None, &br#"{"sub": "alice"}"#[..], 401),
        (Some(bearer.as_str()), br#"{"sub": "alice", "block_seconds": 1}"#, 400),
        (Some(bearer.as_str()), br#"{"sub": "alice", "channel": "nope"}"#, 404),
    ] {
        let r = admin(&mut edge, "/v1/admin/unblock", authorization, body, NOW + 3);
        assert_eq!(r.status, status, "{}", r.body);
    }
    assert_eq!(token(&mut edge, NOW + 4), 403, "still blocked");
    let lifted = admin(&mut edge, "/v1/admin/unblock", Some(&bearer), br#"{"sub": "alice"}"#, NOW + 5);
    assert_eq!(lifted.status, 200, "{}", lifted.body);
    assert_eq!(body(&lifted)["lifted"], true);
    assert_eq!(body(&lifted)["blocked_until"], serde_json::Value::Null);
    assert_eq!(token(&mut edge, NOW + 6), 200, "watching again at once");
    let again = admin(&mut edge, "/v1/admin/unblock", Some(&bearer), br#"{"sub": "alice"}"#, NOW + 7);
    assert_eq!((again.status, body(&again)["lifted"].clone()), (200, serde_json::json!(false)));
    // One channel's block: lifted alone, another channel's stays.
    admin(
        &mut edge,
        "/v1/admin/revoke",
        Some(&bearer),
        br#"{"sub": "alice", "channel": "demo", "block_seconds": 600}"#,
        NOW + 8,
    );
    assert_eq!(token(&mut edge, NOW + 9), 403);
    let one = admin(&mut edge, "/v1/admin/unblock", Some(&bearer), br#"{"sub": "alice", "channel": "demo"}"#, NOW + 10);
    assert_eq!((one.status, body(&one)["lifted"].clone()), (200, serde_json::json!(true)), "{}", one.body);
    assert_eq!(token(&mut edge, NOW + 11), 200);
}

#[test]
fn the_operator_revokes_blocks_and_lists() {
    let mut edge = Edge::new(refusing());
    let alice = cookie_for(&SessionClaims::new("alice", NOW, 3600));
    let tv = edge.call(Call::get("/v1/token?channel=demo", &alice));
    assert_eq!(tv.status, 200);
    let bearer = format!("Bearer {ADMIN_TOKEN}");
    let admin = |edge: &mut Edge, method: &str, target: &str, authorization: Option<&str>, body: &[u8]| {
        edge.call(Call { method, authorization, body, now: NOW + 10, cookie: None, ..Call::get(target, "") })
    };
    let listed = admin(&mut edge, "GET", "/v1/admin/devices?sub=alice", Some(&bearer), b"");
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert_eq!(body(&listed)["devices"].as_array().unwrap().len(), 1);
    assert_eq!(body(&listed)["devices"][0]["channels"], serde_json::json!(["demo"]));
    // Issue 22: the same listing with the subject in a body, out of URLs that request logs keep.
    let posted = admin(&mut edge, "POST", "/v1/admin/devices", Some(&bearer), br#"{"sub": "alice"}"#);
    assert_eq!((posted.status, body(&posted)), (200, body(&listed)));
    for bad in [&b""[..], br#"{"sub": "alice", "channel": "demo"}"#, br#"{"issuer": "https://id.example"}"#] {
        let r = admin(&mut edge, "POST", "/v1/admin/devices", Some(&bearer), bad);
        assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(bad));
    }

    for (authorization, status) in [(None, 401), (Some("Bearer wrong"), 401), (Some(ADMIN_TOKEN), 401)] {
        let r = admin(&mut edge, "POST", "/v1/admin/revoke", authorization, br#"{"sub": "alice"}"#);
        assert_eq!(r.status, status);
        assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    }
    for bad in
        [&b"not json"[..], br#"{"sub": 1}"#, br#"{"sub": "alice", "channel": "open"}"#, br#"{"sub": "alice", "x": 1}"#]
    {
        let r = admin(&mut edge, "POST", "/v1/admin/revoke", Some(&bearer), bad);
        assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(bad));
    }
    assert_eq!(edge.ledgers.values().next().unwrap().devices.len(), 1, "nothing changed");

    let revoked =
        admin(&mut edge, "POST", "/v1/admin/revoke", Some(&bearer), br#"{"sub": "alice", "block_seconds": 600}"#);
    assert_eq!(revoked.status, 202, "{}", revoked.body);
    let json = body(&revoked);
    assert_eq!(json["devices"].as_array().unwrap().len(), 1);
    assert_eq!(json["channels"], serde_json::json!(["demo", "vip"]));
    assert_eq!(json["blocked_until"], NOW + 10 + 600);
    assert!(!revoked.body.contains("alice"));
    let blocked = edge.call(Call { now: NOW + 20, ..Call::get("/v1/token?channel=demo", &alice) });
    assert_eq!(
        (blocked.status, body(&blocked)["type"].as_str().unwrap()),
        (403, "urn:ivs-token-worker:problem:viewer-blocked")
    );
    let after = edge.call(Call { now: NOW + 700, ..Call::get("/v1/token?channel=demo", &alice) });
    assert_eq!(after.status, 200);
    // A block of one channel: that channel only, and the listing says so.
    let one = br#"{"sub": "alice", "channel": "vip", "block_seconds": 60}"#;
    let r = edge.call(Call {
        method: "POST",
        authorization: Some(&bearer),
        body: one,
        now: NOW + 701,
        cookie: None,
        ..Call::get("/v1/admin/revoke", "")
    });
    assert_eq!((r.status, body(&r)["channels"].clone()), (202, serde_json::json!(["vip"])));
    let listed = edge.call(Call {
        authorization: Some(&bearer),
        now: NOW + 702,
        cookie: None,
        ..Call::get("/v1/admin/devices?sub=alice", "")
    });
    assert_eq!(body(&listed)["blocked_channels"], serde_json::json!({"vip": NOW + 761}));
    assert_eq!(body(&listed)["blocked_until"], serde_json::Value::Null);
    assert_eq!(admin(&mut edge, "DELETE", "/v1/admin/revoke", Some(&bearer), b"").status, 405);

    // Without ADMIN_API_TOKEN the operator API does not exist.
    let mut closed = Edge::new(device_settings());
    for path in ["/v1/admin/revoke", "/v1/admin/devices?sub=alice"] {
        assert_eq!(admin(&mut closed, "POST", path, Some(&bearer), b"{}").status, 404);
    }
}

#[test]
fn an_unreachable_ledger_serves_logs_and_counts_and_a_missing_binding_says_so() {
    let config = Config::load(&refusing()).unwrap();
    let state = IsolateState::new();
    let alice = cookie_for(&SessionClaims::new("alice", NOW, 3600));
    let mut request = Request::new("GET", "/v1/token?channel=demo");
    request.cookie = Some(&alice);
    for answer in [LedgerAnswer::Unreachable("timeout".into()), LedgerAnswer::Unbound] {
        let mut edge = FakeEdge { ledger_answer: Some(answer.clone()), ..FakeEdge::default() };
        let response = edge.run(Plan::new(request, Ok(&config), &state, NOW, [1; 32]));
        assert_eq!(edge.asked, ["ledger admit"], "a limited channel asks the ledger");
        let line = log_line(&request, &response, 1.0);
        if answer == LedgerAnswer::Unbound {
            assert_eq!(response.status, 500);
            assert!(body(&response)["detail"].as_str().unwrap().contains("DEVICE_LEDGER"));
        } else {
            assert_eq!(response.status, 200);
            let token = body(&response)["token"].as_str().unwrap().to_owned();
            let claims = verify(&token, &[config.key.public_key()], NOW).unwrap().claims;
            assert_eq!(claims["aws:viewer-session-version"], NOW);
            assert!(line.contains("\"ledger\":\"unreachable\""), "{line}");
        }
    }
    // An answer given for another command is not used for this one (the routes' own check, under
    // the plan's: a plan hands back only the answer to what it asked).
    let ask = ledger_ask(&request, Ok(&config), &state, NOW, [1; 32]).expect("a limited channel asks the ledger");
    // An answer given for another command is not used for this one.
    let mut other = ask.clone();
    other.viewer_id = "someone-else".into();
    let exchange = LedgerExchange {
        ask: other,
        answer: LedgerAnswer::Replied(Reply::Decision { decision: Decision::Refused { in_use: 9, limit: 1 } }),
    };
    request.ledger = Some(&exchange);
    assert_eq!(handle(&request, Ok(&config), &state, NOW, [1; 32]).status, 200);
}

/// Issue 24: an operator names a provider's viewer by the provider's name, and reaches exactly the
/// viewer that signed in there: the token route and the operator route derive one viewer id.
#[test]
fn a_revoke_by_provider_name_kicks_the_viewer_who_signed_in_there() {
    use crate::identity::jwt::tests::{claims, mint, signer_jwk, ISSUER};
    let keys = serde_json::json!({"keys": [signer_jwk("k1")]});
    let providers = serde_json::json!({
        "auth0": {"issuer": ISSUER, "audience": "tv-app", "jwks": keys},
        "other": {"issuer": "https://other-id.example", "audience": "tv-app", "jwks": keys},
    });
    let mut edge = Edge::new(refusing().with(names::IDENTITY_PROVIDERS, providers.to_string()));
    let bearer = format!("Bearer {ADMIN_TOKEN}");
    // `user-1` signs in at `auth0` (a Bearer token); the app's own cookie has a `user-1` too.
    let idp = format!("Bearer {}", mint(&serde_json::json!({"alg": "ES384", "kid": "k1"}), &claims()));
    let tv = edge.call(Call {
        authorization: Some(&idp),
        cookie: None,
        device: Some("tv-of-user-1-at-auth0"),
        ..Call::get("/v1/token?channel=demo", "")
    });
    assert_eq!(tv.status, 200, "{}", tv.body);
    let token = body(&tv)["token"].as_str().unwrap().to_owned();
    let signed_in = verify(&token, &[edge.config.key.public_key()], NOW).unwrap().claims["aws:viewer-id"].clone();
    let cookie_viewer = cookie_for(&SessionClaims::new("user-1", NOW, 3600));
    assert_eq!(edge.call(Call::get("/v1/token?channel=demo", &cookie_viewer)).status, 200);

    let operator = |edge: &mut Edge, path: &str, body: &str, now: u64| {
        edge.call(Call {
            method: "POST",
            authorization: Some(&bearer),
            body: body.as_bytes(),
            now,
            cookie: None,
            ..Call::get(path, "")
        })
    };
    // A bare subject names nobody on a deployment with providers: refused, nothing changes.
    for path in ["/v1/admin/revoke", "/v1/admin/unblock", "/v1/admin/devices"] {
        let r = operator(&mut edge, path, r#"{"sub": "user-1"}"#, NOW + 1);
        assert_eq!(r.status, 400, "{path}: {}", r.body);
        let detail = body(&r)["detail"].as_str().unwrap().to_owned();
        assert!(detail.contains("(`provider`: one of auth0, other)") && detail.contains(r#""session_cookie": true"#));
        for (body, says) in [
            (
                r#"{"sub": "user-1", "provider": "okta"}"#,
                "no identity provider is named `okta`; name one of auth0, other",
            ),
            (
                r#"{"sub": "user-1", "provider": "other", "issuer": "https://id.example"}"#,
                "`provider` and `issuer` disagree",
            ),
        ] {
            let r = operator(&mut edge, path, body, NOW + 1);
            assert_eq!(r.status, 400, "{path}: {body}");
            assert!(body_detail(&r).contains(says), "{path}: {}", r.body);
        }
    }
    let get =
        edge.call(Call { authorization: Some(&bearer), cookie: None, ..Call::get("/v1/admin/devices?sub=user-1", "") });
    assert_eq!(get.status, 400, "the older GET follows the same rule");

    // The listing says whose devices they are.
    let listed = operator(&mut edge, "/v1/admin/devices", r#"{"sub": "user-1", "provider": "auth0"}"#, NOW + 2);
    assert_eq!(listed.status, 200, "{}", listed.body);
    let listing = body(&listed);
    assert_eq!((&listing["viewer_id"], &listing["provider"]), (&signed_in, &serde_json::json!("auth0")));
    assert_eq!(listing["devices"][0]["device"], "tv-of-user-1-at-auth0");
    let by_issuer =
        operator(&mut edge, "/v1/admin/devices", &format!(r#"{{"sub": "user-1", "issuer": "{ISSUER}"}}"#), NOW + 2);
    assert_eq!(body(&by_issuer), listing, "the issuer, exactly, names the same viewer");
    let query = edge.call(Call {
        authorization: Some(&bearer),
        cookie: None,
        now: NOW + 2,
        ..Call::get("/v1/admin/devices?sub=user-1&provider=auth0", "")
    });
    assert_eq!(body(&query), listing);
    let cookie_listing =
        body(&operator(&mut edge, "/v1/admin/devices", r#"{"sub": "user-1", "session_cookie": true}"#, NOW + 2));
    assert_eq!(cookie_listing["provider"], "session_cookie");
    assert_eq!(cookie_listing["viewer_id"], edge.config.viewer_ids.viewer_id(None, "user-1"));
    assert_ne!(cookie_listing["viewer_id"], signed_in);

    // Revoked by the provider's name: the device that signed in there loses its slot.
    let revoked = operator(&mut edge, "/v1/admin/revoke", r#"{"sub": "user-1", "provider": "auth0"}"#, NOW + 3);
    assert_eq!(revoked.status, 202, "{}", revoked.body);
    assert_eq!(body(&revoked)["viewer_id"], signed_in);
    assert_eq!(body(&revoked)["devices"].as_array().unwrap().len(), 1);
    let beat = edge.call(Call {
        method: "POST",
        authorization: Some(&idp),
        cookie: None,
        device: Some("tv-of-user-1-at-auth0"),
        now: NOW + 4,
        ..Call::get("/v1/heartbeat?channel=demo", "")
    });
    assert_eq!(beat.status, 409, "{}", beat.body);
    // The cookie's user-1, another viewer, still holds its device.
    let cookie_ledger = &edge.ledgers[cookie_listing["viewer_id"].as_str().unwrap()];
    assert_eq!(cookie_ledger.devices.len(), 1);
}

fn body_detail(response: &Response) -> String {
    body(response)["detail"].as_str().unwrap_or_default().to_owned()
}
