"""Agent test fixtures: tiny envs with a light stand-in encoder (the DESIGN.md contract)."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

from movierec_env.data import PreparedDataset


class FakeEncoder:
    """obs[g] = tanh(mean item embedding of the last `window` items); linear head."""

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

    def observations(self, data: PreparedDataset) -> NDArray[np.float32]:
        n = data.n_interactions
        pos = np.arange(n)
        starts = np.repeat(data.offsets[:-1], data.lengths)
        lo = np.maximum(starts, pos - self.window)
        csum = np.concatenate([np.zeros((1, self.obs_dim)), np.cumsum(self._emb[data.items], 0)])
        count = (pos - lo)[:, None]
        return np.tanh((csum[pos] - csum[lo]) / np.maximum(count, 1)).astype(np.float32)

    def item_matrix(self) -> NDArray[np.float32]:
        return self._w

    def item_bias(self) -> NDArray[np.float32]:
        return self._b

    def scores(self, obs: NDArray[np.float32]) -> NDArray[np.float32]:
        s = (np.asarray(obs) @ self._w.T + self._b).astype(np.float32)
        s[:, 0] = -np.inf
        return s


@pytest.fixture(scope="session")
def fake_encoder(tiny_data: PreparedDataset) -> FakeEncoder:
    return FakeEncoder(tiny_data)


@pytest.fixture()
def make_env(tiny_data, fake_encoder):
    """Factory of MovieRecEnv instances on tiny_data with the fake encoder."""
    from movierec_env.env import MovieRecEnv

    def make(**kwargs):
        return MovieRecEnv(dataset=tiny_data, encoders=fake_encoder, **kwargs)

    return make


@pytest.fixture(scope="session")
def hybrid_tiny(tiny_data: PreparedDataset):
    """A real (untrained, small) HybridEncoder on tiny_data: the true segment semantics."""
    import torch

    from encoders import (
        ContentConfig,
        HybridEncoder,
        LSTMConfig,
        TimeRatingAwareContentModel,
        TimeRatingAwareLSTM,
    )

    torch.manual_seed(0)
    lstm = TimeRatingAwareLSTM(LSTMConfig(n_items=tiny_data.n_items, dim=8, hidden=16))
    content = TimeRatingAwareContentModel(
        ContentConfig(
            n_items=tiny_data.n_items, n_genres=len(tiny_data.genre_names), dim=8, hidden=16
        ),
        tiny_data.item_genres,
    )
    return HybridEncoder(lstm, content, alpha=0.5, window=4, fingerprint=tiny_data.fingerprint)
