//! The tests of [`super`]: `signin` end to end through the pure core.

use super::*;
use crate::config::names;
use crate::config::tests::settings;
use crate::encoding::url_encode;
use crate::http::handle;
use crate::http::plan::tests::FakeEdge;
use crate::http::plan::Plan;
use crate::http::tests::NOW;
use crate::identity::jwt::tests::{claims, mint, signer_jwk, ISSUER};
use crate::signin::callback::Exchanged;
use crate::signin::flow::HOST_STATE_COOKIE as STATE_COOKIE;
use serde_json::json;

const HOST: &str = "tv.example";

fn provider(extra: serde_json::Value) -> serde_json::Value {
    let mut p = json!({"issuer": ISSUER, "audience": "tv-app", "jwks": {"keys": [signer_jwk("k1")]},
        "groups_claim": "groups", "login": {"client_id": "tv-app", "client_secret": "IDP_SECRET",
        "authorization_endpoint": "https://id.example/auth", "token_endpoint": "https://id.example/token",
        "end_session_endpoint": "https://id.example/end"}});
    p.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    p
}

fn config_with(providers: serde_json::Value) -> Config {
    Config::load(
        &settings().with(names::IDENTITY_PROVIDERS, providers.to_string()).with("IDP_SECRET", "client-secret-value"),
    )
    .unwrap()
}

fn config() -> Config {
    config_with(json!({ "idp": provider(json!({})) }))
}

struct Call<'a> {
    target: &'a str,
    cookie: Option<&'a str>,
    exchanged: Option<&'a Exchanged>,
    method: &'a str,
}

/// One request through the plan; the token endpoint answers `c.exchanged` if the plan asks it.
fn call(config: &Config, isolate: &IsolateState, c: Call<'_>) -> Response {
    let mut request = Request::new(c.method, c.target);
    request.host = Some(HOST);
    request.cookie = c.cookie;
    let mut edge = FakeEdge { token_endpoint: c.exchanged.cloned(), ..FakeEdge::default() };
    edge.run(Plan::new(request, Ok(config), isolate, NOW, [5; 32]))
}

fn get<'a>(target: &'a str, cookie: Option<&'a str>) -> Call<'a> {
    Call { target, cookie, exchanged: None, method: "GET" }
}

fn cookie_value<'r>(response: &'r Response, name: &str) -> Option<&'r str> {
    response
        .headers
        .iter()
        .filter(|(n, _)| *n == "set-cookie")
        .find_map(|(_, v)| v.strip_prefix(&format!("{name}=")))
        .map(|v| v.split(';').next().unwrap())
}

fn param(url: &str, name: &str) -> String {
    let query = url.split_once('?').unwrap().1;
    query_param(query, name).unwrap().unwrap()
}

/// `/login` for `return_to`: the authorization URL and the state cookie.
fn start(config: &Config, isolate: &IsolateState, return_to: &str) -> (String, String) {
    let r = call(config, isolate, get(&format!("/login?provider=idp&return_to={}", url_encode(return_to)), None));
    assert_eq!(r.status, 302, "{}", r.body);
    let state_cookie = format!("{STATE_COOKIE}={}", cookie_value(&r, STATE_COOKIE).unwrap());
    (r.header("location").unwrap().to_owned(), state_cookie)
}

fn id_token(nonce: &str, extra: serde_json::Value) -> String {
    let mut c = claims();
    c["aud"] = json!("tv-app");
    c["nonce"] = json!(nonce);
    c["sub"] = json!("viewer-7");
    c.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    mint(&json!({"alg": "ES384", "kid": "k1"}), &c)
}

fn answer(token: &str) -> Exchanged {
    Exchanged::Answer { status: 200, body: json!({"id_token": token, "access_token": "at"}).to_string() }
}

#[test]
fn the_whole_flow() {
    let config = config();
    let isolate = IsolateState::new();
    // The watch page sends a viewer without a session to /login.
    let r = call(&config, &isolate, get("/watch/demo", None));
    assert_eq!((r.status, r.header("location")), (302, Some("/login?provider=idp&return_to=%2Fwatch%2Fdemo")));
    let (location, state_cookie) = start(&config, &isolate, "/watch/demo");
    assert!(location.starts_with("https://id.example/auth?response_type=code&client_id=tv-app&"));
    assert_eq!(param(&location, "redirect_uri"), "https://tv.example/callback/idp");
    assert_eq!(param(&location, "code_challenge_method"), "S256");
    let (state, nonce) = (param(&location, "state"), param(&location, "nonce"));
    let target = format!("/callback/idp?code=the-code&state={state}");
    // What the Workers layer is asked to send.
    let mut request = Request::new("GET", &target);
    request.host = Some(HOST);
    request.cookie = Some(&state_cookie);
    let (exchange, provider) = exchange_for(&request, &config, &isolate, NOW).unwrap();
    assert_eq!((exchange.url.as_str(), provider.name.as_str()), ("https://id.example/token", "idp"));
    let verifier = param(&format!("?{}", exchange.body), "code_verifier");
    assert_eq!(flow::code_challenge(&verifier), param(&location, "code_challenge"));
    assert!(exchange.body.contains("code=the-code") && exchange.headers.iter().any(|(n, _)| *n == "authorization"));
    // The answer, and the session it gives.
    let exchanged = answer(&id_token(&nonce, json!({})));
    let r = call(&config, &isolate, Call { exchanged: Some(&exchanged), ..get(&target, Some(&state_cookie)) });
    assert_eq!((r.status, r.header("location")), (302, Some("/watch/demo")), "{}", r.body);
    let session = cookie_value(&r, "session").unwrap();
    let verified = config.identity.sessions.as_ref().unwrap().verify(session, NOW).unwrap();
    assert_eq!((verified.sub.as_str(), verified.groups.as_slice()), ("viewer-7", &["members".to_owned()][..]));
    assert_eq!(verified.claims["idp"], "idp");
    assert_eq!(verified.issuer.as_deref(), Some(ISSUER), "the viewer id in the provider's namespace");
    assert_eq!(cookie_value(&r, STATE_COOKIE), Some(""), "the state cookie is cleared");
    assert_eq!(cookie_value(&r, RECENT_COOKIE), Some("1"));
    let set = r.headers.iter().find(|(n, v)| *n == "set-cookie" && v.starts_with("session=")).unwrap();
    assert!(set.1.contains("; HttpOnly; SameSite=Lax; Secure"), "{}", set.1);
    assert!(!r.body.contains("the-code") && !r.body.contains("client-secret-value"));
    // The session opens the page, with the viewer id a Bearer token of this provider gives.
    let r = call(&config, &isolate, get("/watch/demo", Some(&format!("session={session}"))));
    assert_eq!(r.status, 200);
    let start = r.body.find("?token=").unwrap() + 7;
    let token: String =
        r.body[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c)).collect();
    let claims = crate::channel::claims::verify(&token, &[config.key.public_key()], NOW).unwrap().claims;
    assert_eq!(claims["aws:viewer-id"], config.viewer_ids.viewer_id(Some(ISSUER), "viewer-7"));
}

#[test]
fn attacks_and_errors_are_pages_in_words() {
    let config = config();
    let isolate = IsolateState::new();
    let (location, state_cookie) = start(&config, &isolate, "/watch/demo");
    let (state, nonce) = (param(&location, "state"), param(&location, "nonce"));
    let good = answer(&id_token(&nonce, json!({})));
    let callback = |target: &str, cookie: Option<&str>, exchanged: Option<&Exchanged>| {
        let r = call(&config, &isolate, Call { exchanged, ..get(target, cookie) });
        assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"), "{target}");
        assert!(r.header("location").is_none(), "never a redirect on failure");
        assert_eq!(cookie_value(&r, STATE_COOKIE), Some(""), "cleared on failure too");
        assert!(cookie_value(&r, "session").is_none());
        r
    };
    let ok_target = format!("/callback/idp?code=c&state={state}");
    for (target, cookie, exchanged, status, text) in [
        (ok_target.clone(), None, Some(&good), 403, "did not start in this browser"),
        (
            format!("/callback/idp?code=c&state=forged{state}"),
            Some(state_cookie.as_str()),
            Some(&good),
            403,
            "forged or replayed",
        ),
        (ok_target.clone(), Some("__Host-ivs-signin=e30.AAAA"), Some(&good), 403, "forged or replayed"),
        (
            format!("/callback/idp?error=access_denied&state={state}"),
            Some(state_cookie.as_str()),
            None,
            403,
            "cancelled",
        ),
        (
            format!("/callback/idp?error=server_error&state={state}"),
            Some(state_cookie.as_str()),
            None,
            502,
            "server_error",
        ),
        (format!("/callback/idp?error=%3Cb%3E&state={state}"), Some(state_cookie.as_str()), None, 502, "unreadable"),
        (format!("/callback/idp?state={state}"), Some(state_cookie.as_str()), Some(&good), 400, "no `code`"),
        (ok_target.clone(), Some(state_cookie.as_str()), None, 503, "cannot be reached"),
    ] {
        let r = callback(&target, cookie, exchanged);
        assert_eq!(r.status, status, "{target}: {}", r.body);
        assert!(r.body.contains(text), "{target}: {}", r.body);
        assert!(!r.body.contains("<b>"));
    }
    let answers = [
        (Exchanged::Answer { status: 400, body: r#"{"error":"invalid_grant"}"#.into() }, 400, "already used"),
        (Exchanged::Failed("timeout".into()), 503, "cannot be reached"),
        (Exchanged::Answer { status: 502, body: "<html>".into() }, 503, "cannot be reached"),
        (answer(&id_token("another-nonce", json!({}))), 401, "`nonce`"),
        (answer(&id_token(&nonce, json!({"aud": "someone-else"}))), 401, "`aud`"),
        (answer(&id_token(&nonce, json!({"exp": NOW - 3600}))), 401, "expired"),
    ];
    for (exchanged, status, text) in answers {
        let r = callback(&ok_target, Some(&state_cookie), Some(&exchanged));
        assert_eq!(r.status, status, "{exchanged:?}: {}", r.body);
        assert!(r.body.contains(text), "{}", r.body);
        assert!(r.body.contains("/login?provider=idp&amp;return_to=%2Fwatch%2Fdemo"), "a way to start again");
    }
    // Nothing to exchange for a request whose state fails.
    let mut request = Request::new("GET", &ok_target);
    request.host = Some(HOST);
    assert!(exchange_for(&request, &config, &isolate, NOW).is_none());
    request.cookie = Some(&state_cookie);
    assert!(exchange_for(&request, &config, &isolate, NOW + STATE_TTL_SECONDS).is_none(), "expired state");
    let denied = format!("/callback/idp?error=access_denied&state={state}");
    assert!(exchange_for(&Request { query: denied.split_once('?').unwrap().1, ..request }, &config, &isolate, NOW)
        .is_none());
}

#[test]
fn return_to_is_a_path_of_this_worker() {
    let config = config();
    let isolate = IsolateState::new();
    for bad in ["//evil.example/", "https://evil.example/", "/\\evil.example", "watch/demo", "/\tx"] {
        let r = call(&config, &isolate, get(&format!("/login?provider=idp&return_to={}", url_encode(bad)), None));
        assert_eq!(r.status, 400, "{bad}");
        assert!(r.body.contains("must be a path of this worker") && cookie_value(&r, STATE_COOKIE).is_none());
    }
    for into_flow in ["/callback", "/callback/idp?code=x", "/login?x=1", "/logout"] {
        let r = call(&config, &isolate, get(&format!("/login?provider=idp&return_to={}", url_encode(into_flow)), None));
        let value = cookie_value(&r, STATE_COOKIE).unwrap();
        let (payload, _) = value.split_once('.').unwrap();
        let pending: Pending = serde_json::from_slice(&crate::encoding::b64url_decode(payload).unwrap()).unwrap();
        assert_eq!(pending.return_to, "/watch/demo", "{into_flow}: back into the flow becomes the default");
    }
    let r = call(&config, &isolate, get("/login", None));
    assert_eq!(param(&format!("?{}", r.header("location").unwrap().split_once('?').unwrap().1), "client_id"), "tv-app");
    assert_eq!(call(&config, &isolate, get("/login?provider=nope", None)).status, 404);
    assert_eq!(call(&config, &isolate, Call { method: "POST", ..get("/login", None) }).status, 405);
    let head = call(&config, &isolate, Call { method: "HEAD", ..get("/logout", None) });
    assert_eq!((head.status, head.body.as_str()), (200, ""));
}

#[test]
fn chooser_logout_loop_guard_and_login_url() {
    let two = config_with(json!({"idp": provider(json!({})), "staff": provider(json!({"login": {"client_id": "s",
        "authorization_endpoint": "https://id.example/auth", "token_endpoint": "https://id.example/token", "label": "Staff SSO"}}))}));
    let two_isolate = IsolateState::new();
    let r = call(&two, &two_isolate, get("/watch/demo", None));
    assert_eq!(r.header("location"), Some("/login?return_to=%2Fwatch%2Fdemo"));
    let r = call(&two, &two_isolate, get("/login?return_to=%2Fwatch%2Fdemo", None));
    assert_eq!(r.status, 200);
    assert!(r.body.contains("href=\"/login?provider=staff&amp;return_to=%2Fwatch%2Fdemo\">Staff SSO</a>"));

    let config = config();

    let isolate = IsolateState::new();
    // Logout continues at the provider's end-session endpoint, then shows the page.
    let mut claims = crate::identity::session_cookie::SessionClaims::new("viewer-7", NOW, 600);
    claims.idp = Some("idp".into());
    let session = format!("session={}", config.identity.sessions.as_ref().unwrap().mint(&claims));
    let r = call(&config, &isolate, get("/logout", Some(&session)));
    assert_eq!(r.status, 302);
    assert_eq!(
        r.header("location"),
        Some("https://id.example/end?client_id=tv-app&post_logout_redirect_uri=https%3A%2F%2Ftv.example%2Flogout")
    );
    assert_eq!((cookie_value(&r, "session"), cookie_value(&r, RECENT_COOKIE)), (Some(""), Some("")));
    let r = call(&config, &isolate, get("/logout", None));
    assert_eq!(r.status, 200);
    assert!(r.body.contains("You are signed out"));

    // Right after a sign-in, no second automatic redirect: a page with a link.
    let r = call(&config, &isolate, get("/watch/demo", Some("ivs-signin-recent=1")));
    assert_eq!(r.status, 401);
    assert!(r.body.contains("href=\"/login?provider=idp&amp;return_to=%2Fwatch%2Fdemo\""));

    // LOGIN_URL keeps working and wins.
    let providers = json!({ "idp": provider(json!({})) }).to_string();
    let with_url = Config::load(
        &settings()
            .with(names::IDENTITY_PROVIDERS, providers)
            .with("IDP_SECRET", "x")
            .with(names::LOGIN_URL, "https://auth.example/login"),
    )
    .unwrap();
    let with_url_isolate = IsolateState::new();
    assert_eq!(
        call(&with_url, &with_url_isolate, get("/watch/demo", None)).header("location"),
        Some("https://auth.example/login?return_to=/watch/demo")
    );
    // Without any `login` table the routes do not exist.
    let plain = crate::http::tests::config();
    let plain_isolate = IsolateState::new();
    for path in FLOW_PATHS {
        assert_eq!(call(&plain, &plain_isolate, get(path, None)).status, 404, "{path}");
    }
}

#[test]
fn the_stage_page_signs_in_the_same_way() {
    let providers = json!({ "idp": provider(json!({})) }).to_string();
    let config = Config::load(
        &settings()
            .with(names::IDENTITY_PROVIDERS, providers)
            .with("IDP_SECRET", "x")
            .with(names::STAGES, crate::stage::policy::tests::stages_json()),
    )
    .unwrap();
    let isolate = IsolateState::new();
    let name = config.stages.keys().next().unwrap().clone();
    let r = call(&config, &isolate, get(&format!("/stage/{name}"), None));
    assert_eq!(r.status, 302);
    assert_eq!(r.header("location"), Some(format!("/login?provider=idp&return_to=%2Fstage%2F{name}").as_str()));
}

#[test]
fn configuration_rules() {
    let providers = json!({ "idp": provider(json!({})) }).to_string();
    let error = Config::load(
        &settings()
            .with(names::IDENTITY_PROVIDERS, &*providers)
            .with("IDP_SECRET", "x")
            .with(names::SESSION_SECRET, ""),
    )
    .unwrap_err()
    .to_string();
    assert!(
        error.starts_with("setting IDENTITY_PROVIDERS: sign-in at the edge") && error.contains("SESSION_SECRET"),
        "{error}"
    );
    let error = Config::load(&settings().with(names::IDENTITY_PROVIDERS, &*providers)).unwrap_err().to_string();
    assert!(error.contains("provider `idp`: field `login.client_secret` names secret `IDP_SECRET`"), "{error}");
    // Issue 22, finding 6: never one of the worker's own secrets, which it would send to the provider.
    for own in
        [names::SESSION_SECRET, names::PLAYBACK_PRIVATE_KEY, names::AWS_SECRET_ACCESS_KEY, names::ADMIN_API_TOKEN]
    {
        let providers = json!({ "idp": provider(json!({"login": {"client_id": "tv-app", "client_secret": own,
            "authorization_endpoint": "https://id.example/auth", "token_endpoint": "https://id.example/token"}})) });
        let error = Config::load(
            &crate::config::tests::device_settings()
                .with(names::ADMIN_API_TOKEN, crate::config::tests::ADMIN_TOKEN)
                .with(names::IDENTITY_PROVIDERS, providers.to_string()),
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.contains(&format!("field `login.client_secret` names `{own}`, a setting the worker itself reads")),
            "{own}: {error}"
        );
    }
}

/// Issue 22, finding 1 (RFC 9700 section 4.4): a hostile provider relays the victim, whose
/// sign-in started at it, to the honest provider with the attacker's nonce and PKCE
/// challenge. The honest provider answers at its own callback path; the worker must neither
/// send that code to the hostile token endpoint nor accept an `iss` of another issuer.
#[test]
fn a_mix_up_between_providers_sends_no_code_anywhere() {
    let hostile = provider(json!({"issuer": "https://evil.example", "login": {"client_id": "tv-app",
        "authorization_endpoint": "https://evil.example/auth", "token_endpoint": "https://evil.example/token"}}));
    let config = config_with(json!({"idp": provider(json!({})), "evil": hostile}));
    let isolate = IsolateState::new();
    // Each provider has its own redirect URI.
    let r = call(&config, &isolate, get("/login?provider=evil&return_to=%2Fwatch%2Fdemo", None));
    let victim_location = r.header("location").unwrap().to_owned();
    assert_eq!(param(&victim_location, "redirect_uri"), "https://tv.example/callback/evil");
    let victim_cookie = format!("{STATE_COOKIE}={}", cookie_value(&r, STATE_COOKIE).unwrap());
    let victim_state = param(&victim_location, "state");
    let (attacker_location, _) = start(&config, &isolate, "/watch/demo");
    assert_eq!(param(&attacker_location, "redirect_uri"), "https://tv.example/callback/idp");
    // The honest provider answers the relayed request at its own callback, with the victim's state.
    for target in [
        format!("/callback/idp?code=honest-code&state={victim_state}"),
        format!("/callback/idp?code=honest-code&state={victim_state}&iss={}", url_encode(ISSUER)),
    ] {
        let mut request = Request::new("GET", &target);
        request.host = Some(HOST);
        request.cookie = Some(&victim_cookie);
        assert!(exchange_for(&request, &config, &isolate, NOW).is_none(), "{target}: no code exchange anywhere");
        let exchanged = answer(&id_token("n", json!({})));
        let r = call(&config, &isolate, Call { exchanged: Some(&exchanged), ..get(&target, Some(&victim_cookie)) });
        assert_eq!((r.status, r.problem), (403, Some("sign-in-mix-up")), "{}", r.body);
        assert!(r.body.contains("different identity provider"), "{}", r.body);
        assert!(cookie_value(&r, "session").is_none());
        assert_eq!(cookie_value(&r, STATE_COOKIE), Some(""));
    }
    // At the hostile provider's own callback, an `iss` naming the honest issuer is refused too.
    let target = format!("/callback/evil?code=honest-code&state={victim_state}&iss={}", url_encode(ISSUER));
    let mut request = Request::new("GET", &target);
    request.host = Some(HOST);
    request.cookie = Some(&victim_cookie);
    assert!(exchange_for(&request, &config, &isolate, NOW).is_none());
    let r = call(&config, &isolate, get(&target, Some(&victim_cookie)));
    assert_eq!((r.status, r.problem), (403, Some("sign-in-mix-up")), "{}", r.body);
    assert!(r.body.contains("`iss`"), "{}", r.body);
    // Without `iss` (the hostile provider does not promise it) its own callback proceeds.
    let target = format!("/callback/evil?code=own-code&state={victim_state}");
    request = Request::new("GET", &target);
    request.host = Some(HOST);
    request.cookie = Some(&victim_cookie);
    let (exchange, provider) = exchange_for(&request, &config, &isolate, NOW).unwrap();
    assert_eq!((exchange.url.as_str(), provider.name.as_str()), ("https://evil.example/token", "evil"));
    assert!(exchange.body.contains(&url_encode("https://tv.example/callback/evil")));
    // The old shared callback no longer exists.
    assert_eq!(
        call(&config, &isolate, get(&format!("/callback?code=c&state={victim_state}"), Some(&victim_cookie))).status,
        404
    );
}

/// A provider whose discovery document promises `iss` (RFC 9207) must send it.
#[test]
fn a_promised_iss_is_required() {
    let discovered = provider(json!({"login": {"client_id": "tv-app"}}));
    let config = config_with(json!({ "idp": discovered }));
    let isolate = IsolateState::new();
    let login = config.signin.login("idp").unwrap();
    assert!(login.discovery_url.is_some());
    let doc = json!({"issuer": ISSUER, "authorization_endpoint": "https://id.example/auth",
        "token_endpoint": "https://id.example/token", "authorization_response_iss_parameter_supported": true});
    let fetched = crate::identity::keystore::Fetched::Document { body: doc.to_string(), cache_control: None };
    isolate.discovery.record("idp", ISSUER, fetched, NOW);
    let (location, state_cookie) = start(&config, &isolate, "/watch/demo");
    let state = param(&location, "state");
    let exchange = |target: &str| {
        let mut request = Request::new("GET", target);
        request.host = Some(HOST);
        request.cookie = Some(&state_cookie);
        exchange_for(&request, &config, &isolate, NOW).is_some()
    };
    let without = format!("/callback/idp?code=c&state={state}");
    assert!(!exchange(&without));
    let r = call(&config, &isolate, get(&without, Some(&state_cookie)));
    assert_eq!((r.status, r.problem), (403, Some("sign-in-mix-up")));
    assert!(r.body.contains("no `iss`"), "{}", r.body);
    assert!(exchange(&format!("{without}&iss={}", url_encode(ISSUER))));
    assert!(!exchange(&format!("{without}&iss={}", url_encode("https://id.example/other"))));
}

/// Issue 22, finding 4: the state cookie is `__Host-` on a public host, so a sibling
/// subdomain or a network attacker cannot plant their own sign-in's state (which would sign
/// the victim in as the attacker); an unprefixed cookie of the old name is not read there.
#[test]
fn the_state_cookie_cannot_be_planted() {
    let config = config();
    let isolate = IsolateState::new();
    let r = call(&config, &isolate, get("/login?provider=idp&return_to=%2Fwatch%2Fdemo", None));
    let set = r.headers.iter().find(|(n, v)| *n == "set-cookie" && v.starts_with("__Host-ivs-signin=")).unwrap();
    assert!(set.1.contains("; Path=/;") && set.1.ends_with("; Secure") && !set.1.contains("Domain"), "{}", set.1);
    let value = cookie_value(&r, STATE_COOKIE).unwrap();
    let state = param(r.header("location").unwrap(), "state");
    // The attacker's own valid state, planted under the name a subdomain can set.
    let planted = format!("ivs-signin={value}");
    let target = format!("/callback/idp?code=attackers-code&state={state}");
    let mut request = Request::new("GET", &target);
    request.host = Some(HOST);
    request.cookie = Some(&planted);
    assert!(exchange_for(&request, &config, &isolate, NOW).is_none());
    let r = call(&config, &isolate, get(&target, Some(&planted)));
    assert_eq!((r.status, r.problem), (403, Some("sign-in-state-missing")), "{}", r.body);
    // On a local host (wrangler dev over http) no prefix can be used, and none is.
    let mut local = Request::new("GET", "/login?provider=idp");
    local.host = Some("127.0.0.1:8787");
    let r = handle(&local, Ok(&config), &isolate, NOW, [5; 32]);
    assert!(r.headers.iter().any(|(n, v)| *n == "set-cookie" && v.starts_with("ivs-signin=")), "{:?}", r.headers);
}

/// Issue 22, finding 3: a request fetches at most the discovery document of the provider it
/// needs, so one hanging provider delays only its own sign-ins.
#[test]
fn a_request_needs_at_most_its_own_providers_discovery() {
    let discovered = |client: &str| provider(json!({"login": {"client_id": client}}));
    let config = config_with(json!({"idp": discovered("tv-app"), "staff": discovered("staff-app")}));
    let needs = |target: &str, cookie: Option<&str>| {
        let mut request = Request::new("GET", target);
        request.host = Some(HOST);
        request.cookie = cookie;
        discovery_for(&request, &config, NOW).map(|l| l.provider.clone())
    };
    assert_eq!(needs("/login?provider=staff", None).as_deref(), Some("staff"));
    assert_eq!(needs("/callback/idp?code=c&state=s", None).as_deref(), Some("idp"));
    assert_eq!(needs("/login", None), None, "the chooser page needs no provider");
    assert_eq!(needs("/login?provider=nope", None), None);
    assert_eq!(needs("/callback/nope?code=c", None), None);
    assert_eq!(needs("/logout", None), None, "no session, no provider");
    let mut claims = crate::identity::session_cookie::SessionClaims::new("viewer-7", NOW, 600);
    claims.idp = Some("staff".into());
    let session = format!("session={}", config.identity.sessions.as_ref().unwrap().mint(&claims));
    assert_eq!(needs("/logout", Some(&session)).as_deref(), Some("staff"));
    for other in ["/watch/demo", "/v1/token?channel=demo", "/healthz", "/"] {
        assert_eq!(needs(other, Some(&session)), None, "{other}");
    }
    // Endpoints written out need no discovery at all.
    let written = config_with(json!({ "idp": provider(json!({})) }));
    let mut request = Request::new("GET", "/login?provider=idp");
    request.host = Some(HOST);
    assert!(discovery_for(&request, &written, NOW).is_none());
}

/// Issue 24: a viewer who bought a ticket after signing in is refused by the groups copied at
/// sign-in; the page offers to read them again, silently where the provider can (`prompt=none`),
/// and a provider that wants the viewer to act gets the ordinary sign-in instead of an error.
#[test]
fn a_viewer_who_just_paid_refreshes_their_access() {
    let channels = r#"{"demo": {"arn": "arn:aws:ivs:us-west-2:123456789012:channel/demo1", "playback_url": "https://x.live-video.net/demo.m3u8"},
        "concert": {"arn": "arn:aws:ivs:us-west-2:123456789012:channel/c1", "playback_url": "https://x.live-video.net/c.m3u8",
                    "groups": ["ticket-2026-12"]}}"#;
    let config = Config::load(
        &settings()
            .with(names::CHANNELS, channels)
            .with(names::IDENTITY_PROVIDERS, json!({ "idp": provider(json!({})) }).to_string())
            .with("IDP_SECRET", "client-secret-value"),
    )
    .unwrap();
    let isolate = IsolateState::new();
    let sign_in = |return_to: &str, refresh: bool, groups: serde_json::Value| {
        let target = format!(
            "/login?provider=idp&return_to={}{}",
            url_encode(return_to),
            if refresh { "&refresh=1" } else { "" }
        );
        let r = call(&config, &isolate, get(&target, None));
        assert_eq!(r.status, 302, "{}", r.body);
        let location = r.header("location").unwrap().to_owned();
        let state_cookie = format!("{STATE_COOKIE}={}", cookie_value(&r, STATE_COOKIE).unwrap());
        let exchanged = answer(&id_token(&param(&location, "nonce"), json!({ "groups": groups })));
        (location, state_cookie, exchanged)
    };
    // Signed in before buying: members only.
    let (location, state_cookie, exchanged) = sign_in("/watch/concert", false, json!(["members"]));
    assert!(!location.contains("prompt="), "an ordinary sign-in shows the provider's page");
    let callback = format!("/callback/idp?code=c1&state={}", param(&location, "state"));
    let r = call(&config, &isolate, Call { exchanged: Some(&exchanged), ..get(&callback, Some(&state_cookie)) });
    let session = format!("session={}", cookie_value(&r, "session").unwrap());
    let refused = call(&config, &isolate, get("/watch/concert", Some(&session)));
    assert_eq!((refused.status, refused.problem), (403, Some("channel-forbidden")));
    let refresh = "/login?provider=idp&amp;return_to=%2Fwatch%2Fconcert&amp;refresh=1";
    assert!(refused.body.contains(refresh) && refused.body.contains("Refresh my access"), "{}", refused.body);

    // The refresh: a silent sign-in that comes back with the groups bought since.
    let (location, state_cookie, exchanged) = sign_in("/watch/concert", true, json!(["members", "ticket-2026-12"]));
    assert_eq!(param(&location, "prompt"), "none");
    let callback = format!("/callback/idp?code=c2&state={}", param(&location, "state"));
    let r = call(&config, &isolate, Call { exchanged: Some(&exchanged), ..get(&callback, Some(&state_cookie)) });
    assert_eq!((r.status, r.header("location")), (302, Some("/watch/concert")), "{}", r.body);
    let session = format!("session={}", cookie_value(&r, "session").unwrap());
    assert_eq!(call(&config, &isolate, get("/watch/concert", Some(&session))).status, 200);

    // A provider that needs the viewer (signed out there): the ordinary sign-in, not an error page.
    for error in ["login_required", "interaction_required", "consent_required", "account_selection_required"] {
        let (location, state_cookie, _) = sign_in("/watch/concert", true, json!([]));
        let target = format!("/callback/idp?error={error}&state={}", param(&location, "state"));
        let r = call(&config, &isolate, get(&target, Some(&state_cookie)));
        assert_eq!(
            (r.status, r.header("location")),
            (302, Some("/login?provider=idp&return_to=%2Fwatch%2Fconcert")),
            "{error}: {}",
            r.body
        );
        assert_eq!(cookie_value(&r, STATE_COOKIE), Some(""), "single use");
    }
    // The same error after an ordinary sign-in is the provider's error, as before.
    let (location, state_cookie, _) = sign_in("/watch/concert", false, json!([]));
    let target = format!("/callback/idp?error=login_required&state={}", param(&location, "state"));
    assert_eq!(call(&config, &isolate, get(&target, Some(&state_cookie))).status, 502);

    // The app's own session cookie (no `idp`): the app refreshes it, so no button.
    let own = crate::http::tests::cookie_for(&crate::identity::session_cookie::SessionClaims::new("alice", NOW, 3600));
    let refused = call(&config, &isolate, get("/watch/concert", Some(&own)));
    assert_eq!(refused.status, 403);
    assert!(!refused.body.contains("refresh=1"), "{}", refused.body);
}

/// Issue 24: with `refresh_minutes`, a page opened that long after sign-in reads the viewer's
/// groups again first (a silent sign-in), without a click; never right after a sign-in (a browser
/// that keeps no cookie would loop) and never for the takeover's POST.
#[test]
fn refresh_minutes_reads_groups_again_without_a_click() {
    let mut entry = provider(json!({}));
    entry["login"]["refresh_minutes"] = json!(30);
    let config = config_with(json!({ "idp": entry }));
    let isolate = IsolateState::new();
    let (location, state_cookie) = start(&config, &isolate, "/watch/demo");
    // An ID token valid for two hours: the session lasts that long.
    let exchanged = answer(&id_token(&param(&location, "nonce"), json!({"exp": NOW + 7200})));
    let target = format!("/callback/idp?code=c&state={}", param(&location, "state"));
    let r = call(&config, &isolate, Call { exchanged: Some(&exchanged), ..get(&target, Some(&state_cookie)) });
    let session = format!("session={}", cookie_value(&r, "session").unwrap());
    let at = |now: u64, cookie: &str, method: &str| {
        let mut request = Request::new(method, "/watch/demo");
        request.host = Some(HOST);
        request.cookie = Some(cookie);
        FakeEdge::default().run(Plan::new(request, Ok(&config), &isolate, now, [6; 32]))
    };
    assert_eq!(at(NOW + 29 * 60, &session, "GET").status, 200);
    let due = at(NOW + 30 * 60, &session, "GET");
    assert_eq!(
        (due.status, due.header("location")),
        (302, Some("/login?provider=idp&return_to=%2Fwatch%2Fdemo&refresh=1"))
    );
    assert_eq!(at(NOW + 30 * 60, &format!("{session}; {RECENT_COOKIE}=1"), "GET").status, 200, "no loop");
    assert_eq!(at(NOW + 30 * 60, &session, "HEAD").status, 200);
    // The stage page too, and never the app's own cookie.
    let own = crate::http::tests::cookie_for(&crate::identity::session_cookie::SessionClaims::new("alice", NOW, 7200));
    assert_eq!(at(NOW + 3600, &own, "GET").status, 200);
    // Out of range: refused naming the field.
    for minutes in [json!(4), json!(481), json!("30")] {
        let mut entry = provider(json!({}));
        entry["login"]["refresh_minutes"] = minutes;
        let error = Config::load(
            &settings().with(names::IDENTITY_PROVIDERS, json!({ "idp": entry }).to_string()).with("IDP_SECRET", "s"),
        )
        .unwrap_err();
        assert!(error.to_string().contains("login.refresh_minutes"), "{error}");
    }
}
