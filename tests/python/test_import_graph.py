"""The modules of qmoe_torch import each other without cycles.

The graph is read from the source with ``ast``, not from ``sys.modules``, so it holds every
import wherever it is written: at module level, inside functions and classes (the lazy
imports that hide a cycle until the function runs), under ``if TYPE_CHECKING:`` (a cycle
of annotations is still two modules that each need the other, and becomes a runtime one
as soon as the guard goes or ``typing.get_type_hints`` runs), inside ``try`` blocks, and
``importlib.import_module("qmoe_torch....")`` with a literal name.

What an edge is:

- ``import qmoe_torch.a.b``: an edge to ``qmoe_torch.a.b``.
- ``from qmoe_torch.a import x`` (or ``from .a import x``): an edge to ``qmoe_torch.a.x``
  when that is a module on disk, else to ``qmoe_torch.a``, which defines ``x``.
- A package's ``__init__`` is the node of the package; its re-exports are ordinary edges.

One thing Python does is deliberately not an edge: importing ``qmoe_torch.a.b`` first
initialises the packages ``qmoe_torch`` and ``qmoe_torch.a``. Counted as edges, those would
close a cycle with every re-export in an ``__init__``. Instead a module may not import one
of its own ancestor packages explicitly (``import qmoe_torch as qm`` inside the package):
that reads names off a package whose ``__init__`` may still be running, and is a cycle as
soon as that ``__init__`` reaches the module. Such a module imports the concrete module
that defines the name. No module or edge is left out.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = "qmoe_torch"
ROOT = Path(__file__).resolve().parents[2] / PACKAGE


def module_files(root: Path) -> dict[str, Path]:
    """Every module under ``root`` (a package directory) by dotted name; ``__init__.py`` is
    the package itself."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = (root.name, *path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _is_package(name: str, modules: dict[str, Path]) -> bool:
    return modules[name].name == "__init__.py"


def _import_module_target(node: ast.Call) -> str | None:
    """The literal module name of ``importlib.import_module("...")`` / ``__import__("...")``."""
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    if name not in ("import_module", "__import__") or not node.args:
        return None
    first = node.args[0]
    if isinstance(first, ast.Constant) and isinstance(first.value, str):
        return first.value
    return None


def import_edges(root: Path) -> tuple[dict[str, dict[str, int]], list[str]]:
    """``edges[module][target] = line`` for every intra-package import, and the imports
    that name a module of the package that is not on disk (reported, never dropped)."""
    modules = module_files(root)
    package = root.name
    edges: dict[str, dict[str, int]] = {name: {} for name in modules}
    unresolved: list[str] = []

    def add(source: str, target: str, line: int) -> None:
        if target == package or target.startswith(package + "."):
            if target in modules:
                edges[source].setdefault(target, line)
            else:
                unresolved.append(f"{modules[source]}:{line}: {target} is not a module")

    def longest_module(dotted: str) -> str:
        """``import a.b.c`` where ``c`` is an attribute: the deepest module in the path."""
        parts = dotted.split(".")
        while len(parts) > 1 and ".".join(parts) not in modules:
            parts.pop()
        return ".".join(parts) if ".".join(parts) in modules else dotted

    for source, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        # The package a relative import starts from: the package itself for an __init__.
        here = source.split(".") if _is_package(source, modules) else source.split(".")[:-1]
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    add(source, longest_module(alias.name), node.lineno)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base_parts = here[: len(here) - (node.level - 1)]
                    base = ".".join(base_parts + ([node.module] if node.module else []))
                else:
                    base = node.module or ""
                for alias in node.names:
                    submodule = f"{base}.{alias.name}"
                    add(source, submodule if submodule in modules else base, node.lineno)
            elif isinstance(node, ast.Call):
                target = _import_module_target(node)
                if target is not None:
                    add(source, longest_module(target), node.lineno)
    return edges, unresolved


def strongly_connected(edges: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected components (Tarjan), each sorted; the import cycles are the
    components of more than one module, plus any module that imports itself."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges.get(node, {})):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            components.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return components


def find_cycles(edges: dict[str, dict[str, int]]) -> list[list[str]]:
    """One cycle ``[a, b, ..., a]`` per strongly connected component that has one, starting
    at its first module in sorted order, so the same tree always reports the same paths."""
    cycles = []
    for component in sorted(strongly_connected(edges)):
        members = set(component)
        start = component[0]
        if len(component) == 1 and start not in edges.get(start, {}):
            continue
        # Breadth-first inside the component: the shortest way from start back to itself.
        previous: dict[str, str] = {}
        frontier = [start]
        while frontier and start not in previous:
            following = []
            for node in frontier:
                for target in sorted(edges[node]):
                    if target in members and target not in previous:
                        previous[target] = node
                        following.append(target)
            frontier = following
        path = [start]
        node = previous[start]
        while node != start:
            path.append(node)
            node = previous[node]
        cycles.append([start, *reversed(path[1:]), start])
    return cycles


def find_cycle(edges: dict[str, dict[str, int]]) -> list[str] | None:
    cycles = find_cycles(edges)
    return cycles[0] if cycles else None


def describe(cycle: list[str], edges: dict[str, dict[str, int]], modules: dict[str, Path]) -> str:
    steps = [
        f"  {a} -> {b}  ({modules[a].relative_to(ROOT.parent)}:{edges[a][b]})"
        for a, b in zip(cycle, cycle[1:], strict=False)
    ]
    return "import cycle " + " -> ".join(cycle) + "\n" + "\n".join(steps)


def test_every_intra_package_import_resolves():
    _, unresolved = import_edges(ROOT)
    assert not unresolved, "imports of qmoe_torch modules that do not exist:\n" + "\n".join(
        unresolved
    )


def test_no_import_cycle():
    edges, _ = import_edges(ROOT)
    modules = module_files(ROOT)
    cycles = find_cycles(edges)
    assert not cycles, "\n".join(describe(cycle, edges, modules) for cycle in cycles)


def test_no_module_imports_its_own_package():
    edges, _ = import_edges(ROOT)
    modules = module_files(ROOT)
    offenders = [
        f"{modules[source].relative_to(ROOT.parent)}:{line}: {source} imports {target}"
        for source, targets in edges.items()
        for target, line in targets.items()
        if source != target and source.startswith(target + ".")
    ]
    assert not offenders, (
        "modules that import an ancestor package's __init__ (import the "
        "module that defines the name instead):\n" + "\n".join(offenders)
    )


def test_graph_sees_the_known_edges():
    # Guards the reader itself: a parser that silently found nothing would pass the rest.
    edges, _ = import_edges(ROOT)
    assert "qmoe_torch.shots" in edges["qmoe_torch.noise"]  # from .shots import ...
    assert "qmoe_torch.ops" in edges["qmoe_torch.gates"]  # from . import ops
    assert "qmoe_torch.gates" in edges["qmoe_torch.integrations.huggingface"]  # from ..gates
    assert "qmoe_torch.circuits" in edges["qmoe_torch"]  # a re-export in __init__
    assert "qmoe_torch.experiments.pipeline" in edges["qmoe_torch.experiments.__main__"]


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


@pytest.mark.parametrize(
    "files, expected",
    [
        # a function-level import closing the cycle
        (
            {
                "__init__.py": "",
                "a.py": "from . import b\n",
                "b.py": "def f():\n    from .a import g\n",
            },
            ["pkg.a", "pkg.b", "pkg.a"],
        ),
        # an annotation-only import under TYPE_CHECKING
        (
            {
                "__init__.py": "",
                "a.py": "from pkg.b import B\n",
                "b.py": (
                    "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.a import A\n"
                ),
            },
            ["pkg.a", "pkg.b", "pkg.a"],
        ),
        # a subpackage reaching back through the package's re-export
        (
            {
                "__init__.py": "from .sub.m import X\n",
                "sub/__init__.py": "",
                "sub/m.py": "import pkg as p\nX = 1\n",
            },
            ["pkg", "pkg.sub.m", "pkg"],
        ),
        # three modules, reported in import order
        (
            {
                "__init__.py": "",
                "a.py": "from .c import C\n",
                "b.py": "from . import a\n",
                "c.py": "import pkg.b\n",
            },
            ["pkg.a", "pkg.c", "pkg.b", "pkg.a"],
        ),
        # importlib with a literal name
        (
            {
                "__init__.py": "",
                "a.py": "import importlib\nimportlib.import_module('pkg.b')\n",
                "b.py": "import pkg.a\n",
            },
            ["pkg.a", "pkg.b", "pkg.a"],
        ),
    ],
)
def test_cycle_finder_catches(tmp_path, files, expected):
    root = tmp_path / "pkg"
    _write(root, files)
    edges, unresolved = import_edges(root)
    assert not unresolved
    assert find_cycle(edges) == expected


def test_cycle_finder_accepts_a_layered_package(tmp_path):
    root = tmp_path / "pkg"
    _write(
        root,
        {
            "__init__.py": "from .top import T\nfrom . import low\n",
            "low.py": "",
            "top.py": "from .low import L\n",
        },
    )
    edges, _ = import_edges(root)
    assert find_cycle(edges) is None
    assert edges["pkg"] == {"pkg.top": 1, "pkg.low": 2}
