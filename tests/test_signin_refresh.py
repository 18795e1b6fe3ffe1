"""A viewer who just paid refreshes their access (issue 24), end to end against `wrangler dev` and a
REAL OpenID Connect provider (npm `oidc-provider`, tests/oidc/provider.mjs).

Groups are copied into the worker's session at sign-in, so a viewer who buys a ticket after signing
in is refused until the session ends. The refused page offers "Refresh my access":
`/login?provider=P&return_to=PAGE&refresh=1`, a sign-in with `prompt=none` (OpenID Connect Core
3.1.2.1).

- Signed in at the provider: the provider answers the silent request with a code (no page, no form:
  its own log says so), the worker exchanges it, the session carries the new group, the concert plays
  with a playback token that verifies with PyJWT against `/v1/public-key`.
- Signed out at the provider (a browser whose provider cookies are gone): the provider answers
  `login_required`; the worker turns it into the ordinary sign-in (302 to `/login` without
  `refresh`), never an error page, and that sign-in shows the provider's login form. The same error
  after an ordinary sign-in stays the provider's error (502 page): the silent flag travels in the
  worker's sealed state cookie, not in anything the provider sends back.
- The link a shop sends buyers to (`return_to` unencoded, as the docs write it) works the same for a
  viewer with no worker session; the stage page offers the refresh as the watch page does.
- The app's own session cookie (minted with `SESSION_SECRET`, no `idp`): the 403 page without the
  link; the app re-mints the cookie with the new groups.
"""

from __future__ import annotations

import html
import json
import re
import secrets
import time
import urllib.parse

import jwt
import pytest
import secret_scan
from harness import (
    ARN_PREFIX,
    Worker,
    expected_viewer_id,
    new_p384_key,
    public_pem,
    sec1_pem,
    session_cookie,
    start_all,
    verify_playback_token,
)
from identity_standins import OidcProvider
from signin_standins import Viewer

TICKET = "ticket-2026-12"
CONCERT_ARN = ARN_PREFIX + "concert1"
STAGE_ARN = "arn:aws:ivs:us-west-2:123456789012:stage/Backstage01"
REFRESH_HREF = "/login?provider=idp&amp;return_to=%2Fwatch%2Fconcert&amp;refresh=1"
ORDINARY = "/login?provider=idp&return_to=%2Fwatch%2Fconcert"
INTERACTION_ERRORS = ("login_required", "interaction_required", "consent_required", "account_selection_required")


class Setup:
    def __init__(self):
        self.key = new_p384_key()
        self.secret = secrets.token_urlsafe(48)
        self.worker = Worker({})  # its port first: the provider must know its callback URL
        self.idp = OidcProvider().start(redirect_uris=[self.worker.url + "/callback/idp"],
                                        logout_uris=[self.worker.url + "/logout"])
        client_id, client_secret = self.idp.info["clients"]["RS256"]
        channels = {
            "concert": {"arn": CONCERT_ARN, "playback_url": "https://play.example.net/concert.m3u8",
                        "title": "December concert", "groups": [TICKET]},
            "lobby": {"arn": ARN_PREFIX + "lobby1", "playback_url": "https://play.example.net/lobby.m3u8"},
        }
        stages = {"backstage": {"arn": STAGE_ARN, "public_key_arn": "arn:aws:ivs:us-west-2:123456789012:public-key/K1",
                                "whip_url": "https://Backstage01.global-bm.whip.live-video.net",
                                "subscribe_groups": [TICKET], "publish_groups": ["crew"]}}
        self.worker.settings = {
            "PLAYBACK_PRIVATE_KEY": sec1_pem(self.key),
            "SESSION_SECRET": self.secret,
            "CHANNELS": json.dumps(channels),
            "STAGES": json.dumps(stages),
            "ALLOWED_ORIGINS": self.worker.url,
            "IDP_CLIENT_SECRET": client_secret,
            "IDENTITY_PROVIDERS": json.dumps({"idp": {
                "issuer": self.idp.issuer, "audience": client_id, "jwks_url": self.idp.jwks_url,
                "groups_claim": "groups",
                "login": {"client_id": client_id, "client_secret": "IDP_CLIENT_SECRET", "scopes": "openid groups"},
            }}),
        }

    def stop(self):
        self.worker.stop()
        self.idp.stop()


@pytest.fixture(scope="module")
def setup():
    s = Setup()
    try:
        start_all([s.worker])
        yield s
    finally:
        s.stop()


def account(setup, sub, groups):
    """What the provider puts in this account's next ID token (its admin side channel)."""
    setup.idp._admin("/account", {"sub": sub, "groups": groups})


def session_of(viewer: Viewer, setup) -> dict:
    value = viewer.cookie("session")
    assert value, "no session cookie"
    secret_scan.register("secret", value)
    return jwt.decode(value, setup.secret, algorithms=["HS256"])


def provider_log(setup) -> tuple[int, list[dict], int]:
    """(login or consent pages started, authorization answers so far, token requests) at the provider."""
    stats = setup.idp.stats()
    return stats["interactions_started"], stats["authorizations"], stats["token_requests"]


def refused_page(response, page: str) -> str:
    """The 403 "not included" page; its refresh link (None when it has none)."""
    assert response.status == 403, (response.status, response.text[:800])
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "location" not in response.headers
    assert "Not included in your access" in response.text, response.text[:800]
    assert "?token=" not in response.text, "no playback token on a refused page"
    links = re.findall(r'href="(/login\?[^"]*)"', response.text)
    refresh = [link for link in links if "refresh=1" in link]
    if refresh:
        assert "Refresh my access" in response.text
        assert refresh == [f"/login?provider=idp&amp;return_to={urllib.parse.quote(page, safe='')}&amp;refresh=1"]
        return html.unescape(refresh[0])
    assert "Refresh my access" not in response.text
    return None


def page_token(text: str) -> str:
    match = re.search(r"\?token=([A-Za-z0-9_.-]+)", text)
    assert match, "no token in the page"
    return match.group(1)


def signed_in_without_the_ticket(setup, sub: str) -> tuple[Viewer, str]:
    """A viewer signed in at the edge before buying: refused at the concert; the refresh link."""
    account(setup, sub, ["members"])
    viewer = Viewer(setup.worker.url)
    done = viewer.sign_in("/watch/concert", sub)  # the provider's login and consent forms
    assert (done.status, done.headers["location"]) == (302, "/watch/concert"), done.text[:500]
    claims = session_of(viewer, setup)
    assert (claims["sub"], claims["idp"], claims["groups"]) == (sub, "idp", ["members"])
    assert viewer.get("/watch/lobby").status == 200, "a channel without a group rule plays"
    link = refused_page(viewer.get("/watch/concert"), "/watch/concert")
    assert link is not None, "a viewer signed in at the edge is offered the refresh"
    return viewer, link


def test_a_viewer_who_just_paid_refreshes_silently_and_watches(setup):
    sub = "buyer-" + secrets.token_hex(4)
    viewer, link = signed_in_without_the_ticket(setup, sub)
    assert link == ORDINARY + "&refresh=1"
    # The stage page offers the same, back to itself.
    stage_link = refused_page(viewer.get("/stage/backstage"), "/stage/backstage")
    assert stage_link == "/login?provider=idp&return_to=%2Fstage%2Fbackstage&refresh=1"

    # The shop adds the ticket to the account at the provider.
    account(setup, sub, ["members", TICKET])
    interactions, answers, token_requests = provider_log(setup)
    old_session = viewer.cookie("session")
    mark = len(viewer.history)

    r = viewer.get(link)
    assert r.status == 302, r.text[:500]
    authorize = r.headers["location"]
    assert authorize.startswith(setup.idp.issuer + "/auth?"), authorize
    query = urllib.parse.parse_qs(urllib.parse.urlparse(authorize).query)
    assert query.get("prompt") == ["none"], f"the refresh asks the provider for no page: {authorize}"
    assert query["code_challenge_method"] == ["S256"] and query["client_id"] == [setup.idp.client_id()]

    # The provider, where the viewer is still signed in, answers at once with a code.
    answer = viewer.get(authorize)
    assert answer.status in (302, 303), (answer.status, answer.text[:500])
    callback = Viewer.location(answer, authorize)
    assert callback.startswith(setup.worker.url + "/callback/idp?"), callback
    params = urllib.parse.parse_qs(urllib.parse.urlparse(callback).query)
    assert "error" not in params and params["code"], params.get("error")
    secret_scan.register("secret", params["code"][0])
    now_interactions, now_answers, _ = provider_log(setup)
    assert now_interactions == interactions, "no login or consent page at the provider"
    assert now_answers[len(answers):] == [{"route": "authorization", "prompt": "none", "outcome": "code"}]

    done = viewer.get(callback)
    assert (done.status, done.headers["location"]) == (302, "/watch/concert"), done.text[:500]
    assert provider_log(setup)[2] == token_requests + 1, "the worker exchanged the code"
    assert viewer.cookie("ivs-signin") is None, "the state cookie is single use"
    visited = [url for _, url in viewer.history[mark:]]
    assert not [u for u in visited if "/interaction/" in u], visited
    assert viewer.cookie("session") != old_session
    claims = session_of(viewer, setup)
    assert (claims["sub"], claims["idp"], claims["idp_iss"]) == (sub, "idp", setup.idp.issuer)
    assert claims["groups"] == ["members", TICKET], "the groups bought since"

    page = viewer.get("/watch/concert")
    assert page.status == 200, (page.status, page.text[:800])
    published = setup.worker.get("/v1/public-key")
    assert published.status == 200
    assert published.text.strip() == public_pem(setup.key).strip(), "the key the worker publishes is its own"
    _, token = verify_playback_token(page_token(page.text), published.text)
    assert token["aws:channel-arn"] == CONCERT_ARN
    assert token["aws:viewer-id"] == expected_viewer_id(setup.key, sub, setup.idp.issuer)
    assert abs(token["exp"] - time.time()) < 4 * 3600
    assert viewer.get("/stage/backstage").status == 200, "the stage's subscribe_groups admit the ticket too"

    # Nothing of the code or the tokens in the worker's log.
    time.sleep(1)
    log = setup.worker.output()
    assert params["code"][0] not in log and "eyJ" not in log


def test_signed_out_at_the_provider_the_refresh_becomes_the_ordinary_sign_in(setup):
    sub = "late-buyer-" + secrets.token_hex(4)
    viewer, link = signed_in_without_the_ticket(setup, sub)
    account(setup, sub, ["members", TICKET])
    # The viewer's session at the provider is gone (its cookies cleared, or expired); the worker's
    # session cookie is still in the browser.
    browser = Viewer(setup.worker.url)
    worker_session = viewer.cookie("session")
    browser.set_cookie("session", worker_session)
    interactions, answers, token_requests = provider_log(setup)

    r = browser.get(link)
    assert r.status == 302
    authorize = r.headers["location"]
    assert urllib.parse.parse_qs(urllib.parse.urlparse(authorize).query).get("prompt") == ["none"], authorize
    answer = browser.get(authorize)
    assert answer.status in (302, 303), (answer.status, answer.text[:500])
    callback = Viewer.location(answer, authorize)
    assert callback.startswith(setup.worker.url + "/callback/idp?"), callback
    params = urllib.parse.parse_qs(urllib.parse.urlparse(callback).query)
    assert params["error"] == ["login_required"] and "code" not in params, params
    assert params["iss"] == [setup.idp.issuer]
    now_interactions, now_answers, _ = provider_log(setup)
    assert now_interactions == interactions, "prompt=none: the provider showed no page"
    assert now_answers[len(answers):] == [
        {"route": "authorization", "prompt": "none", "outcome": "error:login_required"}]

    # The worker: the ordinary sign-in at once, no error page, nothing exchanged.
    back = browser.get(callback)
    assert back.status == 302, (back.status, back.text[:800])
    assert back.headers["location"] == ORDINARY, "the same page, without refresh"
    assert back.body == b"" and "text/html" not in back.headers.get("content-type", "")
    assert browser.cookie("ivs-signin") is None, "the state cookie is single use"
    assert browser.cookie("session") == worker_session, "the old session is kept meanwhile"
    assert provider_log(setup)[2] == token_requests

    # Followed: the provider's login form this time (no prompt=none), then the concert plays.
    mark = len(browser.history)
    callback = browser.to_callback(Viewer.location(back, callback), sub)
    visited = [url for _, url in browser.history[mark:]]
    sent = [u for u in visited if u.startswith(setup.idp.issuer + "/auth?")]
    assert sent and "prompt=" not in sent[0], sent
    assert any("/interaction/" in u for u in visited), "the provider asked for the login"
    assert provider_log(setup)[0] > interactions
    done = browser.get(callback)
    assert (done.status, done.headers["location"]) == (302, "/watch/concert"), done.text[:500]
    assert session_of(browser, setup)["groups"] == ["members", TICKET]
    page = browser.get("/watch/concert")
    assert page.status == 200, (page.status, page.text[:800])
    _, token = verify_playback_token(page_token(page.text), setup.worker.get("/v1/public-key").text)
    assert token["aws:channel-arn"] == CONCERT_ARN


def test_the_shops_purchase_confirmation_link(setup):
    """docs/identity-providers.md's link for a shop's "thank you" page, written as documented
    (`return_to` not encoded), followed by a viewer whose worker session is gone (another tab
    signed out, or it expired) but who is still signed in at the provider: silent all the same."""
    sub = "shop-buyer-" + secrets.token_hex(4)
    viewer, _ = signed_in_without_the_ticket(setup, sub)
    account(setup, sub, ["members", TICKET])
    viewer.drop_cookie("session")
    interactions, answers, _ = provider_log(setup)
    r = viewer.get("/login?provider=idp&return_to=/watch/concert&refresh=1")
    assert r.status == 302, (r.status, r.text[:500])
    authorize = r.headers["location"]
    assert urllib.parse.parse_qs(urllib.parse.urlparse(authorize).query).get("prompt") == ["none"], authorize
    callback = viewer.to_callback(authorize, None)  # None: a login form here would fail the test
    done = viewer.get(callback)
    assert (done.status, done.headers["location"]) == (302, "/watch/concert"), done.text[:500]
    assert provider_log(setup)[0] == interactions, "no login or consent page"
    assert [a["outcome"] for a in provider_log(setup)[1][len(answers):]] == ["code"]
    assert session_of(viewer, setup)["groups"] == ["members", TICKET]
    assert viewer.get("/watch/concert").status == 200


def test_login_required_after_an_ordinary_sign_in_stays_an_error(setup):
    """The silent flag is the worker's own (in its sealed state cookie): a `prompt=none` slipped
    into an ordinary sign-in's authorization request does not earn the silent path's redirect."""
    browser = Viewer(setup.worker.url)  # no session at the provider
    add_prompt = lambda url: url + "&prompt=none"  # noqa: E731
    callback = browser.to_callback(setup.worker.url + ORDINARY, None, tamper=add_prompt)
    assert "error=login_required" in callback, callback
    r = browser.get(callback)
    assert r.status == 502, (r.status, r.text[:800])
    assert r.headers["content-type"] == "text/html; charset=utf-8" and "location" not in r.headers
    assert "login_required" in r.text
    assert browser.cookie("session") is None


def test_the_apps_own_session_cookie_gets_no_refresh_link(setup):
    viewer = Viewer(setup.worker.url)
    viewer.set_cookie("session", session_cookie(setup.secret, sub="app-alice", groups=["members"]))
    assert refused_page(viewer.get("/watch/concert"), "/watch/concert") is None
    assert "does not include this channel" in viewer.get("/watch/concert").text
    assert refused_page(viewer.get("/stage/backstage"), "/stage/backstage") is None
    # The app re-mints its cookie with the groups bought; the next page load plays.
    viewer.set_cookie("session", session_cookie(setup.secret, sub="app-alice", groups=["members", TICKET]))
    page = viewer.get("/watch/concert")
    assert page.status == 200, (page.status, page.text[:800])
    _, token = verify_playback_token(page_token(page.text), setup.worker.get("/v1/public-key").text)
    assert token["aws:viewer-id"] == expected_viewer_id(setup.key, "app-alice")


@pytest.mark.parametrize("error", INTERACTION_ERRORS)
def test_each_interaction_error_of_a_refresh_is_the_ordinary_sign_in(setup, error):
    """The provider's other answers to `prompt=none` (OpenID Connect Core 3.1.2.6), relayed to the
    worker's callback with the refresh's own `state` and the provider's `iss`."""
    sub = "buyer-" + secrets.token_hex(4)
    account(setup, sub, [])
    viewer = Viewer(setup.worker.url)
    viewer.sign_in("/watch/lobby", sub)
    r = viewer.get("/login?provider=idp&return_to=%2Fwatch%2Fconcert&refresh=1")
    authorize = r.headers["location"]
    state = urllib.parse.parse_qs(urllib.parse.urlparse(authorize).query)["state"][0]
    callback = "/callback/idp?" + urllib.parse.urlencode({"error": error, "state": state, "iss": setup.idp.issuer})
    back = viewer.get(callback)
    assert (back.status, back.headers.get("location")) == (302, ORDINARY), (error, back.status, back.text[:500])
    assert viewer.cookie("ivs-signin") is None
