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
4. device churn (issue 18): --devices-viewers (1,000) viewers with --devices-per-viewer (3)
   devices each at --devices-limit (2), for --devices-seconds (180): a random device of a random
   viewer asks for a token; at the limit it is refused (the default policy, `refuse`) and asks
   again with `takeover=true`, which evicts the viewer's oldest device. workerd serves the
   DeviceLedger Durable Object on local disk, its alarm revokes at the IVS stand-in
   (tools/ivs_standin.py, SigV4 checked with botocore). The client keeps a model of every
   viewer's slots (one viewer's requests never overlap), so every answer is predicted. After the
   churn the queues drain, then: evictions answered = `device-evicted` lines = `revocation-
   accepted` lines; none lost (every evicted device's version is covered by a ceiling IVS
   accepted for its viewer after the eviction); none duplicated (no device's revocation, its
   viewer, the channel and its version as the ceiling, accepted twice); every ceiling IVS
   accepted is an evicted device's version, and no device still holding its slot is at or below
   its viewer's ceiling. Several evictions of one viewer due together merge into one call with
   the highest ceiling ("merged": their devices are stopped by it, without a call of their own);
   an older eviction's call retried (after a network error) and accepted after a younger one's
   higher ceiling is counted as "redundant" (it stops nobody new; reported, not a failure).
   A request whose connection closes without an answer is counted with its time; the run fails
   if the worker handled any of them (it logs one line per request it handled).
   A quick pass: `bench/load.py --only-devices --devices-seconds 15 --devices-viewers 50`.
Writes test-artifacts/load.json and prints a summary; exits non-zero on any unexpected answer."""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

import jwt  # noqa: E402
from harness import Worker, new_p384_key, public_pem, request, sec1_pem, session_cookie  # noqa: E402
from run import DEVICE_ARN, DEVICE_AWS_KEY_ID, DEVICE_AWS_SECRET, DirectWorkerd, device_workerd, fsync_probe, hey  # noqa: E402
from run import SECRET as BENCH_SECRET  # noqa: E402
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


# 4. Device churn (issue 18).

CHURN_PATH = "/v1/token?channel=limited"


class ChurnViewer:
    """One viewer of the churn and the client's model of its ledger. Requests of one viewer are
    never concurrent (the viewer's lock), so the model predicts every answer exactly."""

    def __init__(self, index: int, cookie: str, devices: int):
        self.lock = threading.Lock()
        self.headers = {"Cookie": f"session={cookie}"}
        self.devices = [f"churn-{index:04d}-device-{d}" for d in range(devices)]
        self.slots: list[int] = []  # devices holding a slot, oldest admission first
        self.version: dict[int, int] = {}  # device -> the version of its current admission
        self.last_version = 0
        self.viewer_id: str | None = None
        self.broken = False  # the model lost track after an unexpected answer: no longer used


def device_churn(args) -> dict:
    """Viewers × devices churning at a limit on workerd (the DeviceLedger object on local disk)
    with the IVS stand-in; then the queues drain and every eviction is matched with what the
    stand-in accepted."""
    sys.path.insert(0, str(ROOT / "tools"))
    from ivs_standin import StandIn

    key = new_p384_key()
    pem = public_pem(key)
    standin = StandIn(pem, DEVICE_ARN, credentials={DEVICE_AWS_KEY_ID: (DEVICE_AWS_SECRET, None)}).start()
    limits = {"default": args.devices_limit, "on_limit": "refuse", "idle_seconds": 3600}
    objects = Path(tempfile.mkdtemp(prefix="ivs-churn-objects-"))
    fsync_before = fsync_probe(str(objects))
    w = device_workerd(key, standin.base, limits, ledger_dir=objects, verbose=True)
    failures: list[str] = []
    try:
        w.wait_ready("/v1/public-key")
        exp = int(time.time()) + 3 * 3600
        viewers = [ChurnViewer(i, session_cookie(BENCH_SECRET, sub=f"churn-viewer-{i:04d}", exp=exp), args.devices_per_viewer)
                   for i in range(args.devices_viewers)]
        lock = threading.Lock()
        counts = {"renewal": 0, "admission": 0, "refused": 0, "takeover": 0}
        latencies: dict[str, list[float]] = {k: [] for k in counts}
        evictions: list[dict] = []  # the model's: viewer_id, device, version, sent (before the takeover)
        unexpected: list[str] = []
        dropped: list[str] = []  # requests whose connection closed without an answer
        state = {"requests": 0, "connection_errors": 0, "busy_picks": 0}
        deadline = time.time() + args.devices_seconds

        def problem(v: ChurnViewer, what: str):
            v.broken = True
            with lock:
                unexpected.append(what)

        def get(conn, path, headers):
            started = time.perf_counter()
            conn.request("GET", path, headers=headers)
            r = conn.getresponse()
            body = r.read()
            return r.status, body, time.perf_counter() - started

        def version_of(v: ChurnViewer, body: bytes) -> int:
            claims = jwt.decode(json.loads(body)["token"], pem, algorithms=["ES384"])
            if v.viewer_id is None:
                v.viewer_id = claims["aws:viewer-id"]
            return claims["aws:viewer-session-version"]

        started_at: dict[int, float] = {}  # viewer -> when it was first asked (its object created)

        def step(conn, rng, v: ChurnViewer):
            started_at.setdefault(id(v), time.time())
            d = rng.randrange(len(v.devices))
            headers = {**v.headers, "X-Device-Id": v.devices[d]}
            status, body, elapsed = get(conn, CHURN_PATH, headers)
            if d in v.slots:
                kind = "renewal"
                if status != 200 or version_of(v, body) != v.version[d]:
                    return problem(v, f"renewal answered {status} {body[:160]!r}")
            elif len(v.slots) < args.devices_limit:
                kind = "admission"
                version = version_of(v, body) if status == 200 else None
                if version is None or version <= v.last_version:
                    return problem(v, f"admission answered {status} {body[:160]!r}")
                v.slots.append(d)
                v.version[d] = v.last_version = version
            else:
                kind = "refused"
                if status != 403 or not json.loads(body).get("type", "").endswith(":device-limit"):
                    return problem(v, f"expected 403 device-limit, got {status} {body[:160]!r}")
                with lock:
                    counts[kind] += 1
                    latencies[kind].append(elapsed)
                sent = time.time()
                status, body, elapsed = get(conn, CHURN_PATH + "&takeover=true", headers)
                kind = "takeover"
                version = version_of(v, body) if status == 200 else None
                if version is None or version <= v.last_version:
                    return problem(v, f"takeover answered {status} {body[:160]!r}")
                oldest = v.slots.pop(0)
                with lock:
                    evictions.append({"viewer_id": v.viewer_id, "device": v.devices[oldest], "version": v.version[oldest], "sent": sent})
                v.slots.append(d)
                v.version[d] = v.last_version = version
            with lock:
                counts[kind] += 1
                latencies[kind].append(elapsed)

        def thread_main(seed: int):
            rng = random.Random(seed)
            conn = http.client.HTTPConnection("127.0.0.1", w.port, timeout=30)
            while time.time() < deadline:
                v = viewers[rng.randrange(len(viewers))]
                if v.broken or not v.lock.acquire(blocking=False):
                    with lock:
                        state["busy_picks"] += 1
                    continue
                try:
                    step(conn, rng, v)
                except (OSError, http.client.HTTPException) as e:
                    # No answer: whether the worker handled it is settled after the run (every
                    # request it handled is logged); the model no longer knows this viewer.
                    conn = http.client.HTTPConnection("127.0.0.1", w.port, timeout=30)
                    v.broken = True
                    with lock:
                        state["connection_errors"] += 1
                        dropped.append(f"{time.time() - t0:.1f} s into the churn: {e!r}")
                finally:
                    v.lock.release()

        log(f"devices: {len(viewers)} viewers x {args.devices_per_viewer} devices at limit {args.devices_limit} "
            f"(refuse, then takeover=true), {args.devices_seconds} s at concurrency {args.devices_concurrency}")
        t0 = time.time()
        threads = [threading.Thread(target=thread_main, args=(seed,), daemon=True) for seed in range(args.devices_concurrency)]
        for t in threads:
            t.start()
        rss: list[tuple[int, int]] = []  # (seconds since the start, workerd's RSS in KiB), every 5 s
        while any(t.is_alive() for t in threads):
            rss.append((round(time.time() - t0), Workerd.rss_kib(w)))
            for t in threads:
                t.join(timeout=5 / len(threads))
        wall = time.time() - t0
        churn_end = time.time()
        first_seen = round(max(started_at.values()) - t0, 1) if len(started_at) == len(viewers) else None

        # Drain: every evicted device's version covered by an accepted revocation of its viewer.
        owed: dict[str, int] = {}
        for e in evictions:
            owed[e["viewer_id"]] = max(owed.get(e["viewer_id"], -1), e["version"])
        log(f"devices: churn over ({len(evictions)} evictions); waiting for the revocation queues to drain")
        drain_deadline = time.time() + args.devices_drain_seconds
        while True:
            with standin.lock:
                missing = sum(1 for vid, v in owed.items() if standin.revoked.get((DEVICE_ARN, vid), -1) < v)
            accepted_lines = w.output().count('"event":"revocation-accepted"')
            if (missing == 0 and accepted_lines >= len(evictions)) or time.time() > drain_deadline:
                break
            time.sleep(2)
        drained_s = time.time() - churn_end
        time.sleep(5)  # anything sent late (a duplicate) shows up now

        events: dict[str, list[dict]] = {}
        for line in w.output().splitlines():
            start = line.find('{"event":')
            if start >= 0:
                try:
                    e = json.loads(line[start:])
                except ValueError:
                    continue
                events.setdefault(e["event"], []).append(e)
        requests_logged = sum(1 for line in w.output().splitlines() if '"path":"/v1/token"' in line)
        unreachable = sum(1 for line in w.output().splitlines() if '"ledger":"unreachable"' in line)
        with standin.lock:
            accepted = [dict(r) for r in standin.revocations]
            api_statuses: dict = {}
            for entry in standin.api_log:
                api_statuses[entry.get("status")] = api_statuses.get(entry.get("status"), 0) + 1
            operations: dict = {}
            for entry in standin.api_log:
                operations[entry["operation"]] = operations.get(entry["operation"], 0) + 1

        # The model's evictions against the worker's log lines, viewer by viewer, in order.
        model_by_viewer: dict[str, list[str]] = {}
        for e in evictions:
            # Log lines name a device by a digest of its id (device::id::device_digest), never the id.
            digest = hashlib.sha256(b"ivs-token-worker device log name\0" + e["device"].encode()).digest()[:8].hex()
            model_by_viewer.setdefault(e["viewer_id"], []).append(digest)
        logged_by_viewer: dict[str, list[str]] = {}
        for e in events.get("device-evicted", []):
            logged_by_viewer.setdefault(e["viewer_id"], []).append(e["device"])
        evicted_logged = len(events.get("device-evicted", []))
        if model_by_viewer != logged_by_viewer:
            failures.append("devices: the worker's device-evicted lines differ from the evictions the answers imply")
        reasons: dict = {}
        for e in events.get("device-evicted", []):
            reasons[e["reason"]] = reasons.get(e["reason"], 0) + 1

        # IVS's side, per viewer on the channel, in the order the stand-in accepted them.
        by_viewer: dict[str, list[dict]] = {}
        for r in sorted(accepted, key=lambda r: r["time"]):
            if r["channelArn"] != DEVICE_ARN:
                failures.append(f"devices: a revocation on an unexpected channel {r['channelArn']}")
            by_viewer.setdefault(r["viewerId"], []).append(r)
        evicted_versions: dict[str, set[int]] = {}
        for e in evictions:
            evicted_versions.setdefault(e["viewer_id"], set()).add(e["version"])
        lost = []
        lags = []
        for e in evictions:
            cover = next((r for r in by_viewer.get(e["viewer_id"], []) if r["version"] >= e["version"] and r["time"] >= e["sent"]), None)
            if cover is None:
                lost.append(e)
            else:
                lags.append(cover["time"] - e["sent"])
        # Duplicated: one device's revocation (its viewer, the channel, its version as the ceiling)
        # accepted more than once. Redundant: a ceiling accepted after a higher one of the same
        # viewer and channel (an older eviction's call retried after a younger one's went
        # through): it stops nobody the higher ceiling had not stopped, and costs one IVS call.
        duplicated, redundant, invented = [], [], []
        for vid, calls in by_viewer.items():
            highest, seen = -1, set()
            for r in calls:
                if r["version"] in seen:
                    duplicated.append(r)
                elif r["version"] < highest:
                    redundant.append(r)
                seen.add(r["version"])
                highest = max(highest, r["version"])
                if r["version"] not in evicted_versions.get(vid, set()):
                    invented.append(r)
        # Devices still holding a slot must not be at or below their viewer's final ceiling.
        over_revoked = []
        for v in viewers:
            if v.viewer_id is None or v.broken:
                continue
            ceiling = max((r["version"] for r in by_viewer.get(v.viewer_id, [])), default=-1)
            over_revoked += [v.devices[d] for d in v.slots if v.version[d] <= ceiling]
        merged = len(evictions) - sum(1 for e in evictions if e["version"] in {r["version"] for r in by_viewer.get(e["viewer_id"], [])})

        lat_ms = lambda xs, p: round(sorted(xs)[min(len(xs) - 1, int(p * len(xs)))] * 1000, 2) if xs else None  # noqa: E731
        result = {
            "viewers": len(viewers), "devices_per_viewer": args.devices_per_viewer, "limit": args.devices_limit,
            "policy": "refuse; a refused device asks again with takeover=true", "idle_seconds": 3600,
            "seconds": args.devices_seconds, "concurrency": args.devices_concurrency, "wall_s": round(wall, 1),
            "requests": sum(counts.values()), "requests_logged_by_worker": requests_logged,
            "req_per_s": round(sum(counts.values()) / wall, 1) if wall else 0,
            "answers": counts,
            "latency_ms": {k: {"p50": lat_ms(xs, 0.5), "p99": lat_ms(xs, 0.99)} for k, xs in latencies.items()},
            "unexpected": len(unexpected), "unexpected_examples": unexpected[:5],
            "connection_errors": state["connection_errors"], "connection_errors_examples": dropped[:10],
            "ledger_unreachable": unreachable,
            "evictions": len(evictions), "evictions_logged": evicted_logged, "eviction_reasons": reasons,
            "viewers_with_evictions": len(owed),
            "refusals_logged": len(events.get("device-refused", [])),
            "admissions_logged": len(events.get("device-admitted", [])),
            "collateral_revocations": len(events.get("collateral-revocation", [])),
            "revocations_accepted_logged": len(events.get("revocation-accepted", [])),
            "revocation_retries_logged": len(events.get("revocation-retry", [])),
            "revocations_dropped_logged": len(events.get("revocation-dropped", [])),
            "alarm_failures_logged": len(events.get("revocation-alarm-failed", [])) + len(events.get("revocations-waiting", [])),
            "ivs_calls": operations, "ivs_call_statuses": {str(k): n for k, n in api_statuses.items()},
            "ivs_accepted_pairs": len(accepted),
            "evictions_covered": len(evictions) - len(lost), "lost": len(lost), "lost_examples": lost[:5],
            "merged_into_a_higher_ceiling": merged,
            "duplicated": len(duplicated), "duplicated_examples": duplicated[:5],
            "redundant_after_a_higher_ceiling": len(redundant), "redundant_examples": redundant[:5],
            "ceilings_not_an_evicted_version": len(invented), "holding_devices_revoked": len(over_revoked),
            "eviction_to_ivs_acceptance_s": {"p50": round(statistics.median(lags), 2) if lags else None,
                                             "p99": round(sorted(lags)[int(0.99 * (len(lags) - 1))], 2) if lags else None,
                                             "max": round(max(lags), 2) if lags else None},
            "drained_after_s": round(drained_s, 1),
            # Every command commits its object's SQLite write (an fsync) before it answers: the
            # churn's pace follows this disk's fsync latency (bench/run.py's probe).
            "fsync_ms_before_after": [round(fsync_before["median_ms"], 2), round(fsync_probe(str(objects))["median_ms"], 2)],
            "rss_kib_first_last_max": [rss[0][1], rss[-1][1], max(k for _, k in rss)] if rss else None,
            "rss_samples": rss,
            "viewers_seen_by": first_seen,
            "object_databases": len(list(objects.rglob("*.sqlite"))) - 1,
        }
        checks = [
            (result["unexpected"] == 0, "an answer the model did not predict"),
            # A request whose connection closed without an answer must not have been handled:
            # the worker logs every request it handled, so the counts must agree.
            (requests_logged == sum(counts.values()), "a request without an answer was handled by the worker (its answer lost)"),
            (unreachable == 0, "tokens served without the ledger (object unreachable)"),
            (len(evictions) > 0, "no eviction happened"),
            (evicted_logged == len(evictions), "evictions logged != evictions answered"),
            (result["revocations_accepted_logged"] == len(evictions), "revocation-accepted lines != evictions"),
            (result["revocations_dropped_logged"] == 0, "revocations dropped"),
            (not lost, "evictions with no accepted revocation covering them (lost)"),
            (not duplicated, "a device's revocation accepted twice (duplicated)"),
            (not invented, "a ceiling that is no evicted device's version"),
            (not over_revoked, "a device still holding its slot is revoked"),
            (result["collateral_revocations"] == 0, "collateral revocations"),
            (len(accepted) + merged == len(evictions), "accepted revocations + merged != evictions"),
            (result["ivs_call_statuses"].get("403", 0) == 0, "IVS calls refused for their signature"),
        ]
        failures += [f"devices: {what}" for ok, what in checks if not ok]
        result["failures"] = failures
        return result
    finally:
        # workerd's output (the worker's and the objects' log lines) for a look after the run.
        out_dir = Path(args.out).parent
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "load-devices-workerd.log").write_text(w.output())
        w.stop()
        standin.stop()
        shutil.rmtree(objects, ignore_errors=True)


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
    devices = parser.add_argument_group("device churn (4.)")
    devices.add_argument("--devices-seconds", type=float, default=180.0, help="length of the churn; 0 skips it")
    devices.add_argument("--devices-viewers", type=int, default=1000)
    devices.add_argument("--devices-per-viewer", type=int, default=3)
    devices.add_argument("--devices-limit", type=int, default=2)
    devices.add_argument("--devices-concurrency", type=int, default=8, help="client threads (one viewer's requests never overlap)")
    devices.add_argument("--devices-drain-seconds", type=float, default=300.0, help="the longest wait for the revocation queues to drain")
    devices.add_argument("--only-devices", action="store_true",
                         help="run only the device churn; its figures replace the `devices` entry of an existing --out file")
    args = parser.parse_args()

    if args.only_devices:
        out = Path(args.out)
        results = json.loads(out.read_text()) if out.exists() else {}
        r = device_churn(args)
        results["devices"] = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), **r}
        log(f"  {json.dumps(r)}")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=2))
        log(f"written {args.out}; failures: {r['failures'] or 'none'}")
        sys.exit(1 if r["failures"] else 0)

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
    if args.devices_seconds > 0:
        r = device_churn(args)
        results["devices"] = r
        log(f"  {json.dumps(r)}")
        failures += r["failures"]
    results["failures"] = failures
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2))
    log(f"written {args.out}; failures: {failures or 'none'}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
