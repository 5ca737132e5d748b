"""``movierec train``: train an agent on MovieRec-v0 and save it."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click

from experiments.commands.options import data_option, encoders_option

__all__ = ["DEFAULT_TIMESTEPS", "ORDERS", "TRAINABLE", "env_options", "make_training_env", "train"]

#: Learning agents ``movierec train`` accepts.
TRAINABLE = ("dqn", "sb3-dqn", "sb3-ppo", "qrdqn", "maskable-ppo")

#: Default env steps per agent: the DQN's reaches its plateau (docs/dqn.md); the SB3
#: agents get a budget that fits a few minutes at their measured speed.
DEFAULT_TIMESTEPS = {
    "dqn": 200_000,
    "sb3-dqn": 50_000,
    "sb3-ppo": 50_000,
    "qrdqn": 50_000,
    "maskable-ppo": 50_000,
}


#: Slot orders of candidate mode: ``movierec_env.candidates.ORDERS``, repeated here so
#: that building the CLI imports no numpy (a test keeps the two equal).
ORDERS = ("shuffle", "genre_affinity", "encoder_score")


def env_options(
    agent: str, candidates: int | None, order: str | None, bandit: bool, coursework: bool
) -> dict[str, Any]:
    """``MovieRec-v0`` keyword arguments of the action-mode options of ``movierec train``.

    Raises:
        click.UsageError: On a combination that cannot work, naming the option.
    """
    if coursework:
        if candidates is not None or order is not None or bandit:
            raise click.UsageError(
                "--coursework already sets --candidates, --order and --bandit: give either "
                "--coursework or those options"
            )
        from movierec_env.candidates import coursework_task

        kwargs = coursework_task()
    else:
        if order is not None and candidates is None:
            raise click.UsageError(f"--order {order} needs --candidates K (candidate mode)")
        kwargs = {}
        if candidates is not None:
            kwargs["candidates"] = {"k": candidates, "order": order or "shuffle"}
        if bandit:
            kwargs["bandit"] = True
    if agent == "dqn" and "candidates" in kwargs:
        raise click.UsageError(
            "--agent dqn ranks the full catalogue and has no candidate mode; with "
            "--candidates or --coursework use one of "
            + ", ".join(a for a in TRAINABLE if a != "dqn")
        )
    return kwargs


def make_training_env(
    agent: str,
    dataset: Any,
    encoders: Any,
    num_envs: int,
    seed: int,
    env_kwargs: dict[str, Any] | None = None,
) -> Any:
    """The training env of ``agent``: the native vector env for ``dqn``, one env for SB3.

    ``dataset`` and ``encoders`` are what ``MovieRec-v0`` accepts: names/paths or ready
    ``PreparedDataset`` / ``HybridEncoder`` objects; ``env_kwargs`` any further
    ``MovieRec-v0`` arguments (e.g. :func:`env_options`).
    """
    import gymnasium as gym

    import movierec_env  # noqa: F401  (registers MovieRec-v0)
    from movierec_env.gym_compat import make_vec

    kwargs: dict[str, Any] = {
        "dataset": dataset,
        "encoders": encoders,
        "split": "train",
        **(env_kwargs or {}),
    }
    if agent == "dqn":
        return make_vec("MovieRec-v0", num_envs=num_envs, **kwargs)
    return gym.make("MovieRec-v0", **kwargs)


@click.command()
@click.option(
    "--agent",
    "agent",
    type=click.Choice(TRAINABLE),
    default="dqn",
    show_default=True,
    help="Learning agent.",
)
@data_option
@encoders_option()
@click.option(
    "--timesteps",
    type=click.IntRange(min=1),
    default=None,
    help="Env steps to train (default: 200,000 for dqn, 50,000 for SB3 agents).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@click.option(
    "--out",
    "out",
    default=None,
    help="Where to save the model (default: runs/MovieRec-v0__AGENT__SEED__TIME/model.zip).",
)
@click.option(
    "--num-envs",
    type=click.IntRange(min=1),
    default=64,
    show_default=True,
    help="Parallel users stepped at once (dqn only: the native vector env).",
)
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Torch CPU threads (1 is fastest for these network sizes, docs/dqn.md).",
)
@click.option(
    "--candidates",
    type=click.IntRange(min=1),
    default=None,
    help="Candidate mode: choose among K proposed unseen movies, Discrete(K) "
    "(docs/candidates.md; not for --agent dqn).",
)
@click.option(
    "--order",
    type=click.Choice(ORDERS),
    default=None,
    help="Slot order in candidate mode [default: shuffle].",
)
@click.option(
    "--bandit", is_flag=True, help="One-step episodes (logged replay as the contextual bandit)."
)
@click.option(
    "--coursework",
    is_flag=True,
    help="The coursework task: K candidates sorted by genre affinity, one-step episodes "
    "(movierec_env.candidates.coursework_task).",
)
@click.option(
    "--eval-split",
    type=click.Choice(["val", "test", "none"]),
    default="val",
    show_default=True,
    help="Evaluate the trained agent on this split (PROTOCOL.md metrics and reward).",
)
@click.option("--tensorboard", "tensorboard_log", default=None, help="TensorBoard log folder.")
@click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
@click.option("-v", "--verbose", count=True, help="Print SB3 training logs.")
def train(
    agent: str,
    dataset: str | None,
    encoders: str | None,
    timesteps: int | None,
    seed: int,
    out: str | None,
    num_envs: int,
    threads: int,
    candidates: int | None,
    order: str | None,
    bandit: bool,
    coursework: bool,
    eval_split: str,
    tensorboard_log: str | None,
    no_progress: bool,
    verbose: int,
) -> None:
    """Train AGENT on MovieRec-v0's training split, save it and print where.

    The DQN trains on the native vector env (--num-envs users at once); the
    Stable-Baselines3 agents on a single env with their library defaults. The
    evaluation prints the agent's mean reward beside a random agent's in the same mode.
    """
    import torch

    from agents.registry import make_agent

    env_kwargs = env_options(agent, candidates, order, bandit, coursework)
    torch.set_num_threads(threads)
    steps = timesteps if timesteps is not None else DEFAULT_TIMESTEPS[agent]
    env = make_training_env(agent, dataset, encoders, num_envs, seed, env_kwargs)
    extra: dict[str, Any] = {"verbose": verbose, "tensorboard_log": tensorboard_log}
    model = make_agent(agent, env, seed=seed, **extra)
    t0 = time.perf_counter()
    model.learn(total_timesteps=steps, progress_bar=not no_progress)
    seconds = time.perf_counter() - t0
    if out is None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        out = f"runs/MovieRec-v0__{agent}__{seed}__{stamp}/model.zip"
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(path)
    saved = path if path.suffix == ".zip" else path.with_name(path.name + ".zip")
    summary: dict[str, Any] = {
        "agent": agent,
        "timesteps": steps,
        "seed": seed,
        "train_seconds": round(seconds, 1),
        "steps_per_second": round(steps / max(seconds, 1e-9), 1),
        "env_kwargs": env_kwargs,
    }
    if eval_split != "none":
        import gymnasium as gym

        from agents.evaluation import evaluate_agent

        eval_env = gym.make(
            "MovieRec-v0", dataset=dataset, encoders=encoders, split=eval_split, **env_kwargs
        )
        res = evaluate_agent(model, eval_env, split=eval_split)
        keys = ("mean_reward", "HR@10", "NDCG@10", "reward_hit", "reward_genre")
        summary[eval_split] = {
            key: round(float(res[key]), 4) for key in (*keys, "candidate_recall") if key in res
        }
        rand = evaluate_agent(make_agent("random", eval_env, seed=seed), eval_env, split=eval_split)
        summary[eval_split]["random_mean_reward"] = round(float(rand["mean_reward"]), 4)
    click.echo(json.dumps(summary))
    click.echo(f"saved {agent} to {saved}")
