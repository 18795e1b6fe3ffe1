#!/usr/bin/env python3
"""Write src/public_suffixes.txt, the part of the Public Suffix List the worker compiles in.

`address::check_origin` refuses a wildcard origin (`https://*.co.uk`) whose domain is a public
suffix. A one-label name (`com`, `example`) is always one (the list's default rule `*`), so only
these rules are kept: names of two or more labels (`co.uk`, `github.io`), wildcards (`*.ck`) and
exceptions (`!www.ck`), with international labels in their `xn--` form (settings are ASCII).

The file holds one line per parent domain, the rules' first labels after it (`ck !www *`:
`*.ck` and `!www.ck`; `uk ac co gov ...`: `ac.uk`, `co.uk`, ...), lines ordered by their labels
from the top-level one down (`uk`, `ac.uk`, `co.uk`, ...). About 9,000 rules on 1,240 lines,
31 KB gzip (one rule a line was 41 KB): the whole list compiled into code (the `psl` crate)
would add 258 KB gzip of wasm.

    scripts/update-public-suffixes.py [LIST]

LIST is a copy of the list in its published format (comments and blank lines are skipped): by
default /usr/share/publicsuffix/public_suffix_list.dat from Debian's `publicsuffix` package; the
list's own site, https://publicsuffix.org/list/, has the newest. Commit the result with the source
named in the commit message.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "src" / "public_suffixes.txt"
DEFAULT = "/usr/share/publicsuffix/public_suffix_list.dat"

HEADER = """\
// Public Suffix List rules (https://publicsuffix.org/list/), Mozilla Public License 2.0
// (https://mozilla.org/MPL/2.0/), as the list itself is. Kept: rules of two or more labels,
// wildcards and exceptions; international labels as xn--. Written by
// scripts/update-public-suffixes.py; read by address::is_public_suffix.
// One line per parent domain: `parent label label ...`, each label a rule `label.parent`; `*` is
// the wildcard `*.parent`, `!label` the exception `!label.parent`.
"""


def ascii_label(label: str) -> str:
    if label in ("*",) or label.isascii():
        return label.lower()
    return label.encode("idna").decode("ascii")


def convert(rule: str) -> str | None:
    rule = rule.split()[0]
    exception = rule.startswith("!")
    name = rule[1:] if exception else rule
    labels = [ascii_label(label) for label in name.split(".")]
    if len(labels) < 2 and not exception:
        return None
    return ("!" if exception else "") + ".".join(labels)


def grouped(rules: set[str]) -> list[str]:
    """One line per parent: `parent word word ...` (words sorted: exceptions, `*`, labels)."""
    by_parent: dict[str, set[str]] = {}
    for rule in rules:
        exception = rule.startswith("!")
        first, parent = (rule[1:] if exception else rule).split(".", 1)
        by_parent.setdefault(parent, set()).add(("!" if exception else "") + first)
    order = sorted(by_parent, key=lambda parent: parent.split(".")[::-1])
    return [" ".join([parent, *sorted(by_parent[parent])]) for parent in order]


def main() -> None:
    source = Path(sys.argv[1] if len(sys.argv) > 1 else DEFAULT)
    rules = set()
    for line in source.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("//"):
            continue
        rule = convert(line)
        if rule:
            rules.add(rule)
    lines = grouped(rules)
    OUT.write_text(HEADER + "".join(f"{line}\n" for line in lines), encoding="ascii")
    print(f"update-public-suffixes: {len(rules)} rules on {len(lines)} lines from {source} -> {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
