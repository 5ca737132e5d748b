"""Logs generated *by* a world, for parameter-recovery tests (fit on them, compare)."""

from __future__ import annotations

import numpy as np

from movierec_env.data.types import PreparedDataset, RawDataset
from movierec_env.sim.world import World

__all__ = ["simulate_logs"]


def simulate_logs(
    world: World,
    data: PreparedDataset,
    n_users: int,
    length: int,
    seed: int,
    session_gap_s: int = 86_400,
    step_s: int = 60,
) -> RawDataset:
    """Organic logs of ``n_users`` cold-start users, ``length`` ratings each.

    Each user starts with an empty history and watches organically (no recommendations);
    when the world says they leave, the next rating comes ``session_gap_s`` later (a new
    session), otherwise ``step_s`` later. Movies and genres are ``data``'s catalogue.

    Args:
        world: The generating world (fitted on ``data``).
        data: Its dataset (catalogue only).
        n_users: Number of users.
        length: Ratings per user (at most ``data.n_items``).
        seed: Seed of every draw.
        session_gap_s: Gap after a session end, seconds (must exceed the world's
            ``gap_hours``).
        step_s: Gap within a session, seconds.

    Returns:
        A raw dataset with ``data``'s movie catalogue.

    Raises:
        ValueError: If ``length`` exceeds the catalogue or ``n_users < 1``.
    """
    if n_users < 1:
        raise ValueError(f"n_users must be >= 1, got {n_users}")
    if not 1 <= length <= data.n_items:
        raise ValueError(f"length must be in [1, {data.n_items}], got {length}")
    rng = np.random.default_rng(seed)
    state = world.state_from_history(
        np.zeros(n_users + 1, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0)
    )
    items = np.zeros((n_users, length), dtype=np.int64)
    ratings = np.zeros((n_users, length))
    ts = np.zeros((n_users, length), dtype=np.int64)
    clock = 1_000_000_000 + rng.integers(0, 10_000_000, n_users)
    none = np.zeros(n_users, dtype=np.int64)
    for t in range(length):
        res = world.step(state, none, rng)
        items[:, t], ratings[:, t], ts[:, t] = res.watched_items, res.ratings, clock
        clock = clock + np.where(res.left, session_gap_s, step_s)
        world.new_session(state, np.flatnonzero(res.left))
    users = np.repeat(np.arange(1, n_users + 1, dtype=np.int64), length)
    return RawDataset(
        name="world-logs",
        source="<simulated>",
        layout="synthetic",
        movie_ids=data.item_movie_ids[1:].copy(),
        titles=data.item_titles[1:].copy(),
        genre_names=list(data.genre_names),
        genres=data.item_genres[1:].astype(np.uint8),
        user_ids=users,
        rating_movie_ids=data.item_movie_ids[items.ravel()],
        ratings=ratings.ravel().astype(np.float32),
        timestamps=ts.ravel(),
        rating_scale=data.rating_scale,
    )
