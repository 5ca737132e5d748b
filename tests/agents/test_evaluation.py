"""evaluate_agent against hand computations and against stepping the env itself."""

from __future__ import annotations

import numpy as np
import pytest

from agents import evaluate_agent
from agents.evaluation import beyond_accuracy, popularity_percentile, self_information
from agents.registry import make_agent
from movierec_env.data import PrepareConfig, prepare
from movierec_env.data.synthetic import synthetic_raw


class FixedOrderAgent:
    """Scores movies by a fixed preference: lower action index first."""

    def action_scores(self, obs, info):
        n = np.atleast_1d(info["position"]).size
        return np.tile(-np.arange(self.n, dtype=np.float64), (n, 1))

    def __init__(self, n):
        self.n = n


def test_metrics_match_hand_computation(make_env, tiny_data):
    env = make_env(split="test")
    agent = FixedOrderAgent(tiny_data.n_items)
    res = evaluate_agent(agent, env)
    pos = tiny_data.target_indices("test")
    ranks, actions = [], []
    for p in pos:
        u = np.searchsorted(tiny_data.offsets, p, side="right") - 1
        seen = set(tiny_data.items[tiny_data.offsets[u] : p].tolist())
        eligible = [i for i in range(1, tiny_data.n_items + 1) if i not in seen]
        target = int(tiny_data.items[p])
        ranks.append(1 + sum(1 for i in eligible if i < target))
        actions.append(eligible[0] - 1)
    r = np.array(ranks, dtype=float)
    assert res["n_users"] == len(pos)
    assert res["HR@1"] == pytest.approx(np.mean(r <= 1))
    assert res["HR@10"] == pytest.approx(np.mean(r <= 10))
    assert res["NDCG@10"] == pytest.approx(np.mean(np.where(r <= 10, 1 / np.log2(r + 1), 0)))
    assert res["MRR"] == pytest.approx(np.mean(1 / r))
    assert np.array_equal(res["per_user"]["ranks"], r.astype(int))
    assert np.array_equal(res["per_user"]["actions"], actions)
    assert res["ranking"] == "action_scores"


@pytest.mark.parametrize("reward", [None, {"genre_mode": "seed", "rating_mode": "item"}])
def test_rewards_equal_stepping_the_env(make_env, tiny_data, reward):
    env = make_env(split="test", reward=reward)
    res = evaluate_agent(make_agent("genre", env), env)
    pu = res["per_user"]
    total = {"hit": 0.0, "genre": 0.0, "rating": 0.0, "r": 0.0}
    for uid, act, rew in zip(pu["user_ids"], pu["actions"], pu["rewards"], strict=True):
        env.reset(options={"user_id": int(uid)})
        _, r, _, trunc, info = env.step(int(act))
        assert trunc
        assert r == pytest.approx(rew, abs=1e-7)
        total["r"] += r
        total["hit"] += info["reward_hit"]
        total["genre"] += info["reward_genre"]
        total["rating"] += info["reward_rating"]
    n = len(pu["user_ids"])
    assert res["mean_reward"] == pytest.approx(total["r"] / n, abs=1e-6)
    assert res["reward_hit"] == pytest.approx(total["hit"] / n)
    assert res["reward_genre"] == pytest.approx(total["genre"] / n, abs=1e-6)
    assert res["reward_rating"] == pytest.approx(total["rating"] / n, abs=1e-6)
    w = res["weights"]
    assert res["mean_reward"] == pytest.approx(
        w["hit"] * res["reward_hit"]
        + w["genre"] * res["reward_genre"]
        + w["rating"] * res["reward_rating"],
        abs=1e-6,
    )


def test_never_recommends_seen_even_if_agent_scores_them_highest(make_env, tiny_data):
    class LovesSeen:
        def action_scores(self, obs, info):
            from movierec_env.metrics import history_mask

            return history_mask(tiny_data, info["position"])[:, 1:].astype(float)

    env = make_env(split="test")
    res = evaluate_agent(LovesSeen(), env)
    from movierec_env.metrics import history_mask

    seen = history_mask(tiny_data, res["per_user"]["positions"])[:, 1:]
    assert not seen[np.arange(seen.shape[0]), res["per_user"]["actions"]].any()


def test_predict_only_agent_is_flagged(make_env, tiny_data):
    class PredictOnly:
        def predict(self, obs, state=None, episode_start=None, deterministic=False):
            return np.zeros(len(obs), dtype=np.int64), state

    env = make_env(split="test")
    res = evaluate_agent(PredictOnly(), env)
    assert res["ranking"] == "single-action"
    targets = tiny_data.items[tiny_data.target_indices("test")]
    assert res["HR@1"] == pytest.approx(np.mean(targets == 1))
    assert np.isnan(res["HR@10"])
    assert res["k"] == 1


@pytest.mark.slow
def test_sb3_dqn_ranked_by_q_values(make_env):
    sb3 = pytest.importorskip("stable_baselines3")
    env = make_env(split="test")
    model = sb3.DQN("MlpPolicy", env, seed=0, learning_starts=10, buffer_size=100)
    res = evaluate_agent(model, env)
    assert res["ranking"] == "q_values"
    assert 0 < res["MRR"] <= 1


def test_beyond_accuracy_hand_case():
    raw = synthetic_raw(n_users=20, n_movies=12, n_ratings=400, seed=1)
    data = prepare(raw, PrepareConfig(min_user_ratings=3, min_item_ratings=3))
    g = data.item_genres.astype(float)
    top = np.array([[1, 2], [1, 3]])
    summary, pu = beyond_accuracy(data, top)
    assert summary["coverage"] == pytest.approx(3 / data.n_items)

    def cos(a, b):
        na, nb = np.linalg.norm(g[a]), np.linalg.norm(g[b])
        return g[a] @ g[b] / (na * nb) if na and nb else 0.0

    np.testing.assert_allclose(pu["diversity"], [1 - cos(1, 2), 1 - cos(1, 3)])
    pop = data.popularity.astype(float)
    share = (pop + 1) / (pop[1:].sum() + data.n_items)
    np.testing.assert_allclose(
        pu["novelty"], [-np.log2(share[[1, 2]]).mean(), -np.log2(share[[1, 3]]).mean()]
    )
    np.testing.assert_allclose(self_information(data), -np.log2(share))
    pct = popularity_percentile(data)
    assert pct[np.argmax(pop)] == pytest.approx(1.0) or pop[1:].max() == np.sort(pop[1:])[-2]
    assert 0 < pct[1:].min() <= pct[1:].max() <= 1


def test_bad_arguments(make_env):
    env = make_env(split="test")
    agent = make_agent("genre", env)
    with pytest.raises(ValueError, match="split"):
        evaluate_agent(agent, env, split="dev")
    with pytest.raises(ValueError, match="k and batch_size"):
        evaluate_agent(agent, env, k=0)


def test_batch_size_does_not_change_results(make_env):
    env = make_env(split="val")
    agent = make_agent("genre", env)
    a = evaluate_agent(agent, env, batch_size=7)
    b = evaluate_agent(agent, env, batch_size=1000)
    for key in ("HR@10", "MRR", "mean_reward", "coverage", "diversity", "novelty"):
        assert a[key] == b[key]
    assert a["split"] == "val"
