"""The bundle of `make dist` deploys with Node.js alone: scripts/dist.sh (on the existing build/),
then, from its tarball unpacked elsewhere and with no cargo, rustc or rustup on the PATH,
`npm ci` (offline: from the npm cache the repository's own `npm ci` filled), `wrangler deploy
--dry-run` and `wrangler dev`, whose tokens PyJWT verifies. A control shows that the same PATH
cannot run a build that needs cargo, so the bundle passes because it needs none."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import tarfile
import tomllib
from pathlib import Path

import pytest
import secret_scan
from harness import (
    ROOT,
    Worker,
    dotenv_line,
    free_port,
    new_p384_key,
    public_pem,
    sec1_pem,
    session_cookie,
    start_all,
    verify_playback_token,
)

RUST_TOOLS = ("cargo", "rustc", "rustup")


def version() -> str:
    return tomllib.loads((ROOT / "Cargo.toml").read_text())["package"]["version"]


def node_only_env() -> dict:
    """The environment of a JavaScript team's machine: this one's, less every PATH entry that holds
    a Rust tool, and less the Rust variables."""
    env = dict(os.environ)
    for name in ("CARGO_HOME", "RUSTUP_HOME", "RUSTUP_TOOLCHAIN", "CARGO", "SKIP_WORKER_BUILD"):
        env.pop(name, None)
    entries = [p for p in env["PATH"].split(os.pathsep) if p and not any((Path(p) / t).exists() for t in RUST_TOOLS)]
    env["PATH"] = os.pathsep.join(entries)
    env.update(
        WRANGLER_SEND_METRICS="false",
        WRANGLER_SEND_ERROR_REPORTS="false",
        CLOUDFLARE_CF_FETCH_ENABLED="false",
        NO_COLOR="1",
    )
    return env


def run(cmd: list[str], cwd: Path, env: dict, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    """dist/ made by scripts/dist.sh, its tarball unpacked in a fresh folder, and `npm ci` run there
    without a Rust toolchain."""
    env = dict(os.environ, SKIP_WORKER_BUILD="1")
    made = run(["sh", "scripts/dist.sh"], ROOT, env)
    assert made.returncode == 0, made.stdout + made.stderr
    tarball = ROOT / "dist" / f"ivs-token-worker-{version()}.tar.gz"
    assert tarball.is_file(), sorted(p.name for p in (ROOT / "dist").iterdir())
    where = tmp_path_factory.mktemp("team")
    with tarfile.open(tarball) as tar:
        names = tar.getnames()
        assert all(n == f"ivs-token-worker-{version()}" or n.startswith(f"ivs-token-worker-{version()}/") for n in names), names
        tar.extractall(where, filter="data")
    copy = where / f"ivs-token-worker-{version()}"
    # The tarball holds dist/ exactly (less itself).
    in_dist = sorted(p.relative_to(ROOT / "dist").as_posix() for p in (ROOT / "dist").rglob("*") if p != tarball)
    assert sorted(p.relative_to(copy).as_posix() for p in copy.rglob("*")) == in_dist

    env = node_only_env()
    for tool in RUST_TOOLS:
        assert shutil.which(tool, path=env["PATH"]) is None, f"{tool} is still on the test's PATH"
    installed = run(["npm", "ci", "--offline", "--no-audit", "--no-fund"], copy, env)
    assert installed.returncode == 0, (
        "npm ci --offline failed in the bundle (its package-lock.json, or an npm cache without the "
        "repository's packages: run `make tools-node`):\n" + installed.stdout + installed.stderr[-3000:]
    )
    return copy


def test_the_bundle_has_the_worker_its_assets_and_the_projects_settings(bundle):
    repo = tomllib.loads((ROOT / "wrangler.toml").read_text())
    ours = tomllib.loads((bundle / "wrangler.toml").read_text())
    assert "build" not in ours, "the bundle's wrangler.toml must not build (it would need cargo)"
    assert {k: v for k, v in repo.items() if k != "build"} == ours, "every other setting is the project's own"
    assert (bundle / ours["main"]).is_file()
    assert (bundle / ours["main"]).read_bytes() == (ROOT / repo["main"]).read_bytes()
    wasm = (ROOT / repo["main"]).parent / "index_bg.wasm"
    assert (bundle / ours["main"]).parent.joinpath("index_bg.wasm").read_bytes() == wasm.read_bytes()
    assert (bundle / ours["assets"]["directory"] / "player" / "amazon-ivs-player.min.js").is_file()
    assert not (bundle / "build" / ".gitignore").exists(), "a team that commits the bundle would lose build/"
    assert not list(bundle.rglob(".dev.vars*")) and not (bundle / ".dev").exists()

    lock = json.loads((ROOT / "package-lock.json").read_text())
    pinned = lock["packages"]["node_modules/wrangler"]["version"]
    assert json.loads((bundle / "package.json").read_text())["dependencies"] == {"wrangler": pinned}
    bundle_lock = json.loads((bundle / "package-lock.json").read_text())["packages"]
    for path, entry in bundle_lock.items():
        if path:
            assert entry["integrity"] == lock["packages"][path]["integrity"], f"{path}: not the repository's"
    installed = json.loads((bundle / "node_modules" / "wrangler" / "package.json").read_text())["version"]
    assert installed == pinned

    readme = (bundle / "README.md").read_text()
    for words in ("npm ci", "npx wrangler deploy", "[vars]", "wrangler secret put"):
        assert words in readme, words


def test_the_bundles_cli_checks_the_settings_without_rust(bundle, tmp_path):
    """The bundle's operator CLI runs the worker's own configuration check on the bundle's
    wrangler.toml with no Rust toolchain on the PATH: a refusal for a missing secret, exit 0
    once the secrets are given (values never printed)."""
    clis = list((bundle / "bin").glob("ivs-token-*"))
    assert len(clis) == 1, clis
    env = node_only_env()
    refused = run([str(clis[0]), "check", "--config", "wrangler.toml"], bundle, env)
    assert refused.returncode == 1 and "PLAYBACK_PRIVATE_KEY" in refused.stdout + refused.stderr, refused.stdout + refused.stderr
    secrets_file = tmp_path / "secrets.env"
    key = sec1_pem(new_p384_key())
    session_secret = secrets.token_urlsafe(40)
    secrets_file.write_text(dotenv_line("PLAYBACK_PRIVATE_KEY", key) + dotenv_line("SESSION_SECRET", session_secret))
    ok = run([str(clis[0]), "check", "--config", "wrangler.toml", "--secrets", str(secrets_file)], bundle, env)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "BEGIN EC PRIVATE KEY" not in ok.stdout + ok.stderr and session_secret not in ok.stdout + ok.stderr


def test_wrangler_deploy_dry_run_without_rust(bundle, tmp_path):
    env = node_only_env()
    out = tmp_path / "out"
    result = run(["npx", "wrangler", "deploy", "--dry-run", "--outdir", str(out)], bundle, env)
    assert result.returncode == 0, result.stdout + result.stderr
    wasm = [p for p in out.iterdir() if p.name.endswith(".wasm")]
    assert len(wasm) == 1, sorted(p.name for p in out.iterdir())
    assert wasm[0].read_bytes() == (bundle / "build" / "index_bg.wasm").read_bytes()
    assert "DEVICE_LEDGER" in result.stdout, "the Durable Object binding is deployed with the worker"

    # The control: on this PATH a build that needs cargo fails, so the bundle passed because it
    # needs none (a bundle that kept the project's [build] command would fail the same way).
    control = tmp_path / "control"
    shutil.copytree(bundle, control, symlinks=True, ignore=shutil.ignore_patterns("node_modules", ".wrangler"))
    (control / "node_modules").symlink_to(bundle / "node_modules")
    text = (control / "wrangler.toml").read_text()
    (control / "wrangler.toml").write_text(text.replace("\n[observability]", '\n[build]\ncommand = "cargo --version"\n\n[observability]', 1))
    failed = run(["npx", "wrangler", "deploy", "--dry-run", "--outdir", str(tmp_path / "control-out")], control, env)
    assert failed.returncode != 0, "cargo ran on a PATH that should not have it:\n" + failed.stdout


class BundleWorker(Worker):
    """`wrangler dev` in the bundle, with the secrets in its .dev.vars, on the node-only PATH."""

    def __init__(self, bundle: Path, settings: dict):
        super().__init__(settings)
        self.bundle = bundle

    def start(self) -> "BundleWorker":
        for name, value in self.settings.items():
            secret_scan.register_setting(name, value)
        dev_vars = self.bundle / ".dev.vars"
        dev_vars.write_text("".join(dotenv_line(k, v) for k, v in self.settings.items()))
        dev_vars.chmod(0o600)
        cmd = [
            "npx", "wrangler", "dev",
            "--ip", "127.0.0.1",
            "--port", str(self.port),
            "--inspector-port", str(free_port()),
            "--show-interactive-dev-session=false",
        ]
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            cmd, cwd=self.bundle, env=node_only_env(), stdin=subprocess.DEVNULL, stdout=self.log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )
        return self


def test_wrangler_dev_from_the_bundle_signs_tokens_pyjwt_verifies(bundle):
    key = new_p384_key()
    session_secret = secrets.token_urlsafe(48)
    worker = BundleWorker(bundle, {"PLAYBACK_PRIVATE_KEY": sec1_pem(key), "SESSION_SECRET": session_secret})
    start_all([worker])
    try:
        health = worker.get("/healthz")
        assert health.status == 200, health.text
        assert health.json() == {"status": "ok"}

        public = worker.get("/v1/public-key")
        assert public.status == 200
        assert public.text.strip() == public_pem(key).strip()

        cookie = session_cookie(session_secret, sub="team@example.com")
        r = worker.get("/v1/token?channel=demo", headers={"Cookie": f"session={cookie}"})
        assert r.status == 200, r.text
        header, claims = verify_playback_token(r.json()["token"], public.text)
        assert header["alg"] == "ES384"
        demo = tomllib.loads((bundle / "wrangler.toml").read_text())["vars"]["CHANNELS"]["demo"]
        assert claims["aws:channel-arn"] == demo["arn"]
        assert r.json()["playback_url"].startswith(demo["playback_url"] + "?token=")
    finally:
        worker.stop()
