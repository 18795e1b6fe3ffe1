//! ivs-token-worker core.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod encoding;
pub mod error;
pub mod key;

pub use error::{Error, Result};
