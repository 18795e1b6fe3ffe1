#!/bin/sh
# Creates the local development secrets once: a fresh P-384 key pair in .dev/ and a .dev.vars
# (read by `wrangler dev`) holding that key and a random session secret. Never overwrites.
# Both are git-ignored and good for local use only.
set -eu
cd "$(dirname "$0")/.."
CLI="${IVS_TOKEN_CLI:-target/release/ivs-token}"
if [ ! -f .dev/private.pem ]; then
  "$CLI" keygen --out .dev > /dev/null
  echo "dev-vars: generated a P-384 dev key in .dev/ (public key: .dev/public.pem)"
fi
if [ ! -f .dev/session-secret ]; then
  (umask 077; od -An -N48 -tx1 /dev/urandom | tr -d ' \n' > .dev/session-secret)
fi
# Device limits in `make dev` (docs/devices.md): the local IVS stand-in's AWS key and the operator
# API's token, random per machine.
for name in aws-secret admin-token; do
  if [ ! -f ".dev/$name" ]; then
    (umask 077; od -An -N32 -tx1 /dev/urandom | tr -d ' \n' > ".dev/$name")
  fi
done
if [ ! -f .dev.vars ]; then
  umask 077
  {
    echo "# Local development secrets for \`wrangler dev\`, written by scripts/dev-vars.sh. Not for production."
    printf 'PLAYBACK_PRIVATE_KEY="%s"\n' "$(cat .dev/private.pem)"
    printf 'SESSION_SECRET="%s"\n' "$(cat .dev/session-secret)"
  } > .dev.vars
  echo "dev-vars: wrote .dev.vars"
fi
# A .dev.vars written before device limits existed gets their secrets added (nothing else changes).
if ! grep -q '^AWS_SECRET_ACCESS_KEY=' .dev.vars; then
  {
    echo 'AWS_ACCESS_KEY_ID="AKIDLOCALIVSSTANDIN1"'
    printf 'AWS_SECRET_ACCESS_KEY="%s"\n' "$(cat .dev/aws-secret)"
  } >> .dev.vars
fi
if ! grep -q '^ADMIN_API_TOKEN=' .dev.vars; then
  printf 'ADMIN_API_TOKEN="%s"\n' "$(cat .dev/admin-token)" >> .dev.vars
fi
