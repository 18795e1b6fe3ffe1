//! `GET /openapi.json`: the HTTP contract as an OpenAPI 3.1 document (`openapi/openapi.json`),
//! embedded at build time. It describes the deployment that serves it: the local-only routes
//! (`/`, `/dev/login`) are listed only when `DEV_LOGIN` is on, the sign-in routes (`/login`,
//! `/callback`, `/logout`) only when a provider has a `login` table. `tests/test_contract.py` runs
//! schemathesis against live workers with it, so the document and the worker cannot drift apart
//! unnoticed.

use super::request::Request;
use super::response::Response;
use crate::config::Config;
use crate::error::Error;
use std::sync::LazyLock;

/// The whole document, as served by a worker with `DEV_LOGIN` on.
pub const DOCUMENT: &str = include_str!("../../openapi/openapi.json");

/// Routes that answer only under `DEV_LOGIN` (and only on a local host).
const DEV_ONLY_PATHS: [&str; 2] = ["/", "/dev/login"];

/// Routes that answer only when a provider has a `login` table (sign-in at the edge).
const SIGNIN_PATHS: [&str; 3] = ["/login", "/callback", "/logout"];

/// The document without the routes a deployment does not serve.
fn without(dev_login: bool, signin: bool) -> String {
    let mut doc: serde_json::Value = serde_json::from_str(DOCUMENT).unwrap_or_default();
    if let Some(paths) = doc.get_mut("paths").and_then(serde_json::Value::as_object_mut) {
        let dev = DEV_ONLY_PATHS.iter().filter(|_| !dev_login);
        for path in dev.chain(SIGNIN_PATHS.iter().filter(|_| !signin)) {
            paths.remove(*path);
        }
    }
    doc.to_string()
}

/// The variants of the document, built on first use: [dev_login][signin], the full one aside.
static VARIANTS: [LazyLock<String>; 3] = [
    LazyLock::new(|| without(false, false)),
    LazyLock::new(|| without(false, true)),
    LazyLock::new(|| without(true, false)),
];

/// The document for a worker with or without `DEV_LOGIN` and sign-in at the edge.
pub fn document(dev_login: bool, signin: bool) -> &'static str {
    match (dev_login, signin) {
        (true, true) => DOCUMENT,
        (false, false) => &VARIANTS[0],
        (false, true) => &VARIANTS[1],
        (true, false) => &VARIANTS[2],
    }
}

const METHODS: &str = "GET, HEAD";

pub(super) fn openapi_route(request: &Request<'_>, config: Result<&Config, &Error>) -> Response {
    if !matches!(request.method, "GET" | "HEAD") {
        return Response::problem(&Error::MethodNotAllowed { allow: METHODS });
    }
    let headers = vec![
        ("content-type", "application/json".into()),
        ("cache-control", "public, max-age=300".into()),
        ("x-content-type-options", "nosniff".into()),
        // Public and credential-free, so API tools on any origin may load it.
        ("access-control-allow-origin", "*".into()),
    ];
    let (dev_login, signin) = config.map_or((false, false), |c| (c.dev_login, c.signin.enabled()));
    Response::new(200, headers, document(dev_login, signin).to_owned())
}

#[cfg(test)]
mod tests {
    use super::{DEV_ONLY_PATHS, DOCUMENT, SIGNIN_PATHS};
    use crate::config::{names, tests::settings, Config};
    use crate::http::tests::{config, NOW};
    use crate::http::{handle, Request};
    use serde_json::Value;

    #[test]
    fn serves_the_document() {
        let config = config();
        let r = handle(&Request::new("GET", "/openapi.json"), Ok(&config), NOW, [0; 32]);
        assert_eq!((r.status, r.header("content-type")), (200, Some("application/json")));
        let doc: Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        let head = handle(&Request::new("HEAD", "/openapi.json"), Ok(&config), NOW, [0; 32]);
        assert_eq!((head.status, head.body.as_str()), (200, ""));
    }

    #[test]
    fn local_only_routes_are_listed_only_with_dev_login() {
        let served = |config: &Config| {
            let r = handle(&Request::new("GET", "/openapi.json"), Ok(config), NOW, [0; 32]);
            serde_json::from_str::<Value>(&r.body).unwrap()
        };
        let deployed = served(&config());
        let local = served(&Config::load(&settings().with(names::DEV_LOGIN, "true")).unwrap());
        let providers = r#"{"idp": {"issuer": "https://id.example", "audience": "a", "jwks_url": "https://id.example/jwks",
            "login": {"client_id": "a"}}}"#;
        let everything = served(
            &Config::load(&settings().with(names::DEV_LOGIN, "true").with(names::IDENTITY_PROVIDERS, providers))
                .unwrap(),
        );
        let full: Value = serde_json::from_str(DOCUMENT).unwrap();
        assert_eq!(everything, full, "with DEV_LOGIN and sign-in the repository's document, unchanged");
        for path in DEV_ONLY_PATHS {
            assert!(local["paths"].get(path).is_some() && deployed["paths"].get(path).is_none(), "{path}");
        }
        for path in SIGNIN_PATHS {
            assert!(everything["paths"].get(path).is_some() && local["paths"].get(path).is_none(), "{path}");
        }
        let mut expected = full.clone();
        for path in DEV_ONLY_PATHS.iter().chain(&SIGNIN_PATHS) {
            expected["paths"].as_object_mut().unwrap().remove(*path);
        }
        assert_eq!(deployed, expected, "nothing else differs");
    }

    /// Every route `http::handle` answers is in the document, with GET and HEAD, and every
    /// problem slug the code can produce for it is one the document's pattern allows.
    #[test]
    fn documents_every_route_with_get_and_head() {
        let doc: Value = serde_json::from_str(DOCUMENT).unwrap();
        let paths = doc["paths"].as_object().unwrap();
        let routes = [
            "/",
            "/healthz",
            "/v1/token",
            "/v1/stage-token",
            "/v1/public-key",
            "/openapi.json",
            "/watch/{name}",
            "/stage/{name}",
            "/dev/login",
            "/login",
            "/callback",
            "/logout",
        ];
        for path in routes {
            let item = paths.get(path).unwrap_or_else(|| panic!("{path} is not documented"));
            assert!(item.get("get").is_some() && item.get("head").is_some(), "{path}: GET and HEAD");
        }
        assert!(paths["/v1/token"].get("options").is_some() && paths["/v1/stage-token"].get("options").is_some());
        for (path, item) in paths {
            for (method, op) in item.as_object().unwrap() {
                for (status, response) in op["responses"].as_object().unwrap() {
                    if method == "head" {
                        assert!(response.get("content").is_none(), "{method} {path} {status}: HEAD has no body");
                    }
                }
            }
        }
    }
}
