"""No import circle among the project's modules, lazy imports (inside functions) included.

The graph is read from the source (every ``import`` and ``from ... import`` statement anywhere in a file, relative
imports resolved), not from what one run happens to import: a module imports another when any of its statements
names it, a package or one of its submodules. ``worldmem`` imports nothing from the applications, and its
subpackages import each other in one direction only.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("worldmem", "eval", "train", "data_curation")


def _modules() -> dict[str, Path]:
    mods = {}
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            mods[".".join(parts)] = path
    return mods


def _graph() -> dict[str, set[str]]:
    mods = _modules()

    def resolve(name: str) -> str | None:  # the longest project module that ``name`` names
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    graph = {m: set() for m in mods}
    for mod, path in mods.items():
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package
                    for _ in range(node.level - 1):
                        anchor = anchor.rpartition(".")[0]
                    base = f"{anchor}.{base}" if base else anchor
                names = [base] + [f"{base}.{a.name}" for a in node.names]
            else:
                continue
            for name in names:
                target = resolve(name)
                if target is None or target == mod:
                    continue
                graph[mod].add(target)
                parts = target.split(".")  # importing a.b.c runs a and a.b first
                for i in range(1, len(parts)):
                    parent = ".".join(parts[:i])
                    if parent in mods and not mod.startswith(parent + "."):
                        graph[mod].add(parent)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan, iterative)."""
    index, low, on_stack, stack, found, counter = {}, {}, set(), [], [], [0]
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter[0]
                    counter[0] += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_graph_sees_lazy_imports():
    graph = _graph()
    # python -m train imports the training loop inside main() only: that statement still counts
    assert {"train.loop", "worldmem.utils.cli_errors", "worldmem.utils"} <= graph["train.__main__"]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_module_imports_itself_through_others():
    assert _cycles(_graph()) == []


def test_the_library_imports_no_application_and_its_subpackages_one_way():
    graph = _graph()
    apps = ("eval", "train", "data_curation")
    leaks = sorted((m, t) for m, ts in graph.items() if m.startswith("worldmem") for t in ts
                   if t.split(".")[0] in apps)
    assert leaks == []

    def sub(name: str) -> str:
        return ".".join(name.split(".")[:2])

    edges = {(sub(m), sub(t)) for m, ts in graph.items() if m.startswith("worldmem.") for t in ts
             if t.startswith("worldmem.") and sub(m) != sub(t) and sub(t) != "worldmem"}
    assert sorted((a, b) for a, b in edges if (b, a) in edges) == []
