"""Time the simulated user: world fitting and batched ``World.step`` throughput.

Usage::

    python benchmarks/bench_sim.py              # shipped world, step timing only
    python benchmarks/bench_sim.py --fit        # also time fit_world on the dataset
    python benchmarks/bench_sim.py --data DIR --batch 64 1024

Prints one JSON object: ``fit_seconds`` (with ``--fit``) and user-steps per second per
batch size (random single recommendations, users reset to their training prefix).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np


def main() -> None:
    """Run the benchmark and print its JSON."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=None, help="MovieLens folder (default: embedded).")
    ap.add_argument("--fit", action="store_true", help="Also time fit_world.")
    ap.add_argument("--batch", type=int, nargs="+", default=[64, 1024])
    ap.add_argument("--steps", type=int, default=30)
    args = ap.parse_args()

    from movierec_env.data import load_dataset
    from movierec_env.sim import default_world, fit_world

    data = load_dataset(args.data)
    out: dict[str, object] = {
        "dataset": data.name,
        "n_items": data.n_items,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }
    if args.fit:
        t = time.perf_counter()
        world = fit_world(data, "train", seed=0, progress=False)
        out["fit_seconds"] = round(time.perf_counter() - t, 1)
    else:
        world = default_world(data, "train")
    rng = np.random.default_rng(0)
    for b in args.batch:
        users = np.arange(b) % data.n_users
        state = world.initial_state(users, data.train_end[users])
        recs = rng.integers(1, data.n_items + 1, b)
        world.step(state, recs, rng)  # warm-up
        t = time.perf_counter()
        for _ in range(args.steps):
            world.step(state, recs, rng)
        out[f"user_steps_per_s@B={b}"] = round(b * args.steps / (time.perf_counter() - t))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
