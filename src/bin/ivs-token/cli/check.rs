//! `ivs-token check`: the worker's own configuration check (`Config::load`), run offline on a
//! deployment's real inputs before `wrangler deploy`, so a broken setting stops the deploy instead
//! of the show.
//!
//! The inputs are what the deployed worker's `env` would hold: `wrangler.toml`'s `[vars]` (or
//! `[env.NAME.vars]`: wrangler does not inherit vars into an environment), tables and numbers
//! turned into the JSON text the worker reads them as; secrets' values from a `.dev.vars`-form file
//! and, for the names the worker reads, the process environment; and, optionally, the names of the
//! secrets that exist at Cloudflare (`wrangler secret list`). No value is ever printed: the
//! messages are the worker's own, which name settings and rules only.

use super::{random_bytes, read_text, Failure};
use ivs_token_worker::config::{bindings, names, Config, Settings};
use ivs_token_worker::encoding::hex;
use ivs_token_worker::key::PlaybackKey;
use ivs_token_worker::signin::settings::secret_names;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The arguments of `ivs-token check`.
#[derive(clap::Args)]
pub struct CheckArgs {
    /// The deployment's wrangler.toml.
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// The wrangler environment to check ([env.NAME]; its vars replace the top-level ones).
    #[arg(long, value_name = "NAME")]
    pub env: Option<String>,
    /// Secrets' values in .dev.vars form (KEY=value, KEY="value" lines). Names the worker reads
    /// that are in neither wrangler.toml nor this file are taken from the environment.
    #[arg(long, value_name = "FILE")]
    pub secrets: Option<PathBuf>,
    /// The secrets that exist at Cloudflare: the output of `wrangler secret list --format json`.
    /// Secrets listed there without a value are checked for presence only; values given for
    /// secrets not listed there are left out, as the deployed worker will not have them.
    #[arg(long, value_name = "FILE")]
    pub secret_names: Option<PathBuf>,
}

/// The settings that are secrets: when one exists at Cloudflare but its value was not given, a
/// throw-away value of the right form stands in for it (it is never printed nor used).
const SECRETS: &[&str] = &[
    names::PLAYBACK_PRIVATE_KEY,
    names::SESSION_SECRET,
    names::SESSION_SECRET_PREVIOUS,
    names::VIEWER_ID_SECRET,
    names::STAGE_PRIVATE_KEY,
    names::AWS_ACCESS_KEY_ID,
    names::AWS_SECRET_ACCESS_KEY,
    names::AWS_SESSION_TOKEN,
    names::ADMIN_API_TOKEN,
];

fn usage(message: impl Into<String>) -> Failure {
    Failure(2, message.into())
}

/// Check the configuration; print what the worker would say. Exit 0 when it would serve, 1 when
/// it would answer 500 misconfigured, 2 when an input cannot be read.
pub fn check(args: CheckArgs) -> Result<(), Failure> {
    let CheckArgs { config, env, secrets, secret_names: listed } = args;
    let vars = read_vars(&config, env.as_deref())?;
    let file_secrets = match &secrets {
        Some(path) => parse_dev_vars(&read_text(path).map_err(|Failure(_, m)| usage(m))?),
        None => BTreeMap::new(),
    };
    let at_cloudflare = listed.as_deref().map(read_secret_list).transpose()?;

    // What the worker reads: the vars, then the secrets over them (as `wrangler dev` lays
    // .dev.vars over [vars]), then the environment for the names the worker reads.
    let secrets_label = secrets.as_deref().map_or_else(String::new, |p| p.display().to_string());
    let mut given: BTreeMap<String, (String, String)> = BTreeMap::new();
    for (name, value) in &file_secrets {
        given.insert(name.clone(), (value.clone(), secrets_label.clone()));
    }
    let providers_text = given
        .get(names::IDENTITY_PROVIDERS)
        .map(|(v, _)| v.clone())
        .or_else(|| vars.get(names::IDENTITY_PROVIDERS).cloned());
    let read_by_worker: Vec<String> =
        names::ALL.iter().map(|n| n.to_string()).chain(secret_names(providers_text.as_deref())).collect();
    for name in &read_by_worker {
        if vars.contains_key(name) || given.contains_key(name) {
            continue;
        }
        if let Some(value) = std::env::var(name).ok().filter(|v| !v.trim().is_empty()) {
            given.insert(name.clone(), (value, "the environment".into()));
        }
    }

    let mut out = Vec::new();
    let mut settings = Settings::new();
    let mut bindings: BTreeSet<String> = vars.keys().cloned().collect();
    for (name, value) in &vars {
        settings.insert(name, value.clone());
    }
    match &at_cloudflare {
        None => {
            for (name, (value, _)) in &given {
                settings.insert(name, value.clone());
                bindings.insert(name.clone());
            }
        }
        Some(listed) => {
            for name in listed {
                bindings.insert(name.clone());
                if let Some((value, _)) = given.get(name) {
                    settings.insert(name, value.clone());
                } else if let Some(stand_in) = stand_in(name, &read_by_worker, listed)? {
                    settings.insert(name, stand_in);
                    out.push(format!(
                        "note: `{name}` exists at Cloudflare; its value was not given (--secrets FILE or the environment), so it was not checked"
                    ));
                } else if read_by_worker.contains(name) {
                    out.push(format!(
                        "note: `{name}` exists at Cloudflare as a secret; its value was not given, so it is checked as unset"
                    ));
                }
            }
            for (name, (_, from)) in &given {
                if !listed.contains(name) && !vars.contains_key(name) {
                    out.push(format!(
                        "warning: `{name}` has a value in {from} but is not a secret at Cloudflare, so the deployed worker does not have it: `wrangler secret put {name}`{}",
                        env.as_deref().map_or_else(String::new, |e| format!(" --env {e}"))
                    ));
                }
            }
        }
    }
    let settings = settings.with_bindings(bindings);

    let unread = bindings::unread(&settings);
    for name in &unread.unknown {
        out.push(format!(
            "warning: `{name}` is not a setting the worker reads; it is ignored (remove it, or correct its name)"
        ));
    }
    // The worker names the first; all of them here, so one run finds every one.
    for (name, setting) in unread.misspelled.iter().skip(1) {
        out.push(format!("error: {}", bindings::misspelled(name, setting)));
    }
    let where_ = match &env {
        Some(env) => format!("{} [env.{env}]", config.display()),
        None => config.display().to_string(),
    };
    let result = Config::load(&settings);
    for line in &out {
        println!("{line}");
    }
    match result {
        Ok(config) => {
            println!("ok: {where_}: the worker would serve: {}", summary(&config));
            Ok(())
        }
        Err(error) => {
            println!("error: {error}");
            Err(Failure(
                1,
                format!("{where_}: the worker would answer 500 misconfigured (and /healthz 503); fix the setting named above"),
            ))
        }
    }
}

/// One line on what the configuration serves.
fn summary(config: &Config) -> String {
    let count = |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let mut parts = vec![
        format!(
            "{} ({})",
            count(config.channels.len(), "channel", "channels"),
            config.channels.keys().cloned().collect::<Vec<_>>().join(", ")
        ),
        count(config.stages.len(), "stage", "stages"),
        count(config.identity.providers.len(), "identity provider", "identity providers"),
        format!("sign-in at the edge {}", if config.signin.logins.is_empty() { "off" } else { "on" }),
        format!("device limits {}", if config.devices.is_some() { "on" } else { "off" }),
    ];
    if !config.unknown_settings.is_empty() {
        parts.push(count(config.unknown_settings.len(), "unknown name", "unknown names"));
    }
    parts.join(", ")
}

/// A throw-away value for a secret that exists at Cloudflare but whose value was not given, of
/// the form its rules ask for; `None` for a name that is no secret the worker reads.
fn stand_in(name: &str, read_by_worker: &[String], listed: &BTreeSet<String>) -> Result<Option<String>, Failure> {
    let random = || random_bytes::<32>().map(|bytes| hex(&bytes));
    Ok(Some(match name {
        names::PLAYBACK_PRIVATE_KEY | names::STAGE_PRIVATE_KEY => {
            let mut scalar = random_bytes::<48>()?;
            scalar[0] &= 0x7f; // below the group order
            scalar[47] |= 1; // not zero
            PlaybackKey::from_scalar_bytes(&scalar)
                .map_err(|e| Failure(3, format!("a stand-in key: {e}")))?
                .to_sec1_pem()
        }
        names::AWS_ACCESS_KEY_ID if listed.contains(names::AWS_SESSION_TOKEN) => "ASIASTANDINFORCHECK0".into(),
        names::AWS_ACCESS_KEY_ID => "AKIASTANDINFORCHECK0".into(),
        _ if SECRETS.contains(&name) => random()?,
        // The client secrets `login` tables name.
        _ if read_by_worker.iter().any(|n| n == name) && !names::ALL.contains(&name) => random()?,
        _ => return Ok(None),
    }))
}

/// The vars of `wrangler.toml` (or of its `[env.NAME]`), as the text the worker reads.
fn read_vars(path: &Path, env: Option<&str>) -> Result<BTreeMap<String, String>, Failure> {
    let text = read_text(path).map_err(|Failure(_, m)| usage(m))?;
    let table = text
        .parse::<toml::Table>()
        .map_err(|e| usage(format!("{}: not valid TOML: {}", path.display(), first_line(&e.to_string()))))?;
    let scope = match env {
        None => &table,
        Some(name) => {
            let envs = table.get("env").and_then(toml::Value::as_table);
            envs.and_then(|envs| envs.get(name)).and_then(toml::Value::as_table).ok_or_else(|| {
                let known: Vec<&str> = envs.map(|e| e.keys().map(String::as_str).collect()).unwrap_or_default();
                usage(format!(
                    "{}: no [env.{name}] (environments: {})",
                    path.display(),
                    if known.is_empty() { "none".to_owned() } else { known.join(", ") }
                ))
            })?
        }
    };
    let Some(vars) = scope.get("vars") else { return Ok(BTreeMap::new()) };
    let vars = vars.as_table().ok_or_else(|| usage(format!("{}: `vars` must be a table", path.display())))?;
    Ok(vars.iter().map(|(name, value)| (name.clone(), var_text(value))).collect())
}

fn first_line(text: &str) -> &str {
    text.lines().find(|l| !l.trim().is_empty()).unwrap_or(text).trim()
}

/// A var as the worker reads it: a string as it is; anything else as `JSON.stringify` writes the
/// value wrangler binds (a TOML table is a JSON object; a whole float is an integer in JavaScript).
fn var_text(value: &toml::Value) -> String {
    match value {
        toml::Value::String(text) => text.clone(),
        toml::Value::Datetime(when) => when.to_string(),
        other => to_json(other).to_string(),
    }
}

fn to_json(value: &toml::Value) -> serde_json::Value {
    use serde_json::Value as J;
    match value {
        toml::Value::String(text) => J::String(text.clone()),
        toml::Value::Integer(n) => J::from(*n),
        toml::Value::Float(f) if f.is_finite() && f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 => {
            J::from(*f as i64)
        }
        toml::Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
        toml::Value::Boolean(b) => J::Bool(*b),
        toml::Value::Datetime(when) => J::String(when.to_string()),
        toml::Value::Array(items) => J::Array(items.iter().map(to_json).collect()),
        toml::Value::Table(table) => J::Object(table.iter().map(|(k, v)| (k.clone(), to_json(v))).collect()),
    }
}

/// `.dev.vars` (and `--env-file`) as wrangler reads it (dotenv 16's rules): `KEY=value` or
/// `KEY: value` lines, an optional `export `; a value in '', "" or `` may span lines, and in ""
/// `\n` and `\r` are a newline and a carriage return; unquoted, a `#` starts a comment. A later
/// line wins.
pub fn parse_dev_vars(text: &str) -> BTreeMap<String, String> {
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let mut vars = BTreeMap::new();
    let mut rest = text.as_str();
    while !rest.is_empty() {
        let (line_end, next) = match rest.find('\n') {
            Some(i) => (i, i + 1),
            None => (rest.len(), rest.len()),
        };
        let line = rest[..line_end].trim_start();
        let line = line.strip_prefix("export ").map_or(line, str::trim_start);
        let key_len =
            line.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-')).unwrap_or(line.len());
        let (key, after) = line.split_at(key_len);
        let after_sep = if key.is_empty() {
            None
        } else if let Some(v) = after.trim_start().strip_prefix('=') {
            Some(v)
        } else {
            after.strip_prefix(':').filter(|v| v.starts_with(char::is_whitespace))
        };
        let Some(value_start) = after_sep else {
            rest = &rest[next..];
            continue;
        };
        let value_start = value_start.trim_start_matches([' ', '\t']);
        // The value's start in `rest` (`value_start` ends where the line does), for a quoted
        // value that runs past this line.
        let offset = line_end - value_start.len();
        let quote = value_start.chars().next().filter(|c| matches!(c, '\'' | '"' | '`'));
        if let Some(q) = quote {
            if let Some((value, consumed)) = quoted(&rest[offset..], q) {
                let after_quote = &rest[offset + consumed..];
                let tail_end = after_quote.find('\n').unwrap_or(after_quote.len());
                let tail = after_quote[..tail_end].trim();
                if tail.is_empty() || tail.starts_with('#') {
                    let value =
                        if q == '"' { value.replace("\\n", "\n").replace("\\r", "\r") } else { value.to_owned() };
                    vars.insert(key.to_owned(), value);
                    let done = offset + consumed + tail_end;
                    rest = &rest[(done + 1).min(rest.len())..];
                    continue;
                }
            }
        }
        let unquoted = value_start.split('#').next().unwrap_or("").trim();
        vars.insert(key.to_owned(), unquoted.to_owned());
        rest = &rest[next..];
    }
    vars
}

/// The text inside the quote `q` that starts `text` (a backslash before `q` keeps it inside), and
/// the bytes taken up to and with the closing quote.
fn quoted(text: &str, q: char) -> Option<(&str, usize)> {
    let body = &text[q.len_utf8()..];
    let mut escaped = false;
    for (i, c) in body.char_indices() {
        if c == q && !escaped {
            return Some((&body[..i], q.len_utf8() + i + q.len_utf8()));
        }
        escaped = c == '\\' && !escaped;
    }
    None
}

/// The names in `wrangler secret list --format json` output: `[{"name": ..., "type": ...}]`.
fn read_secret_list(path: &Path) -> Result<BTreeSet<String>, Failure> {
    let text = read_text(path).map_err(|Failure(_, m)| usage(m))?;
    let shape = || {
        usage(format!(
            "{}: not the output of `wrangler secret list --format json` (a JSON array of {{\"name\": ..., \"type\": ...}})",
            path.display()
        ))
    };
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|_| shape())?;
    let items = value.as_array().ok_or_else(shape)?;
    items.iter().map(|item| item.get("name").and_then(|n| n.as_str()).map(str::to_owned).ok_or_else(shape)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_vars_as_wrangler_reads_them() {
        let text = "# comment\nA=plain value # comment\nexport B = \"two\\nlines\"\nC='multi\nline'  # c\n\
                    D=\"unterminated\nE: colon\nF=`back` trailing\n  G=\"a \\\" quote\"\nbad line\nA=again\r\nH=\n";
        let vars = parse_dev_vars(text);
        assert_eq!(vars["A"], "again");
        assert_eq!(vars["B"], "two\nlines");
        assert_eq!(vars["C"], "multi\nline");
        assert_eq!(vars["D"], "\"unterminated");
        assert_eq!(vars["E"], "colon");
        assert_eq!(vars["F"], "`back` trailing");
        assert_eq!(vars["G"], "a \\\" quote");
        assert_eq!(vars["H"], "");
        assert_eq!(vars.len(), 8, "{vars:?}");
        for text in ["", "=", "\"", "A='", "A=\"\\", "é=1", "A=é\"", "\n\n\r", "A:1"] {
            let _ = parse_dev_vars(text);
        }
    }

    #[test]
    fn vars_are_the_text_the_worker_reads() {
        let table: toml::Table = r#"
            S = "text"
            N = 300
            F = 300.0
            H = 0.5
            B = true
            T = { a = 1, b = [1.0, "x"] }
        "#
        .parse()
        .unwrap();
        let text: BTreeMap<&str, String> = table.iter().map(|(k, v)| (k.as_str(), var_text(v))).collect();
        assert_eq!(text["S"], "text");
        assert_eq!(text["N"], "300");
        assert_eq!(text["F"], "300");
        assert_eq!(text["H"], "0.5");
        assert_eq!(text["B"], "true");
        assert_eq!(text["T"], r#"{"a":1,"b":[1,"x"]}"#);
    }
}
