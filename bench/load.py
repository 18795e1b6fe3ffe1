#!/usr/bin/env python3
"""`make load`: load, soak and faults against the built worker served by workerd directly
(generated config, as bench/run.py does), loopback only, every loop bounded in count and time.

1. load: N token requests (default 20,000) at concurrency 32; every 200 is a token that PyJWT
   verifies; p50/p99 from the client. Then the same through `wrangler dev` (default 5,000).
2. soak: a steady rate for --soak-seconds with workerd's RSS sampled every 5 s.
3. faults, each while load runs:
   - signing key rotated (a new deployment: the new workerd is started, traffic switched, the old
     one stopped, as Cloudflare rolls deployments): every 200 verifies under the old or the new key;
   - session secret rotated with the previous one kept: cookies minted before keep working;
   - an identity provider's key endpoint (a local JWKS server) down, then back: Bearer tokens keep
     working on the cached keys;
   - a broken setting deployed (CHANNELS = {}): 500 `misconfigured` for tokens and 503 /healthz,
     then fixed: 200 again.
Writes test-artifacts/load.json and prints a summary; exits non-zero on any unexpected answer."""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

import jwt  # noqa: E402
from harness import Worker, new_p384_key, public_pem, request, sec1_pem, session_cookie  # noqa: E402
from run import DirectWorkerd, hey  # noqa: E402
from identity_standins import JwksServer  # noqa: E402

ARN = "arn:aws:ivs:us-west-2:123456789012:channel/load"
CHANNELS = {
    "load": {"arn": ARN, "playback_url": "https://example.live-video.net/load.m3u8"},
    "shared": {"arn": ARN + "s", "playback_url": "https://example.live-video.net/s.m3u8", "viewer_binding": False},
}


def log(message: str):
    print(f"[load] {message}", flush=True)


class Workerd(DirectWorkerd):
    """The built worker on workerd (bench/run.py's generated config); outbound fetches may reach
    loopback (the local JWKS server)."""

    def __init__(self, settings: dict):
        super().__init__(settings, outbound_loopback=True)
        # Not /healthz: it would fetch the identity provider's keys, which the faults count.
        self.wait_ready("/v1/public-key")

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0


class Target:
    """Where the load goes; swapped atomically on a 'deployment'."""

    def __init__(self, worker: Workerd):
        self.worker = worker
        self.lock = threading.Lock()

    def deploy(self, settings: dict) -> Workerd:
        new = Workerd(settings)
        with self.lock:
            old, self.worker = self.worker, new
        time.sleep(0.5)  # requests already sent to the old deployment finish there
        old.stop()
        return new


def run_load(target: Target, n: int, concurrency: int, headers_of, check, seconds: float | None = None, rate: float | None = None) -> dict:
    """n requests (or until `seconds`) over `concurrency` keep-alive connections; `check(status,
    body, headers)` returns None for an expected answer or a description of what is wrong."""
    lock = threading.Lock()
    state = {"sent": 0, "latencies": [], "statuses": {}, "unexpected": [], "connection_errors": 0}
    deadline = time.time() + seconds if seconds else None
    interval = concurrency / rate if rate else 0

    def worker_thread():
        conn, port = None, None
        while True:
            with lock:
                if (deadline is None and state["sent"] >= n) or (deadline and time.time() >= deadline):
                    return
                state["sent"] += 1
            with target.lock:
                worker = target.worker
            if conn is None or port != worker.port:
                conn, port = http.client.HTTPConnection("127.0.0.1", worker.port, timeout=30), worker.port
            path, headers = headers_of()
            started = time.perf_counter()
            try:
                conn.request("GET", path, headers=headers)
                r = conn.getresponse()
                body = r.read()
                elapsed = time.perf_counter() - started
                problem = check(r.status, body, {k.lower(): v for k, v in r.getheaders()})
                with lock:
                    state["latencies"].append(elapsed)
                    state["statuses"][r.status] = state["statuses"].get(r.status, 0) + 1
                    if problem and len(state["unexpected"]) < 20:
                        state["unexpected"].append(problem)
                    elif problem:
                        state["unexpected"].append("…")
            except (OSError, http.client.HTTPException) as e:
                conn = None
                with lock:
                    state["connection_errors"] += 1
                    if len(state["unexpected"]) < 20:
                        state["unexpected"].append(f"connection: {e!r}")
            if interval:
                time.sleep(max(0.0, interval - (time.perf_counter() - started)))

    threads = [threading.Thread(target=worker_thread, daemon=True) for _ in range(concurrency)]
    t0 = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.time() - t0
    lat = sorted(state["latencies"])
    pct = lambda p: round(lat[min(len(lat) - 1, int(p * len(lat)))] * 1000, 2) if lat else None  # noqa: E731
    return {
        "requests": len(lat) + state["connection_errors"],
        "wall_s": round(wall, 1),
        "req_per_s": round(len(lat) / wall, 1) if wall else 0,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "statuses": state["statuses"],
        "connection_errors": state["connection_errors"],
        "unexpected": len([u for u in state["unexpected"]]),
        "unexpected_examples": state["unexpected"][:5],
    }


def token_check(public_keys: list[str], allow: dict | None = None):
    """200 must carry a token that verifies under one of `public_keys`; other statuses must be in
    `allow` (status -> problem slug) and be that RFC 9457 problem."""
    allow = allow or {}

    def check(status, body, headers):
        if status == 200:
            token = json.loads(body)["token"]
            for pem in public_keys:
                try:
                    jwt.decode(token, pem, algorithms=["ES384"], options={"verify_aud": False})
                    return None
                except jwt.InvalidSignatureError:
                    continue
            return "a 200 whose token verifies under no expected key"
        slug = allow.get(status)
        if slug and headers.get("content-type") == "application/problem+json" and json.loads(body)["type"].endswith(":" + slug):
            return None
        return f"unexpected {status}: {body[:200]!r}"

    return check


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--wrangler-requests", type=int, default=5_000,
                        help="token requests through `wrangler dev` (its Node.js proxy in front of workerd)")
    parser.add_argument("--soak-seconds", type=int, default=600)
    parser.add_argument("--soak-rate", type=float, default=200.0, help="requests per second during the soak")
    parser.add_argument("--fault-seconds", type=float, default=20.0, help="length of each fault run")
    parser.add_argument("--out", default=str(ROOT / "test-artifacts" / "load.json"))
    args = parser.parse_args()

    key, secret, previous = new_p384_key(), "load-session-secret-0123456789abcdefghij", None
    jwks = JwksServer(cache_control="max-age=60").start()  # the identity tests' stand-in: "503" mode is down
    jwks.add_key("ES384")
    issuer = "http://127.0.0.1:1/load-idp"
    providers = {"local": {"issuer": issuer, "audience": "load", "jwks_url": jwks.url("/jwks"), "token_from": ["bearer"]}}

    def settings(signing=None, session=None, session_previous=None, channels=None):
        s = {"PLAYBACK_PRIVATE_KEY": sec1_pem(signing or key), "SESSION_SECRET": session or secret,
             "CHANNELS": json.dumps(channels if channels is not None else CHANNELS), "TOKEN_TTL_SECONDS": "600",
             "IDENTITY_PROVIDERS": json.dumps(providers)}
        if session_previous:
            s["SESSION_SECRET_PREVIOUS"] = session_previous
        return s

    results: dict = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    failures: list[str] = []
    target = Target(Workerd(settings()))
    try:
        cookie = session_cookie(secret, sub="load-viewer")
        cookie_header = {"Cookie": f"session={cookie}"}
        token_path = "/v1/token?channel=load"

        log(f"load: {args.requests} token requests at concurrency {args.concurrency}")
        r = run_load(target, args.requests, args.concurrency, lambda: (token_path, cookie_header), token_check([public_pem(key)]))
        results["load"] = r
        log(f"  {r}")
        if r["unexpected"] or r["statuses"].get(200) != args.requests:
            failures.append("load: not every request got a verifying token")
        try:
            h = hey(target.worker.url + token_path, args.requests, args.concurrency, cookie_header)
            results["load_hey"] = h
            log(f"  hey (Go client, same worker): {h}")
        except (FileNotFoundError, subprocess.CalledProcessError) as e:
            log(f"  hey not run: {e}")

        log(f"load through wrangler dev: {args.wrangler_requests} token requests at concurrency {args.concurrency}")
        dev = Worker(settings()).start()
        try:
            dev.wait_ready()
            r = run_load(Target(dev), args.wrangler_requests, args.concurrency, lambda: (token_path, cookie_header),
                         token_check([public_pem(key)]))
        finally:
            dev.stop()
        results["load_wrangler_dev"] = r
        log(f"  {r}")
        if r["unexpected"] or r["statuses"].get(200) != args.wrangler_requests:
            failures.append("load through wrangler dev: not every request got a verifying token")

        log(f"soak: {args.soak_seconds} s at {args.soak_rate:.0f} req/s, RSS sampled every 5 s")
        samples, stop = [], threading.Event()

        def sample():
            while not stop.is_set():
                samples.append((round(time.time() - t0), target.worker.rss_kib()))
                stop.wait(5)

        t0 = time.time()
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        # Mixed traffic: viewer-bound tokens (a fresh viewer every request), shared tokens (reuse
        # cache), unknown channels, garbage cookies: every path that could grow a cache.
        counter = iter(range(10**9))

        def mixed():
            i = next(counter)
            kind = i % 4
            if kind == 0:
                return token_path, {"Cookie": f"session={session_cookie(secret, sub=f'viewer-{i}')}"}
            if kind == 1:
                return "/v1/token?channel=shared", cookie_header
            if kind == 2:
                return f"/v1/token?channel=nope-{i % 1000}", cookie_header
            return token_path, {"Cookie": f"session=garbage.{i}.x"}

        soak = run_load(target, 0, 8, mixed, token_check([public_pem(key)], {404: "unknown-channel", 401: "session-invalid"}),
                        seconds=args.soak_seconds, rate=args.soak_rate)
        stop.set()
        sampler.join()
        rss = [kib for _, kib in samples]
        third = max(1, len(rss) // 3)
        soak["rss_kib_first_third_median"] = statistics.median(rss[:third])
        soak["rss_kib_last_third_median"] = statistics.median(rss[-third:])
        soak["rss_kib_max"] = max(rss)
        soak["rss_samples"] = samples
        results["soak"] = soak
        log(f"  {({k: v for k, v in soak.items() if k != 'rss_samples'})}")
        if soak["unexpected"]:
            failures.append("soak: unexpected answers")
        if soak["rss_kib_last_third_median"] > 1.25 * soak["rss_kib_first_third_median"] + 4096:
            failures.append("soak: RSS grew")

        faults = {}
        # Signing key rotated mid-run.
        new_key = new_p384_key()
        check = token_check([public_pem(key), public_pem(new_key)])
        box = {}
        t = threading.Thread(target=lambda: box.update(r=run_load(target, 0, args.concurrency, lambda: (token_path, cookie_header), check, seconds=args.fault_seconds)))
        t.start()
        time.sleep(args.fault_seconds / 3)
        target.deploy(settings(signing=new_key))
        t.join()
        faults["signing_key_rotated"] = box["r"]
        key = new_key

        # Session secret rotated, previous kept: the old cookie keeps working.
        new_secret = "load-rotated-secret-0123456789abcdefghij"
        t = threading.Thread(target=lambda: box.update(r=run_load(target, 0, args.concurrency, lambda: (token_path, cookie_header), token_check([public_pem(key)]), seconds=args.fault_seconds)))
        t.start()
        time.sleep(args.fault_seconds / 3)
        target.deploy(settings(session=new_secret, session_previous=secret))
        t.join()
        faults["session_secret_rotated_previous_kept"] = box["r"]
        secret, previous = new_secret, secret

        def with_previous(**kw):
            return settings(session=secret, session_previous=previous, **kw)

        # Identity provider's key endpoint down after the first fetch, then back.
        now = int(time.time())
        idp_token = jwks.mint({"iss": issuer, "aud": "load", "sub": "idp-viewer", "iat": now, "exp": now + 3600})
        bearer = {"Authorization": f"Bearer {idp_token}"}
        first = request(target.worker.url + token_path, headers=bearer)
        if first.status != 200:
            failures.append(f"provider: first Bearer request answered {first.status}: {first.text[:200]}")
        # Down for longer than the keys' freshness (max-age 60 s, the minimum the worker honours),
        # so the stale-keys path runs: the refetch fails and the last good keys are used.
        down_seconds = 75
        t = threading.Thread(target=lambda: box.update(r=run_load(target, 0, 4, lambda: (token_path, bearer), token_check([public_pem(key)]), seconds=down_seconds + 10, rate=50)))
        t.start()
        time.sleep(2)
        jwks.mode = "503"
        fetches_before = jwks.attempts
        time.sleep(down_seconds)
        fetches_while_down = jwks.attempts - fetches_before
        jwks.mode = "up"
        t.join()
        box["r"]["jwks_fetches_while_down"] = fetches_while_down
        faults["identity_provider_keys_down_and_back"] = {**box["r"], "jwks_fetches": jwks.attempts}

        # A broken setting deployed, then fixed.
        broken = {500: "misconfigured"}
        t = threading.Thread(target=lambda: box.update(r=run_load(target, 0, args.concurrency, lambda: (token_path, cookie_header), token_check([public_pem(key)], broken), seconds=args.fault_seconds)))
        t.start()
        time.sleep(args.fault_seconds / 4)
        target.deploy(with_previous(channels={}))
        health_broken = request(target.worker.url + "/healthz")
        time.sleep(args.fault_seconds / 4)
        target.deploy(with_previous())
        health_fixed = request(target.worker.url + "/healthz")
        t.join()
        faults["broken_setting_deployed_then_fixed"] = {**box["r"], "healthz_while_broken": health_broken.status,
                                                        "healthz_detail": health_broken.json().get("detail"),
                                                        "healthz_after_fix": health_fixed.status}
        if (health_broken.status, health_fixed.status) != (503, 200):
            failures.append("broken setting: /healthz did not go 503 then 200")
        for name, f in faults.items():
            log(f"fault {name}: {f}")
            if f["unexpected"] or f["connection_errors"]:
                failures.append(f"fault {name}: unexpected answers")
        results["faults"] = faults
    finally:
        target.worker.stop()
        jwks.stop()
    results["failures"] = failures
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2))
    log(f"written {args.out}; failures: {failures or 'none'}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
