from __future__ import annotations

import numpy as np

from encoders.baselines import markov_scores, popularity_scores, transition_counts


def test_popularity_scores(tiny_data):
    pos = tiny_data.target_indices("test")[:4]
    s = popularity_scores(tiny_data, pos)
    assert s.shape == (4, tiny_data.n_items + 1)
    assert np.isneginf(s[:, 0]).all()
    np.testing.assert_array_equal(s[0, 1:], tiny_data.popularity[1:])


def test_transitions_use_training_pairs_only(tiny_data):
    counts = transition_counts(tiny_data)
    # Count pairs by brute force over training interactions.
    want = np.zeros((tiny_data.n_items + 1,) * 2)
    for u in range(tiny_data.n_users):
        s, e = tiny_data.offsets[u], tiny_data.train_end[u]
        for g in range(s + 1, e):
            want[tiny_data.items[g - 1], tiny_data.items[g]] += 1
    np.testing.assert_array_equal(counts.toarray(), want)


def test_markov_scores_follow_last_item(tiny_data):
    pos = tiny_data.target_indices("test")
    s = markov_scores(tiny_data, pos)
    counts = transition_counts(tiny_data).toarray()
    prev = tiny_data.items[pos - 1]
    for r in range(5):
        row = counts[prev[r]]
        if row.max() > 0:
            assert np.argmax(s[r, 1:]) + 1 in np.flatnonzero(row == row.max())
    # Popularity breaks ties among unseen transitions.
    first = tiny_data.offsets[:1]
    sf = markov_scores(tiny_data, first)
    assert np.argmax(sf[0, 1:]) + 1 == np.argmax(tiny_data.popularity[1:]) + 1
