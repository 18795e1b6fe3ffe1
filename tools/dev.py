"""`make dev`: the local IVS stand-in plus `wrangler dev`, with the demo channel pointed at the
stand-in, so a fresh clone plays real video on http://127.0.0.1:PORT/watch/demo.

One instance per port (a lock in .dev/); Ctrl-C (SIGINT) or SIGTERM stops everything it started:
the stand-in runs in this process, wrangler and workerd in their own process group, which is
signalled as a whole. Environment: PORT (8787), STANDIN_PORT (PORT + 1), TOKEN_TTL_SECONDS
(optional: e.g. 10 to watch the page renew an expired token by itself), SUB (dev-viewer),
SIGNIN=oidc (optional: sign-in at the edge through a local OpenID Connect provider, npm
`oidc-provider` as tests/oidc/provider.mjs runs it, on OIDC_PORT, default PORT + 2; the watch page
then sends a signed-out viewer to its login form instead of /dev/login, which keeps working).

CONFIG=path/to/wrangler.toml (optional; DEPLOY_ENV=NAME for its [env.NAME]) serves the team's own
settings instead of the demo: its [vars] as the worker would read them, each channel's playback URL
pointed at the stand-in (which plays every ARN of the table and takes its revocations), the local
origins added to ALLOWED_ORIGINS and LOGIN_URL left out (/dev/login signs in). With SIGNIN=oidc,
each provider with a `login` table is replaced by the local OpenID Connect provider under the same
name, and DEV_USERS=users.json ({"alice": ["ticket-2026-12"], ...}) gives its accounts groups.

Chat: the demo channel has a room (DEMO_ROOM, moderators: the group `moderators`); with a team's
config, any channel with a `chat` room works the same way. IVS_CHAT_API_ENDPOINT then points at the
stand-in, which checks the worker's calls with the dev AWS key and serves the messaging WebSocket;
/dev/login?groups=moderators signs in a moderator.
"""

from __future__ import annotations

import fcntl
import json
import tomllib
import os
import re
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ivs_standin import StandIn  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEV = ROOT / ".dev"
CLI = os.environ.get("IVS_TOKEN_CLI", str(ROOT / "target" / "debug" / "ivs-token"))
DEMO_ARN = "arn:aws:ivs:us-west-2:123456789012:channel/demo"
# The demo's chat room on the stand-in (any well-formed room ARN exists there): /dev/login with
# groups=moderators signs in a moderator; everyone else the channel grants may send.
DEMO_ROOM = "arn:aws:ivschat:us-west-2:123456789012:room/demo"
DEMO_CHAT = {"room": DEMO_ROOM, "moderators": ["moderators"]}
MODERATOR_LOGIN = "/dev/login?sub=dev-moderator&groups=moderators&return_to=/watch/"
# SIGNIN=oidc: the provider's name in IDENTITY_PROVIDERS, and so its redirect URI /callback/local-idp.
PROVIDER = "local-idp"


def port_in_use(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def refuse(message: str):
    print(f"make dev: {message}", file=sys.stderr)
    sys.exit(1)


def start_provider(port: int, oidc_port: int, names: list[str]):
    """tests/oidc/provider.mjs on `oidc_port`, allowing this worker's /callback/NAME for each of
    `names` (the redirect URIs of the providers main() configures) and /logout; it
    stops when its standard input closes. Returns the process and what it printed."""
    backs = [f"http://{host}:{port}" for host in ("127.0.0.1", "localhost")]
    opts = {"port": oidc_port, "redirect_uris": [f"{b}/callback/{name}" for b in backs for name in names],
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


def team_vars(path: str, env: str | None) -> dict[str, str]:
    """The [vars] of a wrangler.toml (of [env.NAME] when `env` is set: wrangler does not inherit
    vars into an environment) as the worker reads them: text as it is, tables and numbers as JSON."""
    try:
        with open(path, "rb") as f:
            doc = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as e:
        refuse(f"CONFIG={path} cannot be read: {e}")
    if env:
        envs = doc.get("env") or {}
        if env not in envs:
            refuse(f"DEPLOY_ENV={env}: {path} has no [env.{env}] (it has: {', '.join(envs) or 'none'})")
        section = envs[env].get("vars") or {}
    else:
        section = doc.get("vars") or {}
    return {name: value if isinstance(value, str) else json.dumps(value) for name, value in section.items()}


def with_standin_channels(channels_json: str, standin) -> str:
    """The team's channel table with every playback URL on the stand-in (same ARNs)."""
    try:
        channels = json.loads(channels_json)
    except ValueError:
        return channels_json  # the worker's own message names the setting and the fault
    if not isinstance(channels, dict):
        return channels_json
    for channel in channels.values():
        if isinstance(channel, dict) and isinstance(channel.get("arn"), str) and channel["arn"] in standin.arns:
            channel["playback_url"] = standin.playback_url_for(channel["arn"])
    return json.dumps(channels)


def channel_arns(channels_json: str | None) -> list[str]:
    """The well-formed channel ARNs of a channel table (others are left for the worker to refuse)."""
    try:
        channels = json.loads(channels_json or "{}")
    except ValueError:
        return []
    pattern = re.compile(r"^arn:aws:ivs:[a-z0-9-]+:[0-9]+:channel/[a-zA-Z0-9-]+$")
    return [c["arn"] for c in (channels.values() if isinstance(channels, dict) else [])
            if isinstance(c, dict) and isinstance(c.get("arn"), str) and pattern.match(c["arn"])]


def login_providers(providers_json: str | None) -> list[str]:
    """The names of the providers with a `login` table."""
    try:
        providers = json.loads(providers_json or "{}")
    except ValueError:
        return []
    return [name for name, p in (providers.items() if isinstance(providers, dict) else [])
            if isinstance(p, dict) and isinstance(p.get("login"), dict)]


def has_chat(channels_json: str | None) -> bool:
    """Whether a channel table gives any channel a chat room."""
    try:
        channels = json.loads(channels_json or "{}")
    except ValueError:
        return False
    return isinstance(channels, dict) and any(isinstance(c, dict) and c.get("chat") for c in channels.values())


def chat_note(base: str, on: bool, first: str = "demo") -> str:
    if not on:
        return ""
    return f"""
Chat is on (IVS Chat stand-in on the same port): the watch page shows it beside the player. Sign in
as a moderator (Delete and Disconnect on every message) in a second browser or a private window:

  {base}{MODERATOR_LOGIN}{first}
"""


def signin_note(base: str, on: bool, first: str = "demo") -> str:
    if not on:
        return ""
    return f"""
Sign-in at the edge is on (SIGNIN=oidc): {base}/watch/{first} sends you to the local OpenID Connect
provider's login form (any name and password sign in), then back. {base}/logout signs out.
/dev/login still works.
"""


DEV_AWS_KEY_ID = "AKIDLOCALIVSSTANDIN1"  # scripts/dev-vars.sh writes it to .dev.vars
DEMO_DEVICE_LIMITS = '{"default": 1, "on_limit": "evict-oldest"}'


def devices_note(base: str, device_limits: str, first: str = "demo") -> str:
    if not device_limits:
        return ""
    return f"""
Device limits are on ({device_limits}): open {base}/watch/{first} in a second browser or a private
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

    config_file = os.environ.get("CONFIG") or ""
    team = team_vars(config_file, os.environ.get("DEPLOY_ENV") or None) if config_file else None
    # The stand-in checks the worker's revocation calls with the key scripts/dev-vars.sh wrote.
    aws_key = {DEV_AWS_KEY_ID: ((DEV / "aws-secret").read_text().strip(), None)}
    more = [arn for arn in channel_arns(team.get("CHANNELS")) if arn != DEMO_ARN] if team else []
    standin = StandIn((DEV / "public.pem").read_text(), DEMO_ARN, standin_port, credentials=aws_key,
                      more_channels=more).start()
    standin.arns = {DEMO_ARN, *more}
    origins = f"http://127.0.0.1:{port},http://localhost:{port}"
    if team is None:
        channels = {"demo": {"title": "Demo channel (local IVS stand-in)", "arn": DEMO_ARN, "playback_url": standin.playback_url,
                             "chat": DEMO_CHAT}}
        # --var overrides wrangler.toml's [vars] (whose demo is a placeholder); secrets stay in .dev.vars.
        variables = {"CHANNELS": json.dumps(channels), "ALLOWED_ORIGINS": origins, "DEV_LOGIN": "true"}
        # One device per account, the newest wins: a second browser (or a private window) takes the
        # stream over and the first stops and says why. `make dev DEVICE_LIMITS=` turns it off.
        device_limits = os.environ.get("DEVICE_LIMITS", DEMO_DEVICE_LIMITS)
    else:
        # The team's own settings, every one passed (the repository's [vars] are overridden), with
        # IVS and the team's sign-in page replaced by what runs here.
        variables = dict(team)
        variables["CHANNELS"] = with_standin_channels(team.get("CHANNELS", "{}"), standin)
        variables["ALLOWED_ORIGINS"] = ",".join(filter(None, [team.get("ALLOWED_ORIGINS", "").strip(), origins]))
        variables["DEV_LOGIN"] = "true"
        variables["LOGIN_URL"] = ""
        device_limits = os.environ.get("DEVICE_LIMITS", team.get("DEVICE_LIMITS", ""))
    chat = has_chat(variables.get("CHANNELS"))
    if chat:
        # Rooms' tokens come from the stand-in, signed with the dev AWS key of .dev.vars; the
        # pages' chat SDK connects to its WebSocket on the same port.
        variables["IVS_CHAT_API_ENDPOINT"] = standin.base
    if device_limits:
        variables["DEVICE_LIMITS"] = device_limits
        variables["IVS_API_ENDPOINT"] = standin.base
    else:
        # .dev.vars holds an operator token for the demo's device limits; without them the worker
        # refuses one (the operator API works on the device ledger), so it is left out.
        variables["ADMIN_API_TOKEN"] = ""
    provider = None
    if signin:
        names = login_providers(variables.get("IDENTITY_PROVIDERS")) if team is not None else []
        provider, idp = start_provider(port, oidc_port, names or [PROVIDER])
        # A public client (no secret to keep): PKCE alone protects the code.
        def local(label: str) -> dict:
            return {"issuer": idp["issuer"], "audience": "rp-public", "jwks_url": idp["jwks_uri"], "groups_claim": "groups",
                    "login": {"client_id": "rp-public", "scopes": "openid groups", "label": label}}
        if names:
            # Each of the team's sign-in providers becomes the local one under the same name, so its
            # callback path and its viewers' ids are the ones the team's settings use.
            providers = json.loads(variables["IDENTITY_PROVIDERS"])
            for name in names:
                providers[name] = local(f"{name} (local stand-in)")
            variables["IDENTITY_PROVIDERS"] = json.dumps(providers)
        else:
            variables["IDENTITY_PROVIDERS"] = json.dumps({PROVIDER: local("Local OpenID Connect provider")})
        users = os.environ.get("DEV_USERS") or ""
        if users:
            try:
                accounts = json.loads(Path(users).read_text())
                assert isinstance(accounts, dict) and all(isinstance(g, list) for g in accounts.values())
            except (OSError, ValueError, AssertionError):
                stop_provider(provider)
                refuse(f'DEV_USERS={users} must be a JSON file like {{"alice": ["ticket-2026-12"], "bob": []}}')
            for sub_name, groups in accounts.items():
                urllib.request.urlopen(urllib.request.Request(
                    f"http://127.0.0.1:{idp['admin_port']}/account", method="POST",
                    data=json.dumps({"sub": sub_name, "groups": groups}).encode()), timeout=5).read()
    if os.environ.get("TOKEN_TTL_SECONDS"):
        variables["TOKEN_TTL_SECONDS"] = os.environ["TOKEN_TTL_SECONDS"]
    var_args = [arg for name, value in variables.items() for arg in ("--var", f"{name}:{value}")]

    sub = os.environ.get("SUB") or "dev-viewer"
    cookie = subprocess.run(
        [CLI, "session", "--sub", sub, "--ttl", "86400", "--secret-file", str(DEV / "session-secret")],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    base = f"http://127.0.0.1:{port}"
    try:
        first = next(iter(json.loads(variables["CHANNELS"])), "demo")
    except (ValueError, TypeError):
        first = "demo"
    source = f"the settings of {config_file}" if config_file else "the demo settings"
    print(f"""
IVS stand-in (checks tokens as IVS does, plays a looping test stream): {standin.playback_url}

Serving {source} on {base} (Ctrl-C stops everything). Open in a browser (local sign-in via
/dev/login):

  {base}/watch/{first}
  {base}/            (index of the configured channels)
{signin_note(base, provider is not None, first)}
Get a playback token with:

  curl -s '{base}/v1/token?channel={first}' -H 'Cookie: session={cookie}' -H 'X-Device-Id: curl-on-this-machine'
{devices_note(base, device_limits, first)}{chat_note(base, chat, first)}""", flush=True)
    # Stage pages (issue: IVS stages) are printed here once STAGES is configured.

    wrangler = subprocess.Popen(
        [str(ROOT / "node_modules" / ".bin" / "wrangler"), "dev", "--ip", "127.0.0.1", "--port", str(port), *var_args,
         *(["--inspector-port", os.environ["INSPECTOR_PORT"]] if os.environ.get("INSPECTOR_PORT") else []),
         *os.environ.get("WRANGLER_ARGS", "").split()],
        cwd=ROOT, start_new_session=True,
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
