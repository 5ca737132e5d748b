"""Compare two agents on the test split: metrics side by side and a paired test over users.

What: build two agents by name (any of ``agents.AGENT_NAMES``: ``popular``,
``encoder-greedy``, ``markov``, ``dqn``, ...), train the learning ones, evaluate both with
``agents.evaluate_agent`` on the same test users, and test whether the difference is real.

Why: on ml-latest-small there is one test target per user (610 users), so HR@10 moves by
about ±0.01 from noise alone. Two agents are judged on the *same* users, so the right test
is a paired one: the Wilcoxon signed-rank test on each user's reward (and on each user's
HR@10 hit), as the benchmark does (``experiments.reporting.paired_test``). Claim "A beats B"
only when p < 0.05, and look at the size of the difference too.

Run:
    python -m experiments.examples.compare_agents popular encoder-greedy
    python -m experiments.examples.compare_agents markov dqn --timesteps 20000
"""

from __future__ import annotations

import argparse
from typing import Any

import gymnasium as gym
import numpy as np
import torch

import movierec_env  # noqa: F401  (registers MovieRec-v0)
from agents import AGENT_NAMES, evaluate_agent, make_agent
from agents.registry import LEARNING_AGENT_NAMES
from experiments.reporting import paired_test

__all__ = ["METRICS", "build", "main", "parse_args"]

METRICS = ("HR@1", "HR@10", "NDCG@10", "MRR", "mean_reward", "reward_hit", "reward_genre")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("agent_a", nargs="?", default="popular", choices=AGENT_NAMES)
    p.add_argument("agent_b", nargs="?", default="encoder-greedy", choices=AGENT_NAMES)
    p.add_argument("--data", default=None, help="MovieLens folder (default: embedded)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--timesteps", type=int, default=20_000, help="training steps (learners)")
    p.add_argument("--quick", action="store_true", help="1,000 training steps (a smoke run)")
    args = p.parse_args(argv)
    if args.agent_a == args.agent_b:
        p.error(f"choose two different agents (got {args.agent_a!r} twice)")
    if args.quick:
        args.timesteps = min(args.timesteps, 1_000)
    return args


def build(name: str, train_env: gym.Env, args: argparse.Namespace) -> Any:
    agent = make_agent(name, train_env, seed=args.seed)
    if name in LEARNING_AGENT_NAMES:  # baselines need no training (only dataset statistics)
        agent.learn(args.timesteps, progress_bar=True)
    return agent


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    torch.set_num_threads(1)  # small networks on a 2-core laptop: one thread is fastest
    a, b = args.agent_a, args.agent_b
    train_env = gym.make("MovieRec-v0", dataset=args.data, split="train")
    test_env = gym.make("MovieRec-v0", dataset=args.data, split="test")

    # Both agents are scored on the same test users, in the same order (per_user arrays).
    results = {name: evaluate_agent(build(name, train_env, args), test_env) for name in (a, b)}
    n_users = results[a]["n_users"]

    print(f"\nTest split, {n_users} users (full-catalogue ranking, seen movies excluded)")
    print(f"{'metric':<14}{a:>16}{b:>16}{'B - A':>12}")
    for m in METRICS:
        va, vb = results[a][m], results[b][m]
        print(f"{m:<14}{va:>16.4f}{vb:>16.4f}{vb - va:>+12.4f}")

    # The paired tests take {agent: {seed: result}}; here one seed each.
    per_seed = {name: {args.seed: results[name]} for name in (a, b)}
    tests = {key: paired_test(per_seed, b, a, key) for key in ("rewards", "hits@10")}
    ra, rb = results[a]["per_user"]["rewards"], results[b]["per_user"]["rewards"]
    wins, losses = int(np.sum(rb > ra)), int(np.sum(rb < ra))
    print(f"\nPer user: {b} earns more reward for {wins} users, less for {losses}, "
          f"the same for {n_users - wins - losses}.")  # fmt: skip
    print("Paired Wilcoxon signed-rank tests over users (B - A):")
    for key, label in (("rewards", "reward"), ("hits@10", "HR@10 hit")):
        t = tests[key]
        verdict = "significant" if t["p"] < 0.05 else "not significant"
        print(f"  {label:<10} mean difference {t['diff']:+.4f}   p = {t['p']:.2g}  ({verdict})")
    t = tests["rewards"]
    if t["p"] < 0.05:
        winner = b if t["diff"] > 0 else a
        print(f"=> {winner} earns more reward than the other agent (p = {t['p']:.2g}).")
    else:
        print("=> no reliable difference in reward between the two agents at the 5% level.")
    return {"metrics": results, "tests": tests, "wins": wins, "losses": losses}


if __name__ == "__main__":
    main()
