"""The docs' commands work as written: every `ivs-token` command (and the shell lines around it that
set its inputs: variables, `openssl rand` secrets) in the README's and docs/'s `sh` blocks is run, in
the order a reader meets it, in one shell per document with a fresh HOME. Commands that need an
account or a deployment (`npx wrangler`, `aws`, `curl`, `ivs-token admin`: tests/test_devices.py
runs it against `wrangler dev`) are left out; `make dev` and `make test` are what CI itself runs.
The `npx wrangler` commands are checked, not run: each subcommand and flag against the pinned
wrangler's --help."""

import os
import re
import shlex
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from harness import CLI, ROOT

CLI_DIR = CLI.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# A line that only sets a shell variable to plain text (no command substitution).
PLAIN_ASSIGNMENT = re.compile(r"^[A-Z_]+=[^$`(]*$")


def sh_blocks(path: Path) -> list[list[str]]:
    """The fenced `sh` blocks of a Markdown file, as lists of lines."""
    blocks, fence = [], None  # fence: the open block's language, while inside one
    for line in path.read_text().splitlines():
        if line.startswith("```"):
            fence = line[3:].strip() if fence is None else None
            if fence in ("sh", "bash", "shell"):
                blocks.append([])
        elif fence in ("sh", "bash", "shell"):
            blocks[-1].append(line)
    return blocks


def runnable(lines: list[str]) -> list[str]:
    """The offline commands of a block, continuation lines kept with their command."""
    out, keep = [], False
    for line in lines:
        stripped = line.strip()
        if keep:  # continuation of a kept command
            out.append(line)
        else:
            command = re.sub(r"^[A-Z_]+=\$\(", "", stripped)
            offline = command.startswith(("ivs-token ", "(umask 077; openssl rand")) and not command.startswith("ivs-token admin ")
            keep = offline or bool(PLAIN_ASSIGNMENT.match(stripped))
            if keep:
                out.append(line)
        keep = keep and stripped.endswith("\\")
    return out


def documented_commands() -> list[tuple[str, str]]:
    cases = []
    for path in DOCS:
        script = [line for block in sh_blocks(path) for line in runnable(block)]
        if any("ivs-token " in line for line in script):
            cases.append((path.relative_to(ROOT).as_posix(), "\n".join(script)))
    return cases


def test_the_docs_have_cli_commands_to_check():
    names = [name for name, _ in documented_commands()]
    assert "docs/deploying.md" in names and "docs/stages.md" in names, names


@pytest.mark.parametrize("name,script", documented_commands(), ids=lambda v: v if v.endswith(".md") else "")
def test_documented_cli_commands_run_as_written(name, script, tmp_path):
    env = dict(os.environ, HOME=str(tmp_path), PATH=f"{CLI_DIR}:{os.environ['PATH']}")
    env.pop("SESSION_SECRET", None)
    # Inputs a reader sets from their own deployment; the docs name them in prose.
    prelude = "STAGE_ARN=arn:aws:ivs:us-east-1:123456789012:stage/AbCdEfGh1234\n"
    if "keygen --out ~/ivs-keys " not in script + " ":
        # A guide that uses the deploy guide's keys (its steps 3 and 8 make them).
        prelude += "ivs-token keygen --out ~/ivs-keys >/dev/null\n(umask 077; openssl rand -base64 48 > ~/ivs-keys/session-secret)\n"
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", prelude + script], cwd=tmp_path, env=env,
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, f"{name}: a documented command failed:\n{script}\n---\n{result.stderr[-3000:]}"


# `npx wrangler` commands are not run (they need an account), but each one's subcommand and flags
# are checked against the pinned wrangler's own --help, so the rollout and rollback commands the
# docs give cannot drift from the wrangler the project installs.
WRANGLER = ROOT / "node_modules" / ".bin" / "wrangler"
SHELL_STOP = {"<", ">", ">>", "|", "||", "&&", ";", "2>&1"}
_HELP: dict[tuple[str, ...], str] = {}


def wrangler_help(paths: list[tuple[str, ...]]) -> None:
    """Fetch `wrangler PATH --help` for each path not fetched yet, a few at a time (wrangler takes
    seconds to start)."""
    env = dict(os.environ, WRANGLER_SEND_METRICS="false", WRANGLER_SEND_ERROR_REPORTS="false", NO_COLOR="1")

    def run(path):
        result = subprocess.run([str(WRANGLER), *path, "--help"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, f"wrangler {' '.join(path)} --help: {result.stderr[-1000:]}"
        return path, result.stdout

    todo = sorted(set(paths) - set(_HELP))
    with ThreadPoolExecutor(max_workers=2) as pool:
        _HELP.update(pool.map(run, todo))


def wrangler_subcommands(path: tuple[str, ...]) -> set[str]:
    """The subcommands `wrangler PATH --help` lists (lines `  wrangler PATH NAME ...`)."""
    prefix = " ".join(("wrangler", *path)) + " "
    names = set()
    for line in _HELP[path].splitlines():
        line = line.strip()
        if line.startswith(prefix):
            name = line[len(prefix):].split(" ")[0]
            if name and name[0] not in "[<":
                names.add(name)
    return names


def documented_wrangler_commands() -> list[tuple[str, list[str]]]:
    """(document, words after `npx wrangler`) for each command line of the docs' sh blocks."""
    found = []
    for path in DOCS:
        for block in sh_blocks(path):
            for line in block:
                at = line.find("npx wrangler ")
                if at < 0 or line[:at].strip().startswith("#"):
                    continue
                words = shlex.split(line[at:], comments=True)[2:]
                cut = next((i for i, w in enumerate(words) if w in SHELL_STOP), len(words))
                found.append((path.relative_to(ROOT).as_posix(), words[:cut]))
    return found


def test_documented_wrangler_commands_exist_in_the_pinned_wrangler():
    # Walk every command down its subcommands, one level at a time for all of them at once.
    walking = [(doc, (), list(words)) for doc, words in documented_wrangler_commands()]
    commands = []
    while walking:
        wrangler_help([path for _, path, _ in walking])
        deeper = []
        for doc, path, rest in walking:
            if rest and rest[0] in wrangler_subcommands(path):
                deeper.append((doc, path + (rest[0],), rest[1:]))
            else:
                commands.append((doc, path, rest))
        walking = deeper
    seen = set()
    for doc, path, rest in commands:
        assert path, f"{doc}: `npx wrangler {' '.join(rest)}` names no wrangler command"
        assert not wrangler_subcommands(path), f"{doc}: `wrangler {' '.join(path)}` needs a subcommand"
        for word in rest:
            if word.startswith("-"):
                flag = word.split("=")[0]
                assert re.search(rf"(^|\s|,){re.escape(flag)}(\s|,|$)", _HELP[path], re.M), (
                    f"{doc}: `wrangler {' '.join(path)}` has no flag {flag} in wrangler {wrangler_version()}"
                )
        seen.add(" ".join(path))
    # The staged rollout and the undo (docs/deploying.md, "Ship safely and undo") are among them.
    for needed in ("versions upload", "versions deploy", "rollback", "versions secret put", "tail", "deploy"):
        assert needed in seen, (needed, sorted(seen))


def wrangler_version() -> str:
    env = dict(os.environ, WRANGLER_SEND_METRICS="false")
    return subprocess.run([str(WRANGLER), "--version"], env=env, capture_output=True, text=True).stdout.strip()
