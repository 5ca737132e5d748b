"""``evaluate_agent``: PROTOCOL.md ranking metrics, the reward and beyond-accuracy measures.

One pass over a split's targets (one step per user for ``"val"``/``"test"``, PROTOCOL.md),
batched, through the env contract (:class:`movierec_env.RecEnv`): the observation of each
target is the env's own (``observations_at``), the reward of the chosen action comes from
the env's own reward function (:func:`movierec_env.reward.compute_reward` on the env's
``reward_tables``), so the numbers are those the env would give step by step, without a
Python loop over users.

What an agent is scored by (the agent contract, :mod:`agents.common.protocols`, most
informative first):

1. ``agent.action_scores(obs, info)`` (a :class:`~agents.common.protocols.RankingAgent`:
   every agent of this package): a full ranking;
2. a Stable-Baselines3 model: Q-values (``policy.q_net``, QR-DQN's mean quantiles) or the
   policy's action logits (PPO, MaskablePPO): a full ranking;
3. anything else with ``predict``: a single action per user. HR@1 is exact; HR@5, HR@10,
   NDCG@10 and MRR are undefined (``nan``) and the result says ``"ranking": "single-action"``.

Seen movies are never recommended: the prefix of every target is masked out of the ranking
(PROTOCOL.md) and of the action, whatever the agent scores them.

**Candidate mode** (an env made with ``candidates=K``): the env's generator proposes K
movies at every target (``RecEnv.candidates_at``, from a generator seeded by
``candidate_seed``, so every agent evaluated with the same seed sees the same candidates and
paired tests stay paired); the agent scores the K candidates (``action_scores`` returns
``(B, K)``, SB3 models their K logits / Q-values) and acts on the best one. The ranking
metrics still rank the **full catalogue**: the candidates in the agent's order, then every
other unseen movie tied last, with ties broken pessimistically (PROTOCOL.md). A target the
generator did not propose therefore gets the worst rank, and the numbers stay comparable
with full-catalogue agents; ``candidate_recall`` (how often the target was among the K) is
reported beside them.
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
from numpy.typing import NDArray

from agents.common.protocols import is_ranking_agent
from movierec_env.candidates import popularity_percentile as candidate_popularity_percentile
from movierec_env.contract import RecEnv, rec_env
from movierec_env.data.types import PreparedDataset
from movierec_env.metrics import history_mask, metrics_from_ranks, ranks_from_scores
from movierec_env.reward import compute_reward, unit_rows

__all__ = [
    "agent_scores",
    "beyond_accuracy",
    "evaluate_agent",
    "popularity_percentile",
    "self_information",
]


def popularity_percentile(data: PreparedDataset) -> NDArray[np.float64]:
    """Each item's training-popularity percentile in ``(0, 1]`` (ties share the mean rank).

    Shape ``(n_items + 1,)``; 1.0 is the most popular movie, row 0 (padding) is 0
    (:func:`movierec_env.candidates.popularity_percentile`, also a candidate feature).
    """
    return candidate_popularity_percentile(data)


def self_information(data: PreparedDataset) -> NDArray[np.float64]:
    """``-log2`` of each item's share of training interactions, add-one smoothed.

    Shape ``(n_items + 1,)``; the smoothing keeps items without training interactions finite.
    """
    pop = np.asarray(data.popularity, dtype=np.float64)
    share = (pop + 1.0) / (pop[1:].sum() + data.n_items)
    return -np.log2(share)


def beyond_accuracy(
    data: PreparedDataset, top_items: NDArray[np.integer]
) -> tuple[dict[str, float], dict[str, NDArray[np.float64]]]:
    """Coverage, intra-list genre diversity and novelty of recommendation lists.

    Args:
        data: The prepared dataset (popularity from training interactions only).
        top_items: Item indices (1-based) of each user's list, ``(n_users, k)``.

    Returns:
        ``(summary, per_user)``: ``coverage`` (distinct recommended items / catalogue),
        ``diversity`` (mean pairwise ``1 - cosine`` of genre vectors within a list; ``nan``
        for lists of one), ``novelty`` (mean self-information ``-log2`` popularity share, in
        bits) and ``popularity_percentile`` (mean percentile of recommended items, 1 = most
        popular), plus the per-user values of the last three.
    """
    top = np.asarray(top_items, dtype=np.int64)
    n, k = top.shape
    gn = unit_rows(np.asarray(data.item_genres, dtype=np.float64))
    if k > 1:
        x = gn[top]  # (n, k, n_genres)
        sim = np.einsum("ukg,ulg->ukl", x, x)
        off = sim.sum(axis=(1, 2)) - np.einsum("ukk->u", sim)
        diversity = 1.0 - off / (k * (k - 1))
    else:
        diversity = np.full(n, np.nan)
    novelty = self_information(data)[top].mean(axis=1)
    pct = popularity_percentile(data)[top].mean(axis=1)
    summary = {
        "coverage": float(np.unique(top).size / data.n_items),
        "diversity": float(diversity.mean()) if k > 1 else float("nan"),
        "novelty": float(novelty.mean()),
        "popularity_percentile": float(pct.mean()),
    }
    per_user = {"diversity": diversity, "novelty": novelty, "popularity_percentile": pct}
    return summary, per_user


# --------------------------------------------------------------------------- scoring
def _sb3_scores(agent: Any, obs: NDArray[np.float32]) -> tuple[NDArray[Any], str] | None:
    """Q-values or action logits of a Stable-Baselines3 / sb3-contrib model, if it is one."""
    policy = getattr(agent, "policy", None)
    if policy is None or not hasattr(policy, "obs_to_tensor"):
        return None
    import torch

    with torch.no_grad():
        obs_t, _ = policy.obs_to_tensor(obs)
        if hasattr(policy, "q_net"):  # DQN
            return policy.q_net(obs_t).cpu().numpy(), "q_values"
        if hasattr(policy, "quantile_net"):  # QR-DQN: mean over quantiles
            return policy.quantile_net(obs_t).mean(dim=1).cpu().numpy(), "q_values"
        if hasattr(policy, "get_distribution"):  # PPO, MaskablePPO
            dist = policy.get_distribution(obs_t)
            logits = getattr(dist.distribution, "logits", None)
            if logits is not None:
                return logits.cpu().numpy(), "policy_logits"
    return None


def agent_scores(
    agent: Any, obs: NDArray[np.float32], info: dict[str, Any]
) -> tuple[NDArray[Any] | None, str]:
    """An agent's scores of every action ``(B, n_items)`` and where they come from.

    Duck typing, most informative first: ``action_scores(obs, info)``; a
    Stable-Baselines3 model's Q-values or policy logits; else ``(None, "single-action")``
    (the agent only has ``predict``).
    """
    if is_ranking_agent(agent):
        return np.asarray(agent.action_scores(obs, info)), "action_scores"
    found = _sb3_scores(agent, obs)
    if found is not None:
        return found
    return None, "single-action"


def _predict_actions(
    agent: Any, obs: NDArray[np.float32], info: dict[str, Any], allowed: NDArray[np.bool_]
) -> NDArray[np.int64]:
    kwargs: dict[str, Any] = {"deterministic": True}
    try:
        params = inspect.signature(agent.predict).parameters
    except (TypeError, ValueError):
        params = {}  # type: ignore[assignment]
    if "action_masks" in params:
        kwargs["action_masks"] = allowed
    if "info" in params:
        kwargs["info"] = info
    actions, _ = agent.predict(obs, **kwargs)
    return np.asarray(actions, dtype=np.int64).reshape(-1)


def _top_k(scores: NDArray[np.float64], k: int) -> NDArray[np.int64]:
    """Indices of the ``k`` best columns per row, best first (ties: lower index first)."""
    k = min(k, scores.shape[1])
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    part.sort(axis=1)  # lower index first among ties after the stable sort below
    vals = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-vals, axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1).astype(np.int64)


# --------------------------------------------------------------------------- evaluate
def _rank_targets(
    agent: Any,
    contract: RecEnv,
    positions: NDArray[np.int64],
    users: NDArray[np.int64],
    k: int,
    batch_size: int,
    progress: str | None,
    candidates: NDArray[np.int64] | None = None,
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64], str]:
    """Score every target in batches: ``(ranks, actions, top-k items, kind of ranking)``.

    ``ranks`` are ``-1`` and ``top`` is ``-1`` for an agent that only predicts an action;
    ``progress`` names the split on a tqdm bar (``None``: no bar). ``candidates``
    ``(n, K)``: candidate mode (see the module docstring); ``k`` is then at most ``K``.
    """
    data = contract.dataset
    n, n_items = positions.size, data.n_items
    if candidates is not None:
        k = min(k, candidates.shape[1])
    ranks = np.full(n, -1, dtype=np.int64)
    actions = np.empty(n, dtype=np.int64)
    top = np.empty((n, k), dtype=np.int64)
    kind = "single-action"
    starts = range(0, n, batch_size)
    if progress is not None:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc=f"evaluate {progress}", unit="batch")  # type: ignore[assignment]
    for s in starts:
        pos = positions[s : s + batch_size]
        info: dict[str, Any] = {
            "position": pos,
            "user_id": data.user_ids[users[s : s + batch_size]],
        }
        if candidates is None:
            obs = contract.observations_at(pos)
        else:
            cands = candidates[s : s + batch_size]
            obs = contract.candidate_observations_at(pos, cands)
            info["candidates"] = cands
        seen = history_mask(data, pos)
        scores, kind = agent_scores(agent, obs, info)
        n_act = n_items if candidates is None else cands.shape[1]
        if scores is None:
            allowed = ~seen[:, 1:] if candidates is None else np.ones((pos.size, n_act), bool)
            act = _predict_actions(agent, obs, info, allowed)
            if ((act < 0) | (act >= n_act)).any():
                raise ValueError(f"{type(agent).__name__}.predict returned an invalid action")
            actions[s : s + pos.size] = (
                act if candidates is None else cands[np.arange(act.size), act]
            )
            top[s : s + pos.size] = -1
            continue
        if scores.shape != (pos.size, n_act):
            raise ValueError(
                f"{type(agent).__name__} returned scores of shape {scores.shape}, expected "
                f"({pos.size}, {n_act})"
            )
        full = np.empty((pos.size, n_items + 1), dtype=np.float64)
        if candidates is None:
            full[:, 0] = -np.inf
            full[:, 1:] = scores
        else:
            # Non-candidates tie last (-inf); a -inf or nan candidate ties with them.
            full.fill(-np.inf)
            np.put_along_axis(full, cands + 1, np.asarray(scores, dtype=np.float64), axis=1)
        full[np.isnan(full)] = -np.inf
        ranks[s : s + pos.size] = ranks_from_scores(full, data.items[pos], seen)
        full[seen] = -np.inf
        full[:, 0] = -np.inf
        best = _top_k(full, k)
        top[s : s + pos.size] = best
        actions[s : s + pos.size] = best[:, 0] - 1

    return ranks, actions, top, kind


def evaluate_agent(
    agent: Any,
    env: Any,
    *,
    split: str | None = None,
    k: int = 10,
    batch_size: int = 256,
    max_users: int | None = None,
    progress_bar: bool = False,
    candidate_seed: int = 0,
) -> dict[str, Any]:
    """Evaluate an agent on a split of a MovieRec env (PROTOCOL.md + reward + beyond-accuracy).

    Every user with a target in the split is judged once per target (for ``"val"`` and
    ``"test"``: one step per user). At each target the agent's action is its best unseen
    movie (the top of its masked ranking, or its deterministic ``predict``), and its reward
    is computed by the env's own reward function.

    Args:
        agent: Any agent: with ``action_scores(obs, info)``, a Stable-Baselines3 model, or
            anything with an SB3 ``predict``.
        env: A MovieRec env (single or vector, wrapped or not: anything
            :func:`movierec_env.rec_env` accepts); its dataset, observations, reward tables
            and (unless ``split`` is given) split are used.
        split: ``"train"``, ``"val"`` or ``"test"``; defaults to the env's split.
        k: Length of the recommendation lists for coverage, diversity and novelty.
        batch_size: Users scored at once.
        max_users: Evaluate only the first ``max_users`` targets (quick checks).
        progress_bar: Show a tqdm bar.
        candidate_seed: Candidate mode: seed of the generator the candidates of every
            target are drawn from (the same seed gives every agent the same candidates).

    Returns:
        A flat dict: ``HR@1``, ``HR@5``, ``HR@10``, ``NDCG@10``, ``MRR``, ``n_users``,
        ``mean_reward``, ``reward_hit``, ``reward_genre``, ``reward_rating`` (unweighted
        means of the terms), ``weights`` (of the terms), ``coverage``, ``diversity``,
        ``novelty``, ``popularity_percentile``, ``ranking`` (``"action_scores"``,
        ``"q_values"``, ``"policy_logits"`` or ``"single-action"``), ``split``, ``k``, and
        ``per_user`` arrays aligned over the evaluated targets: ``user_ids``, ``positions``,
        ``actions``, ``ranks`` (``-1`` when only an action is known), ``rewards``, ``hit``,
        ``genre``, ``rating``, ``diversity``, ``novelty``, ``popularity_percentile``.
        Candidate mode adds ``candidates`` (K), ``candidate_recall`` (share of targets
        among the K) and ``per_user`` ``candidates`` ``(n, K)`` and
        ``target_in_candidates``; ``k`` is at most K.

    Raises:
        ValueError: On a bad ``split``/``k``/``batch_size`` or an agent returning scores of
            the wrong shape.
    """
    if k < 1 or batch_size < 1:
        raise ValueError(f"k and batch_size must be >= 1, got k={k}, batch_size={batch_size}")
    contract = rec_env(env)
    data: PreparedDataset = contract.dataset
    split = split if split is not None else contract.split
    if split not in ("train", "val", "test"):
        raise ValueError(f"split must be 'train', 'val' or 'test', got {split!r}")
    tables = contract.reward_tables
    positions = data.target_indices(split)
    if max_users is not None:
        positions = positions[: int(max_users)]
    users = np.searchsorted(data.offsets, positions, side="right") - 1

    candidates = None
    if contract.candidates is not None:
        candidates = contract.candidates_at(positions, np.random.default_rng(candidate_seed))
    ranks, actions, top, kind = _rank_targets(
        agent,
        contract,
        positions,
        users,
        k,
        batch_size,
        split if progress_bar else None,
        candidates,
    )
    reward, hit, genre, rating, _ = compute_reward(tables, actions, positions)
    out: dict[str, Any] = {}
    if kind == "single-action":
        out.update(
            {
                "HR@1": float(hit.mean()),
                "HR@5": float("nan"),
                "HR@10": float("nan"),
                "NDCG@10": float("nan"),
                "MRR": float("nan"),
                "n_users": int(positions.size),
            }
        )
        lists = (actions + 1)[:, None]
    else:
        out.update(metrics_from_ranks(ranks))
        lists = top
    summary, per_user_ba = beyond_accuracy(data, lists)
    out.update(
        {
            "mean_reward": float(np.mean(reward, dtype=np.float64)),
            "reward_hit": float(np.mean(hit, dtype=np.float64)),
            "reward_genre": float(np.mean(genre, dtype=np.float64)),
            "reward_rating": float(np.mean(rating, dtype=np.float64)),
            "weights": tables.config.weights,
            **summary,
            "ranking": kind,
            "split": split,
            "k": int(lists.shape[1]),
            "per_user": {
                "user_ids": data.user_ids[users],
                "positions": positions,
                "actions": actions,
                "ranks": ranks,
                "rewards": np.asarray(reward, dtype=np.float64),
                "hit": np.asarray(hit, dtype=bool),
                "genre": np.asarray(genre, dtype=np.float64),
                "rating": np.asarray(rating, dtype=np.float64),
                **per_user_ba,
            },
        }
    )
    if candidates is not None:
        inside = (candidates == (data.items[positions] - 1)[:, None]).any(axis=1)
        out["candidates"] = int(candidates.shape[1])
        out["candidate_recall"] = float(inside.mean())
        out["per_user"]["candidates"] = candidates
        out["per_user"]["target_in_candidates"] = inside
    return out
