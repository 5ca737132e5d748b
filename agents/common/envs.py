"""Glue between agents and Gymnasium environments: vector envs, autoreset and action masks.

Why this exists (SB3 has ``VecEnv``): SB3 wraps every env in its own ``DummyVecEnv``, which
steps sub-environments one at a time in Python. MovieRec-v0 ships a *native* Gymnasium
vector env (``gym.make_vec(..., vectorization_mode="vector_entry_point")``) that steps a
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
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, SyncVectorEnv, VectorEnv
from numpy.typing import NDArray

#: Rebuilds the action masks ``(B, n_actions)`` of the states at a batch of positions.
MaskRebuilder = Callable[[NDArray[np.int64]], NDArray[np.bool_]]


def as_vector_env(
    env: gym.Env[Any, Any] | VectorEnv[Any, Any, Any] | str,
) -> VectorEnv[Any, Any, Any]:
    """Return ``env`` as a Gymnasium vector env.

    Args:
        env: A vector env (returned as is), a single env (wrapped in a one-env
            ``SyncVectorEnv`` with same-step autoreset), or a registered env id.

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
        return SyncVectorEnv([lambda: single], autoreset_mode=AutoresetMode.SAME_STEP)
    raise TypeError(
        f"env must be a gymnasium.Env, a gymnasium.vector.VectorEnv or an env id, got "
        f"{type(env).__name__} (SB3 VecEnvs are not supported: pass the Gymnasium env)"
    )


def autoreset_mode(venv: VectorEnv[Any, Any, Any]) -> AutoresetMode:
    """The vector env's autoreset mode (Gymnasium's default, next-step, when undeclared)."""
    mode = venv.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)
    mode = AutoresetMode(mode) if not isinstance(mode, AutoresetMode) else mode
    if mode == AutoresetMode.DISABLED:
        raise ValueError("vector envs with autoreset_mode=DISABLED are not supported")
    return mode


def _base_envs(venv: VectorEnv[Any, Any, Any]) -> list[Any]:
    """The unwrapped single env(s) behind ``venv``: its sub-envs, or the native vector env."""
    base = venv.unwrapped
    envs = getattr(base, "envs", None)
    if isinstance(base, SyncVectorEnv) and envs is not None:
        return [e.unwrapped for e in envs]
    return [base]


class ActionMaskSource:
    """Reads the current action masks of a vector env and rebuilds past ones from positions.

    Args:
        venv: The vector env.
        n_actions: Size of the ``Discrete`` action space.
    """

    def __init__(self, venv: VectorEnv[Any, Any, Any], n_actions: int) -> None:
        self.venv = venv
        self.n_actions = n_actions
        base = venv.unwrapped
        self._native = callable(getattr(base, "action_masks", None))
        self._via_call = False
        if not self._native and isinstance(base, SyncVectorEnv):
            try:
                base.call("action_masks")
                self._via_call = True
            except AttributeError:
                self._via_call = False
        self.rebuilder: MaskRebuilder | None = self._find_rebuilder()

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

    def _find_rebuilder(self) -> MaskRebuilder | None:
        """A function rebuilding masks from ``info["position"]``, if the env offers one.

        Preference: the env's own ``action_masks_at(positions)``; otherwise, for MovieRec
        envs (``dataset`` attribute holding a ``PreparedDataset``), the user's prefix is
        masked when the env masks seen movies (``mask_seen``, default True). Callers must
        check the rebuilder against :meth:`current` (see :meth:`check_rebuilder`).
        """
        base = _base_envs(self.venv)[0]
        fn = getattr(base, "action_masks_at", None)
        if callable(fn):
            return lambda p: np.asarray(fn(p), dtype=bool)
        data = getattr(base, "dataset", None)
        if data is None or not hasattr(data, "offsets"):
            return None
        from movierec_env.metrics import history_mask

        if not getattr(base, "mask_seen", True):
            n = self.n_actions
            return lambda p: np.ones((len(p), n), dtype=bool)
        return lambda p: ~history_mask(data, p)[:, 1:]

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
