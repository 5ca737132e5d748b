"""Semantics of each baseline on tiny synthetic data, checked against brute force."""

from __future__ import annotations

import numpy as np
import pytest

from agents.baselines import (
    EncoderGreedyAgent,
    GenreAgent,
    RandomAgent,
    RewardGreedyAgent,
    expected_reward_scores,
)
from agents.registry import make_agent
from movierec_env import rec_env
from movierec_env.gym_compat import make_vec
from movierec_env.metrics import history_mask


def _positions(data, n=25):
    return data.target_indices("train")[:: max(1, data.target_indices("train").size // n)][:n]


def _seen(data, pos):
    return history_mask(data, np.asarray([pos]))[0, 1:]


def _info(pos):
    return {"position": np.asarray(pos, dtype=np.int64)}


def _obs(env, pos):
    return np.array(env.unwrapped._core.obs[np.asarray(pos)])


def test_popular_returns_most_popular_unseen(make_env, tiny_data):
    env = make_env()
    agent = make_agent("popular", env)
    pos = _positions(tiny_data)
    acts, _ = agent.predict(_obs(env, pos), info=_info(pos))
    pop = tiny_data.popularity[1:]
    for p, a in zip(pos, acts, strict=True):
        seen = _seen(tiny_data, p)
        assert not seen[a]
        assert pop[a] == pop[~seen].max()


def test_markov_follows_transitions(make_env, tiny_data):
    env = make_env()
    agent = make_agent("markov", env)
    # Brute-force transition counts over consecutive training interactions.
    counts = np.zeros((tiny_data.n_items + 1, tiny_data.n_items + 1))
    train = tiny_data.train_mask()
    for u in range(tiny_data.n_users):
        s, e = tiny_data.offsets[u], tiny_data.train_end[u]
        for g in range(s + 1, e):
            if train[g]:
                counts[tiny_data.items[g - 1], tiny_data.items[g]] += 1
    pos = _positions(tiny_data, 40)
    acts, _ = agent.predict(_obs(env, pos), info=_info(pos))
    checked = 0
    for p, a in zip(pos, acts, strict=True):
        seen = _seen(tiny_data, p)
        assert not seen[a]
        row = counts[tiny_data.items[p - 1], 1:]
        if row[~seen].max() > 0:
            assert row[a] == row[~seen].max()
            checked += 1
    assert checked > 10


@pytest.mark.parametrize("window", [1, 3, 10])
def test_genre_picks_genre_closest_then_popular(make_env, tiny_data, window):
    env = make_env()
    agent = GenreAgent(env, window=window)
    g = tiny_data.item_genres.astype(np.float64)
    pos = _positions(tiny_data)
    acts, _ = agent.predict(_obs(env, pos), info=_info(pos))
    for p, a in zip(pos, acts, strict=True):
        u = np.searchsorted(tiny_data.offsets, p, side="right") - 1
        hist = tiny_data.items[max(tiny_data.offsets[u], p - window) : p]
        rows = g[hist] / np.maximum(np.linalg.norm(g[hist], axis=1, keepdims=True), 1e-12)
        prof = rows.mean(axis=0)
        norms = np.linalg.norm(g[1:], axis=1) * np.linalg.norm(prof)
        cos = np.where(norms > 0, g[1:] @ prof / np.where(norms > 0, norms, 1), 0.0)
        seen = _seen(tiny_data, p)
        assert not seen[a]
        best = cos[~seen].max()
        assert cos[a] == pytest.approx(best, abs=1e-6)
        tied = (~seen) & (np.abs(cos - best) < 1e-6)
        assert tiny_data.popularity[1:][a] == tiny_data.popularity[1:][tied].max()


def test_encoder_greedy_is_top_unseen_encoder_score(make_env, tiny_data, fake_encoder):
    env = make_env()
    agent = EncoderGreedyAgent(env)
    pos = _positions(tiny_data)
    obs = _obs(env, pos)
    acts, _ = agent.predict(obs, info=_info(pos))
    scores = fake_encoder.scores(obs)[:, 1:]
    for row, p, a in zip(scores, pos, acts, strict=True):
        seen = _seen(tiny_data, p)
        assert not seen[a]
        assert row[a] == row[~seen].max()


@pytest.mark.parametrize(
    "reward",
    [None, {"genre_mode": "seed"}, {"rating_mode": "item", "w_hit": 0.7, "w_genre": 0.1}],
)
def test_reward_greedy_expected_reward_matches_brute_force(make_env, tiny_data, reward):
    env = make_env(reward=reward)
    agent = RewardGreedyAgent(env)
    tables = rec_env(env).reward_tables
    cfg = tables.config
    pos = _positions(tiny_data, 10)
    obs = _obs(env, pos)
    got = agent.action_scores(obs, _info(pos))
    logits = agent.encoder.scores(obs)[:, 1:].astype(np.float64)
    g = tiny_data.item_genres[1:].astype(np.float64)
    n = tiny_data.n_items
    scale = 0.5 if cfg.genre_mode == "seed" else 1.0
    for r, p in enumerate(pos):
        seen = _seen(tiny_data, p)
        z = np.where(seen, -np.inf, logits[r])
        prob = np.exp(z - z.max())
        prob /= prob.sum()
        for a in range(n):
            if seen[a]:
                assert got[r, a] == -np.inf
                continue
            total = 0.0
            for j in range(n):
                if prob[j] == 0:
                    continue
                na, nj = np.linalg.norm(g[a]), np.linalg.norm(g[j])
                cos = g[a] @ g[j] / (na * nj) if na > 0 and nj > 0 else 0.0
                if cfg.rating_mode == "window":
                    rating = tables.rating_position[p]
                else:
                    rating = tables.rating_action[a]
                total += prob[j] * (
                    cfg.w_hit * (a == j) + cfg.w_genre * scale * cos + cfg.w_rating * rating
                )
            assert got[r, a] == pytest.approx(total, rel=1e-5, abs=1e-6)
    acts, _ = agent.predict(obs, info=_info(pos))
    assert np.array_equal(acts, np.argmax(got, axis=1))


def test_expected_reward_without_mask_sums_probabilities(make_env, tiny_data):
    env = make_env(reward={"w_hit": 1.0, "w_genre": 0.0, "w_rating": 0.0})
    tables = rec_env(env).reward_tables
    logits = np.random.default_rng(0).normal(size=(3, tiny_data.n_items))
    exp = expected_reward_scores(logits, None, tables, np.array([5, 6, 7]))
    np.testing.assert_allclose(exp.sum(axis=1), 1.0)


@pytest.mark.parametrize(
    "name", ["random", "popular", "markov", "genre", "encoder-greedy", "reward-greedy"]
)
def test_masks_respected_and_position_read_from_env(make_env, tiny_data, name):
    env = make_env(split="train")
    agent = make_agent(name, env, seed=0)
    obs, info = env.reset(seed=0)
    for _ in range(200):
        action, _ = agent.predict(obs)  # position and masks come from the env itself
        assert env.action_masks()[action], f"{name} recommended a seen movie"
        assert not _seen(tiny_data, env.unwrapped.position)[action]
        if name != "random":
            again, _ = agent.predict(obs, info=info)
            assert again == action
        obs, _, term, trunc, info = env.step(action)
        if term or trunc:
            obs, info = env.reset()


def test_explicit_action_masks_win(make_env):
    env = make_env()
    agent = make_agent("popular", env)
    obs, _ = env.reset(seed=1)
    masks = np.zeros(env.action_space.n, dtype=bool)
    masks[3] = True
    assert agent.predict(obs, action_masks=masks)[0] == 3


def test_random_is_seeded(make_env):
    env = make_env()
    obs, _ = env.reset(seed=0)
    obs_b = np.repeat(obs[None], 50, axis=0)
    pos = {"position": np.full(50, env.unwrapped.position)}
    a1, _ = RandomAgent(env, seed=3).predict(obs_b, info=pos)
    a2, _ = RandomAgent(env, seed=3).predict(obs_b, info=pos)
    a3, _ = RandomAgent(env, seed=4).predict(obs_b, info=pos)
    assert np.array_equal(a1, a2)
    assert not np.array_equal(a1, a3)
    assert len(set(a1.tolist())) > 5


def test_context_agent_without_position_is_a_clear_error(make_env):
    env = make_env()
    agent = make_agent("genre", env)
    with pytest.raises(ValueError, match="position"):
        agent.action_scores(np.zeros((2, 8), dtype=np.float32), None)


def test_learn_returns_self_and_save_load_roundtrip(make_env, tmp_path):
    env = make_env()
    agent = GenreAgent(env, window=4)
    assert agent.learn(100) is agent
    agent.save(tmp_path / "genre")
    loaded = GenreAgent.load(tmp_path / "genre", env=env)
    assert loaded.window == 4
    with pytest.raises(ValueError, match="holds agent"):
        RandomAgent.load(tmp_path / "genre.zip", env=env)


def test_registry_names_and_unknown(make_env):
    from agents.registry import AGENT_NAMES

    env = make_env()
    for name in ("random", "popular", "markov", "genre", "encoder-greedy", "reward-greedy"):
        assert name in AGENT_NAMES
        assert make_agent(name, env).name == name
    with pytest.raises(ValueError, match="unknown agent 'nope'"):
        make_agent("nope", env)


def test_vector_env_predict_reads_positions_and_masks(tiny_data, fake_encoder):

    import movierec_env  # noqa: F401

    venv = make_vec(
        "MovieRec-v0",
        num_envs=4,
        dataset=tiny_data,
        encoders=fake_encoder,
    )
    agent = make_agent("genre", venv)
    obs, info = venv.reset(seed=0)
    for _ in range(30):
        acts, _ = agent.predict(obs)
        assert acts.shape == (4,)
        assert venv.action_masks()[np.arange(4), acts].all()
        ref = agent.action_scores(obs, info)
        ref[~venv.action_masks()] = -np.inf
        assert np.array_equal(acts, ref.argmax(axis=1))
        obs, _, _, _, info = venv.step(acts)
    venv.close()
