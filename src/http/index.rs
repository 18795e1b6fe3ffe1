//! `GET /`: on a local host with `DEV_LOGIN=true` (what `make dev` sets), a small index of the
//! configured channels with links to their watch pages, a newcomer's first view. Everywhere
//! else `/` stays a 404, as every unknown path: a deployed worker lists nothing.

use super::request::Request;
use super::response::Response;
use super::watch::html;
use crate::address::is_local_host;
use crate::config::Config;
use crate::error::{Error, Result};

const INDEX_METHODS: &str = "GET, HEAD";

pub(super) fn index_route(request: &Request<'_>, config: Result<&Config, &Error>, random: [u8; 32]) -> Response {
    let config = match config {
        Ok(config) if config.dev_login && request.host.is_some_and(is_local_host) => config,
        _ => return Response::problem(&Error::NotFound),
    };
    if !matches!(request.method, "GET" | "HEAD") {
        return Response::problem(&Error::MethodNotAllowed { allow: INDEX_METHODS });
    }
    let mut nonce_bytes = [0u8; 16];
    nonce_bytes.copy_from_slice(&random[16..]);
    let nonce = crate::page::nonce(&nonce_bytes);
    let channels: Vec<(&str, &str)> = config.channels.values().map(|c| (c.name.as_str(), c.title.as_str())).collect();
    // Stages (the IVS stages feature) join this list once they are configurable.
    let look = crate::page::Look::new(&nonce, config.brand.as_ref());
    html(200, crate::page::index_page(&channels, &look), crate::page::message_csp(&look))
}

#[cfg(test)]
mod tests {
    use crate::config::tests::settings;
    use crate::config::{names, Config};
    use crate::http::tests::{body, config, NOW};
    use crate::http::{handle, Request};
    use crate::isolate::IsolateState;

    /// `/` under `config`; the index reads nothing of the isolate's state, so a new one each time.
    fn index(config: &Config, method: &str, host: &str) -> crate::http::Response {
        let mut request = Request::new(method, "/");
        request.host = Some(host);
        handle(&request, Ok(config), &IsolateState::new(), NOW, [3; 32])
    }

    #[test]
    fn local_dev_index_lists_every_channel_with_a_link() {
        let dev = Config::load(&settings().with(names::DEV_LOGIN, "true")).unwrap();
        let r = index(&dev, "GET", "127.0.0.1:8787");
        assert_eq!((r.status, r.header("content-type")), (200, Some("text/html; charset=utf-8")));
        assert_eq!(
            r.header("content-security-policy"),
            Some(crate::page::message_csp(&crate::page::Look::plain(&crate::page::nonce(&[3; 16]))).as_str())
        );
        assert!(!r.body.contains("<script"), "the index needs no script");
        for name in dev.channels.keys() {
            assert!(r.body.contains(&format!("<a href=\"/watch/{name}\">")), "{name}: {}", r.body);
        }
        assert_eq!(index(&dev, "HEAD", "localhost").body, "");
        assert_eq!(index(&dev, "POST", "localhost").status, 405);
    }

    #[test]
    fn index_is_a_404_unless_local_and_dev_login() {
        let dev = Config::load(&settings().with(names::DEV_LOGIN, "true")).unwrap();
        for (config, host) in [(&dev, "tv.example"), (&dev, "localhost.evil.example"), (&config(), "127.0.0.1:8787")] {
            let r = index(config, "GET", host);
            assert_eq!(r.status, 404, "{host}");
            assert_eq!(body(&r)["type"], "urn:ivs-token-worker:problem:not-found");
        }
        let error = Config::load(&settings().with(names::CHANNELS, "{}")).unwrap_err();
        let mut request = Request::new("GET", "/");
        request.host = Some("127.0.0.1");
        assert_eq!(handle(&request, Err(&error), &IsolateState::new(), NOW, [0; 32]).status, 404);
    }
}
