"""What differs between the Gymnasium versions this package supports (0.29.1 through 1.x).

The single envs use only API that is the same on every supported version. The vector API
is not: this module is the one place that knows the differences, so the rest of the
package (and the agents) stay version-blind.

- ``gymnasium.vector.VectorEnv``: on 0.29 a ``gym.Env`` subclass whose ``__init__`` sets
  ``closed`` and ``viewer`` (read by ``close()``); on 1.x a base of its own.
- ``gym.make_vec(id, n)``: on 0.29 experimental, reaching the vector entry point only with
  ``vectorization_mode="custom"``, which drops the env kwargs; on 1.x
  ``vectorization_mode="vector_entry_point"``.
- ``SyncVectorEnv`` autoreset: 0.29 same-step only (``info["final_observation"]``, and
  ``info["final_info"]`` an array of per-env dicts); 1.0 next-step only; >= 1.1 either,
  chosen by ``autoreset_mode=`` (same-step: ``info["final_obs"]``, and ``info["final_info"]``
  a dict of per-env arrays).
- ``gymnasium.vector.AutoresetMode``: from 1.1 (declared here, same names and values, before).

This package's native vector envs autoreset the **next step** on every version (they
declare it in ``metadata["autoreset_mode"]``); :func:`make_vec` builds them on every version.
"""

from __future__ import annotations

import copy
import enum
import re
from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import SyncVectorEnv, VectorEnv

__all__ = [
    "GYMNASIUM_VERSION",
    "LEGACY_VECTOR_API",
    "AutoresetMode",
    "NativeVectorEnv",
    "autoreset_mode",
    "final_info",
    "final_observation",
    "make_vec",
    "sync_vector_env",
]


def _version(text: str) -> tuple[int, int, int]:
    nums = [*(int(x) for x in re.findall(r"\d+", text)[:3]), 0, 0, 0]
    return nums[0], nums[1], nums[2]


#: The installed Gymnasium's ``(major, minor, patch)``.
GYMNASIUM_VERSION: tuple[int, int, int] = _version(gym.__version__)
#: Gymnasium < 1.0: the pre-1.0 vector API (same-step autoreset, ``VectorEnv`` is an ``Env``).
LEGACY_VECTOR_API: bool = GYMNASIUM_VERSION < (1, 0, 0)

try:
    from gymnasium.vector import AutoresetMode  # Gymnasium >= 1.1
except ImportError:  # Gymnasium 0.29 and 1.0: the same names and values, declared here

    class AutoresetMode(enum.Enum):  # type: ignore[no-redef]
        """How a vector env resets a finished sub-env (Gymnasium >= 1.1's names)."""

        NEXT_STEP = "NextStep"
        SAME_STEP = "SameStep"
        DISABLED = "Disabled"


#: Whether ``SyncVectorEnv`` takes ``autoreset_mode=`` (Gymnasium >= 1.1).
_SYNC_HAS_MODE = GYMNASIUM_VERSION >= (1, 1, 0)


class NativeVectorEnv(VectorEnv):
    """Base of this package's numpy vector envs, on every supported Gymnasium.

    Gymnasium 0.29's ``VectorEnv.__init__`` sets ``closed`` and ``viewer``, which its
    ``close()`` reads; the native envs set their spaces themselves and never call it, so
    the attributes are defaults here (on 1.x they are harmless). Its ``reset`` only seeds
    ``np_random`` on 0.29, as 1.x's base ``reset`` does.
    """

    closed: bool = False
    viewer: Any = None
    is_vector_env: bool = True

    if LEGACY_VECTOR_API:

        def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> Any:
            """Seed ``np_random`` as Gymnasium 1.x's ``VectorEnv.reset`` does.

            (0.29's would call ``reset_async``/``reset_wait``, which the native envs do not
            implement: they override ``reset`` and call this first.)
            """
            gym.Env.reset(self, seed=seed)  # type: ignore[arg-type]


def make_vec(env_id: str, num_envs: int = 1, **kwargs: Any) -> Any:
    """The native vector env of a registered id, on every supported Gymnasium.

    Gymnasium >= 1.0: ``gym.make_vec(env_id, num_envs, vectorization_mode=
    "vector_entry_point", **kwargs)``. Gymnasium 0.29: its ``make_vec`` would drop
    ``kwargs`` in ``"custom"`` mode, so the registered ``vector_entry_point`` is called
    directly with the spec's kwargs updated by ``kwargs`` (the same env either way).

    Args:
        env_id: A registered id with a ``vector_entry_point`` (``"MovieRec-v0"``,
            ``"MovieRecSim-v0"``; ``"module:Id"`` imports the module first).
        num_envs: Sub-environments.
        **kwargs: Env arguments.

    Returns:
        The vector env (its ``spec`` records the kwargs).

    Raises:
        ValueError: If the id has no vector entry point.
    """
    if not LEGACY_VECTOR_API:
        return gym.make_vec(
            env_id, num_envs=num_envs, vectorization_mode="vector_entry_point", **kwargs
        )
    from gymnasium.envs.registration import load_env_creator

    if ":" in env_id:  # "module:Id", as gym.make accepts
        module, env_id = env_id.split(":", 1)
        __import__(module)
    spec = gym.spec(env_id)
    if spec.vector_entry_point is None:
        raise ValueError(f"{env_id!r} has no vector_entry_point; use gym.make and SyncVectorEnv")
    entry = spec.vector_entry_point
    creator = load_env_creator(entry) if isinstance(entry, str) else entry
    merged = {**spec.kwargs, **kwargs}
    env = creator(num_envs=num_envs, **merged)
    spec = copy.deepcopy(spec)
    spec.kwargs = merged
    env.unwrapped.spec = spec
    return env


def sync_vector_env(
    env_fns: Sequence[Callable[[], gym.Env[Any, Any]]], *, same_step: bool = False
) -> Any:
    """A ``SyncVectorEnv``, same-step autoreset if asked and the version offers it.

    Gymnasium 0.29 always autoresets the same step and 1.0 always the next step; >= 1.1
    follows ``same_step``. Read the mode a vector env has with :func:`autoreset_mode`.
    """
    if _SYNC_HAS_MODE:
        mode = AutoresetMode.SAME_STEP if same_step else AutoresetMode.NEXT_STEP
        return SyncVectorEnv(list(env_fns), autoreset_mode=mode)
    return SyncVectorEnv(list(env_fns))


def autoreset_mode(venv: Any) -> AutoresetMode:
    """The autoreset mode of a vector env on the installed Gymnasium.

    A mode declared in ``metadata["autoreset_mode"]`` (this package's native envs; every
    Gymnasium >= 1.1 vector env) wins; undeclared, it is the version's only mode
    (same-step before 1.0, next-step from 1.0).

    Raises:
        ValueError: For ``DISABLED`` (no supported agent loop handles it).
    """
    declared = getattr(venv, "metadata", {}).get("autoreset_mode")
    if declared is None:
        mode = AutoresetMode.SAME_STEP if LEGACY_VECTOR_API else AutoresetMode.NEXT_STEP
    elif isinstance(declared, AutoresetMode):
        mode = declared
    else:  # another enum class with the same values (e.g. declared before an upgrade)
        mode = AutoresetMode(getattr(declared, "value", declared))
    if mode == AutoresetMode.DISABLED:
        raise ValueError("vector envs with autoreset_mode=DISABLED are not supported")
    return mode


def final_observation(infos: dict[str, Any], index: int) -> Any | None:
    """The last observation of sub-env ``index`` after a same-step autoreset, or ``None``."""
    for key in ("final_obs", "final_observation"):  # >= 1.1, 0.29
        values = infos.get(key)
        if values is not None:
            mask = infos.get("_" + key)
            if mask is None or bool(np.asarray(mask)[index]):
                return values[index]
    return None


def final_info(infos: dict[str, Any], index: int) -> dict[str, Any]:
    """The last info of sub-env ``index`` after a same-step autoreset (``{}`` if none).

    Gymnasium >= 1.1 stores it as a dict of per-env arrays with ``_key`` masks, 0.29 as an
    array of per-env dicts; this returns sub-env ``index``'s plain dict either way.
    """
    values = infos.get("final_info")
    if values is None:
        return {}
    if isinstance(values, dict):
        return _pick(values, index)
    item = values[index]
    return dict(item) if isinstance(item, dict) else {}


def _pick(values: dict[str, Any], index: int) -> dict[str, Any]:
    """Sub-env ``index``'s entries of a vector info dict (nested dicts too)."""
    out: dict[str, Any] = {}
    for key, arr in values.items():
        if key.startswith("_"):
            continue
        mask = values.get("_" + key)
        if mask is not None and not bool(np.asarray(mask)[index]):
            continue
        out[key] = _pick(arr, index) if isinstance(arr, dict) else arr[index]
    return out
