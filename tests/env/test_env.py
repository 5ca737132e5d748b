"""MovieRecEnv: semantics, reward, masks, errors, rendering, registration."""

from __future__ import annotations

import math
import subprocess
import sys
import warnings

import gymnasium as gym
import numpy as np
import pytest

import movierec_env
from movierec_env.env import MovieRecEnv
from movierec_env.reward import RewardConfig
from movierec_env.testing import RandomProjectionEncoder


def naive_reward(data, action: int, g: int, cfg: RewardConfig) -> tuple[float, float, float]:
    """Independent pure-Python statement of the documented reward terms."""
    target = int(data.items[g])
    hit = float(action + 1 == target)
    ga, gt = data.item_genres[action + 1], data.item_genres[target]
    na, nt = math.sqrt(float(ga.sum())), math.sqrt(float(gt.sum()))
    cos = 0.0 if na == 0 or nt == 0 else float((ga * gt).sum()) / (na * nt)
    genre = cos * (0.5 if cfg.genre_mode == "seed" else 1.0)
    if cfg.rating_mode == "window":
        user = int(np.searchsorted(data.offsets, g, side="right") - 1)
        window = data.ratings[max(int(data.offsets[user]), g - cfg.rating_window) : g]
        mean = float(np.mean(window)) if len(window) else 3.0
    else:
        mean = float(data.item_mean_rating[action + 1])
    rating = min(1.0, max(0.0, (mean - 3.0) / 2.0))
    return hit, genre, rating


def test_import_does_not_import_torch():
    code = (
        "import sys, movierec_env, gymnasium as gym; assert 'torch' not in sys.modules; "
        "assert 'MovieRec-v0' in gym.registry; print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ok"


def test_registered_with_string_entry_points():
    spec = gym.spec("MovieRec-v0")
    assert spec.entry_point == "movierec_env.env:MovieRecEnv"
    assert spec.vector_entry_point == "movierec_env.vector_env:MovieRecVectorEnv"
    assert movierec_env.ENV_ID == "MovieRec-v0"


@pytest.mark.parametrize("env_id", ["MovieRec-v0", "movierec_env:MovieRec-v0"])
def test_gym_make(env_id, tiny_data, tiny_encoder):
    env = gym.make(env_id, dataset=tiny_data, encoders=tiny_encoder)
    assert isinstance(env.unwrapped, MovieRecEnv)
    assert env.action_space.n == tiny_data.n_items
    assert env.observation_space.shape == (tiny_encoder.obs_dim,)
    obs, _info = env.reset(seed=1)
    assert obs in env.observation_space
    assert env.unwrapped.dataset is tiny_data and env.unwrapped.encoder is tiny_encoder
    masks = env.get_wrapper_attr("action_masks")()  # how SB3 and sb3-contrib reach it
    assert masks.shape == (tiny_data.n_items,)


# val/test episodes are one step by design (PROTOCOL.md), which Gymnasium's determinism
# heuristic ("truncates after 1 step, something has gone very wrong") rejects: train only.
@pytest.mark.parametrize("split", ["train"])
def test_gymnasium_check_env_no_warnings(tiny_data, tiny_encoder, split):
    from gymnasium.utils.env_checker import check_env

    env = gym.make("MovieRec-v0", dataset=tiny_data, encoders=tiny_encoder, split=split)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped)


def test_sb3_check_env_no_warnings(make_tiny):
    from stable_baselines3.common.env_checker import check_env

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(make_tiny(), warn=True)
        check_env(make_tiny(split="val"), warn=True)
        check_env(make_tiny(split="test", reward={"rating_mode": "item"}), warn=True)


def rollout(env, seed, n_steps, actions_seed=0):
    rng = np.random.default_rng(actions_seed)
    obs, info = env.reset(seed=seed)
    out = [(obs.copy(), info)]
    for _ in range(n_steps):
        obs, r, term, trunc, info = env.step(int(rng.integers(env.action_space.n)))
        out.append((obs.copy(), r, term, trunc, info))
        if term or trunc:
            obs, info = env.reset()
            out.append((obs.copy(), info))
    return out


def same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x[0], y[0])
        assert x[1:] == y[1:]


def test_same_seed_same_trajectory(make_tiny):
    same(rollout(make_tiny(), 7, 300), rollout(make_tiny(), 7, 300))
    same(
        rollout(make_tiny(random_start=True, max_episode_steps=4), 3, 200),
        rollout(make_tiny(random_start=True, max_episode_steps=4), 3, 200),
    )
    a, b = rollout(make_tiny(), 7, 50), rollout(make_tiny(), 8, 50)
    assert [x[1]["user_id"] for x in a if len(x) == 2] != [
        x[1]["user_id"] for x in b if len(x) == 2
    ]


@pytest.mark.parametrize(
    "reward",
    [
        None,
        {"genre_mode": "seed"},
        {"rating_mode": "item", "w_hit": 1.0, "w_genre": 0.5, "w_rating": 0.0},
        {"rating_window": 2, "w_rating": 2.0},
    ],
)
def test_reward_matches_formula_and_range(make_tiny, tiny_data, reward):
    env = make_tiny(reward=reward)
    cfg = RewardConfig.from_value(reward)
    rng = np.random.default_rng(0)
    _obs, info = env.reset(seed=0)
    hits = 0
    for _ in range(400):
        g = info["position"]
        target = int(tiny_data.items[g]) - 1
        a = target if rng.random() < 0.3 else int(rng.integers(env.action_space.n))
        _obs, r, term, trunc, info = env.step(a)
        hit, genre, rating = naive_reward(tiny_data, a, g, cfg)
        assert info["reward_hit"] == hit and info["hit"] == bool(hit)
        assert info["reward_genre"] == pytest.approx(genre, abs=1e-6)
        assert info["reward_rating"] == pytest.approx(rating, abs=1e-6)
        assert info["target"] == target
        assert info["target_movie_id"] == int(tiny_data.item_movie_ids[target + 1])
        w = info["weights"]
        assert w == {"hit": cfg.w_hit, "genre": cfg.w_genre, "rating": cfg.w_rating}
        total = w["hit"] * hit + w["genre"] * genre + w["rating"] * rating
        assert r == pytest.approx(total, abs=1e-6)
        assert 0.0 <= r <= cfg.max_reward + 1e-6
        assert isinstance(r, float) and not term
        hits += info["hit"]
        if trunc:
            _obs, info = env.reset()
    assert hits > 50  # the hit branch was exercised


def test_seed_formula_worked_example():
    # The seed system's worked example: genre similarity 0.8 -> 0.4, rating reward 0.75.
    cfg = RewardConfig(genre_mode="seed")
    assert cfg.w_hit * 0 + cfg.w_genre * (0.5 * 0.8) + cfg.w_rating * 0.75 == pytest.approx(0.345)
    assert cfg.max_reward == pytest.approx(0.85)
    assert RewardConfig().max_reward == pytest.approx(1.0)


def test_train_episode_replays_training_positions(make_tiny, tiny_data):
    env = make_tiny(min_history=3)
    uid = int(env.unwrapped.eligible_user_ids[0])
    u = tiny_data.user_to_index(uid)
    obs, info = env.reset(seed=0, options={"user_id": uid})
    start, end = int(tiny_data.offsets[u]), int(tiny_data.train_end[u])
    assert info == {"position": start + 3, "user_id": uid}
    table = env.unwrapped._core.obs
    np.testing.assert_array_equal(obs, table[start + 3])
    positions, trunc, n = [start + 3], False, 0
    while not trunc:
        obs, _r, term, trunc, info = env.step(0)
        n += 1
        assert not term and info["user_id"] == uid
        positions.append(info["position"])
        np.testing.assert_array_equal(obs, table[info["position"]])
    assert positions == list(range(start + 3, end + 1))
    assert n == end - start - 3
    with pytest.raises(RuntimeError, match="reset"):
        env.step(0)


def test_eval_splits_one_step_on_protocol_targets(make_tiny, tiny_data):
    for split, index in (("val", tiny_data.val_index), ("test", tiny_data.test_index)):
        env = make_tiny(split=split)
        users = np.flatnonzero(index >= 0)
        np.testing.assert_array_equal(env.eligible_user_ids, tiny_data.user_ids[users])
        for u in users[:5]:
            obs, info = env.reset(options={"user_id": int(tiny_data.user_ids[u])})
            assert info["position"] == index[u]
            obs, _r, term, trunc, info = env.step(3)
            assert trunc and not term
            assert info["target"] == int(tiny_data.items[index[u]]) - 1
    # The final observation of a test episode is the zero row.
    env = make_tiny(split="test")
    env.reset(seed=0)
    obs, *_ = env.step(0)
    assert not obs.any()


def test_max_episode_steps_and_random_start(make_tiny, tiny_data):
    env = make_tiny(max_episode_steps=3, random_start=True)
    starts = set()
    for ep in range(30):
        _obs, info = env.reset(seed=ep)
        u = tiny_data.user_to_index(info["user_id"])
        assert int(tiny_data.offsets[u]) + 5 <= info["position"] < int(tiny_data.train_end[u])
        starts.add(info["position"] - int(tiny_data.offsets[u]))
        n, trunc = 0, False
        while not trunc:
            *_, trunc, _ = env.step(0)
            n += 1
        assert n <= 3
    assert len(starts) > 3
    wrapped = gym.make(
        "MovieRec-v0", dataset=tiny_data, encoders=env.unwrapped.encoder, max_episode_steps=2
    )
    wrapped.reset(seed=0)
    assert not wrapped.step(0)[3] and wrapped.step(0)[3]


def test_masks_hide_history_never_target(make_tiny, tiny_data):
    env = make_tiny()
    _obs, info = env.reset(seed=0)
    checked = 0
    for _ in range(300):
        g = info["position"]
        u = int(np.searchsorted(tiny_data.offsets, g, side="right") - 1)
        history = tiny_data.items[tiny_data.offsets[u] : g] - 1
        mask = env.action_masks()
        expected = np.ones(tiny_data.n_items, dtype=bool)
        expected[history] = False
        if not expected.any():
            expected[:] = True
        np.testing.assert_array_equal(mask, expected)
        target = int(tiny_data.items[g]) - 1
        assert mask[target] or target in history  # only a re-watch hides the target
        checked += 1
        mask[:] = False  # a copy: must not corrupt the env's state
        _obs, _r, _term, trunc, info = env.step(int(np.flatnonzero(env.action_masks())[0]))
        if trunc:
            _obs, info = env.reset()
    assert checked == 300
    env = make_tiny(mask_seen=False)
    env.reset(seed=0)
    assert env.action_masks().all()


def test_rewatched_target_is_masked(tiny_data, tiny_encoder):
    # Find a position whose target appears earlier in the same user's history.
    found = None
    for u in range(tiny_data.n_users):
        s, e = int(tiny_data.offsets[u]), int(tiny_data.train_end[u])
        for g in range(s + 5, e):
            if tiny_data.items[g] in tiny_data.items[s:g]:
                found = (u, g)
                break
        if found:
            break
    if found is None:
        pytest.skip("tiny_data has no re-watch")
    u, g = found
    env = MovieRecEnv(dataset=tiny_data, encoders=tiny_encoder)
    _obs, info = env.reset(options={"user_id": int(tiny_data.user_ids[u])})
    while info["position"] < g:
        *_, info = env.step(0)
    if env.action_masks().all():
        pytest.skip("history covers the catalogue: everything allowed")
    assert not env.action_masks()[int(tiny_data.items[g]) - 1]


def test_bad_inputs_raise_clear_errors(make_tiny, tiny_data, tiny_encoder):
    env = make_tiny()
    env.reset(seed=0)
    with pytest.raises(ValueError, match="out of range"):
        env.step(tiny_data.n_items)
    with pytest.raises(ValueError, match="out of range"):
        env.step(-1)
    with pytest.raises(TypeError, match="integer"):
        env.step(1.5)
    env.step(np.int64(1))
    env.step(np.array(2))
    with pytest.raises(ValueError, match="not in dataset"):
        env.reset(options={"user_id": 10**9})
    with pytest.raises(ValueError, match="unknown reset option"):
        env.reset(options={"user": 1})
    with pytest.raises(ValueError, match="split"):
        make_tiny(split="validation")
    with pytest.raises(ValueError, match="min_history"):
        make_tiny(min_history=0)
    with pytest.raises(ValueError, match="max_episode_steps"):
        make_tiny(max_episode_steps=0)
    with pytest.raises(ValueError, match="w_hit"):
        make_tiny(reward={"w_hit": -0.1})
    with pytest.raises(ValueError, match="unknown reward option"):
        make_tiny(reward={"w_hits": 1.0})
    with pytest.raises(ValueError, match="genre_mode"):
        make_tiny(reward={"genre_mode": "jaccard"})
    with pytest.raises(ValueError, match="render_mode"):
        make_tiny(render_mode="human")
    with pytest.raises(ValueError, match="no user"):
        make_tiny(min_history=10_000)
    fresh = make_tiny()
    with pytest.raises(RuntimeError, match="reset"):
        fresh.step(0)


def test_encoder_of_another_dataset_is_refused(tiny_data, small_data):
    from tests.env.conftest import StandInEncoder

    with pytest.raises(ValueError, match="fingerprint"):
        MovieRecEnv(dataset=tiny_data, encoders=StandInEncoder(small_data))
    with pytest.raises(TypeError, match="encoders must be"):
        MovieRecEnv(dataset=tiny_data, encoders=42)
    with pytest.raises(FileNotFoundError):
        MovieRecEnv(dataset=tiny_data, encoders="/nonexistent/checkpoint")


def test_observations_computed_once_and_read_only(tiny_data):
    from tests.env.conftest import StandInEncoder

    enc = StandInEncoder(tiny_data, seed=5)
    e1, e2 = (
        MovieRecEnv(dataset=tiny_data, encoders=enc),
        MovieRecEnv(dataset=tiny_data, encoders=enc),
    )
    assert enc.calls == 1
    obs, _ = e1.reset(seed=0)
    obs[:] = 0.5  # a copy: the shared table is untouched (and read-only)
    assert not e1.unwrapped._core.obs.flags.writeable
    assert not (e1.unwrapped._core.obs == 0.5).all(axis=1).any()
    del e2


def test_render_ansi(make_tiny, tiny_data):
    env = make_tiny(render_mode="ansi")
    assert "reset" in env.render()
    _obs, info = env.reset(seed=0)
    text = env.render()
    assert "Recent history" in text and "nothing yet" in text
    g = info["position"]
    env.step(0)
    text = env.render()
    assert env.unwrapped.catalogue.title(0) in text
    assert str(tiny_data.item_titles[tiny_data.items[g]]) in text
    assert "Watched next" in text and "Reward" in text
    assert make_tiny().render() is None


def test_catalogue(make_tiny, tiny_data):
    cat = make_tiny().catalogue
    assert len(cat) == tiny_data.n_items
    m = cat[0]
    assert m.item == 1 and m.movie_id == int(tiny_data.item_movie_ids[1])
    assert m.title == tiny_data.item_titles[1]
    assert cat.action_of(m.movie_id) == 0
    expected = [tiny_data.genre_names[j] for j in np.flatnonzero(tiny_data.item_genres[1])]
    assert list(m.genres) == expected
    assert cat.to_frame().shape == (tiny_data.n_items, 3)
    with pytest.raises(ValueError, match="out of range"):
        cat[len(cat)]
    with pytest.raises(KeyError):
        cat.action_of(-5)


def test_observation_disk_cache(tiny_data, monkeypatch, tmp_path):
    from movierec_env import replay
    from tests.env.conftest import StandInEncoder

    class Keyed(StandInEncoder):
        def cache_key(self):
            return "standin-v1-seed9"

    monkeypatch.setenv("MOVIEREC_CACHE", str(tmp_path))
    first = Keyed(tiny_data, seed=9)
    t1 = replay.observation_table(first, tiny_data)
    files = list((tmp_path / "observations").glob("*.npy"))
    assert len(files) == 1 and first.calls == 1
    second = Keyed(tiny_data, seed=9)  # another object, same key: read from disk
    t2 = replay.observation_table(second, tiny_data)
    assert second.calls == 0
    np.testing.assert_array_equal(t1, t2)
    # A plain ndarray over the mapping: np.memmap rows cost ~8x a plain row copy.
    assert type(t2) is np.ndarray and type(t2[0].copy()) is np.ndarray
    assert not t2.flags.writeable and not t2[-1].any()
    monkeypatch.setenv("MOVIEREC_OBS_CACHE", "0")
    third = Keyed(tiny_data, seed=9)
    replay.observation_table(third, tiny_data)
    assert third.calls == 1
    assert replay.encoder_digest(StandInEncoder(tiny_data)) is None  # no key: no disk cache


class _Keyed(RandomProjectionEncoder):
    def cache_key(self):
        return "standin-v1-seed9"


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty", "other-shape"])
def test_damaged_table_cache_is_rebuilt(tiny_data, monkeypatch, tmp_path, damage):
    from movierec_env import replay

    monkeypatch.setenv("MOVIEREC_CACHE", str(tmp_path))
    # A copy: the table is a mapping of the file, which this test damages in place.
    want = np.array(replay.observation_table(_Keyed(tiny_data, seed=9), tiny_data))
    (path,) = (tmp_path / "observations").glob("*.npy")
    raw = path.read_bytes()
    if damage == "truncated":  # e.g. a copy cut short: the header promises more rows
        path.write_bytes(raw[: len(raw) - 100])
    elif damage == "garbage":
        path.write_bytes(b"not a numpy file" * 10)
    elif damage == "empty":
        path.write_bytes(b"")
    else:
        np.save(path, np.zeros((3, 4), dtype=np.float32))
    replay.clear_caches()
    enc = _Keyed(tiny_data, seed=9)
    got = replay.observation_table(enc, tiny_data)
    assert enc.calls == 1  # detected and recomputed, never read
    np.testing.assert_array_equal(got, want)
    replay.clear_caches()
    again = _Keyed(tiny_data, seed=9)
    np.testing.assert_array_equal(replay.observation_table(again, tiny_data), want)
    assert again.calls == 0  # the rebuilt file is whole
    assert [p.name for p in (tmp_path / "observations").iterdir()] == [path.name]  # no temp


def test_checkpoint_table_is_used_without_loading_the_encoder(tiny_data, monkeypatch, tmp_path):
    """A checkpoint whose table is cached is not loaded until `encoder` is read."""
    import json

    from movierec_env import replay
    from movierec_env.checkpoints import checkpoint_digest

    monkeypatch.setenv("MOVIEREC_CACHE", str(tmp_path / "cache"))
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    (ckpt / "config.json").write_text(json.dumps({"fingerprint": tiny_data.fingerprint}))
    (ckpt / "lstm.pt").write_bytes(b"not torch weights")  # loading it would fail
    standin = RandomProjectionEncoder(tiny_data, seed=3)
    table = replay.observation_table(standin, tiny_data, checkpoint_digest(ckpt))
    replay.clear_caches()

    env = MovieRecEnv(dataset=tiny_data, encoders=str(ckpt))
    obs, _ = env.reset(seed=0)
    np.testing.assert_array_equal(obs, table[env.position])
    obs, *_ = env.step(0)
    np.testing.assert_array_equal(obs, table[env.position])
    np.testing.assert_array_equal(env.observations_at(np.arange(5)), table[:5])
    with pytest.raises(ValueError, match="format_version"):  # only now is it loaded
        _ = env.encoder

    # New weights are a new digest: the stale table is not used, the checkpoint is loaded.
    (ckpt / "lstm.pt").write_bytes(b"other weights")
    replay.clear_caches()
    with pytest.raises(ValueError, match="format_version"):
        MovieRecEnv(dataset=tiny_data, encoders=str(ckpt))
