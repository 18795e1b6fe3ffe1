"""Issue 24, "Try your own configuration locally": `make dev CONFIG=wrangler.toml` serves a team's own
settings (a concert channel sold by group, a lobby, one screen per account with the newest taking
over, an Auth0 sign-in whose client secret is a Worker secret, its own LOGIN_URL and origins) on this
machine: every channel plays from the IVS stand-in (which checks each token as IVS does), and with
SIGNIN=oidc the team's sign-in provider is the local OpenID Connect provider under the same name,
its accounts' groups set by DEV_USERS. Rehearsed as an operator would before a show: sign in, watch,
a viewer without a ticket is refused, a second screen takes over."""

import json
import os
import re
import subprocess

import pytest
from harness import CLI, ROOT, free_port, request, verify_playback_token
from signin_standins import Viewer
from test_dev_demo import Dev

CONCERT_ARN = "arn:aws:ivs:eu-west-1:111122223333:channel/concertA1"
LOBBY_ARN = "arn:aws:ivs:eu-west-1:111122223333:channel/lobbyB2"

TEAM_TOML = f"""
name = "shows"
main = "build/index.js"
compatibility_date = "2026-05-01"
routes = [{{ pattern = "shows.example/*", zone_name = "shows.example" }}]

[vars]
TOKEN_TTL_SECONDS = 300
ALLOWED_ORIGINS = "https://shows.example"
LOGIN_URL = "https://shows.example/login"

[vars.CHANNELS.concert]
arn = "{CONCERT_ARN}"
playback_url = "https://a1b2.eu-west-1.playback.live-video.net/api/video/v1/eu-west-1.111122223333.channel.concertA1.m3u8"
title = "December concert"
groups = ["ticket-2026-12"]

[vars.CHANNELS.lobby]
arn = "{LOBBY_ARN}"
playback_url = "https://a1b2.eu-west-1.playback.live-video.net/api/video/v1/eu-west-1.111122223333.channel.lobbyB2.m3u8"

[vars.DEVICE_LIMITS]
default = 1
on_limit = "evict-oldest"

[vars.IDENTITY_PROVIDERS.auth0]
issuer = "https://shows.eu.auth0.com/"
audience = "shows-client"
jwks_url = "https://shows.eu.auth0.com/.well-known/jwks.json"
groups_claim = "https://shows.example/roles"

[vars.IDENTITY_PROVIDERS.auth0.login]
client_id = "shows-client"
client_secret = "AUTH0_CLIENT_SECRET"

[env.staging.vars]
ALLOWED_ORIGINS = "https://staging.shows.example"
CHANNELS = '{{"rehearsal": {{"arn": "{LOBBY_ARN}", "playback_url": "https://x.live-video.net/r.m3u8"}}}}'
"""


@pytest.fixture(scope="module")
def team_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("team")
    (folder / "wrangler.toml").write_text(TEAM_TOML)
    (folder / "users.json").write_text(json.dumps({"alice": ["ticket-2026-12"], "bob": []}))
    subprocess.run(["sh", "scripts/dev-vars.sh"], cwd=ROOT, check=True, capture_output=True,
                   env={**os.environ, "IVS_TOKEN_CLI": str(CLI)})
    return folder


@pytest.fixture(scope="module")
def team(team_files):
    # The team's DEVICE_LIMITS must come from CONFIG, not from this environment.
    assert "DEVICE_LIMITS" not in os.environ
    d = Dev(free_port(), free_port()).start(
        CONFIG=str(team_files / "wrangler.toml"), SIGNIN="oidc", OIDC_PORT=str(free_port()),
        DEV_USERS=str(team_files / "users.json"),
    ).wait_ready()
    yield d
    d.stop()


def page_token(html: str) -> str:
    return re.search(r"\?token=([A-Za-z0-9_.-]+)", html).group(1)


def playback_url(html: str) -> str:
    return re.search(r'(http://127\.0\.0\.1:\d+/api/video/v1/[^"?\s]+\.m3u8)', html).group(1)


def test_the_teams_settings_play_from_the_standin_with_their_groups_and_limit(team):
    output = team.output()
    assert "wrangler.toml" in output and f"{team.url}/watch/concert" in output, output[-2000:]
    public_key = request(team.url + "/v1/public-key").text

    # A ticket holder signs in at "auth0" (the local provider under the team's provider name).
    alice = Viewer(team.url)
    signed_in = alice.sign_in("/watch/concert", "alice")
    assert signed_in.status == 302 and signed_in.headers["location"] == "/watch/concert", signed_in.text[:500]
    assert "/callback/auth0" in alice.history[-1][1]
    page = alice.get("/watch/concert")
    assert page.status == 200, page.text[:500]
    token = page_token(page.text)
    _, claims = verify_playback_token(token, public_key)
    assert claims["aws:channel-arn"] == CONCERT_ARN
    # The page plays from the stand-in, which accepts the token for this channel's ARN only.
    url = playback_url(page.text)
    assert url.endswith(".channel.concertA1.m3u8")
    assert request(f"{url}?token={token}").status == 200
    lobby_url = url.replace("concertA1", "lobbyB2")
    assert request(f"{lobby_url}?token={token}").status == 403, "a concert token does not play the lobby"

    # Without a ticket: the team's group rule refuses.
    bob = Viewer(team.url)
    bob.sign_in("/watch/lobby", "bob")
    assert bob.get("/watch/lobby").status == 200
    refused = bob.get("/watch/concert")
    assert refused.status == 403 and "Not included in your access" in refused.text

    # One screen per account, the newest taking over: the first screen is told (409).
    cookie = {"Cookie": f"session={alice.cookie('session')}"}
    def screen(device):
        return request(team.url + "/v1/token?channel=concert", headers={**cookie, "X-Device-Id": device})
    assert screen("tv-in-the-living-room").status == 200
    assert screen("phone-on-the-train-01").status == 200
    def heartbeat(device):
        return request(team.url + "/v1/heartbeat?channel=concert", "POST", headers={**cookie, "X-Device-Id": device})
    evicted = heartbeat("tv-in-the-living-room")
    assert evicted.status == 409 and "device-evicted" in evicted.text, evicted.text[:500]
    assert heartbeat("phone-on-the-train-01").status == 204


def test_a_wrong_environment_is_refused_by_name(team_files):
    port = free_port()
    p = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "python"), "tools/dev.py"], cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={**os.environ, "PORT": str(port), "STANDIN_PORT": str(free_port()), "SKIP_WORKER_BUILD": "1",
             "CONFIG": str(team_files / "wrangler.toml"), "DEPLOY_ENV": "production"},
    )
    assert p.returncode == 1
    assert "DEPLOY_ENV=production" in p.stderr and "[env.production]" in p.stderr and "staging" in p.stderr, p.stderr


def test_an_environments_own_vars_are_served(team_files):
    d = Dev(free_port(), free_port()).start(CONFIG=str(team_files / "wrangler.toml"), DEPLOY_ENV="staging")
    try:
        d.wait_ready()
        index = request(d.url + "/")
        assert index.status == 200 and "rehearsal" in index.text and "concert" not in index.text, index.text[:500]
        preflight = request(d.url + "/v1/token?channel=rehearsal", "OPTIONS",
                            headers={"Origin": "https://staging.shows.example", "Access-Control-Request-Method": "GET"})
        assert preflight.headers.get("access-control-allow-origin") == "https://staging.shows.example"
    finally:
        d.stop()
