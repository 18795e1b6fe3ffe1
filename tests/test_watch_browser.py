"""The watch page in a real browser (Debian Chromium driven by playwright-core), with both players:
the player starts on the token embedded in the page, with no call to /v1/token first, against the
local IVS stand-in (tools/ivs_standin.py); a refused token is renewed once by itself, then Retry.
tests/test_dev_demo.py checks the same page as `make dev` serves it."""

import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest
from harness import ROOT, Worker, new_p384_key, public_pem, sec1_pem, session_cookie, start_all

sys.path.insert(0, str(ROOT / "tools"))
from ivs_standin import StandIn  # noqa: E402

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"
ARN = "arn:aws:ivs:us-west-2:123456789012:channel/demo"
HOSTILE_TITLE = "</script><script>window.__pwned=true</script><!-- \"quoted\" & 'single' <b>bold</b>"

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian chromium (make tools installs it)")


class Setup:
    def __init__(self, player_script=None):
        self.key = new_p384_key()
        self.secret = secrets.token_urlsafe(48)
        self.standin = StandIn(public_pem(self.key), ARN).start()
        channel = {"arn": ARN, "playback_url": self.standin.playback_url, "title": "Demo"}
        hostile = {**channel, "title": HOSTILE_TITLE}
        self.worker = Worker({})
        settings = {
            "PLAYBACK_PRIVATE_KEY": sec1_pem(self.key),
            "SESSION_SECRET": self.secret,
            # \u0027: the env file is single-quoted; JSON reads the escape back as a quote.
            "CHANNELS": json.dumps({"demo": channel, "hostile": hostile}).replace("'", "\\u0027"),
            # The page's own origin: the stand-in checks it against the token's origin claim.
            "ALLOWED_ORIGINS": f"http://127.0.0.1:{self.worker.port}",
        }
        if player_script:
            settings["PLAYER_SCRIPT_URL"] = player_script
        self.worker.settings = settings

    def stop(self):
        self.worker.stop()
        self.standin.stop()


def visit(setup, path, cookie=None, **options):
    request = {"url": setup.worker.url + path, **options}
    if cookie is not None:
        request["cookie"] = {"name": "session", "value": cookie}
    p = subprocess.run(
        ["node", str(ROOT / "tests" / "browser" / "watch.mjs"), json.dumps(request)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, env={**os.environ, "CHROMIUM": CHROMIUM},
    )
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads(p.stdout)


@pytest.fixture(scope="module", params=["ivs-player", "hls.js"])
def setup(request):
    s = Setup(player_script=None if request.param == "ivs-player" else "/player/hls.min.js")
    s.name = request.param
    start_all([s.worker])
    yield s
    s.stop()


def test_playback_starts_on_the_embedded_token(setup):
    ARTIFACTS.mkdir(exist_ok=True)
    before = len(setup.standin.log)
    shot = ARTIFACTS / f"watch-playing-{setup.name}.png"
    result = visit(setup, "/watch/demo", cookie=session_cookie(setup.secret, sub="browser-viewer"),
                   waitForPlayback=True, screenshot=str(shot))
    assert result["status"] == 200 and result["h1"] == "Demo"
    assert not result["pageErrors"], result["pageErrors"]
    assert not result["cspViolations"], result["cspViolations"]

    # The first playlist request carried a valid token, and the stand-in served it.
    playlist = [e for e in setup.standin.log[before:] if e["path"].endswith(".channel.demo.m3u8")]
    assert playlist, f"no playlist request; console: {result['console']}"
    assert playlist[0]["status"] == 200, playlist[0]
    assert setup.standin.check(playlist[0]["token"], playlist[0]["origin"]) is None

    # No call to /v1/token before the playlist: the token came with the page.
    urls = [r["url"] for r in result["requests"]]
    first_playlist = next(i for i, u in enumerate(urls) if ".channel.demo.m3u8" in u)
    assert not any("/v1/token" in u for u in urls[:first_playlist]), urls
    page_requests = [u for u in urls[:first_playlist] if u.startswith(setup.worker.url)]
    assert page_requests[0] == setup.worker.url + "/watch/demo"
    # Everything before the playlist is the page itself and the (cacheable) player files.
    assert all(u.endswith("/watch/demo") or "/player/" in u for u in page_requests), page_requests
    print(f"\n[{setup.name}] requests before the first playlist request: {len(urls[:first_playlist])} "
          f"({', '.join(u.replace(setup.worker.url, '') for u in page_requests)}); token API calls: 0")

    # The player actually plays: the video's clock advances.
    first, later = result["progressFirst"], result["progressLater"]
    assert first and first["currentTime"] > 0.5, (result["progressFirst"], result["console"][-10:])
    assert later["currentTime"] > first["currentTime"], (first, later)
    assert result["messageAfter"] is None
    assert shot.exists() and shot.stat().st_size > 10_000


def test_refused_token_is_renewed_once_without_a_click(setup):
    setup.standin.refuse_next = 1
    before = len(setup.standin.log)
    result = visit(setup, "/watch/demo", cookie=session_cookie(setup.secret), waitForPlayback=True)
    urls = [r["url"] for r in result["requests"]]
    assert [u for u in urls if "/v1/token" in u] == [setup.worker.url + "/v1/token?channel=demo"], urls
    statuses = [e["status"] for e in setup.standin.log[before:] if e["path"].endswith(".channel.demo.m3u8")]
    assert statuses[:2] == [403, 200], statuses
    assert result["progressLater"]["currentTime"] > result["progressFirst"]["currentTime"] > 0.5, result
    assert result["messageAfter"] is None


def test_refused_again_shows_a_message_and_retry_fetches_a_fresh_one(setup):
    setup.standin.refuse_next = 2  # the embedded token and the automatic renewal
    before = len(setup.standin.log)
    result = visit(setup, "/watch/demo", cookie=session_cookie(setup.secret), waitForMessage=True,
                   clickRetry=True, waitForPlayback=True)
    assert result["message"] and "refused" in result["message"] and "Retry" in result["message"], result
    urls = [r["url"] for r in result["requests"]]
    assert len([u for u in urls if u.endswith("/v1/token?channel=demo")]) == 2, urls
    statuses = [e["status"] for e in setup.standin.log[before:] if e["path"].endswith(".channel.demo.m3u8")]
    assert statuses[:3] == [403, 403, 200], statuses
    assert result["progressLater"]["currentTime"] > 0.5
    assert result["messageAfter"] is None


@pytest.mark.parametrize("case", ["missing", "expired"])
def test_no_valid_session_never_reaches_the_player(setup, case):
    before = len(setup.standin.log)
    now = int(time.time())
    cookie = None if case == "missing" else session_cookie(setup.secret, iat=now - 7200, exp=now - 3600)
    result = visit(setup, "/watch/demo", cookie=cookie)
    assert result["status"] == 401
    assert result["h1"] == "Sign in to watch"
    assert not result["hasVideo"]
    assert len(setup.standin.log) == before, "the stand-in saw no request"
    assert not any("/player/" in r["url"] for r in result["requests"])


def test_hostile_channel_title_does_not_inject(setup):
    result = visit(setup, "/watch/hostile", cookie=session_cookie(setup.secret, sub="<img src=x onerror=alert(1)>"))
    assert result["status"] == 200
    assert result["h1"] == HOSTILE_TITLE, "shown as text, exactly"
    assert result["title"] == HOSTILE_TITLE
    assert result["pwned"] is False
    assert not result["pageErrors"], result["pageErrors"]


def test_dev_login_takes_a_newcomer_to_a_playing_page():
    """`make dev`: DEV_LOGIN=true, open /watch/demo with no cookie, end up watching."""
    s = Setup()
    s.worker.settings["DEV_LOGIN"] = "true"
    start_all([s.worker])
    try:
        result = visit(s, "/watch/demo", waitForPlayback=True)
        assert result["finalUrl"] == s.worker.url + "/watch/demo"
        urls = [r["url"].replace(s.worker.url, "") for r in result["requests"]]
        assert urls[:3] == ["/watch/demo", "/dev/login?return_to=/watch/demo", "/watch/demo"], urls
        assert result["status"] == 200 and result["progressFirst"]["currentTime"] > 0.5
    finally:
        s.stop()
