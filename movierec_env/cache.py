"""Where MovieRec caches what it computes once: encoders, observation tables, fitted worlds."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_root"]


def cache_root() -> Path:
    """``$MOVIEREC_CACHE`` if set, else ``~/.cache/movierec`` (not created here)."""
    env = os.environ.get("MOVIEREC_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "movierec"
