"""The claim model: kinds, the four verdicts, criteria and intervals, unmet preconditions, the headline."""

import dataclasses
import json

import numpy as np
import pytest

from theory_collection.claims import (
    KINDS,
    PAPER_SOURCES,
    SOURCES,
    VERDICTS,
    ClaimSpec,
    ClaimsTable,
    claim_specs,
    contradicts_paper,
    judge,
    load_claims,
    provenance_problems,
    verdict_of,
)
from theory_collection.verdicts import counts_by_kind, headline, subject_of

PROVENANCE = {"source": "collection", "location": "the tests' own statements", "conditions": "none"}


class Table(ClaimsTable):
    """A claims table whose claims default to a complete provenance: most tests here are about verdicts."""

    def check(self, *args, **kwargs):
        return super().check(*args, **{**PROVENANCE, **kwargs})

    def observe(self, *args, **kwargs):
        return super().observe(*args, **{**PROVENANCE, **kwargs})


@pytest.mark.parametrize(
    "measured, comparison, theory, tolerance, verdict",
    [
        (1.00005, "relative", 1.0, 1e-4, "holds"),
        (1.0002, "relative", 1.0, 1e-4, "fails"),
        (-2.0001, "relative", -2.0, 1e-4, "holds"),  # the bound uses |theory|
        (-2.001, "relative", -2.0, 1e-4, "fails"),
        (0.05, "absolute", 0.0, 0.1, "holds"),
        (0.2, "absolute", 0.0, 0.1, "fails"),
        (-0.2, "absolute", 0.0, 0.1, "fails"),
        (1.25, "absolute", 1.0, 0.25, "holds"),  # the boundary itself holds (exact in binary)
        (float("nan"), "absolute", 1.0, 1.0, "fails"),
        (float("inf"), "relative", 1.0, 1.0, "fails"),
        (1.0, "relative", float("nan"), 1.0, "fails"),  # a theory that is not finite cannot be met
        (True, "true", None, 0.0, "holds"),
        (False, "true", None, 0.0, "fails"),
        (np.bool_(True), "true", None, 0.0, "holds"),
    ],
)
def test_judge_compares_with_theory(measured, comparison, theory, tolerance, verdict):
    assert judge(measured, comparison, theory, tolerance) == verdict


@pytest.mark.parametrize(
    "measured, comparison, criterion, interval, verdict",
    [
        (1.5, "greater", 1.0, None, "holds"),
        (1.0, "greater", 1.0, None, "fails"),  # strictly above the criterion
        (0.5, "greater", 1.0, None, "fails"),
        (0.5, "less", 1.0, None, "holds"),
        (1.0, "less", 1.0, None, "fails"),
        (1.5, "less", 1.0, None, "fails"),
        (1.5, "greater", 1.0, (1.2, 1.8), "holds"),  # the whole interval on the claimed side
        (1.5, "greater", 1.0, (0.2, 0.8), "fails"),  # the whole interval on the other side, whatever the point value
        (1.5, "greater", 1.0, (0.8, 1.8), "inconclusive"),  # straddles the criterion
        (0.9, "greater", 1.0, (0.8, 1.8), "inconclusive"),
        (0.5, "less", 1.0, (0.2, 0.8), "holds"),
        (0.5, "less", 1.0, (1.2, 1.8), "fails"),
        (0.5, "less", 1.0, (0.2, 1.3), "inconclusive"),
        (float("nan"), "greater", 1.0, None, "fails"),
    ],
)
def test_judge_compares_with_a_criterion(measured, comparison, criterion, interval, verdict):
    assert judge(measured, comparison, criterion=criterion, interval=interval) == verdict


def test_judge_refuses_missing_reference_values():
    with pytest.raises(ValueError, match="comparison must be one of"):
        judge(1.0, "approx", 1.0)
    with pytest.raises(ValueError, match="theory value"):
        judge(1.0, "relative")
    with pytest.raises(ValueError, match="criterion"):
        judge(1.0, "greater", theory=1.0)


def test_a_threshold_without_a_criterion_is_refused_not_read_from_the_theory_column():
    table = Table("x")
    with pytest.raises(ValueError, match="criterion"):
        table.check(
            "C9.old",
            "an old-style threshold in the theory column",
            1.0,
            2.0,
            0.5,
            comparison="greater",
            kind="prediction",
        )
    with pytest.raises(ValueError, match="criterion"):
        table.check("C9.older", "s", 1.0, 0.5, comparison="less", kind="check")
    assert table.claims == []


def test_check_records_every_field_and_the_verdict(tmp_path):
    table = Table("99_test")
    held = table.check(
        "C9.a",
        "holds",
        2.0,
        2.0001,
        1e-4,
        kind="derivation",
        tolerance_reason="float64 L-BFGS",
        data="synthetic",
        figure="99_test_fig",
        section="2 · Section",
    )
    failed = table.check("C9.b", "fails", 2.0, 3.0, 1e-4, reason="because", kind="prediction")
    assert (held.verdict, held.holds, held.kind, held.tolerance) == ("holds", True, "derivation", "rel 0.0001")
    assert (held.data, held.figure, held.section, held.tolerance_reason) == (
        "synthetic",
        "99_test_fig",
        "2 · Section",
        "float64 L-BFGS",
    )
    assert (failed.verdict, failed.holds, failed.kind) == (
        "fails",
        False,
        "prediction",
    )  # prediction is the default kind
    path = table.write(tmp_path)
    records = json.loads(path.read_text())
    assert [r["id"] for r in records] == ["C9.a", "C9.b"] and [r["verdict"] for r in records] == ["holds", "fails"]
    assert [r["holds"] for r in records] == [True, False]  # the boolean for older readers
    assert records[0]["notebook"] == "99_test" and records[1]["reason"] == "because"
    assert load_claims(path) == records
    assert "FAILS" in table._repr_html_() and "holds" in repr(table)
    assert list(table.frame().columns) == [
        "id",
        "kind",
        "verdict",
        "statement",
        "theory",
        "measured",
        "tolerance",
        "source",
        "location",
        "reason",
    ]
    with pytest.raises(AssertionError, match="C9.b"):
        table.raise_if_any_fails()


def test_a_refuted_paper_claim_is_a_finding_and_does_not_stop_the_notebook():
    table = Table("x")
    table.check(
        "A1.wiki",
        "top-topic share at least 0.9",
        measured=0.49,
        comparison="greater",
        criterion=0.9,
        kind="assumption",
        data="wikipedia",
    )
    table.check(
        "C4.adam",
        "W_V moves first under Adam",
        measured=1.8,
        comparison="greater",
        criterion=10,
        kind="paper",
        data="synthetic",
    )
    table.raise_if_any_fails()  # findings about the paper are results, not bugs
    assert [c.id for c in table.findings()] == ["A1.wiki", "C4.adam"]
    table.check("C1.value", "symbolic = numeric", 1.0, 1.2, 1e-6, kind="derivation")
    with pytest.raises(AssertionError, match="C1.value") as raised:
        table.raise_if_any_fails()
    assert "A1.wiki" not in str(raised.value)


def test_a_threshold_is_a_criterion_not_a_theory_value():
    table = Table("x")
    claim = table.check(
        "C9.ratio",
        "the ratio exceeds its value at initialisation",
        theory=None,
        measured=3.0,
        comparison="greater",
        criterion=2.0,
        criterion_reason="largest ratio at initialisation over seeds",
        interval=(2.5, 3.5),
        kind="prediction",
    )
    assert (claim.theory, claim.criterion, claim.interval, claim.tolerance) == (None, 2.0, [2.5, 3.5], "> 2")
    assert claim.verdict == "holds" and claim.criterion_reason.startswith("largest")
    straddling = table.check(
        "C9.straddle", "s", measured=2.2, comparison="greater", criterion=2.0, interval=(1.5, 2.9), kind="prediction"
    )
    assert straddling.verdict == "inconclusive" and not straddling.holds
    below = table.check(
        "C9.less", "s", measured=0.1, comparison="less", criterion=0.5, interval=(0.6, 0.9), kind="prediction"
    )
    assert below.verdict == "fails" and below.tolerance == "< 0.5"


def test_an_unmet_precondition_makes_any_comparison_inconclusive():
    table = Table("x")
    # a comparison that would fail, and one that would hold: neither is decided by a run that stopped early
    would_fail = table.check(
        "C9.a",
        "s",
        1.0,
        1.3,
        0.05,
        reason="finite-length bias",
        unmet="not converged: gap 3e-2 > 1e-2",
        kind="prediction",
    )
    would_hold = table.check("C9.b", "s", 1.0, 1.0, 0.05, unmet="not converged: gap 2e-2 > 1e-2", kind="prediction")
    assert would_fail.verdict == would_hold.verdict == "inconclusive"
    assert not would_fail.holds and not would_hold.holds
    assert would_fail.reason == "finite-length bias; inconclusive: not converged: gap 3e-2 > 1e-2"
    assert would_hold.reason == "inconclusive: not converged: gap 2e-2 > 1e-2"
    table.raise_if_any_fails()  # inconclusive does not stop a notebook
    assert table.failures() == []


def test_observations_have_no_verdict_and_never_fail(tmp_path):
    table = Table("x")
    claim = table.observe("C9.obs", "the ratio under Adam", 1.8, theory=152.0, reason="proxy", data="synthetic")
    assert (claim.kind, claim.verdict, claim.holds, claim.tolerance, claim.theory) == (
        "observation",
        "observed",
        False,
        "",
        152.0,
    )
    table.raise_if_any_fails()
    with pytest.raises(ValueError, match="observe"):
        table.check("C9.x", "s", 1.0, 1.0, kind="observation")
    with pytest.raises(ValueError, match="kind must be one of"):
        table.check("C9.y", "s", 1.0, 1.0, kind="guess")
    with pytest.raises(ValueError, match="twice"):
        table.observe("C9.obs", "again", 1.0)
    assert load_claims(table.write(tmp_path))[0]["verdict"] == "observed"


def test_the_theory_column_holds_the_derivations():
    records = [
        {"id": "C1.value", "kind": "derivation", "verdict": "holds", "holds": True, "data": ""},
        {"id": "C1.trained", "kind": "prediction", "verdict": "holds", "holds": True, "data": "synthetic"},
        {"id": "C2.value", "kind": "derivation", "verdict": "fails", "holds": False, "data": "synthetic"},
    ]
    table = headline(records, ["C1", "C2"], ["theory", "synthetic"])
    assert table["C1"]["theory"] == {"verdict": "confirmed", "ids": ["C1.value"]}
    assert table["C1"]["synthetic"] == {"verdict": "confirmed", "ids": ["C1.trained"]}
    assert table["C2"]["theory"]["verdict"] == "formalisation fails"
    assert table["C2"]["synthetic"]["verdict"] == "not tested"


def test_every_claim_names_its_kind():
    with pytest.raises(TypeError, match="kind"):
        Table("x").check("C1", "s", 1.0, 1.0)


def test_duplicate_ids_and_bad_comparisons_are_rejected():
    table = Table("x")
    table.check("C1", "s", 1.0, 1.0, kind="prediction")
    with pytest.raises(ValueError, match="twice"):
        table.check("C1", "s", 1.0, 1.0, kind="prediction")
    with pytest.raises(ValueError, match="comparison"):
        table.check("C2", "s", 1.0, 1.0, comparison="approx", kind="prediction")


def test_load_claims_reads_files_written_before_kinds_and_verdicts(tmp_path):
    old = tmp_path / "claims.json"
    old.write_text(
        json.dumps(
            [
                {
                    "id": "C1.a",
                    "statement": "s",
                    "theory": 1.0,
                    "measured": 1.0,
                    "tolerance": "rel 0.05",
                    "holds": True,
                },
                {
                    "id": "C1.b",
                    "statement": "s",
                    "theory": 1.0,
                    "measured": 2.0,
                    "tolerance": "rel 0.05",
                    "holds": False,
                },
            ]
        )
    )
    records = load_claims(old)
    assert [(r["kind"], r["verdict"]) for r in records] == [("prediction", "holds"), ("prediction", "fails")]
    assert (
        verdict_of({"holds": False}) == "fails"
        and verdict_of({"holds": False, "verdict": "inconclusive"}) == "inconclusive"
    )


def test_load_claims_rejects_malformed_files(tmp_path):
    bad = tmp_path / "claims.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="cannot read"):
        load_claims(bad)
    bad.write_text(json.dumps([{"id": "x"}]))
    with pytest.raises(ValueError, match="JSON list"):
        load_claims(bad)
    bad.write_text(json.dumps({"id": "x"}))
    with pytest.raises(ValueError, match="JSON list"):
        load_claims(bad)


def test_numpy_and_torch_values_become_plain_json(tmp_path):
    import torch

    table = Table("x")
    table.check("C1", "s", np.float64(1.0), np.float32(1.0), kind="prediction")
    table.check("C2", "s", measured=torch.tensor(True), comparison="true", kind="prediction")
    records = json.loads(table.write(tmp_path).read_text())
    assert records[0]["measured"] == 1.0 and records[1]["measured"] is True


def _record(claim_id, verdict, kind="prediction", data="synthetic"):
    return {"id": claim_id, "kind": kind, "verdict": verdict, "holds": verdict == "holds", "data": data}


def test_headline_cells_follow_the_evidence():
    records = [
        _record("C1.a", "holds"),
        _record("C1.b", "holds", kind="paper"),
        _record("C2.a", "holds"),
        _record("C2.b", "fails"),
        _record("C2.c", "inconclusive"),  # any failure decides the cell
        _record("C3.a", "holds"),
        _record("C3.b", "inconclusive"),  # open while any evidence is open
        _record("C4.a", "fails", kind="derivation"),
        _record("C4.b", "fails", kind="check"),  # not evidence on data
        _record("C4.c", "observed", kind="observation"),
        _record("A1.a", "holds", kind="assumption", data="wikipedia"),
        _record("A1.b", "fails", kind="assumption"),
    ]
    table = headline(records, ["C1", "C2", "C3", "C4", "A1", "A2"], ["synthetic", "wikipedia"])
    cell = {subject: {data: table[subject][data]["verdict"] for data in table[subject]} for subject in table}
    assert cell["C1"] == {"synthetic": "confirmed", "wikipedia": "not tested"}
    assert cell["C2"]["synthetic"] == "formalisation fails" and cell["C3"]["synthetic"] == "inconclusive"
    assert cell["C4"] == {"synthetic": "not tested", "wikipedia": "not tested"}
    assert cell["A1"] == {"synthetic": "formalisation fails", "wikipedia": "confirmed"}
    assert cell["A2"]["synthetic"] == "not tested"
    assert table["C2"]["synthetic"]["ids"] == ["C2.a", "C2.b", "C2.c"] and table["C4"]["synthetic"]["ids"] == []
    assert subject_of("C3.x_star.trained") == "C3"


def test_counts_by_kind_in_canonical_order_and_old_records():
    records = [
        _record("C1.a", "holds", "derivation"),
        _record("C1.b", "fails", "derivation"),
        _record("C2.a", "inconclusive"),
        _record("C2.b", "observed", "observation"),
        {"id": "C3.old", "holds": True},
    ]  # an old record: kind prediction, verdict from holds
    counts = counts_by_kind(records)
    assert list(counts) == [k for k in KINDS if k in counts] == ["derivation", "prediction", "observation"]
    assert counts["derivation"] == {"holds": 1, "fails": 1, "inconclusive": 0, "observed": 0}
    assert counts["prediction"] == {"holds": 1, "fails": 0, "inconclusive": 1, "observed": 0}
    assert list(counts["observation"]) == list(VERDICTS)


def test_claims_file_is_readable_like_a_plain_write(tmp_path):
    import os
    import stat

    table = Table("x")
    table.check("C9.a", "s", 1.0, 1.0, 0.1, kind="prediction")
    written = table.write(tmp_path)
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    assert stat.S_IMODE(os.stat(written).st_mode) == stat.S_IMODE(os.stat(plain).st_mode)


# ---------------------------------------------------------------------------------------------
# Provenance: where a claim comes from, and which failures contradict a paper


def _sourced(claim_id, verdict, source, paper_conditions, kind="paper", data="synthetic"):
    return {
        **_record(claim_id, verdict, kind=kind, data=data),
        "source": source,
        "location": "abstract, sentence 2" if source in PAPER_SOURCES else "the collection's choice",
        "conditions": "Adam lr 0.01, 100-150 words",
        "paper_conditions": paper_conditions,
    }


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("paper_conditions", [True, False])
def test_only_a_paper_statement_under_its_conditions_contradicts_the_paper(source, paper_conditions):
    record = _sourced("C1.a", "fails", source, paper_conditions)
    expected = source in ("paper", "paper code") and paper_conditions
    assert contradicts_paper(record) is expected
    assert headline([record], ["C1"], ["synthetic"])["C1"]["synthetic"]["verdict"] == (
        "contradicted" if expected else "formalisation fails"
    )
    assert not contradicts_paper({**record, "verdict": "holds", "holds": True})


def test_a_claim_without_source_location_or_conditions_has_provenance_problems():
    complete = _sourced("A1.a", "holds", "formalised", False)
    assert provenance_problems(complete) == []
    for name, value, problem in [
        ("source", "", "source must be one of"),
        ("source", "the paper", "source must be one of"),
        ("location", " ", "location is empty"),
        ("conditions", "", "conditions are empty"),
    ]:
        assert any(problem in p for p in provenance_problems({**complete, name: value})), name
    assert any("only a paper" in p for p in provenance_problems({**complete, "paper_conditions": True}))
    assert provenance_problems({**complete, "source": "paper", "paper_conditions": True}) == []


def test_a_claim_without_complete_provenance_is_refused():
    table = Table("x")
    with pytest.raises(ValueError, match="source must be one of"):
        table.check("C1.a", "s", 1.0, 1.0, kind="prediction", source="paper's code")
    with pytest.raises(ValueError, match="paper_conditions"):
        table.check("C1.b", "s", 1.0, 1.0, kind="prediction", source="collection", paper_conditions=True)
    bare = ClaimsTable("x")
    for missing, problem in (("source", "source must be one of"), ("location", "location is empty")):
        with pytest.raises(ValueError, match=problem):
            bare.check("C1.c", "s", 1.0, 1.0, kind="prediction", **{**PROVENANCE, missing: ""})
    with pytest.raises(ValueError, match="conditions are empty"):
        bare.observe("C1.d", "s", 1.0, **{**PROVENANCE, "conditions": " "})
    assert bare.check("C1.e", "s", 1.0, 1.0, kind="prediction", **PROVENANCE).verdict == "holds"


def test_a_declared_claim_is_recorded_with_its_provenance_and_filled_fields(tmp_path):
    specs = claim_specs(
        ClaimSpec(
            "C2.diagonal",
            "paper",
            "paper code",
            "src/inspect_result.py, line {line}",
            "diagonal of W_V above the different-topic block at T = {T}",
            conditions="attention frozen uniform, Adam lr {lr}",
            paper_conditions=True,
            comparison="greater",
            criterion=0.0,
            criterion_reason="any positive gap",
            data="synthetic",
            same_runs=("C2.other",),
        ),
        ClaimSpec(
            "C2.seen", "observation", "collection", "notebook 03", "an observation", "T = 5", comparison="observe"
        ),
    )
    table = Table("03")
    claim = table.record(specs["C2.diagonal"], 0.3, values={"line": 12, "T": 10, "lr": 0.01})
    seen = table.record(specs["C2.seen"], 4.0)
    assert (claim.verdict, claim.source, claim.location, claim.conditions, claim.paper_conditions) == (
        "holds",
        "paper code",
        "src/inspect_result.py, line 12",
        "attention frozen uniform, Adam lr 0.01",
        True,
    )
    assert claim.statement.endswith("T = 10") and claim.same_runs == ["C2.other"]
    assert (seen.verdict, seen.kind, seen.conditions) == ("observed", "observation", "T = 5")
    again = dataclasses.replace(specs["C2.diagonal"], id="C2.again")
    assert table.record(again, -1.0, values={"line": 1, "T": 2, "lr": 3}).verdict == "fails"
    records = load_claims(table.write(tmp_path))
    assert records[0]["same_runs"] == ["C2.other"] and records[0]["source"] == "paper code"
    with pytest.raises(ValueError, match="declared twice"):
        claim_specs(specs["C2.seen"], specs["C2.seen"])


def test_the_claims_table_reads_as_a_table_in_a_notebook():
    """Statements left-aligned with their TeX for MathJax, each verdict coloured, empty cells instead of NaN,
    the provenance shown; the plain-text table spells the TeX out."""
    import re

    from theory_collection.claims_display import VERDICT_COLOURS

    table = Table("x")
    table.check(
        "C1.a",
        r"the optimal mass $x^*$ is interior",
        theory=0.5,
        measured=0.5,
        tolerance=1e-6,
        kind="derivation",
        source="collection",
        location="THEORY.md section 3",
        conditions="T = 5",
    )
    table.observe("C1.b", "a proxy", measured=None, source="other work", location="MiniLM")
    table.check(
        "C1.c",
        "attention leaves uniform",
        measured=0.2,
        comparison="greater",
        criterion=0.9,
        kind="paper",
        source="paper",
        location="abstract",
        interval=(0.1, 0.3),
        criterion_reason="the paper's threshold",
    )
    page = table._repr_html_()
    assert "NaN" not in page and "None" not in page and "nan" not in page
    assert "$x^*$" in page, "maths is left to MathJax"
    assert page.count("text-align: left") >= 8, "every cell is left-aligned (JupyterLab right-aligns tables)"
    for verdict, shown in (("holds", "holds"), ("observed", "observed"), ("fails", "FAILS")):
        assert re.search(rf"color: {VERDICT_COLOURS[verdict]};[^>]*>{shown}<", page), verdict
    assert "THEORY.md section 3" in page and "abstract" in page and "tested in: T = 5" in page
    assert "[0.1, 0.3]" in page and "the paper&#x27;s threshold" in page
    text = repr(table)
    assert "x* is interior" in text and "FAILS" in text and "0.2 vs > 0.9" in text
    assert table.frame().isna().sum().sum() == 0
