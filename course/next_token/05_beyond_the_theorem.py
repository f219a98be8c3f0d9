"""Hidden cases of next_token/05_beyond_the_theorem (the instructor's course file; never handed out)."""

import numpy as np

from theory_collection.course.checks import Call, array, close, numbers


def factors_reference(W):
    """What the factors must reproduce: W and its nuclear norm (the sum of its singular values)."""
    return {"W": W, "nuclear": float(np.linalg.svd(W, compute_uv=False).sum())}


def factors_agree(expected, got):
    """K Q^T = W and the balanced cost equals the nuclear norm, both to 1e-9 relative."""
    try:
        K, Q = (np.asarray(numbers(x), dtype=float) for x in got)
    except (TypeError, ValueError):
        return "the answer is not a pair of matrices"
    W = np.asarray(numbers(expected["W"]), dtype=float)
    if K.shape[0] != W.shape[0] or Q.shape[0] != W.shape[1] or K.shape[1] != Q.shape[1]:
        return "the factors' shapes do not multiply to W's"
    scale = max(np.linalg.norm(W), 1.0)
    if np.linalg.norm(K @ Q.T - W) > 1e-9 * scale:
        return "K Q^T differs from W"
    cost = (np.sum(K**2) + np.sum(Q**2)) / 2
    if abs(cost - expected["nuclear"]) > 1e-9 * max(expected["nuclear"], 1.0):
        return "(||K||^2 + ||Q||^2) / 2 differs from the nuclear norm"
    return None


def bound_reference(multipliers, rows):
    """The operator norm from the largest eigenvalue of G^T G."""
    G = sum(lam * row for lam, row in zip(multipliers, rows))
    return float(np.sum(multipliers) / np.sqrt(np.linalg.eigvalsh(G.T @ G).max()))


def matrix_case(seed, d, rank):
    """A random d x d matrix of the given rank."""
    rng = np.random.default_rng(seed)
    return (array(rng.standard_normal((d, rank)) @ rng.standard_normal((rank, d))),)


def bound_case(seed, m, d):
    """Random non-negative multipliers and rank-one constraint rows (x_u - x_v) x_k^T."""
    rng = np.random.default_rng(seed)
    E = rng.standard_normal((6, d))
    rows = [np.outer(E[u] - E[v], E[k]) for u, v, k in rng.integers(0, 6, (m, 3))]
    return (array(rng.random(m)), array(np.array(rows)))


CHECKS = [
    Call(
        "balanced_factors",
        cases=[matrix_case(1, 5, 5), matrix_case(2, 6, 2), matrix_case(3, 4, 1), matrix_case(4, 8, 8)],
        labels=["full rank", "rank 2", "rank 1", "a larger matrix"],
        reference=factors_reference,
        compare=factors_agree,
        time_limit=20,
    ),
    Call(
        "nuclear_lower_bound",
        cases=[bound_case(5, 4, 5), bound_case(6, 10, 8), bound_case(7, 1, 3)],
        reference=bound_reference,
        compare=close(rel=1e-9),
        time_limit=20,
    ),
]
