"""Agents and evaluation in candidate mode, and the ``constant`` baseline in both modes."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from agents import evaluate_agent
from agents.baselines import constant_scores
from agents.registry import make_agent
from movierec_env import rec_env
from movierec_env.reward import compute_reward
from tests.conftest import CANDIDATES_K

K = CANDIDATES_K


def test_constant_is_the_best_mean_training_reward(make_env, tiny_data):
    env = make_env()
    tables = rec_env(env).reward_tables
    scores = constant_scores(tiny_data, tables)
    # Brute force: every movie's mean reward over the training positions.
    user = np.repeat(np.arange(tiny_data.n_users), tiny_data.lengths)
    pos = np.flatnonzero(np.arange(tiny_data.n_interactions) < tiny_data.train_end[user])
    brute = [float(np.mean(compute_reward(tables, a, pos)[0])) for a in range(tiny_data.n_items)]
    np.testing.assert_allclose(scores, brute, atol=1e-6)
    agent = make_agent("constant", env)
    best = int(np.argmax(brute))
    obs, info = env.reset(seed=0)
    action, _ = agent.predict(obs, info=info)
    masks = env.action_masks()
    assert action == (best if masks[best] else int(np.argmax(np.where(masks, brute, -1))))


def test_constant_scores_are_the_same_for_everyone(make_env, tiny_data):
    agent = make_agent("constant", make_env())
    s = agent.action_scores(np.zeros((3, 8), np.float32), None)
    assert s.shape == (3, tiny_data.n_items) and (s == s[0]).all()


@pytest.mark.parametrize("name", ["random", "popular", "constant", "genre", "reward-greedy"])
@pytest.mark.parametrize("observation", ["flat", "dict"])
def test_baselines_score_the_candidates(make_cand, cand_data, name, observation):
    env = make_cand(candidates={"k": K, "observation": observation})
    agent = make_agent(name, env, seed=0)
    obs, info = env.reset(seed=0)
    for _ in range(10):
        scores = agent.action_scores(
            {k: v[None] for k, v in obs.items()} if isinstance(obs, dict) else obs[None],
            {"position": np.array([info["position"]]), "candidates": info["candidates"][None]},
        )
        assert scores.shape == (1, K)
        action, _ = agent.predict(obs)  # info and candidates read through the contract
        assert 0 <= int(action) < K
        if name != "random":
            assert int(action) == int(np.argmax(scores[0]))
        obs, _, _, trunc, info = env.step(action)
        if trunc:
            obs, info = env.reset()


def test_popular_and_constant_pick_by_their_global_order(make_cand, cand_data):
    env = make_cand()
    _, info = env.reset(seed=2)
    cands = info["candidates"]
    pop = make_agent("popular", env)
    action, _ = pop.predict(
        env.unwrapped.candidate_observations_at([info["position"]], cands[None])
    )
    assert cand_data.popularity[cands[int(action[0])] + 1] == cand_data.popularity[cands + 1].max()
    const = make_agent("constant", env)
    order = constant_scores(cand_data, rec_env(env).reward_tables)
    a, _ = const.predict(np.zeros(env.observation_space.shape, np.float32), info=info)
    assert cands[int(a)] == cands[np.argmax(order[cands])]


class FixedCandidateOrder:
    """Prefers candidate slots in a fixed order (slot 0 first)."""

    def __init__(self, k):
        self.k = k

    def action_scores(self, obs, info):
        n = np.atleast_1d(info["position"]).size
        return np.tile(-np.arange(self.k, dtype=np.float64), (n, 1))


def test_evaluation_ranks_candidates_then_the_rest_pessimistically(make_cand, cand_data):
    env = make_cand(split="test")
    res = evaluate_agent(FixedCandidateOrder(K), env, candidate_seed=3)
    positions = cand_data.target_indices("test")
    cands = rec_env(env).candidates_at(positions, np.random.default_rng(3))
    np.testing.assert_array_equal(res["per_user"]["candidates"], cands)
    ranks, inside = [], []
    for g, c in zip(positions, cands, strict=True):
        u = np.searchsorted(cand_data.offsets, g, side="right") - 1
        seen = set(cand_data.items[cand_data.offsets[u] : g].tolist())
        target = int(cand_data.items[g]) - 1
        eligible = sum(
            1 for i in range(1, cand_data.n_items + 1) if i not in seen or i == target + 1
        )
        if target in c:
            ranks.append(1 + int(np.flatnonzero(c == target)[0]))
        else:
            ranks.append(eligible)  # tied last with every non-candidate: the worst rank
        inside.append(target in c)
    np.testing.assert_array_equal(res["per_user"]["ranks"], ranks)
    assert res["candidate_recall"] == pytest.approx(np.mean(inside))
    assert res["candidates"] == K and res["k"] == K  # lists are at most K long
    np.testing.assert_array_equal(res["per_user"]["actions"], cands[:, 0])
    r, *_ = compute_reward(rec_env(env).reward_tables, cands[:, 0], positions)
    np.testing.assert_allclose(res["per_user"]["rewards"], r)


def test_evaluation_rewards_equal_stepping_and_candidates_are_paired(make_cand):
    env = make_cand(split="test")
    a = evaluate_agent(make_agent("popular", env), env)
    b = evaluate_agent(make_agent("constant", env), env)
    np.testing.assert_array_equal(a["per_user"]["candidates"], b["per_user"]["candidates"])
    assert 0.0 <= a["candidate_recall"] <= 1.0
    c = evaluate_agent(make_agent("popular", env), env, candidate_seed=1)
    assert not np.array_equal(a["per_user"]["candidates"], c["per_user"]["candidates"])
    # The chosen movie earns what the env pays for it.
    pu = a["per_user"]
    for uid, act, rew in zip(
        pu["user_ids"][:10], pu["actions"][:10], pu["rewards"][:10], strict=True
    ):
        _, info = env.reset(options={"user_id": int(uid)})
        cands = info["candidates"]
        if act in cands:
            _, r, *_ = env.step(int(np.flatnonzero(cands == act)[0]))
            assert r == pytest.approx(rew, abs=1e-7)


def test_sb3_models_train_and_evaluate_in_candidate_mode(cand_data, cand_encoder):
    from stable_baselines3 import DQN, PPO

    kw = {"dataset": cand_data, "encoders": cand_encoder, "candidates": K}
    env = gym.make("MovieRec-v0", max_episode_steps=20, **kw)
    test = gym.make("MovieRec-v0", split="test", **kw)
    ppo = PPO("MlpPolicy", env, n_steps=64, batch_size=32, n_epochs=1, seed=0).learn(128)
    dqn = DQN("MlpPolicy", env, learning_starts=20, buffer_size=500, seed=0).learn(100)
    for model, kind in ((ppo, "policy_logits"), (dqn, "q_values")):
        res = evaluate_agent(model, test)
        assert res["ranking"] == kind and res["n_users"] == cand_data.target_indices("test").size
        assert 0.0 <= res["HR@10"] <= 1.0 and "candidate_recall" in res


def test_predict_only_agent_in_candidate_mode(make_cand, cand_data):
    class Second:
        def predict(self, obs, state=None, episode_start=None, deterministic=True):
            return np.ones(len(obs), dtype=np.int64), state

    env = make_cand(split="test")
    res = evaluate_agent(Second(), env)
    assert res["ranking"] == "single-action"
    np.testing.assert_array_equal(res["per_user"]["actions"], res["per_user"]["candidates"][:, 1])


def test_package_dqn_refuses_candidate_mode(make_cand):
    with pytest.raises(ValueError, match="candidate mode"):
        make_agent("dqn", make_cand(), num_envs=1)


def test_linucb_learns_in_candidate_mode_and_ranks_the_candidates(make_cand, cand_data):
    agent = make_agent("linucb", make_cand(), seed=0, num_envs=1).learn(60)
    assert agent.num_timesteps == 60 and agent.b.any()
    res = evaluate_agent(agent, make_cand(split="test"))
    assert res["ranking"] == "action_scores" and "candidate_recall" in res
    assert res["n_users"] == cand_data.target_indices("test").size
