//! The one error type of the crate.
//!
//! Every variant carries only text that is safe to show a client or write to a log: a setting's
//! *name* and the rule it breaks, never its value; a session's fault, never the cookie.

use std::fmt;

/// Why a viewer's session cookie was refused. Each reason maps to HTTP 401.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionFault {
    /// No session cookie in the request.
    Missing,
    /// The cookie is larger than browsers store (4096 bytes).
    TooLarge,
    /// Not three base64url segments of JSON.
    Malformed,
    /// The header names an algorithm other than HS256 (`none`, HS512, ES384, ...).
    Algorithm,
    /// The HMAC does not match any configured session secret.
    Signature,
    /// `exp` (plus leeway) is in the past.
    Expired,
    /// `nbf` or `iat` (minus leeway) is in the future.
    NotYetValid,
    /// A required claim is absent or a claim has the wrong type or value.
    Claims(&'static str),
}

impl fmt::Display for SessionFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing => f.write_str("no session cookie was sent; sign in first"),
            Self::TooLarge => f.write_str("the session cookie is larger than 4096 bytes"),
            Self::Malformed => {
                f.write_str("the session cookie is not a well-formed JWT (three base64url segments of JSON)")
            }
            Self::Algorithm => {
                f.write_str("the session cookie's JWT header must be {\"alg\":\"HS256\"}; other algorithms are refused")
            }
            Self::Signature => f.write_str("the session cookie's signature is not valid"),
            Self::Expired => f.write_str("the session has expired; sign in again"),
            Self::NotYetValid => f.write_str("the session is not valid yet (nbf/iat in the future)"),
            Self::Claims(what) => write!(f, "the session cookie's claims are invalid: {what}"),
        }
    }
}

/// Everything that can go wrong in the core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// Key material that cannot be used to sign IVS playback tokens. The reason names the
    /// problem (curve, key type, encoding) and how to fix it, never any key bytes.
    InvalidKey(String),
    /// A worker setting (var or secret) is missing or breaks a rule. HTTP 500.
    InvalidSetting {
        /// The setting's name, e.g. `PLAYBACK_PRIVATE_KEY`.
        name: &'static str,
        /// The rule it breaks.
        reason: String,
    },
    /// The viewer's session was refused. HTTP 401.
    Session(SessionFault),
    /// The request itself is malformed (missing or bad parameter). HTTP 400.
    BadRequest(String),
    /// The session does not grant this channel. HTTP 403.
    ChannelForbidden(String),
    /// One of the channel's access rules (groups, countries) refuses this viewer. HTTP 403.
    ChannelRule {
        /// The channel.
        channel: String,
        /// Which rule refused, never the viewer's groups or identity.
        rule: String,
    },
    /// No stage of that name is configured. HTTP 404.
    UnknownStage(String),
    /// The stage refuses this viewer (groups, publishing, attributes). HTTP 403.
    StageForbidden {
        /// The stage.
        stage: String,
        /// Why, never the viewer's groups or claims.
        reason: String,
    },
    /// No channel of that name is configured. HTTP 404.
    UnknownChannel(String),
    /// No route at this path. HTTP 404.
    NotFound,
    /// The route exists but not for this method. HTTP 405.
    MethodNotAllowed {
        /// Value for the `Allow` header.
        allow: &'static str,
    },
    /// A playback token breaks a rule of the JWS format or of IVS (used by `verify`).
    InvalidToken(String),
    /// The runtime failed us (no randomness, for instance). HTTP 500.
    Internal(&'static str),
    /// No credential at all in the request. HTTP 401. The text says what to send.
    NoCredential(String),
    /// A credential from an identity provider was refused. HTTP 401.
    CredentialRefused {
        /// Where it was found: `Authorization: Bearer`, `header X`, `cookie Y`.
        source: String,
        /// Why, never quoting the token.
        reason: String,
        /// It had expired (slug `session-expired`).
        expired: bool,
    },
    /// Several cookies of one name verified, for different accounts (cookie tossing, or two
    /// sign-ins left behind): which one is the viewer's cannot be told. HTTP 401. Where they were
    /// found (`cookie NAME`).
    SessionConflict(String),
    /// An identity provider's keys could not be had, so its tokens cannot be checked. HTTP 503.
    ProviderUnavailable(String),
    /// Every device slot of the viewer is in use and the channel refuses new devices. HTTP 403.
    DeviceLimit {
        /// How many devices are in use (never which or where).
        in_use: usize,
        /// The viewer's limit.
        limit: u32,
    },
    /// The device no longer holds a slot (evicted, revoked, released). HTTP 409.
    DeviceEvicted,
    /// An operator blocked this viewer's token requests until then (Unix seconds). HTTP 403.
    ViewerBlocked {
        /// The end of the block, Unix seconds.
        until: u64,
    },
    /// The operator API's bearer token is missing or wrong. HTTP 401.
    Unauthorized,
    /// A viewer's device ledger (its Durable Object) could not be reached for an operator's
    /// request; nothing was changed. HTTP 503.
    LedgerUnavailable,
    /// A request that takes over or releases a device slot came from another site, whose origin
    /// is not in `ALLOWED_ORIGINS` (`Sec-Fetch-Site: cross-site`): a link or form anywhere could
    /// otherwise evict the account's devices with the viewer's cookie. HTTP 403.
    CrossSite,
    /// The viewer admitted new devices faster than one a second for a while. HTTP 429.
    TooManyNewDevices {
        /// Seconds to wait (`Retry-After`).
        retry_after: u64,
    },
    /// The channel has no chat room. HTTP 404.
    NoChat(String),
    /// The viewer asked for chat tokens faster than a chat client reconnects. HTTP 429.
    ChatTooFast {
        /// Seconds to wait (`Retry-After`).
        retry_after: u64,
    },
    /// IVS Chat did not issue a token (throttled twice, an error, or it refused the worker's
    /// request: the log says which). HTTP 503.
    ChatUnavailable {
        /// Seconds to wait (`Retry-After`).
        retry_after: u64,
    },
    /// The request body is larger than the route takes (bytes); it was not read. HTTP 413.
    PayloadTooLarge {
        /// The most the route takes, in bytes.
        limit: usize,
    },
}

impl Error {
    pub(crate) fn setting(name: &'static str, reason: impl Into<String>) -> Self {
        Self::InvalidSetting { name, reason: reason.into() }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidKey(reason) => write!(f, "{reason}"),
            Self::InvalidSetting { name, reason } => write!(f, "setting {name}: {reason}"),
            Self::Session(fault) => write!(f, "{fault}"),
            Self::BadRequest(detail) | Self::InvalidToken(detail) => f.write_str(detail),
            Self::ChannelForbidden(name) => {
                write!(f, "this session does not grant channel `{name}` (see its `channels` claim)")
            }
            Self::UnknownChannel(name) => write!(f, "no channel named `{name}` is configured"),
            Self::NotFound => f.write_str("no such path; try GET /v1/token?channel=NAME"),
            Self::MethodNotAllowed { allow } => write!(f, "this path answers only {allow}"),
            Self::Internal(what) => f.write_str(what),
            Self::UnknownStage(name) => write!(f, "no stage named `{name}` is configured"),
            Self::StageForbidden { stage, reason } => write!(f, "stage `{stage}` refuses this session: {reason}"),
            Self::ChannelRule { channel, rule } => write!(f, "channel `{channel}` is not open to this viewer: {rule}"),
            Self::NoCredential(what) => write!(f, "no credential was sent; {what}"),
            Self::CredentialRefused { source, reason, .. } => write!(f, "the credential in {source} was refused: {reason}"),
            Self::SessionConflict(source) => write!(
                f,
                "two session cookies for different accounts were sent ({source}), so which one is yours cannot be told; clear this site's cookies (and its parent domain's), then sign in again"
            ),
            Self::DeviceLimit { in_use, limit } => write!(
                f,
                "{in_use} of {limit} devices are already watching with this account; stop on one of them, or ask again with takeover=true to watch here instead"
            ),
            Self::DeviceEvicted => f.write_str(
                "this device no longer holds a playback slot (another device took it over, or an operator revoked it); stop the player and tell the viewer; ask for a token with takeover=true only when the viewer chooses to watch here (asking again by itself would take the slot back: a ping-pong between devices)",
            ),
            Self::ViewerBlocked { until } => {
                write!(f, "playback for this account is suspended until {until} (Unix seconds)")
            }
            Self::Unauthorized => f.write_str("this path needs `Authorization: Bearer <ADMIN_API_TOKEN>`"),
            Self::LedgerUnavailable => f.write_str(
                "the viewer's device ledger (its Durable Object) could not be reached, so nothing was changed; retry shortly",
            ),
            Self::CrossSite => f.write_str(
                "this request takes over or releases a device slot and came from another site (`Sec-Fetch-Site: cross-site`) whose origin is not in ALLOWED_ORIGINS; make it from this worker's own pages or an allowed app",
            ),
            Self::TooManyNewDevices { retry_after } => write!(
                f,
                "this account started watching on new devices faster than one a second; retry in {retry_after} s"
            ),
            Self::NoChat(name) => write!(f, "channel `{name}` has no chat room (set `chat.room` in its CHANNELS entry)"),
            Self::ChatTooFast { retry_after } => write!(
                f,
                "this account asked for chat tokens faster than a chat client reconnects; retry in {retry_after} s"
            ),
            Self::ChatUnavailable { retry_after } => {
                write!(f, "IVS Chat did not issue a token just now; retry in {retry_after} s")
            }
            Self::PayloadTooLarge { limit } => {
                write!(f, "the request body is larger than {limit} bytes, the most this path takes; send a smaller one")
            }
            Self::ProviderUnavailable(name) => write!(
                f,
                "identity provider `{name}` has no usable keys (its key document could not be fetched), so its tokens cannot be checked; retry shortly"
            ),
        }
    }
}

impl std::error::Error for Error {}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
