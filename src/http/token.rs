//! `GET /v1/token?channel=NAME`: a signed playback token as JSON, with CORS for listed origins.

use super::device::admit;
use super::request::{channel_param, session_of, Request};
use super::response::{cors_api, Response};
use crate::channel::policy::{authorize, issue, issue_admitted};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::isolate::IsolateState;

/// Methods of the token API routes (`HEAD` for uptime checks: the same answer without its body).
const TOKEN_METHODS: &str = "GET, HEAD, OPTIONS";
/// Methods a cross-origin page may use (HEAD is CORS-safelisted anyway).
const CORS_METHODS: &str = "GET, OPTIONS";

pub(super) fn token_route(
    request: &Request<'_>,
    config: Result<&Config, &Error>,
    state: &IsolateState,
    now: u64,
    random: [u8; 32],
) -> Response {
    token_api(request, config, |config| {
        let channel = channel_param(request.query);
        let mut device_cookie = None;
        let mut ledger = None;
        let outcome = channel.clone().and_then(|name| {
            let session = session_of(config, state, request, now)?;
            let channel = authorize(&config.channels, &session, &name, request.country().as_deref())?;
            let mut single_use = [0u8; 16];
            single_use.copy_from_slice(&random[..16]);
            let (admission, cookie) = admit(request, config, channel, &session, now, random);
            device_cookie = cookie;
            let admission = admission?;
            ledger = admission.ledger;
            Ok(match admission.version {
                Some(version) => issue_admitted(
                    &config.playback_settings(&state.tokens),
                    channel,
                    &session,
                    version,
                    now,
                    single_use,
                ),
                None => issue(&config.playback_settings(&state.tokens), channel, &session, now, single_use),
            })
        });
        let mut response = match outcome {
            Ok(issued) => Response::json(
                200,
                serde_json::json!({
                    "channel": issued.channel,
                    "token": issued.token,
                    "playback_url": issued.playback_url,
                    "expires_at": issued.expires_at,
                }),
            ),
            Err(error) => Response::problem(&error),
        };
        if let Some(cookie) = device_cookie {
            response.headers.push(("set-cookie", cookie));
        }
        response.ledger = ledger;
        response.channel = channel.ok();
        response
    })
}

/// What every token API route (`/v1/token`, `/v1/stage-token`, `/v1/chat-token`) shares around its answer: the
/// methods, the configuration's own error, the CORS preflight and headers, the Bearer challenge
/// and `Vary`. `answer` makes the GET (and HEAD) answer from a loaded configuration.
pub(super) fn token_api(
    request: &Request<'_>,
    config: Result<&Config, &Error>,
    answer: impl FnOnce(&Config) -> Response,
) -> Response {
    cors_api(request, config, TOKEN_METHODS, CORS_METHODS, answer)
}

#[cfg(test)]
mod tests {
    use crate::channel::claims::verify;
    use crate::http::tests::{body, config, cookie_for, get, NOW};
    use crate::http::{handle, Request};
    use crate::identity::session_cookie::SessionClaims;
    use crate::isolate::IsolateState;

    #[test]
    fn token_success_contract() {
        let config = config();
        let state = IsolateState::new();
        let cookie = cookie_for(&SessionClaims::new("alice", NOW, 3600));
        let response = get(&config, &state, "/v1/token?channel=demo", Some(&cookie), Some("https://app.example"));
        assert_eq!(response.status, 200, "{}", response.body);
        assert_eq!(response.header("content-type"), Some("application/json"));
        assert_eq!(response.header("cache-control"), Some("no-store"));
        assert_eq!(response.header("vary"), Some("Origin, Cookie"));
        assert_eq!(response.header("access-control-allow-origin"), Some("https://app.example"));
        assert_eq!(response.header("access-control-allow-credentials"), Some("true"));
        let json = body(&response);
        let token = json["token"].as_str().unwrap();
        assert_eq!(json["channel"], "demo");
        assert_eq!(json["playback_url"], format!("https://x.live-video.net/demo.m3u8?token={token}"));
        let claims = verify(token, &[config.key.public_key()], NOW).unwrap().claims;
        assert_eq!(json["expires_at"], claims["exp"]);
        assert_eq!(json.as_object().unwrap().len(), 4);
    }

    #[test]
    fn cors_only_for_listed_origins() {
        let config = config();
        let state = IsolateState::new();
        let cookie = cookie_for(&SessionClaims::new("alice", NOW, 3600));
        let wildcard = get(&config, &state, "/v1/token?channel=demo", Some(&cookie), Some("https://tv.example.org"));
        assert_eq!(wildcard.header("access-control-allow-origin"), Some("https://tv.example.org"));
        let evil = get(&config, &state, "/v1/token?channel=demo", Some(&cookie), Some("https://evil.example"));
        assert_eq!(evil.header("access-control-allow-origin"), None);
        assert_eq!(evil.header("access-control-allow-credentials"), None);
        // Problems carry CORS too, so the page can read why.
        let denied = get(&config, &state, "/v1/token?channel=demo", None, Some("https://app.example"));
        assert_eq!(denied.status, 401);
        assert_eq!(denied.header("access-control-allow-origin"), Some("https://app.example"));
    }

    /// Outside review (issue 16), finding 4: an `Origin` that is not exactly `scheme://host[:port]`
    /// is never reflected, though its text ends like a host `https://*.example.org` covers.
    #[test]
    fn cors_never_reflects_an_origin_that_is_not_scheme_host_port() {
        let config = config();
        let state = IsolateState::new();
        let cookie = cookie_for(&SessionClaims::new("alice", NOW, 3600));
        for origin in [
            "https://evil.test/.example.org",
            "https://evil.test#.example.org",
            "https://evil.test?.example.org",
            "https://evil.test@a.example.org",
            "https://evil.test\\.example.org",
            "https://evil.test .example.org",
            "https://a.example.org/",
            "https://a.example.org:",
            "https://a.example.org:443",
            "https://.example.org",
            "https://a..example.org",
            "null",
        ] {
            for method in ["GET", "OPTIONS"] {
                let mut request = Request::new(method, "/v1/token?channel=demo");
                request.cookie = Some(&cookie);
                request.origin = Some(origin);
                let response = handle(&request, Ok(&config), &state, NOW, [0; 32]);
                assert_eq!(response.header("access-control-allow-origin"), None, "{method} {origin}");
                assert_eq!(response.header("access-control-allow-credentials"), None, "{method} {origin}");
            }
        }
        let wildcard = get(&config, &state, "/v1/token?channel=demo", Some(&cookie), Some("https://a.b.example.org"));
        assert_eq!(wildcard.header("access-control-allow-origin"), Some("https://a.b.example.org"));
    }

    /// Uptime checks use HEAD: the same status and headers as GET, no body.
    #[test]
    fn head_is_get_without_the_body() {
        let config = config();
        let state = IsolateState::new();
        let cookie = cookie_for(&SessionClaims::new("alice", NOW, 3600));
        for (target, cookie, status) in [
            ("/v1/token?channel=demo", Some(cookie.as_str()), 200),
            ("/v1/token?channel=demo", None, 401),
            ("/v1/token", None, 400),
        ] {
            let get = get(&config, &state, target, cookie, None);
            let mut request = Request::new("HEAD", target);
            request.cookie = cookie;
            let head = handle(&request, Ok(&config), &state, NOW, [9; 32]);
            assert_eq!((get.status, head.status), (status, status), "{target}");
            assert_eq!(head.headers, get.headers, "{target}");
            assert!(head.body.is_empty() && !get.body.is_empty());
        }
    }

    #[test]
    fn preflight() {
        let config = config();
        let state = IsolateState::new();
        let mut request = Request::new("OPTIONS", "/v1/token?channel=demo");
        request.origin = Some("https://app.example");
        let response = handle(&request, Ok(&config), &state, NOW, [0; 32]);
        assert_eq!(response.status, 204);
        assert!(response.body.is_empty());
        assert_eq!(response.header("access-control-allow-origin"), Some("https://app.example"));
        assert_eq!(response.header("access-control-allow-methods"), Some("GET, OPTIONS"));
        assert_eq!(response.header("allow"), Some("GET, HEAD, OPTIONS"));
        request.origin = Some("https://evil.example");
        let response = handle(&request, Ok(&config), &state, NOW, [0; 32]);
        assert_eq!(response.status, 204);
        assert_eq!(response.header("access-control-allow-origin"), None);
    }
}

#[cfg(test)]
mod identity_tests {
    use crate::channel::claims::verify;
    use crate::config::{names, tests::settings, Config};
    use crate::http::tests::{body, NOW};
    use crate::http::{handle, Request, Response};
    use crate::identity::jwt::tests::{claims, mint, signer_jwk, ISSUER};
    use crate::identity::keystore::Fetched;
    use crate::identity::session_cookie::SessionClaims;
    use crate::isolate::IsolateState;
    use serde_json::json;

    /// A worker that knows only an identity provider (no SESSION_SECRET), with a members-only
    /// and a country-limited channel.
    fn config(jwks: serde_json::Value) -> Config {
        let mut provider = json!({"issuer": ISSUER, "audience": "tv-app", "groups_claim": "groups"});
        provider.as_object_mut().unwrap().extend(jwks.as_object().unwrap().clone());
        let channels = json!({
            "demo": {"arn": "arn:aws:ivs:us-west-2:123456789012:channel/demo1", "playback_url": "https://x.live-video.net/demo.m3u8"},
            "members": {"arn": "arn:aws:ivs:us-west-2:123456789012:channel/m1", "playback_url": "https://x.live-video.net/m.m3u8", "groups": ["members", "staff"]},
            "de": {"arn": "arn:aws:ivs:us-west-2:123456789012:channel/de1", "playback_url": "https://x.live-video.net/de.m3u8", "allowed_countries": ["DE"]}
        });
        let settings = settings()
            .with(names::SESSION_SECRET, "")
            .with(names::CHANNELS, channels.to_string())
            .with(names::ALLOWED_ORIGINS, "https://app.example")
            .with(names::IDENTITY_PROVIDERS, json!({ "idp": provider }).to_string());
        Config::load(&settings).unwrap()
    }

    fn inline() -> Config {
        config(json!({"jwks": {"keys": [signer_jwk("k1")]}}))
    }

    fn bearer(claims: &serde_json::Value) -> String {
        format!("Bearer {}", mint(&json!({"alg": "ES384", "kid": "k1"}), claims))
    }

    fn get(
        config: &Config,
        state: &IsolateState,
        target: &str,
        authorization: Option<&str>,
        headers: &[(&str, &str)],
        host: &str,
    ) -> Response {
        let mut request = Request::new("GET", target);
        request.authorization = authorization;
        request.headers = headers;
        request.host = Some(host);
        handle(&request, Ok(config), state, NOW, [5; 32])
    }

    #[test]
    fn a_bearer_token_from_the_provider_gets_a_viewer_bound_playback_token() {
        let config = inline();
        let state = IsolateState::new();
        let r = get(&config, &state, "/v1/token?channel=demo", Some(&bearer(&claims())), &[], "tv.example");
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.header("vary"), Some("Origin, Cookie, Authorization"));
        let token = body(&r)["token"].as_str().unwrap().to_owned();
        let c = verify(&token, &[config.key.public_key()], NOW).unwrap().claims;
        let id = c["aws:viewer-id"].as_str().unwrap();
        assert_eq!(id, config.viewer_ids.viewer_id(Some(ISSUER), "user-1"), "derived from the issuer and the subject");
        assert!(id.len() == 40 && id.bytes().all(|b| b.is_ascii_hexdigit()) && !id.contains("user-1"));
        assert_eq!(c["aws:viewer-session-version"], 0);
    }

    /// The same `sub` from the worker's own cookie, from provider `idp` and from provider `other`
    /// (another issuer): three viewers, so three viewer ids and three default stage `user_id`s.
    #[test]
    fn the_same_subject_from_each_source_is_a_different_viewer() {
        const OTHER_ISSUER: &str = "https://other-id.example";
        let keys = json!({"keys": [signer_jwk("k1")]});
        let providers = json!({
            "idp": {"issuer": ISSUER, "audience": "tv-app", "jwks": keys},
            "other": {"issuer": OTHER_ISSUER, "audience": "tv-app", "jwks": keys},
        });
        let config = Config::load(
            &settings()
                .with(names::IDENTITY_PROVIDERS, providers.to_string())
                .with(names::STAGES, crate::stage::policy::tests::stages_json()),
        )
        .unwrap();
        let state = IsolateState::new();
        let cookie = crate::http::tests::cookie_for(&SessionClaims::new("user-1", NOW, 3600));
        let from_other = bearer(&json!({"iss": OTHER_ISSUER, "aud": "tv-app", "sub": "user-1", "exp": NOW + 600}));
        let from_idp = bearer(&claims());
        type Verify = fn(&str, &[crate::key::PublicKey], u64) -> crate::error::Result<crate::jose::VerifiedToken>;
        let ids = |target: &str, claim: &str, verify: Verify| -> Vec<String> {
            let mut ids = Vec::new();
            for (cookie, authorization) in
                [(Some(cookie.as_str()), None), (None, Some(&from_idp)), (None, Some(&from_other))]
            {
                let mut request = Request::new("GET", target);
                request.cookie = cookie;
                request.authorization = authorization.map(String::as_str);
                request.host = Some("tv.example");
                let r = handle(&request, Ok(&config), &state, NOW, [5; 32]);
                assert_eq!(r.status, 200, "{}", r.body);
                let token = body(&r)["token"].as_str().unwrap().to_owned();
                let c = verify(&token, &[config.key.public_key()], NOW).unwrap().claims;
                ids.push(c[claim].as_str().unwrap().to_owned());
            }
            ids
        };
        let endpoints: [(&str, &str, Verify); 2] = [
            ("/v1/token?channel=demo", "aws:viewer-id", verify),
            ("/v1/stage-token?stage=open", "user_id", crate::stage::claims::verify),
        ];
        for (target, claim, verify) in endpoints {
            let [cookie, idp, other] = <[String; 3]>::try_from(ids(target, claim, verify)).unwrap();
            assert_ne!(idp, cookie, "{claim}: a provider's user-1 is not the cookie's user-1");
            assert_ne!(other, cookie, "{claim}: a provider's user-1 is not the cookie's user-1");
            assert_ne!(idp, other, "{claim}: provider A's user-1 is not provider B's user-1");
            assert_eq!(
                cookie,
                config.viewer_ids.viewer_id(None, "user-1"),
                "{claim}: the cookie's derivation is unchanged"
            );
            assert_eq!(idp, config.viewer_ids.viewer_id(Some(ISSUER), "user-1"), "{claim}");
            assert_eq!(other, config.viewer_ids.viewer_id(Some(OTHER_ISSUER), "user-1"), "{claim}");
        }
    }

    #[test]
    fn refusals_carry_the_bearer_challenge_and_never_the_token() {
        let config = inline();
        let state = IsolateState::new();
        let mut expired = claims();
        expired["exp"] = json!(NOW - 3600);
        let r = get(&config, &state, "/v1/token?channel=demo", Some(&bearer(&expired)), &[], "tv.example");
        assert_eq!((r.status, body(&r)["type"].as_str()), (401, Some("urn:ivs-token-worker:problem:session-expired")));
        assert_eq!(r.header("www-authenticate"), Some(r#"Bearer error="invalid_token""#));
        assert!(!r.body.contains("eyJ"));
        let r = get(&config, &state, "/v1/token?channel=demo", None, &[], "tv.example");
        assert_eq!((r.status, body(&r)["type"].as_str()), (401, Some("urn:ivs-token-worker:problem:session-missing")));
        assert_eq!(r.header("www-authenticate"), None);
    }

    #[test]
    fn channel_groups_rule() {
        let config = inline();
        let state = IsolateState::new();
        let r = get(&config, &state, "/v1/token?channel=members", Some(&bearer(&claims())), &[], "tv.example");
        assert_eq!(r.status, 200, "in `members`: {}", r.body);
        let mut outsider = claims();
        outsider["groups"] = json!(["guests", "secret-group"]);
        let r = get(&config, &state, "/v1/token?channel=members", Some(&bearer(&outsider)), &[], "tv.example");
        assert_eq!(r.status, 403);
        let detail = body(&r)["detail"].as_str().unwrap().to_owned();
        assert!(
            detail.contains("certain groups") && !detail.contains("secret-group") && !detail.contains("guests"),
            "{detail}"
        );
    }

    #[test]
    fn country_rule_with_the_local_stand_in_header() {
        let config = inline();
        let state = IsolateState::new();
        let token = bearer(&claims());
        let de = [("X-Dev-Country", "de")];
        assert_eq!(get(&config, &state, "/v1/token?channel=de", Some(&token), &de, "127.0.0.1:8787").status, 200);
        let fr = [("X-Dev-Country", "FR")];
        let r = get(&config, &state, "/v1/token?channel=de", Some(&token), &fr, "127.0.0.1:8787");
        assert_eq!(r.status, 403);
        assert!(body(&r)["detail"].as_str().unwrap().contains("country"));
        // Off localhost the header is ignored: the country is unknown, so `allowed_countries` refuses.
        assert_eq!(get(&config, &state, "/v1/token?channel=de", Some(&token), &de, "tv.example").status, 403);
        // In production the platform's country decides, and the header cannot override it.
        let mut request = Request::new("GET", "/v1/token?channel=de");
        request.authorization = Some(&token);
        request.country = Some("DE");
        request.host = Some("tv.example");
        assert_eq!(handle(&request, Ok(&config), &state, NOW, [5; 32]).status, 200);
        request.country = Some("FR");
        request.headers = &de;
        assert_eq!(handle(&request, Ok(&config), &state, NOW, [5; 32]).status, 403);
        // Locally (wrangler dev reports a placeholder country), the stand-in header wins.
        request.host = Some("localhost:8787");
        assert_eq!(handle(&request, Ok(&config), &state, NOW, [5; 32]).status, 200);
    }

    /// Issue 15: the credential the Workers layer located is the one the route uses (no second
    /// read); without one, `handle` locates it itself, once.
    #[test]
    fn the_located_credential_is_read_once() {
        use crate::identity::jwt::DECODES;
        let decodes = || DECODES.with(std::cell::Cell::get);
        let config = inline();
        let state = IsolateState::new();
        let token = bearer(&claims());
        let mut request = Request::new("GET", "/v1/token?channel=demo");
        request.authorization = Some(&token);
        request.host = Some("tv.example");
        let start = decodes();
        assert_eq!(handle(&request, Ok(&config), &state, NOW, [5; 32]).status, 200, "native path");
        assert_eq!(decodes() - start, 1, "located by handle, once");
        let mut located = config.identity.locate(&state.identity, &request.presented());
        for check in located.signature_checks(NOW) {
            located.record_verdict(&check, false);
        }
        let start = decodes();
        request.located = Some(&located);
        let r = handle(&request, Ok(&config), &state, NOW, [5; 32]);
        assert_eq!(decodes() - start, 0, "handed in: not read again");
        assert_eq!(r.status, 200, "verified before, so the cached session answers: {}", r.body);
        let fresh = bearer(&json!({"iss": ISSUER, "aud": "tv-app", "sub": "user-2", "exp": NOW + 60}));
        let mut request = Request::new("GET", "/v1/token?channel=demo");
        request.authorization = Some(&fresh);
        let mut located = config.identity.locate(&state.identity, &request.presented());
        for check in located.signature_checks(NOW) {
            located.record_verdict(&check, false);
        }
        request.located = Some(&located);
        let start = decodes();
        let r = handle(&request, Ok(&config), &state, NOW, [5; 32]);
        assert_eq!(decodes() - start, 0);
        assert_eq!(r.status, 401, "the platform's verdict, carried in the located value, decides: {}", r.body);
    }

    #[test]
    fn preflight_allows_the_authorization_header() {
        let config = inline();
        let state = IsolateState::new();
        let mut request = Request::new("OPTIONS", "/v1/token?channel=demo");
        request.origin = Some("https://app.example");
        let r = handle(&request, Ok(&config), &state, NOW, [0; 32]);
        assert_eq!(r.status, 204);
        assert_eq!(r.header("access-control-allow-headers"), Some("authorization"));
        assert_eq!(r.header("access-control-allow-origin"), Some("https://app.example"));
    }

    #[test]
    fn a_provider_without_keys_is_a_503_and_an_unhealthy_worker() {
        let config = config(json!({"jwks_url": "https://id.example/jwks"}));
        let state = IsolateState::new();
        let token = bearer(&claims());
        let r = get(&config, &state, "/v1/token?channel=demo", Some(&token), &[], "tv.example");
        assert_eq!(
            (r.status, body(&r)["type"].as_str()),
            (503, Some("urn:ivs-token-worker:problem:identity-provider-unavailable"))
        );
        assert_eq!(get(&config, &state, "/healthz", None, &[], "tv.example").status, 200, "nothing has failed yet");
        state.identity.keys.record(&config.identity.providers[0], Fetched::Failed("HTTP 500".into()), NOW);
        let health = get(&config, &state, "/healthz", None, &[], "tv.example");
        assert_eq!(health.status, 503);
        assert!(body(&health)["detail"].as_str().unwrap().contains("identity provider `idp`"));
        let doc = json!({"keys": [signer_jwk("k1")]}).to_string();
        state.identity.keys.record(
            &config.identity.providers[0],
            Fetched::Document { body: doc, cache_control: None },
            NOW,
        );
        assert_eq!(get(&config, &state, "/v1/token?channel=demo", Some(&token), &[], "tv.example").status, 200);
        assert_eq!(get(&config, &state, "/healthz", None, &[], "tv.example").status, 200);
    }
}
