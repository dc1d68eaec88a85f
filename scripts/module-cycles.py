#!/usr/bin/env python3
"""Lists import cycles among the modules of a crate's `src/` directory.

A module is a file (`a/b.rs` and `a/b/mod.rs` are `a::b`). An edge a -> b is
any path in a's code (comments and `#[cfg(test)]` modules excluded) that
names b: `crate::b::..`, `super::..` resolved against a, or a `use` of a
sibling. A parent module's own declarations (`mod x;`, `pub use x::..`) do
not count as using x. Prints each strongly connected component of more
than one module and exits 1 if there is any.

Usage: scripts/module-cycles.py harness/src
"""
import re
import sys
from pathlib import Path


def modules(src: Path) -> dict[str, Path]:
    out = {}
    for f in src.rglob("*.rs"):
        rel = f.relative_to(src).with_suffix("")
        parts = list(rel.parts)
        if parts[0] == "bin":
            continue
        if parts[-1] == "mod":
            parts.pop()
        if parts in (["lib"], ["main"]):
            parts = []
        out["::".join(["crate", *parts])] = f
    return out


def strip(text: str) -> str:
    text = re.sub(r"//[^\n]*", "", text)
    # Unit tests may use anything; they are not part of the module graph.
    m = re.search(r"#\[cfg\(test\)\]\s*mod\s+\w+\s*\{", text)
    return text[: m.start()] if m else text


def root_aliases(src: Path, mods: dict) -> dict[str, str]:
    """Names the crate root re-exports (`pub use a::b::{X, Y};`), with the
    module each comes from, so that `crate::X` counts as a use of `a::b`."""
    lib = strip(modules_file(src).read_text())
    out = {}
    for m in re.finditer(r"\bpub use\s+([\w:]+?)(?:::\{([^}]*)\}|::(\w+))\s*;", lib):
        module = "crate::" + m.group(1)
        while module not in mods and "::" in module:
            module = module.rsplit("::", 1)[0]
        for name in re.split(r"[,\s]+", m.group(2) or m.group(3)):
            name = name.split(" as ")[-1].strip()
            if name:
                out[name] = module
    # `x as y` inside a group was split on spaces above: map both words.
    return out


def modules_file(src: Path) -> Path:
    return src / "lib.rs" if (src / "lib.rs").exists() else src / "main.rs"


ALIASES: dict[str, str] = {}


def resolve(path: list[str], here: str, known: dict) -> str | None:
    """The longest known module that `path` (as written in module `here`) names."""
    cur = here.split("::")
    if path[0] == "crate" and len(path) > 1 and path[1] in ALIASES:
        return ALIASES[path[1]]
    if path[0] == "crate":
        base, rest = ["crate"], path[1:]
    elif path[0] in ("super", "self"):
        base = cur[:]
        rest = path[:]
        while rest and rest[0] in ("super", "self"):
            if rest[0] == "super":
                base.pop()
            rest = rest[1:]
    else:
        # A sibling named without `super::` (rare; `use` of a child module).
        base, rest = cur[:], path[:]
    best = None
    for i in range(len(rest) + 1):
        cand = "::".join(base + rest[:i])
        if cand in known:
            best = cand
    return best


def edges(mods: dict[str, Path]) -> dict[str, set[str]]:
    graph = {m: set() for m in mods}
    pat = re.compile(r"\b((?:crate|super|self)(?:::\w+)+)")
    use_group = re.compile(r"\buse\s+((?:crate|super|self)(?:::\w+)*)::\{([^;]*)\};", re.S)
    for mod, f in mods.items():
        text = strip(f.read_text())
        text = re.sub(r"^\s*(pub(\([^)]*\))?\s+)?mod\s+\w+\s*;", "", text, flags=re.M)
        paths = [m.group(1).split("::") for m in pat.finditer(text)]
        for m in use_group.finditer(text):
            head = m.group(1).split("::")
            for item in re.split(r"[,\s]+", re.sub(r"\{[^}]*\}", "", m.group(2))):
                item = item.split("::")[0]
                if re.fullmatch(r"\w+", item or ""):
                    paths.append(head + [item])
        for p in paths:
            target = resolve(p, mod, mods)
            if target is None or target == mod:
                continue
            # A module re-exporting from or declaring its own children is
            # not a use; nor is a child naming its ancestors' path.
            if target.startswith(mod + "::") or mod.startswith(target + "::") or target == "crate":
                continue
            graph[mod].add(target)
    return graph


def sccs(graph):
    index, low, stack, on, out, n = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = n[0]
        n[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            out.append(comp)

    sys.setrecursionlimit(10000)
    for v in graph:
        if v not in index:
            visit(v)
    return out


def main():
    src = Path(sys.argv[1] if len(sys.argv) > 1 else "harness/src")
    mods = modules(src)
    ALIASES.update(root_aliases(src, mods))
    graph = edges(mods)
    cycles = [sorted(c) for c in sccs(graph) if len(c) > 1]
    for c in cycles:
        print("cycle:", " <-> ".join(c))
        for a in c:
            print(f"  {a} -> " + ", ".join(sorted(b for b in graph[a] if b in c)))
    if "-v" in sys.argv:
        for a in sorted(graph):
            print(a, "->", ", ".join(sorted(graph[a])))
    print(f"{len(mods)} modules, {sum(len(v) for v in graph.values())} edges, {len(cycles)} cycles")
    sys.exit(1 if cycles else 0)


if __name__ == "__main__":
    main()
