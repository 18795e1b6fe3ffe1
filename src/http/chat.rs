//! `POST /v1/chat-token?channel=NAME`: an IVS Chat token for the viewer, in the shape the chat
//! SDK's `tokenProvider` returns (`token`, `sessionExpirationTime`, `tokenExpirationTime`), with
//! the viewer's `role` and `capabilities` beside it for the page. Same credentials and CORS as
//! `/v1/token`.
//!
//! Its plan: the credential (as every route), then the viewer's ledger (an operator's block, the
//! chat token floor: [`crate::device::ledger::ChatVerdict`]), then `CreateChatToken` at IVS Chat,
//! once more after a short random pause if IVS throttled or failed. Each step is derived here
//! from the same checks the answer makes, so none can be skipped by a drift between them.

use super::request::{channel_param, session_of, Request};
use super::response::{cors_api, Response};
use crate::aws::call::{Fault, HttpRequest};
use crate::channel::policy::authorize;
use crate::channel::Channel;
use crate::chat::api::{create_token_request, Created};
use crate::chat::policy::{grant, ChatGrant};
use crate::chat::{ChatSettings, Room};
use crate::config::Config;
use crate::device::ledger::ChatVerdict;
use crate::device::object::{Command, Envelope, LedgerAnswer, Reply};
use crate::error::{Error, Result};
use crate::identity::Session;
use crate::isolate::IsolateState;

/// Methods of the route.
const CHAT_METHODS: &str = "POST, OPTIONS";
/// Methods a cross-origin page may use.
const CORS_METHODS: &str = "POST, OPTIONS";
/// `Retry-After` when IVS Chat throttled or failed twice: a chat client reconnects by itself.
const RETRY_AFTER_THROTTLED: u64 = 2;
/// `Retry-After` when IVS Chat refused the worker's request (an IAM policy or a room to fix).
const RETRY_AFTER_REFUSED: u64 = 30;

/// What the route works from once the viewer may chat in the channel.
struct Chatter<'c> {
    channel: &'c Channel,
    room: &'c Room,
    settings: &'c ChatSettings,
    grant: ChatGrant,
}

/// The checks every step repeats: the channel, the viewer's grant of it, its room, the chat grant.
fn chatter<'c>(
    request: &Request<'_>,
    config: &'c Config,
    state: &IsolateState,
    now: u64,
) -> Result<(Chatter<'c>, Session)> {
    let name = channel_param(request.query)?;
    let session = session_of(config, state, request, now)?;
    let channel = authorize(&config.channels, &session, &name, request.country().as_deref())?;
    let (Some(room), Some(settings)) = (channel.chat.as_ref(), config.chat.as_ref()) else {
        return Err(Error::NoChat(channel.name.clone()));
    };
    let grant = grant(room, &session, &config.viewer_ids, now)?;
    Ok((Chatter { channel, room, settings, grant }, session))
}

/// The ledger command of a chat token request, if the request gets that far.
pub(super) fn chat_ledger_ask(
    request: &Request<'_>,
    config: &Config,
    state: &IsolateState,
    now: u64,
) -> Option<Envelope> {
    if request.method != "POST" {
        return None;
    }
    let (chatter, _) = chatter(request, config, state, now).ok()?;
    Some(ledger_envelope(&chatter))
}

fn ledger_envelope(chatter: &Chatter<'_>) -> Envelope {
    Envelope {
        viewer_id: chatter.grant.user_id.clone(),
        command: Command::Chat { channel: chatter.channel.name.clone() },
    }
}

/// The `CreateChatToken` request to send, once the ledger allowed it.
pub(super) fn chat_call(request: &Request<'_>, config: &Config, state: &IsolateState, now: u64) -> Option<HttpRequest> {
    let (chatter, _) = chatter(request, config, state, now).ok()?;
    verdict(request, &chatter).ok()?;
    Some(create_token_request(
        chatter.room,
        &chatter.grant,
        &chatter.settings.credentials,
        chatter.settings.endpoint.as_deref(),
        now,
    ))
}

/// What the ledger said of this request; refusals as their errors.
fn verdict(request: &Request<'_>, chatter: &Chatter<'_>) -> Result<()> {
    let ask = ledger_envelope(chatter);
    match request.ledger.filter(|exchange| exchange.ask == ask).map(|exchange| &exchange.answer) {
        Some(LedgerAnswer::Replied(Reply::Chat { verdict })) => match *verdict {
            ChatVerdict::Allowed => Ok(()),
            ChatVerdict::Blocked { until } => Err(Error::ViewerBlocked { until }),
            ChatVerdict::TooFast { retry_after } => Err(Error::ChatTooFast { retry_after }),
        },
        Some(LedgerAnswer::Unbound) => Err(Error::setting(
            crate::config::names::CHANNELS,
            "has a chat room, but the worker has no Durable Object binding DEVICE_LEDGER (class DeviceLedger), which keeps blocks and the chat token floor; add it to wrangler.toml as docs/chat.md shows",
        )),
        // Fail closed: a block cannot be shown not to apply.
        _ => Err(Error::LedgerUnavailable),
    }
}

/// `POST /v1/chat-token?channel=NAME`.
pub(super) fn chat_token_route(
    request: &Request<'_>,
    config: Result<&Config, &Error>,
    state: &IsolateState,
    now: u64,
) -> Response {
    // Without a room anywhere the path does not exist, for every method (as the document a
    // deployment serves says).
    if config.is_ok_and(|config| config.chat.is_none()) {
        return Response::problem(&Error::NotFound);
    }
    cors_api(request, config, CHAT_METHODS, CORS_METHODS, |config| {
        let mut upstream = None;
        let answer = chatter(request, config, state, now).and_then(|(chatter, _)| {
            verdict(request, &chatter)?;
            match request.chat {
                Some(Created::Token(token)) => Ok(Response::json(
                    200,
                    serde_json::json!({
                        "channel": chatter.channel.name,
                        "token": token.token,
                        "sessionExpirationTime": token.session_expiration_time,
                        "tokenExpirationTime": token.token_expiration_time,
                        "role": chatter.grant.role.as_str(),
                        "capabilities": chatter.grant.role.capabilities().iter().map(|c| c.as_str()).collect::<Vec<_>>(),
                        "user_id": chatter.grant.user_id,
                    }),
                )),
                Some(Created::Refused { status, code }) => {
                    upstream = Some(Fault::of(*status, code.as_deref()));
                    Err(Error::ChatUnavailable { retry_after: RETRY_AFTER_REFUSED })
                }
                Some(Created::Retry { status, code }) => {
                    upstream = Some(Fault::of(*status, code.as_deref()));
                    Err(Error::ChatUnavailable { retry_after: RETRY_AFTER_THROTTLED })
                }
                None => {
                    upstream = Some(Fault::NoAnswer);
                    Err(Error::ChatUnavailable { retry_after: RETRY_AFTER_THROTTLED })
                }
            }
        });
        let mut response = answer.unwrap_or_else(|error| Response::problem(&error));
        response.channel = channel_param(request.query).ok();
        response.upstream = upstream;
        response
    })
}

#[cfg(test)]
mod tests {
    use crate::config::tests::settings;
    use crate::config::{names, Config};
    use crate::device::ledger::{Ledger, CHAT_TOKENS_PER_WINDOW};
    use crate::device::object::LedgerAnswer;
    use crate::http::plan::tests::FakeEdge;
    use crate::http::tests::{body, cookie_for, NOW};
    use crate::http::{Plan, Request, Response};
    use crate::identity::session_cookie::SessionClaims;
    use crate::identity::viewer_id::ViewerIdKey;
    use crate::isolate::IsolateState;
    use serde_json::json;

    const ROOM: &str = "arn:aws:ivschat:us-west-2:123456789012:room/g1H2I3j4k5L6";
    const ISSUED: &str = r#"{"token":"AQICAHg-chat-token","tokenExpirationTime":"2027-01-15T08:01:00Z","sessionExpirationTime":"2027-01-15T08:59:00Z"}"#;

    fn chat_config() -> Config {
        let channels = json!({
            "demo": {"arn": "arn:aws:ivs:us-west-2:123456789012:channel/demo1", "playback_url": "https://x.live-video.net/demo.m3u8",
                     "chat": {"room": ROOM, "moderators": ["staff"], "senders": ["members", "staff"]}},
            "quiet": {"arn": "arn:aws:ivs:us-west-2:123456789012:channel/quiet1", "playback_url": "https://x.live-video.net/quiet.m3u8"},
        });
        Config::load(
            &settings()
                .with(names::CHANNELS, channels.to_string())
                .with(names::ALLOWED_ORIGINS, "https://app.example")
                .with(names::AWS_ACCESS_KEY_ID, "AKIAIOSFODNN7EXAMPLE")
                .with(names::AWS_SECRET_ACCESS_KEY, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
                .with(names::IVS_CHAT_API_ENDPOINT, "http://127.0.0.1:8788"),
        )
        .unwrap()
    }

    fn viewer(groups: &[&str]) -> String {
        let mut claims = SessionClaims::new("alice", NOW, 3600);
        claims.groups = Some(groups.iter().map(|g| g.to_string()).collect());
        cookie_for(&claims)
    }

    fn ask(config: &Config, edge: &mut FakeEdge, method: &str, target: &str, cookie: Option<&str>) -> Response {
        let mut request = Request::new(method, target);
        request.cookie = cookie;
        edge.run(Plan::new(request, Ok(config), &IsolateState::new(), NOW, [5; 32]))
    }

    fn answered(answers: &[(u16, Option<&str>, &str)]) -> FakeEdge {
        let chat_answers = answers.iter().map(|(s, t, b)| (*s, t.map(str::to_owned), b.to_string())).collect();
        FakeEdge { chat_answers, ..FakeEdge::default() }
    }

    const CALL: &str = "chat-token http://127.0.0.1:8788/CreateChatToken";

    #[test]
    fn a_sender_gets_the_token_the_sdk_wants_after_the_ledger_allowed_it() {
        let config = chat_config();
        let mut edge = answered(&[(200, None, ISSUED)]);
        let response = ask(&config, &mut edge, "POST", "/v1/chat-token?channel=demo", Some(&viewer(&["members"])));
        assert_eq!(response.status, 200, "{}", response.body);
        assert_eq!(edge.asked, ["ledger chat", &format!("{CALL} 0")]);
        let json = body(&response);
        assert_eq!(json["token"], "AQICAHg-chat-token");
        assert_eq!(json["sessionExpirationTime"], "2027-01-15T08:59:00Z");
        assert_eq!(json["tokenExpirationTime"], "2027-01-15T08:01:00Z");
        assert_eq!(json["role"], "sender");
        assert_eq!(json["capabilities"], json!(["SEND_MESSAGE"]));
        let viewer_id = ViewerIdKey::from_playback_key(&config.key).viewer_id(None, "alice");
        assert_eq!(json["user_id"], viewer_id, "the same id as aws:viewer-id");
        assert_eq!(response.header("cache-control"), Some("no-store"));
        assert!(edge.ledgers.contains_key(&viewer_id), "the floor is kept in the viewer's own ledger");
    }

    #[test]
    fn roles_follow_the_rooms_groups() {
        let config = chat_config();
        for (groups, role, capabilities) in [
            (&["staff"][..], "moderator", json!(["SEND_MESSAGE", "DELETE_MESSAGE", "DISCONNECT_USER"])),
            (&[][..], "reader", json!([])),
        ] {
            let mut edge = answered(&[(200, None, ISSUED)]);
            let response = ask(&config, &mut edge, "POST", "/v1/chat-token?channel=demo", Some(&viewer(groups)));
            assert_eq!(body(&response)["role"], role);
            assert_eq!(body(&response)["capabilities"], capabilities);
        }
    }

    #[test]
    fn throttling_is_retried_once_after_a_random_pause_then_503() {
        let config = chat_config();
        let cookie = viewer(&["members"]);
        let mut once = answered(&[(429, Some("ThrottlingException"), "{}"), (200, None, ISSUED)]);
        let response = ask(&config, &mut once, "POST", "/v1/chat-token?channel=demo", Some(&cookie));
        assert_eq!(response.status, 200);
        let delay: u32 = once.asked[2].rsplit(' ').next().unwrap().parse().unwrap();
        assert!((100..400).contains(&delay), "{delay}");

        let mut twice = answered(&[(429, Some("ThrottlingException"), "{}"), (500, None, "")]);
        let response = ask(&config, &mut twice, "POST", "/v1/chat-token?channel=demo", Some(&cookie));
        assert_eq!(response.status, 503);
        assert_eq!(response.header("retry-after"), Some("2"));
        assert_eq!(response.problem, Some("chat-unavailable"));
        assert_eq!(twice.asked.len(), 3, "one retry, no more: {:?}", twice.asked);
        assert_eq!(response.upstream.map(|f| f.as_str()), Some("server-error"));

        let mut unanswered = answered(&[]);
        let response = ask(&config, &mut unanswered, "POST", "/v1/chat-token?channel=demo", Some(&cookie));
        assert_eq!((response.status, unanswered.asked.len()), (503, 3));
    }

    #[test]
    fn a_refusal_is_not_retried_and_its_text_never_reaches_the_viewer() {
        let config = chat_config();
        let secret_text = r#"{"message":"User: arn:aws:iam::123456789012:user/signer is not authorized"}"#;
        let mut edge = answered(&[(403, Some("AccessDeniedException"), secret_text)]);
        let response = ask(&config, &mut edge, "POST", "/v1/chat-token?channel=demo", Some(&viewer(&["members"])));
        assert_eq!((response.status, response.header("retry-after")), (503, Some("30")));
        assert_eq!(edge.asked.len(), 2);
        assert!(!response.body.contains("iam") && !response.body.contains("signer"), "{}", response.body);
        assert_eq!(response.upstream.map(|f| f.as_str()), Some("access-denied"));
    }

    #[test]
    fn blocked_and_too_fast_viewers_never_reach_ivs_chat() {
        let config = chat_config();
        let cookie = viewer(&["members"]);
        let viewer_id = ViewerIdKey::from_playback_key(&config.key).viewer_id(None, "alice");
        let mut edge = FakeEdge::default();
        let mut blocked = Ledger::new(&viewer_id);
        blocked.blocked_channels.insert("demo".into(), NOW + 600);
        edge.ledgers.insert(viewer_id.clone(), blocked);
        let response = ask(&config, &mut edge, "POST", "/v1/chat-token?channel=demo", Some(&cookie));
        assert_eq!((response.status, response.problem), (403, Some("viewer-blocked")));
        assert_eq!(edge.asked, ["ledger chat"]);

        let mut edge = FakeEdge::default();
        for _ in 0..CHAT_TOKENS_PER_WINDOW {
            edge.chat_answers.push_back((200, None, ISSUED.into()));
            assert_eq!(ask(&config, &mut edge, "POST", "/v1/chat-token?channel=demo", Some(&cookie)).status, 200);
        }
        edge.asked.clear();
        let response = ask(&config, &mut edge, "POST", "/v1/chat-token?channel=demo", Some(&cookie));
        assert_eq!((response.status, response.header("retry-after")), (429, Some("60")));
        assert_eq!(edge.asked, ["ledger chat"]);

        // A ledger that cannot be reached cannot show that no block applies.
        let mut unreachable =
            FakeEdge { ledger_answer: Some(LedgerAnswer::Unreachable("timeout".into())), ..FakeEdge::default() };
        let response = ask(&config, &mut unreachable, "POST", "/v1/chat-token?channel=demo", Some(&cookie));
        assert_eq!((response.status, response.problem), (503, Some("ledger-unavailable")));
        assert_eq!(unreachable.asked, ["ledger chat"]);
    }

    #[test]
    fn refusals_before_the_ledger_ask_for_nothing() {
        let config = chat_config();
        let only_quiet = {
            let mut claims = SessionClaims::new("bob", NOW, 3600);
            claims.channels = Some(vec!["quiet".into()]);
            cookie_for(&claims)
        };
        for (method, target, cookie, status, problem) in [
            ("POST", "/v1/chat-token?channel=demo", None, 401, "session-missing"),
            ("POST", "/v1/chat-token?channel=demo", Some(only_quiet.as_str()), 403, "channel-forbidden"),
            ("POST", "/v1/chat-token?channel=quiet", Some(only_quiet.as_str()), 404, "chat-not-configured"),
            ("POST", "/v1/chat-token?channel=nope", Some(only_quiet.as_str()), 404, "unknown-channel"),
            ("POST", "/v1/chat-token", Some(only_quiet.as_str()), 400, "bad-request"),
            ("GET", "/v1/chat-token?channel=demo", Some(only_quiet.as_str()), 405, "method-not-allowed"),
        ] {
            let mut edge = FakeEdge::default();
            let response = ask(&config, &mut edge, method, target, cookie);
            assert_eq!((response.status, response.problem), (status, Some(problem)), "{method} {target}");
            assert!(edge.asked.is_empty(), "{target}: {:?}", edge.asked);
        }
        let mut edge = FakeEdge::default();
        let response = ask(&config, &mut edge, "GET", "/v1/chat-token?channel=demo", None);
        assert_eq!(response.header("allow"), Some("POST, OPTIONS"));
    }

    #[test]
    fn cors_as_the_token_routes() {
        let config = chat_config();
        let mut request = Request::new("OPTIONS", "/v1/chat-token?channel=demo");
        request.origin = Some("https://app.example");
        let response = FakeEdge::default().run(Plan::new(request, Ok(&config), &IsolateState::new(), NOW, [5; 32]));
        assert_eq!(response.status, 204);
        assert_eq!(response.header("access-control-allow-methods"), Some("POST, OPTIONS"));
        assert_eq!(response.header("access-control-allow-origin"), Some("https://app.example"));
        let cookie = viewer(&["members"]);
        let mut request = Request::new("POST", "/v1/chat-token?channel=demo");
        request.cookie = Some(&cookie);
        request.origin = Some("https://evil.example");
        let mut edge = answered(&[(200, None, ISSUED)]);
        let response = edge.run(Plan::new(request, Ok(&config), &IsolateState::new(), NOW, [5; 32]));
        assert_eq!(response.header("access-control-allow-origin"), None);
    }
}
