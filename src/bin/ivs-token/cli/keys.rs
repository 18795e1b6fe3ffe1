//! `ivs-token keygen`, `public-key` and `verify`: the playback key pair and token checks.

use super::{now, random_bytes, read_private_key, read_text, unusable, Failure};
use ivs_token_worker::channel::claims as token;
use ivs_token_worker::key::{PlaybackKey, PublicKey, SCALAR_LEN};
use std::io::Read;
use std::path::{Path, PathBuf};

/// The arguments of `ivs-token keygen`.
#[derive(clap::Args)]
pub struct KeygenArgs {
    /// Directory to write the key files into (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Write the private key as PKCS#8 (`PRIVATE KEY`) instead of SEC1 (`EC PRIVATE KEY`).
    #[arg(long)]
    pkcs8: bool,
}

/// The arguments of `ivs-token public-key`.
#[derive(clap::Args)]
pub struct PublicKeyArgs {
    /// Private key file, in any form the worker accepts.
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
}

/// The arguments of `ivs-token verify`.
#[derive(clap::Args)]
pub struct VerifyArgs {
    /// Public key file (SPKI PEM); repeat during a key rotation.
    #[arg(long = "public-key", value_name = "FILE", required = true)]
    pub public_keys: Vec<PathBuf>,
    /// The token, or `-` to read it from standard input.
    pub token: String,
}

/// Write a new key pair.
pub fn keygen(args: KeygenArgs) -> Result<(), Failure> {
    write_key_pair(&args.out, args.pkcs8)
}

/// Print the SPKI public key of a private key.
pub fn public_key(args: PublicKeyArgs) -> Result<(), Failure> {
    print!("{}", read_private_key(&args.key)?.public_key_pem());
    Ok(())
}

/// Verify a token and print its header and claims (exit code 1 when it is refused).
pub fn verify(args: VerifyArgs) -> Result<(), Failure> {
    verify_token(&args.public_keys, &args.token)
}

fn write_key_pair(out: &Path, pkcs8: bool) -> Result<(), Failure> {
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

fn verify_token(public_keys: &[PathBuf], token: &str) -> Result<(), Failure> {
    let keys = public_keys
        .iter()
        .map(|path| PublicKey::parse_pem(&read_text(path)?).map_err(|e| unusable(format!("{}: {e}", path.display()))))
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
