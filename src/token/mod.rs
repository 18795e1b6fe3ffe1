//! Tokens the worker signs for IVS.
//!
//! | module | token |
//! |---|---|
//! | [`playback`] | playback authorization tokens for private channels (`?token=` on the playback URL) |

pub mod playback;

pub use playback::{
    is_uuid, sign, uuid_v4, verify, PlaybackClaims, VerifiedToken, BOUND_TOKEN_MAX_TTL, HEADER_JSON, STRICT_ORIGIN_MAX,
    VIEWER_ID_MAX_LEN,
};
pub(crate) use playback::decode_json_segment;
