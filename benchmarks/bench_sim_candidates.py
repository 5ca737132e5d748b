"""Candidate mode on ``MovieRecSim-v0``: SB3 PPO and DQN with library defaults, 5 minutes each.

What it measures (issue 15, candidate actions "in both environments"): Stable-Baselines3
``PPO("MlpPolicy")`` and ``DQN("MlpPolicy")`` with their library defaults, and this
package's ``linucb`` (a one-step learner, on the native vector env of 64 users that
``make_agent`` builds), each trained for "5 minutes" in the train world on the training
users of ``MovieRecSim-v0`` with ``candidates={"k": K, "order": ORDER}`` (K = 10 and the
genre-affinity order by default: the coursework settings), over 3 seeds. They are judged
by :func:`agents.evaluate_episodes` in the **eval world** on the **held-out users** (one
episode each, the same seeds for every agent) against ``random``, ``popular``,
``constant`` and ``first-slot`` choosing among the same candidates, by paired Wilcoxon
signed-rank tests over users on the episode return (``experiments.reporting.paired_test``).
``encoder-greedy``, ``markov`` and the ``oracle-greedy`` ORACLE (the one-step optimum among
the K under the true eval world: it reads the simulator) are reported for reference.

"5 minutes" is a fixed number of env steps: each learner trains for ``--calibrate-s``
seconds first (two processes at once, one torch thread each), and its steps/s times 300 s,
rounded, is its budget for every seed (``calibration.json`` in the run directory).

Usage::

    python benchmarks/bench_sim_candidates.py                 # K = 10, genre order, 3 seeds
    python benchmarks/bench_sim_candidates.py --order encoder_score
    python benchmarks/bench_sim_candidates.py --quick         # smoke run (tiny budgets)

Writes its setting's block of ``docs/sim_candidates.md`` (``--out``; one block per K and
order), a learning-curve plot beside it, and one JSON per (agent, seed) under ``--run-dir``
(runs resume).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from bench_candidates import CurveRecorder, FirstSlot, _cell, _ci, add_elapsed, measure_rate

#: SB3 with library defaults, and this package's LinUCB (a one-step learner on the same
#: candidates: what a bandit that never plans earns in the same 5 minutes).
LEARNERS = ("sb3-ppo", "sb3-dqn", "linucb")
#: The bars the learners must beat (paired tests).
BASELINES = ("random", "popular", "constant", "first-slot")
#: Reported for reference: what the observation alone allows, and an ORACLE.
REFERENCES = ("encoder-greedy", "markov", "oracle-greedy")
BUDGET_S = 300.0
#: Training users whose episodes (train world) make the learning curve.
CURVE_USERS = 150


def env_kwargs(k: int, order: str, world: str, split: str) -> dict[str, Any]:
    """``gym.make("MovieRecSim-v0", ...)`` keyword arguments."""
    return {"candidates": {"k": k, "order": order}, "world": world, "split": split}


def _summary(res: dict[str, Any]) -> dict[str, Any]:
    pu = res["per_user"]
    out = {key: v for key, v in res.items() if key != "per_user"}
    out["per_user"] = {
        "returns": np.asarray(pu["returns"], dtype=np.float64).tolist(),
        "user_ids": np.asarray(pu["user_ids"], dtype=np.int64).tolist(),
    }
    return out


def _make(job: dict[str, Any], world: str, split: str) -> Any:
    import gymnasium as gym

    import movierec_env  # noqa: F401  (registers MovieRecSim-v0)

    return gym.make("MovieRecSim-v0", **env_kwargs(job["k"], job["order"], world, split))


def train_one(job: dict[str, Any]) -> dict[str, Any]:
    """Train one learner for ``job["steps"]`` env steps and evaluate it (run in a worker)."""
    import torch

    from agents.registry import make_agent
    from agents.sim_evaluation import evaluate_episodes

    torch.set_num_threads(1)
    env = _make(job, "train", "train")
    test = _make(job, "eval", "test")
    steps = int(job["steps"])

    def train_return(model: Any) -> dict[str, float]:
        r = evaluate_episodes(model, env, max_users=CURVE_USERS, seed=10_000)
        return {"train_return": r["mean_return"]}

    rec = CurveRecorder(train_return, steps)
    model = make_agent(job["agent"], env, seed=job["seed"], **_sb3_kwargs(job["agent"]))
    t0 = time.perf_counter()
    if job["agent"].startswith("sb3"):
        model.learn(steps, callback=rec.callback() if job.get("curve", True) else None)
    else:  # LinUCB takes no callback: its curve is empty
        model.learn(steps)
    wall = time.perf_counter() - t0 - rec.eval_s
    out = _summary(evaluate_episodes(model, test, seed=0))
    out.update(
        {
            "train_steps": int(model.num_timesteps),
            "train_wall_s": wall,
            "steps_per_s": model.num_timesteps / max(wall, 1e-9),
            "curve": rec.points,
        }
    )
    return out


def calibrate_one(job: dict[str, Any]) -> float:
    """Steps/s of one learner trained for about ``job["seconds"]`` (run in a worker)."""
    import torch

    from agents.registry import make_agent

    torch.set_num_threads(1)
    agent = job["agent"]
    model = make_agent(agent, _make(job, "train", "train"), seed=0, **_sb3_kwargs(agent))
    more = {"reset_num_timesteps": False} if agent.startswith("sb3") else {}
    return measure_rate(model, job["seconds"], **more)


def _sb3_kwargs(agent: str) -> dict[str, Any]:
    return {"device": "cpu"} if agent.startswith("sb3") else {}


def evaluate_fixed(k: int, order: str, seeds: int) -> dict[str, dict[int, dict[str, Any]]]:
    """Baselines and references on the eval world's held-out users (``random``: every seed)."""
    from agents.registry import make_agent
    from agents.sim_evaluation import evaluate_episodes

    job = {"k": k, "order": order}
    test = _make(job, "eval", "test")
    out: dict[str, dict[int, dict[str, Any]]] = {}
    for name in (*BASELINES, *REFERENCES):
        runs = range(seeds) if name == "random" else range(1)
        out[name] = {}
        for s in runs:
            agent = FirstSlot() if name == "first-slot" else make_agent(name, test, seed=s)
            out[name][s] = _summary(evaluate_episodes(agent, test, seed=0))
    return out


def _p(per_seed: Any, a: str, b: str) -> tuple[float, float]:
    from experiments.reporting import paired_test

    t = paired_test(per_seed, a, b, "returns")
    return t["diff"], t["p"]


def report(
    results: dict[str, dict[int, dict[str, Any]]], calibration: dict[str, Any]
) -> tuple[str, dict[str, bool]]:
    """The Markdown table and a verdict per learner (beats random, popular and constant)."""
    head = (
        "| agent | mean return (± std over seeds) | 95% interval | episode length | take-rate "
        "| mean rating | "
        + " | ".join(f"Δ / p vs {b}" for b in BASELINES)
        + " | train steps | train wall (s) | beats random, popular, constant |"
    )
    lines = [head, "|" + "---|" * (9 + len(BASELINES))]
    verdicts: dict[str, bool] = {}
    for name in (*LEARNERS, *BASELINES, *REFERENCES):
        seeds = results.get(name)
        if not seeds:
            continue
        rows = [seeds[s] for s in sorted(seeds)]
        tests, beats = [], True
        for base in BASELINES:
            if name == base or base not in results:
                tests.append("–")
                continue
            diff, p = _p(results, name, base)
            tests.append(f"{diff:+.3f} / {p:.2g}")
            if base != "first-slot":
                beats &= diff > 0 and p < 0.05
        learner = name in LEARNERS
        if learner:
            verdicts[name] = beats
        oracle = name.startswith("oracle")
        oracle = name.startswith("oracle")
        label = f"`{name}`" + (" (ORACLE: reads the true world)" if oracle else "")

        def col(key: str, digits: int = 3, rows: list[dict[str, Any]] = rows) -> str:
            return _cell([r[key] for r in rows], digits)

        lines.append(
            f"| {label} | {col('mean_return')} | {_ci([r['mean_return'] for r in rows])} | "
            f"{col('mean_length', 2)} | {col('take_rate')} | {col('mean_rating', 2)} | "
            + " | ".join(tests)
            + " | "
            + (f"{int(np.mean([r['train_steps'] for r in rows])):,}" if learner else "–")
            + " | "
            + (f"{np.mean([r['train_wall_s'] for r in rows]):.0f}" if learner else "–")
            + " | "
            + (("**yes**" if beats else "no") if learner else "–")
            + " |"
        )
    lines += [
        "",
        "Calibration (steps/s, two processes at once, one torch thread; "
        f"budget = {BUDGET_S:.0f} s × rate):",
        "",
        "| agent | measured steps/s | budget (env steps) |",
        "|---|---|---|",
    ]
    for agent, c in sorted(calibration.items()):
        rate = c.get("rate")
        lines.append(f"| `{agent}` | {'–' if rate is None else f'{rate:.0f}'} | {c['steps']:,} |")
    return "\n".join(lines) + "\n", verdicts


def plot_curves(results: dict[str, Any], path: Path) -> None:
    """Train-world return of the first training users against env steps, per learner and seed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6))
    for name, color in zip(LEARNERS, ("tab:blue", "tab:orange", "tab:green"), strict=True):
        for s, r in sorted(results.get(name, {}).items()):
            c = r.get("curve") or []
            if c:
                ax.plot(
                    [p["steps"] for p in c],
                    [p["train_return"] for p in c],
                    color=color,
                    alpha=0.8,
                    label=name if s == 0 else None,
                )
    ax.set_xlabel("env steps")
    ax.set_ylabel(f"mean return, first {CURVE_USERS} training users (train world)")
    ax.set_title("MovieRecSim-v0, candidate mode")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Calibrate, train (resumable), evaluate, and write the table (see the module docstring)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--k", type=int, default=10, help="candidates per step")
    p.add_argument("--order", default="genre_affinity", help="slot order (CandidateConfig)")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--jobs", type=int, default=2, help="parallel training processes (<= 2)")
    p.add_argument("--steps", type=int, default=None, help="fixed budget (skips calibration)")
    p.add_argument("--calibrate-s", type=float, default=20.0)
    p.add_argument("--run-dir", default=None, help="default: runs/bench_sim_candidates_kK_ORDER")
    p.add_argument("--out", default="docs/sim_candidates.md")
    p.add_argument("--quick", action="store_true", help="1 seed, 600 steps (a smoke run)")
    args = p.parse_args(argv)
    if args.quick:
        args.seeds, args.steps = 1, args.steps or 600
    run_dir = Path(args.run_dir or f"runs/bench_sim_candidates_k{args.k}_{args.order}")
    run_dir.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    base = {"k": args.k, "order": args.order}

    cal_path = run_dir / "calibration.json"
    calibration: dict[str, Any] = json.loads(cal_path.read_text()) if cal_path.is_file() else {}
    if args.steps is not None:
        calibration = {a: {"rate": None, "steps": int(args.steps)} for a in LEARNERS}
    else:
        todo = [{**base, "agent": a, "seconds": args.calibrate_s} for a in LEARNERS]
        todo = [j for j in todo if j["agent"] not in calibration]
        if todo:
            with ProcessPoolExecutor(max_workers=args.jobs) as pool:
                rates = list(pool.map(calibrate_one, todo))
            for job, rate in zip(todo, rates, strict=True):
                budget = int(round(rate * BUDGET_S, -3))
                calibration[job["agent"]] = {"rate": rate, "steps": budget}
                print(f"calibrated {job['agent']}: {rate:.0f} steps/s -> {budget:,}", flush=True)
            cal_path.write_text(json.dumps(calibration, indent=1))

    def path_of(agent: str, seed: int) -> Path:
        return run_dir / f"{agent}__{seed}__{calibration[agent]['steps']}.json"

    jobs = [
        {**base, "agent": a, "seed": s, "steps": calibration[a]["steps"]}
        for a in LEARNERS
        for s in range(args.seeds)
        if not path_of(a, s).is_file()
    ]
    if jobs:
        with ProcessPoolExecutor(max_workers=args.jobs) as pool:
            for job, res in zip(jobs, pool.map(train_one, jobs), strict=True):
                tmp = path_of(job["agent"], job["seed"]).with_suffix(".tmp")
                tmp.write_text(json.dumps(res))
                tmp.replace(path_of(job["agent"], job["seed"]))
                print(
                    f"{job['agent']} seed {job['seed']}: return {res['mean_return']:.3f}, "
                    f"{res['train_steps']:,} steps in {res['train_wall_s']:.0f} s",
                    flush=True,
                )

    results: dict[str, Any] = evaluate_fixed(args.k, args.order, args.seeds)
    for a in LEARNERS:
        results[a] = {s: json.loads(path_of(a, s).read_text()) for s in range(args.seeds)}
    elapsed = add_elapsed(run_dir, t_start)
    table, verdicts = report(results, calibration)
    out = Path(args.out)
    plot = out.with_name(f"{out.stem}_k{args.k}_{args.order}_curves.png")
    plot_curves(results, plot)
    import gymnasium as gym
    import stable_baselines3
    import torch

    meta = (
        f"Measured {time.strftime('%Y-%m-%d')} on {platform.machine()}, {os.cpu_count()} CPUs "
        f"(Python {platform.python_version()}, torch {torch.__version__}, stable-baselines3 "
        f"{stable_baselines3.__version__}, gymnasium {gym.__version__}); "
        f'`candidates={{"k": {args.k}, "order": "{args.order}"}}`; trained in the train '
        f"world on training users, judged in the eval world on the held-out users; "
        f"{args.seeds} seeds; whole benchmark {elapsed['seconds'] / 60:.0f} min over "
        f"{elapsed['invocations']} invocation(s). Reproduce: `python "
        f"benchmarks/bench_sim_candidates.py --k {args.k} --order {args.order} "
        f"--seeds {args.seeds}`."
    )
    from docblock import write_marked_block

    start, end = markers(args.k, args.order)
    write_marked_block(out, start, end, f"{meta}\n\n{table}\n![learning curves]({plot.name})")
    (run_dir / "verdicts.json").write_text(json.dumps(verdicts, indent=1))
    print(table)
    print(f"wrote {out} and {plot}")
    return {"results": results, "verdicts": verdicts, "calibration": calibration}


def markers(k: int, order: str) -> tuple[str, str]:
    """The page's marker comments of one setting (each setting keeps its own block)."""
    tag = f"bench_sim_candidates:k{k}:{order}"
    return f"<!-- {tag}:start -->", f"<!-- {tag}:end -->"


if __name__ == "__main__":
    main()
