"""MovieLens data layer: loading any layout, PROTOCOL.md preparation, the leave-one-out split.

The readers (``load_raw``, which imports pandas) are imported on first use, so a dataset
read back from the prepared-dataset cache (:mod:`movierec_env.data.store`) needs no pandas.
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any

from movierec_env.data.errors import DataFileError, DatasetLayoutError
from movierec_env.data.paths import EMBEDDED, embedded_path, resolve_dataset
from movierec_env.data.prepare import EmptyDatasetError, prepare
from movierec_env.data.types import PAD, PrepareConfig, PreparedDataset, RawDataset

__all__ = [
    "EMBEDDED",
    "PAD",
    "DataFileError",
    "DatasetLayoutError",
    "EmptyDatasetError",
    "PrepareConfig",
    "PreparedDataset",
    "RawDataset",
    "embedded_path",
    "load_dataset",
    "load_raw",
    "prepare",
    "resolve_dataset",
]

if TYPE_CHECKING:
    from movierec_env.data.loaders import load_raw

_CACHE: dict[tuple[str, PrepareConfig], PreparedDataset] = {}


def __getattr__(name: str) -> Any:
    """``load_raw`` on first use (PEP 562): the readers import pandas."""
    if name == "load_raw":
        value = importlib.import_module("movierec_env.data.loaders").load_raw
        globals()[name] = value
        return value
    raise AttributeError(f"module 'movierec_env.data' has no attribute {name!r}")


def load_dataset(
    dataset: str | os.PathLike[str] | None = None, config: PrepareConfig | None = None
) -> PreparedDataset:
    """Load and prepare a dataset, memoised per (folder, config) within the process.

    A preparation is also kept on disk (:mod:`movierec_env.data.store`, keyed by the raw
    files' content, the config and the data code) and read back by later processes.

    Args:
        dataset: ``None`` or ``"ml-latest-small"`` for the embedded dataset, or a folder
            holding any MovieLens layout.
        config: Preparation settings (PROTOCOL.md defaults when ``None``).

    Returns:
        The prepared dataset (shared, read-only by convention).
    """
    from movierec_env.data import store

    cfg = config or PrepareConfig()
    folder = resolve_dataset(dataset).resolve()
    key = (str(folder), cfg)
    if key not in _CACHE:
        data = store.load_prepared(folder, cfg)
        if data is None:
            from movierec_env.data.loaders import load_raw

            data = prepare(load_raw(dataset), cfg)
            store.save_prepared(folder, cfg, data)
        _CACHE[key] = data
    return _CACHE[key]
