"""Evidence for claims N4-N7, N9 and N11 from batched runs: measured value, criterion and regime, per claim.

Each function returns an :class:`Evidence` whose fields go straight into ``ClaimsTable.check``: the measured value,
the criterion with the reason it comes from (a predicted rate at the reached norm, or an optimizer floor), and
``unmet`` when the run has not reached the regime where the prediction applies (then the verdict is inconclusive,
with the gap). Datasets where a claim is vacuous (W^svm = 0 for N4, S_fin = {0} for N5/N11) are left out and
counted in ``detail``. The verdict itself is computed by the claims table, never here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from next_token.loss import scores
from next_token.measurements import Metrics, half_norm_index, measure, predicted_one_minus_cos
from next_token.stacked import ExactSolutions, StackedDatasets

FIN_FRACTION = 0.1  # N5 asks that the run closes at least 90% of its peak distance to W^fin (beyond any floor)
DETECTION = 0.01  # N6/N7: 1% of attention mass / total variation / initial loss gap


@dataclass
class Evidence:
    """measured, criterion (None for a 'true' comparison), theory, unmet ('' when in regime), per-dataset detail."""

    measured: float | bool
    criterion: float | None
    theory: float | None
    unmet: str = ""
    detail: dict = field(default_factory=dict)


def _at(values: np.ndarray, index: np.ndarray) -> np.ndarray:
    """values (m, B) taken at a per-dataset checkpoint index (B,)."""
    return values[index, np.arange(values.shape[1])]


def direction(metrics: Metrics, exact: ExactSolutions, stack: StackedDatasets | None = None) -> Evidence:
    """N4: cos(W, W^svm) at the end against the rate predicted from a bounded residual.

    Prediction: 1 - cos ~ (||W^fin||^2 + ||rho||^2) / (2 ||W||^2) with rho bounded. The residual is taken where the
    run had at most half its final norm (norm growth g >= 2 to the end). Writing ||rho||^2 ~ ||W||^alpha between the
    two points: the theory's asymptotic regime has alpha -> 0, a wrong direction has alpha = 2 (1 - cos does not
    fall). The criterion allows alpha <= 1 (slack g on the predicted rate); alpha >= 2 fails (slack g^2 missed);
    in between the run is pre-asymptotic and the verdict inconclusive, with the exponent. Reported for the worst
    dataset by the ratio (1 - cos) / (g * predicted). metrics: fields (m, B) along a trajectory.

    The rate describes the asymptotic regime, where the superposition c W_hat + W^fin retrieves C_i. With the stacked
    datasets ``stack`` given, a run whose superposition at its reached c = <W, W_hat> still leaves more than
    DETECTION of some sample's attention outside C_i has not reached that regime: inconclusive, with the gap (a short
    run from 0 has its residual growing with ||W|| as a wrong direction would).
    """
    keep = exact.svm_norm > 0
    if not keep.any():
        return Evidence(float("nan"), None, 1.0, "W^svm = 0 on every dataset (fully cyclic): no direction to find")
    half = half_norm_index(metrics.norm)
    fin_norm = np.linalg.norm(exact.W_fin.reshape(exact.W_fin.shape[0], -1), axis=1)
    predicted = predicted_one_minus_cos(fin_norm, _at(metrics.residual, half), metrics.norm[-1])
    growth = metrics.norm[-1] / np.maximum(_at(metrics.norm, half), 1e-300)
    ratio = (1.0 - metrics.cos_svm[-1]) / (predicted * growth)
    ratio = np.where(keep, ratio, -np.inf)
    worst = int(np.argmax(ratio))
    alpha = 1.0 + np.log(np.maximum(ratio[worst], 1e-300)) / np.log(growth[worst])
    unmet = ""
    if np.any(growth[keep] < 2.0):
        unmet = (
            f"the norm did not double after the reference point on {int(np.sum(growth[keep] < 2))} dataset(s) "
            f"(smallest growth {growth[keep].min():.2f}x): too short a run to tell a bounded residual"
        )
    elif 1.0 < ratio[worst] < growth[worst]:
        unmet = (
            f"pre-asymptotic: ||rho||^2 grew like ||W||^{alpha:.2f} on dataset {worst} (bounded residual: exponent "
            f"-> 0; wrong direction: 2); a longer run or the path decides"
        )
    elif stack is not None:
        unmet = _regime(stack, exact, metrics, keep)
    return Evidence(
        measured=float(metrics.cos_svm[-1, worst]),
        criterion=float(1.0 - growth[worst] * predicted[worst]),
        theory=1.0,
        unmet=unmet,
        detail=dict(
            worst=worst,
            ratio=ratio,
            predicted=predicted,
            growth=growth,
            alpha=alpha,
            cos=metrics.cos_svm[-1],
            norm=metrics.norm[-1],
            used=int(keep.sum()),
        ),
    )


def _regime(stack: StackedDatasets, exact: ExactSolutions, metrics: Metrics, keep: np.ndarray) -> str:
    """Why the run has not reached the asymptotic regime, or '': the superposition c W_hat + W^fin at the reached
    c = <W, W_hat> must put all but DETECTION of every sample's attention on C_i (datasets ``keep`` only)."""
    c = metrics.svm_coef[-1]
    outside = 1.0 - measure(stack, exact, c[:, None, None] * exact.direction + exact.W_fin).min_mass
    if not np.any(outside[keep] > DETECTION):
        return ""
    return (
        f"not yet in the regime: at the reached norm the superposition c W_hat + W^fin itself leaves "
        f"{outside[keep].max():.3g} of the attention outside C_i (> {DETECTION})"
    )


def fin_component(
    metrics: Metrics,
    exact: ExactSolutions,
    optimizer: str,
    learning_rate: float,
    stack: StackedDatasets | None = None,
) -> Evidence:
    """N5: ||Pi_Sfin W - W^fin|| at the end below max(floor, 10% of its peak along the run).

    floor: normalized GD with a fixed step bounces around W^fin at distance up to eta (N11); plain GD has none.
    Fails when the distance is above the criterion and stalled (less than 10% decrease over the second half);
    inconclusive when it is above but still decreasing. With the stacked datasets ``stack`` given, a run whose
    superposition at the reached norm still leaves more than DETECTION of the attention outside C_i has not reached
    the regime where the S_fin part of the gradient leads (inconclusive, as for N4).
    """
    keep = np.any(exact.fin_basis != 0, axis=(1, 2))
    if not keep.any():
        return Evidence(float("nan"), None, 0.0, "S_fin = {0} on every dataset (acyclic): no finite component")
    floor = learning_rate if optimizer == "normalized_gd" else 0.0
    dist = metrics.fin_dist[:, keep]
    criterion_each = np.maximum(floor, FIN_FRACTION * dist.max(axis=0))
    excess = dist[-1] / criterion_each
    worst = int(np.argmax(excess))
    mid = dist.shape[0] // 2
    unmet = ""
    if excess[worst] >= 1 and dist[-1, worst] < 0.9 * dist[mid, worst]:
        unmet = (
            f"still decreasing: {dist[-1, worst]:.3g} at the end, {dist[mid, worst]:.3g} at the middle "
            f"checkpoint, criterion {criterion_each[worst]:.3g}"
        )
    elif excess[worst] >= 1 and stack is not None:
        unmet = _regime(stack, exact, metrics, np.ones(keep.size, dtype=bool))
    return Evidence(
        float(dist[-1, worst]),
        float(criterion_each[worst]),
        0.0,
        unmet,
        dict(final=dist[-1], criterion=criterion_each, floor=floor, used=int(keep.sum())),
    )


def superposition(metrics: Metrics, exact: ExactSolutions) -> Evidence:
    """N9: the relative residual ||rho|| / ||W|| shrinks as ||W|| grows (measured: end over half-norm point, < 1)."""
    half = half_norm_index(metrics.norm)
    relative = metrics.residual / np.maximum(metrics.norm, 1e-300)
    shrink = relative[-1] / np.maximum(_at(relative, half), 1e-300)
    worst = int(np.argmax(shrink))
    growth = metrics.norm[-1] / np.maximum(_at(metrics.norm, half), 1e-300)
    unmet = "" if np.all(growth >= 2.0) else f"the norm did not double after the reference point (x{growth.min():.2f})"
    return Evidence(
        float(shrink[worst]),
        1.0,
        None,
        unmet,
        dict(shrink=shrink, residual=metrics.residual[-1], relative=relative[-1]),
    )


def ray_gap_bound(stack: StackedDatasets, exact: ExactSolutions, radius: np.ndarray) -> np.ndarray:
    """(r, B) derived bound on L(R W_hat + W^fin) - L*.

    On the ray the W_hat scores are equal on C_i and at least 1/||W^svm|| lower elsewhere in the sequence (margins
    >= 1 along the priority paths, N1), so with f the W^fin scores the loss gap is mean_i log(1 + ratio_i) with
    ratio_i <= sum_{t not in C_i} exp(-R/||W^svm|| + f_it - LSE_{t in C_i} f_it).
    """
    B, n, T, K, d = stack.shape
    f = (stack.features @ exact.W_fin.reshape(B, d * d, 1)).reshape(B, n, T)
    fC = np.where(exact.retrieved, f, -np.inf)
    top = fC.max(-1, keepdims=True)
    lse_C = top[..., 0] + np.log(np.exp(fC - top).sum(-1))
    outside = np.where(exact.retrieved, 0.0, np.exp(f - lse_C[..., None])).sum(-1)  # (B, n)
    radius = np.asarray(radius, dtype=np.float64)
    scale = np.where(exact.svm_norm > 0, 1.0 / np.where(exact.svm_norm > 0, exact.svm_norm, 1.0), 0.0)
    decay = np.exp(-radius[:, None] * scale[None, :])  # (r, B)
    return np.log1p(decay[:, :, None] * outside[None]).mean(-1)


def retrieval(stack: StackedDatasets, exact: ExactSolutions, metrics: Metrics) -> dict[str, Evidence]:
    """N6 (min mass on C_i, support = C_i) and N7 (TV to the W^fin composition, loss gap) at the end of a run.

    The regime: the superposition c W_hat + W^fin at the reached c = <W, W_hat> is what the theory predicts for
    the trained W; where that prediction itself has not yet crossed a claim's threshold, the claim is inconclusive.
    """
    c = metrics.svm_coef[-1]
    predicted = measure(stack, exact, c[:, None, None] * exact.direction + exact.W_fin)
    initial_gap = metrics.loss_gap[0]
    out = {}
    mass = metrics.min_mass[-1]
    unmet = ""
    if np.any(1 - predicted.min_mass > DETECTION):
        unmet = (
            f"at the reached norm the superposition itself leaves {np.max(1 - predicted.min_mass):.3g} "
            f"of the attention outside C_i (> {DETECTION})"
        )
    out["min_mass"] = Evidence(
        float(mass.min()), 1.0 - DETECTION, 1.0, unmet, dict(final=mass, predicted=predicted.min_mass)
    )
    unmet = (
        ""
        if np.all(predicted.support == 1.0)
        else (
            f"at the reached norm the superposition's own support differs from C_i on "
            f"{np.mean(predicted.support < 1):.0%} of datasets"
        )
    )
    out["support"] = Evidence(
        bool(np.all(metrics.support[-1] == 1.0)),
        None,
        1.0,
        unmet,
        dict(final=metrics.support[-1], predicted=predicted.support),
    )
    fin_far = metrics.fin_dist[-1] > DETECTION
    unmet = ""
    if np.any(predicted.tv > DETECTION) or np.any(fin_far):
        unmet = (
            f"not in regime: superposition TV {np.max(predicted.tv):.3g}, largest fin_dist "
            f"{np.max(metrics.fin_dist[-1]):.3g} (threshold {DETECTION})"
        )
    out["tv"] = Evidence(
        float(metrics.tv[-1].max()), DETECTION, 0.0, unmet, dict(final=metrics.tv[-1], predicted=predicted.tv)
    )
    criterion = DETECTION * initial_gap
    worst = int(np.argmax(metrics.loss_gap[-1] / criterion))
    unmet = ""
    if predicted.loss_gap[worst] > criterion[worst]:
        unmet = f"at the reached norm the superposition's own gap is {predicted.loss_gap[worst]:.3g}"
    out["loss_gap"] = Evidence(
        float(metrics.loss_gap[-1, worst]),
        float(criterion[worst]),
        0.0,
        unmet,
        dict(final=metrics.loss_gap[-1], predicted=predicted.loss_gap, initial=initial_gap),
    )
    return out


def plateau(fin_dist_by_rate: dict[float, np.ndarray], fin_used: np.ndarray) -> Evidence:
    """N11: normalized GD's fin_dist settles near eta / 2; measured: median over datasets and step sizes of
    (median of fin_dist over the last quarter) / eta.

    fin_dist_by_rate: eta -> (m, B) fin_dist along a normalized-GD run. fin_used: (B,) datasets with S_fin != {0}.
    A run is settled when its last-quarter median is within [0.8, 1.25] of its third quarter's; only settled runs
    count, and the claim is inconclusive when more than a quarter of the runs have not settled.
    """
    if not np.any(fin_used):
        return Evidence(float("nan"), None, 0.5, "S_fin = {0} on every dataset: no finite component to settle")
    ratios, settled = [], []
    for eta, dist in fin_dist_by_rate.items():
        dist = dist[:, fin_used]
        m = dist.shape[0]
        last = np.median(dist[3 * m // 4 :], axis=0)
        third = np.median(dist[m // 2 : 3 * m // 4], axis=0)
        ratios.append(last / eta)
        drift = last / np.maximum(third, 1e-300)
        settled.append((drift >= 0.8) & (drift <= 1.25))
    ratios, settled = np.stack(ratios), np.stack(settled)
    unmet = ""
    if settled.mean() < 0.75:
        unmet = f"only {settled.sum()} of {settled.size} (step size, dataset) runs have settled"
    measured = float(np.median(ratios[settled])) if settled.any() else float("nan")
    return Evidence(measured, None, 0.5, unmet, dict(ratios=ratios, settled=settled))


def shared_context_frequencies(
    ds, W_fin: np.ndarray, retrieved: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """N7 with shared contexts: for every token sequence that occurs in at least two samples, the W^fin composition's
    next-token probabilities and the empirical label frequencies over the vocabulary.

    The two are equal exactly when the context is *decoupled*: no other sample with the same query contributes to
    L_fin (has a retrieved set with a token besides its label). Then the context's terms of L_fin are a cross-entropy
    between its label frequencies and a softmax of scores that S_fin leaves free, minimised at equality. Otherwise
    the shared W^fin scores also serve the other samples, and the composition is a compromise.
    Returns (predicted, empirical, decoupled): (groups, K), (groups, K), (groups,) bool.
    """
    a = np.where(retrieved, scores(ds, W_fin), -np.inf)
    comp = np.exp(a - a.max(1, keepdims=True))
    comp /= comp.sum(1, keepdims=True)
    contributes = (retrieved & ~ds.label_mask).any(1)
    groups: dict[tuple, list[int]] = {}
    for i, row in enumerate(ds.tok.tolist()):
        groups.setdefault(tuple(row), []).append(i)
    predicted, empirical, decoupled = [], [], []
    for rows in groups.values():
        if len(rows) < 2:
            continue
        i = rows[0]
        p = np.zeros(ds.K)
        np.add.at(p, ds.tok[i], comp[i])
        predicted.append(p)
        empirical.append(np.bincount(ds.y[rows], minlength=ds.K) / len(rows))
        others = (ds.query == ds.query[i]) & contributes
        others[rows] = False
        decoupled.append(not others.any())
    shape = (len(predicted), ds.K)
    return np.array(predicted).reshape(shape), np.array(empirical).reshape(shape), np.array(decoupled, dtype=bool)
