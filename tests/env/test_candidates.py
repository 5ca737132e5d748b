"""Candidate mode (``candidates=K``): the generator's guarantees, spaces, checkers, contract."""

from __future__ import annotations

import dataclasses
import warnings

import gymnasium as gym
import numpy as np
import pytest

from movierec_env import rec_env
from movierec_env.candidates import FEATURE_NAMES, CandidateConfig, CandidateGenerator
from movierec_env.env import MovieRecEnv
from movierec_env.gym_compat import make_vec
from movierec_env.reward import compute_reward
from movierec_env.testing import RandomProjectionEncoder
from tests.conftest import CANDIDATES_K

K = CANDIDATES_K


def _history(data, g):
    u = int(np.searchsorted(data.offsets, g, side="right") - 1)
    return set((data.items[data.offsets[u] : g] - 1).tolist())


def test_config_counts_and_validation():
    assert CandidateConfig().counts == (10, 5, 5)
    assert CandidateConfig(k=7, encoder=1.0, popular=0.0, random=0.0).counts == (7, 0, 0)
    assert sum(CandidateConfig(k=9, encoder=0.3, popular=0.3, random=0.4).counts) == 9
    assert CandidateConfig.from_value(None) is None
    assert CandidateConfig.from_value(12).k == 12
    cfg = CandidateConfig(k=5, observation="dict")
    assert CandidateConfig.from_value(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="sum to 1"):
        CandidateConfig(encoder=0.5, popular=0.5, random=0.5)
    with pytest.raises(ValueError, match="k must be"):
        CandidateConfig(k=0)
    with pytest.raises(ValueError, match="unknown candidates option"):
        CandidateConfig.from_value({"kk": 3})
    with pytest.raises(ValueError, match="observation"):
        CandidateConfig(observation="image")
    with pytest.raises(TypeError, match="candidates must be"):
        CandidateConfig.from_value("20")


@pytest.mark.parametrize("split", ["train", "test"])
def test_never_seen_never_duplicated_and_inside_the_space(make_cand, cand_data, split):
    env = make_cand(split=split, random_start=split == "train")
    obs, info = env.reset(seed=0)
    for _ in range(300):
        cands, pos = info["candidates"], info["position"]
        assert obs in env.observation_space
        assert cands.shape == (K,) and np.unique(cands).size == K
        assert not set(cands.tolist()) & _history(cand_data, pos)
        assert env.action_masks().shape == (K,) and env.action_masks().all()
        a = int(env.np_random.integers(K))
        obs, reward, _, trunc, info = env.step(a)
        r, hit, _, _, target = compute_reward(env.reward_tables, int(cands[a]), pos)
        assert reward == float(r) and info["hit"] == bool(hit) and info["target"] == target
        assert info["item_action"] == cands[a]
        assert info["movie_id"] == cand_data.item_movie_ids[cands[a] + 1]
        assert info["target_in_candidates"] == (target in cands)
        if trunc:
            assert obs in env.observation_space
            obs, info = env.reset()


def test_deterministic_per_seed_and_seed_sensitive(make_cand):
    def run(seed):
        env = make_cand()
        _, info = env.reset(seed=seed)
        out = [info["candidates"]]
        for _ in range(30):
            _, _, _, trunc, info = env.step(0)
            out.append(info["candidates"])
            if trunc:
                _, info = env.reset()
        return np.array(out)

    np.testing.assert_array_equal(run(3), run(3))
    assert not np.array_equal(run(3), run(4))


def test_sources_and_feature_layout(cand_data, cand_encoder):
    cfg = CandidateConfig(k=K)
    gen = CandidateGenerator(cand_data, cand_encoder, cfg)
    g = int(cand_data.test_index[0])
    obs = np.asarray(cand_encoder.observations(cand_data)[g])
    acts, feats = gen.propose(np.random.default_rng(0), g, obs)
    # The encoder's slots are its top unseen movies, whatever the draw.
    scores = gen.scores(obs)
    unseen = np.setdiff1d(np.arange(cand_data.n_items), list(_history(cand_data, g)))
    top = unseen[np.argsort(-scores[unseen], kind="stable")[: gen.n_encoder]]
    assert set(top.tolist()) <= set(acts.tolist())
    assert feats.shape == (K, gen.n_features) == (K, len(cand_data.genre_names) + 4)
    assert gen.feature_names[-4:] == FEATURE_NAMES
    assert feats.min() >= 0.0 and feats.max() <= 1.0
    G = gen.n_genres
    best = int(np.flatnonzero(acts == top[0])[0])
    assert feats[best, G] == pytest.approx(1.0)  # the encoder's favourite scores 1
    np.testing.assert_allclose(feats[:, G + 2], rec_env_rating(cand_data)[acts])
    norms = np.linalg.norm(feats[:, :G], axis=1)
    assert np.all((np.abs(norms - 1) < 1e-5) | (norms == 0))


def rec_env_rating(data):
    from movierec_env.contract import ItemFeatures

    return ItemFeatures.from_dataset(data).rating_term[1:]


def test_generator_reads_no_test_data(cand_data):
    """Changing every test target (and nothing a model may know) changes no candidate."""
    items = cand_data.items.copy()
    tests = cand_data.test_index[cand_data.test_index >= 0]
    items[tests] = (items[tests] % cand_data.n_items) + 1
    other = dataclasses.replace(cand_data, items=items, fingerprint="x" + cand_data.fingerprint)
    positions = np.concatenate([cand_data.target_indices("val"), tests])
    out = []
    for data in (cand_data, other):
        env = MovieRecEnv(dataset=data, encoders=RandomProjectionEncoder(data), candidates=K)
        c = rec_env(env)
        cands = c.candidates_at(positions, np.random.default_rng(5))
        out.append((cands, c.candidate_observations_at(positions, cands)))
    np.testing.assert_array_equal(out[0][0], out[1][0])
    # (The stand-in encoder's running sums round differently in the last float32 bits.)
    np.testing.assert_allclose(out[0][1], out[1][1], atol=1e-4)


def test_contract_candidates_at_matches_stepping(make_cand):
    env = make_cand(split="train")
    c = rec_env(env)
    assert c.candidates == K
    obs, info = env.reset(seed=1)
    for _ in range(20):
        pos = np.array([info["position"]])
        got = c.candidate_observations_at(pos, info["candidates"][None])
        np.testing.assert_array_equal(got[0], obs)
        np.testing.assert_array_equal(c.observations_at(pos)[0], obs[: c.encoder.obs_dim])
        assert c.action_masks_at(pos).shape == (1, K)
        obs, _, _, trunc, info = env.step(0)
        if trunc:
            obs, info = env.reset()
    # Seeded draws do not depend on the batching.
    positions = c.dataset.target_indices("test")
    a = c.candidates_at(positions, np.random.default_rng(0))
    rng = np.random.default_rng(0)
    b = np.concatenate([c.candidates_at(positions[:5], rng), c.candidates_at(positions[5:], rng)])
    np.testing.assert_array_equal(a, b)
    full = MovieRecEnv(dataset=c.dataset, encoders=c.encoder)
    assert rec_env(full).candidates is None
    with pytest.raises(ValueError, match="full-catalogue"):
        rec_env(full).candidates_at(positions, np.random.default_rng(0))


def test_dict_observation(make_cand, cand_encoder):
    env = make_cand(candidates={"k": K, "observation": "dict"})
    assert isinstance(env.observation_space, gym.spaces.Dict)
    obs, _ = env.reset(seed=0)
    assert obs in env.observation_space
    assert obs["user"].shape == (cand_encoder.obs_dim,) and obs["candidates"].shape[0] == K
    flat = make_cand()
    fobs, _ = flat.reset(seed=0)
    np.testing.assert_array_equal(
        fobs, np.concatenate([obs["user"], obs["candidates"].reshape(-1)])
    )


def test_checkers_pass_without_warnings(make_cand, cand_data, cand_encoder):
    from gymnasium.utils.env_checker import check_env as gym_check
    from stable_baselines3.common.env_checker import check_env as sb3_check

    kw = {"dataset": cand_data, "encoders": cand_encoder}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gym_check(gym.make("MovieRec-v0", candidates=K, **kw).unwrapped)
        dict_obs = {"k": K, "observation": "dict"}
        gym_check(gym.make("MovieRec-v0", candidates=dict_obs, **kw).unwrapped)
        sb3_check(make_cand(), warn=True)
        sb3_check(make_cand(split="val"), warn=True)
        sb3_check(make_cand(split="test", reward={"rating_mode": "item"}), warn=True)


def test_infeasible_k_is_refused(tiny_data, tiny_encoder, cand_data, cand_encoder):
    with pytest.raises(ValueError, match="unseen movies at every judged position"):
        MovieRecEnv(dataset=tiny_data, encoders=tiny_encoder, candidates=20)
    with pytest.raises(ValueError, match="exceeds the catalogue"):
        MovieRecEnv(dataset=cand_data, encoders=cand_encoder, candidates=10_000)
    env = MovieRecEnv(dataset=cand_data, encoders=cand_encoder, candidates=K)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="out of range"):
        env.step(K)


def test_gym_make_and_make_vec(cand_data, cand_encoder):
    kw = {"dataset": cand_data, "encoders": cand_encoder, "candidates": K}
    env = gym.make("MovieRec-v0", **kw)
    assert env.action_space == gym.spaces.Discrete(K)
    venv = make_vec("MovieRec-v0", num_envs=3, **kw)
    obs, info = venv.reset(seed=0)
    assert obs in venv.observation_space and info["candidates"].shape == (3, K)
    assert venv.action_masks().shape == (3, K)


def test_render_shows_the_chosen_candidate(make_cand):
    env = make_cand(render_mode="ansi")
    _, info = env.reset(seed=0)
    env.step(2)
    assert str(env.catalogue[int(info["candidates"][2])].title) in env.render()


@pytest.mark.parametrize("order", ["genre_affinity", "encoder_score"])
def test_ordered_slots_are_the_same_set_sorted_by_the_feature(cand_data, cand_encoder, order):
    """``order`` only sorts the shuffled set: same movies, same draws, best first."""
    shuffled = CandidateGenerator(cand_data, cand_encoder, CandidateConfig(k=K))
    ordered = CandidateGenerator(cand_data, cand_encoder, CandidateConfig(k=K, order=order))
    obs_table = np.asarray(cand_encoder.observations(cand_data))
    G = shuffled.n_genres
    column = G + 3 if order == "genre_affinity" else G
    for g in cand_data.target_indices("test")[:15].tolist():
        a, fa = shuffled.propose(np.random.default_rng(g), g, obs_table[g])
        b, fb = ordered.propose(np.random.default_rng(g), g, obs_table[g])
        assert sorted(a.tolist()) == sorted(b.tolist())
        assert np.all(np.diff(fb[:, column]) <= 0)  # best first
        # The features follow their movie: the same rows, permuted.
        perm = [int(np.flatnonzero(a == m)[0]) for m in b.tolist()]
        np.testing.assert_array_equal(fb, fa[perm])
    with pytest.raises(ValueError, match="order must be one of"):
        CandidateConfig(order="alphabetical")


def test_bandit_episodes_are_one_terminated_step(make_cand, cand_data, cand_encoder):
    env = make_cand(candidates={"k": K, "order": "genre_affinity"}, bandit=True)
    _, info = env.reset(seed=3)
    starts = set()
    for _ in range(40):
        starts.add(info["position"])
        pos, cands = info["position"], info["candidates"]
        _, reward, terminated, truncated, _ = env.step(1)
        assert terminated and not truncated
        assert reward == float(compute_reward(env.reward_tables, int(cands[1]), pos)[0])
        with pytest.raises(RuntimeError, match="reset"):
            env.step(0)
        _, info = env.reset()
    assert len(starts) > 20  # random judged positions, not each user's first one
    # Full-catalogue bandit episodes too, and the default episodes are unchanged.
    full = MovieRecEnv(dataset=cand_data, encoders=cand_encoder, bandit=True)
    full.reset(seed=0)
    assert full.step(0)[2:4] == (True, False)
    plain = MovieRecEnv(dataset=cand_data, encoders=cand_encoder)
    plain.reset(seed=0)
    assert plain.step(0)[2] is False
    with pytest.raises(ValueError, match="max_episode_steps must be None or 1"):
        MovieRecEnv(dataset=cand_data, encoders=cand_encoder, bandit=True, max_episode_steps=3)
    with pytest.raises(TypeError, match="bandit must be True or False"):
        MovieRecEnv(dataset=cand_data, encoders=cand_encoder, bandit="yes")


def test_bandit_vector_env_equals_single_envs_and_checkers_pass(cand_data, cand_encoder):
    from gymnasium.utils.env_checker import check_env as gym_check
    from stable_baselines3.common.env_checker import check_env as sb3_check

    kw = {
        "dataset": cand_data,
        "encoders": cand_encoder,
        "candidates": {"k": K, "order": "genre_affinity"},
        "bandit": True,
    }
    venv = make_vec("MovieRec-v0", num_envs=3, **kw)
    singles = [MovieRecEnv(**kw) for _ in range(3)]
    obs, _ = venv.reset(seed=7)
    single_obs = [e.reset(seed=7 + i)[0] for i, e in enumerate(singles)]
    np.testing.assert_array_equal(obs, np.stack(single_obs))
    for t in range(6):
        acts = np.array([t % K, (t + 1) % K, (t + 2) % K])
        obs, rew, term, trunc, _ = venv.step(acts)
        if t % 2 == 0:  # a live step: every sub-episode ends by termination
            assert term.all() and not trunc.any()
            for i, e in enumerate(singles):
                o, r, te, tr, _ = e.step(int(acts[i]))
                assert (te, tr) == (True, False) and r == pytest.approx(rew[i], abs=1e-6)
                np.testing.assert_array_equal(obs[i], o)
        else:  # NEXT_STEP autoreset: the reset step
            assert not term.any() and not trunc.any()
            for i, e in enumerate(singles):
                np.testing.assert_array_equal(obs[i], e.reset()[0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gym_check(gym.make("MovieRec-v0", **kw).unwrapped)
        sb3_check(MovieRecEnv(**kw), warn=True)
