"""A Node script under tests/browser/ driven step by step over its stdin: it prints
`{"ready": true}` once Chromium is up, then answers each `{"fn", "args"}` line with `{"result"}`
or `{"error"}`. The chat tests (the page's, and the SDK against the stand-in) share it."""

import json
import os
import subprocess

from harness import ROOT

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


class BrowserDriver:
    def __init__(self, script: str, argument: dict):
        self.proc = subprocess.Popen(["node", str(ROOT / "tests" / "browser" / script), json.dumps(argument)],
                                     cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env={**os.environ, "CHROMIUM": CHROMIUM})
        line = self.proc.stdout.readline()
        assert line and json.loads(line) == {"ready": True}, self.proc.stderr.read()[-3000:] if not line else line

    def call(self, fn, *args):
        self.proc.stdin.write(json.dumps({"fn": fn, "args": list(args)}) + "\n")
        self.proc.stdin.flush()
        reply = json.loads(self.proc.stdout.readline())
        assert "error" not in reply, reply["error"]
        return reply["result"]

    def close(self):
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
