//! Reading one cookie out of a `Cookie` request header (RFC 6265 section 5.4 syntax).

/// The value of the first cookie named `name` in a `Cookie` header, without surrounding quotes.
///
/// ```
/// use ivs_token_worker::cookie::find_cookie;
/// assert_eq!(find_cookie("a=1; session=abc.def; b=2", "session"), Some("abc.def"));
/// assert_eq!(find_cookie("sessionx=1", "session"), None);
/// ```
pub fn find_cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    find_cookies(header, name).next()
}

/// Every value of cookies named `name`, in header order. Browsers send several when cookies of
/// the same name were set for different paths or domains (a stale one among them, typically).
///
/// ```
/// use ivs_token_worker::cookie::find_cookies;
/// let values: Vec<&str> = find_cookies("session=old; a=1; session=new", "session").collect();
/// assert_eq!(values, ["old", "new"]);
/// ```
pub fn find_cookies<'a: 'n, 'n>(header: &'a str, name: &'n str) -> impl Iterator<Item = &'a str> + 'n {
    header.split(';').filter_map(move |pair| {
        let (key, value) = pair.split_once('=')?;
        if key.trim() != name {
            return None;
        }
        let value = value.trim();
        Some(value.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(value))
    })
}

/// Whether `name` is a valid cookie name (an RFC 7230 token).
pub fn is_cookie_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_first_match_and_unquotes() {
        assert_eq!(find_cookie("session=1; session=2", "session"), Some("1"));
        assert_eq!(find_cookie("  session = \"q\" ", "session"), Some("q"));
        assert_eq!(find_cookie("", "session"), None);
        assert_eq!(find_cookie("session", "session"), None);
        assert_eq!(find_cookie("x=a=b; session=v=w", "session"), Some("v=w"));
    }

    #[test]
    fn cookie_names() {
        assert!(is_cookie_name("session"));
        assert!(is_cookie_name("__Host-session"));
        for bad in ["", "a b", "a;b", "a=b", "é"] {
            assert!(!is_cookie_name(bad), "{bad}");
        }
    }
}
