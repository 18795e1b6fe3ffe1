//! # ivs-token-worker
//!
//! Issues Amazon IVS playback tokens and real-time stage participant tokens (ES384 JWTs), and
//! obtains IVS Chat tokens, at the edge, on Cloudflare Workers, only to viewers whose credential verifies and only for what that
//! credential grants.
//!
//! The crate is a pure core plus a thin runtime layer. Modules by layer, each layer using only the
//! layers listed before it:
//!
//! | layer | module | concept |
//! |---|---|---|
//! | mechanics | [`error`] | the one error enum: what went wrong, in words safe to show (its HTTP form: [`http::problem`]) |
//! | mechanics | [`text`] | text rules settings share: lists, names, shortening for messages |
//! | mechanics | [`encoding`] | base64url, hex, PEM |
//! | mechanics | [`address`] | URL-valued settings and origins through one URL parser: hosts, ports, patterns, public suffixes |
//! | mechanics | [`cookie`] | `Cookie` header parsing |
//! | mechanics | [`capped`] | bodies read with a hard cap: request bodies, provider answers |
//! | mechanics | [`ivs`] | IVS value types: resource ARNs, maximum resolution |
//! | mechanics | [`key`] | the P-384 signing key, in every form operators hold it |
//! | mechanics | [`jose`] | compact JWS: the one reader of tokens and their dates, ES384 signing, IVS format checks |
//! | mechanics | [`aws`] | calling AWS without an SDK: credentials, SigV4 signing |
//! | viewer | [`identity`] | who the viewer is: providers' JWTs, the session cookie, one [`identity::Session`] |
//! | shared rules | [`access`] | access rules every product shares: groups, countries |
//! | feature | [`chat`] | IVS Chat: a channel's room, who may send or moderate, `CreateChatToken` and `DisconnectUser` |
//! | feature | [`channel`] | playback channels: settings, policy, token claims |
//! | feature | [`stage`] | real-time stages: settings, policy, participant token claims |
//! | feature | [`signin`] | sign-in at the edge: OpenID Connect code flow + PKCE, state cookie, callback |
//! | feature | [`device`] | device limits: settings, the per-viewer ledger, IVS revocations, the operator API |
//! | settings | [`config`] | Worker vars and secrets, validated into one [`config::Config`]: what the operator set, immutable |
//! | runtime state | [`isolate`] | what an isolate learned beside its configuration: keys, verified tokens, discovery, reusable tokens ([`isolate::IsolateState`]) |
//! | pages | [`page`] | the HTML pages: watch, stage, index, messages; escaping and CSP |
//! | HTTP | [`http`] | the HTTP contract as pure functions; a request resolved once into a plan of what it needs ([`http::Plan`]) |
//! | glue | `edge` | the Workers runtime layer (wasm32 only): fulfils the plan's needs (fetch, Cache API, WebCrypto, Durable Objects) and reads the clock |
//!
//! Nothing in the core reads a clock or a random source: time (Unix seconds) and randomness are
//! arguments, so all of it is tested natively with `cargo test`. The Workers layer (compiled only
//! for `wasm32`) supplies them from the JavaScript clock and `crypto.getRandomValues`.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod access;
pub mod address;
pub mod aws;
pub mod capped;
pub mod channel;
pub mod chat;
pub mod config;
pub mod cookie;
pub mod device;
pub mod encoding;
pub mod error;
pub mod http;
pub mod identity;
pub mod isolate;
pub mod ivs;
pub mod jose;
pub mod key;
pub mod page;
pub mod signin;
pub mod stage;
pub mod text;

#[cfg(target_arch = "wasm32")]
mod edge;

pub use error::{Error, Result};

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    /// The modules a folder declares (`mod x;` / `pub mod x;`, any visibility or cfg).
    fn declared(source: &str) -> BTreeSet<String> {
        source
            .lines()
            .map(str::trim)
            .filter_map(|line| line.strip_suffix(';'))
            .filter_map(|line| line.split_once("mod ").filter(|(before, _)| !before.contains("//")))
            .filter(|(before, _)| before.is_empty() || before.ends_with("pub ") || before.ends_with(") "))
            .map(|(_, name)| name.trim().to_owned())
            .collect()
    }

    /// The `.rs` files and module folders directly inside `dir`, as module names.
    fn on_disk(dir: &Path) -> BTreeSet<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter_map(|path| match path.extension() {
                Some(ext) if ext == "rs" => Some(path.file_stem()?.to_str()?.to_owned()),
                None if path.join("mod.rs").exists() => Some(path.file_name()?.to_str()?.to_owned()),
                _ => None,
            })
            .filter(|name| !matches!(name.as_str(), "lib" | "mod" | "main"))
            .collect()
    }

    #[test]
    fn the_crate_map_names_every_module_once() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
        let mapped: Vec<String> = lib
            .lines()
            .filter_map(|line| line.strip_prefix("//! | "))
            .filter_map(|row| row.split(" | ").nth(1))
            .filter_map(|cell| {
                cell.trim_matches(|c| c == '[' || c == ']' || c == '`').split('`').next().map(str::to_owned)
            })
            .filter(|name| !name.is_empty() && name != "module" && !name.starts_with('-'))
            .collect();
        let unique: BTreeSet<String> = mapped.iter().cloned().collect();
        assert_eq!(unique.len(), mapped.len(), "a module is listed twice in lib.rs's map: {mapped:?}");
        assert_eq!(unique, declared(&lib), "lib.rs's map and its `mod` declarations differ");
    }

    /// The modules a `//! | module | ... |` table of a file's docs names in its first column.
    fn mapped_in(source: &str) -> Option<BTreeSet<String>> {
        let mut rows = source.lines().filter_map(|line| line.strip_prefix("//! | "));
        if !rows.next()?.starts_with("module |") {
            return None;
        }
        Some(
            rows.filter_map(|row| row.split(" | ").next())
                .map(|cell| cell.trim().trim_matches(|c| c == '[' || c == ']'))
                .filter_map(|cell| cell.strip_prefix('`')?.strip_suffix('`').map(str::to_owned))
                .collect(),
        )
    }

    /// Issue 23: the nested module maps (http, identity, device, ...) stay as true as lib.rs's: a
    /// folder whose docs map its modules lists each module it declares (tests aside), and no other.
    #[test]
    fn every_nested_module_map_names_its_modules() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut folders = vec![src.join("bin/ivs-token/cli")];
        let mut stack = vec![src.clone()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.join("mod.rs").exists() {
                    folders.push(path.clone());
                    stack.push(path);
                }
            }
        }
        let mut checked = 0;
        for folder in folders {
            let source = std::fs::read_to_string(folder.join("mod.rs")).unwrap();
            let Some(mapped) = mapped_in(&source) else { continue };
            let mut modules = declared(&source);
            modules.remove("tests");
            assert_eq!(
                mapped,
                modules,
                "{}/mod.rs: its module map and its `mod` declarations differ",
                folder.display()
            );
            checked += 1;
        }
        assert!(checked >= 8, "only {checked} module maps found");
    }

    /// Issue 23: files a person can hold. A source file over 700 lines says why at its top (a line
    /// starting `//! Long because`), or is split.
    #[test]
    fn no_source_file_is_long_without_a_reason() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut stack = vec![src];
        let mut long = Vec::new();
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|ext| ext == "rs") {
                    let text = std::fs::read_to_string(&path).unwrap();
                    let says_why = text.lines().take(30).any(|line| line.starts_with("//! Long because"));
                    if text.lines().count() > 700 && !says_why {
                        long.push(path.display().to_string());
                    }
                }
            }
        }
        assert!(long.is_empty(), "over 700 lines with no `//! Long because` at the top: {long:?}");
    }

    #[test]
    fn every_source_file_is_a_declared_module() {
        // A file no `mod` names is silently left out of the build; the tree would lie.
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut folders = vec![(src.join("lib.rs"), src.clone())];
        while let Some((parent, dir)) = folders.pop() {
            let declared = declared(&std::fs::read_to_string(&parent).unwrap());
            let mut files = on_disk(&dir);
            if dir == src {
                files.remove("bin");
            }
            assert_eq!(declared, files, "{} declares other modules than {} holds", parent.display(), dir.display());
            for name in files {
                if dir.join(&name).join("mod.rs").exists() {
                    folders.push((dir.join(&name).join("mod.rs"), dir.join(&name)));
                }
            }
        }
    }
}
