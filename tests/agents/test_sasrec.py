"""SASRec (agents/sasrec.py): learns a planted pattern, never sees targets, is seeded."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from agents import evaluate_agent, make_agent
from agents.registry import AGENT_NAMES, REFERENCE_NAMES, load_agent
from agents.sasrec import (
    SASRecAgent,
    SASRecConfig,
    SASRecModel,
    history_windows,
    sasrec_scores,
    train_sasrec,
    training_windows,
)
from encoders.baselines import popularity_scores
from experiments.commands.evaluate import evaluate_scorer
from movierec_env.data import PrepareConfig, PreparedDataset, prepare
from movierec_env.data.types import RawDataset
from movierec_env.testing import RandomProjectionEncoder
from tests.conftest import run_cli

#: Small and fast: the whole file runs in seconds on one thread.
SMALL = SASRecConfig(
    max_len=12, dim=32, n_blocks=1, n_heads=2, dropout=0.1, lr=1e-2, batch_size=16,
    epochs=25, patience=5,
)  # fmt: skip


def planted_raw(n_users: int = 60, n_movies: int = 30, length: int = 14, seed: int = 0):
    """Every user walks a cycle of movies: the next movie is always the last one + 1.

    Each user starts at a random movie, so every movie is about equally popular: the
    popularity ranking knows nothing, a sequential model knows everything.
    """
    rng = np.random.default_rng(seed)
    movie_ids = np.arange(1, n_movies + 1, dtype=np.int64) * 10
    users, movies, stamps = [], [], []
    for u in range(n_users):
        start = int(rng.integers(n_movies))
        for k in range(length):
            users.append(u + 1)
            movies.append(movie_ids[(start + k) % n_movies])
            stamps.append(1_000_000 + u * 100_000 + k * 600)
    genres = np.zeros((n_movies, 2), dtype=np.uint8)
    genres[np.arange(n_movies), np.arange(n_movies) % 2] = 1
    return RawDataset(
        name="planted",
        source="<test>",
        layout="synthetic",
        movie_ids=movie_ids,
        titles=np.array([f"Movie {m}" for m in movie_ids], dtype=object),
        genre_names=["A", "B"],
        genres=genres,
        user_ids=np.asarray(users, dtype=np.int64),
        rating_movie_ids=np.asarray(movies, dtype=np.int64),
        ratings=np.full(len(users), 4.0, dtype=np.float32),
        timestamps=np.asarray(stamps, dtype=np.int64),
        rating_scale=(0.5, 5.0),
    )


@pytest.fixture(scope="module")
def planted() -> PreparedDataset:
    return prepare(planted_raw(), PrepareConfig(min_user_ratings=3, min_item_ratings=3))


@pytest.fixture(scope="module")
def trained(planted):
    return train_sasrec(planted, SMALL, seed=0)


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    """One torch thread (tests/conftest.py)."""


def _env(data: PreparedDataset, split: str = "test"):
    from movierec_env.env import MovieRecEnv

    return MovieRecEnv(dataset=data, encoders=RandomProjectionEncoder(data), split=split)


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def _with_items(data: PreparedDataset, where: np.ndarray) -> PreparedDataset:
    """``data`` with the items at absolute indices ``where`` replaced by other items."""
    items = data.items.copy()
    items[where] = items[where] % data.n_items + 1  # another valid item
    assert (items[where] != data.items[where]).all()
    return dataclasses.replace(data, items=items)


# --------------------------------------------------------------------------- learning
def test_learns_planted_pattern_and_beats_popular(planted, trained):
    model, record = trained
    sas = evaluate_scorer(planted, lambda d, p: sasrec_scores(model, d, p))
    pop = evaluate_scorer(planted, popularity_scores)
    assert sas["n_users"] == pop["n_users"] == planted.n_users
    assert sas["HR@10"] >= 0.9, sas
    assert sas["HR@1"] >= pop["HR@10"] + 0.3, (sas, pop)
    assert record["val"]["NDCG@10"] > 0.5
    losses = [h["loss"] for h in record["history"]]
    assert losses[-1] < losses[0]


def test_training_windows_hold_training_targets_only(planted):
    starts, stops = training_windows(planted, max_len=5)
    user = np.searchsorted(planted.offsets, starts, side="right") - 1
    assert (stops + 1 <= planted.train_end[user]).all()  # targets items[start+1:stop+1]
    assert (stops - starts <= 5).all() and (stops > starts).all()
    targets = np.concatenate([np.arange(s + 1, e + 1) for s, e in zip(starts, stops, strict=True)])
    assert np.unique(targets).size == targets.size  # each training target once
    every = np.concatenate(
        [np.arange(o + 1, t) for o, t in zip(planted.offsets[:-1], planted.train_end, strict=True)]
    )
    assert np.array_equal(np.sort(targets), np.sort(every))


def test_history_windows_read_only_before_the_position(planted):
    pos = planted.target_indices("test")
    w = history_windows(planted, pos, max_len=4)
    assert w.shape == (pos.size, 4)
    for row, g in zip(w, pos, strict=True):
        assert np.array_equal(row, planted.items[g - 4 : g])


# --------------------------------------------------------------------------- leakage
def test_test_targets_never_change_the_model_or_its_scores(planted, trained):
    model, _ = trained
    test_pos = planted.target_indices("test")
    other = _with_items(planted, test_pos)
    model2, _ = train_sasrec(other, SMALL, seed=0)
    assert _same_weights(model, model2)
    for pos in (test_pos, planted.target_indices("val")):
        assert np.array_equal(sasrec_scores(model, planted, pos), sasrec_scores(model2, other, pos))


def test_without_early_stopping_no_held_out_item_is_read(planted):
    cfg = dataclasses.replace(SMALL, epochs=3, patience=None)
    held_out = np.concatenate([planted.target_indices("val"), planted.target_indices("test")])
    a, rec = train_sasrec(planted, cfg, seed=0)
    b, _ = train_sasrec(_with_items(planted, held_out), cfg, seed=0)
    assert _same_weights(a, b)
    assert "val" not in rec and rec["best_epoch"] == rec["epochs_run"] == 3
    # The check can fail: changing one training interaction does change the weights.
    train_pos = planted.offsets[0] + 3
    c, _ = train_sasrec(_with_items(planted, np.array([train_pos])), cfg, seed=0)
    assert not _same_weights(a, c)


# --------------------------------------------------------------------------- seeding
def test_deterministic_per_seed_and_global_rng_untouched(planted):
    cfg = dataclasses.replace(SMALL, epochs=3, patience=2)
    state = torch.random.get_rng_state()
    a, ra = train_sasrec(planted, cfg, seed=5)
    b, rb = train_sasrec(planted, cfg, seed=5)
    c, _ = train_sasrec(planted, cfg, seed=6)
    assert torch.equal(state, torch.random.get_rng_state())
    assert _same_weights(a, b)
    assert [h["loss"] for h in ra["history"]] == [h["loss"] for h in rb["history"]]
    assert not _same_weights(a, c)


# --------------------------------------------------------------------------- the agent
def test_agent_matches_scorer_and_predicts_unseen(planted, trained):
    env = _env(planted)
    agent = SASRecAgent(env, seed=0, **dataclasses.asdict(SMALL))
    agent.model = trained[0]
    res = evaluate_agent(agent, env)
    ref = evaluate_scorer(planted, lambda d, p: sasrec_scores(trained[0], d, p))
    for key in ("HR@1", "HR@5", "HR@10", "NDCG@10", "MRR", "n_users"):
        assert res[key] == pytest.approx(ref[key]), key
    pos = planted.target_indices("test")
    obs = env.observations_at(pos)
    actions, _ = agent.predict(obs, info={"position": pos})
    seen = [set(planted.items[planted.offsets[u] : g]) for u, g in enumerate(pos)]
    assert all(int(a) + 1 not in s for a, s in zip(actions, seen, strict=True))
    # A simulated user's history (info["recent_items"], left-padded) scores the same.
    recent = history_windows(planted, pos, agent.config.max_len)
    np.testing.assert_array_equal(
        agent.item_scores(obs, {"recent_items": recent}), agent.item_scores(obs, {"position": pos})
    )


def test_save_load_round_trip(planted, trained, tiny_data, tmp_path):
    env = _env(planted)
    agent = SASRecAgent(env, seed=3, **dataclasses.asdict(SMALL))
    agent.model, agent.train_record = trained
    path = agent.save(tmp_path / "sasrec")
    assert path.suffix == ".zip"
    back = load_agent("sasrec", path, env=env)
    assert isinstance(back, SASRecAgent) and back.config == agent.config and back.seed == 3
    pos = planted.target_indices("val")
    info = {"position": pos}
    obs = env.observations_at(pos)
    np.testing.assert_array_equal(back.item_scores(obs, info), agent.item_scores(obs, info))
    with pytest.raises(ValueError, match="another dataset"):
        SASRecAgent.load(path, env=_env(tiny_data))
    with pytest.raises(ValueError, match="needs env"):
        SASRecAgent.load(path)
    make_agent("popular", env).save(tmp_path / "pop")
    with pytest.raises(ValueError, match="not a SASRec agent"):
        SASRecAgent.load(tmp_path / "pop.zip", env=env)


def test_registry_builds_a_trained_agent(planted):
    assert "sasrec" in REFERENCE_NAMES and "sasrec" in AGENT_NAMES
    env = _env(planted)
    agent = make_agent("sasrec", env, seed=0, **dataclasses.asdict(SMALL))
    assert isinstance(agent, SASRecAgent) and agent.train_record is not None
    assert evaluate_agent(agent, env)["HR@10"] >= 0.9


def test_cli_evaluate_sasrec(planted, monkeypatch, capsys):
    import movierec_env.data
    from experiments.commands import evaluate as ev

    monkeypatch.setattr(movierec_env.data, "load_dataset", lambda *a, **k: planted)
    monkeypatch.setattr(ev, "load_encoder", lambda data, enc: RandomProjectionEncoder(data))
    code, out, err = run_cli(["evaluate", "--agent", "sasrec", "--json", "--seed", "1"], capsys)
    assert code == 0, err
    got = json.loads(out)
    env = _env(planted)
    ref = evaluate_agent(make_agent("sasrec", env, seed=1), env)
    for key in ("HR@1", "HR@10", "NDCG@10", "MRR", "n_users"):
        assert got[key] == pytest.approx(ref[key]), key


# --------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"max_len": 0}, "max_len"),
        ({"dim": 64, "n_heads": 3}, "must divide"),
        ({"dropout": 1.0}, "dropout"),
        ({"lr": 0.0}, "lr"),
        ({"patience": 0}, "patience"),
        ({"batch_size": 2.5}, "batch_size"),
    ],
)
def test_bad_settings_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SASRecConfig(**kwargs)


def test_unknown_setting_and_untrained_use_are_clear_errors(planted, tmp_path):
    env = _env(planted)
    with pytest.raises(TypeError, match=r"unknown SASRec setting.*hidden"):
        SASRecAgent(env, hidden=64)
    agent = SASRecAgent(env)
    pos = planted.target_indices("test")
    with pytest.raises(RuntimeError, match="not trained"):
        agent.item_scores(env.observations_at(pos), {"position": pos})
    with pytest.raises(RuntimeError, match="not trained"):
        agent.save(tmp_path / "x")
    model = SASRecModel(planted.n_items, SMALL)
    with pytest.raises(ValueError, match="max_len"):
        model(torch.ones((1, SMALL.max_len + 1), dtype=torch.long))
    with pytest.raises(ValueError, match="positions"):
        history_windows(planted, np.array([planted.n_interactions]), 4)
    cfg = dataclasses.replace(SMALL, epochs=1)
    no_val = dataclasses.replace(planted, val_index=np.full(planted.n_users, -1))
    with pytest.raises(ValueError, match="validation"):
        train_sasrec(no_val, cfg)
    train_sasrec(no_val, dataclasses.replace(cfg, patience=None))  # fine without early stopping
