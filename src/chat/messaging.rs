//! Where a browser's chat client connects: the chat SDK's `regionOrUrl` and the
//! Content-Security-Policy source that lets the watch page open that WebSocket. Both come from
//! here, so the page can never be told to connect somewhere its policy refuses.
//!
//! For a real room the SDK is given the room's region and connects to
//! `wss://edge.ivschat.<region>.amazonaws.com`; with `IVS_CHAT_API_ENDPOINT` (a local stand-in,
//! whose messaging WebSocket is served on the same origin as its API, path `/`) it is given that
//! origin as a WebSocket URL: `http` becomes `ws`, `https` becomes `wss`.
//!
//! ```
//! use ivs_token_worker::chat::messaging::messaging;
//! use ivs_token_worker::chat::Room;
//! let room = Room::from_json(&serde_json::json!({"room": "arn:aws:ivschat:eu-west-1:123456789012:room/abc"})).unwrap();
//! let real = messaging(&room, None);
//! assert_eq!((real.region_or_url.as_str(), real.csp_source.as_str()), ("eu-west-1", "wss://edge.ivschat.eu-west-1.amazonaws.com"));
//! let local = messaging(&room, Some("http://127.0.0.1:8788"));
//! assert_eq!((local.region_or_url.as_str(), local.csp_source.as_str()), ("ws://127.0.0.1:8788/", "ws://127.0.0.1:8788"));
//! ```

use super::Room;

/// Where the chat SDK of a watch page connects for one room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Messaging {
    /// The SDK's `regionOrUrl`: the room's region, or the stand-in's WebSocket URL.
    pub region_or_url: String,
    /// The `connect-src` source that allows exactly that WebSocket origin.
    pub csp_source: String,
}

/// The messaging endpoint of `room`; `api_endpoint` is `IVS_CHAT_API_ENDPOINT` as configuration
/// normalized it (an origin, no trailing slash).
pub fn messaging(room: &Room, api_endpoint: Option<&str>) -> Messaging {
    match api_endpoint.map(websocket_origin) {
        Some(origin) => Messaging { region_or_url: format!("{origin}/"), csp_source: origin },
        None => Messaging {
            region_or_url: room.region.clone(),
            csp_source: format!("wss://edge.ivschat.{}.amazonaws.com", room.region),
        },
    }
}

/// The WebSocket origin on the same host and port as an HTTP(S) origin.
fn websocket_origin(origin: &str) -> String {
    let origin = origin.trim_end_matches('/');
    match (origin.strip_prefix("https://"), origin.strip_prefix("http://")) {
        (Some(rest), _) => format!("wss://{rest}"),
        (None, Some(rest)) => format!("ws://{rest}"),
        // Configuration admits only http(s) origins; anything else is passed through unchanged
        // rather than guessed at.
        (None, None) => origin.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn room(arn: &str) -> Room {
        Room::from_json(&json!({ "room": arn })).unwrap()
    }

    #[test]
    fn a_real_room_connects_to_its_regional_edge() {
        let m = messaging(&room("arn:aws:ivschat:us-west-2:123456789012:room/demo"), None);
        assert_eq!(m.region_or_url, "us-west-2");
        assert_eq!(m.csp_source, "wss://edge.ivschat.us-west-2.amazonaws.com");
    }

    #[test]
    fn a_configured_endpoint_becomes_its_websocket_on_the_same_host_and_port() {
        let r = room("arn:aws:ivschat:us-west-2:123456789012:room/demo");
        for (endpoint, url, source) in [
            ("http://127.0.0.1:8788", "ws://127.0.0.1:8788/", "ws://127.0.0.1:8788"),
            ("http://localhost:9000/", "ws://localhost:9000/", "ws://localhost:9000"),
            ("https://chat.example", "wss://chat.example/", "wss://chat.example"),
            ("https://[::1]:8443", "wss://[::1]:8443/", "wss://[::1]:8443"),
        ] {
            let m = messaging(&r, Some(endpoint));
            assert_eq!((m.region_or_url.as_str(), m.csp_source.as_str()), (url, source), "{endpoint}");
        }
    }
}
