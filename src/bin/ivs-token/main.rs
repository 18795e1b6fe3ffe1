//! `ivs-token`: the operator's CLI, built on the same core as the worker.
//!
//! Exit codes: 0 success; 1 `verify` rejected the token, or `check` found a configuration the
//! worker would refuse; 2 usage error (unknown flag, missing argument; for `check` also an
//! unreadable file or an unknown `--env`); 3 an input could not be used (unreadable file, invalid key, invalid value); for
//! `admin`: 4 the worker refused the request (a 3xx or 4xx answer: wrong token, bad value, no
//! operator API), 5 no usable answer (network failure, timeout, a 5xx answer, not the API's JSON).

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    cli::main()
}

#[cfg(not(target_arch = "wasm32"))]
mod cli;
