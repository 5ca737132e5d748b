"""What the Recommender says about a person: preference profile, reasons, readable text.

Split from :mod:`agents.recommender`. Everything works on a raw history (item indices and
ratings, oldest first), so a user who is not in the dataset is analysed like one who is.
Recency is measured by position in the user's *own* timeline (the last rating has weight 1,
one ``half_life`` ratings earlier 0.5), never by the wall clock.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from movierec_env.data.types import PreparedDataset

__all__ = [
    "GenreStat",
    "Recommendation",
    "UserProfile",
    "analyze_history",
    "format_recommendations",
    "history_weights",
    "item_genre_names",
    "rated_items",
]


@dataclass(frozen=True)
class Recommendation:
    """One recommended movie.

    Attributes:
        rank: 1-based position in the list.
        movie_id: MovieLens movieId.
        title: Title (with year).
        genres: Genre names.
        score: The ranking's score (model score, or the number of views for the fallback).
        reason: A short human-readable reason.
        source: ``"model"`` or ``"popularity"`` (the fallback).
    """

    rank: int
    movie_id: int
    title: str
    genres: tuple[str, ...]
    score: float
    reason: str
    source: str = "model"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        d = asdict(self)
        d["genres"] = list(self.genres)
        return d


@dataclass(frozen=True)
class GenreStat:
    """A user's relation to one genre.

    Attributes:
        genre: Genre name.
        count: Movies of the genre the user rated.
        mean_rating: The user's average rating of them.
        preference: Share of the user's recency- and rating-weighted history in this genre.
    """

    genre: str
    count: int
    mean_rating: float
    preference: float


@dataclass(frozen=True)
class UserProfile:
    """What :meth:`Recommender.analyze_user` found out about a user.

    Attributes:
        user_id: MovieLens userId.
        known: Whether the user is in the dataset.
        n_ratings: Ratings in the analysed history.
        mean_rating: The user's average rating (``nan`` if none).
        genres: Per-genre statistics, most preferred first.
        favourite_genres: Up to three most preferred genres.
        recent: ``(movieId, title, rating)`` of the most recent movies, newest first.
        top_rated: ``(movieId, title, rating)`` of the highest weighted ratings (rating and
            recency), best first.
    """

    user_id: int
    known: bool
    n_ratings: int
    mean_rating: float
    genres: list[GenreStat] = field(default_factory=list)
    favourite_genres: tuple[str, ...] = ()
    recent: list[tuple[int, str, float]] = field(default_factory=list)
    top_rated: list[tuple[int, str, float]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        d = asdict(self)
        d["favourite_genres"] = list(self.favourite_genres)
        return d


def rated_items(
    data: PreparedDataset, pairs: list[tuple[int, float]]
) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    """Item indices and ratings of ``(movieId, rating)`` pairs, validated.

    Raises:
        ValueError: Naming unknown movieIds, or a rating outside the dataset's scale.
    """
    d = data
    known = {int(m): i for i, m in enumerate(d.item_movie_ids) if i > 0}
    unknown = [int(m) for m, _ in pairs if int(m) not in known]
    if unknown:
        raise ValueError(
            f"unknown movieId(s) {unknown[:10]}{' ...' if len(unknown) > 10 else ''}: "
            f"not among the {d.n_items} movies of dataset {d.name!r} (after its "
            f"{d.config.min_item_ratings}-rating filter)"
        )
    lo, hi = d.rating_scale
    ratings = np.asarray([float(r) for _, r in pairs], dtype=np.float32)
    bad = (ratings < lo) | (ratings > hi) | ~np.isfinite(ratings)
    if bad.any():
        raise ValueError(
            f"rating {float(ratings[np.argmax(bad)])} of movieId "
            f"{int(pairs[int(np.argmax(bad))][0])} is outside the dataset's scale "
            f"[{lo}, {hi}]"
        )
    items = np.asarray([known[int(m)] for m, _ in pairs], dtype=np.int64)
    return items, ratings


def history_weights(
    ratings: NDArray[np.floating], rating_scale: tuple[float, float], half_life: float
) -> NDArray[np.float64]:
    """Recency x normalised-rating weight of each rating of a history (oldest first)."""
    n = np.asarray(ratings).size
    age = np.arange(n - 1, -1, -1, dtype=np.float64)  # 0 for the latest rating
    recency = 0.5 ** (age / half_life)
    lo, hi = rating_scale
    rating_w = (np.asarray(ratings, dtype=np.float64) - lo) / max(hi - lo, 1e-9)
    return recency * np.clip(rating_w, 0.0, 1.0)


def item_genre_names(data: PreparedDataset, item: int) -> tuple[str, ...]:
    """Genre names of an item index."""
    row = data.item_genres[item]
    return tuple(name for name, on in zip(data.genre_names, row, strict=True) if on)


def analyze_history(
    data: PreparedDataset,
    items: NDArray[np.integer],
    ratings: NDArray[np.floating],
    user_id: int,
    half_life: float,
    n_movies: int = 5,
    known: bool = True,
) -> UserProfile:
    """Preference profile of a rating history (item indices and ratings, oldest first).

    A rating's weight is its recency (half-life ``half_life`` ratings) times its rating
    normalised to the dataset's scale; genre preferences are weighted shares, favourite
    genres the top three.
    """
    items = np.asarray(items, dtype=np.int64)
    ratings = np.asarray(ratings, dtype=np.float64)
    w = history_weights(ratings, data.rating_scale, half_life)
    g = np.asarray(data.item_genres[items], dtype=np.float64)
    counts = g.sum(axis=0)
    sums = (g * ratings[:, None]).sum(axis=0)
    weighted = (g * w[:, None]).sum(axis=0)
    total = weighted.sum()
    pref = weighted / total if total > 0 else np.zeros_like(weighted)
    stats = [
        GenreStat(
            genre=name,
            count=int(counts[j]),
            mean_rating=float(sums[j] / counts[j]),
            preference=float(pref[j]),
        )
        for j, name in enumerate(data.genre_names)
        if counts[j] > 0
    ]
    stats.sort(key=lambda s: (-s.preference, -s.count, s.genre))
    favourites = tuple(s.genre for s in stats[:3] if s.preference > 0)

    def entry(t: int) -> tuple[int, str, float]:
        item = int(items[t])
        return int(data.item_movie_ids[item]), str(data.item_titles[item]), float(ratings[t])

    recent = [entry(t) for t in range(items.size - 1, -1, -1)[:n_movies]]
    order = np.lexsort((-np.arange(items.size), -w))[:n_movies]
    return UserProfile(
        user_id=int(user_id),
        known=known,
        n_ratings=int(items.size),
        mean_rating=float(ratings.mean()) if items.size else float("nan"),
        genres=stats,
        favourite_genres=favourites,
        recent=recent,
        top_rated=[entry(int(t)) for t in order],
    )


def format_recommendations(
    recommendations: list[Recommendation],
    profile: UserProfile | None = None,
    note: str | None = None,
) -> str:
    """Format recommendations (and optionally a user profile) as plain text.

    Args:
        recommendations: From :meth:`Recommender.recommend`.
        profile: From :meth:`Recommender.analyze_user`.
        note: A line shown first (e.g. why the fallback is used).

    Returns:
        Multi-line text.
    """
    lines: list[str] = []
    if profile is not None and (profile.known or profile.n_ratings):
        who = f"User {profile.user_id}" if profile.known else "Your ratings"
        lines.append(f"{who}: {profile.n_ratings} ratings, average {profile.mean_rating:.2f}")
        if profile.favourite_genres:
            favs = ", ".join(
                f"{s.genre} ({s.preference:.0%}, avg {s.mean_rating:.1f})"
                for s in profile.genres[: len(profile.favourite_genres)]
            )
            lines.append(f"Favourite genres: {favs}")
        if profile.recent:
            recent = "; ".join(f"{t} ({r:.1f})" for _, t, r in profile.recent[:3])
            lines.append(f"Recently watched: {recent}")
        lines.append("")
    if note:
        lines.append(note)
        lines.append("")
    width = max((len(r.title) for r in recommendations), default=5)
    width = min(width, 60)
    for r in recommendations:
        title = r.title if len(r.title) <= width else r.title[: width - 1] + "…"
        genres = "|".join(r.genres) or "no genre"
        lines.append(f"{r.rank:>2}. {title:<{width}}  {r.score:>9.3f}  {genres}")
        lines.append(f"    {r.reason}")
    return "\n".join(lines)
