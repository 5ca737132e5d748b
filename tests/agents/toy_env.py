"""A tiny logged-replay env standing in for MovieRec-v0 in the agent unit tests.

Each episode replays one fixed sequence of distinct target actions. The observation is a
fixed code of the current target, so the best action is a function of the observation
(reward 1 for ``action == target``, else 0) and is learnable in a few thousand steps.
Actions already used as targets earlier in the episode are masked (like seen movies);
``info["position"]`` indexes the interaction being judged, and ``action_masks_at``
rebuilds the masks of any positions.
"""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from numpy.typing import NDArray


class ToyRecEnv(gym.Env[NDArray[np.float32], np.int64]):
    metadata: ClassVar[dict[str, Any]] = {"render_modes": []}

    def __init__(
        self,
        n_actions: int = 12,
        obs_dim: int = 8,
        n_users: int = 16,
        seq_len: int = 5,
        data_seed: int = 0,
        with_masks: bool = True,
        with_rebuilder: bool = True,
    ) -> None:
        rng = np.random.default_rng(data_seed)
        self.n_actions = n_actions
        self.seq_len = seq_len
        self.codes = rng.uniform(-1, 1, (n_actions, obs_dim)).astype(np.float32)
        self.targets = np.concatenate(
            [rng.permutation(n_actions)[:seq_len] for _ in range(n_users)]
        ).astype(np.int64)
        self.offsets = np.arange(n_users + 1, dtype=np.int64) * seq_len
        self.n_users = n_users
        self.observation_space = spaces.Box(-1.0, 1.0, (obs_dim,), dtype=np.float32)
        self.action_space = spaces.Discrete(n_actions)
        self.with_masks = with_masks
        self.with_rebuilder = with_rebuilder
        self.user = 0
        self.position = 0

    def _obs(self) -> NDArray[np.float32]:
        return self.codes[self.targets[self.position]].copy()

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[NDArray[np.float32], dict[str, Any]]:
        super().reset(seed=seed)
        self.user = int(self.np_random.integers(self.n_users))
        self.position = int(self.offsets[self.user])
        return self._obs(), {"position": self.position}

    def step(self, action: Any) -> tuple[NDArray[np.float32], float, bool, bool, dict[str, Any]]:
        a = int(action)
        target = int(self.targets[self.position])
        reward = 1.0 if a == target else 0.0
        info: dict[str, Any] = {"target": target, "hit": a == target}
        self.position += 1
        terminated = self.position >= self.offsets[self.user + 1]
        if terminated:  # the final observation repeats the last one
            self.position -= 1
            obs = self._obs()
            self.position += 1
        else:
            obs = self._obs()
        info["position"] = self.position
        return obs, reward, bool(terminated), False, info

    def masks_at(self, positions: NDArray[np.int64]) -> NDArray[np.bool_]:
        positions = np.asarray(positions, dtype=np.int64)
        masks = np.ones((positions.size, self.n_actions), dtype=bool)
        for row, g in enumerate(positions):
            u = int(np.searchsorted(self.offsets, g, side="right") - 1)
            u = min(u, self.n_users - 1)
            masks[row, self.targets[self.offsets[u] : g]] = False
        return masks

    def action_masks(self) -> NDArray[np.bool_]:
        if not self.with_masks:
            return np.ones(self.n_actions, dtype=bool)
        return self.masks_at(np.array([self.position]))[0]

    def __getattr__(self, name: str) -> Any:
        if name == "action_masks_at" and self.__dict__.get("with_rebuilder", False):
            return self.masks_at
        raise AttributeError(name)
