"""Where the wasm's bytes go: code size per crate (and per module of this crate), raw and gzip -9.

Reads the function names of the cargo-built module (before wasm-bindgen and wasm-opt strip them),
so the figures are of unoptimised-by-wasm-opt code; they are for telling what each part costs,
not for the deployed total (BENCHMARKS.md reports that separately).

    python3 bench/wasm_size.py target/wasm32-unknown-unknown/release/ivs_token_worker.wasm
"""

from __future__ import annotations

import collections
import gzip
import re
import sys


def _leb(data: bytes, i: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, i


def _sections(data: bytes):
    i = 8  # magic + version
    while i < len(data):
        section_id = data[i]
        size, i = _leb(data, i + 1)
        yield section_id, data[i:i + size]
        i += size


def _imported_functions(body: bytes) -> int:
    count, i = _leb(body, 0)
    functions = 0
    for _ in range(count):
        for _ in range(2):  # module and field names
            length, i = _leb(body, i)
            i += length
        kind = body[i]
        i += 1
        if kind == 0:  # function: type index
            functions += 1
            _, i = _leb(body, i)
        elif kind in (1, 2):  # table (element type first) or memory: limits
            i += kind == 1
            flags, i = _leb(body, i)
            _, i = _leb(body, i)
            if flags & 1:
                _, i = _leb(body, i)
        elif kind == 3:  # global: value type, mutability
            i += 2
    return functions


def _legacy_path(name: str) -> list[str]:
    """The path segments of a legacy-mangled Rust symbol (_ZN<len><ident>...E)."""
    i = name.find("_ZN")
    if i < 0:
        return []
    i += 3
    out = []
    while i < len(name) and name[i].isdigit():
        j = i
        while name[j].isdigit():
            j += 1
        length = int(name[i:j])
        out.append(name[j:j + length])
        i = j + length
    return out


def group(name: str) -> str:
    """The crate a function belongs to (this crate's functions by their top-level module; generic
    std code by the crate of the type it was instantiated for, when the symbol names one)."""
    path = _legacy_path(name)
    if not path:
        return "std, core, alloc and glue"
    std = ("core", "alloc", "std")
    if path[0] in std or path[0].startswith("_$LT$"):
        for segment in path:
            m = re.match(r"_\$LT\$(?:\$RF\$)?([a-z_0-9]+)\.\.", segment)
            if m and m.group(1) not in std and m.group(1) != "impl":
                return _crate(m.group(1), path)
        return "std, core, alloc and glue"
    return _crate(path[0], path)


def _crate(crate: str, path: list[str]) -> str:
    if crate == "ivs_token_worker" and len(path) > 1 and path[0] == crate:
        return "ivs_token_worker::" + path[1]
    return crate


def breakdown(path: str) -> dict:
    data = open(path, "rb").read()
    imports, bodies, names, data_section = 0, [], {}, b""
    for section_id, body in _sections(data):
        if section_id == 2:
            imports = _imported_functions(body)
        elif section_id == 10:
            count, i = _leb(body, 0)
            for _ in range(count):
                size, i = _leb(body, i)
                bodies.append(body[i:i + size])
                i += size
        elif section_id == 11:
            data_section = body
        elif section_id == 0:
            length, i = _leb(body, 0)
            if body[i:i + length] != b"name":
                continue
            i += length
            while i < len(body):
                sub, size = body[i], 0
                size, j = _leb(body, i + 1)
                if sub == 1:  # function names
                    count, k = _leb(body, j)
                    for _ in range(count):
                        index, k = _leb(body, k)
                        length, k = _leb(body, k)
                        names[index] = body[k:k + length].decode("utf-8", "replace")
                        k += length
                i = j + size
    code: dict[str, bytearray] = collections.defaultdict(bytearray)
    for index, body in enumerate(bodies):
        code[group(names.get(imports + index, ""))] += body
    rows = {name: (len(b), len(gzip.compress(bytes(b), 9))) for name, b in code.items()}
    rows["data (strings, page scripts, openapi.json, public suffixes)"] = (len(data_section), len(gzip.compress(data_section, 9)))
    return dict(sorted(rows.items(), key=lambda kv: -kv[1][1]))


if __name__ == "__main__":
    import signal
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    for name, (raw, packed) in breakdown(sys.argv[1]).items():
        print(f"{name:48} {raw:10,} {packed:10,}")
