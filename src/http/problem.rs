//! Errors as HTTP problems: the one table from the core's errors (and sign-in's failures) to a
//! status, an RFC 9457 problem slug and a title. The errors themselves carry no HTTP: a domain
//! says what went wrong, this layer says how that is answered.

use crate::error::{Error, SessionFault};
use crate::signin::{flow::StateFault, Failure};

/// How an error is answered over HTTP.
pub trait Problem {
    /// The HTTP status.
    fn status(&self) -> u16;
    /// A stable, machine-readable slug: the tail of the problem `type`, and the log line's
    /// `problem`.
    fn slug(&self) -> &'static str;
    /// A short human summary: the problem's `title`, a page's heading.
    fn title(&self) -> &'static str;
}

impl Problem for Error {
    fn status(&self) -> u16 {
        match self {
            Self::InvalidKey(_) | Self::InvalidSetting { .. } | Self::Internal(_) => 500,
            Self::Session(_) | Self::NoCredential(_) | Self::CredentialRefused { .. } | Self::SessionConflict(_) => 401,
            Self::ProviderUnavailable(_) | Self::LedgerUnavailable | Self::ChatUnavailable { .. } => 503,
            Self::NoChat(_) => 404,
            Self::ChatTooFast { .. } => 429,
            Self::BadRequest(_) | Self::InvalidToken(_) => 400,
            Self::ChannelForbidden(_) | Self::ChannelRule { .. } | Self::StageForbidden { .. } => 403,
            Self::DeviceLimit { .. } | Self::ViewerBlocked { .. } => 403,
            Self::DeviceEvicted => 409,
            Self::Unauthorized => 401,
            Self::UnknownStage(_) => 404,
            Self::UnknownChannel(_) | Self::NotFound => 404,
            Self::MethodNotAllowed { .. } => 405,
            Self::PayloadTooLarge { .. } => 413,
            Self::TooManyNewDevices { .. } => 429,
            Self::CrossSite => 403,
        }
    }

    fn slug(&self) -> &'static str {
        match self {
            Self::InvalidKey(_) | Self::InvalidSetting { .. } => "misconfigured",
            Self::Session(SessionFault::Missing) | Self::NoCredential(_) => "session-missing",
            Self::CredentialRefused { expired: true, .. } => "session-expired",
            Self::CredentialRefused { .. } | Self::SessionConflict(_) => "session-invalid",
            Self::ProviderUnavailable(_) => "identity-provider-unavailable",
            Self::Session(SessionFault::Expired) => "session-expired",
            Self::Session(_) => "session-invalid",
            Self::BadRequest(_) => "bad-request",
            Self::ChannelForbidden(_) | Self::ChannelRule { .. } => "channel-forbidden",
            Self::StageForbidden { .. } => "stage-forbidden",
            Self::UnknownStage(_) => "unknown-stage",
            Self::UnknownChannel(_) => "unknown-channel",
            Self::NotFound => "not-found",
            Self::MethodNotAllowed { .. } => "method-not-allowed",
            Self::InvalidToken(_) => "invalid-token",
            Self::Internal(_) => "internal",
            Self::DeviceLimit { .. } => "device-limit",
            Self::DeviceEvicted => "device-evicted",
            Self::ViewerBlocked { .. } => "viewer-blocked",
            Self::Unauthorized => "unauthorized",
            Self::LedgerUnavailable => "ledger-unavailable",
            Self::PayloadTooLarge { .. } => "payload-too-large",
            Self::TooManyNewDevices { .. } => "too-many-new-devices",
            Self::CrossSite => "cross-site-request",
            Self::NoChat(_) => "chat-not-configured",
            Self::ChatTooFast { .. } => "chat-rate-limited",
            Self::ChatUnavailable { .. } => "chat-unavailable",
        }
    }

    fn title(&self) -> &'static str {
        match self {
            Self::InvalidKey(_) | Self::InvalidSetting { .. } => "The worker is misconfigured",
            Self::Session(_) | Self::NoCredential(_) | Self::CredentialRefused { .. } | Self::SessionConflict(_) => {
                "No valid session"
            }
            Self::ProviderUnavailable(_) => "Identity provider unavailable",
            Self::BadRequest(_) => "Bad request",
            Self::ChannelForbidden(_) | Self::ChannelRule { .. } => "Channel not allowed for this session",
            Self::StageForbidden { .. } => "Stage not allowed for this session",
            Self::UnknownStage(_) => "Unknown stage",
            Self::UnknownChannel(_) => "Unknown channel",
            Self::NotFound => "Not found",
            Self::MethodNotAllowed { .. } => "Method not allowed",
            Self::InvalidToken(_) => "Invalid playback token",
            Self::Internal(_) => "Internal error",
            Self::DeviceLimit { .. } => "Device limit reached",
            Self::DeviceEvicted => "This device was signed out of playback",
            Self::ViewerBlocked { .. } => "Playback suspended for this account",
            Self::Unauthorized => "Not authorized",
            Self::LedgerUnavailable => "Device ledger unavailable",
            Self::PayloadTooLarge { .. } => "Request body too large",
            Self::TooManyNewDevices { .. } => "Too many new devices",
            Self::CrossSite => "Refused from another site",
            Self::NoChat(_) => "No chat for this channel",
            Self::ChatTooFast { .. } => "Too many chat tokens",
            Self::ChatUnavailable { .. } => "Chat unavailable",
        }
    }
}

impl Problem for Failure {
    fn status(&self) -> u16 {
        match self {
            Self::Unavailable(_) => 503,
            Self::Cancelled => 403,
            Self::ProviderError(_) | Self::BadAnswer(_) => 502,
            // A callback this browser did not start is refused, not malformed.
            Self::State(_) | Self::MixUp(_) => 403,
            Self::CodeRejected | Self::BadRequest(_) => 400,
            Self::UnknownProvider => 404,
            Self::IdToken(_) => 401,
            Self::TooLarge => 500,
            Self::InteractionRequired => 401,
        }
    }

    fn slug(&self) -> &'static str {
        match self {
            Self::Unavailable(_) => "identity-provider-unavailable",
            Self::Cancelled => "sign-in-cancelled",
            Self::ProviderError(_) => "sign-in-provider-error",
            Self::State(StateFault::Missing) => "sign-in-state-missing",
            Self::State(StateFault::Expired) => "sign-in-state-expired",
            Self::State(_) => "sign-in-state-invalid",
            Self::MixUp(_) => "sign-in-mix-up",
            Self::CodeRejected => "sign-in-code-rejected",
            Self::BadAnswer(_) => "sign-in-token-endpoint",
            Self::IdToken(_) => "sign-in-id-token-invalid",
            Self::BadRequest(_) => "bad-request",
            Self::UnknownProvider => "unknown-identity-provider",
            Self::TooLarge => "sign-in-session-too-large",
            Self::InteractionRequired => "sign-in-interaction-required",
        }
    }

    fn title(&self) -> &'static str {
        match self {
            Self::Unavailable(_) => "Sign-in is unavailable",
            Self::Cancelled => "Sign-in cancelled",
            Self::UnknownProvider => "Unknown identity provider",
            _ => "Sign-in failed",
        }
    }
}
