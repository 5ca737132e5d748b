"""MovieRecVectorEnv: identical transitions to N single envs, masks, errors."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from movierec_env.env import MovieRecEnv
from movierec_env.gym_compat import AutoresetMode, make_vec
from movierec_env.vector_env import MovieRecVectorEnv
from tests.gym_versions import sync_env

STEP_KEYS = ("reward_hit", "reward_genre", "reward_rating", "target", "target_movie_id", "hit")


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"max_episode_steps": 3, "random_start": True},
        {"split": "test", "reward": {"genre_mode": "seed", "rating_mode": "item"}},
        {"candidates": 4, "max_episode_steps": 3, "random_start": True},
        {"candidates": {"k": 4, "encoder": 0.25, "popular": 0.5, "random": 0.25}},
        {"candidates": {"k": 3, "observation": "dict"}, "split": "val"},
    ],
)
def test_vector_equals_single_envs(tiny_data, tiny_encoder, kwargs):
    n, seed, n_steps = 5, 11, 60
    common = {"dataset": tiny_data, "encoders": tiny_encoder}
    keys = STEP_KEYS
    if "candidates" in kwargs:
        keys = (*STEP_KEYS, "candidates", "item_action", "movie_id", "target_in_candidates")
    venv = make_vec("MovieRec-v0", num_envs=n, **common, **kwargs)
    assert isinstance(venv.unwrapped, MovieRecVectorEnv)
    single_kwargs = dict(kwargs)
    limit = single_kwargs.pop("max_episode_steps", None)
    singles = [
        gym.make("MovieRec-v0", max_episode_steps=limit, **common, **single_kwargs)
        for _ in range(n)
    ]
    sync = sync_env([lambda e=e: e for e in singles], AutoresetMode.NEXT_STEP)

    n_act = venv.unwrapped.single_action_space.n
    actions = np.random.default_rng(0).integers(0, n_act, (n_steps, n))
    vo, vi = venv.reset(seed=seed)
    so, si = sync.reset(seed=seed)
    assert_obs_equal(vo, so)
    assert vo in venv.observation_space
    np.testing.assert_array_equal(vi["user_id"], si["user_id"])
    np.testing.assert_array_equal(vi["position"], si["position"])
    resets = 0
    for a in actions:
        vo, vr, vterm, vtrunc, vi = venv.step(a)
        so, sr, sterm, strunc, si = sync.step(a)
        assert_obs_equal(vo, so)
        np.testing.assert_array_equal(vr, sr)
        np.testing.assert_array_equal(vterm, sterm)
        np.testing.assert_array_equal(vtrunc, strunc)
        for key in ("position", "user_id", *keys):
            # SyncVectorEnv omits a key no sub-env reported (all were autoreset).
            m = si.get("_" + key, np.zeros(n, dtype=bool))
            np.testing.assert_array_equal(vi["_" + key], m, err_msg=key)
            if m.any():
                ref = si[key][m]  # Gymnasium 0.29 batches array-valued info as objects
                ref = np.stack(ref) if ref.dtype == object else ref
                np.testing.assert_array_equal(vi[key][m], ref, err_msg=key)
        resets += int((~vi["_reward_hit"]).sum())
    assert resets > 0  # autoreset exercised
    assert vr.dtype == np.float64


def assert_obs_equal(a, b):
    if isinstance(a, dict):
        assert set(a) == set(b)
        for key in a:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    else:
        np.testing.assert_array_equal(a, b)


def test_vector_masks_match_single(tiny_data, tiny_encoder):
    n = 4
    venv = MovieRecVectorEnv(n, dataset=tiny_data, encoders=tiny_encoder)
    singles = [MovieRecEnv(dataset=tiny_data, encoders=tiny_encoder) for _ in range(n)]
    venv.reset(seed=3)
    for i, e in enumerate(singles):
        e.reset(seed=3 + i)
    rng = np.random.default_rng(1)
    for step in range(40):
        vm = venv.action_masks()
        assert vm.shape == (n, tiny_data.n_items) and vm.dtype == bool
        for i, e in enumerate(singles):
            np.testing.assert_array_equal(vm[i], e.action_masks())
        a = rng.integers(0, tiny_data.n_items, n)
        _, _, _, _trunc, _ = venv.step(a)
        for i, e in enumerate(singles):
            if e._active:
                e.step(int(a[i]))
            else:
                e.reset()
        if step % 7 == 0:
            venv.action_masks()  # lazily synced at irregular intervals


def test_vector_reset_options_and_errors(tiny_data, tiny_encoder):
    venv = MovieRecVectorEnv(3, dataset=tiny_data, encoders=tiny_encoder, render_mode="ansi")
    with pytest.raises(RuntimeError, match="reset"):
        venv.step(np.zeros(3, dtype=np.int64))
    uids = [int(u) for u in venv.eligible_user_ids[:3]]
    _, info = venv.reset(seed=0, options={"user_id": uids})
    assert info["user_id"].tolist() == uids
    _, info2 = venv.reset(options={"reset_mask": np.array([False, True, False])})
    assert info2["user_id"][0] == uids[0] and info2["position"][0] == info["position"][0]
    with pytest.raises(ValueError, match="out of range"):
        venv.step(np.array([0, tiny_data.n_items, 0]))
    with pytest.raises(ValueError, match="shape"):
        venv.step(np.zeros(2, dtype=np.int64))
    with pytest.raises(TypeError, match="integers"):
        venv.step(np.zeros(3))
    with pytest.raises(ValueError, match="not in dataset"):
        venv.reset(options={"user_id": [10**9] * 3})
    with pytest.raises(ValueError, match="num_envs"):
        MovieRecVectorEnv(0, dataset=tiny_data, encoders=tiny_encoder)
    venv.step(np.zeros(3, dtype=np.int64))
    texts = venv.render()
    assert len(texts) == 3 and all("Watched next" in t for t in texts)
    assert venv.unwrapped.catalogue[0].item == 1


def test_vector_rejects_negative_action(tiny_data, tiny_encoder):
    venv = MovieRecVectorEnv(2, dataset=tiny_data, encoders=tiny_encoder)
    venv.reset(seed=0)
    with pytest.raises(ValueError, match="action -1 of sub-env 1"):
        venv.step(np.array([0, -1]))
