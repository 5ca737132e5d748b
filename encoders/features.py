"""Per-interaction input features and the windowed segments the encoders run over.

Everything here is vectorised numpy over the whole CSR interaction table, so the features
of 100k interactions take milliseconds.

Step features (``N_STEP_FEATURES`` columns, all scale-free, roughly in [-1, 1.5]):

0. normalised rating: ``(r - mid) / half`` of the layout's rating scale, in [-1, 1];
1. ``log1p(gap seconds) / log1p(one year)`` since the user's previous rating (0 at the
   first rating): scale-free, so a 5-second and a 5-year gap differ by a bounded amount;
2. burst flag: the rating shares its timestamp with the previous one (MovieLens users rate
   in bursts; about 16% of consecutive ratings in ml-latest-small);
3. same-session flag: gap below one hour;
4. first-rating flag;
5. ``log1p(index in the user's sequence) / log1p(1000)``: how much history exists.

No feature uses the wall clock or anything at or after the target: the gap of step ``t``
is measured back to step ``t - 1``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from movierec_env.data.types import PreparedDataset

__all__ = [
    "N_STEP_FEATURES",
    "Segments",
    "make_segments",
    "segment_batch",
    "segment_start",
    "sequence_features",
    "step_features",
    "window_batch",
]

#: Number of columns of :func:`step_features`.
N_STEP_FEATURES = 6

_YEAR = 365.0 * 24 * 3600


def step_features(data: PreparedDataset) -> NDArray[np.float32]:
    """Features of every interaction, shape ``(n_interactions, N_STEP_FEATURES)``."""
    return sequence_features(data.ratings, data.timestamps, data.offsets, data.rating_scale)


def sequence_features(
    ratings: NDArray[np.floating],
    timestamps: NDArray[np.integer],
    offsets: NDArray[np.integer],
    rating_scale: tuple[float, float],
) -> NDArray[np.float32]:
    """Step features of sequences stored in CSR form (what :func:`step_features` computes).

    Args:
        ratings: Rating of each interaction, float32 (as :class:`PreparedDataset` holds).
        timestamps: Unix timestamp of each interaction in seconds.
        offsets: CSR offsets: sequence ``u`` is ``[offsets[u], offsets[u + 1])``, oldest
            first; features never look across two sequences.
        rating_scale: ``(min, max)`` rating of the dataset's layout.

    Returns:
        Features, shape ``(len(ratings), N_STEP_FEATURES)``.
    """
    lo, hi = rating_scale
    mid, half = (lo + hi) / 2.0, max((hi - lo) / 2.0, 1e-6)
    offsets = np.asarray(offsets, dtype=np.int64)
    lengths = np.diff(offsets)
    n = int(ratings.shape[0])
    first = np.zeros(n, dtype=bool)
    first[offsets[:-1][lengths > 0]] = True
    gap = np.zeros(n, dtype=np.float64)
    if n > 1:
        gap[1:] = np.maximum(np.diff(timestamps).astype(np.float64), 0.0)
    gap[first] = 0.0
    index_in_user = np.arange(n) - np.repeat(offsets[:-1], lengths)
    out = np.empty((n, N_STEP_FEATURES), dtype=np.float32)
    out[:, 0] = np.clip((ratings - mid) / half, -1.0, 1.0)
    out[:, 1] = np.log1p(gap) / np.log1p(_YEAR)
    out[:, 2] = (gap == 0) & ~first
    out[:, 3] = (gap < 3600) & ~first
    out[:, 4] = first
    out[:, 5] = np.log1p(index_in_user) / np.log1p(1000.0)
    return out


def segment_start(lengths: NDArray[np.integer], window: int) -> NDArray[np.int64]:
    """Start (index in the sequence) of the segment that embeds a history of each length.

    The embedding of a history of ``h >= 1`` interactions (the row right after them) is
    emitted by segment ``k = max(0, (h - 1) // W - 1)`` of :func:`make_segments`, which
    starts ``k * W`` interactions into the sequence, whatever the sequence's full length:
    it reads the last ``h`` interactions when ``h <= 2W``, else the last ``W + 1`` to
    ``2W``. Length 0 gives 0.

    Raises:
        ValueError: If ``window < 1``.
    """
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    h = np.asarray(lengths, dtype=np.int64)
    return np.maximum(0, (h - 1) // window - 1) * window


@dataclass(frozen=True)
class Segments:
    """Overlapping windows of user sequences that together cover every history once.

    Segment ``k`` of a user reads positions ``[start[k], stop[k])`` (absolute interaction
    indices) and *emits* the embedding after each position ``p`` in
    ``[emit_from[k], stop[k])``; that embedding is the history embedding of row
    ``g = p + 1``. Consecutive segments overlap by ``window``, so every emitted embedding
    has seen at least ``window`` interactions (or the user's whole prefix when shorter)
    and at most ``2 * window``: a recurrent model costs at most two passes over the data
    instead of ``window`` passes for exact sliding windows.

    Attributes:
        start: First position read by each segment.
        stop: One past the last position read.
        emit_from: First position whose output the segment emits.
    """

    start: NDArray[np.int64]
    stop: NDArray[np.int64]
    emit_from: NDArray[np.int64]

    @property
    def max_len(self) -> int:
        """Length of the longest segment (0 when there is none)."""
        return int((self.stop - self.start).max()) if self.start.size else 0

    def __len__(self) -> int:
        return int(self.start.size)


def make_segments(starts: NDArray[np.int64], ends: NDArray[np.int64], window: int) -> Segments:
    """Cut each user's span ``[starts[u], ends[u])`` into overlapping segments.

    Args:
        starts: First absolute index of each user's span.
        ends: One past the last absolute index of each span (e.g. ``train_end`` for
            training, ``offsets[1:]`` for every row).
        window: The window ``W``: segments are ``2 W`` long with stride ``W``.

    Returns:
        The segments; a span of length ``n`` gives ``max(1, ceil(n / W) - 1)`` segments.

    Raises:
        ValueError: If ``window < 1``.
    """
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    starts = np.asarray(starts, dtype=np.int64)
    ends = np.asarray(ends, dtype=np.int64)
    n = np.maximum(ends - starts, 0)
    keep = n > 0
    starts, ends, n = starts[keep], ends[keep], n[keep]
    n_seg = np.maximum(1, -(-n // window) - 1)
    user = np.repeat(np.arange(n.size), n_seg)
    k = np.arange(n_seg.sum()) - np.repeat(np.cumsum(n_seg) - n_seg, n_seg)
    seg_start = starts[user] + k * window
    seg_stop = np.minimum(seg_start + 2 * window, ends[user])
    # The last segment of a user also reads (and emits) everything up to the end.
    last = k == n_seg[user] - 1
    seg_stop[last] = ends[user][last]
    emit = np.where(k == 0, seg_start, seg_start + window)
    return Segments(start=seg_start, stop=seg_stop, emit_from=emit)


def segment_batch(
    seg: Segments,
    idx: NDArray[np.int64],
    items: NDArray[np.int64],
    feats: NDArray[np.float32],
) -> tuple[NDArray[np.int64], NDArray[np.float32], NDArray[np.int64], NDArray[np.int64]]:
    """Right-padded arrays for segments ``idx``.

    Returns:
        ``(items (B, L), features (B, L, F), lengths (B,), positions (B, L))`` where
        ``positions`` holds the absolute index of each read position (``-1`` at padding).
    """
    s, e = seg.start[idx], seg.stop[idx]
    lens = e - s
    width = int(lens.max()) if lens.size else 0
    cols = np.arange(width)
    pos = s[:, None] + cols[None, :]
    valid = cols[None, :] < lens[:, None]
    pos = np.where(valid, pos, -1)
    safe = np.where(valid, pos, 0)
    it = np.where(valid, items[safe], 0)
    ft = np.where(valid[..., None], feats[safe], 0.0).astype(np.float32)
    return it, ft, lens.astype(np.int64), pos


def window_batch(
    data: PreparedDataset,
    positions: NDArray[np.integer],
    window: int,
    feats: NDArray[np.float32] | None = None,
) -> tuple[NDArray[np.int64], NDArray[np.float32], NDArray[np.int64]]:
    """Exact last-``window`` histories of target positions, right-padded.

    Args:
        data: The dataset.
        positions: Absolute target indices; the history of ``g`` is the at most ``window``
            interactions of its user strictly before ``g``.
        window: History length limit.
        feats: Precomputed :func:`step_features` (computed when ``None``).

    Returns:
        ``(items (B, L), features (B, L, F), lengths (B,))`` with oldest first; a length
        can be 0 (a user's first interaction).
    """
    positions = np.asarray(positions, dtype=np.int64)
    f = step_features(data) if feats is None else feats
    user = np.searchsorted(data.offsets, positions, side="right") - 1
    s = np.maximum(data.offsets[user], positions - window)
    seg = Segments(start=s, stop=positions.astype(np.int64), emit_from=s)
    it, ft, lens, _ = segment_batch(seg, np.arange(positions.size), data.items, f)
    if it.shape[1] == 0:  # every history empty: keep one padded column
        it = np.zeros((positions.size, 1), dtype=np.int64)
        ft = np.zeros((positions.size, 1, f.shape[1]), dtype=np.float32)
    return it, ft, lens
