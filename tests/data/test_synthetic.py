"""The synthetic sequential dataset of the encoder scale benchmark."""

from __future__ import annotations

import numpy as np
import pytest

from movierec_env.data import load_dataset, prepare
from movierec_env.data.synthetic import synthetic_sequential_raw, write_dat

SMALL = {"n_users": 60, "n_movies": 2_000, "n_ratings": 4_000, "max_user_ratings": 300}


@pytest.fixture(scope="module")
def raw():
    return synthetic_sequential_raw(**SMALL, seed=3)


def test_shape_and_lengths(raw):
    assert raw.n_ratings == SMALL["n_ratings"]
    counts = np.bincount(raw.user_ids)[1:]
    assert counts.size == SMALL["n_users"]
    assert counts.min() >= 20 and counts.max() <= SMALL["max_user_ratings"]
    assert raw.genres.shape == (SMALL["n_movies"], len(raw.genre_names))
    assert set(np.unique(raw.ratings).tolist()) <= {x / 2 for x in range(1, 11)}


def test_no_user_rates_a_movie_twice_and_time_moves_forward(raw):
    pairs = raw.user_ids * 10**7 + raw.rating_movie_ids
    assert np.unique(pairs).size == pairs.size
    same_user = raw.user_ids[1:] == raw.user_ids[:-1]
    assert (np.diff(raw.timestamps)[same_user] >= 0).all()
    assert (np.diff(raw.timestamps)[same_user] == 0).any()  # bursts in the same second


def test_consecutive_movies_are_related(raw):
    # The planted pattern: a user's next movie is often near the last one on the hidden
    # circle (movie row order): within 4 steps' reach (4 * 5 rows) about ten times as
    # often as two random movies (2 * 20 / 2,000 = 2%).
    rows = np.searchsorted(raw.movie_ids, raw.rating_movie_ids)
    same_user = raw.user_ids[1:] == raw.user_ids[:-1]
    d = np.abs(np.diff(rows))[same_user]
    d = np.minimum(d, SMALL["n_movies"] - d)
    assert (d < 20).mean() > 5 * (2 * 20 / SMALL["n_movies"])


def test_deterministic_per_seed():
    a = synthetic_sequential_raw(**SMALL, seed=1)
    b = synthetic_sequential_raw(**SMALL, seed=1)
    c = synthetic_sequential_raw(**SMALL, seed=2)
    assert np.array_equal(a.rating_movie_ids, b.rating_movie_ids)
    assert np.array_equal(a.timestamps, b.timestamps)
    assert not np.array_equal(a.rating_movie_ids, c.rating_movie_ids)


@pytest.mark.parametrize(
    ("kwargs", "names"),
    [
        ({"n_ratings": 100}, "n_ratings=100"),
        ({"max_user_ratings": 2_500}, "max_user_ratings=2500"),
        ({"min_user_ratings": 0}, "min_user_ratings=0"),
    ],
)
def test_bad_sizes_name_the_value(kwargs, names):
    with pytest.raises(ValueError, match=names):
        synthetic_sequential_raw(**{**SMALL, **kwargs})


def test_write_dat_round_trips_through_the_ml1m_reader(raw, tmp_path, monkeypatch):
    monkeypatch.setenv("MOVIEREC_CACHE", str(tmp_path / "cache"))
    folder = write_dat(raw, tmp_path / "ml-1m-like")
    data = load_dataset(folder)
    direct = prepare(raw)
    assert data.n_interactions == direct.n_interactions
    assert np.array_equal(data.items, direct.items)
    assert np.array_equal(data.ratings, direct.ratings)
    assert np.array_equal(data.item_genres, direct.item_genres)
