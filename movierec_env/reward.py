"""The MovieRec reward: hit + genre similarity + rating term, one vectorised function.

:class:`movierec_env.vector_env.MovieRecVectorEnv` and the evaluation call
:func:`compute_reward`; :class:`movierec_env.env.MovieRecEnv` evaluates the same float32
operations in Python scalars from :attr:`RewardTables.scalar_terms` (tested bit for bit
against it), so a single env and a vector env give bit-identical rewards.

For a recommended action ``a`` (item ``a + 1``) judged against the logged interaction at
position ``g`` (target item ``t = items[g]``)::

    reward = w_hit * hit + w_genre * genre + w_rating * rating

    hit    = 1 if a + 1 == t else 0
    genre  = cos(G[a + 1], G[t])                   genre_mode="cosine" (default), in [0, 1]
           = 0.5 * cos(G[a + 1], G[t])             genre_mode="seed", in [0, 0.5]
    rating = clip((mean(last rating_window ratings before g) - 3) / 2, 0, 1)
                                                   rating_mode="window" (default), in [0, 1]
           = clip((item_mean_rating[a + 1] - 3) / 2, 0, 1)
                                                   rating_mode="item", in [0, 1]

``G`` is the binary item x genre matrix; the cosine is ``0`` when either movie has no genre.
``item_mean_rating`` is the movie's mean *training* rating. The window rating term is the
seed system's: it rewards being in a sequence of highly rated movies and does not depend on
the action. With non-negative weights the reward lies in ``[0, w_hit + w_genre + w_rating]``
(``[0, 1]`` for the default 0.4 / 0.3 / 0.3).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray

from movierec_env.data.types import PreparedDataset

__all__ = [
    "GENRE_MODES",
    "MAX_GENRE_COMBOS",
    "RATING_MODES",
    "RewardConfig",
    "RewardTables",
    "compute_reward",
    "rating_term",
    "unit_rows",
]

_F = TypeVar("_F", bound=np.floating[Any])

GENRE_MODES = ("cosine", "seed")
RATING_MODES = ("window", "item")

#: Above this many distinct genre combinations the pairwise cosine table (``n_combos**2``
#: float32) is not built and the cosine is computed from normalised genre rows instead.
MAX_GENRE_COMBOS = 4096


def unit_rows(matrix: NDArray[_F]) -> NDArray[_F]:
    """Rows scaled to unit L2 norm, in the input's dtype; all-zero rows stay zero.

    The one normalisation behind the reward's genre cosine: ``unit_rows(G)[a] @
    unit_rows(G)[b]`` is the cosine of two genre vectors (0 when either is empty). Every
    other user of genre cosines (agents, evaluation, the Recommender) calls this function.
    """
    m = np.asarray(matrix)
    norms = np.sqrt((m * m).sum(axis=-1, keepdims=True))
    out: NDArray[_F] = np.divide(m, norms, out=np.zeros_like(m), where=norms > 0)
    return out


def rating_term(mean_rating: Any) -> Any:
    """The reward's rating term of a mean rating: ``clip((mean - 3) / 2, 0, 1)``.

    Used for the window term (mean of the last ratings) and the item term (a movie's mean
    training rating); elementwise, in the input's dtype.
    """
    return np.clip((mean_rating - 3.0) / 2.0, 0.0, 1.0)


@dataclass(frozen=True)
class RewardConfig:
    """Weights and variants of the reward (see the module docstring for the formulas).

    Attributes:
        w_hit: Weight of the hit term (recommended movie == next movie).
        w_genre: Weight of the genre-similarity term.
        w_rating: Weight of the rating term.
        genre_mode: ``"cosine"`` (the genre cosine) or ``"seed"`` (``0.5 * cosine``, the
            seed system's formula).
        rating_mode: ``"window"`` (mean rating of the last ``rating_window`` ratings of the
            history; action-independent) or ``"item"`` (the recommended movie's mean
            training rating).
        rating_window: Number of most recent ratings averaged by ``rating_mode="window"``.
    """

    w_hit: float = 0.4
    w_genre: float = 0.3
    w_rating: float = 0.3
    genre_mode: str = "cosine"
    rating_mode: str = "window"
    rating_window: int = 5

    def __post_init__(self) -> None:
        for name in ("w_hit", "w_genre", "w_rating"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise TypeError(f"reward {name} must be a number, got {value!r}")
            if not np.isfinite(value) or value < 0:
                raise ValueError(f"reward {name} must be finite and >= 0, got {value!r}")
            object.__setattr__(self, name, float(value))
        if self.genre_mode not in GENRE_MODES:
            raise ValueError(
                f"reward genre_mode must be one of {GENRE_MODES}, got {self.genre_mode!r}"
            )
        if self.rating_mode not in RATING_MODES:
            raise ValueError(
                f"reward rating_mode must be one of {RATING_MODES}, got {self.rating_mode!r}"
            )
        if (
            isinstance(self.rating_window, bool)
            or not isinstance(self.rating_window, int | np.integer)
            or self.rating_window < 1
        ):
            raise ValueError(
                f"reward rating_window must be an int >= 1, got {self.rating_window!r}"
            )
        object.__setattr__(self, "rating_window", int(self.rating_window))

    @classmethod
    def from_value(cls, value: RewardConfig | Mapping[str, Any] | None) -> RewardConfig:
        """Build a config from ``None`` (defaults), a mapping (e.g. JSON kwargs) or a config.

        Raises:
            ValueError: If the mapping has unknown keys or invalid values.
            TypeError: If ``value`` is of another type.
        """
        if value is None:
            return cls()
        if isinstance(value, RewardConfig):
            return value
        if isinstance(value, Mapping):
            known = {f.name for f in dataclasses.fields(cls)}
            unknown = sorted(set(value) - known)
            if unknown:
                raise ValueError(f"unknown reward option(s) {unknown}; allowed: {sorted(known)}")
            return cls(**dict(value))
        raise TypeError(
            f"reward must be a dict, a RewardConfig or None, got {type(value).__name__}"
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form (round-trips through :meth:`from_value`)."""
        return dataclasses.asdict(self)

    @property
    def weights(self) -> dict[str, float]:
        """``{"hit", "genre", "rating"}`` weights."""
        return {"hit": self.w_hit, "genre": self.w_genre, "rating": self.w_rating}

    @property
    def max_reward(self) -> float:
        """Upper bound of the reward (the lower bound is 0)."""
        genre_max = 0.5 if self.genre_mode == "seed" else 1.0
        return self.w_hit + self.w_genre * genre_max + self.w_rating


@dataclass(frozen=True, eq=False)
class RewardTables:
    """Precomputed per-dataset arrays that make :func:`compute_reward` pure lookups.

    Attributes:
        config: The reward configuration.
        target_action: Action index of the logged movie at each position, ``(n,)`` int64.
        genre_combo: Genre-combination id of each action, ``(n_items,)`` int64.
        target_combo: Genre-combination id of the target at each position, ``(n,)`` int64.
        genre_table: Genre term between two combinations, flattened ``(n_combos**2,)``
            float32 (entry ``i * n_combos + j``; already scaled by 0.5 in ``"seed"`` mode), or
            ``None`` when there are more than :data:`MAX_GENRE_COMBOS` combinations.
        genre_combo_scaled: ``genre_combo * n_combos`` (row offsets into ``genre_table``).
        genre_rows: Unit-norm genre rows of each action, ``(n_items, n_genres)`` float32
            (scaled by ``sqrt(0.5)`` in ``"seed"`` mode); used when ``genre_table`` is None.
        rating_position: Window rating term of each position, ``(n,)`` float32.
        rating_action: Item rating term of each action, ``(n_items,)`` float32.
        w_hit: ``float32`` weight of the hit term (likewise ``w_genre``, ``w_rating``).
        w_genre: Weight of the genre term.
        w_rating: Weight of the rating term.
    """

    config: RewardConfig
    target_action: NDArray[np.int64]
    genre_combo: NDArray[np.int64]
    genre_combo_scaled: NDArray[np.int64]
    target_combo: NDArray[np.int64]
    genre_table: NDArray[np.float32] | None
    genre_rows: NDArray[np.float32]
    rating_position: NDArray[np.float32]
    rating_action: NDArray[np.float32]
    w_hit: np.float32
    w_genre: np.float32
    w_rating: np.float32

    @classmethod
    def build(
        cls,
        data: PreparedDataset,
        config: RewardConfig,
        max_genre_combos: int = MAX_GENRE_COMBOS,
    ) -> RewardTables:
        """Precompute the tables of ``data`` (O(n_interactions + n_combos**2)).

        Args:
            data: The prepared dataset.
            config: The reward configuration.
            max_genre_combos: Above this many genre combinations, skip the pairwise table.
        """
        scale = 0.5 if config.genre_mode == "seed" else 1.0
        genres = np.asarray(data.item_genres[1:], dtype=np.float64)
        combos, combo_of_action = np.unique(genres, axis=0, return_inverse=True)
        combo_of_action = np.asarray(combo_of_action, dtype=np.int64).reshape(-1)
        unit = unit_rows(combos)
        table: NDArray[np.float32] | None = None
        if combos.shape[0] <= max_genre_combos:
            table = (np.clip(unit @ unit.T, 0.0, 1.0) * scale).astype(np.float32).reshape(-1)
        rows = (unit[combo_of_action] * np.sqrt(scale)).astype(np.float32)

        target_action = (data.items - 1).astype(np.int64)
        target_combo = combo_of_action[target_action]
        combo_scaled = combo_of_action * combos.shape[0]

        # Window rating term from per-user cumulative sums (float64, then rounded once).
        n = data.n_interactions
        pos = np.arange(n, dtype=np.int64)
        starts = np.repeat(data.offsets[:-1], data.lengths)
        lo = np.maximum(starts, pos - config.rating_window)
        csum = np.concatenate([[0.0], np.cumsum(data.ratings, dtype=np.float64)])
        count = pos - lo
        mean = np.divide(csum[pos] - csum[lo], count, out=np.full(n, 3.0), where=count > 0)
        rating_position = rating_term(mean).astype(np.float32)
        item_mean = np.asarray(data.item_mean_rating[1:], dtype=np.float64)
        rating_action = rating_term(item_mean).astype(np.float32)
        for arr in (
            target_action,
            combo_of_action,
            combo_scaled,
            target_combo,
            rows,
            rating_position,
        ):
            arr.flags.writeable = False
        rating_action.flags.writeable = False
        if table is not None:
            table.flags.writeable = False
        return cls(
            config=config,
            target_action=target_action,
            genre_combo=combo_of_action,
            genre_combo_scaled=combo_scaled,
            target_combo=target_combo,
            genre_table=table,
            genre_rows=rows,
            rating_position=rating_position,
            rating_action=rating_action,
            w_hit=np.float32(config.w_hit),
            w_genre=np.float32(config.w_genre),
            w_rating=np.float32(config.w_rating),
        )

    @cached_property
    def scalar_terms(
        self,
    ) -> tuple[NDArray[np.unsignedinteger[Any]] | None, NDArray[np.float32], NDArray[np.float32]]:
        """Precomputed terms for the single env's scalar reward (memoised).

        ``MovieRecEnv.step`` computes :func:`compute_reward` of one action in plain Python
        scalars from these (bit for bit; docs/env.md, "Cost and how it grows").

        Returns:
            ``(genre_code, genre_values, rating_weighted)``. ``genre_values[2 * c]`` is the
            ``c``-th distinct value of ``genre_table`` and ``genre_values[2 * c + 1]`` is
            ``w_genre`` times it; ``genre_code[k]`` is the ``c`` of ``genre_table[k]``
            (uint8 when there are at most 256 distinct values: 64 on ml-latest-small, so
            the 635 x 635 codes take 0.4 MB and stay in a core's cache, where the float32
            table, 1.6 MB, missed it on every random read; ``None`` without a pairwise
            table). ``rating_weighted`` is ``w_rating`` times the rating term, per position
            (``rating_mode="window"``) or per action (``"item"``). The products are the very
            float32 products :func:`compute_reward` forms at each call.
        """
        code = None
        values = np.zeros(0, dtype=np.float32)
        if self.genre_table is not None:
            distinct = np.unique(self.genre_table)  # exact values: searchsorted finds each
            inverse = np.searchsorted(distinct, self.genre_table)
            code = inverse.astype(np.uint8 if distinct.size <= 256 else np.uint32)
            pairs = np.stack([distinct, self.w_genre * distinct], axis=1)
            values = np.ascontiguousarray(pairs, dtype=np.float32).reshape(-1)
        by_position = self.config.rating_mode == "window"
        rating = self.w_rating * (self.rating_position if by_position else self.rating_action)
        for arr in (code, values, rating):
            if arr is not None:
                arr.flags.writeable = False
        return code, values, rating


def compute_reward(
    tables: RewardTables, actions: Any, positions: Any
) -> tuple[Any, Any, Any, Any, Any]:
    """Reward of recommending ``actions`` at ``positions`` (scalars or equal-shape arrays).

    The same elementwise float32 operations run for a scalar (single env) and for an array
    (vector env), so both give bit-identical results.

    Args:
        tables: Precomputed :class:`RewardTables`.
        actions: Action index (int) or int array, assumed already validated.
        positions: Absolute interaction index of the target (int) or int array.

    Returns:
        ``(reward, hit, genre, rating, target)``: float32 reward, bool hit, float32 genre
        and rating terms (unweighted), int64 target action.
    """
    # Flat 1-D gathers: markedly cheaper than 2-D fancy indexing on batches.
    target = tables.target_action[positions]
    hit = actions == target
    if tables.genre_table is not None:
        genre = tables.genre_table[
            tables.genre_combo_scaled[actions] + tables.target_combo[positions]
        ]
    else:
        rows = tables.genre_rows
        genre = np.clip(
            np.einsum("...i,...i->...", rows[actions], rows[target]), np.float32(0), None
        ).astype(np.float32)
    if tables.config.rating_mode == "window":
        rating = tables.rating_position[positions]
    else:
        rating = tables.rating_action[actions]
    reward = tables.w_hit * hit + tables.w_genre * genre + tables.w_rating * rating
    return reward, hit, genre, rating, target
