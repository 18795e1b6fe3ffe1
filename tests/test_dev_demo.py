"""The local demo as `make dev` starts it: tools/dev.py (the IVS stand-in plus `wrangler dev`, the
demo channel pointed at the stand-in, DEV_LOGIN) on the dev key and secret of scripts/dev-vars.sh.
Only TOKEN_TTL_SECONDS differs (10, which `make dev TOKEN_TTL_SECONDS=10` also takes), so that a
token can expire within the test. A real browser (Debian Chromium, playwright-core) signs in through
/dev/login like a newcomer and watches; faults are injected on the browser's side only (a changed
token, a held request, a removed cookie, a dropped connection); the stand-in checks every token."""

import json
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
from harness import CLI, ROOT, free_port, request, verify_playback_token
from websockets.sync.client import connect

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"
PLAYLIST = ".channel.demo.m3u8"
TOKEN_TTL = 10

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian chromium (make tools installs it)")


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def running(pid: int) -> bool:
    """Alive and not a zombie waiting to be reaped."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


class Dev:
    """`make dev`'s launcher, started as `make dev` starts it (its own session, like a terminal)."""

    def __init__(self, port: int, standin_port: int):
        self.port, self.standin_port = port, standin_port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = ARTIFACTS / f"make-dev-{port}.log"

    def start(self, **env) -> "Dev":
        ARTIFACTS.mkdir(exist_ok=True)
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [str(ROOT / ".venv" / "bin" / "python"), "tools/dev.py"], cwd=ROOT, stdin=subprocess.DEVNULL,
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, "PORT": str(self.port), "STANDIN_PORT": str(self.standin_port),
                 "INSPECTOR_PORT": str(free_port()), "SKIP_WORKER_BUILD": "1", "NO_COLOR": "1",
                 "WRANGLER_ARGS": "--show-interactive-dev-session=false", **env},
        )
        return self

    def wait_ready(self, timeout=90) -> "Dev":
        deadline = time.time() + timeout
        while time.time() < deadline:
            assert self.proc.poll() is None, self.output()[-3000:]
            if listening(self.port) and request(self.url + "/healthz").status == 200:
                return self
            time.sleep(0.3)
        raise RuntimeError(f"make dev not ready:\n{self.output()[-3000:]}")

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self):
        """As Ctrl-C does (the launcher stops wrangler's own process group); SIGKILL as a last
        resort for everything it started, so a failed test leaves nothing running."""
        if self.proc.poll() is None:
            started = descendants(self.proc.pid)
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                for pid in [self.proc.pid, *started]:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
        self.log.close()


@pytest.fixture(scope="module")
def dev():
    subprocess.run(["sh", "scripts/dev-vars.sh"], cwd=ROOT, check=True, capture_output=True,
                   env={**os.environ, "IVS_TOKEN_CLI": str(CLI)})
    d = Dev(free_port(), free_port()).start(TOKEN_TTL_SECONDS=str(TOKEN_TTL)).wait_ready()
    yield d
    d.stop()


def visit(dev, path="/watch/demo", **options):
    p = subprocess.run(
        ["node", str(ROOT / "tests" / "browser" / "watch.mjs"), json.dumps({"url": dev.url + path, "playlist": PLAYLIST, **options})],
        cwd=ROOT, capture_output=True, text=True, timeout=150, env={**os.environ, "CHROMIUM": CHROMIUM},
    )
    assert p.returncode == 0, p.stderr[-3000:]
    result = json.loads(p.stdout)
    result["paths"] = [(r["url"].replace(dev.url, ""), r.get("status")) for r in result["requests"]]
    return result


def playlists(result):
    return [status for url, status in result["paths"] if PLAYLIST in url]


def token_calls(result):
    return [status for url, status in result["paths"] if url.startswith("/v1/token")]


def test_make_dev_prints_the_watch_url_and_a_curl_that_returns_a_token(dev):
    out = dev.output()
    assert f"{dev.url}/watch/demo" in out and f"{dev.url}/ " in out
    curl = re.search(r"curl -s '([^']+)' -H 'Cookie: ([^']+)'", out)
    assert curl, out[:2000]
    r = request(curl.group(1), headers={"Cookie": curl.group(2)})
    assert r.status == 200, r.text
    _, claims = verify_playback_token(r.json()["token"], (ROOT / ".dev" / "public.pem").read_text())
    assert claims["aws:channel-arn"] == "arn:aws:ivs:us-west-2:123456789012:channel/demo"
    assert claims["exp"] - int(time.time()) <= TOKEN_TTL
    # The playback URL is the stand-in's, which refuses it without the token, in IVS's words.
    playback = r.json()["playback_url"]
    assert playback.startswith(f"http://127.0.0.1:{dev.standin_port}/")
    refused = request(playback.split("?")[0])
    assert refused.status == 403 and refused.json()[0]["error_code"] == "invalid_playback_auth_token"


def test_make_dev_limits_devices_and_the_stand_in_revokes_the_one_taken_over(dev):
    """The demo has a device limit (one device, the newest wins) and sends revocations to the
    stand-in, which checks their signatures with botocore and then refuses the revoked session."""
    out = dev.output()
    assert "Device limits are on" in out, out[:3000]
    curl = re.search(r"curl -s '([^']+)' -H 'Cookie: ([^']+)' -H 'X-Device-Id: ([^']+)'", out)
    assert curl, out[:3000]
    url, cookie = curl.group(1), curl.group(2)
    first = request(url, headers={"Cookie": cookie, "X-Device-Id": "first-device-demo"})
    _, claims = verify_playback_token(first.json()["token"], (ROOT / ".dev" / "public.pem").read_text())
    assert request(first.json()["playback_url"]).status == 200
    second = request(url, headers={"Cookie": cookie, "X-Device-Id": "second-device-demo"})
    assert second.status == 200, second.text
    deadline, revoked = time.time() + 30, []
    while time.time() < deadline and not revoked:
        listed = request(f"http://127.0.0.1:{dev.standin_port}/_standin/revocations").json()
        revoked = [r for r in listed if r["viewerId"] == claims["aws:viewer-id"] and r["version"] >= claims["aws:viewer-session-version"]]
        time.sleep(0.3)
    assert revoked, "the stand-in accepted the revocation of the device taken over"
    assert request(first.json()["playback_url"]).status == 403
    assert request(second.json()["playback_url"]).status == 200
    # The operator's listing, as make dev prints it.
    admin = re.search(r"curl -s '([^']+/v1/admin/devices\?sub=[^']+)'", out)
    token = (ROOT / ".dev" / "admin-token").read_text().strip()
    listing = request(admin.group(1), headers={"Authorization": f"Bearer {token}"})
    assert listing.status == 200 and [d["device"] for d in listing.json()["devices"]][-1] == "second-device-demo"


def test_index_links_to_the_demo(dev):
    r = request(dev.url + "/")
    assert r.status == 200 and r.headers["content-type"].startswith("text/html")
    assert '<a href="/watch/demo">' in r.text and "<script" not in r.text


def test_the_demo_plays_a_looping_stream_after_dev_login(dev):
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "make-dev-demo-playing.png"
    # Past the fixture's 6 seconds: the live playlist loops over it.
    result = visit(dev, waitForPlayback=True, playbackSeconds=8, screenshot=str(shot))
    assert [p for p, _ in result["paths"][:3]] == ["/watch/demo", "/dev/login?return_to=/watch/demo", "/watch/demo"]
    assert result["finalUrl"] == dev.url + "/watch/demo" and result["h1"] == "Demo channel (local IVS stand-in)"
    assert playlists(result)[:1] == [200] and token_calls(result) == []
    assert result["progressEnd"]["currentTime"] > 8, (result["progressEnd"], result["console"][-10:])
    assert result["messageAfter"] is None
    assert not result["pageErrors"] and not result["cspViolations"], (result["pageErrors"], result["cspViolations"])
    assert shot.stat().st_size > 10_000
    print(f"\nscreenshot: {shot.relative_to(ROOT)}")


def test_a_tampered_token_shows_the_refusal_in_words(dev):
    result = visit(dev, tamper="all", waitForMessage=True)
    assert result["message"] and "refused this page's access token" in result["message"], result["message"]
    assert "Retry" in result["message"]
    # The embedded token, then one automatic renewal (also tampered): then it stops and asks.
    assert playlists(result)[:2] == [403, 403] and token_calls(result) == [200], result["paths"]


def test_an_expired_token_recovers_without_a_click(dev):
    result = visit(dev, holdUntilExpired=True, waitForPlayback=True)
    assert result["heldMs"] > 0
    assert playlists(result)[:2] == [403, 200], result["paths"]
    assert token_calls(result) == [200]
    assert result["progressLater"]["currentTime"] > result["progressFirst"]["currentTime"] > 0.5, result["console"][-10:]
    assert result["messageAfter"] is None


def test_a_network_error_is_shown_in_words(dev):
    result = visit(dev, offline=f"127.0.0.1:{dev.standin_port}", waitForMessage=True)
    assert result["message"] and "could not be reached (network error)" in result["message"], (result["message"], result["console"][-10:])
    assert token_calls(result) == [], "a network error is not a token problem"


def test_an_expired_session_leads_to_sign_in_not_a_loop(dev):
    # The session ends while the page is open: the cookie is gone when the stream refuses the token.
    result = visit(dev, signOutFirst=True, tamper="first", waitForPlayback=True)
    paths = [p for p, _ in result["paths"] if not p.startswith("/player/") and not p.startswith("http")]
    assert token_calls(result) == [401], result["paths"]
    after = paths[paths.index("/v1/token?channel=demo") + 1:]
    # The page reloads; the worker sends the signed-out viewer to sign in (here /dev/login), and back.
    assert after[:3] == ["/watch/demo", "/dev/login?return_to=/watch/demo", "/watch/demo"], paths
    assert result["progressFirst"]["currentTime"] > 0.5


def test_the_demo_chats_through_the_stand_in(dev):
    """The demo channel has a chat room on the stand-in: the printed session gets a chat token from
    the local worker, the stand-in's WebSocket takes it and carries a message, and the printed
    moderator sign-in gets a moderator's token and a page whose CSP allows that WebSocket."""
    out = dev.output()
    assert "Chat is on" in out, out[:3000]
    cookie = re.search(r"-H 'Cookie: ([^']+)'", out).group(1)
    r = request(dev.url + "/v1/chat-token?channel=demo", method="POST", headers={"Cookie": cookie})
    assert r.status == 200, r.text
    viewer = r.json()
    assert (viewer["role"], viewer["capabilities"]) == ("sender", ["SEND_MESSAGE"]), viewer
    ws_url = f"ws://127.0.0.1:{dev.standin_port}/"
    with connect(ws_url, subprotocols=[viewer["token"]], open_timeout=10) as ws:
        ws.send(json.dumps({"Action": "SEND_MESSAGE", "RequestId": "r1", "Content": "hello from make dev"}))
        frame = json.loads(ws.recv(timeout=5))
    assert (frame["Type"], frame["Content"], frame["Sender"]["UserId"]) == ("MESSAGE", "hello from make dev", viewer["user_id"])

    login = re.search(r"(/dev/login\?sub=dev-moderator&groups=moderators&return_to=/watch/demo)", out)
    assert login, out[:3000]
    signed_in = request(dev.url + login.group(1))
    assert (signed_in.status, signed_in.headers["location"]) == (302, "/watch/demo")
    moderator = signed_in.headers["set-cookie"].split(";")[0]
    r = request(dev.url + "/v1/chat-token?channel=demo", method="POST", headers={"Cookie": moderator})
    assert r.status == 200 and r.json()["role"] == "moderator", r.text
    page = request(dev.url + "/watch/demo", headers={"Cookie": moderator})
    assert page.status == 200 and f"\"region_or_url\":\"{ws_url}\"" in page.text
    assert f" ws://127.0.0.1:{dev.standin_port};" in page.headers["content-security-policy"]


def test_a_second_make_dev_says_so(dev):
    second = subprocess.run([str(ROOT / ".venv" / "bin" / "python"), "tools/dev.py"], cwd=ROOT, capture_output=True, text=True,
                            timeout=30, env={**os.environ, "PORT": str(dev.port)})
    assert second.returncode == 1
    assert f"already running on {dev.url}" in second.stderr, second.stderr
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    try:
        taken = busy.getsockname()[1]
        third = subprocess.run([str(ROOT / ".venv" / "bin" / "python"), "tools/dev.py"], cwd=ROOT, capture_output=True, text=True,
                               timeout=30, env={**os.environ, "PORT": str(taken)})
        assert third.returncode == 1 and f"port {taken} is in use" in third.stderr, third.stderr
    finally:
        busy.close()
    assert request(dev.url + "/healthz").status == 200, "the running one is untouched"


def test_ctrl_c_stops_everything_make_dev_started(dev):
    started = descendants(dev.proc.pid)
    assert len(started) >= 2, "wrangler and workerd"
    os.killpg(dev.proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
    assert dev.proc.wait(timeout=30) == 0
    deadline = time.time() + 10
    while time.time() < deadline and any(running(pid) for pid in started):
        time.sleep(0.2)
    alive = [pid for pid in started if running(pid)]
    assert not alive, alive
    assert not listening(dev.port) and not listening(dev.standin_port)
    assert "make dev: stopped" in dev.output()


def test_make_dev_signin_oidc_signs_in_through_a_local_provider(dev):
    """`make dev SIGNIN=oidc`: the whole sign-in flow for a newcomer, through a local OpenID Connect
    provider (tests/oidc/provider.mjs), and Ctrl-C stops the provider too."""
    oidc_port = free_port()
    second = Dev(free_port(), free_port()).start(SIGNIN="oidc", OIDC_PORT=str(oidc_port)).wait_ready()
    try:
        assert f"{second.url}/watch/demo sends you to the local OpenID Connect" in second.output()
        assert listening(oidc_port)
        p = subprocess.run(
            ["node", str(ROOT / "tests" / "browser" / "signin.mjs"),
             json.dumps({"base": second.url, "watch": "/watch/demo", "login": "newcomer"})],
            cwd=ROOT, capture_output=True, text=True, timeout=150, env={**os.environ, "CHROMIUM": CHROMIUM},
        )
        assert p.returncode == 0, p.stderr[-3000:]
        phase = json.loads(p.stdout)["phases"]["signIn"]
        assert phase["landedOn"].startswith(f"http://127.0.0.1:{oidc_port}/interaction/"), phase["landedOn"]
        assert phase["played"] and phase["url"] == second.url + "/watch/demo", (phase["url"], phase["h1"])
        # /dev/login keeps working beside it.
        assert request(second.url + "/dev/login?sub=x").status == 302
    finally:
        second.stop()
    assert second.proc.returncode == 0 and not listening(oidc_port), "Ctrl-C stops the provider too"
