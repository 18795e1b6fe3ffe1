//! Names of every setting, as they appear in `wrangler.toml`, `.dev.vars` and `wrangler secret put`.

/// Secret: the P-384 private key (PEM, or base64 of PEM/DER).
pub const PLAYBACK_PRIVATE_KEY: &str = "PLAYBACK_PRIVATE_KEY";
/// Secret: HS256 key of session cookies, at least 32 bytes.
pub const SESSION_SECRET: &str = "SESSION_SECRET";
/// Secret, optional: the previous session key, still accepted during a rotation.
pub const SESSION_SECRET_PREVIOUS: &str = "SESSION_SECRET_PREVIOUS";
/// Secret, optional: key for deriving `aws:viewer-id`; defaults to one derived from the signing key.
pub const VIEWER_ID_SECRET: &str = "VIEWER_ID_SECRET";
/// Var: the session cookie's name (default `session`).
pub const SESSION_COOKIE: &str = "SESSION_COOKIE";
/// Var: the channel table (JSON object: name -> settings).
pub const CHANNELS: &str = "CHANNELS";
/// Var: token lifetime in seconds (default 300, 1..=86400).
pub const TOKEN_TTL_SECONDS: &str = "TOKEN_TTL_SECONDS";
/// Var: comma-separated origins: CORS allow-list and default `aws:access-control-allow-origin`.
pub const ALLOWED_ORIGINS: &str = "ALLOWED_ORIGINS";
/// Var, optional: where the watch page sends viewers without a session (`?return_to=` is added).
pub const LOGIN_URL: &str = "LOGIN_URL";
/// Var, optional: `true` enables `/dev/login` for requests to localhost only (`make dev` sets it).
pub const DEV_LOGIN: &str = "DEV_LOGIN";
/// Var, optional: the player script of the watch page (default: the bundled IVS player).
pub const PLAYER_SCRIPT_URL: &str = "PLAYER_SCRIPT_URL";
/// Var, optional: the pages' brand (JSON object: title, logo_url, colors, stylesheet_url).
pub const PAGE_BRAND: &str = "PAGE_BRAND";
/// Var, optional: identity providers whose tokens are accepted (JSON object: name -> provider).
pub const IDENTITY_PROVIDERS: &str = "IDENTITY_PROVIDERS";
/// Var, optional: the real-time stage table (JSON object: name -> settings).
pub const STAGES: &str = "STAGES";
/// Secret, optional: the P-384 key for participant tokens (default: `PLAYBACK_PRIVATE_KEY`).
pub const STAGE_PRIVATE_KEY: &str = "STAGE_PRIVATE_KEY";
/// Var: participant token lifetime in seconds (default 3600, at most 14 days).
pub const STAGE_TOKEN_TTL_SECONDS: &str = "STAGE_TOKEN_TTL_SECONDS";

/// Var, optional: device limits (JSON object: default, groups, on_limit, idle_seconds).
pub const DEVICE_LIMITS: &str = "DEVICE_LIMITS";
/// Secret, with `DEVICE_LIMITS`: the id of the AWS key that revokes sessions at IVS.
pub const AWS_ACCESS_KEY_ID: &str = "AWS_ACCESS_KEY_ID";
/// Secret, with `DEVICE_LIMITS`: that key's secret.
pub const AWS_SECRET_ACCESS_KEY: &str = "AWS_SECRET_ACCESS_KEY";
/// Secret, optional: the session token of temporary AWS credentials.
pub const AWS_SESSION_TOKEN: &str = "AWS_SESSION_TOKEN";
/// Var, optional: the IVS API endpoint instead of `https://ivs.<region>.amazonaws.com`.
pub const IVS_API_ENDPOINT: &str = "IVS_API_ENDPOINT";
/// Var, optional: the IVS Chat API endpoint instead of `https://ivschat.<region>.amazonaws.com`.
pub const IVS_CHAT_API_ENDPOINT: &str = "IVS_CHAT_API_ENDPOINT";
/// Secret, optional (with `DEVICE_LIMITS`): the operator API's bearer token, at least 32 bytes.
pub const ADMIN_API_TOKEN: &str = "ADMIN_API_TOKEN";

/// Every setting the worker reads.
pub const ALL: &[&str] = &[
    PLAYBACK_PRIVATE_KEY,
    SESSION_SECRET,
    SESSION_SECRET_PREVIOUS,
    VIEWER_ID_SECRET,
    SESSION_COOKIE,
    CHANNELS,
    TOKEN_TTL_SECONDS,
    ALLOWED_ORIGINS,
    LOGIN_URL,
    DEV_LOGIN,
    PLAYER_SCRIPT_URL,
    PAGE_BRAND,
    IDENTITY_PROVIDERS,
    STAGES,
    STAGE_PRIVATE_KEY,
    STAGE_TOKEN_TTL_SECONDS,
    DEVICE_LIMITS,
    AWS_ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY,
    AWS_SESSION_TOKEN,
    IVS_API_ENDPOINT,
    IVS_CHAT_API_ENDPOINT,
    ADMIN_API_TOKEN,
];
