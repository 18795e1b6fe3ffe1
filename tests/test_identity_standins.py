"""The identity-provider stand-ins on their own (no worker): what test_identity.py relies on holds.

Tokens from oidc-provider verify with PyJWT against the provider's own JWKS and discovery; rotation
changes the signing kid; the fetch counters count; the down modes really take the keys away."""

import json
import time
import urllib.error
import urllib.request

import jwt
import pytest
from identity_standins import JwksServer, OidcProvider, cognito_access_token, cognito_id_token


@pytest.fixture(scope="module")
def provider():
    p = OidcProvider().start()
    yield p
    p.stop()


def fetch(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.status, r.headers, r.read()


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_real_provider_tokens_verify_with_pyjwt(provider, alg):
    status, _, body = fetch(provider.issuer + "/.well-known/openid-configuration")
    discovery = json.loads(body)
    assert discovery["issuer"] == provider.issuer and discovery["jwks_uri"] == provider.jwks_url
    token = provider.id_token("standin-alice", ["members", "staff"], alg=alg)
    key = jwt.PyJWKClient(provider.jwks_url).get_signing_key_from_jwt(token)
    claims = jwt.decode(token, key.key, algorithms=[alg], audience=provider.client_id(alg), issuer=provider.issuer)
    assert claims["sub"] == "standin-alice"
    assert claims["groups"] == ["members", "staff"]
    assert claims["https://example.com/roles"] == ["members", "staff"]
    assert claims["exp"] > time.time() + 600
    # The test cannot forge them: a different key does not verify.
    other = JwksServer()
    other.add_key(alg)
    _, wrong, _ = other.key()
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, wrong.public_key(), algorithms=[alg], audience=provider.client_id(alg))


def test_rotation_changes_the_kid_and_counts_fetches(provider):
    before = provider.fetch_count()
    old = provider.id_token("rotator")
    old_kid = jwt.get_unverified_header(old)["kid"]
    kids = provider.rotate(keep_old=True)
    new = provider.id_token("rotator")
    new_kid = jwt.get_unverified_header(new)["kid"]
    assert new_kid != old_kid and new_kid == kids[0] and old_kid in kids
    published = [k["kid"] for k in provider.jwks()["keys"]]
    assert published[0] == new_kid and old_kid in published
    assert provider.fetch_count() == before + 1
    client = jwt.PyJWKClient(provider.jwks_url, cache_keys=False)
    for token in (old, new):
        jwt.decode(token, client.get_signing_key_from_jwt(token).key, algorithms=["RS256"],
                   audience=provider.client_id())
    provider.rotate(keep_old=False)
    assert old_kid not in [k["kid"] for k in provider.jwks()["keys"]]


@pytest.mark.parametrize("mode", ["503", "garbage", "closed"])
def test_down_modes(provider, mode):
    provider.down(mode)
    try:
        attempts = provider.attempt_count()
        fetches = provider.fetch_count()
        if mode == "closed":
            with pytest.raises(urllib.error.URLError):
                fetch(provider.jwks_url)
            assert provider.attempt_count() == attempts
        elif mode == "503":
            with pytest.raises(urllib.error.HTTPError) as e:
                fetch(provider.jwks_url)
            assert e.value.code == 503
            assert provider.attempt_count() == attempts + 1
        else:
            with pytest.raises(json.JSONDecodeError):
                json.loads(fetch(provider.jwks_url)[2])
        assert provider.fetch_count() == fetches
    finally:
        provider.up()
    assert fetch(provider.jwks_url)[0] == 200


def test_jwks_server_counts_and_mints_cognito_shapes():
    s = JwksServer(cache_control="max-age=120").start()
    try:
        s.add_key("RS256")
        s.add_key("ES256", declare_alg=False)
        status, headers, body = fetch(s.url())
        assert status == 200 and headers["cache-control"] == "max-age=120" and s.fetches == 1
        doc = json.loads(body)
        assert [k.get("alg") for k in doc["keys"]] == ["RS256", None]
        issuer = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Ab12Cd34E"
        keys = jwt.PyJWKSet.from_dict(doc)
        idt = cognito_id_token(s, issuer=issuer, client_id="client1", sub="u1", groups=["g"])
        c = jwt.decode(idt, keys[jwt.get_unverified_header(idt)["kid"]].key, algorithms=["RS256"],
                       audience="client1", issuer=issuer)
        assert c["token_use"] == "id" and c["cognito:groups"] == ["g"]
        at = cognito_access_token(s, issuer=issuer, client_id="client1", sub="u1")
        c = jwt.decode(at, keys[jwt.get_unverified_header(at)["kid"]].key, algorithms=["RS256"], issuer=issuer,
                       options={"verify_aud": False})
        assert "aud" not in c and c["client_id"] == "client1" and c["token_use"] == "access"
        s.mode = "503"
        with pytest.raises(urllib.error.HTTPError):
            fetch(s.url())
        assert s.fetches == 1 and s.attempts == 2
    finally:
        s.stop()


def test_jwks_delay(provider):
    provider.delay_jwks(300)
    try:
        started = time.time()
        assert fetch(provider.jwks_url)[0] == 200
        assert time.time() - started >= 0.3
    finally:
        provider.delay_jwks(0)
    started = time.time()
    fetch(provider.jwks_url)
    assert time.time() - started < 0.3
