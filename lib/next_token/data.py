"""Next-token datasets: token embeddings E, sequences tok whose last entry is the query, labels y.

A dataset is the triple (E, tok, y) of the paper's setting:
  E   (K, d) float64  token embeddings, row k is x_k
  tok (n, T) int64    token ids of each sequence; tok[i, -1] is the query token k_i (it is part of the sequence)
  y   (n,)   int64    the next token of each sequence; realizability (A2) asks that y_i occurs in tok_i

The generator follows the data classes of the authors' public code (github.com/yixiao-huang/next-token-prediction,
`data_utils.data_generator` / `next_data`), re-implemented with a numpy seed so that every dataset is reproducible.
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from next_token.graphs import token_priority_graphs

DATA_CLASSES = ("cyclic", "acyclic")
EMBEDDINGS = ("gaussian", "orthonormal")


class DatasetError(ValueError):
    """A dataset that violates the setting (shapes, token ids, realizability); the message names the sample."""


class EmbeddingRankWarning(UserWarning):
    """The token embeddings are linearly dependent, so assumption (A3) of the structure results is lost."""


@dataclass(frozen=True)
class Dataset:
    """A validated next-token dataset.

    Attributes:
        E: (K, d) float64 token embeddings.
        tok: (n, T) int64 token ids; the last column holds the query tokens.
        y: (n,) int64 labels.
        meta: free-form provenance (generator arguments, file name).
    """

    E: np.ndarray
    tok: np.ndarray
    y: np.ndarray
    meta: dict = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        E, tok, y = validate_arrays(self.E, self.tok, self.y)
        object.__setattr__(self, "E", E)
        object.__setattr__(self, "tok", tok)
        object.__setattr__(self, "y", y)

    @property
    def n(self) -> int:
        """Number of samples."""
        return self.tok.shape[0]

    @property
    def T(self) -> int:  # noqa: N802 - the paper's symbol
        """Sequence length."""
        return self.tok.shape[1]

    @property
    def K(self) -> int:  # noqa: N802
        """Vocabulary size."""
        return self.E.shape[0]

    @property
    def d(self) -> int:
        """Embedding dimension."""
        return self.E.shape[1]

    @property
    def query(self) -> np.ndarray:
        """(n,) query token of each sample: the last token of its sequence."""
        return self.tok[:, -1]

    @property
    def label_mask(self) -> np.ndarray:
        """(n, T) bool: positions holding the label of their sample."""
        return self.tok == self.y[:, None]

    def embeddings_independent(self, rtol: float = 1e-10) -> bool:
        """Whether the K embeddings are linearly independent (assumption A3)."""
        return embedding_rank(self.E, rtol) == self.K


def embedding_rank(E: np.ndarray, rtol: float = 1e-10) -> int:
    """Numerical rank of the (K, d) embedding matrix, singular values relative to the largest."""
    s = np.linalg.svd(np.asarray(E, dtype=np.float64), compute_uv=False)
    return int(np.sum(s > rtol * max(s[0], 1e-300))) if s.size else 0


def _as_int_rows(tok, name: str) -> np.ndarray:
    """Token rows as a 2-D int64 array; ragged rows and non-integer entries are refused with the sample named."""
    if isinstance(tok, np.ndarray) and tok.ndim == 2:
        rows = tok
    else:
        rows = list(tok)
        if not rows:
            raise DatasetError(f"{name}: no samples")
        lengths = [len(r) if hasattr(r, "__len__") else -1 for r in rows]
        if lengths[0] <= 0:
            raise DatasetError(f"{name}: sample 0 is not a non-empty sequence of token ids")
        for i, length in enumerate(lengths):
            if length != lengths[0]:
                raise DatasetError(f"{name}: ragged rows - sample {i} has length {length}, sample 0 has {lengths[0]}")
    arr = np.asarray(rows)
    if arr.dtype == bool or arr.dtype.kind not in "iuf":
        raise DatasetError(f"{name}: token ids must be integers, got dtype {arr.dtype}")
    if arr.dtype.kind == "f":
        bad = np.argwhere(~np.isfinite(arr) | (arr != np.round(arr)))
        if bad.size:
            i = int(bad[0][0])
            raise DatasetError(f"{name}: sample {i} holds a non-integer token id {arr[tuple(bad[0])]!r}")
    return arr.astype(np.int64)


def validate_arrays(E, tok, y) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Check (E, tok, y) against the setting and return them as float64 / int64 arrays.

    Raises DatasetError naming the sample for: ragged or empty rows, non-integer ids, ids outside [0, K),
    a label count different from n, and a label absent from its own sequence (realizability, A2).
    Warns EmbeddingRankWarning when the embeddings are linearly dependent (K > d or rank-deficient).
    """
    E = np.asarray(E, dtype=np.float64)
    if E.ndim != 2 or E.shape[0] < 1 or E.shape[1] < 1:
        raise DatasetError(f"E must be a non-empty (K, d) matrix, got shape {E.shape}")
    if not np.all(np.isfinite(E)):
        raise DatasetError("E holds non-finite entries")
    K = E.shape[0]
    tok = _as_int_rows(tok, "tok")
    if tok.ndim != 2 or tok.shape[1] < 1:
        raise DatasetError(f"tok must be (n, T) with T >= 1, got shape {tok.shape}")
    y_arr = np.asarray(y)
    if y_arr.ndim != 1:
        raise DatasetError(f"y must be a flat list of n labels, got shape {y_arr.shape}")
    if y_arr.shape[0] != tok.shape[0]:
        raise DatasetError(f"y has {y_arr.shape[0]} labels but tok has {tok.shape[0]} samples")
    y_arr = _as_int_rows(y_arr[:, None], "y")[:, 0]
    bad = np.argwhere((tok < 0) | (tok >= K))
    if bad.size:
        i, t = (int(v) for v in bad[0])
        raise DatasetError(f"sample {i}: token id {tok[i, t]} at position {t} is outside [0, K) with K = {K}")
    bad_y = np.flatnonzero((y_arr < 0) | (y_arr >= K))
    if bad_y.size:
        i = int(bad_y[0])
        raise DatasetError(f"sample {i}: label {y_arr[i]} is outside [0, K) with K = {K}")
    absent = np.flatnonzero(~np.any(tok == y_arr[:, None], axis=1))
    if absent.size:
        i = int(absent[0])
        raise DatasetError(
            f"sample {i}: label {y_arr[i]} does not occur in its sequence {tok[i].tolist()} "
            f"(realizability A2 violated; {absent.size} sample(s) in all)"
        )
    rank = embedding_rank(E)
    if rank < K:
        warnings.warn(
            f"the {K} token embeddings are linearly dependent (rank {rank}, d = {E.shape[1]}): assumption A3 is lost, "
            "so the Graph-SVM may be infeasible, W^fin may not be unique, and the TPG order need not be realisable "
            "by any W",
            EmbeddingRankWarning,
            stacklevel=3,
        )
    return E, tok, y_arr


# ----------------------------------------------------------------------------------------------------------------
# generator


def make_embeddings(vocab_size: int, embed_dim: int, kind: str, rng: np.random.Generator) -> np.ndarray:
    """(K, d) embeddings: 'gaussian' = unit-norm Gaussian rows, 'orthonormal' = K orthonormal rows (K <= d)."""
    if kind == "gaussian":
        E = rng.standard_normal((vocab_size, embed_dim))
        return E / np.linalg.norm(E, axis=1, keepdims=True)
    if kind == "orthonormal":
        if vocab_size > embed_dim:
            raise ValueError(f"orthonormal embeddings need vocab_size <= embed_dim, got {vocab_size} > {embed_dim}")
        Q, R = np.linalg.qr(rng.standard_normal((embed_dim, embed_dim)))
        Q = Q * np.sign(np.diag(R))  # a Haar-distributed orthogonal matrix
        return np.ascontiguousarray(Q[:vocab_size])
    raise ValueError(f"embeddings must be one of {EMBEDDINGS}, got {kind!r}")


def sample_sequences(num_samples: int, seq_len: int, vocab_size: int, repeats: bool, rng: np.random.Generator):
    """(n, T) token ids and (n,) realizable labels, as in the public code.

    repeats=False: each sequence holds T distinct tokens (T <= K). repeats=True: tokens drawn with replacement;
    when T > K the public code's construction is used (all K tokens in random order, then T - K drawn with
    replacement), so every token occurs. Labels are uniform over the vocabulary and, when absent from the
    sequence, replaced by the token at a uniformly random position (the code's `check_label`).
    """
    n, T, K = num_samples, seq_len, vocab_size
    if not repeats:
        if T > K:
            raise ValueError(f"distinct tokens (repeats=False) need seq_len <= vocab_size, got {T} > {K}")
        tok = np.argsort(rng.random((n, K)), axis=1)[:, :T]
    elif T > K:
        head = np.argsort(rng.random((n, K)), axis=1)
        tok = np.concatenate([head, rng.integers(0, K, size=(n, T - K))], axis=1)
    else:
        tok = rng.integers(0, K, size=(n, T))
    y = rng.integers(0, K, size=n)
    absent = ~np.any(tok == y[:, None], axis=1)
    positions = rng.integers(0, T, size=n)
    y = np.where(absent, tok[np.arange(n), positions], y)
    return tok.astype(np.int64), y.astype(np.int64)


def generate_dataset(
    num_samples: int,
    seq_len: int,
    vocab_size: int,
    embed_dim: int,
    data_class: str = "cyclic",
    embeddings: str = "gaussian",
    repeats: bool = False,
    seed: int = 0,
    max_tries: int = 10_000,
) -> Dataset:
    """Draw a dataset of the given class by rejection, as the public code does, from one numpy seed.

    data_class='cyclic': some token-priority graph has an SCC of size >= 2; 'acyclic': every SCC is a singleton.
    Raises ValueError when no draw of the class is found in max_tries (for example acyclic data with many samples
    per query token).
    """
    if data_class not in DATA_CLASSES:
        raise ValueError(f"data_class must be one of {DATA_CLASSES}, got {data_class!r}")
    rng = np.random.default_rng(seed)
    E = make_embeddings(vocab_size, embed_dim, embeddings, rng)
    for attempt in range(max_tries):
        tok, y = sample_sequences(num_samples, seq_len, vocab_size, repeats, rng)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", EmbeddingRankWarning)
            ds = Dataset(E, tok, y)
        cyclic = token_priority_graphs(ds).is_cyclic
        if cyclic == (data_class == "cyclic"):
            meta = dict(num_samples=num_samples, seq_len=seq_len, vocab_size=vocab_size, embed_dim=embed_dim)
            meta.update(data_class=data_class, embeddings=embeddings, repeats=repeats, seed=seed, draws=attempt + 1)
            return Dataset(ds.E, ds.tok, ds.y, meta=meta)
    raise ValueError(
        f"no {data_class} dataset with n={num_samples}, T={seq_len}, K={vocab_size}, repeats={repeats} "
        f"in {max_tries} draws (seed {seed})"
    )


# ----------------------------------------------------------------------------------------------------------------
# files


def save_dataset(ds: Dataset, path: str | Path) -> Path:
    """Write the dataset as JSON with keys E (K x d), tok (n x T), y (n) and meta."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"E": ds.E.tolist(), "tok": ds.tok.tolist(), "y": ds.y.tolist(), "meta": ds.meta}
    path.write_text(json.dumps(payload))
    return path


def load_dataset(path: str | Path) -> Dataset:
    """Read and validate a JSON dataset file: an object with keys E (K rows of d finite numbers), tok (n rows of T
    integer token ids, the last one the query), y (n integer labels) and an optional meta object.

    The one reader of dataset files: the parameter rule ``next_token.params.check_dataset_file`` calls it before
    any kernel starts and the notebooks load their dataset with it, so the two cannot disagree. Raises DatasetError
    whose message starts with the file and names the fault (not JSON, not an object, a missing key, a ragged or
    non-numeric row, a float or boolean token, a non-finite embedding, a token or label outside [0, K), a label
    absent from its sequence).
    """
    path = Path(path)
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        raise DatasetError(f"{path}: cannot be read ({err})") from err
    except json.JSONDecodeError as err:
        raise DatasetError(f"{path}: not JSON ({err})") from err
    try:
        if not isinstance(payload, dict):
            raise DatasetError(f"a JSON {type(payload).__name__} where an object with keys E, tok, y is expected")
        missing = [key for key in ("E", "tok", "y") if key not in payload]
        if missing:
            raise DatasetError(f"missing key(s) {missing} (a dataset file holds E, tok and y)")
        E = np.array(_json_rows(payload["E"], "E", integer=False), dtype=np.float64)
        tok = np.array(_json_rows(payload["tok"], "tok", integer=True), dtype=np.int64)
        y = np.array(_json_rows([payload["y"]], "y", integer=True)[0], dtype=np.int64)
        if not isinstance(payload.get("meta", {}), dict):
            raise DatasetError("meta must be a JSON object")
        meta = {**payload.get("meta", {}), "file": str(path)}
        return Dataset(E, tok, y, meta=meta)
    except DatasetError as err:
        raise DatasetError(f"{path}: {err}") from None


def _json_rows(rows, name: str, integer: bool) -> list[list]:
    """A JSON matrix as a list of equal-length rows of numbers: integers only (not floats, not booleans) when
    ``integer``, else finite numbers. Raises DatasetError naming the first bad row or entry."""
    if not isinstance(rows, list) or not rows:
        raise DatasetError(f"{name} must be a non-empty list, got {_shown(rows)}")
    for i, row in enumerate(rows):
        where = name if name == "y" else f"{name}[{i}]"
        if not isinstance(row, list) or not row:
            raise DatasetError(f"{where} must be a non-empty list of numbers, got {_shown(row)}")
        if len(row) != len(rows[0]):
            raise DatasetError(f"{name} has ragged rows: row {i} has {len(row)} entries, row 0 has {len(rows[0])}")
        for j, value in enumerate(row):
            what = "label" if name == "y" else "token id"
            if integer and not (isinstance(value, int) and not isinstance(value, bool)):
                raise DatasetError(f"{where}[{j}] = {_shown(value)} is not an integer {what}")
            finite = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
            if not integer and not finite:
                raise DatasetError(f"{where}[{j}] = {_shown(value)} is not a finite number")
    return rows


def _shown(value) -> str:
    """A JSON value for a one-line message (long values cut)."""
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def dataset_from_params(P) -> Dataset:
    """The dataset a notebook works on: the file P.dataset_file when given, else the generator with P's sizes.

    P is a resolved parameter namespace with the paper's standard names (see next_token.params).
    """
    if getattr(P, "dataset_file", None):
        return load_dataset(P.dataset_file)
    return generate_dataset(
        P.num_samples,
        P.seq_len,
        P.vocab_size,
        P.embed_dim,
        P.data_class,
        P.embeddings,
        P.repeats,
        P.seed,
        max_tries=10_000,
    )


def experiment_datasets(P) -> list[Dataset]:
    """The datasets a training notebook studies, from its resolved parameters P: the one dataset of P.dataset_file,
    or P.num_datasets generated ones (dataset j drawn with seed P.seed + j)."""
    if P.dataset_file:
        return [load_dataset(P.dataset_file)]
    return [
        generate_dataset(
            P.num_samples, P.seq_len, P.vocab_size, P.embed_dim, P.data_class, P.embeddings, P.repeats, seed=P.seed + j
        )
        for j in range(P.num_datasets)
    ]


def describe_dataset(ds: Dataset, P) -> str:
    """One line for the reader: the sizes n, T, K, d, where the dataset comes from (P.dataset_file or the generator
    with P.seed) and whether its embeddings are linearly independent (A3)."""
    source = f"file {P.dataset_file}" if getattr(P, "dataset_file", None) else f"generator, seed {P.seed}"
    return (
        f"n = {ds.n}, T = {ds.T}, K = {ds.K}, d = {ds.d} ({source}); "
        f"embeddings independent: {ds.embeddings_independent()}"
    )
