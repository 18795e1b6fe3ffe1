//! Which device a request comes from: the `X-Device-Id` header an app sends, else the device
//! cookie a browser keeps, else a new random id (to be set as that cookie). And the `takeover`
//! query value.
//!
//! ```
//! use ivs_token_worker::device::id::{device_of, DeviceSource};
//! let app = device_of(Some("tv-livingroom-01"), None, [7; 24])?;
//! assert_eq!((app.id.as_str(), app.source), ("tv-livingroom-01", DeviceSource::Header));
//! let browser = device_of(None, Some("session=x; ivs_device=Zm9vYmFyYmF6cXV4"), [7; 24])?;
//! assert_eq!((browser.id.as_str(), browser.source), ("Zm9vYmFyYmF6cXV4", DeviceSource::Cookie));
//! let new = device_of(None, None, [7; 24])?;
//! assert_eq!((new.id.len(), new.source), (32, DeviceSource::New));
//! assert!(device_of(Some("short"), None, [7; 24]).is_err());
//! # Ok::<(), ivs_token_worker::Error>(())
//! ```

use crate::cookie::find_cookies;
use crate::encoding::b64url_encode;
use crate::error::{Error, Result};

/// The request header naming the device (apps, TVs: anything that keeps no cookies).
pub const DEVICE_HEADER: &str = "x-device-id";
/// The device cookie's name.
pub const DEVICE_COOKIE: &str = "ivs_device";
/// The device cookie's `Max-Age`: 400 days, the longest browsers keep a cookie (RFC 6265bis).
pub const DEVICE_COOKIE_MAX_AGE: u64 = 400 * 86_400;
/// The shortest and longest device id.
pub const ID_LENGTH: std::ops::RangeInclusive<usize> = 8..=64;
/// Random bytes in a new device id (192 bits, 32 base64url characters).
pub const RANDOM_BYTES: usize = 24;

/// Whether `text` is a device id: 8 to 64 of `A-Za-z0-9_-`.
pub fn is_device_id(text: &str) -> bool {
    ID_LENGTH.contains(&text.len()) && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A new device id from random bytes: 32 base64url characters.
pub fn new_device_id(random: [u8; RANDOM_BYTES]) -> String {
    b64url_encode(&random)
}

/// Where a request's device id came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceSource {
    /// The `X-Device-Id` header.
    Header,
    /// The device cookie.
    Cookie,
    /// Neither: a new id, to be set as the device cookie with the answer.
    New,
}

/// The device a request comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestDevice {
    /// The device id.
    pub id: String,
    /// Where it came from.
    pub source: DeviceSource,
}

impl RequestDevice {
    /// Whether the answer should (re)set the device cookie: for a new id, and for one read from
    /// the cookie (which renews its 400 days). Never for a header: that client keeps its own id.
    pub fn sets_cookie(&self) -> bool {
        self.source != DeviceSource::Header
    }
}

/// The device of a request from its `X-Device-Id` header and `Cookie` header; `random` makes the
/// id when there is neither. A header that breaks the rule is a `400` (nothing else happens); a
/// device cookie that breaks it is ignored like a missing one (a new id replaces it).
pub fn device_of(header: Option<&str>, cookies: Option<&str>, random: [u8; RANDOM_BYTES]) -> Result<RequestDevice> {
    if let Some(value) = header {
        let value = value.trim();
        if !is_device_id(value) {
            // Not echoed: the value is the client's and already known to be wrong.
            return Err(Error::BadRequest(
                "header X-Device-Id must be 8 to 64 characters of A-Z, a-z, 0-9, _ and -".into(),
            ));
        }
        return Ok(RequestDevice { id: value.to_owned(), source: DeviceSource::Header });
    }
    if let Some(id) = cookies.and_then(|header| find_cookies(header, DEVICE_COOKIE).find(|v| is_device_id(v))) {
        return Ok(RequestDevice { id: id.to_owned(), source: DeviceSource::Cookie });
    }
    Ok(RequestDevice { id: new_device_id(random), source: DeviceSource::New })
}

/// How a device is named in log lines: a digest of its id, never the id itself. A browser's id is
/// its `ivs_device` cookie, so a log reader holding the id could present it and share that
/// device's slot; the digest still tells one device's lines from another's.
pub fn device_digest(id: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new().chain_update(b"ivs-token-worker device log name\0").chain_update(id).finalize();
    crate::encoding::hex(&digest[..8])
}

/// The `takeover` query value: absent or `false` is false, `true` is true, anything else a `400`.
pub fn parse_takeover(value: Option<&str>) -> Result<bool> {
    match value {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(_) => Err(Error::BadRequest("query parameter `takeover` must be true or false".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::problem::Problem;

    #[test]
    fn the_id_rule() {
        for good in ["abcdefgh", "A-Z_a-z-0-9", &"x".repeat(64), "--------"] {
            assert!(is_device_id(good), "{good}");
        }
        for bad in ["", "abcdefg", &"x".repeat(65), "abcdefg h", "abcdefgh.", "abcdéfgh", "abc/defgh", "abcdefgh\n"] {
            assert!(!is_device_id(bad), "{bad:?}");
        }
        assert!(is_device_id(&new_device_id([0xff; RANDOM_BYTES])));
        assert_ne!(new_device_id([1; RANDOM_BYTES]), new_device_id([2; RANDOM_BYTES]));
    }

    #[test]
    fn header_then_cookie_then_new() {
        let cookie = "ivs_device=cookie-device-1";
        let from_header = device_of(Some(" app-device-1 "), Some(cookie), [0; 24]).unwrap();
        assert_eq!((from_header.id.as_str(), from_header.sets_cookie()), ("app-device-1", false));
        let err = device_of(Some("bad id!"), Some(cookie), [0; 24]).unwrap_err();
        assert_eq!((err.status(), err.slug()), (400, "bad-request"));
        assert!(!err.to_string().contains("bad id!"));
        let from_cookie = device_of(None, Some(cookie), [0; 24]).unwrap();
        assert_eq!((from_cookie.id.as_str(), from_cookie.sets_cookie()), ("cookie-device-1", true));
        let stale_first = device_of(None, Some("ivs_device=bad; ivs_device=good-device"), [0; 24]).unwrap();
        assert_eq!(stale_first.id, "good-device", "the first valid one of several");
        let broken = device_of(None, Some("ivs_device=<script>"), [9; 24]).unwrap();
        assert_eq!((broken.id, broken.source), (new_device_id([9; 24]), DeviceSource::New));
    }

    #[test]
    fn logs_name_devices_by_digest() {
        let id = "tv-livingroom-0001";
        let digest = device_digest(id);
        assert_eq!(digest.len(), 16);
        assert!(digest.bytes().all(|b| b.is_ascii_hexdigit()) && !digest.contains(id));
        assert_eq!(digest, device_digest(id), "stable: one device's lines stay together");
        assert_ne!(digest, device_digest("tv-livingroom-0002"));
    }

    #[test]
    fn takeover_values() {
        assert_eq!(parse_takeover(None), Ok(false));
        assert_eq!(parse_takeover(Some("false")), Ok(false));
        assert_eq!(parse_takeover(Some("true")), Ok(true));
        for bad in ["", "1", "yes", "TRUE", "True"] {
            assert_eq!(parse_takeover(Some(bad)).unwrap_err().status(), 400, "{bad}");
        }
    }
}
