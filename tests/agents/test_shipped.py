"""End to end on ml-latest-small with the shipped encoder (slow; never trains encoders)."""

from __future__ import annotations

import numpy as np
import pytest


def _shipped() -> bool:
    from encoders import shipped_checkpoint

    return (shipped_checkpoint() / "config.json").is_file()


pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not _shipped(), reason="no shipped encoder checkpoint"),
]


@pytest.fixture(scope="module")
def env(small_data):
    from encoders import default_encoder
    from movierec_env.env import MovieRecEnv

    return MovieRecEnv(dataset=small_data, encoders=default_encoder(small_data), split="test")


def test_encoder_greedy_equals_the_encoders_hybrid_ranker(env, small_data):
    from agents import evaluate_agent, make_agent
    from experiments.commands.evaluate import evaluate_scorer

    enc = env.unwrapped.encoder
    ref = evaluate_scorer(small_data, lambda d, p: enc.component_scores(d, p, "hybrid"))
    res = evaluate_agent(make_agent("encoder-greedy", env), env)
    for key in ("HR@1", "HR@10", "NDCG@10", "MRR", "n_users"):
        assert res[key] == pytest.approx(ref[key], abs=1e-9), key


def test_recommender_end_observation_matches_the_env(env, small_data):
    from agents import Recommender
    from movierec_env import rec_env

    rec = Recommender(small_data, env.unwrapped.encoder)
    table = rec_env(env).observations_at(np.arange(small_data.n_interactions + 1))
    pos = small_data.target_indices("test")[::61]
    for g in pos:
        u = int(np.searchsorted(small_data.offsets, g, side="right") - 1)
        np.testing.assert_allclose(rec._end_observation(u, stop=int(g))[0], table[g], atol=1e-5)


def test_recommendations_for_a_real_user(env, small_data):
    from agents import Recommender

    rec = Recommender(small_data, env.unwrapped.encoder)
    out = rec.recommend(1, k=10)
    seen = set(small_data.item_movie_ids[small_data.sequence(0)[0]].tolist())
    assert len(out) == 10 and {r.movie_id for r in out}.isdisjoint(seen)
    assert all(r.source == "model" and r.reason for r in out)
