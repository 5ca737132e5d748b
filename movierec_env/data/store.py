"""A disk cache of prepared datasets, so a warm start reads no CSV (and imports no pandas).

``load_dataset`` keeps each :class:`PreparedDataset` it prepares under
``$MOVIEREC_CACHE/prepared/<key>.npz`` (plain arrays, ``allow_pickle=False``) and reads it
back next time. The key hashes the content of the layout's raw files in the folder, the
preparation config and the source code of ``movierec_env.data``, so edited ratings, another
config or new preparation code never reuse a stale file. A file is written to a temporary
name and renamed (never read half-written); a truncated, corrupt (zip CRC) or inconsistent
one (the dataset fingerprint is recomputed from the stored arrays) is ignored and rewritten.
``MOVIEREC_DATA_CACHE=0`` turns it off.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from movierec_env.cache import cache_root
from movierec_env.data.paths import LAYOUTS
from movierec_env.data.prepare import _fingerprint
from movierec_env.data.types import PrepareConfig, PreparedDataset

__all__ = ["cache_key", "load_prepared", "save_prepared"]

#: Bump when the stored layout changes.
FORMAT = "movierec-prepared-v1"
_RAW_NAMES = {name for files, _ in LAYOUTS.values() for name in files}
_ARRAYS = (
    "item_movie_ids",
    "item_genres",
    "user_ids",
    "offsets",
    "items",
    "ratings",
    "timestamps",
    "train_end",
    "val_index",
    "test_index",
    "popularity",
    "item_mean_rating",
)


def _enabled() -> bool:
    return os.environ.get("MOVIEREC_DATA_CACHE", "1") not in ("0", "false", "no", "off")


def cache_key(folder: Path, config: PrepareConfig) -> str | None:
    """Content key of ``folder``'s raw files + ``config`` + this package's code, or ``None``.

    Reads every raw file of the layouts (``movies.csv``, ``ratings.dat``, ``u.data``, ...,
    gzipped or not) found in the folder: about a second for ml-25m, against half a minute
    to prepare it.
    """
    h = hashlib.sha256(FORMAT.encode())
    h.update(json.dumps(dataclasses.asdict(config), sort_keys=True).encode())
    try:
        raw = sorted(
            p for p in folder.iterdir() if p.is_file() and p.name.removesuffix(".gz") in _RAW_NAMES
        )
        sources = sorted(Path(__file__).resolve().parent.rglob("*.py"))
        if not raw:
            return None
        for path in [*raw, *sources]:
            h.update(f"{path.name}:{path.stat().st_size}:".encode())
            with open(path, "rb") as fh:
                while block := fh.read(1 << 24):
                    h.update(block)
    except OSError:
        return None
    return h.hexdigest()


def _path(key: str) -> Path:
    return cache_root() / "prepared" / f"{key[:32]}.npz"


def load_prepared(folder: Path, config: PrepareConfig) -> PreparedDataset | None:
    """The cached preparation of ``folder`` with ``config``, or ``None`` (absent, damaged)."""
    if not _enabled():
        return None
    key = cache_key(folder, config)
    if key is None or not _path(key).is_file():
        return None
    try:
        with np.load(_path(key), allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in (*_ARRAYS, "item_titles", "meta")}
        meta = json.loads(str(arrays.pop("meta")))
        if meta.get("format") != FORMAT or meta.get("key") != key:
            return None
        data = PreparedDataset(
            name=meta["name"],
            config=PrepareConfig(**meta["config"]),
            raw_counts={k: int(v) for k, v in meta["raw_counts"].items()},
            item_titles=arrays.pop("item_titles").astype(object),
            genre_names=[str(g) for g in meta["genre_names"]],
            rating_scale=(float(meta["rating_scale"][0]), float(meta["rating_scale"][1])),
            fingerprint=str(meta["fingerprint"]),
            **arrays,
        )
    except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile):
        return None
    recomputed = _fingerprint(
        data.config,
        data.name,
        data.item_movie_ids,
        data.user_ids,
        data.offsets,
        data.items,
        data.ratings,
        data.timestamps,
    )
    return data if recomputed == data.fingerprint else None


def save_prepared(folder: Path, config: PrepareConfig, data: PreparedDataset) -> None:
    """Store ``data`` for :func:`load_prepared` (atomically; a failed write costs only speed)."""
    if not _enabled():
        return
    key = cache_key(folder, config)
    if key is None:
        return
    path = _path(key)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    meta: dict[str, Any] = {
        "format": FORMAT,
        "key": key,
        "name": data.name,
        "config": dataclasses.asdict(data.config),
        "raw_counts": data.raw_counts,
        "genre_names": list(data.genre_names),
        "rating_scale": list(data.rating_scale),
        "fingerprint": data.fingerprint,
    }
    arrays: dict[str, Any] = {name: np.asarray(getattr(data, name)) for name in _ARRAYS}
    arrays["meta"] = np.array(json.dumps(meta))
    arrays["item_titles"] = np.array([str(t) for t in data.item_titles], dtype=str)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
