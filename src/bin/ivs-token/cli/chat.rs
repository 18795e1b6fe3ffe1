//! `ivs-token chat-token`: a chat token from an IVS Chat room, asked for by hand with the
//! worker's own `CreateChatToken` request (its body, its SigV4 signature, its reading of the
//! answer) and its rules for what goes in it (the viewer id as `userId`, a role's capabilities, a
//! display name made safe): for trying a room and an IAM policy before a deploy, as
//! `stage-token` is for stages. `--print-request` prints the signed request and sends nothing.

use super::client::agent_for;
use super::viewer::viewer_id_of;
use super::{aws_credentials, now, request_json, unusable, Failure};
use ivs_token_worker::aws::call::HttpRequest;
use ivs_token_worker::chat::api::{create_token_request, read_create_answer, Created};
use ivs_token_worker::chat::policy::{attributes, ChatGrant, Role, MAX_SESSION_MINUTES, USER_ID_MAX_CHARS};
use ivs_token_worker::chat::Room;
use ivs_token_worker::ivs::parse_arn;
use std::path::PathBuf;
use std::time::Duration;

/// The arguments of `ivs-token chat-token`.
#[derive(clap::Args)]
#[command(group = clap::ArgGroup::new("user").required(true).args(["user_id", "sub"]))]
pub struct ChatTokenArgs {
    /// The room ARN (arn:aws:ivschat:<region>:<account>:room/<id>, from `aws ivschat create-room`).
    #[arg(long, value_name = "ARN")]
    pub room: String,
    /// The `userId` to ask for (1 to 128 characters; shown to the room with every message).
    #[arg(long, value_name = "ID")]
    pub user_id: Option<String>,
    /// Instead of --user-id: the viewer's subject; the `userId` is then the viewer id the worker
    /// would use (as `ivs-token viewer-id` prints it, from --key or VIEWER_ID_SECRET).
    #[arg(long, value_name = "SUBJECT", conflicts_with = "user_id")]
    pub sub: Option<String>,
    /// With --sub, for a viewer signed in at an identity provider: its issuer, exactly as `iss`.
    #[arg(long, value_name = "URL", requires = "sub")]
    pub issuer: Option<String>,
    /// With --sub: the worker's playback private key (used when VIEWER_ID_SECRET is not set).
    #[arg(long, value_name = "FILE", requires = "sub")]
    pub key: Option<PathBuf>,
    /// moderator (send, delete, disconnect), sender (send) or reader (nothing: reading needs no
    /// capability).
    #[arg(long, value_name = "ROLE", default_value = "sender")]
    pub role: String,
    /// The `display_name` attribute, made safe to show as the worker does (at most 64 characters).
    #[arg(long, value_name = "TEXT")]
    pub display_name: Option<String>,
    /// sessionDurationInMinutes: how long the connection the token opens may last (1 to 180).
    #[arg(long, value_name = "MINUTES", default_value_t = 60)]
    pub session_minutes: u64,
    /// The IVS Chat API origin instead of https://ivschat.<region>.amazonaws.com (http only for
    /// localhost: a stand-in).
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
    /// Sign as of this time (Unix seconds) instead of now.
    #[arg(long, value_name = "UNIX")]
    pub time: Option<u64>,
    /// Print the signed request as JSON (method, url, headers, body) and send nothing.
    #[arg(long)]
    pub print_request: bool,
}

/// How long the call may take in all.
const TIMEOUT: Duration = Duration::from_secs(15);
/// The largest answer read (a token answer is under 2 KB).
const MAX_ANSWER_BYTES: u64 = 1 << 16;
/// Exit code: IVS Chat refused the request (a 4xx other than throttling); retrying will not help.
const REFUSED: u8 = 4;
/// Exit code: no usable answer (network failure, timeout, throttled, a 5xx, an unreadable token).
const FAILED: u8 = 5;

/// Ask IVS Chat for a token (or print the request) and print it.
pub fn chat_token(args: ChatTokenArgs) -> Result<(), Failure> {
    let (room, grant, endpoint) = checked(&args)?;
    let credentials = aws_credentials()?;
    let request = create_token_request(&room, &grant, &credentials, endpoint.as_deref(), args.time.unwrap_or_else(now));
    if args.print_request {
        println!("{}", serde_json::to_string_pretty(&request_json(&request)).unwrap_or_default());
        return Ok(());
    }
    let token = match send(&request)? {
        Created::Token(token) => token,
        Created::Refused { status, code } => {
            return Err(Failure(REFUSED, aws_error("refused", status, code.as_deref())));
        }
        Created::Retry { status, code } => {
            return Err(Failure(FAILED, aws_error("gave no usable answer", status, code.as_deref())));
        }
    };
    let answer = serde_json::json!({
        "token": token.token,
        "sessionExpirationTime": token.session_expiration_time,
        "tokenExpirationTime": token.token_expiration_time,
    });
    println!("{}", serde_json::to_string_pretty(&answer).unwrap_or_default());
    eprintln!(
        "userId {} in {}, role {}: single use, open a connection before tokenExpirationTime",
        grant.user_id,
        room.arn,
        grant.role.as_str()
    );
    Ok(())
}

/// The room, the grant and the endpoint the flags name, each held to the worker's rule (checked
/// before the AWS key is read, so a typo costs nothing).
fn checked(args: &ChatTokenArgs) -> Result<(Room, ChatGrant, Option<String>), Failure> {
    let arn = args.room.trim();
    let region = parse_arn(arn, "ivschat", "room")
        .ok_or_else(|| {
            unusable(format!("--room {arn}: must look like arn:aws:ivschat:<region>:<12-digit account>:room/<id>"))
        })?
        .region
        .to_owned();
    let room = Room { arn: arn.to_owned(), region, moderators: None, senders: None, display_name_claim: None };
    let role = Role::parse(&args.role)
        .ok_or_else(|| unusable(format!("--role {:?}: must be moderator, sender or reader", args.role)))?;
    if !(1..=MAX_SESSION_MINUTES).contains(&args.session_minutes) {
        return Err(unusable(format!("--session-minutes must be 1 to {MAX_SESSION_MINUTES} (IVS Chat's range)")));
    }
    let user_id = match (&args.user_id, &args.sub) {
        (Some(id), _) => {
            if !(1..=USER_ID_MAX_CHARS).contains(&id.chars().count()) {
                return Err(unusable(format!(
                    "--user-id must be 1 to {USER_ID_MAX_CHARS} characters (IVS Chat limit)"
                )));
            }
            id.clone()
        }
        (None, Some(sub)) => {
            if sub.is_empty() || sub.len() > ivs_token_worker::identity::MAX_SUBJECT_LEN {
                return Err(unusable("--sub must be 1 to 256 bytes"));
            }
            viewer_id_of(sub, args.issuer.as_deref(), args.key.clone())?
        }
        (None, None) => return Err(unusable("pass --user-id ID, or --sub SUBJECT for the worker's viewer id")),
    };
    let attributes = attributes(role, args.display_name.as_deref());
    if args.display_name.is_some() && !attributes.contains_key("display_name") {
        return Err(unusable("--display-name: nothing would be shown once control and invisible characters go"));
    }
    let endpoint = args
        .endpoint
        .as_deref()
        .map(ivs_token_worker::address::service_origin)
        .transpose()
        .map_err(|e| unusable(format!("--endpoint: {e}")))?;
    Ok((room, ChatGrant { user_id, role, attributes, session_minutes: args.session_minutes }, endpoint))
}

/// What IVS Chat's error means, by its status and error type (never its full text: that is for
/// the AWS console's logs, and the type names the fix).
fn aws_error(what: &str, status: u16, code: Option<&str>) -> String {
    let hint = match code {
        Some("AccessDeniedException") => ": the key's IAM policy must allow ivschat:CreateChatToken on the room",
        Some("ResourceNotFoundException") => ": no such room in that region and account",
        Some("ThrottlingException") => ": throttled; try again in a moment",
        _ => "",
    };
    match status {
        0 => format!("CreateChatToken {what}: no answer"),
        _ => format!("CreateChatToken {what}: HTTP {status} {}{hint}", code.unwrap_or("(no error type)")),
    }
}

/// Send the signed request; IVS Chat's answer read as the worker reads it. A failure to reach
/// IVS Chat is `Retry` with status 0, as in the worker.
fn send(request: &HttpRequest) -> Result<Created, Failure> {
    let agent = agent_for(&request.url, TIMEOUT)?;
    let mut post = agent.post(&request.url);
    for (name, value) in &request.headers {
        post = post.header(*name, value);
    }
    let Ok(mut response) = post.send(request.body.as_str()) else {
        return Ok(Created::Retry { status: 0, code: None });
    };
    let status = response.status().as_u16();
    let error_type = response.headers().get("x-amzn-errortype").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let body = response.body_mut().with_config().limit(MAX_ANSWER_BYTES).read_to_string().unwrap_or_default();
    Ok(read_create_answer(status, error_type.as_deref(), &body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn args(extra: &[&str]) -> Result<ChatTokenArgs, clap::Error> {
        let base = ["ivs-token", "chat-token", "--room", "arn:aws:ivschat:eu-west-1:123456789012:room/AbC1"];
        let all: Vec<&str> = base.iter().chain(extra).copied().collect();
        match super::super::Cli::try_parse_from(all)?.command {
            super::super::Command::ChatToken(args) => Ok(args),
            _ => panic!("not chat-token"),
        }
    }

    #[test]
    fn the_grant_is_the_workers() {
        let (room, grant, endpoint) = checked(
            &args(&["--user-id", "viewer-1", "--role", "moderator", "--display-name", " Al\u{202E}ice "]).unwrap(),
        )
        .ok()
        .unwrap();
        assert_eq!((room.region.as_str(), endpoint), ("eu-west-1", None));
        assert_eq!(grant.role, Role::Moderator);
        assert_eq!(grant.attributes, attributes(Role::Moderator, Some("Alice")));
        assert_eq!(grant.session_minutes, 60);
        let plain = checked(&args(&["--user-id", "v"]).unwrap()).ok().unwrap().1;
        assert_eq!((plain.role, plain.attributes.len()), (Role::Sender, 1), "sender by default, no name");
    }

    #[test]
    fn every_bad_value_names_its_flag() {
        for (extra, flag) in [
            (&["--user-id", ""][..], "--user-id"),
            (&["--user-id", &"u".repeat(129)], "--user-id"),
            (&["--user-id", "v", "--role", "admin"], "--role"),
            (&["--user-id", "v", "--session-minutes", "0"], "--session-minutes"),
            (&["--user-id", "v", "--session-minutes", "181"], "--session-minutes"),
            (&["--user-id", "v", "--display-name", "\u{200B}\n"], "--display-name"),
            (&["--user-id", "v", "--endpoint", "http://ivschat.example"], "--endpoint"),
            (&["--sub", "alice"], "--key"),
        ] {
            let Err(Failure(code, message)) = checked(&args(extra).unwrap()) else { panic!("{extra:?} accepted") };
            assert_eq!(code, 3, "{extra:?}");
            assert!(message.contains(flag), "{extra:?}: {message}");
        }
        let Err(Failure(3, message)) = checked(&ChatTokenArgs {
            room: "arn:aws:ivs:eu-west-1:123456789012:channel/a".into(),
            ..args(&["--user-id", "v"]).unwrap()
        }) else {
            panic!("a channel ARN accepted as a room")
        };
        assert!(message.starts_with("--room "), "{message}");
        assert_eq!(args(&[]).err().map(|e| e.exit_code()), Some(2), "--user-id or --sub is required");
        assert_eq!(args(&["--user-id", "v", "--sub", "alice"]).err().map(|e| e.exit_code()), Some(2));
    }

    #[test]
    fn aws_errors_say_the_type_and_status() {
        assert_eq!(
            aws_error("refused", 403, Some("AccessDeniedException")),
            "CreateChatToken refused: HTTP 403 AccessDeniedException: the key's IAM policy must allow ivschat:CreateChatToken on the room"
        );
        assert_eq!(aws_error("gave no usable answer", 0, None), "CreateChatToken gave no usable answer: no answer");
    }
}
