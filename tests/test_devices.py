"""Device limits end to end: the worker under `wrangler dev` (its Durable Objects run there, state
on disk in a temporary directory) against the IVS stand-in (tools/ivs_standin.py), which checks
every revocation call's SigV4 signature with botocore and refuses a revoked viewer's playback as
IVS does. Tokens are checked with PyJWT; viewer ids are computed independently (harness)."""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import jwt as pyjwt
import pytest
from harness import (
    ARN_PREFIX,
    CLI,
    ROOT,
    Worker,
    expected_viewer_id,
    new_p384_key,
    public_pem,
    request,
    sec1_pem,
    session_cookie,
    start_all,
    verify_playback_token,
)

from identity_standins import new_ec_key, public_jwk

sys.path.insert(0, str(ROOT / "tools"))
from ivs_standin import StandIn  # noqa: E402

DEMO_ARN = ARN_PREFIX + "demo0001"
SECOND_ARN = "arn:aws:ivs:eu-west-1:123456789012:channel/second01"
ACCESS_KEY_ID = "AKIDDEVICETESTS00001"
# An Auth0-style provider of the `evict` worker: its issuer ends in a slash, as Auth0's does.
AUTH0_ISSUER = "https://tenant.example.auth0.com/"
AUTH0_AUDIENCE = "https://tv.example/api"


class Setup:
    """Two workers on one IVS stand-in: `refuse` (the default policy, limit 2, groups; no identity
    providers) and `evict` (evict-oldest, idle after 5 s; the session cookie and an identity
    provider, `auth0`, with its keys inline), each with its Durable Object state in its own
    directory."""

    def __init__(self):
        self.key = new_p384_key()
        self.session_secret = secrets.token_urlsafe(48)
        self.admin_token = secrets.token_urlsafe(40)
        self.aws_secret = secrets.token_urlsafe(30)
        self.standin = StandIn(public_pem(self.key), DEMO_ARN, credentials={ACCESS_KEY_ID: (self.aws_secret, None)}).start()
        channels = {
            "demo": {"arn": DEMO_ARN, "playback_url": self.standin.playback_url, "title": "Limited"},
            "second": {"arn": SECOND_ARN, "playback_url": "https://play.example.net/second.m3u8"},
            "open": {"arn": ARN_PREFIX + "open0001", "playback_url": "https://play.example.net/open.m3u8", "device_limit": False},
        }
        common = {
            "PLAYBACK_PRIVATE_KEY": sec1_pem(self.key),
            "SESSION_SECRET": self.session_secret,
            "CHANNELS": json.dumps(channels),
            "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": self.aws_secret,
            "IVS_API_ENDPOINT": self.standin.base,
            "ADMIN_API_TOKEN": self.admin_token,
        }
        self.state = {name: tempfile.mkdtemp(prefix=f"ivs-devices-{name}-") for name in ("refuse", "evict")}
        self.refuse = Worker(
            {**common, "DEVICE_LIMITS": json.dumps({"default": 2, "groups": {"family": 3, "solo": 1}})},
            extra_args=["--persist-to", self.state["refuse"]],
        )
        self.idp_key = new_ec_key()
        providers = {"auth0": {"issuer": AUTH0_ISSUER, "audience": AUTH0_AUDIENCE,
                               "jwks": {"keys": [public_jwk(self.idp_key, "auth0-key", "ES256")]}}}
        self.evict = Worker(
            {**common, "DEVICE_LIMITS": json.dumps({"default": 2, "on_limit": "evict-oldest", "idle_seconds": 5}),
             "IDENTITY_PROVIDERS": json.dumps(providers)},
            extra_args=["--persist-to", self.state["evict"]],
        )

    def cookie(self, sub: str, **claims) -> str:
        return session_cookie(self.session_secret, sub=sub, **claims)

    def viewer_id(self, sub: str, issuer: str | None = None) -> str:
        return expected_viewer_id(self.key, sub, issuer)

    def auth0_bearer(self, sub: str) -> str:
        now = int(time.time())
        claims = {"iss": AUTH0_ISSUER, "aud": AUTH0_AUDIENCE, "sub": sub, "iat": now, "exp": now + 600}
        return "Bearer " + pyjwt.encode(claims, self.idp_key, algorithm="ES256", headers={"kid": "auth0-key"})


@pytest.fixture(scope="module")
def setup():
    s = Setup()
    start_all([s.refuse, s.evict])
    yield s
    s.refuse.stop()
    s.evict.stop()
    s.standin.stop()
    # No IVS call of the whole module was refused for its signature (botocore checked each).
    bad = [e for e in s.standin.api_log if e.get("status") == 403]
    assert not bad, bad


class Device:
    """One browser (its cookie jar: the session and the device cookie) or one app (X-Device-Id),
    signed in with the session cookie, or, with `bearer`, with an identity provider's token."""

    def __init__(self, setup: Setup, worker: Worker, sub: str, header_id: str | None = None,
                 bearer: str | None = None, **claims):
        self.setup, self.worker, self.session = setup, worker, setup.cookie(sub, **claims)
        self.device_cookie: str | None = None
        self.header_id = header_id
        self.bearer = bearer

    def headers(self) -> dict:
        if self.bearer:
            headers = {"Authorization": self.bearer}
            if self.device_cookie:
                headers["Cookie"] = self.device_cookie
        else:
            headers = {"Cookie": f"session={self.session}" + (f"; {self.device_cookie}" if self.device_cookie else "")}
        if self.header_id:
            headers["X-Device-Id"] = self.header_id
        return headers

    def _keep_cookie(self, response):
        set_cookie = response.headers.get("set-cookie")
        if set_cookie:
            assert set_cookie.startswith("ivs_device=") and "HttpOnly" in set_cookie and "Max-Age=34560000" in set_cookie
            self.device_cookie = set_cookie.split(";")[0]

    def token(self, channel: str = "demo", takeover: str | None = None):
        query = f"channel={channel}" + (f"&takeover={takeover}" if takeover else "")
        response = self.worker.get(f"/v1/token?{query}", headers=self.headers())
        self._keep_cookie(response)
        return response

    def watch(self, channel: str = "demo", takeover: bool = False):
        # The page takes over only through its button's POST (a GET with takeover=true takes nothing).
        response = self.worker.get(f"/watch/{channel}" + ("?takeover=true" if takeover else ""),
                                   method="POST" if takeover else "GET", headers=self.headers())
        self._keep_cookie(response)
        return response

    def heartbeat(self, channel: str = "demo", release: bool = False) -> int:
        query = f"channel={channel}" + ("&release=true" if release else "")
        return self.worker.get(f"/v1/heartbeat?{query}", method="POST", headers=self.headers()).status


def version_of(setup: Setup, response) -> int:
    assert response.status == 200, response.text
    _, claims = verify_playback_token(response.json()["token"], public_pem(setup.key))
    return claims["aws:viewer-session-version"]


def admin(setup: Setup, worker: Worker, method: str, path: str, body: dict | bytes | None = None, token: str | None = "ok"):
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {setup.admin_token if token == 'ok' else token}"
    data = body if isinstance(body, bytes) else (json.dumps(body).encode() if body is not None else None)
    return request(worker.url + path, method=method, headers=headers, data=data)


def revoked_ceiling(setup: Setup, arn: str, viewer_id: str) -> int | None:
    with setup.standin.lock:
        return setup.standin.revoked.get((arn, viewer_id))


def wait_for_revocation(setup: Setup, arn: str, viewer_id: str, at_least: int, timeout: float = 30) -> float:
    """Wait until the stand-in accepted a revocation of `viewer_id` on `arn` covering `at_least`;
    the stand-in's time of acceptance."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        ceiling = revoked_ceiling(setup, arn, viewer_id)
        if ceiling is not None and ceiling >= at_least:
            with setup.standin.lock:
                return next(r["time"] for r in setup.standin.revocations if r["viewerId"] == viewer_id and r["channelArn"] == arn and r["version"] >= at_least)
        time.sleep(0.2)
    raise AssertionError(f"no revocation of {viewer_id} on {arn} >= {at_least} within {timeout}s; IVS calls: {setup.standin.api_log[-5:]}")


def plays(setup: Setup, response) -> int:
    """The stand-in's answer to the playlist of an issued token (200 plays, 403 refused)."""
    return request(response.json()["playback_url"]).status


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


def log_events(worker: Worker, viewer_id: str, event: str) -> list[dict]:
    events = []
    for line in worker.output().splitlines():
        start = line.find('{"event":')
        if start < 0:
            continue
        try:
            data = json.loads(line[start:])
        except ValueError:
            continue
        if data.get("event") == event and data.get("viewer_id") == viewer_id:
            events.append(data)
    return events


def test_refuse_then_take_over_and_the_evicted_device_stops_at_ivs(setup):
    sub = unique("alice")
    viewer = setup.viewer_id(sub)
    tv, laptop, phone = (Device(setup, setup.refuse, sub) for _ in range(3))
    tv_token, laptop_token = tv.token(), laptop.token()
    tv_version, laptop_version = version_of(setup, tv_token), version_of(setup, laptop_token)
    assert laptop_version > tv_version
    assert plays(setup, tv_token) == 200

    refused = phone.token()
    assert refused.status == 403
    problem = refused.json()
    assert problem["type"] == "urn:ivs-token-worker:problem:device-limit"
    assert problem["detail"].startswith("2 of 2 devices are already watching")
    assert phone.device_cookie, "a refused browser keeps its device id for the takeover"

    taken = phone.token(takeover="true")
    assert version_of(setup, taken) > laptop_version
    assert tv.heartbeat() == 409
    assert laptop.heartbeat() == 204 and phone.heartbeat() == 204

    wait_for_revocation(setup, DEMO_ARN, viewer, tv_version)
    assert revoked_ceiling(setup, DEMO_ARN, viewer) < laptop_version, "exactly the oldest device is revoked"
    assert plays(setup, tv_token) == 403, "IVS refuses the evicted device"
    assert plays(setup, laptop_token) == 200 and plays(setup, taken) == 200
    assert len(log_events(setup.refuse, viewer, "device-evicted")) == 1
    assert len(log_events(setup.refuse, viewer, "device-refused")) == 1


def test_a_reload_or_renewal_is_the_same_device(setup):
    sub = unique("renewer")
    browser = Device(setup, setup.refuse, sub)
    first = browser.token()
    versions = {version_of(setup, browser.token()) for _ in range(4)}
    page = browser.watch()
    assert page.status == 200 and '"heartbeat":{"endpoint":"/v1/heartbeat?channel=demo"' in page.text
    assert versions == {version_of(setup, first)}
    # Another channel is the same device too: one slot.
    assert browser.token("second").status == 200
    listing = admin(setup, setup.refuse, "GET", f"/v1/admin/devices?sub={sub}")
    assert listing.status == 200, listing.text
    devices = listing.json()["devices"]
    assert len(devices) == 1 and sorted(devices[0]["channels"]) == ["demo", "second"]
    assert devices[0]["idle"] is False and devices[0]["last_seen"] >= devices[0]["admitted_at"]


def test_bad_device_ids_and_takeover_values_are_400_and_change_nothing(setup):
    sub = unique("bad-ids")
    for bad in ["short", "has space in it", "x" * 65, "semi;colon-device"]:
        app = Device(setup, setup.refuse, sub, header_id=bad)
        r = app.token()
        assert r.status == 400 and "X-Device-Id" in r.json()["detail"], bad
        assert "set-cookie" not in r.headers
    r = Device(setup, setup.refuse, sub).token(takeover="yes")
    assert r.status == 400 and r.json()["detail"] == "query parameter `takeover` must be true or false"
    listing = admin(setup, setup.refuse, "GET", f"/v1/admin/devices?sub={sub}").json()
    assert listing["devices"] == []
    # An app's own id is a device of its own, with no cookie.
    app = Device(setup, setup.refuse, sub, header_id="app-install-000001")
    r = app.token()
    assert r.status == 200 and "set-cookie" not in r.headers
    assert admin(setup, setup.refuse, "GET", f"/v1/admin/devices?sub={sub}").json()["devices"][0]["device"] == "app-install-000001"


def test_limits_per_group_and_channels_that_opt_out(setup):
    solo, family = unique("solo"), unique("family")
    assert Device(setup, setup.refuse, solo, groups=["solo"]).token().status == 200
    assert Device(setup, setup.refuse, solo, groups=["solo"]).token().status == 403
    statuses = [Device(setup, setup.refuse, family, groups=["family", "solo"]).token().status for _ in range(4)]
    assert statuses == [200, 200, 200, 403], "the highest limit of the viewer's groups"
    # `open` has device_limit = false: any number of devices, no device cookie.
    for _ in range(4):
        r = Device(setup, setup.refuse, solo, groups=["solo"]).token("open")
        assert r.status == 200 and "set-cookie" not in r.headers


def test_evict_oldest_and_an_idle_device_is_revoked_when_its_slot_is_given(setup):
    sub = unique("evicter")
    viewer = setup.viewer_id(sub)
    a, b, c = (Device(setup, setup.evict, sub) for _ in range(3))
    version_a, version_b = version_of(setup, a.token()), version_of(setup, b.token())
    # b goes quiet (its heartbeats blocked, say); a keeps beating past the 5-second idle time.
    for _ in range(4):
        time.sleep(2)
        assert a.heartbeat() == 204
    version_c = version_of(setup, c.token())  # evict-oldest: no refusal
    assert b.heartbeat() == 409 and a.heartbeat() == 204, "the idle device lost its slot, not the oldest"
    wait_for_revocation(setup, DEMO_ARN, viewer, version_b)
    evicted = log_events(setup.evict, viewer, "device-evicted")
    assert [e["reason"] for e in evicted] == ["idle"]
    # Then the oldest active one goes for the next device.
    d = Device(setup, setup.evict, sub)
    version_of(setup, d.token())
    assert a.heartbeat() == 409 and c.heartbeat() == 204
    wait_for_revocation(setup, DEMO_ARN, viewer, version_a)
    assert version_a < version_b < version_c


def test_heartbeat_contract_and_release(setup):
    sub = unique("beater")
    one, two, three = (Device(setup, setup.refuse, sub) for _ in range(3))
    assert one.heartbeat() == 409, "a browser without a device id holds nothing"
    one.token()
    two.token()
    assert one.heartbeat() == 204
    assert one.heartbeat(release=True) == 204
    # The released slot goes to the next device, and the released one is revoked like an idle one.
    assert three.token().status == 200
    assert one.heartbeat() == 409
    r = request(setup.refuse.url + "/v1/heartbeat?channel=demo&release=maybe", method="POST", headers=one.headers())
    assert r.status == 400
    assert request(setup.refuse.url + "/v1/heartbeat?channel=demo", headers=one.headers()).status == 405
    assert request(setup.refuse.url + "/v1/heartbeat?channel=demo", method="POST").status == 401
    assert two.heartbeat("open") == 204


def test_the_operator_revokes_and_blocks(setup):
    sub = unique("operator-target")
    viewer = setup.viewer_id(sub)
    tv = Device(setup, setup.refuse, sub)
    tv_token = tv.token()
    version = version_of(setup, tv_token)
    for token, status in [(None, 401), ("wrong-token-wrong-token-wrong-token", 401)]:
        r = admin(setup, setup.refuse, "POST", "/v1/admin/revoke", {"sub": sub}, token=token)
        assert r.status == status and r.headers.get("www-authenticate") == "Bearer"
    for body in [b"not json", {"sub": 5}, {"sub": sub, "channel": "open"}, {"sub": sub, "unknown": 1}, {"sub": sub, "block_seconds": 0}]:
        assert admin(setup, setup.refuse, "POST", "/v1/admin/revoke", body).status == 400, body
    assert tv.heartbeat() == 204, "nothing changed"

    r = admin(setup, setup.refuse, "POST", "/v1/admin/revoke", {"sub": sub, "block_seconds": 120})
    assert r.status == 202, r.text
    answer = r.json()
    assert answer["viewer_id"] == viewer and answer["channels"] == ["demo", "second"] and len(answer["devices"]) == 1
    assert sub not in r.text
    wait_for_revocation(setup, DEMO_ARN, viewer, version)
    wait_for_revocation(setup, SECOND_ARN, viewer, version)
    assert plays(setup, tv_token) == 403
    assert tv.heartbeat() == 409
    blocked = tv.token()
    assert blocked.status == 403 and blocked.json()["type"] == "urn:ivs-token-worker:problem:viewer-blocked"
    page = tv.watch()
    assert page.status == 403 and "Playback suspended" in page.text
    listing = admin(setup, setup.refuse, "GET", f"/v1/admin/devices?sub={sub}").json()
    assert listing["devices"] == [] and listing["blocked_until"] >= int(time.time()) + 100


def test_ivs_throttling_is_retried_and_never_keeps_the_viewer_waiting(setup):
    sub = unique("throttled")
    viewer = setup.viewer_id(sub)
    first = Device(setup, setup.refuse, sub, groups=["solo"])
    version = version_of(setup, first.token())
    setup.standin.control({"throttle": 2})
    answered = time.time()
    taken = Device(setup, setup.refuse, sub, groups=["solo"]).token(takeover="true")
    answered = time.time()
    assert taken.status == 200
    assert revoked_ceiling(setup, DEMO_ARN, viewer) is None, "the answer did not wait for IVS"
    accepted_at = wait_for_revocation(setup, DEMO_ARN, viewer, version, timeout=40)
    assert accepted_at > answered
    retries = log_events(setup.refuse, viewer, "revocation-retry")
    # Two throttled answers: this viewer's call got at least one of them (another viewer's queued
    # call may have drawn the other), and every retry says why.
    assert 1 <= len(retries) <= 2 and all("429" in r["reason"] for r in retries), retries
    assert len(log_events(setup.refuse, viewer, "revocation-accepted")) == 1


def test_twelve_concurrent_takeovers_end_with_one_holder_and_eleven_revocations(setup):
    sub = unique("crowd")
    viewer = setup.viewer_id(sub)
    devices = [Device(setup, setup.refuse, sub, groups=["solo"], header_id=f"crowd-device-{i:02d}") for i in range(12)]
    results: dict[int, object] = {}
    barrier = threading.Barrier(12)

    def take(i: int):
        barrier.wait()
        results[i] = devices[i].token(takeover="true")

    threads = [threading.Thread(target=take, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    versions = {i: version_of(setup, r) for i, r in results.items()}
    assert len(set(versions.values())) == 12, "every admission got its own version"
    holders = [i for i, d in enumerate(devices) if d.heartbeat() == 204]
    assert len(holders) == 1
    assert versions[holders[0]] == max(versions.values()), "the last admitted holds the slot"
    evicted = log_events(setup.refuse, viewer, "device-evicted")
    assert len(evicted) == 11 and len({e["device"] for e in evicted}) == 11
    second_highest = sorted(versions.values())[-2]
    wait_for_revocation(setup, DEMO_ARN, viewer, second_highest)
    assert revoked_ceiling(setup, DEMO_ARN, viewer) < versions[holders[0]]


def test_ivs_down_and_the_object_restarted_lose_nothing(setup):
    sub = unique("outage")
    viewer = setup.viewer_id(sub)
    first = Device(setup, setup.refuse, sub, groups=["solo"])
    version = version_of(setup, first.token())
    port = setup.standin.server.server_address[1]
    setup.standin.stop()  # IVS down: connection refused
    try:
        assert Device(setup, setup.refuse, sub, groups=["solo"]).token(takeover="true").status == 200
        time.sleep(3)  # the first attempt fails meanwhile
        # The object (and the whole runtime) restarts; its log so far is kept (and scanned).
        kept, _ = setup.refuse.restart(1)
        setup.refuse.wait_ready()
        failed = [json.loads(line[line.find('{"event":'):]) for line in kept.read_text().splitlines()
                  if '"revocation-retry"' in line and viewer in line]
        assert failed and all("network" in f["reason"] for f in failed), failed
    finally:
        old = setup.standin
        setup.standin = StandIn(old.public_key_pem, DEMO_ARN, port=port, credentials=old.credentials).start()
        setup.standin.api_log = old.api_log  # the module's signature check covers both
    # The queued revocation survives in the object's storage, and so does its alarm: it is sent
    # once IVS is back, with no request to the object meanwhile.
    deadline = time.time() + 60
    while revoked_ceiling(setup, DEMO_ARN, viewer) is None and time.time() < deadline:
        time.sleep(1)
    assert (revoked_ceiling(setup, DEMO_ARN, viewer) or -1) >= version, setup.standin.api_log[-5:]


def test_secrets_and_subjects_stay_out_of_logs(setup):
    logs = setup.refuse.output() + setup.evict.output()
    for secret in (setup.admin_token, setup.aws_secret):
        assert secret not in logs
    # Subjects never appear in the device ledgers' log lines.
    assert not re.search(r'"event":"[a-z-]+","viewer_id":"[^"]*(alice|crowd|operator-target)', logs)


# `ivs-token admin` (the CLI side of the operator API) against the same workers.


def cli_admin(*args: str, token: str | None, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run `ivs-token admin ARGS` with ADMIN_API_TOKEN = `token` (unset when None)."""
    full_env = {k: v for k, v in os.environ.items() if k != "ADMIN_API_TOKEN" and not k.lower().endswith("_proxy")}
    if token is not None:
        full_env["ADMIN_API_TOKEN"] = token
    full_env.update(env or {})
    return subprocess.run([str(CLI), "admin", *args], capture_output=True, text=True, env=full_env, timeout=60)


def test_cli_admin_devices_lists_a_device_after_a_token_request(setup, tmp_path):
    # Characters the query string must carry percent-encoded.
    sub = unique("cli lister") + " +&=/?#\u00e9"
    app = Device(setup, setup.refuse, sub, header_id="cli-app-install-01")
    assert app.token().status == 200
    p = cli_admin("devices", "--url", setup.refuse.url, "--sub", sub, token=setup.admin_token)
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("{\n  "), "pretty-printed JSON"
    listing = json.loads(p.stdout)
    assert listing["viewer_id"] == setup.viewer_id(sub)
    assert listing["provider"] == "session_cookie", "no identity providers: a bare subject is the session cookie's viewer"
    assert [(d["device"], d["channels"], d["idle"]) for d in listing["devices"]] == [("cli-app-install-01", ["demo"], False)]
    assert listing["blocked_until"] is None
    # The token from a file (its trailing newline trimmed) does the same; no variable needed.
    token_file = tmp_path / "admin-token"
    token_file.write_text(setup.admin_token + "\n")
    p = cli_admin("devices", "--url", setup.refuse.url, "--sub", sub, "--token-file", str(token_file), token=None)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout) == listing
    assert setup.admin_token not in p.stdout + p.stderr


def test_cli_admin_revoke_blocks_and_the_revocation_reaches_ivs(setup):
    sub = unique("cli-revoked")
    viewer = setup.viewer_id(sub)
    tv = Device(setup, setup.refuse, sub)
    tv_token = tv.token()
    version = version_of(setup, tv_token)
    p = cli_admin("revoke", "--url", setup.refuse.url, "--sub", sub, "--channel", "demo", "--block-seconds", "120", token=setup.admin_token)
    assert p.returncode == 0, p.stderr
    answer = json.loads(p.stdout)
    assert answer["viewer_id"] == viewer and answer["channels"] == ["demo"] and len(answer["devices"]) == 1
    assert answer["version"] >= version and answer["blocked_until"] >= int(time.time()) + 100
    assert setup.admin_token not in p.stdout + p.stderr
    wait_for_revocation(setup, DEMO_ARN, viewer, version)
    assert plays(setup, tv_token) == 403
    blocked = tv.token()
    assert blocked.status == 403 and blocked.json()["type"] == "urn:ivs-token-worker:problem:viewer-blocked"
    listing = json.loads(cli_admin("devices", "--url", setup.refuse.url, "--sub", sub, token=setup.admin_token).stdout)
    assert listing["devices"] == []
    assert tv.token("second").status == 200, "--channel demo: the other channels are neither revoked nor blocked"


def test_the_operator_lifts_a_block_and_the_viewer_watches_again(setup):
    # Issue 24: a block (by mistake, during a show) can be undone, over HTTP and from the CLI.
    sub = unique("unblocked")
    tv = Device(setup, setup.refuse, sub)
    version = version_of(setup, tv.token())
    r = admin(setup, setup.refuse, "POST", "/v1/admin/revoke", {"sub": sub, "block_seconds": 600})
    assert r.status == 202, r.text
    wait_for_revocation(setup, DEMO_ARN, setup.viewer_id(sub), version)
    assert tv.token().status == 403
    for token, body, status in [(None, {"sub": sub}, 401), ("ok", {"sub": sub, "channel": "nope"}, 404),
                                ("ok", {"sub": sub, "block_seconds": 1}, 400)]:
        assert admin(setup, setup.refuse, "POST", "/v1/admin/unblock", body, token=token).status == status, body
    assert tv.token().status == 403, "refused calls lift nothing"
    p = cli_admin("unblock", "--url", setup.refuse.url, "--sub", sub, token=setup.admin_token)
    assert p.returncode == 0, p.stderr
    answer = json.loads(p.stdout)
    assert answer == {"viewer_id": setup.viewer_id(sub), "lifted": True, "blocked_until": None, "blocked_channels": {}}
    assert setup.admin_token not in p.stdout + p.stderr
    again = tv.token()
    assert again.status == 200, again.text
    assert version_of(setup, again) > version, "a fresh version, above the ceiling IVS revoked"
    assert plays(setup, again) == 200
    # One channel's block is lifted alone.
    assert admin(setup, setup.refuse, "POST", "/v1/admin/revoke", {"sub": sub, "channel": "demo", "block_seconds": 600}).status == 202
    assert tv.token().status == 403
    r = admin(setup, setup.refuse, "POST", "/v1/admin/unblock", {"sub": sub, "channel": "demo"})
    assert r.status == 200 and r.json()["lifted"] is True, r.text
    assert tv.token().status == 200


def test_cli_admin_with_a_wrong_token_says_401_and_never_prints_a_token(setup):
    sub = unique("cli-wrong-token")
    tv = Device(setup, setup.refuse, sub)
    assert tv.token().status == 200
    wrong = secrets.token_urlsafe(40)
    for command in (["devices"], ["revoke", "--block-seconds", "60"]):
        p = cli_admin(*command, "--url", setup.refuse.url, "--sub", sub, token=wrong)
        assert p.returncode == 4, (command, p.returncode, p.stderr)
        assert p.stdout == ""
        assert "401 Not authorized: this path needs `Authorization: Bearer <ADMIN_API_TOKEN>`" in p.stderr, p.stderr
        assert wrong not in p.stderr and setup.admin_token not in p.stderr
    assert tv.heartbeat() == 204 and tv.token().status == 200, "nothing was revoked or blocked"
    # Refused here, before any request: no token at all, or one the worker could never hold.
    for token, says in [(None, "set ADMIN_API_TOKEN or pass --token-file"), ("short-token", "at least 32 random bytes")]:
        p = cli_admin("devices", "--url", setup.refuse.url, "--sub", sub, token=token)
        assert p.returncode == 3 and says in p.stderr and "short-token" not in p.stderr, p.stderr


def test_cli_admin_refuses_plain_http_to_another_host_before_any_request(setup):
    # Every request the CLI makes goes through this "proxy" (ALL_PROXY), which counts and hangs up.
    listener = socket.create_server(("127.0.0.1", 0))
    proxy = {"ALL_PROXY": f"http://127.0.0.1:{listener.getsockname()[1]}"}
    connections = []

    def serve():
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            connections.append(time.time())
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    try:
        for args in (["devices"], ["revoke", "--block-seconds", "60"]):
            p = cli_admin(*args, "--url", "http://example.com", "--sub", "alice", token=setup.admin_token, env=proxy)
            assert p.returncode == 3, p.stderr
            assert "--url: `http://example.com` must start with https://" in p.stderr
            assert "must not travel in the clear" in p.stderr
            assert setup.admin_token not in p.stdout + p.stderr
        assert connections == [], "no request left the CLI"
        # The control: an https URL does go out (to the proxy, which hangs up).
        p = cli_admin("devices", "--url", "https://example.com", "--sub", "alice", token=setup.admin_token, env=proxy)
        assert p.returncode == 5 and "no answer" in p.stderr, p.stderr
        assert len(connections) == 1
    finally:
        listener.close()


# Issue 24: on a worker with identity providers an operator names the provider, and the call
# reaches exactly the viewer who signed in there; a call that names no source is refused.


def test_a_revoke_by_provider_name_kicks_the_viewer_who_signed_in_there(setup):
    sub = unique("auth0|user")
    viewer = setup.viewer_id(sub, AUTH0_ISSUER)
    tv = Device(setup, setup.evict, sub, header_id="auth0-tv-device-01", bearer=setup.auth0_bearer(sub))
    tv_token = tv.token()
    version = version_of(setup, tv_token)
    _, claims = verify_playback_token(tv_token.json()["token"], public_pem(setup.key))
    assert claims["aws:viewer-id"] == viewer, "the token route derives the viewer id from the provider's issuer"
    # The same subject from the app's own session cookie is another viewer, with a device of its own.
    cookie_tv = Device(setup, setup.evict, sub)
    cookie_version = version_of(setup, cookie_tv.token())

    # Calls that would miss are refused, and change nothing.
    for path in ("/v1/admin/revoke", "/v1/admin/unblock", "/v1/admin/devices"):
        for body, says in [
            ({"sub": sub}, "name the viewer's provider (`provider`: one of auth0) or, for a viewer signed in with the app's own session cookie, say so with `\"session_cookie\": true`"),
            ({"sub": sub, "provider": "okta"}, "no identity provider is named `okta`; name one of auth0"),
            ({"sub": sub, "provider": "auth0", "issuer": AUTH0_ISSUER.rstrip("/")},
             f"`provider` and `issuer` disagree: provider `auth0` has the issuer `{AUTH0_ISSUER}`"),
            ({"sub": sub, "provider": "auth0", "session_cookie": True}, "`session_cookie`: true says"),
        ]:
            r = admin(setup, setup.evict, "POST", path, body)
            assert r.status == 400 and says in r.json()["detail"], (path, body, r.text)
            assert sub not in r.text, "never quotes the subject"
    assert admin(setup, setup.evict, "GET", f"/v1/admin/devices?sub={sub}").status == 400
    assert tv.heartbeat() == 204 and cookie_tv.heartbeat() == 204, "nothing was revoked"

    # The listing says whose devices they are, by the provider's name or exactly its issuer.
    listing = admin(setup, setup.evict, "POST", "/v1/admin/devices", {"sub": sub, "provider": "auth0"}).json()
    assert (listing["viewer_id"], listing["provider"]) == (viewer, "auth0")
    assert [d["device"] for d in listing["devices"]] == ["auth0-tv-device-01"]
    assert admin(setup, setup.evict, "POST", "/v1/admin/devices", {"sub": sub, "issuer": AUTH0_ISSUER}).json() == listing
    cookies = admin(setup, setup.evict, "POST", "/v1/admin/devices", {"sub": sub, "session_cookie": True}).json()
    assert (cookies["viewer_id"], cookies["provider"]) == (setup.viewer_id(sub), "session_cookie")
    assert len(cookies["devices"]) == 1

    # Revoked by the provider's name: the device that signed in at auth0 stops, at IVS too.
    r = admin(setup, setup.evict, "POST", "/v1/admin/revoke", {"sub": sub, "provider": "auth0", "channel": "demo"})
    assert r.status == 202, r.text
    assert r.json()["viewer_id"] == viewer and r.json()["devices"] == ["auth0-tv-device-01"]
    wait_for_revocation(setup, DEMO_ARN, viewer, version)
    assert plays(setup, tv_token) == 403
    assert tv.heartbeat() == 409
    assert cookie_tv.heartbeat() == 204, "the cookie's viewer of the same subject is someone else"
    assert revoked_ceiling(setup, DEMO_ARN, setup.viewer_id(sub)) is None
    assert cookie_version > 0


def test_cli_admin_names_the_provider_or_the_session_cookie(setup):
    sub = unique("auth0|cli")
    viewer = setup.viewer_id(sub, AUTH0_ISSUER)
    tv = Device(setup, setup.evict, sub, header_id="auth0-cli-device-1", bearer=setup.auth0_bearer(sub))
    version = version_of(setup, tv.token())
    # --sub alone on a worker with identity providers: refused by the worker, which says what to add.
    p = cli_admin("revoke", "--url", setup.evict.url, "--sub", sub, token=setup.admin_token)
    assert p.returncode == 4 and p.stdout == "", p.stderr
    assert "400 Bad request: `sub` alone does not say which viewer" in p.stderr and "`provider`: one of auth0" in p.stderr, p.stderr
    assert sub not in p.stderr
    p = cli_admin("devices", "--url", setup.evict.url, "--sub", sub, "--provider", "auth0", token=setup.admin_token)
    assert p.returncode == 0, p.stderr
    listing = json.loads(p.stdout)
    assert (listing["viewer_id"], listing["provider"], [d["device"] for d in listing["devices"]]) == (viewer, "auth0", ["auth0-cli-device-1"])
    p = cli_admin("revoke", "--url", setup.evict.url, "--sub", sub, "--provider", "auth0", "--block-seconds", "120",
                  token=setup.admin_token)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["viewer_id"] == viewer
    wait_for_revocation(setup, DEMO_ARN, viewer, version)
    assert tv.token().json()["type"] == "urn:ivs-token-worker:problem:viewer-blocked"
    p = cli_admin("unblock", "--url", setup.evict.url, "--sub", sub, "--provider", "auth0", token=setup.admin_token)
    assert p.returncode == 0 and json.loads(p.stdout)["lifted"] is True, p.stderr
    assert tv.token().status == 200
    # --session-cookie names the cookie's viewer of the subject; with --provider it is a usage error.
    p = cli_admin("devices", "--url", setup.evict.url, "--sub", sub, "--session-cookie", token=setup.admin_token)
    assert p.returncode == 0, p.stderr
    assert (json.loads(p.stdout)["viewer_id"], json.loads(p.stdout)["provider"]) == (setup.viewer_id(sub), "session_cookie")
    p = cli_admin("devices", "--url", setup.evict.url, "--sub", sub, "--session-cookie", "--provider", "auth0",
                  token=setup.admin_token)
    assert p.returncode == 2 and "cannot be used with" in p.stderr, p.stderr
    p = cli_admin("devices", "--url", setup.evict.url, "--sub", sub, "--provider", "okta", token=setup.admin_token)
    assert p.returncode == 4 and "no identity provider is named `okta`; name one of auth0" in p.stderr, p.stderr
