"""Env test fixtures: a light stand-in encoder honouring the DESIGN.md encoder contract."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

from movierec_env.data import PreparedDataset
from movierec_env.env import MovieRecEnv


class StandInEncoder:
    """Fixed random projection: obs[g] = tanh(mean of item embeddings of the last window items)."""

    def __init__(self, data: PreparedDataset, obs_dim: int = 8, window: int = 5, seed: int = 0):
        rng = np.random.default_rng(seed)
        self.obs_dim = obs_dim
        self.window = window
        self.alpha = 0.5
        self.fingerprint = data.fingerprint
        self._emb = rng.normal(size=(data.n_items + 1, obs_dim)).astype(np.float32)
        self._emb[0] = 0.0
        self._w = rng.normal(size=(data.n_items + 1, obs_dim)).astype(np.float32)
        self._b = rng.normal(size=data.n_items + 1).astype(np.float32)
        self.calls = 0

    def observations(self, data: PreparedDataset) -> NDArray[np.float32]:
        self.calls += 1
        n = data.n_interactions
        pos = np.arange(n)
        starts = np.repeat(data.offsets[:-1], data.lengths)
        lo = np.maximum(starts, pos - self.window)
        csum = np.concatenate([np.zeros((1, self.obs_dim)), np.cumsum(self._emb[data.items], 0)])
        count = (pos - lo)[:, None]
        mean = np.divide(csum[pos] - csum[lo], np.maximum(count, 1))
        return np.tanh(mean).astype(np.float32)

    def item_matrix(self) -> NDArray[np.float32]:
        return self._w

    def item_bias(self) -> NDArray[np.float32]:
        return self._b

    def scores(self, obs: NDArray[np.float32]) -> NDArray[np.float32]:
        s = obs @ self._w.T + self._b
        s[:, 0] = -np.inf
        return s.astype(np.float32)


@pytest.fixture(scope="session")
def tiny_encoder(tiny_data: PreparedDataset) -> StandInEncoder:
    return StandInEncoder(tiny_data)


@pytest.fixture(scope="session")
def small_standin(small_data: PreparedDataset) -> StandInEncoder:
    return StandInEncoder(small_data, obs_dim=16)


@pytest.fixture()
def make_tiny(tiny_data, tiny_encoder):
    """Factory of MovieRecEnv instances on tiny_data with the stand-in encoder."""

    def make(**kwargs) -> MovieRecEnv:
        return MovieRecEnv(dataset=tiny_data, encoders=tiny_encoder, **kwargs)

    return make
