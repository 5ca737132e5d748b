"""``movierec sim``: fit and validate the simulated user (the world of issue 10)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from experiments.commands.options import data_option, json_option

__all__ = ["fit", "gate", "sim", "validate"]


@click.group()
def sim() -> None:
    """Fit and validate the simulated user ("world")."""


@sim.command("fit")
@data_option
@click.option(
    "--world",
    "which",
    type=click.Choice(["train", "eval", "both", "val_a", "val_b", "validation"]),
    default="both",
    show_default=True,
    help="Which world(s) to fit: train / eval (disjoint halves of the users; both = the "
    "two), or the validation worlds val_a / val_b (halves of the train world's users; "
    "validation = the two).",
)
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0), help="Seed.")
@click.option(
    "--out",
    default=None,
    type=click.Path(file_okay=False),
    help="Parent directory of the world directories [default: $MOVIEREC_CACHE/worlds/<fp>].",
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
@json_option
def fit(
    dataset: str | None, which: str, seed: int, out: str | None, quiet: bool, as_json: bool
) -> None:
    """Fit world(s) on training interactions and save them (JSON + npz, atomic)."""
    from movierec_env.data import load_dataset
    from movierec_env.sim import cache_dir, fit_world

    data = load_dataset(dataset)
    groups = {"both": ["train", "eval"], "validation": ["val_a", "val_b"]}
    names = groups.get(which, [which])
    result = {}
    for name in names:
        world = fit_world(data, world=name, seed=seed, progress=not quiet)
        path = Path(out) / name if out else cache_dir(data, name)
        world.save(path)
        result[name] = {
            "path": str(path),
            "fit_seconds": world.meta["report"]["fit_seconds"],
            "fitted": world.fitted,
        }
    if as_json:
        click.echo(json.dumps(result))
        return
    for name, r in result.items():
        click.echo(f"world {name!r}: fitted in {r['fit_seconds']:.1f} s -> {r['path']}")
        for k, v in r["fitted"].items():
            click.echo(f"  {k:28s} {v: .4f}")


@sim.command("validate")
@data_option
@json_option
@click.option(
    "--out",
    default="docs/sim.md",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="Markdown report (PNG plots are written beside it).",
)
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0), help="Seed.")
@click.option(
    "--refit", is_flag=True, help="Fit both worlds now instead of the default (shipped/cached)."
)
@click.option(
    "--sessions",
    default=1500,
    show_default=True,
    type=click.IntRange(min=1),
    help="Held-out sessions replayed through the world.",
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
def validate(
    dataset: str | None,
    as_json: bool,
    out: str,
    seed: int,
    refit: bool,
    sessions: int,
    quiet: bool,
) -> None:
    """Validate the train world against held-out logs and write the report (docs/sim.md)."""
    from experiments.sim_report import write_report
    from experiments.sim_validation import public, validate_worlds
    from movierec_env.data import load_dataset
    from movierec_env.sim import default_world, fit_world

    data = load_dataset(dataset)
    if refit or seed != 0:
        worlds = {
            n: fit_world(data, world=n, seed=seed, progress=not quiet) for n in ("train", "eval")
        }
    else:
        worlds = {n: default_world(data, n, progress=not quiet) for n in ("train", "eval")}
    res = validate_worlds(data, worlds, seed=seed, max_sessions=sessions)
    cmd = "movierec sim validate" + (f" --data {dataset}" if dataset else "")
    cmd += (f" --seed {seed}" if seed else "") + (" --refit" if refit else "")
    files = write_report(res, Path(out), cmd)
    summary = public(res)
    summary["files"] = [str(f) for f in files]
    if as_json:
        click.echo(json.dumps(summary))
        return
    p, r, lv = summary["preference"], summary["rating"], summary["leave"]
    click.echo(
        f"preference HR@10 {p['HR@10']:.3f} NDCG@10 {p['NDCG@10']:.3f} "
        f"(popular {p['popular']['HR@10']:.3f}, markov {p['markov']['HR@10']:.3f})"
    )
    click.echo(f"rating RMSE {r['rmse']:.3f} (item mean {r['rmse_item_mean']:.3f})")
    click.echo(f"leave AUC {lv['auc']:.3f} ECE {lv['ece']:.4f}")
    weak = [k for k, t in summary["terms"].items() if t["status"] == "assumption"]
    click.echo(f"terms not beating their null (assumptions): {weak or 'none'}")
    click.echo(f"report: {files[0]}")


@sim.command("gate")
@data_option
@click.option(
    "--seeds", default=5, show_default=True, type=click.IntRange(min=2), help="Gate seeds."
)
@click.option(
    "--users",
    default=64,
    show_default=True,
    type=click.IntRange(min=2),
    help="Held-out users (split 'test', the eval world's half), the same in every comparison.",
)
@click.option(
    "--max-steps", default=50, show_default=True, type=click.IntRange(min=1), help="Truncation."
)
@click.option("--candidates", default=4, show_default=True, type=click.IntRange(min=1))
@click.option("--rollouts", default=4, show_default=True, type=click.IntRange(min=1))
@click.option("--horizon", default=4, show_default=True, type=click.IntRange(min=0))
@click.option(
    "--confidence",
    default=1.0,
    show_default=True,
    type=click.FloatRange(min=0.0, max=99.0),
    help="Standard errors a candidate's advantage must clear to replace the greedy movie.",
)
@click.option(
    "--rollout-policy",
    default="top-accept",
    show_default=True,
    type=click.Choice(["top-accept", "greedy"]),
    help="Base policy of the planner's rollouts.",
)
@click.option(
    "--world-param",
    "world_params",
    multiple=True,
    metavar="NAME=VALUE",
    help="Run every row at this declared parameter (ignore_prob, accept_sensitivity, "
    "boredom_weight, ignore_leave_weight); repeatable.",
)
@click.option("--no-sensitivity", is_flag=True, help="Skip the declared-parameter table.")
@click.option("--no-channels", is_flag=True, help="Skip switching each dynamic off in turn.")
@click.option(
    "--out",
    default="docs/sim_gate.md",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="Markdown report ('' to write none).",
)
@click.option("--quiet", is_flag=True, help="No progress lines.")
@json_option
def gate(
    dataset: str | None,
    seeds: int,
    users: int,
    max_steps: int,
    candidates: int,
    rollouts: int,
    horizon: int,
    confidence: float,
    rollout_policy: str,
    world_params: tuple[str, ...],
    no_sensitivity: bool,
    no_channels: bool,
    out: str,
    quiet: bool,
    as_json: bool,
) -> None:
    """Proof that the horizon matters: the planner ORACLE vs the greedy ORACLE (a benchmark).

    Both oracles read the true eval world. The planner must beat greedy by more than the
    95% interval of the paired difference at the defaults, and the gap must vanish with
    the dynamics switched off; each dynamic off in turn and a sensitivity table over the
    declared parameters show which channel carries it.
    """
    import torch
    from threadpoolctl import threadpool_limits

    from agents.oracles import PlannerConfig
    from experiments.sim_gate import GateConfig, run_gate, write_gate_report
    from movierec_env.data import load_dataset
    from movierec_env.sim_core import SimCore

    torch.set_num_threads(1)
    overrides: dict[str, float] = {}
    for item in world_params:
        name, sep, value = item.partition("=")
        try:
            overrides[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep:
            raise click.BadParameter(f"{item!r}: expected NAME=VALUE", param_hint="--world-param")
    data = load_dataset(dataset)
    try:
        core = SimCore(
            data, world="eval", split="test", max_episode_steps=max_steps, world_params=overrides
        )
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--world-param") from None
    cfg = GateConfig(
        users=users,
        seeds=seeds,
        max_steps=max_steps,
        planner=PlannerConfig(
            candidates=candidates,
            rollouts=rollouts,
            horizon=horizon,
            rollout_policy=rollout_policy,
            confidence=confidence,
            max_episode_steps=max_steps,
        ),
        sensitivity=not no_sensitivity,
        channels=not no_channels,
    )

    def echo(line: str) -> None:
        click.echo(line, err=True)  # progress on stderr: stdout stays one JSON object

    with threadpool_limits(1):  # BLAS threads only fight over the shared cores
        res = run_gate(core, cfg, progress=None if quiet else echo)
    argv = [f"--data {dataset}"] if dataset else []
    defaults = {"seeds": 5, "users": 64, "max-steps": 50, "candidates": 4, "rollouts": 4}
    given = {"seeds": seeds, "users": users, "max-steps": max_steps, "candidates": candidates}
    given |= {"rollouts": rollouts}
    argv += [f"--{k} {v}" for k, v in given.items() if v != defaults[k]]
    argv += [f"--horizon {horizon}"] if horizon != 4 else []
    argv += [f"--confidence {confidence:g}"] if confidence != 1.0 else []
    argv += [f"--rollout-policy {rollout_policy}"] if rollout_policy != "top-accept" else []
    argv += [f"--world-param {k}={v:g}" for k, v in overrides.items()]
    argv += ["--no-sensitivity"] if no_sensitivity else []
    argv += ["--no-channels"] if no_channels else []
    cmd = " ".join(["movierec sim gate", *argv])
    if out:
        res["report"] = str(write_gate_report(res, Path(out), cmd))
    if as_json:
        click.echo(json.dumps(res))
        return
    d = res["default"]
    verdict = "holds" if d["holds"] else "does NOT hold"
    click.echo(
        f"gate {verdict}: planner - greedy = {d['gap']:+.4f} ± {d['ci95']:.4f} "
        f"(no dynamics: {res['no_dynamics']['gap']:+.4f} ± {res['no_dynamics']['ci95']:.4f}); "
        f"{res['seconds']:.0f} s"
    )
    if out:
        click.echo(f"report: {res['report']}")
