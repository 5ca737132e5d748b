"""Organic choice: low-rank taste, genre momentum, a popularity prior, last-item transitions.

The next item a user picks on their own is a softmax over the items they have not rated,

    logit_j = a * (profile . V_j) + c * (exposure . G_j) + b * log(1 + pop_j)
              + t * log(1 + T[last, j])

with ``V`` the item factors of a truncated SVD of the (popularity-normalised) user-item
matrix of the world's users, ``profile`` the ``lam``-decayed mean of the history's factors,
``exposure`` the ``delta``-decayed genre distribution of the history and ``G_j`` item
``j``'s genre distribution, ``T`` the counts of consecutive training pairs of the world's
users and ``last`` the last watched item. ``(a, c, b, t)`` maximise the softmax likelihood
of the logged next item (Newton's method; the problem is concave in them), ``lam`` and
``delta`` are chosen on a grid by the same likelihood. ``c > 0`` is momentum, ``c < 0``
boredom. While fitting, a target's own pair and own rating are taken out of ``T`` and
``pop`` (leave-one-out), so the counts do not predict the very transitions they count.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray
from scipy.sparse.linalg import svds

from movierec_env.data.types import PreparedDataset
from movierec_env.metrics import history_mask
from movierec_env.sim.features import (
    decayed_sum,
    genre_rows,
    normalise_rows,
    training_interactions,
    training_targets,
)

__all__ = [
    "FEATURES",
    "PreferenceInputs",
    "PreferenceTables",
    "fit_coefficients",
    "item_factors",
    "popularity_counts",
    "row_log_likelihood",
    "states_at",
    "transition_counts",
]

#: Feature order of the coefficient vector ``w = (a, c, b, t)``.
FEATURES = ("factors", "momentum", "popularity", "transition")
_K = len(FEATURES)


def item_factors(
    data: PreparedDataset, users: NDArray[np.int64], dim: int, seed: int
) -> NDArray[np.float64]:
    """Item factors ``V`` (``(n_items + 1, dim)``, row 0 zero) from the users' training data.

    The binary user-item matrix has its columns divided by ``sqrt(pop)`` so the factors
    describe taste rather than popularity (popularity has its own term).
    """
    idx = training_interactions(data, users)
    rows = np.searchsorted(users, data.user_index[idx])
    m = data.n_items + 1
    x = sp.csr_matrix((np.ones(idx.size), (rows, data.items[idx])), shape=(users.size, m))
    x.data[:] = 1.0
    pop = np.asarray(x.sum(axis=0)).ravel()
    x = x @ sp.diags(1.0 / np.sqrt(np.maximum(pop, 1.0)))
    k = int(min(dim, min(x.shape) - 1))
    if k < 1:
        return np.zeros((m, 1))
    v0 = np.random.default_rng(seed).random(min(x.shape))
    _, _, vt = svds(x.astype(np.float64), k=k, v0=v0)
    v = vt.T[:, ::-1].copy()
    v[0] = 0.0
    # Unit-norm rows: the profile term is a mean cosine-like similarity.
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    return np.divide(v, norms, out=np.zeros_like(v), where=norms > 0)


def popularity_counts(data: PreparedDataset, users: NDArray[np.int64]) -> NDArray[np.float64]:
    """Training interaction count per item over the users' training interactions."""
    idx = training_interactions(data, users)
    pop = np.bincount(data.items[idx], minlength=data.n_items + 1).astype(np.float64)
    pop[0] = 0.0
    return pop


def transition_counts(data: PreparedDataset, users: NDArray[np.int64]) -> sp.csr_matrix:
    """Counts of consecutive training pairs ``prev -> next`` of the users, CSR."""
    idx = training_targets(data, users)
    m = data.n_items + 1
    mat = sp.csr_matrix((np.ones(idx.size), (data.items[idx - 1], data.items[idx])), shape=(m, m))
    mat.sum_duplicates()
    mat.sort_indices()
    return mat


@dataclass
class PreferenceTables:
    """Item-side inputs of the choice model (counts are raw, ``log1p`` is taken later)."""

    factors: NDArray[np.float64]
    genres: NDArray[np.float64]
    pop: NDArray[np.float64]
    trans: sp.csr_matrix


@dataclass
class PreferenceInputs:
    """History states at a set of target positions (exclusive of the target).

    ``in_sample`` says the targets' own pairs and ratings are inside the tables' counts
    (the fitting sample): they are then taken out of the target's features.
    """

    positions: NDArray[np.int64]
    targets: NDArray[np.int64]
    profile: NDArray[np.float64]
    exposure: NDArray[np.float64]
    last: NDArray[np.int64]
    in_sample: bool = False


def states_at(
    data: PreparedDataset,
    positions: NDArray[np.int64],
    factors: NDArray[np.float64],
    lam: float,
    delta: float,
    in_sample: bool = False,
) -> PreferenceInputs:
    """Decayed profile, genre exposure and last item of the history before each position.

    Every position must have at least one earlier interaction of its user.
    """
    g = np.asarray(positions, dtype=np.int64)
    # Recurrences over each user's sequence up to the largest position needed.
    prof = decayed_sum(data.offsets, factors[data.items], lam)
    wts = decayed_sum(data.offsets, np.ones(data.n_interactions), lam)
    expo = decayed_sum(data.offsets, genre_rows(data)[data.items], delta)
    profile = prof[g - 1] / wts[g - 1][:, None]
    return PreferenceInputs(
        g, data.items[g], profile, normalise_rows(expo[g - 1]), data.items[g - 1], in_sample
    )


def _chunks(n: int, n_items: int) -> Iterator[slice]:
    size = max(16, int(2_000_000 // max(n_items + 1, 1)))
    for s in range(0, n, size):
        yield slice(s, min(n, s + size))


def _features(inp: PreferenceInputs, sl: slice, tab: PreferenceTables) -> NDArray[np.float64]:
    m = sl.stop - sl.start
    rows, tgt, last = np.arange(m), inp.targets[sl], inp.last[sl]
    f = np.zeros((m, tab.factors.shape[0], _K))
    f[:, :, 0] = inp.profile[sl] @ tab.factors.T
    f[:, :, 1] = inp.exposure[sl] @ tab.genres.T
    f[:, :, 2] = np.log1p(tab.pop)[None, :]
    sub = tab.trans[last]
    f[np.repeat(rows, np.diff(sub.indptr)), sub.indices, 3] = np.log1p(sub.data)
    if inp.in_sample:  # leave-one-out: the target's own rating and pair are not evidence
        f[rows, tgt, 2] = np.log1p(np.maximum(tab.pop[tgt] - 1.0, 0.0))
        own = np.asarray(tab.trans[last, tgt]).ravel()
        f[rows, tgt, 3] = np.log1p(np.maximum(own - 1.0, 0.0))
    return f


#: One chunk of a precomputed design: features ``(m, n + 1, K)`` float32, the ineligible
#: mask ``(m, n + 1)`` and the targets ``(m,)``.
_Chunk = tuple[NDArray[np.float32], NDArray[np.bool_], NDArray[np.int64]]


def _design(data: PreparedDataset, inp: PreferenceInputs, tables: PreferenceTables) -> list[_Chunk]:
    """Features and masks of every chunk, computed once for all Newton iterations."""
    out = []
    for sl in _chunks(inp.positions.size, data.n_items):
        mask = history_mask(data, inp.positions[sl])
        mask[:, 0] = True
        tgt = inp.targets[sl]
        mask[np.arange(tgt.size), tgt] = False  # the target is always eligible
        out.append((_features(inp, sl, tables).astype(np.float32), mask, tgt))
    return out


def _pass(
    design: list[_Chunk], w: NDArray[np.float64]
) -> tuple[float, NDArray[np.float64], NDArray[np.float64]]:
    """Log-likelihood sum, gradient and Hessian of the softmax over eligible items."""
    ll, grad, hess = 0.0, np.zeros(_K), np.zeros((_K, _K))
    w32 = w.astype(np.float32)
    for f, mask, tgt in design:
        rows = np.arange(f.shape[0])
        logit = (f @ w32).astype(np.float64)
        logit[mask] = -np.inf
        mx = logit.max(axis=1, keepdims=True)
        p = np.exp(logit - mx)
        z = p.sum(axis=1, keepdims=True)
        p /= z
        ll += float((logit[rows, tgt] - mx[:, 0] - np.log(z[:, 0])).sum())
        pf = f * p[:, :, None].astype(np.float32)
        ef = pf.sum(axis=1, dtype=np.float64)
        grad += (f[rows, tgt] - ef).sum(axis=0)
        eff = np.tensordot(pf, f, axes=([0, 1], [0, 1])).astype(np.float64)
        hess -= eff - ef.T @ ef
    return ll, grad, hess


def fit_coefficients(
    data: PreparedDataset,
    inp: PreferenceInputs,
    tables: PreferenceTables,
    free: tuple[bool, ...] = (True,) * _K,
    iters: int = 12,
) -> tuple[NDArray[np.float64], float]:
    """Maximise the mean next-item log-likelihood over the free coefficients (Newton).

    Returns:
        ``(w, mean log-likelihood)``; fixed coefficients stay 0.
    """
    design = _design(data, inp, tables)
    on = np.array(free, dtype=bool)
    w = np.where(on, np.array([1.0, 0.0, 0.5, 0.0]), 0.0)
    ll, grad, hess = _pass(design, w)
    for _ in range(iters):
        h = hess[np.ix_(on, on)] - 1e-6 * np.eye(int(on.sum()))
        step = np.zeros(_K)
        step[on] = -np.linalg.solve(h, grad[on])
        t = 1.0
        while t > 1e-3:
            cand = w + t * step
            new = _pass(design, cand)
            if new[0] >= ll - 1e-9:
                break
            t /= 2.0
        else:
            break
        gain = new[0] - ll
        w, (ll, grad, hess) = cand, new
        if gain < 1e-6 * max(1.0, abs(ll)):
            break
    return w, ll / max(inp.positions.size, 1)


def row_log_likelihood(
    data: PreparedDataset,
    inp: PreferenceInputs,
    tables: PreferenceTables,
    w: NDArray[np.float64],
) -> NDArray[np.float64]:
    """Next-item log-likelihood of coefficients ``w`` at each of the inputs' targets."""
    out = np.empty(inp.positions.size)
    for sl in _chunks(inp.positions.size, data.n_items):
        f = _features(inp, sl, tables)
        logit = f @ np.asarray(w, dtype=np.float64)
        mask = history_mask(data, inp.positions[sl])
        mask[:, 0] = True
        rows = np.arange(f.shape[0])
        tgt = inp.targets[sl]
        mask[rows, tgt] = False
        logit[mask] = -np.inf
        mx = logit.max(axis=1)
        lse = mx + np.log(np.exp(logit - mx[:, None]).sum(axis=1))
        out[sl] = logit[rows, tgt] - lse
    return out
