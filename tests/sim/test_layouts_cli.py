"""The world on every loader layout, and ``movierec sim`` end to end on synthetic files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from movierec_env.data import PrepareConfig, load_dataset
from movierec_env.data.synthetic import synthetic_raw
from movierec_env.sim import fit_world
from tests.conftest import run_cli
from tests.data.layouts import GENRES_100K, write_layout

from .conftest import SMALL


def _texts(layout: str, seed: int = 4) -> tuple[str, str]:
    """A synthetic dataset rendered as a layout's movies and ratings files (whole stars)."""
    raw = synthetic_raw(n_users=40, n_movies=50, n_ratings=1_600, seed=seed)
    genres = [[g for g, on in zip(raw.genre_names, row, strict=True) if on] for row in raw.genres]
    stars = np.ceil(raw.ratings).astype(int)
    if layout == "csv":
        movies = ["movieId,title,genres"] + [
            f"{m},{t},{'|'.join(g) or '(no genres listed)'}"
            for m, t, g in zip(raw.movie_ids, raw.titles, genres, strict=True)
        ]
        ratings = ["userId,movieId,rating,timestamp"] + [
            f"{u},{m},{r:.1f},{t}"
            for u, m, r, t in zip(
                raw.user_ids, raw.rating_movie_ids, raw.ratings, raw.timestamps, strict=True
            )
        ]
    elif layout == "dat":
        movies = [
            f"{m}::{t}::{'|'.join(g) or '(no genres listed)'}"
            for m, t, g in zip(raw.movie_ids, raw.titles, genres, strict=True)
        ]
        ratings = [
            f"{u}::{m}::{r}::{t}"
            for u, m, r, t in zip(
                raw.user_ids, raw.rating_movie_ids, stars, raw.timestamps, strict=True
            )
        ]
    else:
        movies = []
        for m, t, g in zip(raw.movie_ids, raw.titles, genres, strict=True):
            flags = ["1" if x in g or (x == "unknown" and not g) else "0" for x in GENRES_100K]
            movies.append(f"{m}|{t}|01-Jan-1995||http://x/{m}|" + "|".join(flags))
        ratings = [
            f"{u}\t{m}\t{r}\t{t}"
            for u, m, r, t in zip(
                raw.user_ids, raw.rating_movie_ids, stars, raw.timestamps, strict=True
            )
        ]
    return "\n".join(movies) + "\n", "\n".join(ratings) + "\n"


@pytest.mark.parametrize("layout", ["csv", "dat", "100k"])
def test_world_on_every_layout(tmp_path, layout):
    movies, ratings = _texts(layout)
    folder = write_layout(tmp_path / layout, layout, movies=movies, ratings=ratings)
    data = load_dataset(folder, PrepareConfig(3, 3))
    world = fit_world(data, "train", seed=0, progress=False, **SMALL)
    u = np.arange(data.n_users)[data.test_index >= 0][:8]
    st = world.initial_state(u, data.test_index[u])
    res = world.step(st, world.organic_scores(st).argmax(axis=1), np.random.default_rng(0))
    lo, hi = data.rating_scale
    assert ((res.ratings >= lo) & (res.ratings <= hi)).all()
    step = 0.5 if layout == "csv" else 1.0
    assert world.fitted["rating_step"] == step
    np.testing.assert_allclose(res.ratings / step, np.round(res.ratings / step))
    path = world.save(tmp_path / f"w-{layout}")
    assert (path / "world.json").is_file()


def test_cli_validate_end_to_end(tmp_path, capsys, isolated_cache):
    movies, ratings = _texts("csv", seed=6)
    folder = write_layout(tmp_path / "csv", "csv", movies=movies, ratings=ratings)
    out = tmp_path / "report" / "sim.md"
    code, stdout, err = run_cli(
        [
            "sim",
            "validate",
            "--data",
            str(folder),
            "--json",
            "--out",
            str(out),
            "--sessions",
            "100",
            "--quiet",
        ],
        capsys,
    )
    assert code == 0, err
    res = json.loads(stdout)
    for key in ("HR@10", "NDCG@10", "popular", "markov"):
        assert key in res["preference"]
    for key in ("rmse", "rmse_item_mean", "rmse_global_mean", "rmse_user_item_bias"):
        assert res["rating"][key] > 0
    assert {"auc", "ece", "log_loss", "ll", "ll_null"} <= set(res["leave"])
    assert {"session_length", "session_survival", "genre_repeat", "mean_rating"} <= set(
        res["replay"]
    )
    assert res["terms"] and all(
        t["status"] in ("fitted", "assumption") for t in res["terms"].values()
    )
    assert set(res["worlds"]["scalars"]["leave_intercept"]) == {"train", "eval", "abs_diff"}
    assert out.is_file() and (out.parent / "sim_replay.png").is_file()
    assert (out.parent / "sim_leave_reliability.png").is_file()
    assert "assumption" in out.read_text() or "fitted" in out.read_text()
    # The worlds were fitted once and cached.
    assert len(list(isolated_cache.glob("worlds/*/*/world.json"))) == 2


def test_cli_fit_and_bad_input(tmp_path, capsys, isolated_cache):
    movies, ratings = _texts("dat")
    folder = write_layout(tmp_path / "dat", "dat", movies=movies, ratings=ratings)
    code, stdout, err = run_cli(
        [
            "sim",
            "fit",
            "--data",
            str(folder),
            "--world",
            "eval",
            "--out",
            str(tmp_path / "w"),
            "--json",
            "--quiet",
        ],
        capsys,
    )
    assert code == 0, err
    assert set(json.loads(stdout)) == {"eval"}
    assert (tmp_path / "w" / "eval" / "world.json").is_file()
    args = ["--world", "validation", "--out", str(tmp_path / "w"), "--json", "--quiet"]
    code, stdout, err = run_cli(["sim", "fit", "--data", str(folder), *args], capsys)
    assert code == 0, err
    assert set(json.loads(stdout)) == {"val_a", "val_b"}
    for name in ("val_a", "val_b"):
        meta = json.loads((tmp_path / "w" / name / "world.json").read_text())
        assert meta["world"] == name
    code, _, err = run_cli(["sim", "fit", "--data", str(folder), "--world", "test"], capsys)
    assert code == 2 and "test" in err
