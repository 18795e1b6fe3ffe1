"""Runs the real worker under `wrangler dev` for the end-to-end tests, and the independent
checks they use: key generation and JWT verification with cryptography + PyJWT (the libraries of
the published Lambda recipe), never with this project's own code."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import jwt
import secret_scan
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

ROOT = Path(__file__).resolve().parent.parent
# The CLI `make cli` builds: IVS_TOKEN_CLI when set (as the Makefile sets it), else under
# CARGO_TARGET_DIR (a worktree building into its own target directory), else target/.
CLI = ROOT / (
    os.environ.get("IVS_TOKEN_CLI") or Path(os.environ.get("CARGO_TARGET_DIR") or "target") / "debug" / "ivs-token"
)
ARN_PREFIX = "arn:aws:ivs:us-west-2:123456789012:channel/"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def new_p384_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP384R1())


def sec1_pem(key, with_params: bool = False) -> str:
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    ).decode()
    if with_params:
        # What `openssl ecparam -name secp384r1 -genkey` (without -noout) writes first.
        pem = "-----BEGIN EC PARAMETERS-----\nBgUrgQQAIg==\n-----END EC PARAMETERS-----\n" + pem
    return pem


def pkcs8_pem(key) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def public_pem(key) -> str:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def expected_viewer_id(key, sub: str, issuer: str | None = None) -> str:
    """The documented derivation (docs/playback-tokens.md, src/identity/viewer_id.rs), computed
    independently: for the worker's session cookie (`issuer` None) the HMAC of the bare subject;
    for an identity provider's session, of 0xFF, the v2 tag, NUL, the issuer's length (8 bytes,
    big-endian), the issuer and the subject."""
    scalar = key.private_numbers().private_value.to_bytes(48, "big")
    hmac_key = hashlib.sha256(b"ivs-token-worker viewer-id v1" + scalar).digest()
    message = sub.encode()
    if issuer is not None:
        iss = issuer.encode()
        message = b"\xff" + b"ivs-token-worker viewer-id v2 provider" + b"\x00" + len(iss).to_bytes(8, "big") + iss + message
    return hmac.new(hmac_key, message, hashlib.sha256).hexdigest()[:40]


def session_cookie(secret: str, **claims) -> str:
    """An HS256 session JWT minted by PyJWT."""
    now = int(time.time())
    payload = {"sub": "alice", "iat": now, "exp": now + 3600}
    payload.update(claims)
    payload = {k: v for k, v in payload.items() if v is not None}
    cookie = jwt.encode(payload, secret, algorithm="HS256")
    secret_scan.register("secret", cookie)
    return cookie


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def verify_playback_token(token: str, public_key_pem: str) -> tuple[dict, dict]:
    """Verify an IVS playback token with PyJWT; return (header, claims)."""
    secret_scan.register("token", token)
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(
        token,
        public_key_pem,
        algorithms=["ES384"],
        options={"require": ["exp", "aws:channel-arn"], "verify_aud": False},
    )
    return header, claims


@dataclass
class Response:
    status: int
    headers: dict
    body: bytes

    def json(self):
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode()


def request(url: str, method: str = "GET", headers: dict | None = None, data: bytes | None = None) -> Response:
    req = urllib.request.Request(url, method=method, headers=headers or {}, data=data)
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(req, timeout=30) as r:
            response = Response(r.status, {k.lower(): v for k, v in r.headers.items()}, r.read())
    except urllib.error.HTTPError as e:
        response = Response(e.code, {k.lower(): v for k, v in e.headers.items()}, e.read())
    secret_scan.RESPONSES.append((url.split("?")[0], response.body))
    return response


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def dotenv_line(name: str, value: str) -> str:
    if "'" in value:
        raise ValueError(f"{name}: single quotes cannot be written to the env file")
    return f"{name}='{value}'\n"


@dataclass
class Worker:
    """One `wrangler dev` process with the given secrets and vars (as an --env-file)."""

    settings: dict
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None
    extra_args: list = field(default_factory=list)
    ready_path: str = "/healthz"

    def __post_init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="ivs-worker-"))
        self.log_path = self.dir / "wrangler.log"
        secret_scan.LOGS.append(self.log_path)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "Worker":
        for name, value in self.settings.items():
            secret_scan.register_setting(name, value)
        env_file = self.dir / "test.env"
        env_file.write_text("".join(dotenv_line(k, v) for k, v in self.settings.items()))
        env = dict(os.environ)
        env.update(
            SKIP_WORKER_BUILD="1",
            WRANGLER_SEND_METRICS="false",
            WRANGLER_SEND_ERROR_REPORTS="false",
            CLOUDFLARE_CF_FETCH_ENABLED="false",
            NO_COLOR="1",
        )
        cmd = [
            "npx", "wrangler", "dev",
            "--ip", "127.0.0.1",
            "--port", str(self.port),
            "--inspector-port", str(free_port()),
            "--env-file", str(env_file),
            "--show-interactive-dev-session=false",
            *self.extra_args,
        ]
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def wait_ready(self, timeout: float = 90) -> "Worker":
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"wrangler dev exited early:\n{self.output()[-3000:]}")
            try:
                request(self.url + self.ready_path)
                return self
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.3)
        raise RuntimeError(f"wrangler dev not ready after {timeout}s:\n{self.output()[-3000:]}")

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self):
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        if getattr(self, "log", None):
            self.log.close()

    def get(self, path: str, **kwargs) -> Response:
        return request(self.url + path, **kwargs)

    def restart(self, attempt: int) -> tuple[Path, str]:
        """Stop, keep this start's log (scanned for secrets like the others) and start again on fresh
        ports. Returns the kept log and the lines that lead to its error."""
        self.stop()
        kept = self.log_path.with_name(f"wrangler.attempt{attempt}.log")
        self.log_path.rename(kept)
        secret_scan.LOGS.append(kept)
        plain = re.sub(r"\x1b\[[0-9;]*m", "", kept.read_text(errors="replace"))  # wrangler colours even with NO_COLOR
        lines = [line.strip()[:200] for line in plain.splitlines() if line.strip()]
        at = next((i for i, line in enumerate(lines) if "ERROR" in line), len(lines) - 1)
        self.port = free_port()
        self.start()
        return kept, "\n  ".join(lines[max(0, at - 3):at + 1])


def start_all(workers: list[Worker], attempts: int = 2) -> list[Worker]:
    """Start several workers at once (each start is mostly waiting), then wait for all. A worker that
    does not come up is started again on fresh ports: `wrangler dev` has hung at startup under heavy
    machine load, and a port picked by free_port() can be taken meanwhile (by a parallel wrangler's
    inspector, or anything else on this shared machine)."""
    for w in workers:
        w.start()
    try:
        for w in workers:
            for attempt in range(attempts):
                try:
                    w.wait_ready()
                    break
                except RuntimeError as e:
                    if attempt == attempts - 1:
                        raise
                    kept, why = w.restart(attempt + 1)
                    print(f"\n[harness] a worker did not come up ({str(e).splitlines()[0]}), started it again; "
                          f"its log ({kept}) ends:\n  {why}")
    except Exception:
        for w in workers:
            w.stop()
        raise
    return workers
