//! `GET /openapi.json`: the HTTP contract as an OpenAPI 3.1 document (`openapi/openapi.json`),
//! embedded at build time (minified by build.rs). It describes the deployment that serves it: the local-only routes
//! (`/`, `/dev/login`) are listed only when `DEV_LOGIN` is on, the sign-in routes (`/login`,
//! `/callback/{provider}`, `/logout`) only when a provider has a `login` table, the stage routes
//! (`/v1/stage-token`, `/stage/{name}`) only when `STAGES` names a stage, `/v1/chat-token` only
//! when a channel has a chat room; the operator API's
//! viewer fields follow its identity providers (their names as `provider`'s values, `provider`
//! absent without providers, `session_cookie` only with `SESSION_SECRET`). `tests/test_contract.py`
//! runs schemathesis against live workers with it, so the document and the worker cannot drift
//! apart unnoticed.

use super::request::Request;
use super::response::Response;
use crate::config::Config;
use crate::error::Error;
use serde_json::Value;
use std::sync::{Mutex, OnceLock, PoisonError};

/// The whole document, as served by a worker that serves every optional route: the repository's
/// `openapi/openapi.json` without the whitespace between its tokens (build.rs).
pub const DOCUMENT: &str = include_str!(concat!(env!("OUT_DIR"), "/openapi.json"));

/// Routes that answer only under `DEV_LOGIN` (and only on a local host).
const DEV_ONLY_PATHS: [&str; 2] = ["/", "/dev/login"];

/// Routes that answer only when a provider has a `login` table (sign-in at the edge).
const SIGNIN_PATHS: [&str; 3] = ["/login", "/callback/{provider}", "/logout"];

/// Routes that answer only when `STAGES` names a stage (404 for every method otherwise).
const STAGE_PATHS: [&str; 2] = ["/v1/stage-token", "/stage/{name}"];

/// Routes that answer only when a channel has a chat room (404 for every method otherwise).
const CHAT_PATHS: [&str; 1] = ["/v1/chat-token"];

/// Paths served only with `DEVICE_LIMITS`.
const DEVICE_PATHS: [&str; 1] = ["/v1/heartbeat"];

/// Operations served only with `DEVICE_LIMITS` on paths that exist without it: the watch page's
/// "Watch here instead" POST.
const DEVICE_OPERATIONS: [(&str, &str); 1] = [("/watch/{name}", "post")];

/// Parameters of the token routes read only with `DEVICE_LIMITS`.
const DEVICE_PARAMETERS: [&str; 2] = ["takeover", "X-Device-Id"];

/// Paths served only with `DEVICE_LIMITS` and `ADMIN_API_TOKEN`: the operator API.
const OPERATOR_PATHS: [&str; 3] = ["/v1/admin/revoke", "/v1/admin/unblock", "/v1/admin/devices"];

/// How many groups of optional routes there are: [`Served`] has one flag for each.
const GROUPS: usize = 6;

/// Which optional routes a deployment serves; the document lists a group's paths only when it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Served {
    /// `/`, `/dev/login`: `DEV_LOGIN` is on.
    pub dev_login: bool,
    /// `/login`, `/callback/{provider}`, `/logout`: a provider has a `login` table.
    pub signin: bool,
    /// `/v1/stage-token`, `/stage/{name}`: `STAGES` names a stage.
    pub stages: bool,
    /// `/v1/heartbeat`, and the token routes' `takeover` and `X-Device-Id`: `DEVICE_LIMITS` is set.
    pub devices: bool,
    /// `/v1/admin/revoke`, `/v1/admin/devices`: `DEVICE_LIMITS` and `ADMIN_API_TOKEN` are set.
    pub operator: bool,
    /// `/v1/chat-token`: a channel has a chat room.
    pub chat: bool,
}

impl Served {
    /// Every optional route: the repository's document, unchanged.
    pub const EVERYTHING: Self =
        Self { dev_login: true, signin: true, stages: true, devices: true, operator: true, chat: true };

    /// What a configuration serves; one that failed to load serves none of the optional routes.
    pub fn by(config: Result<&Config, &Error>) -> Self {
        config.map_or(
            Self { dev_login: false, signin: false, stages: false, devices: false, operator: false, chat: false },
            |config| Self {
                dev_login: config.dev_login,
                signin: config.signin.enabled(),
                stages: !config.stages.is_empty(),
                devices: config.devices.is_some(),
                operator: config.devices.as_ref().is_some_and(|d| d.admin_token.is_some()),
                chat: config.chat.is_some(),
            },
        )
    }

    /// Each group's paths, with whether this deployment serves them.
    fn groups(self) -> [(bool, &'static [&'static str]); GROUPS] {
        [
            (self.dev_login, &DEV_ONLY_PATHS),
            (self.signin, &SIGNIN_PATHS),
            (self.stages, &STAGE_PATHS),
            (self.devices, &DEVICE_PATHS),
            (self.operator, &OPERATOR_PATHS),
            (self.chat, &CHAT_PATHS),
        ]
    }

    /// This combination's place among the cached variants.
    fn index(self) -> usize {
        self.groups().iter().enumerate().map(|(bit, (served, _))| usize::from(*served) << bit).sum()
    }
}

/// The document without the routes a deployment does not serve.
fn without(served: Served) -> String {
    let mut doc: serde_json::Value = serde_json::from_str(DOCUMENT).unwrap_or_default();
    if let Some(paths) = doc.get_mut("paths").and_then(serde_json::Value::as_object_mut) {
        for (_, group) in served.groups().into_iter().filter(|(served, _)| !served) {
            for path in group {
                paths.remove(*path);
            }
        }
        if !served.devices {
            for (path, method) in DEVICE_OPERATIONS {
                if let Some(item) = paths.get_mut(path).and_then(serde_json::Value::as_object_mut) {
                    item.remove(method);
                }
            }
            for operation in
                paths.values_mut().filter_map(serde_json::Value::as_object_mut).flat_map(|p| p.values_mut())
            {
                if let Some(parameters) = operation.get_mut("parameters").and_then(serde_json::Value::as_array_mut) {
                    parameters.retain(|p| !DEVICE_PARAMETERS.iter().any(|name| p["name"] == *name));
                }
            }
        }
    }
    doc.to_string()
}

/// The variants of the document, one per combination of [`Served`], each built on first use.
static VARIANTS: [OnceLock<String>; 1 << GROUPS] = [const { OnceLock::new() }; 1 << GROUPS];

/// The document for a worker that serves `served`.
pub fn document(served: Served) -> &'static str {
    if served == Served::EVERYTHING {
        return DOCUMENT;
    }
    VARIANTS[served.index()].get_or_init(|| without(served))
}

/// What the operator API's viewer fields depend on: the identity providers' names (in name
/// order) and whether the app's own session cookie is on (`SESSION_SECRET`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Viewers {
    /// `IDENTITY_PROVIDERS`' names.
    pub providers: Vec<String>,
    /// `SESSION_SECRET` is set: viewers of the app's own session cookie exist.
    pub session_cookies: bool,
}

impl Viewers {
    /// Those of `config`.
    pub fn of(config: &Config) -> Self {
        Self {
            providers: config.identity.providers.iter().map(|p| p.name.clone()).collect(),
            session_cookies: config.identity.sessions.is_some(),
        }
    }
}

/// The operator API's bodies that name a viewer.
const VIEWER_BODIES: [&str; 3] = ["/v1/admin/revoke", "/v1/admin/unblock", "/v1/admin/devices"];

/// `doc` (with the operator paths) with the viewer fields of a deployment with `viewers`: the
/// repository's document is written for one with providers and the session cookie, with
/// `provider` any name; here `provider` lists the configured names, or is gone without
/// providers (and with it the rule that a viewer names its source); without the session cookie,
/// `"session_cookie": true` no longer names a viewer.
pub fn with_viewers(doc: &mut Value, viewers: &Viewers) {
    let names: Vec<Value> = viewers.providers.iter().map(|n| Value::from(n.as_str())).collect();
    let has_provider = |branch: &Value| branch["required"].as_array().is_some_and(|r| r.contains(&"provider".into()));
    let has_cookie =
        |branch: &Value| branch["required"].as_array().is_some_and(|r| r.contains(&"session_cookie".into()));
    for path in VIEWER_BODIES {
        let body = &mut doc["paths"][path]["post"]["requestBody"]["content"]["application/json"];
        let Some(schema) = body.get_mut("schema").and_then(Value::as_object_mut) else { continue };
        if names.is_empty() {
            schema.remove("anyOf");
            if let Some(properties) = schema.get_mut("properties").and_then(Value::as_object_mut) {
                properties.remove("provider");
            }
            if let Some(branches) = schema.get_mut("not").and_then(|n| n.get_mut("anyOf")).and_then(Value::as_array_mut)
            {
                branches.retain(|branch| !has_provider(branch));
            }
            continue;
        }
        let mut values = names.clone();
        values.push(Value::Null);
        schema["properties"]["provider"]["enum"] = Value::Array(values);
        if !viewers.session_cookies {
            if let Some(branches) = schema.get_mut("anyOf").and_then(Value::as_array_mut) {
                branches.retain(|branch| !has_cookie(branch));
            }
            if let Some(example) = body.get_mut("example").and_then(Value::as_object_mut) {
                if example.remove("session_cookie").is_some() {
                    example.insert("provider".into(), names[0].clone());
                }
            }
        }
    }
    for method in ["get", "head"] {
        let operation = &mut doc["paths"]["/v1/admin/devices"][method];
        let Some(parameters) = operation.get_mut("parameters").and_then(Value::as_array_mut) else { continue };
        if names.is_empty() {
            parameters.retain(|p| p["name"] != "provider");
        } else {
            for parameter in parameters.iter_mut().filter(|p| p["name"] == "provider") {
                parameter["schema"]["enum"] = Value::Array(names.clone());
            }
        }
    }
}

/// The last document built for a deployment's viewer fields (a worker's configuration does not
/// change, so one is enough).
static WITH_VIEWERS: Mutex<Option<(Served, Viewers, String)>> = Mutex::new(None);

/// The document `config`'s worker serves: its optional routes, and its operator API's viewer
/// fields.
pub fn document_for(config: Result<&Config, &Error>) -> String {
    let served = Served::by(config);
    let base = document(served);
    let Some(config) = config.ok().filter(|_| served.operator) else {
        return base.to_owned();
    };
    let viewers = Viewers::of(config);
    let mut cached = WITH_VIEWERS.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((s, v, text)) = cached.as_ref() {
        if *s == served && *v == viewers {
            return text.clone();
        }
    }
    let mut doc: Value = serde_json::from_str(base).unwrap_or_default();
    with_viewers(&mut doc, &viewers);
    let text = doc.to_string();
    *cached = Some((served, viewers, text.clone()));
    text
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
    Response::new(200, headers, document_for(config))
}

#[cfg(test)]
mod tests {
    use super::{
        document, Served, CHAT_PATHS, DEVICE_PARAMETERS, DEVICE_PATHS, DEV_ONLY_PATHS, DOCUMENT, OPERATOR_PATHS,
        SIGNIN_PATHS, STAGE_PATHS,
    };
    use crate::config::{names, tests::settings, Config};
    use crate::http::tests::{config, NOW};
    use crate::http::{handle, Request};
    use crate::isolate::IsolateState;
    use serde_json::Value;

    /// `doc` without the token routes' device parameters.
    /// What a deployment without `DEVICE_LIMITS` lacks on the paths it shares with one: the
    /// device parameters, and the watch page's takeover POST.
    fn without_device_parameters(doc: &mut Value) {
        doc["paths"]["/watch/{name}"].as_object_mut().unwrap().remove("post").expect("documented");
        for item in doc["paths"].as_object_mut().unwrap().values_mut() {
            for operation in item.as_object_mut().unwrap().values_mut() {
                if let Some(parameters) = operation.get_mut("parameters").and_then(Value::as_array_mut) {
                    parameters.retain(|p| !DEVICE_PARAMETERS.iter().any(|name| p["name"] == *name));
                }
            }
        }
    }

    #[test]
    fn the_embedded_document_is_the_repository_one_minified() {
        let repository = include_str!("../../openapi/openapi.json");
        assert_eq!(
            serde_json::from_str::<Value>(DOCUMENT).unwrap(),
            serde_json::from_str::<Value>(repository).unwrap()
        );
        assert!(!DOCUMENT.contains("\n") && DOCUMENT.len() < repository.len() * 2 / 3, "{} bytes", DOCUMENT.len());
    }

    #[test]
    fn serves_the_document() {
        let config = config();
        let state = IsolateState::new();
        let r = handle(&Request::new("GET", "/openapi.json"), Ok(&config), &state, NOW, [0; 32]);
        assert_eq!((r.status, r.header("content-type")), (200, Some("application/json")));
        let doc: Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        let head = handle(&Request::new("HEAD", "/openapi.json"), Ok(&config), &state, NOW, [0; 32]);
        assert_eq!((head.status, head.body.as_str()), (200, ""));
    }

    #[test]
    fn local_only_routes_are_listed_only_with_dev_login() {
        let served = |config: &Config| {
            let r = handle(&Request::new("GET", "/openapi.json"), Ok(config), &IsolateState::new(), NOW, [0; 32]);
            serde_json::from_str::<Value>(&r.body).unwrap()
        };
        let deployed = served(&config());
        let local = served(&Config::load(&settings().with(names::DEV_LOGIN, "true")).unwrap());
        let providers = r#"{"idp": {"issuer": "https://id.example", "audience": "a", "jwks_url": "https://id.example/jwks",
            "login": {"client_id": "a"}}}"#;
        let with_room = crate::config::tests::device_settings().get(names::CHANNELS).unwrap().replace(
            r#""playback_url": "https://x.live-video.net/demo.m3u8"}"#,
            r#""playback_url": "https://x.live-video.net/demo.m3u8", "chat": {"room": "arn:aws:ivschat:us-west-2:123456789012:room/a"}}"#,
        );
        let everything = served(
            &Config::load(
                &crate::config::tests::device_settings()
                    .with(names::CHANNELS, with_room)
                    .with(names::ADMIN_API_TOKEN, crate::config::tests::ADMIN_TOKEN)
                    .with(names::DEV_LOGIN, "true")
                    .with(names::IDENTITY_PROVIDERS, providers)
                    .with(names::STAGES, crate::stage::policy::tests::stages_json()),
            )
            .unwrap(),
        );
        let full: Value = serde_json::from_str(DOCUMENT).unwrap();
        let mut named = full.clone();
        for path in ["/v1/admin/revoke", "/v1/admin/unblock", "/v1/admin/devices"] {
            named["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]["properties"]
                ["provider"]["enum"] = serde_json::json!(["idp", null]);
        }
        for method in ["get", "head"] {
            named["paths"]["/v1/admin/devices"][method]["parameters"][1]["schema"]["enum"] = serde_json::json!(["idp"]);
        }
        assert_eq!(
            everything, named,
            "with every optional feature the repository's document, its providers' names as `provider`'s values"
        );
        for path in DEV_ONLY_PATHS {
            assert!(local["paths"].get(path).is_some() && deployed["paths"].get(path).is_none(), "{path}");
        }
        for path in SIGNIN_PATHS {
            assert!(everything["paths"].get(path).is_some() && local["paths"].get(path).is_none(), "{path}");
        }
        let mut expected = full.clone();
        for path in DEV_ONLY_PATHS
            .iter()
            .chain(&SIGNIN_PATHS)
            .chain(&STAGE_PATHS)
            .chain(&DEVICE_PATHS)
            .chain(&OPERATOR_PATHS)
            .chain(&CHAT_PATHS)
        {
            expected["paths"].as_object_mut().unwrap().remove(*path);
        }
        without_device_parameters(&mut expected);
        assert_eq!(deployed, expected, "nothing else differs");
        assert!(full["paths"]["/v1/token"]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "takeover"));
    }

    /// Without `STAGES` the stage routes answer 404 to every method, so the document a deployment
    /// serves lists them only when it has stages (schemathesis holds the worker to that document).
    #[test]
    fn stage_routes_are_listed_only_with_stages() {
        let paths = |config: &Config| {
            let r = handle(&Request::new("GET", "/openapi.json"), Ok(config), &IsolateState::new(), NOW, [0; 32]);
            serde_json::from_str::<Value>(&r.body).unwrap()["paths"].clone()
        };
        let unstaged = paths(&config());
        let staged =
            paths(&Config::load(&settings().with(names::STAGES, crate::stage::policy::tests::stages_json())).unwrap());
        for path in STAGE_PATHS {
            assert!(unstaged.get(path).is_none(), "{path} listed without STAGES");
            assert!(staged.get(path).is_some(), "{path} missing with STAGES");
            let r = handle(
                &Request::new("OPTIONS", &path.replace("{name}", "open")),
                Ok(&config()),
                &IsolateState::new(),
                NOW,
                [0; 32],
            );
            assert_eq!(r.status, 404, "{path} answers as it is documented: not at all");
        }
        let mut expected = staged.clone();
        for path in STAGE_PATHS {
            expected.as_object_mut().unwrap().remove(path);
        }
        assert_eq!(unstaged, expected, "nothing else differs");
    }

    /// Each of the 64 combinations is its own cached variant: the repository's document less
    /// exactly the groups it does not serve, the same text on every call.
    #[test]
    fn every_combination_drops_exactly_what_it_does_not_serve() {
        let full: Value = serde_json::from_str(DOCUMENT).unwrap();
        let mut seen = std::collections::BTreeSet::new();
        for bits in 0..64u8 {
            let served = Served {
                dev_login: bits & 1 != 0,
                signin: bits & 2 != 0,
                stages: bits & 4 != 0,
                devices: bits & 8 != 0,
                operator: bits & 16 != 0,
                chat: bits & 32 != 0,
            };
            assert!(seen.insert(served.index()), "{served:?} shares a cache slot");
            let mut expected = full.clone();
            for (on, group) in [
                (served.dev_login, &DEV_ONLY_PATHS[..]),
                (served.signin, &SIGNIN_PATHS),
                (served.stages, &STAGE_PATHS),
                (served.devices, &DEVICE_PATHS),
                (served.operator, &OPERATOR_PATHS),
                (served.chat, &CHAT_PATHS),
            ] {
                for path in group.iter().filter(|_| !on) {
                    expected["paths"].as_object_mut().unwrap().remove(*path).expect("documented");
                }
            }
            if !served.devices {
                without_device_parameters(&mut expected);
            }
            let text = document(served);
            assert_eq!(serde_json::from_str::<Value>(text).unwrap(), expected, "{served:?}");
            assert!(std::ptr::eq(text, document(served)), "{served:?}: built once");
        }
        assert_eq!(document(Served::EVERYTHING), DOCUMENT);
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
            "/callback/{provider}",
            "/logout",
        ];
        for path in routes {
            let item = paths.get(path).unwrap_or_else(|| panic!("{path} is not documented"));
            assert!(item.get("get").is_some() && item.get("head").is_some(), "{path}: GET and HEAD");
        }
        assert!(paths["/v1/token"].get("options").is_some() && paths["/v1/stage-token"].get("options").is_some());
        assert!(paths["/v1/heartbeat"].get("post").is_some() && paths["/v1/heartbeat"].get("options").is_some());
        assert!(paths["/v1/admin/revoke"].get("post").is_some());
        assert!(paths["/v1/admin/devices"].get("get").is_some() && paths["/v1/admin/devices"].get("head").is_some());
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

    /// The operator API's viewer fields follow the deployment's identity providers: the document
    /// promises a 2xx for exactly the bodies the worker resolves (schemathesis holds it to that).
    #[test]
    fn the_operator_viewer_fields_follow_the_identity_providers() {
        use crate::config::tests::{device_settings, ADMIN_TOKEN};
        let served = |settings: crate::config::Settings| {
            let config = Config::load(&settings.with(names::ADMIN_API_TOKEN, ADMIN_TOKEN)).unwrap();
            let state = IsolateState::new();
            let r = handle(&Request::new("GET", "/openapi.json"), Ok(&config), &state, NOW, [0; 32]);
            serde_json::from_str::<Value>(&r.body).unwrap()
        };
        let body =
            |doc: &Value, path: &str| doc["paths"][path]["post"]["requestBody"]["content"]["application/json"].clone();
        let query = |doc: &Value| -> Vec<Value> {
            doc["paths"]["/v1/admin/devices"]["get"]["parameters"].as_array().unwrap().clone()
        };
        // No providers: a bare `sub` is the cookie's viewer; `provider` does not exist.
        let plain = served(device_settings());
        for path in ["/v1/admin/revoke", "/v1/admin/unblock", "/v1/admin/devices"] {
            let schema = body(&plain, path)["schema"].clone();
            assert!(schema.get("anyOf").is_none() && schema["properties"].get("provider").is_none(), "{path}");
            assert_eq!(schema["not"]["anyOf"].as_array().unwrap().len(), 1, "{path}: issuer with session_cookie");
            assert_eq!(body(&plain, path)["example"]["session_cookie"], true);
        }
        assert!(query(&plain).iter().all(|p| p["name"] != "provider"));
        // Two providers and no session cookie: their names, and no session-cookie viewer.
        let keys = r#""jwks_url": "https://keys.example/jwks""#;
        let providers = format!(
            r#"{{"members": {{"issuer": "https://a.example", "audience": "a", {keys}}}, "auth0": {{"issuer": "https://b.example/", "audience": "b", {keys}}}}}"#
        );
        let idp_only = served(
            device_settings().with(names::SESSION_SECRET, "").with(names::IDENTITY_PROVIDERS, providers.as_str()),
        );
        for path in ["/v1/admin/revoke", "/v1/admin/unblock", "/v1/admin/devices"] {
            let body = body(&idp_only, path);
            assert_eq!(body["schema"]["properties"]["provider"]["enum"], serde_json::json!(["auth0", "members", null]));
            let branches = body["schema"]["anyOf"].as_array().unwrap();
            assert_eq!(branches.len(), 2, "{path}: provider or issuer");
            assert!(branches.iter().all(|b| b["required"] != serde_json::json!(["session_cookie"])));
            assert_eq!(body["example"]["provider"], "auth0", "{path}: an example this deployment answers");
            assert!(body["example"].get("session_cookie").is_none());
        }
        let provider = query(&idp_only).into_iter().find(|p| p["name"] == "provider").unwrap();
        assert_eq!(
            (&provider["required"], &provider["schema"]["enum"]),
            (&Value::Bool(true), &serde_json::json!(["auth0", "members"]))
        );
        // The same text on every call.
        let again = served(
            device_settings().with(names::SESSION_SECRET, "").with(names::IDENTITY_PROVIDERS, providers.as_str()),
        );
        assert_eq!(again, idp_only);
    }
}
