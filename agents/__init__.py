"""Stable-Baselines3-style agents: the DQN, the baselines and the Recommender.

Heavy modules (torch, the DQN) are imported on first use of their names.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agents.baselines import (
        BaselineAgent,
        EncoderGreedyAgent,
        EncoderRankerAgent,
        GenreAgent,
        MarkovAgent,
        PopularityAgent,
        RandomAgent,
        RewardGreedyAgent,
    )
    from agents.dqn import DQN
    from agents.evaluation import evaluate_agent
    from agents.recommender import Recommendation, Recommender, UserProfile
    from agents.registry import AGENT_NAMES, make_agent
    from agents.sasrec import SASRecAgent

#: Public name -> module that defines it.
_LAZY: dict[str, str] = {
    "BaselineAgent": "agents.baselines",
    "EncoderGreedyAgent": "agents.baselines",
    "EncoderRankerAgent": "agents.baselines",
    "GenreAgent": "agents.baselines",
    "MarkovAgent": "agents.baselines",
    "PopularityAgent": "agents.baselines",
    "RandomAgent": "agents.baselines",
    "RewardGreedyAgent": "agents.baselines",
    "DQN": "agents.dqn",
    "SASRecAgent": "agents.sasrec",
    "evaluate_agent": "agents.evaluation",
    "Recommendation": "agents.recommender",
    "Recommender": "agents.recommender",
    "UserProfile": "agents.recommender",
    "AGENT_NAMES": "agents.registry",
    "make_agent": "agents.registry",
}

__all__ = [
    "AGENT_NAMES",
    "DQN",
    "BaselineAgent",
    "EncoderGreedyAgent",
    "EncoderRankerAgent",
    "GenreAgent",
    "MarkovAgent",
    "PopularityAgent",
    "RandomAgent",
    "Recommendation",
    "Recommender",
    "RewardGreedyAgent",
    "SASRecAgent",
    "UserProfile",
    "evaluate_agent",
    "make_agent",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'agents' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
