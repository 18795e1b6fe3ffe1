//! The CLI's commands, one file per group; this file parses the command line and dispatches.
//!
//! | module | commands |
//! |---|---|
//! | [`keys`] | `keygen`, `public-key`, `verify` |
//! | [`tokens`] | `sign`, `stage-token` |
//! | [`viewer`] | `session`, `viewer-id` |
//! | [`revocation`] | `revocation-request` |
//! | [`chat`] | `chat-token`: an IVS Chat token from a room, by hand |
//! | [`admin`] | `admin revoke`, `admin devices`: a deployed worker's operator API |
//! | [`check`] | `check`: the worker's configuration check on wrangler.toml and the secrets, before a deploy |
//! | [`client`] | (no command) the one HTTP client of the commands that call out: `admin`, `chat-token` |

mod admin;
mod chat;
mod check;
mod client;
mod keys;
mod revocation;
mod tokens;
mod viewer;

use clap::{Parser, Subcommand};
use ivs_token_worker::ivs::Resolution;
use ivs_token_worker::key::PlaybackKey;
use std::path::Path;
use std::process::ExitCode;

/// Keys, playback tokens, sessions and revocation for ivs-token-worker, offline.
#[derive(Parser)]
#[command(name = "ivs-token", version, about, after_help = EXIT_CODES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

const EXIT_CODES: &str = "Exit codes: 0 success, 1 token rejected (verify) or configuration refused (check), \
2 usage error (check: also an unreadable file, an unknown --env), 3 unusable input, 4 the worker or AWS refused the request (admin: 3xx/4xx; chat-token: AWS's 4xx), \
5 no usable answer (admin, chat-token: network, timeout, 5xx, throttled).";

#[derive(Subcommand)]
enum Command {
    /// Generate a P-384 playback key pair (private.pem, mode 0600, and public.pem).
    Keygen(keys::KeygenArgs),
    /// Print the SPKI public key (PEM) of a private key, for `aws ivs import-playback-key-pair`.
    PublicKey(keys::PublicKeyArgs),
    /// Sign a playback token offline, with exactly the worker's claim rules.
    Sign(tokens::SignArgs),
    /// Sign a participant token for an IVS real-time stage offline, with exactly the worker's claim rules.
    StageToken(tokens::StageTokenArgs),
    /// Verify a playback or participant token's signature and every IVS rule; print its header and claims.
    Verify(keys::VerifyArgs),
    /// Mint a session cookie value the worker accepts (secret from SESSION_SECRET or --secret-file).
    Session(viewer::SessionArgs),
    /// Print a SigV4-signed IVS revocation request (the worker's own signer), as JSON: method, url,
    /// headers, body and the signature's steps. Credentials from AWS_ACCESS_KEY_ID,
    /// AWS_SECRET_ACCESS_KEY and (temporary credentials) AWS_SESSION_TOKEN. Nothing is sent.
    RevocationRequest(revocation::RevocationRequestArgs),
    /// Ask IVS Chat for a chat token (CreateChatToken, the worker's own request and rules) to try a
    /// room by hand; prints {token, sessionExpirationTime, tokenExpirationTime}. Credentials from
    /// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN; --print-request sends nothing.
    ChatToken(chat::ChatTokenArgs),
    /// Print the aws:viewer-id the worker derives for a subject, and the command that revokes it.
    ViewerId(viewer::ViewerIdArgs),
    /// Call a deployed worker's operator API (device limits): revoke a viewer, list their devices.
    /// The token is ADMIN_API_TOKEN from the environment or --token-file, never a flag's value.
    Admin(admin::AdminArgs),
    /// Check a deployment's configuration as the worker will: wrangler.toml's vars, the secrets
    /// (a .dev.vars-form file, the environment, `wrangler secret list`). Exit 0 when the worker
    /// would serve, 1 when it would answer 500 misconfigured. Never prints a value.
    Check(check::CheckArgs),
}

fn parse_resolution(text: &str) -> Result<Resolution, String> {
    Resolution::parse(text).ok_or_else(|| "must be SD, HD or FULL_HD".to_owned())
}

/// A failure with its exit code and a message that names the file or flag at fault.
struct Failure(u8, String);

fn unusable(message: impl Into<String>) -> Failure {
    Failure(3, message.into())
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn read_text(path: &Path) -> Result<String, Failure> {
    std::fs::read_to_string(path).map_err(|e| unusable(format!("{}: cannot read: {e}", path.display())))
}

fn read_private_key(path: &Path) -> Result<PlaybackKey, Failure> {
    PlaybackKey::parse(&read_text(path)?).map_err(|e| unusable(format!("{}: {e}", path.display())))
}

/// The AWS key from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and (temporary credentials)
/// AWS_SESSION_TOKEN, held to the worker's rules. Errors never quote the secret.
fn aws_credentials() -> Result<ivs_token_worker::aws::Credentials, Failure> {
    let env = |name: &str| std::env::var(name).ok().map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    let (Some(key_id), Some(secret)) = (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) else {
        return Err(unusable(
            "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary credentials)",
        ));
    };
    let credentials = ivs_token_worker::aws::Credentials::new(&key_id, &secret, env("AWS_SESSION_TOKEN").as_deref());
    credentials.check().map_err(|(part, rule)| unusable(format!("the AWS {part} {rule}")))?;
    Ok(credentials)
}

/// A signed AWS request as the JSON `--print-request` and `revocation-request` print.
fn request_json(request: &ivs_token_worker::aws::call::HttpRequest) -> serde_json::Value {
    let headers: serde_json::Map<String, serde_json::Value> =
        request.headers.iter().map(|(k, v)| ((*k).to_owned(), serde_json::Value::from(v.as_str()))).collect();
    serde_json::json!({"method": "POST", "url": request.url, "headers": headers, "body": request.body})
}

fn random_bytes<const N: usize>() -> Result<[u8; N], Failure> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| unusable(format!("no randomness from the OS: {e}")))?;
    Ok(bytes)
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(code, message)) => {
            eprintln!("ivs-token: {message}");
            ExitCode::from(code)
        }
    }
}

fn run(command: Command) -> Result<(), Failure> {
    match command {
        Command::Keygen(args) => keys::keygen(args),
        Command::PublicKey(args) => keys::public_key(args),
        Command::Sign(args) => tokens::sign(args),
        Command::StageToken(args) => tokens::stage_token(args),
        Command::Verify(args) => keys::verify(args),
        Command::Session(args) => viewer::session(args),
        Command::RevocationRequest(args) => revocation::revocation_request(args),
        Command::ChatToken(args) => chat::chat_token(args),
        Command::ViewerId(args) => viewer::viewer_id(args),
        Command::Admin(args) => admin::run(args),
        Command::Check(args) => check::check(args),
    }
}
