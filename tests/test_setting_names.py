"""End-to-end (issue 24): a misspelled setting can no longer leave a feature silently off. A worker
with `DEVICE_LIMIT` (one letter short) answers 500 and /healthz 503 naming DEVICE_LIMITS; one with
an unrelated `FOO_BAR` serves, and /healthz lists it; one with neither answers exactly
{"status":"ok"}, so the worker's other bindings (the Durable Object, wrangler.toml's vars) count as
known."""

import json
import secrets

import pytest
from conftest import CHANNELS
from harness import Worker, new_p384_key, sec1_pem, session_cookie, start_all

SECRET = secrets.token_urlsafe(48)
LIMITS = json.dumps({"default": 1})


def base():
    return {
        "PLAYBACK_PRIVATE_KEY": sec1_pem(new_p384_key()),
        "SESSION_SECRET": SECRET,
        "CHANNELS": json.dumps({"demo": CHANNELS["demo"]}),
    }


@pytest.fixture(scope="module")
def workers():
    misspelled = Worker({**base(), "DEVICE_LIMIT": LIMITS})
    # A var, as wrangler.toml's [vars] binds it (--var), rather than a secret.
    unknown = Worker(base(), extra_args=["--var", "FOO_BAR:1"])
    plain = Worker(base())
    everything = [misspelled, unknown, plain]
    start_all(everything)
    yield misspelled, unknown, plain
    for w in everything:
        w.stop()


def test_a_misspelled_setting_is_refused_naming_the_setting(workers):
    worker = workers[0]
    health = worker.get("/healthz")
    assert health.status == 503, health.text
    detail = health.json()["detail"]
    assert detail.startswith("setting DEVICE_LIMITS: `DEVICE_LIMIT` is not a setting; did you mean `DEVICE_LIMITS`?"), detail
    r = worker.get("/v1/token?channel=demo", headers={"Cookie": "session=" + session_cookie(SECRET)})
    assert r.status == 500 and r.json()["type"] == "urn:ivs-token-worker:problem:misconfigured"
    assert LIMITS not in health.text + r.text + worker.output()


def test_an_unknown_name_is_listed_not_refused(workers):
    worker = workers[1]
    health = worker.get("/healthz")
    assert health.status == 200, health.text
    assert health.json() == {"status": "ok", "unknown_settings": ["FOO_BAR"]}
    r = worker.get("/v1/token?channel=demo", headers={"Cookie": "session=" + session_cookie(SECRET)})
    assert r.status == 200, r.text
    assert '{"unknown_settings":["FOO_BAR"]}' in worker.output(), "logged once per load"


def test_no_unknown_names_is_exactly_ok(workers):
    health = workers[2].get("/healthz")
    assert (health.status, health.text) == (200, '{"status":"ok"}')
