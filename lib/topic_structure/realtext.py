"""Real text, fully offline: Wikipedia summaries and their LDA topics.

The pipeline behind notebooks 06 and 07 (notebooks/topic_structure/THEORY.md §5)::

    load_summaries -> build_corpus -> fit_lda (cached) -> TopicModel
                                                       -> topic_vocabulary -> restricted_documents

* Text: the ~10,000 English Wikipedia article summaries that both papers read
  (:func:`theory_collection.wikipedia.load_summaries`).
* Tokens: lowercase alphabetic words of 3-20 letters, accents stripped (gensim's
  ``simple_preprocess``; numbers dropped), gensim's 337 English stopwords removed. The vocabulary
  keeps words in at least ``min_doc_count`` documents (rarer words carry no topic evidence) and at
  most ``max_doc_fraction`` of them (very common words such as "known" or "world" are spread
  over all topics).
* Topics: gensim's ``LdaModel`` in batch mode (``update_every=0``: every pass is one full EM step
  over the corpus), float64, seeded, with its E-step run for all documents at once
  (:class:`fast_lda.BatchedLdaModel`: the same fit to float64 rounding, a few times faster). gensim's defaults fail
  on this corpus: in online mode the last small chunk dominates the topics, and float32 zeroes part of the
  vocabulary (gensim #2418).
  Fitted models are cached under ``cache_dir/<key>/`` where the key hashes the corpus and every
  fitting parameter; a manifest of sha256 checksums next to the saved files detects a corrupted or
  stale entry, which is then rebuilt (with a warning), never used.

The models measured on the summaries (a pretrained MiniLM, the one-layer model from scratch) are :mod:`text_models`.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import torch

from theory_collection.wikipedia import Article
from topic_structure.data import Documents, Vocabulary
from topic_structure.fast_lda import BatchedLdaModel
from topic_structure.params import check_float, check_int, check_seed

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CACHE_DIR = REPO_ROOT / ".cache" / "lda"

# Bump when the cache layout or the fitting code changes meaning: old entries then miss.
CACHE_FORMAT = 1
MANIFEST = "manifest.json"


# --------------------------------------------------------------------------------------------
# Tokens


def tokenize(text: str) -> list[str]:
    """Lowercase alphabetic words of 3-20 letters, accents stripped, gensim's stopwords removed.

    ``"Musique concrète, 1948: the Kubrick films"`` -> ``['musique', 'concrete', 'kubrick', 'films']``.
    Stripping accents and lowercasing match BERT's uncased WordPiece normaliser, so a word here
    and its WordPiece token are spelt alike.
    """
    from gensim.parsing.preprocessing import STOPWORDS
    from gensim.utils import simple_preprocess

    return [word for word in simple_preprocess(text, deacc=True, min_len=3, max_len=20) if word not in STOPWORDS]


@dataclass
class Corpus:
    """Tokenised articles over a filtered vocabulary; documents left empty by the filter are dropped.

    articles[d] and tokens[d] describe the same document; ``tokens`` holds vocabulary words only,
    in text order. ``words[i]`` is the word with gensim id ``i``.
    """

    articles: list[Article]
    tokens: list[list[str]]
    words: tuple[str, ...]
    min_doc_count: int
    max_doc_fraction: float

    def __len__(self) -> int:
        return len(self.tokens)

    @cached_property
    def word_ids(self) -> dict[str, int]:
        """Word -> its index in ``words``."""
        return {word: i for i, word in enumerate(self.words)}

    @cached_property
    def bow(self) -> list[list[tuple[int, int]]]:
        """gensim bag of words: per document, sorted (word id, count) pairs."""
        bags = []
        for doc in self.tokens:
            ids, counts = np.unique([self.word_ids[w] for w in doc], return_counts=True)
            bags.append([(int(i), int(c)) for i, c in zip(ids, counts)])
        return bags

    @cached_property
    def lengths(self) -> np.ndarray:
        """(D,) int: vocabulary words per document."""
        return np.array([len(doc) for doc in self.tokens])

    @cached_property
    def word_counts(self) -> np.ndarray:
        """(W,) int: occurrences of each word in the corpus."""
        counts = np.zeros(len(self.words), dtype=np.int64)
        for bag in self.bow:
            for i, c in bag:
                counts[i] += c
        return counts

    def digest(self) -> str:
        """sha256 of the vocabulary and every document: what an LDA fit depends on."""
        h = hashlib.sha256()
        h.update("\x1f".join(self.words).encode())
        for bag in self.bow:
            h.update(np.asarray(bag, dtype=np.int64).tobytes() + b"\x1e")
        return h.hexdigest()


def build_corpus(articles: Sequence[Article], min_doc_count: int = 5, max_doc_fraction: float = 0.1) -> Corpus:
    """Tokenise ``articles`` and keep words in >= ``min_doc_count`` and <= ``max_doc_fraction`` of them."""
    from gensim.corpora import Dictionary

    if len(articles) == 0:
        raise ValueError("articles must hold at least one article, got none")
    check_int("min_doc_count", min_doc_count, 1)
    check_float("max_doc_fraction", max_doc_fraction, 0.0, 1.0, low_open=True)
    tokenized = [tokenize(a.text) for a in articles]
    dictionary = Dictionary(tokenized)
    dictionary.filter_extremes(no_below=min_doc_count, no_above=max_doc_fraction, keep_n=None)
    # Alphabetical ids: the vocabulary, and so the cache key, does not depend on gensim's hashing order.
    words = tuple(sorted(dictionary.token2id))
    kept = set(words)
    pairs = [(a, [w for w in doc if w in kept]) for a, doc in zip(articles, tokenized)]
    pairs = [(a, doc) for a, doc in pairs if doc]
    if not pairs:
        raise ValueError(
            f"no article keeps a word with min_doc_count={min_doc_count}, max_doc_fraction={max_doc_fraction}"
        )
    return Corpus([a for a, _ in pairs], [doc for _, doc in pairs], words, min_doc_count, max_doc_fraction)


def corpus_from_documents(docs: Documents) -> Corpus:
    """Synthetic documents as a :class:`Corpus`, so that :func:`fit_lda` runs on them unchanged.

    Content word ``w`` is spelt ``t<topic>w<index>`` (zero-padded, so alphabetical = id order) and
    keeps its id; every content word is in the vocabulary, seen or not.
    """
    vocab = docs.vocab
    t_width, w_width = len(str(vocab.num_topics - 1)), len(str(vocab.words_per_topic - 1))
    words = tuple(
        f"t{w // vocab.words_per_topic:0{t_width}d}w{w % vocab.words_per_topic:0{w_width}d}"
        for w in range(vocab.num_words)
    )
    tokens = [[words[w] for w in row[:n].tolist()] for row, n in zip(docs.tokens, docs.lengths.tolist())]
    articles = [Article(f"document {d}", " ".join(doc), "", "synthetic") for d, doc in enumerate(tokens)]
    return Corpus(articles, tokens, words, min_doc_count=1, max_doc_fraction=1.0)


# --------------------------------------------------------------------------------------------
# LDA, cached


@dataclass
class TopicModel:
    """A fitted LDA model over a :class:`Corpus`.

    topic_words: (K, W) float64, row k is p(w | topic k).
    doc_topics: (D, K) float64, row d is the posterior mean of document d's proportions theta_d.
    """

    lda: object  # gensim.models.LdaModel
    topic_words: np.ndarray
    doc_topics: np.ndarray
    corpus: Corpus
    path: Path
    from_cache: bool

    @property
    def num_topics(self) -> int:
        """K, the number of topics."""
        return self.topic_words.shape[0]

    def topic_sizes(self) -> np.ndarray:
        """(K,) p(k): the share of the corpus's tokens assigned to each topic."""
        mass = (self.doc_topics * self.corpus.lengths[:, None]).sum(0)
        return mass / mass.sum()

    def word_topics(self) -> np.ndarray:
        """(W, K) p(k | w) = p(w | k) p(k) / p(w): how a word's occurrences split across topics."""
        joint = self.topic_words.T * self.topic_sizes()[None, :]
        return joint / joint.sum(1, keepdims=True)

    def top_words(self, count: int = 10) -> list[list[str]]:
        """The ``count`` most probable words of each topic."""
        check_int("count", count, 1)
        order = np.argsort(-self.topic_words, axis=1, kind="stable")[:, :count]
        return [[self.corpus.words[i] for i in row] for row in order]


def lda_cache_key(corpus: Corpus, **params) -> str:
    """Hex key of a fit: the corpus digest, the fitting parameters and the library versions."""
    import gensim

    description = {
        "format": CACHE_FORMAT,
        "gensim": gensim.__version__,
        "numpy": np.__version__,
        "corpus": corpus.digest(),
        "params": params,
    }
    return hashlib.sha256(json.dumps(description, sort_keys=True).encode()).hexdigest()[:32]


def fit_lda(
    corpus: Corpus,
    num_topics: int,
    passes: int = 50,
    iterations: int = 50,
    seed: int = 0,
    cache_dir: str | Path | None = None,
) -> TopicModel:
    """gensim ``LdaModel`` on ``corpus`` (:class:`fast_lda.BatchedLdaModel`): batch mode, float64, symmetric priors,
    seeded; cached.

    A cache entry whose manifest is missing, unreadable, recorded for other parameters or whose
    files fail their checksums is deleted and refitted (with a warning). Concurrent callers
    (notebooks run in parallel) wait for one fit instead of fitting twice.
    """
    check_int("num_topics", num_topics, 2)
    check_int("passes", passes, 1)
    check_int("iterations", iterations, 1)
    check_seed(seed)
    cache_dir = Path(DEFAULT_CACHE_DIR if cache_dir is None else cache_dir).expanduser().resolve()
    params = {
        "num_topics": num_topics,
        "passes": passes,
        "iterations": iterations,
        "seed": seed,
        "update_every": 0,
        "dtype": "float64",
        "alpha": "symmetric",
        "eta": "symmetric",
        "e_step": "all documents at once",  # fast_lda.BatchedLdaModel; gensim's loop agrees to float64 rounding
    }
    key = lda_cache_key(corpus, **params)
    entry = cache_dir / key
    cache_dir.mkdir(parents=True, exist_ok=True)
    with open(cache_dir / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        problem = _cache_problem(entry, key, params) if entry.exists() else "missing"
        if problem == "":
            try:
                return _load_entry(entry, corpus)
            except Exception as error:  # checksums passed, yet gensim cannot read it: still rebuild
                problem = f"unreadable ({type(error).__name__}: {error})"
        if problem != "missing":
            warnings.warn(f"LDA cache entry {entry} is {problem}; deleting it and refitting", stacklevel=2)
            shutil.rmtree(entry)
        _fit_into(entry, corpus, params)
        model = _load_entry(entry, corpus)
        model.from_cache = False
        return model


def train_lda(corpus: Corpus, num_topics: int, passes: int, iterations: int, seed: int, model_class=BatchedLdaModel):
    """LDA fitted to ``corpus`` as the collection fits it (:func:`fit_lda` caches it): all documents in one chunk per
    pass, symmetric priors, float64; ``model_class`` is :class:`fast_lda.BatchedLdaModel` or gensim's ``LdaModel``
    (the reference it is compared with)."""
    return model_class(
        corpus.bow,
        id2word=dict(enumerate(corpus.words)),
        num_topics=num_topics,
        passes=passes,
        iterations=iterations,
        random_state=seed,
        update_every=0,
        chunksize=len(corpus),
        alpha="symmetric",
        eta="symmetric",
        eval_every=None,
        dtype=np.float64,
    )


def _fit_into(entry: Path, corpus: Corpus, params: dict) -> None:
    """Fit, then write model + document topics + manifest into a temporary folder renamed to ``entry``."""
    lda = train_lda(corpus, params["num_topics"], params["passes"], params["iterations"], params["seed"])
    gamma, _ = lda.inference(corpus.bow)  # (D, K) variational Dirichlet parameters
    doc_topics = gamma / gamma.sum(1, keepdims=True)
    work = Path(tempfile.mkdtemp(prefix=f".{entry.name}.", dir=entry.parent))
    try:
        lda.save(str(work / "lda.gensim"))
        np.save(work / "doc_topics.npy", doc_topics, allow_pickle=False)
        files = {p.name: _sha256(p) for p in sorted(work.iterdir())}
        manifest = {
            "key": entry.name,
            "format": CACHE_FORMAT,
            "params": params,
            "corpus": corpus.digest(),
            "num_documents": len(corpus),
            "files": files,
        }
        (work / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
        os.replace(work, entry)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


def _cache_problem(entry: Path, key: str, params: dict) -> str:
    """'' if ``entry`` is a complete, intact fit for ``key``; else what is wrong with it."""
    try:
        manifest = json.loads((entry / MANIFEST).read_text())
        recorded = (manifest["key"], manifest["format"], manifest["params"])
        files = dict(manifest["files"])
    except (OSError, ValueError, KeyError, TypeError):
        return "corrupted (no readable manifest)"
    if recorded != (key, CACHE_FORMAT, params):
        return "stale (its manifest records another key or parameters)"
    present = {p.name for p in entry.iterdir()} - {MANIFEST}
    if present != set(files):
        return f"corrupted (files {sorted(present ^ set(files))} missing or unexpected)"
    for name, digest in files.items():
        if _sha256(entry / name) != digest:
            return f"corrupted ({name} fails its checksum)"
    return ""


def _load_entry(entry: Path, corpus: Corpus) -> TopicModel:
    from gensim.models import LdaModel

    lda = LdaModel.load(str(entry / "lda.gensim"))
    doc_topics = np.load(entry / "doc_topics.npy", allow_pickle=False)
    topic_words = lda.get_topics().astype(np.float64)
    if doc_topics.shape != (len(corpus), lda.num_topics) or topic_words.shape[1] != len(corpus.words):
        raise ValueError(f"saved shapes {doc_topics.shape}, {topic_words.shape} do not match the corpus")
    return TopicModel(lda, topic_words, doc_topics, corpus, entry, from_cache=True)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# --------------------------------------------------------------------------------------------
# Topic-structured vocabularies for the model of notebooks/topic_structure/THEORY.md §3


@dataclass(frozen=True)
class TopicVocabulary:
    """Confident words laid out as :class:`~topic_structure.data.Vocabulary` expects.

    words[i] is content word i of ``vocab``; it belongs to kept topic ``i // words_per_topic``,
    which is LDA topic ``lda_topics[i // words_per_topic]``.
    """

    vocab: Vocabulary
    words: tuple[str, ...]
    lda_topics: tuple[int, ...]
    min_share: float


def topic_vocabulary(model: TopicModel, words_per_topic: int, min_share: float = 0.8) -> TopicVocabulary:
    """The ``words_per_topic`` most frequent words of each topic among those it owns confidently.

    A word is owned by its top topic when ``max_k p(k | w) >= min_share``. Topics owning fewer than
    ``words_per_topic`` such words are left out (at least two topics must remain).
    """
    check_int("words_per_topic", words_per_topic, 1)
    check_float("min_share", min_share, 0.0, 1.0, low_open=True)
    posterior = model.word_topics()  # (W, K)
    owner, share = posterior.argmax(1), posterior.max(1)
    counts = model.corpus.word_counts
    words, kept = [], []
    for k in range(model.num_topics):
        owned = np.flatnonzero((owner == k) & (share >= min_share))
        if len(owned) < words_per_topic:
            continue
        # Most frequent first (ties alphabetically, i.e. by id): the words the model sees most.
        top = owned[np.lexsort((owned, -counts[owned]))][:words_per_topic]
        words.extend(model.corpus.words[i] for i in top)
        kept.append(k)
    if len(kept) < 2:
        raise ValueError(
            f"only {len(kept)} topic(s) own >= words_per_topic={words_per_topic} words with share >= "
            f"min_share={min_share}; lower words_per_topic or min_share"
        )
    return TopicVocabulary(Vocabulary(len(kept), words_per_topic), tuple(words), tuple(kept), min_share)


def restricted_documents(
    model: TopicModel, topics: TopicVocabulary, min_length: int = 2
) -> tuple[Documents, np.ndarray]:
    """The corpus rewritten over ``topics.words`` only (other words dropped), as padded Documents.

    Documents with fewer than ``min_length`` such words are left out. Returns the documents and
    the (n,) indices of their articles in ``model.corpus``. ``topic_weights`` are the LDA
    proportions of the kept topics, renormalised.
    """
    check_int("min_length", min_length, 1)
    index = {word: i for i, word in enumerate(topics.words)}
    rows, sources = [], []
    for d, doc in enumerate(model.corpus.tokens):
        ids = [index[w] for w in doc if w in index]
        if len(ids) >= min_length:
            rows.append(ids)
            sources.append(d)
    if not rows:
        raise ValueError(f"no document has min_length={min_length} words of the topic vocabulary")
    vocab = topics.vocab
    lengths = np.array([len(r) for r in rows])
    tokens = np.full((len(rows), lengths.max()), vocab.pad_id, dtype=np.int64)
    for i, ids in enumerate(rows):
        tokens[i, : len(ids)] = ids
    weights = model.doc_topics[np.ix_(sources, topics.lda_topics)]
    weights = weights / weights.sum(1, keepdims=True)
    docs = Documents(torch.from_numpy(tokens), torch.from_numpy(lengths), torch.from_numpy(weights).float(), vocab)
    return docs, np.array(sources)


def top_topic_share(topic_words: np.ndarray, topic_sizes: np.ndarray) -> np.ndarray:
    """(W,) ``s(w) = max_k p(k | w)`` from ``p(w | k)`` (K, W) and ``p(k)`` (K,): the top topic's share of a word.

    1 for a word of disjoint topics, ``1/K`` for a word spread evenly over K topics (notebook 06, A1).
    """
    joint = topic_words * topic_sizes[:, None]  # p(w, k), (K, W)
    return (joint / joint.sum(0, keepdims=True)).max(0)


def effective_support(doc_topics: np.ndarray, topic_words: np.ndarray) -> np.ndarray:
    """(D,) ``e^{H(p_d)}``: the number of words document d's topic mixture ``p_d = theta_d beta`` spreads over.

    doc_topics: (D, K) theta; topic_words: (K, W) beta. For an equal mixture of tau disjoint topics of
    v words it is exactly tau v.
    """
    p = doc_topics @ topic_words  # (D, W)
    return np.exp(-(p * np.log(np.where(p > 0, p, 1.0))).sum(1))
