"""What movierec_env.gym_compat promises on the installed Gymnasium (CI runs 1.x and 0.29.1)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import movierec_env
from movierec_env.gym_compat import (
    GYMNASIUM_VERSION,
    LEGACY_VECTOR_API,
    AutoresetMode,
    autoreset_mode,
    final_info,
    final_observation,
    make_vec,
    sync_vector_env,
)
from movierec_env.vector_env import MovieRecVectorEnv


def test_version_flags_match_the_installed_gymnasium():
    major, minor = (int(x) for x in gym.__version__.split(".")[:2])
    assert GYMNASIUM_VERSION[:2] == (major, minor)
    assert LEGACY_VECTOR_API == (major == 0)
    assert GYMNASIUM_VERSION >= (0, 29, 1)  # setup.cfg: gymnasium>=0.29.1


def test_module_prefixed_id_and_checker(tiny_data, tiny_encoder):
    env = gym.make("movierec_env:MovieRec-v0", dataset=tiny_data, encoders=tiny_encoder)
    assert env.spec is not None and env.spec.id == "MovieRec-v0"
    check_env(env.unwrapped, skip_render_check=True)
    obs, info = env.reset(seed=0)
    assert obs in env.observation_space and "position" in info


def test_make_vec_builds_the_native_env_with_its_kwargs(tiny_data, tiny_encoder):
    venv = movierec_env.make_vec(
        "MovieRec-v0", num_envs=3, dataset=tiny_data, encoders=tiny_encoder, split="test"
    )
    assert isinstance(venv.unwrapped, MovieRecVectorEnv)
    assert venv.num_envs == 3 and venv.unwrapped.split == "test"
    assert venv.unwrapped.spec.id == "MovieRec-v0"
    assert venv.unwrapped.spec.kwargs["split"] == "test"
    assert autoreset_mode(venv) == AutoresetMode.NEXT_STEP
    obs, _ = venv.reset(seed=0)
    assert obs.shape == (3, venv.unwrapped.single_observation_space.shape[0])
    venv.close()
    venv.close()  # idempotent on every version (0.29 reads `closed`)
    assert venv.closed


@pytest.mark.skipif(LEGACY_VECTOR_API, reason="Gymnasium 0.29's make_vec drops env kwargs")
def test_gym_make_vec_is_the_same_env(tiny_data, tiny_encoder):
    kw = {"dataset": tiny_data, "encoders": tiny_encoder}
    a = gym.make_vec("MovieRec-v0", num_envs=2, vectorization_mode="vector_entry_point", **kw)
    b = make_vec("MovieRec-v0", num_envs=2, **kw)
    assert type(a.unwrapped) is type(b.unwrapped) is MovieRecVectorEnv
    np.testing.assert_array_equal(a.reset(seed=3)[0], b.reset(seed=3)[0])


def test_sync_vector_env_mode_per_version(tiny_data, tiny_encoder):
    def fns():
        return [
            lambda: gym.make("MovieRec-v0", dataset=tiny_data, encoders=tiny_encoder)
            for _ in range(2)
        ]

    same = autoreset_mode(sync_vector_env(fns(), same_step=True))
    nxt = autoreset_mode(sync_vector_env(fns(), same_step=False))
    if LEGACY_VECTOR_API:  # 0.29: same-step only
        assert same == nxt == AutoresetMode.SAME_STEP
    elif GYMNASIUM_VERSION < (1, 1, 0):  # 1.0: next-step only
        assert same == nxt == AutoresetMode.NEXT_STEP
    else:
        assert (same, nxt) == (AutoresetMode.SAME_STEP, AutoresetMode.NEXT_STEP)


def test_final_observation_and_info_of_a_same_step_episode_end(tiny_data, tiny_encoder):
    kw = {"dataset": tiny_data, "encoders": tiny_encoder, "max_episode_steps": 2}
    venv = sync_vector_env([lambda: gym.make("MovieRec-v0", **kw)], same_step=True)
    if autoreset_mode(venv) != AutoresetMode.SAME_STEP:
        pytest.skip("Gymnasium 1.0's SyncVectorEnv has no same-step autoreset")
    single = gym.make("MovieRec-v0", **kw)
    venv.reset(seed=4)
    single.reset(seed=4)
    for _ in range(2):
        _, _, _, trunc, infos = venv.step(np.array([0]))
        last_obs, *_, last = single.step(0)
    assert trunc[0]
    np.testing.assert_array_equal(final_observation(infos, 0), last_obs)
    info = final_info(infos, 0)
    assert int(info["position"]) == int(last["position"])
    assert float(info["reward_genre"]) == pytest.approx(float(last["reward_genre"]))
    assert final_observation({}, 0) is None and final_info({}, 0) == {}
