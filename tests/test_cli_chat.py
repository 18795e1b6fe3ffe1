"""`ivs-token chat-token` (issue 25): the worker's CreateChatToken request, signed by the worker's
SigV4 code, checked against botocore as tests/test_sigv4.py checks revocations (SigV4Auth
recomputes the signature from the signed headers and the body alone, service `ivschat`); then
sent to the IVS Chat stand-in, which verifies with botocore too, and whose token opens a chat
connection as the userId asked for. No worker here."""

import json
import os
import re
import subprocess
import sys
import time

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
import test_sigv4 as sigv4_tests
from harness import CLI, ROOT, expected_viewer_id, new_p384_key, public_pem, sec1_pem
from websockets.sync.client import connect

sys.path.insert(0, str(ROOT / "tools"))
from ivs_standin import ACCESS_KEY_ID, SECRET_ACCESS_KEY, StandIn  # noqa: E402

ROOM = "arn:aws:ivschat:us-west-2:123456789012:room/AbCd1234"
CHANNEL = "arn:aws:ivs:us-west-2:123456789012:channel/demo"
VIEWER = "5bdcc146bf60754e6a042426089575c75a003f08"
TOKEN = "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQD6EXAMPLE+token/with+slashes=="
AUTHORIZATION = sigv4_tests.authorization("ivschat")


def chat_token(*args, token=None, key=ACCESS_KEY_ID, secret=SECRET_ACCESS_KEY) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k != "VIEWER_ID_SECRET"}
    if key:
        env.update({"AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret})
    if token:
        env["AWS_SESSION_TOKEN"] = token
    return subprocess.run([str(CLI), "chat-token", *args], capture_output=True, text=True, env=env, timeout=60)


def printed_request(*args, token=None) -> dict:
    p = chat_token(*args, "--print-request", token=token)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def botocore_signature(printed: dict, secret: str = SECRET_ACCESS_KEY, token: str | None = None) -> tuple[str, str]:
    """botocore's signature of the printed request for service ivschat (test_sigv4's rebuild)."""
    return sigv4_tests.botocore_signature(printed, secret, token, service="ivschat")


@pytest.mark.parametrize(
    "args, token, url, body",
    [
        (["--room", ROOM, "--user-id", VIEWER], None, "https://ivschat.us-west-2.amazonaws.com/CreateChatToken",
         {"roomIdentifier": ROOM, "userId": VIEWER, "capabilities": ["SEND_MESSAGE"], "sessionDurationInMinutes": 60,
          "attributes": {"role": "sender"}}),
        (["--room", "arn:aws:ivschat:ap-northeast-1:123456789012:room/x-1", "--user-id", "u", "--role", "moderator",
          "--session-minutes", "180", "--display-name", "Ali\u202ece"], TOKEN,
         "https://ivschat.ap-northeast-1.amazonaws.com/CreateChatToken",
         {"roomIdentifier": "arn:aws:ivschat:ap-northeast-1:123456789012:room/x-1", "userId": "u",
          "capabilities": ["SEND_MESSAGE", "DELETE_MESSAGE", "DISCONNECT_USER"], "sessionDurationInMinutes": 180,
          "attributes": {"display_name": "Alice", "role": "moderator"}}),
        (["--room", ROOM.replace("us-west-2", "eu-central-1"), "--user-id", "r", "--role", "reader",
          "--session-minutes", "1", "--endpoint", "http://127.0.0.1:8788/"], TOKEN, "http://127.0.0.1:8788/CreateChatToken",
         {"roomIdentifier": ROOM.replace("us-west-2", "eu-central-1"), "userId": "r", "capabilities": [],
          "sessionDurationInMinutes": 1, "attributes": {"role": "reader"}}),
        (["--room", ROOM, "--user-id", "é" * 128, "--endpoint", "https://ivschat.example:443"], None,
         "https://ivschat.example/CreateChatToken",
         {"roomIdentifier": ROOM, "userId": "é" * 128, "capabilities": ["SEND_MESSAGE"], "sessionDurationInMinutes": 60,
          "attributes": {"role": "sender"}}),
    ],
)
@pytest.mark.parametrize("when", [1_800_000_000, 951_782_399, 2_147_483_647])
def test_the_chat_request_is_signed_as_botocore_signs_it(args, token, url, body, when):
    printed = printed_request(*args, "--time", str(when), token=token)
    # Signed for the room's region, as botocore signs for ivschat.
    sigv4_tests.assert_signed_as_botocore_signs(printed, url, when, token, region=args[1].split(":")[3], service="ivschat")
    assert json.loads(printed["body"]) == body


def test_botocore_sees_a_wrong_secret_or_service():
    printed = printed_request("--room", ROOM, "--user-id", VIEWER, "--time", "1800000000")
    signature = AUTHORIZATION.match(printed["headers"]["authorization"])["signature"]
    assert botocore_signature(printed, secret=SECRET_ACCESS_KEY[:-1] + "Z")[0] != signature
    request = AWSRequest(method="POST", url=printed["url"], data=printed["body"].encode(),
                         headers={"Content-Type": "application/json", "X-Amz-Date": printed["headers"]["x-amz-date"]})
    request.context["timestamp"] = printed["headers"]["x-amz-date"]
    as_ivs = SigV4Auth(Credentials(ACCESS_KEY_ID, SECRET_ACCESS_KEY), "ivs", "us-west-2")
    assert as_ivs.signature(as_ivs.string_to_sign(request, as_ivs.canonical_request(request)), request) != signature


@pytest.fixture
def standin():
    s = StandIn(public_pem(new_p384_key()), CHANNEL, credentials={ACCESS_KEY_ID: (SECRET_ACCESS_KEY, TOKEN)},
                known_rooms={ROOM}).start()
    yield s
    s.stop()


def test_the_stand_in_issues_a_token_that_opens_the_room_as_the_viewer(standin, tmp_path):
    key = new_p384_key()
    key_file = tmp_path / "private.pem"
    key_file.write_text(sec1_pem(key))
    viewer = expected_viewer_id(key, "alice")
    p = chat_token("--room", ROOM, "--sub", "alice", "--key", str(key_file), "--display-name", "Alice",
                   "--session-minutes", "15", "--endpoint", standin.base, token=TOKEN)
    assert p.returncode == 0, p.stderr
    answer = json.loads(p.stdout)
    assert set(answer) == {"token", "sessionExpirationTime", "tokenExpirationTime"}
    assert SECRET_ACCESS_KEY not in p.stdout + p.stderr and TOKEN not in p.stdout + p.stderr
    [call] = standin.chat.calls
    assert (call["status"], call["userId"], call["capabilities"], call["sessionDurationInMinutes"]) == (200, viewer, ["SEND_MESSAGE"], 15)
    assert call["attributes"] == {"role": "sender", "display_name": "Alice"}
    with connect(standin.chat_url, subprotocols=[answer["token"]]) as ws:
        ws.send(json.dumps({"Action": "SEND_MESSAGE", "RequestId": "r1", "Content": "hi"}))
        frame = json.loads(ws.recv(timeout=5))
    assert frame["Type"] == "MESSAGE" and frame["Sender"]["UserId"] == viewer
    # The CLI and the worker's viewer-id command name the same viewer.
    same = subprocess.run([str(CLI), "viewer-id", "--sub", "alice", "--key", str(key_file)], capture_output=True, text=True,
                          env={k: v for k, v in os.environ.items() if k != "VIEWER_ID_SECRET"})
    assert same.stdout.strip() == viewer


@pytest.mark.parametrize(
    "case, args, control, kwargs, code, says",
    [
        ("wrong secret", [], None, {"secret": SECRET_ACCESS_KEY[:-1] + "X"}, 4, "HTTP 403 InvalidSignatureException"),
        ("temporary key without its token", [], None, {"token": None}, 4, "HTTP 403"),
        ("unknown room", ["--room", ROOM.replace("AbCd", "Zz")], None, {}, 4,
         "HTTP 404 ResourceNotFoundException: no such room"),
        ("throttled", [], {"throttle": {"CreateChatToken": 1}}, {}, 5, "HTTP 429 ThrottlingException"),
        ("server error", [], {"fail": {"CreateChatToken": 1}}, {}, 5, "HTTP 500 InternalServerException"),
    ],
)
def test_aws_refusals_and_failures_say_the_status_and_type(standin, case, args, control, kwargs, code, says):
    if control:
        standin.chat.control(control)
    kwargs = {"token": TOKEN, **kwargs}
    room = [] if args else ["--room", ROOM]
    p = chat_token(*room, *args, "--user-id", "u", "--endpoint", standin.base, **kwargs)
    assert (p.returncode, p.stdout) == (code, ""), (case, p.stderr)
    assert says in p.stderr, (case, p.stderr)
    assert SECRET_ACCESS_KEY not in p.stderr
    assert len(standin.chat.calls) == 1, "no retry: the operator decides"


def test_no_answer_is_exit_5():
    p = chat_token("--room", ROOM, "--user-id", "u", "--endpoint", "http://127.0.0.1:9")
    assert p.returncode == 5 and "CreateChatToken gave no usable answer: no answer" in p.stderr, p.stderr


@pytest.mark.parametrize(
    "args, env_key, flag",
    [
        (["--room", CHANNEL, "--user-id", "u"], True, "--room"),
        (["--room", ROOM.replace("123456789012", "12345"), "--user-id", "u"], True, "--room"),
        (["--room", ROOM, "--user-id", ""], True, "--user-id"),
        (["--room", ROOM, "--user-id", "u" * 129], True, "--user-id"),
        (["--room", ROOM, "--user-id", "u", "--role", "owner"], True, "--role"),
        (["--room", ROOM, "--user-id", "u", "--session-minutes", "181"], True, "--session-minutes"),
        (["--room", ROOM, "--user-id", "u", "--session-minutes", "0"], True, "--session-minutes"),
        (["--room", ROOM, "--user-id", "u", "--display-name", "\u200b\u202e"], True, "--display-name"),
        (["--room", ROOM, "--user-id", "u", "--endpoint", "http://ivschat.example"], True, "--endpoint"),
        (["--room", ROOM, "--sub", "alice"], True, "--key"),
        (["--room", ROOM, "--sub", "alice", "--issuer", "not a url", "--key", "/dev/null"], True, "--issuer"),
        (["--room", ROOM, "--user-id", "u"], False, "AWS_ACCESS_KEY_ID"),
    ],
)
def test_bad_flags_are_exit_3_naming_the_flag(args, env_key, flag):
    p = chat_token(*args, "--print-request", key=ACCESS_KEY_ID if env_key else None)
    assert p.returncode == 3 and flag in p.stderr and p.stdout == "", (args, p.returncode, p.stderr)
    assert SECRET_ACCESS_KEY not in p.stderr


def test_usage_errors_are_exit_2():
    for args in (["--room", ROOM], ["--room", ROOM, "--user-id", "u", "--sub", "alice"], ["--user-id", "u"]):
        assert chat_token(*args).returncode == 2, args
