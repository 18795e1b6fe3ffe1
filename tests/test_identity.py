"""End to end, against `wrangler dev`: viewers signed in at their own identity provider (issue 8).

Identity tokens come from a REAL OpenID Connect provider (npm `oidc-provider`, driven through its
authorization-code flow) and from a Python JWKS server whose keys the test holds (Cognito-shaped ID and
access tokens, the RFC 8725 attack tokens). Every playback token is verified with PyJWT, and every key
fetch the worker makes is counted by the stand-in that served it.

One worker carries most providers (see `PROVIDERS` in the fixture); three tiny extra workers cover
what needs a different configuration (two broken ones, one without SESSION_SECRET). Each worker keeps
its Cache API state in its own directory, so no key document cached by an earlier run (a stand-in that
happened to get the same port) can answer for this one. The last test waits until the cache of the
"expiring" provider, fetched at the start, has expired.
"""

from __future__ import annotations

import json
import secrets
import time
from concurrent.futures import ThreadPoolExecutor

import jwt
import pytest
from conftest import ALLOWED_ORIGINS
from harness import (
    ARN_PREFIX,
    Worker,
    b64url,
    expected_viewer_id,
    free_port,
    new_p384_key,
    public_pem,
    sec1_pem,
    session_cookie,
    start_all,
    verify_playback_token,
)
from identity_standins import (
    JwksServer,
    OidcProvider,
    cognito_access_token,
    cognito_id_token,
    hs256_with_public_key,
    public_pem_bytes,
    unsigned_token,
)

PROBLEM = "urn:ivs-token-worker:problem:"
COGNITO_REGION = "eu-west-1"
COGNITO_POOL = "eu-west-1_Ab12Cd34E"
COGNITO_CLIENT = "5f2pbd8s6ml6kv39ntcfh6s4bq"
COGNITO_ISSUER = f"https://cognito-idp.{COGNITO_REGION}.amazonaws.com/{COGNITO_POOL}"
MINTED_AUD = "ivs-token-tests"
KEYCLOAK_AUD = "account"
INLINE_ISSUER = "https://idp.air-gapped.example"
# "token size bounded": a token of about 10 KB must be refused. The contract names no exact bound; this
# stays below the 16 KB header limit of wrangler's dev proxy (above it the proxy answers 431 itself).
TOO_LARGE_PADDING = 7000

CHANNELS = {
    "demo": {"arn": ARN_PREFIX + "demo1", "playback_url": "https://play.example.net/demo.m3u8"},
    "other": {"arn": ARN_PREFIX + "other1", "playback_url": "https://play.example.net/other.m3u8"},
    "members": {
        "arn": ARN_PREFIX + "members1",
        "playback_url": "https://play.example.net/members.m3u8",
        "groups": ["members", "staff"],
    },
    "geo": {
        "arn": ARN_PREFIX + "geo1",
        "playback_url": "https://play.example.net/geo.m3u8",
        "allowed_countries": ["FR", "DE"],
    },
    "nogeo": {
        "arn": ARN_PREFIX + "nogeo1",
        "playback_url": "https://play.example.net/nogeo.m3u8",
        "blocked_countries": ["US"],
    },
}

# A stage on the main worker, for the default `user_id` (signed with the playback key).
STAGES = {
    "studio": {
        "arn": "arn:aws:ivs:us-east-1:123456789012:stage/Studio0001",
        "public_key_arn": "arn:aws:ivs:us-east-1:123456789012:public-key/StageKey01",
        "whip_url": "https://Studio0001.global-bm.whip.live-video.net",
    },
}


class Env:
    """The stand-ins, the workers, and the helpers the tests share."""

    def __init__(self):
        self.key = new_p384_key()
        self.public_pem = public_pem(self.key)
        self.session_secret = secrets.token_urlsafe(48)

        # Real OpenID Connect providers: one for the ordinary cases, one per stateful scenario, so
        # that rotation, downtime and the flood cannot disturb each other's fetch counts.
        self.oidc = OidcProvider()
        self.rotating = OidcProvider()
        self.flaky = OidcProvider()
        self.flood = OidcProvider()
        self.oidc_all = [self.oidc, self.rotating, self.flaky, self.flood]

        # JWKS servers whose keys the test holds.
        self.minted = JwksServer()  # "minted" and "keycloak" both read this key set
        self.kid_rs256 = self.minted.add_key("RS256")
        self.kid_es256 = self.minted.add_key("ES256")
        self.algs = {alg: self.minted.add_key(alg) for alg in ("RS384", "RS512", "PS256", "PS384", "PS512", "ES384")}
        self.kid_rsa_noalg = self.minted.add_key("RS256", declare_alg=False)
        self.cognito = JwksServer()
        self.cognito.add_key("RS256")
        self.cognito.add_key("RS256")  # Cognito publishes two keys
        self.expiring = JwksServer(cache_control="public, max-age=1")  # clamped up to 60 s by the worker
        self.expiring.add_key("RS256")
        self.garbage = JwksServer()
        self.garbage.mode = "garbage"
        self.inline = JwksServer()  # never started: its keys go inline into the setting
        self.inline.add_key("ES256")
        self.dropping = JwksServer()  # closes its first connection unanswered
        self.dropping.add_key("ES256")
        self.dropping.drop_next = 1
        self.hanging = JwksServer()  # down at first; then answers, but only after a long delay
        self.hanging.add_key("ES256")
        self.hanging.mode = "503"
        self.jwks_servers = [self.minted, self.cognito, self.expiring, self.garbage, self.dropping, self.hanging]

    def providers(self) -> dict:
        return {
            "oidc": {
                "issuer": self.oidc.issuer,
                "audience": [self.oidc.client_id("RS256"), self.oidc.client_id("ES256")],
                "jwks_url": self.oidc.jwks_url,
                "token_from": ["bearer", "cookie:id_token"],
                "groups_claim": "groups",
            },
            "rotating": {"issuer": self.rotating.issuer, "audience": self.rotating.client_id(),
                         "jwks_url": self.rotating.jwks_url},
            "flaky": {"issuer": self.flaky.issuer, "audience": self.flaky.client_id(),
                      "jwks_url": self.flaky.jwks_url},
            "flood": {"issuer": self.flood.issuer, "audience": self.flood.client_id(),
                      "jwks_url": self.flood.jwks_url},
            "minted": {
                "issuer": self.minted_issuer,
                "audience": MINTED_AUD,
                "jwks_url": self.minted.url("/minted/jwks"),
                "token_from": ["bearer", "header:X-Id-Token"],
                "groups_claim": "https://example.com/roles",
            },
            # Same keys; its tokens must name the channels they open.
            "scoped": {
                "issuer": self.scoped_issuer,
                "audience": MINTED_AUD,
                "jwks_url": self.minted.url("/scoped/jwks"),
                "channels_claim": "channels",
            },
            "keycloak": {
                "issuer": self.keycloak_issuer,
                "audience": KEYCLOAK_AUD,
                "jwks_url": self.minted.url("/realms/test/protocol/openid-connect/certs"),
                "algorithms": ["RS256"],
                "groups_claim": "realm_access.roles",
                "subject_claim": "preferred_username",
            },
            "cognito-pool": {
                "preset": "cognito",
                "region": COGNITO_REGION,
                "user_pool_id": COGNITO_POOL,
                "client_id": COGNITO_CLIENT,
                # Only the key URL points at loopback: the issuer stays Cognito's own, derived by the preset.
                "jwks_url": self.cognito.url(f"/{COGNITO_POOL}/.well-known/jwks.json"),
            },
            "expiring": {"issuer": self.expiring_issuer, "audience": MINTED_AUD, "jwks_url": self.expiring.url()},
            "inline": {
                "issuer": INLINE_ISSUER,
                "audience": MINTED_AUD,
                "jwks": self.inline.document(),
                "token_from": ["cookie:inline_token"],
            },
            "nokeys": {"issuer": self.nokeys_issuer, "audience": MINTED_AUD,
                       "jwks_url": f"http://127.0.0.1:{free_port()}/jwks"},
            "garbagekeys": {"issuer": self.garbage_issuer, "audience": MINTED_AUD, "jwks_url": self.garbage.url()},
            "dropping": {"issuer": self.dropping_issuer, "audience": MINTED_AUD, "jwks_url": self.dropping.url()},
            "hanging": {"issuer": self.hanging_issuer, "audience": MINTED_AUD, "jwks_url": self.hanging.url()},
        }

    def start(self):
        for p in self.oidc_all:
            p.start()
        for s in self.jwks_servers:
            s.start()
        self.minted_issuer = f"http://127.0.0.1:{self.minted.port}/minted"
        self.keycloak_issuer = f"http://127.0.0.1:{self.minted.port}/realms/test"
        self.scoped_issuer = f"http://127.0.0.1:{self.minted.port}/scoped"
        self.expiring_issuer = f"http://127.0.0.1:{self.expiring.port}"
        self.garbage_issuer = f"http://127.0.0.1:{self.garbage.port}"
        self.dropping_issuer = f"http://127.0.0.1:{self.dropping.port}"
        self.hanging_issuer = f"http://127.0.0.1:{self.hanging.port}"
        self.nokeys_issuer = "https://nokeys.example.com/"
        base = {
            "PLAYBACK_PRIVATE_KEY": sec1_pem(self.key),
            "CHANNELS": json.dumps(CHANNELS),
            "ALLOWED_ORIGINS": ALLOWED_ORIGINS,
        }
        providers = self.providers()
        self.worker = Worker({**base, "SESSION_SECRET": self.session_secret,
                              "IDENTITY_PROVIDERS": json.dumps(providers), "STAGES": json.dumps(STAGES)})
        # IDENTITY_PROVIDERS set, SESSION_SECRET unset: a valid configuration now.
        self.no_secret = Worker({**base, "IDENTITY_PROVIDERS": json.dumps({"minted": providers["minted"]})})
        self.bad_url = Worker({**base, "SESSION_SECRET": self.session_secret, "IDENTITY_PROVIDERS": json.dumps({
            "corp": {"issuer": "https://idp.example.com/", "audience": "x",
                     "jwks_url": "http://idp.example.com/jwks"}})})
        self.bad_alg = Worker({**base, "SESSION_SECRET": self.session_secret, "IDENTITY_PROVIDERS": json.dumps({
            "legacy": {"issuer": "https://idp.example.com/", "audience": "x",
                       "jwks_url": "https://idp.example.com/jwks", "algorithms": ["RS256", "HS256"]}})})
        self.workers = [self.worker, self.no_secret, self.bad_url, self.bad_alg]
        for w in self.workers:
            w.extra_args = ["--persist-to", str(w.dir / "state")]
        start_all(self.workers)

    def stop(self):
        for w in getattr(self, "workers", []):
            w.stop()
        for p in self.oidc_all:
            p.stop()
        for s in self.jwks_servers:
            s.stop()

    # -- tokens ----------------------------------------------------------------------------------
    def claims(self, issuer=None, aud=MINTED_AUD, sub="minted-viewer", **extra) -> dict:
        now = int(time.time())
        c = {"iss": issuer or self.minted_issuer, "aud": aud, "sub": sub, "iat": now, "exp": now + 600}
        c.update(extra)
        return {k: v for k, v in c.items() if v is not None}

    def minted_token(self, kid=None, alg=None, headers=None, **claims) -> str:
        return self.minted.mint(self.claims(**claims), kid=kid or self.kid_rs256, alg=alg, headers=headers)

    # -- requests --------------------------------------------------------------------------------
    def get(self, channel="demo", **credentials):
        return self.request(f"/v1/token?channel={channel}", **credentials)

    def request(self, path, bearer=None, cookies=None, headers=None, worker=None):
        h = dict(headers or {})
        if bearer is not None:
            h["Authorization"] = f"Bearer {bearer}"
        if cookies:
            h["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
        return (worker or self.worker).get(path, headers=h)


@pytest.fixture(scope="module")
def env():
    e = Env()
    try:
        e.start()
        # The "expiring" provider's keys are fetched now; its test (last in the file) waits until
        # the cache has expired, so the wait overlaps with the other tests.
        # (Checked by that test, so that one failure here does not hide every other result.)
        e.expiring_prime = e.get(bearer=e.expiring.mint(e.claims(issuer=e.expiring_issuer, sub="early")))
        e.expiring_primed_at = time.time()
        yield e
    finally:
        e.stop()


# ------------------------------------------------------------------------------------------------
# helpers


def ok(r, env, sub, channel="demo", *, issuer):
    """A 200 whose playback token PyJWT verifies, bound by the documented derivation to `sub` as
    vouched for by the provider whose `iss` is `issuer` (None: the worker's own session cookie)."""
    assert r.status == 200, f"{r.status}: {r.text}"
    body = r.json()
    assert body["channel"] == channel, r.text
    _, claims = verify_playback_token(body["token"], env.public_pem)
    assert claims["aws:channel-arn"] == CHANNELS[channel]["arn"]
    assert claims["aws:viewer-id"] == expected_viewer_id(env.key, sub, issuer), \
        f"viewer id is not derived from {sub!r} at {issuer or 'the session cookie'}"
    return claims


def problem(r, status, slug, *, secrets=()):
    assert r.status == status, f"expected {status} {slug}, got {r.status}: {r.text}"
    assert r.headers.get("content-type") == "application/problem+json", r.headers
    body = r.json()
    assert body["type"] == PROBLEM + slug, r.text
    assert body["status"] == status and body["title"] and body["detail"], r.text
    for s in secrets:
        assert s not in r.text, "the problem echoes the credential"
        # Nor any of its three parts (a signature or claims segment would be as bad).
        for part in s.split("."):
            if len(part) > 16:
                assert part not in r.text, "the problem echoes part of the credential"
    return body


def bearer_problem(r, slug, token):
    body = problem(r, 401, slug, secrets=[token])
    www = r.headers.get("www-authenticate", "")
    assert www.startswith("Bearer") and 'error="invalid_token"' in www, f"WWW-Authenticate: {www!r}; {r.text}"
    return body


def with_kid(token: str, kid) -> str:
    """The same token with another `kid` in its header (its signature no longer matters)."""
    _, p, s = token.split(".")
    header = jwt.get_unverified_header(token)
    header["kid"] = kid
    return b64url(json.dumps(header, separators=(",", ":")).encode()) + "." + p + "." + s


# ------------------------------------------------------------------------------------------------
# configuration


@pytest.mark.parametrize("case,field", [("bad_url", "jwks_url"), ("bad_alg", "algorithms")])
def test_misconfigured_provider_is_named_with_the_field(env, case, field):
    worker = getattr(env, case)
    name = {"bad_url": "corp", "bad_alg": "legacy"}[case]
    r = env.get(worker=worker, cookies={"session": session_cookie(env.session_secret)})
    body = problem(r, 500, "misconfigured")
    assert body["detail"].startswith(f"setting IDENTITY_PROVIDERS: provider `{name}`: "), body["detail"]
    assert field in body["detail"], body["detail"]
    health = worker.get("/healthz")
    assert health.status == 503, health.text
    assert health.headers.get("content-type") == "application/problem+json"


def test_session_secret_is_optional_with_identity_providers(env):
    assert env.no_secret.get("/healthz").status == 200, env.no_secret.output()[-2000:]
    ok(env.get(worker=env.no_secret, bearer=env.minted_token(sub="no-secret-viewer")), env, "no-secret-viewer", issuer=env.minted_issuer)
    problem(env.get(worker=env.no_secret), 401, "session-missing")


# ------------------------------------------------------------------------------------------------
# tokens from the real OpenID Connect provider


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_real_provider_id_token_gets_a_playback_token(env, alg):
    token = env.oidc.id_token("oidc-alice", alg=alg)
    assert jwt.get_unverified_header(token)["alg"] == alg
    claims = ok(env.get(bearer=token), env, "oidc-alice", issuer=env.oidc.issuer)
    assert claims["aws:viewer-session-version"] == 0
    assert claims["exp"] - claims["iat"] <= 600


def test_real_provider_token_from_its_cookie(env):
    token = env.oidc.id_token("cookie-viewer")
    ok(env.get(cookies={"theme": "dark", "id_token": token}), env, "cookie-viewer", issuer=env.oidc.issuer)


def test_one_subject_from_three_sources_is_three_viewers(env):
    """One `sub` from the session cookie, from the OpenID Connect provider and from the "minted"
    provider (another issuer) names three viewers (issue 16, finding 3): three viewer ids, so that
    revoking one revokes only it, and three default stage `user_id`s, so that no source's subject
    passes for another's on a stage."""
    sub = "shared-subject"
    sources = {
        None: {"cookies": {"session": session_cookie(env.session_secret, sub=sub)}},
        env.oidc.issuer: {"bearer": env.oidc.id_token(sub)},
        env.minted_issuer: {"bearer": env.minted_token(sub=sub)},
    }
    viewer_ids = [ok(env.get(**credential), env, sub, issuer=issuer)["aws:viewer-id"]
                  for issuer, credential in sources.items()]
    assert len(set(viewer_ids)) == 3, viewer_ids
    user_ids = []
    for issuer, credential in sources.items():
        r = env.request("/v1/stage-token?stage=studio", **credential)
        assert r.status == 200, f"{r.status}: {r.text}"
        claims = jwt.decode(r.json()["token"], env.public_pem, algorithms=["ES384"],
                            options={"require": ["exp", "jti"], "verify_aud": False})
        assert claims["resource"] == STAGES["studio"]["arn"]
        assert claims["user_id"] == expected_viewer_id(env.key, sub, issuer), issuer
        user_ids.append(claims["user_id"])
    assert user_ids == viewer_ids, "a stage's default user_id is the viewer id"


def test_groups_from_the_real_provider_open_the_members_channel(env):
    ok(env.get("members", bearer=env.oidc.id_token("staffer", ["staff"])), env, "staffer", "members", issuer=env.oidc.issuer)
    ok(env.get("members", bearer=env.oidc.id_token("member", ["viewers", "members"])), env, "member", "members", issuer=env.oidc.issuer)


@pytest.mark.parametrize("groups", [[], ["secret-group-zq7"]])
def test_without_a_listed_group_the_members_channel_is_forbidden(env, groups):
    token = env.oidc.id_token("outsider", groups)
    body = problem(env.get("members", bearer=token), 403, "channel-forbidden", secrets=[token])
    assert "group" in body["detail"].lower(), body["detail"]
    assert "secret-group-zq7" not in json.dumps(body), "the viewer's groups are never revealed"
    ok(env.get("demo", bearer=token), env, "outsider", issuer=env.oidc.issuer)  # channels without groups stay open


def test_session_cookie_groups_claim(env):
    with_group = session_cookie(env.session_secret, sub="cookie-member", groups=["members"])
    ok(env.get("members", cookies={"session": with_group}), env, "cookie-member", "members", issuer=None)
    without = session_cookie(env.session_secret, sub="cookie-member")
    body = problem(env.get("members", cookies={"session": without}), 403, "channel-forbidden")
    assert "group" in body["detail"].lower(), body["detail"]


def test_groups_claim_by_exact_name(env):
    token = env.minted_token(sub="roles-viewer", **{"https://example.com/roles": ["members"]})
    ok(env.get("members", bearer=token), env, "roles-viewer", "members", issuer=env.minted_issuer)
    token = env.minted_token(sub="roles-viewer", **{"https://example.com/roles": ["guests"]})
    problem(env.get("members", bearer=token), 403, "channel-forbidden")


def test_groups_claim_by_dotted_path_and_exact_name_wins(env):
    def kc(**extra):
        return env.minted_token(issuer=env.keycloak_issuer, aud=KEYCLOAK_AUD, sub="kc-sub-1",
                                preferred_username="kc-user", **extra)

    ok(env.get("members", bearer=kc(realm_access={"roles": ["members"]})), env, "kc-user", "members", issuer=env.keycloak_issuer)
    problem(env.get("members", bearer=kc(realm_access={"roles": ["nobody"]})), 403, "channel-forbidden")
    exact = kc(realm_access={"roles": ["nobody"]}, **{"realm_access.roles": ["members"]})
    ok(env.get("members", bearer=exact), env, "kc-user", "members", issuer=env.keycloak_issuer)
    exact = kc(realm_access={"roles": ["members"]}, **{"realm_access.roles": ["nobody"]})
    problem(env.get("members", bearer=exact), 403, "channel-forbidden")


def test_channels_claim_from_an_identity_token(env):
    token = env.minted_token(issuer=env.scoped_issuer, sub="one-channel", channels=["demo"])
    ok(env.get("demo", bearer=token), env, "one-channel", issuer=env.scoped_issuer)
    body = problem(env.get("other", bearer=token), 403, "channel-forbidden")
    assert "other" in body["detail"], body["detail"]
    # channels_claim set: a token without the claim is refused (README: required in every token).
    token = env.minted_token(issuer=env.scoped_issuer, sub="one-channel")
    bearer_problem(env.get("demo", bearer=token), "session-invalid", token)


# ------------------------------------------------------------------------------------------------
# keys: rotation, downtime, the forged-kid flood, never had keys


def test_key_rotation_at_the_provider_is_picked_up(env):
    p = env.rotating
    old = p.id_token("rot-viewer")
    ok(env.get(bearer=old), env, "rot-viewer", issuer=p.issuer)
    stats = p.stats()
    assert stats["jwks_fetches"] == 1, stats
    previous_fetch = stats["last_fetch_at"]

    kids = p.rotate(keep_old=True)
    new = p.id_token("rot-viewer")
    new_kid = jwt.get_unverified_header(new)["kid"]
    assert new_kid != jwt.get_unverified_header(old)["kid"] and new_kid == kids[0]
    # The unknown kid is fetched at once, unless the provider was fetched less than 30 s ago (the
    # refetch limit); either way it is accepted at the latest 30 s after the previous fetch.
    deadline = previous_fetch + 30 + 5
    while True:
        r = env.get(bearer=new)
        if r.status == 200 or time.time() > deadline:
            break
        bearer_problem(r, "session-invalid", new)  # refused meanwhile, never a 5xx
        time.sleep(1)
    ok(r, env, "rot-viewer", issuer=p.issuer)
    stats = p.stats()
    assert stats["jwks_fetches"] == 2, f"exactly one refetch for the new kid: {stats}"
    print(f"\n[rotation] new kid accepted {time.time() - previous_fetch:.1f}s after the previous key fetch")
    ok(env.get(bearer=old), env, "rot-viewer", issuer=p.issuer)  # the old key is still published
    ok(env.get(bearer=p.id_token("rot-viewer-2")), env, "rot-viewer-2", issuer=p.issuer)
    assert p.fetch_count() == 2, p.stats()


def test_provider_down_after_the_first_fetch_keeps_the_last_good_keys(env):
    p = env.flaky
    first, second = p.id_token("flaky-viewer"), p.id_token("flaky-viewer-2")
    ok(env.get(bearer=first), env, "flaky-viewer", issuer=p.issuer)
    assert p.fetch_count() == 1, p.stats()
    p.down("closed")
    try:
        ok(env.get(bearer=second), env, "flaky-viewer-2", issuer=p.issuer)
        # An unknown kid while the provider is unreachable: a refetch is tried and fails; the token is
        # invalid (401), not a provider outage (503), because good keys are still held.
        forged = with_kid(second, "k" + secrets.token_hex(8))
        bearer_problem(env.get(bearer=forged), "session-invalid", forged)
        ok(env.get(bearer=first), env, "flaky-viewer", issuer=p.issuer)
        health = env.worker.get("/healthz")
        assert "flaky" not in health.text, health.text
    finally:
        p.up()
    assert p.fetch_count() == 1, p.stats()


def test_forged_kid_flood_causes_at_most_one_fetch(env):
    p = env.flood
    good = p.id_token("flood-viewer")
    ok(env.get(bearer=good), env, "flood-viewer", issuer=p.issuer)
    assert p.fetch_count() == 1, p.stats()
    forged = [with_kid(good, secrets.token_hex(8)) for _ in range(50)]
    # Open the refetch window (30 s after the previous fetch), so the flood can cause one refetch.
    wait = p.stats()["last_fetch_at"] + 31 - time.time()
    if wait > 0:
        time.sleep(min(wait, 31))
    # A slow key endpoint (as a real one under load): concurrent forged tokens arrive while a
    # refetch is in flight, and must not start refetches of their own.
    p.delay_jwks(400)
    started = time.time()
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda t: env.get(bearer=t), forged))
    elapsed = time.time() - started
    p.delay_jwks(0)
    for token, r in zip(forged, answers):
        bearer_problem(r, "session-invalid", token)
    assert elapsed < 25, f"the flood took {elapsed:.1f}s; the 30 s window claim would be meaningless"
    stats = p.stats()
    assert stats["jwks_attempts"] - 1 == 1, f"{stats['jwks_attempts'] - 1} refetches for 50 forged kids: {stats}"
    ok(env.get(bearer=good), env, "flood-viewer", issuer=p.issuer)
    assert p.stats()["jwks_attempts"] == stats["jwks_attempts"], "a known kid needs no fetch"


def test_provider_that_never_had_keys_is_a_503(env):
    for name, issuer in (("nokeys", env.nokeys_issuer), ("garbagekeys", env.garbage_issuer)):
        token = env.minted_token(issuer=issuer, sub="early-bird")
        body = problem(env.get(bearer=token), 503, "identity-provider-unavailable", secrets=[token])
        assert f"`{name}`" in body["detail"] or name in body["detail"], body["detail"]
    assert env.garbage.attempts >= 1
    health = env.worker.get("/healthz")
    assert health.status == 503, health.text
    assert health.headers.get("content-type") == "application/problem+json", health.headers
    # It names a provider without keys (one of the two; the others have keys).
    assert "nokeys" in health.text or "garbagekeys" in health.text, health.text
    for has_keys in ("cognito-pool", "rotating", "flaky", "expiring", "minted"):
        assert has_keys not in health.text, health.text


def test_a_connection_closed_unanswered_is_tried_again_at_once(env):
    """The runtime reuses pooled connections, and one the provider has just closed fails before the
    request reaches it ("Network connection lost"). The first key fetch (the startup /healthz) met
    such a connection and tried again at once, so the provider's viewers were never refused."""
    assert env.dropping.dropped == 1 and env.dropping.fetches >= 1, (env.dropping.dropped, env.dropping.fetches)
    assert '"identity_provider":"dropping"' not in env.worker.output(), "no failure was recorded"
    token = env.dropping.mint(env.claims(issuer=env.dropping_issuer, sub="after-a-drop"))
    ok(env.get(bearer=token), env, "after-a-drop", issuer=env.dropping_issuer)


def test_a_key_endpoint_that_hangs_is_given_up_after_5_seconds(env):
    """A provider that accepts the connection and never answers must not hold viewers' requests
    open: the fetch is abandoned after 5 s (not retried: a slow failure would double the wait), the
    viewer gets the 503 of a provider without keys, and a request after it recovers works."""
    s = env.hanging
    token = s.mint(env.claims(issuer=env.hanging_issuer, sub="patient-viewer"))
    s.mode, s.delay = "up", 60
    # Until the retry wait after the failures so far (health checks count too) lets a request fetch.
    deadline = time.time() + 45
    while True:
        attempts, started = s.attempts, time.time()
        problem(env.get(bearer=token), 503, "identity-provider-unavailable", secrets=[token])
        elapsed = time.time() - started
        if s.attempts > attempts or time.time() > deadline:
            break
        time.sleep(0.5)
    assert s.attempts - attempts == 1, f"{s.attempts - attempts} attempts: a slow failure is tried once"
    assert 4 <= elapsed < 30, f"answered after {elapsed:.1f} s: the fetch was not bounded by its 5 s timeout"
    s.delay = 0
    deadline = time.time() + 45
    while (r := env.get(bearer=token)).status == 503 and time.time() < deadline:
        time.sleep(0.5)
    ok(r, env, "patient-viewer", issuer=env.hanging_issuer)


# ------------------------------------------------------------------------------------------------
# Cognito through the preset


def test_cognito_id_and_access_tokens(env):
    c = env.cognito
    id_token = cognito_id_token(c, issuer=COGNITO_ISSUER, client_id=COGNITO_CLIENT,
                                sub="0a6c5f8e-1b2d-4c3e-9f00-cognito00001", groups=["members"])
    ok(env.get("members", bearer=id_token), env, "0a6c5f8e-1b2d-4c3e-9f00-cognito00001", "members", issuer=COGNITO_ISSUER)
    access = cognito_access_token(c, issuer=COGNITO_ISSUER, client_id=COGNITO_CLIENT,
                                  sub="0a6c5f8e-1b2d-4c3e-9f00-cognito00002", groups=["staff"])
    ok(env.get("members", bearer=access), env, "0a6c5f8e-1b2d-4c3e-9f00-cognito00002", "members", issuer=COGNITO_ISSUER)
    no_groups = cognito_access_token(c, issuer=COGNITO_ISSUER, client_id=COGNITO_CLIENT, sub="cog-3", groups=None)
    problem(env.get("members", bearer=no_groups), 403, "channel-forbidden")
    ok(env.get("demo", bearer=no_groups), env, "cog-3", issuer=COGNITO_ISSUER)
    assert c.fetches == 1, f"one key fetch for every Cognito token: {c.fetches}"


def cognito_refusals():
    other_pool = f"https://cognito-idp.{COGNITO_REGION}.amazonaws.com/{COGNITO_REGION}_Other0000"
    return {
        "id token for another app client": ("id", {"aud": "someotherclient000000000"}),
        "access token for another app client": ("access", {"client_id": "someotherclient000000000"}),
        "access token without client_id": ("access", {"client_id": None}),
        "id token used as access (token_use access with aud)": ("id", {"token_use": "access"}),
        "access token claiming token_use id": ("access", {"token_use": "id"}),
        "refresh-like token_use": ("id", {"token_use": "refresh"}),
        "id token without token_use": ("id", {"token_use": None}),
        "another pool's issuer": ("id", {"iss": other_pool}),
        "expired id token": ("id", {"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200}),
    }


@pytest.mark.parametrize("case", list(cognito_refusals()))
def test_cognito_refusals(env, case):
    kind, overrides = cognito_refusals()[case]
    make = cognito_id_token if kind == "id" else cognito_access_token
    token = make(env.cognito, issuer=COGNITO_ISSUER, client_id=COGNITO_CLIENT, sub="cog-refused",
                 overrides=overrides)
    slug = "session-expired" if case.startswith("expired") else "session-invalid"
    bearer_problem(env.get(bearer=token), slug, token)


# ------------------------------------------------------------------------------------------------
# algorithms and the RFC 8725 attack list


@pytest.mark.parametrize("alg", ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384"])
def test_every_supported_algorithm(env, alg):
    kid = {"RS256": env.kid_rs256, "ES256": env.kid_es256}.get(alg) or env.algs[alg]
    ok(env.get(bearer=env.minted_token(kid=kid, sub=f"alg-{alg}")), env, f"alg-{alg}", issuer=env.minted_issuer)


def test_rsa_key_without_alg_defaults_to_rs256(env):
    ok(env.get(bearer=env.minted_token(kid=env.kid_rsa_noalg, sub="noalg")), env, "noalg", issuer=env.minted_issuer)
    _, key, _ = env.minted.key(env.kid_rsa_noalg)
    token = env.minted.mint(env.claims(sub="noalg"), kid=env.kid_rsa_noalg, alg="PS256", key=key)
    bearer_problem(env.get(bearer=token), "session-invalid", token)


def test_algorithms_setting_pins(env):
    # keycloak accepts RS256 only; an ES256 token from a key in its own JWKS is refused.
    token = env.minted_token(kid=env.kid_es256, issuer=env.keycloak_issuer, aud=KEYCLOAK_AUD,
                             preferred_username="kc-user")
    bearer_problem(env.get(bearer=token), "session-invalid", token)


def attack_cases(env):
    now = int(time.time())
    rsa_kid = env.kid_rs256
    _, rsa_key, _ = env.minted.key(rsa_kid)
    _, ec_key, _ = env.minted.key(env.kid_es256)
    good = env.minted_token(sub="attacker")
    h, p, s = good.split(".")
    flipped = s[:10] + ("A" if s[10] != "A" else "B") + s[11:]
    return {
        "wrong audience": (env.minted_token(aud="another-api"), "session-invalid"),
        "audience list without ours": (env.minted_token(aud=["a", "b"]), "session-invalid"),
        "unknown issuer": (env.minted_token(issuer="https://evil.example.com/"), "session-invalid"),
        "issuer with trailing slash": (env.minted_token(issuer=env.minted_issuer + "/"), "session-invalid"),
        "expired": (env.minted_token(iat=now - 7200, exp=now - 3600), "session-expired"),
        "expired beyond leeway": (env.minted_token(iat=now - 7200, exp=now - 45), "session-expired"),
        "not yet valid": (env.minted_token(nbf=now + 300), "session-invalid"),
        "alg none": (unsigned_token({"alg": "none", "typ": "JWT", "kid": rsa_kid}, env.claims()), "session-invalid"),
        "alg None": (unsigned_token({"alg": "None", "kid": rsa_kid}, env.claims()), "session-invalid"),
        "HS256 keyed with the RSA public key": (
            hs256_with_public_key(public_pem_bytes(rsa_key), {"kid": rsa_kid}, env.claims()), "session-invalid"),
        "ES256 signature under an RSA kid": (
            env.minted.mint(env.claims(), kid=rsa_kid, alg="ES256", key=ec_key), "session-invalid"),
        "RS384 signature under an RS256 key": (
            env.minted.mint(env.claims(), kid=rsa_kid, alg="RS384", key=rsa_key), "session-invalid"),
        "bad signature": (f"{h}.{p}.{flipped}", "session-invalid"),
        "tampered claims": (h + "." + env.minted_token(sub="root").split(".")[1] + "." + s, "session-invalid"),
        "unknown kid": (env.minted_token(headers={"kid": "never-published-" + secrets.token_hex(4)}), "session-invalid"),
        "kid path traversal": (env.minted_token(headers={"kid": "../../../etc/passwd"}), "session-invalid"),
        "kid URL": (env.minted_token(headers={"kid": "https://evil.example.com/key.json"}), "session-invalid"),
        "jku header": (env.minted_token(headers={"jku": "https://evil.example.com/jwks.json"}), "session-invalid"),
        "x5u header": (env.minted_token(headers={"x5u": "https://evil.example.com/cert.pem"}), "session-invalid"),
        "jwk header": (env.minted_token(headers={"jwk": env.minted.document()["keys"][0]}), "session-invalid"),
        "crit header": (env.minted_token(headers={"crit": ["exp"]}), "session-invalid"),
        "sub missing": (env.minted_token(sub=None), "session-invalid"),
        "too large": (env.minted_token(padding="x" * TOO_LARGE_PADDING), "session-invalid"),
        "not a JWT": ("not-a-jwt", "session-invalid"),
    }


ATTACKS = [
    "wrong audience", "audience list without ours", "unknown issuer", "issuer with trailing slash", "expired",
    "expired beyond leeway", "not yet valid", "alg none", "alg None", "HS256 keyed with the RSA public key",
    "ES256 signature under an RSA kid", "RS384 signature under an RS256 key", "bad signature", "tampered claims",
    "unknown kid", "kid path traversal", "kid URL", "jku header", "x5u header", "jwk header",
    "crit header", "sub missing", "too large", "not a JWT",
]


@pytest.mark.parametrize("case", ATTACKS)
def test_refused_identity_tokens(env, case):
    token, slug = attack_cases(env)[case]
    bearer_problem(env.get(bearer=token), slug, token)


def test_attack_list_is_complete(env):
    assert sorted(attack_cases(env)) == sorted(ATTACKS)


def test_leeway_and_audience_list(env):
    now = int(time.time())
    ok(env.get(bearer=env.minted_token(sub="leeway", iat=now - 600, exp=now - 10)), env, "leeway", issuer=env.minted_issuer)
    ok(env.get(bearer=env.minted_token(sub="aud-list", aud=["x", MINTED_AUD])), env, "aud-list", issuer=env.minted_issuer)


def test_inline_jwks_and_a_provider_cookie(env):
    now = int(time.time())
    claims = {"iss": INLINE_ISSUER, "aud": MINTED_AUD, "sub": "inline-viewer", "iat": now, "exp": now + 600}
    token = env.inline.mint(claims)
    ok(env.get(cookies={"inline_token": token}), env, "inline-viewer", issuer=INLINE_ISSUER)
    # The inline provider reads only its cookie: the same token as Bearer routes by `iss` to no
    # provider that accepts Bearer.
    bearer_problem(env.get(bearer=token), "session-invalid", token)


def test_token_from_a_named_header(env):
    token = env.minted_token(sub="header-viewer")
    ok(env.get(headers={"X-Id-Token": token}), env, "header-viewer", issuer=env.minted_issuer)


# ------------------------------------------------------------------------------------------------
# several credentials at once


def test_valid_bearer_wins_over_a_stale_session_cookie(env):
    now = int(time.time())
    stale = session_cookie(env.session_secret, sub="cookie-viewer", iat=now - 7200, exp=now - 3600)
    ok(env.get(bearer=env.oidc.id_token("bearer-viewer"), cookies={"session": stale}), env, "bearer-viewer", issuer=env.oidc.issuer)


def test_invalid_bearer_is_not_skipped_for_a_valid_cookie(env):
    valid_cookie = session_cookie(env.session_secret, sub="cookie-viewer")
    token = env.minted_token(aud="another-api")
    bearer_problem(env.get(bearer=token, cookies={"session": valid_cookie}), "session-invalid", token)
    now = int(time.time())
    expired = env.minted_token(iat=now - 7200, exp=now - 3600)
    bearer_problem(env.get(bearer=expired, cookies={"session": valid_cookie}), "session-expired", expired)


def test_header_source_before_provider_cookie_before_session_cookie(env):
    now = int(time.time())
    inline_claims = {"iss": INLINE_ISSUER, "aud": MINTED_AUD, "sub": "inline-viewer", "iat": now, "exp": now + 600}
    inline_good = env.inline.mint(inline_claims)
    inline_bad = env.inline.mint({**inline_claims, "aud": "another-api"})
    header_good = env.minted_token(sub="header-viewer")
    header_bad = env.minted_token(sub="header-viewer", aud="another-api")
    session_good = session_cookie(env.session_secret, sub="cookie-viewer")

    ok(env.get(headers={"X-Id-Token": header_good}, cookies={"inline_token": inline_bad}), env, "header-viewer", issuer=env.minted_issuer)
    problem(env.get(headers={"X-Id-Token": header_bad}, cookies={"inline_token": inline_good}), 401,
            "session-invalid", secrets=[header_bad])
    ok(env.get(cookies={"inline_token": inline_good, "session": "garbage"}), env, "inline-viewer", issuer=INLINE_ISSUER)
    problem(env.get(cookies={"inline_token": inline_bad, "session": session_good}), 401, "session-invalid",
            secrets=[inline_bad])
    # Bearer before the header source.
    ok(env.get(bearer=env.minted_token(sub="bearer-first"), headers={"X-Id-Token": header_bad}), env, "bearer-first", issuer=env.minted_issuer)


def test_bearer_tokens_route_by_issuer(env):
    # Each token went to the provider of its `iss`: the viewer id is derived from that issuer.
    a = ok(env.get(bearer=env.oidc.id_token("same-name")), env, "same-name", issuer=env.oidc.issuer)
    b = ok(env.get(bearer=env.minted_token(sub="same-name")), env, "same-name", issuer=env.minted_issuer)
    assert a["aws:viewer-id"] != b["aws:viewer-id"], "one subject at two issuers: two viewers"


def test_no_credential_is_session_missing(env):
    problem(env.get(), 401, "session-missing")
    problem(env.get(cookies={"theme": "dark", "unrelated": "x"}), 401, "session-missing")


def test_watch_page_with_a_refused_provider_credential_asks_to_sign_in(env):
    """Issue 16: a refused identity-provider credential got "Temporarily unavailable" on the watch
    page; it gets the sign-in page, as a refused session cookie does (this worker has no LOGIN_URL,
    so the page itself, 401)."""
    expired = env.minted_token(exp=int(time.time()) - 3600)
    for headers in ({"Authorization": "Bearer a.b.c"}, {"Cookie": "id_token=x.y.z"},
                    {"Authorization": f"Bearer {expired}"}):
        r = env.worker.get("/watch/demo", headers=headers)
        assert r.status == 401, (headers, r.status)
        assert r.headers["content-type"].startswith("text/html"), r.headers
        assert "Sign in to watch" in r.text and "Temporarily unavailable" not in r.text, r.text
        assert expired not in r.text


# ------------------------------------------------------------------------------------------------
# countries and CORS


@pytest.mark.parametrize("channel,country,allowed", [
    ("geo", "FR", True), ("geo", "DE", True), ("geo", "US", False), ("geo", "JP", False),
    ("nogeo", "FR", True), ("nogeo", "US", False),
])
def test_country_rules(env, channel, country, allowed):
    token = env.minted_token(sub="traveller")
    r = env.get(channel, bearer=token, headers={"X-Dev-Country": country})
    if allowed:
        ok(r, env, "traveller", channel, issuer=env.minted_issuer)
    else:
        body = problem(r, 403, "channel-forbidden")
        assert "countr" in body["detail"].lower(), body["detail"]


def test_country_rules_apply_to_the_session_cookie_too(env):
    cookie = {"session": session_cookie(env.session_secret, sub="cookie-traveller")}
    ok(env.get("geo", cookies=cookie, headers={"X-Dev-Country": "DE"}), env, "cookie-traveller", "geo", issuer=None)
    problem(env.get("nogeo", cookies=cookie, headers={"X-Dev-Country": "US"}), 403, "channel-forbidden")


def test_cors_preflight_allows_authorization(env):
    r = env.worker.get("/v1/token?channel=demo", method="OPTIONS", headers={
        "Origin": "https://app.example",
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization",
    })
    assert r.status in (200, 204), r.text
    assert r.headers.get("access-control-allow-origin") == "https://app.example", r.headers
    allowed = [h.strip().lower() for h in r.headers.get("access-control-allow-headers", "").split(",")]
    assert "authorization" in allowed, r.headers
    token = env.minted_token(sub="spa-viewer")
    answer = env.get(bearer=token, headers={"Origin": "https://app.example"})
    ok(answer, env, "spa-viewer", issuer=env.minted_issuer)
    assert answer.headers.get("access-control-allow-origin") == "https://app.example", answer.headers
    refused = env.get(bearer=env.minted_token(aud="nope"), headers={"Origin": "https://app.example"})
    assert refused.status == 401
    assert refused.headers.get("access-control-allow-origin") == "https://app.example", "problems carry CORS too"


def test_worker_logs_hold_no_identity_token(env):
    token = env.oidc.id_token("log-viewer")
    before = env.worker.output().count('{"channel"')
    ok(env.get(bearer=token), env, "log-viewer", issuer=env.oidc.issuer)
    deadline = time.time() + 10  # wait for this request's log line
    while env.worker.output().count('{"channel"') == before and time.time() < deadline:
        time.sleep(0.2)
    out = env.worker.output()
    for part in token.split("."):
        assert part not in out, "an identity token reached the log"


# ------------------------------------------------------------------------------------------------
# last: the cache of "expiring" (fetched at fixture start, max-age 1 s clamped to 60 s) has expired


def test_expired_cache_with_provider_answering_garbage_keeps_the_last_good_keys(env):
    s = env.expiring
    ok(env.expiring_prime, env, "early", issuer=env.expiring_issuer)
    assert s.fetches == 1, s.fetches
    token = s.mint(env.claims(issuer=env.expiring_issuer, sub="late"))
    s.mode = "garbage"
    wait = env.expiring_primed_at + 65 - time.time()
    if wait > 0:
        time.sleep(wait)
    before = s.attempts
    ok(env.get(bearer=token), env, "late", issuer=env.expiring_issuer)
    deadline = time.time() + 5
    while s.attempts == before and time.time() < deadline:  # a background refresh may land just after
        time.sleep(0.1)
    assert s.attempts > before, "the worker did not try to refresh keys whose max-age had passed"
    ok(env.get(bearer=token), env, "late", issuer=env.expiring_issuer)
    health = env.worker.get("/healthz")
    assert "expiring" not in health.text, health.text
