"""The core is paper-agnostic, every paper is complete, and the repository cites nothing outside itself."""

import ast
import re
import subprocess
from pathlib import Path

from theory_collection import papers

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "lib" / "theory_collection"


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def test_core_imports_no_paper_package():
    paper_packages = {
        p.name for p in (ROOT / "lib").iterdir() if p.is_dir() and p.name != CORE.name and (p / "__init__.py").exists()
    }
    assert paper_packages, "expected at least one paper package beside the core"
    for module in CORE.glob("*.py"):
        assert not imported_modules(module) & paper_packages, f"{module.name} imports a paper package"


def test_every_registered_paper_has_notebooks_and_theory_notes():
    registered = papers.registered()
    assert "topic_structure" in registered
    for paper in registered.values():
        assert paper.notebook_dir.is_dir(), f"{paper.name}: no notebooks/{paper.name}/"
        assert sorted(paper.notebook_dir.glob("[0-9][0-9]_*.ipynb")), f"{paper.name}: no NN_*.ipynb notebooks"
        assert paper.theory_notes.is_file(), f"{paper.name}: no THEORY.md beside its notebooks"
        assert {"profile", "seed", "output_dir"} <= set(paper.standard_names)


def test_repository_cites_no_file_outside_itself():
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    outside = re.compile(r"\.\./shared|DEVELOPERS\.md|shared/THEORY")
    for name in tracked:
        path = ROOT / name
        if path.suffix in (".py", ".md", ".ipynb", ".yml", ".toml") and path.is_file() and path != Path(__file__):
            assert not outside.search(path.read_text(errors="replace")), f"{name} cites a file outside the repository"


def test_theory_notes_sections_cited_by_notebooks_exist():
    for paper in papers.registered().values():
        notes = paper.theory_notes.read_text()
        slugs = {
            re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
            for heading in re.findall(r"^#+ (.+)$", notes, flags=re.M)
        }
        for notebook in paper.notebook_dir.glob("*.ipynb"):
            for anchor in re.findall(r"\(THEORY\.md#([\w\-]+)\)", notebook.read_text()):
                assert anchor in slugs, (
                    f"{notebook.name} links THEORY.md#{anchor}, which is no heading of {paper.name}'s notes"
                )
