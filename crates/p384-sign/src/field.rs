//! Arithmetic modulo the P-384 prime p = 2^384 - 2^128 - 2^96 + 2^32 - 1, tuned for wasm32.
//!
//! Elements are twelve 32-bit limbs (little-endian) in Montgomery form (a·2^384 mod p). Limbs are
//! 32 bits because wasm has a native 32x32->64 multiply (`i64.mul` of zero-extended halves) but no
//! 64x64->128 one, which crypto-bigint's 64-bit limbs have to emulate on wasm32. Because
//! p ≡ -1 (mod 2^32), the Montgomery factor -p^-1 mod 2^32 is 1, and p's limbs 0, 0 and 0xffffffff
//! turn the reduction's multiplications into constants the compiler folds (the special form of p).
//!
//! Everything here is constant time: no branch or memory index depends on an element's value.
//! Only what the comb (`crate::comb`) needs is here; inversion uses crypto-bigint's constant-time
//! safegcd on canonical values.

/// A field element in Montgomery form, every limb fully reduced (value < p).
pub(crate) type Fe = [u32; 12];

/// p, little-endian limbs.
pub(crate) const P: Fe = [
    0xffff_ffff,
    0,
    0,
    0xffff_ffff,
    0xffff_fffe,
    0xffff_ffff,
    0xffff_ffff,
    0xffff_ffff,
    0xffff_ffff,
    0xffff_ffff,
    0xffff_ffff,
    0xffff_ffff,
];
/// 2^768 mod p: `mul(a, R2)` puts a canonical value into Montgomery form.
const R2: Fe = [1, 0xffff_fffe, 0, 2, 0, 0xffff_fffe, 0, 2, 1, 0, 0, 0];
/// 1 in Montgomery form (2^384 mod p).
pub(crate) const ONE: Fe = [1, 0xffff_ffff, 0xffff_ffff, 0, 1, 0, 0, 0, 0, 0, 0, 0];
/// The curve's b coefficient in Montgomery form.
pub(crate) const B: Fe = [
    0x9d41_2dcc,
    0x0811_8871,
    0x7a4c_32ec,
    0xf729_add8,
    0x1920_022e,
    0x77f2_209b,
    0x9493_8ae2,
    0xe337_4bee,
    0x1f02_2094,
    0xb62b_21f4,
    0x604f_bff9,
    0xcd08_114b,
];
/// Zero (the same in both forms).
pub(crate) const ZERO: Fe = [0; 12];

/// Subtract p from the 13-limb value `t` (t < 2p) when t >= p, without branching.
#[inline(always)]
fn reduce_once(t: &[u32; 12], top: u32) -> Fe {
    let mut d = [0u32; 12];
    let mut borrow = 0u64; // 0 or 1
    for i in 0..12 {
        let v = u64::from(t[i]).wrapping_sub(u64::from(P[i])).wrapping_sub(borrow);
        d[i] = v as u32;
        borrow = (v >> 63) & 1;
    }
    // t - p is negative exactly when the top limb cannot cover the final borrow.
    let negative = u64::from(top).wrapping_sub(borrow) >> 63;
    // black_box: without it LLVM turns this select into a branch (valgrind caught it: `ja`).
    let keep = std::hint::black_box(0u32.wrapping_sub(negative as u32)); // all ones: keep t
    let mut r = [0u32; 12];
    for i in 0..12 {
        r[i] = (t[i] & keep) | (d[i] & !keep);
    }
    r
}

/// a·b·2^-384 mod p (Montgomery multiplication, coarsely integrated operand scanning).
#[inline]
#[allow(
    clippy::needless_range_loop,
    reason = "the operand-scanning schedule reads clearest by index; constant-time code keeps its measured shape"
)]
pub(crate) fn mul(a: &Fe, b: &Fe) -> Fe {
    let mut t = [0u32; 12];
    let mut t12 = 0u32;
    for i in 0..12 {
        // t += a * b[i]
        let bi = u64::from(b[i]);
        let mut carry = 0u64;
        for j in 0..12 {
            let v = u64::from(t[j]) + u64::from(a[j]) * bi + carry;
            t[j] = v as u32;
            carry = v >> 32;
        }
        let v = u64::from(t12) + carry;
        t12 = v as u32;
        let t13 = (v >> 32) as u32;
        // t = (t + m·p) / 2^32 with m = t[0] (because -p^-1 mod 2^32 = 1).
        let m = u64::from(t[0]);
        let mut carry = (u64::from(t[0]) + m * u64::from(P[0])) >> 32;
        for j in 1..12 {
            let v = u64::from(t[j]) + m * u64::from(P[j]) + carry;
            t[j - 1] = v as u32;
            carry = v >> 32;
        }
        let v = u64::from(t12) + carry;
        t[11] = v as u32;
        t12 = t13 + (v >> 32) as u32;
    }
    reduce_once(&t, t12)
}

/// a + b mod p.
#[inline]
pub(crate) fn add(a: &Fe, b: &Fe) -> Fe {
    let mut t = [0u32; 12];
    let mut carry = 0u64;
    for i in 0..12 {
        let v = u64::from(a[i]) + u64::from(b[i]) + carry;
        t[i] = v as u32;
        carry = v >> 32;
    }
    reduce_once(&t, carry as u32)
}

/// a - b mod p.
#[inline]
pub(crate) fn sub(a: &Fe, b: &Fe) -> Fe {
    let mut d = [0u32; 12];
    let mut borrow = 0u64;
    for i in 0..12 {
        let v = u64::from(a[i]).wrapping_sub(u64::from(b[i])).wrapping_sub(borrow);
        d[i] = v as u32;
        borrow = (v >> 63) & 1;
    }
    // Add p back when the difference went negative.
    let mask = std::hint::black_box(0u32.wrapping_sub(borrow as u32));
    let mut carry = 0u64;
    for i in 0..12 {
        let v = u64::from(d[i]) + u64::from(P[i] & mask) + carry;
        d[i] = v as u32;
        carry = v >> 32;
    }
    d
}

/// 2a mod p.
#[inline]
pub(crate) fn double(a: &Fe) -> Fe {
    add(a, a)
}

/// -a mod p (0 stays 0).
#[inline]
pub(crate) fn neg(a: &Fe) -> Fe {
    sub(&ZERO, a)
}

/// `a` where `mask` is all ones, `b` where it is zero.
#[inline(always)]
pub(crate) fn select(mask: u32, a: &Fe, b: &Fe) -> Fe {
    let mut r = [0u32; 12];
    for i in 0..12 {
        r[i] = (a[i] & mask) | (b[i] & !mask);
    }
    r
}

/// Montgomery form of a canonical big-endian value; `None` unless it is below p.
pub(crate) fn from_be_bytes(bytes: &[u8; 48]) -> Option<Fe> {
    let mut a = [0u32; 12];
    for (i, limb) in a.iter_mut().enumerate() {
        let at = 48 - 4 * (i + 1);
        *limb = u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    }
    // Reject values >= p (a - p does not borrow).
    let mut borrow = 0u64;
    for i in 0..12 {
        let v = u64::from(a[i]).wrapping_sub(u64::from(P[i])).wrapping_sub(borrow);
        borrow = (v >> 63) & 1;
    }
    (borrow == 1).then(|| mul(&a, &R2))
}

/// The canonical value of a Montgomery element, as limbs.
#[inline]
pub(crate) fn to_canonical(a: &Fe) -> Fe {
    let mut one = [0u32; 12];
    one[0] = 1;
    mul(a, &one)
}

/// Canonical big-endian bytes of a Montgomery element.
pub(crate) fn to_be_bytes(a: &Fe) -> [u8; 48] {
    limbs_to_be_bytes(&to_canonical(a))
}

/// Big-endian bytes of raw limbs.
pub(crate) fn limbs_to_be_bytes(a: &Fe) -> [u8; 48] {
    let mut out = [0u8; 48];
    for (i, limb) in a.iter().enumerate() {
        let at = 48 - 4 * (i + 1);
        out[at..at + 4].copy_from_slice(&limb.to_be_bytes());
    }
    out
}

/// 1/a in Montgomery form, constant time (crypto-bigint's safegcd on the canonical value); 0 for 0.
pub(crate) fn invert(a: &Fe) -> Fe {
    use p384::elliptic_curve::bigint::{Odd, U384};
    let modulus = Odd::new(U384::from_be_slice(&limbs_to_be_bytes(&P))).expect("p is odd");
    let canonical = U384::from_be_slice(&limbs_to_be_bytes(&to_canonical(a)));
    let inverse = canonical.invert_odd_mod(&modulus).unwrap_or(U384::ZERO);
    let bytes: [u8; 48] = inverse.to_be_bytes().into();
    let mut limbs = [0u32; 12];
    for (i, limb) in limbs.iter_mut().enumerate() {
        let at = 48 - 4 * (i + 1);
        *limb = u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    }
    // canonical inverse -> Montgomery: (a^-1)·R² ·R^-1 = a^-1·R.
    mul(&limbs, &R2)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::testing::Rng;

    fn random_fe(rng: &mut Rng) -> Fe {
        loop {
            let mut bytes = [0u8; 48];
            for chunk in bytes.chunks_mut(8) {
                chunk.copy_from_slice(&rng.next_u64().to_le_bytes());
            }
            if let Some(fe) = from_be_bytes(&bytes) {
                return fe;
            }
        }
    }

    /// Reference: p384's field type is private, so compare with crypto-bigint's schoolbook product
    /// and remainder on canonical values.
    fn reference_mul(a: &Fe, b: &Fe) -> Fe {
        use p384::elliptic_curve::bigint::{NonZero, U384, U768};
        let a = U384::from_be_slice(&to_be_bytes(a));
        let b = U384::from_be_slice(&to_be_bytes(b));
        let p = U384::from_be_slice(&limbs_to_be_bytes(&P));
        let wide: U768 = a.widening_mul(&b).into();
        let p_wide: U768 = p.resize();
        let r: U768 = wide.rem(&NonZero::new(p_wide).unwrap());
        let r: U384 = r.resize();
        let bytes: [u8; 48] = r.to_be_bytes().into();
        from_be_bytes(&bytes).unwrap()
    }

    #[test]
    fn constants() {
        let mut one = [0u8; 48];
        one[47] = 1;
        assert_eq!(from_be_bytes(&one), Some(ONE));
        assert_eq!(to_be_bytes(&ONE), one);
        assert_eq!(from_be_bytes(&limbs_to_be_bytes(&P)), None, "p itself is not an element");
    }

    #[test]
    fn arithmetic_matches_big_integers() {
        let mut rng = Rng(1);
        let edge = [ZERO, ONE, neg(&ONE), from_be_bytes(&[0xff; 48]).unwrap_or(ZERO)];
        for i in 0..3000 {
            let a = edge.get(i).copied().unwrap_or_else(|| random_fe(&mut rng));
            let b = if i % 7 == 0 { neg(&ONE) } else { random_fe(&mut rng) };
            assert_eq!(mul(&a, &b), reference_mul(&a, &b), "mul {i}");
            assert_eq!(sub(&add(&a, &b), &b), a, "add/sub {i}");
            assert_eq!(add(&a, &neg(&a)), ZERO);
            if a != ZERO {
                assert_eq!(mul(&a, &invert(&a)), ONE, "invert {i}");
            }
            // Round trip through bytes.
            assert_eq!(from_be_bytes(&to_be_bytes(&a)), Some(a));
        }
        assert_eq!(invert(&ZERO), ZERO);
    }
}
