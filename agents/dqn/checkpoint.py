"""Data-only DQN checkpoints: hyperparameters, spaces and weights, never pickled code.

Split from :mod:`agents.dqn.dqn`. The zip layout is :mod:`agents.common.serialization`'s
(JSON + tensors read with ``weights_only=True``, written atomically).
"""

from __future__ import annotations

import os
from typing import Any, TypeVar

import gymnasium as gym
import torch
from gymnasium.vector import VectorEnv
from stable_baselines3.common.type_aliases import Schedule

from agents.common.envs import as_vector_env
from agents.common.serialization import load_checkpoint, save_checkpoint
from agents.common.spaces import same_space, space_from_json, space_to_json
from agents.dqn.policies import POLICY_ALIASES, DQNPolicy

__all__ = ["HYPERPARAMETERS", "CheckpointMixin"]

SelfModel = TypeVar("SelfModel", bound="CheckpointMixin")

#: Constructor arguments saved in checkpoints (JSON) and restored by :meth:`DQN.load`.
HYPERPARAMETERS = (
    "learning_rate",
    "buffer_size",
    "learning_starts",
    "batch_size",
    "tau",
    "gamma",
    "n_steps",
    "train_freq",
    "gradient_steps",
    "target_update_interval",
    "exploration_fraction",
    "exploration_initial_eps",
    "exploration_final_eps",
    "max_grad_norm",
    "exploration",
    "exploration_bonus",
    "double_q",
    "residual_decay",
    "mask_storage",
    "stats_window_size",
)


class CheckpointMixin:
    """Mixin of :class:`agents.dqn.DQN`: ``save`` and ``load``."""

    policy: DQNPolicy
    policy_name: str
    lr_schedule: Schedule
    optimizer: torch.optim.Optimizer
    observation_space: Any
    action_space: Any
    num_timesteps: int
    exploration_rate: float
    seed: int | None
    device: torch.device
    _n_updates: int
    _current_progress_remaining: float

    def _hyperparameters(self) -> dict[str, Any]:
        hp = {k: getattr(self, k) for k in HYPERPARAMETERS}
        if callable(hp["learning_rate"]):
            hp["learning_rate"] = float(self.lr_schedule(self._current_progress_remaining))
        return hp

    def save(self, path: str | os.PathLike[str]) -> None:
        """Save hyperparameters, spaces and weights (no pickled code), atomically.

        Args:
            path: Destination; ``.zip`` is appended when missing (as SB3).
        """
        policy_kwargs = dict(self.policy.net_kwargs)
        data = {
            "class": type(self).__name__,
            "policy": self.policy_name,
            "hyperparameters": self._hyperparameters(),
            "policy_kwargs": policy_kwargs,
            "observation_space": space_to_json(self.observation_space),
            "action_space": space_to_json(self.action_space),
            "num_timesteps": int(self.num_timesteps),
            "n_updates": int(self._n_updates),
            "exploration_rate": float(self.exploration_rate),
            "seed": self.seed,
            "torch_version": torch.__version__,
        }
        confidence = getattr(self, "_confidence", None)
        if confidence is not None:  # exploration="ucb": what its bonus has learnt
            data["confidence"] = confidence.state()
        tensors = {
            "q_net": self.policy.q_net.state_dict(),
            "q_net_target": self.policy.q_net_target.state_dict(),
            "optimizer": self.optimizer.state_dict(),
        }
        save_checkpoint(path, data, tensors)

    @classmethod
    def load(
        cls: type[SelfModel],
        path: str | os.PathLike[str],
        env: gym.Env[Any, Any] | VectorEnv[Any, Any, Any] | str | None = None,
        device: torch.device | str = "auto",
        **kwargs: Any,
    ) -> SelfModel:
        """Load a model saved with :meth:`save` (tensors read with ``weights_only=True``).

        Args:
            path: The checkpoint.
            env: Env to continue training or evaluating on; its spaces must match.
            device: Device of the loaded model.
            **kwargs: Override saved hyperparameters (e.g. ``learning_starts=0``).

        Returns:
            The model.

        Raises:
            ValueError: If the file is not a DQN checkpoint or the env does not match.
        """
        data, tensors = load_checkpoint(path, device="cpu")
        if data.get("class") != cls.__name__:
            raise ValueError(f"{path} holds a {data.get('class')!r}, not a {cls.__name__}")
        obs_space = space_from_json(data["observation_space"])
        act_space = space_from_json(data["action_space"])
        if env is not None:
            venv = as_vector_env(env)
            for mine, theirs in (
                (obs_space, venv.single_observation_space),
                (act_space, venv.single_action_space),
            ):
                if not same_space(mine, theirs):
                    raise ValueError(f"env space {theirs} does not match the saved {mine}")
            env = venv
        policy = data["policy"]
        if policy not in POLICY_ALIASES:
            raise ValueError(f"{path}: unknown policy {policy!r}")
        policy_kwargs = dict(data["policy_kwargs"])
        policy_kwargs["warm_start"] = False  # weights come from the file
        hp = {**data["hyperparameters"], **kwargs}
        model = cls(  # type: ignore[call-arg]
            policy,
            env,
            policy_kwargs=policy_kwargs,
            seed=data.get("seed"),
            device=device,
            _spaces=(obs_space, act_space),
            **hp,
        )
        model.policy.net_kwargs["warm_start"] = bool(data["policy_kwargs"].get("warm_start"))
        model.policy.q_net.load_state_dict(tensors["q_net"])
        model.policy.q_net_target.load_state_dict(tensors["q_net_target"])
        if "optimizer" in tensors:
            model.optimizer.load_state_dict(tensors["optimizer"])
        model.policy.to(model.device)
        model.num_timesteps = int(data.get("num_timesteps", 0))
        model._n_updates = int(data.get("n_updates", 0))
        model.exploration_rate = float(data.get("exploration_rate", model.exploration_rate))
        confidence = getattr(model, "_confidence", None)
        if confidence is not None and "confidence" in data:
            confidence.set_state(data["confidence"])
        return model
