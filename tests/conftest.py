import json
import secrets
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import ARN_PREFIX, Worker, new_p384_key, public_pem, sec1_pem, start_all  # noqa: E402

ALLOWED_ORIGINS = "https://app.example, https://*.example.org"

CHANNELS = {
    "demo": {"arn": ARN_PREFIX + "demo1", "playback_url": "https://play.example.net/demo.m3u8", "title": "Demo"},
    "open": {
        "arn": ARN_PREFIX + "open1",
        "playback_url": "https://play.example.net/open.m3u8",
        "viewer_binding": False,
    },
    "vip": {
        "arn": ARN_PREFIX + "vip1",
        "playback_url": "https://play.example.net/vip.m3u8",
        "single_use": True,
        "strict_origin": True,
        "allowed_origins": ["https://app.example"],
        "max_resolution": "HD",
    },
    "members": {"arn": ARN_PREFIX + "members1", "playback_url": "https://play.example.net/members.m3u8"},
}


class Deployment:
    """The main worker under test and what the tests need to check its answers."""

    def __init__(self):
        self.key = new_p384_key()
        self.public_pem = public_pem(self.key)
        self.session_secret = secrets.token_urlsafe(48)
        self.previous_secret = secrets.token_urlsafe(48)
        self.worker = Worker(
            {
                # The form `openssl ecparam -genkey` writes without -noout.
                "PLAYBACK_PRIVATE_KEY": sec1_pem(self.key, with_params=True),
                "SESSION_SECRET": self.session_secret,
                "SESSION_SECRET_PREVIOUS": self.previous_secret,
                "CHANNELS": json.dumps(CHANNELS),
                "TOKEN_TTL_SECONDS": "3600",
                "ALLOWED_ORIGINS": ALLOWED_ORIGINS,
            }
        )


@pytest.fixture(scope="session")
def deployment():
    d = Deployment()
    start_all([d.worker])
    yield d
    d.worker.stop()


def pytest_sessionfinish(session, exitstatus):
    """The secrets scan (tests/secret_scan.py): no private key, session secret or session cookie of
    this run in any worker log line or response body, and no issued token in any log line."""
    import secret_scan

    secret_scan.EXTRA_RESPONSE_FILES.extend(Path(__file__).resolve().parent.parent.glob("test-artifacts/schemathesis/*.yaml"))
    problems = secret_scan.scan()
    counts = {k: len(v) for k, v in secret_scan.REGISTERED.items()}
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    summary = (
        f"secrets scan: {counts['secret']} secrets and cookies, {counts['token']} issued tokens looked for in "
        f"{len(secret_scan.LOGS)} worker logs and {len(secret_scan.RESPONSES)} responses: {len(problems)} found"
    )
    if reporter:
        reporter.write_line(summary)
        for problem in problems[:50]:
            reporter.write_line("  LEAK " + problem)
    if problems:
        session.exitstatus = 1
