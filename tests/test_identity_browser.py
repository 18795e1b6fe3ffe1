"""A single-page app on another loopback origin calls the worker's /v1/token with
`Authorization: Bearer <ID token from the real OpenID Connect provider>`, in Chromium: the browser's
CORS preflight must allow the Authorization header, and the page reads the answer.

The worker runs with IDENTITY_PROVIDERS and without SESSION_SECRET (a valid configuration now)."""

import json
import os
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from harness import ROOT, Worker, expected_viewer_id, new_p384_key, public_pem, sec1_pem, start_all, verify_playback_token
from identity_standins import OidcProvider, _Server

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARN = "arn:aws:ivs:us-west-2:123456789012:channel/spa"

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian chromium (make tools installs it)")

PAGE = """<!doctype html><meta charset="utf-8"><title>spa</title>
<script>
(async () => {
  const token = %(token)s;
  try {
    const r = await fetch(%(url)s, { headers: token ? { Authorization: "Bearer " + token } : {} });
    window.__result = { ok: true, status: r.status, body: await r.text(),
                        contentType: r.headers.get("content-type") };
  } catch (e) {
    window.__result = { ok: false, error: String(e) };
  }
})();
</script>"""


class PageServer:
    """Serves one page per path: /<name> -> PAGE with that name's token and worker URL."""

    def __init__(self):
        self.pages = {}
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                body = outer.pages.get(self.path, "not found").encode()
                self.send_response(200 if self.path in outer.pages else 404)
                self.send_header("content-type", "text/html; charset=utf-8")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def add(self, path, token, url):
        self.pages[path] = PAGE % {"token": json.dumps(token), "url": json.dumps(url)}
        return self.origin + path

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class Setup:
    def __init__(self):
        self.key = new_p384_key()
        self.idp = OidcProvider().start()
        self.allowed = PageServer()  # its origin is in ALLOWED_ORIGINS
        self.stranger = PageServer()  # its origin is not
        self.worker = Worker({
            "PLAYBACK_PRIVATE_KEY": sec1_pem(self.key),
            "CHANNELS": json.dumps({"spa": {"arn": ARN, "playback_url": "https://play.example.net/spa.m3u8"}}),
            "ALLOWED_ORIGINS": self.allowed.origin,
            "IDENTITY_PROVIDERS": json.dumps({"spa-idp": {
                "issuer": self.idp.issuer, "audience": self.idp.client_id(), "jwks_url": self.idp.jwks_url}}),
        })

    def stop(self):
        self.worker.stop()
        self.idp.stop()
        self.allowed.stop()
        self.stranger.stop()


@pytest.fixture(scope="module")
def setup():
    s = Setup()
    try:
        s.worker.extra_args = ["--persist-to", str(s.worker.dir / "state")]  # its own Cache API
        start_all([s.worker])
        yield s
    finally:
        s.stop()


def visit(url):
    p = subprocess.run(
        ["node", str(ROOT / "tests" / "browser" / "page.mjs"), json.dumps({"url": url})],
        cwd=ROOT, capture_output=True, text=True, timeout=120, env={**os.environ, "CHROMIUM": CHROMIUM},
    )
    assert p.returncode == 0, p.stderr[-3000:]
    out = json.loads(p.stdout)
    # What a failing assertion shows first: the page's result and the browser console (CORS errors).
    out["debug"] = f"result={out['result']} console={out['console'][-5:]}"
    return out


def log_lines(worker):
    lines = []
    for line in worker.output().splitlines():
        start = line.find("{")
        if start >= 0:
            try:
                lines.append(json.loads(line[start:]))
            except json.JSONDecodeError:
                pass
    return lines


def test_cross_origin_bearer_request_from_a_page(setup):
    token = setup.idp.id_token("spa-viewer")
    api = setup.worker.url + "/v1/token?channel=spa"
    before = len(log_lines(setup.worker))
    out = visit(setup.allowed.add("/ok", token, api))
    result = out["result"]
    assert result and result["ok"], out["debug"]
    assert result["status"] == 200, out["debug"]
    body = json.loads(result["body"])
    _, claims = verify_playback_token(body["token"], public_pem(setup.key))
    assert claims["aws:viewer-id"] == expected_viewer_id(setup.key, "spa-viewer", setup.idp.issuer)
    assert claims["aws:channel-arn"] == ARN
    # The request really was cross-origin with the header (so Chromium preflighted it).
    call = next(r for r in out["requests"] if r["url"] == api)
    assert call["headers"].get("authorization") == "Bearer " + token
    assert out["origin"] == setup.allowed.origin != setup.worker.url
    deadline = time.time() + 10  # the worker's log lines reach wrangler's output asynchronously
    while True:
        logged = log_lines(setup.worker)[before:]
        methods = [(entry.get("method"), entry.get("path"), entry.get("status")) for entry in logged]
        if any(m == "OPTIONS" for m, _, _ in methods) or time.time() > deadline:
            break
        time.sleep(0.2)
    assert any(m == "OPTIONS" and p == "/v1/token" for m, p, _ in methods), f"no preflight logged: {methods}"


def test_page_reads_the_401_problem_of_a_bad_token(setup):
    token = setup.idp.id_token("spa-viewer")
    forged = token[:-6] + ("AAAAAA" if not token.endswith("AAAAAA") else "BBBBBB")
    out = visit(setup.allowed.add("/bad", forged, setup.worker.url + "/v1/token?channel=spa"))
    result = out["result"]
    assert result and result["ok"], out["debug"]
    assert result["status"] == 401, out["debug"]
    assert result["contentType"] == "application/problem+json"
    assert json.loads(result["body"])["type"] == "urn:ivs-token-worker:problem:session-invalid"


def test_origin_not_allowed_cannot_read_the_answer(setup):
    token = setup.idp.id_token("spa-viewer")
    out = visit(setup.stranger.add("/stranger", token, setup.worker.url + "/v1/token?channel=spa"))
    result = out["result"]
    assert result and result["ok"] is False, f"a page from an origin not in ALLOWED_ORIGINS read it: {out['debug']}"
    assert "Failed to fetch" in result["error"], result


def test_page_reads_session_missing_without_a_token(setup):
    """The same page without the header (a simple request, no preflight): the problem is readable."""
    out = visit(setup.allowed.add("/none", None, setup.worker.url + "/v1/token?channel=spa"))
    result = out["result"]
    assert result and result["ok"], out["debug"]
    assert result["status"] == 401, out["debug"]
    assert json.loads(result["body"])["type"] == "urn:ivs-token-worker:problem:session-missing"
