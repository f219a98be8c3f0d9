"""Runs of one stage at a time, with the other parts frozen where the theory puts them (notebooks 02-04).

* Stage 1, attention frozen uniform: the models of C1 (trained ``E``, ``W_V = I``, decoder tied to ``E``;
  :func:`embedding_model`) and C2 (one-hot ``E``, trained ``W_V``, ``W_pred = I``; :func:`value_model`), the exact
  optimum of the training objective at the training document length (:func:`training_targets`), and training to
  it in rounds (:func:`uniform_training_run`, :func:`training.train_until_converged`).
* Stage 2, ``W_V`` frozen at the C2 optimum: the attention runs of C3 (:func:`attention_run`), trained until the
  learned same-topic mass stops drifting.

The claims these runs test are :mod:`claims.embeddings`, :mod:`claims.value_matrix` and :mod:`claims.attention`.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch

from topic_structure.attention_over_training import paper_attention_averages
from topic_structure.data import Documents, Vocabulary, sample_equal_mixture, sample_lda
from topic_structure.masking import MaskingConfig, mask_documents
from topic_structure.measurements import BLOCKS, block_averages
from topic_structure.model import ModelConfig, TopicTransformer
from topic_structure.population import Setting, fit_population
from topic_structure.theory import attention as ta
from topic_structure.theory import finite_length
from topic_structure.training import (
    ConvergedRun,
    DocumentSource,
    TrainConfig,
    epoch_batches,
    fresh_documents,
    rounds_for_distance,
    train,
    train_until_converged,
)


def embedding_model(setting: Setting, d_model: int | None = None, init_scale: float = 0.3) -> TopicTransformer:
    """The components C1 assumes: trained E (d = V by default), W_V = I, decoder tied to E, uniform attention."""
    config = ModelConfig(
        setting.num_topics,
        setting.words_per_topic,
        embedding="trained",
        d_model=setting.vocab.num_words if d_model is None else d_model,
        attention="uniform",
        value="identity",
        decoder="tied",
        init_scale=init_scale,
    )
    return TopicTransformer(config, seed=setting.seed)


def one_hot_model(setting: Setting, attention: str, init_scale: float, loss: str = "cross_entropy") -> TopicTransformer:
    """One-hot E, W_pred = I, a trained W_V and ``attention`` ("uniform": frozen, or "trained")."""
    config = ModelConfig(
        setting.num_topics,
        setting.words_per_topic,
        attention=attention,
        decoder="identity",
        init_scale=init_scale,
        loss=loss,
    )
    return TopicTransformer(config, seed=setting.seed)


def value_model(setting: Setting, loss: str = "cross_entropy", init_scale: float = 0.1) -> TopicTransformer:
    """Exactly the components C2 assumes: one-hot E, trained W_V, W_pred = I, uniform attention."""
    return one_hot_model(setting, "uniform", init_scale, loss)


def population_optimum(
    model: TopicTransformer, setting: Setting, weight_decay: float | None = None
) -> TopicTransformer:
    """``model`` (run it in float64) moved to the full-matrix population optimum of ``setting`` (its weight decay,
    or ``weight_decay``) by float64 L-BFGS to the last bit (:func:`population.fit_population`); returns it."""
    decay = setting.weight_decay if weight_decay is None else weight_decay
    fit_population(
        model, setting.topics_per_doc, setting.keep_prob, setting.random_prob, decay, steps=300, tolerance=1e-15
    )
    return model


def block_gap(measured: dict[str, float], target: dict[str, float], absolute_floor: float) -> float:
    """Largest block difference relative to the target's largest block (absolute when the target is
    below ``absolute_floor``, e.g. a collapsed optimum of exactly 0)."""
    scale = max(abs(x) for x in target.values())
    difference = max(abs(measured[b] - target[b]) for b in BLOCKS)
    return difference / scale if scale >= absolute_floor else difference


# ----- notebooks 02 and 03: training at uniform attention against the theory ---------------------------------

UNIFORM_MODELS = ("embedding", "value")  # C1: trained E (Gram matrix); C2: trained W_V
CONVERGENCE_CRITERION = 0.01  # largest block gap to the exact optimum of the training objective, relative
MAX_TRAINED_TOLERANCE = 0.10  # beyond it a trained-vs-theory comparison says nothing: inconclusive


def _uniform_model(setting: Setting, which: str, init_scale: float, d_model: int | None) -> TopicTransformer:
    if which == "embedding":
        return embedding_model(setting, d_model, init_scale)
    return value_model(setting, init_scale=init_scale)


def uniform_blocks(model: TopicTransformer, which: str) -> dict[str, float]:
    """Block averages of the matrix a uniform-attention claim is about: E E^T (C1) or W_V (C2)."""
    vocab = model.vocab
    with torch.no_grad():
        matrix = model.gram() if which == "embedding" else model.value_output_matrix()[:, : vocab.num_words]
    return block_averages(matrix.detach(), vocab)


def finite_length_optimum(
    setting: Setting, which: str, doc_length, mask_prob: float, d_model: int | None = None, num_docs: int = 20_000
) -> dict[str, float]:
    """Block averages of the exact optimum of the training objective at document length ``doc_length``
    (:func:`finite_length.fit_finite_length` on ``num_docs`` sampled key bags): what training converges to."""
    model = _uniform_model(setting, which, 0.3 if which == "embedding" else 0.1, d_model).double()
    bags, in_set = finite_length.sample_key_bags(
        setting.vocab,
        setting.topics_per_doc,
        doc_length,
        mask_prob,
        num_docs,
        seed=np.random.default_rng([setting.seed, 4]),
    )
    finite_length.fit_finite_length(model, bags, in_set, setting.weight_decay)
    return uniform_blocks(model, which)


def training_targets(setting: Setting, which: str, doc_length, mask_prob: float, d_model: int | None = None) -> dict:
    """The optimum of the training objective at the training length N and at 4N, and the finite-length
    bias at N estimated from them alone (Richardson: the bias falls like 1/N, so bias(N) ~ 4/3 (f(N) - f(4N))).

    Returns ``{"finite", "longer", "bias"}``; ``bias`` is relative to the largest block of ``finite``
    (absolute when that is below 1e-6, a collapsed optimum). No theory value enters.
    """
    low, high = (doc_length, doc_length) if isinstance(doc_length, int) else tuple(doc_length)
    finite = finite_length_optimum(setting, which, (low, high), mask_prob, d_model)
    longer = finite_length_optimum(setting, which, (4 * low, 4 * high), mask_prob, d_model)
    scale = max(abs(x) for x in finite.values())
    bias = 4 / 3 * max(abs(finite[b] - longer[b]) for b in BLOCKS)
    return {"finite": finite, "longer": longer, "bias": bias / scale if scale >= 1e-6 else bias}


def uniform_training_run(
    setting: Setting,
    which: str,
    source: DocumentSource,
    masking: MaskingConfig,
    targets: dict,
    optimizer: str,
    learning_rate: float,
    steps: int,
    batch_size: int,
    init_scale: float,
    d_model: int | None = None,
    probe=None,
    max_rounds: int | None = None,
) -> tuple[TopicTransformer, ConvergedRun]:
    """Train E (C1) or W_V (C2) in rounds of ``steps`` (``learning_rate`` for half, a tenth of it for the
    other half, with ``weight_decay``) until the largest block gap to the optimum of the training
    objective (``targets["finite"]``) is at most :data:`CONVERGENCE_CRITERION`.

    The budget (:func:`rounds_for_distance`) scales with the distance to travel: the largest entry
    of the target (C2) or the square root of the largest Gram entry (C1, the size of an entry of E).
    """
    model = _uniform_model(setting, which, init_scale, d_model)
    scale = max(abs(x) for x in targets["finite"].values())
    distance = math.sqrt(scale) if which == "embedding" else scale
    first = steps // 2
    if max_rounds is None:
        max_rounds = rounds_for_distance(distance, learning_rate, max(first, 1))
    schedule = [(learning_rate, first), (learning_rate / 10, steps - first)] if first else [(learning_rate / 10, steps)]
    run = train_until_converged(
        model,
        source,
        masking,
        schedule,
        lambda m: block_gap(uniform_blocks(m, which), targets["finite"], 1e-6),
        CONVERGENCE_CRITERION,
        max_rounds,
        gap_name="largest block gap to the optimum of the training objective",
        optimizer=optimizer,
        weight_decay=setting.weight_decay,
        batch_size=batch_size,
        seed=setting.seed,
        probe=probe,
        description="E" if which == "embedding" else "W_V",
    )
    return model, run


def uniform_training(
    setting: Setting, which: str, targets: dict, parameters, d_model: int | None = None
) -> tuple[TopicTransformer, ConvergedRun]:
    """:func:`uniform_training_run` on minibatches of fresh equal-mixture documents with BERT masking.

    parameters: the notebook's resolved parameters (``doc_length``, ``mask_prob``, ``optimizer``,
    ``learning_rate``, ``steps``, ``batch_size``, ``init_scale``); the masking split and the seed
    come from ``setting``. A small fixed probe keeps the training log cheap (attention statistics say
    nothing at uniform attention).
    """
    vocab, tau = setting.vocab, setting.topics_per_doc
    masking = MaskingConfig(parameters.mask_prob, setting.keep_prob, setting.random_prob)
    source = fresh_documents(sample_equal_mixture, vocab=vocab, topics_per_doc=tau, doc_length=parameters.doc_length)
    probe = mask_documents(
        sample_equal_mixture(vocab, 8, tau, 64, seed=np.random.default_rng([setting.seed, 2])),
        masking,
        seed=np.random.default_rng([setting.seed, 3]),
    )
    return uniform_training_run(
        setting,
        which,
        source,
        masking,
        targets,
        parameters.optimizer,
        parameters.learning_rate,
        parameters.steps,
        parameters.batch_size,
        parameters.init_scale,
        d_model=d_model,
        probe=probe,
    )


def uniform_comparison(
    optimum: dict[str, float], targets: dict, trained: dict[str, float], run: ConvergedRun, which: str, length: str
) -> pd.DataFrame:
    """Per block: the theory (N = infinity), the training objective's optimum at N and 4N, the trained
    value, the finite-length bias and the trained error relative to the theory, and Adam's noise floor
    (standard deviation of the last five logs of the last annealed phase, relative to the largest block)."""

    def relative(value: float, reference: float) -> float:
        return value / reference - 1 if reference else float("nan")

    frame = run.frame
    tail = frame[frame.phase == frame.phase.max()].tail(5)
    column = "gram" if which == "embedding" else "value"
    scale = max(abs(value) for value in optimum.values()) or 1.0
    finite = targets["finite"]
    return pd.DataFrame(
        {
            "theory (N = inf)": optimum,
            f"finite-length optimum (N = {length})": finite,
            "finite-length optimum (4N)": targets["longer"],
            "trained": trained,
            "finite-length bias (theory)": {b: relative(finite[b], optimum[b]) for b in BLOCKS},
            "trained / theory - 1": {b: relative(trained[b], optimum[b]) for b in BLOCKS},
            "noise floor (std / scale)": {b: float(tail[f"{column}.{b}"].std() / scale) for b in BLOCKS},
        }
    )


# ----- notebook 04: training the attention with W_V frozen at the C2 optimum ----------------------------------

DRIFT_CRITERION = 0.01  # relative change of the learned mass over one round: about twice its round-to-round noise


def derived_high_random_prob(keep_prob: float, random_prob: float) -> float | None:
    """The random_prob of notebook 04's falsification run: halfway from ``random_prob`` to its largest
    valid value ``1 - keep_prob``; ``None`` when there is no room above ``random_prob``."""
    room = 1 - keep_prob - random_prob
    return None if room <= 1e-9 else random_prob + room / 2


def attention_model(setting: Setting, value_output: torch.Tensor, init_scale: float) -> TopicTransformer:
    """One-hot E, W_pred = I, W_V frozen at ``value_output`` (the C2 block matrix), W_K and W_Q trained."""
    V = setting.vocab.num_words
    model = one_hot_model(setting, "trained", init_scale)
    with torch.no_grad():
        model.W_V.zero_()
        model.W_V[:V, :V] = value_output[:, :V].float()
    model.W_V.requires_grad_(False)
    return model


def population_mass(model: TopicTransformer, topics_per_doc: int) -> float:
    """The model's population same-topic mass: the mean of :func:`theory.attention.same_topic_mass`."""
    with torch.no_grad():
        return float(ta.same_topic_mass(model.score_matrix().double(), model.vocab, topics_per_doc).mean())


def attention_run(
    setting: Setting,
    name: str,
    keep_prob: float,
    random_prob: float,
    source: DocumentSource,
    mask_prob: float,
    value_output: torch.Tensor,
    delta: float,
    optimizer: str,
    learning_rate: float,
    steps: int,
    batch_size: int,
    init_scale: float,
    max_rounds: int = 8,
) -> dict:
    """Train W_K, W_Q (no weight decay: x* is about the unpenalised score problem) in rounds of
    ``steps // 2`` until the population mass moves by at most :data:`DRIFT_CRITERION` (relative) over
    a round, at least two rounds, at most ``max_rounds`` (four times the profile's steps).

    Returns the run's theory (``ta.optimal_mass``), the model, the mass and score gap per snapshot,
    the converged run and the final mass (mean and standard deviation over the last round's snapshots).
    """
    vocab, tau = setting.vocab, setting.topics_per_doc
    model = attention_model(setting, value_output, init_scale)
    initial = {n: p.detach().clone() for n, p in model.named_parameters()}
    round_steps = max(1, steps // 2)
    snapshot_every = max(1, steps // 30)
    masses = [population_mass(model, tau)]

    def drift(trained):
        masses.append(population_mass(trained, tau))
        return abs(masses[-1] - masses[-2]) / abs(masses[-1]) if len(masses) > 2 else math.inf

    run = train_until_converged(
        model,
        source,
        MaskingConfig(mask_prob, keep_prob, random_prob),
        [(learning_rate, round_steps)],
        drift,
        DRIFT_CRITERION,
        max_rounds,
        gap_name="relative drift of the mass over the last round",
        optimizer=optimizer,
        batch_size=batch_size,
        seed=setting.seed,
        log_every=snapshot_every,
        snapshot_every=snapshot_every,
        description=name,
    )
    snapshots = {0: initial, **run.snapshots}
    scratch, rows = TopicTransformer(model.config, seed=setting.seed), []
    for step, state in sorted(snapshots.items()):
        scratch.load_state_dict(state, strict=False)
        with torch.no_grad():
            score = scratch.score_matrix().double()
        blocks = block_averages(score, vocab)
        rows.append(
            {
                "run": name,
                "step": step,
                "same-topic mass": float(ta.same_topic_mass(score, vocab, tau).mean()),
                "score gap": 0.5 * (blocks["diagonal"] + blocks["same_topic"]) - blocks["diff_topic"],
            }
        )
    frame = pd.DataFrame(rows)
    tail = frame[frame["step"] > run.steps - round_steps]["same-topic mass"]
    theory_x = ta.optimal_mass(setting.num_topics, setting.words_per_topic, tau, keep_prob, random_prob, delta)
    return {
        "name": name,
        "keep": keep_prob,
        "random": random_prob,
        "model": model,
        "frame": frame,
        "run": run,
        "final": float(tail.mean()),
        "noise": float(tail.std()) if len(tail) > 1 else 0.0,
        **theory_x,
    }


def attention_run_summary(runs: dict[str, dict]) -> pd.DataFrame:
    """One row per :func:`attention_run`: its masking split, regime and ``x*``, the trained mass with its
    noise and relative error, and how the run ended (steps, converged, last drift)."""
    rows = [
        {
            "run": r["name"],
            "keep_prob": r["keep"],
            "random_prob": r["random"],
            "regime": r["regime"],
            "x* (theory)": r["x_star"],
            "trained mass": r["final"],
            "std (last round)": r["noise"],
            "relative error": r["final"] / r["x_star"] - 1,
            "steps": r["run"].steps,
            "converged": r["run"].converged,
            "drift (last round)": r["run"].gap,
        }
        for r in runs.values()
    ]
    return pd.DataFrame(rows).set_index("run")


def trained_error_model(targets: dict, length: str) -> dict:
    """The error model of a trained block against the theory at N = infinity (notebooks 02 and 03).

    Twice the sum of the finite-length bias at the training length (estimated without the theory,
    :func:`training_targets`) and the convergence criterion, both fractions of the largest block of the training
    objective's optimum, so the comparison is absolute on that scale (absolute outright for a collapsed optimum
    of 0). Returns ``tolerance``, ``reason`` (that in words) and ``too_short``: the unmet precondition when the
    tolerance would exceed :data:`MAX_TRAINED_TOLERANCE` (documents too short to test the N = infinity theory: a
    large error must not pass under a large bias), else empty.
    """
    relative = 2 * (targets["bias"] + CONVERGENCE_CRITERION)
    scale = max(abs(x) for x in targets["finite"].values())
    collapsed = scale < 1e-6  # then the bias is absolute already (training_targets)
    too_short = (
        f"the finite-length bias at N = {length} ({targets['bias']:.1%}) makes the tolerance {relative:.0%} of the "
        f"largest block, above {MAX_TRAINED_TOLERANCE:.0%}: the documents are too short to test the N = infinity theory"
        if relative > MAX_TRAINED_TOLERANCE and not collapsed
        else ""
    )
    reason = (
        f"2 x (finite-length bias at N = {length}: {targets['bias']:.2%} of the largest block, by Richardson "
        f"extrapolation from N and 4N, no theory used; + the convergence criterion {CONVERGENCE_CRITERION:g})"
        + ("" if collapsed else f" x the largest block {scale:.4g} of the training objective's optimum")
    )
    return {"tolerance": relative if collapsed else relative * scale, "reason": reason, "too_short": too_short}


# ----- the public code's stage-1 experiment ----------------------------------------------------------------

# What the public code's configuration and sources fix (their file and line are cited by claims.value_matrix): one-hot
# embeddings, W_K = W_Q = 0 frozen, W_pred = I frozen, W_V trained; T = 10 topics of v = 10 words, LDA alpha 0.1,
# documents of 100-150 words; each document masked once (0.15 / 0.1 / 0.1); Adam at learning rate 0.01, no weight
# decay, shuffled batches of 40 for 20 epochs over 10,000 documents.
CODE_SETTING = {"num_topics": 10, "words_per_topic": 10, "alpha": 0.1, "doc_length": (100, 150)}
CODE_MASKING = MaskingConfig(0.15, 0.1, 0.1)
CODE_BATCH, CODE_LEARNING_RATE, CODE_DOCS, CODE_EPOCHS = 40, 0.01, 10_000, 20
# W_V starts at the standard deviation of torch's default nn.Linear initialisation at the code's width 104
# (uniform on +-1/sqrt(104)); here W_V is Gaussian, of width V + 2 = 102.
CODE_VALUE_INIT = 1 / math.sqrt(3 * 104)
# The shipped statistics: 500 held-out documents cut at 100 tokens, nothing masked.
CODE_PROBE_DOCS, CODE_PROBE_LENGTH = 500, 100


def code_stage_one(num_docs: int, epochs: int, seed: int) -> dict:
    """The public code's stage-1 run (:data:`CODE_SETTING`), with ``num_docs`` documents for ``epochs`` epochs.

    Returns the trained ``model``, its ``steps``, ``attention``: the average attention over same-token, same-topic
    and different-topic position pairs of :data:`CODE_PROBE_DOCS` held-out documents cut at
    :data:`CODE_PROBE_LENGTH` words with nothing masked (:func:`attention_over_training.paper_attention_averages`,
    as the code's inspection script reads them), and ``value``: the block averages of ``W_V`` over content words with
    the standard deviation of its different-topic entries.
    """
    vocab = Vocabulary(CODE_SETTING["num_topics"], CODE_SETTING["words_per_topic"])
    length, alpha = CODE_SETTING["doc_length"], CODE_SETTING["alpha"]
    corpus = sample_lda(vocab, num_docs, alpha, length, np.random.default_rng([seed, 8]))
    masked = mask_documents(corpus, CODE_MASKING, np.random.default_rng([seed, 9]))
    model = value_model(Setting(vocab.num_topics, vocab.words_per_topic, 1, 0.0, seed=seed), init_scale=CODE_VALUE_INIT)
    steps = epochs * math.ceil(num_docs / CODE_BATCH)
    training = TrainConfig("adam", CODE_LEARNING_RATE, 0.0, steps, CODE_BATCH, log_every=max(1, steps // 10), seed=seed)
    train(model, epoch_batches(masked), CODE_MASKING, training, probe=masked[:8], description="public code, stage 1")
    held_out = sample_lda(vocab, CODE_PROBE_DOCS, alpha, length, np.random.default_rng([seed, 10]))
    cut = Documents(
        held_out.tokens[:, :CODE_PROBE_LENGTH],
        held_out.lengths.clamp(max=CODE_PROBE_LENGTH),
        held_out.topic_weights,
        vocab,
    )
    with torch.no_grad():
        value = model.value_output_matrix()[:, : vocab.num_words].double()
    different = ~vocab.same_topic()
    return {
        "model": model,
        "steps": steps,
        "attention": paper_attention_averages(model, cut),
        "value": {**block_averages(value, vocab), "diff_topic_std": float(value[different].std())},
    }
