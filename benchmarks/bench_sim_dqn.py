"""Choose the DQN's encoder-head reading (or its gamma) on MovieRecSim-v0, on validation only.

Trains the registry's DQN (``make_agent("dqn", ...)``: gamma ``SIM_GAMMA``) in the train
world on the training users once per ``encoder_prob`` value, and judges each by episodes of
*training* users in the train world, seeded apart from training (the test users and the
eval world are never touched: they are for the published benchmark alone). The
``encoder-greedy`` and ``linucb`` rows are references judged the same way.

``--transfer`` judges across worlds instead, as the published benchmark does, but inside
the training users: agents train in the validation world ``val_a`` on its users and are
judged on the users of ``val_b`` in ``val_b`` (two worlds fitted on disjoint halves of the
train world's users; fitted once on first use and cached).

Usage::

    python benchmarks/bench_sim_dqn.py                       # 30k steps, seed 0
    python benchmarks/bench_sim_dqn.py --timesteps 50000 --seed 1 --users 300
    python benchmarks/bench_sim_dqn.py --gammas 0,0.5,0.7,0.9   # the discount instead
    python benchmarks/bench_sim_dqn.py --n-steps 1,3,5          # n-step returns instead
    python benchmarks/bench_sim_dqn.py --gammas 0,0.9 --transfer  # val_a -> val_b worlds
    python benchmarks/bench_sim_dqn.py --gammas 0,0.9 --transfer --world-param ignore_prob=0.2
    python benchmarks/bench_sim_dqn.py --transfer --no-references \
        --settings '[{"gamma": 0, "exploration": "encoder"}, {"agent": "linucb", "alpha": 0}]'

Prints a markdown table (docs/dqn.md holds the run it was chosen on).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def main() -> None:
    """Train and judge each variant; print the table."""
    import gymnasium as gym
    import torch

    import movierec_env  # noqa: F401  (registers MovieRecSim-v0)
    from agents.dqn.policies import ENCODER_PROBS
    from agents.registry import make_agent
    from agents.sim_evaluation import evaluate_episodes

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--timesteps", type=int, default=30_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--users", type=int, default=300, help="validation episodes")
    ap.add_argument("--eval-seed", type=int, default=12345, help="seed of the episodes")
    ap.add_argument(
        "--gammas",
        default=None,
        help="comma-separated discounts: compare the DQN's gamma (registry encoder head) "
        "instead of its encoder_prob readings",
    )
    ap.add_argument(
        "--n-steps",
        default=None,
        help="comma-separated horizons: compare the DQN's n-step returns (registry gamma "
        "and encoder head) instead",
    )
    ap.add_argument(
        "--settings",
        default=None,
        help="a JSON list of keyword-argument objects for make_agent, one row each "
        '(agent "dqn" unless the object has an "agent" key), instead of --gammas / --n-steps',
    )
    ap.add_argument(
        "--transfer",
        action="store_true",
        help="train in world val_a on its users, judge on val_b's users in world val_b",
    )
    ap.add_argument(
        "--world-param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a declared world parameter in the training and the judging world "
        "(repeatable; e.g. ignore_prob=0.2, where the gate's planning gap is largest)",
    )
    ap.add_argument(
        "--no-references",
        action="store_true",
        help="skip the encoder-greedy and linucb reference rows (e.g. a second seed)",
    )
    args = ap.parse_args()
    torch.set_num_threads(1)

    def numbers(text: str, option: str, cast: type, ok: Any, what: str) -> list[Any]:
        """A comma-separated list of ``cast`` values that all pass ``ok`` (else exit)."""
        try:
            values = [cast(v) for v in text.split(",") if v.strip()]
        except ValueError:
            ap.error(f"{option} must be comma-separated {what}, got {text!r}")
        if not values or not all(ok(v) for v in values):
            ap.error(f"{option} must be {what}, got {text!r}")
        return values

    # (agent, label, env steps, make_agent kwargs) per row.
    runs: list[tuple[str, str, int, dict[str, Any]]] = []
    if not args.no_references:
        runs += [("encoder-greedy", "-", 0, {}), ("linucb", "-", args.timesteps, {})]
    if sum(bool(a) for a in (args.gammas, args.n_steps, args.settings)) > 1:
        ap.error("give one of --gammas, --n-steps and --settings")
    column = "setting"
    if args.settings:
        try:
            rows = json.loads(args.settings)
        except json.JSONDecodeError as exc:
            ap.error(f"--settings is not JSON ({exc}): {args.settings!r}")
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            ap.error(f"--settings must be a JSON list of objects, got {args.settings!r}")
        for row in rows:
            kw = dict(row)
            name = str(kw.pop("agent", "dqn"))
            runs.append((name, json.dumps(kw, sort_keys=True), args.timesteps, kw))
    elif args.n_steps:
        for n in numbers(args.n_steps, "--n-steps", int, lambda v: v >= 1, "integers >= 1"):
            runs.append(("dqn", f"n_steps={n}", args.timesteps, {"n_steps": n}))
    elif args.gammas:
        in_unit = lambda v: 0.0 <= v <= 1.0  # noqa: E731
        for g in numbers(args.gammas, "--gammas", float, in_unit, "numbers in [0, 1]"):
            runs.append(("dqn", f"gamma={g:g}", args.timesteps, {"gamma": g}))
    else:
        for mode in ENCODER_PROBS:
            runs.append(("dqn", mode, args.timesteps, {"policy_kwargs": {"encoder_prob": mode}}))
        column = "`encoder_prob`"
    from movierec_env.sim_core import WORLD_OVERRIDES

    world_kw: dict[str, float] = {}
    for item in args.world_param:
        name, _, value = item.partition("=")
        if name not in WORLD_OVERRIDES:
            ap.error(f"--world-param {item!r}: the name must be one of {WORLD_OVERRIDES}")
        try:
            world_kw[name] = float(value)
        except ValueError:
            ap.error(f"--world-param {item!r}: the value must be a number")
    train_world, judge_world = ("val_a", "val_b") if args.transfer else ("train", "train")
    params = "" if not world_kw else f", declared parameters {world_kw}"
    print(
        f"Trained on split {train_world!r} in world {train_world!r}; judged on split "
        f"{judge_world!r} in world {judge_world!r}, seed {args.seed}{params}.\n"
    )
    print(f"| agent | {column} | steps | mean return | episode length | take rate | train s |")
    print("|---|---|---|---|---|---|---|")
    for name, mode, steps, kwargs in runs:
        env = gym.make("MovieRecSim-v0", split=train_world, world=train_world, **world_kw)
        t0 = time.perf_counter()
        agent = make_agent(name, env, seed=args.seed, **kwargs)
        if steps and name != "encoder-greedy":
            agent.learn(steps)
        train_s = time.perf_counter() - t0
        val = gym.make("MovieRecSim-v0", split=judge_world, world=judge_world, **world_kw)
        r = evaluate_episodes(agent, val, max_users=args.users, seed=args.eval_seed)
        print(
            f"| `{name}` | {mode} | {steps} | {r['mean_return']:.3f} | {r['mean_length']:.2f} "
            f"| {r['take_rate']:.3f} | {train_s:.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
