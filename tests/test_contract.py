"""The HTTP contract, checked by an independent tool: schemathesis generates requests (positive and
negative) from openapi/openapi.json and checks every answer of the real worker under `wrangler dev`
against it: status codes, content types, headers and bodies as documented, no 5xx for any input,
405 with `Allow` for undocumented methods. It sends a valid session cookie, so valid requests reach
the signer. If the document and the worker drift apart, this test fails."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness import ROOT, Worker, free_port, session_cookie, start_all
from identity_standins import new_ec_key, public_jwk

DOCUMENT = ROOT / "openapi" / "openapi.json"
ARTIFACTS = ROOT / "test-artifacts" / "schemathesis"
# Bounded: a few hundred requests in all, well inside CI's budget on 2 cores.
MAX_EXAMPLES = 25


@pytest.fixture(scope="module")
def contract_worker(deployment):
    # The main deployment's settings, plus the local sign-in so /dev/login answers on 127.0.0.1.
    from test_stage_api import STAGES

    worker = Worker({})
    # Sign-in at the edge on, so that /login, /callback and /logout answer as documented: endpoints
    # written out (a closed port; schemathesis never completes a sign-in, it cannot forge a state).
    nowhere = f"http://127.0.0.1:{free_port()}"
    jwks = {"keys": [public_jwk(new_ec_key(), "contract-key", "ES256")]}  # inline: /healthz stays healthy
    providers = {"idp": {"issuer": nowhere, "audience": "contract", "jwks": jwks, "login": {
        "client_id": "contract", "authorization_endpoint": nowhere + "/auth", "token_endpoint": nowhere + "/token",
        "end_session_endpoint": nowhere + "/logout"}}}
    settings = dict(deployment.worker.settings, DEV_LOGIN="true", STAGES=json.dumps(STAGES),
                    IDENTITY_PROVIDERS=json.dumps(providers))
    worker.settings = settings
    start_all([worker])
    yield deployment, worker
    worker.stop()


def test_served_document_is_the_repository_one(contract_worker):
    _, worker = contract_worker
    r = worker.get("/openapi.json")
    assert r.status == 200
    assert r.json() == json.loads(DOCUMENT.read_text())


def schemathesis(schema: str, url: str, cookie: str, report: str, max_examples: int, phases: str):
    """Run schemathesis on `schema` (a file or the URL a worker serves it at) against `url`."""
    report_dir = ARTIFACTS / report
    report_dir.mkdir(parents=True, exist_ok=True)
    cmd = [
        str(Path(sys.executable).parent / "schemathesis"), "run", schema,
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
        "--workers", "2",
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
    schemathesis(str(DOCUMENT), worker.url, cookie, ".", MAX_EXAMPLES, "examples,coverage,fuzzing")


def test_a_deployment_without_dev_login_documents_only_what_it_serves(deployment):
    # The main deployment has no DEV_LOGIN, no sign-in at the edge and no STAGES.
    served = deployment.worker.get("/openapi.json").json()
    full = json.loads(DOCUMENT.read_text())
    absent = {"/", "/dev/login", "/login", "/callback", "/logout", "/v1/stage-token", "/stage/{name}"}
    assert set(served["paths"]) == set(full["paths"]) - absent
    assert {k: v for k, v in served.items() if k != "paths"} == {k: v for k, v in full.items() if k != "paths"}
    # What it does not document it does not serve, whatever the method: an unknown path's 404 (a
    # preflight no longer tells that the stage route exists).
    origin = {"Origin": "https://app.example"}
    for method in ["GET", "OPTIONS", "POST"]:
        unknown = deployment.worker.get("/nope", method=method, headers=origin)
        assert unknown.status == 404 and unknown.json()["type"] == "urn:ivs-token-worker:problem:not-found"
        for path in ["/v1/stage-token?stage=studio", "/stage/studio"]:
            r = deployment.worker.get(path, method=method, headers=origin)
            assert (r.status, r.json()) == (404, unknown.json()), (method, path)
            assert "access-control-allow-origin" not in r.headers, (method, path)


def test_schemathesis_on_the_served_document_of_a_deployment_without_dev_login(deployment):
    # The document a deployment serves is the one API tools load: every path in it must answer as
    # documented there (a path promised but answering 404 would fail), on a worker without DEV_LOGIN.
    worker = deployment.worker
    cookie = session_cookie(deployment.session_secret, sub="schemathesis-deployed")
    schemathesis(worker.url + "/openapi.json", worker.url, cookie, "deployed", 5, "examples,coverage")
