"""``movierec benchmark``: the main job."""

from __future__ import annotations

import os
from pathlib import Path

import click

from experiments.benchmark import DEFAULT_AGENTS, QUICK_AGENTS
from experiments.commands.options import data_option, encoders_option

__all__ = ["benchmark"]


@click.command()
@data_option
@click.option(
    "--agents",
    default=None,
    metavar="A,B,...",
    help=f"Comma-separated agent names (default: {','.join(DEFAULT_AGENTS)}).",
)
@click.option("--seeds", type=click.IntRange(min=1), default=None, help="Number of seeds.")
@click.option("--seed", "base_seed", type=int, default=0, show_default=True, help="First seed.")
@click.option(
    "--timesteps",
    type=click.IntRange(min=1),
    default=None,
    help="Env steps for the DQN (default: the agent's own default).",
)
@click.option(
    "--sb3-timesteps",
    type=click.IntRange(min=1),
    default=None,
    help="Env steps for Stable-Baselines3 agents (default: their own budget).",
)
@encoders_option("Encoder checkpoint to use instead of training the encoders.")
@click.option("--quick", is_flag=True, help="One seed, short training: a few minutes.")
@click.option(
    "--env",
    "env_id",
    type=click.Choice(["MovieRec-v0", "MovieRecSim-v0"]),
    default="MovieRec-v0",
    show_default=True,
    help="Logged replay, or the simulated user (train world in, eval world out).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Processes running (agent, seed) jobs side by side (default: min(2, CPUs)).",
)
@click.option(
    "--executor",
    type=click.Choice(["local", "ray"]),
    default="local",
    show_default=True,
    help="Run jobs in local processes, or as Ray tasks (one CPU each; extra movierec[ray]).",
)
@click.option(
    "--address",
    default=None,
    metavar="ADDRESS",
    help="Ray cluster to join (e.g. auto, ray://head:10001); default: a local Ray.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Run directory (default: runs/<dataset>-<full|quick>); re-running resumes it.",
)
def benchmark(
    dataset: str | None,
    agents: str | None,
    seeds: int | None,
    base_seed: int,
    timesteps: int | None,
    sb3_timesteps: int | None,
    encoders: str | None,
    quick: bool,
    env_id: str,
    workers: int | None,
    executor: str,
    address: str | None,
    out: Path | None,
) -> None:
    """Train the encoders, train and evaluate every agent over seeds, write tables and plots.

    Results (PROTOCOL.md metrics, mean reward and its terms, coverage) are written to the
    run directory as results.json, results.csv, results.md, PNG plots and report.html (all
    of it in one self-contained page, whose path is printed last). An interrupted
    run resumes per (agent, seed) when started again with the same --out.
    """
    from experiments.benchmark import BenchmarkConfig, run_benchmark

    names = tuple(a.strip() for a in agents.split(",") if a.strip()) if agents else None
    cfg = BenchmarkConfig(
        dataset=dataset,
        agents=names or (QUICK_AGENTS if quick else DEFAULT_AGENTS),
        seeds=seeds or (1 if quick else 3),
        base_seed=base_seed,
        timesteps=timesteps,
        sb3_timesteps=sb3_timesteps,
        encoders=encoders,
        quick=quick,
        workers=workers or min(2, os.cpu_count() or 1),
        env=env_id,
        executor=executor,
        address=address,
    )
    ds_name = Path(dataset).name if dataset else "ml-latest-small"
    sim = "-sim" if env_id == "MovieRecSim-v0" else ""
    run_dir = out or Path("runs") / f"{ds_name}{sim}-{'quick' if quick else 'full'}"
    try:
        paths = run_benchmark(cfg, run_dir, progress=lambda m: click.echo(m, err=True))
    except RuntimeError as exc:  # failed Ray tasks: the rest is written, a re-run resumes
        raise click.ClickException(str(exc)) from exc
    click.echo(paths["table"].read_text())
    click.echo("Plots:")
    for key, path in paths.items():
        if key not in ("table", "html"):
            click.echo(f"  {key}: {path}")
    click.echo(f"Everything is in {run_dir}/")
    click.echo(f"Report (one self-contained page, open it in a browser): {paths['html']}")
