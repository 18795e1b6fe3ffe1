"""Issue 24, the pages in the team's colours: a worker with PAGE_BRAND, opened in Debian Chromium
(playwright-core, tests/browser/watch.mjs). The logo and the stylesheet come from a loopback HTTP
server of this test (another origin than the worker's, as a CDN would be), so the page's CSP must
allow exactly their origin for them to load. Checked: the colours as the browser computes them, the
logo loaded (naturalWidth > 0) with the site name as its alt text, the stylesheet applied, no CSP
violation and no page error, on the playing watch page, the sign-in page and the stage page.

The playing watch page's screenshot lands in test-artifacts/brand-watch-page.png; with
UPDATE_DOC_SCREENSHOTS=1 it also replaces docs/brand-watch-page.png (committed, shown in
docs/configuration.md), so an ordinary run leaves the working tree as it was."""

import json
import os
import secrets
import shutil
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from harness import ROOT, Worker, new_p384_key, public_pem, sec1_pem, session_cookie, start_all

sys.path.insert(0, str(ROOT / "tools"))
from ivs_standin import StandIn  # noqa: E402

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"
DOC_SHOT = ROOT / "docs" / "brand-watch-page.png"
ARN = "arn:aws:ivs:us-west-2:123456789012:channel/demo"
SECRET = secrets.token_urlsafe(48)

TITLE = "Northside Live"
COLORS = {"background": "#0b1d3a", "text": "#f4f1e8", "accent": "#ff6b35"}
RGB = {name: "rgb({}, {}, {})".format(*(int(hex_[i:i + 2], 16) for i in (1, 3, 5))) for name, hex_ in COLORS.items()}

LOGO = f"""<svg xmlns="http://www.w3.org/2000/svg" width="120" height="40" viewBox="0 0 120 40">
<rect width="120" height="40" rx="8" fill="{COLORS['accent']}"/>
<circle cx="20" cy="20" r="11" fill="{COLORS['background']}"/>
<text x="38" y="27" font-family="sans-serif" font-size="19" font-weight="700" fill="{COLORS['background']}">NORTH</text>
</svg>"""
# What only this stylesheet sets: the site name in capitals, spaced.
STYLESHEET = ".brand-name{text-transform:uppercase;letter-spacing:.12em}\n"

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian chromium (make tools installs it)")


class Assets:
    """The team's CDN: /logo.svg and /brand.css on a loopback port, with every request logged."""

    def __init__(self):
        files = {"/logo.svg": (LOGO.encode(), "image/svg+xml"), "/brand.css": (STYLESHEET.encode(), "text/css")}
        log = self.log = []

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                log.append(self.path)
                body, kind = files.get(self.path, (b"not found", "text/plain"))
                self.send_response(200 if self.path in files else 404)
                self.send_header("content-type", kind)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()


@pytest.fixture(scope="module")
def setup():
    key = new_p384_key()
    standin = StandIn(public_pem(key), ARN).start()
    assets = Assets()
    worker = Worker({})
    brand = {"title": TITLE, "logo_url": assets.origin + "/logo.svg", "colors": COLORS,
             "stylesheet_url": assets.origin + "/brand.css"}
    # Nothing listens on port 9: the stage page is checked for its look, not for joining.
    stage = {"arn": "arn:aws:ivs:us-east-1:123456789012:stage/Brand0001",
             "public_key_arn": "arn:aws:ivs:us-east-1:123456789012:public-key/Key0001",
             "whip_url": "http://127.0.0.1:9/whip", "events_url": "ws://127.0.0.1:9", "title": "Studio"}
    worker.settings = {
        "PLAYBACK_PRIVATE_KEY": sec1_pem(key),
        "SESSION_SECRET": SECRET,
        "CHANNELS": json.dumps({"demo": {"arn": ARN, "playback_url": standin.playback_url, "title": "Matchday"}}),
        "STAGES": json.dumps({"studio": stage}),
        "ALLOWED_ORIGINS": f"http://127.0.0.1:{worker.port}",
        "PAGE_BRAND": json.dumps(brand),
    }
    start_all([worker])
    yield worker, assets
    worker.stop()
    assets.stop()
    standin.stop()


def visit(worker, path, cookie=None, **options):
    request = {"url": worker.url + path, "images": True, "computed": [
        ["body", "background-color"], ["body", "color"], ["header.brand", "border-bottom-color"],
        ["button", "background-color"], [".brand-name", "text-transform"]], **options}
    if cookie is not None:
        request["cookie"] = {"name": "session", "value": cookie}
    p = subprocess.run(
        ["node", str(ROOT / "tests" / "browser" / "watch.mjs"), json.dumps(request)],
        cwd=ROOT, capture_output=True, text=True, timeout=150, env={**os.environ, "CHROMIUM": CHROMIUM},
    )
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads(p.stdout)


def assert_branded(result, assets, button=True):
    computed = result["computed"]
    assert computed["body background-color"] == RGB["background"], computed
    assert computed["body color"] == RGB["text"], computed
    assert computed["header.brand border-bottom-color"] == RGB["accent"], computed
    if button:
        assert computed["button background-color"] == RGB["accent"], computed
    assert computed[".brand-name text-transform"] == "uppercase", ("the stylesheet applies", computed)
    logos = [i for i in result["images"] if i["src"] == assets.origin + "/logo.svg"]
    assert len(logos) == 1 and logos[0]["complete"] and logos[0]["naturalWidth"] > 0, result["images"]
    assert logos[0]["alt"] == TITLE
    assert not result["cspViolations"], result["cspViolations"]
    assert not [c for c in result["console"] if "Content Security Policy" in c], result["console"]
    assert not result["pageErrors"], result["pageErrors"]


def test_the_playing_watch_page_wears_the_brand(setup):
    worker, assets = setup
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "brand-watch-page.png"
    result = visit(worker, "/watch/demo", cookie=session_cookie(SECRET), waitForPlayback=True, screenshot=str(shot))
    assert result["status"] == 200 and result["h1"] == "Matchday"
    assert result["title"] == f"Matchday \u00b7 {TITLE}"
    assert_branded(result, assets)
    assert result["progressLater"]["currentTime"] > result["progressFirst"]["currentTime"] > 0.5, result["console"][-10:]
    assert {"/logo.svg", "/brand.css"} <= set(assets.log)
    assert shot.stat().st_size > 10_000
    if os.environ.get("UPDATE_DOC_SCREENSHOTS") == "1":
        shutil.copyfile(shot, DOC_SHOT)
    print(f"\nscreenshot: {shot.relative_to(ROOT)}")


def test_the_sign_in_page_wears_the_brand(setup):
    worker, assets = setup
    result = visit(worker, "/watch/demo")
    assert result["status"] == 401 and result["h1"] == "Sign in to watch"
    assert result["title"] == f"Sign in to watch \u00b7 {TITLE}"
    assert_branded(result, assets, button=False)


def test_the_stage_page_wears_the_brand(setup):
    worker, assets = setup
    result = visit(worker, "/stage/studio", cookie=session_cookie(SECRET))
    assert result["status"] == 200 and result["h1"] == "Studio"
    assert_branded(result, assets)
