from __future__ import annotations

import json

import numpy as np
import pytest

from movierec_env.data import PrepareConfig, prepare
from movierec_env.data.synthetic import synthetic_raw
from movierec_env.sim import World, default_world, shipped_world_dir
from movierec_env.sim.defaults import cache_dir


def _roll(world, data, seed=3):
    u = np.arange(10)
    st = world.initial_state(u, data.train_end[u], data)
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(4):
        out.extend(world.step(st, np.stack([np.full(10, 2), np.full(10, 5)], axis=1), rng))
        out.append(world.organic_scores(st))
    return out


def test_round_trip_is_bit_identical(tmp_path, sim_data, sim_world):
    path = sim_world.save(tmp_path / "w")
    loaded = World.load(path, sim_data)
    assert loaded.fitted == sim_world.fitted
    assert loaded.params == sim_world.params
    assert loaded.meta == sim_world.meta
    for a, b in zip(_roll(sim_world, sim_data), _roll(loaded, sim_data), strict=True):
        np.testing.assert_array_equal(a, b)
    # Saving again over an existing world replaces it atomically (no temp dirs left).
    sim_world.save(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w"]


def test_truncated_arrays_refused(tmp_path, sim_data, sim_world):
    path = sim_world.save(tmp_path / "w")
    f = path / "arrays.npz"
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    with pytest.raises(ValueError, match=r"arrays\.npz.*checksum"):
        World.load(path, sim_data)


def test_edited_json_refused(tmp_path, sim_data, sim_world):
    path = sim_world.save(tmp_path / "w")
    f = path / "world.json"
    meta = json.loads(f.read_text())
    meta["fitted"]["leave_intercept"] += 1.0
    f.write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=r"world\.json.*checksum"):
        World.load(path)
    f.write_text(f.read_text()[:100])
    with pytest.raises(ValueError, match=r"world\.json"):
        World.load(path)


def test_wrong_version_and_missing_world(tmp_path, sim_world):
    path = sim_world.save(tmp_path / "w")
    f = path / "world.json"
    meta = json.loads(f.read_text())
    meta["format_version"] = 99
    f.write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="format_version 99"):
        World.load(path)
    with pytest.raises(FileNotFoundError, match="no world"):
        World.load(tmp_path / "nothing")


def test_other_dataset_refused(tmp_path, sim_data, sim_world):
    other = prepare(
        synthetic_raw(n_users=30, n_movies=20, n_ratings=600, seed=9), PrepareConfig(3, 3)
    )
    path = sim_world.save(tmp_path / "w")
    with pytest.raises(ValueError, match=r"world\.json.*fingerprint"):
        World.load(path, other)
    with pytest.raises(ValueError, match="fingerprint"):
        sim_world.initial_state(np.array([0]), np.array([other.offsets[1]]), other)


def test_default_world_fits_once_then_caches(isolated_cache, sim_data):
    w = default_world(sim_data, "eval", progress=False)
    assert (cache_dir(sim_data, "eval") / "world.json").is_file()
    assert w.name == "eval"
    assert default_world(sim_data, "eval") is w  # memoised
    from movierec_env.sim import defaults

    defaults._MEMO.clear()
    again = default_world(sim_data, "eval")  # from the cache, not refitted
    assert again.meta == w.meta


def test_shipped_worlds_load_for_the_embedded_dataset(isolated_cache, small_data):
    for name in ("train", "eval"):
        assert (shipped_world_dir(name) / "world.json").is_file()
        w = default_world(small_data, name)
        assert w.name == name and w.fingerprint == small_data.fingerprint
        assert not isolated_cache.exists()  # nothing fitted or cached
    a, b = default_world(small_data, "train"), default_world(small_data, "eval")
    assert np.intersect1d(a.arrays["users"], b.arrays["users"]).size == 0
    assert a.arrays["users"].size + b.arrays["users"].size == small_data.n_users


def test_stale_cache_is_refitted(isolated_cache, sim_data):
    from movierec_env.sim import defaults

    w = default_world(sim_data, "train", progress=False)
    f = cache_dir(sim_data, "train") / "world.json"
    f.write_text(f.read_text().replace('"format_version": 2', '"format_version": 1'))
    defaults._MEMO.clear()
    with pytest.warns(UserWarning, match="format_version 1"):
        again = default_world(sim_data, "train", progress=False)
    assert again.fitted == w.fitted
    assert World.load(cache_dir(sim_data, "train")).fitted == w.fitted  # rewritten
