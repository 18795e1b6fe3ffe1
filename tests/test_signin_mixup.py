"""The OpenID Connect mix-up attack (RFC 9700 section 4.4) on sign-in at the edge, end to end against
`wrangler dev`: one worker with two providers offering sign-in, one honest (the REAL `oidc-provider`,
tests/oidc/provider.mjs, which checks its client's registered redirect URIs and sends RFC 9207's
`iss` in its authorization responses) and one hostile (`HostileProvider` below: a discovery
document, an authorization endpoint that relays the viewer, a token endpoint that keeps every code
it is sent).

The attack:
1. the attacker opens `/login?provider=honest` themself and keeps their state cookie A and the
   authorization URL (their `state`, `nonce`, `code_challenge` and `redirect_uri` for honest);
2. the victim's browser is sent to `/login?provider=hostile`: the worker sets its state cookie V
   (provider hostile) and sends it to the hostile authorization endpoint with the victim's `state`;
3. the hostile authorization endpoint relays the victim to honest: the attacker's URL from step 1
   with the victim's `state` (and, in two variants, another `redirect_uri`);
4. honest signs the victim in and sends the browser to the worker's callback with a code C. A worker
   that takes the provider from the state cookie alone exchanges C at HOSTILE's token endpoint (V
   says hostile): the hostile side learns C;
5. the attacker redeems C through their own state cookie A: a session as the victim.

The defence (docs/identity-providers.md): each provider's own redirect URI `/callback/NAME`, checked
against the provider of the state cookie (403, no exchange), and the `iss` parameter checked against
that provider's issuer (required where its discovery document promises it). Also here: the checks
one by one with crafted callbacks, and a normal sign-in at honest that still works.
"""

from __future__ import annotations

import json
import secrets
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler

import jwt
import pytest
import secret_scan
from harness import ARN_PREFIX, Worker, new_p384_key, sec1_pem, start_all
from identity_standins import JwksServer, OidcProvider, _Server
from signin_standins import Viewer

HOSTILE_CLIENT = "worker-at-hostile"


class HostileProvider:
    """A provider the worker is configured with, in the attacker's hands, on loopback: a discovery
    document (with `authorization_response_iss_parameter_supported`: what it claims costs it
    nothing), a JWKS, an authorization endpoint that sends the browser wherever `relay` says (given
    the authorization request's query), and a token endpoint that records every code it receives
    (the attacker's harvest) and answers `invalid_grant`. It never reads the browser's cookies."""

    def __init__(self):
        self.keys = JwksServer()
        self.keys.add_key("RS256")
        self.relay = None  # query dict -> the Location the browser is sent to
        self.authorize_requests: list[dict] = []
        self.token_requests: list[dict] = []  # the forms POSTed to the token endpoint
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _send(self, status, body=b"", headers=None):
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _json(self, status, doc):
                self._send(status, json.dumps(doc).encode(), {"content-type": "application/json"})

            def do_GET(self):
                url = urllib.parse.urlparse(self.path)
                if url.path == "/.well-known/openid-configuration":
                    return self._json(200, outer.discovery())
                if url.path == "/jwks":
                    return self._json(200, outer.keys.document())
                if url.path == "/authorize":
                    q = {k: v[0] for k, v in urllib.parse.parse_qs(url.query).items()}
                    with outer.lock:
                        outer.authorize_requests.append(q)
                        relay = outer.relay
                    if relay is None:
                        return self._send(400, b"no relay set")
                    return self._send(302, headers={"location": relay(q)})
                self._send(404)

            def do_POST(self):
                if urllib.parse.urlparse(self.path).path != "/token":
                    return self._send(404)
                body = self.rfile.read(int(self.headers.get("content-length", 0))).decode()
                form = {k: v[0] for k, v in urllib.parse.parse_qs(body).items()}
                with outer.lock:
                    outer.token_requests.append(form)
                self._json(400, {"error": "invalid_grant"})

            def log_message(self, *args):
                pass

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.issuer = self.url
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def discovery(self) -> dict:
        return {
            "issuer": self.issuer, "authorization_endpoint": self.url + "/authorize",
            "token_endpoint": self.url + "/token", "jwks_uri": self.url + "/jwks",
            "response_types_supported": ["code"], "code_challenge_methods_supported": ["S256"],
            "authorization_response_iss_parameter_supported": True,
        }

    def codes(self) -> list[str]:
        with self.lock:
            return [f.get("code", "") for f in self.token_requests]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class Setup:
    def __init__(self):
        self.secret = secrets.token_urlsafe(48)
        self.worker = Worker({})
        w = self.worker.url
        # Honest's client registration: the worker's callback for honest, and the bare /callback an
        # operator registered before redirect URIs became per provider (kept through a migration):
        # the attack runs the same against a worker of before, and the bare path must lead nowhere
        # now. Never /callback/hostile: that is how honest refuses to send its codes there.
        self.honest = OidcProvider().start(redirect_uris=[w + "/callback/honest", w + "/callback"],
                                           logout_uris=[w + "/logout"])
        self.hostile = HostileProvider()
        client_id, client_secret = self.honest.info["clients"]["RS256"]
        self.client_id = client_id
        channels = {"demo": {"arn": ARN_PREFIX + "demo", "playback_url": "https://play.example.net/demo.m3u8"}}
        self.worker.settings = {
            "PLAYBACK_PRIVATE_KEY": sec1_pem(new_p384_key()),
            "SESSION_SECRET": self.secret,
            "CHANNELS": json.dumps(channels),
            "ALLOWED_ORIGINS": w,
            "HONEST_CLIENT_SECRET": client_secret,
            "IDENTITY_PROVIDERS": json.dumps({
                # Both from their discovery documents; honest a confidential client, hostile a public one.
                "honest": {"issuer": self.honest.issuer, "audience": client_id, "jwks_url": self.honest.jwks_url,
                           "login": {"client_id": client_id, "client_secret": "HONEST_CLIENT_SECRET",
                                     "scopes": "openid groups"}},
                "hostile": {"issuer": self.hostile.issuer, "audience": HOSTILE_CLIENT,
                            "jwks_url": self.hostile.url + "/jwks", "login": {"client_id": HOSTILE_CLIENT}},
            }),
        }

    def honest_token_requests(self) -> int:
        return self.honest.stats()["token_requests"]

    def stop(self):
        self.worker.stop()
        self.honest.stop()
        self.hostile.stop()


@pytest.fixture(scope="module")
def setup():
    s = Setup()
    try:
        start_all([s.worker])
        yield s
    finally:
        s.stop()


def query_of(url: str) -> dict:
    return {k: v[0] for k, v in urllib.parse.parse_qs(urllib.parse.urlparse(url).query).items()}


def with_params(url: str, **params) -> str:
    """`url` with these query parameters replaced (the others kept, in order)."""
    parts = urllib.parse.urlparse(url)
    query = [(k, params.get(k, v)) for k, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)]
    return parts._replace(query=urllib.parse.urlencode(query)).geturl()


def follow(viewer: Viewer, url: str, login: str) -> tuple[str, object]:
    """A browser following redirects from `url` (through the worker's /login, the hostile relay and
    honest's login and consent forms, filled as `login`) until it is sent to a worker callback path:
    ("callback", that URL, not opened), or until a page that is neither a redirect nor one of
    honest's forms: ("stopped", (url, response))."""
    form = None
    for _ in range(16):
        r = viewer.get(url, form)
        form = None
        if r.status in (302, 303):
            url = viewer.location(r, url)
            if url.startswith(viewer.worker_url + "/callback"):
                return "callback", url
            continue
        body = r.text if r.status == 200 else ""
        if 'name="prompt" value="login"' in body:
            form = {"prompt": "login", "login": login, "password": "any"}
        elif 'name="prompt" value="consent"' in body:
            form = {"prompt": "consent"}
        else:
            return "stopped", (url, r)
        url = urllib.parse.urljoin(url, body.split('action="', 1)[1].split('"', 1)[0].replace("&amp;", "&"))
    raise AssertionError(f"no end after 16 steps; history: {viewer.history[-16:]}")


def session_claims(viewer: Viewer, secret: str) -> dict | None:
    value = viewer.cookie("session")
    if not value:
        return None
    secret_scan.register("secret", value)
    return jwt.decode(value, secret, algorithms=["HS256"])


def assert_page(response, status, text):
    assert response.status == status, (response.status, response.text[:800])
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "location" not in response.headers, "an error is a page, never another redirect"
    assert text in response.text, response.text[:800]


def relay_attack(setup: Setup, redirect_uri: str | None, potency: bool = False) -> dict:
    """Steps 1 to 5 once, with fresh attacker and victim browsers. `redirect_uri`: what the hostile
    relay puts in the authorization request (None: the attacker's own, as the worker wrote it).
    `potency`: afterwards, check that the victim's code would have served the attacker (see below).
    Returns what happened at each step, for the assertions."""
    worker = setup.worker.url
    # 1. The attacker starts a sign-in at honest and keeps its cookie and authorization URL.
    attacker = Viewer(worker)
    started = attacker.get("/login?provider=honest&return_to=%2Fwatch%2Fdemo")
    assert started.status == 302, (started.status, started.text[:500])
    attackers_url = started.headers["location"]
    assert attackers_url.startswith(setup.honest.issuer + "/auth?"), attackers_url
    attackers = query_of(attackers_url)
    assert attacker.cookie("ivs-signin"), "the attacker holds state cookie A"

    # 2.-3. The victim is sent to sign in at hostile, which relays the browser to honest with the
    # attacker's request and the victim's `state`.
    def relay(q: dict) -> str:
        replaced = {"state": q["state"]}
        if redirect_uri is not None:
            replaced["redirect_uri"] = redirect_uri
        return with_params(attackers_url, **replaced)

    setup.hostile.relay = relay
    victim = Viewer(worker)
    hostile_posts, honest_posts = len(setup.hostile.token_requests), setup.honest_token_requests()
    outcome, where = follow(victim, worker + "/login?provider=hostile&return_to=%2Fwatch%2Fdemo", "victim")
    assert setup.hostile.authorize_requests, "the victim's browser went through the hostile relay"
    victims_state = setup.hostile.authorize_requests[-1]["state"]
    result = {"redirect_uri": redirect_uri or attackers["redirect_uri"], "reached": outcome,
              "victim_status": None, "victim_session": None, "attacker_sessions": []}

    # 4. Honest's answer (a code and the victim's state, or its refusal), opened in the victim's browser.
    if outcome == "callback":
        callback = where
        back = query_of(callback)
        assert back.get("state") == victims_state, callback
        secret_scan.register("secret", back.get("code", ""))
        answer = victim.get(callback)
        result.update(callback=callback.split("?")[0], iss=back.get("iss"), victim_response=answer,
                      victim_status=answer.status, victim_session=session_claims(victim, setup.secret))
    else:
        url, answer = where
        result.update(stopped_at=url.split("?")[0], stopped_status=answer.status, stopped_body=answer.text[:300])
    result["honest_exchanges"] = setup.honest_token_requests() - honest_posts
    leaked = setup.hostile.codes()[hostile_posts:]
    result["leaked_codes"] = leaked

    # 5. The attacker tries every code the hostile side saw at their own callback with cookie A.
    for code in leaked:
        secret_scan.register("secret", code)
        theirs = attackers["redirect_uri"] + "?" + urllib.parse.urlencode(
            {"code": code, "state": attackers["state"], "iss": setup.honest.issuer})
        r = attacker.get(theirs)
        claims = session_claims(attacker, setup.secret)
        result["attacker_sessions"].append((r.status, claims and claims.get("sub"), claims and claims.get("idp")))
    result["attacker_session"] = session_claims(attacker, setup.secret)

    # The relay is a real attack, not one that fails for another reason: the code honest gave the
    # victim's browser (which the test sees, the attacker should not), redeemed with cookie A at the
    # attacker's callback, is a session as the victim. So the leak is what must not happen.
    if potency and outcome == "callback" and not leaked:
        code = query_of(where)["code"]
        theirs = attackers["redirect_uri"] + "?" + urllib.parse.urlencode(
            {"code": code, "state": attackers["state"], "iss": setup.honest.issuer})
        r = attacker.get(theirs)
        claims = session_claims(attacker, setup.secret)
        result["potency"] = (r.status, claims and claims.get("sub"), claims and claims.get("idp"))
        attacker.drop_cookie("session")
    return result


def show(name: str, result: dict):
    shown = {k: v for k, v in result.items() if k not in ("victim_response",)}
    shown["leaked_codes"] = [c[:6] + "…" for c in result["leaked_codes"]]
    print(f"\n[mix-up {name}] {json.dumps(shown, default=str)}")


def test_the_mix_up_relay_leaks_no_code_and_gives_no_session(setup):
    worker = setup.worker.url
    routes = {
        # The attacker's request as the worker wrote it: honest answers at honest's callback.
        "as-sent": None,
        # The bare /callback, still registered at honest: a worker path that no longer exists.
        "bare-callback": worker + "/callback",
        # Hostile's own callback: honest must refuse it, it is not registered for the client.
        "hostile-callback": worker + "/callback/hostile",
    }
    results = {}
    for name, redirect_uri in routes.items():
        results[name] = relay_attack(setup, redirect_uri, potency=name == "as-sent")
        show(name, results[name])

    # What the attack is after, on every route: the code at hostile's token endpoint, a session as
    # the victim for the attacker. Neither.
    for name, r in results.items():
        assert r["leaked_codes"] == [], f"{name}: the hostile token endpoint received {len(r['leaked_codes'])} code(s)"
    for name, r in results.items():
        assert r["attacker_sessions"] == [] and r["attacker_session"] is None, (name, r["attacker_sessions"])
        assert r["victim_session"] is None, (name, r["victim_session"])

    # Route by route: where the victim's browser ended, and that no code was exchanged anywhere.
    as_sent = results["as-sent"]
    assert as_sent["redirect_uri"] == worker + "/callback/honest", "the attacker's request names honest's callback"
    assert as_sent["reached"] == "callback" and as_sent["callback"] == worker + "/callback/honest", as_sent
    assert as_sent["iss"] == setup.honest.issuer, "honest sends RFC 9207's `iss`"
    assert_page(as_sent["victim_response"], 403, "different identity provider")
    assert as_sent["honest_exchanges"] == 0, "no code exchange at honest either"
    assert as_sent["potency"] == (302, "victim", "honest"), (
        "the relay is a real attack: had the code leaked, cookie A would have made it a session as the victim",
        as_sent["potency"])

    bare = results["bare-callback"]
    assert bare["reached"] == "callback" and bare["callback"] == worker + "/callback", bare
    assert bare["victim_status"] == 404, bare
    assert bare["honest_exchanges"] == 0

    refused = results["hostile-callback"]
    assert refused["reached"] == "stopped" and refused["stopped_at"].startswith(setup.honest.issuer), refused
    assert refused["stopped_status"] == 400 and "redirect_uri" in refused["stopped_body"], refused
    assert refused["honest_exchanges"] == 0


def callback_with(setup: Setup, provider: str, path: str, **params) -> tuple[Viewer, object]:
    """A sign-in started at `provider` in a fresh browser, answered at `path` with `params` (plus
    this browser's own `state`) as if the provider had sent the browser there."""
    viewer = Viewer(setup.worker.url)
    started = viewer.get(f"/login?provider={provider}&return_to=%2Fwatch%2Fdemo")
    assert started.status == 302, (started.status, started.text[:500])
    state = query_of(started.headers["location"])["state"]
    query = urllib.parse.urlencode({"code": "code-" + secrets.token_urlsafe(24), "state": state, **params})
    return viewer, viewer.get(f"{path}?{query}")


def test_each_check_alone_refuses_before_any_code_exchange(setup):
    hostile_posts, honest_posts = len(setup.hostile.token_requests), setup.honest_token_requests()
    honest_iss, hostile_iss = setup.honest.issuer, setup.hostile.issuer
    cases = [
        # A sign-in started at hostile, answered at honest's callback (the relay, by any provider).
        ("hostile", "/callback/honest", {"iss": honest_iss}, 403, "different identity provider"),
        ("hostile", "/callback/honest", {}, 403, "different identity provider"),
        # ... and the other way round.
        ("honest", "/callback/hostile", {"iss": honest_iss}, 403, "different identity provider"),
        # The callback path matches, but `iss` names the other issuer: honest's code at hostile's
        # callback (had honest registered it), or hostile's answer at honest's.
        ("hostile", "/callback/hostile", {"iss": honest_iss}, 403, "`iss`"),
        ("honest", "/callback/honest", {"iss": hostile_iss}, 403, "`iss`"),
        # No `iss` from a provider whose discovery document promises it.
        ("honest", "/callback/honest", {}, 403, "`iss`"),
        ("hostile", "/callback/hostile", {}, 403, "`iss`"),
        # An issuer that differs by a trailing slash is another issuer.
        ("honest", "/callback/honest", {"iss": honest_iss + "/"}, 403, "`iss`"),
    ]
    for provider, path, params, status, text in cases:
        viewer, r = callback_with(setup, provider, path, **params)
        assert_page(r, status, text)
        assert viewer.cookie("session") is None
        assert viewer.cookie("ivs-signin") is None, "the single-use state cookie is cleared"
    # The bare /callback is gone, whatever the cookie.
    for provider in ("honest", "hostile"):
        viewer, r = callback_with(setup, provider, "/callback", iss=setup.honest.issuer)
        assert r.status == 404, (r.status, r.text[:300])
        assert viewer.cookie("session") is None
    # A callback path of no provider.
    viewer, r = callback_with(setup, "honest", "/callback/nobody", iss=honest_iss)
    assert r.status in (403, 404), (r.status, r.text[:300])
    assert viewer.cookie("session") is None
    assert len(setup.hostile.token_requests) == hostile_posts, "no code reached hostile's token endpoint"
    assert setup.honest_token_requests() == honest_posts, "nor honest's"


def test_a_normal_sign_in_at_honest_still_works(setup):
    worker = setup.worker.url
    viewer = Viewer(worker)
    hostile_posts, honest_posts = len(setup.hostile.token_requests), setup.honest_token_requests()
    started = viewer.get("/login?provider=honest&return_to=%2Fwatch%2Fdemo")
    assert started.status == 302
    assert query_of(started.headers["location"])["redirect_uri"] == worker + "/callback/honest"
    outcome, callback = follow(viewer, started.headers["location"], "victim")
    assert outcome == "callback" and callback.startswith(worker + "/callback/honest?"), (outcome, callback)
    assert query_of(callback).get("iss") == setup.honest.issuer
    secret_scan.register("secret", query_of(callback)["code"])
    done = viewer.get(callback)
    assert (done.status, done.headers.get("location")) == (302, "/watch/demo"), (done.status, done.text[:500])
    claims = session_claims(viewer, setup.secret)
    assert claims and (claims["sub"], claims["idp"], claims["idp_iss"]) == ("victim", "honest", setup.honest.issuer)
    assert setup.honest_token_requests() == honest_posts + 1, "one code exchange, at honest"
    assert len(setup.hostile.token_requests) == hostile_posts, "none at hostile"
    # A sign-in at hostile sends hostile's own callback.
    other = Viewer(worker).get("/login?provider=hostile")
    assert other.status == 302
    assert query_of(other.headers["location"])["redirect_uri"] == worker + "/callback/hostile"
