"""How an instructor's course file states an exercise's hidden cases, its reference and its comparison.

A course file (``course/<paper>/<notebook>.py`` in the repository; ``course init`` copies it into the
instructor's course as ``hidden/<assignment>/<notebook>.py``) defines ``CHECKS``, one check per
autograded exercise of the notebook, keyed by the exercise id the notebook's solution cell carries::

    from theory_collection.course.checks import Call, close

    def pmi_reference(model, pair, num_topics, topics_per_doc, alpha): ...

    CHECKS = [
        Call("pmi_theory", cases=[("LDA", "same topic", 7, 3, 0.3), ...], reference=pmi_reference,
             compare=close(rel=1e-9), setup="import math"),
    ]

The grader (:mod:`theory_collection.course.grader`) runs the solution cell in a separate process,
gets back each case's answer as plain data (numbers, strings, lists, dicts; arrays as nested lists),
and compares it in its own process with ``reference`` evaluated there. Three ways to ask:

- :class:`Call`: the solution defines a function, called with each case's arguments;
- :class:`Evaluate`: the solution defines a sympy expression, evaluated at each case's numbers for
  its symbols (matched by name);
- :class:`Custom`: an ``answer(solution, case)`` function of the course file, sent (as source) into
  the solution's process, turns the solution's names into plain data.

A case's arguments are JSON data; :func:`array` marks a numpy array and :func:`expression` a sympy
expression, which the solution's process rebuilds. ``compare(expected, got)`` returns ``None`` when
the answer agrees, else the reason, which must not reveal the expected value (students read it).
"""

from __future__ import annotations

import inspect
import math
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from theory_collection.course.sandbox import MAX_NUMBERS, decode, plain

# Modules a solution may not import unless a check says otherwise: the collection's own packages,
# whose functions compute the answers the exercises ask for.
DEFAULT_BLOCKED = ("topic_structure", "next_token", "theory_collection")
DEFAULT_TIME_LIMIT = 60.0  # seconds for all the cases of one exercise

Comparison = Callable[[Any, Any], "str | None"]


def array(values, dtype: str = "float64") -> dict:
    """A case argument that reaches the solution as a numpy array."""
    return {"__ndarray__": values.tolist() if hasattr(values, "tolist") else values, "dtype": dtype}


def expression(value) -> dict:
    """A case argument that reaches the solution as a sympy expression (sent as its ``srepr``)."""
    import sympy

    return {"__sympy__": sympy.srepr(value)}


def numbers(value) -> Any:
    """Plain data as the grader receives it: an encoded array becomes its nested list."""
    if isinstance(value, dict) and "__ndarray__" in value:
        return value["__ndarray__"]
    if isinstance(value, dict):
        return {k: numbers(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [numbers(v) for v in value]
    return value


def _flatten(value) -> list:
    value = numbers(value)
    if isinstance(value, dict):
        return [x for key in sorted(value) for x in _flatten(value[key])]
    if isinstance(value, (list, tuple)):
        return [x for item in value for x in _flatten(item)]
    return [value]


def _shape(value):
    value = numbers(value)
    if isinstance(value, dict):
        return {key: _shape(v) for key, v in sorted(value.items())}
    if isinstance(value, (list, tuple)):
        return [_shape(v) for v in value]
    return "number" if isinstance(value, (int, float)) and not isinstance(value, bool) else type(value).__name__


def close(rel: float = 1e-9, abs: float = 0.0) -> Comparison:  # noqa: A002 (math.isclose's names)
    """Numbers (nested in lists, tuples, dicts, arrays) equal to the reference within ``rel`` or ``abs``."""

    def compare(expected, got) -> str | None:
        if _shape(expected) != _shape(got):
            return "the answer does not have the expected form (" + _form(got) + ")"
        worst = 0.0
        for e, g in zip(_flatten(expected), _flatten(got)):
            if isinstance(e, bool) or not isinstance(e, (int, float)):
                if e != g:
                    return "a non-numeric part of the answer differs from the reference"
                continue
            if not (isinstance(g, (int, float)) and math.isfinite(g)) and math.isfinite(e):
                return f"the answer holds {g!r} where the reference is a finite number"
            if not math.isclose(e, g, rel_tol=rel, abs_tol=abs):
                worst = max(worst, math.fabs(g - e) / max(math.fabs(e), 1e-300))
        if worst:
            return f"differs from the reference by {worst:.2g} relative (allowed: {rel:g} relative, {abs:g} absolute)"
        return None

    return compare


def equal() -> Comparison:
    """Exactly the reference (integers, strings, booleans, lists of them)."""

    def compare(expected, got) -> str | None:
        if numbers(expected) == numbers(got):
            return None
        if _shape(expected) != _shape(got):
            return "the answer does not have the expected form (" + _form(got) + ")"
        return "differs from the reference"

    return compare


def _form(value) -> str:
    value = numbers(value)
    if isinstance(value, (list, tuple)):
        return f"got a list of {len(value)}"
    return f"got a {type(value).__name__}"


@dataclass(frozen=True)
class Check:
    """The hidden side of one autograded exercise; use :class:`Call`, :class:`Evaluate` or :class:`Custom`.

    ``cases``: the hidden cases, plain data; ``reference``: the instructor's answer to one case,
    computed in the grader's process; ``compare``: agreement of one case (default :func:`close`);
    ``setup``: code run in the solution's process before the solution cell (the imports the exercise
    allows); ``blocked``: modules (``pkg.mod``) and functions (``pkg.mod:function``) the solution may
    not use; ``time_limit``: seconds for all cases; ``labels``: how the feedback names each case
    (default ``case k of n``), never the expected answer; ``uses``: exercises of the same notebook
    whose **instructor** solution cells run before the student's (what this exercise builds on, so
    that an earlier mistake is not graded twice).
    """

    exercise: str
    cases: Sequence[Any]
    reference: Callable[..., Any]
    compare: Comparison = field(default_factory=close)
    setup: str = ""
    blocked: Sequence[str] = DEFAULT_BLOCKED
    time_limit: float = DEFAULT_TIME_LIMIT
    labels: Sequence[str] = ()
    uses: Sequence[str] = ()

    def __post_init__(self):
        if not self.cases:
            raise ValueError(f"check {self.exercise!r}: no hidden cases")
        if self.labels and len(self.labels) != len(self.cases):
            raise ValueError(f"check {self.exercise!r}: {len(self.labels)} labels for {len(self.cases)} cases")
        if not (self.time_limit > 0):
            raise ValueError(f"check {self.exercise!r}: time_limit must be positive, got {self.time_limit}")

    def reference_answer(self, index: int) -> Any:
        """The reference answer to case ``index`` as the grader compares it (plain data, like the solution's)."""
        return plain(self.expected(index), [MAX_NUMBERS])

    def label(self, index: int) -> str:
        """How the feedback names case ``index``."""
        return self.labels[index] if self.labels else f"case {index + 1} of {len(self.cases)}"

    def job_cases(self) -> list:
        """The cases as the solution's process receives them."""
        raise NotImplementedError

    def answer(self) -> dict:
        """How the solution's process turns the solution's names into one case's answer."""
        raise NotImplementedError

    def expected(self, index: int) -> Any:
        """The reference answer to case ``index``, as plain data."""
        raise NotImplementedError


@dataclass(frozen=True)
class Call(Check):
    """The solution defines the function ``exercise`` (or ``function``); each case is its arguments.

    A case is a tuple of positional arguments, or a dict ``{"args": [...], "kwargs": {...}}``;
    ``reference`` takes the same arguments (arrays as numpy arrays).
    """

    function: str = ""

    def _arguments(self, case) -> tuple[list, dict]:
        if isinstance(case, dict):
            return list(case.get("args", [])), dict(case.get("kwargs", {}))
        return list(case), {}

    def job_cases(self) -> list:
        """Each case as ``{"args": ..., "kwargs": ...}``."""
        return [dict(zip(("args", "kwargs"), self._arguments(case))) for case in self.cases]

    def answer(self) -> dict:
        """Call the solution's function."""
        return {"kind": "call", "name": self.function or self.exercise}

    def expected(self, index: int) -> Any:
        """``reference(*args, **kwargs)`` with encoded arrays rebuilt."""
        args, kwargs = self._arguments(self.cases[index])
        return self.reference(*[decode(a) for a in args], **{k: decode(v) for k, v in kwargs.items()})


@dataclass(frozen=True)
class Evaluate(Check):
    """The solution assigns a sympy expression to ``exercise`` (or ``name``); each case maps symbol names
    to numbers and ``reference(**case)`` gives the expression's value there."""

    name: str = ""

    def job_cases(self) -> list:
        """Each case as ``{"symbols": {name: number}}``."""
        return [{"symbols": dict(case)} for case in self.cases]

    def answer(self) -> dict:
        """Evaluate the solution's expression."""
        return {"kind": "evaluate", "name": self.name or self.exercise}

    def expected(self, index: int) -> Any:
        """``reference(**case)``."""
        return self.reference(**self.cases[index])


@dataclass(frozen=True)
class Custom(Check):
    """``answer(solution, case)``, a function of the course file, runs in the solution's process.

    It must be self-contained (its imports inside it or in ``setup``): its source is sent, not the
    course file. ``solution`` is the dict of names the solution cell defined; the function returns
    plain data. ``reference(case)`` gives the expected data.
    """

    function: Callable[[dict, Any], Any] | None = None

    def job_cases(self) -> list:
        """The cases as they are."""
        return list(self.cases)

    def answer(self) -> dict:
        """The function's source and name."""
        if self.function is None:
            raise ValueError(f"check {self.exercise!r}: Custom needs function=")
        source = textwrap.dedent(inspect.getsource(self.function))
        return {"kind": "custom", "source": source, "function": self.function.__name__}

    def expected(self, index: int) -> Any:
        """``reference(case)``."""
        return self.reference(decode(self.cases[index]))
