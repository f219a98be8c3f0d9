"""Hidden cases of topic_structure/01_topic_model_and_masking (the instructor's course file; never handed out)."""

import math

import numpy as np

from theory_collection.course.checks import Call, array, close, equal


def pmi_reference(model, pair, num_topics, topics_per_doc, alpha):
    """log(P(w, w') / (P(w) P(w'))) from the expectations E[q(w) q(w')] of each document model."""
    T, tau, a = num_topics, topics_per_doc, alpha
    if (
        model == "equal mixture"
    ):  # q(w) = 1[t(w) in S] / (tau v); P(t in S) = tau/T, P(t, t' in S) = tau(tau-1)/(T(T-1))
        both = tau / T if pair == "same topic" else tau * (tau - 1) / (T * (T - 1))
        joint_times_v2 = both / tau**2
    else:  # q(w) = theta_t / v with Dirichlet(a) moments
        second = a * (a + 1) if pair == "same topic" else a * a
        joint_times_v2 = second / (T * a * (T * a + 1))
    ratio = joint_times_v2 * T**2  # divided by the marginals (1 / V)^2, V = T v
    return math.log(ratio) if ratio > 0 else -math.inf


def masking_reference(tokens, choose, kind, random_words, mask_prob, keep_prob, random_prob, mask_token):
    """The masking rule written position by position."""
    inputs, labels, keys = [], [], []
    for token, c, k, r in zip(tokens, choose, kind, random_words):
        chosen = c < mask_prob
        if not chosen:
            shown = token
        elif k < keep_prob:
            shown = token
        elif k < keep_prob + random_prob:
            shown = r
        else:
            shown = mask_token
        inputs.append(int(shown))
        labels.append(int(token) if chosen else -100)
        keys.append(not chosen)
    return [inputs, labels, keys]


def masking_case(seed, length, mask_prob, keep_prob, random_prob):
    """A document of random words and uniform draws."""
    rng = np.random.default_rng(seed)
    vocab = 12
    return (
        array(rng.integers(0, vocab, length), "int64"),
        array(rng.random(length)),
        array(rng.random(length)),
        array(rng.integers(0, vocab, length), "int64"),
        mask_prob,
        keep_prob,
        random_prob,
        vocab,
    )


CHECKS = [
    Call(
        "pmi_theory",
        cases=[
            ("equal mixture", "same topic", 7, 3, 0.3),
            ("equal mixture", "different topic", 7, 3, 0.3),
            ("equal mixture", "different topic", 4, 1, 2.0),
            ("LDA", "same topic", 12, 5, 0.05),
            ("LDA", "different topic", 12, 5, 0.05),
            ("LDA", "different topic", 4, 1, 2.0),
        ],
        reference=pmi_reference,
        compare=close(rel=1e-9),
        time_limit=30,
    ),
    Call(
        "mask_document",
        cases=[
            masking_case(11, 40, 0.15, 0.1, 0.1),
            masking_case(12, 60, 0.5, 0.3, 0.2),
            masking_case(13, 30, 0.9, 0.0, 0.5),
            masking_case(14, 50, 0.3, 0.6, 0.0),
        ],
        reference=masking_reference,
        compare=equal(),
        time_limit=30,
    ),
]
