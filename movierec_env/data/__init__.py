"""MovieLens data layer: loading any layout, PROTOCOL.md preparation, the leave-one-out split."""

from __future__ import annotations

import os

from movierec_env.data.loaders import (
    EMBEDDED,
    DataFileError,
    DatasetLayoutError,
    embedded_path,
    load_raw,
    resolve_dataset,
)
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

_CACHE: dict[tuple[str, PrepareConfig], PreparedDataset] = {}


def load_dataset(
    dataset: str | os.PathLike[str] | None = None, config: PrepareConfig | None = None
) -> PreparedDataset:
    """Load and prepare a dataset, memoised per (folder, config) within the process.

    Args:
        dataset: ``None`` or ``"ml-latest-small"`` for the embedded dataset, or a folder
            holding any MovieLens layout.
        config: Preparation settings (PROTOCOL.md defaults when ``None``).

    Returns:
        The prepared dataset (shared, read-only by convention).
    """
    cfg = config or PrepareConfig()
    key = (str(resolve_dataset(dataset).resolve()), cfg)
    if key not in _CACHE:
        _CACHE[key] = prepare(load_raw(dataset), cfg)
    return _CACHE[key]
