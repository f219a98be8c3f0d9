"""Hidden cases of topic_structure/06_assumptions_on_data (the instructor's course file; never handed out)."""

import math

import numpy as np

from theory_collection.course.checks import Call, array, close


def share_reference(topic_words, topic_sizes):
    """Bayes' rule word by word."""
    K, W = topic_words.shape
    shares = []
    for w in range(W):
        joint = [topic_words[k, w] * topic_sizes[k] for k in range(K)]
        shares.append(max(joint) / sum(joint))
    return shares


def support_reference(topic_weights, topic_words):
    """exp of the entropy, document by document, word by word."""
    supports = []
    for theta in topic_weights:
        p = [sum(theta[k] * topic_words[k, w] for k in range(len(theta))) for w in range(topic_words.shape[1])]
        supports.append(math.exp(-sum(x * math.log(x) for x in p if x > 0)))
    return supports


def topics(rng, K, W, sparsity):
    """K random topics over W words (some entries zero), rows summing to 1."""
    beta = rng.random((K, W)) * (rng.random((K, W)) > sparsity)
    beta[np.arange(K), rng.integers(0, W, K)] += 0.1  # no empty topic
    return beta / beta.sum(1, keepdims=True)


def share_case(seed, K, W):
    """A random topic model."""
    rng = np.random.default_rng(seed)
    beta = topics(rng, K, W, 0.0)
    return (array(beta), array(rng.dirichlet(np.ones(K))))


def support_case(seed, D, K, W, sparsity):
    """Random documents over a random topic model."""
    rng = np.random.default_rng(seed)
    theta = rng.dirichlet(np.full(K, 0.3), D)
    return (array(theta), array(topics(rng, K, W, sparsity)))


CHECKS = [
    Call(
        "top_topic_share",
        cases=[share_case(1, 3, 7), share_case(2, 8, 20), share_case(3, 2, 5)],
        reference=share_reference,
        compare=close(rel=1e-12),
        time_limit=30,
    ),
    Call(
        "effective_support",
        cases=[support_case(4, 5, 3, 12, 0.0), support_case(5, 8, 6, 30, 0.7), support_case(6, 3, 2, 10, 0.5)],
        reference=support_reference,
        compare=close(rel=1e-10),
        time_limit=30,
    ),
]
