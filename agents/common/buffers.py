"""Experience replay with action masks of the next state, stored compactly.

Why not SB3's ``ReplayBuffer``: it stores no action masks, adds one vector step at a time
through per-key Python code, and returns torch tensors of every field even where the update
needs none. The DQN's target ``max_a' Q(s', a')`` must range over the actions allowed in
``s'`` only (never a movie the user has seen), so the buffer must recover each stored next
state's mask.

How masks are stored (``mask_storage``):

* ``"position"`` (8 bytes per transition): the env's ``info["position"]`` of the next state,
  from which :class:`~agents.common.envs.ActionMaskSource` rebuilds the mask of a sampled
  batch (for MovieRec: the user's prefix, one vectorised scatter). Storage does not grow
  with the catalogue, so tens of thousands of movies cost nothing extra. Chosen whenever
  the env offers a rebuilder that reproduces its ``action_masks()`` exactly.
* ``"packed"`` (``ceil(n_actions / 8)`` bytes per transition): the mask itself, bit-packed
  with ``np.packbits``. Works for any env with ``action_masks()``; 8x smaller than bools,
  but 9,000 movies still cost 1.1 kB per transition, hence second choice.
* ``"none"``: no masks (the env has no ``action_masks()``).

n-step returns (:class:`NStepAccumulator`): each sub-env's last ``n`` transitions wait in a
queue; a full queue gives the transition ``(s_t, a_t, sum_k gamma^k r_{t+k}, s_{t+n})`` with
its own discount ``gamma^n`` (stored per transition, ``discounts``), and an episode end
flushes the queue with shorter horizons (``gamma^m``, ``m < n``), bootstrapping from the
final state only where the episode was truncated, as one-step targets do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from agents.common.envs import MaskRebuilder

__all__ = ["MASK_STORAGES", "MaskedReplayBuffer", "NStepAccumulator", "ReplaySamples"]

MASK_STORAGES = ("position", "packed", "none")


@dataclass
class ReplaySamples:
    """A sampled batch (numpy arrays, first axis = batch).

    Attributes:
        observations: ``(B, *obs_shape)``.
        actions: ``(B,)`` int64.
        rewards: ``(B,)`` float32.
        next_observations: ``(B, *obs_shape)``.
        terminated: ``(B,)`` float32; 1.0 where the episode *terminated* (no bootstrap;
            a truncated episode still bootstraps from its next state).
        next_masks: ``(B, n_actions)`` bool allowed actions in the next state, or ``None``.
        discounts: ``(B,)`` float32 discount of each transition's bootstrap
            (``gamma^m`` for an m-step transition), or ``None``: every transition is one
            step (the caller's ``gamma``).
    """

    observations: NDArray[np.floating]
    actions: NDArray[np.int64]
    rewards: NDArray[np.float32]
    next_observations: NDArray[np.floating]
    terminated: NDArray[np.float32]
    next_masks: NDArray[np.bool_] | None
    discounts: NDArray[np.float32] | None = None


class MaskedReplayBuffer:
    """Ring buffer of transitions with the next state's action mask (see module docstring).

    Args:
        buffer_size: Capacity in transitions.
        obs_shape: Shape of one observation.
        obs_dtype: Observation dtype (float32 for Box observations).
        n_actions: Size of the ``Discrete`` action space.
        mask_storage: ``"position"``, ``"packed"`` or ``"none"``.
        rebuilder: Rebuilds masks from positions; required for ``"position"``.
        store_discounts: Keep a discount per transition (n-step returns).
    """

    def __init__(
        self,
        buffer_size: int,
        obs_shape: tuple[int, ...],
        obs_dtype: np.dtype[np.generic] | type,
        n_actions: int,
        mask_storage: str = "none",
        rebuilder: MaskRebuilder | None = None,
        store_discounts: bool = False,
    ) -> None:
        if buffer_size < 1:
            raise ValueError(f"buffer_size must be >= 1, got {buffer_size}")
        if mask_storage not in MASK_STORAGES:
            raise ValueError(f"mask_storage must be one of {MASK_STORAGES}, got {mask_storage!r}")
        if mask_storage == "position" and rebuilder is None:
            raise ValueError('mask_storage="position" needs a rebuilder (positions -> masks)')
        self.buffer_size = int(buffer_size)
        self.n_actions = int(n_actions)
        self.mask_storage = mask_storage
        self.rebuilder = rebuilder
        self.observations = np.zeros((self.buffer_size, *obs_shape), dtype=obs_dtype)
        self.next_observations = np.zeros((self.buffer_size, *obs_shape), dtype=obs_dtype)
        self.actions = np.zeros(self.buffer_size, dtype=np.int64)
        self.rewards = np.zeros(self.buffer_size, dtype=np.float32)
        self.terminated = np.zeros(self.buffer_size, dtype=np.float32)
        self.discounts: NDArray[np.float32] | None = None
        if store_discounts:
            self.discounts = np.zeros(self.buffer_size, dtype=np.float32)
        self.next_positions: NDArray[np.int64] | None = None
        self.next_packed: NDArray[np.uint8] | None = None
        if mask_storage == "position":
            self.next_positions = np.zeros(self.buffer_size, dtype=np.int64)
        elif mask_storage == "packed":
            self.next_packed = np.zeros((self.buffer_size, (n_actions + 7) // 8), dtype=np.uint8)
        self.pos = 0
        self.full = False

    def size(self) -> int:
        """Number of stored transitions."""
        return self.buffer_size if self.full else self.pos

    def nbytes(self) -> int:
        """Memory held by the buffer's arrays, in bytes."""
        arrays: list[NDArray[Any] | None] = [self.observations, self.next_observations]
        arrays += [self.actions, self.rewards, self.terminated]
        arrays += [self.next_positions, self.next_packed, self.discounts]
        return int(sum(a.nbytes for a in arrays if a is not None))

    def add(
        self,
        obs: NDArray[np.generic],
        actions: NDArray[np.integer],
        rewards: NDArray[np.floating],
        next_obs: NDArray[np.generic],
        terminated: NDArray[np.bool_],
        next_positions: NDArray[np.integer] | None = None,
        next_masks: NDArray[np.bool_] | None = None,
        discounts: NDArray[np.floating] | None = None,
    ) -> None:
        """Add a batch of transitions (first axis = transition)."""
        n = int(np.shape(actions)[0])
        if n == 0:
            return
        if (discounts is None) != (self.discounts is None):
            raise ValueError(
                "discounts must be given exactly when the buffer stores them "
                f"(store_discounts={self.discounts is not None})"
            )
        if n > self.buffer_size:  # keep the newest
            sl = slice(n - self.buffer_size, n)
            obs, actions, rewards, next_obs = obs[sl], actions[sl], rewards[sl], next_obs[sl]
            terminated = terminated[sl]
            next_positions = None if next_positions is None else next_positions[sl]
            next_masks = None if next_masks is None else next_masks[sl]
            discounts = None if discounts is None else discounts[sl]
            n = self.buffer_size
        idx = (self.pos + np.arange(n)) % self.buffer_size
        self.observations[idx] = obs
        self.next_observations[idx] = next_obs
        self.actions[idx] = actions
        self.rewards[idx] = rewards
        self.terminated[idx] = terminated
        if self.discounts is not None:
            self.discounts[idx] = discounts
        if self.next_positions is not None:
            if next_positions is None:
                raise ValueError('mask_storage="position" needs next_positions')
            self.next_positions[idx] = next_positions
        if self.next_packed is not None:
            if next_masks is None:
                raise ValueError('mask_storage="packed" needs next_masks')
            self.next_packed[idx] = np.packbits(np.asarray(next_masks, dtype=bool), axis=1)
        self.full = self.full or self.pos + n >= self.buffer_size
        self.pos = (self.pos + n) % self.buffer_size

    def sample(
        self, batch_size: int, rng: np.random.Generator, with_masks: bool = True
    ) -> ReplaySamples:
        """Sample ``batch_size`` transitions uniformly with replacement.

        Args:
            batch_size: Batch size.
            rng: The caller's generator.
            with_masks: Rebuild the next-state masks (skip when they are not needed,
                e.g. ``gamma == 0``).

        Returns:
            The batch.
        """
        size = self.size()
        if size == 0:
            raise ValueError("cannot sample from an empty replay buffer")
        idx = rng.integers(0, size, size=batch_size)
        masks: NDArray[np.bool_] | None = None
        if with_masks and self.next_positions is not None:
            assert self.rebuilder is not None
            masks = self.rebuilder(self.next_positions[idx])
        elif with_masks and self.next_packed is not None:
            masks = np.unpackbits(self.next_packed[idx], axis=1, count=self.n_actions).astype(bool)
        return ReplaySamples(
            observations=self.observations[idx],
            actions=self.actions[idx],
            rewards=self.rewards[idx],
            next_observations=self.next_observations[idx],
            terminated=self.terminated[idx],
            next_masks=masks,
            discounts=None if self.discounts is None else self.discounts[idx],
        )


class NStepAccumulator:
    """n-step transitions from a vector env's one-step ones (see the module docstring).

    Args:
        n_steps: Horizon ``n`` (>= 1; 1 passes transitions through with discount gamma).
        gamma: Discount factor.
        n_envs: Number of sub-envs (one queue each).
    """

    def __init__(self, n_steps: int, gamma: float, n_envs: int) -> None:
        if n_steps < 1:
            raise ValueError(f"n_steps must be >= 1, got {n_steps}")
        self.n_steps = int(n_steps)
        self.gamma = float(gamma)
        self._queues: list[list[tuple[Any, int, float]]] = [[] for _ in range(int(n_envs))]

    def clear(self) -> None:
        """Drop every waiting transition (the envs were reset)."""
        for q in self._queues:
            q.clear()

    def pending(self) -> int:
        """Number of transitions waiting for their horizon."""
        return sum(len(q) for q in self._queues)

    def push(
        self,
        env_ids: NDArray[np.integer],
        obs: NDArray[np.generic],
        actions: NDArray[np.integer],
        rewards: NDArray[np.floating],
        next_obs: NDArray[np.generic],
        terminated: NDArray[np.bool_],
        dones: NDArray[np.bool_],
        next_positions: NDArray[np.integer] | None = None,
        next_masks: NDArray[np.bool_] | None = None,
    ) -> dict[str, Any] | None:
        """Add one step of the sub-envs ``env_ids`` (row j is sub-env ``env_ids[j]``).

        ``dones``: the episode ended (terminated or truncated) at this step. Returns the
        keyword arguments of :meth:`MaskedReplayBuffer.add` for the transitions that are
        complete now (with ``discounts``), or ``None`` when none is.
        """
        out: dict[str, list[Any]] = {
            k: []
            for k in ("obs", "actions", "rewards", "next_obs", "terminated", "discounts", "rows")
        }
        g = self.gamma
        for j, i in enumerate(np.asarray(env_ids).tolist()):
            q = self._queues[i]
            q.append((obs[j], int(actions[j]), float(rewards[j])))
            if dones[j]:
                starts = range(len(q))
            elif len(q) == self.n_steps:
                starts = range(1)
            else:
                continue
            for s in starts:
                ret = 0.0
                for k, (_, _, r) in enumerate(q[s:]):
                    ret += g**k * r
                out["obs"].append(q[s][0])
                out["actions"].append(q[s][1])
                out["rewards"].append(ret)
                out["next_obs"].append(next_obs[j])
                out["terminated"].append(bool(terminated[j]))
                out["discounts"].append(g ** (len(q) - s))
                out["rows"].append(j)
            if dones[j]:
                q.clear()
            else:
                q.pop(0)
        if not out["rows"]:
            return None
        rows = np.asarray(out["rows"], dtype=np.int64)
        return {
            "obs": np.stack(out["obs"]),
            "actions": np.asarray(out["actions"], dtype=np.int64),
            "rewards": np.asarray(out["rewards"], dtype=np.float32),
            "next_obs": np.stack(out["next_obs"]),
            "terminated": np.asarray(out["terminated"], dtype=bool),
            "next_positions": None if next_positions is None else next_positions[rows],
            "next_masks": None if next_masks is None else next_masks[rows],
            "discounts": np.asarray(out["discounts"], dtype=np.float32),
        }
