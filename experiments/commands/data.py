"""``movierec data``: dataset inspection."""

from __future__ import annotations

import json

import click


@click.group()
def data() -> None:
    """Inspect MovieLens datasets."""


@data.command()
@click.argument("dataset", required=False, default=None)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def info(dataset: str | None, as_json: bool) -> None:
    """Print users, movies, ratings and sparsity of DATASET before and after filtering.

    DATASET is a folder holding any MovieLens layout, or the embedded "ml-latest-small"
    (the default).
    """
    from movierec_env.data import load_dataset

    d = load_dataset(dataset)
    out = {
        "dataset": d.name,
        "raw": d.raw_counts,
        "filtered": {"users": d.n_users, "movies": d.n_items, "interactions": d.n_interactions},
    }
    click.echo(json.dumps(out) if as_json else json.dumps(out, indent=2))
