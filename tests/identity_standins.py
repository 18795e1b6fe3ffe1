"""Identity-provider stand-ins on loopback for the identity tests.

- `OidcProvider`: a REAL OpenID Connect provider (npm `oidc-provider`, tests/oidc/provider.mjs) in a
  node process. ID tokens come out of its authorization-code flow, driven over HTTP exactly as a
  browser would (GET /auth, the login form, the consent form, the code, POST /token), so they are
  signed by the provider, never by the test. Its admin side channel rotates keys, takes it down and
  reports how often its JWKS was fetched.
- `JwksServer`: a small Python JWKS server (fetch counting, Cache-Control, down/garbage modes) whose
  keys the test holds, to mint tokens of a precise shape: Cognito's ID and access tokens, and the
  RFC 8725 attack tokens (alg none, alg confusion, forged kid, jku, ...), each signed by a key the
  worker trusts so that the one fault under test is the only one.
"""

from __future__ import annotations

import base64
import hashlib
import http.cookiejar
import json
import secrets
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from harness import ROOT, b64url

PROVIDER_SCRIPT = Path(__file__).resolve().parent / "oidc" / "provider.mjs"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _json_request(url: str, body: dict | None = None, method: str | None = None, timeout: float = 10) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method or ("POST" if data is not None else "GET"),
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read())


class OidcProvider:
    """tests/oidc/provider.mjs in a node process: start/stop/rotate/down/up/fetch_count/id_token."""

    def __init__(self):
        self.proc: subprocess.Popen | None = None
        self.info: dict = {}

    # -- life cycle ------------------------------------------------------------------------------
    def start(self, timeout: float = 30, **opts) -> "OidcProvider":
        """`opts` go to provider.mjs (`redirect_uris`, `logout_uris`: a worker's callback and logout)."""
        self.proc = subprocess.Popen(
            ["node", str(PROVIDER_SCRIPT), json.dumps(opts)],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            start_new_session=True,
        )
        # stderr carries oidc-provider's development warnings; drain it so the pipe never fills.
        self.stderr_lines: list[str] = []
        threading.Thread(target=self._drain, daemon=True).start()
        line_box: list[str] = []
        reader = threading.Thread(target=lambda: line_box.append(self.proc.stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout)
        if not line_box or not line_box[0].strip():
            self.stop()
            raise RuntimeError("oidc-provider did not start:\n" + "".join(self.stderr_lines[-40:]))
        self.info = json.loads(line_box[0])
        return self

    def _drain(self):
        for line in self.proc.stderr:
            self.stderr_lines.append(line)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=5)
            except (subprocess.TimeoutExpired, OSError):
                self.proc.kill()
                self.proc.wait(timeout=5)

    # -- facts -----------------------------------------------------------------------------------
    @property
    def issuer(self) -> str:
        return self.info["issuer"]

    @property
    def jwks_url(self) -> str:
        return self.info["jwks_uri"]

    def client_id(self, alg: str = "RS256") -> str:
        return self.info["clients"][alg][0]

    def _admin(self, path: str, body: dict | None = None) -> dict:
        return _json_request(f"http://127.0.0.1:{self.info['admin_port']}{path}", body)

    def stats(self) -> dict:
        return self._admin("/stats")

    def fetch_count(self) -> int:
        """JWKS documents served (200)."""
        return self.stats()["jwks_fetches"]

    def attempt_count(self) -> int:
        """Every request for the JWKS, including those answered 503 or garbage while down."""
        return self.stats()["jwks_attempts"]

    def kids(self) -> list[str]:
        return self.stats()["kids"]

    def jwks(self) -> dict:
        with urllib.request.urlopen(self.jwks_url, timeout=10) as r:
            return json.loads(r.read())

    # -- admin -----------------------------------------------------------------------------------
    def rotate(self, keep_old: bool = True) -> list[str]:
        return self._admin("/rotate", {"keep_old": keep_old})["kids"]

    def down(self, mode: str = "closed"):
        self._admin("/down", {"mode": mode})

    def up(self):
        self._admin("/up", {})

    def delay_jwks(self, ms: int):
        """Answer JWKS requests `ms` later (so that concurrent refetches would overlap)."""
        self._admin("/delay", {"ms": ms})

    # -- tokens through the real flow ------------------------------------------------------------
    def id_token(self, sub: str, groups: list[str] | None = None, alg: str = "RS256") -> str:
        """Sign in as `sub` through the authorization-code flow (PKCE) and return the ID token."""
        self._admin("/account", {"sub": sub, "groups": groups or []})
        client_id, client_secret = self.info["clients"][alg]
        redirect_uri = self.info["redirect_uri"]
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), _NoRedirect)

        def call(url, form=None, headers=None):
            data = urllib.parse.urlencode(form).encode() if form is not None else None
            req = urllib.request.Request(url, data=data, headers=headers or {})
            try:
                with opener.open(req, timeout=10) as r:
                    return r.status, dict(r.headers), r.read().decode()
            except urllib.error.HTTPError as e:
                return e.code, dict(e.headers), e.read().decode()

        verifier = b64url(secrets.token_bytes(32))
        challenge = b64url(hashlib.sha256(verifier.encode()).digest())
        state, nonce = secrets.token_urlsafe(12), secrets.token_urlsafe(12)
        url = self.issuer + "/auth?" + urllib.parse.urlencode({
            "client_id": client_id, "redirect_uri": redirect_uri, "response_type": "code",
            "scope": "openid groups", "state": state, "nonce": nonce,
            "code_challenge": challenge, "code_challenge_method": "S256", "prompt": "login consent",
        })
        code = None
        form = None
        for _ in range(12):  # auth -> login -> auth -> consent -> auth -> callback: bounded
            status, headers, body = call(url, form)
            form = None
            if status in (302, 303):
                url = urllib.parse.urljoin(url, headers["Location"])
                if url.startswith(redirect_uri):
                    query = urllib.parse.parse_qs(urllib.parse.urlparse(url).query)
                    assert "error" not in query, f"authorization failed: {query}"
                    assert query["state"] == [state]
                    code = query["code"][0]
                    break
                continue
            assert status == 200, f"oidc-provider {status} at {url}: {body[:2000]}"
            # One of devInteractions' two forms; both post back to the interaction URL.
            if 'name="prompt" value="login"' in body:
                form = {"prompt": "login", "login": sub, "password": "any"}
            elif 'name="prompt" value="consent"' in body:
                form = {"prompt": "consent"}
            else:
                raise AssertionError(f"unexpected page at {url}: {body[:2000]}")
            action = body.split('action="', 1)[1].split('"', 1)[0]
            url = urllib.parse.urljoin(url, action.replace("&amp;", "&"))
        assert code, "the flow did not reach the callback"
        basic = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
        status, _, body = call(self.issuer + "/token", {
            "grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        }, headers={"Authorization": f"Basic {basic}"})
        assert status == 200, f"token endpoint {status}: {body}"
        token = json.loads(body)["id_token"]
        claims = jwt.decode(token, options={"verify_signature": False})
        assert claims["nonce"] == nonce and claims["sub"] == sub
        return token


# ------------------------------------------------------------------------------------------------
# A JWKS server whose keys the test holds.


def new_rsa_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def new_ec_key(curve=None) -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(curve or ec.SECP256R1())


def public_jwk(key, kid: str, alg: str | None = None) -> dict:
    """The public JWK of an RSA or EC key, via PyJWT's own serializers."""
    pub = key.public_key()
    if isinstance(key, rsa.RSAPrivateKey):
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(pub))
    else:
        jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(pub))
    jwk.update(kid=kid, use="sig")
    if alg:
        jwk["alg"] = alg
    return jwk


def public_pem_bytes(key) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


class _Server(ThreadingHTTPServer):
    # The default listen backlog (5) overflows when several workers prefetch keys at once, and the
    # worker then sees a network error (and holds no keys for 30 s): not what a test is about.
    request_queue_size = 128
    daemon_threads = True


class JwksServer:
    """Serves {"keys": [...]} on http://127.0.0.1:PORT/<any path>, counting fetches.

    mode: "up" (200 JWKS), "503", "garbage" (200, not JSON). `cache_control` is sent as is.
    `drop_next`: that many coming requests are read and their connection closed unanswered, as a
    provider does with a pooled connection it has just closed. `delay`: seconds before answering."""

    def __init__(self, cache_control: str | None = "max-age=300"):
        self.keys: list[tuple[str, object, str]] = []  # (kid, private key, alg)
        self.mode = "up"
        self.cache_control = cache_control
        self.fetches = 0
        self.attempts = 0
        self.fetch_times: list[float] = []
        self.no_alg_kids: set[str] = set()  # keys published without `alg` (RSA: RS256 by default)
        self.drop_next = 0  # this many coming requests get no answer: the connection just closes
        self.delay = 0.0  # seconds to wait before answering, as a provider that hangs
        self.dropped = 0
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                with outer.lock:
                    outer.attempts += 1
                    if outer.drop_next > 0:
                        outer.drop_next -= 1
                        outer.dropped += 1
                        self.close_connection = True
                        return
                    mode = outer.mode
                    if mode == "up":
                        outer.fetches += 1
                        outer.fetch_times.append(time.time())
                    doc = outer.document()
                    delay = outer.delay
                if delay:
                    time.sleep(delay)
                if mode == "503":
                    body, status = b"down for the test", 503
                elif mode == "garbage":
                    body, status = b"<html>not a key set{", 200
                else:
                    body, status = json.dumps(doc).encode(), 200
                try:
                    self.send_response(status)
                    self.send_header("content-type", "application/json")
                    if outer.cache_control and status == 200:
                        self.send_header("cache-control", outer.cache_control)
                    self.send_header("content-length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the worker gave up waiting (a delayed answer) and closed the connection

            def log_message(self, *args):
                pass

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> "JwksServer":
        self.thread.start()
        return self

    def stop(self):
        if self.thread.is_alive():  # shutdown() would wait forever for a loop that never started
            self.server.shutdown()
        self.server.server_close()

    def url(self, path: str = "/.well-known/jwks.json") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def add_key(self, alg: str = "RS256", kid: str | None = None, key=None, first: bool = False,
                declare_alg: bool = True) -> str:
        if key is None:
            key = new_rsa_key() if alg.startswith(("RS", "PS")) else new_ec_key(
                {"ES256": ec.SECP256R1(), "ES384": ec.SECP384R1()}[alg])
        kid = kid or f"{alg.lower()}-{secrets.token_hex(6)}"
        if not declare_alg:
            self.no_alg_kids.add(kid)
        with self.lock:
            if first:
                self.keys.insert(0, (kid, key, alg))
            else:
                self.keys.append((kid, key, alg))
        return kid

    def document(self) -> dict:
        return {"keys": [public_jwk(key, kid, None if kid in self.no_alg_kids else alg)
                         for kid, key, alg in self.keys]}

    def key(self, kid: str | None = None):
        for k, key, alg in self.keys:
            if kid in (None, k):
                return k, key, alg
        raise KeyError(kid)

    def mint(self, claims: dict, kid: str | None = None, alg: str | None = None, headers: dict | None = None,
             key=None) -> str:
        """Sign `claims` with one of this server's keys (PyJWT). `kid` in `headers` overrides."""
        k, private, key_alg = self.key(kid)
        hdr = {"kid": k}
        hdr.update(headers or {})
        return jwt.encode(claims, key or private, algorithm=alg or key_alg, headers=hdr)


def unsigned_token(header: dict, claims: dict, signature: bytes = b"") -> str:
    """A JWS assembled by hand (for alg none and other shapes no library will sign)."""
    h = b64url(json.dumps(header, separators=(",", ":")).encode())
    c = b64url(json.dumps(claims, separators=(",", ":")).encode())
    return f"{h}.{c}.{b64url(signature)}"


def hs256_with_public_key(public_pem: bytes, header: dict, claims: dict) -> str:
    """The alg-confusion attack: HS256 keyed with the RSA public key's PEM bytes (PyJWT refuses to
    do it, so HMAC is computed here)."""
    import hmac

    h = b64url(json.dumps({"alg": "HS256", "typ": "JWT", **header}, separators=(",", ":")).encode())
    c = b64url(json.dumps(claims, separators=(",", ":")).encode())
    sig = hmac.new(public_pem, f"{h}.{c}".encode(), hashlib.sha256).digest()
    return f"{h}.{c}.{b64url(sig)}"


def cognito_id_token(server: JwksServer, *, issuer: str, client_id: str, sub: str, groups=None,
                     kid: str | None = None, now: int | None = None, overrides: dict | None = None) -> str:
    """An ID token exactly as a Cognito user pool issues it (claim names, types and order)."""
    now = now or int(time.time())
    claims = {
        "sub": sub,
        "cognito:groups": groups if groups is not None else [],
        "email_verified": True,
        "iss": issuer,
        "cognito:username": sub,
        "origin_jti": secrets.token_hex(16),
        "aud": client_id,
        "event_id": secrets.token_hex(16),
        "token_use": "id",
        "auth_time": now - 5,
        "exp": now + 3600,
        "iat": now,
        "jti": secrets.token_hex(16),
        "email": f"{sub}@example.com",
    }
    if groups is None:
        del claims["cognito:groups"]
    claims.update(overrides or {})  # a None value removes the claim
    return server.mint({k: v for k, v in claims.items() if v is not None}, kid=kid)


def cognito_access_token(server: JwksServer, *, issuer: str, client_id: str, sub: str, groups=None,
                         kid: str | None = None, now: int | None = None, overrides: dict | None = None) -> str:
    """An access token exactly as Cognito issues it: no `aud`; `client_id`, `token_use` = access."""
    now = now or int(time.time())
    claims = {
        "sub": sub,
        "cognito:groups": groups if groups is not None else [],
        "iss": issuer,
        "version": 2,
        "client_id": client_id,
        "origin_jti": secrets.token_hex(16),
        "event_id": secrets.token_hex(16),
        "token_use": "access",
        "scope": "aws.cognito.signin.user.admin openid email",
        "auth_time": now - 5,
        "exp": now + 3600,
        "iat": now,
        "jti": secrets.token_hex(16),
        "username": sub,
    }
    if groups is None:
        del claims["cognito:groups"]
    claims.update(overrides or {})  # a None value removes the claim
    return server.mint({k: v for k, v in claims.items() if v is not None}, kid=kid)


def _selfcheck():  # pragma: no cover - `python tests/identity_standins.py`
    p = OidcProvider().start()
    try:
        for alg in ("RS256", "ES256"):
            token = p.id_token("alice", ["members"], alg=alg)
            client = jwt.PyJWKClient(p.jwks_url)
            key = client.get_signing_key_from_jwt(token)
            claims = jwt.decode(token, key.key, algorithms=[alg], audience=p.client_id(alg), issuer=p.issuer)
            print(alg, jwt.get_unverified_header(token), claims)
    finally:
        p.stop()


if __name__ == "__main__":
    _selfcheck()
