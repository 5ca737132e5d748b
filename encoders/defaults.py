"""The encoder a dataset gets by default: shipped checkpoint, cached one, or trained once.

Where those checkpoints lie is decided in :mod:`movierec_env.checkpoints` (torch-free, so
the env can find a cached observation table without importing torch).
"""

from __future__ import annotations

from encoders.hybrid import HybridEncoder, train_hybrid
from movierec_env.checkpoints import cache_dir, default_checkpoint, shipped_checkpoint
from movierec_env.data.types import PreparedDataset

__all__ = ["cache_dir", "default_encoder", "shipped_checkpoint"]

_MEMO: dict[str, HybridEncoder] = {}


def default_encoder(data: PreparedDataset, progress: bool = True) -> HybridEncoder:
    """The frozen :class:`HybridEncoder` for ``data`` (memoised per process).

    The shipped checkpoint when ``data`` is the embedded dataset prepared with the default
    config (fingerprint match); else a checkpoint cached under
    ``$MOVIEREC_CACHE/encoders/<fingerprint[:16]>/``; else the encoders are trained once
    with the default settings (a few minutes on ml-latest-small-sized data) and cached.

    Args:
        data: The prepared dataset.
        progress: Show progress bars if training is needed.
    """
    memo = _MEMO.get(data.fingerprint)
    if memo is not None:
        return memo
    path = default_checkpoint(data)  # the shipped one, else the cached one (torch-free)
    if path is not None:
        enc = HybridEncoder.load(path, data)
    else:
        enc = train_hybrid(data, seed=0, progress=progress)
        enc.save(cache_dir(data))
    _MEMO[data.fingerprint] = enc
    return enc
