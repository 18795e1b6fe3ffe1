//! `ivs-token session` and `ivs-token viewer-id`: a viewer as the worker sees them, its session
//! cookie and its `aws:viewer-id`.

use super::{now, parse_resolution, read_private_key, read_text, unusable, Failure};
use ivs_token_worker::identity::provider::check_issuer;
use ivs_token_worker::identity::session_cookie::{check_secret, mint, SessionClaims};
use ivs_token_worker::identity::viewer_id::ViewerIdKey;
use ivs_token_worker::ivs::Resolution;
use std::path::PathBuf;

/// The arguments of `ivs-token session`.
#[derive(clap::Args)]
pub struct SessionArgs {
    /// The viewer's subject (`sub`).
    #[arg(long, value_name = "ID")]
    pub sub: String,
    /// Comma-separated channel names the session may watch (default: all).
    #[arg(long, value_name = "NAMES", value_delimiter = ',')]
    pub channels: Option<Vec<String>>,
    /// Comma-separated group names (the `groups` claim, for channels' and stages' group rules).
    #[arg(long, value_name = "NAMES", value_delimiter = ',')]
    pub groups: Option<Vec<String>>,
    /// Session lifetime in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 3600, value_parser = clap::value_parser!(u64).range(1..=31_536_000))]
    pub ttl: u64,
    /// Session version (`sv`), becomes aws:viewer-session-version.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(i64).range(0..=2_147_483_647))]
    pub sv: Option<i64>,
    /// Resolution cap: SD, HD or FULL_HD.
    #[arg(long, value_name = "RESOLUTION", value_parser = parse_resolution)]
    pub max_resolution: Option<Resolution>,
    /// File holding the session secret (default: the SESSION_SECRET environment variable).
    #[arg(long, value_name = "FILE")]
    pub secret_file: Option<PathBuf>,
}

/// The arguments of `ivs-token viewer-id`.
#[derive(clap::Args)]
pub struct ViewerIdArgs {
    /// The viewer's subject (`sub`, or the value of the provider's `subject_claim`).
    #[arg(long, value_name = "ID")]
    pub sub: String,
    /// For a viewer signed in at an identity provider: its issuer, exactly as its tokens'
    /// `iss` (the provider's `issuer`, or what its preset derives). Without it, the viewer
    /// of the worker's own session cookie.
    #[arg(long, value_name = "URL")]
    pub issuer: Option<String>,
    /// The playback private key (used when VIEWER_ID_SECRET is not set, as in the worker).
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// Channel ARN for the printed revocation command.
    #[arg(long, value_name = "ARN")]
    pub channel_arn: Option<String>,
}

/// Mint a session cookie value the worker accepts and print it.
pub fn session(args: SessionArgs) -> Result<(), Failure> {
    let SessionArgs { sub, channels, groups, ttl, sv, max_resolution, secret_file } = args;
    let secret = match secret_file {
        Some(path) => read_text(&path)?.trim().to_owned(),
        None => std::env::var("SESSION_SECRET")
            .map_err(|_| unusable("no session secret: set SESSION_SECRET or pass --secret-file FILE"))?
            .trim()
            .to_owned(),
    };
    // The worker's rule: a secret it would refuse mints cookies it never accepts.
    check_secret(secret.as_bytes()).map_err(|rule| unusable(format!("the session secret {rule}")))?;
    if sub.is_empty() || sub.len() > ivs_token_worker::identity::MAX_SUBJECT_LEN {
        return Err(unusable("--sub must be 1 to 256 bytes"));
    }
    let mut claims = SessionClaims::new(&sub, now(), ttl);
    claims.channels = channels;
    claims.groups = groups;
    claims.sv = sv;
    claims.max_resolution = max_resolution;
    println!("{}", mint(&claims, secret.as_bytes()));
    Ok(())
}

/// Print a subject's viewer id, and how to revoke it at IVS.
pub fn viewer_id(args: ViewerIdArgs) -> Result<(), Failure> {
    let ViewerIdArgs { sub, issuer, key, channel_arn } = args;
    let id = viewer_id_of(&sub, issuer.as_deref(), key)?;
    println!("{id}");
    match &issuer {
        Some(issuer) => eprintln!("a viewer signed in at the identity provider {issuer}"),
        None => eprintln!(
            "a viewer of the worker's session cookie (for a viewer of an identity provider, pass --issuer URL)"
        ),
    }
    let arn = channel_arn.unwrap_or_else(|| "CHANNEL_ARN".to_owned());
    eprintln!(
        "revoke every current session of this viewer with:\n  aws ivs start-viewer-session-revocation --channel-arn {arn} --viewer-id {id} --viewer-session-versions-less-than-or-equal-to N\n(N = the highest session version to revoke, e.g. the viewer's current `sv`)"
    );
    Ok(())
}

/// The viewer id the worker derives for `sub` (of the identity provider `issuer`, or of the
/// worker's session cookie), with VIEWER_ID_SECRET when set, else the playback key in `key`.
/// `viewer-id` prints it; `chat-token --sub` asks IVS Chat for it as the `userId`.
pub(super) fn viewer_id_of(sub: &str, issuer: Option<&str>, key: Option<PathBuf>) -> Result<String, Failure> {
    if let Some(issuer) = issuer {
        check_issuer(issuer).map_err(|rule| unusable(format!("--issuer {issuer:?}: {rule}")))?;
    }
    let ids =
        match (std::env::var("VIEWER_ID_SECRET").ok().filter(|s| !s.trim().is_empty()), key) {
            (Some(secret), _) => {
                check_secret(secret.trim().as_bytes()).map_err(|rule| unusable(format!("VIEWER_ID_SECRET {rule}")))?;
                ViewerIdKey::from_secret(secret.trim().as_bytes())
            }
            (None, Some(path)) => ViewerIdKey::from_playback_key(&read_private_key(&path)?),
            (None, None) => return Err(unusable(
                "pass --key FILE (the worker's PLAYBACK_PRIVATE_KEY), or set VIEWER_ID_SECRET if the worker has one",
            )),
        };
    Ok(ids.viewer_id(issuer, sub))
}
