"""Synthetic MovieLens-like data for unit tests, examples and the scale benchmark."""

from __future__ import annotations

import numpy as np

from movierec_env.data.types import RawDataset

__all__ = ["GENRES", "synthetic_raw"]

GENRES = ["Action", "Comedy", "Drama", "Horror", "Romance", "Sci-Fi", "Thriller"]


def synthetic_raw(
    n_users: int = 50,
    n_movies: int = 40,
    n_ratings: int = 2_000,
    seed: int = 0,
    name: str = "synthetic",
) -> RawDataset:
    """Draw a random dataset with MovieLens' shape (Zipf-like popularity, 0.5-5.0 stars).

    Every user gets at least one rating; movies have one to three genres, and the last
    movie has none (like MovieLens' "(no genres listed)"). Users drift through genres so
    sequences carry some order.

    Args:
        n_users: Number of users.
        n_movies: Catalogue size.
        n_ratings: Number of ratings (at least ``n_users``).
        seed: Random seed.
        name: Dataset name.

    Returns:
        A raw dataset (layout ``"synthetic"``).
    """
    if n_ratings < n_users:
        raise ValueError(f"n_ratings ({n_ratings}) must be >= n_users ({n_users})")
    rng = np.random.default_rng(seed)
    movie_ids = np.arange(1, n_movies + 1, dtype=np.int64) * 3  # non-contiguous ids
    genres = np.zeros((n_movies, len(GENRES)), dtype=np.uint8)
    for j in range(len(GENRES)):
        genres[:, j] = rng.random(n_movies) < 0.25
    genres[np.arange(n_movies), np.arange(n_movies) % len(GENRES)] = 1
    genres[-1] = 0
    titles = np.array([f"Movie {m} ({1950 + m % 70})" for m in movie_ids], dtype=object)

    users = np.concatenate(
        [np.arange(n_users), rng.integers(0, n_users, n_ratings - n_users)]
    ).astype(np.int64)
    popularity = 1.0 / np.arange(1, n_movies + 1) ** 0.8
    popularity /= popularity.sum()
    movie_rows = rng.choice(n_movies, size=n_ratings, p=popularity)
    # Per-user clock: each user rates in bursts (shared timestamps do occur).
    start = rng.integers(800_000_000, 1_500_000_000, n_users)
    ts = start[users] + rng.integers(0, 50_000_000, n_ratings) // 60 * 60
    ratings = (rng.integers(1, 11, n_ratings) / 2.0).astype(np.float32)
    return RawDataset(
        name=name,
        source="<synthetic>",
        layout="synthetic",
        movie_ids=movie_ids,
        titles=titles,
        genre_names=list(GENRES),
        genres=genres,
        user_ids=users + 1,
        rating_movie_ids=movie_ids[movie_rows],
        ratings=ratings,
        timestamps=ts.astype(np.int64),
        rating_scale=(0.5, 5.0),
    )
