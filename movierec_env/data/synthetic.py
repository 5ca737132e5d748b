"""Synthetic MovieLens-like data for unit tests, examples and the scale benchmark."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from movierec_env.data.types import RawDataset

__all__ = ["GENRES", "ML1M_SHAPE", "synthetic_raw", "synthetic_sequential_raw", "write_dat"]

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
    return _raw(name, movie_ids, titles, genres, users, movie_rows, ratings, ts)


#: ml-1m's published shape: users, movies, ratings (every user has >= 20 ratings).
ML1M_SHAPE = (6_040, 3_706, 1_000_209)


def synthetic_sequential_raw(
    n_users: int = ML1M_SHAPE[0],
    n_movies: int = ML1M_SHAPE[1],
    n_ratings: int = ML1M_SHAPE[2],
    seed: int = 0,
    min_user_ratings: int = 20,
    max_user_ratings: int = 2_314,
    name: str = "synthetic-ml-1m",
) -> RawDataset:
    """Draw a dataset with MovieLens' shape and a sequential pattern to learn.

    Made for the encoder scale benchmark (``benchmarks/bench_encoders.py --scale``): the
    defaults give ml-1m's size (6,040 users, 3,706 movies, 1,000,209 ratings), with
    ml-1m's sequence lengths: at least ``min_user_ratings`` per user, long-tailed activity
    (log-normal, sigma 1.2: median ~90 and mean ~166 ratings a user, as ml-1m's 96 and
    166), capped at ``max_user_ratings`` (ml-1m's largest user). Movies sit on a hidden
    circle; a user's taste drifts along it as a random walk and each next movie is, with
    probability 0.6, one near the current taste (a Gaussian step on the circle), else a
    Zipf-popular one (exponent 0.9). So consecutive movies are related (Markov and
    sequence models can learn it), genres follow the circle in blocks (content models
    can use them), and no user rates a movie twice. Ratings are ``user bias + movie
    quality + noise`` on the half-star scale; timestamps increase with sessions (bursts
    in the same second, gaps within a session, days between sessions).

    Args:
        n_users: Number of users.
        n_movies: Catalogue size.
        n_ratings: Number of ratings (at most ``n_users * max_user_ratings``).
        seed: Random seed.
        min_user_ratings: Fewest ratings of a user.
        max_user_ratings: Most ratings of a user (below ``n_movies``).
        name: Dataset name.

    Returns:
        A raw dataset (layout ``"synthetic"``), ratings grouped by user in time order.

    Raises:
        ValueError: If the sizes are inconsistent (named in the message).
    """
    if not 0 < min_user_ratings <= max_user_ratings < n_movies:
        raise ValueError(
            "need 0 < min_user_ratings <= max_user_ratings < n_movies, got "
            f"min_user_ratings={min_user_ratings}, max_user_ratings={max_user_ratings}, "
            f"n_movies={n_movies}"
        )
    if not n_users * min_user_ratings <= n_ratings <= n_users * max_user_ratings:
        raise ValueError(
            f"n_ratings={n_ratings} must lie between n_users * min_user_ratings "
            f"({n_users * min_user_ratings}) and n_users * max_user_ratings "
            f"({n_users * max_user_ratings})"
        )
    rng = np.random.default_rng(seed)
    counts = _activity(rng, n_users, n_ratings, min_user_ratings, max_user_ratings)

    # Catalogue: hidden circle position = row; genres in overlapping blocks along it.
    n_genres = len(GENRES)
    block = (np.arange(n_movies) * n_genres) // n_movies
    genres = np.zeros((n_movies, n_genres), dtype=np.uint8)
    genres[np.arange(n_movies), block] = 1
    second = rng.random(n_movies) < 0.35
    genres[np.flatnonzero(second), (block[second] + 1) % n_genres] = 1
    popularity = 1.0 / np.arange(1, n_movies + 1) ** 0.9
    popularity = popularity[rng.permutation(n_movies)]  # popular movies all round the circle
    popularity /= popularity.sum()
    quality = rng.normal(0.0, 0.6, n_movies)

    spread = max(2.0, n_movies / 400)  # how far one step from the taste reaches
    parts_items, parts_users = [], []
    for u, length in enumerate(counts.tolist()):
        taste = rng.uniform(0, n_movies)
        seen: list[int] = []
        seen_set: set[int] = set()
        while len(seen) < length:
            k = 2 * (length - len(seen)) + 8
            walk = taste + np.cumsum(rng.normal(0.0, spread / 2, k))
            near = np.round(walk + rng.normal(0.0, spread, k)).astype(np.int64) % n_movies
            pop = rng.choice(n_movies, size=k, p=popularity)
            cand = np.where(rng.random(k) < 0.6, near, pop)
            taste = float(walk[-1])
            for c in cand.tolist():
                if c not in seen_set:
                    seen_set.add(c)
                    seen.append(c)
                    if len(seen) == length:
                        break
        parts_items.append(np.asarray(seen, dtype=np.int64))
        parts_users.append(np.full(length, u, dtype=np.int64))
    movie_rows = np.concatenate(parts_items)
    users = np.concatenate(parts_users)

    bias = rng.normal(0.0, 0.4, n_users)
    stars = 3.6 + bias[users] + quality[movie_rows] + rng.normal(0.0, 0.8, n_ratings)
    ratings = (np.clip(np.round(stars * 2), 1, 10) / 2).astype(np.float32)

    # Sessions: a new one with probability 0.1 (days apart), else seconds to an hour,
    # a fifth of the gaps zero (several ratings entered in the same second).
    new_session = rng.random(n_ratings) < 0.1
    gap = np.where(
        new_session,
        rng.integers(86_400, 30 * 86_400, n_ratings),
        rng.integers(1, 3_600, n_ratings) * (rng.random(n_ratings) >= 0.2),
    )
    firsts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    gap[firsts] = 0
    start = rng.integers(956_703_932, 1_046_454_590, n_users)  # ml-1m's time span
    clock = np.cumsum(gap)
    ts = start[users] + clock - clock[firsts][users]

    movie_ids = np.arange(1, n_movies + 1, dtype=np.int64) * 2  # non-contiguous ids
    titles = np.array([f"Movie {m} ({1930 + m % 70})" for m in movie_ids], dtype=object)
    return _raw(name, movie_ids, titles, genres, users, movie_rows, ratings, ts)


def _raw(
    name: str,
    movie_ids: NDArray[np.int64],
    titles: NDArray[np.object_],
    genres: NDArray[np.uint8],
    users: NDArray[np.int64],
    movie_rows: NDArray[np.int64],
    ratings: NDArray[np.float32],
    ts: NDArray[np.int64],
) -> RawDataset:
    """A synthetic :class:`RawDataset` from 0-based users and movie rows."""
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


def _activity(
    rng: np.random.Generator, n_users: int, n_ratings: int, low: int, high: int
) -> NDArray[np.int64]:
    """Ratings per user: ``low`` + log-normal shares of the rest, capped at ``high``."""
    weights = rng.lognormal(0.0, 1.2, n_users)
    counts = low + rng.multinomial(n_ratings - low * n_users, weights / weights.sum())
    excess = int(np.clip(counts - high, 0, None).sum())
    counts = np.minimum(counts, high)
    while excess:  # hand the capped users' excess to users below the cap, one each
        room = np.flatnonzero(counts < high)
        take = rng.choice(room, size=min(excess, room.size), replace=False)
        counts[take] += 1
        excess -= take.size
    return counts.astype(np.int64)


def write_dat(raw: RawDataset, folder: str | Path) -> Path:
    """Write ``raw`` in the ml-1m ``::`` layout (``movies.dat``, ``ratings.dat``).

    Args:
        raw: The dataset (titles must not contain ``::``).
        folder: Created if missing; the two files are replaced.

    Returns:
        The folder, which :func:`movierec_env.data.load_dataset` reads.
    """
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    names = raw.genre_names
    lines = [
        f"{m}::{t}::{'|'.join(names[j] for j in np.flatnonzero(g)) or '(no genres listed)'}"
        for m, t, g in zip(raw.movie_ids.tolist(), raw.titles.tolist(), raw.genres, strict=True)
    ]
    (out / "movies.dat").write_text("\n".join(lines) + "\n", encoding="utf-8")
    stars = np.char.mod("%g", raw.ratings.astype(np.float64))
    cols = [
        np.char.mod("%d", raw.user_ids),
        np.char.mod("%d", raw.rating_movie_ids),
        stars,
        np.char.mod("%d", raw.timestamps),
    ]
    rows = np.char.add(
        np.char.add(np.char.add(cols[0], "::"), np.char.add(cols[1], "::")),
        np.char.add(np.char.add(cols[2], "::"), cols[3]),
    )
    (out / "ratings.dat").write_text("\n".join(rows.tolist()) + "\n", encoding="utf-8")
    return out
