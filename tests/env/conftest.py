"""Env test fixtures: a light stand-in encoder honouring the DESIGN.md encoder contract."""

from __future__ import annotations

import pytest

from movierec_env.data import PreparedDataset
from movierec_env.env import MovieRecEnv
from movierec_env.testing import RandomProjectionEncoder

#: The library's stand-in encoder (kept under its historical name in these tests).
StandInEncoder = RandomProjectionEncoder


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
