"""encoders.numpy_advance: the numpy incremental step equals the torch one (advance_state)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from encoders import (
    ContentConfig,
    HybridEncoder,
    LSTMConfig,
    TimeRatingAwareContentModel,
    TimeRatingAwareLSTM,
    default_encoder,
)
from encoders.numpy_advance import NumpyAdvance
from movierec_env.data.types import PreparedDataset

ATOL = 1e-5


def _compare_along_sequences(enc: HybridEncoder, data: PreparedDataset, users, max_steps: int):
    """Follow the users' logged sequences with both paths; max |diff| of obs and carries."""
    fast = NumpyAdvance(enc.lstm, enc.content, enc.window, enc._bound_scale())
    users = np.asarray(users)
    obs = enc.observations(data)
    starts, lengths = data.offsets[users], data.lengths[users]
    ref = enc.initial_state(users.size)
    mine = ref
    worst = 0.0
    steps = min(int(lengths.max()) - 1, max_steps)
    for t in range(steps):
        active = t < lengths - 1
        pos = np.where(active, starts + t, starts)
        it, r, ts = data.items[pos], data.ratings[pos], data.timestamps[pos]
        out, ref = enc.advance(ref, it, r, ts, active=active)
        mine = fast.advance(mine, it, r.astype(np.float32), ts, active=active)
        got = mine.obs.numpy()
        assert got.dtype == np.float32
        np.testing.assert_array_equal(mine.length.numpy(), ref.length.numpy())
        np.testing.assert_array_equal(mine.last_timestamp.numpy(), ref.last_timestamp.numpy())
        worst = max(
            worst,
            float(np.abs(got - out).max()),
            float((mine.lstm - ref.lstm).abs().max()),
            float((mine.content - ref.content).abs().max()),
            float(np.abs(got[active] - obs[pos[active] + 1]).max()),
        )
    return worst, steps


def test_shipped_encoder_long_sequences_one_and_many(small_data):
    enc = default_encoder(small_data)
    longest = np.argsort(-small_data.lengths, kind="stable")
    for users in (longest[:1], longest[:6]):  # B = 1 and B > 1 with ragged ends
        worst, steps = _compare_along_sequences(enc, small_data, users, 5 * enc.window + 7)
        assert steps > 2 * enc.window  # segment swaps happen (every W steps from 2W on)
        assert worst < ATOL


@pytest.mark.parametrize(("window", "layers"), [(1, 1), (2, 2), (5, 3)])
def test_untrained_windows_and_layers(tiny_data, window, layers):
    torch.manual_seed(1)
    lstm = TimeRatingAwareLSTM(
        LSTMConfig(n_items=tiny_data.n_items, dim=8, hidden=12, layers=layers)
    )
    content = TimeRatingAwareContentModel(
        ContentConfig(n_items=tiny_data.n_items, n_genres=len(tiny_data.genre_names), dim=6),
        tiny_data.item_genres,
    )
    enc = HybridEncoder(lstm, content, 0.5, window, tiny_data.fingerprint).bind(tiny_data)
    worst, steps = _compare_along_sequences(enc, tiny_data, np.arange(tiny_data.n_users), 200)
    assert steps > 2 * window and worst < ATOL


def test_inactive_rows_keep_their_state(small_data):
    enc = default_encoder(small_data)
    fast = NumpyAdvance(enc.lstm, enc.content, enc.window, enc._bound_scale())
    d = small_data
    state = enc.start_states(
        [d.items[:5], d.items[5:9]],
        [d.ratings[:5], d.ratings[5:9]],
        [d.timestamps[:5], d.timestamps[5:9]],
    )
    new = fast.advance(
        state,
        np.array([3, 4]),
        np.array([4.0, 2.0], np.float32),
        np.array([10**10, 10**10]),
        np.array([True, False]),
    )
    for name in ("length", "last_timestamp", "obs"):
        np.testing.assert_array_equal(getattr(new, name)[1], getattr(state, name)[1])
    np.testing.assert_array_equal(new.lstm[:, 1], state.lstm[:, 1])
    np.testing.assert_array_equal(new.content[:, 1], state.content[:, 1])
    assert not torch.equal(new.obs[0], state.obs[0])


def test_refuses_other_models(small_data):
    enc = default_encoder(small_data)
    with pytest.raises(TypeError, match="NumpyAdvance mirrors"):
        NumpyAdvance(enc.content, enc.lstm, enc.window, (0.5, 5.0))


def test_one_history_step_features_equal_the_batched_ones_bit_for_bit(small_data):
    """The B = 1 form of the step features is the batched arithmetic on scalars."""
    enc = default_encoder(small_data)
    fast = NumpyAdvance(enc.lstm, enc.content, enc.window, enc._bound_scale())
    rng = np.random.default_rng(0)
    n = 300
    ratings = rng.choice(np.arange(0.5, 5.5, 0.5), n).astype(np.float32)
    ratings[:3] = (0.0, 9.0, 2.75)  # outside the scale: clipped
    length = rng.integers(0, 2000, n)
    length[:20] = 0  # first interactions
    last = rng.integers(0, 2_000_000_000, n)
    stamps = last + rng.choice([0, 1, 600, 3599, 3600, 86_400, 10**8, -5], n)
    batched = fast.step_features(ratings, stamps, length, last)
    alone = np.concatenate(
        [
            fast.step_features(
                ratings[i : i + 1], stamps[i : i + 1], length[i : i + 1], last[i : i + 1]
            )
            for i in range(n)
        ]
    )
    assert alone.dtype == np.float32
    np.testing.assert_array_equal(alone, batched)
