"""MovieRecSim-v0: checkers, determinism, vector == single, dynamics, reward, slates, errors."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest

import movierec_env
from movierec_env import rec_env
from movierec_env.gym_compat import AutoresetMode, make_vec
from movierec_env.sim_env import MovieRecSimEnv
from movierec_env.sim_vector_env import MovieRecSimVectorEnv
from tests.gym_versions import sync_env


@pytest.fixture(scope="module")
def env():
    return gym.make("MovieRecSim-v0")


def _first_allowed(masks):
    return np.array([int(np.flatnonzero(m)[0]) for m in np.atleast_2d(masks)])


def test_checkers_pass_without_warnings(small_data):
    from gymnasium.utils.env_checker import check_env as gym_check
    from stable_baselines3.common.env_checker import check_env as sb3_check

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gym_check(gym.make("MovieRecSim-v0", dataset=small_data).unwrapped)
        sb3_check(gym.make("MovieRecSim-v0", dataset=small_data).unwrapped, warn=True)
        gym_check(gym.make("MovieRecSim-v0", dataset=small_data, slate_size=3).unwrapped)


def test_contract_and_spaces(env, small_data):
    c = rec_env(env)
    assert c.dataset is small_data and c.n_actions == small_data.n_items
    assert env.observation_space.shape == (128,) and env.action_space.n == small_data.n_items
    assert c.split == "train" and c.mask_seen
    obs, info = env.reset(seed=1)
    assert env.observation_space.contains(obs)
    u = small_data.user_to_index(info["user_id"])
    g = int(small_data.train_end[u])
    np.testing.assert_allclose(c.observations_at(np.array([g]))[0], obs, atol=1e-5)
    np.testing.assert_array_equal(c.action_masks_at(np.array([g]))[0], c.action_masks())


def test_same_seed_same_trajectory_and_terms_sum(env):
    def run(seed):
        _, info = env.reset(seed=seed)
        out = [info["user_id"]]
        for _ in range(30):
            a = int(_first_allowed(env.unwrapped.action_masks())[0])
            _obs, r, term, trunc, info = env.step(a)
            w = info["weights"]
            total = (
                w["hit"] * info["reward_hit"]
                + w["genre"] * info["reward_genre"]
                + w["rating"] * info["reward_rating"]
            )
            assert r == pytest.approx(total, abs=1e-6) and 0.0 <= r <= 1.0
            assert info["reward_hit"] == float(info["accepted"])
            out.append((round(r, 6), info["watched"], info["rating"], term, trunc))
            if term or trunc:
                _, info = env.reset()
                out.append(info["user_id"])
        return out

    assert run(5) == run(5)
    assert run(5) != run(6)


def test_actions_change_the_future(small_data):
    e = MovieRecSimEnv(dataset=small_data, ignore_prob=0.01, max_episode_steps=200)
    uid = None

    def rollout(actions):
        nonlocal uid
        obs, info = e.reset(seed=0, options={"user_id": uid} if uid else None)
        uid = info["user_id"]
        seen = []
        for a in actions:
            obs, _, term, trunc, info = e.step(int(a))
            seen.append((info["watched"], obs.copy()))
            if term or trunc:
                break
        return seen

    masks = e.reset(seed=0)[0] is not None and e.action_masks()
    allowed = np.flatnonzero(masks)
    a = rollout([allowed[0]] * 1)
    b = rollout([allowed[-1]] * 1)
    # Same seed, same user, same draws: only the recommendation differs.
    assert a[0][0] != b[0][0] or not np.allclose(a[0][1], b[0][1])


def test_observation_is_the_encoders_embedding_of_the_simulated_history(small_data):
    from movierec_env.sim.defaults import default_world

    world = default_world(small_data, "train").with_dynamics(leave=False)
    e = MovieRecSimEnv(dataset=small_data, world=world, max_episode_steps=1_000)
    enc = e.encoder
    steps = 2 * enc.window + 12  # past 2W simulated steps: the segment swaps are exercised
    obs, info = e.reset(seed=3)
    d = small_data
    u = d.user_to_index(info["user_id"])
    sl = slice(int(d.offsets[u]), int(d.train_end[u]))
    items, ratings, stamps = list(d.items[sl]), list(d.ratings[sl]), list(d.timestamps[sl])
    for t in range(steps):
        a = int(_first_allowed(e.action_masks())[0])
        obs, _, term, trunc, info = e.step(a)
        items.append(info["watched"] + 1)
        ratings.append(info["rating"])
        stamps.append(stamps[-1] + 3_600)
        if t < 12 or t % 7 == 0 or t == steps - 1:
            ref = enc.embed(np.array(items), np.array(ratings, np.float32), np.array(stamps))
            np.testing.assert_allclose(obs, ref, atol=2e-5)
        assert not e.action_masks()[info["watched"]]  # watched movies are masked
        if term or trunc:
            break


def test_vector_env_equals_sync_vector_env(small_data):
    n = 3
    kwargs = {"dataset": small_data, "max_episode_steps": 6}
    native = MovieRecSimVectorEnv(num_envs=n, **kwargs)
    sync = sync_env([lambda: MovieRecSimEnv(**kwargs) for _ in range(n)], AutoresetMode.NEXT_STEP)
    o1, i1 = native.reset(seed=11)
    o2, i2 = sync.reset(seed=11)
    np.testing.assert_allclose(o1, o2, atol=1e-5)
    np.testing.assert_array_equal(i1["user_id"], i2["user_id"])
    rng = np.random.default_rng(0)
    for _ in range(25):
        masks = native.action_masks()
        np.testing.assert_array_equal(masks, np.stack(sync.call("action_masks")))
        acts = np.array([rng.choice(np.flatnonzero(m)) for m in masks])
        s1 = native.step(acts)
        s2 = sync.step(acts)
        np.testing.assert_allclose(s1[0], s2[0], atol=1e-5)
        np.testing.assert_allclose(s1[1], s2[1], atol=1e-6)
        np.testing.assert_array_equal(s1[2], s2[2])
        np.testing.assert_array_equal(s1[3], s2[3])
        for key in ("watched", "accepted", "rating"):
            m = s2[4].get("_" + key, np.zeros(n, bool))
            np.testing.assert_array_equal(s1[4]["_" + key], m)
            if m.any():
                np.testing.assert_array_equal(s1[4][key][m], s2[4][key][m])


def test_make_vec_and_registration():
    assert movierec_env.SIM_ENV_ID in gym.registry
    v = make_vec("MovieRecSim-v0", num_envs=4)
    obs, _ = v.reset(seed=0)
    assert obs.shape == (4, 128) and v.action_masks().shape == (4, v.unwrapped.n_actions)


def test_slates(small_data):
    e = MovieRecSimEnv(dataset=small_data, slate_size=3)
    assert e.action_space.shape == (3,)
    e.reset(seed=0)
    allowed = np.flatnonzero(e.action_masks())
    _, r, _, _, info = e.step(allowed[:3])
    assert 0 <= r <= 1 and isinstance(info["accepted"], bool)
    if info["accepted"]:
        assert info["watched"] in allowed[:3].tolist()
    with pytest.raises(ValueError, match="twice"):
        e.step(np.array([allowed[0], allowed[0], allowed[1]]))


def test_bad_arguments_are_named(small_data):
    with pytest.raises(ValueError, match="split"):
        MovieRecSimEnv(dataset=small_data, split="val")
    with pytest.raises(ValueError, match="max_episode_steps"):
        MovieRecSimEnv(dataset=small_data, max_episode_steps=0)
    with pytest.raises(ValueError, match="slate_size"):
        MovieRecSimEnv(dataset=small_data, slate_size=0)
    with pytest.raises(ValueError, match="ignore_prob"):
        MovieRecSimEnv(dataset=small_data, ignore_prob=1.5)
    with pytest.raises(ValueError, match="world"):
        MovieRecSimEnv(dataset=small_data, world="nope")
    e = MovieRecSimEnv(dataset=small_data)
    with pytest.raises(RuntimeError, match="reset"):
        e.step(0)
    e.reset(seed=0)
    with pytest.raises(ValueError, match="out of range"):
        e.step(10**6)
    with pytest.raises(TypeError):
        e.step(1.5)
    held_out = MovieRecSimEnv(dataset=small_data, split="test")
    uid = int(held_out.reset(seed=0)[1]["user_id"])
    with pytest.raises(ValueError, match="not in split"):
        e.reset(options={"user_id": uid})


def test_validation_splits_start_from_their_worlds_users(small_data):
    from movierec_env.sim.features import split_users

    halves = split_users(small_data.n_users, seed=0)
    seen = {}
    for split in ("val_a", "val_b"):
        e = MovieRecSimEnv(dataset=small_data, world=split, split=split)
        assert e.unwrapped.world.meta["world"] == split
        users = set(e.unwrapped._core.users.tolist())
        assert users <= set(halves[split].tolist()) and users
        seen[split] = users
        obs, info = e.reset(seed=0)
        assert e.observation_space.contains(obs)
        assert int(info["user_id"]) in {int(small_data.user_ids[u]) for u in users}
    assert not seen["val_a"] & seen["val_b"]
    assert not (seen["val_a"] | seen["val_b"]) & set(halves["eval"].tolist())


def test_sb3_ppo_and_maskable_ppo_train_a_few_hundred_steps(small_data):
    from sb3_contrib import MaskablePPO
    from stable_baselines3 import PPO

    e = MovieRecSimEnv(dataset=small_data)
    PPO("MlpPolicy", e, n_steps=64, batch_size=32, n_epochs=1, seed=0).learn(256)
    MaskablePPO("MlpPolicy", e, n_steps=64, batch_size=32, n_epochs=1, seed=0).learn(256)


def _rollout(e, seed, steps):
    """Observations and (watched, rating, reward, left) of ``steps`` steps, fixed actions."""
    obs, _ = e.reset(seed=seed)
    rng = np.random.default_rng(seed)
    out_obs, out = [obs], []
    for _ in range(steps):
        acts = rng.integers(0, e.unwrapped.n_actions, np.shape(obs)[:-1] or None)
        obs, r, term, trunc, info = e.step(acts)
        out_obs.append(obs)
        out.append(
            (
                np.asarray(info["watched"]).tolist(),
                np.asarray(info["rating"]).tolist(),
                np.asarray(r).tolist(),
                np.asarray(term).tolist(),
            )
        )
        if np.ndim(term) == 0 and (term or trunc):
            obs, _ = e.reset()
    return np.array(out_obs), out


@pytest.mark.parametrize("n", [1, 4])
def test_numpy_encoder_step_equals_torch_over_long_episodes(small_data, n):
    """The numpy encoder step (B small) gives the torch path's observations and trajectory."""
    from movierec_env.sim.defaults import default_world

    world = default_world(small_data, "train").with_dynamics(leave=False)  # long episodes
    kwargs = {"dataset": small_data, "world": world, "max_episode_steps": 1_000}
    make = (
        (lambda: MovieRecSimEnv(**kwargs))
        if n == 1
        else (lambda: MovieRecSimVectorEnv(num_envs=n, **kwargs))
    )
    fast, slow = make(), make()
    assert rec_env(fast)._core.numpy_advance is not None
    rec_env(slow)._core.numpy_advance = None  # the torch path: encoder.advance
    window = rec_env(fast).encoder.window
    steps = 2 * window + 40  # past 2W simulated steps: segment swaps happen
    o1, t1 = _rollout(fast, 7, steps)
    o2, t2 = _rollout(slow, 7, steps)
    assert t1 == t2  # draws depend on the world only, never on the observations
    np.testing.assert_allclose(o1, o2, atol=1e-5)


def test_idle_rows_keep_their_state_and_active_rows_step_as_a_sub_batch(small_data):
    from dataclasses import fields

    from movierec_env.sim.world import WorldState
    from movierec_env.sim_core import SimBatch, SimCore

    core = SimCore(small_data)
    batch, sub = SimBatch(core, 5), SimBatch(core, 3)
    users = core.users[:5]
    batch.reset_rows(np.arange(5), users)
    live = np.array([0, 2, 4])
    sub.reset_rows(np.arange(3), users[live])
    batch.ep.active[[1, 3]] = False
    before = batch.world_state.take(np.array([1, 3]))
    obs_before = batch.obs[[1, 3]].copy()
    draws = np.random.default_rng(0).random((5, 4))
    acts = np.arange(5) * 7
    out = batch.step(acts, draws)
    ref = sub.step(acts[live], draws[live])
    for f in fields(WorldState):
        np.testing.assert_array_equal(
            getattr(batch.world_state, f.name)[[1, 3]], getattr(before, f.name)
        )
        np.testing.assert_array_equal(
            getattr(batch.world_state, f.name)[live], getattr(sub.world_state, f.name)
        )
    np.testing.assert_array_equal(batch.obs[[1, 3]], obs_before)
    np.testing.assert_allclose(batch.obs[live], sub.obs, atol=1e-6)
    for x, y in zip(out, ref, strict=True):
        np.testing.assert_array_equal(x[live], y)
    assert (out.reward[[1, 3]] == 0).all() and not out.accepted[[1, 3]].any()
    np.testing.assert_array_equal(out.watched[[1, 3]], 1)


def test_discarding_idle_rows_changes_no_output_and_no_active_row(small_data):
    """``keep_idle=False`` (the vector env's autoreset) skips restoring idle rows only."""
    from dataclasses import fields

    from movierec_env.sim.world import WorldState
    from movierec_env.sim_core import SimBatch, SimCore

    core = SimCore(small_data)
    kept, dropped = SimBatch(core, 5), SimBatch(core, 5)
    users = core.users[:5]
    for b in (kept, dropped):
        b.reset_rows(np.arange(5), users)
        b.ep.active[[1, 3]] = False
    draws = np.random.default_rng(1).random((5, 4))
    acts = np.arange(5) * 5
    out_k = kept.step(acts, draws)
    out_d = dropped.step(acts, draws, keep_idle=False)
    for x, y in zip(out_k, out_d, strict=True):
        np.testing.assert_array_equal(x, y)
    live = np.array([0, 2, 4])
    for f in fields(WorldState):
        np.testing.assert_array_equal(
            getattr(kept.world_state, f.name)[live], getattr(dropped.world_state, f.name)[live]
        )
    np.testing.assert_allclose(kept.obs[live], dropped.obs[live], atol=1e-6)
    # The idle rows were stepped and not restored: their state is not the kept one.
    assert (kept.world_state.session_pos[[1, 3]] != dropped.world_state.session_pos[[1, 3]]).all()
    # Once reset, they are the same again.
    for b in (kept, dropped):
        b.reset_rows(np.array([1, 3]), users[[1, 3]])
    for f in fields(WorldState):
        np.testing.assert_array_equal(
            getattr(kept.world_state, f.name), getattr(dropped.world_state, f.name)
        )
    np.testing.assert_array_equal(kept.obs, dropped.obs)
