"""The ORACLES of MovieRecSim-v0 and the gate's episode runner (agents.oracles, sim_gate)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import movierec_env  # noqa: F401 (registers the envs)
from agents.oracles import (
    GreedyOracle,
    PlannerConfig,
    PlannerOracle,
    RewardSpec,
    expected_rating_terms,
    expected_rewards,
    greedy_items,
    plan_items,
)
from agents.registry import load_agent, make_agent
from experiments.sim_gate import episode_returns, greedy_policy, user_seed
from movierec_env.gym_compat import make_vec
from movierec_env.sim_core import SimCore

SMALL = PlannerConfig(candidates=3, rollouts=2, horizon=2)


@pytest.fixture(autouse=True)
def one_thread():
    import torch
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(1):
        yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def core(small_data):
    return SimCore(small_data, world="eval", split="test")


@pytest.fixture(scope="module")
def spec(core):
    return RewardSpec.from_config(core.features, core.reward_config)


@pytest.fixture(scope="module")
def env():
    return gym.make("MovieRecSim-v0", world="eval", split="test")


def test_accept_prob_each_matches_accept_prob(core):
    w, ws = core.world, core.start_world_states(core.users[:4])
    each = w.accept_prob_each(ws)
    items = np.array([[1, 5, 17], [2, 3, 4], [100, 200, 300], [7, 8, 9]])
    for k in range(items.shape[1]):
        np.testing.assert_allclose(
            each[np.arange(4), items[:, k]], w.accept_prob(ws, items[:, k]), rtol=1e-9
        )
    assert (each[ws.seen] == 0).all()


def test_expected_rating_terms_match_monte_carlo(core):
    w, ws = core.world, core.start_world_states(core.users[:2])
    items = np.array([3, 40])
    rng = np.random.default_rng(0)
    n = 40_000
    big = ws.take(np.repeat(np.arange(2), n))
    f = w.fitted  # the world's rating noise, written out independently of its code
    noisy = w.rating(big, np.repeat(items, n)) + f["rating_sigma"] * rng.standard_normal(2 * n)
    stepped = np.round(noisy / f["rating_step"]) * f["rating_step"]
    draws = np.clip(stepped, f["rating_min"], f["rating_max"])
    mc = np.clip((draws - 3.0) / 2.0, 0.0, 1.0).reshape(2, n)
    exact = expected_rating_terms(w, w.rating(ws, items))
    np.testing.assert_allclose(mc.mean(axis=1), exact, atol=4 * mc.std(axis=1).max() / np.sqrt(n))


def test_greedy_expected_reward_matches_monte_carlo_of_step(core, spec):
    w, ws = core.world, core.start_world_states(core.users[:3])
    e = expected_rewards(w, ws, spec)
    rng = np.random.default_rng(1)
    n = 20_000
    for u in range(3):
        for item in (int(np.argmax(e[u])), int(np.flatnonzero(~ws.seen[u])[3])):
            rec = np.full(n, item)
            res = w.step(ws.take(np.full(n, u)), rec, rng)
            r, _, _ = core.rewards(rec, res.accepted, rec, res.watched_items, res.ratings)
            se = r.std() / np.sqrt(n)
            assert abs(e[u, item] - r.mean()) < 4 * se + 1e-3, (u, item, e[u, item], r.mean())


def test_greedy_never_recommends_a_seen_movie(core, spec, env):
    ws = core.start_world_states(core.users[:32])
    items = greedy_items(core.world, ws, spec)
    assert (items > 0).all() and not ws.seen[np.arange(32), items].any()
    oracle = GreedyOracle(env)
    obs, _ = env.reset(seed=3)
    for _ in range(8):
        a, _ = oracle.predict(obs)
        assert env.unwrapped.action_masks()[a]
        obs, _, term, trunc, _ = env.step(a)
        if term or trunc:
            obs, _ = env.reset()


def test_planner_with_no_horizon_is_greedy(core, spec):
    ws = core.start_world_states(core.users[:16])
    greedy = greedy_items(core.world, ws, spec)
    for cfg in (PlannerConfig(horizon=0), PlannerConfig(candidates=1)):
        got = plan_items(core.world, ws, spec, np.random.default_rng(0), cfg)
        np.testing.assert_array_equal(got, greedy)


def test_planner_is_deterministic_per_seed_and_leaves_the_state(core, spec, env):
    ws = core.start_world_states(core.users[:8])
    before = ws.copy()
    a = plan_items(core.world, ws, spec, np.random.default_rng(5), SMALL)
    b = plan_items(core.world, ws, spec, np.random.default_rng(5), SMALL)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ws.seen, before.seen)
    np.testing.assert_array_equal(ws.exposure, before.exposure)

    def run(seed):
        oracle = PlannerOracle(env, seed=seed, candidates=3, rollouts=2, horizon=2)
        obs, _ = env.reset(seed=11)
        out = []
        for _ in range(5):
            act, _ = oracle.predict(obs)
            out.append(int(act))
            obs, _, term, trunc, _ = env.step(act)
            if term or trunc:
                break
        return out

    assert run(2) == run(2)


def test_without_dynamics_freezes_the_state(core):
    w = core.world.without_dynamics()
    ws = core.start_world_states(core.users[:1])
    a, b = ws.copy(), ws.copy()
    unseen = np.flatnonzero(~ws.seen[0])
    pairs = [(int(unseen[i]), int(unseen[-1 - i])) for i in (0, 50, 100)]
    take = np.full((1, 4), 1e-9)  # the recommendation is taken: different movies watched
    for x, y in pairs:
        ra = w.step_with_draws(a, np.array([x]), take)
        rb = w.step_with_draws(b, np.array([y]), take)
        assert ra.accepted[0] and rb.accepted[0]
        assert ra.leave_prob[0] == 0.0 and not ra.left[0] and rb.leave_prob[0] == 0.0
    sa, sb = w.organic_scores(a), w.organic_scores(b)
    both = ~a.seen[0] & ~b.seen[0]
    np.testing.assert_array_equal(sa[0, both], sb[0, both])
    np.testing.assert_array_equal(a.exposure, ws.exposure)
    np.testing.assert_array_equal(a.ignored, ws.ignored)
    np.testing.assert_array_equal(a.sat_num, ws.sat_num)
    # With the dynamics on, the same two sequences do change the organic distribution.
    on_a, on_b = ws.copy(), ws.copy()
    for x, y in pairs:
        core.world.step_with_draws(on_a, np.array([x]), take)
        core.world.step_with_draws(on_b, np.array([y]), take)
    both = ~on_a.seen[0] & ~on_b.seen[0]
    sa, sb = core.world.organic_scores(on_a), core.world.organic_scores(on_b)
    assert not np.array_equal(sa[0, both], sb[0, both])
    with pytest.raises(ValueError, match="unknown dynamics"):
        core.world.with_dynamics(gravity=False)
    with pytest.raises(ValueError, match="analysis variant"):
        w.save("/nonexistent/never-written")


def test_episode_returns_equal_the_env_on_a_fixed_seed(core, spec, small_data):
    env = gym.make("MovieRecSim-v0", world="eval", split="test")
    oracle = GreedyOracle(env)
    users = core.users[:3]
    stats = episode_returns(core.world, core, users, greedy_policy(spec), seed=4, max_steps=50)
    for i, u in enumerate(users):
        obs, _ = env.reset(
            seed=user_seed(4, int(u)), options={"user_id": int(small_data.user_ids[u])}
        )
        total, steps = 0.0, 0
        while True:
            act, _ = oracle.predict(obs)
            obs, r, term, trunc, _ = env.step(act)
            total += float(r)
            steps += 1
            if term or trunc:
                break
        assert steps == stats.lengths[i]
        assert total == pytest.approx(stats.returns[i], abs=1e-5)
    more = episode_returns(core.world, core, users, greedy_policy(spec), 4, 50, expected=True)
    np.testing.assert_allclose(more.returns, stats.returns)
    assert more.expected_returns is not None and (more.expected_returns > 0).all()


def test_registry_builds_oracles_on_the_sim_env_only(env, tmp_path):
    vec = make_vec("MovieRecSim-v0", num_envs=3)
    for name, cls in (("oracle-greedy", GreedyOracle), ("oracle-planner", PlannerOracle)):
        oracle = make_agent(name, env, seed=1)
        assert isinstance(oracle, cls) and oracle.is_oracle and "ORACLE" in (cls.__doc__ or "")
        obs, _ = vec.reset(seed=0)
        small = {} if name == "oracle-greedy" else {"candidates": 2, "rollouts": 2, "horizon": 1}
        acts, _ = make_agent(name, vec, seed=1, **small).predict(obs)
        assert acts.shape == (3,) and vec.unwrapped.action_masks()[np.arange(3), acts].all()
        path = oracle.save(tmp_path / name)
        again = load_agent(name, path, env)
        assert isinstance(again, cls) and repr(again) == repr(oracle)
        with pytest.raises(TypeError, match="MovieRecSim-v0"):
            make_agent(name, gym.make("MovieRec-v0"))


def test_reward_spec_realized_equals_the_env_reward(core, spec):
    ws = core.start_world_states(core.users[:64])
    rec = greedy_items(core.world, ws, spec)
    res = core.world.step_with_draws(ws, rec, np.random.default_rng(0).random((64, 4)))
    env_r, _, _ = core.rewards(rec, res.accepted, rec, res.watched_items, res.ratings)
    mine = spec.realized(rec, res.accepted, res.watched_items, res.ratings)
    np.testing.assert_allclose(mine, env_r, atol=1e-6)


def test_cli_gate_json_shape(capsys, tmp_path):
    import json

    from tests.conftest import run_cli

    out_md = tmp_path / "gate.md"
    argv = ["sim", "gate", "--users", "3", "--seeds", "2", "--max-steps", "3", "--json"]
    argv += ["--candidates", "2", "--rollouts", "2", "--horizon", "1", "--no-sensitivity"]
    argv += ["--out", str(out_md)]
    code, out, err = run_cli(argv, capsys)
    assert code == 0, err
    res = json.loads(out)
    for key in ("default", "no_dynamics"):
        assert {"greedy", "planner", "gap", "ci95"} <= set(res[key])
    assert [r["off"] for r in res["channels"]] == ["leave", "patience", "exposure", "satisfaction"]
    assert res["sensitivity"] == [] and res["no_dynamics"]["greedy_length"] == 3.0
    text = out_md.read_text()
    assert "ORACLES" in text and "## Findings" in text
