"""Logged MovieRec episodes as an offline-RL dataset (Minari, or a plain ``.npz``).

The *behaviour policy* of MovieLens is the users themselves: at every step the logged action
is the movie the user actually rated next (``dataset.items[info["position"]] - 1``). Replaying
it through the env gives the transitions an offline-RL learner (CQL, IQL, BCQ, ...) trains on,
with the env's own observations and rewards. Every logged action is a hit by construction, so
the rewards are those of a perfect next-movie predictor; the dataset's value lies in its
(observation, action) pairs, and offline methods on it behave much like behaviour cloning.

Two outputs share one replay loop (:func:`iter_logged_episodes`):

* :func:`export_minari`: a `Minari <https://minari.farama.org>`_ dataset written with
  ``minari.create_dataset_from_buffers`` into a local folder (never downloaded); needs
  ``pip install movierec[minari]`` (``minari[hdf5]>=0.5``).
* :func:`export_npz` / :func:`load_npz`: one ``.npz`` of flat arrays, needing nothing.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from movierec_env.contract import rec_env

__all__ = [
    "export_minari",
    "export_npz",
    "iter_logged_episodes",
    "load_npz",
    "logged_action",
]

#: Format tag stored in every ``.npz`` export.
NPZ_FORMAT = "movierec-logged-episodes/1"


def logged_action(env: Any, info: dict[str, Any]) -> int:
    """The action the logged user took at the position ``info`` describes.

    Args:
        env: A ``MovieRec-v0`` env (wrapped or not).
        info: The ``info`` of the last ``reset`` or ``step`` (holds ``"position"``).

    Returns:
        The action index of the movie the user rated next.
    """
    data = rec_env(env).dataset
    return int(data.items[int(info["position"])]) - 1


def iter_logged_episodes(
    env: Any, max_episodes: int | None = None
) -> Iterator[dict[str, NDArray[Any]]]:
    """Replay every eligible user of the env's split with the logged actions.

    Users are replayed in user-index order (``env.unwrapped.eligible_user_ids``), one episode
    each, through ``env.reset`` / ``env.step``: the observations and rewards are the env's own
    (the env may be wrapped, e.g. by Minari's ``DataCollector``, which then records them).

    Args:
        env: A ``MovieRec-v0`` env (single, wrapped or not).
        max_episodes: Replay only the first ``max_episodes`` users.

    Yields:
        One dict per episode: ``observations`` ``(T + 1, obs_dim)`` float32 (the last one is the
        observation after the final step), ``actions`` ``(T,)`` int64, ``rewards`` ``(T,)``
        float32, ``terminations`` and ``truncations`` ``(T,)`` bool, ``positions`` ``(T,)``
        int64 (absolute interaction index each action was judged against) and ``user_id``
        (0-d int64).

    Raises:
        ValueError: If ``max_episodes`` is negative.
    """
    if max_episodes is not None and max_episodes < 0:
        raise ValueError(f"max_episodes must be >= 0, got {max_episodes}")
    user_ids = env.unwrapped.eligible_user_ids
    if max_episodes is not None:
        user_ids = user_ids[:max_episodes]
    for i, uid in enumerate(user_ids):
        obs, info = env.reset(seed=i, options={"user_id": int(uid)})
        observations, actions, rewards, terms, truncs, positions = [obs], [], [], [], [], []
        done = False
        while not done:
            action = logged_action(env, info)
            positions.append(int(info["position"]))
            obs, reward, terminated, truncated, info = env.step(action)
            # The env judged the action against the same logged movie: always a hit.
            assert info["target"] == action, (info["target"], action)
            observations.append(obs)
            actions.append(action)
            rewards.append(float(reward))
            terms.append(bool(terminated))
            truncs.append(bool(truncated))
            done = terminated or truncated
        yield {
            "observations": np.asarray(observations, dtype=np.float32),
            "actions": np.asarray(actions, dtype=np.int64),
            "rewards": np.asarray(rewards, dtype=np.float32),
            "terminations": np.asarray(terms, dtype=bool),
            "truncations": np.asarray(truncs, dtype=bool),
            "positions": np.asarray(positions, dtype=np.int64),
            "user_id": np.asarray(int(uid), dtype=np.int64),
        }


def _metadata(env: Any) -> dict[str, Any]:
    base = rec_env(env)
    data = base.dataset
    return {
        "format": NPZ_FORMAT,
        "env_id": "MovieRec-v0",
        "split": base.split,
        "dataset": data.name,
        "dataset_fingerprint": data.fingerprint,
        "encoder_fingerprint": base.encoder.fingerprint,
        "reward": base.reward_config.to_dict(),
        "n_actions": int(base.n_actions),
        "obs_dim": int(base.encoder.obs_dim),
        "behaviour_policy": "logged: the movie the user rated next",
    }


def export_npz(env: Any, path: str | os.PathLike[str], max_episodes: int | None = None) -> Path:
    """Write the logged episodes of the env's split to one ``.npz`` (no extra dependency).

    Episodes are concatenated; episode ``i`` owns steps ``step_offsets[i]:step_offsets[i+1]``
    of ``actions``/``rewards``/``terminations``/``truncations``/``positions`` and rows
    ``obs_offsets[i]:obs_offsets[i+1]`` of ``observations`` (one more than its steps). A JSON
    ``metadata`` string records the split, dataset and encoder fingerprints and the reward.
    The file is written to a temporary name and renamed, so it is never left half-written.

    Args:
        env: A ``MovieRec-v0`` env on the split to export.
        path: Output file (``.npz`` is appended if missing).
        max_episodes: Export only the first ``max_episodes`` users.

    Returns:
        The path written.
    """
    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")
    episodes = list(iter_logged_episodes(env, max_episodes))
    steps = np.cumsum([0] + [len(e["actions"]) for e in episodes])
    obs_dim = int(env.unwrapped.observation_space.shape[0])

    def cat(key: str, dtype: Any, shape: tuple[int, ...] = ()) -> NDArray[Any]:
        if not episodes:
            return np.zeros((0, *shape), dtype=dtype)
        return np.concatenate([e[key] for e in episodes]).astype(dtype, copy=False)

    arrays = {
        "observations": cat("observations", np.float32, (obs_dim,)),
        "actions": cat("actions", np.int64),
        "rewards": cat("rewards", np.float32),
        "terminations": cat("terminations", bool),
        "truncations": cat("truncations", bool),
        "positions": cat("positions", np.int64),
        "user_ids": np.array([int(e["user_id"]) for e in episodes], dtype=np.int64),
        "step_offsets": steps.astype(np.int64),
        "obs_offsets": (steps + np.arange(steps.size)).astype(np.int64),
        "metadata": np.array(json.dumps(_metadata(env))),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez_compressed(fh, **arrays)  # type: ignore[arg-type]
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the file normal permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_npz(path: str | os.PathLike[str]) -> tuple[list[dict[str, NDArray[Any]]], dict[str, Any]]:
    """Read an :func:`export_npz` file back into episodes.

    Args:
        path: The ``.npz`` file.

    Returns:
        ``(episodes, metadata)``: episodes as yielded by :func:`iter_logged_episodes`.

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ValueError: If the file is not a MovieRec logged-episodes export.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no logged-episodes file at {path}")
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    try:
        meta = json.loads(str(arrays.pop("metadata")))
    except (KeyError, ValueError) as exc:
        raise ValueError(f"{path} is not a MovieRec logged-episodes .npz (no metadata)") from exc
    if meta.get("format") != NPZ_FORMAT:
        raise ValueError(f"{path}: format {meta.get('format')!r}, expected {NPZ_FORMAT!r}")
    so, oo = arrays["step_offsets"], arrays["obs_offsets"]
    episodes = []
    for i, uid in enumerate(arrays["user_ids"]):
        s = slice(int(so[i]), int(so[i + 1]))
        episode = {
            k: arrays[k][s]
            for k in ("actions", "rewards", "terminations", "truncations", "positions")
        }
        episode["observations"] = arrays["observations"][int(oo[i]) : int(oo[i + 1])]
        episode["user_id"] = np.asarray(uid, dtype=np.int64)
        episodes.append(episode)
    return episodes, meta


@contextlib.contextmanager
def _minari_root(out: str | os.PathLike[str] | None) -> Iterator[None]:
    """Point Minari at ``out`` (its ``MINARI_DATASETS_PATH``) for the duration of the block."""
    if out is None:
        yield
        return
    old = os.environ.get("MINARI_DATASETS_PATH")
    os.environ["MINARI_DATASETS_PATH"] = str(Path(out).expanduser().resolve())
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("MINARI_DATASETS_PATH", None)
        else:
            os.environ["MINARI_DATASETS_PATH"] = old


def export_minari(
    env: Any,
    dataset_id: str = "movierec/ml-latest-small/logged-train-v0",
    out: str | os.PathLike[str] | None = None,
    max_episodes: int | None = None,
    overwrite: bool = False,
    **metadata: Any,
) -> Any:
    """Write the logged episodes of the env's split as a local Minari dataset.

    The env is replayed with the logged actions (:func:`iter_logged_episodes`) and each
    episode becomes a ``minari.EpisodeBuffer`` written with ``minari.create_dataset_from_buffers``
    (Minari's ``DataCollector`` wrapper would do the same but needs ``jax``, i.e.
    ``minari[create]``). Nothing is downloaded or uploaded.

    Args:
        env: A ``MovieRec-v0`` env on the split to export (made with ``gym.make``, so that the
            dataset can recover it with ``dataset.recover_environment()``).
        dataset_id: Minari id, ``(namespace/)(env_name/)dataset_name(-v<version>)``.
        out: Root folder of the Minari datasets (default: ``$MINARI_DATASETS_PATH``, else
            ``~/.minari/datasets``).
        max_episodes: Export only the first ``max_episodes`` users.
        overwrite: Replace an existing dataset with the same id.
        **metadata: Passed to ``minari.create_dataset_from_buffers`` (``author``, ``author_email``,
            ``code_permalink``, ``description``, ...).

    Returns:
        The ``minari.MinariDataset``.

    Raises:
        ImportError: If Minari (with its HDF5 backend) is not installed.
        ValueError: If ``dataset_id`` is malformed, or the dataset exists and ``overwrite``
            is false.
    """
    try:
        import h5py  # noqa: F401  (Minari's default storage backend)
        import minari
    except ImportError as exc:
        raise ImportError(
            "exporting to Minari needs minari>=0.5 with its HDF5 backend: "
            "pip install movierec[minari] (or pip install 'minari[hdf5]>=0.5')"
        ) from exc
    from minari.data_collector import EpisodeBuffer
    from minari.dataset.minari_dataset import parse_dataset_id
    from minari.storage import get_dataset_path

    parse_dataset_id(dataset_id)  # a malformed id fails now, not after the replay

    with _minari_root(out):
        if get_dataset_path(dataset_id).exists():
            if not overwrite:
                raise ValueError(
                    f"a Minari dataset {dataset_id!r} already exists in "
                    f"{get_dataset_path(dataset_id).parent}; pass overwrite=True (--overwrite)"
                )
            with contextlib.redirect_stdout(None):  # minari prints "Dataset ... deleted!"
                minari.delete_dataset(dataset_id)
        buffers = [
            EpisodeBuffer(
                id=i,
                seed=i,
                options={"user_id": int(e["user_id"])},
                observations=e["observations"],
                actions=e["actions"],
                rewards=e["rewards"].tolist(),
                terminations=e["terminations"].tolist(),
                truncations=e["truncations"].tolist(),
            )
            for i, e in enumerate(iter_logged_episodes(env, max_episodes))
        ]
        meta = {
            "algorithm_name": "logged MovieLens behaviour (the movie rated next)",
            "description": (
                f"MovieRec-v0 logged replay, split {env.unwrapped.split!r}: each action is "
                "the movie the user rated next; observations and rewards are the env's."
            ),
            **metadata,
        }
        # The env spec lets users recover the env from the dataset; an env made from Python
        # objects (a PreparedDataset, an encoder) has no JSON spec, so only the spaces are kept.
        source: dict[str, Any] = {"env": env}
        try:
            env.spec.to_json()
        except (AttributeError, TypeError, ValueError):
            source = {
                "env": None,
                "observation_space": env.observation_space,
                "action_space": env.action_space,
            }
        try:
            with warnings.catch_warnings():
                # Minari warns about every metadata field left unset (author, permalink, ...).
                warnings.filterwarnings("ignore", r".*(is set to None|env_spec is None)")
                dataset = minari.create_dataset_from_buffers(
                    dataset_id, buffers, data_format="hdf5", **source, **meta
                )
        except BaseException:
            shutil.rmtree(get_dataset_path(dataset_id), ignore_errors=True)  # no half dataset
            raise
    return dataset
