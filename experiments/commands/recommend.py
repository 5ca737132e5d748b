"""``movierec recommend``: recommendations with reasons for one person."""

from __future__ import annotations

import json

import click

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


@click.command()
@click.option("--user", "user", required=True, help="MovieLens userId.")
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
    user: str,
    k: int,
    dataset: str | None,
    encoders: str | None,
    agent: str,
    min_history: int,
    as_json: bool,
) -> None:
    """Recommend K unseen movies to USER, with the user's profile and a reason for each.

    A user who is unknown (or has fewer than --min-history ratings) gets the most popular
    movies, and the output says so.
    """
    from agents.recommender import Recommender

    user_id = _parse_user(user)
    agent_arg = _agent(agent)
    rec = Recommender(dataset, encoders, agent_arg, min_history=min_history)
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
