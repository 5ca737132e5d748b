"""The SB3-API plumbing shared by agents with nothing to learn: baselines and oracles.

Both keep their settings in :meth:`_config`, their randomness in ``self._rng`` (seeded by
``seed``) and save data-only checkpoints of settings plus generator state
(:mod:`agents.common.serialization`); how each is rebuilt (:meth:`load`) stays with it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np

__all__ = ["FixedAgentMixin"]

SelfFixed = TypeVar("SelfFixed", bound="FixedAgentMixin")


class FixedAgentMixin:
    """``learn`` (a no-op), ``set_random_seed``, ``save`` and ``repr`` for fixed policies.

    Attributes:
        name: The agent's registry name (saved; ``load`` checks it).
        checkpoint_class: The ``"class"`` field of the checkpoint (``load`` checks it).
    """

    name: ClassVar[str]
    checkpoint_class: ClassVar[str]
    seed: int | None
    _rng: np.random.Generator

    def learn(
        self: SelfFixed, total_timesteps: int = 0, callback: Any = None, progress_bar: bool = False
    ) -> SelfFixed:
        """Nothing to learn (statistics of the training split, or the true model). Returns self."""
        return self

    def set_random_seed(self, seed: int | None = None) -> None:
        """Reseed the agent's generator (SB3 name)."""
        self.seed = seed
        self._rng = np.random.default_rng(seed)

    def _config(self) -> dict[str, Any]:
        """Constructor settings saved in checkpoints (none by default)."""
        return {}

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write a data-only checkpoint (atomically), like :meth:`DQN.save`.

        The zip holds the name, seed, settings and the random generator's state as JSON;
        whatever the agent computes from its env (statistics, the world) is rebuilt on load.

        Args:
            path: Destination; ``.zip`` is appended when missing (as SB3).

        Returns:
            The path written.
        """
        from agents.common.serialization import save_checkpoint

        data = {
            "class": self.checkpoint_class,
            "agent": self.name,
            "seed": self.seed,
            "config": self._config(),
            "rng_state": self._rng.bit_generator.state,
        }
        return save_checkpoint(path, data, {})

    def __repr__(self) -> str:
        cfg = ", ".join(f"{k}={v!r}" for k, v in self._config().items())
        return f"{type(self).__name__}({cfg})"
