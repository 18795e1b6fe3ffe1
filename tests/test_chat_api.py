"""IVS Chat tokens end to end (issue 25): the worker under `wrangler dev` (its Durable Objects on
disk in a temporary directory) against the IVS stand-in, which is IVS Chat too
(tools/ivs_chat_standin.py: CreateChatToken and DisconnectUser with SigV4 checked by botocore,
and the messaging WebSocket). Every assertion is on what the stand-in recorded or what a chat
connection saw, not on the worker's word alone: the userId IVS Chat was asked for, the
capabilities, the session length, the calls made (and not made), the kick arriving at the room.
One worker for the module; each test signs in as its own viewer, so the per-viewer chat token
floor and blocks of one test never reach another."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest
import secret_scan
from harness import (
    ARN_PREFIX,
    CLI,
    ROOT,
    Worker,
    expected_viewer_id,
    public_pem,
    request,
    sec1_pem,
    session_cookie,
    new_p384_key,
    start_all,
)
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

sys.path.insert(0, str(ROOT / "tools"))
from ivs_standin import StandIn  # noqa: E402

DEMO_ARN = ARN_PREFIX + "chatdemo1"
ROOM = "arn:aws:ivschat:us-west-2:123456789012:room/ChatDemo01"
# A second room in another region: signed for eu-west-1 (the stand-in refuses a room outside the
# signing region), and disconnected by a revoke that names no channel.
LOUNGE_ROOM = "arn:aws:ivschat:eu-west-1:123456789012:room/Lounge02"
ACCESS_KEY_ID = "AKIDCHATTESTS0000001"
SEND = ["SEND_MESSAGE"]
MODERATE = ["SEND_MESSAGE", "DELETE_MESSAGE", "DISCONNECT_USER"]


class Setup:
    def __init__(self):
        self.key = new_p384_key()
        self.session_secret = secrets.token_urlsafe(48)
        self.admin_token = secrets.token_urlsafe(40)
        self.aws_secret = secrets.token_urlsafe(30)
        self.standin = StandIn(public_pem(self.key), DEMO_ARN,
                               credentials={ACCESS_KEY_ID: (self.aws_secret, None)}).start()
        channels = {
            "demo": {"arn": DEMO_ARN, "playback_url": self.standin.playback_url,
                     "chat": {"room": ROOM, "moderators": ["staff"], "senders": ["members"],
                              "display_name_claim": "nickname"}},
            "lounge": {"arn": "arn:aws:ivs:eu-west-1:123456789012:channel/lounge01",
                       "playback_url": "https://play.example.net/lounge.m3u8", "chat": {"room": LOUNGE_ROOM}},
            "quiet": {"arn": ARN_PREFIX + "quiet0001", "playback_url": "https://play.example.net/quiet.m3u8"},
        }
        self.state = tempfile.mkdtemp(prefix="ivs-chat-state-")
        self.worker = Worker(
            {
                "PLAYBACK_PRIVATE_KEY": sec1_pem(self.key),
                "SESSION_SECRET": self.session_secret,
                "CHANNELS": json.dumps(channels),
                "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
                "AWS_SECRET_ACCESS_KEY": self.aws_secret,
                "IVS_API_ENDPOINT": self.standin.base,
                "IVS_CHAT_API_ENDPOINT": self.standin.base,
                "ADMIN_API_TOKEN": self.admin_token,
                "DEVICE_LIMITS": json.dumps({"default": 5}),
            },
            extra_args=["--persist-to", self.state],
        )
        self.key_file = Path(self.worker.dir) / "private.pem"
        self.key_file.write_text(sec1_pem(self.key))

    def cookie(self, sub: str, **claims) -> str:
        return session_cookie(self.session_secret, sub=sub, **claims)

    def chat_token(self, cookie: str | None, channel: str = "demo", method: str = "POST"):
        headers = {"Cookie": f"session={cookie}"} if cookie else {}
        response = self.worker.get(f"/v1/chat-token?channel={channel}", method=method, headers=headers)
        if response.status == 200:
            secret_scan.register("token", response.json()["token"])
        return response

    def control(self, body: dict) -> dict:
        r = request(self.standin.base + "/_standin/chat/control", method="POST",
                    headers={"Content-Type": "application/json"}, data=json.dumps(body).encode())
        assert r.status == 200, r.text
        return r.json()

    def listing(self, what: str) -> list[dict]:
        return request(f"{self.standin.base}/_standin/chat/{what}").json()

    def creates(self) -> list[dict]:
        return [c for c in self.listing("calls") if c["operation"] == "CreateChatToken"]

    def revoke(self, body: dict):
        return request(self.worker.url + "/v1/admin/revoke", method="POST",
                       headers={"Content-Type": "application/json", "Authorization": f"Bearer {self.admin_token}"},
                       data=json.dumps(body).encode())


@pytest.fixture(scope="module")
def setup():
    s = Setup()
    start_all([s.worker])
    yield s
    s.worker.stop()
    s.standin.stop()
    # No IVS or IVS Chat call of the module was refused for its signature (botocore checked each).
    bad = [c for c in s.standin.api_log + s.standin.chat.calls if c.get("status") == 403]
    assert not bad, bad


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


def cli_viewer_id(setup: Setup, sub: str) -> str:
    """The viewer id `ivs-token viewer-id` prints for the worker's key (the operator's view)."""
    env = {"PATH": "/usr/bin:/bin"}
    p = subprocess.run([str(CLI), "viewer-id", "--sub", sub, "--key", str(setup.key_file)],
                       capture_output=True, text=True, env=env, timeout=30)
    assert p.returncode == 0, p.stderr
    return p.stdout.strip()


def frames(ws, count: int, timeout: float = 5) -> list[dict]:
    return [json.loads(ws.recv(timeout=timeout)) for _ in range(count)]


def wait_for(what, check, timeout: float = 30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"{what} within {timeout}s")


def test_a_sender_gets_a_token_that_opens_the_room_as_their_viewer_id(setup):
    sub = unique("sender")
    viewer = expected_viewer_id(setup.key, sub)
    assert cli_viewer_id(setup, sub) == viewer, "the CLI, the harness and (below) the worker agree"
    # A session with 30.5 minutes left: the chat session may last 30 whole minutes, not IVS's 60.
    exp = int(time.time()) + 30 * 60 + 30
    before = time.time()
    r = setup.chat_token(setup.cookie(sub, groups=["members"], exp=exp, nickname="Ali\u202ece  Smith"))
    assert r.status == 200, r.text
    answer = r.json()
    assert set(answer) == {"channel", "token", "sessionExpirationTime", "tokenExpirationTime", "role",
                           "capabilities", "user_id"}
    assert (answer["channel"], answer["role"], answer["capabilities"], answer["user_id"]) == ("demo", "sender", SEND, viewer)
    assert r.headers["cache-control"] == "no-store"
    [call] = [c for c in setup.creates() if c.get("userId") == viewer]
    assert (call["status"], call["roomIdentifier"], call["capabilities"]) == (200, ROOM, SEND)
    assert call["attributes"] == {"role": "sender", "display_name": "Alice Smith"}, "the bidi override is gone"
    left = (exp - before) / 60
    assert call["sessionDurationInMinutes"] <= left and call["sessionDurationInMinutes"] in (29, 30), call
    assert call["token"] == answer["token"], "the worker hands on IVS Chat's token unchanged"

    # The token opens the room at the stand-in, which knows the viewer by the viewer id only.
    with connect(setup.standin.chat_url, subprotocols=[answer["token"]]) as ws:
        ws.send(json.dumps({"Action": "SEND_MESSAGE", "RequestId": "r1", "Content": "hello"}))
        [message] = frames(ws, 1)
    assert message["Type"] == "MESSAGE" and message["Content"] == "hello"
    assert message["Sender"] == {"UserId": viewer, "Attributes": {"role": "sender", "display_name": "Alice Smith"}}
    [conn] = [c for c in setup.listing("connections") if c.get("userId") == viewer and not c.get("refused")]
    assert conn["roomIdentifier"] == ROOM and conn["capabilities"] == SEND
    assert sub not in json.dumps(setup.listing("frames")), "the subject never reaches the room"


def test_a_moderator_gets_the_three_capabilities(setup):
    sub = unique("moderator")
    viewer = expected_viewer_id(setup.key, sub)
    r = setup.chat_token(setup.cookie(sub, groups=["staff"]))
    assert r.status == 200, r.text
    assert (r.json()["role"], r.json()["capabilities"]) == ("moderator", MODERATE)
    [call] = [c for c in setup.creates() if c.get("userId") == viewer]
    assert sorted(call["capabilities"]) == sorted(MODERATE)
    assert call["attributes"] == {"role": "moderator"}, "no nickname claim: no name shown"
    assert call["sessionDurationInMinutes"] in (59, 60)


def test_a_reader_gets_no_capability_and_ivs_chat_refuses_its_message(setup):
    sub = unique("reader")
    viewer = expected_viewer_id(setup.key, sub)
    r = setup.chat_token(setup.cookie(sub))
    assert r.status == 200, r.text
    assert (r.json()["role"], r.json()["capabilities"]) == ("reader", [])
    [call] = [c for c in setup.creates() if c.get("userId") == viewer]
    assert call["capabilities"] == []
    with connect(setup.standin.chat_url, subprotocols=[r.json()["token"]]) as ws:
        ws.send(json.dumps({"Action": "SEND_MESSAGE", "RequestId": "r2", "Content": "let me in"}))
        [error] = frames(ws, 1)
    assert (error["Type"], error["ErrorCode"], error["RequestId"]) == ("ERROR", 403, "r2")
    assert not [f for f in setup.listing("frames") if f.get("Content") == "let me in"]


def test_refusals_before_ivs_chat_make_no_call(setup):
    sub = unique("refused")
    viewer = expected_viewer_id(setup.key, sub)
    calls_before = len(setup.creates())
    ungranted = setup.chat_token(setup.cookie(sub, channels=["quiet"], groups=["members"]))
    assert ungranted.status == 403 and ungranted.json()["type"].endswith(":channel-forbidden"), ungranted.text
    no_room = setup.chat_token(setup.cookie(sub), channel="quiet")
    assert no_room.status == 404 and no_room.json()["type"].endswith(":chat-not-configured"), no_room.text
    no_session = setup.chat_token(None)
    assert no_session.status == 401 and no_session.json()["type"].endswith(":session-missing"), no_session.text
    assert setup.chat_token(setup.cookie(sub), method="GET").status == 405
    assert len(setup.creates()) == calls_before
    assert not [c for c in setup.listing("calls") if c.get("userId") == viewer]


def test_a_blocked_viewer_gets_403_and_no_call(setup):
    sub = unique("blocked")
    viewer = expected_viewer_id(setup.key, sub)
    r = setup.revoke({"sub": sub, "block_seconds": 120})
    assert r.status == 202, r.text
    assert r.json()["blocked_until"] >= int(time.time()) + 100
    blocked = setup.chat_token(setup.cookie(sub, groups=["members"]))
    assert blocked.status == 403 and blocked.json()["type"].endswith(":viewer-blocked"), blocked.text
    assert not [c for c in setup.creates() if c.get("userId") == viewer]


def test_throttling_is_retried_once_then_503(setup):
    cookie = setup.cookie(unique("throttled"), groups=["members"])
    setup.control({"throttle": {"CreateChatToken": 1}})
    before = len(setup.creates())
    r = setup.chat_token(cookie)
    assert r.status == 200, r.text
    calls = setup.creates()[before:]
    assert [c["status"] for c in calls] == [429, 200]
    assert 0.09 <= calls[1]["time"] - calls[0]["time"] < 2, "a pause of 100 to 399 ms before the retry"

    setup.control({"throttle": {"CreateChatToken": 2}})
    before = len(setup.creates())
    r = setup.chat_token(cookie)
    assert r.status == 503 and r.headers["retry-after"] == "2", r.text
    assert r.json()["type"].endswith(":chat-unavailable")
    assert "Throttling" not in r.text and "Rate exceeded" not in r.text
    assert [c["status"] for c in setup.creates()[before:]] == [429, 429], "exactly one retry"


def test_the_floor_refuses_the_eleventh_token_within_a_minute(setup):
    sub = unique("eager")
    viewer = expected_viewer_id(setup.key, sub)
    cookie = setup.cookie(sub, groups=["members"])
    for i in range(10):
        assert setup.chat_token(cookie).status == 200, i
    r = setup.chat_token(cookie)
    assert r.status == 429 and r.json()["type"].endswith(":chat-rate-limited"), r.text
    assert 1 <= int(r.headers["retry-after"]) <= 60
    assert len([c for c in setup.creates() if c.get("userId") == viewer]) == 10, "no 11th CreateChatToken"
    # The floor is the viewer's, in any channel of theirs.
    assert setup.chat_token(cookie, channel="lounge").status == 429


def chat_connection(setup: Setup, cookie: str):
    r = setup.chat_token(cookie)
    assert r.status == 200, r.text
    return connect(setup.standin.chat_url, subprotocols=[r.json()["token"]])


def disconnects(setup: Setup, viewer: str, room: str) -> list[dict]:
    return [c for c in setup.listing("calls")
            if c["operation"] == "DisconnectUser" and c.get("userId") == viewer and c.get("roomIdentifier") == room]


def playback(setup: Setup, cookie: str) -> str:
    """A playback URL with a fresh token (the device is admitted in the viewer's ledger)."""
    r = setup.worker.get("/v1/token?channel=demo", headers={"Cookie": f"session={cookie}"})
    assert r.status == 200, r.text
    secret_scan.register("token", r.json()["token"])
    return r.json()["playback_url"]


def kicked(ws, viewer: str, timeout: float = 30) -> dict:
    """The aws:DISCONNECT_USER event naming `viewer` (other frames of the room skipped), then the
    clean close that follows it: the chat SDK does not reconnect after that."""
    deadline = time.time() + timeout
    while True:
        frame = json.loads(ws.recv(timeout=max(0.1, deadline - time.time())))
        if frame.get("EventName") == "aws:DISCONNECT_USER" and frame["Attributes"]["UserId"] == viewer:
            break
    with pytest.raises(ConnectionClosed):
        ws.recv(timeout=10)
    assert ws.close_code == 1000, (ws.close_code, ws.close_reason)
    return frame


def test_one_kick_disconnects_chat_and_revokes_playback(setup):
    sub = unique("kicked")
    viewer = expected_viewer_id(setup.key, sub)
    cookie = setup.cookie(sub, groups=["members"])
    playback_url = playback(setup, cookie)
    assert request(playback_url).status == 200
    with chat_connection(setup, cookie) as ws:
        r = setup.revoke({"sub": sub, "channel": "demo"})
        assert r.status == 202, r.text
        assert r.json()["chat_rooms"] == [ROOM] and r.json()["channels"] == ["demo"], "only the named channel's room"
        assert kicked(ws, viewer)["Attributes"]["Reason"] == "Removed by the operator"
    [call] = disconnects(setup, viewer, ROOM)
    assert call["status"] == 200 and call["disconnected"] == 1 and call["reason"] == "Removed by the operator"
    [conn] = [c for c in setup.listing("connections") if c.get("userId") == viewer and not c.get("refused")]
    assert conn["closed"] is not None and conn["closeCode"] == 1000
    assert not disconnects(setup, viewer, LOUNGE_ROOM), "the other channel's room is left alone"
    # The same kick revoked playback at IVS.
    wait_for("the IVS revocation", lambda: any(r["viewerId"] == viewer and r["channelArn"] == DEMO_ARN
                                               for r in list(setup.standin.revocations)))
    assert request(playback_url).status == 403, "IVS refuses the revoked viewer's playback"


def test_a_throttled_disconnect_is_retried_until_it_lands(setup):
    sub = unique("kicked-late")
    viewer = expected_viewer_id(setup.key, sub)
    cookie = setup.cookie(sub, groups=["members"])
    playback(setup, cookie)
    with chat_connection(setup, cookie) as ws:
        throttled_before = [c for c in setup.listing("calls") if c["operation"] == "DisconnectUser" and c["status"] == 429]
        setup.control({"throttle": {"DisconnectUser": 1}})
        r = setup.revoke({"sub": sub})
        assert r.status == 202, r.text
        assert r.json()["chat_rooms"] == sorted([ROOM, LOUNGE_ROOM]), "no channel named: every room"
        # Backoff after a throttled attempt: 1 to 2 s; the alarm sends the rest.
        kicked(ws, viewer)
        wait_for("both disconnects", lambda: disconnects(setup, viewer, ROOM) and disconnects(setup, viewer, LOUNGE_ROOM))
    throttled = [c for c in setup.listing("calls") if c["operation"] == "DisconnectUser" and c["status"] == 429]
    assert len(throttled) == len(throttled_before) + 1, "the stand-in throttled one attempt"
    assert [c["status"] for c in disconnects(setup, viewer, ROOM) + disconnects(setup, viewer, LOUNGE_ROOM)] == [200, 200]
    [conn] = [c for c in setup.listing("connections") if c.get("userId") == viewer and not c.get("refused")]
    assert conn["closeCode"] == 1000
    retries = [line for line in setup.worker.output().splitlines() if '"chat-disconnect-retry"' in line and viewer in line]
    assert retries, "the throttled attempt is logged as a retry"


def test_no_chat_token_or_aws_secret_in_any_answer_or_log_line(setup):
    tokens = [c["token"] for c in setup.creates() if c.get("token")]
    assert len(tokens) >= 15
    log = setup.worker.output()
    for token in tokens:
        assert token not in log
    assert setup.aws_secret not in log and setup.admin_token not in log
    # Answers other than the issuing one carry neither (the secrets scan of the run checks every
    # recorded body for the secret, and every log line for the tokens, too).
    for url, body in secret_scan.RESPONSES:
        assert setup.aws_secret.encode() not in body, url
        if "/v1/chat-token" not in url and "/_standin/" not in url:
            assert not any(t.encode() in body for t in tokens), url
