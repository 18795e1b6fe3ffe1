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
if [ ! -f .dev.vars ]; then
  umask 077
  {
    echo "# Local development secrets for \`wrangler dev\`, written by scripts/dev-vars.sh. Not for production."
    printf 'PLAYBACK_PRIVATE_KEY="%s"\n' "$(cat .dev/private.pem)"
    printf 'SESSION_SECRET="%s"\n' "$(cat .dev/session-secret)"
  } > .dev.vars
  echo "dev-vars: wrote .dev.vars"
fi
