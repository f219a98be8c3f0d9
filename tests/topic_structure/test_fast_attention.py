"""The training loss's fast path (attention rows only for the chosen queries, aggregated per token type)
against the dense (B, N, N) path: same loss and gradients in float64, for every model switch."""

import dataclasses
import itertools

import pytest
import torch

from topic_structure.data import Vocabulary, sample_lda
from topic_structure.masking import MaskingConfig, mask_documents
from topic_structure.measurements import attention_by_topic
from topic_structure.model import ATTENTIONS, DECODERS, LOSSES, VALUES, ModelConfig, TopicTransformer
from topic_structure.training import TrainConfig, fresh_documents, measure, train

T, v = 3, 4
VOCAB = Vocabulary(T, v)
RELATIVE = 1e-6
# (embedding, d_model): one-hot (d = vocab size), trained wider than V, trained narrower than V
EMBEDDINGS = [("onehot", None), ("trained", VOCAB.size + 2), ("trained", 5)]


def _combinations():
    switches = itertools.product(EMBEDDINGS, ATTENTIONS, VALUES, DECODERS, LOSSES)
    for (embedding, d), attention, value, decoder, loss in switches:
        if decoder == "identity" and (d or VOCAB.size) < VOCAB.num_words:
            continue  # not a valid model: W_pred = [I_V | 0] needs d >= V
        yield dict(embedding=embedding, d_model=d, attention=attention, value=value, decoder=decoder, loss=loss)


COMBINATIONS = list(_combinations())


def _model(switches, seed=0):
    config = ModelConfig(T, v, init_scale=0.7, **switches)
    return TopicTransformer(config, seed=seed).double()


def _batch(seed, attend_to_chosen=False, starved_doc=True):
    """Random LDA documents of unequal lengths; optionally one document whose every word is chosen and hidden."""
    docs = sample_lda(VOCAB, 7, 0.3, (5, 30), seed)
    batch = mask_documents(docs, MaskingConfig(0.3, 0.2, 0.2, attend_to_chosen=attend_to_chosen), seed)
    if not starved_doc:
        return batch
    # document 0: every word chosen and none visible, so its queries have no key (zero context)
    words = docs.is_word()[0]
    chosen, visible, labels = batch.chosen.clone(), batch.key_visible.clone(), batch.labels.clone()
    chosen[0], visible[0] = words, torch.zeros_like(words)
    labels[0] = torch.where(words, docs.tokens[0], labels[0])
    return dataclasses.replace(batch, chosen=chosen, key_visible=visible, labels=labels)


def _dense_twin(model):
    """The dense reference: for uniform attention, a trained-attention twin with W_K = W_Q = 0 (zero scores
    are uniform attention) that computes the full (B, N, N) attention; otherwise the model itself."""
    if model.config.attention == "trained":
        return model
    twin = TopicTransformer(dataclasses.replace(model.config, attention="trained"), seed=0).double()
    with torch.no_grad():
        twin.W_K.zero_()
        twin.W_Q.zero_()
    twin.load_state_dict(model.state_dict(), strict=False)
    return twin


def _loss_and_gradients(model, batch, dense):
    model.zero_grad()
    loss = model.loss(batch, dense=dense)
    if loss.requires_grad:  # a model with every matrix frozen has only its loss to compare
        loss.backward()
    return loss.detach(), {name: p.grad.clone() for name, p in model.named_parameters()}


def _relative_gap(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max().clamp(min=1e-300))


@pytest.mark.parametrize("switches", COMBINATIONS, ids=lambda s: "-".join(f"{value}" for value in s.values()))
def test_fast_loss_and_gradients_equal_the_dense_path(switches):
    model = _model(switches)
    reference = _dense_twin(model)
    for seed, attend in ((0, False), (1, True), (2, False)):
        batch = _batch(seed, attend_to_chosen=attend, starved_doc=seed != 2)
        fast_loss, fast_grads = _loss_and_gradients(model, batch, dense=False)
        dense_loss, dense_grads = _loss_and_gradients(reference, batch, dense=True)
        if reference is not model:  # the twin's frozen-at-zero W_K, W_Q are not the uniform model's parameters
            dense_grads = {name: grad for name, grad in dense_grads.items() if name not in ("W_K", "W_Q")}
        assert torch.isfinite(dense_loss)
        assert abs(float(fast_loss - dense_loss)) <= RELATIVE * abs(float(dense_loss))
        assert fast_grads.keys() == dense_grads.keys()
        for name in dense_grads:
            assert torch.isfinite(fast_grads[name]).all(), name
            assert _relative_gap(fast_grads[name], dense_grads[name]) <= RELATIVE, name


TRAINED_ATTENTION = [c for c in COMBINATIONS if c["attention"] == "trained" and c["loss"] == "cross_entropy"]


@pytest.mark.parametrize("score_by_table, decode_by_table", list(itertools.product((True, False), repeat=2)))
@pytest.mark.parametrize(
    "switches", TRAINED_ATTENTION, ids=lambda s: f"{s['embedding']}{s['d_model'] or ''}-{s['value']}-{s['decoder']}"
)
def test_every_route_gives_the_dense_logits_and_gradients(switches, score_by_table, decode_by_table):
    model, batch = _model(switches, seed=3), _batch(4)
    generator = torch.Generator().manual_seed(0)
    weights = torch.randn(int(batch.chosen.sum()), VOCAB.num_words, generator=generator, dtype=torch.float64)
    results = []
    for fast in (True, False):
        model.zero_grad()
        if fast:
            logits = model.chosen_logits(batch.inputs, batch.key_visible, batch.chosen, score_by_table, decode_by_table)
        else:
            logits = model(batch.inputs, batch.key_visible, batch.chosen).logits
        (logits * weights).sum().backward()  # a random linear read-out tests every logit's gradient
        results.append((logits.detach(), {name: p.grad.clone() for name, p in model.named_parameters()}))
    (fast_logits, fast_grads), (dense_logits, dense_grads) = results
    assert _relative_gap(fast_logits, dense_logits) <= RELATIVE
    assert (fast_logits[: int(batch.chosen[0].sum())] == 0).all()  # the starved document's queries
    for name in dense_grads:
        assert _relative_gap(fast_grads[name], dense_grads[name]) <= RELATIVE, name


def test_the_comparison_detects_a_small_change():
    # The tolerance is tight enough to see a 1e-4 change of one key entry: the equality tests can fail.
    switches = dict(
        embedding="onehot", d_model=None, attention="trained", value="trained", decoder="identity", loss="cross_entropy"
    )
    model, batch = _model(switches), _batch(0)
    changed = _model(switches)
    with torch.no_grad():
        changed.W_K[0, 1] += 1e-4
    fast_loss, fast_grads = _loss_and_gradients(model, batch, dense=False)
    dense_loss, dense_grads = _loss_and_gradients(changed, batch, dense=True)
    gaps = [_relative_gap(fast_grads[name], dense_grads[name]) for name in dense_grads]
    assert abs(float(fast_loss - dense_loss)) > RELATIVE * abs(float(dense_loss)) or max(gaps) > RELATIVE


def test_fast_path_builds_no_query_by_key_tensor():
    # Long documents, few chosen queries: nothing the backward pass keeps may be as large as N x N.
    switches = dict(
        embedding="trained", d_model=8, attention="trained", value="trained", decoder="trained", loss="cross_entropy"
    )
    model = _model(switches)
    docs = sample_lda(VOCAB, 2, 0.3, 400, 0)
    batch = mask_documents(docs, MaskingConfig(0.02), 0)
    sizes = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: sizes.append(t.numel()) or t, lambda t: t):
        model.loss(batch).backward()
    N = batch.inputs.shape[1]
    assert max(sizes) < N * N
    sizes.clear()
    with torch.autograd.graph.saved_tensors_hooks(lambda t: sizes.append(t.numel()) or t, lambda t: t):
        model.loss(batch, dense=True).backward()
    assert max(sizes) >= 2 * N * N  # the dense path does keep (B, N, N) scores: the hook sees them


def test_training_with_the_fast_path_is_deterministic():
    source = fresh_documents(sample_lda, vocab=VOCAB, alpha=0.3, doc_length=(10, 20))
    config = TrainConfig(optimizer="adam", learning_rate=0.05, steps=5, batch_size=6, log_every=5, progress=False)
    runs = []
    for _ in range(2):
        model_config = ModelConfig(T, v, embedding="trained", d_model=6, decoder="tied", init_scale=0.3)
        model = TopicTransformer(model_config, seed=2)
        runs.append((train(model, source, MaskingConfig(), config).frame(), model))
    (f1, m1), (f2, m2) = runs
    assert f1.equals(f2) and all(torch.equal(a, b) for a, b in zip(m1.parameters(), m2.parameters()))


@pytest.mark.parametrize(
    "switches",
    [c for c in COMBINATIONS if c["loss"] == "cross_entropy"],
    ids=lambda s: "-".join(f"{value}" for value in list(s.values())[:-1]),
)
def test_attention_map_equals_the_dense_attention(switches):
    model = _model(switches, seed=5)
    for seed, attend in ((0, False), (1, True)):
        batch = _batch(seed, attend_to_chosen=attend)
        with torch.no_grad():
            attention = model.attention_map(batch.inputs, batch.key_visible)
            if model.config.attention == "uniform":
                dense = _dense_twin(model)(batch.inputs, batch.key_visible).attention
            else:
                dense = model(batch.inputs, batch.key_visible).attention
        assert attention.shape == dense.shape == (*batch.inputs.shape, batch.inputs.shape[1])
        assert _relative_gap(attention, dense) <= RELATIVE
        assert (attention[0] == 0).all()  # the document without visible keys


def test_measure_reads_the_attention_map():
    # measure's attention statistics come from attention_map; the dense attention gives the same numbers.
    switches = dict(
        embedding="onehot", d_model=None, attention="trained", value="trained", decoder="identity", loss="cross_entropy"
    )
    model, probe = _model(switches, seed=6), _batch(3, starved_doc=False)
    record = measure(model, probe)
    with torch.no_grad():
        dense = attention_by_topic(
            model(probe.inputs, probe.key_visible).attention, probe.inputs, probe.key_visible, VOCAB
        )
    for name, value in dense.items():
        assert record[f"attention.{name}"] == pytest.approx(value, rel=1e-9, nan_ok=True)
