"""`make dev`: the local IVS stand-in plus `wrangler dev`, with the demo channel pointed at the
stand-in, so a fresh clone plays real video on http://127.0.0.1:PORT/watch/demo.

One instance per port (a lock in .dev/); Ctrl-C (SIGINT) or SIGTERM stops everything it started:
the stand-in runs in this process, wrangler and workerd in their own process group, which is
signalled as a whole. Environment: PORT (8787), STANDIN_PORT (PORT + 1), TOKEN_TTL_SECONDS
(optional: e.g. 10 to watch the page renew an expired token by itself), SUB (dev-viewer),
SIGNIN=oidc (optional: sign-in at the edge through a local OpenID Connect provider, npm
`oidc-provider` as tests/oidc/provider.mjs runs it, on OIDC_PORT, default PORT + 2; the watch page
then sends a signed-out viewer to its login form instead of /dev/login, which keeps working).
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ivs_standin import StandIn  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEV = ROOT / ".dev"
CLI = os.environ.get("IVS_TOKEN_CLI", str(ROOT / "target" / "debug" / "ivs-token"))
DEMO_ARN = "arn:aws:ivs:us-west-2:123456789012:channel/demo"
# SIGNIN=oidc: the provider's name in IDENTITY_PROVIDERS, and so its redirect URI /callback/local-idp.
PROVIDER = "local-idp"


def port_in_use(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def refuse(message: str):
    print(f"make dev: {message}", file=sys.stderr)
    sys.exit(1)


def start_provider(port: int, oidc_port: int):
    """tests/oidc/provider.mjs on `oidc_port`, allowing this worker's /callback/local-idp (the
    redirect URI of provider `local-idp`, which main() configures) and /logout; it
    stops when its standard input closes. Returns the process and what it printed."""
    backs = [f"http://{host}:{port}" for host in ("127.0.0.1", "localhost")]
    opts = {"port": oidc_port, "redirect_uris": [f"{b}/callback/{PROVIDER}" for b in backs],
            "logout_uris": [b + "/logout" for b in backs]}
    proc = subprocess.Popen(["node", str(ROOT / "tests" / "oidc" / "provider.mjs"), json.dumps(opts)], cwd=ROOT,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            start_new_session=True)
    line = proc.stdout.readline()
    if not line.strip():
        proc.kill()
        refuse("the local OpenID Connect provider did not start (is `npm ci` done?)")
    return proc, json.loads(line)


def stop_provider(proc):
    try:
        proc.stdin.close()
        proc.wait(timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def signin_note(base: str, on: bool) -> str:
    if not on:
        return ""
    return f"""
Sign-in at the edge is on (SIGNIN=oidc): {base}/watch/demo sends you to the local OpenID Connect
provider's login form (any name and password sign in), then back. {base}/logout signs out.
/dev/login still works.
"""


DEV_AWS_KEY_ID = "AKIDLOCALIVSSTANDIN1"  # scripts/dev-vars.sh writes it to .dev.vars
DEMO_DEVICE_LIMITS = '{"default": 1, "on_limit": "evict-oldest"}'


def devices_note(base: str, device_limits: str) -> str:
    if not device_limits:
        return ""
    return f"""
Device limits are on ({device_limits}): open {base}/watch/demo in a second browser or a private
window and the first one stops (the curl above is a device too). Your devices, as support sees them:

  curl -s '{base}/v1/admin/devices?sub=dev-viewer&session_cookie=true' -H "Authorization: Bearer $(cat .dev/admin-token)"
"""


def main():
    port = int(os.environ.get("PORT") or 8787)
    standin_port = int(os.environ.get("STANDIN_PORT") or port + 1)
    DEV.mkdir(exist_ok=True)
    lock = open(DEV / f"dev-{port}.lock", "a+")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.seek(0)
        pid = lock.read().strip() or "?"
        refuse(f"already running on http://127.0.0.1:{port} (pid {pid}); stop it with Ctrl-C in its terminal, "
               f"or start another with `make dev PORT={port + 10}`")
    lock.seek(0)
    lock.truncate()
    lock.write(str(os.getpid()))
    lock.flush()
    signin = os.environ.get("SIGNIN") or ""
    if signin not in ("", "oidc"):
        refuse(f"SIGNIN={signin} is not known; use SIGNIN=oidc (a local OpenID Connect provider) or leave it unset")
    oidc_port = int(os.environ.get("OIDC_PORT") or port + 2)
    ports = [(port, "PORT"), (standin_port, "STANDIN_PORT")] + ([(oidc_port, "OIDC_PORT")] if signin else [])
    for p, what in ports:
        if port_in_use(p):
            refuse(f"port {p} is in use by another program; choose another with `make dev {what}={p + 10}`")

    # The stand-in checks the worker's revocation calls with the key scripts/dev-vars.sh wrote.
    aws_key = {DEV_AWS_KEY_ID: ((DEV / "aws-secret").read_text().strip(), None)}
    standin = StandIn((DEV / "public.pem").read_text(), DEMO_ARN, standin_port, credentials=aws_key).start()
    origins = f"http://127.0.0.1:{port},http://localhost:{port}"
    channels = {"demo": {"title": "Demo channel (local IVS stand-in)", "arn": DEMO_ARN, "playback_url": standin.playback_url}}
    # --var overrides wrangler.toml's [vars] (whose demo is a placeholder); secrets stay in .dev.vars.
    variables = {"CHANNELS": json.dumps(channels), "ALLOWED_ORIGINS": origins, "DEV_LOGIN": "true"}
    # One device per account, the newest wins: a second browser (or a private window) takes the
    # stream over and the first stops and says why. `make dev DEVICE_LIMITS=` turns it off.
    device_limits = os.environ.get("DEVICE_LIMITS", DEMO_DEVICE_LIMITS)
    if device_limits:
        variables["DEVICE_LIMITS"] = device_limits
        variables["IVS_API_ENDPOINT"] = standin.base
    provider = None
    if signin:
        provider, idp = start_provider(port, oidc_port)
        # A public client (no secret to keep): PKCE alone protects the code.
        variables["IDENTITY_PROVIDERS"] = json.dumps({PROVIDER: {
            "issuer": idp["issuer"], "audience": "rp-public", "jwks_url": idp["jwks_uri"], "groups_claim": "groups",
            "login": {"client_id": "rp-public", "scopes": "openid groups", "label": "Local OpenID Connect provider"},
        }})
    if os.environ.get("TOKEN_TTL_SECONDS"):
        variables["TOKEN_TTL_SECONDS"] = os.environ["TOKEN_TTL_SECONDS"]
    var_args = [arg for name, value in variables.items() for arg in ("--var", f"{name}:{value}")]

    sub = os.environ.get("SUB") or "dev-viewer"
    cookie = subprocess.run(
        [CLI, "session", "--sub", sub, "--ttl", "86400", "--secret-file", str(DEV / "session-secret")],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    base = f"http://127.0.0.1:{port}"
    print(f"""
IVS stand-in (checks tokens as IVS does, plays a looping test stream): {standin.playback_url}

Serving on {base} (Ctrl-C stops everything). Open in a browser (local sign-in via /dev/login):

  {base}/watch/demo
  {base}/            (index of the configured channels)
{signin_note(base, provider is not None)}
Get a playback token with:

  curl -s '{base}/v1/token?channel=demo' -H 'Cookie: session={cookie}' -H 'X-Device-Id: curl-on-this-machine'
{devices_note(base, device_limits)}""", flush=True)
    # Stage pages (issue: IVS stages) are printed here once STAGES is configured.

    wrangler = subprocess.Popen(
        [str(ROOT / "node_modules" / ".bin" / "wrangler"), "dev", "--ip", "127.0.0.1", "--port", str(port), *var_args,
         *(["--inspector-port", os.environ["INSPECTOR_PORT"]] if os.environ.get("INSPECTOR_PORT") else []),
         *os.environ.get("WRANGLER_ARGS", "").split()],
        cwd=ROOT, start_new_session=True, env={**os.environ, "BUILD_IF_CHANGED": "1"},
    )

    def stop(signum, _frame):
        try:
            os.killpg(wrangler.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        code = wrangler.wait()
    finally:
        try:
            os.killpg(wrangler.pid, signal.SIGKILL)  # whatever of the group is left (workerd)
        except ProcessLookupError:
            pass
        standin.stop()
        if provider:
            stop_provider(provider)
    print("make dev: stopped", flush=True)
    sys.exit(0 if code in (0, -signal.SIGTERM, 130, 143) else code)


if __name__ == "__main__":
    main()
