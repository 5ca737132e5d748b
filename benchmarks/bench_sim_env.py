"""Speed of ``MovieRecSim-v0``: single env through ``gym.make`` and the native vector env.

Writes ``docs/sim_env_speed.md``. Actions are pre-sampled uniformly among all movies (an
action the user has watched is still allowed by the env: masks are advice), so the timing
is the env's own cost. Run it alone: the machine is shared.

    PYTHONPATH=. python benchmarks/bench_sim_env.py [--steps 3000] [--vector-steps 30]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import time
from pathlib import Path

import numpy as np


def single_steps_per_s(steps: int) -> float:
    """``gym.make("MovieRecSim-v0")`` steps per second (resets included)."""
    import gymnasium as gym

    import movierec_env  # noqa: F401  (registers MovieRecSim-v0)

    env = gym.make("MovieRecSim-v0", max_episode_steps=50)
    n = env.unwrapped.n_actions
    acts = np.random.default_rng(0).integers(0, n, steps)
    env.reset(seed=0)
    t0 = time.perf_counter()
    for a in acts:
        _, _, term, trunc, _ = env.step(int(a))
        if term or trunc:
            env.reset()
    return steps / (time.perf_counter() - t0)


def vector_steps_per_s(num_envs: int, steps: int) -> float:
    """Native vector env user-steps per second at ``num_envs``."""
    import gymnasium as gym

    import movierec_env  # noqa: F401  (registers MovieRecSim-v0)

    venv = gym.make_vec(
        "MovieRecSim-v0", num_envs=num_envs, vectorization_mode="vector_entry_point"
    )
    n = venv.unwrapped.n_actions
    rng = np.random.default_rng(0)
    acts = [rng.integers(0, n, num_envs) for _ in range(steps + 3)]
    venv.reset(seed=0)
    for a in acts[:3]:
        venv.step(a)
    t0 = time.perf_counter()
    for a in acts[3:]:
        venv.step(a)
    return steps * num_envs / (time.perf_counter() - t0)


def main() -> None:
    """Measure and write the table."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--vector-steps", type=int, default=30)
    p.add_argument("--out", type=Path, default=Path("docs/sim_env_speed.md"))
    args = p.parse_args()
    import torch

    torch.set_num_threads(1)
    single = single_steps_per_s(args.steps)
    rows = [("gym.make single env", "5,000", single)]
    for n in (64, 1024):
        rows.append(
            (
                f"vector env, {n} users",
                "50,000" if n == 1024 else "-",
                vector_steps_per_s(n, args.vector_steps),
            )
        )
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    blas = os.environ.get("OPENBLAS_NUM_THREADS", "default")
    lines = [
        "# MovieRecSim-v0: speed",
        "",
        f"Measured {time.strftime('%Y-%m-%d')} on {platform.machine()}, {os.cpu_count()} CPUs, "
        f"one torch thread, OpenBLAS threads: {blas}; load average "
        f"{os.getloadavg()[0]:.1f} at the end. Reproduce: `PYTHONPATH=. python "
        "benchmarks/bench_sim_env.py`. Actions pre-sampled uniformly.",
        "",
        "| measurement | target | steps/s | met |",
        "|---|---|---|---|",
    ]
    for name, target, value in rows:
        met = "-" if target == "-" else ("yes" if value >= float(target.replace(",", "")) else "no")
        lines.append(f"| {name} | {target} | {value:,.0f} | {met} |")
    lines += ["", f"Peak RSS of the process: {rss:,.0f} MiB.", ""]
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
