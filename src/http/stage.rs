//! `GET /v1/stage-token?stage=NAME[&publish=true]`: a fresh participant token as JSON (same
//! headers, CORS and problems as `/v1/token`); `GET /stage/NAME`: the stage page with one inside.
//! Without `STAGES` neither route exists: both answer 404 to every method, as an unknown path does.

use super::request::{query_param, session_of, Request};
use super::response::Response;
use super::token::token_api;
use super::watch::{html, page_route, redirect, refresh_due, refused, sign_in, PAGE_METHODS};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::isolate::IsolateState;
use crate::page::Look;
use crate::stage::policy::{authorize_stage, issue_stage, may_publish, IssuedStageToken};
use crate::text::is_name;

/// The stage name from `?stage=`, validated, and whether `publish=true` is asked.
fn stage_params(query: &str) -> Result<(String, bool)> {
    let name = query_param(query, "stage")?.ok_or_else(|| {
        Error::BadRequest("query parameter `stage` is required: GET /v1/stage-token?stage=NAME".into())
    })?;
    if !is_name(&name) {
        // Not echoed: attacker-controlled and already known to be invalid.
        return Err(Error::BadRequest("query parameter `stage` must be a stage name matching [a-z0-9-]{1,64}".into()));
    }
    let publish = match query_param(query, "publish")?.as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(Error::BadRequest("query parameter `publish` must be true or false".into())),
    };
    Ok((name, publish))
}

fn participant_random(random: &[u8; 32]) -> [u8; 16] {
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&random[..16]);
    bytes
}

/// The JSON answer for an issued participant token.
pub fn issued_json(issued: &IssuedStageToken) -> serde_json::Value {
    serde_json::json!({
        "stage": issued.stage,
        "token": issued.token,
        "participant_id": issued.participant_id,
        "expires_at": issued.expires_at,
        "capabilities": issued.capabilities.names(),
    })
}

/// A configuration without stages serves neither stage route: the 404 of an unknown path, for every
/// method alike (a preflight answering 204 where `GET` answered 404 told that the route exists).
/// A configuration that failed to load still answers its own error, as every route does.
fn without_stages(config: Result<&Config, &Error>) -> Option<Response> {
    config.is_ok_and(|config| config.stages.is_empty()).then(|| Response::problem(&Error::NotFound))
}

pub(super) fn stage_token_route(
    request: &Request<'_>,
    config: Result<&Config, &Error>,
    state: &IsolateState,
    now: u64,
    random: [u8; 32],
) -> Response {
    if let Some(absent) = without_stages(config) {
        return absent;
    }
    token_api(request, config, |config| {
        let params = stage_params(request.query);
        let outcome = params.clone().and_then(|(name, publish)| {
            let session = session_of(config, state, request, now)?;
            let (stage, capabilities) = authorize_stage(&config.stages, &session, &name, publish)?;
            issue_stage(&config.stage_settings(), stage, &session, capabilities, now, participant_random(&random))
        });
        let mut response = match outcome {
            Ok(issued) => Response::json(200, issued_json(&issued)),
            Err(error) => Response::problem(&error),
        };
        response.channel = params.ok().map(|(name, _)| name);
        response
    })
}

pub(super) fn stage_page_route(
    request: &Request<'_>,
    config: Result<&Config, &Error>,
    state: &IsolateState,
    name: &str,
    now: u64,
    random: [u8; 32],
) -> Response {
    if let Some(absent) = without_stages(config) {
        return absent;
    }
    page_route(request, config, name, &random, (PAGE_METHODS, Error::UnknownStage(String::new())), |config, look| {
        stage_page(request, config, state, name, now, &random, look)
    })
}

fn stage_page(
    request: &Request<'_>,
    config: &Config,
    state: &IsolateState,
    name: &str,
    now: u64,
    random: &[u8; 32],
    look: &Look<'_>,
) -> Response {
    if let Some(href) = refresh_due(request, config, &format!("/stage/{name}"), now) {
        let mut response = redirect(href);
        response.channel = Some(name.to_owned());
        return response;
    }
    let outcome = session_of(config, state, request, now).map_err(|e| (e, true)).and_then(|session| {
        // A publisher's page carries a publishing token, so "Join on camera" needs no second token.
        let publish = config.stages.get(name).is_some_and(|stage| may_publish(stage, &session));
        let (stage, capabilities) = authorize_stage(&config.stages, &session, name, publish).map_err(|e| (e, false))?;
        let issued =
            issue_stage(&config.stage_settings(), stage, &session, capabilities, now, participant_random(random))
                .map_err(|e| (e, false))?;
        Ok((stage, issued))
    });
    let mut response = match outcome {
        Err((error, true)) => sign_in(config, request, &format!("/stage/{name}"), &error, look),
        Err((error, false)) => refused(request, config, &error, &format!("/stage/{name}"), now, look),
        Ok((stage, issued)) => {
            let body = crate::page::stage_page(stage, &issued, look);
            html(200, body, crate::page::stage_csp(stage, look))
        }
    };
    response.channel = Some(name.to_owned());
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::names;
    use crate::config::tests::settings;
    use crate::http::handle;
    use crate::http::problem::Problem;
    use crate::http::tests::{body, cookie_for, NOW};
    use crate::identity::session_cookie::SessionClaims;
    use crate::stage::claims::verify;

    fn config() -> Config {
        Config::load(
            &settings()
                .with(names::STAGES, crate::stage::policy::tests::stages_json())
                .with(names::ALLOWED_ORIGINS, "https://app.example"),
        )
        .unwrap()
    }

    fn get(config: &Config, state: &IsolateState, target: &str, cookie: Option<&str>, random: u8) -> Response {
        let mut request = Request::new("GET", target);
        request.cookie = cookie;
        request.origin = Some("https://app.example");
        request.host = Some("tv.example");
        handle(&request, Ok(config), state, NOW, [random; 32])
    }

    fn cookie(groups: &[&str]) -> String {
        let mut claims = SessionClaims::new("alice", NOW, 3600);
        claims.groups = Some(groups.iter().map(|g| g.to_string()).collect());
        cookie_for(&claims)
    }

    #[test]
    fn without_stages_the_stage_routes_are_absent_for_every_method() {
        let unstaged = crate::http::tests::config();
        assert!(unstaged.stages.is_empty());
        let staged = config();
        let host = cookie(&["hosts"]);
        let send = |config: &Config, method: &str, target: &str| {
            let mut request = Request::new(method, target);
            request.cookie = Some(&host);
            request.origin = Some("https://app.example");
            request.host = Some("tv.example");
            // The session cookie and stage tokens use none of the isolate's caches.
            handle(&request, Ok(config), &IsolateState::new(), NOW, [3; 32])
        };
        for method in ["GET", "HEAD", "OPTIONS", "POST", "PUT", "DELETE", "PATCH"] {
            let unknown = send(&unstaged, method, "/nope");
            assert_eq!((unknown.status, unknown.problem), (404, Some("not-found")), "{method}");
            for target in ["/v1/stage-token?stage=open", "/v1/stage-token", "/stage/open", "/stage/Bad"] {
                // Status, headers (no CORS, no Allow) and body: exactly an unknown path's.
                assert_eq!(send(&unstaged, method, target), unknown, "{method} {target}");
                assert_ne!(send(&staged, method, target).problem, Some("not-found"), "{method} {target}");
            }
        }
        let preflight = send(&staged, "OPTIONS", "/v1/stage-token?stage=open");
        assert_eq!((preflight.status, preflight.header("allow")), (204, Some("GET, HEAD, OPTIONS")));
        // A configuration that failed to load answers its own error, as on every route.
        let error = Error::setting(names::STAGES, "is broken");
        for target in ["/v1/stage-token?stage=open", "/stage/open"] {
            let r = handle(&Request::new("GET", target), Err(&error), &IsolateState::new(), NOW, [0; 32]);
            assert_eq!(r.status, error.status(), "{target}");
        }
    }

    #[test]
    fn stage_token_contract() {
        let config = config();
        let state = IsolateState::new();
        let host = cookie(&["hosts"]);
        let r = get(&config, &state, "/v1/stage-token?stage=open&publish=true", Some(&host), 1);
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.header("cache-control"), Some("no-store"));
        assert_eq!(r.header("vary"), Some("Origin, Cookie"));
        assert_eq!(r.header("access-control-allow-origin"), Some("https://app.example"));
        let json = body(&r);
        assert_eq!(json.as_object().unwrap().len(), 5);
        assert_eq!(json["capabilities"], serde_json::json!(["SUBSCRIBE", "PUBLISH"]));
        let claims = verify(json["token"].as_str().unwrap(), &[config.key.public_key()], NOW).unwrap().claims;
        assert_eq!(claims["jti"], json["participant_id"]);
        assert_eq!(claims["exp"], json["expires_at"]);
        assert_eq!(claims["capabilities"]["allow_publish"], true);
        let again = body(&get(&config, &state, "/v1/stage-token?stage=open&publish=true", Some(&host), 2));
        assert_ne!(again["participant_id"], json["participant_id"]);
    }

    #[test]
    fn stage_token_problems() {
        let config = config();
        let state = IsolateState::new();
        let guest = cookie(&[]);
        for (target, cookie, status, slug) in [
            ("/v1/stage-token", Some(&guest), 400, "bad-request"),
            ("/v1/stage-token?stage=Bad", Some(&guest), 400, "bad-request"),
            ("/v1/stage-token?stage=open&publish=yes", Some(&guest), 400, "bad-request"),
            ("/v1/stage-token?stage=open", None, 401, "session-missing"),
            ("/v1/stage-token?stage=open&publish=true", Some(&guest), 403, "stage-forbidden"),
            ("/v1/stage-token?stage=club", Some(&guest), 403, "stage-forbidden"),
            ("/v1/stage-token?stage=nope", Some(&guest), 404, "unknown-stage"),
        ] {
            let r = get(&config, &state, target, cookie.map(String::as_str), 0);
            assert_eq!(r.status, status, "{target}: {}", r.body);
            assert_eq!(body(&r)["type"], format!("urn:ivs-token-worker:problem:{slug}"), "{target}");
            assert_eq!(r.header("access-control-allow-origin"), Some("https://app.example"));
        }
        let post = handle(&Request::new("POST", "/v1/stage-token"), Ok(&config), &state, NOW, [0; 32]);
        assert_eq!((post.status, post.header("allow")), (405, Some("GET, HEAD, OPTIONS")));
    }

    #[test]
    fn stage_page() {
        let config = config();
        let state = IsolateState::new();
        let r = get(&config, &state, "/stage/open", Some(&cookie(&["hosts"])), 7);
        assert_eq!(r.status, 200, "{}", r.body);
        let csp = r.header("content-security-policy").unwrap();
        let nonce = crate::page::nonce(&[7; 16]);
        assert!(csp.contains(&format!("'nonce-{nonce}'")) && csp.contains("wss://global.events.live-video.net"));
        assert!(r.body.contains("id=\"join-camera\""));
        let start = r.body.find("\"token\":\"").unwrap() + 9;
        let token: String = r.body[start..].chars().take_while(|c| *c != '"').collect();
        let claims = verify(&token, &[config.key.public_key()], NOW).unwrap().claims;
        assert_eq!(claims["capabilities"]["allow_publish"], true);
        let guest = get(&config, &state, "/stage/open", Some(&cookie(&[])), 7);
        assert!(guest.status == 200 && !guest.body.contains("id=\"join-camera\""));
        assert_eq!(get(&config, &state, "/stage/club", Some(&cookie(&[])), 7).status, 403);
        assert_eq!(get(&config, &state, "/stage/nope", Some(&cookie(&[])), 7).status, 404);
        assert_eq!(get(&config, &state, "/stage/open", None, 7).status, 401);
        let login = Config::load(
            &settings()
                .with(names::STAGES, crate::stage::policy::tests::stages_json())
                .with(names::LOGIN_URL, "/login"),
        )
        .unwrap();
        let login_state = IsolateState::new();
        let r = get(&login, &login_state, "/stage/open", None, 7);
        assert_eq!((r.status, r.header("location")), (302, Some("/login?return_to=/stage/open")));
    }
}
