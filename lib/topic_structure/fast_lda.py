"""gensim's batch LDA with its E-step run for every document of a chunk at once: the same fit, faster.

:class:`BatchedLdaModel` is ``gensim.models.LdaModel`` with :meth:`BatchedLdaModel.inference` rewritten: gensim
updates one document at a time (a Python loop of small numpy calls per document and iteration, which is most of the
fitting time); here each iteration updates every document that has not converged yet with a few sparse products:

- ``phinorm[d, w] = expElogtheta[d] . expElogbeta[:, w] + eps`` at the document's words (a product sampled at the
  documents' words);
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

import warnings

import numpy as np
import scipy.sparse
import torch
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
        beta = np.ascontiguousarray(self.expElogbeta)  # (K, W)
        beta_t = np.ascontiguousarray(beta.T)  # (W, K)
        epsilon = np.finfo(self.dtype).eps
        phinorm = np.empty(len(pairs), dtype=self.dtype)
        active = np.arange(documents)
        phinorm[:] = self._phinorm(expElogtheta, lengths, ids, beta) + epsilon
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
            phinorm[positions] = self._phinorm(exp_updated, lengths[active], ids[positions], beta) + epsilon
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
    def _phinorm(exp_theta: np.ndarray, lengths: np.ndarray, ids: np.ndarray, beta: np.ndarray) -> np.ndarray:
        """``exp_theta[d] . beta[:, w]`` at each (document, word) of a CSR pattern (rows = documents in order,
        ``lengths`` words each, columns ``ids``): a product sampled at the pattern (torch's ``sampled_addmm``), which
        never gathers a (pairs, K) array of rows."""
        indptr = torch.from_numpy(np.concatenate([[0], np.cumsum(lengths)]))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # torch's note that sparse CSR tensors are in beta
            pattern = torch.sparse_csr_tensor(
                indptr,
                torch.from_numpy(ids),
                torch.zeros(len(ids), dtype=torch.float64),
                size=(len(lengths), beta.shape[1]),
                check_invariants=False,
            )
            product = torch.sparse.sampled_addmm(pattern, torch.from_numpy(exp_theta), torch.from_numpy(beta), beta=0.0)
        return product.values().numpy()


def _rows(active: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The positions in the chunk's (document, word) arrays of the documents ``active``, and their CSR indptr."""
    sizes = lengths[active]
    indptr = np.concatenate([[0], np.cumsum(sizes)])
    positions = np.arange(indptr[-1]) - np.repeat(indptr[:-1], sizes) + np.repeat(starts[active], sizes)
    return positions, indptr
