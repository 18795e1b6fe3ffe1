"""The `ivs-token` operator CLI, driven as a real binary; its output checked with openssl and PyJWT."""

import json
import os
import secrets
import stat
import subprocess
import time
import uuid

import jwt
import pytest
from conftest import CHANNELS
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from harness import (
    CLI,
    Worker,
    b64url,
    expected_viewer_id,
    new_p384_key,
    pkcs8_pem,
    public_pem,
    sec1_pem,
    start_all,
    verify_playback_token,
)
from identity_standins import JwksServer

ARN = CHANNELS["demo"]["arn"]
CLI_ISSUER = "https://id.cli-test.example"
CLI_AUDIENCE = "cli-test"


def run(*args, stdin=None, env=None, check=True):
    full_env = {**os.environ, **(env or {})}
    for name in ("SESSION_SECRET", "VIEWER_ID_SECRET"):
        if env is None or name not in env:
            full_env.pop(name, None)
    p = subprocess.run([str(CLI), *args], input=stdin, capture_output=True, text=True, env=full_env)
    if check and p.returncode != 0:
        raise AssertionError(f"ivs-token {' '.join(args)} exited {p.returncode}: {p.stderr}")
    return p


def es384_token(key, header: dict, claims: dict) -> str:
    """A token signed by cryptography directly, to feed `verify` inputs our signer never makes."""
    signed = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
    r, s = decode_dss_signature(key.sign(signed.encode(), ec.ECDSA(hashes.SHA384())))
    return signed + "." + b64url(r.to_bytes(48, "big") + s.to_bytes(48, "big"))


@pytest.fixture
def keypair(tmp_path):
    key = new_p384_key()
    (tmp_path / "priv.pem").write_text(sec1_pem(key))
    (tmp_path / "pub.pem").write_text(public_pem(key))
    return key, tmp_path / "priv.pem", tmp_path / "pub.pem"


def test_help_on_every_command():
    for command in ["", "keygen", "public-key", "sign", "stage-token", "verify", "session", "viewer-id", "revocation-request"]:
        p = run(*([command] if command else []), "--help")
        assert "Usage: ivs-token" in p.stdout
    assert "Exit codes" in run("--help").stdout


def test_keygen_output_is_accepted_by_openssl(tmp_path):
    out = tmp_path / "keys"
    p = run("keygen", "--out", str(out))
    private, public = out / "private.pem", out / "public.pem"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert private.read_text().startswith("-----BEGIN EC PRIVATE KEY-----")
    text = subprocess.run(["openssl", "ec", "-in", str(private), "-noout", "-text", "-check"], capture_output=True, text=True)
    assert text.returncode == 0, text.stderr
    assert "secp384r1" in text.stdout + text.stderr
    derived = subprocess.run(["openssl", "ec", "-in", str(private), "-pubout"], capture_output=True, text=True).stdout
    assert derived == public.read_text()
    assert "aws ivs import-playback-key-pair" in p.stdout and "wrangler secret put PLAYBACK_PRIVATE_KEY" in p.stdout
    # Refuses to overwrite, exit code 3, naming the file.
    again = run("keygen", "--out", str(out), check=False)
    assert again.returncode == 3 and "private.pem: already exists" in again.stderr


def test_keygen_pkcs8(tmp_path):
    run("keygen", "--out", str(tmp_path), "--pkcs8")
    private = tmp_path / "private.pem"
    assert private.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    check = subprocess.run(["openssl", "pkey", "-in", str(private), "-noout", "-text"], capture_output=True, text=True)
    assert check.returncode == 0 and "NIST CURVE: P-384" in check.stdout


def test_public_key_from_every_form(tmp_path, keypair):
    key, _, pub = keypair
    for name, text in [("sec1", sec1_pem(key, with_params=True)), ("pkcs8", pkcs8_pem(key).replace("\n", "\r\n"))]:
        (tmp_path / name).write_text(text)
        assert run("public-key", "--key", str(tmp_path / name)).stdout == pub.read_text()
    (tmp_path / "p256").write_text(sec1_pem(ec.generate_private_key(ec.SECP256R1())))
    bad = run("public-key", "--key", str(tmp_path / "p256"), check=False)
    assert bad.returncode == 3 and "p256: the key is on curve P-256" in bad.stderr
    missing = run("public-key", "--key", str(tmp_path / "nope.pem"), check=False)
    assert missing.returncode == 3 and "nope.pem: cannot read" in missing.stderr


def test_sign_is_verified_by_pyjwt(keypair):
    key, priv, _ = keypair
    token = run("sign", "--key", str(priv), "--channel-arn", ARN, "--ttl", "120",
                "--origin", "https://a.example", "--origin", "https://b.example", "--strict-origin",
                "--max-resolution", "SD").stdout.strip()
    header, claims = verify_playback_token(token, public_pem(key))
    assert header == {"alg": "ES384", "typ": "JWT"}
    assert claims["aws:channel-arn"] == ARN
    assert claims["aws:access-control-allow-origin"] == "https://a.example,https://b.example"
    assert claims["aws:strict-origin-enforcement"] is True
    assert claims["aws:maximum-resolution"] == "SD"
    assert claims["exp"] - claims["iat"] == 120 and abs(claims["iat"] - time.time()) < 60


def test_sign_applies_the_600_second_cap(keypair):
    key, priv, _ = keypair
    p = run("sign", "--key", str(priv), "--channel-arn", ARN, "--ttl", "5000", "--viewer-id", "v-1", "--session-version", "9", "--single-use")
    _, claims = verify_playback_token(p.stdout.strip(), public_pem(key))
    assert claims["exp"] - claims["iat"] == 600
    assert claims["aws:viewer-id"] == "v-1" and claims["aws:viewer-session-version"] == 9
    assert uuid.UUID(claims["aws:single-use-uuid"]).version == 4
    assert "lowered to 600" in p.stderr


@pytest.mark.parametrize(
    "args,message",
    [
        (["--channel-arn", "arn:aws:ivs:nope"], "--channel-arn must look like"),
        (["--channel-arn", ARN, "--strict-origin"], "--strict-origin needs 1 to 5"),
        (["--channel-arn", ARN, "--origin", "example.com"], "--origin: `example.com` is not an origin"),
        (["--channel-arn", ARN, "--viewer-id", "x" * 41], "--viewer-id must be 1 to 40"),
    ],
)
def test_sign_refusals(keypair, args, message):
    _, priv, _ = keypair
    p = run("sign", "--key", str(priv), *args, check=False)
    assert p.returncode == 3 and message in p.stderr


def test_sign_usage_errors_exit_2(keypair):
    _, priv, _ = keypair
    assert run("sign", "--key", str(priv), check=False).returncode == 2
    assert run("sign", "--key", str(priv), "--channel-arn", ARN, "--max-resolution", "4K", check=False).returncode == 2
    assert run("sign", "--key", str(priv), "--channel-arn", ARN, "--ttl", "0", check=False).returncode == 2


def test_verify_accepts_and_prints_claims(keypair):
    key, priv, pub = keypair
    token = run("sign", "--key", str(priv), "--channel-arn", ARN).stdout.strip()
    report = json.loads(run("verify", "--public-key", str(pub), token).stdout)
    assert report["valid"] is True and report["header"]["alg"] == "ES384"
    assert report["claims"]["aws:channel-arn"] == ARN
    from_stdin = json.loads(run("verify", "--public-key", str(pub), "-", stdin=token + "\n").stdout)
    assert from_stdin["claims"] == report["claims"]


def test_verify_rejections_give_the_reason(keypair):
    key, priv, pub = keypair
    now = int(time.time())
    good = run("sign", "--key", str(priv), "--channel-arn", ARN).stdout.strip()
    h, p, s = good.split(".")
    flipped = s[:10] + ("A" if s[10] != "A" else "B") + s[11:]
    header = {"alg": "ES384", "typ": "JWT"}
    cases = {
        "tampered signature": (f"{h}.{p}.{flipped}", "signature does not verify"),
        "exp in milliseconds": (es384_token(key, header, {"aws:channel-arn": ARN, "exp": (now + 60) * 1000}), "in milliseconds"),
        "viewer id too long": (es384_token(key, header, {"aws:channel-arn": ARN, "exp": now + 60, "aws:viewer-id": "v" * 41}), "41 characters"),
        "non-ES384 header": (es384_token(key, {"alg": "ES256", "typ": "JWT"}, {"aws:channel-arn": ARN, "exp": now + 60}), "only ES384"),
        "PyJWT ES256 token": (jwt.encode({"aws:channel-arn": ARN, "exp": now + 60}, ec.generate_private_key(ec.SECP256R1()), algorithm="ES256"), "only ES384"),
        "expired": (es384_token(key, header, {"aws:channel-arn": ARN, "exp": now - 100}), "expired"),
        "bound token beyond 600 s": (es384_token(key, header, {"aws:channel-arn": ARN, "exp": now + 3600, "aws:single-use-uuid": str(uuid.uuid4())}), "at most 600 s"),
        "segments": ("abc.def", "invalid number of segments"),
    }
    for name, (token, reason) in cases.items():
        p = run("verify", "--public-key", str(pub), token, check=False)
        assert p.returncode == 1, name
        assert p.stderr.startswith("ivs-token: invalid: ") and reason in p.stderr, (name, p.stderr)


def test_session_cookie_round_trip(tmp_path):
    secret = secrets.token_urlsafe(30)
    (tmp_path / "secret").write_text(secret + "\n")
    cookie = run("session", "--sub", "alice", "--channels", "demo,members", "--ttl", "120", "--sv", "3",
                 "--max-resolution", "HD", "--secret-file", str(tmp_path / "secret")).stdout.strip()
    claims = jwt.decode(cookie, secret, algorithms=["HS256"])
    assert claims["sub"] == "alice" and claims["channels"] == ["demo", "members"]
    assert claims["sv"] == 3 and claims["max_resolution"] == "HD" and claims["exp"] - claims["iat"] == 120
    from_env = run("session", "--sub", "bob", env={"SESSION_SECRET": secret}).stdout.strip()
    assert jwt.decode(from_env, secret, algorithms=["HS256"])["sub"] == "bob"
    none = run("session", "--sub", "bob", check=False)
    assert none.returncode == 3 and "SESSION_SECRET" in none.stderr
    short = run("session", "--sub", "bob", env={"SESSION_SECRET": "short"}, check=False)
    assert short.returncode == 3 and "at least 32" in short.stderr
    # Outside review (issue 16), finding 4: the worker's secret rule, never quoting the secret.
    for name, command in (("SESSION_SECRET", "session"), ("VIEWER_ID_SECRET", "viewer-id")):
        weak = run(command, "--sub", "bob", env={name: "a" * 40}, check=False)
        assert weak.returncode == 3 and "does not look random" in weak.stderr, weak.stderr
        assert "openssl rand -base64 48" in weak.stderr and "a" * 40 not in weak.stderr


@pytest.fixture(scope="module")
def cli_idp():
    """An identity provider whose key goes inline into IDENTITY_PROVIDERS (its server never starts)."""
    idp = JwksServer()
    idp.add_key("ES256")
    yield idp
    idp.stop()


@pytest.fixture(scope="module")
def rotation(cli_idp):
    """Two workers: the same sessions, the old and the new signing key (a rotation mid-way); both also
    accept `cli_idp`'s tokens as Bearer."""
    old, new = new_p384_key(), new_p384_key()
    secret = secrets.token_urlsafe(36)
    provider = {"issuer": CLI_ISSUER, "audience": CLI_AUDIENCE, "jwks": cli_idp.document()}
    settings = {"SESSION_SECRET": secret, "CHANNELS": json.dumps({"demo": CHANNELS["demo"]}),
                "IDENTITY_PROVIDERS": json.dumps({"cli-idp": provider})}
    workers = [Worker({**settings, "PLAYBACK_PRIVATE_KEY": sec1_pem(k)}) for k in (old, new)]
    start_all(workers)
    yield old, new, secret, workers
    for w in workers:
        w.stop()


def test_session_cookie_and_viewer_id_match_the_worker(rotation, tmp_path):
    old, _, secret, (worker, _) = rotation
    cookie = run("session", "--sub", "carol@example.com", env={"SESSION_SECRET": secret}).stdout.strip()
    r = worker.get("/v1/token?channel=demo", headers={"Cookie": f"session={cookie}"})
    assert r.status == 200, r.text
    _, claims = verify_playback_token(r.json()["token"], public_pem(old))
    (tmp_path / "old.pem").write_text(pkcs8_pem(old))
    p = run("viewer-id", "--sub", "carol@example.com", "--key", str(tmp_path / "old.pem"), "--channel-arn", ARN)
    assert p.stdout.strip() == claims["aws:viewer-id"] == expected_viewer_id(old, "carol@example.com")
    assert "the worker's session cookie" in p.stderr and "--issuer" in p.stderr
    assert f"aws ivs start-viewer-session-revocation --channel-arn {ARN} --viewer-id {claims['aws:viewer-id']}" in p.stderr
    explicit = run("viewer-id", "--sub", "carol@example.com", env={"VIEWER_ID_SECRET": secrets.token_urlsafe(30)}).stdout.strip()
    assert explicit != claims["aws:viewer-id"] and len(explicit) == 40
    assert run("viewer-id", "--sub", "x", check=False).returncode == 3


def test_viewer_id_with_issuer_matches_the_worker_for_a_provider_session(rotation, cli_idp, tmp_path):
    old, _, _, (worker, _) = rotation
    now = int(time.time())
    claims = {"iss": CLI_ISSUER, "aud": CLI_AUDIENCE, "sub": "carol@example.com", "iat": now, "exp": now + 600}
    r = worker.get("/v1/token?channel=demo", headers={"Authorization": f"Bearer {cli_idp.mint(claims)}"})
    assert r.status == 200, r.text
    _, token_claims = verify_playback_token(r.json()["token"], public_pem(old))
    worker_id = token_claims["aws:viewer-id"]
    (tmp_path / "old.pem").write_text(pkcs8_pem(old))
    key = ["--key", str(tmp_path / "old.pem")]
    p = run("viewer-id", "--sub", "carol@example.com", "--issuer", CLI_ISSUER, *key, "--channel-arn", ARN)
    assert p.stdout.strip() == worker_id == expected_viewer_id(old, "carol@example.com", CLI_ISSUER)
    assert f"identity provider {CLI_ISSUER}" in p.stderr
    assert f"aws ivs start-viewer-session-revocation --channel-arn {ARN} --viewer-id {worker_id}" in p.stderr
    # Without --issuer: the cookie's carol@example.com, another viewer; the issuer is taken exactly.
    assert run("viewer-id", "--sub", "carol@example.com", *key).stdout.strip() != worker_id
    assert run("viewer-id", "--sub", "carol@example.com", "--issuer", CLI_ISSUER + "/", *key).stdout.strip() != worker_id
    # Not an issuer IDENTITY_PROVIDERS would accept (no scheme): refused, not silently derived.
    bad = run("viewer-id", "--sub", "x", "--issuer", "id.cli-test.example", *key, check=False)
    assert bad.returncode == 3 and "--issuer" in bad.stderr and "https URL" in bad.stderr, bad.stderr


def test_public_key_endpoint_imports_as_is(rotation):
    old, _, _, (worker, _) = rotation
    r = worker.get("/v1/public-key")
    assert r.status == 200 and r.headers["content-type"].startswith("text/plain")
    assert r.text == public_pem(old)


def test_key_rotation_procedure(rotation, tmp_path):
    """README 'Rotating the signing key': IVS holds both public keys while tokens of either live."""
    old, new, secret, workers = rotation
    (tmp_path / "old.pub").write_text(workers[0].get("/v1/public-key").text)
    (tmp_path / "new.pub").write_text(workers[1].get("/v1/public-key").text)
    cookie = run("session", "--sub", "dave", env={"SESSION_SECRET": secret}).stdout.strip()
    before, after = (w.get("/v1/token?channel=demo", headers={"Cookie": f"session={cookie}"}).json()["token"] for w in workers)
    both = ["--public-key", str(tmp_path / "old.pub"), "--public-key", str(tmp_path / "new.pub")]
    assert json.loads(run("verify", *both, before).stdout)["public_key"].endswith("old.pub")
    assert json.loads(run("verify", *both, after).stdout)["public_key"].endswith("new.pub")
    # Once the old key is deleted from IVS, tokens it signed no longer play.
    assert run("verify", "--public-key", str(tmp_path / "new.pub"), before, check=False).returncode == 1
