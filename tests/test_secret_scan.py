"""The secrets scan can fail: a planted secret, cookie or token is found where it must not be."""

import secret_scan


def test_the_scan_finds_planted_secrets(tmp_path, monkeypatch):
    monkeypatch.setattr(secret_scan, "REGISTERED", {"secret": set(), "token": set()})
    monkeypatch.setattr(secret_scan, "RESPONSES", [])
    monkeypatch.setattr(secret_scan, "LOGS", [])
    pem = "-----BEGIN EC PRIVATE KEY-----\n" + "A" * 64 + "\n" + "B" * 64 + "\n-----END EC PRIVATE KEY-----\n"
    secret_scan.register_setting("PLAYBACK_PRIVATE_KEY", pem)
    secret_scan.register_setting("CHANNELS", "{\"not\": \"a secret at all, long enough to count\"}")
    secret_scan.register("token", "eyJhbGciOiJFUzM4NCJ9.issued.token-value")
    log = tmp_path / "worker.log"
    log.write_text('{"status":200}\nleaked ' + "B" * 64 + '\n{"token":"eyJhbGciOiJFUzM4NCJ9.issued.token-value"}\n')
    secret_scan.LOGS.append(log)
    secret_scan.RESPONSES.append(("/v1/token", b'{"token":"eyJhbGciOiJFUzM4NCJ9.issued.token-value"}'))
    secret_scan.RESPONSES.append(("/healthz", b'{"status":"ok"}'))
    problems = secret_scan.scan()
    assert len(problems) == 2, problems
    assert problems[0].endswith(":2: secret BBBBBB…(64 chars)")
    assert problems[1].endswith(":3: token eyJhbG…(39 chars)"), "tokens are looked for in logs, not in their own answer"
    assert secret_scan.hits('{"not": "a secret at all, long enough to count"}', log=True) == []
