from __future__ import annotations

import numpy as np
import pytest
import torch

from encoders.content import decayed_means
from encoders.features import N_STEP_FEATURES, make_segments, step_features, window_batch
from tests.encoders.conftest import make_models


@pytest.fixture(params=["lstm", "content"])
def model(request, tiny_data):
    lstm, content = make_models(tiny_data)
    m = lstm if request.param == "lstm" else content
    return m.eval()


def _batch(data, positions, window=6):
    it, ft, ln = window_batch(data, np.asarray(positions), window)
    return torch.from_numpy(it), torch.from_numpy(ft), torch.from_numpy(ln)


def test_step_features_scale_free(tiny_data):
    f = step_features(tiny_data)
    assert f.shape == (tiny_data.n_interactions, N_STEP_FEATURES)
    assert np.isfinite(f).all()
    assert f[:, 0].min() >= -1 and f[:, 0].max() <= 1
    firsts = tiny_data.offsets[:-1]
    assert (f[firsts, 4] == 1).all() and (f[firsts, 1] == 0).all()
    assert f[:, 1].max() < 1.5  # log gap, not raw seconds


def test_shapes_and_bounds(model, tiny_data):
    pos = tiny_data.target_indices("test")[:5]
    it, ft, ln = _batch(tiny_data, pos)
    z = model.embed(it, ft, ln)
    assert z.shape == (5, model.dim)
    assert z.abs().max() <= 1
    s = model.scores(it, ft, ln)
    assert s.shape == (5, tiny_data.n_items + 1)
    assert torch.isinf(s[:, 0]).all() and torch.isfinite(s[:, 1:]).all()


def test_padding_does_not_change_embedding(model, tiny_data):
    pos = tiny_data.target_indices("test")[:3]
    it, ft, ln = _batch(tiny_data, pos)
    z = model.embed(it, ft, ln)
    # Extra padding columns filled with garbage items/features must be ignored.
    pad_it = torch.cat([it, torch.randint(1, tiny_data.n_items, (3, 5))], dim=1)
    pad_ft = torch.cat([ft, torch.randn(3, 5, ft.shape[2])], dim=1)
    z2 = model.embed(pad_it, pad_ft, ln)
    torch.testing.assert_close(z, z2)
    # Batching with a different neighbour does not change a row either.
    z3 = model.embed(it[:1], ft[:1], ln[:1])
    torch.testing.assert_close(z[:1], z3)


def test_history_content_matters(model, tiny_data):
    pos = tiny_data.target_indices("test")[:2]
    it, ft, ln = _batch(tiny_data, pos)
    it2 = it.clone()
    it2[0, 0] = it2[0, 0] % tiny_data.n_items + 1
    assert not torch.allclose(model.embed(it, ft, ln)[0], model.embed(it2, ft, ln)[0])


def test_empty_history_is_zero(model, tiny_data):
    first = tiny_data.offsets[:2]
    it, ft, ln = _batch(tiny_data, first)
    assert (ln == 0).all()
    assert (model.embed(it, ft, ln) == 0).all()


def test_freeze_stops_gradients(model, tiny_data):
    model.train()
    out = model.freeze()
    assert out is model and not model.training
    assert all(not p.requires_grad for p in model.parameters())
    it, ft, ln = _batch(tiny_data, tiny_data.target_indices("test")[:2])
    assert not model.scores(it, ft, ln).requires_grad


def test_content_genres_are_fixed_and_score(tiny_data):
    _, content = make_models(tiny_data)
    assert "genres" not in dict(content.named_parameters())
    assert "genres" in content.state_dict()  # a buffer that checkpoints carry
    # An item whose own embedding is zero still gets a genre-driven representation.
    with torch.no_grad():
        content.item_emb.weight.zero_()
    w = content.item_matrix()
    has_genre = torch.from_numpy(tiny_data.item_genres.sum(1) > 0)
    assert (w[has_genre].abs().sum(1) > 0).all()
    assert (w[0] == 0).all()


def test_decayed_means_match_direct_sum():
    torch.manual_seed(0)
    x = torch.randn(2, 30, 3)
    for decay in (0.3, 0.9):
        got = decayed_means(x, decay)
        t = torch.arange(30)
        w = torch.where(t[:, None] >= t[None, :], decay ** (t[:, None] - t[None, :]).float(), 0.0)
        want = (w @ x) / w.sum(1, keepdim=True)
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="decay"):
        decayed_means(x, 1.0)


def test_segments_cover_each_row_once():
    starts = np.array([0, 7, 40])
    ends = np.array([7, 40, 41])
    seg = make_segments(starts, ends, window=5)
    emitted = np.concatenate(
        [np.arange(e, s) for e, s in zip(seg.emit_from, seg.stop, strict=True)]
    )
    assert sorted(emitted.tolist()) == list(range(41))
    lens = seg.stop - seg.start
    assert lens.max() <= 10
    with pytest.raises(ValueError, match="window"):
        make_segments(starts, ends, window=0)


def test_explicit_generators_leave_global_rng_alone(tiny_data):
    from encoders import (
        ContentConfig,
        LSTMConfig,
        TimeRatingAwareContentModel,
        TimeRatingAwareLSTM,
        TrainConfig,
        train_encoder,
    )

    def build(seed):
        g = torch.Generator().manual_seed(seed)
        lstm = TimeRatingAwareLSTM(LSTMConfig(n_items=tiny_data.n_items, dim=8, hidden=12), g)
        ccfg = ContentConfig(n_items=tiny_data.n_items, n_genres=len(tiny_data.genre_names))
        return lstm, TimeRatingAwareContentModel(ccfg, tiny_data.item_genres, g)

    before = torch.random.get_rng_state()
    (la, ca), (lb, cb), (lc, _) = build(7), build(7), build(8)
    for x, y in ((la, lb), (ca, cb)):
        for (kx, vx), (ky, vy) in zip(x.state_dict().items(), y.state_dict().items(), strict=True):
            assert kx == ky and torch.equal(vx, vy)
    assert not torch.equal(la.rnn.weight_ih_l0, lc.rnn.weight_ih_l0)
    assert (la.item_emb.weight[0] == 0).all() and (ca.item_emb.weight[0] == 0).all()
    cfg = TrainConfig(window=4, epochs=1, batch_size=8, seed=7)
    train_encoder(la, tiny_data, cfg, progress=False)
    train_encoder(lb, tiny_data, cfg, progress=False)
    assert torch.equal(la.item_emb.weight, lb.item_emb.weight)
    assert torch.equal(before, torch.random.get_rng_state())  # nothing drew from it


def test_dropout_draws_from_its_generator():
    from encoders.base import Dropout, dropout_generator

    drop = Dropout(0.5).train()
    x = torch.ones(1000)
    with dropout_generator(drop, torch.Generator().manual_seed(0)):
        a = drop(x)
    with dropout_generator(drop, torch.Generator().manual_seed(0)):
        b = drop(x)
    assert drop.generator is None and torch.equal(a, b)
    assert set(a.unique().tolist()) == {0.0, 2.0}
    assert torch.equal(drop.eval()(x), x)
