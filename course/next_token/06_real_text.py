"""Hidden cases of next_token/06_real_text (the instructor's course file; never handed out)."""

import math

import numpy as np

from theory_collection.course.checks import Call, equal


def windows_reference(words, vocabulary, seq_len):
    """Word by word, keeping a running list of the in-vocabulary ids."""
    ids, windows, labels = [], [], []
    for word in words:
        if word not in vocabulary:
            continue
        token = vocabulary.index(word)
        if len(ids) >= seq_len:
            windows.append(ids[-seq_len:])
            labels.append(token)
        ids.append(token)
    return [windows, labels]


def fractions_reference(ids, seq_lens):
    """Window by window, by membership."""
    fractions = []
    for T in seq_lens:
        hits = [ids[j] in ids[j - T : j] for j in range(T, len(ids))]
        fractions.append(sum(hits) / len(hits) if hits else math.nan)
    return fractions


def same_fractions(expected, got):
    """Equal to 1e-12, nan where the reference is nan."""
    if not isinstance(got, list) or len(got) != len(expected):
        return "the answer does not hold one number per window length"
    for e, g in zip(expected, got):
        if not isinstance(g, (int, float)):
            return "the answer holds something that is not a number"
        if math.isnan(e) != math.isnan(g) or (not math.isnan(e) and abs(e - g) > 1e-12):
            return "a fraction differs from the reference"
    return None


WORDS = "the of and a in to is was by for on as at from with first city river king war film team born".split()


def text_case(seed, length, vocabulary_size, seq_len):
    """A random text over WORDS and a vocabulary of its first words."""
    rng = np.random.default_rng(seed)
    words = [WORDS[i] for i in rng.zipf(1.3, length) % len(WORDS)]
    return (words, WORDS[:vocabulary_size], seq_len)


def ids_case(seed, length, K):
    """A random id sequence with frequent repeats."""
    rng = np.random.default_rng(seed)
    return ((rng.zipf(1.5, length) % K).tolist(), [1, 2, 3, 5, 8, length + 1])


CHECKS = [
    Call(
        "next_word_windows",
        cases=[text_case(1, 60, 8, 4), text_case(2, 30, 20, 1), text_case(3, 12, 5, 9)],
        reference=windows_reference,
        compare=equal(),
        time_limit=20,
    ),
    Call(
        "realizable_fractions",
        cases=[ids_case(4, 80, 10), ids_case(5, 200, 30), ids_case(6, 15, 4)],
        reference=fractions_reference,
        compare=same_fractions,
        time_limit=20,
    ),
]
