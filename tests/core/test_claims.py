import json

import pytest

from theory_collection.claims import ClaimsTable, judge, load_claims


@pytest.mark.parametrize(
    "theory, measured, tolerance, comparison, verdict",
    [
        (1.0, 1.00005, 1e-4, "relative", True),
        (1.0, 1.0002, 1e-4, "relative", False),
        (-2.0, -2.0001, 1e-4, "relative", True),
        (0.0, 0.05, 0.1, "absolute", True),
        (0.0, 0.2, 0.1, "absolute", False),
        (1.0, 1.5, 0.2, "greater", True),
        (1.0, 1.1, 0.2, "greater", False),
        (1.0, 0.5, 0.2, "less", True),
        (None, True, "", "true", True),
        (None, False, "", "true", False),
        (1.0, float("nan"), 1.0, "absolute", False),
    ],
)
def test_judge(theory, measured, tolerance, comparison, verdict):
    assert judge(theory, measured, tolerance, comparison) is verdict


def test_table_writes_json_and_raises_on_failures(tmp_path):
    table = ClaimsTable("99_test")
    table.check("C9.a", "holds", 2.0, 2.0001, 1e-4)
    table.check("C9.b", "fails", 2.0, 3.0, 1e-4, reason="because")
    path = table.write(tmp_path)
    records = json.loads(path.read_text())
    assert [r["id"] for r in records] == ["C9.a", "C9.b"] and [r["holds"] for r in records] == [True, False]
    assert records[0]["notebook"] == "99_test" and records[1]["reason"] == "because"
    assert load_claims(path) == records
    assert "FAILS" in table._repr_html_() and "holds" in repr(table)
    with pytest.raises(AssertionError, match="C9.b"):
        table.raise_if_any_fails()


def test_duplicate_ids_and_bad_comparison_are_rejected():
    table = ClaimsTable("x")
    table.check("C1", "s", 1.0, 1.0)
    with pytest.raises(ValueError, match="twice"):
        table.check("C1", "s", 1.0, 1.0)
    with pytest.raises(ValueError, match="comparison"):
        table.check("C2", "s", 1.0, 1.0, comparison="approx")


def test_load_claims_rejects_malformed_files(tmp_path):
    bad = tmp_path / "claims.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="cannot read"):
        load_claims(bad)
    bad.write_text(json.dumps([{"id": "x"}]))
    with pytest.raises(ValueError, match="JSON list"):
        load_claims(bad)


def test_numpy_values_become_plain_numbers(tmp_path):
    import numpy as np

    table = ClaimsTable("x")
    table.check("C1", "s", np.float64(1.0), np.float32(1.0))
    assert json.loads(table.write(tmp_path).read_text())[0]["measured"] == 1.0
