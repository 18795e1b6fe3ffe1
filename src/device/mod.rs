//! Device limits, the product feature that limits how many devices one viewer watches on at once
//! and stops the evicted ones at IVS: the settings (`DEVICE_LIMITS`), which device a request comes
//! from, and the per-viewer ledger a Durable Object keeps.
//!
//! | module | part |
//! |---|---|
//! | [`settings`] | `DEVICE_LIMITS`: limits per group, the policy at the limit, idle time |
//! | [`id`] | the device of a request: `X-Device-Id`, the device cookie, a new id; `takeover` |
//! | [`ledger`] | one viewer's devices, versions and revocation queue, and every operation on them |
//! | [`revocation`] | the IVS revocation calls: bodies, signed requests, answers |
//! | [`admin`] | the operator API: its bearer token, the revoke body |

pub mod admin;
pub mod id;
pub mod ledger;
pub mod revocation;
pub mod settings;
