"""Does the DQN's discount pay where planning pays more? A sensitivity run on MovieRecSim-v0.

At the declared defaults the horizon gate finds planning worth little (docs/sim_gate.md:
planner - greedy oracle +0.109 on ~4.1), and the benchmark's DQN (gamma 0.9) does not beat
its gamma = 0 ablation (docs/sim_benchmark.md). The gate's sensitivity table shows where
planning pays most: ``ignore_prob = 0.2`` (+0.59). This script trains the registry's
``dqn`` and ``dqn-gamma0`` in the train world at a declared setting, judges them (and the
``encoder-greedy`` reference) by one episode per held-out user in the eval world at the same
setting, and reports mean returns over seeds and the paired test of the two DQNs.

It is a sensitivity analysis of a declared (unidentifiable) parameter, not a tuning run:
nothing here changes a default.

Usage::

    python benchmarks/bench_sim_horizon.py                        # ignore_prob 0.2, 3 seeds
    python benchmarks/bench_sim_horizon.py --ignore-prob 0.2 0.5 --seeds 3 --timesteps 30000

Writes the table between ``<!-- bench_sim_horizon:start -->`` and ``:end -->`` in
``docs/sim_benchmark.md`` (``--no-write``: print only).
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- bench_sim_horizon:start -->", "<!-- bench_sim_horizon:end -->"
AGENTS = ("dqn", "dqn-gamma0", "encoder-greedy")


def run(ignore_prob: float, seeds: int, timesteps: int) -> list[str]:
    """Train and judge the agents at one setting; the table rows."""
    import gymnasium as gym

    import movierec_env  # noqa: F401  (registers MovieRecSim-v0)
    from agents.registry import LEARNING_AGENT_NAMES, make_agent
    from agents.sim_evaluation import evaluate_episodes
    from experiments.reporting import mean_std_ci, paired_test

    per_seed: dict[str, dict[int, dict[str, object]]] = {a: {} for a in AGENTS}
    for seed in range(seeds):
        for name in AGENTS:
            train_env = gym.make(
                "MovieRecSim-v0", world="train", split="train", ignore_prob=ignore_prob
            )
            agent = make_agent(name, train_env, seed=seed)
            if name in LEARNING_AGENT_NAMES:
                agent.learn(timesteps)
            judge = gym.make("MovieRecSim-v0", world="eval", split="test", ignore_prob=ignore_prob)
            per_seed[name][seed] = evaluate_episodes(agent, judge, seed=seed)
            print(
                f"ignore_prob {ignore_prob} seed {seed} {name}: "
                f"{per_seed[name][seed]['mean_return']:.3f}",
                flush=True,
            )
    rows = []
    for name in AGENTS:
        cell = mean_std_ci([float(r["mean_return"]) for r in per_seed[name].values()])  # type: ignore[arg-type]
        length = np.mean([float(r["mean_length"]) for r in per_seed[name].values()])  # type: ignore[arg-type]
        rows.append(
            f"| {ignore_prob} | `{name}` | {cell['mean']:.3f} ± {cell['std']:.3f} "
            f"| ± {cell['ci95']:.3f} | {length:.2f} |"
        )
    test = paired_test(per_seed, "dqn", "dqn-gamma0", "returns")
    rows.append(
        f"| {ignore_prob} | `dqn` − `dqn-gamma0` (paired over users) | {test['diff']:+.3f} "
        f"| p = {test['p']:.2g} | |"
    )
    return rows


def main() -> None:
    """Run the settings, print the table and write it into docs/sim_benchmark.md."""
    import torch

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ignore-prob", type=float, nargs="+", default=[0.2])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--timesteps", type=int, default=30_000)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    load_start = os.getloadavg()[0]
    lines = [
        "| `ignore_prob` | agent | mean return (± std over seeds) | 95% CI | mean length |",
        "|---|---|---|---|---|",
    ]
    for p in args.ignore_prob:
        lines += run(p, args.seeds, args.timesteps)
    minutes = (time.perf_counter() - t0) / 60
    block = [
        START,
        f"Measured {time.strftime('%Y-%m-%d')} on {platform.machine()}, {os.cpu_count()} CPUs "
        f"(load average {load_start:.1f} at the start, {os.getloadavg()[0]:.1f} at the end); "
        f"{args.seeds} seeds, {args.timesteps:,} training steps, "
        f"{minutes:.0f} min. Reproduce: `python benchmarks/bench_sim_horizon.py "
        f"--ignore-prob {' '.join(map(str, args.ignore_prob))} --seeds {args.seeds} "
        f"--timesteps {args.timesteps}`.",
        "",
        *lines,
        END,
    ]
    text = "\n".join(block)
    print(text)
    if args.no_write:
        return
    doc = ROOT / "docs" / "sim_benchmark.md"
    body = doc.read_text()
    if START in body and END in body:
        body = body[: body.index(START)] + text + body[body.index(END) + len(END) :]
    else:
        body = body.rstrip("\n") + "\n\n" + text + "\n"
    tmp = doc.with_name(f".{doc.name}.tmp")
    tmp.write_text(body)
    tmp.replace(doc)


if __name__ == "__main__":
    main()
