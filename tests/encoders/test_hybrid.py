from __future__ import annotations

import dataclasses
import json
import os

import numpy as np
import pytest
import torch

from encoders import HybridEncoder, TrainConfig, train_encoder
from encoders.training import model_scores
from movierec_env.data import PrepareConfig, prepare
from movierec_env.data.synthetic import synthetic_raw
from tests.encoders.conftest import make_models


def test_observations_shape_bounds_and_first_rows(tiny_hybrid, tiny_data):
    obs = tiny_hybrid.observations(tiny_data)
    assert obs.shape == (tiny_data.n_interactions, tiny_hybrid.obs_dim)
    assert obs.dtype == np.float32
    assert np.abs(obs).max() <= 1
    firsts = tiny_data.offsets[:-1]
    assert (obs[firsts] == 0).all()
    others = np.setdiff1d(np.arange(tiny_data.n_interactions), firsts)
    assert (np.abs(obs[others]).sum(1) > 0).all()


def test_observation_rows_depend_only_on_earlier_history(tiny_hybrid, tiny_data):
    obs = tiny_hybrid.observations(tiny_data)
    g = int(tiny_data.target_indices("test")[3])
    user = int(np.searchsorted(tiny_data.offsets, g, side="right") - 1)
    # Change everything at and after g for that user: row g must not move.
    items = tiny_data.items.copy()
    ratings = tiny_data.ratings.copy()
    end = tiny_data.offsets[user + 1]
    items[g:end] = items[g:end] % tiny_data.n_items + 1
    ratings[g:end] = 0.5
    changed = dataclasses.replace(tiny_data, items=items, ratings=ratings)
    obs2 = tiny_hybrid.observations(changed)
    np.testing.assert_array_equal(obs[g], obs2[g])
    # ...while an earlier change does move it.
    items[g - 1] = items[g - 1] % tiny_data.n_items + 1
    obs3 = tiny_hybrid.observations(dataclasses.replace(tiny_data, items=items))
    assert not np.array_equal(obs[g], obs3[g])


def test_observations_window_limits_history(tiny_data):
    lstm, content = make_models(tiny_data)
    enc = HybridEncoder(lstm, content, 0.5, window=2, fingerprint=tiny_data.fingerprint)
    obs = enc.observations(tiny_data)
    g = int(tiny_data.target_indices("test")[0])
    start = int(tiny_data.offsets[np.searchsorted(tiny_data.offsets, g, side="right") - 1])
    assert g - start > 6
    items = tiny_data.items.copy()
    items[start] = items[start] % tiny_data.n_items + 1  # older than 2 * window
    obs2 = enc.observations(dataclasses.replace(tiny_data, items=items))
    np.testing.assert_array_equal(obs[g], obs2[g])


def test_target_observations_equal_rows(tiny_hybrid, tiny_data):
    pos = np.concatenate([tiny_data.target_indices("val"), tiny_data.offsets[:2]])
    np.testing.assert_allclose(
        tiny_hybrid.target_observations(tiny_data, pos),
        tiny_hybrid.observations(tiny_data)[pos],
        atol=1e-6,
    )


def test_scores_are_linear_blend_of_log_softmax(tiny_hybrid, tiny_data):
    pos = tiny_data.target_indices("test")
    obs = tiny_hybrid.target_observations(tiny_data, pos)
    dl = tiny_hybrid.lstm.dim
    a = tiny_hybrid.alpha
    blend = a * model_scores(tiny_hybrid.lstm, obs[:, :dl]) + (1 - a) * model_scores(
        tiny_hybrid.content, obs[:, dl:]
    )
    s = tiny_hybrid.scores(obs)
    assert s.shape == (pos.size, tiny_data.n_items + 1)
    assert np.isneginf(s[:, 0]).all()
    diff = s[:, 1:] - blend[:, 1:]
    np.testing.assert_allclose(diff, diff[:, :1].repeat(diff.shape[1], 1), atol=1e-4)
    m, b = tiny_hybrid.item_matrix(), tiny_hybrid.item_bias()
    assert m.shape == (tiny_data.n_items + 1, tiny_hybrid.obs_dim) and b.shape == (
        tiny_data.n_items + 1,
    )
    np.testing.assert_allclose(s[:, 1:], (obs @ m.T + b)[:, 1:], rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="last dimension"):
        tiny_hybrid.scores(np.zeros((1, 3)))


def test_choose_alpha_picks_best_validation(tiny_hybrid, tiny_data):
    res = tiny_hybrid.choose_alpha(tiny_data)
    assert tiny_hybrid.alpha == res["alpha"]
    assert res["val"]["NDCG@10"] == pytest.approx(max(res["grid"].values()))


def test_checkpoint_roundtrip(tiny_hybrid, tiny_data, tmp_path):
    path = tiny_hybrid.save(tmp_path / "enc")
    assert sorted(os.listdir(path)) == ["config.json", "content.pt", "lstm.pt", "weights.npz"]
    loaded = HybridEncoder.load(path, tiny_data)
    assert loaded.alpha == tiny_hybrid.alpha and loaded.window == tiny_hybrid.window
    np.testing.assert_array_equal(
        loaded.observations(tiny_data), tiny_hybrid.observations(tiny_data)
    )
    np.testing.assert_array_equal(loaded.item_matrix(), tiny_hybrid.item_matrix())
    assert all(not p.requires_grad for p in loaded.lstm.parameters())
    # No leftovers from the atomic write; overwriting keeps one good checkpoint.
    tiny_hybrid.save(path)
    assert os.listdir(tmp_path) == ["enc"]


def test_checkpoint_refuses_other_dataset(tiny_hybrid, tmp_path):
    other = prepare(
        synthetic_raw(n_users=40, n_movies=30, n_ratings=1_200, seed=1),
        PrepareConfig(min_user_ratings=3, min_item_ratings=3),
    )
    path = tiny_hybrid.save(tmp_path / "enc")
    with pytest.raises(ValueError, match="fingerprint"):
        HybridEncoder.load(path, other)
    with pytest.raises(ValueError, match="fingerprint"):
        tiny_hybrid.observations(other)


def test_checkpoint_errors(tmp_path, tiny_hybrid):
    with pytest.raises(FileNotFoundError, match=r"config\.json"):
        HybridEncoder.load(tmp_path / "missing")
    path = tiny_hybrid.save(tmp_path / "enc")
    meta = json.loads((path / "config.json").read_text())
    meta["format_version"] = 99
    (path / "config.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="format_version"):
        HybridEncoder.load(path)


def test_interrupted_save_keeps_previous_checkpoint(tiny_hybrid, tiny_data, tmp_path, monkeypatch):
    path = tiny_hybrid.save(tmp_path / "enc")
    before = (path / "config.json").read_text()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", boom)
    tiny_hybrid.set_alpha(0.9)
    with pytest.raises(OSError, match="disk full"):
        tiny_hybrid.save(path)
    assert (path / "config.json").read_text() == before
    assert os.listdir(tmp_path) == ["enc"]


def _train_once(data, seed):
    lstm, _ = make_models(data, seed=seed)
    cfg = TrainConfig(window=4, epochs=2, batch_size=8, seed=seed, patience=5)
    rec = train_encoder(lstm, data, cfg, progress=False)
    return lstm, rec


def test_training_is_deterministic_and_restores_best(tiny_data):
    a, rec_a = _train_once(tiny_data, seed=3)
    b, rec_b = _train_once(tiny_data, seed=3)
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert ka == kb
        torch.testing.assert_close(va, vb, rtol=0, atol=0)
    assert rec_a["history"] == rec_b["history"]
    c, _ = _train_once(tiny_data, seed=4)
    assert not torch.equal(a.item_emb.weight, c.item_emb.weight)
    # Best weights restored (a copy, not the live weights of the last epoch).
    best = max(h["NDCG@10"] for h in rec_a["history"])
    assert rec_a["val"]["NDCG@10"] == pytest.approx(best)
    assert rec_a["best_epoch"] == 1 + [h["NDCG@10"] for h in rec_a["history"]].index(best)


def test_training_reduces_loss(tiny_data):
    lstm, _ = make_models(tiny_data, seed=0)
    cfg = TrainConfig(window=4, epochs=4, batch_size=8, lr=1e-2, patience=10)
    rec = train_encoder(lstm, tiny_data, cfg, progress=False)
    losses = [h["loss"] for h in rec["history"]]
    assert losses[-1] < losses[0]


@pytest.mark.slow
def test_parallel_training_matches_sequential(tiny_data):
    from encoders import train_hybrid

    kw = dict(
        seed=1,
        lstm_config={"dim": 8, "hidden": 12},
        content_config={"dim": 6, "hidden": 10},
        lstm_train=TrainConfig(window=4, epochs=1, batch_size=8),
        content_train=TrainConfig(window=4, epochs=1, batch_size=8),
        progress=False,
    )
    a = train_hybrid(tiny_data, parallel=False, **kw)
    b = train_hybrid(tiny_data, parallel=True, **kw)
    np.testing.assert_array_equal(a.item_matrix(), b.item_matrix())
    np.testing.assert_array_equal(a.observations(tiny_data), b.observations(tiny_data))


@pytest.mark.parametrize("max_rows", [1, 37, 10**9])
def test_observation_blocks_tile_observations(tiny_hybrid, tiny_data, max_rows):
    """Blocks of whole users, in order, with the rows observations() gives."""
    want = tiny_hybrid.observations(tiny_data)
    row = 0
    firsts = set(tiny_data.offsets.tolist())
    for first, block in tiny_hybrid.observation_blocks(tiny_data, max_rows):
        assert first == row and first in firsts  # a block starts where a user starts
        assert block.dtype == np.float32 and block.shape[1] == tiny_hybrid.obs_dim
        users = np.searchsorted(tiny_data.offsets, [first, first + len(block)], "right") - 1
        assert len(block) <= max_rows or users[1] - users[0] == 1  # or one user alone
        np.testing.assert_allclose(block, want[first : first + len(block)], rtol=0, atol=1e-6)
        row += len(block)
    assert row == tiny_data.n_interactions


def test_observation_blocks_check_arguments(tiny_hybrid, tiny_data, small_data):
    with pytest.raises(ValueError, match="max_rows"):
        tiny_hybrid.observation_blocks(tiny_data, 0)
    with pytest.raises(ValueError, match="fingerprint"):
        tiny_hybrid.observation_blocks(small_data)
