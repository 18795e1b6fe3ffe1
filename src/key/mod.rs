//! The playback signing key: P-384 (secp384r1), in every form operators actually hold it.
//!
//! Accepted: SEC1 `EC PRIVATE KEY` PEM (with or without the `EC PARAMETERS` block that
//! `openssl ecparam -genkey` writes without `-noout`), PKCS#8 `PRIVATE KEY` PEM (the IVS console's
//! download), CRLF line ends, the PEM base64-encoded once more (as the published Secrets Manager
//! recipe stores it), and bare base64 DER of either structure.
//!
//! Refused with a reason that says how to fix it: other curves, RSA and Ed25519 keys, encrypted
//! keys, public keys, certificates, and anything else. Reasons never contain key material.
//!
//! ```
//! use ivs_token_worker::key::PlaybackKey;
//! let pem = "-----BEGIN EC PRIVATE KEY-----
//! MIGkAgEBBDBrnT2tLhuMHAWxmHW2ZZ9N4jw7Znvyl7qapHdAeHE32JbVck5McKgl
//! +HLJ6mDS7fWgBwYFK4EEACKhZANiAATsOk5BW04ZpFaGGAKfQn+l2pqLxK6S4C4G
//! quUoazAMZN748OqQVYZgZKJUUVSAvBOAFdm3LX1XJE6o75rAxiGJZwilk2f537n1
//! TKhLPxydsSiLIxw64NT+c0T9JTMmRyA=
//! -----END EC PRIVATE KEY-----";
//! let key = PlaybackKey::parse(pem)?;
//! assert!(key.public_key_pem().starts_with("-----BEGIN PUBLIC KEY-----"));
//! # Ok::<(), ivs_token_worker::Error>(())
//! ```

/// The fixed-base comb for k·G, from `ivs-p384-sign` (crates/p384-sign), the crate that holds
/// the signature's hot path so the release build can keep it at opt-level 3.
pub use ivs_p384_sign::comb;

use crate::encoding::{b64_decode_lenient, pem_blocks, pem_encode, PemBlock};
use crate::error::{Error, Result};
use ecdsa::signature::Verifier;
use p384::ecdsa::{Signature, SigningKey, VerifyingKey};
use p384::elliptic_curve::sec1::ToSec1Point;
use p384::elliptic_curve::PrimeField;
use p384::NonZeroScalar;
use pkcs8::der::{Decode, Encode};
use pkcs8::spki::{DecodePublicKey, EncodePublicKey};
use pkcs8::{EncodePrivateKey, ObjectIdentifier, PrivateKeyInfoRef};

const OID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const OID_SECP384R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const OID_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const OID_RSA_PSS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10");
const OID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");

pub use ivs_p384_sign::{SCALAR_LEN, SIGNATURE_LEN};

const GENERATE_HINT: &str = "generate one with `ivs-token keygen` or `openssl ecparam -name secp384r1 -genkey -noout`";

/// A P-384 private key ready to sign ES384 playback tokens.
///
/// `Debug` prints only the public key's fingerprint, so the key can never leak through a log.
#[derive(Clone)]
pub struct PlaybackKey {
    secret: NonZeroScalar,
    /// Derived from `secret` with the comb, not with ecdsa's `SigningKey` (which would need p384's
    /// own basepoint table at isolate startup, or a slow variable-base multiplication).
    verifying: VerifyingKey,
}

impl Drop for PlaybackKey {
    /// Wipe the scalar when the key goes (a new configuration replaces the old one), as ecdsa's
    /// `SigningKey` does. Copies made while signing (the nonce generator's input) are RustCrypto's.
    fn drop(&mut self) {
        use p384::elliptic_curve::zeroize::Zeroize;
        self.secret.zeroize();
    }
}

impl std::fmt::Debug for PlaybackKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlaybackKey").field("public", &self.public_key().fingerprint()).finish()
    }
}

impl PlaybackKey {
    /// Parse a private key from any accepted text form (see the module docs).
    pub fn parse(text: &str) -> Result<Self> {
        let text = text.trim();
        if text.is_empty() {
            return Err(Error::InvalidKey(format!("the key is empty; {GENERATE_HINT}")));
        }
        if text.contains("-----BEGIN ") {
            // Pasted as one line with `\n` written out (from a JSON value or an .env file): say so.
            if text.contains("\\n") && text.lines().count() == 1 {
                return Err(Error::InvalidKey(
                    "the PEM holds the two characters \\n where its line breaks should be (it was pasted as one line); store the file itself, with real line breaks (wrangler secret put NAME < private.pem)".into(),
                ));
            }
            return Self::from_pem(text);
        }
        // Not PEM: base64 of a PEM (the Secrets Manager recipe) or base64 of DER.
        let Some(decoded) = b64_decode_lenient(text) else {
            return Err(Error::InvalidKey(format!(
                "the key is neither PEM (-----BEGIN ...) nor base64; {GENERATE_HINT}"
            )));
        };
        match std::str::from_utf8(&decoded) {
            Ok(inner) if inner.contains("-----BEGIN ") => Self::from_pem(inner),
            _ => Self::from_der(&decoded),
        }
    }

    fn from_pem(text: &str) -> Result<Self> {
        let blocks = pem_blocks(text).map_err(Error::InvalidKey)?;
        let mut key = None;
        for block in &blocks {
            match block.label.as_str() {
                "EC PARAMETERS" => check_curve(Some(parse_oid(&block.der)?))?,
                "EC PRIVATE KEY" | "PRIVATE KEY" if key.is_some() => {
                    return Err(Error::InvalidKey(
                        "the PEM holds more than one private key; keep only the one IVS knows".into(),
                    ))
                }
                "EC PRIVATE KEY" => {
                    reject_legacy_encryption(block)?;
                    key = Some(Self::from_sec1_der(&block.der)?);
                }
                "PRIVATE KEY" => key = Some(Self::from_pkcs8_der(&block.der)?),
                other => return Err(Error::InvalidKey(describe_foreign_label(other))),
            }
        }
        key.ok_or_else(|| Error::InvalidKey(format!("the PEM holds no private key; {GENERATE_HINT}")))
    }

    fn from_der(der: &[u8]) -> Result<Self> {
        if PrivateKeyInfoRef::from_der(der).is_ok() {
            Self::from_pkcs8_der(der)
        } else if sec1::EcPrivateKey::from_der(der).is_ok() {
            Self::from_sec1_der(der)
        } else {
            Err(Error::InvalidKey(format!(
                "the key decodes from base64 but is neither PEM nor a PKCS#8 or SEC1 private key; {GENERATE_HINT}"
            )))
        }
    }

    /// Parse a PKCS#8 `PrivateKeyInfo` (DER).
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self> {
        let info = PrivateKeyInfoRef::from_der(der)
            .map_err(|_| Error::InvalidKey("the PRIVATE KEY block is not valid PKCS#8 DER".into()))?;
        let algorithm = info.algorithm.oid;
        if algorithm != OID_EC_PUBLIC_KEY {
            return Err(Error::InvalidKey(describe_foreign_algorithm(algorithm)));
        }
        check_curve(info.algorithm.parameters_oid().ok())?;
        Self::from_sec1_der(info.private_key.as_bytes())
    }

    /// Parse a SEC1 `ECPrivateKey` (DER). The embedded public key, when present, must match.
    pub fn from_sec1_der(der: &[u8]) -> Result<Self> {
        let sec1 = sec1::EcPrivateKey::from_der(der)
            .map_err(|_| Error::InvalidKey("the EC PRIVATE KEY block is not valid SEC1 DER".into()))?;
        check_curve(sec1.parameters.and_then(|p| p.named_curve()))?;
        let key = Self::from_scalar_bytes(sec1.private_key)?;
        if let Some(embedded) = sec1.public_key {
            // One point decode and compare; deriving the public key happened in from_scalar_bytes.
            let matches = VerifyingKey::from_sec1_bytes(embedded).map(|vk| vk == key.verifying).unwrap_or(false);
            if !matches {
                return Err(Error::InvalidKey(
                    "the key's embedded public key does not belong to its private scalar; the file is corrupt".into(),
                ));
            }
        }
        Ok(key)
    }

    /// A key from its big-endian scalar (at most 48 bytes; shorter inputs are left-padded).
    pub fn from_scalar_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.len() > SCALAR_LEN {
            return Err(Error::InvalidKey(format!(
                "the private scalar is {} bytes, a P-384 scalar is at most 48; the key is not P-384",
                bytes.len()
            )));
        }
        let mut padded = [0u8; SCALAR_LEN];
        padded[SCALAR_LEN - bytes.len()..].copy_from_slice(bytes);
        Self::from_secret_bytes(&padded)
            .ok_or_else(|| Error::InvalidKey("the private scalar is zero or not below the P-384 group order".into()))
    }

    /// A fresh key from 48 random bytes; `None` in the (2^-190) case that they are not a valid
    /// scalar, in which case the caller draws again. Randomness is the caller's, so this stays pure.
    pub fn from_random_bytes(bytes: &[u8; SCALAR_LEN]) -> Option<Self> {
        Self::from_secret_bytes(bytes)
    }

    /// `None` unless 0 < scalar < n.
    fn from_secret_bytes(bytes: &[u8; SCALAR_LEN]) -> Option<Self> {
        let secret = NonZeroScalar::from_repr((*bytes).into()).into_option()?;
        let (x, y) = comb::mul_base_affine(&secret.to_repr().into())?;
        let mut sec1 = [0u8; 1 + 2 * SCALAR_LEN];
        sec1[0] = 4; // uncompressed point
        sec1[1..49].copy_from_slice(&x);
        sec1[49..].copy_from_slice(&y);
        let verifying = VerifyingKey::from_sec1_bytes(&sec1).ok()?;
        Some(Self { secret, verifying })
    }

    /// The big-endian private scalar; crate-internal, for key derivation only.
    pub(crate) fn scalar_bytes(&self) -> [u8; SCALAR_LEN] {
        self.secret.to_repr().into()
    }

    /// ES384 signature of `message`: SHA-384, deterministic nonce (RFC 6979), raw `r || s`.
    ///
    /// Byte for byte what p384's `SigningKey::sign` returns (ecdsa 0.17's
    /// `sign_prehashed_rfc6979` with P-384's `NORMALIZE_S = false`, so no low-S step), with k·G
    /// done by the comb ([`comb`]) instead of p384's table: that multiplication is nearly all of a
    /// signature's cost. The signing code is `ivs-p384-sign`'s (`ivs_p384_sign::sign`).
    pub fn sign(&self, message: &[u8]) -> [u8; SIGNATURE_LEN] {
        ivs_p384_sign::sign(&self.secret, message)
    }

    /// ES384 signature of a SHA-384 digest (see [`Self::sign`]).
    pub fn sign_digest(&self, digest: &[u8; SCALAR_LEN]) -> [u8; SIGNATURE_LEN] {
        ivs_p384_sign::sign_digest(&self.secret, digest)
    }

    /// p384's own signature (its precomputed table for k·G), kept as the reference the comb's
    /// signatures are tested against.
    #[cfg(test)]
    pub(crate) fn sign_reference(&self, message: &[u8]) -> [u8; SIGNATURE_LEN] {
        use ecdsa::signature::Signer;
        let signature: Signature = SigningKey::from(self.secret).sign(message);
        signature.to_bytes().into()
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey { verifying: self.verifying }
    }

    /// SPKI PEM of the public key, the form `aws ivs import-playback-key-pair` takes.
    pub fn public_key_pem(&self) -> String {
        self.public_key().to_pem()
    }

    /// SEC1 `EC PRIVATE KEY` PEM with named-curve parameters, like `openssl ecparam -genkey -noout`.
    pub fn to_sec1_pem(&self) -> String {
        let point = self.verifying.as_affine().to_sec1_point(false);
        pem_encode("EC PRIVATE KEY", &sec1_der(&self.scalar_bytes(), point.as_bytes()))
    }

    /// PKCS#8 `PRIVATE KEY` PEM, the form the IVS console downloads.
    pub fn to_pkcs8_pem(&self) -> String {
        // Operator tooling only: ecdsa's key type derives the public key again (slowly), that is fine here.
        let der = SigningKey::from(self.secret).to_pkcs8_der().map(|d| d.as_bytes().to_vec()).unwrap_or_default();
        pem_encode("PRIVATE KEY", &der)
    }
}

/// A P-384 public key, used to verify tokens and to import into IVS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PublicKey {
    verifying: VerifyingKey,
}

impl PublicKey {
    /// Parse an SPKI `PUBLIC KEY` PEM (what `openssl ec -pubout` writes).
    pub fn parse_pem(text: &str) -> Result<Self> {
        let blocks = pem_blocks(text).map_err(Error::InvalidKey)?;
        let block = blocks
            .iter()
            .find(|b| b.label == "PUBLIC KEY")
            .ok_or_else(|| Error::InvalidKey("no `PUBLIC KEY` PEM block found".into()))?;
        let spki = pkcs8::spki::SubjectPublicKeyInfoRef::from_der(&block.der)
            .map_err(|_| Error::InvalidKey("the PUBLIC KEY block is not valid SPKI DER".into()))?;
        if spki.algorithm.oid != OID_EC_PUBLIC_KEY {
            return Err(Error::InvalidKey(describe_foreign_algorithm(spki.algorithm.oid)));
        }
        check_curve(spki.algorithm.parameters_oid().ok())?;
        let verifying = VerifyingKey::from_public_key_der(&block.der)
            .map_err(|_| Error::InvalidKey("the public key is not a valid P-384 point".into()))?;
        Ok(Self { verifying })
    }

    /// Whether `signature` (raw `r || s`) is a valid ES384 signature of `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        Signature::from_slice(signature).map(|sig| self.verifying.verify(message, &sig).is_ok()).unwrap_or(false)
    }

    /// SPKI DER.
    pub fn to_der(&self) -> Vec<u8> {
        self.verifying.to_public_key_der().map(|d| d.as_bytes().to_vec()).unwrap_or_default()
    }

    /// SPKI PEM.
    pub fn to_pem(&self) -> String {
        pem_encode("PUBLIC KEY", &self.to_der())
    }

    /// A short identifier for logs and key rotation: the first 16 bytes of SHA-256 over the
    /// SPKI DER, colon-separated hex. (IVS's own fingerprint algorithm is undocumented; this one
    /// is reproducible with `openssl pkey -pubin -outform DER | openssl dgst -sha256`.)
    pub fn fingerprint(&self) -> String {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(self.to_der());
        digest[..16].iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
    }
}

/// SEC1 `ECPrivateKey` DER: the scalar, the P-384 curve OID and the given public point.
fn sec1_der(scalar: &[u8], public_point: &[u8]) -> Vec<u8> {
    sec1::EcPrivateKey {
        private_key: scalar,
        parameters: Some(sec1::EcParameters::NamedCurve(OID_SECP384R1)),
        public_key: Some(public_point),
    }
    .to_der()
    .unwrap_or_default()
}

fn parse_oid(der: &[u8]) -> Result<ObjectIdentifier> {
    ObjectIdentifier::from_der(der)
        .map_err(|_| Error::InvalidKey("the EC PARAMETERS block is not a named-curve OID".into()))
}

fn check_curve(curve: Option<ObjectIdentifier>) -> Result<()> {
    match curve {
        None => Ok(()), // SEC1 inside PKCS#8 may omit it; the scalar length check still applies.
        Some(oid) if oid == OID_SECP384R1 => Ok(()),
        Some(oid) => Err(Error::InvalidKey(format!(
            "the key is on curve {}, but IVS playback keys are P-384 (secp384r1); {GENERATE_HINT}",
            curve_name(oid)
        ))),
    }
}

fn curve_name(oid: ObjectIdentifier) -> String {
    match oid.to_string().as_str() {
        "1.2.840.10045.3.1.7" => "P-256 (prime256v1)".into(),
        "1.3.132.0.35" => "P-521 (secp521r1)".into(),
        "1.3.132.0.10" => "secp256k1".into(),
        other => format!("OID {other}"),
    }
}

fn describe_foreign_algorithm(oid: ObjectIdentifier) -> String {
    let kind = if oid == OID_RSA || oid == OID_RSA_PSS {
        "an RSA key".to_owned()
    } else if oid == OID_ED25519 {
        "an Ed25519 key".to_owned()
    } else {
        format!("a key of algorithm OID {oid}")
    };
    format!("this is {kind}, but IVS playback keys are ECDSA P-384; {GENERATE_HINT}")
}

fn describe_foreign_label(label: &str) -> String {
    match label {
        "ENCRYPTED PRIVATE KEY" => "the key is encrypted; store it unencrypted (`openssl pkcs8 -topk8 -nocrypt -in KEY`) as a Worker secret, which is itself encrypted at rest".into(),
        "RSA PRIVATE KEY" => format!("this is an RSA key, but IVS playback keys are ECDSA P-384; {GENERATE_HINT}"),
        "PUBLIC KEY" => "this is a public key; the signer needs the private key (the public key is what IVS imports)".into(),
        "CERTIFICATE" => "this is a certificate, not a private key".into(),
        other => format!("unexpected PEM block {}; expected `EC PRIVATE KEY` or `PRIVATE KEY`", crate::encoding::shown_label(other)),
    }
}

fn reject_legacy_encryption(block: &PemBlock) -> Result<()> {
    if block.headers.iter().any(|h| h.contains("ENCRYPTED")) {
        return Err(Error::InvalidKey(
            "the key is encrypted (Proc-Type: 4,ENCRYPTED); decrypt it with `openssl ec -in KEY` and store the result"
                .into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoding::hex;

    /// The RFC 6979 A.2.6 private key, `x`.
    pub(crate) const RFC6979_X: &str =
        "6b9d3dad2e1b8c1c05b19875b6659f4de23c3b667bf297ba9aa47740787137d896d5724e4c70a825f872c9ea60d2edf5";

    fn unhex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    fn rfc_key() -> PlaybackKey {
        PlaybackKey::from_scalar_bytes(&unhex(RFC6979_X)).unwrap()
    }

    #[test]
    fn rfc6979_a_2_6_p384_sha384_vectors() {
        let key = rfc_key();
        assert_eq!(
            hex(&key.sign(b"sample")),
            "94edbb92a5ecb8aad4736e56c691916b3f88140666ce9fa73d64c4ea95ad133c81a648152e44acf96e36dd1e80fabe46\
             99ef4aeb15f178cea1fe40db2603138f130e740a19624526203b6351d0a3a94fa329c145786e679e7b82c71a38628ac8"
        );
        assert_eq!(
            hex(&key.sign(b"test")),
            "8203b63d3c853e8d77227fb377bcf7b7b772e97892a80f36ab775d509d7a5feb0542a7f0812998da8f1dd3ca3cf023db\
             ddd0760448d42d8a43af45af836fce4de8be06b485e9b61b827c2f13173923e06a739f040649a667bf3b828246baa5a5"
        );
    }

    #[test]
    fn rfc6979_a_2_6_public_key() {
        let point = rfc_key().verifying.as_affine().to_sec1_point(false);
        assert_eq!(
            hex(point.as_bytes()),
            "04ec3a4e415b4e19a4568618029f427fa5da9a8bc4ae92e02e06aae5286b300c64def8f0ea9055866064a254515480bc13\
             8015d9b72d7d57244ea8ef9ac0c621896708a59367f9dfb9f54ca84b3f1c9db1288b231c3ae0d4fe7344fd2533264720"
        );
    }

    #[test]
    fn signatures_equal_p384s_byte_for_byte() {
        let mut rng = ivs_p384_sign::testing::Rng(384);
        for i in 0..200u32 {
            let key = PlaybackKey::from_scalar_bytes(&ivs_p384_sign::testing::random_scalar(&mut rng))
                .unwrap_or_else(|_| rfc_key());
            let message = format!("header.payload-{i}");
            let signature = key.sign(message.as_bytes());
            assert_eq!(signature, key.sign_reference(message.as_bytes()), "message {i}");
            assert!(key.public_key().verify(message.as_bytes(), &signature));
        }
    }

    #[test]
    fn sign_then_verify_and_tamper() {
        let key = rfc_key();
        let public = key.public_key();
        let sig = key.sign(b"payload");
        assert!(public.verify(b"payload", &sig));
        assert!(!public.verify(b"payloae", &sig));
        let mut bad = sig;
        bad[10] ^= 1;
        assert!(!public.verify(b"payload", &bad));
        assert!(!public.verify(b"payload", &sig[..95]));
    }

    #[test]
    fn pem_forms_round_trip() {
        let key = rfc_key();
        let sec1 = key.to_sec1_pem();
        let pkcs8 = key.to_pkcs8_pem();
        assert!(sec1.starts_with("-----BEGIN EC PRIVATE KEY-----\n"));
        assert!(pkcs8.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        for text in [&sec1, &pkcs8] {
            let parsed = PlaybackKey::parse(text).unwrap();
            assert_eq!(parsed.public_key(), key.public_key());
            // CRLF and base64-of-PEM (the Secrets Manager recipe) are the same key.
            let crlf = text.replace('\n', "\r\n");
            assert_eq!(PlaybackKey::parse(&crlf).unwrap().public_key(), key.public_key());
            let wrapped = <base64ct::Base64 as base64ct::Encoding>::encode_string(text.as_bytes());
            assert_eq!(PlaybackKey::parse(&wrapped).unwrap().public_key(), key.public_key());
        }
        let public = PublicKey::parse_pem(&key.public_key_pem()).unwrap();
        assert_eq!(public, key.public_key());
    }

    #[test]
    fn ec_parameters_block_is_accepted_when_p384_and_refused_otherwise() {
        let key = rfc_key();
        let params = pem_encode("EC PARAMETERS", &OID_SECP384R1.to_der().unwrap());
        let with_params = format!("{params}{}", key.to_sec1_pem());
        assert_eq!(PlaybackKey::parse(&with_params).unwrap().public_key(), key.public_key());

        let p256 = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
        let wrong = format!("{}{}", pem_encode("EC PARAMETERS", &p256.to_der().unwrap()), key.to_sec1_pem());
        let err = PlaybackKey::parse(&wrong).unwrap_err().to_string();
        assert!(err.contains("P-256"), "{err}");
    }

    #[test]
    fn refusals_say_why_and_never_echo_the_key() {
        let cases = [
            ("", "empty"),
            ("not a key at all!", "neither PEM"),
            ("-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----", "encrypted"),
            ("-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----", "RSA"),
            ("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----", "public key"),
            ("-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----", "not valid SEC1"),
            ("-----BEGIN EC PRIVATE KEY-----\nAAAA\n", "no matching END"),
            ("aGVsbG8gd29ybGQ=", "neither PEM nor a PKCS#8"),
            // Issue 24: a PEM pasted as one line, its line breaks written out as `\n`.
            ("-----BEGIN EC PRIVATE KEY-----\\nAAAA\\n-----END EC PRIVATE KEY-----", "the two characters \\n"),
        ];
        for (input, expected) in cases {
            let err = PlaybackKey::parse(input).unwrap_err().to_string();
            assert!(err.contains(expected), "{input:?} -> {err}");
            assert!(!err.contains("AAAA"));
        }
    }

    #[test]
    fn scalar_bounds() {
        assert!(PlaybackKey::from_scalar_bytes(&[0u8; 48]).is_err());
        assert!(PlaybackKey::from_scalar_bytes(&[0xffu8; 48]).is_err(), "above the group order");
        assert!(PlaybackKey::from_scalar_bytes(&[1u8; 49]).is_err());
        let short = PlaybackKey::from_scalar_bytes(&[7u8; 47]).unwrap();
        let mut padded = [7u8; 48];
        padded[0] = 0;
        assert_eq!(short.public_key(), PlaybackKey::from_scalar_bytes(&padded).unwrap().public_key());
    }

    #[test]
    fn mismatched_embedded_public_key_is_refused() {
        let key = rfc_key();
        let other = PlaybackKey::from_scalar_bytes(&[9u8; 48]).unwrap();
        let point = other.verifying.as_affine().to_sec1_point(false);
        let der = sec1_der(&key.scalar_bytes(), point.as_bytes());
        let err = PlaybackKey::from_sec1_der(&der).unwrap_err().to_string();
        assert!(err.contains("does not belong"), "{err}");
    }

    #[test]
    fn debug_does_not_print_the_scalar() {
        let text = format!("{:?}", rfc_key());
        assert!(!text.to_lowercase().contains("6b9d3dad"));
        assert!(text.contains("PlaybackKey"));
    }
}
