"""A light stand-in encoder for fast tests and benchmarks (no torch, no training).

``RandomProjectionEncoder`` honours the encoder contract of ``docs/DESIGN.md``
(``obs_dim``, ``window``, ``alpha``, ``fingerprint``, ``observations``, ``item_matrix``,
``item_bias``, ``scores``), so ``MovieRec-v0`` and every agent run on it unchanged:
``gym.make("MovieRec-v0", dataset=data, encoders=RandomProjectionEncoder(data))``. Its
observations carry little information; use it to test code paths and to time the env,
whose step cost depends on ``obs_dim`` only.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from movierec_env.data.types import PreparedDataset

__all__ = ["RandomProjectionEncoder"]


class RandomProjectionEncoder:
    """``obs[g] = tanh(mean of fixed random item vectors of the last window items)``.

    Args:
        data: The dataset it encodes (its fingerprint is recorded).
        obs_dim: Observation size.
        window: Number of most recent interactions averaged.
        seed: Seed of the random item vectors and of the linear head.
    """

    def __init__(
        self, data: PreparedDataset, obs_dim: int = 8, window: int = 5, seed: int = 0
    ) -> None:
        rng = np.random.default_rng(seed)
        self.obs_dim = obs_dim
        self.window = window
        self.alpha = 0.5
        self.fingerprint = data.fingerprint
        self._emb = rng.normal(size=(data.n_items + 1, obs_dim)).astype(np.float32)
        self._emb[0] = 0.0
        self._w = rng.normal(size=(data.n_items + 1, obs_dim)).astype(np.float32)
        self._b = rng.normal(size=data.n_items + 1).astype(np.float32)
        #: How many times :meth:`observations` ran (tests of caching read it).
        self.calls = 0

    def observations(self, data: PreparedDataset) -> NDArray[np.float32]:
        """Observation of every position: the history strictly before it, windowed."""
        self.calls += 1
        pos = np.arange(data.n_interactions)
        starts = np.repeat(data.offsets[:-1], data.lengths)
        lo = np.maximum(starts, pos - self.window)
        csum = np.concatenate([np.zeros((1, self.obs_dim)), np.cumsum(self._emb[data.items], 0)])
        mean = np.divide(csum[pos] - csum[lo], np.maximum(pos - lo, 1)[:, None])
        return np.tanh(mean).astype(np.float32)

    def item_matrix(self) -> NDArray[np.float32]:
        """Head weights, ``(n_items + 1, obs_dim)``."""
        return self._w

    def item_bias(self) -> NDArray[np.float32]:
        """Head bias, ``(n_items + 1,)``."""
        return self._b

    def scores(self, obs: NDArray[np.float32]) -> NDArray[np.float32]:
        """Linear scores of every item, padding column at ``-inf``."""
        s = (np.asarray(obs) @ self._w.T + self._b).astype(np.float32)
        s[:, 0] = -np.inf
        return s
