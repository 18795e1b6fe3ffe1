"""The stage page in a real browser (Debian Chromium driven by playwright-core), with the bundled
IVS Web Broadcast SDK joining a local stand-in for the stage's events endpoint: the SDK connects
with the token embedded in the page (verified here with PyJWT), no /v1/stage-token request comes
first, the failure to join is shown in words, and Retry fetches a fresh token that the SDK uses.

The stand-in refuses every connection (403), as a stage would a token it does not accept. SDK
1.41.0 retries a refused events connection without emitting an error, so the words come from the
page's join watchdog (15 s); the SDK's own ERROR events take the same path (web/stage.js)."""

import json
import os
import secrets
import subprocess
from pathlib import Path

import jwt
import pytest
from harness import ROOT, Worker, new_p384_key, public_pem, sec1_pem, session_cookie, start_all
from stage_standin import StageStandIn

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"
STAGE_ARN = "arn:aws:ivs:us-east-1:123456789012:stage/Browser0001"
KEY_ARN = "arn:aws:ivs:us-east-1:123456789012:public-key/Key0001"

SECRET = secrets.token_urlsafe(48)

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian chromium (make tools installs it)")


@pytest.fixture(scope="module")
def setup():
    key = new_p384_key()
    standin = StageStandIn().start()
    stage = {"arn": STAGE_ARN, "public_key_arn": KEY_ARN, "whip_url": standin.whip_url, "events_url": standin.events_url,
             "title": "Browser stage", "publish_groups": ["hosts"]}
    worker = Worker({
        "PLAYBACK_PRIVATE_KEY": sec1_pem(key),
        "SESSION_SECRET": SECRET,
        "CHANNELS": json.dumps({"demo": {"arn": "arn:aws:ivs:us-west-2:123456789012:channel/demo", "playback_url": "https://x.example/a.m3u8"}}),
        "STAGES": json.dumps({"room": stage}),
    })
    start_all([worker])
    yield worker, standin, key
    worker.stop()
    standin.stop()


def visit(worker, path, cookie, **options):
    request = {"url": worker.url + path, "cookie": {"name": "session", "value": cookie}, **options}
    p = subprocess.run(["node", str(ROOT / "tests" / "browser" / "stage.mjs"), json.dumps(request)],
                       cwd=ROOT, capture_output=True, text=True, timeout=240, env={**os.environ, "CHROMIUM": CHROMIUM})
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads(p.stdout)


def verified(token, key):
    claims = jwt.decode(token, public_pem(key), algorithms=["ES384"], options={"require": ["exp", "iat", "jti"]})
    assert jwt.get_unverified_header(token)["kid"] == KEY_ARN
    assert claims["resource"] == STAGE_ARN and claims["topic"] == "Browser0001" and claims["version"] == "1.0"
    return claims


def test_sdk_joins_with_the_embedded_token_and_explains_errors(setup):
    worker, standin, key = setup
    ARTIFACTS.mkdir(exist_ok=True)
    before = len(standin.log)
    result = visit(worker, "/stage/room", session_cookie(SECRET, sub="browser-viewer", groups=["hosts"]),
                   clickRetry=True, screenshot=str(ARTIFACTS / "stage-error.png"))
    assert result["status"] == 200 and result["h1"] == "Browser stage" and result["hasCameraButton"]
    assert not result["pageErrors"], result["pageErrors"]
    assert not result["cspViolations"], result["cspViolations"]

    # The SDK reached the stand-in's events endpoint with the page's token as its subprotocol.
    joins = [e for e in standin.log[before:] if e["websocket"] and e["token"]]
    assert joins, f"the SDK never contacted the events endpoint; console: {result['console'][-15:]}"
    first = verified(joins[0]["token"], key)
    assert first["capabilities"] == {"allow_publish": True, "allow_subscribe": True}
    assert joins[0]["path"].startswith("/?") and "topic=Browser0001" in joins[0]["path"]

    # No /v1/stage-token request before the SDK's first connection: the token came with the page.
    token_calls = [r for r in result["requests"] if "/v1/stage-token" in r["url"]]
    assert all(r["at"] > joins[0]["at"] for r in token_calls), (token_calls, joins[0])
    page_requests = [r["url"].replace(worker.url, "") for r in result["requests"] if r["at"] <= joins[0]["at"]]
    assert page_requests[:2] == ["/stage/room", "/sdk/amazon-ivs-web-broadcast.min.js"], page_requests
    print(f"\n[stage] requests before the SDK's first events connection: {len(page_requests)} ({', '.join(page_requests)}); "
          f"token API calls: 0; page request to the SDK's first events connection: {round(joins[0]['at'] - result['requests'][0]['at'], 2)} s; "
          f"connection attempts before the message: {len(joins)}")

    # The refusal is explained in words, with Retry.
    assert result["message"] and "Could not connect to the stage" in result["message"], (result["message"], result["connection"], len(joins), result["console"][-25:])

    # Retry fetched a fresh token from /v1/stage-token, and the SDK joined again with it.
    assert [r for r in token_calls if r["at"] >= result["retryClickedAt"]], token_calls
    # The old stage keeps retrying with its old token until the fresh one arrives and the page
    # leaves it, so look for the first connection that carries a different token.
    later = [verified(e["token"], key) for e in standin.log[before:]
             if e["websocket"] and e["token"] and e["at"] >= result["retryClickedAt"]]
    fresh = [claims for claims in later if claims["jti"] != first["jti"]]
    assert fresh, f"the SDK did not rejoin with a fresh participant token after Retry ({len(later)} connections, all with the first token)"
    second = fresh[0]
    assert second.get("user_id") == first.get("user_id") and second["capabilities"] == first["capabilities"]
    assert result["messageAfterRetry"], "the second refusal is explained too"
