"""Candidate mode vs full-catalogue actions: SB3 PPO and DQN with library defaults, 5 minutes each.

What it measures (issue 15, "coursework mode"): Stable-Baselines3 ``PPO("MlpPolicy")`` and
``DQN("MlpPolicy")`` with their library defaults, trained for "5 minutes" on the train split
of ``MovieRec-v0`` in the coursework task (``candidates={"k": K, "order":
"genre_affinity"}, bandit=True``, K = 10 by default), in plain candidate mode
(``candidates=K``: shuffled slots, whole-sequence episodes) and with full-catalogue
actions, over 3 seeds, evaluated with :func:`agents.evaluate_agent` on the test split (610
users, one step each; PROTOCOL.md ranking over the full catalogue, candidates first,
everything else tied last) and compared with ``random``, ``popular``, ``constant`` (and,
with candidates, ``first-slot``) in the same mode by paired Wilcoxon signed-rank tests
over test users (each user's reward averaged over seeds first,
``experiments.reporting.paired_test``).

"5 minutes" is a fixed number of env steps, not a timer: the machine is shared, so
wall-clock budgets would make runs incomparable. Before training, each (mode, agent) trains
for ``--calibrate-s`` seconds in the benchmark's own setting (two processes at once, one
torch thread each); its steps/s times 300 s, rounded, is its budget for every seed
(``calibration.json`` in the run directory, reused when a run resumes). The table states
the measured rates, budgets and the wall time each run actually took.

Usage::

    python benchmarks/bench_candidates.py                  # coursework + full, 3 seeds
    python benchmarks/bench_candidates.py --modes candidates,coursework,full
    python benchmarks/bench_candidates.py --quick          # smoke run (tiny budgets)
    python benchmarks/bench_candidates.py --steps 60000    # skip calibration

Writes ``docs/candidates.md`` (``--out``), a learning-curve plot beside it, and one JSON file
per (mode, agent, seed) under ``--run-dir`` (runs resume).
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

LEARNERS = ("sb3-ppo", "sb3-dqn")
BASELINES = ("random", "popular", "constant")
#: Candidate modes also get ``first-slot`` (slot 0 every time): what the slot order alone
#: earns. It is reported beside the learners, not one of the three bars they must beat.
FIRST = "first-slot"
#: ``coursework``: K candidates sorted by genre affinity, one-step bandit episodes (the
#: documented classroom task); ``candidates``: K shuffled candidates, whole-sequence
#: episodes; ``full``: full-catalogue actions.
MODES = ("coursework", "candidates", "full")
DEFAULT_MODES = ("coursework", "full")
BUDGET_S = 300.0
#: Validation checkpoints per training run (the learning curve).
CURVE_POINTS = 6


def env_kwargs(mode: str, k: int) -> dict[str, Any]:
    """``gym.make`` keyword arguments of a mode."""
    if mode == "coursework":
        from movierec_env.candidates import coursework_task

        return coursework_task(k)
    return {"candidates": k} if mode == "candidates" else {}


class FirstSlot:
    """Ranks the K candidates in their slot order (slot 0 first): the order's own value."""

    def action_scores(self, obs: Any, info: Any = None) -> np.ndarray:
        """``(B, K)`` scores ``0, -1, ..., 1 - K``: slot 0 first."""
        k = int(np.asarray(info["candidates"]).shape[-1])
        n = len(np.atleast_2d(np.asarray(info["candidates"])))
        return np.tile(-np.arange(k, dtype=np.float64), (n, 1))


def _evaluate_summary(res: dict[str, Any]) -> dict[str, Any]:
    pu = res["per_user"]
    out = {key: v for key, v in res.items() if key != "per_user" and not isinstance(v, dict)}
    out["per_user"] = {
        "rewards": np.asarray(pu["rewards"], dtype=np.float64).tolist(),
        "ranks": np.asarray(pu["ranks"], dtype=np.int64).tolist(),
        "user_ids": np.asarray(pu["user_ids"], dtype=np.int64).tolist(),
    }
    return out


def train_one(job: dict[str, Any]) -> dict[str, Any]:
    """Train one learner for ``job["steps"]`` env steps and evaluate it (run in a worker)."""
    import gymnasium as gym
    import torch

    import movierec_env  # noqa: F401  (registers MovieRec-v0)
    from agents import evaluate_agent
    from agents.registry import make_agent

    torch.set_num_threads(1)
    kw = env_kwargs(job["mode"], job["k"])
    env = gym.make("MovieRec-v0", **kw)
    val = gym.make("MovieRec-v0", split="val", **kw)
    test = gym.make("MovieRec-v0", split="test", **kw)
    steps = int(job["steps"])
    rec = CurveRecorder(lambda m: {"val_reward": evaluate_agent(m, val)["mean_reward"]}, steps)
    model = make_agent(job["agent"], env, seed=job["seed"], device="cpu")
    t0 = time.perf_counter()
    model.learn(steps, callback=rec.callback() if job.get("curve", True) else None)
    wall = time.perf_counter() - t0 - rec.eval_s
    res = evaluate_agent(model, test)
    out = _evaluate_summary(res)
    out.update(
        {
            "train_steps": int(model.num_timesteps),
            "train_wall_s": wall,
            "steps_per_s": model.num_timesteps / max(wall, 1e-9),
            "curve": rec.points,
            "final_val_reward": evaluate_agent(model, val)["mean_reward"],
        }
    )
    return out


def calibrate_one(job: dict[str, Any]) -> float:
    """Steps/s of one learner trained for about ``job["seconds"]`` (run in a worker)."""
    import gymnasium as gym
    import torch

    import movierec_env  # noqa: F401
    from agents.registry import make_agent

    torch.set_num_threads(1)
    env = gym.make("MovieRec-v0", **env_kwargs(job["mode"], job["k"]))
    model = make_agent(job["agent"], env, seed=0, device="cpu")
    return measure_rate(model, job["seconds"], reset_num_timesteps=False)


def measure_rate(model: Any, seconds: float, **learn_kwargs: Any) -> float:
    """Env steps per second of ``model.learn`` over about ``seconds``, after a warm-up."""
    model.learn(256)  # warm-up: first rollout / buffer allocation
    done, t0 = model.num_timesteps, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        model.learn(1_024, **learn_kwargs)
    return (model.num_timesteps - done) / (time.perf_counter() - t0)


def add_elapsed(run_dir: Path, t_start: float) -> dict[str, Any]:
    """Add this invocation's wall time to ``run_dir/elapsed.json`` (a resumed run adds up).

    Returns ``{"seconds": total, "invocations": count}``.
    """
    path = run_dir / "elapsed.json"
    before = json.loads(path.read_text()) if path.is_file() else {}
    elapsed = {
        "seconds": float(before.get("seconds", 0.0)) + time.perf_counter() - t_start,
        "invocations": int(before.get("invocations", 0)) + 1,
    }
    path.write_text(json.dumps(elapsed))
    return elapsed


class CurveRecorder:
    """A learning curve: ``evaluate(model)`` at evenly spaced steps, timed off the clock.

    Args:
        evaluate: Returns the point's values (e.g. ``{"val_reward": ...}``) for a model.
        steps: The training run's length (``CURVE_POINTS`` points over it).
    """

    def __init__(self, evaluate: Any, steps: int) -> None:
        self.evaluate = evaluate
        self.every = max(steps // (CURVE_POINTS - 1), 1)
        self.points: list[dict[str, float]] = []
        self.eval_s = 0.0

    def callback(self) -> Any:
        """The Stable-Baselines3 callback that records the points."""
        from stable_baselines3.common.callbacks import BaseCallback

        rec = self

        class Curve(BaseCallback):
            def __init__(self) -> None:
                super().__init__()
                self.next = 0

            def _on_step(self) -> bool:
                if self.num_timesteps >= self.next:
                    t = time.perf_counter()
                    values = rec.evaluate(self.model)
                    rec.eval_s += time.perf_counter() - t
                    rec.points.append({"steps": self.num_timesteps, **values})
                    self.next += rec.every
                return True

        return Curve()


def evaluate_baselines(mode: str, k: int, seeds: int) -> dict[str, dict[int, dict[str, Any]]]:
    """``random`` over ``seeds`` seeds, ``popular`` and ``constant`` (deterministic) once."""
    import gymnasium as gym

    import movierec_env  # noqa: F401
    from agents import evaluate_agent
    from agents.registry import make_agent

    test = gym.make("MovieRec-v0", split="test", **env_kwargs(mode, k))
    out: dict[str, dict[int, dict[str, Any]]] = {}
    for name in BASELINES:
        runs = range(seeds) if name == "random" else range(1)
        out[name] = {
            s: _evaluate_summary(evaluate_agent(make_agent(name, test, seed=s), test)) for s in runs
        }
    if mode != "full":
        out[FIRST] = {0: _evaluate_summary(evaluate_agent(FirstSlot(), test))}
    return out


# --------------------------------------------------------------------------- report
def _cell(values: list[float], digits: int = 4) -> str:
    from experiments.reporting import mean_std_ci

    m = mean_std_ci(values)
    if m["n"] > 1:
        return f"{m['mean']:.{digits}f} ± {m['std']:.{digits}f}"
    return f"{m['mean']:.{digits}f}"


def _ci(values: list[float]) -> str:
    from experiments.reporting import mean_std_ci

    m = mean_std_ci(values)
    if m["n"] < 2:
        return "–"
    return f"[{m['mean'] - m['ci95']:.4f}, {m['mean'] + m['ci95']:.4f}]"


def _p(per_seed: Any, a: str, b: str) -> tuple[float, float]:
    from experiments.reporting import paired_test

    t = paired_test(per_seed, a, b, "rewards")
    return t["diff"], t["p"]


def report(
    results: dict[str, dict[str, dict[int, dict[str, Any]]]],
    calibration: dict[str, Any],
    meta: dict[str, Any],
) -> tuple[str, dict[str, Any]]:
    """Markdown tables (one per mode) and a verdict per learner."""
    lines: list[str] = []
    verdicts: dict[str, Any] = {}
    titles = {
        "coursework": f"coursework: K = {meta['k']} candidates sorted by genre affinity, "
        "one-step bandit episodes",
        "candidates": f"candidate mode, K = {meta['k']} shuffled candidates, whole-sequence "
        "episodes",
        "full": "full catalogue",
    }
    for mode in MODES:
        per_seed = results.get(mode)
        if not per_seed:
            continue
        has_first = FIRST in per_seed
        lines += [
            f"### {titles[mode]}",
            "",
            "| agent | mean reward (± std over seeds) | 95% interval | HR@10 | NDCG@10 | "
            "candidate recall | Δ / p vs random | Δ / p vs popular | Δ / p vs constant | "
            + ("Δ / p vs first-slot | " if has_first else "")
            + "train steps | train wall (s) | beats all three |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|" + ("---|" if has_first else ""),
        ]
        for name in (*LEARNERS, *BASELINES, FIRST):
            seeds = per_seed.get(name)
            if not seeds:
                continue
            rows = [seeds[s] for s in sorted(seeds)]
            tests, beats = [], True
            for base in BASELINES:
                if name == base or base not in per_seed:
                    tests.append("–")
                    continue
                diff, p = _p(per_seed, name, base)
                tests.append(f"{diff:+.4f} / {p:.2g}")
                beats &= diff > 0 and p < 0.05
            if has_first:
                if name == FIRST:
                    tests.append("–")
                else:
                    diff, p = _p(per_seed, name, FIRST)
                    tests.append(f"{diff:+.4f} / {p:.2g}")
            recall = [r["candidate_recall"] for r in rows if "candidate_recall" in r]
            learner = name in LEARNERS
            verdict = ("**yes**" if beats else "no") if learner else "–"
            if learner:
                verdicts[f"{mode}/{name}"] = beats
            lines.append(
                f"| `{name}` | {_cell([r['mean_reward'] for r in rows])} | "
                f"{_ci([r['mean_reward'] for r in rows])} | "
                f"{_cell([r['HR@10'] for r in rows], 3)} | "
                f"{_cell([r['NDCG@10'] for r in rows], 3)} | "
                f"{_cell(recall, 3) if recall else '–'} | "
                + " | ".join(tests)
                + " | "
                + (f"{int(np.mean([r['train_steps'] for r in rows])):,}" if learner else "–")
                + " | "
                + (f"{np.mean([r['train_wall_s'] for r in rows]):.0f}" if learner else "–")
                + f" | {verdict} |"
            )
        lines.append("")
    lines += [
        "Calibration (steps/s of each learner, two processes at once, one torch thread; "
        f"budget = {BUDGET_S:.0f} s × rate):",
        "",
        "| mode | agent | measured steps/s | budget (env steps) |",
        "|---|---|---|---|",
    ]
    for key, c in sorted(calibration.items()):
        mode, agent = key.split("/")
        rate = c.get("rate")
        lines.append(
            f"| {mode} | `{agent}` | {'–' if rate is None else f'{rate:.0f}'} | {c['steps']:,} |"
        )
    return "\n".join(lines) + "\n", verdicts


def plot_curves(results: dict[str, Any], path: Path) -> None:
    """Validation reward against env steps, one line per (mode, learner, seed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    modes = [m for m in MODES if m in results]
    fig, axes = plt.subplots(1, len(modes), figsize=(5 * len(modes), 3.6), sharey=True)
    for ax, mode in zip(np.atleast_1d(axes), modes, strict=True):
        for name, color in zip(LEARNERS, ("tab:blue", "tab:orange"), strict=True):
            for s, r in sorted(results.get(mode, {}).get(name, {}).items()):
                c = r.get("curve") or []
                if c:
                    ax.plot(
                        [p["steps"] for p in c],
                        [p["val_reward"] for p in c],
                        color=color,
                        alpha=0.8,
                        label=name if s == 0 else None,
                    )
        styles = ((":", "gray"), ("--", "gray"), ("-.", "gray"), ("--", "tab:green"))
        for name, (style, color) in zip((*BASELINES, FIRST), styles, strict=True):
            seeds = results.get(mode, {}).get(f"val:{name}")
            if seeds:
                ax.axhline(seeds, color=color, linestyle=style, label=f"{name} (val)")
        ax.set_title(mode)
        ax.set_xlabel("env steps")
        ax.legend(fontsize=7)
    np.atleast_1d(axes)[0].set_ylabel("validation mean reward")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _val_baselines(mode: str, k: int) -> dict[str, float]:
    import gymnasium as gym

    import movierec_env  # noqa: F401
    from agents import evaluate_agent
    from agents.registry import make_agent

    val = gym.make("MovieRec-v0", split="val", **env_kwargs(mode, k))
    out = {
        f"val:{n}": evaluate_agent(make_agent(n, val, seed=0), val)["mean_reward"]
        for n in BASELINES
    }
    if mode != "full":
        out[f"val:{FIRST}"] = evaluate_agent(FirstSlot(), val)["mean_reward"]
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Calibrate, train (resumable), evaluate, and write the tables (see the module docstring)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--k", type=int, default=10, help="candidates per step (coursework: 10)")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--jobs", type=int, default=2, help="parallel training processes (<= 2)")
    p.add_argument("--modes", default=",".join(DEFAULT_MODES), help=f"comma-separated, of {MODES}")
    p.add_argument("--steps", type=int, default=None, help="fixed budget (skips calibration)")
    p.add_argument("--calibrate-s", type=float, default=20.0)
    p.add_argument("--run-dir", default="runs/bench_candidates")
    p.add_argument("--out", default="docs/candidates.md")
    p.add_argument("--quick", action="store_true", help="1 seed, 600 steps (a smoke run)")
    args = p.parse_args(argv)
    if args.quick:
        args.seeds, args.steps = 1, args.steps or 600
    modes = [m for m in args.modes.split(",") if m]
    bad = sorted(set(modes) - set(MODES))
    if bad:
        p.error(f"--modes: unknown mode(s) {bad}; choose from {MODES}")
    run_dir = Path(args.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()

    # 1. Budgets: measured steps/s x 300 s (or --steps), fixed for every seed.
    cal_path = run_dir / "calibration.json"
    calibration: dict[str, Any] = json.loads(cal_path.read_text()) if cal_path.is_file() else {}
    todo = [
        {"mode": m, "agent": a, "k": args.k, "seconds": args.calibrate_s}
        for m in modes
        for a in LEARNERS
        if f"{m}/{a}" not in calibration
    ]
    if args.steps is not None:
        for m in modes:
            for a in LEARNERS:
                calibration[f"{m}/{a}"] = {"rate": None, "steps": int(args.steps)}
    elif todo:
        with ProcessPoolExecutor(max_workers=args.jobs) as pool:
            rates = list(pool.map(calibrate_one, todo))
        for job, rate in zip(todo, rates, strict=True):
            budget = int(round(rate * BUDGET_S, -3))
            calibration[f"{job['mode']}/{job['agent']}"] = {"rate": rate, "steps": budget}
            print(f"calibrated {job['mode']}/{job['agent']}: {rate:.0f} steps/s -> {budget:,}")
        cal_path.write_text(json.dumps(calibration, indent=1))

    # 2. Learners: one JSON per (mode, agent, seed); existing files are reused.
    jobs = []
    for m in modes:
        for a in LEARNERS:
            for s in range(args.seeds):
                path = run_dir / f"{m}__{a}__{s}__{calibration[f'{m}/{a}']['steps']}.json"
                if not path.is_file():
                    steps = calibration[f"{m}/{a}"]["steps"]
                    jobs.append({"mode": m, "agent": a, "seed": s, "k": args.k, "steps": steps})
    if jobs:
        with ProcessPoolExecutor(max_workers=args.jobs) as pool:
            for job, res in zip(jobs, pool.map(train_one, jobs), strict=True):
                name = f"{job['mode']}__{job['agent']}__{job['seed']}__{job['steps']}.json"
                path = run_dir / name
                path.write_text(json.dumps(res))
                print(
                    f"{job['mode']}/{job['agent']} seed {job['seed']}: reward "
                    f"{res['mean_reward']:.4f}, {res['train_steps']:,} steps in "
                    f"{res['train_wall_s']:.0f} s",
                    flush=True,
                )

    # 3. Baselines and the report.
    results: dict[str, Any] = {}
    for m in modes:
        results[m] = evaluate_baselines(m, args.k, args.seeds)
        for a in LEARNERS:
            steps = calibration[f"{m}/{a}"]["steps"]
            results[m][a] = {
                s: json.loads((run_dir / f"{m}__{a}__{s}__{steps}.json").read_text())
                for s in range(args.seeds)
            }
    # Wall time over every invocation of this run directory (a resumed run adds to it).
    elapsed = add_elapsed(run_dir, t_start)
    table, verdicts = report(results, calibration, {"k": args.k})
    curves = {m: {**results[m], **_val_baselines(m, args.k)} for m in modes}
    out = Path(args.out)
    plot = out.with_name(out.stem + "_curves.png")
    plot_curves(curves, plot)
    import gymnasium as gym
    import numpy as np_
    import stable_baselines3
    import torch

    meta = (
        f"Measured {time.strftime('%Y-%m-%d')} on {platform.machine()}, {os.cpu_count()} CPUs "
        f"shared with other jobs (Python {platform.python_version()}, torch {torch.__version__}, "
        f"stable-baselines3 {stable_baselines3.__version__}, gymnasium {gym.__version__}, "
        f"numpy {np_.__version__}); {args.seeds} seeds; whole benchmark "
        f"{elapsed['seconds'] / 60:.0f} min over {elapsed['invocations']} invocation(s) of "
        "the run directory. Reproduce: "
        f"`python benchmarks/bench_candidates.py --k {args.k} --seeds {args.seeds} "
        f"--modes {','.join(modes)}`."
    )
    from docblock import write_marked_block

    write_marked_block(out, START, END, f"{meta}\n\n{table}\n![learning curves]({plot.name})")
    (run_dir / "verdicts.json").write_text(json.dumps(verdicts, indent=1))
    print(table)
    print(f"wrote {out} and {plot}")
    return {"results": results, "verdicts": verdicts, "calibration": calibration}


START, END = "<!-- bench_candidates:start -->", "<!-- bench_candidates:end -->"

if __name__ == "__main__":
    main()
