"""The next-token package is easy to find one's way in: no import cycle, no import hidden inside a function to dodge
one, nothing of the other paper, modules of at most 500 lines, and the notebooks import only the core and this
paper."""

import ast
import json
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "lib" / "next_token"
NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks" / "next_token"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(tree: ast.AST) -> list[tuple[str, bool]]:
    """(imported module, whether the import sits inside a function) of every import of a parsed module."""
    found = []

    def visit(node, inside):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                found.extend((alias.name, inside) for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module:
                found.append((child.module, inside))
                found.extend((f"{child.module}.{alias.name}", inside) for alias in child.names)
            visit(child, inside or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda))

    visit(tree, False)
    return found


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    return {
        name: {imported for imported, _ in _imports(ast.parse(path.read_text())) if imported in modules}
        for name, path in modules.items()
    }


def test_no_import_cycle_inside_the_package():
    graph = _graph()
    state: dict[str, int] = {}

    def visit(module, trail):
        state[module] = 1
        for imported in graph[module]:
            assert state.get(imported) != 1, "import cycle: " + " -> ".join([*trail, module, imported])
            if imported not in state:
                visit(imported, [*trail, module])
        state[module] = 2

    for module in graph:
        if module not in state:
            visit(module, [])


def test_no_function_local_import_of_the_package_or_the_other_paper():
    for path in PACKAGE.rglob("*.py"):
        for imported, inside in _imports(ast.parse(path.read_text())):
            assert not imported.startswith("topic_structure"), f"{path.name} imports the other paper"
            assert not (inside and imported.startswith("next_token")), f"{path.name} imports {imported} in a function"


def test_modules_are_at_most_500_lines_unless_they_say_why():
    for path in PACKAGE.rglob("*.py"):
        lines = path.read_text().count("\n")
        docstring = ast.get_docstring(ast.parse(path.read_text())) or ""
        assert lines <= 500 or "longer" in docstring, f"{path.name}: {lines} lines"


def test_the_notebooks_import_only_the_core_and_this_paper():
    for notebook in NOTEBOOKS.glob("*.ipynb"):
        for cell in json.loads(notebook.read_text())["cells"]:
            if cell["cell_type"] == "code":
                source = "".join(cell["source"])
                assert "topic_structure" not in source, f"{notebook.name} reaches into the other paper"
