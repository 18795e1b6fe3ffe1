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


# Outside review (issue 16): settings no one should deploy answer 500 naming the setting, the field
# and the rule, and quote no secret. The userinfo hosts are on loopback, so a worker that wrongly
# accepted one would fetch from this machine, never from a remote host.
ISSUE_16 = {
    "jwks_url with userinfo": (
        {"IDENTITY_PROVIDERS": json.dumps({"corp": {"issuer": "https://id.example", "audience": "a",
                                                    "jwks_url": "http://localhost:1@127.0.0.2:9/jwks"}})},
        "setting IDENTITY_PROVIDERS: provider `corp`: field `jwks_url` ",
        ["user name or password"],
        ["localhost:1@"],
    ),
    "LOGIN_URL with userinfo": (
        {"LOGIN_URL": "http://[::1]@127.0.0.3:9/login"},
        "setting LOGIN_URL: ",
        ["user name or password"],
        ["[::1]@"],
    ),
    "wildcard origin over a public suffix": (
        {"ALLOWED_ORIGINS": "https://app.example, https://*.co.uk"},
        "setting ALLOWED_ORIGINS: `https://*.co.uk` ",
        ["public suffix"],
        [],
    ),
    "http origin off localhost": (
        {"CHANNELS": json.dumps({"demo": {**CHANNELS["demo"], "allowed_origins": ["http://app.example"]}})},
        "setting CHANNELS: channel `demo`: `allowed_origins` `http://app.example` must start with https://",
        [],
        [],
    ),
    "session secret of 32 a": (
        {"SESSION_SECRET": "a" * 32},
        "setting SESSION_SECRET: does not look random",
        ["openssl rand -base64 48"],
        ["a" * 32],
    ),
    "PLAYER_SCRIPT_URL with a CSP separator": (
        {"PLAYER_SCRIPT_URL": "https://cdn.example/player.js;script-src.js"},
        "setting PLAYER_SCRIPT_URL: must not contain `;` or `,`",
        ["Content-Security-Policy"],
        [],
    ),
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
    issue_16 = {name: Worker({**settings_with(sec1_pem(KEY)), **changed}) for name, (changed, *_) in ISSUE_16.items()}
    everything = [*accepted.values(), *refused.values(), bad_setting, *issue_16.values()]
    start_all(everything)
    yield accepted, refused, bad_setting, issue_16
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


@pytest.mark.parametrize("case", list(ISSUE_16))
def test_settings_no_one_should_deploy_are_named(workers, case):
    worker = workers[3][case]
    _, prefix, also, never = ISSUE_16[case]
    r = worker.get("/v1/token?channel=demo", headers=cookie_header())
    assert r.status == 500, r.text
    body = r.json()
    assert body["type"] == "urn:ivs-token-worker:problem:misconfigured"
    assert body["detail"].startswith(prefix), body["detail"]
    for text in also:
        assert text in body["detail"], body["detail"]
    assert worker.get("/healthz").status == 503
    for text in never:
        assert text not in r.text and text not in worker.output(), text
