//! Test helpers: a reproducible PRNG, the edge scalars, p384's k·G as the reference, hex.

use p384::elliptic_curve::bigint::U384;
use p384::elliptic_curve::ops::Reduce;
use p384::elliptic_curve::sec1::ToSec1Point;
use p384::elliptic_curve::Curve;

/// splitmix64: deterministic, so every failure reproduces from its seed.
pub struct Rng(pub u64);
impl Rng {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// 384 random bits (values >= n included: the comb must handle every 384-bit input).
pub fn random_scalar(rng: &mut Rng) -> [u8; 48] {
    let mut k = [0u8; 48];
    for chunk in k.chunks_mut(8) {
        chunk.copy_from_slice(&rng.next_u64().to_be_bytes());
    }
    k
}

fn be(x: &U384) -> [u8; 48] {
    x.to_be_bytes().into()
}

/// 0, 1, 2, n-1, n-2, n, n+1, (n±1)/2, 2^384-1, and 2^k, 2^k±1 for every k < 384.
pub fn edge_scalars() -> Vec<[u8; 48]> {
    let n: U384 = *p384::NistP384::ORDER;
    let one = U384::ONE;
    let half = n.shr_vartime(1); // (n-1)/2, n is odd
    let mut out: Vec<[u8; 48]> = [
        U384::ZERO,
        one,
        one.wrapping_add(&one),
        n.wrapping_sub(&one),
        n.wrapping_sub(&one).wrapping_sub(&one),
        n,
        n.wrapping_add(&one),
        half,
        half.wrapping_add(&one),
        U384::MAX,
    ]
    .iter()
    .map(be)
    .collect();
    for k in 0..384 {
        let p = one.shl_vartime(k);
        out.extend([be(&p), be(&p.wrapping_add(&one)), be(&p.wrapping_sub(&one))]);
    }
    out
}

/// p384's (k mod n)·G as affine big-endian (x, y); `None` for the identity.
pub fn p384_mul_base(k: &[u8; 48]) -> Option<([u8; 48], [u8; 48])> {
    let scalar = <p384::Scalar as Reduce<U384>>::reduce(&U384::from_be_slice(k));
    let point = (p384::ProjectivePoint::GENERATOR * scalar).to_affine();
    let encoded = point.to_sec1_point(false);
    let bytes = encoded.as_bytes();
    (bytes.len() == 97).then(|| (bytes[1..49].try_into().unwrap(), bytes[49..97].try_into().unwrap()))
}

/// Lowercase hex, for failure messages and the RFC vectors.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
