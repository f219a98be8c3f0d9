"""Every valid next-token dataset runs: each notebook 01-05 on each data class, on a dataset with only cyclic structure
(W^svm = 0), one with only acyclic structure (S_fin = {0}), a single sample and repeated tokens. Each run ends with a
claims table whose verdicts are honest for that structure: a claim whose premise the data lack is inconclusive and
says "does not apply", never a crash and never a vacuous "holds".

The runs are small (two datasets, a few hundred steps) and go through the runner two notebooks side by side, as a
report does; on an idle 2-core machine all of them take a few minutes.
"""

import json
import subprocess
import sys

import numpy as np
import pytest

from next_token.claims import provenance
from next_token.data import Dataset, generate_dataset, save_dataset
from next_token.toys import toy_cyclic
from theory_collection.claims import OWN_KINDS, load_claims, provenance_problems

NOTEBOOKS = ("01", "02", "03", "04", "05")
SMALL = {  # cheap runs: the claims are judged as at any size, most are inconclusive where the runs are short
    "num_datasets": 2,
    "steps": 300,
    "gd_steps": 300,
    "ce_steps": 200,
    "plateau_rates": [0.05],
    "smallest_mu": 1e-4,
    "new_contexts": 20,
    "sample_draws": 50,
    "path_datasets": 1,
    "nuclear_smallest_mu": 1e-3,
}
DOES_NOT_APPLY = "does not apply"


def _files(folder):
    """The dataset files: (name, path)."""
    rng = np.random.default_rng(0)
    E = rng.standard_normal((4, 4))
    single = Dataset(E / np.linalg.norm(E, axis=1, keepdims=True), [[0, 1, 2, 3]], [1])
    datasets = {
        "only_cyclic": toy_cyclic(),  # every TPG one SCC: W^svm = 0
        "only_acyclic": generate_dataset(6, 4, 6, 8, "acyclic", seed=0),  # every SCC one token: S_fin = {0}
        "single_sample": single,
        "repeated_tokens": generate_dataset(8, 7, 5, 6, "cyclic", "orthonormal", True, seed=0),  # T > K
    }
    return {name: save_dataset(ds, folder / f"{name}.json") for name, ds in datasets.items()}


CASES = ("class_cyclic", "class_acyclic", "only_cyclic", "only_acyclic", "single_sample", "repeated_tokens")


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    """Run notebooks 01-05 on every case once; returns {case: {notebook stem: claims records}}, or the error."""
    folder = tmp_path_factory.mktemp("every_dataset")
    files = _files(folder)
    found = {}
    for case in CASES:
        data = {"data_class": case[6:]} if case.startswith("class_") else {"dataset_file": str(files[case])}
        overrides = [arg for name, value in {**SMALL, **data}.items() for arg in ("-p", name, json.dumps(value))]
        selection = [arg for notebook in NOTEBOOKS for arg in ("--notebook", f"next_token/{notebook}")]
        out = folder / case
        command = [sys.executable, "-m", "theory_collection.cli", "report", *selection, *overrides]
        done = subprocess.run(
            [*command, "--no-figures", "--jobs", "2", "--out", str(out)], capture_output=True, text=True, timeout=900
        )
        runs = json.loads((out / "runs.json").read_text()) if (out / "runs.json").is_file() else {}
        runs = runs if isinstance(runs, dict) else {"runs": runs}
        records = {}
        for notebook in sorted((out / "next_token").glob("[0-9][0-9]_*")):
            claims = notebook / "claims.json"
            records[notebook.name] = load_claims(claims) if claims.is_file() else None
        problems = [f"{run.get('notebook')}: {run.get('error')}" for run in runs.get("runs", []) if run.get("error")]
        problems += [
            f"{stem}: {record['id']} ({record['kind']}) fails: {record['reason']}"
            for stem, claims in records.items()
            for record in claims or []
            if record["verdict"] == "fails" and record["kind"] in OWN_KINDS
        ]
        found[case] = dict(status=done.returncode, problems=problems or [done.stderr[-2000:]], records=records)
    return found


def _by_id(records: list[dict]) -> dict[str, dict]:
    return {record["id"]: record for record in records}


@pytest.mark.parametrize("case", CASES)
def test_every_notebook_runs_to_its_claims_table(reports, case):
    report = reports[case]
    assert report["status"] == 0, "\n".join(report["problems"])
    assert sorted(report["records"]) == sorted(provenance.MODULES)[:5]
    for notebook, records in report["records"].items():
        assert records, f"{case}: {notebook} wrote no claims"
        declared = set(provenance.MODULES[notebook].SPECS)
        assert {r["id"] for r in records} <= declared
        for record in records:
            assert not provenance_problems(record), (case, record["id"])
            if DOES_NOT_APPLY in record.get("reason", ""):
                assert record["verdict"] == "inconclusive", (case, record["id"])  # never a vacuous "holds"


def _verdicts(reports, case, notebook):
    return _by_id(reports[case]["records"][notebook])


@pytest.mark.parametrize("case", ["class_acyclic", "only_acyclic", "single_sample"])
def test_acyclic_data_leave_the_finite_component_untested(reports, case):
    """No cyclic SCC: S_fin = {0}, W^fin = 0; the claims about the finite component and composition say so."""
    svm, gd = _verdicts(reports, case, "02_graph_svm"), _verdicts(reports, case, "03_gradient_descent")
    retrieval = _verdicts(reports, case, "04_retrieval_and_composition")
    for record in (
        svm["N3.svm_equality"],
        svm["N5.fin_norm"],
        gd["N5.fin_dist"],
        gd["N11.plateau"],
        retrieval["N7.tv"],
    ):
        assert record["verdict"] == "inconclusive" and DOES_NOT_APPLY in record["reason"], record["id"]
    assert svm["N3.svm_margin"]["verdict"] == "holds"  # the Graph-SVM itself is tested


def test_cyclic_only_data_leave_the_direction_untested(reports):
    """Every TPG one SCC: W^svm = 0; the claims about the direction, the margins and retrieval say so."""
    svm = _verdicts(reports, "only_cyclic", "02_graph_svm")
    gd = _verdicts(reports, "only_cyclic", "03_gradient_descent")
    retrieval = _verdicts(reports, "only_cyclic", "04_retrieval_and_composition")
    beyond = _verdicts(reports, "only_cyclic", "05_beyond_the_theorem")
    untested = [svm["N3.svm_margin"], svm["N3.svm_kkt"], gd["N4.cos_svm"], gd["N4.cos_path"], gd["N9.superposition"]]
    untested += [retrieval["N6.min_mass"], retrieval["N8.score_gap"], beyond["N10.kq_nuclear"]]
    for record in untested:
        assert record["verdict"] == "inconclusive" and DOES_NOT_APPLY in record["reason"], record["id"]
    assert svm["N3.svm_zero_iff_no_cross_edge"]["verdict"] == "holds" and svm["N5.fin_norm"]["verdict"] == "holds"


def test_the_authors_setting_runs_whatever_the_notebooks_data(reports):
    """Notebook 03's section 7 runs the public code's configuration itself: on acyclic data inside the conditions the
    code names (a contradiction would count), on cyclic data beyond them."""
    for case in CASES:
        gd = _verdicts(reports, case, "03_gradient_descent")
        assert gd["N4.authors_acyclic"]["paper_conditions"] and not gd["N4.authors_cyclic"]["paper_conditions"]
        assert gd["N5.authors_acyclic"]["verdict"] == "observed" and gd["N5.authors_acyclic"]["measured"] == 0


def test_a_dataset_file_is_named_in_the_conditions(reports):
    for case in ("only_cyclic", "repeated_tokens"):
        for records in reports[case]["records"].values():
            assert any(f"{case}.json" in record["conditions"] for record in records)
