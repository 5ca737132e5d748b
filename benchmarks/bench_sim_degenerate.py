"""Degenerate policies on MovieRecSim-v0 against a finished benchmark run's DQN.

Judges ``constant`` (one movie for everyone) and ``one-genre`` (one genre forever) exactly
as ``movierec benchmark --env MovieRecSim-v0`` judges every agent (one episode per held-out
user in the eval world, episodes seeded by the run's seeds), and tests each against the
run's ``dqn`` per user (Wilcoxon signed-rank over users, per-user returns averaged over
seeds, :func:`experiments.reporting.paired_test`). A trustworthy simulator puts them far
below a learned policy.

Usage::

    python benchmarks/bench_sim_degenerate.py --run runs/ml-latest-small-sim-full

``--run`` is the run directory of the simulator benchmark (it needs its ``seeds/``, which
docs/results_sim/ does not ship).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def main() -> None:
    """Judge the degenerate policies and print the table."""
    import gymnasium as gym

    import movierec_env  # noqa: F401  (registers MovieRecSim-v0)
    from agents.registry import make_agent
    from agents.sim_evaluation import evaluate_episodes
    from experiments.benchmark import load_per_seed
    from experiments.reporting import mean_std_ci, paired_test

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--run", type=Path, required=True, help="a finished simulator run dir")
    ap.add_argument("--agents", default="constant,one-genre")
    args = ap.parse_args()
    done = load_per_seed(args.run)
    if "dqn" not in done:
        raise SystemExit(f"{args.run} has no finished dqn results (seeds/*/dqn.json)")
    seeds = sorted(done["dqn"])
    per_seed = {"dqn": done["dqn"]}
    env = gym.make("MovieRecSim-v0", world="eval", split="test")
    for name in args.agents.split(","):
        per_seed[name] = {s: evaluate_episodes(make_agent(name, env), env, seed=s) for s in seeds}
    print(f"{len(seeds)} seeds; paired tests against the run's `dqn` over held-out users\n")
    print("| agent | mean return (± std) | mean length | Δ vs dqn | p |")
    print("|---|---|---|---|---|")
    for name, rows in per_seed.items():
        ret = mean_std_ci([float(r["mean_return"]) for r in rows.values()])
        length = mean_std_ci([float(r["mean_length"]) for r in rows.values()])
        test = (
            {"diff": 0.0, "p": float("nan")}
            if name == "dqn"
            else paired_test(per_seed, name, "dqn", "returns")
        )
        diff = "–" if name == "dqn" else f"{test['diff']:+.3f}"
        p = "–" if name == "dqn" else f"{test['p']:.2g}"
        cells = f"{ret['mean']:.3f} ± {ret['std']:.3f} | {length['mean']:.2f} | {diff} | {p}"
        print(f"| `{name}` | {cells} |")
    print(json.dumps({"seeds": seeds}))


if __name__ == "__main__":
    main()
