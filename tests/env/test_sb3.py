"""Stable-Baselines3 and sb3-contrib train on MovieRec-v0 with no adapter code."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _env(tiny_data, tiny_encoder, **kw):
    return gym.make(
        "MovieRec-v0", dataset=tiny_data, encoders=tiny_encoder, max_episode_steps=20, **kw
    )


def test_dqn_trains(tiny_data, tiny_encoder):
    from stable_baselines3 import DQN

    model = DQN(
        "MlpPolicy",
        _env(tiny_data, tiny_encoder),
        learning_starts=50,
        train_freq=4,
        buffer_size=1_000,
        seed=0,
    )
    model.learn(300)
    assert model.num_timesteps == 300
    env = _env(tiny_data, tiny_encoder)
    obs, _ = env.reset(seed=0)
    action, _ = model.predict(obs, deterministic=True)
    assert env.action_space.contains(int(action))


def test_ppo_trains(tiny_data, tiny_encoder):
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    venv = make_vec_env(lambda: _env(tiny_data, tiny_encoder), n_envs=2, seed=0)
    model = PPO("MlpPolicy", venv, n_steps=64, batch_size=32, n_epochs=1, seed=0)
    model.learn(256)
    assert model.num_timesteps >= 256


def test_maskable_ppo_respects_masks(tiny_data, tiny_encoder):
    from sb3_contrib import MaskablePPO
    from sb3_contrib.common.maskable.utils import get_action_masks

    env = _env(tiny_data, tiny_encoder)
    model = MaskablePPO("MlpPolicy", env, n_steps=64, batch_size=32, n_epochs=1, seed=0)
    model.learn(256)
    assert model.num_timesteps >= 256
    venv = model.get_env()
    obs = venv.reset()
    for _ in range(30):
        masks = get_action_masks(venv)
        action, _ = model.predict(obs, action_masks=masks)
        assert masks[0, int(action[0])]
        obs, *_ = venv.step(action)
    assert np.asarray(masks).shape == (1, tiny_data.n_items)


@pytest.mark.slow
def test_dqn_on_shipped_dataset(small_data, small_standin):
    from stable_baselines3 import DQN

    env = gym.make("MovieRec-v0", dataset=small_data, encoders=small_standin)
    model = DQN("MlpPolicy", env, learning_starts=100, buffer_size=2_000, seed=0)
    model.learn(300)
    assert model.num_timesteps == 300
