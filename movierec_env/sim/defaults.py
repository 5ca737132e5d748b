"""The world a dataset gets by default: shipped, cached, or fitted once and cached."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

from movierec_env.data.types import PreparedDataset
from movierec_env.sim.params import check_world_name
from movierec_env.sim.world import World

__all__ = ["cache_dir", "default_world", "shipped_world_dir"]

_MEMO: dict[tuple[str, str], World] = {}


def shipped_world_dir(world: str = "train") -> Path:
    """Directory of the world shipped for the embedded ml-latest-small."""
    import movierec_env

    root = Path(movierec_env.__file__).resolve().parent
    return root / "assets" / "worlds" / check_world_name(world)


def cache_dir(data: PreparedDataset, world: str = "train") -> Path:
    """``$MOVIEREC_CACHE`` (default ``~/.cache/movierec``)/worlds/<fingerprint[:16]>/<world>."""
    env = os.environ.get("MOVIEREC_CACHE")
    root = Path(env).expanduser() if env else Path.home() / ".cache" / "movierec"
    return root / "worlds" / data.fingerprint[:16] / check_world_name(world)


def _fingerprint_of(path: Path) -> str | None:
    try:
        return str(json.loads((path / "world.json").read_text())["fingerprint"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def default_world(data: PreparedDataset, world: str = "train", progress: bool = True) -> World:
    """The default fitted world for ``data`` (seed 0, default parameters; memoised).

    The shipped world when ``data`` is the embedded dataset prepared with the default
    config (fingerprint match); else one cached under :func:`cache_dir`; else it is
    fitted once (about half a minute on ml-latest-small) and cached.

    Args:
        data: The prepared dataset.
        world: A name of :data:`~movierec_env.sim.params.WORLD_NAMES` (only ``"train"``
            and ``"eval"`` are shipped; the validation worlds are fitted and cached).
        progress: Show a progress bar if fitting is needed.

    A cached world that no longer loads (older format, damaged) is refitted with a
    warning; a shipped one that does not load is an error.

    Raises:
        ValueError: For an unknown world name, or a shipped world that does not load.
    """
    from movierec_env.sim.fit import fit_world

    key = (data.fingerprint, check_world_name(world))
    memo = _MEMO.get(key)
    if memo is not None:
        return memo
    w: World | None = None
    shipped, cached = shipped_world_dir(world), cache_dir(data, world)
    if _fingerprint_of(shipped) == data.fingerprint:
        w = World.load(shipped, data)
    elif _fingerprint_of(cached) == data.fingerprint:
        try:
            w = World.load(cached, data)
        except ValueError as exc:  # a stale or damaged cache entry: fit again
            warnings.warn(f"refitting the cached world: {exc}", stacklevel=2)
    if w is None:
        w = fit_world(data, world=world, seed=0, progress=progress)
        w.save(cached)
    _MEMO[key] = w
    return w
