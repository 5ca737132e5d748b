"""The env contract (movierec_env.RecEnv): single, vector and SyncVectorEnv alike."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import movierec_env
from movierec_env import ItemFeatures, RecEnv, is_rec_env, rec_env
from movierec_env.catalogue import Catalogue
from movierec_env.gym_compat import make_vec, sync_vector_env
from movierec_env.reward import RewardConfig, RewardTables, compute_reward
from movierec_env.vector_env import MovieRecVectorEnv


@pytest.fixture()
def envs(tiny_data, tiny_encoder):
    kwargs = {"dataset": tiny_data, "encoders": tiny_encoder}
    return {
        "single": gym.make("MovieRec-v0", max_episode_steps=50, **kwargs),
        "vector": MovieRecVectorEnv(num_envs=3, **kwargs),
        "make_vec": make_vec("MovieRec-v0", num_envs=2, **kwargs),
        "sync": sync_vector_env(
            [lambda: gym.make("MovieRec-v0", **kwargs) for _ in range(2)], same_step=True
        ),
    }


@pytest.mark.parametrize("kind", ["single", "vector", "make_vec", "sync"])
def test_every_env_form_satisfies_the_contract(envs, kind, tiny_data, tiny_encoder):
    c = rec_env(envs[kind])
    assert is_rec_env(envs[kind]) and isinstance(c, RecEnv)
    assert c.n_actions == tiny_data.n_items
    assert c.dataset is tiny_data and c.encoder is tiny_encoder
    assert isinstance(c.catalogue, Catalogue) and len(c.catalogue) == tiny_data.n_items
    assert isinstance(c.reward_config, RewardConfig) and c.reward_config == RewardConfig()
    assert isinstance(c.reward_tables, RewardTables)
    assert isinstance(c.item_features, ItemFeatures)
    assert c.mask_seen is True and c.split == "train" and c.candidates is None
    assert c.current_positions().dtype == np.int64


@pytest.mark.parametrize("kind", ["single", "vector"])
def test_masks_and_observations_at_positions_match_stepping(envs, kind):
    env = envs[kind]
    c = rec_env(env)
    obs, info = env.reset(seed=3)
    n = 1 if kind == "single" else env.num_envs
    for _ in range(12):
        pos = np.atleast_1d(info["position"]).astype(np.int64)
        np.testing.assert_array_equal(c.current_positions(), pos)
        np.testing.assert_array_equal(np.atleast_2d(c.action_masks()), c.action_masks_at(pos))
        np.testing.assert_array_equal(np.atleast_2d(obs), c.observations_at(pos))
        masks = np.atleast_2d(c.action_masks())
        actions = np.array([np.flatnonzero(m)[0] for m in masks])
        obs, _, term, trunc, info = env.step(actions[0] if kind == "single" else actions)
        if kind == "single" and (term or trunc):
            obs, info = env.reset()
        if kind == "vector" and np.any(np.asarray(term) | np.asarray(trunc)):
            obs, info = env.step(actions)  # next-step autoreset
        assert np.atleast_2d(obs).shape[0] == n


def test_masks_at_honour_mask_seen(tiny_data, tiny_encoder):
    env = movierec_env.MovieRecEnv(dataset=tiny_data, encoders=tiny_encoder, mask_seen=False)
    assert rec_env(env).action_masks_at(np.array([5, 9])).all()


def test_item_features_are_the_rewards_own_terms(envs, tiny_data):
    c = rec_env(envs["single"])
    feats = c.item_features
    tables = c.reward_tables
    positions = np.arange(tiny_data.n_interactions)
    rng = np.random.default_rng(0)
    actions = rng.integers(0, tiny_data.n_items, positions.size)
    _, _, genre, _, target = compute_reward(tables, actions, positions)
    cos = (feats.genres[actions + 1] * feats.genres[target + 1]).sum(axis=1)
    np.testing.assert_allclose(genre, np.clip(cos, 0, 1), atol=1e-6)
    np.testing.assert_array_equal(feats.rating_term[1:], tables.rating_action)
    af = feats.action_features()
    assert af.shape == (tiny_data.n_items, feats.genres.shape[1] + 1) and af.dtype == np.float32
    norms = np.linalg.norm(af[:, :-1], axis=1)
    has = tiny_data.item_genres[1:].sum(axis=1) > 0
    np.testing.assert_allclose(norms[has], 1.0, atol=1e-6)
    assert not af[~has, :-1].any()
    assert not feats.genres.flags.writeable


def test_other_envs_are_refused_with_a_clear_error():
    with pytest.raises(TypeError, match="not a MovieRec env"):
        rec_env(gym.make("CartPole-v1"))
    assert not is_rec_env(object())


def test_public_names_are_exported():
    for name in movierec_env.__all__:
        assert getattr(movierec_env, name) is not None
    with pytest.raises(AttributeError):
        movierec_env.not_a_name  # noqa: B018
