"""``evaluate_episodes``: an agent's episodes on ``MovieRecSim-v0``, one per user of a split.

Logged replay is judged target by target (:func:`agents.evaluate_agent`); the simulator is
judged by what an agent's recommendations make the simulated user do over a whole episode:
the return, how long they stay, how often they take a recommendation, how they rate, and
each reward term. Every user of the env's split is run once (or the first ``max_users``),
in batches on the native vector env with the env's own world and settings, every agent
acting on the same users with the same seeds, so per-user returns support paired tests.

The agent acts on the observation and the action masks (seen movies are never
recommended); context baselines (Markov, genre) get the simulated user's recent items as
``info["recent_items"]``: what a deployed recommender knows of its user. The ORACLES
(:mod:`agents.oracles`) are attached to the batch being stepped, so they read the true
state of the very users they are judged on.

**Candidate mode** (an env made with ``candidates=K``): the evaluation batches use the
env's candidate settings, the agent chooses among the K movies proposed to each simulated
user (``info["candidates"]``, drawn from each user's own seeded stream, so every agent sees
the same first candidates and paired tests stay paired), and diversity and coverage count
the movies recommended, not the slots. The oracles choose among the K too.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from agents.evaluation import agent_scores
from agents.oracles import OracleAgent
from movierec_env.contract import rec_env
from movierec_env.sim_env import SimEnvProperties

__all__ = ["CONTEXT_WINDOW", "evaluate_episodes"]

#: Recent items handed to context baselines in ``info["recent_items"]``.
CONTEXT_WINDOW = 30


def _actions(
    agent: Any, obs: NDArray[np.float32], masks: NDArray[np.bool_], info: dict[str, Any]
) -> NDArray[np.int64]:
    """The agent's best allowed action per row (its ranking, else its ``predict``)."""
    scores, _ = agent_scores(agent, obs, info)
    if scores is not None:
        s = np.array(scores, dtype=np.float64)
        s[np.isnan(s)] = -np.inf
        s[~masks] = -np.inf
        return np.argmax(s, axis=1).astype(np.int64)
    actions, _ = agent.predict(obs, deterministic=True, action_masks=masks)
    return np.asarray(actions, dtype=np.int64).reshape(-1)


def evaluate_episodes(
    agent: Any,
    env: Any,
    *,
    max_users: int | None = None,
    seed: int = 0,
    batch_size: int = 256,
    progress_bar: bool = False,
) -> dict[str, Any]:
    """Run one episode per user of a ``MovieRecSim-v0`` env's split and summarise them.

    Args:
        agent: Any agent :func:`agents.evaluate_agent` accepts (ranking agents, SB3 models,
            anything with ``predict``).
        env: A ``MovieRecSim-v0`` env (single or vector, wrapped or not): its world, split,
            episode length, reward and candidate mode are used (slates: the first slot).
        max_users: Only the first ``max_users`` users of the split.
        seed: Seed of the episodes (user ``k`` of a batch starting at ``s`` is seeded
            ``seed + s + k``), the same for every agent.
        batch_size: Users simulated at once.
        progress_bar: Show a tqdm bar.

    Returns:
        ``mean_return``, ``mean_length``, ``take_rate`` (share of steps whose
        recommendation was taken), ``mean_rating`` (simulated), ``reward_hit``,
        ``reward_genre``, ``reward_rating`` (mean unweighted terms per step),
        ``diversity`` (mean pairwise ``1 - cosine`` of the genres recommended within an
        episode), ``coverage`` (distinct movies recommended / catalogue), ``n_users`` and
        ``per_user`` arrays (``user_ids``, ``returns``, ``lengths``, ``takes``).

    Raises:
        TypeError: If ``env`` is not a simulator env.
    """
    from movierec_env.sim_vector_env import MovieRecSimVectorEnv

    base = rec_env(env)
    if not isinstance(base, SimEnvProperties):
        raise TypeError(
            "evaluate_episodes needs a MovieRecSim-v0 env (use evaluate_agent on MovieRec-v0)"
        )
    core = base.sim_core
    users = core.users if max_users is None else core.users[: int(max_users)]
    data = core.data
    n = users.size
    returns, lengths, takes = np.zeros(n), np.zeros(n, dtype=np.int64), np.zeros(n)
    term_sums = np.zeros(3)
    rating_sum, steps_total = 0.0, 0
    recommended: list[set[int]] = [set() for _ in range(n)]
    starts = range(0, n, batch_size)
    if progress_bar:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc="episodes", unit="batch")  # type: ignore[assignment]
    for s in starts:
        batch = users[s : s + batch_size]
        venv = MovieRecSimVectorEnv(
            num_envs=batch.size,
            dataset=data,
            encoders=core.encoder,
            world=core.world,
            split=core.split,
            max_episode_steps=core.max_episode_steps,
            slate_size=1,
            reward=core.reward_config,
            mask_seen=core.mask_seen,
            step_seconds=core.step_seconds,
            candidates=core.candidate_config,
        )
        obs, _ = venv.reset(seed=seed + s, options={"user_id": data.user_ids[batch].tolist()})
        previous = agent.attach(venv) if isinstance(agent, OracleAgent) else None
        alive = np.ones(batch.size, dtype=bool)
        while alive.any():
            masks = venv.action_masks()
            info = {"recent_items": venv.recent_items(CONTEXT_WINDOW), "action_masks": masks}
            if core.generator is not None:
                info["candidates"] = venv.current_candidates()
                info["item_masks"] = venv.watched_masks()
            acts = _actions(agent, obs, masks, info)
            items = (
                acts if core.generator is None else info["candidates"][np.arange(acts.size), acts]
            )
            obs, reward, term, trunc, info = venv.step(acts)
            rows = np.flatnonzero(alive)
            returns[s + rows] += reward[rows]
            lengths[s + rows] += 1
            takes[s + rows] += info["accepted"][rows].astype(np.float64)
            term_sums += [
                info["reward_hit"][rows].sum(),
                info["reward_genre"][rows].sum(),
                info["reward_rating"][rows].sum(),
            ]
            rating_sum += float(info["rating"][rows].sum())
            steps_total += rows.size
            for r in rows:
                recommended[s + r].add(int(items[r]))
            alive &= ~(term | trunc)
        if previous is not None:
            agent.attach(previous)
    div = _episode_diversity(base.item_features.genres, recommended)
    steps = max(steps_total, 1)
    return {
        "mean_return": float(returns.mean()),
        "mean_length": float(lengths.mean()),
        "take_rate": float(takes.sum() / steps),
        "mean_rating": rating_sum / steps,
        "reward_hit": float(term_sums[0] / steps),
        "reward_genre": float(term_sums[1] / steps),
        "reward_rating": float(term_sums[2] / steps),
        "diversity": div,
        "coverage": len(set().union(*recommended)) / data.n_items,
        "n_users": int(n),
        "per_user": {
            "user_ids": data.user_ids[users],
            "returns": returns,
            "lengths": lengths,
            "takes": takes,
        },
    }


def _episode_diversity(genres: NDArray[np.float64], recommended: list[set[int]]) -> float:
    """Mean over episodes of the mean pairwise ``1 - cosine`` of recommended genres."""
    vals = []
    for rec in recommended:
        if len(rec) < 2:
            continue
        g = genres[np.fromiter(rec, dtype=np.int64) + 1]
        sim = g @ g.T
        k = g.shape[0]
        vals.append(1.0 - (sim.sum() - np.trace(sim)) / (k * (k - 1)))
    return float(np.mean(vals)) if vals else float("nan")
