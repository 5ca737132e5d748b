"""Parameter recovery: generate logs from a world with chosen parameters, fit, compare."""

from __future__ import annotations

import numpy as np
import pytest

from movierec_env.data import PrepareConfig, prepare
from movierec_env.data.synthetic import synthetic_raw
from movierec_env.sim import World, fit_world
from movierec_env.sim.synthetic import simulate_logs

FIT = {"dim": 8, "rating_dim": 4, "sample": 1500}
TRUTH = {
    "pref_decay": 0.85,
    "exposure_decay": 0.8,
    "leave_intercept": -0.5,
    "leave_position_ge_2": -0.5,
    "leave_position_ge_3": -0.4,
    "leave_position_ge_5": -0.4,
    "leave_position_ge_10": -0.3,
    "leave_position_ge_20": 0.0,
    "leave_position_ge_50": 0.0,
    "leave_position_ge_100": 0.0,
    "leave_satisfaction": -0.6,
    "leave_genre_concentration": 0.0,
    "satisfaction_decay": 0.5,
    "rating_drift": 0.3,
    "rating_sigma": 0.8,
}


@pytest.fixture(scope="module")
def generator():
    base = prepare(
        synthetic_raw(n_users=80, n_movies=150, n_ratings=5000, seed=1), PrepareConfig(3, 3)
    )
    return base, fit_world(base, "train", 0, progress=False, **FIT)


def _recover(generator, momentum):
    base, w0 = generator
    truth = {**w0.fitted, **TRUTH, "pref_momentum_weight": momentum}
    raw = simulate_logs(World(w0.arrays, truth, w0.params, w0.meta), base, 600, 50, seed=2)
    data = prepare(raw, PrepareConfig(3, 1))
    return truth, fit_world(data, "train", 0, progress=False, **FIT).fitted


@pytest.fixture(scope="module")
def recovered(generator):
    return {c: _recover(generator, c) for c in (4.0, 0.0)}


def test_grid_parameters_recovered(recovered):
    truth, fit = recovered[4.0]
    assert fit["pref_decay"] == truth["pref_decay"]
    assert fit["exposure_decay"] == truth["exposure_decay"]
    assert fit["satisfaction_decay"] == truth["satisfaction_decay"]


@pytest.mark.parametrize(
    ("key", "tol"),
    [
        ("leave_intercept", 0.25),
        ("leave_position_ge_2", 0.2),
        ("leave_position_ge_3", 0.2),
        ("leave_position_ge_5", 0.2),
        ("leave_satisfaction", 0.2),
        ("rating_sigma", 0.12),
        ("rating_drift", 0.15),
    ],
)
def test_hazard_and_rating_parameters_recovered(recovered, key, tol):
    for truth, fit in recovered.values():
        assert abs(fit[key] - truth[key]) < tol, (key, truth[key], fit[key])


def test_momentum_sign_and_size_recovered(recovered):
    # The fitted world has its own SVD factors, so some genre structure leaks into the
    # momentum weight; the generating weight must still show clearly.
    (t4, f4), (_, f0) = recovered[4.0], recovered[0.0]
    assert abs(f4["pref_momentum_weight"] - t4["pref_momentum_weight"]) < 1.0
    assert f4["pref_momentum_weight"] - f0["pref_momentum_weight"] > 2.0
    assert abs(f0["pref_momentum_weight"]) < 1.5


def test_generated_logs_have_sessions(generator):
    base, w0 = generator
    raw = simulate_logs(w0, base, 20, 30, seed=5)
    assert raw.n_ratings == 600
    gaps = np.diff(raw.timestamps.reshape(20, 30), axis=1)
    assert set(np.unique(gaps)) <= {60, 86_400}
    assert (gaps == 86_400).any() and (gaps == 60).any()
    with pytest.raises(ValueError, match="length"):
        simulate_logs(w0, base, 2, base.n_items + 1, seed=0)
