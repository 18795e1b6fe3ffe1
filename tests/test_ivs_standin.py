"""The IVS stand-in that `make dev` and the browser tests rely on refuses what IVS refuses. Tokens
are minted here with PyJWT (not by this project), requests go over HTTP."""

import sys
import time
import uuid

import jwt
import pytest
from harness import ROOT, new_p384_key, public_pem, request, sec1_pem

sys.path.insert(0, str(ROOT / "tools"))
from ivs_standin import MEDIA_PREFIX, StandIn, live_playlist  # noqa: E402

ARN = "arn:aws:ivs:us-west-2:123456789012:channel/demo"


@pytest.fixture(scope="module")
def standin():
    key = new_p384_key()
    s = StandIn(public_pem(key), ARN).start()
    s.key = key
    yield s
    s.stop()


class Later(int):
    """An `exp` this many seconds after the token is made (not after the tests were collected: a
    long run reaches this file minutes later)."""


def token(standin, key=None, **claims):
    now = int(time.time())
    payload = {"aws:channel-arn": ARN, "exp": now + 300, **claims}
    payload = {k: now + v if isinstance(v, Later) else v for k, v in payload.items()}
    return jwt.encode({k: v for k, v in payload.items() if v is not None}, sec1_pem(key or standin.key), algorithm="ES384")


def play(standin, tok, origin=None):
    headers = {"Origin": origin} if origin else {}
    return request(f"{standin.playback_url}?token={tok}", headers=headers)


def test_a_valid_token_gets_the_playlist(standin):
    r = play(standin, token(standin, **{"aws:viewer-id": "v" * 40}), origin="http://127.0.0.1:8787")
    assert r.status == 200 and r.text.startswith("#EXTM3U") and "rendition/live.m3u8" in r.text


@pytest.mark.parametrize(
    "case, claims, error",
    [
        ("expired", {"exp": int(time.time()) - 5}, "token is expired"),
        ("milliseconds", {"exp": int(time.time() * 1000) + 300_000}, "exp must be a NumericDate in seconds"),
        ("other channel", {"aws:channel-arn": ARN + "x"}, "token is not valid for this channel"),
        ("no channel", {"aws:channel-arn": None}, "token is not valid for this channel"),
        ("viewer id too long", {"aws:viewer-id": "v" * 41}, "aws:viewer-id must be 1 to 40 characters"),
        ("bound beyond 10 minutes", {"aws:viewer-id": "v", "exp": Later(900)}, "10 minute limit"),
        ("origin", {"aws:access-control-allow-origin": "https://app.example"}, "origin is not allowed"),
    ],
)
def test_ivs_refusals_answer_403_with_ivs_json(standin, case, claims, error):
    r = play(standin, token(standin, **claims), origin="http://127.0.0.1:8787")
    assert r.status == 403, case
    body = r.json()
    assert body[0]["error_code"] == "invalid_playback_auth_token" and error in body[0]["error"], (case, body)


def test_wrong_key_and_garbage_are_refused(standin):
    assert play(standin, token(standin, key=new_p384_key())).status == 403
    assert play(standin, "not-a-token").json()[0]["error"] == "token contains an invalid number of segments"
    assert request(standin.playback_url).json()[0]["error"] == "missing playback authorization token"


def test_a_single_use_token_plays_once(standin):
    tok = token(standin, **{"aws:single-use-uuid": str(uuid.uuid4())})
    assert play(standin, tok).status == 200
    second = play(standin, tok)
    assert second.status == 403 and second.json()[0]["error"] == "single-use token has already been used"


def test_the_live_playlist_slides_and_loops_forever(standin):
    at_0, at_5, at_61 = live_playlist(0), live_playlist(5), live_playlist(61)
    assert "#EXT-X-MEDIA-SEQUENCE:0\n" in at_0 and "#EXT-X-ENDLIST" not in at_0
    assert at_0.count("seg") == 3 and "#EXT-X-DISCONTINUITY\n" not in at_0
    # 5 s in: sequence 2 (seg2), then a wrap to seg0 behind a discontinuity.
    assert "#EXT-X-MEDIA-SEQUENCE:2\n" in at_5 and at_5.index("seg2.ts") < at_5.index("#EXT-X-DISCONTINUITY\n") < at_5.index("seg0.ts")
    assert "#EXT-X-MEDIA-SEQUENCE:30\n" in at_61 and "#EXT-X-DISCONTINUITY-SEQUENCE:10\n" in at_61
    served = request(standin.base + MEDIA_PREFIX + "live.m3u8")
    assert served.status == 200 and served.text.startswith("#EXTM3U")
    segment = request(standin.base + MEDIA_PREFIX + "seg1.ts")
    assert segment.status == 200 and segment.body[0] == 0x47, "an MPEG-TS sync byte"
    assert request(standin.base + MEDIA_PREFIX + "../dev.py").status == 404


# The IVS API: revocations, signed with botocore (not this project's signer).

import json  # noqa: E402
import urllib.error  # noqa: E402
import urllib.request  # noqa: E402

from botocore.auth import SigV4Auth  # noqa: E402
from botocore.awsrequest import AWSRequest  # noqa: E402
from botocore.credentials import Credentials  # noqa: E402
from ivs_standin import ACCESS_KEY_ID, SECRET_ACCESS_KEY  # noqa: E402

VIEWER = "5bdcc146bf60754e6a042426089575c75a003f08"
OTHER_ARN = "arn:aws:ivs:us-west-2:123456789012:channel/other"


@pytest.fixture
def api():
    """A fresh stand-in per test: revocations and injected failures do not leak between tests."""
    key = new_p384_key()
    s = StandIn(public_pem(key), ARN).start()
    s.key = key
    yield s
    s.stop()


def send(url: str, body: bytes, headers: dict) -> tuple[int, dict, dict]:
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, dict(r.headers), json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), json.loads(e.read() or b"null")


def call(standin, operation, payload, key=ACCESS_KEY_ID, secret=SECRET_ACCESS_KEY, token=None, region="us-west-2", tamper=None):
    """POST an IVS API call signed by botocore's SigV4Auth, as the AWS SDKs sign it."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    request = AWSRequest(method="POST", url=f"{standin.base}/{operation}", data=body, headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials(key, secret, token), "ivs", region).add_auth(request)
    if tamper:
        body = tamper(body)
    return send(request.url, body, dict(request.headers.items()))


def single(arn=ARN, viewer=VIEWER, version=5):
    return {"channelArn": arn, "viewerId": viewer, "viewerSessionVersionsLessThanOrEqualTo": version}


def test_a_signed_revocation_is_accepted_and_recorded(api):
    status, headers, answer = call(api, "StartViewerSessionRevocation", single())
    assert (status, answer) == (200, {})
    assert [(r["operation"], r["channelArn"], r["viewerId"], r["version"]) for r in api.revocations] == [("single", ARN, VIEWER, 5)]
    status, _, answer = call(api, "StartViewerSessionRevocation", {"channelArn": ARN, "viewerId": "v2"})
    assert status == 200 and api.revocations[-1]["version"] == 0, "the version defaults to 0"
    status, _, answer = call(api, "BatchStartViewerSessionRevocation", {"viewerSessions": [single(), single(OTHER_ARN, version=7)]})
    assert (status, answer) == (200, {"errors": []})
    assert api.revoked[(OTHER_ARN, VIEWER)] == 7
    listed = request(api.base + "/_standin/revocations").json()
    assert [r["channelArn"] for r in listed] == [ARN, ARN, ARN, OTHER_ARN]


@pytest.mark.parametrize(
    "case, kwargs, code",
    [
        ("wrong secret", {"secret": SECRET_ACCESS_KEY[:-1] + "X"}, "InvalidSignatureException"),
        ("body changed after signing", {"tamper": lambda b: b.replace(b'"viewerId": "5', b'"viewerId": "6')}, "InvalidSignatureException"),
        ("unknown key", {"key": "AKIAI44QH8DHBEXAMPLE"}, "UnrecognizedClientException"),
        ("other service's scope", {"region": "us-west-2", "key": ACCESS_KEY_ID}, None),
    ],
)
def test_a_wrong_signature_is_refused(api, case, kwargs, code):
    if code is None:
        # Signed for another service: build it by hand with botocore.
        body = json.dumps(single()).encode()
        req = AWSRequest(method="POST", url=f"{api.base}/StartViewerSessionRevocation", data=body, headers={"Content-Type": "application/json"})
        SigV4Auth(Credentials(ACCESS_KEY_ID, SECRET_ACCESS_KEY), "s3", "us-west-2").add_auth(req)
        status, headers, answer = send(req.url, body, dict(req.headers.items()))
        code = "InvalidSignatureException"
    else:
        status, headers, answer = call(api, "StartViewerSessionRevocation", single(), **kwargs)
    assert status == 403, case
    assert headers["x-amzn-ErrorType"].startswith(code + ":"), (case, headers)
    assert "message" in answer and api.revocations == [], case


def test_unsigned_stale_and_token_less_requests_are_refused(api):
    body = json.dumps(single()).encode()
    status, headers, _ = send(f"{api.base}/StartViewerSessionRevocation", body, {"Content-Type": "application/json"})
    assert status == 403 and headers["x-amzn-ErrorType"].startswith("MissingAuthenticationTokenException")
    api.clock = lambda: time.time() + 16 * 60
    status, headers, answer = call(api, "StartViewerSessionRevocation", single())
    assert status == 403 and "Signature expired" in answer["message"]
    api.clock = time.time
    api.credentials = {ACCESS_KEY_ID: (SECRET_ACCESS_KEY, "session-token-value")}
    assert call(api, "StartViewerSessionRevocation", single())[0] == 403, "temporary credentials need their token"
    assert call(api, "StartViewerSessionRevocation", single(), token="other-token")[0] == 403
    assert call(api, "StartViewerSessionRevocation", single(), token="session-token-value")[0] == 200


@pytest.mark.parametrize(
    "operation, payload, fragment",
    [
        ("StartViewerSessionRevocation", single(arn="arn:aws:ivs:us-west-2:123456789012:stage/x"), "channelArn must match"),
        ("StartViewerSessionRevocation", single(arn="arn:aws:ivs:us-west-2:123456789012:channel/a_b"), "channelArn must match"),
        ("StartViewerSessionRevocation", single(arn="arn:aws:ivs:us-west-2:1:channel/" + "a" * 120), "channelArn must match"),
        ("StartViewerSessionRevocation", single(viewer=""), "viewerId must be 1 to 40"),
        ("StartViewerSessionRevocation", single(viewer="v" * 41), "viewerId must be 1 to 40"),
        ("StartViewerSessionRevocation", single(version=-1), "viewerSessionVersionsLessThanOrEqualTo"),
        ("StartViewerSessionRevocation", single(version=2**31), "viewerSessionVersionsLessThanOrEqualTo"),
        ("StartViewerSessionRevocation", single(version="5"), "viewerSessionVersionsLessThanOrEqualTo"),
        ("StartViewerSessionRevocation", {**single(), "extra": 1}, "unknown field"),
        ("StartViewerSessionRevocation", b"{", "not valid JSON"),
        ("BatchStartViewerSessionRevocation", {"viewerSessions": []}, "1 to 20 items"),
        ("BatchStartViewerSessionRevocation", {"viewerSessions": [single()] * 21}, "1 to 20 items"),
        ("BatchStartViewerSessionRevocation", {"viewerSessions": [single(), single(viewer="v" * 41)]}, "viewerSessions[1]: viewerId"),
        ("BatchStartViewerSessionRevocation", single(), "viewerSessions"),
    ],
)
def test_bodies_are_validated_as_ivs_does(api, operation, payload, fragment):
    status, headers, answer = call(api, operation, payload)
    assert status == 400 and headers["x-amzn-ErrorType"].startswith("ValidationException:"), answer
    assert fragment in answer["message"] and api.revocations == []


def test_unknown_channels_and_other_regions_are_not_found(api):
    api.known_channels = {ARN}
    status, headers, _ = call(api, "StartViewerSessionRevocation", single(OTHER_ARN))
    assert status == 404 and headers["x-amzn-ErrorType"].startswith("ResourceNotFoundException")
    eu = "arn:aws:ivs:eu-west-1:123456789012:channel/demo"
    status, _, answer = call(api, "BatchStartViewerSessionRevocation", {"viewerSessions": [single(), single(OTHER_ARN), single(eu)]})
    assert status == 200
    assert [(e["channelArn"], e["viewerId"], e["code"]) for e in answer["errors"]] == [
        (OTHER_ARN, VIEWER, "ResourceNotFoundException"),
        (eu, VIEWER, "ResourceNotFoundException"),
    ]
    assert [r["channelArn"] for r in api.revocations] == [ARN], "the valid pair of the batch is accepted"
    status, _, _ = call(api, "StartViewerSessionRevocation", single(eu), region="eu-west-1")
    assert status == 404, "not a known channel"


def test_it_can_be_told_to_throttle_or_fail(api):
    control = lambda body: send(f"{api.base}/_standin/control", json.dumps(body).encode(), {"Content-Type": "application/json"})
    assert control({"throttle": 2, "fail": 1})[2] == {"throttle": 2, "fail": 1, "pair_throttle": 0}
    results = [call(api, "StartViewerSessionRevocation", single()) for _ in range(4)]
    assert [(s, h.get("x-amzn-ErrorType", "").split(":")[0]) for s, h, _ in results] == [
        (429, "ThrottlingException"),
        (429, "ThrottlingException"),
        (500, "InternalServerException"),
        (200, ""),
    ]
    assert len(api.revocations) == 1
    control({"pair_throttle": 1})
    status, _, answer = call(api, "BatchStartViewerSessionRevocation", {"viewerSessions": [single(), single(OTHER_ARN)]})
    assert status == 200 and [(e["channelArn"], e["code"]) for e in answer["errors"]] == [(ARN, "ThrottlingException")]
    assert [e["status"] for e in api.api_log] == [429, 429, 500, 200, 200]
    control({"reset": True})
    assert api.revocations == [] and api.revoked == {} and api.api_log == []
    assert control([1])[0] == 400


def test_a_revoked_viewer_is_stopped_while_playing_and_refused_after(api):
    def start(viewer, version):
        r = play(api, token(api, **{"aws:viewer-id": viewer, "aws:viewer-session-version": version}))
        assert r.status == 200, r.text
        rendition = next(line for line in r.text.splitlines() if line.startswith("rendition/"))
        assert rendition.startswith("rendition/live.m3u8?session=")
        return api.base + "/api/video/v1/" + rendition

    playing = start(VIEWER, 5)
    later = start(VIEWER, 6)
    other = start("someone-else", 5)
    media = request(playing)
    assert media.status == 200
    segment = next(line for line in media.text.splitlines() if line.startswith("seg"))
    assert "?session=" in segment
    segment_url = api.base + MEDIA_PREFIX + segment
    assert request(segment_url).status == 200
    assert call(api, "StartViewerSessionRevocation", single(version=5))[0] == 200
    for url in (playing, segment_url):
        r = request(url)
        assert r.status == 403 and r.json()[0]["error"] == "viewer session has been revoked", url
    assert request(later).status == 200, "a higher version plays on"
    assert request(other).status == 200, "another viewer plays on"
    refused = play(api, token(api, **{"aws:viewer-id": VIEWER, "aws:viewer-session-version": 5}))
    assert refused.status == 403 and refused.json()[0]["error"] == "viewer session has been revoked"
    assert play(api, token(api, **{"aws:viewer-id": VIEWER, "aws:viewer-session-version": 6})).status == 200
    assert play(api, token(api, **{"aws:viewer-id": VIEWER})).status == 403, "no version is version 0"
    # A revocation on another channel leaves this one alone.
    assert call(api, "StartViewerSessionRevocation", single(OTHER_ARN, viewer="someone-else", version=99))[0] == 200
    assert request(other).status == 200
    assert request(api.base + MEDIA_PREFIX + "seg0.ts?session=unknown").status == 403
