"""``movierec train-encoders``: train, freeze and save the two encoders."""

from __future__ import annotations

import json

import click

from experiments.commands.options import data_option, json_option

__all__ = ["train_encoders"]


@click.command("train-encoders")
@data_option
@click.option(
    "--out",
    default=None,
    type=click.Path(file_okay=False),
    help="Checkpoint directory [default: $MOVIEREC_CACHE/encoders/<fingerprint[:16]>].",
)
@click.option("--seed", default=0, show_default=True, type=int, help="Training seed.")
@click.option("--epochs", default=None, type=int, help="Maximum epochs per encoder.")
@click.option("--window", default=None, type=int, help="History window W.")
@click.option("--threads", default=None, type=int, help="Torch threads while training.")
@click.option(
    "--parallel/--no-parallel",
    default=None,
    help="Train the two encoders in two processes [default: when >= 2 CPUs].",
)
@click.option("--quiet", is_flag=True, help="No progress bars.")
@json_option
def train_encoders(
    dataset: str | None,
    out: str | None,
    seed: int,
    epochs: int | None,
    window: int | None,
    threads: int | None,
    parallel: bool | None,
    quiet: bool,
    as_json: bool,
) -> None:
    """Train TimeRatingAwareLSTM and TimeRatingAwareContentModel on training interactions.

    Early-stops each on validation NDCG@10, chooses the blend weight alpha on validation,
    reports test metrics (PROTOCOL.md) and writes the checkpoint atomically.
    """
    from dataclasses import replace

    from encoders.defaults import cache_dir
    from encoders.hybrid import CONTENT_TRAIN, LSTM_TRAIN, train_hybrid
    from experiments.commands.evaluate import encoder_test_metrics
    from movierec_env.data import load_dataset

    for name, value in (("--epochs", epochs), ("--window", window), ("--threads", threads)):
        if value is not None and value < 1:
            raise click.BadParameter(f"must be >= 1, got {value}", param_hint=name)
    data = load_dataset(dataset)
    overrides = {
        k: v for k, v in (("epochs", epochs), ("window", window), ("threads", threads)) if v
    }
    enc = train_hybrid(
        data,
        seed=seed,
        lstm_train=replace(LSTM_TRAIN, **overrides),
        content_train=replace(CONTENT_TRAIN, **overrides),
        progress=not quiet,
        parallel=parallel,
    )
    enc.metrics["test"] = encoder_test_metrics(enc, data)
    path = enc.save(out if out is not None else cache_dir(data))
    report = {
        "checkpoint": str(path),
        "dataset": data.name,
        "fingerprint": data.fingerprint,
        "alpha": enc.alpha,
        "window": enc.window,
        "train_seconds": round(enc.metrics["train_seconds"], 1),
        "test": enc.metrics["test"],
    }
    if as_json:
        click.echo(json.dumps(report))
        return
    click.echo(f"saved {path} (alpha={enc.alpha:.2f}, window={enc.window})")
    click.echo(f"trained both encoders in {report['train_seconds']} s")
    for name, m in report["test"].items():
        click.echo(
            f"  {name:8s} test HR@10 {m['HR@10']:.4f}  NDCG@10 {m['NDCG@10']:.4f}  "
            f"MRR {m['MRR']:.4f}  (n_users {m['n_users']})"
        )
