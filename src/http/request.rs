//! A request as the core sees it: the parts of an HTTP request the contract reads, its query
//! parameters, and the session it presents.

use crate::access::normalize_country;
use crate::address::is_local_host;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::identity::{Located, Presented, Session};
use crate::isolate::IsolateState;
use crate::text::is_name;

/// The parts of an HTTP request the core looks at.
#[derive(Debug, Clone, Copy, Default)]
pub struct Request<'a> {
    /// Method, upper case.
    pub method: &'a str,
    /// Path, without query.
    pub path: &'a str,
    /// Raw query string, without `?`.
    pub query: &'a str,
    /// `Origin` header.
    pub origin: Option<&'a str>,
    /// `Cookie` header.
    pub cookie: Option<&'a str>,
    /// The host the request was sent to (`Host`), with any port.
    pub host: Option<&'a str>,
    /// `Authorization` header.
    pub authorization: Option<&'a str>,
    /// Other headers an identity provider may read (`header:NAME` sources) and the local
    /// country stand-in, as (name, value).
    pub headers: &'a [(&'a str, &'a str)],
    /// The country the request comes from, as the platform tells (`request.cf.country`).
    pub country: Option<&'a str>,
    /// The deciding credential, located by the [`super::Plan`] under the same configuration,
    /// with the platform's verdicts on its signatures. `None` when [`super::handle`] is called
    /// without a plan: [`session_of`] locates it then.
    pub(super) located: Option<&'a Located<'a, 'a>>,
    /// What the token endpoint answered to the plan's code exchange.
    pub(super) exchanged: Option<&'a crate::signin::callback::Exchanged>,
    /// The body, read only when the plan asked for it (an operator POST past its gate).
    pub(super) body: &'a [u8],
    /// What the viewer's device ledger answered to the plan's command. `None`: not asked.
    pub(super) ledger: Option<&'a crate::device::object::LedgerExchange>,
    /// What IVS Chat answered to the plan's `CreateChatToken`. `None`: not asked.
    pub(super) chat: Option<&'a crate::chat::api::Created>,
}

impl<'a> Request<'a> {
    /// A request from its method and target (`/path?query`).
    pub fn new(method: &'a str, target: &'a str) -> Self {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        Self { method, path, query, ..Self::default() }
    }

    /// The credential-bearing parts, for [`crate::identity`].
    pub fn presented(&self) -> Presented<'a> {
        Presented { authorization: self.authorization, cookie: self.cookie, headers: self.headers }
    }

    /// The value of header `name` among [`Request::headers`] (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&'a str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| *v)
    }

    /// The country the request comes from: the platform's, except that on a local host the
    /// [`DEV_COUNTRY_HEADER`] stand-in, when sent, wins (`wrangler dev` reports a fixed
    /// placeholder country for every request).
    pub fn country(&self) -> Option<String> {
        let stand_in = self.header(DEV_COUNTRY_HEADER).filter(|_| self.host.is_some_and(is_local_host));
        stand_in.or(self.country).and_then(normalize_country)
    }
}

/// The header that stands in for `request.cf.country` in `wrangler dev` and tests. Honoured only
/// for requests addressed to a local host, so it cannot be used to dodge a country rule.
pub const DEV_COUNTRY_HEADER: &str = "x-dev-country";

/// The value of query parameter `name`, percent-decoded. `Err` when it is repeated or not UTF-8.
pub fn query_param(query: &str, name: &str) -> Result<Option<String>> {
    let mut found = None;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if percent_decode(key).as_deref() != Some(name) {
            continue;
        }
        if found.is_some() {
            return Err(Error::BadRequest(format!("query parameter `{name}` is given more than once")));
        }
        found = Some(percent_decode(value).ok_or_else(|| {
            Error::BadRequest(format!("query parameter `{name}` is not valid percent-encoded UTF-8"))
        })?);
    }
    Ok(found)
}

/// Decode `%XX` escapes and `+` (as a space); `None` on a bad escape or invalid UTF-8.
pub fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                // Exactly two hex digits: `from_str_radix` alone would also take a sign (`%+7`).
                let hex = bytes.get(i + 1..i + 3).filter(|h| h.iter().all(u8::is_ascii_hexdigit))?;
                out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// The viewer's session: the deciding credential of the request, verified (see
/// [`crate::identity::credential`] for the precedence). The credential the plan located (under
/// this same configuration: a plan holds one) is used as it is, with the platform's verdicts;
/// without a plan it is located here, once, against the isolate's caches (`state`): every route
/// asks for the session at most once.
pub fn session_of(config: &Config, state: &IsolateState, request: &Request<'_>, now: u64) -> Result<Session> {
    match request.located {
        Some(located) => located.session(now),
        None => config.identity.locate(&state.identity, &request.presented()).session(now),
    }
}

/// The channel name from `?channel=`, validated.
pub(super) fn channel_param(query: &str) -> Result<String> {
    let name = query_param(query, "channel")?
        .ok_or_else(|| Error::BadRequest("query parameter `channel` is required: GET /v1/token?channel=NAME".into()))?;
    if !is_name(&name) {
        // The value is not echoed: it is attacker-controlled and already known to be invalid.
        return Err(Error::BadRequest(
            "query parameter `channel` must be a channel name matching [a-z0-9-]{1,64}".into(),
        ));
    }
    Ok(name)
}
