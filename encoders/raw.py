"""Raw histories for :class:`encoders.HybridEncoder`: ``bind``, ``embed`` and ``advance``.

Split from :mod:`encoders.hybrid`. A bound encoder embeds any history given as item
indices or movieIds, exactly as :meth:`HybridEncoder.observations` embeds a dataset row,
and advances a batch of histories one interaction at a time in O(1) per step (two running
segments per history, :mod:`encoders.histories`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any, TypeVar

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray

from encoders.base import SequenceEncoder
from encoders.features import segment_start, sequence_features
from encoders.histories import (
    EncoderState,
    IdKind,
    advance_state,
    as_histories,
    movie_ids_to_items,
)
from encoders.training import history_embeddings
from movierec_env.data.types import PreparedDataset

__all__ = ["RawHistoryMixin"]

_Self = TypeVar("_Self", bound="RawHistoryMixin")


class RawHistoryMixin:
    """Mixin of :class:`encoders.HybridEncoder` for raw (not dataset) histories."""

    lstm: SequenceEncoder
    content: SequenceEncoder
    window: int
    _item_movie_ids: NDArray[np.int64] | None
    _rating_scale: tuple[float, float] | None

    @property
    def n_items(self) -> int:
        """Catalogue size (items ``1..n_items``)."""
        raise NotImplementedError

    @property
    def obs_dim(self) -> int:
        """Observation size."""
        raise NotImplementedError

    def check_data(self, data: PreparedDataset) -> None:
        """Refuse another dataset than the one the encoders were trained on."""
        raise NotImplementedError

    def bind(self: _Self, data: PreparedDataset) -> _Self:
        """Take the catalogue and rating scale of ``data`` for raw histories; returns self.

        Raises:
            ValueError: If ``data`` is not the dataset the encoders were trained on.
        """
        self.check_data(data)
        ids = np.array(data.item_movie_ids, dtype=np.int64)
        ids.setflags(write=False)
        self._item_movie_ids = ids
        self._rating_scale = (float(data.rating_scale[0]), float(data.rating_scale[1]))
        return self

    @property
    def item_movie_ids(self) -> NDArray[np.int64] | None:
        """The movieId of each item index (``-1`` at padding); ``None`` before :meth:`bind`."""
        return self._item_movie_ids

    @property
    def rating_scale(self) -> tuple[float, float] | None:
        """``(min, max)`` rating of the bound dataset, or ``None`` before :meth:`bind`."""
        return self._rating_scale

    def _bound_scale(self) -> tuple[float, float]:
        if self._rating_scale is None:
            raise ValueError(
                "this HybridEncoder has no dataset bound: raw histories need its catalogue "
                "and rating scale; call encoder.bind(data) (or load it with "
                "HybridEncoder.load(path, data) / encoders.default_encoder(data))"
            )
        return self._rating_scale

    def to_items(self, ids: ArrayLike, kind: IdKind = "movie_ids") -> NDArray[np.int64]:
        """Item indices of ``ids`` (any shape): movieIds mapped, item indices checked.

        Args:
            ids: movieIds (``kind="movie_ids"``) or item indices (``kind="items"``).
            kind: What ``ids`` holds.

        Returns:
            Item indices in ``1..n_items``, int64, same shape.

        Raises:
            ValueError: Naming unknown movieIds or item indices outside ``1..n_items``,
                if ``kind`` is neither ``"items"`` nor ``"movie_ids"``, or (movieIds) if no
                dataset is bound.
            TypeError: If ``ids`` are not integers.
        """
        if kind not in ("items", "movie_ids"):
            raise ValueError(f"ids must be 'items' or 'movie_ids', got {kind!r}")
        a = np.asarray(ids)
        if a.size and not np.issubdtype(a.dtype, np.integer):
            raise TypeError(f"item ids must be integers, got dtype {a.dtype}")
        a = a.astype(np.int64, copy=False)
        if kind == "movie_ids":
            self._bound_scale()
            assert self._item_movie_ids is not None
            return movie_ids_to_items(a, self._item_movie_ids)
        if a.size and (int(a.min()) < 1 or int(a.max()) > self.n_items):
            bad = np.unique(a[(a < 1) | (a > self.n_items)])[:10].tolist()
            raise ValueError(
                f"item indices must be in 1..{self.n_items} (0 is padding), got {bad}; "
                "pass ids='movie_ids' for raw MovieLens movieIds"
            )
        return a

    def embed(
        self,
        items: ArrayLike | Sequence[ArrayLike],
        ratings: ArrayLike | Sequence[ArrayLike],
        timestamps: ArrayLike | Sequence[ArrayLike],
        *,
        ids: IdKind = "items",
    ) -> NDArray[np.float32]:
        """Observation of any raw history: what :meth:`observations` gives the row after it.

        The history is read exactly as a dataset row's is: its step features (rating, gaps,
        bursts, index in the sequence) come from the whole history, and the encoders read
        the segment that row would use (the last ``h`` interactions while ``h <= 2W``, else
        the last ``W + 1`` to ``2W``; :func:`encoders.features.segment_start`).

        Args:
            items: One history as a 1-D array (oldest first), or a batch: a sequence of
                1-D arrays (ragged) or a 2-D array whose rows are equal-length histories.
            ratings: Ratings, same layout (in the dataset's rating scale).
            timestamps: Unix timestamps in seconds, same layout.
            ids: ``"items"`` for item indices ``1..n_items``, ``"movie_ids"`` for raw
                MovieLens movieIds (mapped through the bound dataset's catalogue).

        Returns:
            float32 in [-1, 1]: ``(obs_dim,)`` for one history, ``(B, obs_dim)`` for a
            batch; zeros for an empty history (like a user's first row).

        Raises:
            ValueError: If no dataset is bound, a movieId is unknown (named), an item index
                is out of range, or the arrays disagree in layout or length.
            TypeError: If items or timestamps are not integers.
        """
        scale = self._bound_scale()
        h = as_histories(items, ratings, timestamps)
        it = self.to_items(h.ids, ids)
        feats = sequence_features(h.ratings, h.timestamps, h.offsets, scale)
        starts, ends = h.offsets[:-1], h.offsets[1:]
        with torch.inference_mode():
            a = history_embeddings(self.lstm, it, feats, starts, ends, self.window)
            b = history_embeddings(self.content, it, feats, starts, ends, self.window)
        out = np.concatenate([a, b], axis=1)
        return out[0] if h.single else out

    def initial_state(self, batch_size: int) -> EncoderState:
        """State of ``batch_size`` empty histories (their ``obs`` are zeros)."""
        b = int(batch_size)
        if b < 0:
            raise ValueError(f"batch_size must be >= 0, got {batch_size}")
        with torch.inference_mode():
            return EncoderState(
                length=torch.zeros(b, dtype=torch.int64),
                last_timestamp=torch.zeros(b, dtype=torch.int64),
                lstm=self.lstm.initial_carry(2, b),
                content=self.content.initial_carry(2, b),
                obs=torch.zeros(b, self.obs_dim, dtype=torch.float32),
            )

    def start_states(
        self,
        items: ArrayLike | Sequence[ArrayLike],
        ratings: ArrayLike | Sequence[ArrayLike],
        timestamps: ArrayLike | Sequence[ArrayLike],
        *,
        ids: IdKind = "items",
    ) -> EncoderState:
        """State of a batch of histories, ready for :meth:`advance`.

        Only the last ``2W`` or fewer interactions of each history are replayed (the
        interactions before the current segment never reach an embedding again), so the
        cost is O(W) per history, batched over histories. ``state.obs`` equals
        :meth:`embed` of the same histories to float32 rounding.

        Args:
            items: Histories in any form :meth:`embed` accepts (one history gives a
                state of batch size 1).
            ratings: Ratings, same layout.
            timestamps: Timestamps, same layout.
            ids: ``"items"`` or ``"movie_ids"``, as in :meth:`embed`.

        Raises:
            ValueError: As :meth:`embed`.
        """
        scale = self._bound_scale()
        h = as_histories(items, ratings, timestamps)
        it = torch.from_numpy(self.to_items(h.ids, ids))
        r, ts = torch.from_numpy(h.ratings), torch.from_numpy(h.timestamps)
        lengths = h.lengths
        first = segment_start(lengths, self.window)
        off = h.offsets[:-1]
        prev = np.zeros(len(h), dtype=np.int64)
        has_prev = first > 0
        prev[has_prev] = h.timestamps[off[has_prev] + first[has_prev] - 1]
        state = replace(
            self.initial_state(len(h)),
            length=torch.from_numpy(first),
            last_timestamp=torch.from_numpy(prev),
        )
        todo = lengths - first
        with torch.inference_mode():
            for t in range(int(todo.max()) if len(h) else 0):
                act = t < todo
                pos = torch.from_numpy(np.where(act, off + first + t, 0))
                state = advance_state(
                    self.lstm,
                    self.content,
                    self.window,
                    scale,
                    state,
                    it[pos],
                    r[pos],
                    ts[pos],
                    torch.from_numpy(act),
                )
        return state

    def advance(
        self,
        state: EncoderState,
        items: ArrayLike,
        ratings: ArrayLike,
        timestamps: ArrayLike,
        *,
        ids: IdKind = "items",
        active: ArrayLike | None = None,
    ) -> tuple[NDArray[np.float32], EncoderState]:
        """Append one interaction to each of ``B`` histories and observe them.

        Incremental :meth:`embed`: the new observations equal ``embed`` of the extended
        histories (and :meth:`observations` on logged ones) to float32 rounding (about
        1e-6). Cost O(1) per history and step, whatever the history length: each model
        runs one step on two running segments (docs in :mod:`encoders.histories`), in
        one batched torch call per model, with no Python loop over histories.

        Args:
            state: From :meth:`initial_state`, :meth:`start_states` or ``advance``.
            items: ``(B,)`` item indices or movieIds (see ``ids``).
            ratings: ``(B,)`` ratings.
            timestamps: ``(B,)`` Unix timestamps in seconds.
            ids: ``"items"`` or ``"movie_ids"``, as in :meth:`embed`.
            active: Optional ``(B,)`` bool; histories where it is False are left as they
                are (their entries of items, ratings and timestamps are ignored but must
                still be valid ids).

        Returns:
            ``(obs, state)``: ``(B, obs_dim)`` float32 observations (a copy) and the new
            state (``state`` itself is not modified).

        Raises:
            ValueError: If no dataset is bound, shapes differ from ``(B,)``, or an id is
                unknown or out of range.
        """
        scale = self._bound_scale()
        b = state.batch_size
        it = self.to_items(items, ids)
        r = np.asarray(ratings, dtype=np.float32)
        ts = np.asarray(timestamps)
        if ts.size and not np.issubdtype(ts.dtype, np.integer):
            raise TypeError(f"timestamps must be integers, got dtype {ts.dtype}")
        arrays: dict[str, NDArray[Any]] = {"items": it, "ratings": r, "timestamps": ts}
        act = None
        if active is not None:
            arrays["active"] = act_np = np.asarray(active, dtype=bool)
            act = torch.from_numpy(act_np)
        for name, a in arrays.items():
            if a.shape != (b,):
                raise ValueError(f"{name} must have shape ({b},), got {a.shape}")
        with torch.inference_mode():
            new = advance_state(
                self.lstm,
                self.content,
                self.window,
                scale,
                state,
                torch.from_numpy(it),
                torch.from_numpy(r),
                torch.from_numpy(ts.astype(np.int64, copy=False)),
                act,
            )
        return new.obs.numpy().copy(), new
