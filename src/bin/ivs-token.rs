//! `ivs-token`: the operator's CLI, built on the same core as the worker.
//!
//! Exit codes: 0 success; 1 `verify` rejected the token; 2 usage error (unknown flag, missing
//! argument); 3 an input could not be used (unreadable file, invalid key, invalid value); for
//! `admin`: 4 the worker refused the request (a 3xx or 4xx answer: wrong token, bad value, no
//! operator API), 5 no usable answer (network failure, timeout, a 5xx answer, not the API's JSON).

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    cli::main()
}

#[cfg(not(target_arch = "wasm32"))]
mod cli {
    use clap::{Parser, Subcommand};
    use ivs_token_worker::address::check_origin;
    use ivs_token_worker::channel::claims::{self as token, PlaybackClaims, STRICT_ORIGIN_MAX};
    use ivs_token_worker::identity::provider::check_issuer;
    use ivs_token_worker::identity::session_cookie::{check_secret, mint, SessionClaims};
    use ivs_token_worker::identity::viewer_id::ViewerIdKey;
    use ivs_token_worker::ivs::{is_channel_arn, Resolution, VIEWER_ID_MAX_LEN};
    use ivs_token_worker::key::{PlaybackKey, PublicKey, SCALAR_LEN};
    use std::io::Read;
    use std::path::{Path, PathBuf};
    use std::process::ExitCode;

    /// Keys, playback tokens, sessions and revocation for ivs-token-worker, offline.
    #[derive(Parser)]
    #[command(name = "ivs-token", version, about, after_help = EXIT_CODES)]
    struct Cli {
        #[command(subcommand)]
        command: Command,
    }

    const EXIT_CODES: &str = "Exit codes: 0 success, 1 token rejected (verify), 2 usage error, 3 unusable input, \
4 the worker refused the request (admin: 3xx/4xx), 5 no usable answer (admin: network, timeout, 5xx).";

    #[derive(Subcommand)]
    enum Command {
        /// Generate a P-384 playback key pair (private.pem, mode 0600, and public.pem).
        Keygen {
            /// Directory to write the key files into (created if missing).
            #[arg(long, value_name = "DIR")]
            out: PathBuf,
            /// Write the private key as PKCS#8 (`PRIVATE KEY`) instead of SEC1 (`EC PRIVATE KEY`).
            #[arg(long)]
            pkcs8: bool,
        },
        /// Print the SPKI public key (PEM) of a private key, for `aws ivs import-playback-key-pair`.
        PublicKey {
            /// Private key file, in any form the worker accepts.
            #[arg(long, value_name = "FILE")]
            key: PathBuf,
        },
        /// Sign a playback token offline, with exactly the worker's claim rules.
        Sign {
            /// Private key file.
            #[arg(long, value_name = "FILE")]
            key: PathBuf,
            /// The channel ARN (aws:channel-arn).
            #[arg(long, value_name = "ARN")]
            channel_arn: String,
            /// Lifetime in seconds (capped at 600 with --viewer-id or --single-use).
            #[arg(long, value_name = "SECONDS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=86_400))]
            ttl: u64,
            /// Allowed origin (repeatable); default `*`.
            #[arg(long = "origin", value_name = "ORIGIN")]
            origins: Vec<String>,
            /// Set aws:strict-origin-enforcement (needs 1 to 5 --origin).
            #[arg(long)]
            strict_origin: bool,
            /// aws:viewer-id (1 to 40 characters, not personal data; see `viewer-id`).
            #[arg(long, value_name = "ID")]
            viewer_id: Option<String>,
            /// aws:viewer-session-version (with --viewer-id; default 0; at most 2147483647 to stay revocable).
            #[arg(long, value_name = "N", requires = "viewer_id", value_parser = clap::value_parser!(i64).range(0..=2_147_483_647))]
            session_version: Option<i64>,
            /// Add a fresh aws:single-use-uuid.
            #[arg(long)]
            single_use: bool,
            /// aws:maximum-resolution: SD, HD or FULL_HD.
            #[arg(long, value_name = "RESOLUTION", value_parser = parse_resolution)]
            max_resolution: Option<Resolution>,
        },
        /// Sign a participant token for an IVS real-time stage offline, with exactly the worker's claim rules.
        StageToken {
            /// Private key file (the key whose public half was imported with `aws ivs-realtime import-public-key`).
            #[arg(long, value_name = "FILE")]
            key: PathBuf,
            /// The stage ARN (resource; topic is its id).
            #[arg(long, value_name = "ARN")]
            stage_arn: String,
            /// The imported public key's ARN (the header's kid), in the stage's region.
            #[arg(long, value_name = "ARN")]
            public_key_arn: String,
            /// The stage's WHIP endpoint (endpoints.whip of `aws ivs-realtime get-stage`).
            #[arg(long, value_name = "URL")]
            whip_url: String,
            /// The stage's events endpoint.
            #[arg(long, value_name = "URL", default_value = ivs_token_worker::stage::DEFAULT_EVENTS_URL)]
            events_url: String,
            /// Lifetime in seconds (at most 14 days).
            #[arg(long, value_name = "SECONDS", default_value_t = 3600, value_parser = clap::value_parser!(u64).range(1..=1_209_600))]
            ttl: u64,
            /// Also allow publishing (allow_publish).
            #[arg(long)]
            publish: bool,
            /// user_id (at most 128 characters; visible to every participant, so not personal data).
            #[arg(long, value_name = "ID")]
            user_id: Option<String>,
            /// A participant attribute NAME=VALUE (repeatable; at most 1 KB in all).
            #[arg(long = "attribute", value_name = "NAME=VALUE")]
            attributes: Vec<String>,
            /// The participant id (jti); default: a fresh random one.
            #[arg(long, value_name = "ID")]
            participant_id: Option<String>,
        },
        /// Verify a playback or participant token's signature and every IVS rule; print its header and claims.
        Verify {
            /// Public key file (SPKI PEM); repeat during a key rotation.
            #[arg(long = "public-key", value_name = "FILE", required = true)]
            public_keys: Vec<PathBuf>,
            /// The token, or `-` to read it from standard input.
            token: String,
        },
        /// Mint a session cookie value the worker accepts (secret from SESSION_SECRET or --secret-file).
        Session {
            /// The viewer's subject (`sub`).
            #[arg(long, value_name = "ID")]
            sub: String,
            /// Comma-separated channel names the session may watch (default: all).
            #[arg(long, value_name = "NAMES", value_delimiter = ',')]
            channels: Option<Vec<String>>,
            /// Comma-separated group names (the `groups` claim, for channels' and stages' group rules).
            #[arg(long, value_name = "NAMES", value_delimiter = ',')]
            groups: Option<Vec<String>>,
            /// Session lifetime in seconds.
            #[arg(long, value_name = "SECONDS", default_value_t = 3600, value_parser = clap::value_parser!(u64).range(1..=31_536_000))]
            ttl: u64,
            /// Session version (`sv`), becomes aws:viewer-session-version.
            #[arg(long, value_name = "N", value_parser = clap::value_parser!(i64).range(0..=2_147_483_647))]
            sv: Option<i64>,
            /// Resolution cap: SD, HD or FULL_HD.
            #[arg(long, value_name = "RESOLUTION", value_parser = parse_resolution)]
            max_resolution: Option<Resolution>,
            /// File holding the session secret (default: the SESSION_SECRET environment variable).
            #[arg(long, value_name = "FILE")]
            secret_file: Option<PathBuf>,
        },
        /// Print a SigV4-signed IVS revocation request (the worker's own signer), as JSON: method, url,
        /// headers, body and the signature's steps. Credentials from AWS_ACCESS_KEY_ID,
        /// AWS_SECRET_ACCESS_KEY and (temporary credentials) AWS_SESSION_TOKEN. Nothing is sent.
        RevocationRequest {
            /// The channel ARN (repeat for a BatchStartViewerSessionRevocation of up to 20, one region).
            #[arg(long = "channel-arn", value_name = "ARN", required = true)]
            channel_arns: Vec<String>,
            /// The aws:viewer-id to revoke (1 to 40 characters; see `viewer-id`).
            #[arg(long, value_name = "ID")]
            viewer_id: String,
            /// Revoke every session of the viewer whose aws:viewer-session-version is at most N.
            #[arg(long, value_name = "N", value_parser = clap::value_parser!(i64).range(0..=2_147_483_647))]
            version: i64,
            /// The IVS API origin instead of https://ivs.<region>.amazonaws.com (http only for localhost).
            #[arg(long, value_name = "URL")]
            endpoint: Option<String>,
            /// Sign as of this time (Unix seconds) instead of now.
            #[arg(long, value_name = "UNIX")]
            time: Option<u64>,
        },
        /// Print the aws:viewer-id the worker derives for a subject, and the command that revokes it.
        ViewerId {
            /// The viewer's subject (`sub`, or the value of the provider's `subject_claim`).
            #[arg(long, value_name = "ID")]
            sub: String,
            /// For a viewer signed in at an identity provider: its issuer, exactly as its tokens'
            /// `iss` (the provider's `issuer`, or what its preset derives). Without it, the viewer
            /// of the worker's own session cookie.
            #[arg(long, value_name = "URL")]
            issuer: Option<String>,
            /// The playback private key (used when VIEWER_ID_SECRET is not set, as in the worker).
            #[arg(long, value_name = "FILE")]
            key: Option<PathBuf>,
            /// Channel ARN for the printed revocation command.
            #[arg(long, value_name = "ARN")]
            channel_arn: Option<String>,
        },
        /// Call a deployed worker's operator API (device limits): revoke a viewer, list their devices.
        /// The token is ADMIN_API_TOKEN from the environment or --token-file, never a flag's value.
        Admin {
            #[command(subcommand)]
            command: AdminCommand,
        },
    }

    #[derive(Subcommand)]
    enum AdminCommand {
        /// Revoke every device of a viewer at IVS (POST /v1/admin/revoke), on one channel or all,
        /// and optionally block their token requests; prints the worker's answer (JSON).
        Revoke {
            #[command(flatten)]
            target: AdminTarget,
            /// Only this device-limited channel (a name in CHANNELS); default: every limited channel.
            #[arg(long, value_name = "NAME")]
            channel: Option<String>,
            /// Also refuse the viewer's token requests (403 viewer-blocked) for this many seconds.
            #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=ivs_token_worker::device::admin::MAX_BLOCK_SECONDS))]
            block_seconds: Option<u64>,
        },
        /// List a viewer's devices (POST /v1/admin/devices): channels, since when, last seen, idle;
        /// the revocations still owed to IVS and any block. Prints the worker's answer (JSON).
        Devices {
            #[command(flatten)]
            target: AdminTarget,
        },
    }

    /// What every `admin` command names: the worker, the viewer, the token's file.
    #[derive(clap::Args)]
    struct AdminTarget {
        /// The worker's origin, e.g. https://www.example.com (http:// only for localhost).
        #[arg(long, value_name = "URL")]
        url: String,
        /// The viewer's subject (`sub`, or the value of the provider's `subject_claim`).
        #[arg(long, value_name = "ID")]
        sub: String,
        /// For a viewer signed in at an identity provider: its issuer, exactly as its tokens' `iss`.
        /// Without it, the viewer of the worker's own session cookie.
        #[arg(long, value_name = "URL")]
        issuer: Option<String>,
        /// File holding the operator API token (default: the ADMIN_API_TOKEN environment variable).
        // Not `#[arg(env)]`: clap would show the variable's value in --help.
        #[arg(long, value_name = "FILE")]
        token_file: Option<PathBuf>,
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
            Command::Keygen { out, pkcs8 } => keygen(&out, pkcs8),
            Command::PublicKey { key } => {
                print!("{}", read_private_key(&key)?.public_key_pem());
                Ok(())
            }
            Command::Sign {
                key,
                channel_arn,
                ttl,
                origins,
                strict_origin,
                viewer_id,
                session_version,
                single_use,
                max_resolution,
            } => {
                let key = read_private_key(&key)?;
                if !is_channel_arn(&channel_arn) {
                    return Err(unusable(
                        "--channel-arn must look like arn:aws:ivs:<region>:<12-digit account>:channel/<id>",
                    ));
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
                        return Err(unusable(format!(
                            "--viewer-id must be 1 to {VIEWER_ID_MAX_LEN} characters (IVS limit)"
                        )));
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
            Command::StageToken {
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
            } => {
                use ivs_token_worker::stage::claims as participant;
                let key = read_private_key(&key)?;
                let stage = ivs_token_worker::stage::Stage::from_json(
                    "cli",
                    &serde_json::json!({"arn": stage_arn, "public_key_arn": public_key_arn, "whip_url": whip_url, "events_url": events_url}),
                )
                .map_err(|e| {
                    let flags = [("`arn`", "--stage-arn"), ("`public_key_arn`", "--public-key-arn"), ("`whip_url`", "--whip-url"), ("`events_url`", "--events-url")];
                    unusable(flags.iter().fold(e.replacen("stage `cli`: ", "", 1), |text, (field, flag)| text.replace(field, flag)))
                })?;
                let jti = match participant_id {
                    Some(id) => id,
                    None => participant::participant_id(random_bytes()?),
                };
                let mut claims =
                    participant::StageClaims::new(&stage.arn, &stage.whip_url, &stage.events_url, &jti, now(), ttl);
                claims.capabilities.allow_publish = publish;
                claims.user_id = user_id;
                for pair in &attributes {
                    let (name, value) = pair
                        .split_once('=')
                        .ok_or_else(|| unusable(format!("--attribute `{pair}` must be NAME=VALUE")))?;
                    claims.attributes.insert(name.to_owned(), value.to_owned());
                }
                // The verifier is the rule book: a token it refuses is never printed.
                let token = participant::sign(&claims, &stage.public_key_arn, &key);
                participant::verify(&token, &[key.public_key()], now())
                    .map_err(|e| unusable(format!("refusing to sign: {e}")))?;
                println!("{token}");
                Ok(())
            }
            Command::Verify { public_keys, token } => verify(&public_keys, &token),
            Command::Admin { command } => admin::run(command),
            Command::RevocationRequest { channel_arns, viewer_id, version, endpoint, time } => {
                revocation_request(&channel_arns, &viewer_id, version, endpoint.as_deref(), time.unwrap_or_else(now))
            }
            Command::Session { sub, channels, groups, ttl, sv, max_resolution, secret_file } => {
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
            Command::ViewerId { sub, issuer, key, channel_arn } => {
                if let Some(issuer) = &issuer {
                    check_issuer(issuer).map_err(|rule| unusable(format!("--issuer {issuer:?}: {rule}")))?;
                }
                let ids = match (std::env::var("VIEWER_ID_SECRET").ok().filter(|s| !s.trim().is_empty()), key) {
                    (Some(secret), _) => {
                        check_secret(secret.trim().as_bytes())
                            .map_err(|rule| unusable(format!("VIEWER_ID_SECRET {rule}")))?;
                        ViewerIdKey::from_secret(secret.trim().as_bytes())
                    }
                    (None, Some(path)) => ViewerIdKey::from_playback_key(&read_private_key(&path)?),
                    (None, None) => {
                        return Err(unusable("pass --key FILE (the worker's PLAYBACK_PRIVATE_KEY), or set VIEWER_ID_SECRET if the worker has one"))
                    }
                };
                let id = ids.viewer_id(issuer.as_deref(), &sub);
                println!("{id}");
                match &issuer {
                    Some(issuer) => eprintln!("a viewer signed in at the identity provider {issuer}"),
                    None => eprintln!("a viewer of the worker's session cookie (for a viewer of an identity provider, pass --issuer URL)"),
                }
                let arn = channel_arn.unwrap_or_else(|| "CHANNEL_ARN".to_owned());
                eprintln!(
                    "revoke every current session of this viewer with:\n  aws ivs start-viewer-session-revocation --channel-arn {arn} --viewer-id {id} --viewer-session-versions-less-than-or-equal-to N\n(N = the highest session version to revoke, e.g. the viewer's current `sv`)"
                );
                Ok(())
            }
        }
    }

    fn revocation_request(
        channel_arns: &[String],
        viewer_id: &str,
        version: i64,
        endpoint: Option<&str>,
        time: u64,
    ) -> Result<(), Failure> {
        use ivs_token_worker::aws::Credentials;
        use ivs_token_worker::device::ledger::{Pair, RevocationCall, MAX_BATCH};
        use ivs_token_worker::device::revocation::signed_request;
        use ivs_token_worker::ivs::parse_ivs_arn;
        let mut region = None;
        for arn in channel_arns {
            let parsed = parse_ivs_arn(arn, "channel").ok_or_else(|| {
                unusable(format!(
                    "--channel-arn {arn}: must look like arn:aws:ivs:<region>:<12-digit account>:channel/<id>"
                ))
            })?;
            if region.is_some_and(|r| r != parsed.region) {
                return Err(unusable("--channel-arn: every channel of one call must be in the same region"));
            }
            region = Some(parsed.region);
        }
        if channel_arns.len() > MAX_BATCH {
            return Err(unusable(format!("--channel-arn: at most {MAX_BATCH} channels in one call")));
        }
        if !(1..=VIEWER_ID_MAX_LEN).contains(&viewer_id.chars().count()) {
            return Err(unusable(format!("--viewer-id must be 1 to {VIEWER_ID_MAX_LEN} characters (IVS limit)")));
        }
        let endpoint = endpoint
            .map(ivs_token_worker::address::service_origin)
            .transpose()
            .map_err(|e| unusable(format!("--endpoint: {e}")))?;
        let env = |name: &str| std::env::var(name).ok().map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let (Some(key_id), Some(secret)) = (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) else {
            return Err(unusable(
                "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary credentials)",
            ));
        };
        let credentials = Credentials::new(&key_id, &secret, env("AWS_SESSION_TOKEN").as_deref());
        credentials.check().map_err(|(part, rule)| unusable(format!("the AWS {part} {rule}")))?;
        let call = RevocationCall {
            region: region.unwrap_or_default().to_owned(),
            pairs: channel_arns
                .iter()
                .map(|arn| Pair { channel_arn: arn.clone(), viewer_id: viewer_id.to_owned(), version })
                .collect(),
            ids: Vec::new(),
        };
        let request = signed_request(&call, &credentials, endpoint.as_deref(), time);
        let headers: serde_json::Map<String, serde_json::Value> =
            request.headers.iter().map(|(k, v)| ((*k).to_owned(), serde_json::Value::from(v.as_str()))).collect();
        let report = serde_json::json!({
            "method": "POST",
            "url": request.url,
            "headers": headers,
            "body": request.body,
        });
        println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
        Ok(())
    }

    fn keygen(out: &Path, pkcs8: bool) -> Result<(), Failure> {
        let private_path = out.join("private.pem");
        let public_path = out.join("public.pem");
        for path in [&private_path, &public_path] {
            if path.exists() {
                return Err(unusable(format!(
                    "{}: already exists; refusing to overwrite a key (choose another --out)",
                    path.display()
                )));
            }
        }
        std::fs::create_dir_all(out).map_err(|e| unusable(format!("{}: cannot create: {e}", out.display())))?;
        let key = loop {
            if let Some(key) = PlaybackKey::from_random_bytes(&random_bytes::<SCALAR_LEN>()?) {
                break key;
            }
        };
        let private_pem = if pkcs8 { key.to_pkcs8_pem() } else { key.to_sec1_pem() };
        write_new(&private_path, &private_pem, 0o600)?;
        write_new(&public_path, &key.public_key_pem(), 0o644)?;
        println!("wrote {} (private, mode 0600) and {}", private_path.display(), public_path.display());
        println!("fingerprint (SHA-256 of the public key, first 16 bytes): {}", key.public_key().fingerprint());
        println!("next:");
        println!(
            "  aws ivs import-playback-key-pair --name ivs-token-worker --public-key-material \"$(cat {})\"",
            public_path.display()
        );
        println!("  aws ivs-realtime import-public-key --name ivs-token-worker --public-key-material \"$(cat {})\"   # for stages (per region)", public_path.display());
        println!("  npx wrangler secret put PLAYBACK_PRIVATE_KEY < {}", private_path.display());
        Ok(())
    }

    fn write_new(path: &Path, contents: &str, mode: u32) -> Result<(), Failure> {
        use std::io::Write;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
        let mut file = options.open(path).map_err(|e| unusable(format!("{}: cannot create: {e}", path.display())))?;
        file.write_all(contents.as_bytes()).map_err(|e| unusable(format!("{}: cannot write: {e}", path.display())))
    }

    fn verify(public_keys: &[PathBuf], token: &str) -> Result<(), Failure> {
        let keys = public_keys
            .iter()
            .map(|path| {
                PublicKey::parse_pem(&read_text(path)?).map_err(|e| unusable(format!("{}: {e}", path.display())))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let token = if token == "-" {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text).map_err(|e| unusable(format!("stdin: {e}")))?;
            text
        } else {
            token.to_owned()
        };
        let rejected = |e: ivs_token_worker::Error| Failure(1, format!("invalid: {e}"));
        let signed = ivs_token_worker::jose::verify_es384(&token, &keys).map_err(rejected)?;
        let (kind, verified) = if ivs_token_worker::stage::claims::is_participant_token(&signed) {
            ("participant", ivs_token_worker::stage::claims::verify(&token, &keys, now()).map_err(rejected)?)
        } else {
            ("playback", token::verify(&token, &keys, now()).map_err(rejected)?)
        };
        let report = serde_json::json!({
            "valid": true,
            "kind": kind,
            "public_key": public_keys[verified.key_index].display().to_string(),
            "header": verified.header,
            "claims": verified.claims,
        });
        println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
        Ok(())
    }

    /// `ivs-token admin`: the worker's operator API (`POST /v1/admin/revoke`,
    /// `POST /v1/admin/devices`) over HTTPS (plain http only for this machine: the bearer token must
    /// not travel in the clear), with a blocking client (ureq, rustls). The token never appears in
    /// the output, in an error, or on the command line.
    mod admin {
        use super::{read_text, unusable, AdminCommand, AdminTarget, Failure};
        use ivs_token_worker::address::service_origin;
        use ivs_token_worker::identity::provider::check_issuer;
        use ivs_token_worker::identity::session_cookie::check_secret;
        use ivs_token_worker::identity::MAX_SUBJECT_LEN;
        use serde_json::{Map, Value};
        use std::time::Duration;

        /// How long one call may take in all: connecting, TLS, sending, the whole answer.
        const TIMEOUT: Duration = Duration::from_secs(15);
        /// The largest answer read (the API's answers are a few KB).
        const MAX_ANSWER_BYTES: u64 = 1 << 20;
        /// Exit code: the worker refused the request (a 3xx or 4xx answer); retrying will not help.
        const REFUSED: u8 = 4;
        /// Exit code: no usable answer (network failure, timeout, a 5xx answer, not the API's JSON).
        const FAILED: u8 = 5;
        /// Where the token comes from when there is no `--token-file`.
        const TOKEN_VARIABLE: &str = "ADMIN_API_TOKEN";

        pub fn run(command: AdminCommand) -> Result<(), Failure> {
            let (request, token_file) = match command {
                AdminCommand::Revoke { target, channel, block_seconds } => {
                    let origin = check_target(&target)?;
                    if let Some(name) = &channel {
                        if !ivs_token_worker::text::is_name(name) {
                            return Err(unusable("--channel must be a channel name matching [a-z0-9-]{1,64}"));
                        }
                    }
                    let body = revoke_body(&target.sub, target.issuer.as_deref(), channel.as_deref(), block_seconds);
                    (Request { url: format!("{origin}/v1/admin/revoke"), body }, target.token_file)
                }
                AdminCommand::Devices { target } => {
                    let origin = check_target(&target)?;
                    // POST, not GET with a query: the subject stays out of URLs that request logs keep.
                    let body = revoke_body(&target.sub, target.issuer.as_deref(), None, None);
                    (Request { url: format!("{origin}/v1/admin/devices"), body }, target.token_file)
                }
            };
            let token = admin_token(token_file.as_deref())?;
            let answer = send(&request, &token)?;
            println!("{}", serde_json::to_string_pretty(&answer).unwrap_or_default());
            Ok(())
        }

        /// One call of the operator API: every one is a POST of a JSON body (a subject never
        /// travels in a URL).
        struct Request {
            url: String,
            body: Value,
        }

        /// The worker's origin, after the checks the worker makes too (made first, so a typo costs
        /// no request).
        fn check_target(target: &AdminTarget) -> Result<String, Failure> {
            let origin = worker_origin(&target.url)?;
            if target.sub.is_empty() || target.sub.len() > MAX_SUBJECT_LEN {
                return Err(unusable(format!("--sub must be 1 to {MAX_SUBJECT_LEN} bytes")));
            }
            if let Some(issuer) = &target.issuer {
                check_issuer(issuer).map_err(|rule| unusable(format!("--issuer {issuer:?}: {rule}")))?;
            }
            Ok(origin)
        }

        /// The worker's origin from `--url`: `https://host[:port]`, `http` only for localhost,
        /// 127.0.0.1 or [::1], no path, query, fragment or user name.
        fn worker_origin(url: &str) -> Result<String, Failure> {
            service_origin(url).map_err(|rule| {
                let why = if url.get(..7).is_some_and(|scheme| scheme.eq_ignore_ascii_case("http://")) {
                    "; the admin token must not travel in the clear"
                } else {
                    ""
                };
                unusable(format!("--url: {rule}{why}"))
            })
        }

        /// `POST /v1/admin/revoke`'s body: `sub`, and each optional field only when given (without
        /// `channel` and `block_seconds`, `POST /v1/admin/devices`'s too).
        fn revoke_body(sub: &str, issuer: Option<&str>, channel: Option<&str>, block_seconds: Option<u64>) -> Value {
            let mut body = Map::new();
            body.insert("sub".into(), sub.into());
            if let Some(issuer) = issuer {
                body.insert("issuer".into(), issuer.into());
            }
            if let Some(channel) = channel {
                body.insert("channel".into(), channel.into());
            }
            if let Some(seconds) = block_seconds {
                body.insert("block_seconds".into(), seconds.into());
            }
            Value::Object(body)
        }

        /// The token from `--token-file`, else `ADMIN_API_TOKEN`, trimmed; held to the worker's rule
        /// for secrets, and to what an HTTP header carries. Errors never quote it.
        fn admin_token(file: Option<&std::path::Path>) -> Result<String, Failure> {
            let (token, source) = match file {
                Some(path) => (read_text(path)?, path.display().to_string()),
                None => (
                    std::env::var(TOKEN_VARIABLE).map_err(|_| {
                        unusable(format!("no operator API token: set {TOKEN_VARIABLE} or pass --token-file FILE"))
                    })?,
                    TOKEN_VARIABLE.to_owned(),
                ),
            };
            let token = token.trim().to_owned();
            if !token.bytes().all(|b| b.is_ascii_graphic() || b == b' ') {
                return Err(unusable(format!("{source}: the token must be printable ASCII (it is sent in a header)")));
            }
            check_secret(token.as_bytes()).map_err(|rule| unusable(format!("{source}: the token {rule}")))?;
            Ok(token)
        }

        /// Send `request` with the bearer token; the answer's JSON when it is a 2xx.
        fn send(request: &Request, token: &str) -> Result<Value, Failure> {
            let local = ivs_token_worker::address::parse_url(&request.url, ivs_token_worker::address::HTTPS)
                .is_ok_and(|url| url.is_local());
            let mut config = ureq::Agent::config_builder()
                .timeout_global(Some(TIMEOUT))
                // Problems are answers to read, not errors; a redirect is reported, not followed.
                .http_status_as_error(false)
                .max_redirects(0)
                .user_agent(concat!("ivs-token/", env!("CARGO_PKG_VERSION")));
            if local {
                // Plain http to this machine never goes through a proxy.
                config = config.proxy(None);
            } else if let Some(roots) = custom_roots()? {
                config = config.tls_config(ureq::tls::TlsConfig::builder().root_certs(roots).build());
            }
            let agent: ureq::Agent = config.build().into();
            let bearer = format!("Bearer {token}");
            let sent = agent
                .post(&request.url)
                .header("authorization", &bearer)
                .header("accept", "application/json")
                .header("content-type", "application/json")
                .send(request.body.to_string());
            let what = format!("POST {}", request.url);
            let mut response = sent.map_err(|error| Failure(FAILED, redact(&no_answer(&what, &error), token)))?;
            let status = response.status().as_u16();
            let location = response.headers().get("location").and_then(|v| v.to_str().ok()).map(str::to_owned);
            let text = response
                .body_mut()
                .with_config()
                .limit(MAX_ANSWER_BYTES)
                .read_to_string()
                .map_err(|error| Failure(FAILED, redact(&no_answer(&what, &error), token)))?;
            let json = serde_json::from_str::<Value>(&text).ok();
            match (status, json) {
                (200..=299, Some(json)) => Ok(json),
                (200..=299, None) => Err(Failure(
                    FAILED,
                    redact(&format!("{what}: {status}, but the answer is not JSON: {}", excerpt(&text)), token),
                )),
                (_, json) => {
                    let code = if status >= 500 { FAILED } else { REFUSED };
                    Err(Failure(
                        code,
                        redact(&refusal(&what, status, json.as_ref(), &text, location.as_deref()), token),
                    ))
                }
            }
        }

        /// The certificates of `SSL_CERT_FILE` (PEM), when it is set, as the only roots TLS trusts
        /// (as OpenSSL reads it: a TLS-inspecting proxy's or a private CA's); without it, the
        /// Mozilla roots built in (webpki-roots).
        fn custom_roots() -> Result<Option<ureq::tls::RootCerts>, Failure> {
            use ureq::tls::{parse_pem, PemItem};
            let Some(path) = std::env::var_os("SSL_CERT_FILE").filter(|p| !p.is_empty()).map(std::path::PathBuf::from)
            else {
                return Ok(None);
            };
            let pem = std::fs::read(&path)
                .map_err(|e| unusable(format!("SSL_CERT_FILE {}: cannot read: {e}", path.display())))?;
            let certificates: Vec<_> = parse_pem(&pem)
                .filter_map(|item| match item {
                    Ok(PemItem::Certificate(certificate)) => Some(certificate),
                    _ => None,
                })
                .collect();
            if certificates.is_empty() {
                return Err(unusable(format!("SSL_CERT_FILE {}: holds no PEM certificate", path.display())));
            }
            Ok(Some(ureq::tls::RootCerts::Specific(std::sync::Arc::new(certificates))))
        }

        fn no_answer(what: &str, error: &ureq::Error) -> String {
            match error {
                ureq::Error::Timeout(_) => format!("{what}: no answer within {} s", TIMEOUT.as_secs()),
                error => format!("{what}: no answer: {error}"),
            }
        }

        /// The message for a non-2xx answer: its status and the problem's title and `detail`
        /// (RFC 9457), with a hint for the usual causes.
        fn refusal(what: &str, status: u16, json: Option<&Value>, text: &str, location: Option<&str>) -> String {
            let field = |name: &str| json.and_then(|j| j.get(name)).and_then(Value::as_str);
            let mut message = match (field("title"), field("detail")) {
                (Some(title), Some(detail)) => format!("{what}: {status} {title}: {detail}"),
                (None, Some(detail)) => format!("{what}: {status}: {detail}"),
                _ if (300..400).contains(&status) => {
                    format!(
                        "{what}: {status}, a redirect to {} (not followed; pass that origin as --url)",
                        excerpt(location.unwrap_or("nowhere"))
                    )
                }
                _ => format!("{what}: {status}: {}", excerpt(text)),
            };
            match status {
                401 => message.push_str(&format!(
                    " (the token from {TOKEN_VARIABLE} or --token-file is not the worker's ADMIN_API_TOKEN)"
                )),
                404 if field("type").is_some_and(|t| t.ends_with(":not-found")) => {
                    message.push_str(" (a worker without ADMIN_API_TOKEN and DEVICE_LIMITS has no operator API)")
                }
                _ => {}
            }
            message
        }

        /// At most 200 characters of `text`, on one line, without control characters.
        fn excerpt(text: &str) -> String {
            let line: String = text.trim().chars().map(|c| if c.is_control() { ' ' } else { c }).take(200).collect();
            if line.is_empty() {
                "(empty)".to_owned()
            } else {
                line
            }
        }

        /// `message` with every occurrence of the token replaced: whatever a server or a proxy
        /// echoes, the token is not printed.
        fn redact(message: &str, token: &str) -> String {
            if token.is_empty() {
                message.to_owned()
            } else {
                message.replace(token, "***")
            }
        }

        #[cfg(test)]
        mod tests {
            use super::*;

            #[test]
            fn the_devices_body_reaches_the_worker_as_given() {
                let sub = "alice+bob@example.com&issuer=https://evil.example #x=ü/%";
                let issuer = "https://id.example";
                let body = revoke_body(sub, Some(issuer), None, None).to_string();
                let (parsed_sub, parsed_issuer) = ivs_token_worker::device::admin::parse_list(body.as_bytes()).unwrap();
                assert_eq!((parsed_sub.as_str(), parsed_issuer.as_deref()), (sub, Some(issuer)));
                let plain = revoke_body("a b", None, None, None).to_string();
                assert_eq!(
                    ivs_token_worker::device::admin::parse_list(plain.as_bytes()).unwrap(),
                    ("a b".into(), None)
                );
            }

            #[test]
            fn the_revoke_body_is_json_with_only_the_given_fields() {
                let sub = "quote\" back\\slash {\"sub\": \"mallory\"}";
                let body = revoke_body(sub, None, None, None);
                assert_eq!(body, serde_json::json!({ "sub": sub }));
                let parsed = ivs_token_worker::device::admin::parse_revoke(body.to_string().as_bytes()).unwrap();
                assert_eq!(parsed.sub, sub);
                let full = revoke_body("alice", Some("https://id.example"), Some("launch"), Some(3600));
                let parsed = ivs_token_worker::device::admin::parse_revoke(full.to_string().as_bytes()).unwrap();
                assert_eq!(
                    (parsed.issuer.as_deref(), parsed.channel.as_deref(), parsed.block_seconds),
                    (Some("https://id.example"), Some("launch"), Some(3600))
                );
            }

            #[test]
            fn plain_http_only_for_this_machine() {
                for (url, origin) in [
                    ("https://www.example.com", "https://www.example.com"),
                    ("https://www.example.com/", "https://www.example.com"),
                    ("http://127.0.0.1:8787", "http://127.0.0.1:8787"),
                    ("http://localhost:8787/", "http://localhost:8787"),
                    ("http://[::1]:8787", "http://[::1]:8787"),
                ] {
                    assert_eq!(worker_origin(url).ok().as_deref(), Some(origin), "{url}");
                }
                for (url, rule) in [
                    ("http://example.com", "must not travel in the clear"),
                    ("HTTP://example.com", "must not travel in the clear"),
                    ("http://localhost.example.com", "must not travel in the clear"),
                    ("https://www.example.com/v1/admin/devices", "without a path"),
                    ("https://user:pw@www.example.com", "user name or password"),
                    ("www.example.com", "must start with https://"),
                ] {
                    let Err(Failure(code, message)) = worker_origin(url) else { panic!("{url} accepted") };
                    assert_eq!(code, 3);
                    assert!(message.starts_with("--url: ") && message.contains(rule), "{url}: {message}");
                }
            }

            #[test]
            fn refusals_say_the_status_and_the_detail() {
                let problem = serde_json::json!({
                    "type": "urn:ivs-token-worker:problem:unauthorized",
                    "title": "Not authorized",
                    "status": 401,
                    "detail": "this path needs `Authorization: Bearer <ADMIN_API_TOKEN>`",
                });
                let message = refusal("POST https://tv.example/v1/admin/revoke", 401, Some(&problem), "", None);
                assert!(message.contains("401 Not authorized: this path needs"), "{message}");
                assert!(message.contains("not the worker's ADMIN_API_TOKEN"), "{message}");
                let redirect = refusal("GET x", 301, None, "", Some("https://www.example.com/v1/admin/devices"));
                assert!(redirect.contains("301, a redirect to https://www.example.com"), "{redirect}");
                let html = refusal("GET x", 502, None, "<html>\n<b>Bad gateway</b>\n</html>", None);
                assert_eq!(html, "GET x: 502: <html> <b>Bad gateway</b> </html>");
                assert_eq!(
                    redact("Bearer s3cr3t-token echoed: s3cr3t-token", "s3cr3t-token"),
                    "Bearer *** echoed: ***"
                );
            }
        }
    }
}
