#!/usr/bin/env python3
"""Fail when modules of this crate use each other in a cycle.

Modules are the .rs files under src/ but src/bin/: src/lib.rs is the crate root `crate`, src/a.rs
and src/a/mod.rs are `a`, src/a/b.rs is `a::b`. A file depends on each path it names starting with
`crate::`, `super::` or `self::` (in `use` trees, grouped ones included, and in code), and, in a
file with child modules (lib.rs, a/mod.rs), with a child's name (`jwt::verify`). A path resolves to
its longest prefix that is a module file (`crate::identity::jwt::verify` -> `identity::jwt`,
`crate::identity::Session` -> `identity`). Ignored: comments and doc comments, string and char
literals, items under `#[cfg(test)]` (brace matching skips literals and comments), and files
declared `#[cfg(test)] mod x;` or starting with `#![cfg(test)]`.

Two kinds of graph are checked with Tarjan's strongly connected components:
  top level  modules collapsed to their first segment (`identity::jwt` -> `identity`). lib.rs is
             the node `crate`: its `mod` lines and `pub use` re-exports are no edges, the rest of
             its code is (so `edge -> crate -> http` shows), and so is `crate::warm_up` elsewhere.
  inside P   for each module P with children: P's direct children and P itself. A module may
             re-export its children; a child may use its parent's items; a parent that calls into
             a child which calls back into the parent is a cycle. So child -> P always counts,
             P -> child only for references from P's own file other than `pub use`, and any cycle
             among the children (files beside each other) is reported.

Exit 1 after printing each cycle with a `file:line: text` example per edge, else exit 0 with
"module cycles: none (N modules, M edges)": N module files, M distinct module -> module uses.
Options: --src DIR (default: src/ of the repository holding scripts/), --graph (also print who
uses whom in each graph), --self-test (check this script on a small generated tree).
"""
import argparse, os, re, sys, tempfile
from collections import defaultdict, deque

RAW = re.compile(r'b?r(#*)"')
CFG_TEST = re.compile(r'#\s*\[\s*cfg\s*\(\s*(?:test|all\s*\([^\]]*\btest\b[^\]]*\))\s*\)\s*\]')
ATTR = re.compile(r'\s*#\s*\[')
ITEM = re.compile(r'\s*(?:pub\s*(?:\([^)]*\))?\s*)?(\w+)(?:\s+(\w+)\s*;)?')
USE = re.compile(r'\b(pub\s*(?:\([^)]*\)\s*)?)?\buse\s+([^;]*);')
INLINE = r'(?<![\w$:.])((?:{})(?:::\w+)+)'


def blank(text):
    """Replace comments, string and char literals by spaces (newlines kept, so offsets hold)."""
    out, i, n = list(text), 0, len(text)
    def wipe(a, b):
        for k in range(a, min(b, n)):
            if out[k] != '\n':
                out[k] = ' '
    while i < n:
        c, nxt = text[i], text[i + 1:i + 2]
        raw = RAW.match(text, i) if c in 'br' and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == '_')) else None
        if c == '/' and nxt == '/':
            j = text.find('\n', i)
            j = n if j < 0 else j
        elif c == '/' and nxt == '*':
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith('/*', j): depth, j = depth + 1, j + 2
                elif text.startswith('*/', j): depth, j = depth - 1, j + 2
                else: j += 1
        elif raw:
            end = text.find('"' + raw.group(1), raw.end())
            j = n if end < 0 else end + 1 + len(raw.group(1))
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == '\\' else 1
            j += 1
        elif c == "'" and nxt == '\\':          # '\n', '\'', '\u{..}'
            j = text.find("'", i + 3) + 1 or n
        elif c == "'" and text[i + 2:i + 3] == "'":  # 'x'; a lifetime 'a has no closing quote
            j = i + 3
        else:
            i += 1
            continue
        wipe(i, j)
        i = j
    return ''.join(out)


def skip_attrs(code, i):
    """Offset after the attributes (`#[...]`) starting at i."""
    while (m := ATTR.match(code, i)):
        depth, i = 1, m.end()
        while depth and i < len(code):
            depth += {'[': 1, ']': -1}.get(code[i], 0)
            i += 1
    return i


def item_end(code, i):
    """End of the item starting at i: its `;` or its closing `}` (for `use`/`const`/...: `;`)."""
    item = ITEM.match(code, i)
    to_semicolon, depth = item and item.group(1) in ('use', 'const', 'static', 'type', 'let'), 0
    for i in range(i, len(code)):
        depth += {'(': 1, '[': 1, '{': 1, ')': -1, ']': -1, '}': -1}.get(code[i], 0)
        if depth < 0:                             # the enclosing block closes: the item ended
            return i
        if depth == 0 and (code[i] == ';' or (code[i] == '}' and not to_semicolon)):
            return i + 1
    return len(code)


def strip_tests(code):
    """Blank every #[cfg(test)] item; return the code and the names of `#[cfg(test)] mod x;`."""
    out, test_mods, pos = [], set(), 0
    for m in CFG_TEST.finditer(code):
        if m.start() < pos:
            continue                              # inside an item already removed
        start = skip_attrs(code, m.end())
        item, end = ITEM.match(code, start), item_end(code, start)
        if item and item.group(1) == 'mod' and item.group(2):
            test_mods.add(item.group(2))
        out += [code[pos:m.start()], re.sub(r'[^\n]', ' ', code[m.start():end])]
        pos = end
    return ''.join(out) + code[pos:], test_mods


def split_top(s):
    """Split a use-tree group body at its top-level commas: [(offset, part)]."""
    parts, depth, start = [], 0, 0
    for k, ch in enumerate(s + ','):
        depth += {'{': 1, '}': -1}.get(ch, 0)
        if ch == ',' and depth == 0:
            parts.append((start, s[start:k]))
            start = k + 1
    return parts


def expand_use(tree, offset, prefix=()):
    """`crate::{a::x, b::{y, z}}` -> [(offset of the leaf, ('crate', 'a', 'x')), ...]."""
    lead = len(tree) - len(tree.lstrip())
    tree, offset = tree.strip(), offset + lead
    if not tree:
        return []
    brace = tree.find('{')
    if brace < 0:
        segs = [s.strip() for s in re.split(r'\s+as\s+', tree)[0].split('::')]
        return [(offset, tuple(prefix) + tuple(s for s in segs if s and s != 'self'))]
    head = tuple(s.strip() for s in tree[:brace].split('::') if s.strip())
    body = tree[brace + 1:tree.rindex('}')]
    return [leaf for at, part in split_top(body) for leaf in expand_use(part, offset + brace + 1 + at, prefix + head)]


def load(src):
    """Map module path (tuple) -> (file path, text) for every .rs file but src/bin/ and src/main.rs."""
    files = {}
    for root, dirs, names in os.walk(src):
        dirs[:] = sorted(d for d in dirs if not (root == src and d == 'bin'))
        for fname in names:
            path = os.path.join(root, fname)
            if not fname.endswith('.rs') or (root == src and fname == 'main.rs'):
                continue
            parts = os.path.relpath(path, src)[:-3].split(os.sep)
            if parts[-1] == 'mod' or parts == ['lib']:
                parts = parts[:-1]
            with open(path, encoding='utf-8') as f:
                files[tuple(parts)] = (path, f.read())
    return files


def analyze(src):
    """Return (modules, refs); a ref is (from module, to module, is_reexport, file, line, text)."""
    code, test_only = {}, set()
    for mod, (path, text) in load(src).items():
        stripped, test_mods = strip_tests(blank(text))
        code[mod] = (path, text, stripped)
        test_only |= {mod + (t,) for t in test_mods}
        if re.search(r'#!\s*\[\s*cfg\s*\(\s*test\s*\)\s*\]', stripped):
            test_only.add(mod)
    code = {m: v for m, v in code.items() if not any(m[:len(t)] == t for t in test_only)}
    modules, refs = set(code), []
    base = os.path.dirname(os.path.abspath(src))
    for mod, (path, text, stripped) in sorted(code.items()):
        lines = text.split('\n')
        children = {m[-1] for m in modules if len(m) == len(mod) + 1 and m[:-1] == mod}
        def add(at, segs, reexport):
            target = resolve(modules, mod, segs)
            if target is not None and target != mod:
                line = text.count('\n', 0, at) + 1
                shown = lines[line - 1].strip()
                if len(shown) > 110:                # long line: the part around the reference
                    col = shown.find(text[at:at + 20].split('\n')[0])
                    shown = '...' + shown[max(0, col - 40):col + 60] + '...'
                refs.append((mod, target, reexport, os.path.relpath(path, base), line, shown))
        heads = {'crate', 'super', 'self'} | children
        for m in USE.finditer(stripped):
            for at, segs in expand_use(m.group(2), m.start(2)):
                if segs and segs[0] in heads:
                    add(at, segs, bool(m.group(1)))
        rest = USE.sub(lambda m: re.sub(r'[^\n]', ' ', m.group(0)), stripped)
        for m in re.finditer(INLINE.format('|'.join(sorted(heads))), rest):
            add(m.start(), tuple(m.group(1).split('::')), False)
    return modules, refs


def resolve(modules, mod, segs):
    """Longest module prefix named by a path used in module `mod`, or None (outside the crate)."""
    if segs[0] == 'crate':
        target, rest = (), list(segs[1:])
    else:
        target, rest = mod, list(segs)
        while rest and rest[0] in ('self', 'super'):
            if rest.pop(0) == 'super':
                if not target:
                    return None
                target = target[:-1]
    for seg in rest:
        if target + (seg,) not in modules:
            break
        target += (seg,)
    return target


def name(mod):
    return '::'.join(mod) or 'crate'


def graphs(modules, refs):
    """{title: {node: {successor: first example ref}}} for the top level and inside each parent."""
    out = defaultdict(lambda: defaultdict(dict))
    parents = sorted({m[:k] for m in modules for k in range(1, len(m))})
    for mod in sorted(modules):                   # every module is a node, with or without edges
        out['top level'].setdefault(name(mod[:1]), {})
        if mod[:-1] in parents:
            out['inside ' + name(mod[:-1])].setdefault(name(mod[:-1]), {})
            out['inside ' + name(mod[:-1])].setdefault(name(mod), {})
    for ref in sorted(refs, key=lambda r: (r[3], r[4])):
        src, dst, reexport = ref[:3]
        if src[:1] != dst[:1] and not (reexport and not src):       # lib.rs re-exports: no edge
            out['top level'][name(src[:1])].setdefault(name(dst[:1]), ref)
        for parent in parents:
            k = len(parent)
            a, b = src[:k + 1], dst[:k + 1]
            if src[:k] == dst[:k] == parent and a != b and not (a == parent and reexport):
                out['inside ' + name(parent)][name(a)].setdefault(name(b), ref)
    return out


def tarjan(graph):
    index, low, stack, on, sccs = {}, {}, [], set(), []
    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v); on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            scc = []
            while not scc or scc[-1] != v:
                scc.append(stack.pop())
                on.discard(scc[-1])
            sccs.append(sorted(scc))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(s for s in sccs if len(s) > 1)


def shortest_cycle(graph, scc, start):
    """Shortest cycle start -> ... -> start inside the component (breadth-first)."""
    prev, queue = {}, deque([start])
    while queue:
        v = queue.popleft()
        for w in sorted(graph[v]):
            if w == start:
                path = [v]
                while path[-1] != start:
                    path.append(prev[path[-1]])
                return path[::-1] + [start]
            if w in scc and w not in prev:
                prev[w] = v
                queue.append(w)
    return [start]


def find_cycles(all_graphs):
    """[(graph title, component, [cycle paths])]: every node of a component lies on a printed cycle."""
    found = []
    for title, graph in all_graphs.items():
        for scc in tarjan(graph):
            cycles, covered = [], set()
            for node in scc:
                if node not in covered:
                    cycles.append(shortest_cycle(graph, set(scc), node))
                    covered |= set(cycles[-1])
            found.append((title, scc, cycles))
    return found


def report(modules, refs, show_graph):
    all_graphs = graphs(modules, refs)
    if show_graph:
        for title, graph in all_graphs.items():
            print(f'{title}:')
            for node in sorted(graph):
                print(f'  {node} -> {", ".join(sorted(graph[node])) or "(nothing)"}')
        print()
    found = find_cycles(all_graphs)
    for title, scc, cycles in found:
        print(f'module cycle ({title}) among {len(scc)} modules: {", ".join(scc)}')
        for cycle in cycles:
            print(f'  cycle: {" -> ".join(cycle)}')
            for a, b in zip(cycle, cycle[1:]):
                _, _, _, file, line, text = all_graphs[title][a][b]
                print(f'    {a} -> {b}: {file}:{line}: {text}')
    edges = {(r[0], r[1]) for r in refs}
    summary = f'({len(modules)} modules, {len(edges)} edges)'
    print(f'module cycles: {len(found)} found {summary}' if found else f'module cycles: none {summary}')
    return 1 if found else 0


SELF_TEST = {
    'lib.rs': 'pub mod a;\npub mod b;\npub mod c;\npub mod d;\npub mod s;\npub mod t;\n#[cfg(test)]\nmod testing;\n',
    'a.rs': 'use crate::{b::{y, z}, d::w as ww};\npub fn x() { crate::c::k(); }\n',           # (a)
    'b.rs': 'use crate::{\n    a::x,\n    s,\n};\npub fn y() {}\npub fn z() {}\n',
    's/mod.rs': 'pub mod p;\npub mod q;\npub use p::g;\npub struct Thing;\n',                    # (b)
    's/p.rs': 'use super::q::f;\nuse super::Thing;\npub fn g() { f() }\n',
    's/q.rs': 'pub fn f() { super::p::g(); super::super::d::w() }\n',
    't/mod.rs': 'pub mod kid;\npub fn helper() {}\npub fn run() { kid::go() }\n',
    't/kid.rs': 'pub fn go() { super::helper() }\n',
    'c.rs': ("pub fn k() {}\n#[cfg(test)]\npub(crate) mod tests {\n    fn f<'a>(s: &'a str) -> char { let _ = \"}\"; '}' }\n"
             "    #[test]\n    fn t() { crate::a::x(); }\n}\n"),                                 # (c)
    'd.rs': ('#[cfg(test)]\nuse crate::{a::x};\n/// see [`crate::a::x`]\npub fn w() {\n    // crate::a::x();\n    /* crate::a::x() /* nested */ */\n'
             '    let _s = r#"a " crate::a::x() "#;\n    let _c = \'"\';\n    let _t = "crate::a::x()";\n}\n'),  # (d)
    'testing.rs': 'use crate::a::x;\n',
}


def self_test():
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, 'src')
        for rel, text in SELF_TEST.items():
            os.makedirs(os.path.dirname(os.path.join(src, rel)), exist_ok=True)
            with open(os.path.join(src, rel), 'w', encoding='utf-8') as f:
                f.write(text)
        modules, refs = analyze(src)
        got = sorted((title, tuple(scc)) for title, scc, _ in find_cycles(graphs(modules, refs)))
        want = [('inside s', ('s::p', 's::q')), ('inside t', ('t', 't::kid')), ('top level', ('a', 'b'))]
        assert got == want, f'cycles: {got}'
        assert ('testing',) not in modules, 'a #[cfg(test)] mod testing; file is test-only'
        uses = {(name(r[0]), name(r[1])) for r in refs}
        assert not {('c', 'a'), ('d', 'a')} & uses, f'references in tests/comments/strings counted: {uses}'
        assert {('a', 'b'), ('a', 'd'), ('b', 'a'), ('s::q', 'd'), ('a', 'c')} <= uses, uses
        lines = {(name(r[0]), name(r[1])): r[4] for r in refs}
        assert lines[('b', 'a')] == 2, 'a grouped use over several lines points at the leaf'
    print('self-test: ok')
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--src', metavar='DIR', help='the crate sources (default: REPO/src)', default=os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'src'))
    parser.add_argument('--graph', action='store_true', help='print which module uses which')
    parser.add_argument('--self-test', action='store_true', help='check this script on a generated tree')
    args = parser.parse_args()
    if args.self_test:
        try:
            return self_test()
        except AssertionError as failure:
            print(f'self-test: FAILED: {failure}')
            return 1
    return report(*analyze(args.src), args.graph)


if __name__ == '__main__':
    sys.exit(main())
