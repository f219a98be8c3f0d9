"""Hidden cases of next_token/03_gradient_descent (the instructor's course file; never handed out)."""

import numpy as np

from theory_collection.course.checks import Call, array, close


def loss_reference(E, tokens, labels, W):
    """Sample by sample; the gradient by central differences of the loss, entry by entry."""

    def loss(M):
        total = 0.0
        for sequence, label in zip(tokens, labels):
            a = np.array([E[t] @ M @ E[sequence[-1]] for t in sequence])
            top = a.max()
            everything = top + np.log(np.exp(a - top).sum())
            on_label = a[sequence == label]
            total += everything - (on_label.max() + np.log(np.exp(on_label - on_label.max()).sum()))
        return total / len(labels)

    h = 1e-6
    gradient = np.zeros_like(W)
    for index in np.ndindex(*W.shape):
        step = np.zeros_like(W)
        step[index] = h
        gradient[index] = (loss(W + step) - loss(W - step)) / (2 * h)
    return [loss(W), gradient]


def analytic_loss_and_gradient(E, tokens, labels, W):
    """The gradient sum_it (s_it - q_it) x_tok x_query^T / n, written sample by sample (for the training reference)."""
    total, gradient = 0.0, np.zeros_like(W)
    for sequence, label in zip(tokens, labels):
        x_query = E[sequence[-1]]
        a = np.array([E[t] @ W @ x_query for t in sequence])
        s = np.exp(a - a.max())
        s /= s.sum()
        q = np.where(sequence == label, np.exp(a - a.max()), 0.0)
        q /= q.sum()
        total += np.log(np.exp(a - a.max()).sum()) - np.log(np.exp(a - a.max())[sequence == label].sum())
        for t, token in enumerate(sequence):
            gradient += (s[t] - q[t]) * np.outer(E[token], x_query)
    return total / len(labels), gradient / len(labels)


def training_reference(E, tokens, labels, learning_rate, steps):
    """Normalized GD with the sample-by-sample gradient."""
    W = np.zeros((E.shape[1], E.shape[1]))
    for _ in range(steps):
        gradient = analytic_loss_and_gradient(E, tokens, labels, W)[1]
        W = W - learning_rate * gradient / np.linalg.norm(gradient)
    return [analytic_loss_and_gradient(E, tokens, labels, W)[0], np.linalg.norm(W)]


def dataset(seed, n, T, K, d):
    """Gaussian embeddings, random sequences, labels drawn from their own sequences."""
    rng = np.random.default_rng(seed)
    E = rng.standard_normal((K, d)) / np.sqrt(d)
    tokens = rng.integers(0, K, (n, T))
    labels = tokens[np.arange(n), rng.integers(0, T, n)]
    return rng, E, tokens, labels


def loss_case(seed, n, T, K, d, scale):
    """A dataset and a random W."""
    rng, E, tokens, labels = dataset(seed, n, T, K, d)
    return (array(E), array(tokens, "int64"), array(labels, "int64"), array(scale * rng.standard_normal((d, d))))


def training_case(seed, n, T, K, d, learning_rate, steps):
    """A dataset and a training length."""
    _, E, tokens, labels = dataset(seed, n, T, K, d)
    return (array(E), array(tokens, "int64"), array(labels, "int64"), learning_rate, steps)


CHECKS = [
    Call(
        "loss_and_gradient",
        cases=[loss_case(1, 6, 4, 6, 8, 1.0), loss_case(2, 10, 5, 7, 5, 3.0), loss_case(3, 4, 3, 5, 6, 0.0)],
        reference=loss_reference,
        compare=close(rel=1e-6, abs=1e-8),
        time_limit=30,
    ),
    Call(
        "normalized_gd",
        cases=[
            training_case(4, 6, 4, 6, 8, 0.1, 50),
            training_case(5, 8, 5, 7, 6, 0.05, 200),
            training_case(6, 5, 3, 5, 5, 1.0, 20),
        ],
        reference=training_reference,
        compare=close(rel=1e-8, abs=1e-12),
        uses=("loss_and_gradient",),
        time_limit=60,
    ),
]
