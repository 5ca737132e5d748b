"""Data-only world files: ``world.json`` (parameters, checksums) + ``arrays.npz``.

A world directory is written under a temporary name and renamed into place, so an
interrupted save never leaves a half-written world. ``world.json`` carries the SHA-256 of
``arrays.npz`` and of its own content, so a truncated or edited file is refused, never half
loaded. Arrays are read with ``allow_pickle=False``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from movierec_env.cache import replace_dir
from movierec_env.data.types import PreparedDataset
from movierec_env.sim.params import WorldParams, check_world_name
from movierec_env.sim.world import ARRAYS, FITTED, World

__all__ = ["ARRAYS_FILE", "FORMAT", "FORMAT_VERSION", "META_FILE", "load_world", "save_world"]

FORMAT = "movierec-world"
FORMAT_VERSION = 2
META_FILE = "world.json"
ARRAYS_FILE = "arrays.npz"
#: Keys of ``world.json`` that are not part of ``World.meta``.
_RESERVED = ("format", "format_version", "params", "fitted", "arrays_sha256", "checksum")


def _digest(meta: dict[str, Any]) -> str:
    body = {k: v for k, v in meta.items() if k != "checksum"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def save_world(world: World, path: str | os.PathLike[str]) -> Path:
    """Write ``world`` to the directory ``path`` atomically and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    np.savez_compressed(buf, allow_pickle=False, **world.arrays)
    blob = buf.getvalue()
    meta: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        **{k: world.meta[k] for k in sorted(world.meta)},
        "params": world.params.to_dict(),
        "fitted": world.fitted,
        "arrays_sha256": hashlib.sha256(blob).hexdigest(),
    }
    meta["checksum"] = _digest(meta)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    try:
        (tmp / ARRAYS_FILE).write_bytes(blob)
        (tmp / META_FILE).write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
        replace_dir(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return path


def _read_meta(path: Path) -> dict[str, Any]:
    file = path / META_FILE
    if not file.is_file():
        raise FileNotFoundError(f"no world at {path} (missing {META_FILE})")
    try:
        meta = json.loads(file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{file}: not a valid world file ({exc})") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"{file}: not a world file (format must be {FORMAT!r})")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{file}: format_version {meta.get('format_version')!r} is not supported "
            f"(expected {FORMAT_VERSION})"
        )
    if meta.get("checksum") != _digest(meta):
        raise ValueError(f"{file}: checksum mismatch (the file was edited or truncated)")
    return meta


def _read_arrays(path: Path, meta: dict[str, Any]) -> dict[str, np.ndarray]:
    file = path / ARRAYS_FILE
    if not file.is_file():
        raise FileNotFoundError(f"no world arrays at {file}")
    blob = file.read_bytes()
    if hashlib.sha256(blob).hexdigest() != meta.get("arrays_sha256"):
        raise ValueError(f"{file}: checksum mismatch (the file was edited or truncated)")
    with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    for name, (dtype, ndim) in ARRAYS.items():
        a = arrays.get(name)
        if a is None or str(a.dtype) != dtype or a.ndim != ndim:
            raise ValueError(f"{file}: array {name!r} is missing or malformed")
    rows = {arrays[k].shape[0] for k in ARRAYS if k != "users" and not k.startswith("trans_")}
    if len(rows) != 1:
        raise ValueError(f"{file}: item arrays disagree on the number of items ({rows})")
    return arrays


def load_world(path: str | os.PathLike[str], data: PreparedDataset | None = None) -> World:
    """Load a world written by :func:`save_world`.

    Args:
        path: World directory.
        data: When given, it must be the dataset the world was fitted on; it is attached
            so :meth:`World.initial_state` can read prefixes.

    Raises:
        FileNotFoundError: If ``path`` holds no world.
        ValueError: If a file is malformed, edited or truncated, or ``data`` differs.
    """
    path = Path(path)
    meta = _read_meta(path)
    arrays = _read_arrays(path, meta)
    file = path / META_FILE
    try:
        params = WorldParams.from_dict(dict(meta["params"]))
        fitted = {k: float(meta["fitted"][k]) for k in FITTED}
        check_world_name(str(meta["world"]))
        info = {k: v for k, v in meta.items() if k not in _RESERVED}
        world = World(arrays, fitted, params, info)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{file}: malformed world ({exc})") from exc
    if data is not None:
        world.check_data(data, source=str(file))
        world.data = data
    return world
