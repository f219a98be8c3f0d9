"""Reading a notebook without running it: its ``parameters`` cell and its ``PROFILES``; YAML values.

The runner checks every value before any kernel starts (:func:`theory_collection.runner.prepare`) from
what this module reads statically: the parameters cell (names and literal defaults) and the code cell
that assigns ``PROFILES = {...}``, whose right-hand side may use dict and list literals, ``dict(...)``
calls, numbers, strings, arithmetic and names assigned earlier *in the same cell*; anything else makes
the profiles unreadable, which is an error naming the notebook.
"""

from __future__ import annotations

import ast
import copy
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

UNREADABLE = object()  # a parameters-cell default that is not a literal (an expression)


class _NotStatic(Exception):
    pass


@dataclass(frozen=True)
class NotebookSpec:
    """What the runner reads from a notebook without executing it."""

    defaults: dict  # the parameters cell: name -> literal default (``UNREADABLE`` for an expression)
    profiles: dict | None  # ``PROFILES``: profile -> {name: value}; None when the notebook assigns none


def read_notebook_spec(path: str | Path) -> NotebookSpec:
    """The parameters cell and the ``PROFILES`` of a notebook, read statically (see the module docstring)."""
    path = Path(path)
    try:
        stat = path.stat()
    except OSError as error:
        raise ValueError(f"cannot read notebook {path}: {error.strerror}") from error
    return copy.deepcopy(_read_notebook_spec(path.resolve(), stat.st_mtime_ns, stat.st_size))


@lru_cache(maxsize=64)  # a grid checks every point against the same notebook
def _read_notebook_spec(path: Path, mtime_ns: int, size: int) -> NotebookSpec:
    import nbformat

    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as error:  # not JSON, not a notebook, not there
        raise ValueError(f"cannot read notebook {path}: {type(error).__name__}: {error}") from error
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    tagged = [cell for cell in code if "parameters" in cell.get("metadata", {}).get("tags", [])]
    if len(tagged) != 1:
        raise ValueError(
            f"{path.stem}: a notebook needs exactly one code cell tagged 'parameters', found {len(tagged)}"
        )
    defaults = {}
    for name, node in _assignments(tagged[0].source, path.stem):
        try:
            defaults[name] = _static_value(node, {})
        except _NotStatic:
            defaults[name] = UNREADABLE
    profiles = None
    for cell in code:
        if cell is tagged[0] or "PROFILES" not in cell.source:
            continue
        names: dict = {}
        for name, node in _assignments(cell.source, path.stem):
            try:
                names[name] = _static_value(node, names)
            except _NotStatic:
                names.pop(name, None)
                if name == "PROFILES":
                    raise ValueError(
                        f"{path.stem}: PROFILES cannot be read without running the notebook: write it with "
                        "literals, dict(...) and names assigned earlier in its cell"
                    ) from None
        if "PROFILES" in names:
            profiles = names["PROFILES"]
            if not isinstance(profiles, dict) or not all(isinstance(v, dict) for v in profiles.values()):
                raise ValueError(f"{path.stem}: PROFILES must map each profile name to a dict of values")
            break
    return NotebookSpec(defaults, profiles)


def _assignments(source: str, where: str):
    """``(name, value node)`` of the top-level assignments of a cell's source, in order."""
    lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]  # IPython magics
    try:
        tree = ast.parse("\n".join(lines))
    except SyntaxError as error:
        raise ValueError(f"{where}: cannot parse a cell: {error}") from error
    for statement in tree.body:
        if (
            isinstance(statement, ast.Assign)
            and len(statement.targets) == 1
            and isinstance(statement.targets[0], ast.Name)
        ):
            yield statement.targets[0].id, statement.value
        elif (
            isinstance(statement, ast.AnnAssign)
            and isinstance(statement.target, ast.Name)
            and statement.value is not None
        ):
            yield statement.target.id, statement.value


def _static_value(node, names: dict):
    """The value of an expression made of literals, ``dict(...)``, arithmetic and known names; else _NotStatic."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.List | ast.Tuple):
        items = [_static_value(item, names) for item in node.elts]
        return items if isinstance(node, ast.List) else tuple(items)
    if isinstance(node, ast.Dict):
        result = {}
        for key, value in zip(node.keys, node.values):
            if key is None:  # {**BASE, ...}
                result.update(_mapping(_static_value(value, names)))
            else:
                result[_static_value(key, names)] = _static_value(value, names)
        return result
    if isinstance(node, ast.Name):
        if node.id in names:
            return names[node.id]
        raise _NotStatic(node.id)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        operand = _static_value(node.operand, names)
        if isinstance(operand, int | float) and not isinstance(operand, bool):
            return -operand if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Sub | ast.Mult | ast.Div | ast.Pow):
        left, right = _static_value(node.left, names), _static_value(node.right, names)
        numbers = all(isinstance(x, int | float) and not isinstance(x, bool) for x in (left, right))
        if numbers and not (isinstance(node.op, ast.Pow) and abs(right) > 64):
            return {
                ast.Add: lambda: left + right,
                ast.Sub: lambda: left - right,
                ast.Mult: lambda: left * right,
                ast.Div: lambda: left / right,
                ast.Pow: lambda: left**right,
            }[type(node.op)]()
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "dict"
        and "dict" not in names
        and len(node.args) <= 1
    ):
        result = _mapping(_static_value(node.args[0], names)) if node.args else {}
        for keyword in node.keywords:
            value = _static_value(keyword.value, names)
            if keyword.arg is None:
                result.update(_mapping(value))
            else:
                result[keyword.arg] = value
        return result
    raise _NotStatic(type(node).__name__)


def _mapping(value) -> dict:
    if not isinstance(value, dict):
        raise _NotStatic("not a mapping")
    return dict(value)


def default_of(spec: NotebookSpec, name: str):
    """The default of ``name`` in the notebook's parameters cell (``None`` when it cannot be read as a literal)."""
    default = spec.defaults.get(name)
    return None if default is UNREADABLE else default


class _Loader(yaml.SafeLoader):
    """YAML 1.1 reads ``1e-3`` as a string; parameters mean the number."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\d[\d_]*)?(?:\.\d*)?[eE][-+]?\d+$"),
    list("-+0123456789."),
)


def load_yaml(text: str):
    """Parse YAML, reading ``1e-3`` as a float. Raises ``yaml.YAMLError`` on malformed text."""
    return yaml.load(text, Loader=_Loader)


def parse_value(text: str):
    """A ``-p`` value is a YAML scalar or list: ``0.1``, ``1e-3``, ``20``, ``adam``, ``[100, 150]``."""
    try:
        return load_yaml(text)
    except yaml.YAMLError as error:
        raise ValueError(f"cannot parse parameter value {text!r}: {error}") from error
