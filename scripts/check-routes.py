#!/usr/bin/env python3
"""Fail when a route is decided outside the router.

The paths are known in one place, `src/http/route.rs` (`Route::of`); the router and every step the
Workers layer is asked to do before it (the ledger command, the sign-in fetches, the body to read)
match on `Route`, never on the path again, so they cannot drift apart (issue 23: a drift between
the router and the ledger step could silently skip a device check). Checked, in code that is not a
test (`#[cfg(test)] mod ... { }` blocks are skipped, as are comments):

  glue      no string literal that starts like a path (`"/v1/...`, `"/healthz"`) in `src/edge/`:
            the Workers layer fulfils what the core asks for and knows no route;
  matching  outside `src/http/route.rs`: no `.path == "..."` / `.path != "..."`, no
            `strip_prefix("/...")`, no match arm on a path literal (`"/login" =>`,
            `("GET", "/v1/token") =>`).

Exit 1 after printing `file:line: rule: text` for each, else exit 0 with "routes: decided once
(N files)". Options: --src DIR (default: src/ beside scripts/), --self-test (check this script on a
small generated tree: a clean one must pass, each kind of violation must be caught).
"""
import argparse, os, re, sys, tempfile

STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
PATH_LITERAL = re.compile(r'"/[A-Za-z_]')
RULES = [
    ("matching", re.compile(r'\.path\s*[!=]=\s*"')),
    ("matching", re.compile(r'strip_prefix\(\s*"/')),
    ("matching", re.compile(r'^\s*(?:\(\s*"[A-Z|" ]+"\s*,\s*)?"/[^"]*"\s*\)?\s*(?:\||=>|if\b)')),
]
ROUTER = os.path.join("http", "route.rs")


def code_lines(text):
    """(line number, line without its comment) for the lines outside test modules."""
    lines, skip_until = text.splitlines(), None
    pending_cfg_test = False
    for number, line in enumerate(lines, 1):
        if skip_until is not None:
            if line == skip_until:
                skip_until = None
            continue
        stripped = line.strip()
        if stripped == "#[cfg(test)]":
            pending_cfg_test = True
            continue
        if pending_cfg_test and re.match(r"(pub(\([^)]*\))?\s+)?mod \w+ \{$", stripped):
            skip_until = line[: len(line) - len(line.lstrip())] + "}"
            pending_cfg_test = False
            continue
        pending_cfg_test = False
        # Cut a `//` comment that is not inside a string literal.
        masked = STRING.sub(lambda m: '"' + "x" * (len(m.group(0)) - 2) + '"', line)
        cut = masked.find("//")
        yield number, line if cut < 0 else line[:cut]


def check(src):
    problems, files = [], 0
    for root, _, names in os.walk(src):
        for name in sorted(names):
            if not name.endswith(".rs"):
                continue
            path = os.path.join(root, name)
            relative = os.path.relpath(path, src)
            files += 1
            in_glue = relative.startswith("edge" + os.sep)
            with open(path, encoding="utf-8") as f:
                text = f.read()
            for number, line in code_lines(text):
                if in_glue and any(PATH_LITERAL.match(s.group(0)) for s in STRING.finditer(line)):
                    problems.append(f"{path}:{number}: glue: {line.strip()}")
                if relative == ROUTER:
                    continue
                for rule, pattern in RULES:
                    if pattern.search(line):
                        problems.append(f"{path}:{number}: {rule}: {line.strip()}")
                        break
    return problems, files


def self_test():
    clean = {
        "http/route.rs": 'pub fn of(p: &str) { match p { "/healthz" => 1, _ => 0 }; p.strip_prefix("/watch/"); }\n',
        "http/mod.rs": 'fn f(r: R) { match Route::of(r.path) { Route::Health => 1 } }\n'
        '// a comment may say "/healthz" == path\n'
        '#[cfg(test)]\nmod tests {\n    fn t() { if r.path == "/healthz" {} }\n}\n',
        "edge/mod.rs": 'fn f() { let url = "https://example.com"; let s = "a/b"; } // "/healthz"\n',
    }
    bad = {
        "edge/mod.rs": ('fn f() { if x { fetches("/healthz") } }\n', "glue"),
        "http/device.rs": ('fn f(r: R) { if r.path == "/v1/token" {} }\n', "matching"),
        "http/signin.rs": ('fn f(p: &str) { p.strip_prefix("/callback/"); }\n', "matching"),
        "http/watch.rs": ('fn f(m: &str, p: &str) { match (m, p) {\n    ("GET" | "HEAD", "/v1/token") => 1,\n    _ => 0 } }\n', "matching"),
        "http/index.rs": ('fn f(p: &str) { match p {\n    "/login" | "/logout" => 1,\n    _ => 0 } }\n', "matching"),
    }

    def tree(files):
        root = tempfile.mkdtemp()
        for rel, text in files.items():
            os.makedirs(os.path.dirname(os.path.join(root, rel)), exist_ok=True)
            with open(os.path.join(root, rel), "w") as f:
                f.write(text)
        return root

    found, _ = check(tree(clean))
    assert not found, f"a clean tree was refused: {found}"
    for rel, (text, rule) in bad.items():
        found, _ = check(tree({**clean, rel: text}))
        assert any(f": {rule}: " in p and rel in p for p in found), f"{rel} ({rule}) not caught: {found}"
    print(f"check-routes self-test: a clean tree passes, {len(bad)} violations caught")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))
    parser.add_argument("--self-test", action="store_true")
    args = parser.parse_args()
    if args.self_test:
        self_test()
        return 0
    problems, files = check(os.path.normpath(args.src))
    for problem in problems:
        print(problem)
    if problems:
        print(f"routes: {len(problems)} decided outside src/{ROUTER} (see scripts/check-routes.py)", file=sys.stderr)
        return 1
    print(f"routes: decided once ({files} files)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
