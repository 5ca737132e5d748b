from __future__ import annotations

import pytest

from movierec_env.data import PrepareConfig, PreparedDataset, prepare
from movierec_env.data.synthetic import synthetic_raw
from movierec_env.sim import World, fit_world

#: Small settings so a fit takes well under a second.
SMALL = {"dim": 6, "rating_dim": 3, "sample": 400}


@pytest.fixture(scope="session")
def sim_data() -> PreparedDataset:
    """80 users x 120 movies, ~4,000 interactions."""
    raw = synthetic_raw(n_users=80, n_movies=120, n_ratings=4_000, seed=3)
    return prepare(raw, PrepareConfig(min_user_ratings=3, min_item_ratings=3))


@pytest.fixture(scope="session")
def sim_world(sim_data: PreparedDataset) -> World:
    return fit_world(sim_data, "train", seed=0, progress=False, **SMALL)


@pytest.fixture()
def isolated_cache(tmp_path, monkeypatch):
    """A fresh $MOVIEREC_CACHE and an empty default-world memo."""
    from movierec_env.sim import defaults

    monkeypatch.setenv("MOVIEREC_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(defaults, "_MEMO", {})
    return tmp_path / "cache"
