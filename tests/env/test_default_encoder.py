"""End to end on the shipped dataset with the real default encoder (slow).

Skipped while no encoder checkpoint is shipped (these tests must never train encoders).
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

import gymnasium as gym
import numpy as np
import pytest

from movierec_env.gym_compat import AutoresetMode, make_vec
from tests.gym_versions import sync_env

pytestmark = pytest.mark.slow


def _shipped() -> bool:
    try:
        from encoders import shipped_checkpoint
    except ImportError:
        return False
    return (shipped_checkpoint() / "config.json").is_file()


needs_checkpoint = pytest.mark.skipif(not _shipped(), reason="no shipped encoder checkpoint")


@needs_checkpoint
def test_make_without_import_in_fresh_process():
    code = (
        "import gymnasium as gym\n"
        "env = gym.make('movierec_env:MovieRec-v0')\n"
        "obs, info = env.reset(seed=0)\n"
        "obs, r, term, trunc, info = env.step(0)\n"
        "assert obs.shape == env.observation_space.shape and 0.0 <= r <= 1.0\n"
        "print('ok', env.unwrapped.encoder.obs_dim)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.startswith("ok")


@needs_checkpoint
def test_default_env_checks_and_vector_equivalence():
    from gymnasium.utils.env_checker import check_env as gym_check
    from stable_baselines3.common.env_checker import check_env as sb3_check

    import movierec_env  # noqa: F401
    from encoders import default_encoder

    env = gym.make("MovieRec-v0")
    enc = env.unwrapped.encoder
    assert enc is default_encoder(env.unwrapped.dataset)
    assert env.observation_space.shape == (enc.obs_dim,)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gym_check(env.unwrapped)
        sb3_check(gym.make("MovieRec-v0", split="test").unwrapped)

    n = 4
    venv = make_vec("MovieRec-v0", num_envs=n)
    singles = [gym.make("MovieRec-v0") for _ in range(n)]
    sync = sync_env([lambda e=e: e for e in singles], AutoresetMode.NEXT_STEP)
    vo, _ = venv.reset(seed=5)
    so, _ = sync.reset(seed=5)
    np.testing.assert_array_equal(vo, so)
    rng = np.random.default_rng(0)
    for _ in range(50):
        a = rng.integers(0, env.action_space.n, n)
        vo, vr, _, vt, _ = venv.step(a)
        so, sr, _, st, _ = sync.step(a)
        np.testing.assert_array_equal(vo, so)
        np.testing.assert_array_equal(vr, sr)
        np.testing.assert_array_equal(vt, st)
        assert ((vr >= 0) & (vr <= 1)).all()


@needs_checkpoint
def test_maskable_ppo_on_default_env():
    import torch
    from sb3_contrib import MaskablePPO

    import movierec_env  # noqa: F401

    torch.set_num_threads(1)
    env = gym.make("MovieRec-v0", max_episode_steps=32)
    model = MaskablePPO("MlpPolicy", env, n_steps=64, batch_size=32, n_epochs=1, seed=0)
    model.learn(128)
    assert model.num_timesteps >= 128


@needs_checkpoint
def test_cold_and_warm_start_do_not_import_torch(tmp_path):
    """make + reset + step never import torch: the table is built by the numpy pass from
    the checkpoint's weights.npz (cold), then memory-mapped from the cache (warm)."""
    code = (
        "import sys\n"
        "import gymnasium as gym\n"
        "import movierec_env\n"
        "env = gym.make('MovieRec-v0')\n"
        "env.reset(seed=0)\n"
        "env.step(0)\n"
        "venv = gym.make_vec('MovieRec-v0', num_envs=4)\n"
        "venv.reset(seed=0)\n"
        "venv.step(venv.action_space.sample())\n"
        "print('torch' in sys.modules)\n"
        "enc = env.unwrapped.encoder\n"  # the encoder itself still loads on demand
        "print('torch' in sys.modules, enc.obs_dim == env.observation_space.shape[0])\n"
    )
    env = {**os.environ, "MOVIEREC_CACHE": str(tmp_path), "OMP_NUM_THREADS": "1"}
    runs = [
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env
        )
        for _ in range(2)
    ]
    for out in runs:
        assert out.returncode == 0, out.stderr[-2000:]
    for out in runs:  # cold (built the table), then warm: torch only for .encoder
        assert out.stdout.split() == ["False", "True", "True"]
    assert len(list((tmp_path / "observations").glob("*.npy"))) == 1  # the cold run cached it
    assert len(list((tmp_path / "observations").glob("*.npy"))) == 1


@needs_checkpoint
def test_table_storage_on_ml_latest_small(small_data, monkeypatch, tmp_path):
    """The streamed table equals observations() to float32 rounding; float16 is within its
    rounding error.

    Blocks batch other users' segments together than the whole pass does, and BLAS
    rounds another batch shape differently: about a third of the 11.5M values differ in
    the last bits, by 2e-8 on average, and on some CPUs (an AMD EPYC, 2026-12-02) a few
    dozen by more than 1e-6 (at most 1.4e-6). A wrong block boundary would differ by
    orders of magnitude more, in the mean as well as the maximum.
    """
    from encoders import HybridEncoder, shipped_checkpoint
    from movierec_env import replay

    monkeypatch.setenv("MOVIEREC_CACHE", str(tmp_path))
    monkeypatch.setattr(replay, "BLOCK_ROWS", 10_000)  # several blocks on 90k rows
    replay.clear_caches()
    enc = HybridEncoder.load(shipped_checkpoint(), small_data)
    whole = enc.observations(small_data)  # the previous way: one piece
    t32 = replay.observation_table(enc, small_data)  # now: blocks streamed to disk
    t16 = replay.observation_table(enc, small_data, obs_dtype="float16")
    assert t32.shape == (small_data.n_interactions + 1, enc.obs_dim) and not t32[-1].any()
    np.testing.assert_allclose(t32[:-1], whole, rtol=0, atol=1e-5)
    assert np.abs(t32[:-1] - whole).mean() < 1e-7  # rounding, not another computation
    diff = np.abs(t16.astype(np.float32) - t32)
    assert 0 < diff.max() <= 2.0**-12
    replay.clear_caches()
