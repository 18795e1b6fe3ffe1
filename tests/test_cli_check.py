"""`ivs-token check` (issue 24), driven as a real binary on the repository's own wrangler.toml and
broken copies of it: exit 0 exactly when the worker would serve, 1 with the worker's own message
when it would answer 500 misconfigured, 2 for unusable inputs; and never a secret's value."""

import json
import os
import secrets
import subprocess

import pytest
import secret_scan
from harness import CLI, ROOT, new_p384_key, sec1_pem

KEY_PEM = sec1_pem(new_p384_key())
SESSION_SECRET = secrets.token_urlsafe(48)
ADMIN_TOKEN = secrets.token_urlsafe(40)
AWS_SECRET = secrets.token_urlsafe(30)
WRANGLER_TOML = (ROOT / "wrangler.toml").read_text()
for value in (KEY_PEM, SESSION_SECRET, ADMIN_TOKEN, AWS_SECRET):
    secret_scan.register("secret", value)


def dev_vars(**values) -> str:
    """A .dev.vars as scripts/dev-vars.sh writes one: NAME="value", the PEM over several lines."""
    return "# test secrets\n" + "".join(f'{name}="{value}"\n' for name, value in values.items())


GOOD_SECRETS = dev_vars(PLAYBACK_PRIVATE_KEY=KEY_PEM, SESSION_SECRET=SESSION_SECRET)


def check(tmp_path, *args, toml=WRANGLER_TOML, secrets_text=GOOD_SECRETS, env=None, listed=None):
    config = tmp_path / "wrangler.toml"
    config.write_text(toml)
    argv = [str(CLI), "check", "--config", str(config), *args]
    if secrets_text is not None:
        (tmp_path / "secrets.vars").write_text(secrets_text)
        argv += ["--secrets", str(tmp_path / "secrets.vars")]
    if listed is not None:
        (tmp_path / "secrets.json").write_text(json.dumps([{"name": n, "type": "secret_text"} for n in listed]))
        argv += ["--secret-names", str(tmp_path / "secrets.json")]
    # Only what the test gives: no setting from the environment the tests run in.
    clean = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **(env or {})}
    p = subprocess.run(argv, capture_output=True, text=True, env=clean, timeout=60)
    output = p.stdout + p.stderr
    for value in (KEY_PEM, SESSION_SECRET, ADMIN_TOKEN, AWS_SECRET):
        for line in value.splitlines():
            if not line.startswith("-----"):
                assert line not in output, "a secret's value was printed"
    return p.returncode, output


def with_vars(extra: str) -> str:
    """The repository's wrangler.toml with lines added to its [vars]."""
    assert "\n[vars]\n" in WRANGLER_TOML
    return WRANGLER_TOML.replace("\n[vars]\n", "\n[vars]\n" + extra + "\n", 1)


def test_the_repositorys_wrangler_toml_with_its_secrets_serves(tmp_path):
    code, out = check(tmp_path)
    assert code == 0, out
    assert "ok: " in out and "the worker would serve: 1 channel (demo)" in out
    assert "device limits off" in out and "warning" not in out


def test_secrets_from_the_environment(tmp_path):
    code, out = check(tmp_path, secrets_text=None,
                      env={"PLAYBACK_PRIVATE_KEY": KEY_PEM, "SESSION_SECRET": SESSION_SECRET, "UNRELATED": "x"})
    assert code == 0, out
    assert "UNRELATED" not in out, "only names the worker reads are taken from the environment"


BROKEN = {
    "missing secret": (
        {"secrets_text": dev_vars(PLAYBACK_PRIVATE_KEY=KEY_PEM)},
        "error: setting SESSION_SECRET: is not set; set it with `wrangler secret put`",
    ),
    "no secrets at all": (
        {"secrets_text": None},
        "error: setting PLAYBACK_PRIVATE_KEY: is not set",
    ),
    "misspelled var": (
        {"toml": with_vars('DEVICE_LIMIT = { default = 1 }')},
        "error: setting DEVICE_LIMITS: `DEVICE_LIMIT` is not a setting; did you mean `DEVICE_LIMITS`? "
        "rename it in wrangler.toml [vars] or the secret",
    ),
    "misspelled secret": (
        {"secrets_text": GOOD_SECRETS + dev_vars(ADMIN_API_TOKN=ADMIN_TOKEN)},
        "error: setting ADMIN_API_TOKEN: `ADMIN_API_TOKN` is not a setting; did you mean `ADMIN_API_TOKEN`?",
    ),
    "lower-case var": (
        {"toml": with_vars('login_url = "/login"')},
        "error: setting LOGIN_URL: `login_url` is not a setting; did you mean `LOGIN_URL`?",
    ),
    "table that is not JSON": (
        {"toml": WRANGLER_TOML.split("[vars.CHANNELS.demo]")[0].replace("\n[vars]\n", '\n[vars]\nCHANNELS = "{demo"\n', 1)},
        "error: setting CHANNELS: is not valid JSON",
    ),
    "bad field in a table": (
        {"toml": WRANGLER_TOML.replace('arn = "arn:aws:ivs:', 'arn = "arn:aws:ivx:', 1)},
        "error: setting CHANNELS: channel `demo`: ",
    ),
    "number out of range": (
        {"toml": WRANGLER_TOML.replace("TOKEN_TTL_SECONDS = 300", "TOKEN_TTL_SECONDS = 0", 1)},
        "error: setting TOKEN_TTL_SECONDS: must be a whole number of seconds",
    ),
    "device limits without their AWS key": (
        {"toml": with_vars('DEVICE_LIMITS = { default = 1 }')},
        "error: setting AWS_ACCESS_KEY_ID: is not set; DEVICE_LIMITS needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
    ),
    "environment without vars (wrangler does not inherit them)": (
        {"toml": WRANGLER_TOML + '\n[env.staging]\nname = "ivs-token-worker-staging"\n', "args": ["--env", "staging"]},
        "error: setting CHANNELS: is not set; add a [vars.CHANNELS] table",
    ),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_a_configuration_the_worker_refuses_exits_1_with_its_message(tmp_path, case):
    kwargs, message = BROKEN[case]
    kwargs = dict(kwargs)
    args = kwargs.pop("args", [])
    code, out = check(tmp_path, *args, **kwargs)
    assert code == 1, out
    assert message in out, out
    assert "the worker would answer 500 misconfigured" in out


def test_an_environment_with_its_own_vars(tmp_path):
    staging = '\n[env.staging]\nname = "s"\n[env.staging.vars]\nTOKEN_TTL_SECONDS = 120.0\nFOO_BAR = "x"\n' \
              '[env.staging.vars.CHANNELS.live]\narn = "arn:aws:ivs:us-west-2:123456789012:channel/live0000001"\n' \
              'playback_url = "https://0123456789ab.us-west-2.playback.live-video.net/api/video/v1/live.m3u8"\n'
    code, out = check(tmp_path, "--env", "staging", toml=WRANGLER_TOML + staging)
    assert code == 0, out
    assert "[env.staging]: the worker would serve: 1 channel (live)" in out, out
    assert "warning: `FOO_BAR` is not a setting the worker reads" in out


def test_unknown_names_are_reported_not_refused(tmp_path):
    code, out = check(tmp_path, toml=with_vars('FOO_BAR = "1"'), secrets_text=GOOD_SECRETS + dev_vars(SENTRY_DSN="x"))
    assert code == 0, out
    assert "warning: `FOO_BAR` is not a setting the worker reads" in out
    assert "warning: `SENTRY_DSN` is not a setting the worker reads" in out
    assert "2 unknown names" in out


def test_every_misspelling_is_named_in_one_run(tmp_path):
    code, out = check(tmp_path, toml=with_vars('STAGE = "x"\nDEVICE_LIMIT = 1'))
    assert code == 1
    assert "did you mean `STAGES`?" in out and "did you mean `DEVICE_LIMITS`?" in out


def test_usage_errors_exit_2(tmp_path):
    code, out = check(tmp_path, "--env", "production")
    assert code == 2 and "no [env.production] (environments: none)" in out, out
    code, out = check(tmp_path, toml="[vars\n")
    assert code == 2 and "not valid TOML" in out, out
    p = subprocess.run([str(CLI), "check", "--config", str(tmp_path / "missing.toml")], capture_output=True, text=True)
    assert p.returncode == 2 and "cannot read" in p.stderr
    p = subprocess.run([str(CLI), "check", "--config", str(ROOT / "wrangler.toml"), "--secrets", str(tmp_path / "none")],
                       capture_output=True, text=True)
    assert p.returncode == 2 and "cannot read" in p.stderr
    (tmp_path / "list.json").write_text('{"name": "x"}')
    code, out = check(tmp_path, "--secret-names", str(tmp_path / "list.json"))
    assert code == 2 and "wrangler secret list --format json" in out, out


def test_secrets_at_cloudflare(tmp_path):
    # Both exist at Cloudflare, no value given: checked for presence only, and said so.
    code, out = check(tmp_path, secrets_text=None, listed=["PLAYBACK_PRIVATE_KEY", "SESSION_SECRET"])
    assert code == 0, out
    assert "note: `SESSION_SECRET` exists at Cloudflare; its value was not given" in out and "not checked" in out
    # A value given for a secret Cloudflare does not have: the deployed worker lacks it.
    code, out = check(tmp_path, listed=["PLAYBACK_PRIVATE_KEY"])
    assert code == 1, out
    assert "warning: `SESSION_SECRET` has a value in " in out and "not a secret at Cloudflare" in out
    assert "error: setting SESSION_SECRET: is not set" in out
    # Values given for what Cloudflare has are checked as usual.
    code, out = check(tmp_path, secrets_text=dev_vars(PLAYBACK_PRIVATE_KEY=KEY_PEM, SESSION_SECRET="short"),
                      listed=["PLAYBACK_PRIVATE_KEY", "SESSION_SECRET"])
    assert code == 1 and "error: setting SESSION_SECRET: is 5 bytes" in out, out
    # A misspelled secret at Cloudflare is refused like a misspelled var.
    code, out = check(tmp_path, listed=["PLAYBACK_PRIVATE_KEY", "SESSION_SECRET", "SESSON_SECRET_PREVIOUS"])
    assert code == 1 and "did you mean `SESSION_SECRET_PREVIOUS`?" in out, out


def test_device_limits_with_their_secrets(tmp_path):
    secrets_text = GOOD_SECRETS + dev_vars(AWS_ACCESS_KEY_ID="AKIAIOSFODNN7EXAMPLE", AWS_SECRET_ACCESS_KEY=AWS_SECRET,
                                           ADMIN_API_TOKEN=ADMIN_TOKEN)
    code, out = check(tmp_path, toml=with_vars('DEVICE_LIMITS = { default = 2, groups = { family = 4 } }'),
                      secrets_text=secrets_text)
    assert code == 0, out
    assert "device limits on" in out
