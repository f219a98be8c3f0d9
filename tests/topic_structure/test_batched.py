"""Stacked runs (batched.RunStack, batched_training) against the one-run route: same losses, gradients, histories
and parameters up to float rounding, for every model switch; a run given other data or settings differs."""

import dataclasses
import itertools

import numpy as np
import pytest
import torch

from topic_structure import lda_runs
from topic_structure.batched import RunStack, stack_batches
from topic_structure.batched_training import StackedOptimizer, train_runs
from topic_structure.data import Vocabulary, sample_lda
from topic_structure.masking import MaskingConfig, mask_documents
from topic_structure.model import ATTENTIONS, DECODERS, VALUES, ModelConfig, TopicTransformer
from topic_structure.training import TrainConfig, corpus_batches, make_optimizer, train

T, v = 3, 4
VOCAB = Vocabulary(T, v)
EMBEDDINGS = [("onehot", None), ("trained", VOCAB.size + 2), ("trained", 5)]


def _switches():
    for (embedding, d), attention, value, decoder in itertools.product(EMBEDDINGS, ATTENTIONS, VALUES, DECODERS):
        if decoder == "identity" and (d or VOCAB.size) < VOCAB.num_words:
            continue  # W_pred = [I_V | 0] needs d >= V
        switches = dict(embedding=embedding, d_model=d, attention=attention, value=value, decoder=decoder)
        if any(p.requires_grad for p in TopicTransformer(ModelConfig(T, v, **switches)).parameters()):
            yield switches  # (a model with nothing trained has nothing to stack)


SWITCHES = list(_switches())


def _models(switches, seeds=(0, 1, 2)):
    return [TopicTransformer(ModelConfig(T, v, init_scale=0.7, **switches), seed=s).double() for s in seeds]


def _batches(seeds=(0, 1, 2)):
    """Batches of unequal sizes and lengths; run 1's first document has no visible key (zero logits)."""
    batches = [
        mask_documents(sample_lda(VOCAB, 5 + s, 0.3, (5, 30 + 10 * s), s), MaskingConfig(0.3, 0.2, 0.2), s)
        for s in seeds
    ]
    visible = batches[1].key_visible.clone()
    visible[0] = False
    batches[1] = dataclasses.replace(batches[1], key_visible=visible)
    return batches


def _gap(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max().clamp(min=1e-300))


def _one_run_gradients(model, batch):
    model.zero_grad()
    loss = model.loss(batch)
    loss.backward()
    return float(loss.detach()), {name: p.grad.clone() for name, p in model.named_parameters() if p.requires_grad}


# every switch with the routes the stack chooses; every forced route on the switches where the routes differ most
# (score_by_table, decode_by_table, embedded); the embedded route needs trained embeddings and attention
ROUTES = [(None, None, False), (True, True, False), (False, False, False), (True, False, False), (False, True, False)]
CASES = (
    [(s, (None, None, None)) for s in SWITCHES]
    + [(s, r) for s in SWITCHES if s["attention"] == "trained" and s["value"] == "trained" for r in ROUTES]
    + [(s, (None, None, True)) for s in SWITCHES if s["attention"] == "trained" and s["embedding"] == "trained"]
)


@pytest.mark.parametrize(
    ("switches", "routes"),
    CASES,
    ids=lambda x: "-".join(f"{value}" for value in dict(enumerate(x) if isinstance(x, tuple) else x).values()),
)
def test_stacked_losses_and_gradients_equal_each_run_alone(switches, routes):
    models, batches = _models(switches), _batches()
    stack = RunStack(models)
    losses = stack.losses(batches, *routes)
    losses.sum().backward()
    for r, model in enumerate(models):
        loss, gradients = _one_run_gradients(model, batches[r])
        assert abs(float(losses[r].detach()) - loss) <= 1e-12 * abs(loss)
        for name, gradient in gradients.items():
            assert _gap(stack.leaves[name].grad[r], gradient) < 1e-10, name
    # the gradients accumulated into the stack's one buffer, which the optimiser reads
    leaves = torch.cat([stack.leaves[name].grad.reshape(-1) for name in stack.names])
    assert torch.equal(leaves, stack.grad) and float(stack.grad.abs().max()) > 0


def test_a_run_that_sits_out_has_zero_loss_and_gradient():
    models, batches = _models(SWITCHES[0]), _batches()
    stack = RunStack(models)
    losses = stack.losses([batches[0], None, batches[2]])
    losses.sum().backward()
    assert float(losses[1].detach()) == 0.0
    for name in stack.names:
        assert float(stack.leaves[name].grad[1].abs().max()) == 0.0
        assert float(stack.leaves[name].grad[0].abs().max()) > 0


def test_a_different_run_in_the_stack_differs():
    """The check can fail: run 1 fed run 0's batch gives run 0's numbers, not its own."""
    switches = dict(embedding="trained", d_model=6, attention="trained", value="trained", decoder="tied")
    models, batches = _models(switches, seeds=(0, 0, 0)), _batches()
    stack = RunStack(models)
    losses = stack.losses([batches[0], batches[0], batches[2]]).detach()
    own, _ = _one_run_gradients(models[1], batches[1])
    assert float(losses[1]) == pytest.approx(float(losses[0]), rel=1e-14)
    assert abs(float(losses[1]) - own) > 1e-6 * abs(own)


def test_stack_refuses_runs_of_different_shapes_and_the_squared_loss():
    wide = TopicTransformer(ModelConfig(T, v, embedding="trained", d_model=7, decoder="tied"), seed=0)
    narrow = TopicTransformer(ModelConfig(T, v, embedding="trained", d_model=6, decoder="tied"), seed=0)
    with pytest.raises(ValueError, match="d_model"):
        RunStack([wide, narrow])
    squared = TopicTransformer(ModelConfig(T, v, loss="squared"), seed=0)
    with pytest.raises(ValueError, match="cross-entropy"):
        RunStack([squared]).losses(_batches()[:1])
    with pytest.raises(ValueError, match="one batch"):
        RunStack([wide]).losses(_batches())


def test_stack_batches_pads_with_invisible_positions():
    batches = _batches()
    stacked = stack_batches(batches, VOCAB.pad_id)
    assert stacked.inputs.shape == (sum(len(b) for b in batches), max(b.inputs.shape[1] for b in batches))
    assert stacked.doc_run.tolist() == [r for r, b in enumerate(batches) for _ in range(len(b))]
    assert int(stacked.key_visible.sum()) == sum(int(b.key_visible.sum()) for b in batches)


CONFIGS = [  # optimiser, learning rate, weight decay, steps, seed: every optimiser, decays, unequal lengths
    ("adam", 0.01, 0.0, 60, 0),
    ("adamw", 0.01, 0.1, 60, 1),
    ("sgd", 1.0, 0.001, 45, 2),
    ("adam", 0.003, 0.001, 60, 3),
    ("sgd", 0.5, 0.0, 60, 4),
]


def _train_configs(configs=CONFIGS, snapshot_every=20):
    return [
        TrainConfig(
            optimizer=o,
            learning_rate=lr,
            weight_decay=wd,
            steps=steps,
            batch_size=12,
            log_every=10,
            snapshot_every=snapshot_every,
            seed=seed,
            progress=False,
        )
        for o, lr, wd, steps, seed in configs
    ]


def _lda_models(configs):
    return [lda_runs.lda_model(Vocabulary(4, 3), "trained", 1.0, c.seed).double() for c in configs]


@pytest.mark.parametrize("measure_probe", [True, False])
def test_train_runs_equals_train_run_by_run(measure_probe):
    corpus = sample_lda(Vocabulary(4, 3), 80, 0.2, (10, 20), 0)
    masking = MaskingConfig(0.2, 0.1, 0.1)
    configs = _train_configs()
    alone, stacked = _lda_models(configs), _lda_models(configs)
    expected = [
        train(m, corpus_batches(corpus), masking, c, measure_probe=measure_probe) for m, c in zip(alone, configs)
    ]
    got = train_runs(stacked, [corpus_batches(corpus)] * 5, [masking] * 5, configs, measure_probe=measure_probe)
    for r in range(len(configs)):
        a, b = expected[r].frame(), got[r].frame()
        assert list(a.columns) == list(b.columns) and len(a) == len(b)
        assert np.allclose(a.to_numpy(float), b.to_numpy(float), rtol=1e-10, atol=1e-12, equal_nan=True)
        assert sorted(expected[r].snapshots) == sorted(got[r].snapshots)
        for step, snapshot in expected[r].snapshots.items():
            for name, value in snapshot.items():
                assert _gap(got[r].snapshots[step][name], value) < 1e-10
        for (name, p), q in zip(alone[r].named_parameters(), stacked[r].parameters()):
            assert _gap(q.detach(), p.detach()) < 1e-10, name


def test_train_runs_on_snapshot_sees_the_runs_present_values():
    corpus = sample_lda(Vocabulary(4, 3), 80, 0.2, (10, 20), 0)
    masking = MaskingConfig(0.2, 0.1, 0.1)
    configs = _train_configs(CONFIGS[:2])
    alone, stacked = _lda_models(configs), _lda_models(configs)
    expected = [train(m, corpus_batches(corpus), masking, c) for m, c in zip(alone, configs)]
    seen = {}

    def on_snapshot(step, stack, runs):
        stack.write_back(runs)
        for r in runs:
            seen[r, step] = stacked[r].W_V.detach().clone()

    train_runs(stacked, [corpus_batches(corpus)] * 2, [masking] * 2, configs, on_snapshot=on_snapshot)
    assert sorted(seen) == sorted((r, s) for r in range(2) for s in expected[r].snapshots)
    for (r, step), value in seen.items():
        assert _gap(value, expected[r].snapshots[step]["W_V"]) < 1e-10


@pytest.mark.parametrize("kind", ["sgd", "adam", "adamw"])
def test_stacked_optimizer_steps_like_torch_with_per_run_settings(kind):
    """Three runs with different learning rates and decays, one of them idle for a step, against torch's own."""
    generator = torch.Generator().manual_seed(0)
    models = [TopicTransformer(ModelConfig(T, v), seed=s) for s in range(3)]
    stack = RunStack(models)
    rates, decays = [0.1, 0.02, 0.1], [0.0, 0.01, 0.3]
    optimizer = StackedOptimizer(stack, [kind] * 3, rates, decays)
    references = [
        make_optimizer(kind, [p for p in m.parameters() if p.requires_grad], lr, wd)
        for m, lr, wd in zip(models, rates, decays)
    ]
    for step in range(4):
        stack.grad.copy_(torch.randn(stack.grad.shape, generator=generator))
        active = [0, 2] if step == 1 else [0, 1, 2]
        optimizer.step(active)
        for r in active:
            for name, p in models[r].named_parameters():
                p.grad = stack.leaves[name].grad[r].clone()
            references[r].step()
    for r, model in enumerate(models):
        expected = torch.cat([p.detach().reshape(-1) for p in model.parameters() if p.requires_grad])
        assert _gap(stack.run_values(r), expected) < 1e-6
    assert _gap(stack.run_values(0), stack.run_values(2)) > 1e-3  # different decays move the runs apart
