//! `GET /openapi.json`: the HTTP contract as an OpenAPI 3.1 document (`openapi/openapi.json`),
//! embedded at build time. `tests/test_contract.py` runs schemathesis against a live worker with
//! it, so the document and the worker cannot drift apart unnoticed.

use super::request::Request;
use super::response::Response;
use crate::error::Error;

/// The document, as served.
pub const DOCUMENT: &str = include_str!("../../openapi/openapi.json");

const METHODS: &str = "GET, HEAD";

pub(super) fn openapi_route(request: &Request<'_>) -> Response {
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
    Response::new(200, headers, DOCUMENT.to_owned())
}

#[cfg(test)]
mod tests {
    use super::DOCUMENT;
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
