"""End-to-end: participant tokens for IVS real-time stages (GET /v1/stage-token, GET /stage/NAME)
over real HTTP against `wrangler dev`; every token verified with PyJWT + cryptography and checked
against every rule of the IVS participant token, independently of the worker's own verifier."""

import base64
import json
import re
import secrets
import time

import jwt
import pytest
from harness import Worker, expected_viewer_id, new_p384_key, pkcs8_pem, public_pem, sec1_pem, session_cookie, start_all

FOURTEEN_DAYS = 14 * 24 * 3600
REGION_ACCOUNT = "us-east-1:123456789012"
KEY_ARN = f"arn:aws:ivs:{REGION_ACCOUNT}:public-key/StageKey01"
STAGES = {
    "studio": {
        "title": "Studio",
        "arn": f"arn:aws:ivs:{REGION_ACCOUNT}:stage/Studio0001",
        "public_key_arn": KEY_ARN,
        "whip_url": "https://Studio0001.global-bm.whip.live-video.net",
        "publish_groups": ["hosts"],
        "attributes": {"display_name": "name"},
    },
    "club": {
        "arn": f"arn:aws:ivs:{REGION_ACCOUNT}:stage/Club0001",
        "public_key_arn": KEY_ARN,
        "whip_url": "https://Club0001.global-bm.whip.live-video.net",
        "events_url": "wss://events.example.net",
        "subscribe_groups": "members, staff",
        "publish_groups": "staff",
    },
}
CHANNELS = {"demo": {"arn": "arn:aws:ivs:us-west-2:123456789012:channel/demo1", "playback_url": "https://play.example.net/demo.m3u8"}}
JTI = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class StageDeployment:
    def __init__(self):
        self.playback_key = new_p384_key()
        self.stage_key = new_p384_key()
        self.session_secret = secrets.token_urlsafe(48)
        common = {
            "PLAYBACK_PRIVATE_KEY": sec1_pem(self.playback_key),
            "SESSION_SECRET": self.session_secret,
            "CHANNELS": json.dumps(CHANNELS),
            "STAGES": json.dumps(STAGES),
            "ALLOWED_ORIGINS": "https://app.example",
        }
        # The longest lifetime IVS accepts; the stage key in the IVS console's PKCS#8 form.
        self.worker = Worker({**common, "STAGE_PRIVATE_KEY": pkcs8_pem(self.stage_key), "STAGE_TOKEN_TTL_SECONDS": str(FOURTEEN_DAYS)})
        # Defaults: 3600 s, signed with the playback key.
        self.defaults = Worker(common)
        self.too_long = Worker({**common, "STAGE_TOKEN_TTL_SECONDS": str(FOURTEEN_DAYS + 1)})


@pytest.fixture(scope="module")
def stages():
    d = StageDeployment()
    start_all([d.worker, d.defaults, d.too_long])
    yield d
    for w in (d.worker, d.defaults, d.too_long):
        w.stop()


def cookie(d, **claims):
    return {"Cookie": f"session={session_cookie(d.session_secret, **claims)}", "Origin": "https://app.example"}


def stage_token(d, query, worker=None, **claims):
    return (worker or d.worker).get(f"/v1/stage-token?{query}", headers=cookie(d, **claims))


def verify_participant_token(token, public_key_pem, stage):
    """PyJWT + cryptography, then every IVS participant-token rule; returns (header, claims)."""
    header_b64 = token.split(".")[0]
    assert base64.urlsafe_b64decode(header_b64 + "==") == ('{"alg":"ES384","typ":"JWT","kid":"%s"}' % KEY_ARN).encode()
    assert len(base64.urlsafe_b64decode(token.split(".")[2] + "==")) == 96, "raw r||s"
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(
        token, public_key_pem, algorithms=["ES384"],
        options={"require": ["exp", "iat", "jti"], "verify_aud": False},
    )
    assert header["kid"].split(":")[3] == claims["resource"].split(":")[3], "public keys are regional"
    assert claims["resource"] == stage["arn"]
    assert claims["topic"] == stage["arn"].rsplit("/", 1)[1]
    assert claims["events_url"] == stage.get("events_url", "wss://global.events.live-video.net")
    assert claims["whip_url"] == stage["whip_url"]
    assert claims["version"] == "1.0"
    assert JTI.match(claims["jti"])
    assert isinstance(claims["exp"], int) and isinstance(claims["iat"], int)
    assert claims["exp"] - claims["iat"] <= FOURTEEN_DAYS
    assert abs(claims["iat"] - time.time()) < 60
    caps = claims["capabilities"]
    assert caps.get("allow_subscribe") is True and set(caps) <= {"allow_subscribe", "allow_publish"}
    assert all(v is True for v in caps.values()), "no `false` member"
    assert len(claims.get("user_id", "")) <= 128
    assert len(json.dumps(claims.get("attributes", {}), separators=(",", ":")).encode()) <= 1024
    assert set(claims) <= {"exp", "iat", "jti", "user_id", "resource", "topic", "events_url", "whip_url", "capabilities", "attributes", "version"}
    return header, claims


def test_subscriber_token_contract(stages):
    d = stages
    r = stage_token(d, "stage=studio", sub="ann@example.com", name="Ann", email="ann@example.com")
    assert r.status == 200, r.text
    assert r.headers["content-type"] == "application/json"
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["vary"] == "Origin, Cookie"
    assert r.headers["access-control-allow-origin"] == "https://app.example"
    body = r.json()
    assert set(body) == {"stage", "token", "participant_id", "expires_at", "capabilities"}
    assert body["stage"] == "studio" and body["capabilities"] == ["SUBSCRIBE"]
    _, claims = verify_participant_token(body["token"], public_pem(d.stage_key), STAGES["studio"])
    assert claims["jti"] == body["participant_id"] and claims["exp"] == body["expires_at"]
    assert claims["capabilities"] == {"allow_subscribe": True}
    assert claims["exp"] - claims["iat"] == FOURTEEN_DAYS, "STAGE_TOKEN_TTL_SECONDS at the 14-day maximum"
    assert claims["user_id"] == expected_viewer_id(d.playback_key, "ann@example.com"), "the viewer id, not personal data"
    assert claims["attributes"] == {"display_name": "Ann"}, "only the claims the stage names"
    assert "ann@example.com" not in json.dumps(claims)
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(body["token"], public_pem(d.playback_key), algorithms=["ES384"])


def test_defaults_sign_with_the_playback_key_for_an_hour(stages):
    d = stages
    r = stage_token(d, "stage=studio", worker=d.defaults, sub="bob")
    assert r.status == 200, r.text
    _, claims = verify_participant_token(r.json()["token"], public_pem(d.playback_key), STAGES["studio"])
    assert claims["exp"] - claims["iat"] == 3600
    assert "attributes" not in claims, "no named claim present: no attributes"


def test_fourteen_day_cap_is_a_setting_error(stages):
    r = stages.too_long.get("/healthz")
    assert r.status == 503
    assert "STAGE_TOKEN_TTL_SECONDS" in r.json()["detail"] and "1209600" in r.json()["detail"]
    r = stage_token(stages, "stage=studio", worker=stages.too_long)
    assert r.status == 500 and r.json()["type"] == "urn:ivs-token-worker:problem:misconfigured"


def test_publish_grant_and_refusal(stages):
    d = stages
    r = stage_token(d, "stage=studio&publish=true", groups=["hosts"])
    assert r.status == 200, r.text
    assert r.json()["capabilities"] == ["SUBSCRIBE", "PUBLISH"]
    _, claims = verify_participant_token(r.json()["token"], public_pem(d.stage_key), STAGES["studio"])
    assert claims["capabilities"] == {"allow_publish": True, "allow_subscribe": True}
    refused = stage_token(d, "stage=studio&publish=true", groups=["guests"])
    assert refused.status == 403
    assert refused.json()["type"] == "urn:ivs-token-worker:problem:stage-forbidden"
    assert "publish" in refused.json()["detail"] and "guests" not in refused.text
    # No publish_groups on a stage would mean nobody publishes; club's are staff only.
    assert stage_token(d, "stage=club&publish=true", groups=["members"]).status == 403
    assert stage_token(d, "stage=club&publish=true", groups=["staff"]).status == 200


def test_group_refusal(stages):
    d = stages
    for groups in (None, [], ["guests"]):
        r = stage_token(d, "stage=club", groups=groups)
        assert r.status == 403, r.text
        assert r.json()["type"] == "urn:ivs-token-worker:problem:stage-forbidden"
    r = stage_token(d, "stage=club", groups=["members"])
    assert r.status == 200
    verify_participant_token(r.json()["token"], public_pem(d.stage_key), STAGES["club"])


def test_every_token_is_unique(stages):
    d = stages
    headers = cookie(d, sub="same-viewer")
    ids, tokens = set(), set()
    for _ in range(150):
        r = d.worker.get("/v1/stage-token?stage=studio", headers=headers)
        assert r.status == 200, r.text
        _, claims = verify_participant_token(r.json()["token"], public_pem(d.stage_key), STAGES["studio"])
        ids.add(claims["jti"])
        tokens.add(r.json()["token"])
    assert len(ids) == 150 and len(tokens) == 150, "nothing cached or reused"


def test_attributes_over_1_kb_are_refused(stages):
    r = stage_token(stages, "stage=studio", name="x" * 1100)
    assert r.status == 403
    assert "1 KB" in r.json()["detail"] and "xxxx" not in r.text


@pytest.mark.parametrize(
    "query, claims, status, slug",
    [
        ("", {}, 400, "bad-request"),
        ("stage=Studio", {}, 400, "bad-request"),
        ("stage=studio&stage=club", {}, 400, "bad-request"),
        ("stage=studio&publish=1", {}, 400, "bad-request"),
        ("stage=nope", {}, 404, "unknown-stage"),
        ("stage=studio", None, 401, "session-missing"),
        ("stage=studio", {"exp": 1}, 401, "session-expired"),
    ],
)
def test_problems(stages, query, claims, status, slug):
    d = stages
    headers = {"Origin": "https://app.example"} if claims is None else cookie(d, **claims)
    r = d.worker.get(f"/v1/stage-token?{query}", headers=headers)
    assert r.status == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["type"] == f"urn:ivs-token-worker:problem:{slug}"
    assert r.headers["access-control-allow-origin"] == "https://app.example"
    assert "eyJ" not in r.text


def test_methods_and_preflight(stages):
    r = stages.worker.get("/v1/stage-token?stage=studio", method="POST")
    assert r.status == 405 and r.headers["allow"] == "GET, HEAD, OPTIONS"
    r = stages.worker.get("/v1/stage-token?stage=studio", method="OPTIONS", headers={"Origin": "https://app.example"})
    assert r.status == 204 and r.headers["access-control-allow-origin"] == "https://app.example"


def test_stage_page(stages):
    d = stages
    r = d.worker.get("/stage/studio", headers=cookie(d, groups=["hosts"]))
    assert r.status == 200, r.text
    csp = r.headers["content-security-policy"]
    nonce = re.search(r"'nonce-([A-Za-z0-9_-]+)'", csp).group(1)
    assert f'<script nonce="{nonce}">' in r.text and "unsafe-inline" not in csp
    assert "wss://global.events.live-video.net" in csp and "https://Studio0001.global-bm.whip.live-video.net" in csp
    assert '<script src="/sdk/amazon-ivs-web-broadcast.min.js"' in r.text
    data = json.loads(re.search(r'id="stage-data">(.*?)</script>', r.text).group(1))
    _, claims = verify_participant_token(data["token"], public_pem(d.stage_key), STAGES["studio"])
    assert claims["capabilities"]["allow_publish"] is True and 'id="join-camera"' in r.text
    assert data["token_endpoint"] == "/v1/stage-token?stage=studio&publish=true"
    sdk = d.worker.get("/sdk/amazon-ivs-web-broadcast.min.js")
    assert sdk.status == 200 and b"IVSBroadcastClient" in sdk.body
    assert d.worker.get("/stage/club", headers=cookie(d)).status == 403
    assert d.worker.get("/stage/nope", headers=cookie(d)).status == 404
    no_session = d.worker.get("/stage/studio")
    assert no_session.status == 401 and "<script" not in no_session.text
