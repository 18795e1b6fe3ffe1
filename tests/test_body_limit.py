"""The operator API's request body is bounded (security review: `POST /v1/admin/revoke` read its
whole body, anonymously, before anything else; one 200 MB request grew workerd by hundreds of MB,
past a Workers isolate's 128 MB).

What must hold: no body is read on a deployment where the route does not exist (`404`), nor before
the operator gate passes (`401`); with the right token a `Content-Length` over 4096 bytes (the
operator API's one limit, `device::admin::MAX_BODY_BYTES`) is `413` without reading, and a chunked
body is read with a hard cap and `413` as soon as it passes that.

Each 200 MB request is streamed from a generator over a raw loopback socket (the test never holds
it) while this thread reads the answer, so an early answer is seen whether the server then closes,
resets or drains; sending stops once the answer is in. Meanwhile the resident memory (VmRSS, from
/proc) of the `workerd` processes `wrangler dev` runs is sampled: its peak, and its value after a
short settle, must stay within 64 MB of where it was. (The peak is the one that counts: a body read
whole grows workerd by 420 to 580 MB while it is held, but after the first such request the runtime
reuses the freed memory, so the settled figure alone misses repeats.)

The 200 MB requests go straight to the runtime that runs the worker (the entry socket of
wrangler's second workerd, found in /proc), not through wrangler dev's proxy in front of it: when
the worker answers before the body is complete and the runtime then drops the unread rest, that
proxy's own fetch fails, and it answers `503 Your worker restarted mid-request` or cuts the worker's
`413` after its headers (seen about 2 and 7 times in 10 for the 200 MB chunked case, and once for a
16385-byte chunked body; never straight to the runtime). That is the development proxy, not the
worker; the control request goes through it as usual."""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field

import pytest
import secret_scan
from harness import ARN_PREFIX, ROOT, Worker, new_p384_key, public_pem, sec1_pem, start_all

sys.path.insert(0, str(ROOT / "tools"))
from ivs_standin import StandIn  # noqa: E402

LIMIT = 4096  # the most the operator API reads (device::admin::MAX_BODY_BYTES)
BIG = 200 * 1024 * 1024
PIECE = b" " * (1 << 20)  # one MiB, sent again and again
GROWTH = 64 * 1024 * 1024  # the most workerd may grow (bytes) over one request
SETTLE = 1.5  # seconds between the answer and the "after" reading
TIMEOUT = 30  # per socket operation
DEADLINE = 60  # per request, all in
PROBLEM = "urn:ivs-token-worker:problem:"
DEMO_ARN = ARN_PREFIX + "bodylimit01"
ACCESS_KEY_ID = "AKIDBODYLIMITTESTS01"
PATH = "/v1/admin/revoke"


class Setup:
    """`limited`: DEVICE_LIMITS and ADMIN_API_TOKEN, revocations to the IVS stand-in. `plain`: the
    same without DEVICE_LIMITS (and so without ADMIN_API_TOKEN, which needs it): no operator API."""

    def __init__(self):
        key = new_p384_key()
        self.admin_token = secrets.token_urlsafe(40)
        aws_secret = secrets.token_urlsafe(30)
        self.standin = StandIn(public_pem(key), DEMO_ARN, credentials={ACCESS_KEY_ID: (aws_secret, None)}).start()
        channels = {"demo": {"arn": DEMO_ARN, "playback_url": self.standin.playback_url}}
        common = {
            "PLAYBACK_PRIVATE_KEY": sec1_pem(key),
            "SESSION_SECRET": secrets.token_urlsafe(48),
            "CHANNELS": json.dumps(channels),
        }
        self.limited = Worker(
            {
                **common,
                "DEVICE_LIMITS": json.dumps({"default": 2}),
                "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
                "AWS_SECRET_ACCESS_KEY": aws_secret,
                "IVS_API_ENDPOINT": self.standin.base,
                "ADMIN_API_TOKEN": self.admin_token,
            },
            extra_args=["--persist-to", tempfile.mkdtemp(prefix="ivs-body-limit-")],
        )
        self.plain = Worker(dict(common))


@pytest.fixture(scope="module")
def setup():
    s = Setup()
    start_all([s.limited, s.plain])
    yield s
    s.limited.stop()
    s.plain.stop()
    s.standin.stop()


# --- workerd, from /proc --------------------------------------------------------------------------


def _processes() -> dict[int, tuple[int, str]]:
    """pid -> (ppid, comm) of every process."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        table[int(entry)] = (ppid, comm)
    return table


def workerd_pids(worker: Worker) -> list[int]:
    """The `workerd` processes among the descendants of this worker's `wrangler dev`: wrangler's
    proxy (listening on the worker's port) and the runtime that runs the worker."""
    table = _processes()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    found, todo = [], [worker.proc.pid]
    while todo:
        pid = todo.pop()
        for child in children.get(pid, []):
            todo.append(child)
            if table[child][1] == "workerd":
                found.append(child)
    assert found, f"no workerd process under wrangler dev (pid {worker.proc.pid})"
    return sorted(found)


def _listening_ports(pid: int) -> list[int]:
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    ports = []
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # LISTEN
                ports.append(int(fields[1].split(":")[1], 16))
    return ports


RUNTIME_PORTS: dict[tuple[int, ...], int] = {}


def runtime_port(worker: Worker) -> int:
    """The loopback port on which the runtime that runs the worker takes requests (behind wrangler
    dev's proxy): the one of its workerd processes' listening ports, other than the worker's own,
    where /healthz answers as the worker does. The worker's port if there is none such."""
    pids = tuple(workerd_pids(worker))
    if pids not in RUNTIME_PORTS:
        found = worker.port
        for pid in pids:
            for port in _listening_ports(pid):
                if port == worker.port:
                    continue
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=3) as r:
                        if r.status == 200 and json.loads(r.read()).get("status") == "ok":
                            found = port
                except (OSError, ValueError):
                    continue
        if found == worker.port:
            print(f"\n[body-limit] no runtime entry socket found; through wrangler dev's proxy on {found}")
        RUNTIME_PORTS[pids] = found
    return RUNTIME_PORTS[pids]


def _status(pid: int, field_name: str) -> int:
    """A `kB` field of /proc/PID/status, in bytes."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field_name + ":"):
                return int(line.split()[1]) * 1024
    raise ProcessLookupError(f"workerd {pid} has no {field_name}: it has exited")


def rss(pids: list[int]) -> dict[int, int]:
    return {pid: _status(pid, "VmRSS") for pid in pids}


def mb(n: int) -> str:
    return f"{n / 1048576:.1f} MB"


@dataclass
class Memory:
    """workerd's resident memory around one request: before, the sampled peak, after a settle."""

    pids: list[int]
    before: dict[int, int] = field(default_factory=dict)
    peak: dict[int, int] = field(default_factory=dict)
    after: dict[int, int] = field(default_factory=dict)
    hwm: dict[int, int] = field(default_factory=dict)
    vanished: bool = False  # a workerd process went away meanwhile

    def __enter__(self) -> "Memory":
        for pid in self.pids:
            try:  # reset the kernel's peak RSS (VmHWM), where allowed
                with open(f"/proc/{pid}/clear_refs", "w") as f:
                    f.write("5")
            except OSError:
                pass
        self.before = rss(self.pids)
        self.peak = dict(self.before)
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()
        return self

    def _sample(self):
        while not self._stop.wait(0.02):
            try:
                figures = rss(self.pids)
            except OSError:
                self.vanished = True
                return
            for pid, value in figures.items():
                self.peak[pid] = max(self.peak[pid], value)

    def __exit__(self, *exc):
        self._stop.set()
        self._sampler.join(5)
        time.sleep(SETTLE)
        try:
            self.after = rss(self.pids)
            self.hwm = {pid: _status(pid, "VmHWM") for pid in self.pids}
        except OSError:
            self.vanished = True
            self.after = dict(self.before)
            self.hwm = dict(self.before)
        for pid in self.pids:
            self.peak[pid] = max(self.peak[pid], self.after[pid])

    @property
    def grown_after(self) -> int:
        return sum(self.after.values()) - sum(self.before.values())

    @property
    def grown_peak(self) -> int:
        return sum(self.peak.values()) - sum(self.before.values())

    def describe(self) -> str:
        per = "; ".join(
            f"workerd {pid}: {mb(self.before[pid])} -> peak {mb(self.peak[pid])} -> after {mb(self.after[pid])} "
            f"(VmHWM {mb(self.hwm[pid])})"
            for pid in self.pids
        )
        return (
            f"RSS before {mb(sum(self.before.values()))}, peak +{mb(self.grown_peak)}, "
            f"after +{mb(self.grown_after)} [{per}]"
        )


# --- one POST streamed over a raw socket ----------------------------------------------------------


@dataclass
class Answer:
    status: int | None
    headers: dict
    body: bytes
    complete: bool  # the whole body its Content-Length announced (or up to a clean close)
    sent: int  # body bytes handed to the socket before sending stopped
    seconds: float
    send_error: str | None
    read_error: str | None

    def json(self):
        return json.loads(self.body)

    def __repr__(self) -> str:
        return (
            f"Answer(status={self.status}, body={self.body[:300]!r}, complete={self.complete}, sent={mb(self.sent)}, "
            f"send_error={self.send_error}, read_error={self.read_error})"
        )


def filler(total: int):
    left = total
    while left > 0:
        piece = PIECE if left >= len(PIECE) else PIECE[:left]
        left -= len(piece)
        yield piece


def post(port: int, pieces, length: int | None, token: str | None) -> Answer:
    """POST `pieces` (an iterable of bytes) to /v1/admin/revoke on loopback `port`, with
    `Content-Length: length`, or chunked when `length` is None. A thread sends while this one reads;
    once the answer's head is in, sending stops. A broken pipe or a reset is how a server may refuse
    the rest of a body, and is no failure: the answer is what arrived before it."""
    lines = [f"POST {PATH} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Content-Type: application/json", "Connection: close"]
    if token is not None:
        lines.append(f"Authorization: Bearer {token}")
    lines.append(f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode()

    sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    stop = threading.Event()
    sent = [0]
    send_error: list[str | None] = [None]

    def pump():
        try:
            sock.sendall(head)
            for piece in pieces:
                if stop.is_set():
                    return
                if length is None:
                    sock.sendall(b"%x\r\n" % len(piece))
                    sock.sendall(piece)
                    sock.sendall(b"\r\n")
                else:
                    sock.sendall(piece)
                sent[0] += len(piece)
            if length is None and not stop.is_set():
                sock.sendall(b"0\r\n\r\n")
        except OSError as e:
            send_error[0] = f"{type(e).__name__}: {e}"

    started = time.time()
    sender = threading.Thread(target=pump, daemon=True)
    sender.start()
    data, read_error, clean_close = b"", None, False
    status, headers, body_at, expected = None, {}, None, None
    try:
        while time.time() - started < DEADLINE:
            piece = sock.recv(65536)
            if not piece:
                clean_close = True
                break
            data += piece
            if body_at is None and b"\r\n\r\n" in data:
                stop.set()  # the answer is in: no more body
                head_text, _, _ = data.partition(b"\r\n\r\n")
                body_at = len(head_text) + 4
                status_line, *header_lines = head_text.decode("latin-1").split("\r\n")
                status = int(status_line.split()[1])
                headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
                if "content-length" in headers:
                    expected = int(headers["content-length"])
            if expected is not None and len(data) - body_at >= expected:
                break
        else:
            read_error = f"no complete answer within {DEADLINE}s"
    except OSError as e:
        read_error = f"{type(e).__name__}: {e}"
    finally:
        seconds = time.time() - started
        stop.set()
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sender.join(TIMEOUT)
        sock.close()
    body = data[body_at:] if body_at is not None else b""
    complete = body_at is not None and (len(body) == expected if expected is not None else clean_close)
    secret_scan.RESPONSES.append((PATH, body))
    return Answer(status, headers, body, complete, sent[0], seconds, send_error[0], read_error)


def padded(document: dict, size: int) -> bytes:
    """`document` as JSON followed by spaces up to exactly `size` bytes (still valid JSON)."""
    text = json.dumps(document).encode()
    assert len(text) <= size
    return text + b" " * (size - len(text))


def token_for(setup: Setup, who: str) -> str | None:
    return {"none": None, "wrong": "wrong-token-" + secrets.token_urlsafe(30), "valid": setup.admin_token}[who]


# --- the tests ------------------------------------------------------------------------------------


def test_a_small_valid_revoke_is_accepted(setup):
    for chunked in (False, True):
        body = json.dumps({"sub": f"body-limit-control-{secrets.token_hex(4)}"}).encode()
        answer = post(setup.limited.port, [body], None if chunked else len(body), setup.admin_token)
        assert answer.status == 202 and answer.complete, (chunked, answer)
        assert answer.json()["channels"] == ["demo"]


# (case, worker, token, framing, status, problem type)
CASES = [
    ("a-no-token-length", "limited", "none", "length", 401, "unauthorized"),
    ("a-no-token-chunked", "limited", "none", "chunked", 401, "unauthorized"),
    ("b-wrong-token-length", "limited", "wrong", "length", 401, "unauthorized"),
    ("b-wrong-token-chunked", "limited", "wrong", "chunked", 401, "unauthorized"),
    ("c-no-device-limits-length", "plain", "valid", "length", 404, "not-found"),
    ("c-no-device-limits-chunked", "plain", "valid", "chunked", 404, "not-found"),
    ("d-valid-token-length", "limited", "valid", "length", 413, "payload-too-large"),
    ("e-valid-token-chunked", "limited", "valid", "chunked", 413, "payload-too-large"),
]


@pytest.mark.parametrize("case, which, who, framing, status, problem", CASES, ids=[c[0] for c in CASES])
def test_a_200_mb_body_is_refused_without_being_held(setup, case, which, who, framing, status, problem):
    worker = getattr(setup, which)
    for attempt in range(2):
        log_at = len(worker.output())
        port = runtime_port(worker)
        # `valid` on the plain deployment: the limited one's token, which means nothing there.
        with Memory(workerd_pids(worker)) as memory:
            answer = post(port, filler(BIG), BIG if framing == "length" else None, token_for(setup, who))
        if not memory.vanished:
            break
        # wrangler dev starts a new workerd when a file under src/ or web/ or build/ changes (it
        # watches them): a measurement across that says nothing. Anything else is a crash.
        time.sleep(2)
        reloaded = re.search(r"changed, restarting build|Reloading local server", worker.output()[log_at:])
        assert reloaded and attempt == 0, f"a workerd process went away during the request: {answer}; {worker.output()[-2000:]}"
        print(f"\n[body-limit] {case}: wrangler dev reloaded the worker meanwhile ({reloaded.group(0)}); once more")
        worker.wait_ready()
    print(
        f"\n[body-limit] {case}: status {answer.status} after {answer.seconds:.2f}s "
        f"({'complete' if answer.complete else 'INCOMPLETE'} answer; {mb(answer.sent)} of the body sent"
        f"{', then ' + answer.send_error if answer.send_error else ''}"
        f"{'; read: ' + answer.read_error if answer.read_error else ''}); {memory.describe()}"
    )
    assert answer.status == status, answer
    assert answer.complete, answer
    assert answer.headers.get("content-type", "").startswith("application/problem+json"), answer.headers
    document = answer.json()
    assert document["type"] == PROBLEM + problem and document["status"] == status, document
    if status == 401:
        assert answer.headers.get("www-authenticate") == "Bearer", answer.headers
    if status == 413:
        assert f"{LIMIT} bytes" in document["detail"], document
    assert memory.grown_after < GROWTH, f"workerd grew by {mb(memory.grown_after)} (after {SETTLE}s): {memory.describe()}"
    assert memory.grown_peak < GROWTH, f"workerd grew by {mb(memory.grown_peak)} at its peak: {memory.describe()}"


@pytest.mark.parametrize("framing", ["length", "chunked"])
def test_the_limit_is_4096_bytes(setup, framing):
    """Over 4096 bytes is 413 whichever way the length is told; 4096 bytes are a valid revoke like
    any other (the cap and the revoke parser share one limit). Straight to the runtime too: a
    chunked body sent in pieces can still be arriving (its last chunk) when the worker answers 413."""
    seen = {}
    for size in (1024, LIMIT, LIMIT + 1):
        body = padded({"sub": f"body-limit-edge-{secrets.token_hex(4)}"}, size)
        # Chunked: in 1 KiB pieces, the last of which crosses the limit.
        pieces = [body] if framing == "length" else [body[i : i + 1024] for i in range(0, size, 1024)]
        answer = post(runtime_port(setup.limited), pieces, size if framing == "length" else None, setup.admin_token)
        assert answer.complete, (size, answer)
        seen[size] = (answer.status, answer.json().get("detail"))
        if size <= LIMIT:
            assert answer.status == 202, (size, answer)
        else:
            assert answer.status == 413, (size, answer)
            assert answer.json()["type"] == PROBLEM + "payload-too-large"
    print(f"\n[body-limit] {framing}: {seen}")
