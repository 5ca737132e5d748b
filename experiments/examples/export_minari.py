"""Export logged MovieLens episodes as an offline-RL dataset (Minari, or a plain .npz).

What: replay every user of a split of ``MovieRec-v0`` with the *logged* action, i.e. the
movie the user actually rated next, and save the transitions (observation, action, reward,
next observation) as a dataset for offline RL (CQL, IQL, decision transformers, ...).

Why: online RL on a recommender needs live users; offline RL learns from logs instead. Here
the "behaviour policy" that produced the logs is the MovieLens users themselves. Note what
that implies: every logged action is a hit, so the rewards are those of a perfect predictor,
and offline RL on this data is close to behaviour cloning of the users' next choice.

Run:
    python -m experiments.examples.export_minari --quick                 # 20 users, Minari
    python -m experiments.examples.export_minari --format npz --out runs/offline
    MINARI_DATASETS_PATH=~/minari python -m experiments.examples.export_minari --split train

Minari is optional: ``pip install movierec[minari]`` (``minari[hdf5]>=0.5``). The ``.npz``
format needs nothing and loads back with ``experiments.offline.load_npz``.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

import movierec_env  # noqa: F401  (registers MovieRec-v0)
from experiments import offline

__all__ = ["main", "parse_args"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=None, help="MovieLens folder (default: embedded)")
    p.add_argument("--split", default="train", choices=["train", "val", "test"])
    p.add_argument("--format", default="minari", choices=["minari", "npz"])
    p.add_argument("--out", default=None, help="output folder (Minari: its datasets root)")
    p.add_argument("--dataset-id", default=None, help="default: movierec/DATA/logged-SPLIT-v0")
    p.add_argument("--max-episodes", type=int, default=None, help="export the first N users")
    p.add_argument("--overwrite", action="store_true", help="replace an existing dataset")
    p.add_argument("--quick", action="store_true", help="20 users only (a smoke run)")
    args = p.parse_args(argv)
    if args.quick and args.max_episodes is None:
        args.max_episodes = 20
    if args.max_episodes is not None and args.max_episodes < 1:
        p.error(f"--max-episodes must be >= 1, got {args.max_episodes}")
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    # One episode per user of the split: the env replays the user's sequence in time order.
    env = gym.make("MovieRec-v0", dataset=args.data, split=args.split)

    if args.format == "npz":
        path = Path(args.out or "runs/offline") / f"logged-{args.split}.npz"
        path = offline.export_npz(env, path, max_episodes=args.max_episodes)
        episodes, meta = offline.load_npz(path)  # read it back, as a user of the file would
        n_episodes = len(episodes)
        actions = np.concatenate([e["actions"] for e in episodes])
        rewards = np.concatenate([e["rewards"] for e in episodes])
        where = f"{path} ({meta['dataset']}, split {meta['split']!r})"
    else:
        # Minari ids look like "namespace/dataset_name-v0"; name ours after the data and split.
        data_name = re.sub(r"[^-\w]+", "_", env.get_wrapper_attr("dataset").name)
        dataset_id = args.dataset_id or f"movierec/{data_name}/logged-{args.split}-v0"
        try:
            dataset = offline.export_minari(
                env, dataset_id, out=args.out, max_episodes=args.max_episodes,
                overwrite=args.overwrite,
            )  # fmt: skip
        except ImportError as exc:  # Minari is optional: say how to get it, or what else works
            raise SystemExit(f"{exc}\n(or run with --format npz, which needs nothing)") from exc
        # A MinariDataset iterates over EpisodeData objects (observations has T + 1 rows).
        stored = list(dataset.iterate_episodes())
        n_episodes = len(stored)
        actions = np.concatenate([e.actions for e in stored])
        rewards = np.concatenate([e.rewards for e in stored])
        root = args.out or "$MINARI_DATASETS_PATH or ~/.minari/datasets"
        where = f"{dataset_id} in {root}: minari.load_dataset({dataset_id!r}) reads it back"

    summary = {
        "episodes": n_episodes,
        "steps": int(actions.size),
        "distinct_movies": int(np.unique(actions).size),
        "mean_reward": float(rewards.mean()) if rewards.size else float("nan"),
        "where": where,
    }
    print(f"Exported {summary['episodes']} episodes, {summary['steps']} transitions")
    print(f"  {summary['distinct_movies']} distinct logged movies (actions)")
    print(f"  mean reward of the logged action: {summary['mean_reward']:.3f} (always a hit)")
    print(f"  written to {where}")
    env.close()
    return summary


if __name__ == "__main__":
    main()
