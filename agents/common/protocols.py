"""The agent contract: what evaluation, the benchmark and the Recommender need from an agent.

Stable-Baselines3's API, written down as typed Protocols (structural: no base class):

* :class:`Agent`: ``predict(observation, state=None, episode_start=None,
  deterministic=False) -> (actions, state)``, ``save(path)`` and ``load(path, env=None)``
  (a classmethod). Every SB3 / sb3-contrib algorithm already is one.
* :class:`RankingAgent`: an :class:`Agent` that also scores every action,
  ``action_scores(obs, info) -> (B, n_actions)`` (higher is better; ``info`` as the vector
  env returns it, with ``"position"``), which gives full-ranking metrics (PROTOCOL.md). The
  DQN and every baseline of this package are ranking agents.

Checkpoints of this package's agents hold data only (JSON + tensors read with
``weights_only=True``, :mod:`agents.common.serialization`), written atomically.
"""

from __future__ import annotations

import os
from typing import Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

__all__ = ["Agent", "RankingAgent", "is_ranking_agent"]


@runtime_checkable
class Agent(Protocol):
    """The Stable-Baselines3 agent API."""

    def predict(
        self,
        observation: NDArray[Any],
        state: Any = None,
        episode_start: NDArray[np.bool_] | None = None,
        deterministic: bool = False,
    ) -> tuple[Any, Any]:
        """Actions for one observation or a batch, and the (recurrent) state."""
        ...

    def save(self, path: str | os.PathLike[str]) -> Any:
        """Write the agent to ``path``."""
        ...

    @classmethod
    def load(cls, path: str | os.PathLike[str], env: Any = None) -> Any:
        """Read an agent written by :meth:`save`, attached to ``env``."""
        ...


@runtime_checkable
class RankingAgent(Agent, Protocol):
    """An :class:`Agent` that scores every action (full-ranking metrics)."""

    def action_scores(self, obs: NDArray[Any], info: dict[str, Any] | None) -> NDArray[Any]:
        """Scores ``(B, n_actions)`` of every action; higher is better."""
        ...


def is_ranking_agent(agent: Any) -> bool:
    """Whether ``agent`` offers ``action_scores`` (checked structurally)."""
    return isinstance(agent, RankingAgent) or callable(getattr(type(agent), "action_scores", None))
