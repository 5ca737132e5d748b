from __future__ import annotations

import pytest
import torch

from encoders import (
    ContentConfig,
    HybridEncoder,
    LSTMConfig,
    TimeRatingAwareContentModel,
    TimeRatingAwareLSTM,
)
from movierec_env.data.types import PreparedDataset


def make_models(data: PreparedDataset, seed: int = 0):
    torch.manual_seed(seed)
    lstm = TimeRatingAwareLSTM(LSTMConfig(n_items=data.n_items, dim=8, hidden=12))
    content = TimeRatingAwareContentModel(
        ContentConfig(n_items=data.n_items, n_genres=len(data.genre_names), dim=6, hidden=10),
        data.item_genres,
    )
    return lstm, content


@pytest.fixture()
def tiny_hybrid(tiny_data: PreparedDataset) -> HybridEncoder:
    lstm, content = make_models(tiny_data)
    # Non-trivial biases so the linearity test exercises them.
    with torch.no_grad():
        lstm.item_bias_param.uniform_(-1, 1)
        content.item_bias_param.uniform_(-1, 1)
    return HybridEncoder(lstm, content, 0.3, window=4, fingerprint=tiny_data.fingerprint)
