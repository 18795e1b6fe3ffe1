#!/usr/bin/env bash
# Build and run every fuzz target on the stable toolchain (no cargo-fuzz, no nightly needed).
#
#   fuzz/run.sh build                 build all targets (release, debug assertions, SanitizerCoverage)
#   fuzz/run.sh seeds                 regenerate fuzz/seeds (src/seeds/main.rs) from the fixtures
#   fuzz/run.sh run SECONDS [TARGET]  run each target (or one) for SECONDS from its committed
#                                     corpus; new inputs go to fuzz/work/TARGET
#   fuzz/run.sh smoke [TARGET]        replay the committed corpus, then runs RUNS inputs in all (default 20000; corpus included)
#                                     with a fixed seed: the same inputs every time (make test)
#   fuzz/run.sh minimize [TARGET]     merge fuzz/work into the committed, minimized fuzz/corpus
#
# fuzz/regressions/TARGET holds every input that once failed a target: replayed by every run and
# never minimized away (a fixed bug adds no coverage, so a merge would drop it). The comb's corpus
# is its edge scalars, kept whole for the same reason: constant-time code has flat coverage.
#
# The flags are those cargo-fuzz passes (all stable `-C` options); libFuzzer comes from the
# libfuzzer-sys crate. A crash leaves its input in fuzz/artifacts/TARGET/ and fails the run.
set -euo pipefail
cd "$(dirname "$0")"
TRIPLE=$(rustc -vV | sed -n 's/^host: //p')
TARGETS=(cookie_header session_cookie provider_jwt key_document channels_setting identity_providers_setting stages_setting device_limits_setting device_id admin_body revocation_answer chat_answer private_key request_target handle_request comb)
BIN=target/$TRIPLE/release
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table -Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"

build() {
  cargo build --quiet --release --target "$TRIPLE" "${TARGETS[@]/#/--bin=}"
}

# The seed generator is a plain native program (it links no libFuzzer); its output is committed
# in fuzz/corpus, so this is needed only when the fixtures change.
seeds() {
  env -u RUSTFLAGS cargo run --quiet --release --bin seeds -- seeds
}

# The committed inputs of a target: its corpus and its regressions.
inputs() {
  echo "corpus/$1"
  [ -d "regressions/$1" ] && echo "regressions/$1"
  return 0
}

run() {
  local seconds=$1 target=$2
  mkdir -p "work/$target" "corpus/$target" "artifacts/$target" logs
  # -rss_limit_mb and -timeout: a slow or memory-hungry input is a finding too.
  "$BIN/$target" "work/$target" $(inputs "$target") \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=16384 \
    -artifact_prefix="artifacts/$target/" -print_final_stats=1 >"logs/$target.log" 2>&1 || {
      echo "fuzz target $target FAILED (input in fuzz/artifacts/$target/):"; tail -30 "logs/$target.log"; return 1; }
  local runs cov
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "logs/$target.log")
  cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "logs/$target.log" | tail -1)
  echo "$target: $runs executions in ${seconds}s, $cov, corpus $(ls "work/$target" | wc -l) new + $(ls "corpus/$target" | wc -l) committed"
}

smoke() {
  local target=$1 scratch
  scratch=$(mktemp -d)
  mkdir -p "artifacts/$target" logs
  # A fixed seed and count: make test must not pass or fail by luck. New finds go to a scratch dir.
  "$BIN/$target" "$scratch" $(inputs "$target") -seed=1 -runs="${RUNS:-20000}" -timeout=10 -rss_limit_mb=2048 \
    -max_len=16384 -artifact_prefix="artifacts/$target/" >"logs/$target.smoke.log" 2>&1 || {
      rm -rf "$scratch"; echo "fuzz target $target FAILED (input in fuzz/artifacts/$target/):"; tail -30 "logs/$target.smoke.log"; return 1; }
  rm -rf "$scratch"
  echo "$target: committed corpus ($(ls "corpus/$target" | wc -l) inputs, $( [ -d "regressions/$target" ] && ls "regressions/$target" | wc -l || echo 0) regressions) then seeded mutations, ${RUNS:-20000} runs in all: no finding"
}

minimize() {
  local target=$1
  if [ "$target" = comb ]; then echo "comb: corpus kept whole (edge scalars)"; return 0; fi
  mkdir -p "corpus.min/$target"
  "$BIN/$target" -merge=1 "corpus.min/$target" "corpus/$target" "work/$target" $( [ -d "seeds/$target" ] && echo "seeds/$target" ) >"logs/$target.merge.log" 2>&1
  rm -rf "corpus/$target" && mv "corpus.min/$target" "corpus/$target"
  echo "$target: $(ls "corpus/$target" | wc -l) inputs in the minimized corpus"
}

case "${1:-}" in
  build) build ;;
  seeds) seeds ;;
  run) for t in ${3:-${TARGETS[@]}}; do run "$2" "$t"; done ;;
  smoke) for t in ${2:-${TARGETS[@]}}; do smoke "$t"; done ;;
  minimize) for t in ${2:-${TARGETS[@]}}; do minimize "$t"; done; rmdir corpus.min 2>/dev/null || true ;;
  *) sed -n '2,19p' "$0"; exit 2 ;;
esac
