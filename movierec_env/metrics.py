"""Full-ranking next-item metrics of PROTOCOL.md ("Ranking and metrics")."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from movierec_env.data.types import PreparedDataset

__all__ = ["METRIC_NAMES", "history_mask", "metrics_from_ranks", "ndcg_at_10", "ranks_from_scores"]

#: Metric names in reporting order.
METRIC_NAMES = ("HR@1", "HR@5", "HR@10", "NDCG@10", "MRR")


def ranks_from_scores(
    scores: NDArray[np.floating], targets: NDArray[np.integer], exclude: NDArray[np.bool_] | None
) -> NDArray[np.int64]:
    """Pessimistic rank of each target among eligible items.

    Args:
        scores: Item scores, shape ``(batch, n_items + 1)``; column 0 (padding) is ignored.
        targets: Target item index per row.
        exclude: Boolean mask of the same shape, True for items not eligible (the user's
            prefix); the target itself is never excluded.

    Returns:
        ``1 + #{eligible items j != target with score_j >= score_target}`` per row.
    """
    rows = np.arange(scores.shape[0])
    t_score = scores[rows, targets][:, None]
    beats = scores >= t_score
    beats[:, 0] = False
    beats[rows, targets] = False
    if exclude is not None:
        beats &= ~exclude
    return (1 + beats.sum(axis=1)).astype(np.int64)


def ndcg_at_10(ranks: NDArray[np.integer] | NDArray[np.floating]) -> NDArray[np.float64]:
    """Per-target NDCG@10 with one relevant item: ``1 / log2(rank + 1)`` in the top 10, else 0."""
    r = np.asarray(ranks, dtype=np.float64)
    return np.where(r <= 10, 1.0 / np.log2(r + 1.0), 0.0)


def metrics_from_ranks(ranks: NDArray[np.integer]) -> dict[str, float]:
    """HR@1/5/10, NDCG@10, MRR and ``n_users`` from an array of ranks."""
    r = np.asarray(ranks, dtype=np.float64)
    if r.size == 0:
        raise ValueError("no ranks to evaluate (empty split)")
    return {
        "HR@1": float((r <= 1).mean()),
        "HR@5": float((r <= 5).mean()),
        "HR@10": float((r <= 10).mean()),
        "NDCG@10": float(ndcg_at_10(r).mean()),
        "MRR": float((1.0 / r).mean()),
        "n_users": int(r.size),
    }


def history_mask(data: PreparedDataset, positions: NDArray[np.integer]) -> NDArray[np.bool_]:
    """Mask of the items in each target's prefix, shape ``(len(positions), n_items + 1)``.

    ``positions`` are absolute interaction indices of targets; the prefix of a target is
    every earlier interaction of the same user.
    """
    positions = np.asarray(positions, dtype=np.int64)
    user = np.searchsorted(data.offsets, positions, side="right") - 1
    starts = data.offsets[user]
    lens = positions - starts
    mask = np.zeros((positions.size, data.n_items + 1), dtype=bool)
    row = np.repeat(np.arange(positions.size), lens)
    # Absolute indices of every prefix interaction, built without a Python loop.
    within = np.arange(lens.sum()) - np.repeat(np.cumsum(lens) - lens, lens)
    mask[row, data.items[np.repeat(starts, lens) + within]] = True
    return mask
