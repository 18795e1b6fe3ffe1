"""End-to-end: every accepted key form signs tokens PyJWT verifies; every refused key or setting
answers a 500 problem that names the setting and never echoes its value."""

import base64
import json
import secrets

import pytest
from conftest import CHANNELS
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from harness import Worker, new_p384_key, pkcs8_pem, public_pem, sec1_pem, session_cookie, start_all, verify_playback_token

SECRET = secrets.token_urlsafe(48)
KEY = new_p384_key()

ACCEPTED = {
    "sec1 -noout": sec1_pem(KEY),
    "pkcs8 (IVS console download)": pkcs8_pem(KEY),
    "CRLF line ends": pkcs8_pem(KEY).replace("\n", "\r\n"),
    "base64 of the PEM (Secrets Manager recipe)": base64.b64encode(sec1_pem(KEY, with_params=True).encode()).decode(),
}

REFUSED = {
    "missing": (None, "is not set"),
    "P-256": (sec1_pem(ec.generate_private_key(ec.SECP256R1())), "P-256"),
    "RSA": (
        rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode(),
        "RSA",
    ),
    "encrypted": (
        KEY.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(b"pw")
        ).decode(),
        "encrypted",
    ),
    "garbage": ("this-is-not-a-key-at-all", "neither PEM (-----BEGIN ...) nor base64"),
}


def settings_with(key):
    s = {"SESSION_SECRET": SECRET, "CHANNELS": json.dumps({"demo": CHANNELS["demo"], "open": CHANNELS["open"]})}
    if key is not None:
        s["PLAYBACK_PRIVATE_KEY"] = key
    return s


@pytest.fixture(scope="module")
def workers():
    accepted = {name: Worker(settings_with(pem)) for name, pem in ACCEPTED.items()}
    refused = {name: Worker(settings_with(pem)) for name, (pem, _) in REFUSED.items()}
    bad_setting = Worker({**settings_with(sec1_pem(KEY)), "SESSION_SECRET": "too-short", "TOKEN_TTL_SECONDS": "300"})
    everything = [*accepted.values(), *refused.values(), bad_setting]
    start_all(everything)
    yield accepted, refused, bad_setting
    for w in everything:
        w.stop()


def cookie_header():
    return {"Cookie": "session=" + session_cookie(SECRET)}


@pytest.mark.parametrize("form", list(ACCEPTED))
def test_accepted_key_forms(workers, form):
    worker = workers[0][form]
    r = worker.get("/v1/token?channel=open", headers=cookie_header())
    assert r.status == 200, r.text
    _, claims = verify_playback_token(r.json()["token"], public_pem(KEY))
    # Defaults: TOKEN_TTL_SECONDS unset -> 300 s; ALLOWED_ORIGINS unset -> every origin.
    assert claims["exp"] - claims["iat"] == 300
    assert claims["aws:access-control-allow-origin"] == "*"


@pytest.mark.parametrize("case", list(REFUSED))
def test_refused_keys(workers, case):
    worker = workers[1][case]
    key, reason = REFUSED[case]
    r = worker.get("/v1/token?channel=demo", headers=cookie_header())
    assert r.status == 500, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["type"] == "urn:ivs-token-worker:problem:misconfigured"
    assert body["detail"].startswith("setting PLAYBACK_PRIVATE_KEY: ")
    assert reason in body["detail"]
    health = worker.get("/healthz")
    assert health.status == 503
    for line in (key or "").splitlines():
        if not line.startswith("-----") and len(line) > 8:
            for text in (r.text, health.text, worker.output()):
                assert line not in text


def test_invalid_setting_is_named(workers):
    worker = workers[2]
    r = worker.get("/v1/token?channel=demo", headers=cookie_header())
    assert r.status == 500
    assert r.json()["detail"].startswith("setting SESSION_SECRET: is 9 bytes")
    assert "too-short" not in r.text and "too-short" not in worker.output()
