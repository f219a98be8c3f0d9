"""Claims tables: every notebook ends with one, written to ``<output_dir>/claims.json``.

A claim has a **kind** that says what kind of evidence it is, and a **verdict** computed here,
never typed:

=============  =====================================================================================
kind           what it is
=============  =====================================================================================
derivation     a symbolic value against an independent numeric route (exact optimum, exact solver)
prediction     a theory value against a measurement from training or sampling
paper          a claim of the paper, stated as the paper states it, tested on data
assumption     a stated assumption of the paper, measured on data
check          an internal sanity check (sampler rates, baselines, an instrument's null value)
observation    something shown and worth reading, with no verdict
=============  =====================================================================================

=============  =====================================================================================
verdict        when
=============  =====================================================================================
holds          the comparison is true
fails          the comparison is false
inconclusive   the experiment did not meet its own precondition (``unmet``: a run that did not
               converge by its stated criterion, with the gap), or an interval straddles the criterion
observed       observations only
=============  =====================================================================================

Every claim also says **where it comes from** (:data:`SOURCES`): ``source`` is one of

=============  =====================================================================================
source         what the statement is
=============  =====================================================================================
paper          a statement of the paper: its abstract, its introduction, or a figure or table it reports
paper code     fixed by the authors' public code (a configuration, a printed result)
formalised     the collection's precise version of a qualitative statement of a paper
collection     the collection's own derivation or prediction (a closed form, an ODE onset, a rule)
other work     another paper's result
=============  =====================================================================================

``location`` says where a reader finds it (the abstract sentence, the figure, the repository file and
line; for ``formalised``, the statement formalised and what the collection chose: quantity,
threshold, setting; for ``other work``, the citation); ``conditions`` gives the setting the claim was
tested in (optimizer and learning rate, initialisation, what is trained, data and size; for a
derivation, the setting it is derived in); ``paper_conditions`` says whether those are the paper's
own conditions as far as its sources fix them. A failing claim **contradicts a paper** only when its
source is ``paper`` or ``paper code`` and it was tested in the paper's conditions
(:func:`contradicts_paper`); every other failure is a failure of the collection's formalisation or
extension, and is reported as such.

Comparisons: ``relative`` / ``absolute`` compare ``measured`` with ``theory`` under ``tolerance``
(and the tolerance has a ``tolerance_reason``: the error model it comes from); ``greater`` /
``less`` compare ``measured`` (or its ``interval``) with a ``criterion``, a detection threshold
with its own ``criterion_reason``, never with the theory column; ``true`` takes a boolean that the
notebook computed. ``theory`` holds only values that a theory predicts (``None`` when there is none).
The boolean ``holds`` (true only for the verdict ``holds``) is kept for older readers of ``claims.json``.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from theory_collection import claims_display
from theory_collection.sections import recording_cell

KINDS = ("derivation", "prediction", "paper", "assumption", "check", "observation")
VERDICTS = ("holds", "fails", "inconclusive", "observed")
# The collection's own claims: a failure is a bug (or a wrong derivation) and stops the notebook.
# A failing paper or assumption claim is a finding about the paper and does not.
OWN_KINDS = ("derivation", "prediction", "check")
COMPARISONS = ("relative", "absolute", "greater", "less", "true")
SOURCES = ("paper", "paper code", "formalised", "collection", "other work")
# The sources whose statement a reader finds in a paper or its public code: only their failures, under
# the paper's own conditions, contradict a paper.
PAPER_SOURCES = ("paper", "paper code")


@dataclass
class Claim:
    """One row of a claims table (see the module docstring for the meaning of each field)."""

    id: str
    kind: str
    statement: str
    theory: float | str | bool | None
    measured: float | str | bool | None
    tolerance: str
    verdict: str
    holds: bool
    reason: str = ""
    tolerance_reason: str = ""
    criterion: float | None = None
    criterion_reason: str = ""
    interval: list[float] | None = None
    data: str = ""  # what the evidence was measured on: "synthetic", "wikipedia", ... ("" for pure theory)
    figure: str = ""  # the name of the figure that shows it (save_figure's name, without suffix)
    section: str = ""  # the notebook heading under which it is derived and checked
    source: str = ""  # one of SOURCES
    location: str = ""  # where a reader finds the statement (see the module docstring)
    conditions: str = ""  # the setting it was tested (or derived) in
    paper_conditions: bool = False  # whether those are the paper's own conditions, as far as its sources fix them
    same_runs: list[str] | None = None  # ids of claims measured on the same runs (shown beside a failure)
    cell: int | None = None  # the execution count (In [n]) of the notebook cell that recorded it; None outside a kernel


def judge(
    measured,
    comparison: str,
    theory=None,
    tolerance: float = 0.0,
    criterion: float | None = None,
    interval: tuple[float, float] | None = None,
) -> str:
    """The verdict of one comparison: ``"holds"``, ``"fails"`` or ``"inconclusive"``.

    relative: ``|measured - theory| <= tolerance * |theory|``; absolute: ``<= tolerance``;
    greater / less: ``measured > criterion`` / ``measured < criterion``, and with an ``interval``
    ``(low, high)`` of the measurement, holds when all of it is on the claimed side, fails when all
    of it is on the other side, inconclusive when it straddles the criterion; true: ``measured`` is
    itself the verdict. A measurement that is not finite fails.
    """
    if comparison not in COMPARISONS:
        raise ValueError(f"comparison must be one of {COMPARISONS}, got {comparison!r}")
    if comparison == "true":
        return "holds" if bool(measured) else "fails"
    measured = float(measured)
    if not math.isfinite(measured):
        return "fails"
    if comparison in ("relative", "absolute"):
        if theory is None:
            raise ValueError(f"a {comparison} comparison needs a theory value")
        theory, tolerance = float(theory), float(tolerance)
        bound = tolerance * abs(theory) if comparison == "relative" else tolerance
        return "holds" if math.isfinite(theory) and abs(measured - theory) <= bound else "fails"
    if criterion is None:
        raise ValueError(f"a {comparison} comparison needs a criterion (a threshold with its reason)")
    criterion = float(criterion)
    low, high = (float(interval[0]), float(interval[1])) if interval is not None else (measured, measured)
    if comparison == "greater":
        return "holds" if low > criterion else ("fails" if high <= criterion else "inconclusive")
    return "holds" if high < criterion else ("fails" if low >= criterion else "inconclusive")


@dataclass(frozen=True)
class Provenance:
    """Where a claim comes from and what it was tested in (see the module docstring).

    ``source`` is one of :data:`SOURCES`; ``location`` where a reader finds the statement; ``conditions``
    the setting of the test; ``paper_conditions`` whether that setting is the paper's own.
    """

    source: str
    location: str
    conditions: str
    paper_conditions: bool = False

    def problems(self) -> list[str]:
        """What is missing or wrong (empty when the provenance is complete)."""
        found = []
        if self.source not in SOURCES:
            found.append(f"source must be one of {SOURCES}, got {self.source!r}")
        if not str(self.location).strip():
            found.append("location is empty (say where a reader finds the statement)")
        if not str(self.conditions).strip():
            found.append("conditions are empty (say the setting the claim was tested in)")
        if not isinstance(self.paper_conditions, bool):
            found.append(f"paper_conditions must be true or false, got {self.paper_conditions!r}")
        if self.paper_conditions and self.source not in PAPER_SOURCES:
            found.append(f"paper_conditions is true for a {self.source!r} claim; only a paper's statements have them")
        return found


@dataclass(frozen=True)
class ClaimSpec:
    """A claim declared as data: everything about it that does not depend on the run.

    A notebook's claims module declares its claims once (``SPECS = claim_specs(ClaimSpec(...), ...)``) and
    records each with :meth:`ClaimsTable.record`, which adds what the run measured. ``statement``,
    ``location`` and ``conditions`` may hold ``{name}`` fields, filled from the ``values`` given to
    ``record``. ``comparison`` is one of :data:`COMPARISONS`, or ``"observe"`` for an observation.
    """

    id: str
    kind: str
    source: str
    location: str
    statement: str
    conditions: str = ""
    comparison: str = "relative"
    tolerance: float = 0.0
    tolerance_reason: str = ""
    criterion: float | None = None
    criterion_reason: str = ""
    paper_conditions: bool = False
    data: str = ""
    section: str = ""
    figure: str = ""
    reason: str = ""
    same_runs: tuple[str, ...] = ()


def claim_specs(*specs: ClaimSpec) -> dict[str, ClaimSpec]:
    """The specs by id; an id declared twice is an error."""
    found: dict[str, ClaimSpec] = {}
    for spec in specs:
        if spec.id in found:
            raise ValueError(f"claim id {spec.id!r} is declared twice")
        found[spec.id] = spec
    return found


class ClaimsTable:
    """Collects a notebook's claims, shows them as a table, writes ``claims.json``."""

    def __init__(self, notebook: str):
        self.notebook = notebook
        self.claims: list[Claim] = []

    def record(self, spec: ClaimSpec, measured=None, theory=None, *, values: dict | None = None, **run) -> Claim:
        """Record the claim ``spec`` declares with what the run gives: ``measured``, ``theory`` and any field
        of :meth:`check` that the run decides (``interval``, ``unmet``, ``reason``, ``criterion``, ...).

        ``values`` fill the ``{name}`` fields of the spec's statement, location and conditions.
        """
        values = values or {}
        fields = {name: getattr(spec, name) for name in ClaimSpec.__dataclass_fields__ if name not in ("id", "kind")}
        for name in ("statement", "location", "conditions", "reason", "criterion_reason", "tolerance_reason"):
            fields[name] = fields[name].format(**values) if values else fields[name]
        fields.update(run)
        comparison = fields.pop("comparison")
        same_runs = list(fields.pop("same_runs"))
        if comparison == "observe":
            keep = ("statement", "reason", "data", "figure", "section", "source", "location", "conditions")
            claim = self.observe(spec.id, measured=measured, theory=theory, **{k: fields[k] for k in keep})
        else:
            claim = self.check(
                spec.id, theory=theory, measured=measured, comparison=comparison, kind=spec.kind, **fields
            )
        claim.same_runs = same_runs or None
        return claim

    def check(
        self,
        id: str,
        statement: str,
        theory=None,
        measured=None,
        tolerance: float = 0.0,
        comparison: str = "relative",
        reason: str = "",
        *,
        kind: str,
        tolerance_reason: str = "",
        criterion: float | None = None,
        criterion_reason: str = "",
        interval: tuple[float, float] | None = None,
        unmet: str = "",
        data: str = "",
        figure: str = "",
        section: str = "",
        source: str = "",
        location: str = "",
        conditions: str = "",
        paper_conditions: bool = False,
    ) -> Claim:
        """Judge and record a claim.

        ``unmet`` describes a precondition the experiment did not meet (say "not converged:
        relative gradient norm 3e-3 > 1e-6"): the verdict is then ``inconclusive`` whatever the
        comparison gives, and the description is added to the reason. ``reason`` says what the
        claim needs or why it fails; ``tolerance_reason`` and ``criterion_reason`` justify the
        numbers used. ``data`` names what the measurement was made on (``"synthetic"``,
        ``"wikipedia"``): the report's headline table has one column per kind of data. ``figure``
        (a figure name as given to ``save_figure``) and ``section`` (the text of the notebook heading
        where the claim is derived and checked) let the report link the claim to both. ``source``,
        ``location``, ``conditions`` and ``paper_conditions`` are its provenance (module docstring).
        """
        if kind not in KINDS or kind == "observation":
            raise ValueError(f"kind must be one of {KINDS[:-1]} (use observe() for an observation), got {kind!r}")
        self._check_new(id)
        _check_provenance(id, source, location, conditions, paper_conditions)
        verdict = judge(measured, comparison, theory, tolerance, criterion, interval)
        if unmet:
            verdict = "inconclusive"
            reason = f"{reason}; inconclusive: {unmet}" if reason else f"inconclusive: {unmet}"
        claim = Claim(
            id=id,
            kind=kind,
            statement=statement,
            theory=_plain(theory),
            measured=_plain(measured),
            tolerance=_tolerance_text(tolerance, comparison, criterion),
            verdict=verdict,
            holds=verdict == "holds",
            reason=reason,
            tolerance_reason=tolerance_reason,
            criterion=None if criterion is None else float(criterion),
            criterion_reason=criterion_reason,
            interval=None if interval is None else [float(interval[0]), float(interval[1])],
            data=data,
            figure=figure,
            section=section,
            source=source,
            location=location,
            conditions=conditions,
            paper_conditions=paper_conditions,
            cell=recording_cell(),
        )
        self.claims.append(claim)
        return claim

    def observe(
        self,
        id: str,
        statement: str,
        measured,
        theory=None,
        reason: str = "",
        data: str = "",
        figure: str = "",
        section: str = "",
        source: str = "",
        location: str = "",
        conditions: str = "",
    ) -> Claim:
        """Record an observation: shown with its value (and a theory value if one exists), no verdict."""
        self._check_new(id)
        _check_provenance(id, source, location, conditions, False)
        claim = Claim(
            id=id,
            kind="observation",
            statement=statement,
            theory=_plain(theory),
            measured=_plain(measured),
            tolerance="",
            verdict="observed",
            holds=False,
            reason=reason,
            data=data,
            figure=figure,
            section=section,
            source=source,
            location=location,
            conditions=conditions,
            cell=recording_cell(),
        )
        self.claims.append(claim)
        return claim

    def _check_new(self, id: str) -> None:
        if any(c.id == id for c in self.claims):
            raise ValueError(f"claim id {id!r} is recorded twice")

    def frame(self) -> pd.DataFrame:
        """The table as a DataFrame of text, the columns a reader needs in reading order (empty cells, never NaN)."""
        return claims_display.claims_frame([asdict(c) for c in self.claims])

    def _repr_html_(self) -> str:
        return claims_display.claims_html([asdict(c) for c in self.claims])

    def __repr__(self) -> str:
        return claims_display.claims_text([asdict(c) for c in self.claims])

    def write(self, output_dir: str | Path) -> Path:
        """Write ``claims.json`` atomically (a reader never sees half a file); return its path."""
        path = Path(output_dir) / "claims.json"
        records = [{"notebook": self.notebook, **asdict(c)} for c in self.claims]
        write_atomic(path, json.dumps(records, indent=2) + "\n")
        return path

    def failures(self) -> list[Claim]:
        """The claims whose verdict is ``fails``."""
        return [c for c in self.claims if c.verdict == "fails"]

    def raise_if_any_fails(self) -> None:
        """Stop the notebook (and so the test run) when one of the collection's own claims fails.

        The collection's own claims are its derivations, its predictions and its checks: a failure
        there means the code or the theory derived here is wrong, and the tests must stop. A claim of
        the paper or an assumption of the paper that the data refute (kind ``paper`` or
        ``assumption``) is a finding: it is recorded, written to ``claims.json`` and reported first
        by the report, and the notebook runs on. Inconclusive claims do not stop it either: they are
        the honest result of a run that did not meet its precondition.
        """
        broken = [c for c in self.failures() if c.kind in OWN_KINDS]
        if broken:
            lines = "\n".join(
                f"  {c.id} ({c.kind}): theory {c.theory}, measured {c.measured} ({c.tolerance}) {c.reason}"
                for c in broken
            )
            raise AssertionError(f"{len(broken)} claim(s) of {self.notebook} do not hold:\n{lines}")

    def findings(self) -> list[Claim]:
        """The failing claims of kind paper or assumption (a contradiction only if :func:`contradicts_paper`)."""
        return [c for c in self.failures() if c.kind not in OWN_KINDS]


def write_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and a rename."""
    path = Path(path)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        # mkstemp creates the file readable by its owner only; give it the mode a plain write would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def verdict_of(record: dict) -> str:
    """The verdict of a ``claims.json`` record, also for files written before verdicts had four values."""
    return record.get("verdict") or ("holds" if record["holds"] else "fails")


def load_claims(path: str | Path) -> list[dict]:
    """Read a ``claims.json``; a malformed file is an error that names it."""
    path = Path(path)
    try:
        records = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"cannot read claims file {path}: {error}") from error
    required = {"id", "statement", "theory", "measured", "tolerance", "holds"}
    if not isinstance(records, list) or not all(isinstance(r, dict) and required <= set(r) for r in records):
        raise ValueError(f"claims file {path} must be a JSON list of objects with keys {sorted(required)}")
    for record in records:
        record.setdefault("kind", "prediction")
        for name in ("source", "location", "conditions"):
            record.setdefault(name, "")  # files written before claims carried their provenance
        record.setdefault("paper_conditions", False)
        record.setdefault("cell", None)  # files written before claims named the cell that recorded them
        record["verdict"] = verdict_of(record)
    return records


def _check_provenance(claim_id: str, source: str, location: str, conditions: str, paper_conditions: bool) -> None:
    """Every claim says where it comes from and what it was tested in (:class:`Provenance`), or is refused."""
    problems = Provenance(source, location, conditions, paper_conditions).problems()
    if problems:
        raise ValueError(f"claim {claim_id}: " + "; ".join(problems))


def provenance_problems(record: dict) -> list[str]:
    """What a ``claims.json`` record lacks of its provenance (empty when complete; see :class:`Provenance`)."""
    return Provenance(
        record.get("source", ""),
        record.get("location", ""),
        record.get("conditions", ""),
        record.get("paper_conditions", False),
    ).problems()


def contradicts_paper(record: dict) -> bool:
    """Whether a failing claim contradicts a paper: a paper's (or its code's) statement, under its conditions."""
    return (
        verdict_of(record) == "fails"
        and record.get("source") in PAPER_SOURCES
        and record.get("paper_conditions") is True
    )


def _tolerance_text(tolerance, comparison: str, criterion) -> str:
    if comparison == "true":
        return "computed verdict"
    if comparison in ("greater", "less"):
        return f"{'>' if comparison == 'greater' else '<'} {float(criterion):g}"
    return {"relative": f"rel {tolerance:g}", "absolute": f"abs {tolerance:g}"}[comparison]


def _plain(value):
    """JSON-friendly: numpy / torch scalars to float or bool, strings and None kept."""
    if isinstance(value, bool | str) or value is None:
        return value
    if hasattr(value, "dtype") and str(getattr(value, "dtype", "")) in ("bool", "torch.bool"):
        return bool(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)
