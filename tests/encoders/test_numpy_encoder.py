"""The torch-free observation pass (encoders.numpy_encoder) against the torch models."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from scipy.special import erf as scipy_erf

from encoders import HybridEncoder, NumpyHybridEncoder
from encoders.numpy_encoder import WEIGHTS_FILE, erf, export_weights, gelu
from encoders.training import row_embeddings
from movierec_env.checkpoints import shipped_checkpoint
from movierec_env.data import load_dataset
from tests.encoders.conftest import make_models

ATOL = 1e-5


def _torch_rows(enc: HybridEncoder, data) -> np.ndarray:
    """The torch models' own pass: what the observations were before the numpy pass."""
    with torch.inference_mode():
        return np.concatenate(
            [row_embeddings(m, data, enc.window) for m in (enc.lstm, enc.content)], axis=1
        )


def test_erf_and_gelu_match_the_float64_references():
    x = np.concatenate([np.linspace(-8, 8, 400_001), [0.0, -0.0, 1e-30, -1e-30, 50, -50]])
    got = erf(x.astype(np.float32))
    assert got.dtype == np.float32
    assert np.abs(got.astype(np.float64) - scipy_erf(x)).max() < 5e-7
    np.testing.assert_array_equal(erf(-x.astype(np.float32)), -got)  # odd
    assert np.abs(got).max() <= 1.0
    x32 = x.astype(np.float32)
    ref = torch.nn.functional.gelu(torch.from_numpy(x32)).numpy()
    np.testing.assert_allclose(gelu(x32), ref, rtol=0, atol=2e-6)


@pytest.mark.parametrize("layers,window", [(1, 4), (2, 3), (1, 50)])
def test_observations_equal_the_torch_pass(tiny_data, layers, window):
    """Every row (first rows, both segments of long users, one-segment users) agrees."""
    torch.manual_seed(layers)
    lstm, content = make_models(tiny_data)
    if layers != 1:
        from encoders import LSTMConfig, TimeRatingAwareLSTM

        lstm = TimeRatingAwareLSTM(
            LSTMConfig(n_items=tiny_data.n_items, dim=8, hidden=12, layers=2)
        )
    enc = HybridEncoder(lstm, content, 0.4, window=window, fingerprint=tiny_data.fingerprint)
    assert int(tiny_data.lengths.max()) > 2 * window or window == 50
    ref = _torch_rows(enc, tiny_data)
    got = enc.to_numpy().observations(tiny_data)
    assert got.shape == ref.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, ref, rtol=0, atol=ATOL)
    first = tiny_data.offsets[:-1]
    assert (got[first] == 0).all()  # a user's first row embeds the empty history
    np.testing.assert_array_equal(enc.observations(tiny_data), got)  # HybridEncoder uses it


def test_blocks_tile_the_observations(tiny_hybrid, tiny_data):
    numpy_enc = tiny_hybrid.to_numpy()
    whole = numpy_enc.observations(tiny_data)
    row = 0
    for first, block in numpy_enc.observation_blocks(tiny_data, max_rows=7):
        assert first == row
        np.testing.assert_allclose(block, whole[row : row + len(block)], rtol=0, atol=1e-6)
        row += len(block)
    assert row == tiny_data.n_interactions
    with pytest.raises(ValueError, match="max_rows"):
        numpy_enc.observation_blocks(tiny_data, 0)


def test_checkpoint_roundtrip_without_torch(tiny_hybrid, tiny_data, small_data, tmp_path):
    path = tiny_hybrid.save(tmp_path / "enc")
    loaded = NumpyHybridEncoder.from_checkpoint(path)
    assert (loaded.obs_dim, loaded.window) == (tiny_hybrid.obs_dim, tiny_hybrid.window)
    np.testing.assert_array_equal(
        loaded.observations(tiny_data), tiny_hybrid.observations(tiny_data)
    )
    with pytest.raises(ValueError, match="fingerprint"):
        loaded.observations(small_data)


def test_bad_checkpoints_are_named(tiny_hybrid, tmp_path):
    path = tiny_hybrid.save(tmp_path / "enc")
    weights = dict(np.load(path / WEIGHTS_FILE))
    cfg = json.loads((path / "config.json").read_text())

    (path / WEIGHTS_FILE).unlink()
    with pytest.raises(FileNotFoundError, match=r"weights.npz"):
        NumpyHybridEncoder.from_checkpoint(path)

    np.savez(path / WEIGHTS_FILE, **{k: v for k, v in weights.items() if k != "lstm/proj.bias"})
    with pytest.raises(ValueError, match=r"lstm/proj.bias"):
        NumpyHybridEncoder.from_checkpoint(path)

    np.savez(path / WEIGHTS_FILE, **{**weights, "content/step.bias": np.zeros(3)})
    with pytest.raises(ValueError, match=r"content/step.bias.*shape \(3,\)"):
        NumpyHybridEncoder.from_checkpoint(path)

    (path / WEIGHTS_FILE).write_bytes(b"not a zip")
    with pytest.raises(ValueError, match=r"weights.npz"):
        NumpyHybridEncoder.from_checkpoint(path)

    np.savez(path / WEIGHTS_FILE, **weights)
    (path / "config.json").write_text(json.dumps({**cfg, "format_version": 99}))
    with pytest.raises(ValueError, match="format_version 99"):
        NumpyHybridEncoder.from_checkpoint(path)
    (path / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"config.json: invalid JSON at line 1"):
        NumpyHybridEncoder.from_checkpoint(path)


def test_shipped_weights_npz_holds_the_shipped_tensors():
    """Both copies of the shipped weights are one set of numbers."""
    path = shipped_checkpoint()
    if not (path / "config.json").is_file():
        pytest.skip("no shipped encoder checkpoint")
    expected = export_weights(
        torch.load(path / "lstm.pt", weights_only=True),
        torch.load(path / "content.pt", weights_only=True),
    )
    with np.load(path / WEIGHTS_FILE, allow_pickle=False) as z:
        assert sorted(z.files) == sorted(expected)
        for key, value in expected.items():
            np.testing.assert_array_equal(z[key], value, err_msg=key)


@pytest.mark.slow
def test_shipped_observations_equal_the_torch_pass():
    """On the embedded dataset, the numpy table is the torch models' pass to 1e-5."""
    path = shipped_checkpoint()
    if not (path / "config.json").is_file():
        pytest.skip("no shipped encoder checkpoint")
    data = load_dataset(None)
    enc = HybridEncoder.load(path, data)
    got = NumpyHybridEncoder.from_checkpoint(path).observations(data)
    np.testing.assert_allclose(got, _torch_rows(enc, data), rtol=0, atol=ATOL)
