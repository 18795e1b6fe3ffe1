//! The IVS Chat API calls the worker makes, as signed HTTP requests (signing name `ivschat`, the
//! room's region), and their answers read back: `CreateChatToken` for a viewer's token,
//! `DisconnectUser` for the operator's kick.
//!
//! ```
//! use ivs_token_worker::aws::Credentials;
//! use ivs_token_worker::chat::api::{create_token_request, read_create_answer, Created};
//! use ivs_token_worker::chat::policy::{ChatGrant, Role};
//! use ivs_token_worker::chat::Room;
//! let room = Room::from_json(&serde_json::json!({"room": "arn:aws:ivschat:us-west-2:123456789012:room/abc"})).unwrap();
//! let grant = ChatGrant { user_id: "5bdcc146bf60754e6a042426089575c75a003f08".into(), role: Role::Sender,
//!                         attributes: [("role".to_owned(), "sender".to_owned())].into(), session_minutes: 60 };
//! let credentials = Credentials::new("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", None);
//! let request = create_token_request(&room, &grant, &credentials, None, 1_800_000_000);
//! assert_eq!(request.url, "https://ivschat.us-west-2.amazonaws.com/CreateChatToken");
//! assert_eq!(request.body, r#"{"roomIdentifier":"arn:aws:ivschat:us-west-2:123456789012:room/abc","userId":"5bdcc146bf60754e6a042426089575c75a003f08","capabilities":["SEND_MESSAGE"],"sessionDurationInMinutes":60,"attributes":{"role":"sender"}}"#);
//! let answer = r#"{"token":"AQICAH...","tokenExpirationTime":"2027-01-15T08:01:00Z","sessionExpirationTime":"2027-01-15T09:00:00Z"}"#;
//! assert!(matches!(read_create_answer(200, None, answer), Created::Token(token) if token.token == "AQICAH..."));
//! assert!(matches!(read_create_answer(429, Some("ThrottlingException"), "{}"), Created::Retry { .. }));
//! ```

use super::policy::ChatGrant;
use super::Room;
use crate::aws::call::{self, error_code, HttpRequest};
use crate::aws::Credentials;
use serde::Serialize;
use std::collections::BTreeMap;

/// The AWS service name IVS Chat signs with (and its endpoint's host prefix).
pub const SERVICE: &str = "ivschat";
/// The path of `CreateChatToken`.
pub const CREATE_TOKEN_PATH: &str = "/CreateChatToken";
/// The path of `DisconnectUser`.
pub const DISCONNECT_PATH: &str = "/DisconnectUser";
/// The reason `DisconnectUser` gives (shown to the user's client by IVS Chat).
pub const DISCONNECT_REASON: &str = "Removed by the operator";

/// The IVS Chat endpoint of `region`, or `IVS_CHAT_API_ENDPOINT` when set.
pub fn endpoint(region: &str, configured: Option<&str>) -> String {
    call::endpoint(SERVICE, region, configured)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CreateChatToken<'a> {
    room_identifier: &'a str,
    user_id: &'a str,
    capabilities: Vec<&'static str>,
    session_duration_in_minutes: u64,
    attributes: &'a BTreeMap<String, String>,
}

/// The body of `CreateChatToken` for `grant` in `room`.
pub fn create_token_body(room: &Room, grant: &ChatGrant) -> String {
    let body = CreateChatToken {
        room_identifier: &room.arn,
        user_id: &grant.user_id,
        capabilities: grant.role.capabilities().iter().map(|c| c.as_str()).collect(),
        session_duration_in_minutes: grant.session_minutes,
        attributes: &grant.attributes,
    };
    serde_json::to_string(&body).unwrap_or_default()
}

/// The signed `CreateChatToken` request for `grant` in `room` at `now` (Unix seconds).
pub fn create_token_request(
    room: &Room,
    grant: &ChatGrant,
    credentials: &Credentials,
    configured_endpoint: Option<&str>,
    now: u64,
) -> HttpRequest {
    let origin = endpoint(&room.region, configured_endpoint);
    call::signed_post(
        credentials,
        SERVICE,
        &room.region,
        &origin,
        CREATE_TOKEN_PATH,
        create_token_body(room, grant),
        now,
    )
}

/// The body of `DisconnectUser` for `user_id` in the room `room_arn`.
pub fn disconnect_body(room_arn: &str, user_id: &str) -> String {
    serde_json::json!({"roomIdentifier": room_arn, "userId": user_id, "reason": DISCONNECT_REASON}).to_string()
}

/// The signed `DisconnectUser` request for `user_id` in the room `room_arn` (in `region`).
pub fn disconnect_request(
    room_arn: &str,
    region: &str,
    user_id: &str,
    credentials: &Credentials,
    configured_endpoint: Option<&str>,
    now: u64,
) -> HttpRequest {
    let origin = endpoint(region, configured_endpoint);
    call::signed_post(credentials, SERVICE, region, &origin, DISCONNECT_PATH, disconnect_body(room_arn, user_id), now)
}

/// A chat token as IVS Chat issued it: what the chat SDK's `tokenProvider` returns.
#[derive(Clone, PartialEq, Eq)]
pub struct ChatToken {
    /// The token (single use: it opens one connection).
    pub token: String,
    /// When the token can no longer open a connection (ISO 8601).
    pub token_expiration_time: String,
    /// When the connection it opens ends (ISO 8601).
    pub session_expiration_time: String,
}

impl std::fmt::Debug for ChatToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token is a credential: never in a log line or a panic message.
        f.debug_struct("ChatToken")
            .field("token", &"..")
            .field("token_expiration_time", &self.token_expiration_time)
            .field("session_expiration_time", &self.session_expiration_time)
            .finish()
    }
}

/// What came of a `CreateChatToken` call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    /// IVS issued a token.
    Token(ChatToken),
    /// Worth one more try: throttled, a server error, no answer, or an answer that could not be
    /// read. For the log: the status (0: no answer) and the AWS error type, if any.
    Retry {
        /// IVS's HTTP status; 0 when there was no answer.
        status: u16,
        /// The AWS error type, if any.
        code: Option<String>,
    },
    /// IVS refused the request for good (validation, access, an unknown room: a
    /// configuration or IAM policy to fix); `status` and error type for the log.
    Refused {
        /// IVS's HTTP status.
        status: u16,
        /// The AWS error type, if any.
        code: Option<String>,
    },
}

/// Read IVS Chat's answer to `CreateChatToken`: its status, `x-amzn-ErrorType` and body.
pub fn read_create_answer(status: u16, error_type: Option<&str>, body: &str) -> Created {
    if status == 200 {
        return read_token(body).map_or(Created::Retry { status, code: None }, Created::Token);
    }
    let code = error_code(error_type, body);
    if status == 429 || status >= 500 {
        Created::Retry { status, code }
    } else {
        Created::Refused { status, code }
    }
}

/// The token of a `200` body; `None` unless all three fields are there and plausible.
fn read_token(body: &str) -> Option<ChatToken> {
    let value: serde_json::Value = serde_json::from_str(body).ok()?;
    let text = |field: &str| {
        value.get(field).and_then(|v| v.as_str()).filter(|s| !s.is_empty() && s.len() <= 8192).map(str::to_owned)
    };
    let time = |field: &str| text(field).filter(|s| s.len() <= 64 && s.bytes().all(|b| b.is_ascii_graphic()));
    Some(ChatToken {
        token: text("token")?,
        token_expiration_time: time("tokenExpirationTime")?,
        session_expiration_time: time("sessionExpirationTime")?,
    })
}

/// What came of a `DisconnectUser` call: `None` done (IVS accepted it, or there is nothing left
/// to disconnect: the user or room is gone), else whether to retry it.
pub fn read_disconnect_answer(status: u16, error_type: Option<&str>, body: &str) -> Option<Created> {
    match status {
        200 | 204 => None,
        // ResourceNotFoundException: the room is gone; nothing can be disconnected from it.
        404 => None,
        _ => Some(read_create_answer(status, error_type, body)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::policy::Role;

    fn room() -> Room {
        Room::from_json(&serde_json::json!({"room": "arn:aws:ivschat:eu-central-1:123456789012:room/r1"})).unwrap()
    }

    fn grant(role: Role) -> ChatGrant {
        ChatGrant {
            user_id: "viewer-1".into(),
            role,
            attributes: [("role".to_owned(), role.as_str().to_owned())].into(),
            session_minutes: 42,
        }
    }

    #[test]
    fn bodies_carry_what_the_api_model_names() {
        let body: serde_json::Value =
            serde_json::from_str(&create_token_body(&room(), &grant(Role::Moderator))).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "roomIdentifier": "arn:aws:ivschat:eu-central-1:123456789012:room/r1",
                "userId": "viewer-1",
                "capabilities": ["SEND_MESSAGE", "DELETE_MESSAGE", "DISCONNECT_USER"],
                "sessionDurationInMinutes": 42,
                "attributes": {"role": "moderator"},
            })
        );
        let reader: serde_json::Value =
            serde_json::from_str(&create_token_body(&room(), &grant(Role::Reader))).unwrap();
        assert_eq!(reader["capabilities"], serde_json::json!([]), "reading needs no capability");
        let disconnect: serde_json::Value =
            serde_json::from_str(&disconnect_body("arn:aws:ivschat:eu-central-1:123456789012:room/r1", "viewer-1"))
                .unwrap();
        assert_eq!(disconnect["userId"], "viewer-1");
        assert_eq!(disconnect["reason"], DISCONNECT_REASON);
    }

    #[test]
    fn signed_for_ivschat_in_the_room_region_or_the_configured_endpoint() {
        let credentials = Credentials::new("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", None);
        let request = create_token_request(&room(), &grant(Role::Sender), &credentials, None, 1_800_000_000);
        assert_eq!(request.url, "https://ivschat.eu-central-1.amazonaws.com/CreateChatToken");
        let authorization = request.headers.iter().find(|(k, _)| *k == "authorization").unwrap().1.clone();
        assert!(authorization.contains("/eu-central-1/ivschat/aws4_request"), "{authorization}");
        let local = disconnect_request(
            "arn:aws:ivschat:eu-central-1:123456789012:room/r1",
            "eu-central-1",
            "viewer-1",
            &credentials,
            Some("http://127.0.0.1:8788/"),
            1_800_000_000,
        );
        assert_eq!(local.url, "http://127.0.0.1:8788/DisconnectUser");
    }

    #[test]
    fn answers_read_back() {
        let ok = r#"{"token":"t0k","tokenExpirationTime":"2027-01-15T08:01:00Z","sessionExpirationTime":"2027-01-15T09:00:00Z"}"#;
        let Created::Token(token) = read_create_answer(200, None, ok) else { panic!("a token") };
        assert_eq!(token.session_expiration_time, "2027-01-15T09:00:00Z");
        assert!(!format!("{token:?}").contains("t0k"), "Debug hides the token");
        for broken in
            ["", "{}", r#"{"token":"t"}"#, r#"{"token":"","tokenExpirationTime":"a","sessionExpirationTime":"b"}"#]
        {
            assert_eq!(read_create_answer(200, None, broken), Created::Retry { status: 200, code: None }, "{broken}");
        }
        assert_eq!(
            read_create_answer(429, Some("ThrottlingException:http://internal.amazon.com/coral/"), "{}"),
            Created::Retry { status: 429, code: Some("ThrottlingException".into()) }
        );
        assert_eq!(read_create_answer(500, None, ""), Created::Retry { status: 500, code: None });
        assert_eq!(
            read_create_answer(
                403,
                None,
                r#"{"__type":"com.amazonaws.ivschat#AccessDeniedException","message":"User: arn:aws:iam::1:user/x"}"#
            ),
            Created::Refused { status: 403, code: Some("AccessDeniedException".into()) }
        );
        assert_eq!(read_disconnect_answer(200, None, "{}"), None);
        assert_eq!(read_disconnect_answer(404, Some("ResourceNotFoundException"), "{}"), None);
        assert!(matches!(read_disconnect_answer(429, None, "{}"), Some(Created::Retry { .. })));
    }
}
