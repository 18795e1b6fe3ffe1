//! # ivs-token-worker
//!
//! Issues Amazon IVS playback authorization tokens (ES384 JWTs) at the edge, on Cloudflare
//! Workers, only to viewers whose session cookie verifies.
//!
//! The crate is a pure core plus a thin runtime layer:
//!
//! | module | concept |
//! |---|---|
//! | [`key`] | the P-384 signing key, in every form operators hold it |
//! | [`token`] | IVS playback token claims, ES384 JWS signing, IVS-rule verification |
//! | [`viewer_id`] | `aws:viewer-id` derivation from the session subject |
//! | [`session`] | HS256 session cookies |
//! | [`channel`] | channel settings and their value types (ARN, playback URL, origins) |
//! | [`config`] | Worker vars and secrets, validated |
//! | [`grant`] | the policy: which claims a viewer gets for a channel |
//! | [`http`] | the HTTP contract as pure functions |
//! | [`page`] | the watch page: HTML, escaping, Content-Security-Policy |
//!
//! Nothing in the core reads a clock or a random source: time (Unix seconds) and randomness are
//! arguments, so all of it is tested natively with `cargo test`. The Workers layer (compiled only
//! for `wasm32`) supplies them from the JavaScript clock and `crypto.getRandomValues`.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod channel;
pub mod config;
pub mod cookie;
pub mod encoding;
pub mod error;
pub mod grant;
pub mod http;
pub mod key;
pub mod page;
pub mod session;
pub mod token;
pub mod viewer_id;

#[cfg(target_arch = "wasm32")]
mod edge;
#[cfg(all(target_arch = "wasm32", feature = "bench"))]
mod edge_bench;

pub use error::{Error, Result};
