"""The papers of the collection: each registers itself, the core only reads the registry.

A paper package declares a :class:`Paper` (its name, citation, standard parameter names and their
rules) and names it under the entry-point group ``theory_collection.papers`` in ``pyproject.toml``::

    [project.entry-points."theory_collection.papers"]
    topic_structure = "topic_structure.paper:PAPER"

The name is also the paper's folder everywhere: ``notebooks/<name>/`` (with its ``THEORY.md``),
``figures/<name>/`` and ``<report>/<name>/``. The core never imports a paper package by name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

from theory_collection.params import PROFILES, check_choice, check_int, check_output_dir, resolve

REPO_ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK_ROOT = REPO_ROOT / "notebooks"
FIGURE_ROOT = REPO_ROOT / "figures"
ENTRY_POINT_GROUP = "theory_collection.papers"

# Seeds reach numpy (< 2**32 for legacy seeding) and torch (< 2**64); the smaller bound serves both.
MAX_SEED = 2**32 - 1

Check = Callable[[Any], Any]

# Every paper's notebooks take these; a paper adds its own standard names.
COMMON_CHECKS: dict[str, Check] = {
    "profile": lambda v: check_choice("profile", v, PROFILES),
    "seed": lambda v: check_int("seed", v, 0, MAX_SEED),
    "output_dir": check_output_dir,
}


@dataclass(frozen=True)
class Paper:
    """One paper of the collection and the rules of its standard notebook parameters.

    ``checks`` maps each standard parameter name to a function that validates a value (raising a
    ``ValueError`` that names the parameter) and returns it normalised. ``cross_check`` validates
    rules between parameters on the resolved dict of values (only the names present). ``title`` and
    ``citation`` are shown in reports; ``url`` links the paper.
    """

    name: str
    title: str
    citation: str
    url: str
    checks: Mapping[str, Check] = field(default_factory=dict)
    cross_check: Callable[[dict[str, Any]], None] | None = None
    profiles: tuple[str, ...] = PROFILES
    # The rules of each notebook's own parameters, keyed by notebook stem: name -> check (validate and
    # normalise, like ``checks``), and a cross-check on the notebook's resolved values. The runner
    # applies them before any kernel starts (see :mod:`theory_collection.runner`).
    notebook_checks: Mapping[str, Mapping[str, Check]] = field(default_factory=dict)
    notebook_cross_checks: Mapping[str, Callable[[dict[str, Any]], None]] = field(default_factory=dict)
    # Each notebook's profiles, keyed by notebook stem: profile name -> {parameter: value}. A notebook
    # resolves its parameters cell against them with :meth:`resolve`; the runner reads them from here.
    notebook_profiles: Mapping[str, Mapping[str, Mapping[str, Any]]] = field(default_factory=dict)
    # Bytes a notebook would need at its resolved values (an upper estimate of its largest tensors);
    # the runner refuses a run whose estimate exceeds the machine's memory budget.
    memory_estimate: Callable[[str, dict[str, Any]], int] | None = None
    # Seconds a notebook would take at its resolved values on one core (an upper estimate of its heaviest
    # loops), printed beside the memory estimate; the bounds on run lengths (``steps``) are justified by it.
    time_estimate: Callable[[str, dict[str, Any]], float] | None = None
    # The standard parameters whose value is a file: the runner resolves a relative path once, against the
    # caller's working directory, checks the file's contents before any kernel starts and passes the kernel
    # the absolute path; a sweep's fingerprint includes the file's contents hash.
    file_parameters: tuple[str, ...] = ()
    order: int = 100  # reading order of the papers in a full report
    # The headline table of a report: one row per claim or assumption of the paper (the prefix of
    # the claim ids, ``C3`` for ``C3.x_star``), one column per kind of data (a claim's ``data``).
    headline_rows: tuple[str, ...] = ()
    headline_rows_text: Mapping[str, str] = field(default_factory=dict)
    data_kinds: tuple[str, ...] = ("synthetic",)

    @property
    def standard_names(self) -> tuple[str, ...]:
        """The names every notebook of this paper shares: the common ones, then the paper's."""
        return tuple(dict.fromkeys([*COMMON_CHECKS, *self.checks]))

    @property
    def all_checks(self) -> dict[str, Check]:
        """The rule of each standard name (common and the paper's)."""
        return {**COMMON_CHECKS, **self.checks}

    def checks_for(self, notebook: str) -> dict[str, Check]:
        """The rules of every parameter of ``notebook`` (its stem): the standard ones, then its own."""
        return {**self.all_checks, **self.notebook_checks.get(notebook, {})}

    def cross_check_for(self, notebook: str) -> Callable[[dict[str, Any]], None]:
        """The rules between parameters of ``notebook``: the paper's on its standard names, then the notebook's."""

        def check(values: dict[str, Any]) -> None:
            if self.cross_check is not None:
                self.cross_check({name: value for name, value in values.items() if name in self.all_checks})
            if notebook in self.notebook_cross_checks:
                self.notebook_cross_checks[notebook](dict(values))

        return check

    def resolve(self, notebook: str, namespace: Mapping[str, Any]) -> SimpleNamespace:
        """Resolve a notebook's ``parameters`` cell: ``P = PAPER.resolve("05_two_stage_dynamics", globals())``.

        Every name of the notebook's profile (:attr:`notebook_profiles`) and every standard name is read
        from ``namespace`` (the values papermill injected or the cell's defaults); ``None`` or absent takes
        the value of the profile ``namespace["profile"]``. Each value is checked by its rule
        (:meth:`checks_for`), then the rules between them (:meth:`cross_check_for`); a ``ValueError``
        names the first bad parameter before any work. Returns the values as attributes.
        """
        if notebook not in self.notebook_profiles:
            raise ValueError(f"{self.name} has no profiles for notebook {notebook!r}")
        profiles = self.notebook_profiles[notebook]
        profile = namespace.get("profile", "quick")
        names = [name for name in self.standard_names if name in namespace] + list(profiles.get(profile, {}))
        given = {name: namespace.get(name) for name in dict.fromkeys(names) if name != "profile"}
        return resolve(profiles, profile, self.checks_for(notebook), self.cross_check_for(notebook), **given)

    @property
    def notebook_dir(self) -> Path:
        """``notebooks/<name>/``: the paper's notebooks and its ``THEORY.md``."""
        return NOTEBOOK_ROOT / self.name

    @property
    def figure_dir(self) -> Path:
        """``figures/<name>/``: the figures of the latest quick-profile report."""
        return FIGURE_ROOT / self.name

    @property
    def theory_notes(self) -> Path:
        """The paper's theory notes, ``notebooks/<name>/THEORY.md``."""
        return self.notebook_dir / "THEORY.md"


def rules_of(params: ModuleType) -> dict[str, Any]:
    """The parameter rules a paper's ``params`` module declares, as :class:`Paper`'s fields.

    By convention the module names them ``STANDARD_CHECKS``, ``cross_check``, ``NOTEBOOK_CHECKS`` and
    ``NOTEBOOK_CROSS_CHECKS``: ``Paper(name=..., **rules_of(params), ...)``.
    """
    return {
        "checks": params.STANDARD_CHECKS,
        "cross_check": params.cross_check,
        "notebook_checks": params.NOTEBOOK_CHECKS,
        "notebook_cross_checks": params.NOTEBOOK_CROSS_CHECKS,
    }


def generic_paper(name: str) -> Paper:
    """A folder of notebooks that no registered paper owns: only the common parameters are standard."""
    return Paper(name=name, title=name, citation="", url="")


@cache
def registered() -> dict[str, Paper]:
    """The registered papers by name, in reading order (``order``, then name)."""
    found = {}
    for point in entry_points(group=ENTRY_POINT_GROUP):
        paper = point.load()
        if not isinstance(paper, Paper) or paper.name != point.name:
            raise RuntimeError(
                f"entry point {point.name!r} of {ENTRY_POINT_GROUP} must be a Paper named {point.name!r}"
            )
        found[paper.name] = paper
    return dict(sorted(found.items(), key=lambda item: (item[1].order, item[0])))


def get(name: str) -> Paper:
    """The registered paper called ``name``; a ValueError lists the known ones."""
    papers = registered()
    if name not in papers:
        raise ValueError(f"unknown paper {name!r}; the collection has {', '.join(papers) or 'none'}")
    return papers[name]


def paper_of(notebook: str | Path) -> Paper:
    """The paper that owns a notebook, from the name of its folder (generic when no paper owns it)."""
    folder = Path(notebook).resolve().parent.name
    return registered().get(folder) or generic_paper(folder)
