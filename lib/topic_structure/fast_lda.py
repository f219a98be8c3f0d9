"""gensim's batch LDA with its E-step run for every document of a chunk at once: the same fit, faster.

:class:`BatchedLdaModel` is ``gensim.models.LdaModel`` with :meth:`BatchedLdaModel.inference` rewritten: gensim
updates one document at a time (a Python loop of small numpy calls per document and iteration, which is most of the
fitting time); here each iteration updates every document that has not converged yet with a few sparse products:

- ``phinorm[d, w] = expElogtheta[d] . expElogbeta[:, w] + eps`` at the document's words (a sampled product, in
  cache-sized blocks);
- ``gamma[d] = alpha + expElogtheta[d] * (cts[d] / phinorm[d]) @ expElogbeta[:, ids].T`` (sparse times dense);
- ``Elogtheta[d] = dirichlet_expectation(gamma[d])`` with gensim's own digamma (its row-wise 2-d routine computes
  each row exactly as its 1-d routine does), and the convergence test ``mean |gamma - last gamma| <
  gamma_threshold`` summed in order, as gensim's routine sums it;
- the sufficient statistics ``sum_d outer(expElogtheta[d], cts[d] / phinorm[d])`` as one sparse product.

Same random draws (one ``gamma`` initialisation per call), same updates, same stopping rule per document; only the
order of the floating-point sums inside the products differs, so the fit equals gensim's up to float64 rounding
(tested against gensim).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse
from gensim.matutils import dirichlet_expectation
from gensim.models import LdaModel


class BatchedLdaModel(LdaModel):
    """``gensim.models.LdaModel`` whose E-step updates all documents of a chunk together (module docstring)."""

    def inference(self, chunk, collect_sstats=False):
        """gensim's :meth:`LdaModel.inference`: ``(gamma (D, K), sstats (K, W) or None)`` for ``chunk`` (a list of
        bag-of-words documents); the same draws, updates and stopping rule, all documents at once."""
        chunk = list(chunk)
        documents, topics = len(chunk), self.num_topics
        gamma = self.random_state.gamma(100.0, 1.0 / 100.0, (documents, topics)).astype(self.dtype, copy=False)
        expElogtheta = np.exp(dirichlet_expectation(gamma))
        lengths = np.fromiter((len(doc) for doc in chunk), dtype=np.int64, count=documents)
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        pairs = [pair for doc in chunk for pair in doc]
        ids = np.fromiter((int(i) for i, _ in pairs), dtype=np.int64, count=len(pairs))
        counts = np.fromiter((c for _, c in pairs), dtype=self.dtype, count=len(pairs))
        beta_t = np.ascontiguousarray(self.expElogbeta.T)  # (W, K)
        epsilon = np.finfo(self.dtype).eps
        phinorm = np.empty(len(pairs), dtype=self.dtype)
        active = np.arange(documents)
        phinorm[:] = self._phinorm(expElogtheta, lengths, ids, beta_t) + epsilon
        converged = 0
        for _ in range(self.iterations):
            if len(active) == 0:
                break
            positions, indptr = _rows(active, starts, lengths)
            words = scipy.sparse.csr_matrix(
                (counts[positions] / phinorm[positions], ids[positions], indptr), shape=(len(active), beta_t.shape[0])
            )
            last = gamma[active]
            updated = self.alpha + expElogtheta[active] * (words @ beta_t)
            exp_updated = np.exp(dirichlet_expectation(updated))
            phinorm[positions] = self._phinorm(exp_updated, lengths[active], ids[positions], beta_t) + epsilon
            # gensim's mean_absolute_difference adds |a - b| left to right, then divides
            change = np.cumsum(np.abs(updated - last), axis=1)[:, -1] / topics
            gamma[active], expElogtheta[active] = updated, exp_updated
            done = change < self.gamma_threshold
            converged += int(done.sum())
            active = active[~done]
        sstats = None
        if collect_sstats:
            words = scipy.sparse.csr_matrix(
                (counts / phinorm, ids, np.concatenate([starts, [len(pairs)]])),
                shape=(documents, self.expElogbeta.shape[1]),
            )
            sstats = np.ascontiguousarray((words.T @ expElogtheta).T) * self.expElogbeta
        return gamma, sstats

    @staticmethod
    def _phinorm(exp_theta: np.ndarray, lengths: np.ndarray, ids: np.ndarray, beta_t: np.ndarray) -> np.ndarray:
        """``exp_theta[d] . beta_t[w]`` at each (document, word) of a CSR pattern (rows = documents in order), in
        blocks small enough for the cache: the gathered rows of a whole chunk would be hundreds of megabytes."""
        rows = np.repeat(np.arange(len(lengths)), lengths)
        out = np.empty(len(ids), dtype=exp_theta.dtype)
        block = max(1, _BLOCK_ELEMENTS // exp_theta.shape[1])
        theta_rows = np.empty((block, exp_theta.shape[1]), dtype=exp_theta.dtype)
        beta_rows = np.empty_like(theta_rows)
        for start in range(0, len(ids), block):
            end = min(start + block, len(ids))
            n = end - start
            np.take(exp_theta, rows[start:end], axis=0, out=theta_rows[:n])
            np.take(beta_t, ids[start:end], axis=0, out=beta_rows[:n])
            np.einsum("ij,ij->i", theta_rows[:n], beta_rows[:n], out=out[start:end])
        return out


_BLOCK_ELEMENTS = 1 << 17  # 1 MiB of float64 per gathered block


def _rows(active: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The positions in the chunk's (document, word) arrays of the documents ``active``, and their CSR indptr."""
    sizes = lengths[active]
    indptr = np.concatenate([[0], np.cumsum(sizes)])
    positions = np.arange(indptr[-1]) - np.repeat(indptr[:-1], sizes) + np.repeat(starts[active], sizes)
    return positions, indptr
