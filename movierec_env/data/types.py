"""Plain data containers shared by the loaders, the preparation step and everything above.

Arrays, not per-row Python objects: a 25-million-rating dataset must fit in memory and be
processed with vectorised numpy.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

__all__ = ["PAD", "PrepareConfig", "PreparedDataset", "RawDataset"]

#: Item index reserved for padding in every prepared dataset.
PAD = 0


@dataclass(frozen=True)
class RawDataset:
    """A MovieLens dataset as read from disk, before any filtering.

    Attributes:
        name: Dataset name (the embedded name or the folder name).
        source: Folder the files were read from.
        layout: ``"csv"``, ``"dat"`` or ``"100k"``.
        movie_ids: Catalogue movie ids, shape ``(n_movies,)``, unique.
        titles: Movie titles aligned with ``movie_ids``.
        genre_names: Genre vocabulary (sorted; "(no genres listed)" is not a genre).
        genres: Binary movie x genre matrix, shape ``(n_movies, n_genres)``, uint8.
        user_ids: Rating user ids, shape ``(n_ratings,)``, in file order.
        rating_movie_ids: Rating movie ids, aligned with ``user_ids``.
        ratings: Rating values, float32.
        timestamps: Unix timestamps in seconds, int64.
        rating_scale: ``(min, max)`` of the layout's rating scale.
        skipped: What was skipped while reading and why (reason -> count). Nothing is
            dropped silently.
    """

    name: str
    source: str
    layout: str
    movie_ids: NDArray[np.int64]
    titles: NDArray[np.object_]
    genre_names: list[str]
    genres: NDArray[np.uint8]
    user_ids: NDArray[np.int64]
    rating_movie_ids: NDArray[np.int64]
    ratings: NDArray[np.float32]
    timestamps: NDArray[np.int64]
    rating_scale: tuple[float, float]
    skipped: dict[str, int] = field(default_factory=dict)

    @property
    def n_ratings(self) -> int:
        """Number of ratings read."""
        return int(self.user_ids.shape[0])

    @property
    def n_users(self) -> int:
        """Number of distinct users with at least one rating."""
        return int(np.unique(self.user_ids).shape[0])

    @property
    def n_movies(self) -> int:
        """Number of movies in the catalogue file."""
        return int(self.movie_ids.shape[0])


@dataclass(frozen=True)
class PrepareConfig:
    """Settings of :func:`movierec_env.data.prepare` (PROTOCOL.md, "Data preparation").

    Attributes:
        min_user_ratings: Keep a user's interactions only if the user has at least this many
            ratings in the raw data.
        min_item_ratings: Keep an item's interactions only if it has at least this many
            ratings in the raw data.
        tie_break: ``"stable"`` keeps the file order of equal timestamps (the protocol);
            ``"random"`` shuffles ties with ``seed`` (robustness checks).
        seed: Seed of the random tie-break.
    """

    min_user_ratings: int = 5
    min_item_ratings: int = 5
    tie_break: str = "stable"
    seed: int = 0


@dataclass(frozen=True, eq=False)
class PreparedDataset:
    """Filtered, indexed, chronologically ordered interactions with the leave-one-out split.

    Items are indexed ``1..n_items`` (``0`` is padding); every item-aligned array has
    ``n_items + 1`` rows with row 0 for padding. User sequences are stored in CSR form:
    user ``u``'s interactions are ``items[offsets[u]:offsets[u + 1]]`` (likewise
    ``ratings`` and ``timestamps``), oldest first.

    Split (PROTOCOL.md): for a user with ``n >= 3`` interactions the last one is the test
    target, the one before it the validation target and the rest training; shorter users
    are training only. ``train_end[u]`` is the absolute index one past the user's last
    training interaction; ``val_index[u]`` and ``test_index[u]`` are absolute indices of
    the targets, ``-1`` for training-only users.

    Attributes:
        name: Dataset name.
        config: The preparation settings used.
        raw_counts: ``{"users", "movies", "ratings"}`` before filtering.
        item_movie_ids: movieId of each item index (``-1`` at padding).
        item_titles: Title of each item index (``""`` at padding).
        item_genres: Binary item x genre matrix as float32 (row 0 zero).
        genre_names: Genre vocabulary.
        user_ids: Raw user id of each user index.
        offsets: CSR offsets, shape ``(n_users + 1,)``.
        items: Item index of each interaction, int64.
        ratings: Rating of each interaction, float32.
        timestamps: Timestamp of each interaction, int64.
        train_end: One past each user's last training interaction (absolute index).
        val_index: Absolute index of each user's validation target, or ``-1``.
        test_index: Absolute index of each user's test target, or ``-1``.
        popularity: Training interaction count per item (row 0 is 0).
        item_mean_rating: Mean training rating per item (global training mean where an
            item has no training rating; row 0 is the global mean).
        rating_scale: ``(min, max)`` rating of the layout.
        fingerprint: SHA-256 of the prepared arrays and config; encoders trained on one
            dataset refuse another.
    """

    name: str
    config: PrepareConfig
    raw_counts: dict[str, int]
    item_movie_ids: NDArray[np.int64]
    item_titles: NDArray[np.object_]
    item_genres: NDArray[np.float32]
    genre_names: list[str]
    user_ids: NDArray[np.int64]
    offsets: NDArray[np.int64]
    items: NDArray[np.int64]
    ratings: NDArray[np.float32]
    timestamps: NDArray[np.int64]
    train_end: NDArray[np.int64]
    val_index: NDArray[np.int64]
    test_index: NDArray[np.int64]
    popularity: NDArray[np.int64]
    item_mean_rating: NDArray[np.float32]
    rating_scale: tuple[float, float]
    fingerprint: str

    @property
    def n_users(self) -> int:
        """Number of users after filtering."""
        return int(self.user_ids.shape[0])

    @property
    def n_items(self) -> int:
        """Number of items after filtering (padding excluded)."""
        return int(self.item_movie_ids.shape[0] - 1)

    @property
    def n_interactions(self) -> int:
        """Number of interactions after filtering."""
        return int(self.items.shape[0])

    @property
    def lengths(self) -> NDArray[np.int64]:
        """Sequence length of each user."""
        return np.diff(self.offsets)

    @property
    def user_index(self) -> NDArray[np.int64]:
        """User index of each interaction (the CSR row ids), shape ``(n_interactions,)``."""
        return np.repeat(np.arange(self.n_users, dtype=np.int64), self.lengths)

    def sequence(
        self, user: int
    ) -> tuple[NDArray[np.int64], NDArray[np.float32], NDArray[np.int64]]:
        """Return user index ``user``'s (items, ratings, timestamps), oldest first (views)."""
        if not 0 <= user < self.n_users:
            raise IndexError(f"user index {user} out of range [0, {self.n_users})")
        s, e = int(self.offsets[user]), int(self.offsets[user + 1])
        return self.items[s:e], self.ratings[s:e], self.timestamps[s:e]

    def user_to_index(self, user_id: int) -> int:
        """Map a raw userId to its user index.

        Raises:
            KeyError: If the user is unknown or was removed by filtering.
        """
        pos = int(np.searchsorted(self.user_ids, user_id))
        if pos >= self.n_users or int(self.user_ids[pos]) != int(user_id):
            raise KeyError(
                f"user {user_id} is not in dataset {self.name!r} after filtering "
                f"(min_user_ratings={self.config.min_user_ratings})"
            )
        return pos

    def movie_to_item(self, movie_id: int) -> int:
        """Map a raw movieId to its item index.

        Raises:
            KeyError: If the movie is unknown or was removed by filtering.
        """
        pos = int(np.searchsorted(self.item_movie_ids[1:], movie_id)) + 1
        if pos > self.n_items or int(self.item_movie_ids[pos]) != int(movie_id):
            raise KeyError(
                f"movie {movie_id} is not in dataset {self.name!r} after filtering "
                f"(min_item_ratings={self.config.min_item_ratings})"
            )
        return pos

    def target_indices(self, split: str) -> NDArray[np.int64]:
        """Absolute interaction indices of the targets of a split.

        ``"val"`` and ``"test"`` give one target per user with a split (PROTOCOL.md);
        ``"train"`` gives every training interaction that has at least one earlier
        interaction (a target needs a history).

        Raises:
            ValueError: If ``split`` is not one of ``"train"``, ``"val"``, ``"test"``.
        """
        if split == "test":
            return self.test_index[self.test_index >= 0]
        if split == "val":
            return self.val_index[self.val_index >= 0]
        if split == "train":
            starts = self.offsets[:-1]
            # Mark [start + 1, train_end) per user without a Python loop.
            delta = np.zeros(self.n_interactions + 1, dtype=np.int64)
            valid = self.train_end > starts + 1
            np.add.at(delta, starts[valid] + 1, 1)
            np.add.at(delta, self.train_end[valid], -1)
            mask = np.cumsum(delta[:-1]) > 0
            return np.flatnonzero(mask).astype(np.int64)
        raise ValueError(f"split must be 'train', 'val' or 'test', got {split!r}")

    def train_mask(self) -> NDArray[np.bool_]:
        """Boolean mask over interactions: True for training interactions."""
        pos = np.arange(self.n_interactions, dtype=np.int64)
        return pos < np.repeat(self.train_end, self.lengths)
