//! Calling AWS without an SDK: the credentials the worker holds and Signature Version 4.
//!
//! | module | part |
//! |---|---|
//! | [`sigv4`] | SigV4 request signing (`AWS4-HMAC-SHA256`), checked against the AWS signing test suite |
//! | [`call`] | one JSON API call: the service's endpoint, the signed `POST`, the error type of an answer |
//!
//! Pure like the rest of the core: the time of signing is an argument (`SystemTime::now()` panics
//! on `wasm32-unknown-unknown`), and nothing here sends a request. The caller (the Workers glue,
//! the CLI) sends the signed request with its own HTTP client.
//!
//! ```
//! use ivs_token_worker::aws::{sigv4, Credentials};
//! let credentials = Credentials::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", None);
//! let body = br#"{"channelArn":"arn:aws:ivs:us-west-2:123456789012:channel/abc","viewerId":"v","viewerSessionVersionsLessThanOrEqualTo":1}"#;
//! let signed = sigv4::sign_json_post(&credentials, "us-west-2", "ivs", "ivs.us-west-2.amazonaws.com",
//!     "/StartViewerSessionRevocation", body, 1_700_000_000);
//! assert_eq!(signed.header("x-amz-date"), Some("20231114T221320Z"));
//! assert!(signed.header("authorization").unwrap().starts_with(
//!     "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20231114/us-west-2/ivs/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature="));
//! ```

pub mod call;
pub mod sigv4;

use std::fmt;

/// An AWS access key: its id, its secret, and the session token of temporary credentials.
///
/// `Debug` shows the key id only, so a credential can be logged by mistake without leaking.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    access_key_id: String,
    secret_access_key: String,
    session_token: Option<String>,
}

impl Credentials {
    /// Credentials from their parts (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, and
    /// `AWS_SESSION_TOKEN` for temporary credentials). No rule is checked here: see
    /// [`Credentials::check`].
    pub fn new(access_key_id: &str, secret_access_key: &str, session_token: Option<&str>) -> Self {
        Self {
            access_key_id: access_key_id.to_owned(),
            secret_access_key: secret_access_key.to_owned(),
            session_token: session_token.map(str::to_owned),
        }
    }

    /// The access key id (`AKIA...`, `ASIA...`): not secret, it appears in every `Authorization`.
    pub fn access_key_id(&self) -> &str {
        &self.access_key_id
    }

    /// The session token, for temporary credentials.
    pub fn session_token(&self) -> Option<&str> {
        self.session_token.as_deref()
    }

    pub(crate) fn secret_access_key(&self) -> &str {
        &self.secret_access_key
    }

    /// The shape rules of each part, as `(part, rule)` of the first broken one: the key id is 16
    /// to 128 upper-case letters and digits; the secret 16 to 256 printable ASCII characters
    /// without spaces; the session token 1 to 8192 of the same; a temporary key id (`ASIA`)
    /// needs its session token. The message never quotes a value.
    pub fn check(&self) -> Result<(), (Part, String)> {
        let printable = |text: &str| text.bytes().all(|b| b.is_ascii_graphic());
        let id = &self.access_key_id;
        if !(16..=128).contains(&id.len()) || !id.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()) {
            return Err((
                Part::AccessKeyId,
                "must be 16 to 128 upper-case letters and digits, like AKIAIOSFODNN7EXAMPLE".into(),
            ));
        }
        if !(16..=256).contains(&self.secret_access_key.len()) || !printable(&self.secret_access_key) {
            return Err((
                Part::SecretAccessKey,
                format!(
                    "is {} bytes; it must be 16 to 256 printable ASCII characters without spaces (AWS secrets are 40)",
                    self.secret_access_key.len()
                ),
            ));
        }
        match &self.session_token {
            Some(token) if !(1..=8192).contains(&token.len()) || !printable(token) => {
                Err((Part::SessionToken, "must be 1 to 8192 printable ASCII characters without spaces".into()))
            }
            None if id.starts_with("ASIA") => Err((
                Part::SessionToken,
                "is missing: an access key id starting with ASIA is temporary and is only valid with its session token"
                    .into(),
            )),
            _ => Ok(()),
        }
    }
}

/// A part of [`Credentials`], as [`Credentials::check`] names the one that breaks a rule (its
/// `Display` is the words a message uses: "access key id").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The access key id.
    AccessKeyId,
    /// The secret access key.
    SecretAccessKey,
    /// The session token of temporary credentials.
    SessionToken,
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::AccessKeyId => "access key id",
            Self::SecretAccessKey => "secret access key",
            Self::SessionToken => "session token",
        })
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"..")
            .field("session_token", &self.session_token.as_ref().map(|_| ".."))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_secret_and_the_token() {
        let c = Credentials::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", Some("token-value"));
        let shown = format!("{c:?}");
        assert!(shown.contains("AKIDEXAMPLE"));
        assert!(!shown.contains("wJalr") && !shown.contains("token-value"));
    }

    #[test]
    fn shape_rules() {
        let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
        assert!(Credentials::new("AKIAIOSFODNN7EXAMPLE", secret, None).check().is_ok());
        assert!(Credentials::new("ASIAIOSFODNN7EXAMPLE", secret, Some("FwoGZXIvYXdzEBYaDk")).check().is_ok());
        let cases = [
            (Credentials::new("akiaiosfodnn7example", secret, None), "access key id"),
            (Credentials::new("AKIA", secret, None), "access key id"),
            (Credentials::new("AKIAIOSFODNN7EXAMPLE", "short", None), "secret access key"),
            (Credentials::new("AKIAIOSFODNN7EXAMPLE", "with a space in the secret value", None), "secret access key"),
            (Credentials::new("AKIAIOSFODNN7EXAMPLE", secret, Some("a b")), "session token"),
            (Credentials::new("ASIAIOSFODNN7EXAMPLE", secret, None), "session token"),
        ];
        for (credentials, part) in cases {
            let (found, rule) = credentials.check().unwrap_err();
            assert_eq!(found.to_string(), part, "{rule}");
            assert!(!rule.contains(secret));
        }
    }
}
