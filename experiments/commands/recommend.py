"""``movierec recommend``: recommendations with reasons for one person."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:  # pragma: no cover
    from agents.recommender import Recommender

from experiments.commands.options import data_option, encoders_option, json_option

__all__ = ["recommend"]


def _parse_user(value: str) -> int:
    try:
        user = int(value.strip())
    except ValueError:
        raise ValueError(f"--user must be an integer MovieLens userId, got {value!r}") from None
    if user < 0:
        raise ValueError(f"--user must be a non-negative MovieLens userId, got {user}")
    return user


def _parse_rated(value: str) -> list[tuple[int, float]]:
    """``"movieId:rating,movieId:rating,..."`` (oldest first) as pairs."""
    pairs = []
    for n, part in enumerate(p for p in value.split(",") if p.strip()):
        movie, sep, rating = part.partition(":")
        try:
            if not sep:
                raise ValueError
            pairs.append((int(movie.strip()), float(rating.strip())))
        except ValueError:
            raise ValueError(
                f"--rated entry {n + 1} is {part.strip()!r}; expected movieId:rating, e.g. "
                "--rated 1:5,260:4.5"
            ) from None
    if not pairs:
        raise ValueError("--rated is empty; expected movieId:rating pairs, e.g. 1:5,260:4.5")
    return pairs


@click.command()
@click.option("--user", "user", default=None, help="MovieLens userId of the dataset.")
@click.option(
    "--rated",
    "rated",
    default=None,
    metavar="ID:RATING,...",
    help="A person outside the dataset: the movies they rated, oldest first, as "
    "movieId:rating pairs (e.g. 1:5,260:4.5,1196:4).",
)
@click.option(
    "-k", "k", type=click.IntRange(min=1), default=10, show_default=True, help="Number of movies."
)
@data_option
@encoders_option()
@click.option(
    "--agent",
    "agent",
    default="encoder-greedy",
    show_default=True,
    help="Ranking agent: encoder-greedy, hybrid, popular, random, or a saved DQN "
    "(path to its .zip).",
)
@click.option(
    "--min-history",
    type=click.IntRange(min=1),
    default=3,
    show_default=True,
    help="Users with fewer ratings get the popularity fallback.",
)
@json_option
def recommend(
    user: str | None,
    rated: str | None,
    k: int,
    dataset: str | None,
    encoders: str | None,
    agent: str,
    min_history: int,
    as_json: bool,
) -> None:
    """Recommend K unseen movies to a person, with their profile and a reason for each.

    The person is a dataset user (--user) or anyone, given by the movies they rated
    (--rated). A user who is unknown (or has fewer than --min-history ratings) gets the
    most popular movies, and the output says so.
    """
    from agents.recommender import Recommender

    if (user is None) == (rated is None):
        raise ValueError("give exactly one of --user USER_ID or --rated ID:RATING,...")
    agent_arg = _agent(agent)
    rec = Recommender(dataset, encoders, agent_arg, min_history=min_history)
    if rated is not None:
        _recommend_rated(rec, _parse_rated(rated), k, as_json)
        return
    assert user is not None
    user_id = _parse_user(user)
    note = rec.explain_fallback(user_id)
    items = rec.recommend(user_id, k=k)
    if as_json:
        out = {
            "user_id": user_id,
            "dataset": rec.dataset.name,
            "agent": rec.agent_name if note is None else "popularity-fallback",
            "fallback": note,
            "profile": rec.analyze_user(user_id).to_dict(),
            "recommendations": [r.to_dict() for r in items],
        }
        click.echo(json.dumps(out, default=float))
    else:
        click.echo(rec.format_recommendations(items, user_id=user_id))


def _recommend_rated(
    rec: Recommender, pairs: list[tuple[int, float]], k: int, as_json: bool
) -> None:
    """Recommendations for a person given only as rated movieIds."""
    from agents.profile import analyze_history, rated_items

    items = rec.recommend_for_ratings(pairs, k=k)
    hist, ratings = rated_items(rec.dataset, pairs)
    profile = analyze_history(rec.dataset, hist, ratings, -1, rec.recency_half_life, known=False)
    note = None
    if len(pairs) < rec.min_history:
        note = (
            f"only {len(pairs)} rating(s) given (fewer than {rec.min_history}): showing the "
            "most popular movies"
        )
    if as_json:
        out = {
            "user_id": None,
            "dataset": rec.dataset.name,
            "agent": rec.agent_name if note is None else "popularity-fallback",
            "fallback": note,
            "profile": profile.to_dict(),
            "recommendations": [r.to_dict() for r in items],
        }
        click.echo(json.dumps(out, default=float))
    else:
        from agents.profile import format_recommendations

        click.echo(format_recommendations(items, profile=profile, note=note))


def _agent(value: str) -> object:
    """An agent name, or a DQN loaded from a saved file."""
    from pathlib import Path

    from agents.registry import AGENT_NAMES

    if value in AGENT_NAMES:
        return value
    path = Path(value)
    if path.exists():
        from agents.dqn import DQN

        return DQN.load(path)
    raise ValueError(
        f"--agent must be one of {', '.join(AGENT_NAMES)} or a saved DQN file; got {value!r}"
    )
