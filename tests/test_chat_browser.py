"""The watch page's chat panel (issue 25) in a real browser: Debian Chromium driven by
playwright-core (tests/browser/chat_page.mjs), several viewers in separate browser contexts, each
signed in with their own session cookie, on the real worker (`wrangler dev`) and the local IVS
Chat stand-in (tools/ivs_chat_standin.py, on the IVS stand-in's port), which checks the worker's
signed CreateChatToken calls and carries the messages between the viewers' SDKs.

What a viewer types reaches every other viewer's page, so a message of markup must arrive as
text; roles come from the viewer's groups and are checked both on the page (what the panel offers)
and at the stand-in (the userId and capabilities the worker asked for)."""

import json
import os
import secrets
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from browser_driver import BrowserDriver
from harness import ROOT, Worker, expected_viewer_id, new_p384_key, public_pem, sec1_pem, session_cookie, start_all

sys.path.insert(0, str(ROOT / "tools"))
from ivs_standin import ACCESS_KEY_ID, SECRET_ACCESS_KEY, StandIn  # noqa: E402

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARN = "arn:aws:ivs:us-west-2:123456789012:channel/demo"
ROOM = "arn:aws:ivschat:us-west-2:123456789012:room/demo"
HOSTILE = "<img src=x onerror=alert(1)><b>bold</b><script>window.__pwned=true</script>"
SENDER = ["SEND_MESSAGE"]
MODERATOR = ["SEND_MESSAGE", "DELETE_MESSAGE", "DISCONNECT_USER"]

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian chromium (make tools installs it)")


class Browser(BrowserDriver):
    """tests/browser/chat_page.mjs: one Chromium, a context per viewer; call() runs one step."""

    def __init__(self):
        super().__init__("chat_page.mjs", {})


class Setup:
    def __init__(self):
        self.key = new_p384_key()
        self.secret = secrets.token_urlsafe(48)
        self.standin = StandIn(public_pem(self.key), ARN, known_rooms={ROOM}).start()
        chat = {"room": ROOM, "moderators": ["staff"], "senders": ["members", "staff"], "display_name_claim": "nickname"}
        channels = {"demo": {"arn": ARN, "playback_url": self.standin.playback_url, "title": "Demo", "chat": chat}}
        self.worker = Worker({})
        self.worker.settings = {
            "PLAYBACK_PRIVATE_KEY": sec1_pem(self.key),
            "SESSION_SECRET": self.secret,
            "CHANNELS": json.dumps(channels),
            "ALLOWED_ORIGINS": f"http://127.0.0.1:{self.worker.port}",
            "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
            "IVS_CHAT_API_ENDPOINT": self.standin.base,
        }

    def cookie(self, sub, groups=(), **claims):
        return {"name": "session", "value": session_cookie(self.secret, sub=sub, groups=list(groups), **claims)}

    def viewer_id(self, sub):
        return expected_viewer_id(self.key, sub)

    def listing(self, what):
        with urllib.request.urlopen(f"{self.standin.base}/_standin/chat/{what}", timeout=10) as r:
            return json.loads(r.read())

    def token_calls(self, sub):
        return [c for c in self.listing("calls") if c["operation"] == "CreateChatToken" and c.get("userId") == self.viewer_id(sub)]

    def stop(self):
        self.worker.stop()
        self.standin.stop()


@pytest.fixture(scope="module")
def setup():
    s = Setup()
    start_all([s.worker])
    yield s
    s.stop()


@pytest.fixture
def browser():
    b = Browser()
    yield b
    b.close()


def clean(browser, *names):
    for name in names:
        d = browser.call("diagnostics", name)
        assert not d["pageErrors"] and not d["cspViolations"], (name, d["pageErrors"], d["cspViolations"], d["console"][-10:])


def test_viewers_chat_as_text_and_a_moderators_delete_reaches_everyone(setup, browser):
    url = setup.worker.url + "/watch/demo"
    alice = browser.call("open", "alice", url, setup.cookie("alice", ["members"], nickname="Alice"))
    bob = browser.call("open", "bob", url, setup.cookie("bob", ["members"]))
    mod = browser.call("open", "mod", url, setup.cookie("mod", ["staff"], nickname="Mo"))
    for name, opened in (("alice", alice), ("bob", bob), ("mod", mod)):
        assert opened["status"] == 200, name
        assert opened["panel"]["state"] == "connected", (name, opened["panel"], browser.call("diagnostics", name)["console"][-10:])
        assert not opened["panel"]["inputDisabled"] and opened["panel"]["reason"] is None, (name, opened["panel"])
        assert opened["panel"]["beside"], "a wide window shows the chat beside the player"
    # The page connects to the stand-in's WebSocket, which its CSP allows, and to nothing else of chat.
    ws = setup.standin.base.replace("http://", "ws://")
    assert f"connect-src 'self' {setup.standin.base} https://*.live-video.net {ws};" in alice["csp"], alice["csp"]
    assert (alice["panel"]["role"], mod["panel"]["role"]) == ("sender", "moderator")

    # Alice sends markup: Bob sees it as the exact text, and no element was made of it.
    browser.call("send", "alice", HOSTILE)
    seen = browser.call("waitFor", "bob", "message", HOSTILE, 10000)
    [message] = seen["messages"]
    assert message["text"] == HOSTILE and message["textChildren"] == 0, message
    assert seen["injected"] == 0 and not seen["pwned"]
    assert (message["name"], message["role"], message["buttons"]) == ("Alice", "sender", []), message
    # Bob's own message is named by a short form of his viewer id (no display name claim in his session).
    browser.call("send", "bob", "hello from bob")
    seen = browser.call("waitFor", "alice", "message", "hello from bob", 10000)
    assert seen["messages"][-1]["name"] == "viewer " + setup.viewer_id("bob")[:8], seen["messages"][-1]
    assert [m["mine"] for m in browser.call("waitFor", "bob", "message", "hello from bob", 5000)["messages"]] == [False, True]

    # The moderator sees Delete on every message and Disconnect on each sender; deleting removes
    # the message for everyone.
    moderated = browser.call("waitFor", "mod", "message", "hello from bob", 10000)
    assert [m["buttons"] for m in moderated["messages"]] == [["Delete", "Disconnect"], ["Delete", "Disconnect"]], moderated
    browser.call("act", "mod", HOSTILE, "delete")
    for name in ("alice", "bob", "mod"):
        after = browser.call("waitFor", name, "noMessage", HOSTILE, 10000)
        assert [m["text"] for m in after["messages"]] == ["hello from bob"], (name, after)
    frames = setup.listing("frames")
    deleted = [f for f in frames if f.get("EventName") == "aws:DELETE_MESSAGE"]
    assert [f["Attributes"]["MessageId"] for f in deleted] == [message["id"]]

    # At the stand-in: each viewer's token was asked for their viewer id, with their role's capabilities.
    for sub, capabilities, attributes in (("alice", SENDER, {"role": "sender", "display_name": "Alice"}),
                                          ("bob", SENDER, {"role": "sender"}),
                                          ("mod", MODERATOR, {"role": "moderator", "display_name": "Mo"})):
        calls = setup.token_calls(sub)
        assert calls and all(c["status"] == 200 and c["roomIdentifier"] == ROOM for c in calls), (sub, calls)
        assert calls[0]["capabilities"] == capabilities and calls[0]["attributes"] == attributes, (sub, calls[0])
    sent = [f for f in frames if f.get("Type") == "MESSAGE"]
    assert [f["Sender"]["UserId"] for f in sent] == [setup.viewer_id("alice"), setup.viewer_id("bob")]
    clean(browser, "alice", "bob", "mod")


def test_a_reader_sees_the_input_disabled_and_why(setup, browser):
    # A narrow window: the chat sits below the player.
    reader = browser.call("open", "carol", setup.worker.url + "/watch/demo", setup.cookie("carol"), 600)
    panel = reader["panel"]
    assert panel["state"] == "connected" and panel["role"] == "reader", panel
    assert panel["inputDisabled"] and panel["sendDisabled"], panel
    assert panel["reason"] == "Reading only: your account is in none of this room's sender groups.", panel
    assert not panel["beside"], "a narrow window shows the chat below the player"
    [call] = setup.token_calls("carol")
    assert (call["capabilities"], call["attributes"]) == ([], {"role": "reader"})
    clean(browser, "carol")


def test_a_disconnected_viewer_is_told_and_stops_reconnecting(setup, browser):
    url = setup.worker.url + "/watch/demo"
    browser.call("open", "dave", url, setup.cookie("dave", ["members"], nickname="Dave"))
    browser.call("open", "mod2", url, setup.cookie("mod2", ["staff"]))
    browser.call("send", "dave", "spam spam spam")
    browser.call("waitFor", "mod2", "message", "spam spam spam", 10000)
    browser.call("act", "mod2", "spam spam spam", "disconnect")
    dave = browser.call("waitFor", "dave", "state", "stopped", 10000)
    assert dave["state"] == "stopped" and "A moderator disconnected you from this chat" in dave["status"], dave
    assert dave["inputDisabled"]
    asked = len(setup.token_calls("dave"))
    time.sleep(4)  # longer than the panel's first reconnect delay
    assert len(setup.token_calls("dave")) == asked == 1, "no new token: it does not reconnect"
    disconnected = [f for f in setup.listing("frames") if f.get("EventName") == "aws:DISCONNECT_USER"]
    assert disconnected[-1]["Attributes"]["UserId"] == setup.viewer_id("dave")
    clean(browser, "dave", "mod2")


def test_an_unavailable_chat_is_said_and_retried_after_retry_after(setup, browser):
    # IVS Chat throttles the first call and the worker's one retry: /v1/chat-token answers 503
    # with Retry-After, which the panel says and waits out before connecting.
    urllib.request.urlopen(urllib.request.Request(f"{setup.standin.base}/_standin/chat/control", method="POST",
                                                  data=json.dumps({"throttle": {"CreateChatToken": 2}}).encode()), timeout=10).read()
    try:
        opened = browser.call("open", "erin", setup.worker.url + "/watch/demo", setup.cookie("erin", ["members"]))
        done = browser.call("waitFor", "erin", "state", "connected", 15000)
        assert done["state"] == "connected" and not done["inputDisabled"] and done["status"] is None, (opened, done)
        assert "The chat is unavailable right now. Trying again in 2 seconds." in done["said"], done["said"]
        statuses = [c["status"] for c in setup.listing("calls") if c["operation"] == "CreateChatToken"][-3:]
        assert statuses == [429, 429, 200], statuses
        tokens = [r for r in browser.call("diagnostics", "erin")["requests"] if "/v1/chat-token" in r["url"]]
        assert len(tokens) == 2 and all(r["method"] == "POST" for r in tokens), tokens
    finally:
        urllib.request.urlopen(urllib.request.Request(f"{setup.standin.base}/_standin/chat/control", method="POST",
                                                      data=json.dumps({"throttle": {"CreateChatToken": 0}}).encode()), timeout=10).read()
    clean(browser, "erin")
