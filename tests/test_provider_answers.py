"""Identity providers' answers are read with a hard cap, end to end against `wrangler dev`
(security review: a 60 MB answer from a provider's token endpoint completed a sign-in and grew
workerd by 640 MB, past a Workers isolate's 128 MB; discovery documents went through the same
unbounded read).

What must hold: discovery documents, token endpoint answers (and key documents) are read with a
256 KiB cap (`identity::jwk::MAX_DOCUMENT_BYTES`, src/edge/body.rs `read_text`): a declared
`Content-Length` over it is refused before anything is read, a chunked answer is dropped as soon as
it passes it. A capped answer is a failed fetch: the callback is the 503 page "cannot be reached"
(no session), `/login` at a provider whose discovery document could not be had is the 503 page
"Sign-in is unavailable".

`StandInProvider` below is a provider on loopback (discovery document, key set, an authorization
endpoint that sends the browser straight back with a code, the state and `iss`, a token endpoint
that checks the code, redirect URI and PKCE verifier and mints an RS256 ID token for the
authorization request's nonce). Its `token_answer` / `discovery_answer` say how it answers:
"normal", or a 60 MB answer with `Content-Length` ("big-length") or chunked ("big-chunked"). A 60
MB answer is the normal, valid JSON document with a 60 MB `padding` field after the real fields,
streamed from a generator (one shared 1 MiB piece written again and again; the test process never
holds it): a worker that read it whole would complete the sign-in with it (as before the fix).

Meanwhile the resident memory (VmRSS) of the worker's workerd processes is sampled as
tests/test_body_limit.py does (its `Memory`): the peak while the answer streams and the value
1.5 s after the worker answered must stay within 64 MB of before (and the kernel's VmHWM, reset
on entry where allowed). Seen when this was written: the runtime reads 65 chunks of 4 KiB of a
chunked answer (256 KiB and one chunk) and resets the connection, the stand-in gets 1 to 4 MB
(socket buffers) out of its 60; growth under 4 MB per case, except about 28 MB at the first
chunked answer, most of it the runtime's warm-up (its first dozen sign-ins of any kind grow it
by some 25 MB, then it stays). wrangler dev's own proxy workerd grows by about 3 MB per answer
the runtime reads in chunks, big or small (its InspectorProxyWorker enables the runtime's
`Network` domain and keeps every event while no DevTools is attached): a development artifact,
not the worker, and small beside the limit for the few answers here.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler

import pytest
import secret_scan
from harness import ARN_PREFIX, Worker, b64url, new_p384_key, sec1_pem, start_all
from identity_standins import JwksServer, _Server
from signin_standins import Viewer
from test_body_limit import GROWTH, SETTLE, Memory, mb, workerd_pids
from test_signin_mixup import assert_page, query_of, session_claims

CAP = 256 * 1024  # identity::jwk::MAX_DOCUMENT_BYTES
BIG = 60 * 1024 * 1024
PIECE = b"A" * (1 << 20)  # one MiB, written again and again
WRITE_TIMEOUT = 15  # a stand-in write the worker no longer reads gives up after this long


def padded_pieces(document: dict, total: int):
    """`document` as JSON with a `padding` string field making it exactly `total` bytes, in
    pieces: the head, then PIECE (or part of it) again and again, then the closing `"}`."""
    head = json.dumps(document).encode()[:-1] + b', "padding": "'
    tail = b'"}'
    left = total - len(head) - len(tail)
    assert left > 0
    yield head
    while left > 0:
        piece = PIECE if left >= len(PIECE) else PIECE[:left]
        left -= len(piece)
        yield piece
    yield tail


class StandInProvider:
    """One OpenID Connect provider on loopback; see the module's docstring."""

    def __init__(self, name: str, worker_url: str):
        self.name = name
        self.client_id = f"worker-at-{name}"
        self.redirect_uri = f"{worker_url}/callback/{name}"
        self.keys = JwksServer()  # its keys only; it serves them itself at /jwks
        self.keys.add_key("RS256")
        self.token_answer = "normal"
        self.discovery_answer = "normal"
        self.codes: dict[str, dict] = {}
        self.counts = {"discovery": 0, "jwks": 0, "authorize": 0, "token": 0}
        self.streams: list[dict] = []  # each big answer: what, framing, bytes written, how it ended
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # chunked answers

            def _send(self, status, body=b"", headers=None):
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _json(self, status, doc, mode="normal", what=""):
                if mode == "normal":
                    return self._send(status, json.dumps(doc).encode(), {"content-type": "application/json"})
                self._stream(status, padded_pieces(doc, BIG), mode, what)

            def _stream(self, status, pieces, mode, what):
                """The answer written piece by piece; with `Content-Length: BIG` or chunked. A write
                the worker no longer takes (reset, closed, or stalled for WRITE_TIMEOUT) ends it."""
                record = {"what": what, "framing": mode, "written": 0, "ended": "complete", "seconds": 0.0}
                with outer.lock:
                    outer.streams.append(record)
                started = time.time()
                self.close_connection = True
                self.connection.settimeout(WRITE_TIMEOUT)
                try:
                    self.send_response(status)
                    self.send_header("content-type", "application/json")
                    self.send_header("connection", "close")
                    if mode == "big-length":
                        self.send_header("content-length", str(BIG))
                    else:
                        self.send_header("transfer-encoding", "chunked")
                    self.end_headers()
                    for piece in pieces:
                        if mode == "big-length":
                            self.wfile.write(piece)
                        else:
                            self.wfile.write(b"%x\r\n" % len(piece) + piece + b"\r\n")
                        record["written"] += len(piece)
                    if mode == "big-chunked":
                        self.wfile.write(b"0\r\n\r\n")
                except OSError as e:
                    record["ended"] = f"{type(e).__name__}: {e}"
                record["seconds"] = round(time.time() - started, 2)

            def do_GET(self):
                url = urllib.parse.urlparse(self.path)
                q = {k: v[0] for k, v in urllib.parse.parse_qs(url.query).items()}
                if url.path == "/.well-known/openid-configuration":
                    with outer.lock:
                        outer.counts["discovery"] += 1
                    return self._json(200, outer.discovery(), outer.discovery_answer, "discovery document")
                if url.path == "/jwks":
                    with outer.lock:
                        outer.counts["jwks"] += 1
                    return self._json(200, outer.keys.document())
                if url.path == "/authorize":
                    with outer.lock:
                        outer.counts["authorize"] += 1
                    ok = (q.get("client_id") == outer.client_id and q.get("redirect_uri") == outer.redirect_uri
                          and q.get("response_type") == "code" and q.get("code_challenge_method") == "S256"
                          and "openid" in q.get("scope", "").split() and q.get("nonce") and q.get("state"))
                    if not ok:
                        return self._send(400, b"invalid_request: " + json.dumps(sorted(q)).encode())
                    code = secrets.token_urlsafe(32)
                    secret_scan.register("secret", code)
                    with outer.lock:
                        outer.codes[code] = q
                    back = outer.redirect_uri + "?" + urllib.parse.urlencode(
                        {"code": code, "state": q["state"], "iss": outer.issuer})
                    return self._send(302, headers={"location": back})
                self._send(404)

            def do_POST(self):
                if urllib.parse.urlparse(self.path).path != "/token":
                    return self._send(404)
                body = self.rfile.read(int(self.headers.get("content-length", 0))).decode()
                form = {k: v[0] for k, v in urllib.parse.parse_qs(body).items()}
                with outer.lock:
                    outer.counts["token"] += 1
                    grant = outer.codes.pop(form.get("code", ""), None)
                verifier = form.get("code_verifier", "")
                if (grant is None or form.get("grant_type") != "authorization_code"
                        or form.get("client_id") != outer.client_id
                        or form.get("redirect_uri") != grant["redirect_uri"]
                        or b64url(hashlib.sha256(verifier.encode()).digest()) != grant["code_challenge"]):
                    return self._json(400, {"error": "invalid_grant"})
                now = int(time.time())
                token = outer.keys.mint({
                    "iss": outer.issuer, "aud": outer.client_id, "sub": f"viewer-at-{outer.name}",
                    "iat": now, "auth_time": now - 5, "exp": now + 600, "nonce": grant["nonce"],
                })
                secret_scan.register("secret", token)
                answer = {"id_token": token, "access_token": secrets.token_urlsafe(40), "token_type": "Bearer",
                          "expires_in": 600}
                self._json(200, answer, outer.token_answer, "token answer")

            def log_message(self, *args):
                pass

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.issuer = self.url
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def discovery(self) -> dict:
        return {
            "issuer": self.issuer, "authorization_endpoint": self.url + "/authorize",
            "token_endpoint": self.url + "/token", "jwks_uri": self.url + "/jwks",
            "response_types_supported": ["code"], "code_challenge_methods_supported": ["S256"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "authorization_response_iss_parameter_supported": True,
        }

    def settings(self) -> dict:
        """Its `IDENTITY_PROVIDERS` entry: a public client, endpoints from its discovery document."""
        return {"issuer": self.issuer, "audience": self.client_id, "jwks_url": self.url + "/jwks",
                "login": {"client_id": self.client_id}}

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class Setup:
    def __init__(self):
        self.secret = secrets.token_urlsafe(48)
        self.worker = Worker({})
        w = self.worker.url
        # `answers`: normal discovery document and keys; its token answers change case by case.
        # `doclength`, `docchunked`: their discovery documents are 60 MB, with and without a length.
        self.answers = StandInProvider("answers", w)
        self.doclength = StandInProvider("doclength", w)
        self.doclength.discovery_answer = "big-length"
        self.docchunked = StandInProvider("docchunked", w)
        self.docchunked.discovery_answer = "big-chunked"
        self.providers = [self.answers, self.doclength, self.docchunked]
        channels = {"demo": {"arn": ARN_PREFIX + "demo", "playback_url": "https://play.example.net/demo.m3u8"}}
        self.worker.settings = {
            "PLAYBACK_PRIVATE_KEY": sec1_pem(new_p384_key()),
            "SESSION_SECRET": self.secret,
            "CHANNELS": json.dumps(channels),
            "ALLOWED_ORIGINS": w,
            "IDENTITY_PROVIDERS": json.dumps({p.name: p.settings() for p in self.providers}),
        }

    def stop(self):
        self.worker.stop()
        for p in self.providers:
            p.stop()


@pytest.fixture(scope="module")
def setup():
    s = Setup()
    try:
        start_all([s.worker])
        yield s
    finally:
        s.stop()


def measured(setup: Setup, case: str, run):
    """`run(memory_context)` once, again if wrangler dev reloaded the worker meanwhile (a workerd
    process went away: a measurement across that says nothing; anything else is a crash)."""
    worker = setup.worker
    for attempt in range(2):
        log_at = len(worker.output())
        result, memory = run(lambda: Memory(workerd_pids(worker)))
        if not memory.vanished:
            return result, memory
        time.sleep(2)
        reloaded = re.search(r"changed, restarting build|Reloading local server", worker.output()[log_at:])
        assert reloaded and attempt == 0, f"{case}: a workerd process went away: {worker.output()[-2000:]}"
        print(f"\n[provider-answers] {case}: wrangler dev reloaded the worker meanwhile; once more")
        worker.wait_ready()
    raise AssertionError("unreachable")


def sign_in_to_callback(setup: Setup, provider: StandInProvider) -> tuple[Viewer, str]:
    """A fresh browser through /login?provider=NAME and the stand-in's authorization endpoint, up
    to the worker's callback URL (not opened)."""
    viewer = Viewer(setup.worker.url)
    started = viewer.get(f"/login?provider={provider.name}&return_to=%2Fwatch%2Fdemo")
    assert started.status == 302, (started.status, started.text[:800])
    authorize = started.headers["location"]
    assert authorize.startswith(provider.url + "/authorize?"), authorize
    assert query_of(authorize)["redirect_uri"] == provider.redirect_uri
    sent = viewer.get(authorize)
    assert sent.status == 302, (sent.status, sent.text[:300])
    callback = sent.headers["location"]
    assert callback.startswith(provider.redirect_uri + "?"), callback
    assert query_of(callback)["iss"] == provider.issuer
    assert viewer.cookie("ivs-signin"), "the state cookie is set"
    return viewer, callback


def hwm_resettable(pids: list[int]) -> bool:
    """Whether the kernel's peak RSS (VmHWM) of these processes can be reset (`Memory` does so on
    entry): then it is the true peak over the request, which 20 ms sampling could miss."""
    try:
        for pid in pids:
            with open(f"/proc/{pid}/clear_refs", "w") as f:
                f.write("5")
        return True
    except OSError:
        return False


def assert_bounded(case: str, memory: Memory):
    assert memory.grown_peak < GROWTH, f"{case}: workerd grew by {mb(memory.grown_peak)} at its peak: {memory.describe()}"
    assert memory.grown_after < GROWTH, f"{case}: workerd grew by {mb(memory.grown_after)} after {SETTLE}s: {memory.describe()}"
    if hwm_resettable(memory.pids):
        grown_hwm = sum(memory.hwm.values()) - sum(memory.before.values())
        assert grown_hwm < GROWTH, f"{case}: workerd's VmHWM grew by {mb(grown_hwm)}: {memory.describe()}"


def log_lines(text: str, key: str) -> list[str]:
    """The worker's log lines holding `key`, without wrangler's colours."""
    return [re.sub(r"\x1b\[[0-9;]*m", "", line).strip() for line in text.splitlines() if key in line]


def control(setup: Setup, case: str):
    """A normal sign-in at `answers`: 302 to the return path, a session as its viewer."""
    setup.answers.token_answer = "normal"
    def run(memory):
        viewer, callback = sign_in_to_callback(setup, setup.answers)
        tokens = setup.answers.counts["token"]
        with memory() as m:
            done = viewer.get(callback)
        return (viewer, done, tokens), m

    (viewer, done, tokens), memory = measured(setup, case, run)
    print(f"\n[provider-answers] {case}: status {done.status} -> {done.headers.get('location')}; {memory.describe()}")
    assert (done.status, done.headers.get("location")) == (302, "/watch/demo"), (done.status, done.text[:800])
    claims = session_claims(viewer, setup.secret)
    assert claims, "a session cookie"
    assert (claims["sub"], claims["idp"], claims["idp_iss"]) == ("viewer-at-answers", "answers", setup.answers.issuer)
    assert setup.answers.counts["token"] == tokens + 1
    assert_bounded(case, memory)


def test_a_normal_sign_in_completes(setup):
    control(setup, "control")


@pytest.mark.parametrize("framing", ["big-length", "big-chunked"])
def test_a_60_mb_token_answer_is_refused_without_being_held(setup, framing):
    case = f"token-answer-{framing}"
    provider = setup.answers
    provider.token_answer = framing
    try:
        def run(memory):
            viewer, callback = sign_in_to_callback(setup, provider)
            before = (len(setup.worker.output()), provider.counts["token"], len(provider.streams))
            with memory() as m:
                r = viewer.get(callback)
            return (viewer, r, before), m

        (viewer, r, (log_at, tokens, streams)), memory = measured(setup, case, run)
    finally:
        provider.token_answer = "normal"
    time.sleep(0.5)  # the stand-in's stream record settles
    stream = provider.streams[streams:]
    log = setup.worker.output()[log_at:]
    reason = log_lines(log, '"token_endpoint"')
    print(f"\n[provider-answers] {case}: status {r.status}, session cookie {viewer.cookie('session') is not None}; "
          f"stand-in stream {stream}; worker log {reason}; {memory.describe()}")
    assert provider.counts["token"] == tokens + 1, "the worker exchanged the code at the stand-in's token endpoint"
    assert len(stream) == 1 and stream[0]["what"] == "token answer", stream
    if framing == "big-chunked":
        assert stream[0]["written"] > CAP, "the chunked answer streamed past the cap before the worker stopped"
    assert_page(r, 503, "cannot be reached")
    assert "Sign-in is unavailable" in r.text
    assert viewer.cookie("session") is None, "no session from a capped answer"
    assert viewer.cookie("ivs-signin") is None, "the single-use state cookie is cleared"
    assert any("larger than 256 KiB" in line for line in reason), f"the worker's log says why: {log[-1500:]}"
    assert_bounded(case, memory)


@pytest.mark.parametrize("which", ["doclength", "docchunked"])
def test_a_60_mb_discovery_document_is_refused_without_being_held(setup, which):
    provider = getattr(setup, which)
    case = f"discovery-{provider.discovery_answer}"
    def run(memory):
        viewer = Viewer(setup.worker.url)
        before = (len(setup.worker.output()), provider.counts["discovery"], len(provider.streams))
        with memory() as m:
            r = viewer.get(f"/login?provider={provider.name}&return_to=%2Fwatch%2Fdemo")
        return (viewer, r, before), m

    (viewer, r, (log_at, fetches, streams)), memory = measured(setup, case, run)
    time.sleep(0.5)
    stream = provider.streams[streams:]
    log = setup.worker.output()[log_at:]
    reason = log_lines(log, '"sign_in_unavailable"')
    print(f"\n[provider-answers] {case}: status {r.status}; stand-in stream {stream}; worker log {reason}; "
          f"{memory.describe()}")
    assert provider.counts["discovery"] == fetches + 1, "the worker fetched the discovery document"
    assert len(stream) == 1 and stream[0]["what"] == "discovery document", stream
    if provider.discovery_answer == "big-chunked":
        assert stream[0]["written"] > CAP, "the chunked document streamed past the cap before the worker stopped"
    assert_page(r, 503, "Sign-in is unavailable")
    assert "cannot be reached" in r.text
    assert provider.counts["authorize"] == 0 and provider.counts["token"] == 0
    assert viewer.cookie("session") is None
    assert any("larger than 256 KiB" in line for line in reason), f"the worker's log says why: {log[-1500:]}"
    assert_bounded(case, memory)


def test_sign_in_still_works_afterwards(setup):
    control(setup, "control-after")
