//! The fixed-base comb's k·G (`key::comb`, what signing and public-key derivation use) against
//! p384's own scalar multiplication, for every 48-byte input (values >= n included: the comb
//! must reduce them as p384 does).
#![no_main]
use ivs_token_worker::key::comb;
use libfuzzer_sys::fuzz_target;
use p384::elliptic_curve::bigint::U384;
use p384::elliptic_curve::ops::Reduce;
use p384::elliptic_curve::sec1::ToSec1Point;

/// p384's (k mod n)·G as affine big-endian (x, y); `None` for the identity.
fn reference(k: &[u8; 48]) -> Option<([u8; 48], [u8; 48])> {
    let scalar = <p384::Scalar as Reduce<U384>>::reduce(&U384::from_be_slice(k));
    let point = (p384::ProjectivePoint::GENERATOR * scalar).to_affine();
    let encoded = point.to_sec1_point(false);
    let bytes = encoded.as_bytes();
    (bytes.len() == 97).then(|| (bytes[1..49].try_into().unwrap(), bytes[49..97].try_into().unwrap()))
}

fuzz_target!(|data: &[u8]| {
    let Ok(k) = <[u8; 48]>::try_from(data) else { return };
    assert_eq!(comb::mul_base_affine(&k), reference(&k), "k = {k:02x?}");
});
