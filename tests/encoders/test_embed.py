"""The encoder contract on raw histories: embed, start_states and advance vs observations()."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from encoders import HybridEncoder, TrainConfig, default_encoder, train_hybrid
from movierec_env.data.types import PreparedDataset
from tests.encoders.conftest import make_models

ATOL = 1e-5


def _lengths_to_check(n: int, window: int) -> list[int]:
    """History lengths below W, between W and 2W, above 2W, and the user's longest."""
    w = window
    cands = {0, 1, 2, w - 1, w, w + 1, 2 * w - 1, 2 * w, 2 * w + 1, 3 * w, 3 * w + 1, 5 * w + 2}
    return sorted(h for h in cands | {n - 1} if 0 <= h < n)


def _logged(data: PreparedDataset, users, window: int):
    """Logged histories (prefixes of user sequences) and their rows in observations()."""
    items, ratings, stamps, rows, lengths = [], [], [], [], []
    for u in users:
        s, e = int(data.offsets[u]), int(data.offsets[u + 1])
        for h in _lengths_to_check(e - s, window):
            items.append(data.items[s : s + h])
            ratings.append(data.ratings[s : s + h])
            stamps.append(data.timestamps[s : s + h])
            rows.append(s + h)
            lengths.append(h)
    return items, ratings, stamps, np.array(rows), np.array(lengths)


def _advance_along_sequences(enc: HybridEncoder, data: PreparedDataset, users) -> float:
    """Max |advance - observations()| following whole user sequences, batched over users."""
    users = np.asarray(users)
    obs = enc.observations(data)
    starts, lengths = data.offsets[users], data.lengths[users]
    state = enc.initial_state(users.size)
    worst = 0.0
    for t in range(int(lengths.max()) - 1):
        active = t < lengths - 1  # the step after a user's last interaction has no row
        pos = np.where(active, starts + t, starts)
        out, state = enc.advance(
            state, data.items[pos], data.ratings[pos], data.timestamps[pos], active=active
        )
        worst = max(worst, float(np.abs(out[active] - obs[pos[active] + 1]).max()))
        assert out.dtype == np.float32 and np.abs(out).max() <= 1
    return worst


@pytest.fixture(scope="module")
def trained(tiny_data: PreparedDataset) -> HybridEncoder:
    """A small encoder trained on synthetic data, with a window the users exceed often."""
    torch.set_num_threads(1)
    cfg = TrainConfig(window=3, epochs=1, batch_size=8)
    return train_hybrid(
        tiny_data,
        seed=0,
        lstm_config={"dim": 8, "hidden": 12, "layers": 2},
        content_config={"dim": 6, "hidden": 10},
        lstm_train=cfg,
        content_train=cfg,
        progress=False,
        parallel=False,
    )


@pytest.fixture(scope="module")
def shipped(small_data: PreparedDataset) -> HybridEncoder:
    return default_encoder(small_data, progress=False)


def _long_users(data: PreparedDataset, window: int, n: int = 12) -> np.ndarray:
    order = np.argsort(-data.lengths, kind="stable")
    long_ = order[: n // 2]
    mid = np.flatnonzero((data.lengths > window) & (data.lengths < 3 * window))[: n // 2]
    short = np.flatnonzero(data.lengths < window)[:2]
    return np.unique(np.concatenate([long_, mid, short]))


def _check_embed_matches_rows(enc: HybridEncoder, data: PreparedDataset, users) -> None:
    items, ratings, stamps, rows, lengths = _logged(data, users, enc.window)
    w = enc.window
    assert (lengths < w).any() and ((lengths >= w) & (lengths <= 2 * w)).any()
    assert (lengths > 2 * w).any()
    obs = enc.observations(data)
    got = enc.embed(items, ratings, stamps)
    assert got.shape == (len(items), enc.obs_dim) and got.dtype == np.float32
    np.testing.assert_allclose(got, obs[rows], rtol=0, atol=ATOL)
    assert (got[lengths == 0] == 0).all()
    # Raw movieIds give the same result as item indices.
    movies = [data.item_movie_ids[i] for i in items]
    np.testing.assert_array_equal(enc.embed(movies, ratings, stamps, ids="movie_ids"), got)
    # start_states replays only the current segments and lands on the same observation.
    state = enc.start_states(items, ratings, stamps)
    np.testing.assert_allclose(state.obs.numpy(), obs[rows], rtol=0, atol=ATOL)


def test_embed_matches_observations_trained_synthetic(trained, tiny_data):
    _check_embed_matches_rows(trained, tiny_data, np.arange(tiny_data.n_users))


@pytest.mark.slow
def test_embed_matches_observations_shipped(shipped, small_data):
    _check_embed_matches_rows(shipped, small_data, _long_users(small_data, shipped.window))


def test_advance_matches_observations_trained_synthetic(trained, tiny_data):
    assert _advance_along_sequences(trained, tiny_data, np.arange(tiny_data.n_users)) < ATOL


@pytest.mark.slow
def test_advance_matches_observations_shipped(shipped, small_data):
    users = _long_users(small_data, shipped.window)
    assert small_data.lengths[users].max() > 10 * shipped.window
    assert _advance_along_sequences(shipped, small_data, users) < ATOL


@pytest.mark.parametrize("window", [1, 2, 5])
def test_windows_untrained(tiny_data, window):
    lstm, content = make_models(tiny_data)
    enc = HybridEncoder(lstm, content, 0.5, window, tiny_data.fingerprint).bind(tiny_data)
    users = np.arange(0, tiny_data.n_users, 3)
    items, ratings, stamps, rows, _ = _logged(tiny_data, users, window)
    obs = enc.observations(tiny_data)
    np.testing.assert_allclose(enc.embed(items, ratings, stamps), obs[rows], atol=ATOL)
    assert _advance_along_sequences(enc, tiny_data, users) < ATOL


def test_batch_equals_one_by_one(trained, tiny_data):
    items, ratings, stamps, _, _ = _logged(tiny_data, range(6), trained.window)
    batch = trained.embed(items, ratings, stamps)
    single = np.stack(
        [trained.embed(i, r, t) for i, r, t in zip(items, ratings, stamps, strict=True)]
    )
    assert single.shape == batch.shape
    np.testing.assert_allclose(single, batch, rtol=0, atol=1e-6)
    # advance: one batch of histories vs each history in a batch of its own.
    state = trained.start_states(items, ratings, stamps)
    nxt = np.array([(i[-1] if i.size else 1) for i in items])
    r = np.full(len(items), 3.5, dtype=np.float32)
    t = np.array([(s[-1] if s.size else 0) for s in stamps]) + 60
    out, _ = trained.advance(state, nxt, r, t)
    for b in range(len(items)):
        sb = trained.start_states([items[b]], [ratings[b]], [stamps[b]])
        ob, _ = trained.advance(sb, nxt[b : b + 1], r[b : b + 1], t[b : b + 1])
        np.testing.assert_allclose(ob[0], out[b], rtol=0, atol=1e-6)
        full = trained.embed(
            np.append(items[b], nxt[b]), np.append(ratings[b], r[b]), np.append(stamps[b], t[b])
        )
        np.testing.assert_allclose(full, out[b], rtol=0, atol=ATOL)


def test_equal_length_2d_form_and_single_form(trained, tiny_data):
    s = int(tiny_data.offsets[1])
    idx = np.arange(s, s + 7)
    it, r, t = tiny_data.items[idx], tiny_data.ratings[idx], tiny_data.timestamps[idx]
    one = trained.embed(it, r, t)
    assert one.shape == (trained.obs_dim,)
    two = trained.embed(np.stack([it, it]), np.stack([r, r]), np.stack([t, t]))
    assert two.shape == (2, trained.obs_dim)
    np.testing.assert_allclose(two, np.stack([one, one]), atol=1e-6)
    # Python lists work; an empty history is zeros.
    np.testing.assert_allclose(trained.embed(it.tolist(), r.tolist(), t.tolist()), one)
    assert (trained.embed([], [], []) == 0).all()


def test_unknown_ids_and_bad_input_raise(trained, tiny_data):
    real = int(tiny_data.item_movie_ids[1])
    with pytest.raises(ValueError, match=r"unknown movieIds 987654321"):
        trained.embed([real, 987654321], [4.0, 3.0], [1, 2], ids="movie_ids")
    state = trained.initial_state(2)
    with pytest.raises(ValueError, match="987654321"):
        trained.advance(state, [real, 987654321], [4.0, 3.0], [1, 2], ids="movie_ids")
    with pytest.raises(ValueError, match=r"1\.\.\d+"):
        trained.embed([0, 1], [4.0, 3.0], [1, 2])
    with pytest.raises(ValueError, match="ids must be"):
        trained.embed([1], [4.0], [1], ids="titles")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="entries"):
        trained.embed([[1, 2]], [[4.0]], [[1, 2]])
    with pytest.raises(ValueError, match="one history"):
        trained.embed([[1, 2]], [4.0, 3.0], [[1, 2]])
    with pytest.raises(TypeError, match="integers"):
        trained.embed([1.5], [4.0], [1])
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        trained.advance(state, [1, 2, 3], [4.0, 3.0, 2.0], [1, 2, 3])
    lstm, content = make_models(tiny_data)
    unbound = HybridEncoder(lstm, content, 0.5, 3, tiny_data.fingerprint)
    assert unbound.item_movie_ids is None
    with pytest.raises(ValueError, match="bind"):
        unbound.embed([1], [4.0], [1])


def test_active_mask_and_where(trained, tiny_data):
    items, ratings, stamps, _, _ = _logged(tiny_data, [0], trained.window)
    items, ratings, stamps = items[-2:], ratings[-2:], stamps[-2:]
    state = trained.start_states(items, ratings, stamps)
    out, new = trained.advance(state, [1, 2], [4.0, 4.0], [10**10, 10**10], active=[True, False])
    np.testing.assert_array_equal(out[1], state.obs[1].numpy())
    assert int(new.length[1]) == int(state.length[1]) and int(new.length[0]) == len(items[0]) + 1
    fresh = new.where(np.array([True, False]), trained.initial_state(2))
    assert (fresh.obs[0] == 0).all() and int(fresh.length[0]) == 0
    assert torch.equal(fresh.obs[1], new.obs[1])
    with pytest.raises(ValueError, match="mask"):
        new.where(np.array([True]), trained.initial_state(2))


def test_load_binds_the_dataset(trained, tiny_data, tmp_path):
    loaded = HybridEncoder.load(trained.save(tmp_path / "enc"), tiny_data)
    np.testing.assert_array_equal(loaded.item_movie_ids, tiny_data.item_movie_ids)
    assert loaded.rating_scale == tiny_data.rating_scale
    assert HybridEncoder.load(tmp_path / "enc").rating_scale is None


def test_empty_batches(trained):
    out, state = trained.advance(
        trained.initial_state(0), np.zeros(0, np.int64), np.zeros(0), np.zeros(0, np.int64)
    )
    assert out.shape == (0, trained.obs_dim) and state.batch_size == 0
    empty = np.zeros(0, np.int64)
    state = trained.start_states([empty, empty], [np.zeros(0)] * 2, [empty, empty])
    assert state.batch_size == 2 and (state.obs == 0).all()
