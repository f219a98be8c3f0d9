"""What the next-token claims modules share: the setting a claim was tested in, in words, where it departs from the
paper's own, and a builder of specs measured on synthetic data.

A claim's ``conditions`` say what was run (optimizer, learning rate, steps, start) on what data (generated with which
class, sizes and seeds, or a dataset file); a claim of the paper or its code is in the paper's conditions
(``paper_conditions``) only when :func:`departures` finds nothing that differs from the public code's configuration
(``next_token.public_code``), the paper's sources fixing nothing more.
"""

from __future__ import annotations

from pathlib import Path

from next_token import public_code
from next_token.data import Dataset
from next_token.graphs import token_priority_graphs
from theory_collection.claims import ClaimSpec

DOES_NOT_APPLY = "does not apply: "  # how a claim whose premise the data lack is marked (then inconclusive)


def dataset_text(P, datasets: list[Dataset]) -> str:
    """The data of a notebook in words: the dataset file (by name) or the generated datasets with their seeds.

    P: the resolved parameters (``dataset_file``, ``data_class``, ``embeddings``, ``repeats``, ``seed``).
    """
    ds = datasets[0]
    shape = f"n = {ds.n}, T = {ds.T}, K = {ds.K}, d = {ds.d}"
    if getattr(P, "dataset_file", None):
        return f"the dataset file {Path(P.dataset_file).name} ({shape}, {data_class_of(datasets)} TPGs)"
    count = len(datasets)
    seeds = f"seed {P.seed}" if count == 1 else f"seeds {P.seed}-{P.seed + count - 1}"
    embeddings = "unit Gaussian" if P.embeddings == "gaussian" else "orthonormal"
    tokens = "tokens may repeat" if P.repeats else "distinct tokens"
    return f"{count} generated {P.data_class} dataset(s), {shape}, {embeddings} embeddings, {tokens}, {seeds}"


def data_class_of(datasets: list[Dataset]) -> str:
    """``"acyclic"`` when every TPG of every dataset is acyclic, ``"cyclic"`` when every dataset has a cyclic TPG,
    else ``"mixed"``."""
    cyclic = [token_priority_graphs(ds).is_cyclic for ds in datasets]
    return "cyclic" if all(cyclic) else "acyclic" if not any(cyclic) else "mixed"


def run_text(optimizer: str, learning_rate: float, steps: int, start: str) -> str:
    """A training run in words: ``normalized gd at lr 0.01, 4000 steps from W = 0, float64``."""
    return f"{optimizer.replace('_', ' ')} at lr {learning_rate:g}, {steps} steps from {start}, float64"


def departures(
    setting: public_code.Setting,
    P,
    datasets: list[Dataset],
    *,
    optimizer: str,
    learning_rate: float,
    steps: int,
    init: str,
    acyclic_assumption: bool = False,
) -> list[str]:
    """How a run departs from the public code's ``setting`` (empty: in the paper's conditions).

    With ``acyclic_assumption`` the claim is one the code ties to its acyclic assumption (N4, N5): cyclic data are
    beyond it (``public_code.BEYOND_ACYCLIC``); otherwise the data class must be the setting's.
    """
    ds = datasets[0]
    run = dict(
        num_samples=ds.n,
        seq_len=ds.T,
        vocab_size=ds.K,
        embed_dim=ds.d,
        optimizer=optimizer,
        learning_rate=float(learning_rate),
        steps=int(steps),
        init=init,
        num_datasets=len(datasets),
        dataset_file=getattr(P, "dataset_file", None),
    )
    if not run["dataset_file"]:
        run.update(embeddings=P.embeddings, repeats=P.repeats)
    found = public_code.differences(setting, **run)
    data_class = data_class_of(datasets)
    if acyclic_assumption and data_class != "acyclic":
        found.append(public_code.BEYOND_ACYCLIC)
    elif not acyclic_assumption and data_class != setting.data_class:
        found.append(f"{data_class} data (the code: {setting.data_class})")
    return found


def with_departures(conditions: str, found: list[str]) -> str:
    """``conditions`` followed by whether they are the paper's: the departures found, or the code's configuration."""
    if not found:
        return f"{conditions}; the public code's configuration"
    return f"{conditions}; outside the paper's conditions: {'; '.join(found)}"


def unmet_of(evidence) -> str:
    """An Evidence's unmet precondition (``next_token.evidence``), marked as a premise the data lack when the
    evidence has no criterion (the claim is vacuous on these datasets: W^svm = 0, S_fin = {0})."""
    return DOES_NOT_APPLY + evidence.unmet if evidence.criterion is None else evidence.unmet


def spec(
    claim_id: str,
    kind: str,
    source: str,
    location: str,
    statement: str,
    section: str,
    figure: str,
    conditions: str,
    comparison: str,
    **rest,
) -> ClaimSpec:
    """A claim spec, its fields in the order a claims table reads them (the rest by name; ``data`` is "synthetic"
    unless given)."""
    rest.setdefault("data", "synthetic")
    return ClaimSpec(
        id=claim_id,
        kind=kind,
        source=source,
        location=location,
        statement=statement,
        section=section,
        figure=figure,
        conditions=conditions,
        comparison=comparison,
        **rest,
    )


def figure_names(notebook: str, *names: str) -> tuple[str, ...]:
    """The names ``save_figure`` gives a notebook's figures: ``<notebook>_<name>``."""
    return tuple(f"{notebook}_{name}" for name in names)
