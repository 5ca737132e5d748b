"""MovieRecSim-v0 candidate mode: spaces, checkers, the generator on simulated histories,
common random numbers with full-catalogue mode, vector == single, evaluation, errors."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest

from agents.registry import make_agent
from agents.sim_evaluation import evaluate_episodes
from movierec_env.gym_compat import AutoresetMode
from movierec_env.sim_core import child_generator
from movierec_env.sim_env import MovieRecSimEnv
from movierec_env.sim_vector_env import MovieRecSimVectorEnv
from tests.gym_versions import sync_env

K = 6
ORDERED = {"k": K, "order": "genre_affinity"}


@pytest.fixture(scope="module")
def cenv(small_data):
    return MovieRecSimEnv(dataset=small_data, candidates=ORDERED)


def test_spaces_and_checkers_pass_without_warnings(small_data):
    from gymnasium.utils.env_checker import check_env as gym_check
    from stable_baselines3.common.env_checker import check_env as sb3_check

    for obs_mode in ("flat", "dict"):
        cfg = {**ORDERED, "observation": obs_mode}
        e = gym.make("MovieRecSim-v0", dataset=small_data, candidates=cfg).unwrapped
        assert e.action_space == gym.spaces.Discrete(K) and e.candidates == K
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            gym_check(e)
            if obs_mode == "flat":  # SB3's checker warns on any (K, F) Dict entry
                sb3_check(gym.make("MovieRecSim-v0", dataset=small_data, candidates=cfg), warn=True)
        obs, info = e.reset(seed=0)
        assert e.observation_space.contains(obs)
        assert info["candidates"].shape == (K,)
        np.testing.assert_array_equal(e.action_masks(), np.ones(K, dtype=bool))


def test_candidates_are_unwatched_distinct_and_described_by_the_generator(cenv):
    gen = cenv.sim_core.generator
    obs, info = cenv.reset(seed=3)
    for _ in range(20):
        cands = info["candidates"]
        seen = cenv.oracle_state().seen[0]
        history = np.asarray(cenv._histories[0]) - 1
        assert np.unique(cands).size == K
        assert not seen[cands + 1].any()  # never a movie the simulated user has watched
        np.testing.assert_array_equal(cenv.current_candidates()[0], cands)
        user, feats = obs[: gen.obs_dim], obs[gen.obs_dim :].reshape(K, gen.n_features)
        ref = gen.features_for(history, ~seen[1:], user, cands)
        np.testing.assert_allclose(feats, ref, atol=1e-6)
        aff = feats[:, -1]
        assert (np.diff(aff) <= 1e-7).all()  # genre_affinity order: best first
        obs, _r, term, trunc, info = cenv.step(K - 1)
        assert info["item_action"] == cands[K - 1]
        assert info["movie_id"] == cenv.dataset.item_movie_ids[cands[K - 1] + 1]
        if term or trunc:
            obs, info = cenv.reset()


def test_a_candidate_gets_the_transition_of_its_movie_in_full_catalogue_mode(small_data):
    """Candidate draws come from a child stream: the world's draws are full mode's."""
    cand = MovieRecSimEnv(dataset=small_data, candidates=K)
    full = MovieRecSimEnv(dataset=small_data)
    rng = np.random.default_rng(0)
    for seed in (1, 2):
        obs, info = cand.reset(seed=seed)
        fobs, finfo = full.reset(seed=seed)
        assert info["user_id"] == finfo["user_id"]
        for _ in range(30):
            np.testing.assert_array_equal(obs[: fobs.size], fobs)
            slot = int(rng.integers(K))
            obs, r, term, trunc, info = cand.step(slot)
            fobs, fr, fterm, ftrunc, finfo = full.step(int(info["item_action"]))
            assert (r, term, trunc) == (fr, fterm, ftrunc)
            for key in ("watched", "accepted", "rating", "leave_prob"):
                assert info[key] == finfo[key]
            if term or trunc:
                break


def test_same_seed_same_candidates_and_trajectory(cenv):
    def run(seed):
        _, info = cenv.reset(seed=seed)
        out = [info["candidates"].tolist()]
        for t in range(15):
            _, r, term, trunc, info = cenv.step(t % K)
            out.append((info["candidates"].tolist(), r, info["watched"]))
            if term or trunc:
                break
        return out

    assert run(5) == run(5)
    assert run(5) != run(6)


def _stacked(rows):
    """``(n, K)`` from a vector info entry (Gymnasium 0.29's ``SyncVectorEnv`` gives objects)."""
    return np.stack([np.asarray(r, dtype=np.int64) for r in rows])


def test_vector_env_equals_single_envs(small_data):
    n = 3
    kwargs = {"dataset": small_data, "max_episode_steps": 5, "candidates": ORDERED}
    native = MovieRecSimVectorEnv(num_envs=n, **kwargs)
    sync = sync_env([lambda: MovieRecSimEnv(**kwargs) for _ in range(n)], AutoresetMode.NEXT_STEP)
    o1, i1 = native.reset(seed=7)
    o2, i2 = sync.reset(seed=7)
    assert native.observation_space.contains(o1)
    np.testing.assert_allclose(o1, o2, atol=1e-5)
    np.testing.assert_array_equal(i1["candidates"], _stacked(i2["candidates"]))
    np.testing.assert_array_equal(native.action_masks(), np.ones((n, K), dtype=bool))
    rng = np.random.default_rng(0)
    for _ in range(20):
        acts = rng.integers(K, size=n)
        s1, s2 = native.step(acts), sync.step(acts)
        np.testing.assert_allclose(s1[0], s2[0], atol=1e-5)
        np.testing.assert_allclose(s1[1], s2[1], atol=1e-6)
        np.testing.assert_array_equal(s1[2], s2[2])
        np.testing.assert_array_equal(s1[3], s2[3])
        np.testing.assert_array_equal(s1[4]["candidates"], _stacked(s2[4]["candidates"]))
        for key in ("item_action", "watched"):
            m = s2[4].get("_" + key, np.zeros(n, bool))
            np.testing.assert_array_equal(s1[4]["_" + key], m)
            if m.any():
                np.testing.assert_array_equal(s1[4][key][m], s2[4][key][m])


def test_child_generator_leaves_the_parent_stream_alone():
    a, b = np.random.default_rng(11), np.random.default_rng(11)
    c1, c2 = child_generator(a), child_generator(a)
    assert c1.random() != c2.random()  # successive children are independent
    assert a.random() == b.random()  # spawning drew nothing from the parent


def test_evaluation_and_oracle_choose_among_the_candidates(small_data):
    test = MovieRecSimEnv(dataset=small_data, world="eval", split="test", candidates=ORDERED)
    res = {
        name: evaluate_episodes(make_agent(name, test, seed=0), test, max_users=12, seed=0)
        for name in ("random", "popular", "reward-greedy", "oracle-greedy")
    }
    for r in res.values():
        assert r["n_users"] == 12 and r["mean_length"] >= 1
    # The greedy oracle (the one-step optimum among the K, under the true world) beats
    # random choices among the same K on these users.
    assert res["oracle-greedy"]["mean_return"] > res["random"]["mean_return"]
    # Its slot is the candidate with the best expected reward under the true world.
    oracle = make_agent("oracle-greedy", test, seed=0)
    test.reset(seed=4)
    slot = int(oracle.predict(np.zeros(1))[0])
    cands = test.current_candidates()[0]
    allowed = np.zeros((1, test.n_actions + 1), dtype=bool)
    allowed[0, cands + 1] = True
    best = oracle.decide(test.world, test.oracle_state(), allowed)[0] - 1
    assert cands[slot] == best


def test_sb3_ppo_trains_a_few_hundred_steps_in_candidate_mode(small_data):
    from stable_baselines3 import PPO

    e = MovieRecSimEnv(dataset=small_data, candidates=ORDERED)
    model = PPO("MlpPolicy", e, n_steps=64, batch_size=32, n_epochs=1, seed=0).learn(256)
    r = evaluate_episodes(model, e, max_users=4, seed=0)
    assert np.isfinite(r["mean_return"])


def test_bad_arguments_are_named(small_data):
    with pytest.raises(ValueError, match="slate_size"):
        MovieRecSimEnv(dataset=small_data, candidates=K, slate_size=2)
    with pytest.raises(ValueError, match="candidates k"):
        MovieRecSimEnv(dataset=small_data, candidates=0)
    with pytest.raises(ValueError, match="unknown candidates option"):
        MovieRecSimEnv(dataset=small_data, candidates={"k": K, "nope": 1})
    with pytest.raises(ValueError, match=r"k <= \d+"):
        MovieRecSimEnv(dataset=small_data, candidates=small_data.n_items - 10)
    e = MovieRecSimEnv(dataset=small_data, candidates=K)
    with pytest.raises(ValueError, match="reset"):
        e.current_candidates()
    e.reset(seed=0)
    with pytest.raises(ValueError, match="out of range"):
        e.step(K)
    with pytest.raises(ValueError, match="full-catalogue"):
        MovieRecSimEnv(dataset=small_data).current_candidates()


def test_contract_methods_at_logged_positions(cenv, small_data):
    users = cenv.sim_core.users[:3]
    pos = small_data.train_end[users]
    cands = cenv.candidates_at(pos, np.random.default_rng(0))
    again = cenv.candidates_at(pos, np.random.default_rng(0))
    np.testing.assert_array_equal(cands, again)  # seeded: the same candidates
    assert cands.shape == (3, K)
    for row, g, u in zip(cands, pos, users, strict=True):
        logged = small_data.items[small_data.offsets[u] : g] - 1
        assert not np.isin(row, logged).any() and np.unique(row).size == K
    obs = cenv.candidate_observations_at(pos, cands)
    gen = cenv.sim_core.generator
    np.testing.assert_allclose(obs[:, : gen.obs_dim], cenv.observations_at(pos), atol=1e-6)
    np.testing.assert_array_equal(cenv.action_masks_at(pos), np.ones((3, K), dtype=bool))


def test_linucb_learns_and_scores_the_candidates(small_data):
    from agents.bandits import LinUCBAgent

    e = MovieRecSimEnv(dataset=small_data, candidates=ORDERED)
    agent = LinUCBAgent(e, seed=0).learn(120)
    assert agent.num_timesteps == 120 and agent.b.any()
    obs, info = e.reset(seed=2)
    scores = agent.action_scores(obs, info)
    assert scores.shape == (1, K)
    slot, _ = agent.predict(obs, action_masks=e.action_masks())
    assert 0 <= int(slot) < K
    # The same model as full-catalogue LinUCB, gathered at the candidates.
    full = LinUCBAgent(MovieRecSimEnv(dataset=small_data), seed=0)
    full.A, full.b = agent.A, agent.b
    user = obs[None, : e.sim_core.obs_dim]
    ref = full.action_scores(user)[:, info["candidates"]]
    np.testing.assert_allclose(scores, ref, atol=1e-6)
