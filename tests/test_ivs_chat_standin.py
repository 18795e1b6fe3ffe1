"""The IVS Chat stand-in (tools/ivs_chat_standin.py) answers as IVS Chat does: its API calls are
signed here with botocore (as the AWS SDKs sign them), refused when IVS Chat would refuse them,
and recorded for end-to-end tests; its messaging WebSocket speaks the frames of the real client SDK,
checked twice: frame by frame with `websockets`' client, and end to end with the real
amazon-ivs-chat-messaging SDK (the bundle public/sdk serves) in headless Chromium. No worker here."""

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

import pytest
from browser_driver import BrowserDriver
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from harness import ROOT, new_p384_key, public_pem
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

sys.path.insert(0, str(ROOT / "tools"))
from ivs_standin import ACCESS_KEY_ID, SECRET_ACCESS_KEY, StandIn  # noqa: E402
from test_ivs_standin import send  # noqa: E402  (the one unsigned-or-signed POST helper)

CHANNEL = "arn:aws:ivs:us-west-2:123456789012:channel/demo"
ROOM = "arn:aws:ivschat:us-west-2:123456789012:room/AbCd1234"
OTHER_ROOM = "arn:aws:ivschat:us-west-2:123456789012:room/other"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
SDK = ROOT / "public" / "sdk" / "amazon-ivs-chat-messaging.min.js"


@pytest.fixture
def chat():
    """A fresh stand-in per test: tokens, connections and injected failures do not leak."""
    s = StandIn(public_pem(new_p384_key()), CHANNEL).start()
    yield s
    s.stop()


def call(standin, operation, payload, secret=SECRET_ACCESS_KEY, key=ACCESS_KEY_ID, service="ivschat", region="us-west-2"):
    """POST an IVS Chat API call signed by botocore's SigV4Auth."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    request = AWSRequest(method="POST", url=f"{standin.base}/{operation}", data=body, headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials(key, secret), service, region).add_auth(request)
    return send(request.url, body, dict(request.headers.items()))


def token_for(standin, user, capabilities=(), attributes=None, minutes=None, room=ROOM) -> dict:
    payload = {"roomIdentifier": room, "userId": user, "capabilities": list(capabilities)}
    if attributes is not None:
        payload["attributes"] = attributes
    if minutes is not None:
        payload["sessionDurationInMinutes"] = minutes
    status, _, answer = call(standin, "CreateChatToken", payload)
    assert status == 200, answer
    return answer


def control(standin, body):
    return send(f"{standin.base}/_standin/chat/control", json.dumps(body).encode(), {"Content-Type": "application/json"})


def listing(standin, what):
    with urllib.request.urlopen(f"{standin.base}/_standin/chat/{what}", timeout=10) as r:
        return json.loads(r.read())


def parse_time(text: str) -> float:
    assert text.endswith("Z"), text
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp()


# The API.


def test_a_signed_create_chat_token_is_accepted_and_recorded(chat):
    before = time.time()
    attributes = {"displayName": "Alice", "badge": "member"}
    answer = token_for(chat, "alice", ["SEND_MESSAGE", "DELETE_MESSAGE"], attributes, minutes=15)
    assert set(answer) == {"token", "tokenExpirationTime", "sessionExpirationTime"}
    assert before + 59 <= parse_time(answer["tokenExpirationTime"]) <= time.time() + 61
    assert before + 15 * 60 - 1 <= parse_time(answer["sessionExpirationTime"]) <= time.time() + 15 * 60 + 1
    plain = token_for(chat, "bob")
    assert plain["token"] != answer["token"]
    assert parse_time(plain["sessionExpirationTime"]) - parse_time(plain["tokenExpirationTime"]) == pytest.approx(59 * 60, abs=1), "60 minutes by default"
    calls = listing(chat, "calls")
    assert [(c["operation"], c["status"], c["roomIdentifier"], c["userId"], c["capabilities"], c["attributes"], c["sessionDurationInMinutes"])
            for c in calls] == [
        ("CreateChatToken", 200, ROOM, "alice", ["SEND_MESSAGE", "DELETE_MESSAGE"], attributes, 15),
        ("CreateChatToken", 200, ROOM, "bob", [], {}, 60),
    ]
    assert calls[0]["token"] == answer["token"]


@pytest.mark.parametrize(
    "case, kwargs, code",
    [
        ("wrong secret", {"secret": SECRET_ACCESS_KEY[:-1] + "X"}, "InvalidSignatureException"),
        ("signed for ivs, not ivschat", {"service": "ivs"}, "InvalidSignatureException"),
        ("unknown key", {"key": "AKIAI44QH8DHBEXAMPLE"}, "UnrecognizedClientException"),
    ],
)
def test_a_wrong_signature_is_refused(chat, case, kwargs, code):
    status, headers, answer = call(chat, "CreateChatToken", {"roomIdentifier": ROOM, "userId": "alice"}, **kwargs)
    assert status == 403, case
    assert headers["x-amzn-ErrorType"].startswith(code + ":"), (case, headers)
    assert "message" in answer and "token" not in answer and chat.chat.tokens == {}, case


def test_an_unsigned_call_is_refused(chat):
    status, headers, _ = send(f"{chat.base}/DisconnectUser", json.dumps({"roomIdentifier": ROOM, "userId": "x"}).encode(), {})
    assert status == 403 and headers["x-amzn-ErrorType"].startswith("MissingAuthenticationTokenException:")


def create(**fields):
    return ("CreateChatToken", {"roomIdentifier": ROOM, "userId": "alice", **fields})


@pytest.mark.parametrize(
    "operation, payload, fragment",
    [
        ("CreateChatToken", {"userId": "alice"}, "roomIdentifier is required"),
        ("CreateChatToken", {"roomIdentifier": ROOM}, "userId is required"),
        (*create(roomIdentifier=CHANNEL), "roomIdentifier must"),
        (*create(roomIdentifier=ROOM + "_x"), "roomIdentifier must"),
        (*create(roomIdentifier="arn:aws:ivschat:us-west-2:1:room/" + "a" * 100), "roomIdentifier must"),
        (*create(userId=""), "userId must be a string of 1 to 128"),
        (*create(userId="u" * 129), "userId must be a string of 1 to 128"),
        (*create(userId=7), "userId must be a string of 1 to 128"),
        (*create(capabilities=["SEND_MESSAGE", "BAN"]), "capabilities must be a list of"),
        (*create(capabilities="SEND_MESSAGE"), "capabilities must be a list of"),
        (*create(sessionDurationInMinutes=0), "sessionDurationInMinutes must be an integer from 1 to 180"),
        (*create(sessionDurationInMinutes=181), "sessionDurationInMinutes"),
        (*create(sessionDurationInMinutes="60"), "sessionDurationInMinutes"),
        (*create(sessionDurationInMinutes=True), "sessionDurationInMinutes"),
        (*create(attributes={"level": 3}), "attributes must be a map of strings to strings"),
        (*create(attributes=["a"]), "attributes must be a map of strings to strings"),
        # 1 KB: the UTF-8 bytes of keys and values summed; "é" is 2 bytes, so 4 + 2 x 511 = 1026.
        (*create(attributes={"name": "é" * 511}), "attributes must be at most 1024 bytes"),
        (*create(extra=1), "unknown field extra"),
        ("CreateChatToken", b"{", "not valid JSON"),
        ("CreateChatToken", [ROOM], "must be a JSON object"),
        ("DisconnectUser", {"roomIdentifier": ROOM}, "userId is required"),
        ("DisconnectUser", {"roomIdentifier": ROOM, "userId": "bob", "reason": "r" * 257}, "reason must be a string of 1 to 256"),
        ("DisconnectUser", {"roomIdentifier": CHANNEL, "userId": "bob"}, "roomIdentifier must"),
        ("DeleteMessage", {"roomIdentifier": ROOM, "id": "not-an-id!"}, "id must be 1 to 12 letters and digits"),
        ("DeleteMessage", {"roomIdentifier": ROOM, "id": "a" * 13}, "id must be 1 to 12"),
        ("DeleteMessage", {"roomIdentifier": ROOM}, "id is required"),
    ],
)
def test_bodies_are_validated_as_ivs_chat_does(chat, operation, payload, fragment):
    status, headers, answer = call(chat, operation, payload)
    assert status == 400 and headers["x-amzn-ErrorType"].startswith("ValidationException:"), answer
    assert set(answer) == {"message"} and fragment in answer["message"], answer
    assert chat.chat.tokens == {} and chat.chat.frames == []


def test_attributes_of_exactly_1_kb_are_accepted(chat):
    # 4 + 2 x 510 = 1024 bytes, though only 514 characters.
    assert call(chat, *create(attributes={"name": "é" * 510}))[0] == 200


def test_unknown_rooms_and_other_regions_are_not_found(chat):
    chat.chat.known_rooms = {ROOM}
    assert call(chat, *create())[0] == 200
    status, headers, _ = call(chat, *create(roomIdentifier=OTHER_ROOM))
    assert status == 404 and headers["x-amzn-ErrorType"].startswith("ResourceNotFoundException:")
    eu = "arn:aws:ivschat:eu-west-1:123456789012:room/AbCd1234"
    chat.chat.known_rooms = None
    assert call(chat, *create(roomIdentifier=eu))[0] == 404, "signed for us-west-2"
    assert call(chat, *create(roomIdentifier=eu), region="eu-west-1")[0] == 200, "any well-formed room exists"


def test_it_can_be_told_to_throttle_or_fail(chat):
    status, _, state = control(chat, {"throttle": {"CreateChatToken": 2}, "fail": {"DisconnectUser": 1}})
    assert status == 200 and state["throttle"]["CreateChatToken"] == 2 and state["fail"]["DisconnectUser"] == 1
    results = [call(chat, *create()) for _ in range(3)] + [call(chat, "DisconnectUser", {"roomIdentifier": ROOM, "userId": "bob"}) for _ in range(2)]
    assert [(s, h.get("x-amzn-ErrorType", "").split(":")[0]) for s, h, _ in results] == [
        (429, "ThrottlingException"),
        (429, "ThrottlingException"),
        (200, ""),
        (500, "InternalServerException"),
        (200, ""),
    ]
    assert [(c["operation"], c["status"]) for c in listing(chat, "calls")] == [
        ("CreateChatToken", 429), ("CreateChatToken", 429), ("CreateChatToken", 200), ("DisconnectUser", 500), ("DisconnectUser", 200),
    ]
    assert control(chat, {"throttle": {"SendEvent": 1}})[0] == 400
    control(chat, {"reset": True})
    assert listing(chat, "calls") == []


# The messaging WebSocket, frame by frame.


def frames_of(ws, count, timeout=5):
    return [json.loads(ws.recv(timeout=timeout)) for _ in range(count)]


def test_frames_are_those_the_sdk_reads(chat):
    alice = token_for(chat, "alice", ["SEND_MESSAGE"], {"displayName": "Alice"})
    bob = token_for(chat, "bob")
    with connect(chat.chat_url, subprotocols=[alice["token"]]) as a, connect(chat.chat_url, subprotocols=[bob["token"]]) as b:
        assert a.subprotocol == alice["token"], "the token is echoed as the subprotocol, or browsers fail the connection"
        a.send(json.dumps({"Action": "SEND_MESSAGE", "RequestId": "req-1", "Content": "hello", "Attributes": {"color": "red"}}))
        [to_bob], [to_alice] = frames_of(b, 1), frames_of(a, 1)
        assert to_bob == to_alice
        assert set(to_bob) == {"Type", "Id", "RequestId", "Content", "Attributes", "Sender", "SendTime"}
        assert (to_bob["Type"], to_bob["RequestId"], to_bob["Content"], to_bob["Attributes"]) == ("MESSAGE", "req-1", "hello", {"color": "red"})
        assert to_bob["Sender"] == {"UserId": "alice", "Attributes": {"displayName": "Alice"}}
        assert len(to_bob["Id"]) == 12 and to_bob["Id"].isalnum() and abs(parse_time(to_bob["SendTime"]) - time.time()) < 5

        refused = [
            ({"Action": "SEND_MESSAGE", "RequestId": "req-2", "Content": "me too"}, 403),
            ({"Action": "DELETE_MESSAGE", "RequestId": "req-3", "Id": to_bob["Id"]}, 403),
            ({"Action": "DISCONNECT_USER", "RequestId": "req-4", "UserId": "alice"}, 403),
            ({"Action": "BAN", "RequestId": "req-5"}, 400),
        ]
        for request, code in refused:
            b.send(json.dumps(request))
            [error] = frames_of(b, 1)
            assert set(error) == {"Type", "Id", "RequestId", "ErrorCode", "ErrorMessage"}, error
            assert (error["Type"], error["ErrorCode"], error["RequestId"]) == ("ERROR", code, request["RequestId"]), error
        b.send("not json")
        [error] = frames_of(b, 1)
        assert (error["Type"], error["ErrorCode"], "RequestId" in error) == ("ERROR", 400, False)
        a.send(json.dumps({"Action": "SEND_MESSAGE", "RequestId": "req-6", "Content": "x" * 501}))
        [error] = frames_of(a, 1)
        assert (error["ErrorCode"], error["RequestId"]) == (400, "req-6")
        with pytest.raises(TimeoutError):
            b.recv(timeout=0.3)  # nothing of the refused actions reached the room
    assert [f["RequestId"] for f in listing(chat, "frames")] == ["req-1"]


def test_deleting_and_disconnecting_are_events_then_a_clean_close(chat):
    mod = token_for(chat, "mod", ["DELETE_MESSAGE", "DISCONNECT_USER"])
    bob1, bob2, alice = token_for(chat, "bob"), token_for(chat, "bob"), token_for(chat, "alice")
    with connect(chat.chat_url, subprotocols=[mod["token"]]) as m, connect(chat.chat_url, subprotocols=[bob1["token"]]) as b1, \
            connect(chat.chat_url, subprotocols=[bob2["token"]]) as b2, connect(chat.chat_url, subprotocols=[alice["token"]]) as a:
        m.send(json.dumps({"Action": "DELETE_MESSAGE", "RequestId": "del-1", "Id": "AbCdEfGh1234", "Reason": "spoiler"}))
        for ws in (m, b1, b2, a):
            [event] = frames_of(ws, 1)
            assert set(event) == {"Type", "Id", "RequestId", "EventName", "Attributes", "SendTime"}
            assert (event["Type"], event["EventName"], event["RequestId"]) == ("EVENT", "aws:DELETE_MESSAGE", "del-1")
            # MessageID is what SDK 1.1.1 reads; MessageId what the API reference documents.
            assert event["Attributes"] == {"MessageId": "AbCdEfGh1234", "MessageID": "AbCdEfGh1234", "Reason": "spoiler"}

        status, _, answer = call(chat, "DeleteMessage", {"roomIdentifier": ROOM, "id": "Zz9"})
        assert status == 200 and len(answer["id"]) == 12
        for ws in (m, b1, b2, a):
            [event] = frames_of(ws, 1)
            assert event["Id"] == answer["id"] and event["Attributes"] == {"MessageId": "Zz9", "MessageID": "Zz9"} and "RequestId" not in event

        status, _, answer = call(chat, "DisconnectUser", {"roomIdentifier": ROOM, "userId": "bob", "reason": "spam"})
        assert (status, answer) == (200, {})
        for ws in (b1, b2):
            [event] = frames_of(ws, 1)
            assert (event["EventName"], event["Attributes"]) == ("aws:DISCONNECT_USER", {"UserId": "bob", "Reason": "spam"})
            with pytest.raises(ConnectionClosed):
                ws.recv(timeout=5)
            assert (ws.close_code, ws.close_reason) == (1000, "spam"), "a clean close: the SDK does not reconnect"
        for ws in (m, a):
            [event] = frames_of(ws, 1)
            assert event["EventName"] == "aws:DISCONNECT_USER", "the whole room hears of it"
        assert listing(chat, "calls")[-1]["disconnected"] == 2

        m.send(json.dumps({"Action": "DISCONNECT_USER", "RequestId": "dis-1", "UserId": "alice"}))
        [event] = frames_of(m, 1)
        assert (event["EventName"], event["RequestId"], event["Attributes"]) == ("aws:DISCONNECT_USER", "dis-1", {"UserId": "alice"})
        assert frames_of(a, 1)[0]["RequestId"] == "dis-1"
        with pytest.raises(ConnectionClosed):
            a.recv(timeout=5)
        assert a.close_code == 1000
        m.send(json.dumps({"Action": "DELETE_MESSAGE", "RequestId": "del-2", "Id": "x"}))
        assert frames_of(m, 1)[0]["RequestId"] == "del-2", "the moderator stays connected"
    time.sleep(0.3)
    closed = {c["userId"]: (c["closeCode"], c["closeReason"]) for c in listing(chat, "connections") if c["closeCode"]}
    assert closed == {"bob": (1000, "spam"), "alice": (1000, "Disconnected by a moderator")}


def test_tokens_are_single_use_expire_and_go_to_the_root_path(chat):
    alice = token_for(chat, "alice")
    with connect(chat.chat_url, subprotocols=[alice["token"]]):
        with pytest.raises(InvalidStatus) as refused:
            connect(chat.chat_url, subprotocols=[alice["token"]])
        assert refused.value.response.status_code == 403
    with pytest.raises(InvalidStatus) as refused:
        connect(chat.chat_url, subprotocols=[alice["token"]])
    assert refused.value.response.status_code == 403, "spent, even after its connection closed"
    for url, subprotocols, status in [
        (chat.chat_url, ["made-up-token"], 403),
        (chat.chat_url, None, 401),
        (chat.chat_url + "chat", [token_for(chat, "bob")["token"]], 404),
    ]:
        with pytest.raises(InvalidStatus) as refused:
            connect(url, subprotocols=subprotocols)
        assert refused.value.response.status_code == status, (url, subprotocols)
    late = token_for(chat, "carol")
    chat.clock = lambda: time.time() + 61
    with pytest.raises(InvalidStatus) as refused:
        connect(chat.chat_url, subprotocols=[late["token"]])
    assert refused.value.response.status_code == 403
    assert [r["error"] for r in listing(chat, "connections") if r.get("refused")] == [
        "chat token has already been used", "chat token has already been used", "invalid chat token",
        "missing chat token (the WebSocket subprotocol)", "the messaging endpoint is /", "chat token is expired",
    ]


def test_a_session_ends_after_its_duration(chat):
    control(chat, {"minute": 0.5})  # a session minute of half a second
    alice = token_for(chat, "alice", minutes=1)
    with connect(chat.chat_url, subprotocols=[alice["token"]]) as a:
        started = time.time()
        [error] = frames_of(a, 1)
        assert 0.4 <= time.time() - started <= 2
        assert (error["Type"], error["ErrorCode"]) == ("ERROR", 401), "401: the SDK reconnects with a fresh token"
        with pytest.raises(ConnectionClosed):
            a.recv(timeout=5)
        assert (a.close_code, a.close_reason) == (1000, "Session expired")


# The real SDK, in Chromium, against the stand-in.


class Browser(BrowserDriver):
    """tests/browser/chat.mjs: one Chromium page with the SDK bundle; call() runs one step."""

    def __init__(self):
        super().__init__("chat.mjs", {"sdk": str(SDK)})


@pytest.fixture
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip("needs Debian chromium (make tools installs it)")
    # The bundle as the worker serves it (scripts/build-assets.sh; well under a second).
    subprocess.run(["sh", "scripts/build-assets.sh"], cwd=ROOT, check=True)
    b = Browser()
    yield b
    b.close()


def events(room, kind):
    return [e["payload"] for e in room["log"] if e["type"] == kind]


def test_the_real_sdk_chats_through_the_stand_in(chat, browser):
    assert browser.call("exports") == ["ChatRoom", "DeleteMessageRequest", "DisconnectUserRequest", "SendMessageRequest"]
    url = chat.chat_url
    alice_attributes = {"displayName": "Alice", "badge": "member"}
    alice_token = token_for(chat, "alice", ["SEND_MESSAGE"], alice_attributes)
    tokens = {
        "alice": alice_token,
        "bob": token_for(chat, "bob", ["SEND_MESSAGE"]),
        "mod": token_for(chat, "mod", ["SEND_MESSAGE", "DELETE_MESSAGE", "DISCONNECT_USER"]),
        "reader": token_for(chat, "reader"),  # receiving needs no capability
    }
    for name, token in tokens.items():
        room = browser.call("connect", name, url, [token], 0)
        assert room["state"] == "connected", (name, room, browser.call("diagnostics"))

    # Alice sends; Bob receives it with Alice's attributes from her token.
    sent = browser.call("send", "alice", "hello from alice", {"color": "red"})
    assert "ok" in sent, sent
    message = sent["ok"]
    assert (message["content"], message["sender"]["userId"], message["attributes"]) == ("hello from alice", "alice", {"color": "red"})
    bob = browser.call("waitFor", "bob", "message", 1, 5000)
    [received] = events(bob, "message")
    assert received["id"] == message["id"] and received["content"] == "hello from alice"
    assert received["sender"] == {"userId": "alice", "attributes": alice_attributes}
    assert received["attributes"] == {"color": "red"}

    # The moderator deletes it; Bob gets the delete event.
    deleted = browser.call("deleteMessage", "mod", message["id"], "spoiler")
    assert "ok" in deleted and deleted["ok"]["messageId"] == message["id"], deleted
    bob = browser.call("waitFor", "bob", "messageDelete", 1, 5000)
    [delete_event] = events(bob, "messageDelete")
    assert (delete_event["messageId"], delete_event["reason"]) == (message["id"], "spoiler")

    # A read-only user's send, and Bob's delete, are refused with 403.
    refused = browser.call("send", "reader", "can I talk?", None)
    assert refused.get("rejected", {}).get("errorCode") == 403, refused
    refused = browser.call("deleteMessage", "bob", message["id"], None)
    assert refused.get("rejected", {}).get("errorCode") == 403, refused
    assert "can I talk?" not in json.dumps(browser.call("waitFor", "bob", "message", 2, 500)["log"])

    # DisconnectUser through the API drops Bob, who does not reconnect (a clean close).
    status, _, _ = call(chat, "DisconnectUser", {"roomIdentifier": ROOM, "userId": "bob", "reason": "spam"})
    assert status == 200
    bob = browser.call("waitFor", "bob", "disconnect", 1, 5000)
    assert bob["state"] == "disconnected" and events(bob, "disconnect") == ["serverDisconnect"], bob["log"][-4:]
    assert [e["userId"] for e in events(bob, "userDisconnect")] == ["bob"]
    time.sleep(1)
    assert [e["type"] for e in browser.call("waitFor", "bob", "tokenRequested", 2, 0)["log"]].count("tokenRequested") == 1
    alice = browser.call("waitFor", "alice", "userDisconnect", 1, 5000)
    assert alice["state"] == "connected" and events(alice, "userDisconnect")[0]["reason"] == "spam"

    # The moderator disconnects Alice through the SDK's own action.
    done = browser.call("disconnectUser", "mod", "alice", None)
    assert done.get("ok", {}).get("userId") == "alice", done
    assert events(browser.call("waitFor", "alice", "disconnect", 1, 5000), "disconnect") == ["serverDisconnect"]

    # Alice's token again (spent): the SDK cannot connect with it.
    again = browser.call("connect", "alice-again", url, [alice_token], 0)
    assert again["state"] == "disconnected" and "connect" not in [e["type"] for e in again["log"]]
    assert events(again, "disconnect") == ["socketError"]
    assert [r["error"] for r in listing(chat, "connections") if r.get("refused")] == ["chat token has already been used"]
    assert not browser.call("diagnostics")["pageErrors"]
