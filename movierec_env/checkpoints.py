"""Where a dataset's default encoder checkpoint lies, and what identifies it (no torch).

``encoders.default_encoder(data)`` loads the first of :func:`shipped_checkpoint` and
:func:`cache_dir` whose ``config.json`` names ``data``'s fingerprint (training and caching
one when neither does). The env finds that checkpoint here without importing ``encoders``
(and so torch): with its :func:`checkpoint_digest` it memory-maps a cached observation
table and loads the encoder only when something asks for it (docs/env.md, "Start-up").
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from pathlib import Path
from typing import Any

from movierec_env.cache import cache_root
from movierec_env.data.types import PreparedDataset

__all__ = [
    "cache_dir",
    "checkpoint_config",
    "checkpoint_digest",
    "checkpoint_of",
    "default_checkpoint",
    "shipped_checkpoint",
]


def shipped_checkpoint() -> Path:
    """Directory of the checkpoint shipped for the embedded ml-latest-small."""
    return Path(__file__).resolve().parent / "assets" / "encoders"


def cache_dir(data: PreparedDataset) -> Path:
    """Where ``encoders.default_encoder`` caches the encoders trained for ``data``."""
    return cache_root() / "encoders" / data.fingerprint[:16]


def checkpoint_config(path: Path) -> dict[str, Any] | None:
    """The parsed ``config.json`` of a checkpoint directory, or ``None`` if unreadable."""
    try:
        meta = json.loads((path / "config.json").read_text())
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


def default_checkpoint(data: PreparedDataset) -> Path | None:
    """The checkpoint ``encoders.default_encoder(data)`` would load, or ``None`` (train)."""
    for path in (shipped_checkpoint(), cache_dir(data)):
        meta = checkpoint_config(path)
        if meta is not None and meta.get("fingerprint") == data.fingerprint:
            return path
    return None


def checkpoint_of(encoders: Any, data: PreparedDataset) -> Path | None:
    """The checkpoint directory the env's ``encoders`` argument names, if it names one.

    ``None`` gives :func:`default_checkpoint`, a path gives itself (when it holds a
    ``config.json``); an encoder object gives ``None``.
    """
    if encoders is None:
        return default_checkpoint(data)
    if isinstance(encoders, str | os.PathLike):
        path = Path(encoders).expanduser().resolve()
        return path if (path / "config.json").is_file() else None
    return None


def _encoder_sources() -> list[Path]:
    spec = importlib.util.find_spec("encoders")  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        return []
    return sorted(Path(next(iter(spec.submodule_search_locations))).rglob("*.py"))


def checkpoint_digest(path: Path) -> str | None:
    """SHA-256 of what the observations of a checkpoint depend on, or ``None``.

    Hashes every file of the checkpoint directory (config, weights) and the source of the
    ``encoders`` package, so new weights or new encoder code never reuse a stale table
    (``movierec_env.replay.encoder_digest`` is the same idea for encoder objects). Reads a
    few MB: milliseconds.
    """
    try:
        files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
        h = hashlib.sha256(b"movierec-checkpoint-v1")
        for f in [*files, *_encoder_sources()]:
            content = f.read_bytes()
            h.update(f"{f.name}:{len(content)}:".encode())
            h.update(content)
    except OSError:
        return None
    return h.hexdigest()
