//! Fixed-base scalar multiplication k·G for ECDSA signing: a signed-digit comb over affine tables.
//!
//! The 384-bit scalar is cut into `WINDOWS` windows of `WINDOW` bits, each recoded to a signed digit
//! d_i in [-2^(W-1), 2^(W-1)], so that k = Σ d_i·2^(W·i). Window i has its own table of the affine
//! points j·2^(W·i)·G for j = 1..=2^(W-1), so k·G is one complete mixed addition per window and no
//! doubling at all (p384's own table needs about 97 projective additions and 4 doublings).
//!
//! Secret-independence (the scalar is the ECDSA nonce): the recoding is arithmetic only; every
//! lookup reads every entry of the window and keeps one with masks on the raw Montgomery words; the
//! sign is applied with a masked select; a zero digit still performs the addition and then keeps
//! the old sum with a masked select. `make test-ct` checks this with valgrind (the worker's
//! `examples/ct_valgrind.rs`).

use crate::field::{self, Fe};
use std::sync::OnceLock;

/// Bits per window (chosen by measurement; see the worker's BENCHMARKS.md).
pub const WINDOW: usize = 7;
/// Windows: the top one holds the recoding's final carry.
pub const WINDOWS: usize = 384 / WINDOW + 1;
/// Table entries per window: the magnitudes 1..=2^(W-1).
pub const ENTRIES: usize = 1 << (WINDOW - 1);

/// One affine table point as 64-bit words (x then y, Montgomery form): the scan moves whole
/// words, and wasm has 64-bit and/or.
type Entry = [u64; 12];

/// The precomputed table: `WINDOWS * ENTRIES` affine points.
pub struct Table {
    entries: Vec<Entry>,
}

/// A point in projective coordinates (X:Y:Z), x = X/Z, y = Y/Z; the identity is (0:1:0).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Projective {
    pub x: Fe,
    pub y: Fe,
    pub z: Fe,
}

impl Projective {
    const IDENTITY: Self = Self { x: field::ZERO, y: field::ONE, z: field::ZERO };

    fn select(mask: u32, a: &Self, b: &Self) -> Self {
        Self {
            x: field::select(mask, &a.x, &b.x),
            y: field::select(mask, &a.y, &b.y),
            z: field::select(mask, &a.z, &b.z),
        }
    }

    /// Complete mixed addition self + (x2, y2), Renes-Costello-Batina 2015 Algorithm 5 (a = -3):
    /// correct for every projective input including the identity and doubling; (x2, y2) must be a
    /// curve point (never the identity, which has no affine form).
    pub(crate) fn add_affine(&self, x2: &Fe, y2: &Fe) -> Self {
        use field::{add, double, mul, sub};
        let (x1, y1, z1) = (&self.x, &self.y, &self.z);
        let xx = mul(x1, x2);
        let yy = mul(y1, y2);
        let xy_pairs = sub(&mul(&add(x1, y1), &add(x2, y2)), &add(&xx, &yy));
        let yz_pairs = add(&mul(y2, z1), y1);
        let xz_pairs = add(&mul(x2, z1), x1);
        let bz_part = sub(&xz_pairs, &mul(&field::B, z1));
        let bz3_part = add(&double(&bz_part), &bz_part);
        let yy_m_bzz3 = sub(&yy, &bz3_part);
        let yy_p_bzz3 = add(&yy, &bz3_part);
        let z3 = add(&double(z1), z1);
        let bxz_part = sub(&mul(&field::B, &xz_pairs), &add(&z3, &xx));
        let bxz3_part = add(&double(&bxz_part), &bxz_part);
        let xx3_m_zz3 = sub(&add(&double(&xx), &xx), &z3);
        Self {
            x: sub(&mul(&yy_p_bzz3, &xy_pairs), &mul(&yz_pairs, &bxz3_part)),
            y: add(&mul(&yy_p_bzz3, &yy_m_bzz3), &mul(&xx3_m_zz3, &bxz3_part)),
            z: add(&mul(&yy_m_bzz3, &yz_pairs), &mul(&xy_pairs, &xx3_m_zz3)),
        }
    }

    /// Affine (x, y) as Montgomery elements; `None` for the identity.
    #[allow(
        clippy::wrong_self_convention,
        reason = "a 144-byte point: taken by reference like every other point operation"
    )]
    pub(crate) fn to_affine(&self) -> Option<(Fe, Fe)> {
        if self.z == field::ZERO {
            return None; // public fact: only k = 0 mod n gives the identity
        }
        let inv = field::invert(&self.z);
        Some((field::mul(&self.x, &inv), field::mul(&self.y, &inv)))
    }
}

fn pack(x: &Fe, y: &Fe) -> Entry {
    let mut e = [0u64; 12];
    for i in 0..6 {
        e[i] = u64::from(x[2 * i]) | (u64::from(x[2 * i + 1]) << 32);
        e[6 + i] = u64::from(y[2 * i]) | (u64::from(y[2 * i + 1]) << 32);
    }
    e
}

fn unpack(e: &Entry) -> (Fe, Fe) {
    let (mut x, mut y) = ([0u32; 12], [0u32; 12]);
    for i in 0..6 {
        x[2 * i] = e[i] as u32;
        x[2 * i + 1] = (e[i] >> 32) as u32;
        y[2 * i] = e[6 + i] as u32;
        y[2 * i + 1] = (e[6 + i] >> 32) as u32;
    }
    (x, y)
}

/// Normalize projective points to affine with one inversion (Montgomery's trick).
fn batch_to_affine(points: &[Projective]) -> Vec<(Fe, Fe)> {
    let mut prefix = Vec::with_capacity(points.len());
    let mut acc = field::ONE;
    for p in points {
        acc = field::mul(&acc, &p.z);
        prefix.push(acc);
    }
    let mut inv = field::invert(&acc);
    let mut out = vec![(field::ZERO, field::ZERO); points.len()];
    for i in (0..points.len()).rev() {
        let z_inv = if i == 0 { inv } else { field::mul(&inv, &prefix[i - 1]) };
        inv = field::mul(&inv, &points[i].z);
        out[i] = (field::mul(&points[i].x, &z_inv), field::mul(&points[i].y, &z_inv));
    }
    out
}

impl Table {
    /// Build the table from the generator (public data only; about 3,500 mixed additions).
    pub fn build() -> Self {
        use p384::elliptic_curve::sec1::ToSec1Point;
        let generator = p384::AffinePoint::GENERATOR.to_sec1_point(false);
        let coordinate = |range: std::ops::Range<usize>| -> Fe {
            let bytes: [u8; 48] = generator.as_bytes()[range].try_into().expect("48 bytes");
            field::from_be_bytes(&bytes).expect("the generator's coordinates are below p")
        };
        let mut base = (coordinate(1..49), coordinate(49..97));
        let mut entries = Vec::with_capacity(WINDOWS * ENTRIES);
        let mut window = Vec::with_capacity(ENTRIES);
        for _ in 0..WINDOWS {
            // j·B for j = 1..=ENTRIES, then 2^W·B = 2·(ENTRIES·B) as the next window's base.
            window.clear();
            let mut point = Projective { x: base.0, y: base.1, z: field::ONE };
            window.push(point);
            for _ in 1..ENTRIES {
                point = point.add_affine(&base.0, &base.1);
                window.push(point);
            }
            let affine = batch_to_affine(&window);
            entries.extend(affine.iter().map(|(x, y)| pack(x, y)));
            let (hx, hy) = affine[ENTRIES - 1];
            base = window[ENTRIES - 1].add_affine(&hx, &hy).to_affine().expect("2^W·B is not the identity");
        }
        Self { entries }
    }

    /// Heap bytes held by the table.
    pub fn size_bytes(&self) -> usize {
        self.entries.len() * std::mem::size_of::<Entry>()
    }

    /// k·G for a big-endian 384-bit `k` (any value; the result is (k mod n)·G), in projective form.
    pub(crate) fn mul_base(&self, k: &[u8; 48]) -> Projective {
        let digits = recode(k);
        let mut acc = Projective::IDENTITY;
        for (i, &digit) in digits.iter().enumerate() {
            // digit = sign bit (bit 8) | magnitude; split without branching.
            let magnitude = u64::from(digit & 0xff);
            let negative = std::hint::black_box(0u32.wrapping_sub(u32::from(digit >> 8)));
            let (x, y) = unpack(&self.scan(i, magnitude));
            let y = field::select(negative, &field::neg(&y), &y);
            let sum = acc.add_affine(&x, &y);
            // A zero digit adds nothing: keep acc (the addition above used a dummy all-zero point).
            let zero = std::hint::black_box(0u32.wrapping_sub((magnitude.wrapping_sub(1) >> 63) as u32));
            acc = Projective::select(zero, &acc, &sum);
        }
        acc
    }

    /// Entry `magnitude` (1-based) of window `window`, reading every entry; all zero for 0.
    #[inline(always)]
    fn scan(&self, window: usize, magnitude: u64) -> Entry {
        let mut out = [0u64; 12];
        let row = &self.entries[window * ENTRIES..(window + 1) * ENTRIES];
        for (j, entry) in row.iter().enumerate() {
            // All ones exactly when magnitude == j + 1; black_box keeps the compiler from turning
            // the mask back into a branch or an indexed load.
            let equal = (magnitude ^ (j as u64 + 1)).wrapping_sub(1) >> 63;
            let mask = std::hint::black_box(0u64.wrapping_sub(equal));
            for (o, w) in out.iter_mut().zip(entry) {
                *o |= w & mask;
            }
        }
        out
    }
}

/// Signed digits of `k` (big-endian), least significant window first, each encoded as
/// `sign << 8 | magnitude` with magnitude <= 2^(W-1). Arithmetic only: no branch on `k`.
#[allow(
    clippy::needless_range_loop,
    reason = "the limb index is also the byte offset; the loop stays as written in constant-time code"
)]
pub(crate) fn recode(k: &[u8; 48]) -> [u16; WINDOWS] {
    let mut limbs = [0u32; 13]; // little-endian, one zero limb on top for the last window
    for i in 0..12 {
        let at = 48 - 4 * (i + 1);
        limbs[i] = u32::from_be_bytes([k[at], k[at + 1], k[at + 2], k[at + 3]]);
    }
    let mut digits = [0u16; WINDOWS];
    let mut carry = 0u32;
    for (i, digit) in digits.iter_mut().enumerate() {
        let bit = i * WINDOW; // public position
        let pair = u64::from(limbs[bit / 32]) | (u64::from(limbs[(bit / 32 + 1).min(12)]) << 32);
        let bits = ((pair >> (bit % 32)) as u32) & ((1 << WINDOW) - 1);
        let value = bits + carry; // 0..=2^W
                                  // value > 2^(W-1) becomes value - 2^W (negative) and carries one into the next window.
        carry = (value + (1 << (WINDOW - 1)) - 1) >> WINDOW;
        let signed = value as i32 - ((carry as i32) << WINDOW);
        let sign = (signed >> 31) as u32 & 1;
        let magnitude = ((signed ^ -(sign as i32)) + sign as i32) as u32;
        *digit = ((sign << 8) | magnitude) as u16;
    }
    digits
}

/// The process-wide table, built on first use (the Workers layer builds it at isolate startup).
pub fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(Table::build)
}

/// k·G in projective form as raw Montgomery limbs (X, Y, Z): the constant-time check
/// (`examples/ct_valgrind.rs`) runs exactly the secret-dependent part of signing through this.
#[doc(hidden)]
pub fn mul_base_projective_limbs(table: &Table, k: &[u8; 48]) -> [[u32; 12]; 3] {
    let p = table.mul_base(k);
    [p.x, p.y, p.z]
}

/// Affine x and y (big-endian) of k·G; `None` when k ≡ 0 (mod n).
pub fn mul_base_affine(k: &[u8; 48]) -> Option<([u8; 48], [u8; 48])> {
    let (x, y) = table().mul_base(k).to_affine()?;
    Some((field::to_be_bytes(&x), field::to_be_bytes(&y)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{edge_scalars, hex, p384_mul_base, random_scalar, Rng};

    fn check(k: &[u8; 48]) {
        assert_eq!(mul_base_affine(k), p384_mul_base(k), "k = {}", hex(k));
    }

    #[test]
    fn recoding_sums_back_to_the_scalar() {
        use p384::elliptic_curve::bigint::U384;
        let mut rng = Rng(7);
        for i in 0..2000 {
            let k = if i == 0 { [0xff; 48] } else { random_scalar(&mut rng) };
            let digits = recode(&k);
            // Σ d_i·2^(W·i) over the integers, split into positive and negative parts.
            let (mut pos, mut negs) = (U384::ZERO, U384::ZERO);
            for (w, &d) in digits.iter().enumerate().rev() {
                assert!(u32::from(d & 0xff) <= 1 << (WINDOW - 1));
                let term = U384::from_u32(u32::from(d & 0xff)).shl_vartime((w * WINDOW) as u32);
                if d >> 8 == 1 {
                    negs = negs.wrapping_add(&term)
                } else {
                    pos = pos.wrapping_add(&term)
                }
            }
            assert_eq!(pos.wrapping_sub(&negs), U384::from_be_slice(&k));
        }
    }

    #[test]
    fn edge_scalars_match_p384() {
        for k in edge_scalars() {
            check(&k);
        }
    }

    #[test]
    fn random_scalars_match_p384_quick() {
        let mut rng = Rng(2026);
        for _ in 0..500 {
            check(&random_scalar(&mut rng));
        }
    }

    /// The full differential run (`make test-comb` runs it in release mode).
    #[test]
    #[ignore = "100,000 scalars: run with `cargo test --release -p ivs-p384-sign -- --ignored`"]
    fn random_scalars_match_p384_100k() {
        let mut rng = Rng(0x1f_2026);
        for _ in 0..100_000 {
            check(&random_scalar(&mut rng));
        }
    }

    #[test]
    fn table_size() {
        assert_eq!(table().size_bytes(), WINDOWS * ENTRIES * 96);
    }
}
