//! `GET /v1/token?channel=NAME`: a signed playback token as JSON, with CORS for listed origins.

use super::{query_param, session_of, Request, Response};
use crate::channel::{is_channel_name, origin_matches};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::grant::{authorize, issue};

/// The channel name from `?channel=`, validated.
fn channel_param(query: &str) -> Result<String> {
    let name = query_param(query, "channel")?
        .ok_or_else(|| Error::BadRequest("query parameter `channel` is required: GET /v1/token?channel=NAME".into()))?;
    if !is_channel_name(&name) {
        // The value is not echoed: it is attacker-controlled and already known to be invalid.
        return Err(Error::BadRequest("query parameter `channel` must be a channel name matching [a-z0-9-]{1,64}".into()));
    }
    Ok(name)
}

/// CORS headers for a request whose `Origin` is in `ALLOWED_ORIGINS` (nothing otherwise).
fn cors_headers(config: &Config, origin: Option<&str>) -> Vec<(&'static str, String)> {
    match origin {
        Some(origin) if config.allowed_origins.iter().any(|p| origin_matches(p, origin)) => vec![
            ("access-control-allow-origin", origin.to_owned()),
            ("access-control-allow-credentials", "true".into()),
        ],
        _ => Vec::new(),
    }
}

const TOKEN_METHODS: &str = "GET, OPTIONS";

pub(super) fn token_route(request: &Request<'_>, config: Result<&Config, &Error>, now: u64, random: [u8; 32]) -> Response {
    if !matches!(request.method, "GET" | "OPTIONS") {
        return Response::problem(&Error::MethodNotAllowed { allow: TOKEN_METHODS });
    }
    let config = match config {
        Ok(config) => config,
        Err(error) => return Response::problem(error),
    };
    let cors = cors_headers(config, request.origin);
    let mut response = if request.method == "OPTIONS" {
        let headers = vec![("cache-control", "no-store".into()), ("x-content-type-options", "nosniff".into())];
        let mut preflight = Response::new(204, headers, String::new());
        if !cors.is_empty() {
            preflight = preflight
                .with_header("access-control-allow-methods", TOKEN_METHODS)
                .with_header("access-control-max-age", "600");
        }
        preflight
    } else {
        let channel = channel_param(request.query);
        let outcome = channel.clone().and_then(|name| {
            let session = session_of(config, request, now)?;
            let channel = authorize(config, &session, &name)?;
            let mut single_use = [0u8; 16];
            single_use.copy_from_slice(&random[..16]);
            Ok(issue(config, channel, &session, now, single_use))
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
        response.channel = channel.ok();
        response
    };
    response.headers.push(("vary", "Origin, Cookie".into()));
    response.headers.extend(cors);
    response
}


#[cfg(test)]
mod tests {
    use crate::http::tests::{body, config, cookie_for, get, NOW};
    use crate::http::{handle, Request};
    use crate::identity::session_cookie::SessionClaims;
    use crate::token::verify;

    #[test]
    fn token_success_contract() {
        let config = config();
        let cookie = cookie_for(&SessionClaims::new("alice", NOW, 3600));
        let response = get(&config, "/v1/token?channel=demo", Some(&cookie), Some("https://app.example"));
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
        let cookie = cookie_for(&SessionClaims::new("alice", NOW, 3600));
        let wildcard = get(&config, "/v1/token?channel=demo", Some(&cookie), Some("https://tv.example.org"));
        assert_eq!(wildcard.header("access-control-allow-origin"), Some("https://tv.example.org"));
        let evil = get(&config, "/v1/token?channel=demo", Some(&cookie), Some("https://evil.example"));
        assert_eq!(evil.header("access-control-allow-origin"), None);
        assert_eq!(evil.header("access-control-allow-credentials"), None);
        // Problems carry CORS too, so the page can read why.
        let denied = get(&config, "/v1/token?channel=demo", None, Some("https://app.example"));
        assert_eq!(denied.status, 401);
        assert_eq!(denied.header("access-control-allow-origin"), Some("https://app.example"));
    }

    #[test]
    fn preflight() {
        let config = config();
        let mut request = Request::new("OPTIONS", "/v1/token?channel=demo");
        request.origin = Some("https://app.example");
        let response = handle(&request, Ok(&config), NOW, [0; 32]);
        assert_eq!(response.status, 204);
        assert!(response.body.is_empty());
        assert_eq!(response.header("access-control-allow-origin"), Some("https://app.example"));
        assert_eq!(response.header("access-control-allow-methods"), Some("GET, OPTIONS"));
        request.origin = Some("https://evil.example");
        let response = handle(&request, Ok(&config), NOW, [0; 32]);
        assert_eq!(response.status, 204);
        assert_eq!(response.header("access-control-allow-origin"), None);
    }
}
