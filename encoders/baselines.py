"""Non-learned reference scorers: most popular and first-order Markov.

Both are fitted on TRAINING interactions only (PROTOCOL.md) and score every item for a
batch of target positions, shape ``(B, n_items + 1)`` with column 0 (padding) at ``-inf``.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from movierec_env.data.types import PreparedDataset

__all__ = ["markov_scores", "markov_scores_after", "popularity_scores", "transition_counts"]

_TRANSITIONS: dict[str, sp.csr_matrix] = {}


def popularity_scores(data: PreparedDataset, positions: NDArray[np.integer]) -> NDArray[np.float32]:
    """Training interaction count of every item, the same row for every position."""
    positions = np.asarray(positions, dtype=np.int64)
    row = data.popularity.astype(np.float32)
    out = np.broadcast_to(row, (positions.size, row.size)).copy()
    out[:, 0] = -np.inf
    return out


def transition_counts(data: PreparedDataset) -> sp.csr_matrix:
    """Counts of ``previous item -> next item`` over consecutive training interactions.

    Memoised per dataset fingerprint. Shape ``(n_items + 1, n_items + 1)``.
    """
    cached = _TRANSITIONS.get(data.fingerprint)
    if cached is not None:
        return cached
    n = data.n_interactions
    nxt = np.arange(1, n, dtype=np.int64)
    train_end_of = np.repeat(data.train_end, data.lengths)
    same_user = np.ones(n - 1, dtype=bool) if n > 1 else np.zeros(0, dtype=bool)
    same_user[data.offsets[1:-1][data.offsets[1:-1] < n] - 1] = False
    # Both ends of a pair are training interactions of the same user.
    keep = same_user & (nxt < train_end_of[nxt - 1])
    m = data.n_items + 1
    mat = sp.csr_matrix(
        (
            np.ones(int(keep.sum()), dtype=np.float32),
            (data.items[nxt - 1][keep], data.items[nxt][keep]),
        ),
        shape=(m, m),
    )
    mat.sum_duplicates()
    _TRANSITIONS[data.fingerprint] = mat
    return mat


def markov_scores_after(
    data: PreparedDataset, last_items: NDArray[np.integer]
) -> NDArray[np.float32]:
    """:func:`markov_scores` after given last items (``0``: no previous item, popularity).

    For histories that are not dataset rows (a simulated user's).
    """
    prev = np.asarray(last_items, dtype=np.int64)
    out = np.asarray(transition_counts(data)[prev].todense(), dtype=np.float32)
    pop = data.popularity.astype(np.float64)
    out += (pop / (1.0 + pop.max())).astype(np.float32)[None, :]
    out[:, 0] = -np.inf
    return out


def markov_scores(data: PreparedDataset, positions: NDArray[np.integer]) -> NDArray[np.float32]:
    """First-order Markov scores with popularity back-off.

    The score of item ``j`` after last item ``i`` is ``count(i -> j) + pop(j) / (1 + max
    pop)``: transitions decide, popularity (strictly below one count) breaks ties and
    ranks everything when the last item has no training transition. A user's first
    position (no previous item) gets popularity alone.
    """
    positions = np.asarray(positions, dtype=np.int64)
    user = np.searchsorted(data.offsets, positions, side="right") - 1
    has_prev = positions > data.offsets[user]
    prev = np.where(has_prev, data.items[np.maximum(positions - 1, 0)], 0)
    return markov_scores_after(data, prev)
