"""Frozen sequence encoders: TimeRatingAwareLSTM and TimeRatingAwareContentModel.

``HybridEncoder`` combines them into the environment's bounded observation and a blended
next-movie score that is linear in it (docs/DESIGN.md, "Encoders");
:func:`default_encoder` gives the encoder of a dataset (shipped, cached or trained once).
``HybridEncoder.embed`` / ``start_states`` / ``advance`` embed raw histories (item indices
or movieIds), the last one incrementally (:class:`EncoderState`).

The names below are imported on first use (PEP 562), so ``import encoders.features`` or
``import encoders.numpy_encoder`` (the torch-free observation pass a cold env start uses)
does not import torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from encoders.base import SequenceEncoder
    from encoders.content import ContentConfig, TimeRatingAwareContentModel
    from encoders.defaults import cache_dir, default_encoder, shipped_checkpoint
    from encoders.histories import EncoderState
    from encoders.hybrid import HybridEncoder, train_hybrid
    from encoders.lstm import LSTMConfig, TimeRatingAwareLSTM
    from encoders.numpy_encoder import NumpyHybridEncoder
    from encoders.optim import make_optimizer
    from encoders.training import TrainConfig, train_encoder

_EXPORTS = {
    "ContentConfig": "encoders.content",
    "EncoderState": "encoders.histories",
    "HybridEncoder": "encoders.hybrid",
    "LSTMConfig": "encoders.lstm",
    "NumpyHybridEncoder": "encoders.numpy_encoder",
    "SequenceEncoder": "encoders.base",
    "TimeRatingAwareContentModel": "encoders.content",
    "TimeRatingAwareLSTM": "encoders.lstm",
    "TrainConfig": "encoders.training",
    "cache_dir": "encoders.defaults",
    "default_encoder": "encoders.defaults",
    "make_optimizer": "encoders.optim",
    "shipped_checkpoint": "encoders.defaults",
    "train_encoder": "encoders.training",
    "train_hybrid": "encoders.hybrid",
}

__all__ = [
    "ContentConfig",
    "EncoderState",
    "HybridEncoder",
    "LSTMConfig",
    "NumpyHybridEncoder",
    "SequenceEncoder",
    "TimeRatingAwareContentModel",
    "TimeRatingAwareLSTM",
    "TrainConfig",
    "cache_dir",
    "default_encoder",
    "make_optimizer",
    "shipped_checkpoint",
    "train_encoder",
    "train_hybrid",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'encoders' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
