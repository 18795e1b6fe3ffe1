//! `ivs-token sign` and `ivs-token stage-token`: playback and participant tokens signed offline,
//! with exactly the worker's claim rules.

use super::{now, parse_resolution, random_bytes, read_private_key, unusable, Failure};
use ivs_token_worker::address::check_origin;
use ivs_token_worker::channel::claims::{self as token, PlaybackClaims, STRICT_ORIGIN_MAX};
use ivs_token_worker::ivs::{is_channel_arn, Resolution, VIEWER_ID_MAX_LEN};
use ivs_token_worker::stage::StageError;
use std::path::PathBuf;

/// The arguments of `ivs-token sign`.
#[derive(clap::Args)]
pub struct SignArgs {
    /// Private key file.
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// The channel ARN (aws:channel-arn).
    #[arg(long, value_name = "ARN")]
    pub channel_arn: String,
    /// Lifetime in seconds (capped at 600 with --viewer-id or --single-use).
    #[arg(long, value_name = "SECONDS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub ttl: u64,
    /// Allowed origin (repeatable); default `*`.
    #[arg(long = "origin", value_name = "ORIGIN")]
    pub origins: Vec<String>,
    /// Set aws:strict-origin-enforcement (needs 1 to 5 --origin).
    #[arg(long)]
    pub strict_origin: bool,
    /// aws:viewer-id (1 to 40 characters, not personal data; see `viewer-id`).
    #[arg(long, value_name = "ID")]
    pub viewer_id: Option<String>,
    /// aws:viewer-session-version (with --viewer-id; default 0; at most 2147483647 to stay revocable).
    #[arg(long, value_name = "N", requires = "viewer_id", value_parser = clap::value_parser!(i64).range(0..=2_147_483_647))]
    pub session_version: Option<i64>,
    /// Add a fresh aws:single-use-uuid.
    #[arg(long)]
    pub single_use: bool,
    /// aws:maximum-resolution: SD, HD or FULL_HD.
    #[arg(long, value_name = "RESOLUTION", value_parser = parse_resolution)]
    pub max_resolution: Option<Resolution>,
}

/// The arguments of `ivs-token stage-token`.
#[derive(clap::Args)]
pub struct StageTokenArgs {
    /// Private key file (the key whose public half was imported with `aws ivs-realtime import-public-key`).
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// The stage ARN (resource; topic is its id).
    #[arg(long, value_name = "ARN")]
    pub stage_arn: String,
    /// The imported public key's ARN (the header's kid), in the stage's region.
    #[arg(long, value_name = "ARN")]
    pub public_key_arn: String,
    /// The stage's WHIP endpoint (endpoints.whip of `aws ivs-realtime get-stage`).
    #[arg(long, value_name = "URL")]
    pub whip_url: String,
    /// The stage's events endpoint.
    #[arg(long, value_name = "URL", default_value = ivs_token_worker::stage::DEFAULT_EVENTS_URL)]
    pub events_url: String,
    /// Lifetime in seconds (at most 14 days).
    #[arg(long, value_name = "SECONDS", default_value_t = 3600, value_parser = clap::value_parser!(u64).range(1..=1_209_600))]
    pub ttl: u64,
    /// Also allow publishing (allow_publish).
    #[arg(long)]
    pub publish: bool,
    /// user_id (at most 128 characters; visible to every participant, so not personal data).
    #[arg(long, value_name = "ID")]
    pub user_id: Option<String>,
    /// A participant attribute NAME=VALUE (repeatable; at most 1 KB in all).
    #[arg(long = "attribute", value_name = "NAME=VALUE")]
    pub attributes: Vec<String>,
    /// The participant id (jti); default: a fresh random one.
    #[arg(long, value_name = "ID")]
    pub participant_id: Option<String>,
}

/// Sign a playback token and print it.
pub fn sign(args: SignArgs) -> Result<(), Failure> {
    let SignArgs {
        key,
        channel_arn,
        ttl,
        origins,
        strict_origin,
        viewer_id,
        session_version,
        single_use,
        max_resolution,
    } = args;
    let key = read_private_key(&key)?;
    if !is_channel_arn(&channel_arn) {
        return Err(unusable("--channel-arn must look like arn:aws:ivs:<region>:<12-digit account>:channel/<id>"));
    }
    for origin in &origins {
        check_origin(origin).map_err(|e| unusable(format!("--origin: {e}")))?;
    }
    if strict_origin && !(1..=STRICT_ORIGIN_MAX).contains(&origins.len()) {
        return Err(unusable(format!(
            "--strict-origin needs 1 to {STRICT_ORIGIN_MAX} --origin values, got {}",
            origins.len()
        )));
    }
    if let Some(id) = &viewer_id {
        if !(1..=VIEWER_ID_MAX_LEN).contains(&id.chars().count()) {
            return Err(unusable(format!("--viewer-id must be 1 to {VIEWER_ID_MAX_LEN} characters (IVS limit)")));
        }
    }
    let now = now();
    let mut claims = PlaybackClaims::new(&channel_arn, now, ttl);
    claims.allowed_origin = Some(if origins.is_empty() { "*".to_owned() } else { origins.join(",") });
    claims.strict_origin = strict_origin.then_some(true);
    claims.viewer_session_version = viewer_id.as_ref().map(|_| session_version.unwrap_or(0));
    claims.viewer_id = viewer_id;
    claims.single_use_uuid = if single_use { Some(token::uuid_v4(random_bytes()?)) } else { None };
    claims.maximum_resolution = max_resolution;
    if claims.is_bound() && ttl > token::BOUND_TOKEN_MAX_TTL {
        eprintln!(
            "ivs-token: note: --ttl lowered to {} s, the IVS limit for viewer-bound and single-use tokens",
            token::BOUND_TOKEN_MAX_TTL
        );
    }
    println!("{}", token::sign(&claims, &key));
    Ok(())
}

/// Sign a participant token and print it; one the verifier refuses is never printed.
pub fn stage_token(args: StageTokenArgs) -> Result<(), Failure> {
    let StageTokenArgs {
        key,
        stage_arn,
        public_key_arn,
        whip_url,
        events_url,
        ttl,
        publish,
        user_id,
        attributes,
        participant_id,
    } = args;
    use ivs_token_worker::stage::claims as participant;
    let key = read_private_key(&key)?;
    let stage = ivs_token_worker::stage::Stage::from_json(
        "cli",
        &serde_json::json!({"arn": stage_arn, "public_key_arn": public_key_arn, "whip_url": whip_url, "events_url": events_url}),
    )
    .map_err(|error| match error {
        // The stage's field, named as the flag that gave it.
        StageError::Field { field, rule, .. } => {
            let flag = match field {
                "arn" => "--stage-arn",
                "public_key_arn" => "--public-key-arn",
                "whip_url" => "--whip-url",
                "events_url" => "--events-url",
                other => other,
            };
            unusable(format!("{flag} {rule}"))
        }
        other => unusable(other.to_string()),
    })?;
    let jti = match participant_id {
        Some(id) => id,
        None => participant::participant_id(random_bytes()?),
    };
    let mut claims = participant::StageClaims::new(&stage.arn, &stage.whip_url, &stage.events_url, &jti, now(), ttl);
    claims.capabilities.allow_publish = publish;
    claims.user_id = user_id;
    for pair in &attributes {
        let (name, value) =
            pair.split_once('=').ok_or_else(|| unusable(format!("--attribute `{pair}` must be NAME=VALUE")))?;
        claims.attributes.insert(name.to_owned(), value.to_owned());
    }
    // The verifier is the rule book: a token it refuses is never printed.
    let token = participant::sign(&claims, &stage.public_key_arn, &key);
    participant::verify(&token, &[key.public_key()], now()).map_err(|e| unusable(format!("refusing to sign: {e}")))?;
    println!("{token}");
    Ok(())
}
