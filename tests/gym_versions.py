"""Vector envs for tests that must run on every supported Gymnasium (0.29.1 through 1.x).

Gymnasium 0.29's ``SyncVectorEnv`` only autoresets on the same step, 1.0's only on the next
step, 1.1+ either. :func:`sync_env` builds the one a test asks for, with a small next-step
``SyncVectorEnv`` for 0.29 (Gymnasium 1.x's semantics: the step after an episode end only
resets that sub-env, reward 0, its action ignored), and skips where a version has no way.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest
from gymnasium.vector import SyncVectorEnv
from gymnasium.vector.utils import concatenate

from movierec_env import gym_compat
from movierec_env.gym_compat import GYMNASIUM_VERSION, LEGACY_VECTOR_API, AutoresetMode


class LegacyNextStepSyncVectorEnv(SyncVectorEnv):
    """Gymnasium 0.29's ``SyncVectorEnv`` with 1.x's next-step autoreset."""

    def __init__(self, env_fns: Sequence[Callable[[], Any]]) -> None:
        super().__init__(list(env_fns))
        self.metadata = {**self.metadata, "autoreset_mode": AutoresetMode.NEXT_STEP}
        self._needs_reset = np.zeros(self.num_envs, dtype=bool)

    def reset_wait(self, *args: Any, **kwargs: Any) -> Any:
        self._needs_reset[:] = False
        return super().reset_wait(*args, **kwargs)

    def step_wait(self) -> Any:
        observations, infos = [], {}
        for i, (env, action) in enumerate(zip(self.envs, self._actions, strict=True)):
            if self._needs_reset[i]:
                obs, info = env.reset()
                self._rewards[i], self._terminateds[i], self._truncateds[i] = 0.0, False, False
            else:
                obs, r, term, trunc, info = env.step(action)
                self._rewards[i], self._terminateds[i], self._truncateds[i] = r, term, trunc
            observations.append(obs)
            infos = self._add_info(infos, info, i)
        self._needs_reset = np.logical_or(self._terminateds, self._truncateds)
        self.observations = concatenate(
            self.single_observation_space, observations, self.observations
        )
        return (
            copy.deepcopy(self.observations),
            np.copy(self._rewards),
            np.copy(self._terminateds),
            np.copy(self._truncateds),
            infos,
        )


def sync_env(env_fns: Sequence[Callable[[], Any]], mode: AutoresetMode) -> Any:
    """A ``SyncVectorEnv`` of ``env_fns`` with autoreset ``mode`` on the installed Gymnasium."""
    if mode == AutoresetMode.NEXT_STEP:
        if LEGACY_VECTOR_API:
            return LegacyNextStepSyncVectorEnv(env_fns)
        return gym_compat.sync_vector_env(env_fns, same_step=False)
    if LEGACY_VECTOR_API or GYMNASIUM_VERSION >= (1, 1, 0):
        return gym_compat.sync_vector_env(env_fns, same_step=True)
    pytest.skip("Gymnasium 1.0's SyncVectorEnv has no same-step autoreset")
