from __future__ import annotations

import pytest

from movierec_env.sim import WorldParams, default_world, fit_world
from movierec_env.sim.defaults import cache_dir


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("ignore_prob", 1.5),
        ("ignore_prob", -0.1),
        ("ignore_prob", 1.0),
        ("ignore_prob", float("nan")),
        ("accept_sensitivity", 0.0),
        ("boredom_weight", -1.0),
        ("ignore_decay", 0.0),
        ("ignore_decay", 1.0),
        ("ignore_leave_weight", -0.5),
        ("gap_hours", 0.0),
        ("gap_hours", -2.0),
        ("max_session_steps", 0),
        ("max_session_steps", 2.5),
    ],
)
def test_bad_params_name_parameter_and_value(field, value):
    with pytest.raises(ValueError, match=field) as exc:
        WorldParams(**{field: value})
    msg = str(exc.value)
    assert "\n" not in msg
    assert repr(value) in msg or str(value) in msg


def test_defaults_are_valid_and_round_trip():
    p = WorldParams()
    assert 0 < p.ignore_prob < 1
    assert p.ignore_mass == pytest.approx(p.ignore_prob / (1 - p.ignore_prob))
    assert WorldParams.from_dict(p.to_dict()) == p
    with pytest.raises(ValueError, match="'nope'"):
        WorldParams.from_dict({**p.to_dict(), "nope": 1})


def test_unknown_world_name(sim_data):
    with pytest.raises(ValueError, match="'test'"):
        fit_world(sim_data, "test", progress=False)
    with pytest.raises(ValueError, match="'both'"):
        default_world(sim_data, "both")
    with pytest.raises(ValueError, match="'x'"):
        cache_dir(sim_data, "x")


@pytest.mark.parametrize(
    ("kw", "name"), [({"seed": -1}, "seed"), ({"dim": 0}, "dim"), ({"sample": 0}, "sample")]
)
def test_bad_fit_arguments(sim_data, kw, name):
    with pytest.raises(ValueError, match=name):
        fit_world(sim_data, "train", progress=False, **kw)


def test_params_must_be_worldparams(sim_data):
    with pytest.raises(ValueError, match="WorldParams"):
        fit_world(sim_data, "train", params={"ignore_prob": 0.3}, progress=False)
