"""Gymnasium spaces as plain JSON, so checkpoints hold data and never pickled objects."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

__all__ = ["same_space", "space_from_json", "space_to_json"]


def space_to_json(space: spaces.Space[Any]) -> dict[str, Any]:
    """JSON description of a ``Discrete`` or ``Box`` space.

    Raises:
        TypeError: For other space types.
    """
    if isinstance(space, spaces.Discrete):
        return {"type": "Discrete", "n": int(space.n), "start": int(space.start)}
    if isinstance(space, spaces.Box):
        low, high = np.unique(space.low), np.unique(space.high)
        return {
            "type": "Box",
            "shape": list(space.shape),
            "dtype": str(space.dtype),
            "low": float(low[0]) if low.size == 1 else space.low.tolist(),
            "high": float(high[0]) if high.size == 1 else space.high.tolist(),
        }
    raise TypeError(f"cannot describe space {space}")


def space_from_json(d: dict[str, Any]) -> spaces.Space[Any]:
    """The space described by :func:`space_to_json`.

    Raises:
        ValueError: On an unknown space type.
    """
    if d["type"] == "Discrete":
        return spaces.Discrete(int(d["n"]), start=int(d.get("start", 0)))
    if d["type"] == "Box":
        dtype = np.dtype(d["dtype"])
        shape = tuple(int(s) for s in d["shape"])
        low = np.full(shape, d["low"], dtype=dtype) if np.isscalar(d["low"]) else d["low"]
        high = np.full(shape, d["high"], dtype=dtype) if np.isscalar(d["high"]) else d["high"]
        low, high = np.asarray(low, dtype=dtype), np.asarray(high, dtype=dtype)
        return spaces.Box(low=low, high=high, shape=shape, dtype=dtype)
    raise ValueError(f"unknown space type {d.get('type')!r} in checkpoint")


def same_space(a: spaces.Space[Any], b: spaces.Space[Any]) -> bool:
    """Whether two spaces have the same JSON description."""
    return space_to_json(a) == space_to_json(b)
