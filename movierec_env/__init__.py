"""Sequential movie recommendation on MovieLens as a Gymnasium benchmark.

Importing the package registers ``MovieRec-v0`` (string entry points: nothing heavy, no
torch, is imported until an env is made)::

    import gymnasium as gym
    import movierec_env  # noqa: F401  (or gym.make("movierec_env:MovieRec-v0"))

    env = gym.make("MovieRec-v0")
    envs = gym.make_vec("MovieRec-v0", num_envs=64)  # native batched numpy env (gymnasium>=1.0)
    envs = movierec_env.make_vec("MovieRec-v0", num_envs=64)  # the same, any gymnasium>=0.29.1

The public API (``from movierec_env import ...``) is listed in ``__all__`` and imported on
first use, so ``import movierec_env`` stays cheap. The env contract every agent and tool
uses is :class:`RecEnv` (:func:`rec_env` finds it behind wrappers and vector envs); see
``docs/DESIGN.md``.
"""

from __future__ import annotations

import importlib
from typing import Any

from gymnasium.envs.registration import register, registry

__version__ = "0.1.0"

ENV_ID = "MovieRec-v0"

if ENV_ID not in registry:
    register(
        id=ENV_ID,
        entry_point="movierec_env.env:MovieRecEnv",
        vector_entry_point="movierec_env.vector_env:MovieRecVectorEnv",
        kwargs={},
    )

#: The interactive environment on the simulated user (``movierec_env.sim``).
SIM_ENV_ID = "MovieRecSim-v0"

if SIM_ENV_ID not in registry:
    register(
        id=SIM_ENV_ID,
        entry_point="movierec_env.sim_env:MovieRecSimEnv",
        vector_entry_point="movierec_env.sim_vector_env:MovieRecSimVectorEnv",
        kwargs={},
    )

#: Public name -> module that defines it (imported lazily by :func:`__getattr__`).
_EXPORTS: dict[str, str] = {
    "RecEnv": "movierec_env.contract",
    "EncoderLike": "movierec_env.contract",
    "HistoryEncoder": "movierec_env.contract",
    "ItemFeatures": "movierec_env.contract",
    "rec_env": "movierec_env.contract",
    "is_rec_env": "movierec_env.contract",
    "MovieRecEnv": "movierec_env.env",
    "MovieRecVectorEnv": "movierec_env.vector_env",
    "MovieRecSimEnv": "movierec_env.sim_env",
    "MovieRecSimVectorEnv": "movierec_env.sim_vector_env",
    "RewardConfig": "movierec_env.reward",
    "RewardTables": "movierec_env.reward",
    "compute_reward": "movierec_env.reward",
    "Catalogue": "movierec_env.catalogue",
    "Movie": "movierec_env.catalogue",
    "PreparedDataset": "movierec_env.data",
    "load_dataset": "movierec_env.data",
    "cache_root": "movierec_env.cache",
    "make_vec": "movierec_env.gym_compat",
}

__all__ = ["ENV_ID", "SIM_ENV_ID", "__version__", *sorted(_EXPORTS)]


def __getattr__(name: str) -> Any:
    """Import a public name on first use (PEP 562)."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'movierec_env' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
