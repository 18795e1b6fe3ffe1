//! The runtime state of one isolate beside its [`Config`]: what it has fetched, verified and
//! signed since that configuration loaded, kept to answer the next requests faster or with fewer
//! calls to providers. [`Config`] is what the operator set, immutable; everything here is a
//! cache, empty at the start, that the requests fill.
//!
//! One state per loaded configuration: the Workers layer makes a new, empty one whenever it loads
//! a new configuration (a changed setting, after `wrangler secret put` or a deploy), so nothing
//! learned under the old settings outlives them: keys and discovery documents of providers that
//! are gone or whose URLs changed, tokens verified against the old providers, tokens signed with
//! the old key or for the old channels.
//!
//! Not here: the keys the Workers layer imported into WebCrypto (`edge/webcrypto.rs`), named by
//! the key's own bytes, so no configuration change can make one wrong, and wasm32-only.
//!
//! [`Config`]: crate::config::Config

use crate::channel::policy::TokenCache;
use crate::identity::IdentityCaches;
use crate::signin::discovery::DiscoveryStore;

/// The caches of one isolate under one configuration (see the module docs).
#[derive(Debug, Default)]
pub struct IsolateState {
    /// Identity providers' fetched keys and the identity tokens verified (or refused) with them.
    pub identity: IdentityCaches,
    /// Sign-in at the edge: providers' discovered endpoints.
    pub discovery: DiscoveryStore,
    /// Signed playback tokens shareable between viewers, reused briefly (see [`TokenCache`]).
    pub tokens: TokenCache,
}

impl IsolateState {
    /// A new, empty state: for a configuration just loaded.
    pub fn new() -> Self {
        Self::default()
    }
}
