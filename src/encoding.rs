//! Text encodings shared by keys, tokens and sessions: base64url (JWS), base64, PEM and URL
//! percent-encoding.
//!
//! PEM is parsed leniently (CRLF, any line width, header lines such as `Proc-Type`), because
//! keys arrive from openssl, the IVS console, Secrets Manager and copy-paste alike.

use base64ct::{Base64, Base64UrlUnpadded, Encoding};

/// Base64url without padding, as JWS compact serialization uses.
pub fn b64url_encode(bytes: &[u8]) -> String {
    Base64UrlUnpadded::encode_string(bytes)
}

/// Strict base64url decoding (no padding, canonical trailing bits); `None` when invalid.
pub fn b64url_decode(text: &str) -> Option<Vec<u8>> {
    Base64UrlUnpadded::decode_vec(text).ok()
}

/// Standard base64 (with padding), ignoring ASCII whitespace anywhere in the input.
pub fn b64_decode_lenient(text: &str) -> Option<Vec<u8>> {
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    if compact.is_empty() {
        return None;
    }
    Base64::decode_vec(&compact).ok()
}

/// One `-----BEGIN LABEL-----` ... `-----END LABEL-----` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PemBlock {
    /// The label, e.g. `EC PRIVATE KEY`.
    pub label: String,
    /// RFC 1421 header lines (`Proc-Type: 4,ENCRYPTED`) found before the body.
    pub headers: Vec<String>,
    /// The decoded body.
    pub der: Vec<u8>,
}

/// All PEM blocks in `text`, in order. `Err` carries a reason safe to show (no key bytes).
pub fn pem_blocks(text: &str) -> Result<Vec<PemBlock>, String> {
    let mut blocks = Vec::new();
    let mut lines = text.lines().map(str::trim);
    while let Some(line) = lines.next() {
        let Some(label) = line.strip_prefix("-----BEGIN ").and_then(|l| l.strip_suffix("-----")) else {
            continue;
        };
        let end = format!("-----END {label}-----");
        let mut headers = Vec::new();
        let mut body = String::new();
        let mut closed = false;
        for line in lines.by_ref() {
            if line == end {
                closed = true;
                break;
            }
            if line.contains(':') {
                headers.push(line.to_owned());
            } else {
                body.push_str(line);
            }
        }
        if !closed {
            return Err(format!("the PEM block {} has no matching END line", shown_label(label)));
        }
        let der = b64_decode_lenient(&body)
            .ok_or_else(|| format!("the body of the PEM block {} is not valid base64", shown_label(label)))?;
        blocks.push(PemBlock { label: label.to_owned(), headers, der });
    }
    Ok(blocks)
}

/// A PEM label as an error message may show it: quoted when it reads like one (upper-case words
/// such as `EC PRIVATE KEY`), withheld otherwise, since a mangled paste can put key material on
/// the BEGIN line and errors never quote secrets.
pub fn shown_label(label: &str) -> String {
    let plausible = !label.is_empty()
        && label.len() <= 40
        && label.split(' ').all(|word| {
            word.len() <= 15 && word.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-')
        });
    if plausible {
        format!("`{label}`")
    } else {
        "(its label is not shown: it is not an upper-case PEM label)".to_owned()
    }
}

/// PEM text for `der` under `label`, with 64-character lines and a trailing newline.
pub fn pem_encode(label: &str, der: &[u8]) -> String {
    let body = Base64::encode_string(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in body.as_bytes().chunks(64) {
        // Base64 output is ASCII, so every chunk is valid UTF-8.
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Lower-case hexadecimal.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// Standard base64 with padding (HTTP Basic credentials).
pub fn b64_encode(bytes: &[u8]) -> String {
    Base64::encode_string(bytes)
}

/// Percent-encode `text` for a URL query or an `application/x-www-form-urlencoded` body: every
/// byte but the unreserved characters (RFC 3986: letters, digits, `-._~`) becomes `%XX`.
pub fn url_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_encoding_keeps_only_unreserved_characters() {
        assert_eq!(url_encode("a b/c?d=e&f~-._é"), "a%20b%2Fc%3Fd%3De%26f~-._%C3%A9");
    }

    #[test]
    fn base64url_round_trip_and_strictness() {
        assert_eq!(b64url_encode(b"\xfb\xff"), "-_8");
        assert_eq!(b64url_decode("-_8").as_deref(), Some(&b"\xfb\xff"[..]));
        assert_eq!(b64url_decode("-_8="), None, "padding is not JWS");
        assert_eq!(b64url_decode("+/8"), None, "standard alphabet is not base64url");
        assert_eq!(b64url_decode("-_9"), None, "non-canonical trailing bits");
    }

    #[test]
    fn pem_round_trip_with_crlf_and_headers() {
        let der: Vec<u8> = (0..=200).collect();
        let pem = pem_encode("TEST", &der);
        assert!(pem.lines().all(|l| l.len() <= 64));
        let crlf = pem.replace('\n', "\r\n").replace("-----\r\n", "-----\r\nX-Note: a\r\n");
        let blocks = pem_blocks(&format!("junk\r\n{crlf}")).unwrap();
        assert_eq!(blocks.len(), 1);
        assert_eq!(blocks[0].label, "TEST");
        assert_eq!(blocks[0].der, der);
        assert_eq!(blocks[0].headers, vec!["X-Note: a".to_owned()]);
    }

    #[test]
    fn pem_errors_name_the_block() {
        assert!(pem_blocks("-----BEGIN A-----\nAAAA\n").unwrap_err().contains("no matching END"));
        // Found by the private_key fuzzer: a BEGIN line carrying base64 was quoted back.
        let error = pem_blocks("-----BEGIN JksQjVzTUhaQ+anATE KEY-----\n").unwrap_err();
        assert!(error.contains("no matching END") && !error.contains("JksQjVzTUhaQ"), "{error}");
        assert_eq!(shown_label("EC PRIVATE KEY"), "`EC PRIVATE KEY`");
        assert!(!shown_label("MHcCAQEEIBAAAAAAAAAAAAA KEY").contains("MHcC"));
        assert!(pem_blocks("-----BEGIN A-----\n!!!!\n-----END A-----").unwrap_err().contains("base64"));
        assert!(pem_blocks("no pem here").unwrap().is_empty());
    }

    #[test]
    fn hex_is_lower_case() {
        assert_eq!(hex(&[0x00, 0xab, 0xff]), "00abff");
    }
}
