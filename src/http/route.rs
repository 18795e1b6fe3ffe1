//! The one place that knows the paths: a request path resolved into the route that answers it.
//! The router ([`super::handle`]) and every step the Workers layer is asked to do before it (the
//! ledger command, the discovery document and code exchange, the body to read) match on this,
//! never on the path again, so they cannot drift apart.

/// The route a path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route<'p> {
    /// `/healthz`.
    Health,
    /// `/v1/token`.
    Token,
    /// `/v1/stage-token`.
    StageToken,
    /// `/v1/chat-token`.
    ChatToken,
    /// `/v1/public-key`.
    PublicKey,
    /// `/v1/heartbeat`.
    Heartbeat,
    /// `/v1/admin/revoke`.
    AdminRevoke,
    /// `/v1/admin/devices`.
    AdminDevices,
    /// `/v1/admin/unblock`.
    AdminUnblock,
    /// `/openapi.json`.
    OpenApi,
    /// `/dev/login`.
    DevLogin,
    /// `/login`.
    Login,
    /// `/callback/PROVIDER`: one provider's redirect URI.
    Callback(&'p str),
    /// `/logout`.
    Logout,
    /// `/`.
    Index,
    /// `/watch/NAME`.
    Watch(&'p str),
    /// `/stage/NAME`.
    Stage(&'p str),
    /// `/__bench`, `/__bench/ping`, `/__bench/cold`: the bench build's timing routes, answered by
    /// the Workers layer before any of the above (feature `bench` only, never deployed).
    #[cfg(feature = "bench")]
    Bench(BenchRoute),
    /// Anything else.
    Unknown,
}

/// The bench build's routes (feature `bench`).
#[cfg(feature = "bench")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BenchRoute {
    /// `/__bench?op=NAME&n=N`: core operations timed inside workerd.
    Operations,
    /// `/__bench/ping`: a readiness probe that loads nothing.
    Ping,
    /// `/__bench/cold`: the isolate's first configuration load, timed.
    Cold,
}

impl<'p> Route<'p> {
    /// The route of `path` (the request target without its query).
    pub fn of(path: &'p str) -> Self {
        match path {
            "/healthz" => Self::Health,
            "/v1/token" => Self::Token,
            "/v1/stage-token" => Self::StageToken,
            CHAT_TOKEN_PATH => Self::ChatToken,
            "/v1/public-key" => Self::PublicKey,
            "/v1/heartbeat" => Self::Heartbeat,
            "/v1/admin/revoke" => Self::AdminRevoke,
            "/v1/admin/devices" => Self::AdminDevices,
            "/v1/admin/unblock" => Self::AdminUnblock,
            "/openapi.json" => Self::OpenApi,
            "/dev/login" => Self::DevLogin,
            "/login" => Self::Login,
            "/logout" => Self::Logout,
            "/" => Self::Index,
            #[cfg(feature = "bench")]
            "/__bench" => Self::Bench(BenchRoute::Operations),
            #[cfg(feature = "bench")]
            "/__bench/ping" => Self::Bench(BenchRoute::Ping),
            #[cfg(feature = "bench")]
            "/__bench/cold" => Self::Bench(BenchRoute::Cold),
            path => {
                if let Some(name) = path.strip_prefix("/watch/") {
                    Self::Watch(name)
                } else if let Some(name) = path.strip_prefix("/stage/") {
                    Self::Stage(name)
                } else if let Some(provider) = path.strip_prefix(CALLBACK_PREFIX) {
                    Self::Callback(provider)
                } else {
                    Self::Unknown
                }
            }
        }
    }
}

/// The path of [`Route::ChatToken`] (the bench builds requests for it).
pub const CHAT_TOKEN_PATH: &str = "/v1/chat-token";

/// The start of every provider's redirect URI: `/callback/PROVIDER`.
pub const CALLBACK_PREFIX: &str = "/callback/";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_to_routes() {
        assert_eq!(Route::of("/v1/admin/revoke"), Route::AdminRevoke);
        assert_eq!(Route::of("/callback/idp"), Route::Callback("idp"));
        assert_eq!(Route::of("/callback"), Route::Unknown, "no shared callback: one per provider");
        assert_eq!(Route::of("/callback/"), Route::Callback(""));
        assert_eq!(Route::of("/watch/demo"), Route::Watch("demo"));
        assert_eq!(Route::of("/stage/studio"), Route::Stage("studio"));
        assert_eq!(Route::of("/v1/admin/revoke/"), Route::Unknown);
        assert_eq!(Route::of(""), Route::Unknown);
    }
}
