"""Frozen sequence encoders: TimeRatingAwareLSTM and TimeRatingAwareContentModel.

``HybridEncoder`` combines them into the environment's bounded observation and a blended
next-movie score that is linear in it (docs/DESIGN.md, "Encoders");
:func:`default_encoder` gives the encoder of a dataset (shipped, cached or trained once).
``HybridEncoder.embed`` / ``start_states`` / ``advance`` embed raw histories (item indices
or movieIds), the last one incrementally (:class:`EncoderState`).
"""

from encoders.base import SequenceEncoder
from encoders.content import ContentConfig, TimeRatingAwareContentModel
from encoders.defaults import cache_dir, default_encoder, shipped_checkpoint
from encoders.histories import EncoderState
from encoders.hybrid import HybridEncoder, train_hybrid
from encoders.lstm import LSTMConfig, TimeRatingAwareLSTM
from encoders.optim import make_optimizer
from encoders.training import TrainConfig, train_encoder

__all__ = [
    "ContentConfig",
    "EncoderState",
    "HybridEncoder",
    "LSTMConfig",
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
