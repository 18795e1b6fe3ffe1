#!/usr/bin/env python3
"""Check that every relative link and #anchor in the project's Markdown resolves.

Looks at *.md at the top level of the repository and in docs/ (or the files given as arguments):
inline links and images `[text](target)`, reference definitions `[label]: target`, and HTML
`href="..."` / `src="..."`. External targets (`https:`, `mailto:`, ...) are not fetched. A
relative target must name an existing file or directory; a `#anchor` (alone, or after a .md
target) must be a heading of that file under GitHub's rules (lower case, spaces to `-`,
punctuation other than `-` and `_` dropped, `-1`, `-2`... for repeated headings) or an explicit
`id`/`name` in HTML. Code blocks and inline code are ignored.

Exit status 0 when every link resolves, 1 otherwise (each broken link is listed as
`file:line: target: reason`). Standard library only.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from pathlib import Path
from urllib.parse import unquote

ROOT = Path(__file__).resolve().parent.parent

FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
ATX = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")
SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
INLINE_CODE = re.compile(r"(`+)(.+?)\1")
# [text](target "title") and ![alt](target); the target may be <...>.
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*(<[^>]*>|[^)\s]*)(?:\s+(?:\"[^\"]*\"|'[^']*'|\([^)]*\)))?\s*\)")
REFERENCE_DEF = re.compile(r"^ {0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)")
HTML_ATTR_LINK = re.compile(r"""\b(?:href|src)\s*=\s*["']([^"']*)["']""", re.IGNORECASE)
HTML_ANCHOR = re.compile(r"""<[a-zA-Z][^>]*\b(?:id|name)\s*=\s*["']([^"']+)["']""")
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def default_files() -> list[Path]:
    files = sorted(ROOT.glob("*.md")) + sorted((ROOT / "docs").glob("*.md"))
    return [f for f in files if f.is_file()]


def strip_inline_markup(text: str) -> str:
    """The visible text of a heading, as GitHub renders it before making its anchor."""
    text = re.sub(r"!\[([^\]]*)\]\([^)]*\)", r"\1", text)  # images: alt text
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # links: their text
    text = re.sub(r"\[([^\]]*)\]\[[^\]]*\]", r"\1", text)  # reference links
    text = re.sub(r"<[^>]+>", "", text)  # HTML tags
    text = text.replace("`", "")
    return text


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = strip_inline_markup(heading).strip().lower()
    kept = []
    for ch in text:
        category = unicodedata.category(ch)
        if ch in "-_" or ch == " " or category[0] in "LN" or category == "Mn":
            kept.append(ch)
    return "".join(kept).replace(" ", "-")


class Document:
    """One Markdown file: its anchors and its links (with line numbers)."""

    def __init__(self, path: Path):
        self.path = path
        self.anchors: set[str] = set()
        self.links: list[tuple[int, str]] = []
        self._parse(path.read_text(encoding="utf-8"))

    def _add_heading(self, text: str, seen: dict[str, int]) -> None:
        base = slug(text)
        count = seen.get(base, 0)
        seen[base] = count + 1
        self.anchors.add(base if count == 0 else f"{base}-{count}")

    def _parse(self, text: str) -> None:
        seen: dict[str, int] = {}
        fence: str | None = None
        previous = ""  # the previous line, when it can be the text of a setext heading
        for number, line in enumerate(text.splitlines(), start=1):
            marker = FENCE.match(line)
            if fence is not None:
                if marker and marker.group(1)[0] == fence[0] and len(marker.group(1)) >= len(fence):
                    fence = None
                continue
            if marker:
                fence = marker.group(1)
                previous = ""
                continue
            heading = ATX.match(line)
            if heading:
                self._add_heading(heading.group(2), seen)
                previous = ""
            elif previous and SETEXT.match(line) and not previous.lstrip().startswith(("|", "-", "*", "+", ">")):
                self._add_heading(previous, seen)
                previous = ""
                continue
            else:
                previous = line.strip()
            for anchor in HTML_ANCHOR.findall(line):
                self.anchors.add(anchor)
            visible = INLINE_CODE.sub("", line)
            for target in INLINE_LINK.findall(visible):
                self.links.append((number, target.strip("<>")))
            definition = REFERENCE_DEF.match(visible)
            if definition:
                self.links.append((number, definition.group(1).strip("<>")))
            for target in HTML_ATTR_LINK.findall(visible):
                self.links.append((number, target))


def check(files: list[Path]) -> list[str]:
    documents: dict[Path, Document] = {}

    def document(path: Path) -> Document:
        path = path.resolve()
        if path not in documents:
            documents[path] = Document(path)
        return documents[path]

    broken = []
    count = 0
    for path in files:
        doc = document(path)
        for line, target in doc.links:
            count += 1
            where = f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}:{line}: {target}"
            if not target:
                broken.append(f"{where}: empty link target")
                continue
            if SCHEME.match(target) or target.startswith("//"):
                continue  # external: not fetched
            location, _, anchor = target.partition("#")
            location = unquote(location.split("?", 1)[0])
            if location:
                resolved = (ROOT / location.lstrip("/")) if location.startswith("/") else (path.parent / location)
                if not resolved.exists():
                    broken.append(f"{where}: no such file or directory")
                    continue
            else:
                resolved = path
            if anchor:
                if resolved.is_dir() or resolved.suffix.lower() != ".md":
                    continue  # anchors into source files (#L10) and directories are not checked
                if unquote(anchor) not in document(resolved).anchors:
                    broken.append(f"{where}: no heading or id `{anchor}` in {resolved.relative_to(ROOT) if resolved.resolve().is_relative_to(ROOT) else resolved}")
    check.count = count  # type: ignore[attr-defined]
    return broken


def main() -> int:
    files = [Path(a).resolve() for a in sys.argv[1:]] or default_files()
    missing = [f for f in files if not f.is_file()]
    if missing:
        print("check-docs-links: no such file: " + ", ".join(str(m) for m in missing), file=sys.stderr)
        return 2
    broken = check(files)
    if broken:
        print(f"check-docs-links: {len(broken)} broken link(s):", file=sys.stderr)
        for entry in broken:
            print(f"  {entry}", file=sys.stderr)
        return 1
    print(f"check-docs-links: ok, {check.count} links in {len(files)} files")  # type: ignore[attr-defined]
    return 0


if __name__ == "__main__":
    sys.exit(main())
