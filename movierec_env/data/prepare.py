"""PROTOCOL.md data preparation: 5/5 filtering, chronological order, indexing, split."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict

import numpy as np
from numpy.typing import NDArray

from movierec_env.data.types import PrepareConfig, PreparedDataset, RawDataset


class EmptyDatasetError(ValueError):
    """Raised when filtering leaves no interaction."""


def _fingerprint(config: PrepareConfig, name: str, *arrays: NDArray[np.generic]) -> str:
    h = hashlib.sha256()
    h.update(json.dumps(asdict(config), sort_keys=True).encode())
    h.update(name.encode())
    for a in arrays:
        h.update(str(a.dtype).encode())
        h.update(str(a.shape).encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def prepare(raw: RawDataset, config: PrepareConfig | None = None) -> PreparedDataset:
    """Filter, order, index and split a raw MovieLens dataset (PROTOCOL.md).

    All steps are vectorised (no per-row Python loop): 25 million ratings prepare in
    well under two minutes.

    Args:
        raw: The dataset as loaded by :func:`movierec_env.data.load_raw`.
        config: Preparation settings; defaults to 5/5 filtering and a stable tie order.

    Returns:
        The prepared dataset.

    Raises:
        ValueError: On invalid settings.
        EmptyDatasetError: If filtering leaves nothing (the message names the threshold
            to lower).
    """
    cfg = config or PrepareConfig()
    if cfg.min_user_ratings < 1 or cfg.min_item_ratings < 1:
        raise ValueError(
            "min_user_ratings and min_item_ratings must be >= 1, got "
            f"{cfg.min_user_ratings} and {cfg.min_item_ratings}"
        )
    if cfg.tie_break not in ("stable", "random"):
        raise ValueError(f"tie_break must be 'stable' or 'random', got {cfg.tie_break!r}")

    users, movies = raw.user_ids, raw.rating_movie_ids
    # Step 2: counts over the *raw* data, one filtering pass (SASRec preprocessing).
    u_uniq, u_inv, u_cnt = np.unique(users, return_inverse=True, return_counts=True)
    m_uniq, m_inv, m_cnt = np.unique(movies, return_inverse=True, return_counts=True)
    keep = (u_cnt[u_inv] >= cfg.min_user_ratings) & (m_cnt[m_inv] >= cfg.min_item_ratings)
    if not keep.any():
        users_ok = int((u_cnt >= cfg.min_user_ratings).sum())
        items_ok = int((m_cnt >= cfg.min_item_ratings).sum())
        raise EmptyDatasetError(
            f"dataset {raw.name!r} ({raw.source}) is empty after filtering: "
            f"{users_ok} of {u_uniq.size} users have >= {cfg.min_user_ratings} ratings "
            f"(min_user_ratings) and {items_ok} of {m_uniq.size} movies have >= "
            f"{cfg.min_item_ratings} ratings (min_item_ratings); lower "
            + ("min_user_ratings" if users_ok == 0 else "min_item_ratings")
            + (" and min_item_ratings" if users_ok == 0 and items_ok == 0 else "")
        )
    kept_rows = np.flatnonzero(keep)

    # Contiguous indices: users 0..U-1, items 1..I (0 = padding), both in id order.
    k_users = u_inv[kept_rows]
    k_movies = m_inv[kept_rows]
    used_u = np.unique(k_users)
    used_m = np.unique(k_movies)
    user_map = np.full(u_uniq.size, -1, dtype=np.int64)
    user_map[used_u] = np.arange(used_u.size)
    item_map = np.full(m_uniq.size, -1, dtype=np.int64)
    item_map[used_m] = np.arange(1, used_m.size + 1)
    uidx = user_map[k_users]
    iidx = item_map[k_movies]
    ts = raw.timestamps[kept_rows]
    rt = raw.ratings[kept_rows]

    # Step 3: per user, timestamp ascending; ties keep file order (kept_rows is ascending)
    # or are shuffled with a seeded key.
    if cfg.tie_break == "random":
        tie = np.random.default_rng(cfg.seed).permutation(kept_rows.size)
        order = np.lexsort((tie, ts, uidx))
    else:
        order = np.lexsort((ts, uidx))  # lexsort is stable
    uidx, iidx, ts, rt = uidx[order], iidx[order], ts[order], rt[order]

    n_users = used_u.size
    n_items = used_m.size
    counts = np.bincount(uidx, minlength=n_users).astype(np.int64)
    offsets = np.zeros(n_users + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])

    # Leave-one-out split.
    has_split = counts >= 3
    ends = offsets[1:]
    test_index = np.where(has_split, ends - 1, -1).astype(np.int64)
    val_index = np.where(has_split, ends - 2, -1).astype(np.int64)
    train_end = np.where(has_split, ends - 2, ends).astype(np.int64)

    # Training-only statistics.
    train_mask = np.arange(uidx.size) < np.repeat(train_end, counts)
    tr_items = iidx[train_mask]
    popularity = np.bincount(tr_items, minlength=n_items + 1).astype(np.int64)
    popularity[0] = 0
    rating_sum = np.bincount(tr_items, weights=rt[train_mask], minlength=n_items + 1)
    global_mean = float(rt[train_mask].mean()) if train_mask.any() else float(rt.mean())
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_rating = np.where(popularity > 0, rating_sum / np.maximum(popularity, 1), global_mean)
    mean_rating[0] = global_mean

    # Catalogue rows of the kept movies.
    cat_pos = np.searchsorted(raw.movie_ids, m_uniq[used_m])
    item_movie_ids = np.concatenate([[-1], m_uniq[used_m]]).astype(np.int64)
    item_titles = np.concatenate([np.array([""], dtype=object), raw.titles[cat_pos]])
    n_genres = raw.genres.shape[1]
    item_genres = np.zeros((n_items + 1, n_genres), dtype=np.float32)
    item_genres[1:] = raw.genres[cat_pos]

    fingerprint = _fingerprint(cfg, raw.name, item_movie_ids, u_uniq[used_u], offsets, iidx, rt, ts)
    return PreparedDataset(
        name=raw.name,
        config=cfg,
        raw_counts={"users": raw.n_users, "movies": raw.n_movies, "ratings": raw.n_ratings},
        item_movie_ids=item_movie_ids,
        item_titles=item_titles,
        item_genres=item_genres,
        genre_names=list(raw.genre_names),
        user_ids=u_uniq[used_u].astype(np.int64),
        offsets=offsets,
        items=iidx.astype(np.int64),
        ratings=rt.astype(np.float32),
        timestamps=ts.astype(np.int64),
        train_end=train_end,
        val_index=val_index,
        test_index=test_index,
        popularity=popularity,
        item_mean_rating=mean_rating.astype(np.float32),
        rating_scale=raw.rating_scale,
        fingerprint=fingerprint,
    )
