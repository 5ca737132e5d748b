"""The encoder a dataset gets by default: shipped checkpoint, cached one, or trained once."""

from __future__ import annotations

from pathlib import Path

from encoders.hybrid import HybridEncoder, train_hybrid
from movierec_env.cache import cache_root
from movierec_env.data.types import PreparedDataset

__all__ = ["cache_dir", "default_encoder", "shipped_checkpoint"]

_MEMO: dict[str, HybridEncoder] = {}


def shipped_checkpoint() -> Path:
    """Directory of the checkpoint shipped for the embedded ml-latest-small."""
    import movierec_env

    return Path(movierec_env.__file__).resolve().parent / "assets" / "encoders"


def cache_dir(data: PreparedDataset) -> Path:
    """Where :func:`default_encoder` caches the encoders trained for ``data``."""
    return cache_root() / "encoders" / data.fingerprint[:16]


def _fingerprint_of(path: Path) -> str | None:
    import json

    try:
        return str(json.loads((path / "config.json").read_text())["fingerprint"])
    except (OSError, ValueError, KeyError):
        return None


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
    for path in (shipped_checkpoint(), cache_dir(data)):
        if _fingerprint_of(path) == data.fingerprint:
            enc = HybridEncoder.load(path, data)
            break
    else:
        enc = train_hybrid(data, seed=0, progress=progress)
        enc.save(cache_dir(data))
    _MEMO[data.fingerprint] = enc
    return enc
