"""Quantities read off the logs: decayed state along each user's sequence, sessions, halves.

Everything here is vectorised over the CSR sequences of a :class:`PreparedDataset`; the
world's batched state (:class:`movierec_env.sim.world.WorldState`) follows the same
recurrences, so the states a world is fitted on are the states it simulates.
"""

from __future__ import annotations

import itertools

import numpy as np
from numpy.typing import NDArray
from scipy.signal import lfilter

from movierec_env.data.types import PreparedDataset
from movierec_env.sim.params import check_world_name

__all__ = [
    "decayed_sum",
    "genre_rows",
    "normalise_rows",
    "session_table",
    "shift_within_users",
    "split_users",
    "training_interactions",
    "training_targets",
    "user_mean_ratings",
    "world_users",
]


def decayed_sum(
    offsets: NDArray[np.int64], x: NDArray[np.floating], decay: float
) -> NDArray[np.float64]:
    """Inclusive decayed sums ``s_t = decay * s_{t-1} + x_t`` along each user's sequence.

    Args:
        offsets: CSR offsets of the sequences, shape ``(n_users + 1,)``.
        x: Per-interaction values, shape ``(n,)`` or ``(n, k)``.
        decay: Decay in ``[0, 1]`` (1 = plain cumulative sum).

    Returns:
        Array shaped like ``x`` (float64); each user's sum restarts at their first row.
    """
    x = np.asarray(x, dtype=np.float64)
    out = np.empty_like(x)
    for s, e in itertools.pairwise(offsets.tolist()):
        if e > s:
            out[s:e] = lfilter([1.0], [1.0, -decay], x[s:e], axis=0)
    return out


def shift_within_users(offsets: NDArray[np.int64], inc: NDArray[np.float64]) -> NDArray[np.float64]:
    """Exclusive version of an inclusive per-interaction state: row ``t`` gets row ``t - 1``.

    A user's first row gets zeros (no history).
    """
    out = np.zeros_like(inc)
    out[1:] = inc[:-1]
    starts = offsets[:-1][offsets[:-1] < inc.shape[0]]
    out[starts] = 0.0
    return out


def normalise_rows(x: NDArray[np.floating]) -> NDArray[np.float64]:
    """Rows divided by their sum (rows summing to zero stay zero)."""
    x = np.asarray(x, dtype=np.float64)
    tot = x.sum(axis=-1, keepdims=True)
    return np.divide(x, tot, out=np.zeros_like(x), where=tot > 0)


def genre_rows(data: PreparedDataset) -> NDArray[np.float64]:
    """Item genre rows normalised to sum 1, shape ``(n_items + 1, n_genres)``."""
    return normalise_rows(data.item_genres)


def split_users(n_users: int, seed: int) -> dict[str, NDArray[np.int64]]:
    """Disjoint halves of the users by a seeded permutation: ``{"train": .., "eval": ..}``.

    Also ``"val_a"`` and ``"val_b"``: disjoint halves of ``"train"`` (a second permutation,
    seeded by ``(seed, 1)``), so the validation worlds never hold an ``"eval"`` user.
    """
    perm = np.random.default_rng(seed).permutation(n_users).astype(np.int64)
    half = (n_users + 1) // 2
    train = np.sort(perm[:half])
    sub = train[np.random.default_rng([seed, 1]).permutation(train.size)]
    quarter = (train.size + 1) // 2
    return {
        "train": train,
        "eval": np.sort(perm[half:]),
        "val_a": np.sort(sub[:quarter]),
        "val_b": np.sort(sub[quarter:]),
    }


def world_users(data: PreparedDataset, world: str, seed: int) -> NDArray[np.int64]:
    """Users a world is fitted on (``world`` checked)."""
    return split_users(data.n_users, seed)[check_world_name(world)]


def training_interactions(data: PreparedDataset, users: NDArray[np.int64]) -> NDArray[np.int64]:
    """Absolute indices of the training interactions of ``users`` (chronological per user)."""
    starts, ends = data.offsets[users], data.train_end[users]
    lens = np.maximum(ends - starts, 0)
    within = np.arange(lens.sum()) - np.repeat(np.cumsum(lens) - lens, lens)
    return (np.repeat(starts, lens) + within).astype(np.int64)


def training_targets(data: PreparedDataset, users: NDArray[np.int64]) -> NDArray[np.int64]:
    """Training interactions of ``users`` that have at least one earlier interaction."""
    idx = training_interactions(data, users)
    user = np.searchsorted(data.offsets, idx, side="right") - 1
    return idx[idx > data.offsets[user]]


def session_table(
    data: PreparedDataset, gap_hours: float
) -> tuple[NDArray[np.int64], NDArray[np.bool_], NDArray[np.bool_]]:
    """Sessions cut at gaps longer than ``gap_hours`` within each user's training prefix.

    Returns:
        ``(position, ends, labelled)`` per interaction: the 1-based position of the
        interaction within its session; whether the session ends after it (the gap to the
        user's next interaction exceeds the threshold); whether that label is observed
        within training data (the next interaction exists and is a training interaction,
        so the user's last training interaction is censored).
    """
    n = data.n_interactions
    user = data.user_index
    nxt_same = np.zeros(n, dtype=bool)
    nxt_same[:-1] = user[1:] == user[:-1]
    gap = np.zeros(n, dtype=np.float64)
    gap[:-1] = np.diff(data.timestamps).astype(np.float64)
    ends = nxt_same & (gap > gap_hours * 3600.0)
    idx = np.arange(n, dtype=np.int64)
    labelled = nxt_same & (idx + 1 < data.train_end[user])
    # A session starts at a user's first interaction or after a session end.
    starts = np.ones(n, dtype=bool)
    starts[1:] = ~nxt_same[:-1] | ends[:-1]
    start_idx = np.maximum.accumulate(np.where(starts, idx, 0))
    position = idx - start_idx + 1
    return position.astype(np.int64), ends, labelled


def user_mean_ratings(data: PreparedDataset) -> NDArray[np.float64]:
    """Each user's mean training rating (the global training mean for users without one)."""
    mask = data.train_mask()
    user = data.user_index
    tot = np.bincount(user[mask], weights=data.ratings[mask], minlength=data.n_users)
    cnt = np.bincount(user[mask], minlength=data.n_users)
    glob = float(data.ratings[mask].mean()) if mask.any() else 0.0
    return np.where(cnt > 0, tot / np.maximum(cnt, 1), glob)
