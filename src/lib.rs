//! # ivs-token-worker
//!
//! Issues Amazon IVS playback tokens and real-time stage participant tokens (ES384 JWTs) at the
//! edge, on Cloudflare Workers, only to viewers whose credential verifies and only for what that
//! credential grants.
//!
//! The crate is a pure core plus a thin runtime layer. Modules by layer, each layer using only the
//! layers listed before it:
//!
//! | layer | module | concept |
//! |---|---|---|
//! | mechanics | [`error`] | the one error enum: HTTP status, problem slug, title |
//! | mechanics | [`text`] | text rules settings share: lists, names, shortening for messages |
//! | mechanics | [`encoding`] | base64url, hex, PEM |
//! | mechanics | [`address`] | URL-valued settings and origins: hosts, ports, patterns |
//! | mechanics | [`cookie`] | `Cookie` header parsing |
//! | mechanics | [`ivs`] | IVS value types: resource ARNs, maximum resolution |
//! | mechanics | [`key`] | the P-384 signing key, in every form operators hold it |
//! | mechanics | [`jose`] | compact JWS: ES384 signing and format checks |
//! | viewer | [`identity`] | who the viewer is: providers' JWTs, the session cookie, one [`identity::Session`] |
//! | shared rules | [`access`] | access rules every product shares: groups, countries |
//! | feature | [`channel`] | playback channels: settings, policy, token claims |
//! | feature | [`stage`] | real-time stages: settings, policy, participant token claims |
//! | settings | [`config`] | Worker vars and secrets, validated into one [`config::Config`] |
//! | pages | [`page`] | the HTML pages: watch, stage, index, messages; escaping and CSP |
//! | HTTP | [`http`] | the HTTP contract as pure functions |
//! | glue | `edge` | the Workers runtime layer (wasm32 only): fetch, Cache API, WebCrypto, clock |
//!
//! Nothing in the core reads a clock or a random source: time (Unix seconds) and randomness are
//! arguments, so all of it is tested natively with `cargo test`. The Workers layer (compiled only
//! for `wasm32`) supplies them from the JavaScript clock and `crypto.getRandomValues`.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod access;
pub mod address;
pub mod channel;
pub mod config;
pub mod cookie;
pub mod encoding;
pub mod error;
pub mod http;
pub mod identity;
pub mod ivs;
pub mod jose;
pub mod key;
pub mod page;
pub mod stage;
pub mod text;

#[cfg(target_arch = "wasm32")]
mod edge;

pub use error::{Error, Result};
