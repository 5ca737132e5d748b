"""The observation table's storage: float16 tables, block-by-block builds, cache safety."""

from __future__ import annotations

import numpy as np
import pytest

from movierec_env import replay
from movierec_env.env import MovieRecEnv
from movierec_env.testing import RandomProjectionEncoder
from movierec_env.vector_env import MovieRecVectorEnv

#: float16 keeps 11 significant bits: in [-1, 1] a value is at most 2**-12 off.
F16_ERROR = 2.0**-12


class Keyed(RandomProjectionEncoder):
    """A stand-in with a content hash, so its tables go to the disk cache."""

    def cache_key(self):
        return f"keyed-{self.obs_dim}-{self.seed}"

    def __init__(self, data, seed=9, **kwargs):
        super().__init__(data, seed=seed, **kwargs)
        self.seed = seed


class Blocked(Keyed):
    """Gives its observations in blocks of whole users (like ``HybridEncoder``)."""

    max_rows = 50

    def observation_blocks(self, data, max_rows):
        whole = self.observations(data)
        offsets = data.offsets
        u = 0
        while u < data.n_users:
            end = int(np.searchsorted(offsets, offsets[u] + self.max_rows, "right")) - 1
            end = min(max(end, u + 1), data.n_users)
            yield int(offsets[u]), whole[offsets[u] : offsets[end]]
            u = end


class FailsHalfway(Blocked):
    """Raises after its first block: the build must leave no file behind."""

    def observation_blocks(self, data, max_rows):
        blocks = super().observation_blocks(data, max_rows)
        yield next(blocks)
        raise RuntimeError("interrupted")


@pytest.fixture()
def cache(monkeypatch, tmp_path):
    monkeypatch.setenv("MOVIEREC_CACHE", str(tmp_path))
    replay.clear_caches()
    yield tmp_path / "observations"
    replay.clear_caches()


def test_float16_env_returns_close_float32_observations(tiny_data, cache):
    enc = Keyed(tiny_data, obs_dim=16)
    e32 = MovieRecEnv(dataset=tiny_data, encoders=enc)
    e16 = MovieRecEnv(dataset=tiny_data, encoders=enc, obs_dtype="float16")
    assert e16.unwrapped._core.obs.dtype == np.float16
    assert e16.unwrapped._core.obs.nbytes * 2 == e32.unwrapped._core.obs.nbytes
    assert e16.observation_space == e32.observation_space
    o32, _ = e32.reset(seed=3)
    o16, _ = e16.reset(seed=3)
    worst = 0.0
    for a in range(200):
        assert o16.dtype == np.float32 and e16.observation_space.contains(o16)
        worst = max(worst, float(np.abs(o16 - o32).max()))
        o32, r32, _, t32, i32 = e32.step(a % tiny_data.n_items)
        o16, r16, _, t16, i16 = e16.step(a % tiny_data.n_items)
        assert (r16, t16, i16["position"]) == (r32, t32, i32["position"])  # same dynamics
        if t32:
            o32, _ = e32.reset()
            o16, _ = e16.reset()
    assert 0 < worst <= F16_ERROR  # rounded, not equal, and within float16's error
    got = e16.observations_at(np.arange(10))
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, e32.observations_at(np.arange(10)), rtol=0, atol=F16_ERROR)


def test_float16_vector_env(tiny_data, cache):
    enc = Keyed(tiny_data, obs_dim=16)
    v32 = MovieRecVectorEnv(4, dataset=tiny_data, encoders=enc)
    v16 = MovieRecVectorEnv(4, dataset=tiny_data, encoders=enc, obs_dtype="float16")
    o32, _ = v32.reset(seed=0)
    o16, _ = v16.reset(seed=0)
    for _ in range(30):
        assert o16.dtype == np.float32 and v16.observation_space.contains(o16)
        np.testing.assert_allclose(o16, o32, rtol=0, atol=F16_ERROR)
        acts = np.zeros(4, dtype=np.int64)
        o32, r32, *_ = v32.step(acts)
        o16, r16, *_ = v16.step(acts)
        np.testing.assert_array_equal(r16, r32)


def test_obs_dtype_is_checked(tiny_data, tiny_encoder):
    with pytest.raises(ValueError, match="obs_dtype must be one of"):
        MovieRecEnv(dataset=tiny_data, encoders=tiny_encoder, obs_dtype="float64")
    with pytest.raises(ValueError, match="obs_dtype must be one of"):
        MovieRecVectorEnv(2, dataset=tiny_data, encoders=tiny_encoder, obs_dtype=np.float16)


def test_each_dtype_has_its_own_cache_file(tiny_data, cache):
    t32 = replay.observation_table(Keyed(tiny_data), tiny_data)
    t16 = replay.observation_table(Keyed(tiny_data), tiny_data, obs_dtype="float16")
    names = sorted(p.name for p in cache.iterdir())
    assert len(names) == 2 and names[0].endswith("-float16.npy")
    assert t16.dtype == np.float16 and t32.dtype == np.float32
    np.testing.assert_array_equal(t16, t32.astype(np.float16))
    replay.clear_caches()
    again = Keyed(tiny_data)
    np.testing.assert_array_equal(
        replay.observation_table(again, tiny_data, obs_dtype="float16"), t16
    )
    assert again.calls == 0  # read back from its own file


def test_blocked_build_equals_whole_build(tiny_data, cache, monkeypatch):
    whole = replay.observation_table(RandomProjectionEncoder(tiny_data, seed=9), tiny_data)
    enc = Blocked(tiny_data)
    got = replay.observation_table(enc, tiny_data)
    assert enc.calls == 1 and type(got) is np.ndarray and not got.flags.writeable
    np.testing.assert_array_equal(got, whole)
    assert [p.suffix for p in cache.iterdir()] == [".npy"]  # on disk, no temporary left
    monkeypatch.setenv("MOVIEREC_OBS_CACHE", "0")  # in memory, block by block too
    np.testing.assert_array_equal(replay.observation_table(Blocked(tiny_data), tiny_data), whole)


@pytest.mark.parametrize("obs_dtype", ["float32", "float16"])
def test_interrupted_build_leaves_no_file(tiny_data, cache, obs_dtype):
    with pytest.raises(RuntimeError, match="interrupted"):
        replay.observation_table(FailsHalfway(tiny_data), tiny_data, obs_dtype=obs_dtype)
    assert not cache.exists() or list(cache.iterdir()) == []  # nothing half-written
    enc = Blocked(tiny_data)
    table = replay.observation_table(enc, tiny_data, obs_dtype=obs_dtype)
    assert enc.calls == 1 and table.dtype == np.dtype(obs_dtype)


class BadBlocks(Keyed):
    def __init__(self, data, how):
        super().__init__(data)
        self.how = how

    def observation_blocks(self, data, max_rows):
        obs = self.observations(data)
        if self.how == "gap":
            yield 0, obs[:10]
            yield 11, obs[11:]
        elif self.how == "short":
            yield 0, obs[:-1]
        elif self.how == "width":
            yield 0, obs[:, :-1]
        else:
            yield 0, obs * 2.0


@pytest.mark.parametrize("how", ["gap", "short", "width", "range"])
def test_bad_blocks_are_refused(tiny_data, cache, how):
    with pytest.raises(ValueError, match=r"returned shape|within"):
        replay.observation_table(BadBlocks(tiny_data, how), tiny_data)
    assert not cache.exists() or list(cache.iterdir()) == []


@pytest.mark.parametrize("damage", ["truncated", "other-dtype", "stale-shape"])
def test_damaged_float16_cache_is_rebuilt(tiny_data, cache, damage):
    want = np.array(replay.observation_table(Keyed(tiny_data), tiny_data, obs_dtype="float16"))
    (path,) = cache.glob("*-float16.npy")
    raw = path.read_bytes()
    if damage == "truncated":
        path.write_bytes(raw[: len(raw) // 2])
    elif damage == "other-dtype":  # e.g. a float32 table under the float16 name
        np.save(path, want.astype(np.float32))
    else:
        np.save(path, want[:-1])
    replay.clear_caches()
    enc = Keyed(tiny_data)
    got = replay.observation_table(enc, tiny_data, obs_dtype="float16")
    assert enc.calls == 1  # detected and recomputed, never read
    np.testing.assert_array_equal(got, want)
    assert [p.name for p in cache.iterdir()] == [path.name]


def test_cached_table_by_digest_respects_dtype(tiny_data, cache):
    replay.observation_table(Keyed(tiny_data), tiny_data, "digest-x", obs_dtype="float16")
    assert replay.cached_observation_table("digest-x", tiny_data) is None
    table = replay.cached_observation_table("digest-x", tiny_data, "float16")
    assert table is not None and table.dtype == np.float16


def test_exhaustible_users_match_the_definition(tiny_data):
    from movierec_env.data import PrepareConfig, prepare
    from movierec_env.data.synthetic import synthetic_raw

    dense = prepare(
        synthetic_raw(n_users=8, n_movies=6, n_ratings=150, seed=1),
        PrepareConfig(min_user_ratings=1, min_item_ratings=1),
    )
    seen_all = []
    for data in (tiny_data, dense):
        want = [
            np.unique(data.items[data.offsets[u] : data.offsets[u + 1]]).size >= data.n_items
            for u in range(data.n_users)
        ]
        np.testing.assert_array_equal(replay.exhaustible_users(data), want)
        seen_all += want
    assert any(seen_all) and not all(seen_all)  # both cases occur
