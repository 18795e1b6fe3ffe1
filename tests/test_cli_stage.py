"""`ivs-token stage-token`, `verify` on participant tokens and `keygen`'s stage hint, driven as a
real binary; participant tokens checked with PyJWT + cryptography."""

import json
import time

import jwt
import pytest
from test_cli import es384_token, keypair, run  # noqa: F401 (pytest fixture)

STAGE_ARN = "arn:aws:ivs:eu-central-1:123456789012:stage/Room0001"
KEY_ARN = "arn:aws:ivs:eu-central-1:123456789012:public-key/Key0001"
WHIP = "https://Room0001.global-bm.whip.live-video.net"
BASE = ["--stage-arn", STAGE_ARN, "--public-key-arn", KEY_ARN, "--whip-url", WHIP]


def stage_token(priv, *extra, check=True):
    return run("stage-token", "--key", str(priv), *BASE, *extra, check=check)


def test_stage_token_is_verified_by_pyjwt(keypair):
    _, priv, pub = keypair
    token = stage_token(priv, "--publish", "--user-id", "u-1", "--attribute", "display_name=Ann", "--ttl", "1209600").stdout.strip()
    assert jwt.get_unverified_header(token) == {"alg": "ES384", "typ": "JWT", "kid": KEY_ARN}
    claims = jwt.decode(token, pub.read_text(), algorithms=["ES384"])
    assert claims["resource"] == STAGE_ARN and claims["topic"] == "Room0001"
    assert claims["events_url"] == "wss://global.events.live-video.net" and claims["whip_url"] == WHIP
    assert claims["capabilities"] == {"allow_publish": True, "allow_subscribe": True}
    assert claims["attributes"] == {"display_name": "Ann"} and claims["user_id"] == "u-1"
    assert claims["version"] == "1.0" and claims["exp"] - claims["iat"] == 14 * 24 * 3600
    assert 1 <= len(claims["jti"]) <= 64
    other = jwt.decode(stage_token(priv).stdout.strip(), pub.read_text(), algorithms=["ES384"])
    assert other["jti"] != claims["jti"] and other["capabilities"] == {"allow_subscribe": True}


def test_verify_recognises_participant_tokens(keypair):
    _, priv, pub = keypair
    token = stage_token(priv).stdout.strip()
    report = json.loads(run("verify", "--public-key", str(pub), token).stdout)
    assert report["valid"] is True and report["kind"] == "participant"
    assert report["header"]["kid"] == KEY_ARN


@pytest.mark.parametrize(
    "args, message",
    [
        (["--ttl", "1209601"], "1209601"),
        (["--participant-id", "has space"], "jti must be 1 to 64"),
        (["--participant-id", "x" * 65], "jti must be 1 to 64"),
        (["--user-id", "u" * 129], "at most 128"),
        (["--attribute", "a=" + "x" * 1100], "at most 1 KB"),
        (["--attribute", "novalue"], "NAME=VALUE"),
    ],
)
def test_stage_token_refusals(keypair, args, message):
    _, priv, _ = keypair
    p = stage_token(priv, *args, check=False)
    assert p.returncode in (2, 3), p.stderr
    assert message in p.stderr


def test_stage_token_setting_refusals(keypair):
    _, priv, _ = keypair
    p = run("stage-token", "--key", str(priv), "--stage-arn", STAGE_ARN, "--public-key-arn", KEY_ARN.replace("eu-central-1", "us-east-1"),
            "--whip-url", WHIP, check=False)
    assert p.returncode == 3 and "--public-key-arn is in us-east-1 but the stage is in eu-central-1" in p.stderr
    p = run("stage-token", "--key", str(priv), "--stage-arn", STAGE_ARN.replace("stage/", "channel/"), "--public-key-arn", KEY_ARN,
            "--whip-url", WHIP, check=False)
    assert p.returncode == 3 and "--stage-arn must look like" in p.stderr


def test_verify_rejects_broken_participant_tokens(keypair):
    key, _, pub = keypair
    now = int(time.time())
    header = {"alg": "ES384", "typ": "JWT", "kid": KEY_ARN}
    good = {"exp": now + 60, "iat": now, "jti": "p1", "resource": STAGE_ARN, "topic": "Room0001",
            "events_url": "wss://global.events.live-video.net", "whip_url": WHIP,
            "capabilities": {"allow_subscribe": True}, "version": "1.0"}
    assert run("verify", "--public-key", str(pub), es384_token(key, header, good)).returncode == 0
    cases = [
        ({**header, "kid": KEY_ARN.replace("eu-central-1", "us-west-2")}, {}, "public keys are regional"),
        ({**header, "kid": "key-1"}, {}, "kid is not a public key ARN"),
        (header, {"topic": "Other"}, "topic must be the stage id"),
        (header, {"version": "2.0"}, "version must be"),
        (header, {"jti": "a/b"}, "jti must be"),
        (header, {"exp": now + 15 * 86400}, "at most 14 days"),
        (header, {"exp": (now + 60) * 1000}, "milliseconds"),
        (header, {"capabilities": {"allow_subscribe": False}}, "grants nothing"),
        (header, {"attributes": {"a": "x" * 1100}}, "at most 1 KB"),
        (header, {"resource": STAGE_ARN.replace("stage/", "channel/")}, "not a stage ARN"),
    ]
    for h, changes, message in cases:
        p = run("verify", "--public-key", str(pub), es384_token(key, h, {**good, **changes}), check=False)
        assert p.returncode == 1, (changes, p.stdout)
        assert message in p.stderr, (message, p.stderr)


def test_keygen_prints_both_import_commands(tmp_path):
    out = run("keygen", "--out", str(tmp_path / "k")).stdout
    assert "aws ivs import-playback-key-pair" in out
    assert f'aws ivs-realtime import-public-key --name ivs-token-worker --public-key-material "$(cat {tmp_path / "k" / "public.pem"})"' in out
