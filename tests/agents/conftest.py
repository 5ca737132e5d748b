"""Agent test fixtures: tiny envs with a light stand-in encoder (the DESIGN.md contract)."""

from __future__ import annotations

import pytest

from movierec_env.data import PreparedDataset
from movierec_env.testing import RandomProjectionEncoder

#: The library's stand-in encoder (the DESIGN.md contract, no torch).
FakeEncoder = RandomProjectionEncoder


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    """Every agent test runs on one torch thread (tests/conftest.py)."""


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
