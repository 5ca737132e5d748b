"""A CleanRL-style single-file DQN on MovieRec-v0, on any Gymnasium from 0.29.1 to 1.x.

What: the loop CleanRL's ``dqn.py`` runs (``gym.vector.SyncVectorEnv`` of ``gym.make``
envs, epsilon-greedy over Q-values, a replay buffer, a target network), written here from
scratch and kept to what matters, to show that a CleanRL user (CleanRL pins
``gymnasium==0.29.1``) can install this package and train on ``MovieRec-v0`` unchanged.

Why read it: the one thing that differs between Gymnasium versions in such a loop is the
autoreset. 0.29's ``SyncVectorEnv`` resets a finished sub-env in the same step and hands the
last observation over in ``info["final_observation"]``; 1.x's default resets it on the next
step, whose transition must then be dropped. :mod:`movierec_env.gym_compat` answers which one
the installed version does (``autoreset_mode``) and where the last observation is
(``final_observation``); nothing else in the loop depends on the version.

What to expect, honestly: it trains, and learns next to nothing. Logged replay is close to
a contextual bandit and CleanRL's MLP Q-head over ~3,650 movies, fed by one sampled action
per step, does not find which movie comes next in this budget (the package's own DQN,
``agents.DQN``, starts from the encoder's item head instead: docs/dqn.md). Measured on a
busy 2-core CPU in a fresh venv with CleanRL's pins (gymnasium 0.29.1, numpy 1.24.4,
torch 2.13.0 CPU), seed 1, test split, 610 users:

    run                 steps   updates   train s   HR@10    mean reward
    --quick              2,000        94         5   0.0033   0.2000
    default             20,000     1,188        39   0.0000   0.1898
    random agent             -         -         -   0.0016   0.1905

Run:
    python -m experiments.examples.cleanrl_dqn --quick     # 2,000 steps
    python -m experiments.examples.cleanrl_dqn             # 20,000 steps
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import nn

import movierec_env  # noqa: F401  (registers MovieRec-v0)
from agents import evaluate_agent
from agents.registry import make_agent
from movierec_env.gym_compat import AutoresetMode, autoreset_mode, final_observation

__all__ = ["QNetwork", "main", "parse_args", "train"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=None, help="MovieLens folder (default: embedded)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--total-timesteps", type=int, default=20_000)
    p.add_argument("--num-envs", type=int, default=4)
    p.add_argument("--learning-rate", type=float, default=2.5e-4)
    p.add_argument("--buffer-size", type=int, default=10_000)
    p.add_argument("--gamma", type=float, default=0.99)
    p.add_argument("--target-network-frequency", type=int, default=500)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--start-e", type=float, default=1.0)
    p.add_argument("--end-e", type=float, default=0.05)
    p.add_argument("--exploration-fraction", type=float, default=0.5)
    p.add_argument("--learning-starts", type=int, default=1_000)
    p.add_argument("--train-frequency", type=int, default=4)
    p.add_argument("--quick", action="store_true", help="2,000 steps (a smoke run)")
    args = p.parse_args(argv)
    if args.quick:
        args.total_timesteps = min(args.total_timesteps, 2_000)
        args.learning_starts = min(args.learning_starts, 500)
    return args


class QNetwork(nn.Module):
    """CleanRL's DQN network: an MLP from the observation to one Q-value per movie."""

    def __init__(self, obs_dim: int, n_actions: int) -> None:
        super().__init__()
        self.network = nn.Sequential(
            nn.Linear(obs_dim, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
            nn.Linear(84, n_actions),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.network(x)

    # The two methods evaluate_agent and SB3-style callers use (agents.common.protocols).
    def action_scores(self, obs: Any, info: Any = None) -> np.ndarray:
        with torch.no_grad():
            return self(torch.as_tensor(np.asarray(obs, dtype=np.float32))).numpy()

    def predict(self, obs: Any, state: Any = None, episode_start: Any = None,
                deterministic: bool = True) -> tuple[np.ndarray, Any]:  # fmt: skip
        return self.action_scores(np.atleast_2d(obs)).argmax(axis=1), state


def linear_schedule(start_e: float, end_e: float, duration: int, t: int) -> float:
    return max(end_e, start_e + (end_e - start_e) * t / max(1, duration))


def train(args: argparse.Namespace) -> tuple[QNetwork, dict[str, Any]]:
    """The training loop; returns the Q-network and what happened."""
    run_name = f"MovieRec-v0__cleanrl_dqn__{args.seed}__{int(time.time())}"
    rng = np.random.default_rng(args.seed)
    torch.manual_seed(args.seed)

    def make_env() -> gym.Env[Any, Any]:
        return gym.make("MovieRec-v0", dataset=args.data, split="train")

    envs = gym.vector.SyncVectorEnv([make_env for _ in range(args.num_envs)])
    same_step = autoreset_mode(envs) == AutoresetMode.SAME_STEP
    obs_space, act_space = envs.single_observation_space, envs.single_action_space
    assert isinstance(obs_space, gym.spaces.Box) and isinstance(act_space, gym.spaces.Discrete)
    obs_dim, n_actions = int(obs_space.shape[0]), int(act_space.n)
    q_network, target_network = QNetwork(obs_dim, n_actions), QNetwork(obs_dim, n_actions)
    target_network.load_state_dict(q_network.state_dict())
    optimizer = torch.optim.Adam(q_network.parameters(), lr=args.learning_rate)

    size, full, ptr = args.buffer_size, False, 0
    b_obs = np.zeros((size, obs_dim), np.float32)
    b_next = np.zeros((size, obs_dim), np.float32)
    b_act = np.zeros(size, np.int64)
    b_rew = np.zeros(size, np.float32)
    b_done = np.zeros(size, np.float32)

    obs, _ = envs.reset(seed=args.seed)
    skip = np.zeros(args.num_envs, dtype=bool)  # next-step autoreset: a reset-only step
    losses: list[float] = []
    steps, t0 = 0, time.perf_counter()
    while steps < args.total_timesteps:
        epsilon = linear_schedule(
            args.start_e, args.end_e, int(args.exploration_fraction * args.total_timesteps),
            steps,
        )  # fmt: skip
        if rng.random() < epsilon:
            actions = rng.integers(0, n_actions, args.num_envs)
        else:
            actions = q_network.action_scores(obs).argmax(axis=1)
        next_obs, rewards, terminations, truncations, infos = envs.step(actions)
        dones = np.logical_or(terminations, truncations)
        real_next = np.array(next_obs, copy=True)
        if same_step:
            for i in np.flatnonzero(dones):
                real_next[i] = final_observation(infos, int(i))
        for i in np.flatnonzero(~skip):
            b_obs[ptr], b_next[ptr], b_act[ptr] = obs[i], real_next[i], actions[i]
            b_rew[ptr], b_done[ptr] = rewards[i], float(terminations[i])
            ptr = (ptr + 1) % size
            full = full or ptr == 0
        steps += int((~skip).sum())
        skip = dones if not same_step else np.zeros_like(dones)
        obs = next_obs

        if steps > args.learning_starts and (steps // args.num_envs) % args.train_frequency == 0:
            idx = rng.integers(0, size if full else ptr, args.batch_size)
            with torch.no_grad():
                target_max = target_network(torch.as_tensor(b_next[idx])).max(dim=1).values
                td_target = torch.as_tensor(b_rew[idx]) + args.gamma * target_max * (
                    1.0 - torch.as_tensor(b_done[idx])
                )
            q = q_network(torch.as_tensor(b_obs[idx]))
            old_val = q.gather(1, torch.as_tensor(b_act[idx]).unsqueeze(1)).squeeze(1)
            loss = nn.functional.mse_loss(td_target, old_val)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            if (steps // args.num_envs) % args.target_network_frequency == 0:
                target_network.load_state_dict(q_network.state_dict())
    envs.close()
    seconds = time.perf_counter() - t0
    info = {
        "run_name": run_name,
        "steps": steps,
        "seconds": seconds,
        "updates": len(losses),
        "autoreset": "same-step" if same_step else "next-step",
        "gymnasium": gym.__version__,
    }
    return q_network, info


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    torch.set_num_threads(1)
    q_network, info = train(args)
    print(
        f"{info['run_name']}: {info['steps']} steps, {info['updates']} updates in "
        f"{info['seconds']:.0f} s (gymnasium {info['gymnasium']}, {info['autoreset']} autoreset)"
    )
    test_env = gym.make("MovieRec-v0", dataset=args.data, split="test")
    results: dict[str, Any] = {"train": info}
    for name, agent in (
        ("cleanrl-dqn", q_network),
        ("random", make_agent("random", test_env, seed=args.seed)),
    ):
        m = evaluate_agent(agent, test_env)
        results[name] = {k: v for k, v in m.items() if k != "per_user"}
        print(f"  {name:12s} HR@10 {m['HR@10']:.4f}  mean reward {m['mean_reward']:.4f}")
    return results


if __name__ == "__main__":
    main()
