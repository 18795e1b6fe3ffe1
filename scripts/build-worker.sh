#!/bin/sh
# Builds the worker with worker-build, using only tools installed from the package registries
# (see `make tools`): worker-build would otherwise download wasm-bindgen, wasm-opt and esbuild
# from GitHub at build time. Run by wrangler (`[build] command`), so `wrangler dev` and
# `wrangler deploy` build the same way.
set -eu
cd "$(dirname "$0")/.."
# The test harness builds once, then starts several `wrangler dev` instances on that build.
if [ -n "${SKIP_WORKER_BUILD:-}" ] && [ -f build/index.js ]; then
  exit 0
fi
# Nothing newer under the build inputs than the last build: nothing to do. wrangler 4.86 runs the
# custom build a second time as soon as its file watcher is ready (not for a change), so plain
# `npx wrangler dev` (like `make dev`) built twice; that second run now returns at once. Edits under
# src/, crates/, web/ or openapi/ still rebuild; FORCE_WORKER_BUILD=1 (or WORKER_BUILD_FLAGS) always does.
if [ -z "${FORCE_WORKER_BUILD:-}" ] && [ -z "${WORKER_BUILD_FLAGS:-}" ] && [ -f build/index.js ] &&
  [ -d public/player ] &&
  [ -z "$(find src crates web openapi build.rs Cargo.toml Cargo.lock package-lock.json scripts -newer build/index.js -print -quit)" ]; then
  echo "build-worker: build/ is up to date with src/ and web/"
  exit 0
fi
CARGO_BIN="${CARGO_HOME:-$HOME/.cargo}/bin"
export WASM_BINDGEN_BIN="${WASM_BINDGEN_BIN:-$CARGO_BIN/wasm-bindgen}"
export WASM_OPT_BIN="${WASM_OPT_BIN:-$PWD/node_modules/.bin/wasm-opt}"
export ESBUILD_BIN="${ESBUILD_BIN:-$PWD/node_modules/.bin/esbuild}"
for tool in "$CARGO_BIN/worker-build" "$WASM_BINDGEN_BIN" "$WASM_OPT_BIN" "$ESBUILD_BIN"; do
  if [ ! -x "$tool" ]; then
    echo "build-worker: $tool is missing; run \`make tools\` first" >&2
    exit 1
  fi
done
sh scripts/build-assets.sh
# The wasm's name section (function names, 41 KB of the gzip module) is needed by nothing at run
# time: strip symbols from this build only (native builds keep theirs, for valgrind and profilers).
export CARGO_PROFILE_RELEASE_STRIP=symbols
exec "$CARGO_BIN/worker-build" --release ${WORKER_BUILD_FLAGS:-} "$@"
