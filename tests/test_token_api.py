"""End-to-end: GET /v1/token over real HTTP against `wrangler dev`, every token checked with PyJWT."""

import base64
import json
import time
import uuid

import jwt
import pytest
from conftest import ALLOWED_ORIGINS, CHANNELS
from harness import b64url, expected_viewer_id, session_cookie, verify_playback_token

ORIGIN_CLAIM = ",".join(o.strip() for o in ALLOWED_ORIGINS.split(","))


def get_token(d, channel, cookie=None, origin=None, **claims):
    cookie = cookie if cookie is not None else session_cookie(d.session_secret, **claims)
    headers = {"Cookie": f"theme=dark; session={cookie}"}
    if origin:
        headers["Origin"] = origin
    return d.worker.get(f"/v1/token?channel={channel}", headers=headers)


def assert_problem(r, status, slug, *, secrets=()):
    assert r.status == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["type"] == f"urn:ivs-token-worker:problem:{slug}"
    assert body["status"] == status
    assert body["title"] and body["detail"]
    for secret in secrets:
        assert secret not in r.text
    return body


def test_health(deployment):
    r = deployment.worker.get("/healthz")
    assert r.status == 200
    assert r.json() == {"status": "ok"}


def test_token_contract_and_pyjwt_verification(deployment):
    d = deployment
    before = int(time.time())
    r = get_token(d, "demo", sub="viewer@example.com", sv=17)
    after = int(time.time())
    assert r.status == 200, r.text
    assert r.headers["content-type"] == "application/json"
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["vary"] == "Origin, Cookie"
    body = r.json()
    assert set(body) == {"channel", "token", "playback_url", "expires_at"}
    token = body["token"]
    assert body["channel"] == "demo"
    assert body["playback_url"] == CHANNELS["demo"]["playback_url"] + "?token=" + token

    header_b64, _, signature_b64 = token.split(".")
    assert base64.urlsafe_b64decode(header_b64 + "==") == b'{"alg":"ES384","typ":"JWT"}'
    assert len(base64.urlsafe_b64decode(signature_b64 + "==")) == 96, "raw r||s, not DER"
    assert "=" not in token

    header, claims = verify_playback_token(token, d.public_pem)
    assert header == {"alg": "ES384", "typ": "JWT"}
    assert claims["aws:channel-arn"] == CHANNELS["demo"]["arn"]
    assert claims["aws:access-control-allow-origin"] == ORIGIN_CLAIM
    assert claims["aws:viewer-id"] == expected_viewer_id(d.key, "viewer@example.com")
    assert len(claims["aws:viewer-id"]) <= 40 and "viewer" not in claims["aws:viewer-id"]
    assert claims["aws:viewer-session-version"] == 17
    assert "aws:single-use-uuid" not in claims and "aws:strict-origin-enforcement" not in claims
    # exp in seconds, capped at 600 s because a viewer id is present (TTL setting is 3600).
    assert before <= claims["iat"] <= after
    assert claims["exp"] == claims["iat"] + 600
    assert claims["exp"] < 10**11
    assert body["expires_at"] == claims["exp"]


def test_viewer_id_is_stable_per_subject(deployment):
    d = deployment
    ids = set()
    for sub in ["alice", "alice", "bob"]:
        _, claims = verify_playback_token(get_token(d, "demo", sub=sub).json()["token"], d.public_pem)
        ids.add((sub, claims["aws:viewer-id"]))
    assert len(ids) == 2
    assert dict(ids)["alice"] != dict(ids)["bob"]


def test_unbound_channel_uses_token_ttl(deployment):
    d = deployment
    _, claims = verify_playback_token(get_token(d, "open").json()["token"], d.public_pem)
    assert claims["exp"] == claims["iat"] + 3600
    assert "aws:viewer-id" not in claims and "aws:viewer-session-version" not in claims


def test_single_use_strict_origin_and_resolution(deployment):
    d = deployment
    tokens = [get_token(d, "vip", max_resolution=res).json()["token"] for res in ("FULL_HD", "SD", None)]
    claims = [verify_playback_token(t, d.public_pem)[1] for t in tokens]
    uuids = {c["aws:single-use-uuid"] for c in claims}
    assert len(uuids) == 3, "a fresh single-use id per token"
    for u in uuids:
        assert uuid.UUID(u).version == 4
    assert [c["aws:maximum-resolution"] for c in claims] == ["HD", "SD", "HD"], "lower of channel and session caps"
    for c in claims:
        assert c["aws:strict-origin-enforcement"] is True
        assert c["aws:access-control-allow-origin"] == "https://app.example"
        assert c["exp"] - c["iat"] <= 600


def test_session_max_resolution_without_channel_cap(deployment):
    d = deployment
    _, claims = verify_playback_token(get_token(d, "demo", max_resolution="SD").json()["token"], d.public_pem)
    assert claims["aws:maximum-resolution"] == "SD"
    _, claims = verify_playback_token(get_token(d, "demo").json()["token"], d.public_pem)
    assert "aws:maximum-resolution" not in claims


def test_previous_session_secret_is_still_accepted(deployment):
    d = deployment
    r = get_token(d, "demo", cookie=session_cookie(d.previous_secret))
    assert r.status == 200, r.text
    verify_playback_token(r.json()["token"], d.public_pem)


def test_channels_claim(deployment):
    d = deployment
    assert get_token(d, "members", channels=["members"]).status == 200
    assert get_token(d, "demo", channels=["*"]).status == 200
    body = assert_problem(get_token(d, "demo", channels=["members"]), 403, "channel-forbidden")
    assert "demo" in body["detail"]


def forged(header: dict, claims: dict, key: str) -> str:
    import hashlib
    import hmac

    signed = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
    return signed + "." + b64url(hmac.new(key.encode(), signed.encode(), hashlib.sha256).digest())


def session_cases(d):
    now = int(time.time())
    good = session_cookie(d.session_secret)
    h, p, s = good.split(".")
    return [
        ("alg none", jwt.encode({"sub": "a", "exp": now + 60}, None, algorithm="none"), "session-invalid"),
        ("alg HS512", jwt.encode({"sub": "a", "exp": now + 60}, d.session_secret, algorithm="HS512"), "session-invalid"),
        ("alg ES384 header", forged({"alg": "ES384", "typ": "JWT"}, {"sub": "a", "exp": now + 60}, d.session_secret), "session-invalid"),
        ("wrong secret", session_cookie("another-secret-another-secret-another!!"), "session-invalid"),
        ("tampered claims", h + "." + b64url(json.dumps({"sub": "root", "exp": now + 99999}).encode()) + "." + s, "session-invalid"),
        ("expired beyond leeway", session_cookie(d.session_secret, iat=now - 7200, exp=now - 31), "session-expired"),
        ("not yet valid", session_cookie(d.session_secret, nbf=now + 120), "session-invalid"),
        ("malformed base64", "%%%." + p + "." + s, "session-invalid"),
        ("two segments", h + "." + p, "session-invalid"),
        ("claims not JSON", forged({"alg": "HS256"}, {}, d.session_secret).split(".")[0] + "." + b64url(b"nope") + ".x", "session-invalid"),
        ("exp wrong type", session_cookie(d.session_secret, exp="tomorrow"), "session-invalid"),
        ("sub missing", forged({"alg": "HS256", "typ": "JWT"}, {"exp": now + 60}, d.session_secret), "session-invalid"),
        ("channels wrong type", session_cookie(d.session_secret, channels="demo"), "session-invalid"),
        ("sv wrong type", session_cookie(d.session_secret, sv="1"), "session-invalid"),
        ("oversized", session_cookie(d.session_secret, pad="x" * 5000), "session-invalid"),
    ]


@pytest.mark.parametrize("index", range(15))
def test_session_refusals(deployment, index):
    d = deployment
    name, cookie, slug = session_cases(d)[index]
    body = assert_problem(get_token(d, "demo", cookie=cookie), 401, slug, secrets=[cookie, d.session_secret])
    assert "session" in body["detail"], name


def test_leeway_of_30_seconds(deployment):
    d = deployment
    now = int(time.time())
    assert get_token(d, "demo", cookie=session_cookie(d.session_secret, iat=now - 600, exp=now - 20)).status == 200


def test_missing_cookie(deployment):
    r = deployment.worker.get("/v1/token?channel=demo")
    body = assert_problem(r, 401, "session-missing")
    assert "sign in" in body["detail"]


@pytest.mark.parametrize(
    "query,detail",
    [
        ("", "`channel` is required"),
        ("?channel=", "matching [a-z0-9-]{1,64}"),
        ("?channel=DEMO", "matching [a-z0-9-]{1,64}"),
        ("?channel=%3Cscript%3E", "matching [a-z0-9-]{1,64}"),
        ("?channel=demo&channel=open", "more than once"),
        ("?channel=%ZZ", "percent-encoded"),
    ],
)
def test_bad_channel_parameter(deployment, query, detail):
    d = deployment
    cookie = session_cookie(d.session_secret)
    r = d.worker.get("/v1/token" + query, headers={"Cookie": f"session={cookie}"})
    body = assert_problem(r, 400, "bad-request")
    assert detail in body["detail"]
    assert "<script>" not in r.text


def test_unknown_channel_and_path(deployment):
    d = deployment
    body = assert_problem(get_token(d, "nope"), 404, "unknown-channel")
    assert "nope" in body["detail"]
    assert_problem(d.worker.get("/v2/anything"), 404, "not-found")


@pytest.mark.parametrize("method,path,allow", [("POST", "/v1/token", "GET, HEAD, OPTIONS"), ("PUT", "/healthz", "GET, HEAD"), ("DELETE", "/openapi.json", "GET, HEAD")])
def test_method_not_allowed(deployment, method, path, allow):
    r = deployment.worker.get(path, method=method)
    assert_problem(r, 405, "method-not-allowed")
    assert r.headers["allow"] == allow


def test_cors(deployment):
    d = deployment
    allowed = get_token(d, "demo", origin="https://app.example")
    assert allowed.headers["access-control-allow-origin"] == "https://app.example"
    assert allowed.headers["access-control-allow-credentials"] == "true"
    wildcard = get_token(d, "demo", origin="https://live.example.org")
    assert wildcard.headers["access-control-allow-origin"] == "https://live.example.org"
    for origin in ["https://evil.example", "https://example.org", "http://app.example"]:
        r = get_token(d, "demo", origin=origin)
        assert "access-control-allow-origin" not in r.headers, origin
        assert "access-control-allow-credentials" not in r.headers


@pytest.mark.parametrize("origin", [
    "https://evil.test/.example.org",
    "https://evil.test#.example.org",
    "https://evil.test?.example.org",
    "https://evil.test@a.example.org",
    "https://a.example.org/",
])
def test_cors_origin_must_be_exactly_scheme_host_port(deployment, origin):
    """Outside review (issue 16), finding 4: an Origin whose text merely ends like a host under
    `https://*.example.org` (a path, fragment, query or user name in front) is never reflected."""
    d = deployment
    for r in (get_token(d, "demo", origin=origin),
              d.worker.get("/v1/token?channel=demo", method="OPTIONS", headers={"Origin": origin})):
        assert "access-control-allow-origin" not in r.headers, origin
        assert "access-control-allow-credentials" not in r.headers, origin


def test_preflight(deployment):
    d = deployment
    r = d.worker.get("/v1/token?channel=demo", method="OPTIONS", headers={
        "Origin": "https://app.example", "Access-Control-Request-Method": "GET"})
    assert r.status == 204
    assert r.body == b""
    assert r.headers["access-control-allow-origin"] == "https://app.example"
    assert "GET" in r.headers["access-control-allow-methods"]
    denied = d.worker.get("/v1/token", method="OPTIONS", headers={"Origin": "https://evil.example"})
    assert denied.status == 204
    assert "access-control-allow-origin" not in denied.headers


def test_log_lines_are_structured_and_hold_no_secrets(deployment):
    d = deployment
    cookie = session_cookie(d.session_secret, sub="log-check-subject")
    token = get_token(d, "demo", cookie=cookie).json()["token"]
    assert get_token(d, "nope", cookie=cookie).status == 404
    deadline = time.time() + 10
    while time.time() < deadline:
        lines = [json.loads(l) for l in d.worker.output().splitlines() if l.startswith('{"channel"')]
        if any(l["status"] == 404 and l["channel"] == "nope" for l in lines):
            break
        time.sleep(0.2)
    assert any(l == {**l, "method": "GET", "path": "/v1/token", "status": 200, "channel": "demo"} for l in lines)
    assert all(isinstance(l["duration_ms"], (int, float)) for l in lines)
    output = d.worker.output()
    for secret in [token, token.split(".")[2], cookie, cookie.split(".")[2], d.session_secret, "log-check-subject"]:
        assert secret not in output
    pem_body = [l for l in d.worker.settings["PLAYBACK_PRIVATE_KEY"].splitlines() if not l.startswith("-----")]
    for line in pem_body:
        assert line not in output


def test_shareable_tokens_are_reused_across_requests_bound_ones_never(deployment):
    """A token without viewer binding is handed out again within its reuse window (60 s at
    TOKEN_TTL_SECONDS=3600); a viewer-bound one is signed afresh for each request."""
    d = deployment
    first_open, first_bound = (get_token(d, ch).json()["token"] for ch in ("open", "demo"))
    time.sleep(1.1)  # a new second: fresh signatures would carry a new iat
    again_open, again_bound = (get_token(d, ch).json()["token"] for ch in ("open", "demo"))
    assert again_open == first_open
    assert again_bound != first_bound
    verify_playback_token(again_open, d.public_pem)


def test_head_wherever_get_is_answered(deployment):
    """Uptime checks use HEAD: same status and headers as GET, no body (RFC 9110 section 9.3.2)."""
    d = deployment
    cookie = {"Cookie": f"session={session_cookie(d.session_secret)}"}
    for path, headers, status in [
        ("/v1/token?channel=demo", cookie, 200),
        ("/v1/token?channel=demo", {}, 401),
        ("/healthz", {}, 200),
        ("/v1/public-key", {}, 200),
        ("/openapi.json", {}, 200),
        ("/watch/demo", cookie, 200),
    ]:
        get = d.worker.get(path, headers=headers)
        head = d.worker.get(path, method="HEAD", headers=headers)
        assert (get.status, head.status) == (status, status), path
        assert head.body == b"" and get.body != b"", path
        assert head.headers.get("content-type") == get.headers.get("content-type"), path


def test_two_session_cookies_one_account_wins_two_accounts_are_refused(deployment):
    """Browsers send both cookies of one name when paths or domains differ; a stale one first
    must not lock the viewer out, and two bad ones are still refused. Cookie tossing (issue 16,
    finding 5): junk cookies ahead of the viewer's do not lock them out, and another account's valid
    cookie ahead of theirs is refused rather than chosen."""
    d = deployment
    good = session_cookie(d.session_secret, sub="two-cookies")
    stale = session_cookie("a-secret-from-before-the-rotation-0123456789", sub="two-cookies")
    r = d.worker.get("/v1/token?channel=demo", headers={"Cookie": f"session={stale}; session={good}"})
    assert r.status == 200, r.text
    _, claims = verify_playback_token(r.json()["token"], d.public_pem)
    assert claims["aws:viewer-id"] == expected_viewer_id(d.key, "two-cookies")
    r = d.worker.get("/v1/token?channel=demo", headers={"Cookie": f"session={stale}; session=a.b.c"})
    assert_problem(r, 401, "session-invalid")

    junk = "; ".join(f"session=junk{i}" for i in range(6))
    r = d.worker.get("/v1/token?channel=demo", headers={"Cookie": f"{junk}; session={good}"})
    assert r.status == 200, r.text
    _, claims = verify_playback_token(r.json()["token"], d.public_pem)
    assert claims["aws:viewer-id"] == expected_viewer_id(d.key, "two-cookies")

    tossed = session_cookie(d.session_secret, sub="the-attacker")
    r = d.worker.get("/v1/token?channel=demo", headers={"Cookie": f"session={tossed}; session={good}"})
    body = assert_problem(r, 401, "session-invalid", secrets=[tossed, good])
    assert "two session cookies for different accounts" in body["detail"] and "clear" in body["detail"], body
    assert "the-attacker" not in r.text and "two-cookies" not in r.text
