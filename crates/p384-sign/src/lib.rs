//! ES384 signing for ivs-token-worker: the signature's hot path, as a crate of its own.
//!
//! What is here: the fixed-base comb for k·G ([`comb`]), the P-384 field arithmetic it runs on
//! (twelve 32-bit limbs, tuned for wasm32), and [`sign_digest`] / [`sign`], the deterministic
//! (RFC 6979) ES384 signature built on them, byte for byte what p384's `SigningKey::sign` returns.
//! The worker reaches all of it through `ivs_token_worker::key` (`PlaybackKey::sign`, and
//! `key::comb`, re-exported there so benches, fuzz targets and examples keep their paths).
//!
//! Why a separate crate: the opt-level. The worker's release build is for size (opt-level `z`),
//! except the crates a signature spends its time in, which the root Cargo.toml builds at
//! opt-level 3 (`[profile.release.package.*]`). A per-package opt-level only reaches code that
//! is generated in that package: under fat LTO the LTO pipeline itself runs at the root crate's
//! level, and generic code (crypto-bigint's arithmetic behind the scalar inversions, the
//! nonce's HMAC) is generated in the crate that instantiates it. Inside the worker crate, the comb
//! and the signature would be compiled for size; here they keep opt-level 3. Measured on the
//! worker at 5645dd1 with this crate split out: wasm gzip -9 649,628 bytes at opt-level 3
//! throughout, 535,596 with this layout, and the ES384 signature in workerd 230 -> 227 µs (bench
//! builds, medians of 40 interleaved rounds; BENCHMARKS.md, Size and build).
//!
//! Constant time: no branch or memory index depends on the nonce or the key (see [`comb`] and the
//! field module; `make test-ct` checks the comb under valgrind).

#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod comb;
mod field;

/// Test helpers, shared with the worker's own tests (feature `testing`, a dev-dependency there).
#[cfg(any(test, feature = "testing"))]
#[doc(hidden)]
pub mod testing;

use p384::ecdsa::Signature;
use p384::elliptic_curve::PrimeField;
use p384::NonZeroScalar;

/// Length of a P-384 scalar, of a SHA-384 digest and of each half of an ES384 signature.
pub const SCALAR_LEN: usize = 48;
/// Length of an ES384 signature: `r || s`.
pub const SIGNATURE_LEN: usize = 2 * SCALAR_LEN;

/// ES384 signature of `message` under the secret scalar `d`: SHA-384, deterministic nonce
/// (RFC 6979), raw `r || s`.
///
/// Byte for byte what p384's `SigningKey::sign` returns (ecdsa 0.17's `sign_prehashed_rfc6979`
/// with P-384's `NORMALIZE_S = false`, so no low-S step), with k·G done by the comb ([`comb`])
/// instead of p384's table: that multiplication is nearly all of a signature's cost.
pub fn sign(d: &NonZeroScalar, message: &[u8]) -> [u8; SIGNATURE_LEN] {
    use sha2::Digest;
    let digest: [u8; SCALAR_LEN] = sha2::Sha384::digest(message).into();
    sign_digest(d, &digest)
}

/// ES384 signature of a SHA-384 digest under the secret scalar `d` (see [`sign`]).
pub fn sign_digest(d: &NonZeroScalar, digest: &[u8; SCALAR_LEN]) -> [u8; SIGNATURE_LEN] {
    use p384::elliptic_curve::bigint::U384;
    use p384::elliptic_curve::ops::{Invert, Reduce};
    use p384::elliptic_curve::Curve;
    use p384::{NistP384, Scalar};
    let order = NistP384::ORDER;
    let mut kgen = rfc6979::KGenerator::<sha2::Sha384, U384>::new(&d.to_repr(), digest, &[], &order);
    // z: the digest (48 bytes = the order's size) reduced mod n, as ecdsa's bytes2scalar does.
    let z = <Scalar as Reduce<U384>>::reduce(&U384::from_be_slice(digest));
    loop {
        let mut k_bytes = [0u8; SCALAR_LEN];
        kgen.fill_next_k(&mut k_bytes);
        let Some(k) = NonZeroScalar::from_repr(k_bytes.into()).into_option() else { continue };
        let Some((x, _)) = comb::mul_base_affine(&k_bytes) else { continue };
        let r = <Scalar as Reduce<U384>>::reduce(&U384::from_be_slice(&x));
        let s = *Invert::invert(&k) * (z + r * d.as_ref());
        // Signature::from_scalars refuses r = 0 or s = 0; ecdsa then draws the next k too.
        if let Ok(signature) = Signature::from_scalars(r, s) {
            return signature.to_bytes().into();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{hex, random_scalar, Rng};

    /// The RFC 6979 A.2.6 private key, `x`.
    const RFC6979_X: &str =
        "6b9d3dad2e1b8c1c05b19875b6659f4de23c3b667bf297ba9aa47740787137d896d5724e4c70a825f872c9ea60d2edf5";

    fn scalar(bytes: [u8; SCALAR_LEN]) -> Option<NonZeroScalar> {
        NonZeroScalar::from_repr(bytes.into()).into_option()
    }

    fn rfc_key() -> NonZeroScalar {
        let mut bytes = [0u8; SCALAR_LEN];
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&RFC6979_X[2 * i..2 * i + 2], 16).unwrap();
        }
        scalar(bytes).unwrap()
    }

    #[test]
    fn rfc6979_a_2_6_p384_sha384_vectors() {
        let d = rfc_key();
        assert_eq!(
            hex(&sign(&d, b"sample")),
            "94edbb92a5ecb8aad4736e56c691916b3f88140666ce9fa73d64c4ea95ad133c81a648152e44acf96e36dd1e80fabe46\
             99ef4aeb15f178cea1fe40db2603138f130e740a19624526203b6351d0a3a94fa329c145786e679e7b82c71a38628ac8"
        );
        assert_eq!(
            hex(&sign(&d, b"test")),
            "8203b63d3c853e8d77227fb377bcf7b7b772e97892a80f36ab775d509d7a5feb0542a7f0812998da8f1dd3ca3cf023db\
             ddd0760448d42d8a43af45af836fce4de8be06b485e9b61b827c2f13173923e06a739f040649a667bf3b828246baa5a5"
        );
    }

    #[test]
    fn signatures_equal_p384s_byte_for_byte() {
        use p384::ecdsa::signature::{Signer, Verifier};
        use p384::ecdsa::SigningKey;
        let mut rng = Rng(384);
        for i in 0..200u32 {
            let d = scalar(random_scalar(&mut rng)).unwrap_or_else(rfc_key);
            let message = format!("header.payload-{i}");
            let signature = sign(&d, message.as_bytes());
            let key = SigningKey::from(d);
            let reference: Signature = key.sign(message.as_bytes());
            assert_eq!(signature, <[u8; SIGNATURE_LEN]>::from(reference.to_bytes()), "message {i}");
            let parsed = Signature::from_slice(&signature).unwrap();
            assert!(key.verifying_key().verify(message.as_bytes(), &parsed).is_ok());
        }
    }

    #[test]
    fn sign_is_sign_digest_of_the_sha384() {
        use sha2::Digest;
        let d = rfc_key();
        let digest: [u8; SCALAR_LEN] = sha2::Sha384::digest(b"payload").into();
        assert_eq!(sign(&d, b"payload"), sign_digest(&d, &digest));
    }
}
