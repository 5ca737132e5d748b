"""prepare(): PROTOCOL.md filtering, order, indexing, split and training-only statistics."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from movierec_env.data import (
    PAD,
    EmptyDatasetError,
    PrepareConfig,
    PreparedDataset,
    RawDataset,
    load_raw,
    prepare,
)
from movierec_env.data.synthetic import synthetic_raw


def make_raw(
    ratings: list[tuple[int, int, float, int]],
    movie_ids: list[int] | None = None,
    name: str = "hand",
) -> RawDataset:
    """A RawDataset from (user, movie, rating, timestamp) rows in file order."""
    arr = np.array(ratings, dtype=np.float64).reshape(-1, 4)
    mids = np.array(
        sorted(set(arr[:, 1].astype(int))) if movie_ids is None else movie_ids, dtype=np.int64
    )
    n = mids.size
    genres = np.zeros((n, 2), dtype=np.uint8)
    genres[::2, 0] = 1
    genres[1::2, 1] = 1
    return RawDataset(
        name=name,
        source="<test>",
        layout="csv",
        movie_ids=mids,
        titles=np.array([f"Movie {m}" for m in mids], dtype=object),
        genre_names=["A", "B"],
        genres=genres,
        user_ids=arr[:, 0].astype(np.int64),
        rating_movie_ids=arr[:, 1].astype(np.int64),
        ratings=arr[:, 2].astype(np.float32),
        timestamps=arr[:, 3].astype(np.int64),
        rating_scale=(0.5, 5.0),
    )


NO_FILTER = PrepareConfig(min_user_ratings=1, min_item_ratings=1)


def _movies_of(d: PreparedDataset, user_id: int) -> list[int]:
    items, _, _ = d.sequence(d.user_to_index(user_id))
    return d.item_movie_ids[items].tolist()


def test_filtering_counts_raw_data_once() -> None:
    # User 1 has 5 ratings, one of them on movie 99 that only 1 user rated: the user
    # keeps 4 interactions (counts are taken on the raw data, no iteration to a core).
    rows = [(1, m, 4.0, t) for t, m in enumerate([10, 11, 12, 13, 99])]
    rows += [(u, m, 3.0, 100 + u) for u in range(2, 7) for m in (10, 11, 12, 13)]
    rows += [(u, 10, 3.0, 200 + u) for u in (2, 3)]  # users 2..6 have 4-6 ratings
    d = prepare(make_raw(rows))
    assert 99 not in d.item_movie_ids.tolist()
    assert _movies_of(d, 1) == [10, 11, 12, 13]  # 4 < 5 left, but the user stays
    assert d.user_ids.tolist() == [1, 2, 3]  # users 4..6 had only 4 raw ratings
    assert d.raw_counts == {"users": 6, "movies": 5, "ratings": len(rows)}


def test_thresholds_are_parameters() -> None:
    rows = [(1, 1, 4.0, 1), (1, 2, 4.0, 2), (2, 1, 3.0, 3)]
    d = prepare(make_raw(rows), NO_FILTER)
    assert d.n_interactions == 3
    d = prepare(make_raw(rows), PrepareConfig(min_user_ratings=2, min_item_ratings=1))
    assert d.user_ids.tolist() == [1]


def test_chronological_with_stable_ties() -> None:
    # File order within equal timestamps must survive; other ratings go by time.
    rows = [(1, 30, 4.0, 50), (1, 10, 4.0, 20), (1, 20, 3.0, 20), (1, 40, 2.0, 10)]
    rows += [(2, 20, 1.0, 5), (2, 10, 2.0, 5), (2, 30, 3.0, 5)]
    d = prepare(make_raw(rows), NO_FILTER)
    assert _movies_of(d, 1) == [40, 10, 20, 30]
    assert _movies_of(d, 2) == [20, 10, 30]
    _, ratings, ts = d.sequence(d.user_to_index(1))
    assert ts.tolist() == [10, 20, 20, 50]
    assert ratings.tolist() == [2.0, 4.0, 3.0, 4.0]


def test_random_tie_break_is_seeded_and_only_moves_ties() -> None:
    rows = [(1, m, 3.0, 7) for m in range(1, 21)] + [(1, 99, 3.0, 1)]
    raw = make_raw(rows)
    a = prepare(raw, PrepareConfig(1, 1, tie_break="random", seed=1))
    b = prepare(raw, PrepareConfig(1, 1, tie_break="random", seed=1))
    c = prepare(raw, PrepareConfig(1, 1, tie_break="random", seed=2))
    stable = prepare(raw, NO_FILTER)
    assert _movies_of(a, 1) == _movies_of(b, 1)
    assert _movies_of(a, 1) != _movies_of(c, 1)
    assert _movies_of(a, 1)[0] == 99  # the earlier timestamp stays first
    assert sorted(_movies_of(a, 1)) == sorted(_movies_of(stable, 1))
    assert a.fingerprint != stable.fingerprint


def test_leave_one_out_split() -> None:
    rows = [(1, m, 4.0, t) for t, m in enumerate([1, 2, 3, 4])]  # 4 -> train 2
    rows += [(2, m, 4.0, t) for t, m in enumerate([1, 2, 3])]  # 3 -> train 1
    rows += [(3, m, 4.0, t) for t, m in enumerate([1, 2])]  # 2 -> train only
    d = prepare(make_raw(rows), NO_FILTER)
    assert d.offsets.tolist() == [0, 4, 7, 9]
    assert d.test_index.tolist() == [3, 6, -1]
    assert d.val_index.tolist() == [2, 5, -1]
    assert d.train_end.tolist() == [2, 5, 9]
    assert d.target_indices("test").tolist() == [3, 6]
    assert d.target_indices("val").tolist() == [2, 5]
    assert d.target_indices("train").tolist() == [1, 8]  # positions with a history
    assert d.train_mask().tolist() == [1, 1, 0, 0, 1, 0, 0, 1, 1]
    with pytest.raises(ValueError, match="split"):
        d.target_indices("dev")


def test_indexing_and_padding() -> None:
    rows = [(5, 30, 4.0, 1), (5, 10, 2.0, 2), (9, 20, 3.0, 3), (9, 30, 5.0, 4)]
    raw = make_raw(rows, movie_ids=[10, 20, 30, 40])  # 40 never rated
    d = prepare(raw, NO_FILTER)
    assert d.item_movie_ids.tolist() == [-1, 10, 20, 30]
    assert d.item_titles.tolist() == ["", "Movie 10", "Movie 20", "Movie 30"]
    assert d.item_genres.shape == (4, 2) and d.item_genres.dtype == np.float32
    assert d.item_genres[PAD].sum() == 0
    assert d.item_genres[1:].tolist() == raw.genres[:3].astype(np.float32).tolist()
    assert d.items.min() >= 1 and d.items.max() == d.n_items == 3
    assert d.user_ids.tolist() == [5, 9]
    assert d.movie_to_item(20) == 2 and d.user_to_index(9) == 1
    assert d.popularity[PAD] == 0 and d.popularity.shape == (4,)
    with pytest.raises(KeyError, match="40"):
        d.movie_to_item(40)
    with pytest.raises(KeyError, match="7"):
        d.user_to_index(7)


def test_statistics_use_training_interactions_only() -> None:
    # Movie 3 appears only as targets (val/test): no popularity, the global train mean.
    rows = [(1, 1, 5.0, 1), (1, 2, 3.0, 2), (1, 3, 1.0, 3), (1, 3, 1.0, 4)]
    rows += [(2, 1, 4.0, 1), (2, 2, 2.0, 2), (2, 2, 2.0, 3), (2, 3, 1.0, 4)]
    d = prepare(make_raw(rows), NO_FILTER)
    item = {m: d.movie_to_item(m) for m in (1, 2, 3)}
    assert d.popularity[item[1]] == 2 and d.popularity[item[2]] == 2
    assert d.popularity[item[3]] == 0
    train_mean = np.mean([5.0, 3.0, 4.0, 2.0])
    assert d.item_mean_rating[item[1]] == pytest.approx(4.5)
    assert d.item_mean_rating[item[2]] == pytest.approx(2.5)
    assert d.item_mean_rating[item[3]] == pytest.approx(train_mean)
    assert d.item_mean_rating[PAD] == pytest.approx(train_mean)
    assert int(d.popularity.sum()) == int(d.train_mask().sum())


def test_fingerprint_is_stable_and_sensitive() -> None:
    raw = synthetic_raw(n_users=30, n_movies=20, n_ratings=600, seed=4)
    a = prepare(raw)
    assert prepare(raw).fingerprint == a.fingerprint
    assert len(a.fingerprint) == 64
    assert prepare(raw, PrepareConfig(min_user_ratings=6)).fingerprint != a.fingerprint
    ratings = raw.ratings.copy()
    ratings[0] = 5.0 if ratings[0] != 5.0 else 4.0
    changed = dataclasses.replace(raw, ratings=ratings)
    assert prepare(changed).fingerprint != a.fingerprint


def test_invalid_config() -> None:
    raw = synthetic_raw(n_users=5, n_movies=5, n_ratings=50)
    with pytest.raises(ValueError, match="min_user_ratings"):
        prepare(raw, PrepareConfig(min_user_ratings=0))
    with pytest.raises(ValueError, match="tie_break"):
        prepare(raw, PrepareConfig(tie_break="shuffle"))


@pytest.mark.parametrize(
    ("cfg", "lower"),
    [
        (PrepareConfig(min_user_ratings=50, min_item_ratings=1), "lower min_user_ratings"),
        (PrepareConfig(min_user_ratings=1, min_item_ratings=50), "lower min_item_ratings"),
        (
            PrepareConfig(min_user_ratings=50, min_item_ratings=50),
            "lower min_user_ratings and min_item_ratings",
        ),
    ],
)
def test_empty_after_filtering_names_threshold(cfg: PrepareConfig, lower: str) -> None:
    raw = synthetic_raw(n_users=5, n_movies=10, n_ratings=40, name="toy")
    with pytest.raises(EmptyDatasetError) as info:
        prepare(raw, cfg)
    msg = str(info.value)
    assert lower in msg and "'toy'" in msg
    assert isinstance(info.value, ValueError)


def test_empty_when_no_rating_passes_both_thresholds() -> None:
    # User 1 has 2 ratings on movies rated once; user 2 rates movie 3 twice.
    rows = [(1, 1, 3.0, 1), (1, 2, 3.0, 2), (2, 3, 3.0, 1), (3, 3, 3.0, 1)]
    with pytest.raises(EmptyDatasetError, match="min_user_ratings or min_item_ratings"):
        prepare(make_raw(rows), PrepareConfig(min_user_ratings=2, min_item_ratings=2))


def test_inconsistent_raw_is_refused() -> None:
    rows = [(1, 1, 3.0, 1), (1, 2, 3.0, 2)]
    with pytest.raises(ValueError, match="movie id 2 is rated but not in the catalogue"):
        prepare(make_raw(rows, movie_ids=[1, 3]), NO_FILTER)
    with pytest.raises(ValueError, match="sorted"):
        prepare(make_raw(rows, movie_ids=[2, 1]), NO_FILTER)


def test_large_ids_use_the_sorting_path() -> None:
    big = 10**12
    rows = [(big + u, big * 2 + m, 3.0, 10 - m) for u in range(3) for m in range(4)]
    d = prepare(make_raw(rows), NO_FILTER)
    assert d.user_ids.tolist() == [big, big + 1, big + 2]
    assert d.item_movie_ids[1:].tolist() == [big * 2 + m for m in range(4)]
    assert _movies_of(d, big) == [big * 2 + m for m in (3, 2, 1, 0)]


@pytest.mark.slow
def test_shipped_dataset_end_to_end(small_data: PreparedDataset) -> None:
    raw = load_raw()
    d = small_data
    assert d.raw_counts == {"users": 610, "movies": 9742, "ratings": 100836}
    # 5/5 on raw counts, recomputed independently with numpy.
    u, uc = np.unique(raw.user_ids, return_counts=True)
    m, mc = np.unique(raw.rating_movie_ids, return_counts=True)
    keep = np.isin(raw.user_ids, u[uc >= 5]) & np.isin(raw.rating_movie_ids, m[mc >= 5])
    assert d.n_interactions == int(keep.sum())
    assert d.n_items == np.unique(raw.rating_movie_ids[keep]).size
    assert d.n_users == np.unique(raw.user_ids[keep]).size
    # Chronological per user; the split has one val and one test target per user.
    assert d.offsets[-1] == d.n_interactions
    same_user = np.repeat(np.arange(d.n_users), d.lengths)
    step = np.diff(d.timestamps)[same_user[1:] == same_user[:-1]]
    assert bool((step >= 0).all())
    assert d.target_indices("test").size == int((d.lengths >= 3).sum())
    assert int(d.popularity.sum()) == int(d.train_mask().sum())
    assert d.item_genres.shape == (d.n_items + 1, 19)
