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


def token(standin, key=None, **claims):
    now = int(time.time())
    payload = {"aws:channel-arn": ARN, "exp": now + 300, **claims}
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
        ("bound beyond 10 minutes", {"aws:viewer-id": "v", "exp": int(time.time()) + 900}, "10 minute limit"),
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
