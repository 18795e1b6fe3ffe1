"""The HTTP contract, checked by an independent tool: schemathesis generates requests (positive and
negative) from openapi/openapi.json and checks every answer of the real worker under `wrangler dev`
against it: status codes, content types, headers and bodies as documented, no 5xx for any input,
405 with `Allow` for undocumented methods. It sends a valid session cookie, so valid requests reach
the signer. If the document and the worker drift apart, this test fails."""

import json
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from harness import ARN_PREFIX, ROOT, Worker, free_port, new_p384_key, public_pem, session_cookie, start_all
from identity_standins import new_ec_key, public_jwk

sys.path.insert(0, str(ROOT / "tools"))
from ivs_standin import ACCESS_KEY_ID, StandIn  # noqa: E402

DOCUMENT = ROOT / "openapi" / "openapi.json"
ARTIFACTS = ROOT / "test-artifacts" / "schemathesis"
# Bounded: a few hundred requests in all, well inside CI's budget on 2 cores.
MAX_EXAMPLES = 25
ADMIN_TOKEN = secrets.token_urlsafe(40)


@pytest.fixture(scope="module")
def contract_worker(deployment):
    # The main deployment's settings, plus the local sign-in so /dev/login answers on 127.0.0.1.
    from test_stage_api import STAGES

    worker = Worker({})
    # Sign-in at the edge on, so that /login, /callback/{provider} and /logout answer as documented: endpoints
    # written out (a closed port; schemathesis never completes a sign-in, it cannot forge a state).
    nowhere = f"http://127.0.0.1:{free_port()}"
    jwks = {"keys": [public_jwk(new_ec_key(), "contract-key", "ES256")]}  # inline: /healthz stays healthy
    providers = {"idp": {"issuer": nowhere, "audience": "contract", "jwks": jwks, "login": {
        "client_id": "contract", "authorization_endpoint": nowhere + "/auth", "token_endpoint": nowhere + "/token",
        "end_session_endpoint": nowhere + "/logout"}}}
    # Device limits and the operator API too. The newest device wins (evict-oldest): schemathesis
    # asks for tokens from many devices of one account, and a valid request must be served. Its
    # revocations go to a closed port: they are queued and retried, never lost, never awaited.
    channels = json.loads(deployment.worker.settings["CHANNELS"])
    channels["open"]["device_limit"] = False  # not viewer-bound: it cannot be device-limited
    # A chat room, its CreateChatToken answered by the IVS Chat stand-in (SigV4 checked), so valid
    # requests to /v1/chat-token reach a 200 (and, past the floor of 10 a minute, a 429).
    aws_secret = secrets.token_urlsafe(30)
    standin = StandIn(public_pem(new_p384_key()), ARN_PREFIX + "demo1", credentials={ACCESS_KEY_ID: (aws_secret, None)}).start()
    channels["demo"]["chat"] = {"room": "arn:aws:ivschat:us-west-2:123456789012:room/contract", "moderators": ["staff"]}
    settings = dict(deployment.worker.settings, DEV_LOGIN="true", STAGES=json.dumps(STAGES),
                    IDENTITY_PROVIDERS=json.dumps(providers), CHANNELS=json.dumps(channels),
                    DEVICE_LIMITS=json.dumps({"default": 2, "on_limit": "evict-oldest"}),
                    AWS_ACCESS_KEY_ID=ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY=aws_secret,
                    IVS_API_ENDPOINT=nowhere, IVS_CHAT_API_ENDPOINT=standin.base, ADMIN_API_TOKEN=ADMIN_TOKEN)
    worker.settings = settings
    start_all([worker])
    yield deployment, worker
    worker.stop()
    standin.stop()


def with_provider_names(document: dict, names: list[str]) -> dict:
    """The repository's document as a deployment with identity providers `names` serves it: the
    operator API's `provider` takes exactly those names."""
    for path in ("/v1/admin/revoke", "/v1/admin/unblock", "/v1/admin/devices"):
        document["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]["properties"]["provider"]["enum"] = [*names, None]
    for method in ("get", "head"):
        for parameter in document["paths"]["/v1/admin/devices"][method]["parameters"]:
            if parameter["name"] == "provider":
                parameter["schema"]["enum"] = names
    return document


def test_served_document_is_the_repository_one(contract_worker):
    _, worker = contract_worker
    r = worker.get("/openapi.json")
    assert r.status == 200
    assert r.json() == with_provider_names(json.loads(DOCUMENT.read_text()), ["idp"])


def schemathesis(schema: str, url: str, cookie: str, report: str, max_examples: int, phases: str):
    """Run schemathesis on `schema` (a file or the URL a worker serves it at) against `url`."""
    report_dir = ARTIFACTS / report
    report_dir.mkdir(parents=True, exist_ok=True)
    # The operator API's bearer token, for the operations that declare the `adminToken` scheme.
    config = report_dir / "schemathesis.toml"
    config.write_text(f'[auth.openapi.adminToken]\nbearer = "{ADMIN_TOKEN}"\n')
    cmd = [
        str(Path(sys.executable).parent / "schemathesis"), "--config-file", str(config), "run", schema,
        "--url", url,
        "--header", f"Cookie: session={cookie}",
        "--mode", "all",
        "--phases", phases,
        "--max-examples", str(max_examples),
        "--checks", "all",
        # ignored_auth: the cookie is a plain header here, not a scheme schemathesis can strip;
        # the 401 without a session is asserted in test_token_api.py.
        "--exclude-checks", "ignored_auth,use_after_free,ensure_resource_availability,object_level_authorization",
        "--seed", "11",
        "--generation-database", "none",
        # One worker thread: hypothesis parses source with `ast` while it generates, and on CPython
        # 3.11 (our machines run 3.11.7) the AST constructor's recursion counter is shared by all
        # threads, so two workers parsing at once crash at random with "SystemError: AST
        # constructor recursion depth mismatch" (CPython issue 106905). A minimal reproduction
        # (two threads parsing while the GC runs finalizers) crashed 5 runs of 5; one thread, none.
        "--workers", "1",
        "--request-timeout", "30",
        "--max-redirects", "0",
        "--no-color",
        "--report", "vcr",
        "--report-dir", str(report_dir),
    ]
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    (report_dir / "output.txt").write_text(result.stdout + result.stderr)
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
    # It must have tested something: every documented operation.
    assert "passed" in result.stdout, result.stdout[-2000:]


def test_schemathesis_finds_no_contract_violation(contract_worker):
    deployment, worker = contract_worker
    cookie = session_cookie(deployment.session_secret, sub="schemathesis")
    # The document this worker serves: the repository's, with its providers' names as the operator
    # API's `provider` values (any other name is a 400, as the repository's document cannot say).
    schemathesis(worker.url + "/openapi.json", worker.url, cookie, ".", MAX_EXAMPLES, "examples,coverage,fuzzing")


def test_a_deployment_without_dev_login_documents_only_what_it_serves(deployment):
    # The main deployment has no DEV_LOGIN, no sign-in at the edge and no STAGES.
    served = deployment.worker.get("/openapi.json").json()
    full = json.loads(DOCUMENT.read_text())
    absent = {"/", "/dev/login", "/login", "/callback/{provider}", "/logout", "/v1/stage-token", "/stage/{name}",
              "/v1/heartbeat", "/v1/admin/revoke", "/v1/admin/unblock", "/v1/admin/devices", "/v1/chat-token"}
    assert set(served["paths"]) == set(full["paths"]) - absent
    # Nor the token routes' device parameters (no DEVICE_LIMITS).
    for path in ("/v1/token", "/watch/{name}"):
        names = {p["name"] for p in served["paths"][path]["get"]["parameters"]}
        assert "takeover" not in names and "X-Device-Id" not in names
        assert {"takeover", "X-Device-Id"} <= {p["name"] for p in full["paths"][path]["get"]["parameters"]}
    assert {k: v for k, v in served.items() if k != "paths"} == {k: v for k, v in full.items() if k != "paths"}
    # What it does not document it does not serve, whatever the method: an unknown path's 404 (a
    # preflight no longer tells that the stage route exists).
    origin = {"Origin": "https://app.example"}
    for method in ["GET", "OPTIONS", "POST"]:
        unknown = deployment.worker.get("/nope", method=method, headers=origin)
        assert unknown.status == 404 and unknown.json()["type"] == "urn:ivs-token-worker:problem:not-found"
        for path in ["/v1/stage-token?stage=studio", "/stage/studio", "/v1/heartbeat?channel=demo", "/v1/admin/revoke",
                     "/v1/admin/unblock", "/v1/admin/devices?sub=alice", "/v1/chat-token?channel=demo"]:
            r = deployment.worker.get(path, method=method, headers=origin)
            assert (r.status, r.json()) == (404, unknown.json()), (method, path)
            assert "access-control-allow-origin" not in r.headers, (method, path)


def test_schemathesis_on_the_served_document_of_a_deployment_without_dev_login(deployment):
    # The document a deployment serves is the one API tools load: every path in it must answer as
    # documented there (a path promised but answering 404 would fail), on a worker without DEV_LOGIN.
    worker = deployment.worker
    cookie = session_cookie(deployment.session_secret, sub="schemathesis-deployed")
    schemathesis(worker.url + "/openapi.json", worker.url, cookie, "deployed", 5, "examples,coverage")
