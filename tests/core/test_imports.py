"""The library's import graph: no cycle inside lib/, no paper importing the other, the core importing no paper.

Every import counts, also one inside a function (a function-local import is how a cycle hides), and so do the
notebooks' imports: a paper's notebooks may import the core and their own paper, never the other paper.
"""

import ast
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LIB = ROOT / "lib"
CORE = "theory_collection"
PACKAGES = sorted(p.name for p in LIB.iterdir() if (p / "__init__.py").is_file())
PAPERS = [name for name in PACKAGES if name != CORE]


def module_name(path: Path) -> str:
    parts = path.relative_to(LIB).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(LIB.glob("*/**/*.py"))}


def imports_of(source: str, importer: str = "") -> set[str]:
    """The library modules a source imports (``from pkg import mod`` counts as ``pkg.mod`` when it is a module)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{importer}: relative import (the library imports absolutely)"
            names = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
        else:
            continue
        for name in names:
            while name and name not in MODULES:
                name = name.rpartition(".")[0]
            if name:
                found.add(name)
    return found


GRAPH = {name: imports_of(path.read_text(), name) - {name} for name, path in MODULES.items()}


def package_of(module: str) -> str:
    return module.split(".", 1)[0]


def test_the_library_has_modules_of_every_package():
    assert CORE in PACKAGES and len(PAPERS) >= 2
    assert all(any(package_of(m) == p for m in MODULES) for p in PACKAGES)


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """A cycle of the directed graph as a path that returns to its start, or [] when there is none."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return stack[stack.index(target) :] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        stack.pop()
        state[node] = 2
        return []

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return []


def test_no_import_cycle_inside_the_library():
    # A package's __init__ may re-export its submodules; a submodule importing its package's __init__ is then
    # no cycle of code, so an edge into an __init__ from inside its own package is left out.
    graph = {
        module: {m for m in targets if not (MODULES[m].name == "__init__.py" and module.startswith(m + "."))}
        for module, targets in GRAPH.items()
    }
    cycle = find_cycle(graph)
    assert not cycle, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_cycles():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) == []
    # a function-local import is an edge like any other
    assert imports_of("def f():\n    import theory_collection.claims\n") == {"theory_collection.claims"}


@pytest.mark.parametrize("paper", PAPERS)
def test_a_paper_imports_only_the_core_and_itself(paper):
    for module in (m for m in MODULES if package_of(m) == paper):
        others = {package_of(m) for m in GRAPH[module]} - {paper, CORE}
        assert not others, f"{module} imports the other paper ({', '.join(sorted(others))})"


def test_the_core_imports_no_paper():
    for module in (m for m in MODULES if package_of(m) == CORE):
        assert {package_of(m) for m in GRAPH[module]} <= {CORE}, f"{module} imports a paper package"


@pytest.mark.parametrize("paper", PAPERS)
def test_a_papers_notebooks_import_only_the_core_and_their_paper(paper):
    notebooks = sorted((ROOT / "notebooks" / paper).glob("*.ipynb"))
    assert notebooks, f"no notebooks for {paper}"
    for notebook in notebooks:
        cells = json.loads(notebook.read_text())["cells"]
        source = "\n".join(
            "".join(c["source"]) for c in cells if c["cell_type"] == "code" and not "".join(c["source"]).startswith("%")
        )
        others = {package_of(m) for m in imports_of(source, notebook.name)} - {paper, CORE}
        assert not others, f"{notebook.name} imports the other paper ({', '.join(sorted(others))})"
