"""Glue between agents and Gymnasium environments: vector envs, autoreset and action masks.

Why this exists (SB3 has ``VecEnv``): SB3 wraps every env in its own ``DummyVecEnv``, which
steps sub-environments one at a time in Python. MovieRec-v0 ships a *native* Gymnasium
vector env (``movierec_env.make_vec(...)``, on Gymnasium 1.x also ``gym.make_vec(...,
vectorization_mode="vector_entry_point")``) that steps a
whole batch of users with numpy; wrapping it in ``DummyVecEnv`` would throw that away. The
agents here therefore speak the Gymnasium ``VectorEnv`` API directly, and a single
``gym.Env`` becomes a one-env ``SyncVectorEnv``.

Action masks (True = allowed) come from the env's ``action_masks()`` method, the convention
of sb3-contrib's ``MaskablePPO``. For the replay buffer, :class:`ActionMaskSource` can also
*rebuild* the masks of many past states from a compact per-step key (the env's
``info["position"]``), see :mod:`agents.common.buffers`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import gymnasium as gym
import numpy as np
from gymnasium.vector import SyncVectorEnv, VectorEnv
from numpy.typing import NDArray

from movierec_env import gym_compat
from movierec_env.contract import RecEnv, is_rec_env, rec_env
from movierec_env.gym_compat import AutoresetMode

__all__ = [
    "ActionMaskSource",
    "MaskRebuilder",
    "as_vector_env",
    "autoreset_mode",
    "get_action_masks",
    "info_positions",
]

#: Rebuilds the action masks ``(B, n_actions)`` of the states at a batch of positions.
MaskRebuilder = Callable[[NDArray[np.int64]], NDArray[np.bool_]]


@runtime_checkable
class _MaskedEnv(Protocol):
    """sb3-contrib's convention: an env with ``action_masks()`` (True = allowed)."""

    def action_masks(self) -> NDArray[np.bool_]: ...


@runtime_checkable
class _MaskRebuildingEnv(Protocol):
    """An env that can also rebuild the masks of past states from ``info["position"]``."""

    def action_masks_at(self, positions: NDArray[np.integer]) -> NDArray[np.bool_]: ...


def _first_env(venv: VectorEnv[Any, Any, Any]) -> Any:
    """The (unwrapped) native vector env, or the first sub-env of a ``SyncVectorEnv``."""
    base = venv.unwrapped
    if isinstance(base, SyncVectorEnv):
        return base.envs[0].unwrapped
    return base


def as_vector_env(
    env: gym.Env[Any, Any] | VectorEnv[Any, Any, Any] | str,
) -> VectorEnv[Any, Any, Any]:
    """Return ``env`` as a Gymnasium vector env.

    Args:
        env: A vector env (returned as is), a single env (wrapped in a one-env
            ``SyncVectorEnv``, same-step autoreset where the installed Gymnasium offers
            it: :func:`movierec_env.gym_compat.sync_vector_env`), or a registered env id.

    Returns:
        The vector env.

    Raises:
        TypeError: If ``env`` is none of these (e.g. an SB3 ``VecEnv``).
    """
    if isinstance(env, str):
        env = gym.make(env)
    if isinstance(env, VectorEnv):
        return env
    if isinstance(env, gym.Env):
        single = env
        return gym_compat.sync_vector_env([lambda: single], same_step=True)
    raise TypeError(
        f"env must be a gymnasium.Env, a gymnasium.vector.VectorEnv or an env id, got "
        f"{type(env).__name__} (SB3 VecEnvs are not supported: pass the Gymnasium env)"
    )


def autoreset_mode(venv: VectorEnv[Any, Any, Any]) -> AutoresetMode:
    """The vector env's autoreset mode on the installed Gymnasium.

    The declared ``metadata["autoreset_mode"]``, else the version's only mode (same-step
    before Gymnasium 1.0, next-step from 1.0): :func:`movierec_env.gym_compat.autoreset_mode`.

    Raises:
        ValueError: For ``DISABLED``.
    """
    return gym_compat.autoreset_mode(venv)


class ActionMaskSource:
    """Reads the current action masks of a vector env and rebuilds past ones from positions.

    A MovieRec env (:func:`movierec_env.rec_env`) gives both through its contract:
    ``action_masks()`` now and ``action_masks_at(positions)`` for the replay buffer. Any
    other env is read with sb3-contrib's convention, an ``action_masks()`` method on the
    native vector env or on each sub-env of a ``SyncVectorEnv``, and may offer the same
    ``action_masks_at(positions)`` to let the buffer store positions instead of masks.

    Args:
        venv: The vector env.
        n_actions: Size of the ``Discrete`` action space.
    """

    def __init__(self, venv: VectorEnv[Any, Any, Any], n_actions: int) -> None:
        self.venv = venv
        self.n_actions = n_actions
        self._contract: RecEnv | None = rec_env(venv) if is_rec_env(venv) else None
        base = venv.unwrapped
        self._native = isinstance(base, _MaskedEnv)
        self._via_call = (
            not self._native
            and isinstance(base, SyncVectorEnv)
            and all(isinstance(e.unwrapped, _MaskedEnv) for e in base.envs)
        )
        first = _first_env(venv)
        self.rebuilder: MaskRebuilder | None = None
        if self._contract is not None:
            self.rebuilder = self._contract.action_masks_at
        elif isinstance(first, _MaskRebuildingEnv):
            self.rebuilder = first.action_masks_at

    @property
    def available(self) -> bool:
        """Whether the env exposes ``action_masks()``."""
        return self._native or self._via_call

    def current(self) -> NDArray[np.bool_] | None:
        """Masks of the current states, ``(num_envs, n_actions)``, or ``None`` if unmasked."""
        base: Any = self.venv.unwrapped
        if self._native:
            masks = np.asarray(base.action_masks(), dtype=np.bool_)
        elif self._via_call:
            masks = np.stack([np.asarray(m, dtype=np.bool_) for m in base.call("action_masks")])
        else:
            return None
        out: NDArray[np.bool_] = masks.reshape(self.venv.num_envs, self.n_actions)
        return out

    def check_rebuilder(self, positions: NDArray[np.int64] | None) -> bool:
        """Whether the rebuilder reproduces the current masks at ``positions`` exactly."""
        current = self.current()
        if self.rebuilder is None or positions is None or current is None:
            return False
        try:
            rebuilt = self.rebuilder(np.asarray(positions, dtype=np.int64))
        except Exception:
            return False
        return bool(rebuilt.shape == current.shape and np.array_equal(rebuilt, current))


def get_action_masks(env: Any) -> NDArray[np.bool_] | None:
    """Action masks of a single or vector env via its ``action_masks()``; ``None`` if absent."""
    if isinstance(env, VectorEnv):
        n = int(env.single_action_space.n)  # type: ignore[attr-defined]
        return ActionMaskSource(env, n).current()
    try:
        fn = env.get_wrapper_attr("action_masks")
    except AttributeError:
        return None
    return np.asarray(fn(), dtype=bool)


def info_positions(info: dict[str, Any], num_envs: int) -> NDArray[np.int64] | None:
    """``info["position"]`` of a vector step as an int64 array, or ``None`` if absent."""
    pos = info.get("position")
    if pos is None:
        return None
    arr = np.asarray(pos)
    if arr.shape != (num_envs,) or not np.issubdtype(arr.dtype, np.integer):
        return None
    return arr.astype(np.int64)
