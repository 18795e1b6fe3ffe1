//! Identity providers' public keys: JWS algorithms, JSON Web Keys (RFC 7517), and the two
//! documents providers publish them in: a JWKS (`{"keys": [...]}`) or a JSON object of X.509
//! certificates by key id (Firebase's `securetoken` document).
//!
//! A key knows which algorithms it may verify: its type and curve decide the family, and its
//! `alg` (when the JWK states one) pins it further. This is the second half of the algorithm
//! check; the provider's configured list is the first (see [`super::jwt`]).
//!
//! ```
//! use ivs_token_worker::identity::jwk::{Algorithm, KeySet};
//! let jwks = r#"{"keys":[{"kty":"EC","crv":"P-256","kid":"k1","alg":"ES256",
//!   "x":"MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4","y":"4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM"}]}"#;
//! let keys = KeySet::parse(jwks)?;
//! assert_eq!(keys.find("k1").unwrap().allows(Algorithm::Es256), true);
//! assert_eq!(keys.find("k1").unwrap().allows(Algorithm::Rs256), false);
//! # Ok::<(), String>(())
//! ```

use crate::encoding::{b64url_decode, pem_blocks};
use rsa::signature::Verifier;
use serde_json::{Map, Value};

/// Most keys a document may hold; providers publish two or three.
pub const MAX_KEYS: usize = 32;
/// Largest key document accepted, in bytes.
pub const MAX_DOCUMENT_BYTES: usize = 256 * 1024;
/// Smallest RSA modulus accepted (RFC 7518 section 3.3 requires 2048 bits).
pub const MIN_RSA_BITS: usize = 2048;
/// Largest RSA modulus accepted.
pub const MAX_RSA_BITS: usize = 8192;

/// A JWS algorithm for identity tokens. Symmetric algorithms (HS*) and `none` are not
/// representable, so they can never be accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    Rs384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    Rs512,
    /// RSASSA-PSS with SHA-256, MGF1 SHA-256, 32-byte salt.
    Ps256,
    /// RSASSA-PSS with SHA-384.
    Ps384,
    /// RSASSA-PSS with SHA-512.
    Ps512,
    /// ECDSA P-256 with SHA-256.
    Es256,
    /// ECDSA P-384 with SHA-384.
    Es384,
}

impl Algorithm {
    /// Every supported algorithm.
    pub const ALL: [Self; 8] =
        [Self::Rs256, Self::Rs384, Self::Rs512, Self::Ps256, Self::Ps384, Self::Ps512, Self::Es256, Self::Es384];

    /// Parse a JWS `alg` name (exact, case-sensitive).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == name)
    }

    /// The JWS `alg` name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::Rs384 => "RS384",
            Self::Rs512 => "RS512",
            Self::Ps256 => "PS256",
            Self::Ps384 => "PS384",
            Self::Ps512 => "PS512",
            Self::Es256 => "ES256",
            Self::Es384 => "ES384",
        }
    }

    fn is_rsa(self) -> bool {
        !matches!(self, Self::Es256 | Self::Es384)
    }
}

#[cfg(test)]
thread_local! {
    /// How many signature verifications ran on this thread (tests run one per thread): shows how
    /// much work a token costs.
    pub(crate) static VERIFICATIONS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// The key material of one public key.
#[derive(Clone)]
enum Material {
    Rsa(rsa::PublicKey),
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
}

/// One public key of a provider.
#[derive(Clone)]
pub struct PublicJwk {
    /// `kid`, if the document gives one.
    pub kid: Option<String>,
    /// `alg`, if the JWK pins one.
    pub alg: Option<Algorithm>,
    material: Material,
}

impl std::fmt::Debug for PublicJwk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.material {
            Material::Rsa(_) => "RSA",
            Material::P256(_) => "EC P-256",
            Material::P384(_) => "EC P-384",
        };
        f.debug_struct("PublicJwk").field("kid", &self.kid).field("alg", &self.alg).field("kind", &kind).finish()
    }
}

impl PublicJwk {
    /// Whether this key may verify `alg`: the key type and curve must fit it, and a JWK that
    /// states its own `alg` accepts only that one.
    pub fn allows(&self, alg: Algorithm) -> bool {
        let family = match self.material {
            Material::Rsa(_) => alg.is_rsa(),
            Material::P256(_) => alg == Algorithm::Es256,
            Material::P384(_) => alg == Algorithm::Es384,
        };
        family && self.alg.is_none_or(|pinned| pinned == alg)
    }

    /// The algorithm a key is taken to declare when no list is configured: its `alg`, else the
    /// only one its curve allows, else RS256 for RSA keys (by far the most common).
    pub fn declared(&self) -> Algorithm {
        self.alg.unwrap_or(match self.material {
            Material::Rsa(_) => Algorithm::Rs256,
            Material::P256(_) => Algorithm::Es256,
            Material::P384(_) => Algorithm::Es384,
        })
    }

    /// Whether `signature` is a valid `alg` signature of `message` under this key. `false` when
    /// the key does not allow `alg`.
    pub fn verify(&self, alg: Algorithm, message: &[u8], signature: &[u8]) -> bool {
        if !self.allows(alg) {
            return false;
        }
        #[cfg(test)]
        VERIFICATIONS.with(|n| n.set(n.get() + 1));
        use sha2::{Sha256, Sha384, Sha512};
        match &self.material {
            Material::Rsa(key) => {
                let Ok(pkcs1) = rsa::pkcs1v15::Signature::try_from(signature) else { return false };
                let pss = || rsa::pss::Signature::try_from(signature);
                let key = key.clone();
                match alg {
                    Algorithm::Rs256 => rsa::pkcs1v15::VerifyingKey::<Sha256>::new(key).verify(message, &pkcs1).is_ok(),
                    Algorithm::Rs384 => rsa::pkcs1v15::VerifyingKey::<Sha384>::new(key).verify(message, &pkcs1).is_ok(),
                    Algorithm::Rs512 => rsa::pkcs1v15::VerifyingKey::<Sha512>::new(key).verify(message, &pkcs1).is_ok(),
                    // RFC 7518 section 3.5: the salt is as long as the hash.
                    Algorithm::Ps256 => {
                        pss().is_ok_and(|s| rsa::pss::VerifyingKey::<Sha256>::new(key).verify(message, &s).is_ok())
                    }
                    Algorithm::Ps384 => {
                        pss().is_ok_and(|s| rsa::pss::VerifyingKey::<Sha384>::new(key).verify(message, &s).is_ok())
                    }
                    Algorithm::Ps512 => {
                        pss().is_ok_and(|s| rsa::pss::VerifyingKey::<Sha512>::new(key).verify(message, &s).is_ok())
                    }
                    Algorithm::Es256 | Algorithm::Es384 => false,
                }
            }
            // JWS ECDSA signatures are raw r || s (RFC 7518 section 3.4), never DER.
            Material::P256(key) => {
                signature.len() == 64
                    && p256::ecdsa::Signature::from_slice(signature).is_ok_and(|s| key.verify(message, &s).is_ok())
            }
            Material::P384(key) => {
                signature.len() == 96
                    && p384::ecdsa::Signature::from_slice(signature).is_ok_and(|s| key.verify(message, &s).is_ok())
            }
        }
    }

    /// The key as a minimal public JWK (`kty` and its parameters only), for the platform's
    /// WebCrypto `importKey("jwk", ...)`.
    pub fn to_public_jwk(&self) -> Value {
        use crate::encoding::b64url_encode;
        let ec = |crv: &str, point: &[u8]| {
            let half = (point.len() - 1) / 2;
            serde_json::json!({"kty": "EC", "crv": crv, "x": b64url_encode(&point[1..1 + half]), "y": b64url_encode(&point[1 + half..])})
        };
        match &self.material {
            Material::Rsa(key) => {
                use rsa::traits::PublicKeyParts;
                // RFC 7518 section 6.3.1: no leading zero octets.
                let unsigned = |bytes: Box<[u8]>| {
                    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len().saturating_sub(1));
                    b64url_encode(&bytes[start..])
                };
                serde_json::json!({"kty": "RSA", "n": unsigned(key.n().to_be_bytes()), "e": unsigned(key.e().to_be_bytes())})
            }
            Material::P256(key) => ec("P-256", key.to_sec1_point(false).as_bytes()),
            Material::P384(key) => ec("P-384", key.to_sec1_point(false).as_bytes()),
        }
    }

    /// Parse one JWK. Private keys (`d`), symmetric keys (`oct`), keys meant for encryption
    /// (`use` other than `sig`) and unsupported curves are refused with the reason.
    pub fn from_jwk(jwk: &Map<String, Value>) -> Result<Self, String> {
        let text = |name: &str| jwk.get(name).and_then(Value::as_str);
        let kid = match jwk.get("kid") {
            None => None,
            Some(Value::String(kid)) if !kid.is_empty() && kid.len() <= 256 => Some(kid.clone()),
            Some(_) => return Err("`kid` must be a string of 1 to 256 characters".into()),
        };
        let named = |reason: &str| match &kid {
            Some(kid) => format!("key `{}`: {reason}", crate::text::truncate(kid)),
            None => reason.to_owned(),
        };
        if jwk.contains_key("d") || jwk.contains_key("p") || jwk.contains_key("k") {
            return Err(named("the document holds private or symmetric key material; publish only public keys"));
        }
        if let Some(usage) = jwk.get("use") {
            if usage != "sig" {
                return Err(named("`use` must be `sig` for a signing key"));
            }
        }
        let alg = match text("alg") {
            None => None,
            Some(name) => Some(
                Algorithm::parse(name)
                    .ok_or_else(|| named(&format!("`alg` {} is not supported", crate::text::truncate(name))))?,
            ),
        };
        let coordinate = |name: &str, len: usize| {
            text(name)
                .and_then(b64url_decode)
                .filter(|b| b.len() == len)
                .ok_or_else(|| named(&format!("`{name}` must be {len} bytes of base64url")))
        };
        let material = match text("kty") {
            Some("RSA") => {
                let n = text("n")
                    .and_then(b64url_decode)
                    .filter(|n| !n.is_empty())
                    .ok_or_else(|| named("`n` must be base64url"))?;
                let e = text("e")
                    .and_then(b64url_decode)
                    .filter(|e| !e.is_empty() && e.len() <= 8)
                    .ok_or_else(|| named("`e` must be base64url"))?;
                Material::Rsa(rsa_key(&n, &e).map_err(|r| named(&r))?)
            }
            Some("EC") => match text("crv") {
                Some("P-256") => {
                    let point = [&[4u8][..], &coordinate("x", 32)?, &coordinate("y", 32)?].concat();
                    Material::P256(
                        p256::ecdsa::VerifyingKey::from_sec1_bytes(&point)
                            .map_err(|_| named("(x, y) is not a point on P-256"))?,
                    )
                }
                Some("P-384") => {
                    let point = [&[4u8][..], &coordinate("x", 48)?, &coordinate("y", 48)?].concat();
                    Material::P384(
                        p384::ecdsa::VerifyingKey::from_sec1_bytes(&point)
                            .map_err(|_| named("(x, y) is not a point on P-384"))?,
                    )
                }
                _ => return Err(named("`crv` must be P-256 or P-384")),
            },
            Some("oct") => return Err(named("symmetric (`oct`) keys are never accepted")),
            _ => return Err(named("`kty` must be RSA or EC")),
        };
        let fits = alg.is_none_or(|alg| Self { kid: None, alg: None, material: material.clone() }.allows(alg));
        if !fits {
            return Err(named(&format!("`alg` {} does not fit the key type", alg.map_or("", Algorithm::name))));
        }
        Ok(Self { kid, alg, material })
    }

    /// Parse the public key of one X.509 certificate (PEM). Only RSA and P-256/P-384 keys.
    /// The certificate is only a container for the key here (the document's URL is what is
    /// trusted), so only the path to its SubjectPublicKeyInfo is decoded.
    pub fn from_certificate_pem(kid: &str, pem: &str) -> Result<Self, String> {
        let named = |reason: &str| format!("certificate `{}`: {reason}", crate::text::truncate(kid));
        let blocks = pem_blocks(pem).map_err(|e| named(&e))?;
        let block =
            blocks.iter().find(|b| b.label == "CERTIFICATE").ok_or_else(|| named("no CERTIFICATE PEM block"))?;
        let spki_der = certificate_spki(&block.der).ok_or_else(|| named("not a valid X.509 certificate"))?;
        let material = if let Ok(key) = rsa::pkcs8::DecodePublicKey::from_public_key_der(&spki_der) {
            let key: rsa::PublicKey = key;
            use rsa::traits::PublicKeyParts;
            check_rsa_size(key.n().bit_width_vartime() as usize).map_err(|r| named(&r))?;
            Material::Rsa(key)
        } else if let Ok(key) = p256::pkcs8::DecodePublicKey::from_public_key_der(&spki_der) {
            Material::P256(key)
        } else if let Ok(key) = p384::pkcs8::DecodePublicKey::from_public_key_der(&spki_der) {
            Material::P384(key)
        } else {
            return Err(named("the key is neither RSA nor EC P-256/P-384"));
        };
        Ok(Self { kid: Some(kid.to_owned()), alg: None, material })
    }
}

/// The SubjectPublicKeyInfo (DER) of an X.509 certificate (RFC 5280 section 4.1):
/// `Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version OPTIONAL, serialNumber,
/// signature, issuer, validity, subject, subjectPublicKeyInfo, ... }, ... }`.
fn certificate_spki(der: &[u8]) -> Option<Vec<u8>> {
    use pkcs8::der::asn1::AnyRef;
    use pkcs8::der::{Decode, Encode, SliceReader, Tag, Tagged};
    let certificate = AnyRef::from_der(der).ok().filter(|a| a.tag() == Tag::Sequence)?;
    let mut outer = SliceReader::new(certificate.value()).ok()?;
    let tbs = AnyRef::decode(&mut outer).ok().filter(|a| a.tag() == Tag::Sequence)?;
    let mut fields = SliceReader::new(tbs.value()).ok()?;
    let mut next = || AnyRef::decode(&mut fields).ok();
    let first = next()?;
    // After the optional [0] version: serial number, signature algorithm, issuer, validity, subject.
    let has_version = matches!(first.tag(), Tag::ContextSpecific { number, .. } if number.value() == 0);
    for _ in 0..if has_version { 5 } else { 4 } {
        next()?;
    }
    let spki = next().filter(|a| a.tag() == Tag::Sequence)?;
    spki.to_der().ok()
}

fn check_rsa_size(bits: usize) -> Result<(), String> {
    if (MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) {
        Ok(())
    } else {
        Err(format!("RSA keys must have {MIN_RSA_BITS} to {MAX_RSA_BITS} bits; this one has {bits}"))
    }
}

fn rsa_key(n: &[u8], e: &[u8]) -> Result<rsa::PublicKey, String> {
    let n = n.strip_prefix(&[0]).unwrap_or(n);
    check_rsa_size(n.len() * 8 - n.first().map_or(8, |b| b.leading_zeros() as usize))?;
    let n = rsa::BoxedUint::from_be_slice_vartime(n);
    let e = rsa::BoxedUint::from_be_slice_vartime(e);
    rsa::PublicKey::new_with_size_limits(n, e, MIN_RSA_BITS..=MAX_RSA_BITS)
        .map_err(|e| format!("not a usable RSA public key ({e})"))
}

/// The keys of one provider, as parsed from its key document.
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    /// The keys, in document order.
    pub keys: Vec<PublicJwk>,
}

impl KeySet {
    /// Parse a key document: a JWKS (`{"keys": [...]}`, extra members such as Cloudflare
    /// Access's `public_cert` ignored) or an object of X.509 certificate PEMs by key id (Firebase).
    /// Keys this worker cannot use (for encryption, other curves) are skipped as long as one
    /// usable key remains; a document with none is an error naming the first reason.
    pub fn parse(document: &str) -> Result<Self, String> {
        if document.len() > MAX_DOCUMENT_BYTES {
            return Err(format!("the key document is larger than {} KiB", MAX_DOCUMENT_BYTES / 1024));
        }
        let value: Value = serde_json::from_str(document).map_err(|_| "the key document is not JSON".to_owned())?;
        Self::from_value(&value)
    }

    /// [`KeySet::parse`] on an already decoded JSON value (an inline `jwks` setting).
    pub fn from_value(value: &Value) -> Result<Self, String> {
        let object = value.as_object().ok_or("the key document must be a JSON object")?;
        let parsed: Vec<Result<PublicJwk, String>> = match object.get("keys") {
            Some(Value::Array(keys)) => {
                if keys.len() > MAX_KEYS {
                    return Err(format!("the JWKS holds more than {MAX_KEYS} keys"));
                }
                keys.iter()
                    .map(|k| {
                        k.as_object()
                            .ok_or_else(|| "every JWKS key must be an object".to_owned())
                            .and_then(PublicJwk::from_jwk)
                    })
                    .collect()
            }
            Some(_) => return Err("`keys` must be an array of JWKs".into()),
            None if !object.is_empty()
                && object.values().all(|v| v.as_str().is_some_and(|s| s.contains("-----BEGIN CERTIFICATE-----"))) =>
            {
                if object.len() > MAX_KEYS {
                    return Err(format!("the certificate document holds more than {MAX_KEYS} certificates"));
                }
                object
                    .iter()
                    .map(|(kid, pem)| PublicJwk::from_certificate_pem(kid, pem.as_str().unwrap_or_default()))
                    .collect()
            }
            None => {
                return Err(
                    "the key document is neither a JWKS (`{\"keys\": [...]}`) nor an object of X.509 certificates"
                        .into(),
                )
            }
        };
        let first_error = parsed.iter().find_map(|r| r.as_ref().err().cloned());
        let keys: Vec<PublicJwk> = parsed.into_iter().filter_map(Result::ok).collect();
        if keys.is_empty() {
            return Err(first_error.unwrap_or_else(|| "the key document holds no keys".into()));
        }
        Ok(Self { keys })
    }

    /// The key with this `kid`.
    pub fn find(&self, kid: &str) -> Option<&PublicJwk> {
        self.keys.iter().find(|k| k.kid.as_deref() == Some(kid))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    /// An RFC 7515 example: a public JWK and a JWS it verifies (tests/fixtures/jws).
    pub(crate) struct Vector {
        pub(crate) jwk: String,
        pub(crate) jws: String,
    }

    fn vector(file: &str) -> Vector {
        let value: Value = serde_json::from_str(file).unwrap();
        Vector { jwk: value["jwk"].to_string(), jws: value["jws"].as_str().unwrap().to_owned() }
    }

    /// RFC 7515 appendix A.3: the ES256 example.
    pub(crate) static ES256: std::sync::LazyLock<Vector> =
        std::sync::LazyLock::new(|| vector(include_str!("../../tests/fixtures/jws/rfc7515-a3-es256.json")));
    /// RFC 7515 appendix A.2: the RS256 example.
    pub(crate) static RS256: std::sync::LazyLock<Vector> =
        std::sync::LazyLock::new(|| vector(include_str!("../../tests/fixtures/jws/rfc7515-a2-rs256.json")));

    fn jwk(text: &str) -> Map<String, Value> {
        serde_json::from_str(text).unwrap()
    }

    fn split(jws: &str) -> (&str, Vec<u8>) {
        let (signed, signature) = jws.rsplit_once('.').unwrap();
        (signed, b64url_decode(signature).unwrap())
    }

    #[test]
    fn rfc7515_examples_verify() {
        let es = PublicJwk::from_jwk(&jwk(ES256.jwk.as_str())).unwrap();
        let (signed, signature) = split(ES256.jws.as_str());
        assert!(es.verify(Algorithm::Es256, signed.as_bytes(), &signature));
        assert!(!es.verify(Algorithm::Es384, signed.as_bytes(), &signature), "curve decides the algorithm");
        let rs = PublicJwk::from_jwk(&jwk(RS256.jwk.as_str())).unwrap();
        let (signed, signature) = split(RS256.jws.as_str());
        assert!(rs.verify(Algorithm::Rs256, signed.as_bytes(), &signature));
        assert!(!rs.verify(Algorithm::Rs384, signed.as_bytes(), &signature));
        assert!(!rs.verify(Algorithm::Ps256, signed.as_bytes(), &signature));
        assert!(!rs.verify(Algorithm::Es256, signed.as_bytes(), &signature), "an RSA key never verifies ECDSA");
    }

    /// Wycheproof-style mutations of valid signatures: every one must fail, none may panic.
    #[test]
    fn mutated_signatures_fail() {
        for (key, jws, alg) in [
            (ES256.jwk.as_str(), ES256.jws.as_str(), Algorithm::Es256),
            (RS256.jwk.as_str(), RS256.jws.as_str(), Algorithm::Rs256),
        ] {
            let key = PublicJwk::from_jwk(&jwk(key)).unwrap();
            let (signed, signature) = split(jws);
            let mut cases: Vec<Vec<u8>> = vec![
                vec![],
                vec![0; signature.len()],
                vec![0xff; signature.len()],
                signature[..signature.len() - 1].to_vec(),
            ];
            cases.push([signature.as_slice(), &[0]].concat());
            for i in [0, signature.len() / 2, signature.len() - 1] {
                for bit in [0x01u8, 0x80] {
                    let mut flipped = signature.clone();
                    flipped[i] ^= bit;
                    cases.push(flipped);
                }
            }
            if alg == Algorithm::Es256 {
                // r and s swapped, s replaced by n - s (a different, high-S signature of the same
                // message is still valid ECDSA, but r = 0 or s = 0 never is).
                cases.push([&signature[32..], &signature[..32]].concat());
                cases.push([&[0u8; 32][..], &signature[32..]].concat());
                cases.push([&signature[..32], &[0u8; 32][..]].concat());
            }
            for case in cases {
                assert!(!key.verify(alg, signed.as_bytes(), &case), "{alg:?} accepted a mutated signature");
            }
            let mut message = signed.as_bytes().to_vec();
            message[3] ^= 1;
            assert!(!key.verify(alg, &message, &signature));
        }
    }

    #[test]
    fn public_jwk_export_round_trips() {
        for text in [ES256.jwk.as_str(), RS256.jwk.as_str()] {
            let original = jwk(text);
            let exported = PublicJwk::from_jwk(&original).unwrap().to_public_jwk();
            for (name, value) in exported.as_object().unwrap() {
                assert_eq!(original.get(name), Some(value), "{name}");
            }
            assert!(PublicJwk::from_jwk(exported.as_object().unwrap()).is_ok());
        }
    }

    #[test]
    fn jwk_rules() {
        let mut rs: Map<String, Value> = jwk(RS256.jwk.as_str());
        rs.insert("alg".into(), json!("PS256"));
        let pinned = PublicJwk::from_jwk(&rs).unwrap();
        assert!(pinned.allows(Algorithm::Ps256) && !pinned.allows(Algorithm::Rs256));
        assert_eq!(pinned.declared(), Algorithm::Ps256);
        assert_eq!(PublicJwk::from_jwk(&jwk(RS256.jwk.as_str())).unwrap().declared(), Algorithm::Rs256);
        let cases = [
            (json!({"kty": "oct", "k": "c2VjcmV0"}), "private or symmetric"),
            (json!({"kty": "oct"}), "symmetric"),
            (json!({"kty": "OKP", "crv": "Ed25519", "x": "AA"}), "`kty` must be RSA or EC"),
            (json!({"kty": "EC", "crv": "P-521", "x": "AA", "y": "AA"}), "`crv` must be"),
            (json!({"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}), "`x` must be 32 bytes"),
            (json!({"kty": "RSA", "n": "AQAB", "e": "AQAB"}), "RSA keys must have 2048"),
            (json!({"kty": "RSA", "e": "AQAB"}), "`n` must be"),
            (
                json!({"kty": "EC", "crv": "P-256", "alg": "HS256", "x": "AA", "y": "AA"}),
                "`alg` HS256 is not supported",
            ),
            (json!({"kty": "EC", "crv": "P-256", "alg": "none"}), "`alg` none is not supported"),
            (json!({"kty": "EC", "crv": "P-256", "use": "enc"}), "`use` must be `sig`"),
            (json!({"kid": 5, "kty": "EC"}), "`kid` must be"),
        ];
        for (value, expected) in cases {
            let err = PublicJwk::from_jwk(value.as_object().unwrap()).unwrap_err();
            assert!(err.contains(expected), "{value} -> {err}");
        }
        let mut es: Map<String, Value> = jwk(ES256.jwk.as_str());
        es.insert("alg".into(), json!("RS256"));
        assert!(PublicJwk::from_jwk(&es).unwrap_err().contains("does not fit the key type"));
        // A point not on the curve.
        let mut off: Map<String, Value> = jwk(ES256.jwk.as_str());
        off.insert("y".into(), json!("y_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"));
        assert!(PublicJwk::from_jwk(&off).unwrap_err().contains("not a point"));
    }

    #[test]
    fn documents() {
        let doc = format!(
            r#"{{"keys":[{},{{"kty":"EC","crv":"P-521","kid":"skip"}}],"public_cert":{{"kid":"x","cert":"y"}}}}"#,
            ES256.jwk.as_str().replacen('{', r#"{"kid":"a","#, 1)
        );
        let set = KeySet::parse(&doc).unwrap();
        assert_eq!(set.keys.len(), 1, "unusable keys are skipped");
        assert!(set.find("a").is_some() && set.find("skip").is_none());
        for (doc, expected) in [
            ("", "not JSON"),
            ("[]", "must be a JSON object"),
            ("{}", "neither a JWKS"),
            (r#"{"keys":{}}"#, "`keys` must be an array"),
            (r#"{"keys":[]}"#, "holds no keys"),
            (r#"{"keys":[1]}"#, "must be an object"),
            (r#"{"keys":[{"kty":"oct","k":"AA"}]}"#, "symmetric"),
            (r#"{"k1":"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"}"#, "certificate `k1`"),
        ] {
            let err = KeySet::parse(doc).unwrap_err();
            assert!(err.contains(expected), "{doc} -> {err}");
        }
        let many = format!(r#"{{"keys":[{}]}}"#, vec![ES256.jwk.as_str(); MAX_KEYS + 1].join(","));
        assert!(KeySet::parse(&many).unwrap_err().contains("more than 32"));
        assert!(KeySet::parse(&" ".repeat(MAX_DOCUMENT_BYTES + 1)).unwrap_err().contains("larger than"));
    }
}
