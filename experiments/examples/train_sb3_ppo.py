"""Train Stable-Baselines3 PPO (and sb3-contrib MaskablePPO) on MovieRec-v0, then evaluate.

What: the "gym.make + SB3" story. ``MovieRec-v0`` is a plain Gymnasium env, so any SB3
algorithm trains on it with no adapter code; MaskablePPO additionally reads
``env.action_masks()`` to never recommend a movie the user has already rated.

Why read it: it shows the two ways to score an agent and why they differ.
``agents.evaluate_agent`` ranks the *whole* catalogue for every test user (PROTOCOL.md:
HR@10, NDCG@10, ... with seen movies excluded) and reports the reward split into its terms;
SB3's ``evaluate_policy`` only plays episodes and averages the return (here one step per test
user, users drawn at random, seen movies *not* excluded for plain PPO).

What to expect, honestly: PPO's default MlpPolicy puts a softmax over ~3,650 actions on top of
a 64-unit MLP and learns from one sampled action per step. On a laptop's budget it learns next
to nothing about *which* movie comes next: it ranks like the random agent, and its reward
comes from the genre and rating terms (the rating term does not even depend on the action).
Measured with the defaults (20,480 steps each, seed 0, test split, 610 users, shipped encoder
of commit 80b1825):

    agent            HR@10    mean reward
    sb3-ppo          0.0016   0.187
    maskable-ppo     0.0016   0.201
    random           0.0016   0.188      (seed 0; 0.0016-0.0033 over seeds 0-2)
    popular          0.039    0.200      (see compare_agents.py)
    encoder-greedy   0.157    0.227      (the frozen encoder's own greedy ranking)

Run:
    python -m experiments.examples.train_sb3_ppo --quick     # 2 x 2,048 steps, ~1.5 minutes
    python -m experiments.examples.train_sb3_ppo             # 2 x 20,480 steps, ~6.5 minutes

(About 110 env steps/s, updates included, measured on a busy 2-core CPU.)
"""

from __future__ import annotations

import argparse
import importlib.util
from typing import Any

import gymnasium as gym
import torch
from sb3_contrib import MaskablePPO
from sb3_contrib.common.maskable.evaluation import evaluate_policy as evaluate_masked
from stable_baselines3 import PPO
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.monitor import Monitor

import movierec_env  # noqa: F401  (registers MovieRec-v0)
from agents import evaluate_agent

__all__ = ["main", "parse_args", "report", "train"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=None, help="MovieLens folder (default: embedded)")
    p.add_argument("--timesteps", type=int, default=20_000, help="env steps per agent")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--eval-episodes", type=int, default=200, help="for SB3's evaluate_policy")
    p.add_argument("--no-maskable", action="store_true", help="skip MaskablePPO")
    p.add_argument("--quick", action="store_true", help="2,048 steps each (a smoke run)")
    args = p.parse_args(argv)
    if args.quick:
        args.timesteps = min(args.timesteps, 2_048)
    return args


def train(algo: type, env: gym.Env, args: argparse.Namespace) -> Any:
    # PPO collects n_steps transitions, then runs n_epochs of minibatch updates on them.
    n_steps = min(2_048, args.timesteps)
    model = algo(
        "MlpPolicy", env, n_steps=n_steps, batch_size=min(64, n_steps), seed=args.seed,
        device="cpu", verbose=0,
    )  # fmt: skip
    # SB3's progress bar needs `rich`; show it when available.
    model.learn(args.timesteps, progress_bar=importlib.util.find_spec("rich") is not None)
    return model


def report(name: str, model: Any, test_env: gym.Env, args: argparse.Namespace) -> dict[str, Any]:
    # 1. The benchmark protocol: full ranking of the policy's action logits for all test users.
    m = evaluate_agent(model, test_env)
    # 2. SB3's own evaluation: average return of deterministic episodes on random test users.
    sb3_eval = evaluate_masked if isinstance(model, MaskablePPO) else evaluate_policy
    test_env.reset(seed=args.seed)  # the same random test users for every agent
    mean_ret, std_ret = sb3_eval(model, Monitor(test_env), n_eval_episodes=args.eval_episodes)
    print(f"\n{name} after {model.num_timesteps} steps, test split ({m['n_users']} users):")
    print(f"  HR@10 {m['HR@10']:.4f}  NDCG@10 {m['NDCG@10']:.4f}  MRR {m['MRR']:.4f}")
    w = m["weights"]  # the reward is a weighted sum of three terms (0.4 / 0.3 / 0.3)
    print(
        f"  mean reward {m['mean_reward']:.4f} = {w['hit']} * hit {m['reward_hit']:.4f}"
        f" + {w['genre']} * genre {m['reward_genre']:.4f}"
        f" + {w['rating']} * rating {m['reward_rating']:.4f}"
    )
    print(f"  coverage of the catalogue by top-10 lists: {m['coverage']:.3f}")
    print(f"  SB3 evaluate_policy: {mean_ret:.4f} ± {std_ret:.4f} over {args.eval_episodes} eps")
    return {**{k: v for k, v in m.items() if k != "per_user"}, "sb3_mean_return": mean_ret}


def main(argv: list[str] | None = None) -> dict[str, dict[str, Any]]:
    args = parse_args(argv)
    torch.set_num_threads(1)  # small MLPs on a 2-core laptop: one thread is fastest
    # Train on the training part of every user's sequence; evaluate on the held-out last item.
    train_env = gym.make("MovieRec-v0", dataset=args.data, split="train")
    test_env = gym.make("MovieRec-v0", dataset=args.data, split="test")
    print(f"observation {train_env.observation_space}, action {train_env.action_space}")

    results = {"sb3-ppo": report("PPO", train(PPO, train_env, args), test_env, args)}
    if not args.no_maskable:
        # MaskablePPO finds env.action_masks() (through the wrappers) at every step.
        model = train(MaskablePPO, train_env, args)
        results["maskable-ppo"] = report("MaskablePPO", model, test_env, args)
    return results


if __name__ == "__main__":
    main()
