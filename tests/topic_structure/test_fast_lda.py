"""BatchedLdaModel (all documents of a chunk in one E-step) against gensim's LdaModel: the same topics and document
topics up to float64 rounding, on synthetic and on Wikipedia documents; another seed gives another fit."""

import numpy as np
import pytest
from gensim.models import LdaModel

from theory_collection import wikipedia
from topic_structure import realtext
from topic_structure.data import Vocabulary, sample_lda
from topic_structure.fast_lda import BatchedLdaModel


def _fit(model_class, corpus, topics, seed=0):
    return realtext.train_lda(corpus, topics, passes=4, iterations=50, seed=seed, model_class=model_class)


def _corpora():
    synthetic = sample_lda(Vocabulary(5, 6), 150, 0.1, (20, 40), seed=0)
    documents = list(realtext.corpus_from_documents(synthetic).bow) + [[]]  # an empty document too
    corpus = realtext.corpus_from_documents(synthetic)
    corpus.__dict__["bow"] = documents  # cached_property: the bags with the empty document
    return {"synthetic": (corpus, 5), "wikipedia": (realtext.build_corpus(wikipedia.load_summaries(300, seed=0)), 12)}


@pytest.mark.parametrize("name", ["synthetic", "wikipedia"])
def test_batched_lda_fits_what_gensim_fits(name):
    corpus, topics = _corpora()[name]
    expected, got = _fit(LdaModel, corpus, topics), _fit(BatchedLdaModel, corpus, topics)
    scale = np.abs(expected.get_topics()).max()
    assert np.abs(got.get_topics() - expected.get_topics()).max() < 1e-11 * scale
    gamma, sstats = expected.inference(corpus.bow, collect_sstats=True)
    gamma2, sstats2 = got.inference(corpus.bow, collect_sstats=True)
    assert np.abs(gamma2 - gamma).max() < 1e-10 * np.abs(gamma).max()
    assert np.abs(sstats2 - sstats).max() < 1e-10 * np.abs(sstats).max()
    other = _fit(BatchedLdaModel, corpus, topics, seed=1)  # the comparison can fail
    assert np.abs(other.get_topics() - expected.get_topics()).max() > 1e-3 * scale
