#!/bin/sh
# Builds dist/, a bundle a team deploys with Node.js alone (no Rust toolchain): the built worker
# (wrangler.toml's `main` and the files beside it), the static assets (`[assets] directory`), a
# wrangler.toml derived from this repository's own (every var, binding, migration and asset
# setting kept; only the `[build]` command dropped, since the worker is already built), a
# package.json and package-lock.json that pin the wrangler this repository is tested with, and a
# README. Also dist/ivs-token-worker-VERSION.tar.gz, the same files in one folder, for a release.
# `make dist` runs it after `make worker`; on its own it builds the worker first
# (scripts/build-worker.sh; SKIP_WORKER_BUILD=1 reuses build/). Nothing secret is copied: only the
# files named here, never .dev.vars or .dev/.
set -eu
cd "$(dirname "$0")/.."

sh scripts/build-worker.sh

version=$(awk '/^\[package\]/ { p = 1; next } /^\[/ { p = 0 }
  p && /^version *=/ { gsub(/[" ]/, "", $0); sub(/^version=/, "", $0); print; exit }' Cargo.toml)
main=$(sed -n 's/^main *= *"\(.*\)"$/\1/p' wrangler.toml)
assets=$(awk '/^\[assets\]/ { p = 1; next } /^\[/ { p = 0 }
  p && /^directory *=/ { sub(/^directory *= *"/, ""); sub(/".*$/, ""); print; exit }' wrangler.toml)
for value in version main assets; do
  eval "got=\${$value}"
  if [ -z "$got" ]; then
    echo "dist: could not read the $value from Cargo.toml / wrangler.toml" >&2
    exit 1
  fi
done
main_dir=$(dirname "$main")
for file in "$main" "$main_dir/index_bg.wasm" "$assets/player/amazon-ivs-player.min.js"; do
  if [ ! -f "$file" ]; then
    echo "dist: $file is missing; run \`make worker\` first" >&2
    exit 1
  fi
done

name="ivs-token-worker-$version"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
trap 'exit 1' INT TERM
out="$stage/$name"
mkdir -p "$out/$main_dir" "$out/$assets"

# The built worker: the directory of `main` as worker-build leaves it (index.js, index_bg.wasm,
# worker/shim.mjs, package.json), without its .gitignore ("*"), which would hide the files from a
# team that commits the bundle.
cp -R "$main_dir/." "$out/$main_dir/"
rm -f "$out/$main_dir/.gitignore"
cp -R "$assets/." "$out/$assets/"
cp LICENSE "$out/LICENSE"

# The operator CLI for this machine's platform (`ivs-token check` before a deploy, `ivs-token
# admin` during a show), so the team needs no Rust toolchain for those either.
cli="${IVS_TOKEN_CLI:-target/debug/ivs-token}"
if [ ! -x "$cli" ]; then
  echo "dist: $cli is missing; run \`make cli\` first" >&2
  exit 1
fi
platform="$(uname -s | tr '[:upper:]' '[:lower:]')-$(uname -m)"
mkdir -p "$out/bin"
cp "$cli" "$out/bin/ivs-token-$platform"

# wrangler.toml without its [build] table (the command would run cargo): the table and its lines,
# up to the first blank line (dropped too) or the next table.
{
  echo "# Derived from ivs-token-worker $version's wrangler.toml by scripts/dist.sh: the same settings,"
  echo "# without the [build] command (the worker in $main_dir/ is already built). Edit it as the"
  echo "# repository's own: [vars], routes, and secrets with \`npx wrangler secret put\`."
  awk '/^\[build\]/ { skip = 1; next }
    skip && /^[[:space:]]*$/ { skip = 0; next }
    skip && /^\[/ { skip = 0 }
    !skip' wrangler.toml
} > "$out/wrangler.toml"
if grep -Eq '^\[build\]|^command *=|^watch_dir *=' "$out/wrangler.toml"; then
  echo "dist: the bundle's wrangler.toml still has a build command" >&2
  exit 1
fi

# package.json pinning wrangler, and a package-lock.json holding exactly the wrangler dependency
# tree of this repository's package-lock.json (so `npm ci` installs what the tests ran).
node - "$out" "$version" <<'JS'
const fs = require("fs");
const [out, version] = process.argv.slice(2);
const repo = JSON.parse(fs.readFileSync("package.json", "utf8"));
const lock = JSON.parse(fs.readFileSync("package-lock.json", "utf8"));
const packages = lock.packages;
const wrangler = packages["node_modules/wrangler"];
if (!wrangler) throw new Error("dist: wrangler is not in package-lock.json");
const pkg = {
  name: "ivs-token-worker-deploy",
  version,
  private: true,
  description: "The built ivs-token-worker, ready for `npx wrangler deploy` (no Rust toolchain needed).",
  license: repo.license,
  engines: repo.engines,
  scripts: { deploy: "wrangler deploy", dev: "wrangler dev" },
  dependencies: { wrangler: wrangler.version },
};
// Node's resolution over the lock's paths: the nearest node_modules/NAME from `from` upwards.
function resolve(from, name) {
  for (let base = from; ; ) {
    const path = (base ? base + "/" : "") + "node_modules/" + name;
    if (packages[path]) return path;
    if (!base) return null;
    const i = base.lastIndexOf("/node_modules/");
    base = i < 0 ? "" : base.slice(0, i);
  }
}
const kept = {};
const todo = ["node_modules/wrangler"];
while (todo.length) {
  const path = todo.pop();
  if (kept[path]) continue;
  const entry = { ...packages[path] };
  delete entry.dev; // a dependency of the bundle, not a devDependency
  delete entry.devOptional;
  kept[path] = entry;
  const optional = { ...entry.optionalDependencies, ...entry.peerDependenciesMeta };
  for (const dep of Object.keys({ ...entry.dependencies, ...entry.optionalDependencies, ...entry.peerDependencies })) {
    const found = resolve(path, dep);
    if (found) todo.push(found);
    else if (!optional[dep]) throw new Error(`dist: ${path} needs ${dep}, which is not in package-lock.json`);
  }
}
const root = { name: pkg.name, version, license: pkg.license, dependencies: pkg.dependencies, engines: pkg.engines };
const sorted = Object.fromEntries(Object.keys(kept).sort().map((k) => [k, kept[k]]));
const newLock = { name: pkg.name, version, lockfileVersion: lock.lockfileVersion, requires: true, packages: { "": root, ...sorted } };
fs.writeFileSync(`${out}/package.json`, JSON.stringify(pkg, null, 2) + "\n");
fs.writeFileSync(`${out}/package-lock.json`, JSON.stringify(newLock, null, 2) + "\n");
JS
wrangler_version=$(node -p 'require(process.argv[1]).dependencies.wrangler' "$out/package.json")

cat > "$out/README.md" <<README
# ivs-token-worker $version, built

The Cloudflare Worker that signs Amazon IVS tokens, already compiled: deploying it needs Node.js
20.3 or newer and npm, no Rust toolchain. \`$main_dir/\` is the worker (JavaScript and WebAssembly),
\`$assets/\` its static assets (the players), \`wrangler.toml\` its settings, and \`package.json\` pins
wrangler $wrangler_version, the version it is tested with.

## Deploy

\`\`\`sh
npm ci                     # wrangler $wrangler_version, from package-lock.json
npx wrangler login         # or CLOUDFLARE_API_TOKEN (and CLOUDFLARE_ACCOUNT_ID)
npx wrangler secret put PLAYBACK_PRIVATE_KEY < private.pem
npx wrangler secret put SESSION_SECRET < session-secret
npx wrangler deploy
\`\`\`

\`npx wrangler deploy --dry-run --outdir out\` checks the bundle without uploading anything.

## Check the settings first

\`bin/ivs-token-$platform\` is the operator CLI for $platform. Before a deploy, it runs the worker's
own configuration check on this \`wrangler.toml\` (exit 0 only when the worker would serve):

\`\`\`sh
npx wrangler secret list --format json > secret-names.json
bin/ivs-token-$platform check --config wrangler.toml --secret-names secret-names.json
\`\`\`

During a show, \`bin/ivs-token-$platform admin --help\` lists the operator commands (revoke, unblock,
devices).

## Change a setting

- A var (channels, origins, token lifetime, identity providers...): edit \`[vars]\` in
  \`wrangler.toml\`, then \`npx wrangler deploy\`.
- A secret (the signing key, the session secret, ...): \`npx wrangler secret put NAME\` (takes
  effect at once, no deploy).

This \`wrangler.toml\` is the project's own, without its build command: replace the placeholder
\`[vars.CHANNELS.demo]\` with your channels and add your routes. Upgrading to a newer bundle: either
carry your edits over to its \`wrangler.toml\`, or keep your \`wrangler.toml\` and copy the new
\`$main_dir/\` and \`$assets/\` over the old ones (\`main = "$main"\` and \`[assets] directory = "$assets"\`
must stay as they are).

Every setting, the routes to add, staged rollouts and rollback: the project's docs/configuration.md
and docs/deploying.md.
README

rm -rf dist
mkdir -p dist
cp -R "$out/." dist/
tar -cf - -C "$stage" "$name" | gzip -9 > "dist/$name.tar.gz"
echo "dist: dist/ (the bundle) and dist/$name.tar.gz (wrangler $wrangler_version)"
