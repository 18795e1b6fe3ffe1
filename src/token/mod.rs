//! Tokens the worker signs for IVS.
//!
//! | module | token |
//! |---|---|
//! | [`jws`] | what every IVS token shares: ES384 JWS compact signing and format checks |
//! | [`playback`] | playback authorization tokens for private channels (`?token=` on the playback URL) |
//! | [`stage`] | participant tokens for real-time stages |

pub mod jws;
pub mod playback;
pub mod stage;

pub(crate) use jws::decode_json_segment;
pub use jws::VerifiedToken;
pub use playback::{
    is_uuid, sign, uuid_v4, verify, PlaybackClaims, BOUND_TOKEN_MAX_TTL, HEADER_JSON, STRICT_ORIGIN_MAX, VIEWER_ID_MAX_LEN,
};
