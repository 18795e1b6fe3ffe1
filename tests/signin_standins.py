"""Helpers for the sign-in tests (tests/test_signin.py):

- `Viewer`: a browser without JavaScript, over HTTP: one cookie jar for the worker and the
  provider (both on 127.0.0.1, as a browser keeps them), redirects followed by hand so that a test
  can stop at any step (the authorization request, the callback) and tamper with it. It drives the
  real `oidc-provider`'s login and consent forms exactly as tests/identity_standins.py does.
- `CognitoHostedUi`: a stand-in for a Cognito user pool's hosted UI (managed login) on loopback, at
  the paths Cognito uses (`/oauth2/authorize`, `/oauth2/token`, `/logout`), issuing ID tokens
  exactly as a user pool does (tests/identity_standins.py's `cognito_id_token`, the pool's issuer,
  signed by a JwksServer key). It checks what Cognito checks: the client id, the registered
  callback and sign-out URLs, HTTP Basic client authentication with the secret, PKCE S256, and the
  code used once. Its "hosted UI" has a live session for `user` (no form): the redirect comes back
  at once.
"""

from __future__ import annotations

import base64
import hashlib
import http.cookiejar
import json
import secrets
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler

import secret_scan
from harness import Response, b64url
from identity_standins import JwksServer, _NoRedirect, _Server, cognito_id_token


class Viewer:
    """One browser: a cookie jar, no redirects followed unless asked."""

    def __init__(self, worker_url: str):
        self.worker_url = worker_url
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect)
        self.history: list[tuple[int, str]] = []

    def get(self, url: str, form: dict | None = None) -> Response:
        if url.startswith("/"):
            url = self.worker_url + url
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        req = urllib.request.Request(url, data=data)
        try:
            with self.opener.open(req, timeout=30) as r:
                response = Response(r.status, {k.lower(): v for k, v in r.headers.items()}, r.read())
        except urllib.error.HTTPError as e:
            response = Response(e.code, {k.lower(): v for k, v in e.headers.items()}, e.read())
        self.history.append((response.status, url))
        if url.startswith(self.worker_url):
            secret_scan.RESPONSES.append((url.split("?")[0], response.body))
        return response

    def cookie(self, name: str) -> str | None:
        return next((c.value for c in self.jar if c.name == name), None)

    def set_cookie(self, name: str, value: str):
        cookie = http.cookiejar.Cookie(
            0, name, value, None, False, "127.0.0.1", False, False, "/", True, False, None, False, None, None, {})
        self.jar.set_cookie(cookie)

    def drop_cookie(self, name: str):
        for c in list(self.jar):
            if c.name == name:
                self.jar.clear(c.domain, c.path, c.name)

    @staticmethod
    def location(response: Response, base: str) -> str:
        return urllib.parse.urljoin(base, response.headers["location"])

    def to_callback(self, url: str, login: str | None, *, consent: bool = True, abort: bool = False,
                    tamper=None) -> str:
        """From `url` (a worker path or the provider's authorization URL), follow redirects through the
        provider (filling its login form as `login`, its consent form) until it sends the browser back to
        the worker's /callback, and return that URL without opening it. `tamper` may rewrite the
        authorization URL before it is sent; `abort` cancels at the provider's first form."""
        for _ in range(16):
            if url.startswith(self.worker_url + "/callback"):
                return url
            if tamper and "/auth?" in url and not url.startswith(self.worker_url):
                url, tamper = tamper(url), None
            r = self.get(url)
            if r.status in (302, 303):
                url = self.location(r, url)
                continue
            assert r.status == 200, f"{r.status} at {url}: {r.text[:1500]}"
            body = r.text
            action = urllib.parse.urljoin(url, body.split('action="', 1)[1].split('"', 1)[0].replace("&amp;", "&"))
            if abort:
                uid = urllib.parse.urlparse(action).path.split("/")[2]
                url = urllib.parse.urljoin(url, f"/interaction/{uid}/abort")
                continue
            if 'name="prompt" value="login"' in body:
                assert login, "the provider asked for a login"
                form = {"prompt": "login", "login": login, "password": "any"}
            elif 'name="prompt" value="consent"' in body and consent:
                form = {"prompt": "consent"}
            else:
                raise AssertionError(f"unexpected page at {url}: {body[:1500]}")
            r = self.get(action, form)
            assert r.status in (302, 303), f"{r.status} posting {action}: {r.text[:1500]}"
            url = self.location(r, action)
        raise AssertionError(f"no callback reached; history: {self.history[-16:]}")

    def sign_in(self, path: str, login: str | None) -> Response:
        """Open `path` of the worker and go through sign-in; the answer of the worker's /callback."""
        callback = self.to_callback(self.worker_url + path, login)
        return self.get(callback)


class CognitoHostedUi:
    """Cognito's hosted UI / managed login on loopback: /oauth2/authorize, /oauth2/token, /logout."""

    def __init__(self, *, region: str, pool: str, client_id: str, client_secret: str):
        self.issuer = f"https://cognito-idp.{region}.amazonaws.com/{pool}"
        self.client_id, self.client_secret = client_id, client_secret
        self.keys = JwksServer()
        self.keys.add_key("RS256")
        self.keys.add_key("RS256")  # a user pool publishes two keys
        self.callback_urls: list[str] = []
        self.logout_urls: list[str] = []
        self.user = ("cognito-viewer", ["members"])
        self.codes: dict[str, dict] = {}
        self.token_requests: list[dict] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _send(self, status, body=b"", headers=None):
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _json(self, status, doc):
                self._send(status, json.dumps(doc).encode(), {"content-type": "application/json"})

            def do_GET(self):
                url = urllib.parse.urlparse(self.path)
                q = {k: v[0] for k, v in urllib.parse.parse_qs(url.query).items()}
                if url.path == "/oauth2/authorize":
                    ok = (q.get("client_id") == outer.client_id and q.get("redirect_uri") in outer.callback_urls
                          and q.get("response_type") == "code" and q.get("code_challenge_method") == "S256"
                          and "openid" in q.get("scope", "").split())
                    if not ok:
                        return self._send(400, b"invalid_request")
                    code = secrets.token_urlsafe(32)
                    with outer.lock:
                        outer.codes[code] = {**q, "user": outer.user}
                    back = q["redirect_uri"] + "?" + urllib.parse.urlencode({"code": code, "state": q.get("state", "")})
                    return self._send(302, headers={"location": back})
                if url.path == "/logout":
                    if q.get("client_id") != outer.client_id or q.get("logout_uri") not in outer.logout_urls:
                        return self._send(400, b"invalid logout_uri")
                    return self._send(302, headers={"location": q["logout_uri"]})
                if url.path.endswith("/.well-known/jwks.json"):
                    return self._json(200, outer.keys.document())
                self._send(404)

            def do_POST(self):
                if self.path != "/oauth2/token":
                    return self._send(404)
                form = {k: v[0] for k, v in urllib.parse.parse_qs(
                    self.rfile.read(int(self.headers.get("content-length", 0))).decode()).items()}
                auth = self.headers.get("authorization", "")
                outer.token_requests.append({"auth": auth.split(" ")[0], "form": sorted(form)})
                expected = "Basic " + base64.b64encode(f"{outer.client_id}:{outer.client_secret}".encode()).decode()
                if auth != expected:
                    return self._json(401, {"error": "invalid_client"})
                with outer.lock:
                    grant = outer.codes.pop(form.get("code", ""), None)
                verifier = form.get("code_verifier", "")
                if (grant is None or form.get("grant_type") != "authorization_code"
                        or form.get("redirect_uri") != grant["redirect_uri"]
                        or b64url(hashlib.sha256(verifier.encode()).digest()) != grant["code_challenge"]):
                    return self._json(400, {"error": "invalid_grant"})
                sub, groups = grant["user"]
                token = cognito_id_token(outer.keys, issuer=outer.issuer, client_id=outer.client_id, sub=sub,
                                         groups=groups, overrides={"nonce": grant.get("nonce")})
                secret_scan.register("secret", token)
                self._json(200, {"id_token": token, "access_token": secrets.token_urlsafe(40),
                                 "refresh_token": secrets.token_urlsafe(40), "token_type": "Bearer", "expires_in": 3600})

            def log_message(self, *args):
                pass

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def wait_for(predicate, timeout: float = 10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False
