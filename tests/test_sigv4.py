"""The worker's SigV4 signer (src/aws/sigv4.rs), checked against botocore, AWS's own Python
implementation: `ivs-token revocation-request` prints a request signed by the worker's code, and
botocore's SigV4Auth recomputes the canonical request, the string to sign and the signature from
the signed headers and the body alone. Then the IVS stand-in, which verifies with botocore too,
accepts the request over HTTP. (The AWS signing test suite's vectors are checked by the unit
tests, from tests/fixtures/sigv4.)"""

import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from harness import CLI, ROOT, new_p384_key, public_pem

sys.path.insert(0, str(ROOT / "tools"))
from ivs_standin import ACCESS_KEY_ID, SECRET_ACCESS_KEY, StandIn  # noqa: E402

VIEWER = "5bdcc146bf60754e6a042426089575c75a003f08"
ARN = "arn:aws:ivs:us-west-2:123456789012:channel/AbCdEfGh1234"
TOKEN = "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQD6EXAMPLE+token/with+slashes=="


def authorization(service: str) -> re.Pattern:
    """The `Authorization` header SigV4 writes for `service`, its parts named."""
    return re.compile(
        r"^AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[a-z0-9-]+)/" + re.escape(service)
        + r"/aws4_request, SignedHeaders=(?P<signed>[a-z0-9;-]+), Signature=(?P<signature>[0-9a-f]{64})$"
    )


AUTHORIZATION = authorization("ivs")


def revocation_request(*args, token=None, key=ACCESS_KEY_ID, secret=SECRET_ACCESS_KEY) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret})
    if token:
        env["AWS_SESSION_TOKEN"] = token
    p = subprocess.run([str(CLI), "revocation-request", *args], capture_output=True, text=True, env=env)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def botocore_signature(printed: dict, secret: str = SECRET_ACCESS_KEY, token: str | None = None,
                       service: str = "ivs") -> tuple[str, str]:
    """(botocore's signature, its SignedHeaders) for the printed request: rebuilt from the signed
    headers and the body only, at the printed X-Amz-Date, for `service` (`ivs`, `ivschat`).
    Shared with tests/test_cli_chat.py."""
    auth = authorization(service).match(printed["headers"]["authorization"])
    assert auth, printed["headers"]["authorization"]
    headers = {"Content-Type": printed["headers"]["content-type"], "X-Amz-Date": printed["headers"]["x-amz-date"]}
    if token:
        headers["X-Amz-Security-Token"] = printed["headers"]["x-amz-security-token"]
    request = AWSRequest(method=printed["method"], url=printed["url"], data=printed["body"].encode(), headers=headers)
    request.context["timestamp"] = printed["headers"]["x-amz-date"]
    signer = SigV4Auth(Credentials(auth["key"], secret, token), service, auth["region"])
    canonical = signer.canonical_request(request)
    signature = signer.signature(signer.string_to_sign(request, canonical), request)
    return signature, signer.signed_headers(signer.headers_to_sign(request))


def assert_signed_as_botocore_signs(printed: dict, url: str, when: int, token: str | None, region: str,
                                    service: str = "ivs"):
    """The printed request goes to `url`, is dated `when`, carries the session token, and its
    signature is botocore's for `service` in `region`. Shared with tests/test_cli_chat.py."""
    assert printed["url"] == url and printed["method"] == "POST"
    assert printed["headers"]["x-amz-date"] == time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(when))
    assert printed["headers"].get("x-amz-security-token") == token
    signature, signed_headers = botocore_signature(printed, token=token, service=service)
    auth = authorization(service).match(printed["headers"]["authorization"])
    assert auth["date"] == printed["headers"]["x-amz-date"][:8]
    assert auth["region"] == region
    assert auth["signed"] == signed_headers == ("content-type;host;x-amz-date" + (";x-amz-security-token" if token else ""))
    assert auth["signature"] == signature


@pytest.mark.parametrize(
    "args, token, url",
    [
        (["--channel-arn", ARN, "--viewer-id", VIEWER, "--version", "1800000000"], None,
         "https://ivs.us-west-2.amazonaws.com/StartViewerSessionRevocation"),
        (["--channel-arn", ARN, "--viewer-id", VIEWER, "--version", "0"], TOKEN,
         "https://ivs.us-west-2.amazonaws.com/StartViewerSessionRevocation"),
        (["--channel-arn", ARN, "--channel-arn", ARN.replace("AbCd", "ZyXw"), "--viewer-id", VIEWER, "--version", "2147483647"], None,
         "https://ivs.us-west-2.amazonaws.com/BatchStartViewerSessionRevocation"),
        (["--channel-arn", "arn:aws:ivs:ap-northeast-1:123456789012:channel/x-1", "--viewer-id", "v", "--version", "7",
          "--endpoint", "http://127.0.0.1:8788/"], TOKEN, "http://127.0.0.1:8788/StartViewerSessionRevocation"),
        (["--channel-arn", "arn:aws:ivs:eu-central-1:123456789012:channel/x", "--viewer-id", VIEWER, "--version", "7",
          "--endpoint", "https://ivs.example:443"], None, "https://ivs.example/StartViewerSessionRevocation"),
    ],
)
@pytest.mark.parametrize("when", [1_800_000_000, 951_782_399, 2_147_483_647])
def test_the_worker_signs_as_botocore_does(args, token, url, when):
    printed = revocation_request(*args, "--time", str(when), token=token)
    assert_signed_as_botocore_signs(printed, url, when, token, region=args[1].split(":")[3])
    body = json.loads(printed["body"])
    if "Batch" in url:
        assert [s["channelArn"] for s in body["viewerSessions"]] == [args[1], args[3]]
    else:
        assert body == {"channelArn": args[1], "viewerId": args[args.index("--viewer-id") + 1],
                        "viewerSessionVersionsLessThanOrEqualTo": int(args[args.index("--version") + 1])}


def test_botocore_sees_a_wrong_secret():
    printed = revocation_request("--channel-arn", ARN, "--viewer-id", VIEWER, "--version", "1", "--time", "1800000000")
    signature, _ = botocore_signature(printed, secret=SECRET_ACCESS_KEY[:-1] + "Z")
    assert AUTHORIZATION.match(printed["headers"]["authorization"])["signature"] != signature


def test_the_stand_in_accepts_what_the_worker_signs_and_nothing_else():
    standin = StandIn(public_pem(new_p384_key()), ARN, credentials={ACCESS_KEY_ID: (SECRET_ACCESS_KEY, TOKEN)}).start()
    try:
        def send(printed, body=None):
            data = (body or printed["body"]).encode()
            request = urllib.request.Request(printed["url"], data=data, headers=printed["headers"], method="POST")
            try:
                with urllib.request.urlopen(request, timeout=10) as r:
                    return r.status, json.loads(r.read())
            except urllib.error.HTTPError as e:
                return e.code, json.loads(e.read())

        args = ["--channel-arn", ARN, "--viewer-id", VIEWER, "--version", "1800000000", "--endpoint", standin.base]
        assert send(revocation_request(*args, token=TOKEN)) == (200, {})
        assert standin.revoked == {(ARN, VIEWER): 1_800_000_000}
        batch = revocation_request(*args, "--channel-arn", ARN.replace("AbCd", "ZyXw"), token=TOKEN)
        assert send(batch) == (200, {"errors": []})
        tampered = send(batch, batch["body"].replace("1800000000", "1800000001"))
        assert tampered[0] == 403 and "signature we calculated does not match" in tampered[1]["message"]
        stale = revocation_request(*args, "--time", str(int(time.time()) - 3600), token=TOKEN)
        assert send(stale)[0] == 403
        assert send(revocation_request(*args))[0] == 403, "temporary credentials without their token"
        assert len(standin.revocations) == 3
    finally:
        standin.stop()


def test_unusable_input_is_named():
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    base = ["--viewer-id", VIEWER, "--version", "1"]
    cases = [
        (["--channel-arn", "arn:aws:ivs:us-west-2:123456789012:stage/x", *base], env | {"AWS_ACCESS_KEY_ID": ACCESS_KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY}, "--channel-arn"),
        (["--channel-arn", ARN, "--channel-arn", ARN.replace("us-west-2", "eu-west-1"), *base], env | {"AWS_ACCESS_KEY_ID": ACCESS_KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY}, "same region"),
        (["--channel-arn", ARN, *base], env, "set AWS_ACCESS_KEY_ID"),
        (["--channel-arn", ARN, *base], env | {"AWS_ACCESS_KEY_ID": "ASIAIOSFODNN7EXAMPLE", "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY}, "session token"),
        (["--channel-arn", ARN, *base, "--endpoint", "http://ivs.example"], env | {"AWS_ACCESS_KEY_ID": ACCESS_KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY}, "--endpoint"),
    ]
    for args, case_env, fragment in cases:
        p = subprocess.run([str(CLI), "revocation-request", *args], capture_output=True, text=True, env=case_env)
        assert p.returncode == 3 and fragment in p.stderr, (args, p.stderr)
        assert SECRET_ACCESS_KEY not in p.stderr
    p = subprocess.run([str(CLI), "revocation-request", "--channel-arn", ARN, "--viewer-id", VIEWER, "--version", "2147483648"], capture_output=True, text=True, env=env)
    assert p.returncode == 2
