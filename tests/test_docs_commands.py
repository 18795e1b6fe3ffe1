"""The docs' commands work as written: every `ivs-token` command (and the shell lines around it that
set its inputs: variables, `openssl rand` secrets) in the README's and docs/'s `sh` blocks is run, in
the order a reader meets it, in one shell per document with a fresh HOME. Commands that need an
account or a deployment (`npx wrangler`, `aws`, `curl`, `ivs-token admin`: tests/test_devices.py
runs it against `wrangler dev`) are left out; `make dev` and `make test` are what CI itself runs."""

import os
import re
import subprocess
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
