"""The topic package is laid out as the collection's guide asks: no import cycle, no import hidden in a function to
dodge one, modules of at most 500 lines unless their docstring says why, and no tracker numbers anywhere."""

import ast
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "lib" / "topic_structure"
MODULES = sorted(PACKAGE.rglob("*.py"))


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path, top_level: bool) -> set[str]:
    """The topic_structure modules ``path`` imports at module level (``top_level``) or inside a function."""
    tree = ast.parse(path.read_text())
    if top_level:
        nodes = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
    else:
        functions = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
        nodes = [n for f in functions for n in ast.walk(f) if isinstance(n, ast.Import | ast.ImportFrom)]
    found = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("topic_structure"):
            known = {module_name(p) for p in MODULES}
            found |= {
                f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in known else node.module for a in node.names
            }
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("topic_structure")}
    return found


def test_no_import_cycle_inside_the_package():
    graph = {module_name(p): imported(p, top_level=True) for p in MODULES}
    state: dict[str, str] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for target in graph.get(node, ()):
            if state.get(target) == "open":
                raise AssertionError(f"import cycle: {' -> '.join([*path, node, target])}")
            if target not in state:
                visit(target, [*path, node])
        state[node] = "done"

    for node in graph:
        if node not in state:
            visit(node, [])


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p))
def test_no_package_import_inside_a_function(path):
    assert imported(path, top_level=False) == set(), f"{path.name} imports a package module inside a function"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p))
def test_modules_of_at_most_500_lines_unless_their_docstring_says_why(path):
    text = path.read_text()
    if len(text.splitlines()) > 500:
        assert "500" in (ast.get_docstring(ast.parse(text)) or ""), f"{path.name}: longer than 500 lines, no reason"


def test_no_tracker_numbers_in_the_package_its_tests_and_notebooks():
    pattern = re.compile(r"\bissues?\s*#?\d+", re.IGNORECASE)
    files = [*MODULES, *sorted((ROOT / "tests" / "topic_structure").glob("*.py"))]
    texts = {path.name: path.read_text() for path in files if path != Path(__file__)}
    notebooks = sorted((ROOT / "notebooks" / "topic_structure").glob("*.ipynb"))
    for path in notebooks:
        texts[path.name] = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells)
    texts["THEORY.md"] = (ROOT / "notebooks" / "topic_structure" / "THEORY.md").read_text()
    found = {name: pattern.findall(text) for name, text in texts.items() if pattern.search(text)}
    assert found == {}
