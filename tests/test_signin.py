"""Sign-in at the edge (issue 17), end to end against `wrangler dev`: the worker signs viewers in at a
REAL OpenID Connect provider (npm `oidc-provider`, tests/oidc/provider.mjs: code flow, PKCE, its own
login and consent forms, RP-initiated logout) and keeps them signed in with its session cookie.

- In Chromium: /watch/demo -> the provider's login form -> back -> the video plays with a token whose
  `aws:viewer-id` derives from the provider's `sub`; an expired session renews through the provider
  without a click; logout goes through the provider's end-session endpoint.
- Over HTTP (signin_standins.Viewer, a browser without JavaScript): the group rule's 403 page, every
  attack on the flow (forged and replayed `state`, a reused code, a substituted `nonce`, an open
  `return_to`), the viewer cancelling at the provider, the provider down at each step.
- A second worker: a Cognito-shaped provider through the `cognito` preset (its `domain` pointed at a
  local hosted-UI stand-in, a confidential client with HTTP Basic), a public client (PKCE alone) of
  the real provider, a provider whose discovery document cannot be fetched, and the chooser page
  that several providers give.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import jwt
import pytest
import secret_scan
from harness import (
    ARN_PREFIX,
    ROOT,
    Worker,
    expected_viewer_id,
    free_port,
    new_p384_key,
    public_pem,
    sec1_pem,
    session_cookie,
    start_all,
    verify_playback_token,
)
from identity_standins import OidcProvider
from signin_standins import CognitoHostedUi, Viewer

sys.path.insert(0, str(ROOT / "tools"))
from ivs_standin import StandIn  # noqa: E402

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"
ARN = ARN_PREFIX + "demo"
REGION, POOL, COGNITO_CLIENT = "eu-west-1", "eu-west-1_Ab12Cd34E", "5f2pbd8s6ml6kv39ntcfh6s4bq"


class Setup:
    def __init__(self):
        self.key = new_p384_key()
        self.secret = secrets.token_urlsafe(48)
        self.standin = StandIn(public_pem(self.key), ARN).start()
        # Ports first: the provider must know the workers' callback and logout URLs. Each provider
        # has its own redirect URI at a worker, /callback/NAME: this one is `idp` at the first worker
        # and `public` at the second.
        self.worker = Worker({})
        self.multi = Worker({})
        workers = (self.worker, self.multi)
        self.idp = OidcProvider().start(redirect_uris=[self.worker.url + "/callback/idp",
                                                       self.multi.url + "/callback/public"],
                                        logout_uris=[w.url + "/logout" for w in workers])
        self.cognito_secret = secrets.token_urlsafe(40)
        secret_scan.register("secret", self.cognito_secret)
        self.cognito = CognitoHostedUi(region=REGION, pool=POOL, client_id=COGNITO_CLIENT,
                                       client_secret=self.cognito_secret)
        self.cognito.callback_urls = [self.multi.url + "/callback/cognito"]
        self.cognito.logout_urls = [self.multi.url + "/logout"]
        channels = {
            "demo": {"arn": ARN, "playback_url": self.standin.playback_url, "title": "Demo"},
            "members": {"arn": ARN_PREFIX + "members1", "playback_url": "https://play.example.net/members.m3u8",
                        "groups": ["members"]},
        }
        client_id, client_secret = self.idp.info["clients"]["RS256"]
        common = {
            "PLAYBACK_PRIVATE_KEY": sec1_pem(self.key),
            "SESSION_SECRET": self.secret,
            "CHANNELS": json.dumps(channels),
        }
        self.worker.settings = {
            **common,
            # The page's own origin: the stand-in checks it against the token's origin claim.
            "ALLOWED_ORIGINS": self.worker.url,
            # As the docs tell: the client secret is a secret binding; the table names it.
            "IDP_CLIENT_SECRET": client_secret,
            "IDENTITY_PROVIDERS": json.dumps({"idp": {
                "issuer": self.idp.issuer, "audience": client_id, "jwks_url": self.idp.jwks_url,
                "groups_claim": "groups",
                # No endpoints written: they come from the issuer's discovery document.
                "login": {"client_id": client_id, "client_secret": "IDP_CLIENT_SECRET", "scopes": "openid groups"},
            }}),
        }
        dead = free_port()
        self.multi.settings = {
            **common,
            "ALLOWED_ORIGINS": self.multi.url,
            "COGNITO_CLIENT_SECRET": self.cognito_secret,
            "IDENTITY_PROVIDERS": json.dumps({
                "cognito": {
                    "preset": "cognito", "region": REGION, "user_pool_id": POOL, "client_id": COGNITO_CLIENT,
                    # Only the network addresses point at loopback; the issuer stays Cognito's own.
                    "jwks_url": f"{self.cognito.url}/{POOL}/.well-known/jwks.json",
                    "login": {"domain": self.cognito.url, "client_secret": "COGNITO_CLIENT_SECRET",
                              "label": "Members (Cognito)"},
                },
                "public": {
                    "issuer": self.idp.issuer, "audience": "rp-public", "jwks_url": self.idp.jwks_url,
                    "groups_claim": "groups", "login": {"client_id": "rp-public", "scopes": ["openid", "groups"]},
                },
                "gone": {
                    "issuer": f"http://127.0.0.1:{dead}", "audience": "x", "jwks_url": f"http://127.0.0.1:{dead}/jwks",
                    "login": {"client_id": "x"},
                },
            }),
        }

    def stop(self):
        for w in (self.worker, self.multi):
            w.stop()
        self.idp.stop()
        self.cognito.stop()
        self.standin.stop()


@pytest.fixture(scope="module")
def setup():
    s = Setup()
    try:
        for w in (s.worker, s.multi):
            w.extra_args = ["--persist-to", str(w.dir / "state")]  # its own Cache API
        start_all([s.worker, s.multi])
        yield s
    finally:
        s.stop()


def account(setup, sub, groups):
    setup.idp._admin("/account", {"sub": sub, "groups": groups})


def page_token(html: str) -> str:
    match = re.search(r"\?token=([A-Za-z0-9_.-]+)", html)
    assert match, "no token in the page"
    return match.group(1)


def session_of(viewer: Viewer, setup) -> dict:
    value = viewer.cookie("session")
    assert value, "no session cookie"
    secret_scan.register("secret", value)
    return jwt.decode(value, setup.secret, algorithms=["HS256"])


def assert_page(response, status, text):
    assert response.status == status, (response.status, response.text[:800])
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "location" not in response.headers, "an error is a page, never another redirect"
    assert text in response.text, response.text[:800]


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian chromium (make tools installs it)")
def test_browser_signs_in_plays_renews_without_a_click_and_logs_out(setup):
    account(setup, "alice", ["members"])
    ARTIFACTS.mkdir(exist_ok=True)
    now = int(time.time())
    expired = session_cookie(setup.secret, sub="alice", iat=now - 7200, exp=now - 3600, idp="idp")
    request = {"base": setup.worker.url, "watch": "/watch/demo", "login": "alice", "logout": True,
               "expired": {"name": "session", "value": expired}, "playlist": ".channel.demo.m3u8",
               "screenshot": str(ARTIFACTS / "signin-playing.png")}
    p = subprocess.run(["node", str(ROOT / "tests" / "browser" / "signin.mjs"), json.dumps(request)],
                       cwd=ROOT, capture_output=True, text=True, timeout=300, env={**os.environ, "CHROMIUM": CHROMIUM})
    assert p.returncode == 0, p.stderr[-3000:]
    out = json.loads(p.stdout)
    phases = ("signIn", "renewByPage", "renew", "logout", "after")
    sign_in, by_page, renew, logout, after = (out["phases"][k] for k in phases)

    # The first visit lands on the provider's login form (through /login), then comes back and plays.
    assert sign_in["landedOn"].startswith(setup.idp.issuer + "/interaction/"), sign_in["landedOn"]
    navigations = [r["url"] for r in sign_in["requests"] if r["nav"]]
    assert navigations[1].startswith(setup.worker.url + "/login?provider=idp&return_to=%2Fwatch%2Fdemo"), navigations
    assert sign_in["formsFilled"] == 2, "login, then consent"
    assert sign_in["url"] == setup.worker.url + "/watch/demo"
    assert sign_in["played"], (sign_in["url"], sign_in["h1"], out["console"][-5:])
    assert not out["pageErrors"], out["pageErrors"]
    _, claims = verify_playback_token(page_token(sign_in["html"]), public_pem(setup.key))
    # Derived from the provider's sub, in its issuer's namespace: the id a Bearer token of it gives too.
    assert claims["aws:viewer-id"] == expected_viewer_id(setup.key, "alice", setup.idp.issuer)
    assert claims["aws:channel-arn"] == ARN

    # The session expires while the video plays: the page's renewal path (a token refused by IVS, then
    # /v1/token answering 401, then one reload) leads through the provider and back, with no form.
    assert by_page["refused"] >= 1 and by_page["left"], by_page["url"]
    by_page_urls = [(r["method"], r["url"]) for r in by_page["requests"]]
    token_calls = [u for m, u in by_page_urls if u.startswith(setup.worker.url + "/v1/token")]
    assert token_calls, by_page_urls
    assert not [u for m, u in by_page_urls if m == "POST" and u.startswith(setup.idp.issuer)], "no click, no form"
    assert any(u.startswith(setup.worker.url + "/callback/idp?") for _, u in by_page_urls), by_page_urls
    assert by_page["played"] and by_page["url"] == setup.worker.url + "/watch/demo", (by_page["url"], by_page["h1"])

    # An expired session on opening the page: through the provider and back with no form to fill.
    assert renew["played"], (renew["url"], renew["h1"])
    provider_posts = [r for r in renew["requests"] if r["method"] == "POST" and r["url"].startswith(setup.idp.issuer)]
    assert not provider_posts, "no click, no form"
    urls = [r["url"] for r in renew["requests"] if r["nav"]]
    assert any(u.startswith(setup.worker.url + "/callback/idp?") for u in urls), urls
    _, renewed = verify_playback_token(page_token(renew["html"]), public_pem(setup.key))
    assert renewed["aws:viewer-id"] == claims["aws:viewer-id"]

    # Logout: through the provider's end-session endpoint, back to the worker's page; the session is gone
    # here and at the provider (the watch page asks for the login form again).
    assert logout["askedAt"].startswith(setup.idp.issuer), logout["askedAt"]
    assert logout["url"] == setup.worker.url + "/logout" and logout["h1"] == "Signed out", (logout["url"], logout["h1"])
    assert not logout["sessionCookie"]
    assert after["loginForm"], after["url"]


def test_a_viewer_outside_the_channels_group_gets_the_403_page(setup):
    account(setup, "outsider", [])
    viewer = Viewer(setup.worker.url)
    done = viewer.sign_in("/watch/members", "outsider")
    assert (done.status, done.headers["location"]) == (302, "/watch/members")
    assert "groups" not in session_of(viewer, setup), "in no group"
    assert_page(viewer.get("/watch/members"), 403, "does not include this channel")
    assert viewer.get("/watch/demo").status == 200, "the channel without a group rule plays"

    account(setup, "member", ["members"])
    member = Viewer(setup.worker.url)
    member.sign_in("/watch/members", "member")
    claims = session_of(member, setup)
    assert claims["groups"] == ["members"] and claims["sub"] == "member" and claims["idp"] == "idp"
    assert claims["idp_iss"] == setup.idp.issuer
    assert claims["exp"] - claims["iat"] <= 3600, "bounded by the ID token's lifetime"
    assert isinstance(claims["sv"], int) and abs(claims["sv"] - time.time()) < 120, "sv: the sign-in time"
    assert member.get("/watch/members").status == 200


def test_the_flow_refuses_every_attack(setup):
    account(setup, "mallory", ["members"])
    worker = setup.worker

    # An open return_to: refused at /login, before the provider is involved.
    viewer = Viewer(worker.url)
    for bad in ["//evil.example/", "https://evil.example/", "/\\evil.example", "watch/demo"]:
        r = viewer.get("/login?provider=idp&return_to=" + urllib.parse.quote(bad, safe=""))
        assert_page(r, 400, "must be a path of this worker")
        assert viewer.cookie("ivs-signin") is None

    # A forged state: the callback's `state` is not the one this browser's cookie holds.
    callback = viewer.to_callback(worker.url + "/login?provider=idp&return_to=%2Fwatch%2Fdemo", "mallory")
    forged = re.sub(r"state=[^&]+", "state=forged-state-value", callback)
    assert_page(viewer.get(forged), 403, "forged or replayed")
    assert viewer.cookie("session") is None

    # The real callback once, then replayed: without the (cleared) state cookie, and with a copy of it.
    viewer = Viewer(worker.url)
    callback = viewer.to_callback(worker.url + "/login?provider=idp&return_to=%2Fwatch%2Fdemo", "mallory")
    state_cookie = viewer.cookie("ivs-signin")
    secret_scan.register("secret", urllib.parse.parse_qs(urllib.parse.urlparse(callback).query)["code"][0])
    ok = viewer.get(callback)
    assert (ok.status, ok.headers["location"]) == (302, "/watch/demo")
    assert viewer.cookie("ivs-signin") is None, "single use: cleared"
    assert_page(viewer.get(callback), 403, "did not start in this browser, or it was already completed")
    # An attacker holding the cookie too: the provider refuses the used code.
    thief = Viewer(worker.url)
    thief.set_cookie("ivs-signin", state_cookie)
    assert_page(thief.get(callback), 400, "already used")
    assert thief.cookie("session") is None

    # A substituted nonce (an ID token minted for another sign-in): refused after the exchange.
    viewer = Viewer(worker.url)
    swap = lambda url: re.sub(r"nonce=[^&]+", "nonce=another-sign-ins-nonce", url)  # noqa: E731
    callback = viewer.to_callback(worker.url + "/login?provider=idp&return_to=%2Fwatch%2Fdemo", "mallory", tamper=swap)
    assert_page(viewer.get(callback), 401, "`nonce` is not this sign-in")
    assert viewer.cookie("session") is None

    # The viewer cancels at the provider.
    viewer = Viewer(worker.url)
    callback = viewer.to_callback(worker.url + "/login?provider=idp&return_to=%2Fwatch%2Fdemo", None, abort=True)
    assert "error=access_denied" in callback
    r = viewer.get(callback)
    assert_page(r, 403, "Sign-in was cancelled")
    assert "/login?provider=idp&amp;return_to=%2Fwatch%2Fdemo" in r.text, "a way to start again"

    # Nothing of the code, the tokens or the client secret in the worker's log.
    time.sleep(1)
    log = worker.output()
    assert "rp-rs256-secret" not in log and "code=" not in log and "eyJ" not in log


def test_the_provider_down_at_each_step_is_a_503_page(setup):
    account(setup, "dora", [])
    viewer = Viewer(setup.worker.url)
    callback = viewer.to_callback(setup.worker.url + "/login?provider=idp", "dora")
    for mode in ("503", "closed"):
        setup.idp.down(mode)
        try:
            r = viewer.get(callback)
        finally:
            setup.idp.up()
        assert_page(r, 503, "cannot be reached right now")
        # The answer cleared the state cookie: the next try is a fresh sign-in (no form: the provider
        # session is alive).
        callback = viewer.to_callback(setup.worker.url + "/login?provider=idp", "dora")
    # Up again: the same viewer signs in.
    assert viewer.get(callback).status == 302
    # A provider whose discovery document cannot be fetched: /login answers the page, no redirect.
    assert_page(Viewer(setup.multi.url).get("/login?provider=gone"), 503, "cannot be reached right now")


def test_cognito_through_the_preset(setup):
    setup.cognito.user = ("cognito-sub-1234", ["members"])
    viewer = Viewer(setup.multi.url)
    r = viewer.get("/login?provider=cognito&return_to=%2Fwatch%2Fmembers")
    assert r.status == 302
    authorize = r.headers["location"]
    assert authorize.startswith(setup.cognito.url + "/oauth2/authorize?response_type=code&client_id=" + COGNITO_CLIENT)
    query = urllib.parse.parse_qs(urllib.parse.urlparse(authorize).query)
    assert query["code_challenge_method"] == ["S256"] and query["scope"] == ["openid"]
    back = viewer.get(authorize)
    assert back.status == 302 and back.headers["location"].startswith(setup.multi.url + "/callback/cognito?")
    done = viewer.get(back.headers["location"])
    assert (done.status, done.headers["location"]) == (302, "/watch/members"), done.text[:500]
    assert setup.cognito.token_requests[-1]["auth"] == "Basic", "a confidential client: HTTP Basic"
    assert "client_secret" not in setup.cognito.token_requests[-1]["form"]
    claims = session_of(viewer, setup)
    assert (claims["sub"], claims["groups"], claims["idp"]) == ("cognito-sub-1234", ["members"], "cognito")
    page = viewer.get("/watch/members")
    assert page.status == 200
    _, token = verify_playback_token(page_token(page.text), public_pem(setup.key))
    assert token["aws:viewer-id"] == expected_viewer_id(setup.key, "cognito-sub-1234", setup.cognito.issuer)
    # Logout continues at Cognito's own /logout (client_id + logout_uri), which comes back to /logout.
    out = viewer.get("/logout")
    assert out.status == 302
    assert out.headers["location"] == (f"{setup.cognito.url}/logout?client_id={COGNITO_CLIENT}&logout_uri="
                                       + urllib.parse.quote(setup.multi.url + "/logout", safe=""))
    assert viewer.cookie("session") is None
    back = viewer.get(out.headers["location"])
    assert_page(viewer.get(back.headers["location"]), 200, "You are signed out")


def test_a_public_client_and_the_chooser(setup):
    # Several providers offer sign-in: the page sends the viewer to a chooser.
    viewer = Viewer(setup.multi.url)
    r = viewer.get("/watch/demo")
    assert (r.status, r.headers["location"]) == (302, "/login?return_to=%2Fwatch%2Fdemo")
    chooser = viewer.get(r.headers["location"])
    assert chooser.status == 200
    assert "Members (Cognito)" in chooser.text
    assert 'href="/login?provider=public&amp;return_to=%2Fwatch%2Fdemo"' in chooser.text
    # A public client: no secret, PKCE alone; the real provider checks the verifier.
    account(setup, "pat", [])
    done = viewer.sign_in("/login?provider=public&return_to=%2Fwatch%2Fdemo", "pat")
    assert (done.status, done.headers["location"]) == (302, "/watch/demo"), done.text[:500]
    assert session_of(viewer, setup)["sub"] == "pat"
    assert viewer.get("/watch/demo").status == 200
