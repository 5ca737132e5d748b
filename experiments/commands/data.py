"""``movierec data``: dataset inspection."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import click
import numpy as np
from numpy.typing import NDArray

from experiments.commands.options import json_option
from movierec_env.data.types import PreparedDataset, RawDataset

__all__ = ["data", "describe", "info", "render"]


@click.group()
def data() -> None:
    """Inspect MovieLens datasets."""


def _lengths(counts: NDArray[np.int64]) -> dict[str, float]:
    return {
        "min": int(counts.min()),
        "median": float(np.median(counts)),
        "mean": round(float(counts.mean()), 2),
        "p90": float(np.percentile(counts, 90)),
        "max": int(counts.max()),
    }


def _date(ts: int) -> str:
    return dt.datetime.fromtimestamp(ts, tz=dt.timezone.utc).date().isoformat()


def describe(raw: RawDataset, d: PreparedDataset) -> dict[str, Any]:
    """Statistics of a dataset before and after filtering, as plain JSON-able values.

    Sparsity is ``1 - ratings / (users x movies with a rating)``, so the raw and filtered
    numbers compare the same thing (the catalogue also lists movies nobody rated).

    Args:
        raw: The dataset as loaded.
        d: The same dataset prepared.

    Returns:
        ``{"dataset", "layout", "source", "config", "raw", "filtered", "skipped"}``.
    """
    _, user_counts = np.unique(raw.user_ids, return_counts=True)
    rated = int(np.unique(raw.rating_movie_ids).size)
    n_users = int(user_counts.size)
    raw_stats = {
        "users": n_users,
        "movies": raw.n_movies,
        "rated_movies": rated,
        "ratings": raw.n_ratings,
        "genres": len(raw.genre_names),
        "sparsity": 1.0 - raw.n_ratings / (n_users * rated),
        "mean_rating": round(float(raw.ratings.mean()), 4),
        "sequence_length": _lengths(user_counts),
        "first_date": _date(int(raw.timestamps.min())),
        "last_date": _date(int(raw.timestamps.max())),
    }
    used_genres = int((d.item_genres[1:].sum(axis=0) > 0).sum())
    filtered = {
        "users": d.n_users,
        "movies": d.n_items,
        "interactions": d.n_interactions,
        "genres": used_genres,
        "sparsity": 1.0 - d.n_interactions / (d.n_users * d.n_items),
        "mean_rating": round(float(d.ratings.mean()), 4),
        "sequence_length": _lengths(d.lengths),
        "split": {
            "train": int(d.train_mask().sum()),
            "val": int(d.target_indices("val").size),
            "test": int(d.target_indices("test").size),
        },
    }
    return {
        "dataset": d.name,
        "layout": raw.layout,
        "source": raw.source,
        "config": {
            "min_user_ratings": d.config.min_user_ratings,
            "min_item_ratings": d.config.min_item_ratings,
        },
        "raw": raw_stats,
        "filtered": filtered,
        "skipped": dict(raw.skipped),
        "fingerprint": d.fingerprint,
    }


def _fmt(v: Any) -> str:
    if isinstance(v, bool) or v is None:
        return str(v)
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return f"{v:,.1f}" if v != int(v) or abs(v) >= 1000 else f"{int(v):,}"
    return str(v)


def render(info: dict[str, Any]) -> str:
    """The human-readable table of :func:`describe`'s output."""
    r, f, c = info["raw"], info["filtered"], info["config"]
    rows: list[tuple[str, str, str]] = [
        ("users", _fmt(r["users"]), _fmt(f["users"])),
        ("movies (catalogue)", _fmt(r["movies"]), ""),
        ("movies (rated)", _fmt(r["rated_movies"]), _fmt(f["movies"])),
        ("ratings", _fmt(r["ratings"]), _fmt(f["interactions"])),
        ("genres", _fmt(r["genres"]), _fmt(f["genres"])),
        ("sparsity", f"{100 * r['sparsity']:.2f}%", f"{100 * f['sparsity']:.2f}%"),
        ("mean rating", f"{r['mean_rating']:.2f}", f"{f['mean_rating']:.2f}"),
        ("ratings per user", "", ""),
    ]
    for key in ("min", "median", "mean", "p90", "max"):
        rows.append((f"  {key}", _fmt(r["sequence_length"][key]), _fmt(f["sequence_length"][key])))
    head = ("", "raw", f"filtered {c['min_user_ratings']}/{c['min_item_ratings']}")
    w0 = max(len(x[0]) for x in [*rows, head])
    w1 = max(len(x[1]) for x in [*rows, head])
    w2 = max(len(x[2]) for x in [*rows, head])
    lines = [
        f"{info['dataset']}  ({info['layout']} layout, {info['source']})",
        "",
        f"{head[0]:<{w0}}  {head[1]:>{w1}}  {head[2]:>{w2}}",
    ]
    lines += [f"{a:<{w0}}  {b:>{w1}}  {cc:>{w2}}" for a, b, cc in rows]
    s = f["split"]
    lines += [
        "",
        f"split (leave-one-out)  train {s['train']:,}  val {s['val']:,}  test {s['test']:,}",
        f"period                 {r['first_date']} .. {r['last_date']}",
        "sparsity = 1 - ratings / (users x rated movies)",
    ]
    if info["skipped"]:
        lines.append("skipped while reading:")
        lines += [f"  {k}: {v:,}" for k, v in info["skipped"].items()]
    else:
        lines.append("skipped while reading: nothing")
    return "\n".join(lines)


@data.command()
@click.argument("dataset", required=False, default=None)
@json_option
@click.option(
    "--min-user-ratings",
    type=click.IntRange(min=1),
    default=5,
    show_default=True,
    help="Keep users with at least this many raw ratings.",
)
@click.option(
    "--min-item-ratings",
    type=click.IntRange(min=1),
    default=5,
    show_default=True,
    help="Keep movies with at least this many raw ratings.",
)
@click.option(
    "--unknown-movies",
    type=click.Choice(["error", "skip"]),
    default="error",
    show_default=True,
    help="Ratings of movies missing from the movies file: fail, or skip and count them.",
)
def info(
    dataset: str | None,
    as_json: bool,
    min_user_ratings: int,
    min_item_ratings: int,
    unknown_movies: str,
) -> None:
    """Print users, movies, ratings, genres, sparsity and sequence lengths of DATASET.

    Statistics are shown before and after PROTOCOL.md filtering, with what was skipped
    while reading. DATASET is a folder holding any MovieLens layout (CSV, '::' or
    ml-100k), or the embedded "ml-latest-small" (the default).
    """
    from movierec_env.data import PrepareConfig, load_raw, prepare

    raw = load_raw(dataset, unknown_movies=unknown_movies)
    d = prepare(raw, PrepareConfig(min_user_ratings, min_item_ratings))
    out = describe(raw, d)
    click.echo(json.dumps(out) if as_json else render(out))
