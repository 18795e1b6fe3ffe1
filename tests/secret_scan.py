"""The secrets scan of the whole test run: every secret the run creates (private keys, session
secrets, session cookies minted for it, playback tokens the worker issued) is registered here, and
at the end of the run every worker log line and every recorded response body is searched for them
(conftest.py's pytest_sessionfinish fails the run on a hit). Issued tokens are legitimately in the
body of the answer that issues them (and in the watch page), so they are looked for in logs only."""

from __future__ import annotations

import re
from pathlib import Path

# name -> values; kinds: "secret" (never anywhere) and "token" (never in a log).
REGISTERED: dict[str, set[str]] = {"secret": set(), "token": set()}
RESPONSES: list[tuple[str, bytes]] = []
LOGS: list[Path] = []
EXTRA_RESPONSE_FILES: list[Path] = []

SECRET_SETTINGS = (
    "PLAYBACK_PRIVATE_KEY",
    "SESSION_SECRET",
    "SESSION_SECRET_PREVIOUS",
    "VIEWER_ID_SECRET",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "ADMIN_API_TOKEN",
)


def register(kind: str, value: str) -> None:
    """Remember `value` as a secret of the run. Short values are ignored: they would match by chance."""
    if value and len(value) >= 20:
        REGISTERED[kind].add(value)


def register_setting(name: str, value: str) -> None:
    """A worker setting: secrets whole, and for PEM keys each line of key material too (a leak of
    part of a key is a leak)."""
    # Secret bindings that `login` tables name (`IDP_CLIENT_SECRET`) end in _SECRET by convention.
    if name not in SECRET_SETTINGS and not name.endswith("_SECRET"):
        return
    register("secret", value.strip())
    if "-----BEGIN" in value:
        for line in value.splitlines():
            if not line.startswith("-----") and len(line) >= 40 and line != "BgUrgQQAIg==":
                register("secret", line.strip())


def hits(text: str, *, log: bool) -> list[str]:
    """The registered values found in `text` (shown shortened, never whole)."""
    kinds = ("secret", "token") if log else ("secret",)
    found = []
    for kind in kinds:
        for value in REGISTERED[kind]:
            if value in text:
                found.append(f"{kind} {value[:6]}…({len(value)} chars)")
    return found


def vcr_response_bodies(path: Path) -> list[str]:
    """The response bodies of a schemathesis VCR cassette (requests carry our cookie on purpose)."""
    text = path.read_text(errors="replace")
    bodies = []
    for block in re.split(r"\n- id: ", text):
        _, _, response = block.partition("\n  response:")
        bodies.append(response)
    return bodies


def scan() -> list[str]:
    """Every hit in the run's logs and response bodies."""
    problems = []
    for path in LOGS:
        if path.exists():
            for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
                for hit in hits(line, log=True):
                    problems.append(f"{path}:{n}: {hit}")
    for url, body in RESPONSES:
        for hit in hits(body.decode(errors="replace"), log=False):
            problems.append(f"response of {url}: {hit}")
    for path in EXTRA_RESPONSE_FILES:
        if path.exists():
            for body in vcr_response_bodies(path):
                for hit in hits(body, log=False):
                    problems.append(f"{path}: {hit}")
    return problems
