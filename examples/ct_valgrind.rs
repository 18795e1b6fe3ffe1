//! Constant-time check of the comb (k·G and the digit recoding) under valgrind memcheck, the
//! technique BoringSSL uses: the nonce's bytes are marked *undefined*, so memcheck reports every
//! conditional jump and every memory address that depends on them. A clean run means no branch
//! and no table index depends on the nonce, in this native build. `make test` runs it:
//!
//!     cargo build --release --example ct_valgrind
//!     valgrind --error-exitcode=1 target/release/examples/ct_valgrind [N]
//!
//! `--leaky` adds a deliberately secret-indexed load, to show that the check does catch one.
//!
//! This example, not the library, holds the `unsafe`: valgrind's client requests are a magic
//! instruction sequence, emitted here with inline assembly (x86_64 only; elsewhere the
//! requests do nothing and the run proves nothing).

use ivs_token_worker::key::comb;

const MAKE_MEM_UNDEFINED: usize = 0x4d43_0001; // VG_USERREQ_TOOL_BASE('M','C') + 1
const MAKE_MEM_DEFINED: usize = 0x4d43_0002;

/// valgrind's client request (valgrind.h, amd64): a no-op outside valgrind.
#[cfg(target_arch = "x86_64")]
fn client_request(request: usize, address: *const u8, length: usize) {
    let args: [usize; 6] = [request, address as usize, length, 0, 0, 0];
    let mut result: usize = 0;
    // SAFETY: the sequence rotates rdi by 128 bits in total (unchanged) and exchanges rbx with
    // itself; valgrind intercepts it, natively it has no effect. `args` outlives the asm block.
    unsafe {
        std::arch::asm!(
            "rol rdi, 3", "rol rdi, 13", "rol rdi, 61", "rol rdi, 51", "xchg rbx, rbx",
            inout("rdx") result,
            in("rax") args.as_ptr(),
            inout("rdi") 0usize => _,
            options(nostack),
        );
    }
    std::hint::black_box(result);
}

#[cfg(not(target_arch = "x86_64"))]
fn client_request(_: usize, _: *const u8, _: usize) {}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let leaky = args.iter().any(|a| a == "--leaky");
    let n: u64 = args.iter().skip(1).find_map(|a| a.parse().ok()).unwrap_or(20);
    // The table is public data: build it before anything is marked secret.
    let table = comb::Table::build();
    let mut state = 0x2026_u64;
    let mut sink = 0u32;
    for i in 0..n {
        let mut k = [0u8; 48];
        for b in k.iter_mut() {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            *b = (state >> 56) as u8;
        }
        if i == 0 {
            k = [0; 48]; // zero digits everywhere: the "skip the addition" path
        }
        client_request(MAKE_MEM_UNDEFINED, k.as_ptr(), k.len());
        let mut point = comb::mul_base_projective_limbs(&table, &k);
        if leaky {
            // Deliberately variable-time: a table index that depends on the secret.
            let index = usize::from(k[0] & 7);
            point[0][0] ^= [1u32, 2, 3, 4, 5, 6, 7, 8][std::hint::black_box(index)];
        }
        // The result is public once computed (r = x(R) is in the signature): define it before use.
        client_request(MAKE_MEM_DEFINED, point.as_ptr().cast(), std::mem::size_of_val(&point));
        client_request(MAKE_MEM_DEFINED, k.as_ptr(), k.len());
        sink ^= point[0][0];
    }
    println!("ct_valgrind: {n} scalars through comb::recode + Table::mul_base (sink {sink:08x})");
}
