"""RewardConfig validation and the reward tables (both genre paths agree)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from movierec_env.reward import RewardConfig, RewardTables, compute_reward


def test_config_round_trips_through_json():
    cfg = RewardConfig(w_hit=1, w_genre=0.0, w_rating=0.5, genre_mode="seed", rating_window=3)
    again = RewardConfig.from_value(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg and isinstance(again.w_hit, float)
    assert RewardConfig.from_value(None) == RewardConfig()
    with pytest.raises(TypeError):
        RewardConfig.from_value([0.4, 0.3, 0.3])
    with pytest.raises(TypeError):
        RewardConfig(w_hit="0.4")
    with pytest.raises(ValueError, match="finite"):
        RewardConfig(w_genre=float("nan"))
    with pytest.raises(ValueError, match="rating_window"):
        RewardConfig(rating_window=0)
    with pytest.raises(ValueError, match="rating_mode"):
        RewardConfig(rating_mode="user")


@pytest.mark.parametrize("genre_mode", ["cosine", "seed"])
def test_fallback_genre_path_matches_table(tiny_data, genre_mode):
    cfg = RewardConfig(genre_mode=genre_mode)
    table = RewardTables.build(tiny_data, cfg)
    rows = RewardTables.build(tiny_data, cfg, max_genre_combos=0)
    assert table.genre_table is not None and rows.genre_table is None
    rng = np.random.default_rng(0)
    actions = rng.integers(0, tiny_data.n_items, 500)
    positions = rng.integers(0, tiny_data.n_interactions, 500)
    r1, h1, g1, q1, t1 = compute_reward(table, actions, positions)
    r2, h2, g2, q2, t2 = compute_reward(rows, actions, positions)
    np.testing.assert_allclose(g1, g2, atol=1e-6)
    np.testing.assert_allclose(r1, r2, atol=1e-6)
    np.testing.assert_array_equal(h1, h2)
    np.testing.assert_array_equal(q1, q2)
    np.testing.assert_array_equal(t1, t2)
    assert g1.max() <= (0.5 if genre_mode == "seed" else 1.0) + 1e-6 and g1.min() >= 0
    # Scalars give exactly the elements of the batched result (single == vector env).
    for k in range(20):
        r, h, g, q, t = compute_reward(table, int(actions[k]), int(positions[k]))
        assert (r, h, g, q, t) == (r1[k], h1[k], g1[k], q1[k], t1[k])


def test_item_without_genre_scores_zero(tiny_data):
    tables = RewardTables.build(tiny_data, RewardConfig())
    no_genre = np.flatnonzero(tiny_data.item_genres[1:].sum(axis=1) == 0)
    assert no_genre.size  # synthetic_raw gives the last movie no genre
    positions = np.arange(min(50, tiny_data.n_interactions))
    _, _, genre, _, _ = compute_reward(tables, np.full(positions.size, no_genre[0]), positions)
    assert not genre.any()


@pytest.mark.parametrize(
    "config",
    [
        RewardConfig(),
        RewardConfig(genre_mode="seed", rating_mode="item"),
        RewardConfig(w_hit=0.7, w_genre=0.11, w_rating=0.19, rating_window=3),
        RewardConfig(w_hit=1.0, w_genre=0.0, w_rating=0.0),
    ],
    ids=["default", "seed-item", "odd-weights", "hit-only"],
)
def test_single_env_step_is_compute_reward_bit_for_bit(small_data, config):
    """The single env's scalar hot path equals the vectorised formula at every position.

    Every judged position of ml-latest-small (each user's training range from its second
    interaction, and the validation and test targets), alternating a random action and the
    target itself (a hit).
    """
    from movierec_env.env import MovieRecEnv
    from movierec_env.testing import RandomProjectionEncoder

    enc = RandomProjectionEncoder(small_data, obs_dim=4)
    tables = RewardTables.build(small_data, config)
    rng = np.random.default_rng(1)
    rows, positions, actions = [], [], []
    for split in ("train", "val", "test"):
        env = MovieRecEnv(
            dataset=small_data, encoders=enc, split=split, min_history=1, reward=config.to_dict()
        )
        assert not env._slow  # the scalar path, not the numpy fallback
        for user_id in env.eligible_user_ids.tolist():
            env.reset(options={"user_id": user_id})
            done = False
            while not done:
                pos = env.position
                a = int(tables.target_action[pos]) if pos % 2 else int(rng.integers(3650))
                _, reward, _, done, info = env.step(a)
                rows.append((reward, info["hit"], info["reward_genre"], info["reward_rating"]))
                rows[-1] += (info["target"],)
                positions.append(pos)
                actions.append(a)
    assert len(set(positions)) == small_data.n_interactions - small_data.n_users
    assert {tuple(type(v) for v in row) for row in rows} == {(float, bool, float, float, int)}
    want = compute_reward(tables, np.array(actions), np.array(positions))
    cols = list(zip(*rows, strict=True))
    for k, dtype in enumerate((np.float64, bool, np.float64, np.float64, np.int64)):
        # Exact equality: each Python float is the float32 value itself (float64 holds it).
        np.testing.assert_array_equal(np.asarray(cols[k]), want[k].astype(dtype), strict=True)
    assert any(cols[1]) and not all(cols[1])


def test_single_env_without_genre_table_uses_numpy(small_data, monkeypatch):
    """Above MAX_GENRE_COMBOS the env falls back to compute_reward itself."""
    from movierec_env import replay
    from movierec_env.env import MovieRecEnv
    from movierec_env.testing import RandomProjectionEncoder

    def rows_only(data, config):
        return RewardTables.build(data, config, max_genre_combos=0)

    monkeypatch.setattr(replay, "reward_tables", rows_only)
    env = MovieRecEnv(dataset=small_data, encoders=RandomProjectionEncoder(small_data))
    assert env._slow and env.reward_tables.genre_table is None
    env.reset(seed=0)
    pos = env.position
    _, r, _, _, info = env.step(7)
    r32, hit, genre, rating, target = compute_reward(env.reward_tables, 7, pos)
    assert (r, info["hit"], info["reward_genre"], info["reward_rating"], info["target"]) == (
        float(r32),
        bool(hit),
        float(genre),
        float(rating),
        int(target),
    )
