"""Hidden cases of topic_structure/07_wikipedia (the instructor's course file; never handed out)."""

import numpy as np

from theory_collection.course.checks import Call, array, close


def resampled_reference(matrix, topics, counts):
    """The resample written out: every copy of every word, pairs of distinct words only."""
    copies = [w for w, c in enumerate(counts) for _ in range(int(c))]
    sums = {True: [0.0, 0], False: [0.0, 0]}
    for i in copies:
        for j in copies:
            if i != j:
                same = bool(topics[i] == topics[j])
                sums[same][0] += matrix[i, j]
                sums[same][1] += 1
    return [sums[True][0] / sums[True][1], sums[False][0] / sums[False][1]]


def means_reference(matrix, topics):
    """Exercise 7.1 is the resample with every count 1."""
    return resampled_reference(matrix, topics, [1] * len(topics))


def matrix_case(seed, W, K, with_counts):
    """A symmetric random matrix, shuffled labels (every topic at least twice) and, if asked, counts."""
    rng = np.random.default_rng(seed)
    matrix = rng.standard_normal((W, W))
    matrix = matrix + matrix.T
    labels = rng.permutation(np.arange(W) % K)  # every topic has at least two words
    case = (array(matrix), array(labels, "int64"))
    if with_counts:
        counts = rng.integers(0, 4, W)
        counts[: 2 * K] = np.maximum(counts[: 2 * K], 1)
        return case + (array(counts, "int64"),)
    return case


CHECKS = [
    Call(
        "my_same_and_different_topic_means",
        cases=[matrix_case(1, 9, 3, False), matrix_case(2, 14, 4, False), matrix_case(3, 6, 2, False)],
        reference=means_reference,
        compare=close(rel=1e-10, abs=1e-12),
        time_limit=30,
    ),
    Call(
        "resampled_topic_means",
        cases=[matrix_case(4, 10, 3, True), matrix_case(5, 12, 2, True), matrix_case(6, 8, 4, True)],
        reference=resampled_reference,
        compare=close(rel=1e-10, abs=1e-12),
        time_limit=30,
    ),
]
