"""Benchmark the DQN on MovieRec-v0: throughput vs SB3, quality vs the baselines, ablations.

Everything is measured in one run of this script, on one machine, with the same env:

1. **Torch threads**: the DQN's training throughput with 1 and 2 torch threads.
2. **Throughput**: env steps per second of this DQN (native vector env) and of
   Stable-Baselines3's DQN (its ``DummyVecEnv`` over one env), both with one hidden layer of
   ``--width`` units and their own default settings otherwise, on the training split.
3. **Quality** (test split, :func:`agents.evaluate_agent`, one step per user): the DQN
   trained for ``--timesteps`` steps over ``--seeds`` seeds (mean ± std, with training
   time), the baselines (``random`` over the same seeds), and SB3's DQN and PPO with
   ``--sb3-timesteps`` steps.
4. **gamma** (validation split): the DQN with gamma 0, 0.5, 0.9.
5. **Hit weight**: mean reward and HR@10 of the DQN trained and tested with hit weights
   0.4, 0.7, 1.0 (the genre and rating weights scaled to share the rest equally), plotted
   into ``docs/dqn_hit_weight.png``.

Usage::

    python benchmarks/bench_dqn.py              # full run (about 30-40 min on 2 cores)
    python benchmarks/bench_dqn.py --quick      # 1 seed, shorter runs

Results go between ``<!-- bench_dqn:start -->`` and ``<!-- bench_dqn:end -->`` in
``docs/dqn.md`` (or ``--out``); raw numbers into ``docs/dqn_results.json``.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

START, END = "<!-- bench_dqn:start -->", "<!-- bench_dqn:end -->"
BASELINES = ("random", "popular", "markov", "genre", "encoder-greedy", "reward-greedy")
HEURISTICS = ("random", "popular", "markov", "genre", "encoder-greedy")
#: ``dataset`` / ``encoders`` of every env (set from --data / --encoders).
ENV_KW: dict[str, Any] = {}
#: Q-heads compared on the validation split (policy_kwargs; the default first).
HEADS: dict[str, dict[str, Any]] = {
    "encoder head + residual (default)": {},
    "encoder head, no residual": {"residual": False},
    "genre head, no encoder terms": {
        "encoder_head": False,
        "genre_features": True,
        "embed_dim": 0,
        "freeze_items": True,
    },
}
METRICS = ("mean_reward", "reward_hit", "reward_genre", "reward_rating", "HR@10", "NDCG@10")


def _env(split: str, reward: dict[str, float] | None = None, num_envs: int | None = None) -> Any:
    import gymnasium as gym

    import movierec_env  # noqa: F401

    kw: dict[str, Any] = {"split": split, **ENV_KW}
    if reward:
        kw["reward"] = reward
    if num_envs is None:
        return gym.make("MovieRec-v0", **kw)
    return gym.make_vec(
        "MovieRec-v0", num_envs=num_envs, vectorization_mode="vector_entry_point", **kw
    )


def _dqn(
    seed: int, num_envs: int, width: int, reward: dict[str, float] | None = None, **kw: Any
) -> Any:
    from agents.dqn import DQN

    policy_kwargs = {"net_arch": [width], **kw.pop("policy_kwargs", {})}
    return DQN(
        "MlpPolicy", _env("train", reward, num_envs), seed=seed, policy_kwargs=policy_kwargs, **kw
    )


def _throughput(model: Any, warmup: int, steps: int) -> float:
    model.learn(warmup)
    t0 = time.perf_counter()
    model.learn(steps, reset_num_timesteps=False)
    return steps / (time.perf_counter() - t0)


def _evaluate(model: Any, split: str = "test", reward: dict[str, float] | None = None) -> dict:
    from agents.evaluation import evaluate_agent

    res = evaluate_agent(model, _env(split, reward), split=split)
    return {k: float(res[k]) for k in METRICS}


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run every measurement; returns the raw results."""
    import torch
    from stable_baselines3 import DQN as SB3DQN
    from stable_baselines3 import PPO

    from agents.registry import make_agent

    out: dict[str, Any] = {
        "meta": {
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
            "torch": torch.__version__,
            "args": vars(args),
        }
    }
    from agents.dqn import DQN

    out["meta"]["gradient_steps"] = int(
        inspect.signature(DQN.__init__).parameters["gradient_steps"].default
    )
    probe = _env("train")
    out["meta"]["obs_dim"] = int(probe.observation_space.shape[0])
    out["meta"]["n_actions"] = int(probe.action_space.n)

    # 1. threads
    threads: dict[str, float] = {}
    for n in (1, 2):
        torch.set_num_threads(n)
        m = _dqn(0, args.num_envs, args.width)
        threads[str(n)] = _throughput(m, 3_000, args.speed_steps)
        print(f"threads={n}: {threads[str(n)]:.0f} steps/s", flush=True)
    out["threads"] = threads
    torch.set_num_threads(1)

    # 2. throughput vs SB3 on the same env and width
    ours = _throughput(_dqn(0, args.num_envs, args.width), 3_000, args.speed_steps)
    sb3 = SB3DQN(
        "MlpPolicy",
        _env("train"),
        seed=0,
        learning_starts=1_000,
        policy_kwargs={"net_arch": [args.width]},
    )
    theirs = _throughput(sb3, 1_500, args.sb3_speed_steps)
    out["throughput"] = {"dqn": ours, "sb3-dqn": theirs, "ratio": ours / theirs}
    print(
        f"throughput: dqn {ours:.0f}, sb3 {theirs:.0f} steps/s ({ours / theirs:.1f}x)", flush=True
    )

    # 3. quality on the test split
    quality: dict[str, list[dict[str, float]]] = {}
    train_s: list[float] = []
    for seed in range(args.seeds):
        m = _dqn(seed, args.num_envs, args.width)
        t0 = time.perf_counter()
        m.learn(args.timesteps)
        train_s.append(time.perf_counter() - t0)
        quality.setdefault("dqn", []).append(_evaluate(m))
        print(f"dqn seed {seed}: {quality['dqn'][-1]} in {train_s[-1]:.0f}s", flush=True)
    out["train_seconds"] = train_s
    for name in BASELINES:
        runs = range(args.seeds) if name == "random" else range(1)
        for seed in runs:
            test_env = _env("test")
            quality.setdefault(name, []).append(_evaluate(make_agent(name, test_env, seed=seed)))
    for name, cls in (("sb3-dqn", SB3DQN), ("sb3-ppo", PPO)):
        m = cls("MlpPolicy", _env("train"), seed=0, policy_kwargs={"net_arch": [args.width]})
        t0 = time.perf_counter()
        m.learn(args.sb3_timesteps)
        out[f"{name}_seconds"] = time.perf_counter() - t0
        quality[name] = [_evaluate(m)]
        print(f"{name}: {quality[name][0]}", flush=True)
    out["quality"] = quality

    # 3b. heads (validation split): what the default encoder head adds
    out["heads"] = {}
    for head, pk in HEADS.items():
        m = _dqn(0, args.num_envs, args.width, policy_kwargs=pk).learn(args.ablation_timesteps)
        out["heads"][head] = _evaluate(m, "val")
        out["heads"][head]["enc_scales"] = m.q_net.enc_scales.detach().tolist()
        print(f"head {head}: {out['heads'][head]}", flush=True)
    for name in ("genre", "reward-greedy"):
        out["heads"][name] = _evaluate(make_agent(name, _env("val")), "val")

    # 4. gamma on the validation split
    out["gamma"] = {}
    for gamma in (0.0, 0.5, 0.9):
        m = _dqn(0, args.num_envs, args.width, gamma=gamma).learn(args.ablation_timesteps)
        out["gamma"][str(gamma)] = _evaluate(m, "val")
        print(f"gamma {gamma}: {out['gamma'][str(gamma)]}", flush=True)

    # 5. hit weight sweep
    out["hit_weight"] = {}
    for w in (0.4, 0.7, 1.0):
        reward = {"w_hit": w, "w_genre": (1 - w) / 2, "w_rating": (1 - w) / 2}
        m = _dqn(0, args.num_envs, args.width, reward=reward).learn(args.ablation_timesteps)
        rg = make_agent("reward-greedy", _env("test", reward))
        out["hit_weight"][str(w)] = {
            "dqn": _evaluate(m, "test", reward),
            "reward-greedy": _evaluate(rg, "test", reward),
        }
        print(f"w_hit {w}: {out['hit_weight'][str(w)]}", flush=True)
    return out


def _ms(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.4f}"
    return f"{np.mean(values):.4f} ± {np.std(values):.4f}"


def report(res: dict[str, Any], command: str) -> str:
    """Markdown tables of the results."""
    q = res["quality"]
    rg = float(np.mean([r["mean_reward"] for r in q["reward-greedy"]]))
    lines = [
        f"Measured by `{command}` on {res['meta']['machine']}, torch {res['meta']['torch']}, "
        f"{res['meta']['obs_dim']}-d observations, {res['meta']['n_actions']} actions "
        f"(ml-latest-small, shipped encoders). {res['meta'].get('note', '')}",
        "",
        "**Throughput** (env steps/s while training, same env, one hidden layer of "
        f"{res['meta']['args']['width']} units, 1 torch thread):",
        "",
        "| agent | env steps/s |",
        "|---|---|",
        f"| dqn ({res['meta']['args']['num_envs']} envs, batch 256, "
        f"{res['meta'].get('gradient_steps', 4)} updates per vector step) "
        f"| {res['throughput']['dqn']:.0f} |",
        f"| sb3-dqn (defaults: 1 env, batch 32, 1 update per 4 steps) "
        f"| {res['throughput']['sb3-dqn']:.0f} |",
        f"| **ratio** | **{res['throughput']['ratio']:.1f}x** |",
        "",
        "**Torch threads** (dqn, env steps/s): "
        + ", ".join(f"{k} thread(s): {v:.0f}" for k, v in res["threads"].items()),
        "",
        f"**Test split** (one step per user; dqn over {len(q['dqn'])} seed(s), "
        f"{res['meta']['args']['timesteps']:,} steps, training "
        f"{np.mean(res['train_seconds']):.0f} s per seed):",
        "",
        "| agent | reward | / reward-greedy | hit term | genre term | rating term | HR@10 "
        "| NDCG@10 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    order = ["dqn", *BASELINES, "sb3-dqn", "sb3-ppo"]
    for name in order:
        runs = q[name]
        rew = [r["mean_reward"] for r in runs]
        cells = [_ms([r[m] for r in runs]) for m in METRICS]
        lines.append(
            f"| {name} | {cells[0]} | {np.mean(rew) / rg:.3f} | {cells[1]} | {cells[2]} | "
            f"{cells[3]} | {cells[4]} | {cells[5]} |"
        )
    dqn = float(np.mean([r["mean_reward"] for r in q["dqn"]]))
    best_h = max(HEURISTICS, key=lambda n: np.mean([r["mean_reward"] for r in q[n]]))
    best_v = float(np.mean([r["mean_reward"] for r in q[best_h]]))
    lines += [
        "",
        f"DQN / reward-greedy = {dqn / rg:.3f} (target >= 0.95); best heuristic: {best_h} "
        f"({best_v:.4f}); the DQN {'beats' if dqn > best_v else 'does NOT beat'} it. "
        f"SB3 agents: {res['meta']['args']['sb3_timesteps']:,} steps, `MlpPolicy` "
        f"net_arch=[{res['meta']['args']['width']}], library defaults otherwise, no masking "
        "while training (evaluation masks seen movies for every agent).",
        "",
        "**Q-heads** (validation split, seed 0, "
        f"{res['meta']['args']['ablation_timesteps']:,} steps; alpha, beta: the learned "
        "weights of the encoder terms):",
        "",
        "| head | reward | genre term | HR@10 | alpha | beta |",
        "|---|---|---|---|---|---|",
    ]
    for h, r in res.get("heads", {}).items():
        a, b = (f"{x:.3f}" for x in r["enc_scales"]) if "enc_scales" in r else ("", "")
        lines.append(
            f"| {h} | {r['mean_reward']:.4f} | {r['reward_genre']:.4f} | {r['HR@10']:.4f} "
            f"| {a} | {b} |"
        )
    lines += [
        "",
        "**gamma** (validation split, seed 0, "
        f"{res['meta']['args']['ablation_timesteps']:,} steps):",
        "",
        "| gamma | reward | HR@10 |",
        "|---|---|---|",
    ]
    for g, r in res["gamma"].items():
        lines.append(f"| {g} | {r['mean_reward']:.4f} | {r['HR@10']:.4f} |")
    lines += [
        "",
        "**Hit weight** (test split; genre and rating weights share the rest equally):",
        "",
        "| w_hit | dqn reward | dqn HR@10 | reward-greedy reward | reward-greedy HR@10 |",
        "|---|---|---|---|---|",
    ]
    for w, r in res["hit_weight"].items():
        d, g = r["dqn"], r["reward-greedy"]
        lines.append(
            f"| {w} | {d['mean_reward']:.4f} | {d['HR@10']:.4f} | {g['mean_reward']:.4f} | "
            f"{g['HR@10']:.4f} |"
        )
    lines += ["", "![DQN reward vs HR@10 by hit weight](dqn_hit_weight.png)"]
    return "\n".join(lines)


def plot(res: dict[str, Any], path: Path) -> None:
    """Mean reward against HR@10 of the DQN (and reward-greedy) for each hit weight."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4))
    for agent, marker in (("dqn", "o"), ("reward-greedy", "s")):
        xs = [r[agent]["HR@10"] for r in res["hit_weight"].values()]
        ys = [r[agent]["mean_reward"] for r in res["hit_weight"].values()]
        ax.plot(xs, ys, marker=marker, label=agent)
        for w, x, y in zip(res["hit_weight"], xs, ys, strict=True):
            ax.annotate(f"w_hit={w}", (x, y), textcoords="offset points", xytext=(4, 4))
    ax.set_xlabel("HR@10 (test)")
    ax.set_ylabel("mean reward (test)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def write(out: Path, text: str) -> None:
    """Replace the marked block of ``out`` with ``text``."""
    doc = out.read_text() if out.exists() else f"# DQN\n\n{START}\n{END}\n"
    if START not in doc:
        doc += f"\n{START}\n{END}\n"
    head, rest = doc.split(START, 1)
    _, tail = rest.split(END, 1)
    out.write_text(f"{head}{START}\n{text}\n{END}{tail}")


def main() -> None:
    """Command line entry point."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="1 seed, shorter runs")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--timesteps", type=int, default=200_000)
    p.add_argument("--ablation-timesteps", type=int, default=100_000)
    p.add_argument("--sb3-timesteps", type=int, default=50_000)
    p.add_argument("--speed-steps", type=int, default=30_000)
    p.add_argument("--sb3-speed-steps", type=int, default=3_000)
    p.add_argument("--num-envs", type=int, default=64)
    p.add_argument("--width", type=int, default=256)
    p.add_argument("--data", default=None, help="MovieLens folder (default: embedded)")
    p.add_argument("--encoders", default=None, help="encoder checkpoint (default: shipped)")
    p.add_argument("--note", default="", help="free text added to the report (e.g. load)")
    p.add_argument("--out", type=Path, default=Path("docs/dqn.md"))
    args = p.parse_args()
    ENV_KW.update(dataset=args.data, encoders=args.encoders)
    command = " ".join(["python benchmarks/bench_dqn.py", *sys.argv[1:]])
    if args.quick:
        args.seeds, args.timesteps, args.ablation_timesteps = 1, 100_000, 50_000
        args.sb3_timesteps, args.speed_steps = 10_000, 15_000
    res = run(args)
    res["meta"]["note"] = args.note
    args.out.parent.mkdir(parents=True, exist_ok=True)
    (args.out.parent / "dqn_results.json").write_text(json.dumps(res, indent=1, default=str))
    plot(res, args.out.parent / "dqn_hit_weight.png")
    write(args.out, report(res, command))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
