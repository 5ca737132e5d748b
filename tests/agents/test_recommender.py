"""Recommender: fallback, analysis, reasons, metrics; the recommend CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from agents.recommender import Recommender
from tests.conftest import run_cli


@pytest.fixture()
def rec(tiny_data, fake_encoder):
    return Recommender(tiny_data, fake_encoder, min_history=3)


def test_unknown_user_gets_popularity_fallback(rec, tiny_data):
    out = rec.recommend(999_999, k=5)
    assert [r.source for r in out] == ["popularity"] * 5
    assert all(r.reason.startswith("popular with everyone") for r in out)
    top = np.argsort(-tiny_data.popularity[1:], kind="stable")[:5] + 1
    assert [r.movie_id for r in out] == tiny_data.item_movie_ids[top].tolist()
    assert "not in dataset" in rec.explain_fallback(999_999)
    assert "most popular" in rec.format_recommendations(out, user_id=999_999)


def test_short_history_falls_back_and_excludes_seen(tiny_data, fake_encoder):
    rec = Recommender(tiny_data, fake_encoder, min_history=10_000)
    uid = int(tiny_data.user_ids[0])
    out = rec.recommend(uid, k=tiny_data.n_items)
    seen = set(tiny_data.item_movie_ids[tiny_data.sequence(0)[0]].tolist())
    assert out and {r.movie_id for r in out}.isdisjoint(seen)
    assert len(out) == tiny_data.n_items - len(seen)
    assert out[0].source == "popularity"
    assert "fewer than" in rec.explain_fallback(uid)


def test_model_recommendations_exclude_seen_and_follow_encoder(rec, tiny_data, fake_encoder):
    u = int(np.argmax(tiny_data.lengths))
    uid = int(tiny_data.user_ids[u])
    out = rec.recommend(uid, k=5)
    items, _, _ = tiny_data.sequence(u)
    seen = set(tiny_data.item_movie_ids[items].tolist())
    assert all(r.source == "model" for r in out)
    assert {r.movie_id for r in out}.isdisjoint(seen)
    # The fake encoder's observation after the whole history: tanh(mean of last 5 embeddings).
    obs = np.tanh(fake_encoder._emb[items[-fake_encoder.window :]].mean(axis=0))[None]
    scores = fake_encoder.scores(obs.astype(np.float32))[0]
    scores[items] = -np.inf
    expected = np.argsort(-scores, kind="stable")[:5]
    assert [r.movie_id for r in out] == tiny_data.item_movie_ids[expected].tolist()
    assert [r.rank for r in out] == [1, 2, 3, 4, 5]
    assert all(r.reason for r in out)


def test_analysis_weighs_recent_and_highly_rated(tiny_data, fake_encoder):
    rec = Recommender(tiny_data, fake_encoder, recency_half_life=5.0)
    u = int(np.argmax(tiny_data.lengths))
    uid = int(tiny_data.user_ids[u])
    prof = rec.analyze_user(uid)
    items, ratings, _ = tiny_data.sequence(u)
    assert prof.known and prof.n_ratings == items.size
    assert prof.mean_rating == pytest.approx(ratings.mean())
    # Average rating per genre, by hand.
    g = tiny_data.item_genres[items]
    for stat in prof.genres:
        j = tiny_data.genre_names.index(stat.genre)
        assert stat.count == int(g[:, j].sum())
        assert stat.mean_rating == pytest.approx(ratings[g[:, j] > 0].mean())
    assert sum(s.preference for s in prof.genres) == pytest.approx(1.0)
    assert prof.favourite_genres[0] == prof.genres[0].genre
    assert prof.recent[0][0] == tiny_data.item_movie_ids[items[-1]]
    # The latest 5-star rating outweighs an older 5-star one, and any low rating.
    w = rec._weights(np.array([5.0, 5.0, 1.0], dtype=np.float32))
    assert w[1] > w[0] > 0 and w[1] > w[2]
    assert not rec.analyze_user(999_999).known


def test_recency_uses_the_users_timeline_not_the_clock(tiny_data, fake_encoder, monkeypatch):
    import time

    rec = Recommender(tiny_data, fake_encoder)
    uid = int(tiny_data.user_ids[3])
    a = rec.analyze_user(uid)
    monkeypatch.setattr(time, "time", lambda: 4e9)
    assert rec.analyze_user(uid) == a


def test_reasons_name_a_highly_rated_movie_or_a_genre(tiny_data, fake_encoder):
    rec = Recommender(tiny_data, fake_encoder)
    reasons = []
    for u in range(tiny_data.n_users):
        if tiny_data.lengths[u] >= 3:
            reasons += [r.reason for r in rec.recommend(int(tiny_data.user_ids[u]), k=10)]
    because = [r for r in reasons if r.startswith("because you rated ")]
    genre = [r for r in reasons if "genre" in r]
    assert because and genre
    titles = set(tiny_data.item_titles[1:].tolist())
    for r in because:
        title, rating = r[len("because you rated ") :].rsplit(" ", 1)
        assert title in titles and 0.5 <= float(rating) <= 5.0


def test_metrics_and_hit_rate(rec, tiny_data):
    m = rec.evaluate("test")
    assert m["n_users"] == tiny_data.target_indices("test").size
    assert rec.hit_rate_at(10) == pytest.approx(m["HR@10"])
    assert rec.hit_rate_at(1) == pytest.approx(m["HR@1"])
    assert 0 <= m["fallback_share"] <= 1
    with pytest.raises(ValueError):
        rec.hit_rate_at(0)


def test_popular_agent_metrics_equal_evaluate_agent(tiny_data, fake_encoder):
    pytest.importorskip("encoders.baselines")
    from agents import evaluate_agent

    rec = Recommender(tiny_data, fake_encoder, agent="popular", min_history=1)
    res = evaluate_agent(rec.agent, rec.env)
    assert rec.evaluate("test")["HR@10"] == pytest.approx(res["HR@10"])


def test_configure_optimizers_needs_torch_modules(rec):
    with pytest.raises(TypeError, match="no trainable"):
        rec.configure_optimizers()


def test_bad_arguments(tiny_data, fake_encoder):
    with pytest.raises(ValueError):
        Recommender(tiny_data, fake_encoder, min_history=0)
    with pytest.raises(ValueError):
        Recommender(tiny_data, fake_encoder).recommend(1, k=0)


# ----------------------------------------------------------------------------- CLI


def test_cli_malformed_user_is_one_line_error(capsys):
    code, _, err = run_cli(["recommend", "--user", "abc"], capsys)
    assert code == 2
    assert err.strip().count("\n") == 0 and "--user must be an integer" in err


@pytest.mark.slow
def test_cli_unknown_user_falls_back(capsys):
    code, out, _ = run_cli(["recommend", "--user", "987654", "-k", "3", "--json"], capsys)
    assert code == 0
    res = json.loads(out)
    assert res["fallback"] and "not in dataset" in res["fallback"]
    assert len(res["recommendations"]) == 3
    assert res["recommendations"][0]["reason"].startswith("popular with everyone")


def _shipped() -> bool:
    from encoders import shipped_checkpoint

    return (shipped_checkpoint() / "config.json").is_file()


@pytest.mark.slow
@pytest.mark.skipif(not _shipped(), reason="no shipped encoder checkpoint (never train in tests)")
def test_cli_known_user_text(capsys):
    code, out, _ = run_cli(["recommend", "--user", "1", "-k", "5"], capsys)
    assert code == 0
    assert "Favourite genres" in out and " 5. " in out


def test_end_observation_replays_the_encoder(rec, tiny_data, fake_encoder):
    obs = fake_encoder.observations(tiny_data)
    for g in tiny_data.target_indices("test")[:10]:
        u = int(np.searchsorted(tiny_data.offsets, g, side="right") - 1)
        np.testing.assert_allclose(rec._end_observation(u, stop=int(g))[0], obs[g], atol=1e-5)


def test_load_agent_roundtrip(make_env, tmp_path):
    from agents.registry import load_agent, make_agent

    env = make_env()
    make_agent("genre", env, window=7).save(tmp_path / "g")
    assert load_agent("genre", tmp_path / "g.zip", env=env).window == 7
    with pytest.raises(FileNotFoundError):
        load_agent("genre", tmp_path / "missing", env=env)


def test_end_observation_with_a_real_hybrid_encoder(tiny_data, hybrid_tiny):
    rec = Recommender(tiny_data, hybrid_tiny)
    obs = hybrid_tiny.observations(tiny_data)
    # Long histories cross several windows (window=4): the replay must cut the same segments.
    for g in tiny_data.target_indices("test")[:12]:
        u = int(np.searchsorted(tiny_data.offsets, g, side="right") - 1)
        np.testing.assert_allclose(rec._end_observation(u, stop=int(g))[0], obs[g], atol=1e-5)
    assert rec._end_observation(int(np.argmax(tiny_data.lengths))).shape == (1, 16)


def test_configure_optimizers_for_both_encoders(tiny_data, hybrid_tiny):
    import torch

    rec = Recommender(tiny_data, hybrid_tiny)
    opts = rec.configure_optimizers(lr=1e-3, epochs=5)
    assert set(opts) == {"lstm", "content"}
    for opt, sched in opts.values():
        assert isinstance(opt, torch.optim.AdamW)
        assert opt.param_groups[0]["lr"] == pytest.approx(1e-3)
        opt.step()
        sched.step()
        assert opt.param_groups[0]["lr"] < 1e-3


# ------------------------------------------------------------------ people outside the dataset
def _as_rated(data, u):
    items, ratings, stamps = data.sequence(u)
    movie_ids = data.item_movie_ids[items].tolist()
    return list(zip(movie_ids, ratings.tolist(), strict=True)), stamps


@pytest.mark.parametrize("encoder", ["fake", "hybrid"])
def test_a_person_given_as_rated_movie_ids_gets_what_the_same_user_gets(
    tiny_data, fake_encoder, hybrid_tiny, encoder
):
    enc = fake_encoder if encoder == "fake" else hybrid_tiny
    rec = Recommender(tiny_data, enc, min_history=3)
    u = int(np.argmax(tiny_data.lengths))
    rated, stamps = _as_rated(tiny_data, u)
    mine = rec.recommend_for_ratings(rated, k=8, timestamps=stamps)
    theirs = rec.recommend(int(tiny_data.user_ids[u]), k=8)
    assert [r.movie_id for r in mine] == [r.movie_id for r in theirs]
    assert [r.source for r in mine] == ["model"] * 8
    assert {r.movie_id for r in mine}.isdisjoint({m for m, _ in rated})
    np.testing.assert_allclose([r.score for r in mine], [r.score for r in theirs], atol=1e-4)


def test_rated_movie_ids_as_a_mapping_and_default_timestamps(rec, tiny_data):
    rated, _ = _as_rated(tiny_data, 0)
    out = rec.recommend_for_ratings(dict(rated[:5]), k=3)
    assert len(out) == 3 and all(r.source == "model" for r in out)
    assert {r.movie_id for r in out}.isdisjoint(dict(rated[:5]))


def test_bad_rated_input_is_named(rec, tiny_data):
    good = int(tiny_data.item_movie_ids[1])
    with pytest.raises(ValueError, match=r"unknown movieId\(s\) \[987654321\]"):
        rec.recommend_for_ratings([(good, 4.0), (987654321, 3.0)])
    with pytest.raises(ValueError, match="outside the dataset's scale"):
        rec.recommend_for_ratings([(good, 11.0)])
    with pytest.raises(ValueError, match="timestamps has 2 entries"):
        rec.recommend_for_ratings([(good, 4.0)], timestamps=[1, 2])
    with pytest.raises(ValueError, match="k must be"):
        rec.recommend_for_ratings([(good, 4.0)], k=0)


def test_a_short_rated_list_gets_the_popularity_fallback(rec, tiny_data):
    out = rec.recommend_for_ratings([(int(tiny_data.item_movie_ids[1]), 5.0)], k=4)
    assert [r.source for r in out] == ["popularity"] * 4


def test_recommend_cli_for_rated_movie_ids(capsys):
    code, out, _ = run_cli(
        ["recommend", "--rated", "1:5,260:4.5,1196:4", "-k", "3", "--json"], capsys
    )
    assert code == 0
    payload = json.loads(out)
    assert payload["user_id"] is None and len(payload["recommendations"]) == 3
    assert {r["movie_id"] for r in payload["recommendations"]}.isdisjoint({1, 260, 1196})
    assert payload["profile"]["n_ratings"] == 3
    code, _, err = run_cli(["recommend", "--rated", "1:5,424242424:3"], capsys)
    assert code == 2 and "424242424" in err
    code, _, err = run_cli(["recommend", "--user", "1", "--rated", "1:5"], capsys)
    assert code == 2 and "exactly one" in err
