"""Raw interaction histories as encoder input: validation, movieId mapping, running state.

:class:`encoders.HybridEncoder` embeds any history, not only rows of its dataset
(``embed``), and advances a batch of histories one interaction at a time (``advance``).
This module holds what both need:

- :func:`as_histories` turns one history (1-D arrays) or a batch (a sequence of 1-D
  arrays, or 2-D arrays of equal-length histories) into one CSR table;
- :func:`movie_ids_to_items` maps raw MovieLens movieIds to item indices;
- :class:`EncoderState` and :func:`advance_state`: the incremental form.

Windowing (docs/DESIGN.md, "Encoders"): the row right after a history of ``h``
interactions is embedded by the segment that starts ``k * W`` interactions into it, with
``k = max(0, (h - 1) // W - 1)`` (:func:`encoders.features.segment_start`), so an
embedding reads the last ``h`` interactions while ``h <= 2W`` and the last ``W + 1`` to
``2W`` after that. Following one history step by step therefore needs two running
segments: the *current* one (it embeds) and the *next* one, started ``W`` interactions
later; every ``W`` steps from ``2W`` on, the next one becomes the current one and a fresh
next one starts. Each model keeps an O(1)-sized carry per segment (the LSTM's hidden and
cell state, the content model's decayed sums), so a step costs O(1) in the history length.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any, Literal

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray
from torch import Tensor

from encoders.base import SequenceEncoder
from encoders.features import N_STEP_FEATURES

__all__ = [
    "EncoderState",
    "Histories",
    "IdKind",
    "advance_state",
    "as_histories",
    "movie_ids_to_items",
    "next_step_features",
]

#: How items of a raw history are given: item indices ``1..n_items`` or raw movieIds.
IdKind = Literal["items", "movie_ids"]

_YEAR = 365.0 * 24 * 3600


@dataclass(frozen=True)
class Histories:
    """A batch of raw histories in CSR form.

    Attributes:
        ids: Item index or movieId of every interaction (as given), int64.
        ratings: Ratings, float32.
        timestamps: Unix timestamps in seconds, int64.
        offsets: History ``b`` is ``[offsets[b], offsets[b + 1])``, oldest first.
        single: Whether the input was one history (1-D arrays) rather than a batch.
    """

    ids: NDArray[np.int64]
    ratings: NDArray[np.float32]
    timestamps: NDArray[np.int64]
    offsets: NDArray[np.int64]
    single: bool

    @property
    def lengths(self) -> NDArray[np.int64]:
        """Length of each history."""
        return np.diff(self.offsets)

    def __len__(self) -> int:
        return int(self.offsets.size - 1)


def _is_batch(x: Any) -> bool:
    if isinstance(x, np.ndarray | torch.Tensor):
        return x.ndim == 2
    return isinstance(x, Sequence) and len(x) > 0 and np.ndim(x[0]) == 1


def _rows(x: Any, name: str) -> list[NDArray[Any]]:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    if isinstance(x, np.ndarray) and x.ndim == 2:
        return list(x)
    rows = [np.asarray(r.detach().cpu() if isinstance(r, torch.Tensor) else r) for r in x]
    for i, r in enumerate(rows):
        if r.ndim != 1:
            raise ValueError(f"{name}[{i}] must be a 1-D array, got shape {r.shape}")
    return rows


def _integers(x: NDArray[Any], name: str) -> NDArray[np.int64]:
    if x.size and not np.issubdtype(x.dtype, np.integer):
        if not np.issubdtype(x.dtype, np.floating) or not np.array_equal(x, np.round(x)):
            raise TypeError(f"{name} must hold integers, got dtype {x.dtype}")
    return x.astype(np.int64, copy=False)


def as_histories(items: Any, ratings: Any, timestamps: Any) -> Histories:
    """Validate one history or a batch of them and concatenate it into CSR form.

    Args:
        items: One history as a 1-D array (or list of numbers), or a batch: a sequence of
            1-D arrays (ragged), or a 2-D array whose rows are equal-length histories.
        ratings: Same layout and lengths as ``items``.
        timestamps: Same layout and lengths; Unix seconds, oldest first.

    Returns:
        The histories (``single`` tells which form was given).

    Raises:
        ValueError: If the three disagree in layout or lengths, or a rating is not finite.
        TypeError: If items or timestamps are not integers.
    """
    single = not _is_batch(items)
    parts = []
    for x, name in ((items, "items"), (ratings, "ratings"), (timestamps, "timestamps")):
        if _is_batch(x) == single:
            raise ValueError(
                "items, ratings and timestamps must all be one history (1-D) or all a batch "
                f"of histories; {name} is {'a batch' if single else 'one history'}"
            )
        rows = [np.asarray(x).reshape(-1)] if single else _rows(x, name)
        parts.append(rows)
    n = len(parts[0])
    for rows, name in zip(parts[1:], ("ratings", "timestamps"), strict=True):
        if len(rows) != n:
            raise ValueError(f"{name} holds {len(rows)} histories, items holds {n}")
        for i, (a, b) in enumerate(zip(parts[0], rows, strict=True)):
            if a.shape != b.shape:
                raise ValueError(f"history {i}: {name} has {b.size} entries but items has {a.size}")
    lengths = np.array([r.size for r in parts[0]], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)

    def cat(rows: list[NDArray[Any]], dtype: type) -> NDArray[Any]:
        return np.concatenate(rows) if rows else np.zeros(0, dtype=dtype)

    ids = _integers(cat(parts[0], np.int64), "items")
    r = cat(parts[1], np.float32).astype(np.float32)
    if not np.isfinite(r).all():
        raise ValueError("ratings must be finite")
    ts = _integers(cat(parts[2], np.int64), "timestamps")
    return Histories(ids, r, ts, offsets, single)


def movie_ids_to_items(
    movie_ids: NDArray[np.integer], item_movie_ids: NDArray[np.int64]
) -> NDArray[np.int64]:
    """Map raw movieIds to item indices through a dataset's ``item_movie_ids``.

    Args:
        movie_ids: movieIds, any shape.
        item_movie_ids: movieId of each item index, ``-1`` at padding, ascending after it
            (:attr:`movierec_env.data.PreparedDataset.item_movie_ids`).

    Returns:
        Item indices in ``1..n_items``, same shape.

    Raises:
        ValueError: Naming the movieIds that are not in the catalogue.
    """
    m = np.asarray(movie_ids, dtype=np.int64)
    known = item_movie_ids[1:]
    pos = np.searchsorted(known, m)
    ok = pos < known.size
    ok[ok] = known[pos[ok]] == m[ok]
    if not ok.all():
        bad = np.unique(m[~ok])
        shown = ", ".join(str(int(b)) for b in bad[:10])
        more = f" and {bad.size - 10} more" if bad.size > 10 else ""
        raise ValueError(
            f"unknown movieIds {shown}{more}: not in the encoder's catalogue of "
            f"{known.size} movies (removed by filtering, or another dataset)"
        )
    return (pos + 1).astype(np.int64)


@dataclass(frozen=True)
class EncoderState:
    """Running state of a batch of ``B`` histories for ``HybridEncoder.advance``.

    Two running segments per history (index 0: the current one, which embeds; index 1:
    the next one, started ``W`` interactions later), each with an O(1)-sized carry per
    model, plus what the step features need. Tensors are CPU (the encoders' device) and
    never require gradients. Treat it as immutable: ``advance`` returns a new state.

    Attributes:
        length: ``(B,)`` int64, interactions seen so far.
        last_timestamp: ``(B,)`` int64, timestamp of the last one (0 before the first).
        lstm: ``(2, B, C_lstm)`` carries of the LSTM's two segments.
        content: ``(2, B, C_content)`` carries of the content model's two segments.
        obs: ``(B, obs_dim)`` float32 observation of each history so far (zeros when
            empty): what ``observations()`` gives the row right after it.
    """

    length: Tensor
    last_timestamp: Tensor
    lstm: Tensor
    content: Tensor
    obs: Tensor

    @property
    def batch_size(self) -> int:
        """Number of histories ``B``."""
        return int(self.length.shape[0])

    def where(self, mask: ArrayLike, other: EncoderState) -> EncoderState:
        """Rows of ``other`` where ``mask`` is True, of ``self`` elsewhere.

        ``state.where(done, encoder.initial_state(B))`` restarts the finished histories.

        Raises:
            ValueError: If the batch sizes or the mask's shape differ.
        """
        m = torch.as_tensor(np.asarray(mask, dtype=bool))
        if other.batch_size != self.batch_size or tuple(m.shape) != (self.batch_size,):
            raise ValueError(
                f"where needs a mask of shape ({self.batch_size},) and a state of the same "
                f"batch size, got mask {tuple(m.shape)} and batch size {other.batch_size}"
            )
        return _merge(m, other, self)

    def take(self, rows: ArrayLike) -> EncoderState:
        """The sub-batch of ``rows`` (copies), in that order."""
        idx = torch.as_tensor(np.asarray(rows, dtype=np.int64).reshape(-1))
        out = {}
        for f in fields(EncoderState):
            value = getattr(self, f.name)
            out[f.name] = value[:, idx].clone() if f.name in ("lstm", "content") else value[idx]
        return EncoderState(**out)

    def put(self, rows: ArrayLike, other: EncoderState) -> EncoderState:
        """A copy with rows ``rows`` replaced by the ``len(rows)`` histories of ``other``.

        ``state.put(done_rows, encoder.start_states(...))`` restarts some histories from new
        prefixes (a vector env resetting finished sub-envs).

        Raises:
            ValueError: If ``other``'s batch size is not ``len(rows)``.
        """
        idx = torch.as_tensor(np.asarray(rows, dtype=np.int64).reshape(-1))
        if other.batch_size != int(idx.numel()):
            raise ValueError(
                f"put needs a state of batch size {int(idx.numel())} (one per row), got "
                f"{other.batch_size}"
            )
        out = {}
        for f in fields(EncoderState):
            mine = getattr(self, f.name).clone()
            if f.name in ("lstm", "content"):  # (2, B, C) carries
                mine[:, idx] = getattr(other, f.name)
            else:
                mine[idx] = getattr(other, f.name)
            out[f.name] = mine
        return EncoderState(**out)


def _merge(mask: Tensor, new: EncoderState, old: EncoderState) -> EncoderState:
    out = {}
    for f in fields(EncoderState):
        a, b = getattr(new, f.name), getattr(old, f.name)
        batch_dim = 1 if f.name in ("lstm", "content") else 0  # (2, B, C) carries
        shape = [1] * a.ndim
        shape[batch_dim] = -1
        out[f.name] = torch.where(mask.reshape(shape), a, b)
    return EncoderState(**out)


def next_step_features(
    ratings: Tensor,
    timestamps: Tensor,
    state: EncoderState,
    rating_scale: tuple[float, float],
) -> Tensor:
    """Step features of each history's next interaction (:func:`step_features` columns).

    Args:
        ratings: ``(B,)`` float32 ratings.
        timestamps: ``(B,)`` int64 timestamps.
        state: The state before the interaction (its length and last timestamp).
        rating_scale: ``(min, max)`` rating of the dataset.

    Returns:
        ``(B, N_STEP_FEATURES)`` float32, equal to the rows ``sequence_features`` gives.
    """
    lo, hi = rating_scale
    mid, half = (lo + hi) / 2.0, max((hi - lo) / 2.0, 1e-6)
    first = state.length == 0
    gap = (timestamps - state.last_timestamp).to(torch.float64).clamp_min(0.0)
    gap = torch.where(first, torch.zeros_like(gap), gap)
    out = torch.empty(ratings.shape[0], N_STEP_FEATURES, dtype=torch.float32)
    out[:, 0] = ((ratings - mid) / half).clamp(-1.0, 1.0)
    out[:, 1] = torch.log1p(gap) / math.log1p(_YEAR)
    out[:, 2] = (gap == 0) & ~first
    out[:, 3] = (gap < 3600) & ~first
    out[:, 4] = first
    out[:, 5] = torch.log1p(state.length.to(torch.float64)) / math.log1p(1000.0)
    return out


def advance_state(
    lstm: SequenceEncoder,
    content: SequenceEncoder,
    window: int,
    rating_scale: tuple[float, float],
    state: EncoderState,
    items: Tensor,
    ratings: Tensor,
    timestamps: Tensor,
    active: Tensor | None = None,
) -> EncoderState:
    """Append one interaction to each history of ``state`` (see the module docstring).

    Args:
        lstm: The LSTM encoder (eval mode).
        content: The content encoder (eval mode).
        window: The window ``W``.
        rating_scale: ``(min, max)`` rating of the dataset.
        state: The state before the interaction.
        items: ``(B,)`` int64 item indices in ``1..n_items``.
        ratings: ``(B,)`` float32 ratings.
        timestamps: ``(B,)`` int64 timestamps.
        active: Optional ``(B,)`` bool; histories where it is False keep their state.

    Returns:
        The new state; its ``obs`` is the observation after the interaction.
    """
    q = state.length  # index of the new interaction in its history
    on_w = (q % window == 0) & (q >= window)
    swap = (on_w & (q >= 2 * window)).reshape(-1, 1)  # the next segment takes over
    reset = on_w.reshape(-1, 1)  # ... and a fresh next segment starts here
    feats = next_step_features(ratings, timestamps, state, rating_scale)
    seg_start = torch.clamp(q // window - 1, min=0) * window
    steps = q + 1 - seg_start  # interactions the current segment has read after this one
    switching = bool(on_w.any())  # rare: skip the merges on most steps
    carries = []
    zs = []
    for model, carry in ((lstm, state.lstm), (content, state.content)):
        if switching:
            cur = torch.where(swap, carry[1], carry[0])
            nxt = torch.where(reset, torch.zeros_like(carry[1]), carry[1])
            carry = torch.stack([cur, nxt])
        new, z = model.advance_carry(carry, items, feats, steps)
        carries.append(new)
        zs.append(z)
    new_state = EncoderState(
        length=q + 1,
        last_timestamp=timestamps,
        lstm=carries[0],
        content=carries[1],
        obs=torch.cat(zs, dim=1).to(torch.float32),
    )
    if active is None:
        return new_state
    return _merge(active, new_state, state)
