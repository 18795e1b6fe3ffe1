"""Device limits in a real browser: two browser contexts (two devices) of one account at a limit of
1, the worker under `wrangler dev` with its Durable Object, the IVS stand-in revoking as IVS does.
The first page plays; the second is refused in words, takes over with "Watch here instead" and
plays; the first stops and says why (its heartbeat answers 409, and IVS refuses its session)."""

import json
import os
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from harness import ROOT, Worker, new_p384_key, public_pem, sec1_pem, session_cookie, start_all

sys.path.insert(0, str(ROOT / "tools"))
from ivs_standin import StandIn  # noqa: E402

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"
ARN = "arn:aws:ivs:us-west-2:123456789012:channel/demo"
KEY_ID = "AKIDBROWSERDEVICES01"

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian chromium (make tools installs it)")


@pytest.fixture(scope="module")
def setup():
    key = new_p384_key()
    aws_secret = secrets.token_urlsafe(30)
    standin = StandIn(public_pem(key), ARN, credentials={KEY_ID: (aws_secret, None)}).start()
    worker = Worker({}, extra_args=["--persist-to", tempfile.mkdtemp(prefix="ivs-devices-browser-")])
    session_secret = secrets.token_urlsafe(48)
    worker.settings = {
        "PLAYBACK_PRIVATE_KEY": sec1_pem(key),
        "SESSION_SECRET": session_secret,
        "CHANNELS": json.dumps({"demo": {"arn": ARN, "playback_url": standin.playback_url, "title": "Limited"}}),
        "ALLOWED_ORIGINS": f"http://127.0.0.1:{worker.port}",
        # Heartbeats every 2 s (a third of the idle time).
        "DEVICE_LIMITS": json.dumps({"default": 1, "idle_seconds": 6}),
        "AWS_ACCESS_KEY_ID": KEY_ID,
        "AWS_SECRET_ACCESS_KEY": aws_secret,
        "IVS_API_ENDPOINT": standin.base,
    }
    start_all([worker])
    yield worker, standin, session_secret
    worker.stop()
    standin.stop()


def test_the_first_page_stops_and_says_why_the_second_plays(setup):
    worker, standin, session_secret = setup
    ARTIFACTS.mkdir(exist_ok=True)
    shots = [str(ARTIFACTS / "devices-first-evicted.png"), str(ARTIFACTS / "devices-second-playing.png")]
    request = {
        "url": worker.url + "/watch/demo",
        "cookie": {"name": "session", "value": session_cookie(session_secret, sub="two-screens")},
        "screenshots": shots,
    }
    p = subprocess.run(
        ["node", str(ROOT / "tests" / "browser" / "devices.mjs"), json.dumps(request)],
        cwd=ROOT, capture_output=True, text=True, timeout=240, env={**os.environ, "CHROMIUM": CHROMIUM},
    )
    assert p.returncode == 0, p.stderr[-3000:]
    out = json.loads(p.stdout)
    first, second = out["first"], out["second"]
    assert not out["pageErrors"], out["pageErrors"]
    assert first["status"] == 200 and first["played"], first

    assert second["status"] == 403, second
    assert "Already watching on other devices" in second["refusal"] and "1 of its 1 devices" in second["refusal"]
    assert second["offered"] and second["played"], second
    assert not second["offeredAsLink"], "a takeover is a POST button, never a link (issue 22)"
    assert second["urlAfterTakeover"].endswith("/watch/demo"), "the takeover query is dropped from the address"

    assert first["stopped"], first
    assert first["after"]["state"] == "evicted" and "another device" in first["after"]["message"]
    assert first["after"]["takeover"] == "/watch/demo?takeover=true"
    assert not first["after"]["takeoverIsLink"]
    assert first["after"]["video"]["paused"]
    assert 409 in first["heartbeats"], first["heartbeats"]
    assert second["advanced"] > 1.0 and second["after"]["state"] == "playing", second
    assert all(status == 204 for status in second["heartbeats"]), second["heartbeats"]
    # IVS (the stand-in) was told: the first device's session is revoked there too.
    assert any(r["operation"] == "single" for r in standin.revocations)
