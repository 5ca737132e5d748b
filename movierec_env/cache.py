"""Where MovieRec caches what it computes once, and how saved directories are replaced.

Prepared datasets, encoders, observation tables and fitted worlds live under
:func:`cache_root`; a saved directory is swapped in with :func:`replace_dir`, never left
half-written.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

__all__ = ["cache_root", "replace_dir"]


def cache_root() -> Path:
    """``$MOVIEREC_CACHE`` if set, else ``~/.cache/movierec`` (not created here)."""
    env = os.environ.get("MOVIEREC_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "movierec"


def replace_dir(tmp: Path, path: Path) -> None:
    """Move the finished directory ``tmp`` to ``path``, replacing any directory there.

    The old directory is first renamed aside, then ``tmp`` renamed into place (both
    atomic on one filesystem), then the old one deleted: a reader sees the old or the new
    directory, never a mixture, and an interruption leaves the last good one.
    """
    old = None
    if path.exists():
        old = path.parent / f".{path.name}.old-{os.getpid()}-{time.time_ns()}"
        os.replace(path, old)
    os.replace(tmp, path)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
