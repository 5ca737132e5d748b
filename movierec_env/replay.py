"""Shared, precomputed logged-replay tables of MovieRec (one per dataset x encoder).

The observation of every position is computed once by the frozen encoder
(``encoder.observations(data)``) and shared, read-only, by every env copy in the process, so
``step()`` is a handful of O(1) numpy lookups.
"""

from __future__ import annotations

import hashlib
import os
import threading
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from movierec_env.cache import cache_root
from movierec_env.candidates import CandidateConfig, CandidateGenerator
from movierec_env.catalogue import Catalogue
from movierec_env.checkpoints import checkpoint_config, checkpoint_digest, checkpoint_of
from movierec_env.contract import EncoderLike, HistoryEncoder, ItemFeatures
from movierec_env.data import PreparedDataset, load_dataset
from movierec_env.metrics import history_mask
from movierec_env.properties import CoreEnvProperties
from movierec_env.reward import RewardConfig, RewardTables

__all__ = [
    "BLOCK_ROWS",
    "OBS_DTYPES",
    "SPLITS",
    "Episodes",
    "ReplayCore",
    "ReplayEnvProperties",
    "cached_observation_table",
    "check_obs_dtype",
    "checkpoint_table",
    "clear_caches",
    "draw_episode",
    "encoder_digest",
    "exhaustible_users",
    "item_features",
    "observation_table",
    "resolve_dataset",
    "resolve_encoder",
    "reward_tables",
]

SPLITS = ("train", "val", "test")


_LOCK = threading.RLock()
_DEFAULT_ENCODERS: dict[str, Any] = {}
_PATH_ENCODERS: dict[tuple[str, int, str], Any] = {}
_NUMPY_ENCODERS: dict[str, Any] = {}  # checkpoint digest -> encoders.NumpyHybridEncoder
_OBS_CACHE: dict[tuple[int, str, str], tuple[Any, NDArray[Any]]] = {}
_DIGEST_CACHE: dict[Path, NDArray[Any]] = {}  # by disk-cache file
_REWARD_CACHE: dict[tuple[str, RewardConfig], RewardTables] = {}
_FEATURE_CACHE: dict[str, ItemFeatures] = {}


def resolve_dataset(dataset: str | os.PathLike[str] | PreparedDataset | None) -> PreparedDataset:
    """Return a prepared dataset from ``None`` (embedded), a folder/name or a dataset object.

    Raises:
        TypeError: If ``dataset`` is of another type.
    """
    if isinstance(dataset, PreparedDataset):
        return dataset
    if dataset is None or isinstance(dataset, str | os.PathLike):
        return load_dataset(dataset)
    raise TypeError(
        "dataset must be None (embedded ml-latest-small), a dataset name or folder, or a "
        f"PreparedDataset; got {type(dataset).__name__}"
    )


def resolve_encoder(encoders: Any, data: PreparedDataset) -> Any:
    """Return the frozen encoder for ``data``.

    Args:
        encoders: ``None`` (``encoders.default_encoder(data)``, memoised per dataset), a
            checkpoint directory (``encoders.HybridEncoder.load``, memoised), or an object
            satisfying :class:`EncoderLike`.
        data: The dataset the env replays.

    Raises:
        TypeError: If ``encoders`` is neither a path nor an encoder-like object.
        ValueError: If the encoder was trained on another dataset.
    """
    with _LOCK:
        if encoders is None:
            enc = _DEFAULT_ENCODERS.get(data.fingerprint)
            if enc is None:
                import encoders as encoders_pkg

                enc = encoders_pkg.default_encoder(data)  # type: ignore[attr-defined,unused-ignore]
                _DEFAULT_ENCODERS[data.fingerprint] = enc
        elif isinstance(encoders, str | os.PathLike):
            path = Path(encoders).expanduser().resolve()
            if not path.exists():
                raise FileNotFoundError(f"encoder checkpoint {str(path)!r} does not exist")
            key = (str(path), path.stat().st_mtime_ns, data.fingerprint)
            enc = _PATH_ENCODERS.get(key)
            if enc is None:
                import encoders as encoders_pkg

                enc = encoders_pkg.HybridEncoder.load(  # type: ignore[attr-defined,unused-ignore]
                    path, data=data
                )
                _PATH_ENCODERS[key] = enc
        elif isinstance(encoders, EncoderLike):
            enc = encoders
        else:
            raise TypeError(
                "encoders must be None (the default encoder), a checkpoint directory, or an "
                "object with obs_dim, window, fingerprint, observations(), item_matrix(), "
                f"item_bias() and scores(); got {type(encoders).__name__}"
            )
    if enc.fingerprint != data.fingerprint:
        raise ValueError(
            f"encoder was trained on a dataset with fingerprint {enc.fingerprint[:16]}..., "
            f"not on {data.name!r} ({data.fingerprint[:16]}...)"
        )
    if isinstance(enc, HistoryEncoder):
        enc.bind(data)  # raw histories (Recommender, simulators) use its catalogue and scale
    return enc


def encoder_digest(encoder: Any) -> str | None:
    """Content hash identifying what ``encoder.observations`` computes, or ``None``.

    Uses ``encoder.cache_key()`` when the encoder offers one; for encoders made of torch
    modules ``lstm`` and ``content`` (``encoders.HybridEncoder``) it hashes their weights,
    ``window``, the encoder class and the source code of its package, so a code or weight
    change never reuses a stale table. Other encoders get no disk cache.
    """
    key = getattr(encoder, "cache_key", None)
    if callable(key):
        value = key()
        return None if value is None else str(value)
    modules = [getattr(encoder, name, None) for name in ("lstm", "content")]
    if not all(hasattr(m, "state_dict") for m in modules):
        return None
    import importlib
    import sys

    h = hashlib.sha256()
    cls = type(encoder)
    h.update(f"{cls.__module__}.{cls.__qualname__}|window={encoder.window}".encode())
    package = sys.modules.get(cls.__module__.split(".")[0])
    if package is None:  # pragma: no cover
        package = importlib.import_module(cls.__module__.split(".")[0])
    if getattr(package, "__file__", None):
        for src in sorted(Path(package.__file__).parent.rglob("*.py")):  # type: ignore[arg-type]
            h.update(src.name.encode())
            h.update(src.read_bytes())
    for module in modules:
        for name, tensor in sorted(module.state_dict().items()):  # type: ignore[union-attr]
            h.update(name.encode())
            h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


#: Storage dtypes of the observation table (``obs_dtype``); observations are float32.
OBS_DTYPES = ("float32", "float16")
#: Rows per block when a table is built (bounds the build's memory, docs/env.md "Memory").
BLOCK_ROWS = 1 << 18


def check_obs_dtype(obs_dtype: Any) -> str:
    """``obs_dtype`` as one of :data:`OBS_DTYPES`.

    Raises:
        ValueError: If it is another value.
    """
    if not isinstance(obs_dtype, str) or obs_dtype not in OBS_DTYPES:
        raise ValueError(f"obs_dtype must be one of {OBS_DTYPES}, got {obs_dtype!r}")
    return obs_dtype


def _disk_path(
    digest: str | None, data: PreparedDataset, obs_dtype: str = "float32"
) -> Path | None:
    if digest is None or os.environ.get("MOVIEREC_OBS_CACHE", "1") in ("0", "false", "no", "off"):
        return None
    # float32 keeps its historical name, so existing caches stay valid.
    suffix = "" if obs_dtype == "float32" else f"-{obs_dtype}"
    return cache_root() / "observations" / f"{data.fingerprint[:16]}-{digest[:24]}{suffix}.npy"


def _load_disk(
    path: Path | None, n_rows: int, obs_dim: int | None, obs_dtype: str = "float32"
) -> NDArray[Any] | None:
    """The table at ``path`` if it is whole and has the expected shape and dtype, else ``None``.

    A missing, truncated (shorter than its header says), unparsable, other-shaped or
    other-dtype file gives ``None``, and the caller rebuilds and replaces it; files are
    only ever renamed into place whole (:func:`_build_table`).
    """
    if path is None or not path.is_file():
        return None
    try:
        table = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None
    if (
        not isinstance(table, np.ndarray)
        or table.ndim != 2
        or table.shape[0] != n_rows
        or (obs_dim is not None and table.shape[1] != obs_dim)
        or table.dtype != np.dtype(obs_dtype)
    ):
        return None
    # A plain ndarray view of the mapping (it keeps the mapping alive): rows of an
    # ``np.memmap`` are ``np.memmap`` objects, whose indexing and copies cost ~3 us each,
    # 8x a plain row copy, and would make every observation an ``np.memmap``.
    return np.asarray(table)


def _encoder_blocks(encoder: Any, data: PreparedDataset) -> Iterator[tuple[int, NDArray[Any]]]:
    """``(first_row, rows)`` blocks of ``encoder.observations(data)``, in order.

    Encoders with ``observation_blocks(data, max_rows)`` (``encoders.HybridEncoder``) give
    bounded blocks; any other encoder gives one block, its whole ``observations(data)``.
    """
    blocks = getattr(encoder, "observation_blocks", None)
    if callable(blocks):
        yield from blocks(data, BLOCK_ROWS)
    else:
        yield 0, np.asarray(encoder.observations(data))


def _release_freed_memory() -> None:
    """Give freed heap memory back to the OS (glibc's ``malloc_trim``; elsewhere nothing).

    Building a 25M-row table block by block frees about as much as it allocates, but in
    sizes that fragment glibc's heaps (two encoder threads): measured without this, the
    resident set grew by ~0.1 GB a block to 7.7 GB; with it, it stays near 2.5 GB.
    """
    global _MALLOC_TRIM
    if _MALLOC_TRIM is None:
        try:
            import ctypes

            _MALLOC_TRIM = ctypes.CDLL("libc.so.6").malloc_trim
        except (OSError, AttributeError):
            _MALLOC_TRIM = False
    if _MALLOC_TRIM:
        _MALLOC_TRIM(0)


_MALLOC_TRIM: Any = None


def _fill(
    write: Callable[[int, NDArray[Any]], object], encoder: Any, data: PreparedDataset, obs_dim: int
) -> None:
    """Pass the encoder's observations block by block to ``write(row, block)``, checked.

    Raises:
        ValueError: If the blocks do not tile the rows in order, have the wrong width, or
            hold values that are not finite or outside [-1, 1].
    """
    n = data.n_interactions
    row = 0
    for first, block in _encoder_blocks(encoder, data):
        block = np.asarray(block)
        if first != row or block.ndim != 2 or block.shape[1] != obs_dim or row + len(block) > n:
            raise ValueError(
                f"encoder.observations returned shape {block.shape} at row {first}, expected "
                f"rows from {row} of {(n, obs_dim)}"
            )
        if not np.isfinite(block).all() or (block.size and float(np.abs(block).max()) > 1.0):
            raise ValueError("encoder observations must be finite and within [-1, 1]")
        write(row, block)
        row += len(block)
        del block
        _release_freed_memory()
    if row != n:
        raise ValueError(
            f"encoder.observations returned shape {(row, obs_dim)}, expected {(n, obs_dim)}"
        )


def _build_table(
    encoder: Any, data: PreparedDataset, shape: tuple[int, int], obs_dtype: str, path: Path | None
) -> NDArray[Any]:
    """Compute the table; with a disk cache, stream it into a file renamed into place.

    On disk the ``.npy`` header and then each block (cast to ``obs_dtype``) are written
    to a temporary file with plain writes (the page cache, not this process, holds them),
    which is renamed over ``path`` when whole (atomic: readers never see a partial table)
    and memory-mapped back: building never holds the table in memory, let alone twice.
    Without a cache, or when it cannot be written (read-only, full), it is built in memory.
    """
    dtype = np.dtype(obs_dtype)
    if path is not None:
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fh = open(tmp, "wb")
        except OSError:  # a read-only or full cache only costs speed
            fh = None
        if fh is not None:
            header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False}
            try:
                with fh:
                    np.lib.format.write_array_header_1_0(fh, {**header, "shape": shape})
                    _fill(
                        lambda _row, b: fh.write(np.ascontiguousarray(b, dtype=dtype).data),
                        encoder,
                        data,
                        shape[1],
                    )
                    fh.write(np.zeros(shape[1], dtype=dtype).data)  # the final zero row
                os.replace(tmp, path)
            except OSError:
                tmp.unlink(missing_ok=True)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
            table = _load_disk(path, shape[0], shape[1], obs_dtype)
            if table is not None:
                return table
    table = np.zeros(shape, dtype=dtype)

    def put(row: int, block: NDArray[Any]) -> None:
        table[row : row + len(block)] = block

    _fill(put, encoder, data, shape[1])
    table.flags.writeable = False
    return table


def cached_observation_table(
    digest: str, data: PreparedDataset, obs_dtype: str = "float32"
) -> NDArray[Any] | None:
    """The observation table stored for an encoder digest, without the encoder; or ``None``.

    What :func:`observation_table` keeps for an encoder whose content hash is ``digest``
    (in this process, else memory-mapped from ``cache_root()/observations/``). The env uses
    it with :func:`movierec_env.checkpoints.checkpoint_digest` to start without loading
    the encoder (and importing torch).
    """
    disk = _disk_path(digest, data, check_obs_dtype(obs_dtype))
    if disk is None:
        return None
    with _LOCK:
        hit = _DIGEST_CACHE.get(disk)
        if hit is not None:
            return hit
        table = _load_disk(disk, data.n_interactions + 1, None, obs_dtype)
        if table is not None:
            _DIGEST_CACHE[disk] = table
        return table


def checkpoint_table(
    checkpoint: Path, digest: str, data: PreparedDataset, obs_dtype: str = "float32"
) -> NDArray[Any] | None:
    """A checkpoint's observation table without torch, or ``None`` when that needs torch.

    The cached table of ``digest`` (:func:`cached_observation_table`); else, when the
    checkpoint has the torch-free copy of its weights (``weights.npz``), the table built by
    ``encoders.NumpyHybridEncoder`` (numpy only, the same pass ``HybridEncoder`` runs) and
    cached under ``digest``. ``None`` for a checkpoint without that file or one it cannot
    read: the caller loads the encoder with torch, which reports what is wrong.

    Args:
        checkpoint: The checkpoint directory.
        digest: Its :func:`~movierec_env.checkpoints.checkpoint_digest`.
        data: The dataset (its fingerprint must be the checkpoint's: the caller checks).
        obs_dtype: As :func:`observation_table`.
    """
    table = cached_observation_table(digest, data, obs_dtype)
    if table is not None:
        return table
    from encoders.numpy_encoder import WEIGHTS_FILE, NumpyHybridEncoder  # torch-free

    if not (checkpoint / WEIGHTS_FILE).is_file():
        return None
    with _LOCK:
        enc = _NUMPY_ENCODERS.get(digest)
        if enc is None:
            try:
                enc = NumpyHybridEncoder.from_checkpoint(checkpoint)
            except (OSError, ValueError):
                return None
            _NUMPY_ENCODERS[digest] = enc
    if enc.fingerprint != data.fingerprint:
        return None
    return observation_table(enc, data, digest, obs_dtype)


def observation_table(
    encoder: Any,
    data: PreparedDataset,
    digest: str | None = None,
    obs_dtype: str = "float32",
) -> NDArray[Any]:
    """Observations of every position plus one zero row, shared and read-only.

    Row ``g`` is the encoder's embedding of the history strictly before position ``g``; the
    extra last row (index ``n_interactions``) is zeros and serves as the final observation
    of an episode that ends at the very last interaction.

    Memoised per (encoder object, dataset, dtype) in the process and, for encoders with a
    content hash (``digest``, else :func:`encoder_digest`), on disk under
    ``$MOVIEREC_CACHE/observations/<dataset>-<encoder>[-float16].npy`` (memory-mapped, so
    parallel worker processes share one copy; built block by block into a temporary file
    and renamed, so never read half-written and never held in memory twice; a truncated,
    other-shaped or other-dtype file is rebuilt); ``MOVIEREC_OBS_CACHE=0`` turns the disk
    cache off.

    Args:
        encoder: The encoder.
        data: Its dataset.
        digest: The encoder's content hash when the caller knows it (the env passes its
            checkpoint's :func:`~movierec_env.checkpoints.checkpoint_digest`).
        obs_dtype: ``"float32"`` (default) or ``"float16"``: the table's storage (half
            the memory; values rounded to float16, at most ``2**-12`` off in [-1, 1]). The
            envs cast each row they return to float32.

    Raises:
        ValueError: If the encoder returns the wrong shape or values outside [-1, 1], or
            ``obs_dtype`` is not allowed.
    """
    obs_dtype = check_obs_dtype(obs_dtype)
    key = (id(encoder), data.fingerprint, obs_dtype)
    with _LOCK:
        hit = _OBS_CACHE.get(key)
        if hit is not None:
            ref, table = hit
            if (ref() if isinstance(ref, weakref.ref) else ref) is encoder:
                return table
        shape = (data.n_interactions + 1, int(encoder.obs_dim))
        digest = digest if digest is not None else encoder_digest(encoder)
        disk = _disk_path(digest, data, obs_dtype)
        # Tables known by digest are shared in-process only while the disk cache is on.
        cached = None if disk is None else _DIGEST_CACHE.get(disk)
        if cached is None or cached.shape != shape:
            cached = _load_disk(disk, shape[0], shape[1], obs_dtype)
        if cached is None:
            cached = _build_table(encoder, data, shape, obs_dtype, disk)
        _remember(encoder, key, cached)
        if disk is not None:
            _DIGEST_CACHE[disk] = cached
        return cached


def _remember(encoder: Any, key: tuple[int, str, str], table: NDArray[Any]) -> None:
    holder: Any
    try:
        holder = weakref.ref(encoder)
    except TypeError:
        holder = encoder
    _OBS_CACHE[key] = (holder, table)


def reward_tables(data: PreparedDataset, config: RewardConfig) -> RewardTables:
    """Memoised :meth:`RewardTables.build`."""
    key = (data.fingerprint, config)
    with _LOCK:
        tables = _REWARD_CACHE.get(key)
        if tables is None:
            tables = RewardTables.build(data, config)
            _REWARD_CACHE[key] = tables
        return tables


def item_features(data: PreparedDataset) -> ItemFeatures:
    """Memoised :meth:`ItemFeatures.from_dataset`."""
    with _LOCK:
        feats = _FEATURE_CACHE.get(data.fingerprint)
        if feats is None:
            feats = ItemFeatures.from_dataset(data)
            _FEATURE_CACHE[data.fingerprint] = feats
        return feats


def clear_caches() -> None:
    """Drop every memoised encoder and table (frees memory; mostly for tests)."""
    with _LOCK:
        _DEFAULT_ENCODERS.clear()
        _PATH_ENCODERS.clear()
        _NUMPY_ENCODERS.clear()
        _OBS_CACHE.clear()
        _DIGEST_CACHE.clear()
        _REWARD_CACHE.clear()
        _FEATURE_CACHE.clear()


@dataclass(frozen=True, eq=False)
class Episodes:
    """Which users a split replays and the positions each episode covers.

    Attributes:
        split: ``"train"``, ``"val"`` or ``"test"``.
        users: Eligible user indices, ``(n_eligible,)``.
        first: Per user index, the first position judged (``-1`` if not eligible).
        end: Per user index, one past the last position judged.
    """

    split: str
    users: NDArray[np.int64]
    first: NDArray[np.int64]
    end: NDArray[np.int64]

    @classmethod
    def build(cls, data: PreparedDataset, split: str, min_history: int) -> Episodes:
        """Episode bounds of a split.

        ``"train"``: positions ``offsets[u] + min_history .. train_end[u] - 1`` of every user
        with at least one such position; ``"val"``/``"test"``: the single target position of
        every user with a split (the whole prefix is the history, whatever ``min_history``).

        Raises:
            ValueError: On an unknown split or when no user is eligible.
        """
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        if split == "train":
            first = data.offsets[:-1] + min_history
            end = data.train_end.copy()
        else:
            first = (data.val_index if split == "val" else data.test_index).copy()
            end = first + 1
        ok = (first < end) & (first >= 0)
        first = np.where(ok, first, -1).astype(np.int64)
        end = np.where(ok, end, -1).astype(np.int64)
        users = np.flatnonzero(ok).astype(np.int64)
        if users.size == 0:
            raise ValueError(
                f"no user of dataset {data.name!r} has a {split!r} episode with "
                f"min_history={min_history}"
            )
        for arr in (users, first, end):
            arr.flags.writeable = False
        return cls(split=split, users=users, first=first, end=end)


def draw_episode(
    rng: np.random.Generator, episodes: Episodes, random_start: bool, user: int | None = None
) -> tuple[int, int]:
    """Draw (or take) a user and its start position, consuming ``rng`` identically everywhere.

    Both envs call this, so a single env and sub-env ``i`` of a vector env seeded alike replay
    the same episodes.

    Args:
        rng: The env's generator.
        episodes: The split's episodes.
        random_start: Start at a uniformly random position of the episode (train split).
        user: A user index to use instead of drawing one.

    Returns:
        ``(user index, first position judged)``.
    """
    if user is None:
        user = int(episodes.users[int(rng.integers(episodes.users.shape[0]))])
    first = int(episodes.first[user])
    if random_start:
        first += int(rng.integers(int(episodes.end[user]) - first))
    return user, first


def exhaustible_users(data: PreparedDataset) -> NDArray[np.bool_]:
    """Per user: whether the user's history holds every movie of the catalogue.

    Only a user with at least ``n_items`` interactions can; only those users' distinct
    movies are counted (a sort of the whole log took 26 s at 25M interactions, on the
    first ``action_masks()`` call; with no such user this is O(n_users)).
    """
    out = np.zeros(data.n_users, dtype=bool)
    for user in np.flatnonzero(data.lengths >= data.n_items).tolist():
        items = data.items[data.offsets[user] : data.offsets[user + 1]]
        out[user] = np.unique(items).size >= data.n_items
    return out


class ReplayCore:
    """Everything the single and the vector env share: arguments, data and tables.

    Args:
        dataset: ``None`` (embedded ml-latest-small), a dataset name/folder, or a
            :class:`PreparedDataset`.
        encoders: ``None`` (default encoder), a checkpoint directory or an encoder object.
        split: ``"train"``, ``"val"`` or ``"test"``.
        min_history: Train split: interactions seen before the first judged position.
        max_episode_steps: Truncate after this many steps (``None``: at the sequence end).
        random_start: Train split: start each episode at a random position.
        reward: Reward options (dict, :class:`RewardConfig` or ``None``).
        mask_seen: Whether ``action_masks()`` hides movies already in the history.
        candidates: ``None`` (full-catalogue actions), ``K`` or a dict of
            :class:`~movierec_env.candidates.CandidateConfig` fields (candidate mode).
        obs_dtype: Storage of the shared observation table, ``"float32"`` or
            ``"float16"`` (half the memory; observations are still returned as float32).
        bandit: Contextual-bandit episodes: one step each, at a random judged position
            (implies ``random_start``; ``max_episode_steps`` must be ``None`` or 1), ended
            by ``terminated=True`` (the logged future does not depend on the action, so
            nothing is lost by not bootstrapping it).

    Raises:
        ValueError: On invalid arguments (naming the argument and what is allowed).
    """

    def __init__(
        self,
        dataset: Any = None,
        encoders: Any = None,
        split: str = "train",
        min_history: int = 5,
        max_episode_steps: int | None = None,
        random_start: bool = False,
        reward: Any = None,
        mask_seen: bool = True,
        candidates: Any = None,
        obs_dtype: str = "float32",
        bandit: bool = False,
    ) -> None:
        self.obs_dtype = check_obs_dtype(obs_dtype)
        if not isinstance(bandit, bool | np.bool_):
            raise TypeError(f"bandit must be True or False, got {bandit!r}")
        if bandit and max_episode_steps not in (None, 1):
            raise ValueError(
                f"bandit=True episodes are one step long: max_episode_steps must be None or 1, "
                f"got {max_episode_steps!r}"
            )
        self.bandit = bool(bandit)
        if self.bandit:
            max_episode_steps, random_start = 1, True
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        if isinstance(min_history, bool) or not isinstance(min_history, int | np.integer):
            raise TypeError(f"min_history must be an int >= 1, got {min_history!r}")
        if min_history < 1:
            raise ValueError(f"min_history must be >= 1, got {min_history}")
        if max_episode_steps is not None and (
            isinstance(max_episode_steps, bool)
            or not isinstance(max_episode_steps, int | np.integer)
            or max_episode_steps < 1
        ):
            raise ValueError(
                f"max_episode_steps must be None or an int >= 1, got {max_episode_steps!r}"
            )
        self.reward_config = RewardConfig.from_value(reward)
        self.split = split
        self.min_history = int(min_history)
        self.max_episode_steps = None if max_episode_steps is None else int(max_episode_steps)
        self.max_steps = (
            np.iinfo(np.int64).max if max_episode_steps is None else int(max_episode_steps)
        )
        self.random_start = bool(random_start)
        self.mask_seen = bool(mask_seen)

        self.data = resolve_dataset(dataset)
        self.candidate_config = CandidateConfig.from_value(candidates)
        self._encoders_arg = encoders
        self._encoder: Any = None
        self.obs = self._observations(encoders)
        self.episodes = Episodes.build(self.data, split, self.min_history)
        self.tables = reward_tables(self.data, self.reward_config)
        self.features = item_features(self.data)
        self.n_actions = self.data.n_items
        self.obs_dim = int(self.obs.shape[1])
        self.movie_ids: list[int] = self.data.item_movie_ids[1:].tolist()
        self.user_ids: list[int] = self.data.user_ids.tolist()
        self.weights = self.reward_config.weights
        self._exhaustible: NDArray[np.bool_] | None = None
        self.generator: CandidateGenerator | None = None
        if self.candidate_config is not None:
            self.generator = CandidateGenerator(self.data, self.encoder, self.candidate_config)
            self.generator.check_feasible(self.episodes.first, self.episodes.end)

    def _observations(self, encoders: Any) -> NDArray[Any]:
        """The observation table; without loading the encoder when a cached one fits.

        When ``encoders`` names a checkpoint (``None``: the default one), the table is the
        one cached under its :func:`~movierec_env.checkpoints.checkpoint_digest`
        (memory-mapped), else built from its ``weights.npz`` by the numpy pass
        (:func:`checkpoint_table`); either way torch is not imported, and the encoder is
        loaded only when :attr:`encoder` is first read. Candidate mode needs the encoder's
        scores at every step: loaded now.
        """
        data = self.data
        checkpoint = checkpoint_of(encoders, data)
        digest = None if checkpoint is None else checkpoint_digest(checkpoint)
        if digest is not None and self.candidate_config is None:
            meta = checkpoint_config(checkpoint)  # type: ignore[arg-type]
            if meta is not None and meta.get("fingerprint") == data.fingerprint:
                table = checkpoint_table(checkpoint, digest, data, self.obs_dtype)  # type: ignore[arg-type]
                if table is not None:
                    return table
        self._encoder = resolve_encoder(encoders, data)
        if digest is None and encoders is None:  # trained just now: its checkpoint is saved
            checkpoint = checkpoint_of(encoders, data)
            digest = None if checkpoint is None else checkpoint_digest(checkpoint)
        return observation_table(self._encoder, data, digest, self.obs_dtype)

    @property
    def encoder(self) -> Any:
        """The frozen encoder (loaded on first read if the table came from the disk cache).

        Raises:
            ValueError: As :func:`resolve_encoder` (e.g. a checkpoint edited since).
        """
        if self._encoder is None:
            enc = resolve_encoder(self._encoders_arg, self.data)
            if int(enc.obs_dim) != self.obs_dim:
                raise ValueError(
                    f"encoder has obs_dim {enc.obs_dim} but its cached observation table "
                    f"has {self.obs_dim} columns; clear {cache_root() / 'observations'}"
                )
            self._encoder = enc
        return self._encoder

    @property
    def exhaustible(self) -> NDArray[np.bool_]:
        """Per user: whether the user's history can cover the whole catalogue.

        Only such users can ever have every action masked (then the mask allows everything).
        """
        if self._exhaustible is None:
            self._exhaustible = exhaustible_users(self.data)
        return self._exhaustible

    def user_index(self, user_id: Any) -> int:
        """User index of a raw userId eligible for this split.

        Raises:
            ValueError: If the user is unknown or has no episode in this split.
        """
        if isinstance(user_id, bool) or not isinstance(user_id, int | np.integer):
            raise ValueError(f"options['user_id'] must be an int userId, got {user_id!r}")
        try:
            user = self.data.user_to_index(int(user_id))
        except KeyError as err:
            raise ValueError(str(err.args[0])) from None
        if self.episodes.first[user] < 0:
            raise ValueError(
                f"user {int(user_id)} has no {self.split!r} episode in dataset "
                f"{self.data.name!r} (min_history={self.min_history})"
            )
        return user


class ReplayEnvProperties(CoreEnvProperties):
    """Read-only properties shared by the single and the vector env.

    Both :class:`~movierec_env.env.MovieRecEnv` and
    :class:`~movierec_env.vector_env.MovieRecVectorEnv` hold a ``_core``.
    """

    _core: ReplayCore
    _catalogue: Catalogue | None = None
    metadata: dict[str, Any]
    position: Any
    _cands: Any

    def action_masks_at(self, positions: NDArray[np.integer]) -> NDArray[np.bool_]:
        """Allowed actions ``(B, n_items)`` at logged positions, as ``action_masks()`` gives.

        The movies of each position's history are hidden (``mask_seen=True``); a history
        that covers the whole catalogue allows everything. The replay buffer of the DQN
        stores positions and rebuilds masks with this. In candidate mode every candidate
        is unseen: ``(B, K)`` all True.
        """
        pos = np.atleast_1d(np.asarray(positions, dtype=np.int64))
        gen = self._core.generator
        if gen is not None:  # candidate mode: every candidate is unseen
            return np.ones((pos.size, gen.k), dtype=bool)
        if not self._core.mask_seen:
            return np.ones((pos.size, self._core.n_actions), dtype=bool)
        allowed = ~history_mask(self._core.data, pos)[:, 1:]
        empty = ~allowed.any(axis=1)
        if empty.any():
            allowed[empty] = True
        return allowed

    def current_positions(self) -> NDArray[np.int64]:
        """``(num_envs,)`` positions the next actions are judged against (``info["position"]``)."""
        return np.atleast_1d(np.asarray(self.position, dtype=np.int64)).copy()

    def observations_at(self, positions: NDArray[np.integer]) -> NDArray[np.float32]:
        """Observations ``(B, obs_dim)`` of logged positions, copied from the shared table.

        Position ``g`` is the observation an agent sees when the next action is judged
        against interaction ``g`` (the history strictly before ``g``); ``n_interactions``
        gives the zero final observation. In candidate mode these are the embeddings, the
        observation's user part (:meth:`candidate_observations_at` gives all of it).
        """
        pos = np.atleast_1d(np.asarray(positions, dtype=np.int64))
        return np.array(self._core.obs[pos], dtype=np.float32)

    def candidates_at(
        self, positions: NDArray[np.integer], rng: np.random.Generator
    ) -> NDArray[np.int64]:
        """Item actions ``(B, K)`` the env's generator proposes at logged positions.

        Rows are drawn in order from ``rng`` with the env's own generator
        (:meth:`movierec_env.candidates.CandidateGenerator.draw`), so a seeded ``rng``
        gives the same candidates whatever the batching. Values are catalogue actions
        (``catalogue[a]``), never a movie of the position's history.

        Raises:
            ValueError: In full-catalogue mode.
        """
        pos = np.atleast_1d(np.asarray(positions, dtype=np.int64))
        return self._generator().draw_at(rng, pos, self._core.obs[pos])

    def current_candidates(self) -> NDArray[np.int64]:
        """``(num_envs, K)`` item actions proposed now (``info["candidates"]``).

        Raises:
            ValueError: In full-catalogue mode.
        """
        self._generator()
        return np.atleast_2d(np.asarray(self._cands, dtype=np.int64)).copy()

    def candidate_observations_at(
        self, positions: NDArray[np.integer], candidates: NDArray[np.integer]
    ) -> Any:
        """Candidate-mode observations of logged positions with the given candidates.

        Args:
            positions: ``(B,)`` judged positions.
            candidates: ``(B, K)`` item actions (e.g. from :meth:`candidates_at`).

        Returns:
            ``(B, obs_dim + K * F)`` float32 (flat layout) or a dict of ``(B, obs_dim)`` and
            ``(B, K, F)`` arrays, exactly what the env shows with those candidates.

        Raises:
            ValueError: In full-catalogue mode or on mismatched shapes.
        """
        pos = np.atleast_1d(np.asarray(positions, dtype=np.int64))
        return self._generator().observations_at(pos, self._core.obs[pos], candidates)

    @property
    def eligible_user_ids(self) -> NDArray[np.int64]:
        """Raw userIds that have an episode in this split (in user-index order)."""
        return self._core.data.user_ids[self._core.episodes.users]
