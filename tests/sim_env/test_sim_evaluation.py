"""evaluate_episodes: every baseline runs on MovieRecSim-v0; numbers equal stepping the env."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from agents import make_agent
from agents.registry import BASELINE_NAMES
from agents.sim_evaluation import CONTEXT_WINDOW, evaluate_episodes
from movierec_env.sim_env import MovieRecSimEnv


@pytest.fixture(scope="module")
def env():
    return gym.make("MovieRecSim-v0", world="eval", split="test")


@pytest.mark.parametrize(
    "name",
    # Every baseline of the ladder (the encoder-component rankers are encoder-greedy's
    # ranking by other names) and the one-step oracle.
    [n for n in BASELINE_NAMES if n not in ("hybrid", "lstm", "content")] + ["oracle-greedy"],
)
def test_every_baseline_runs_episodes(env, name):
    res = evaluate_episodes(make_agent(name, env, seed=0), env, max_users=8)
    assert res["n_users"] == 8 and res["per_user"]["returns"].shape == (8,)
    assert res["mean_length"] >= 1 and 0 <= res["take_rate"] <= 1
    assert res["mean_return"] <= res["mean_length"]  # rewards lie in [0, 1]
    again = evaluate_episodes(make_agent(name, env, seed=0), env, max_users=8)
    np.testing.assert_array_equal(res["per_user"]["returns"], again["per_user"]["returns"])


def test_episode_returns_equal_stepping_single_envs(env, small_data):
    agent = make_agent("markov", env)
    res = evaluate_episodes(agent, env, max_users=3, seed=7)
    single = MovieRecSimEnv(dataset=small_data, world="eval", split="test")
    for k, uid in enumerate(res["per_user"]["user_ids"]):
        obs, _ = single.reset(seed=7 + k, options={"user_id": int(uid)})
        total, done, steps = 0.0, False, 0
        while not done:
            masks = single.action_masks()
            info = {"recent_items": single.recent_items(CONTEXT_WINDOW)}
            scores = agent.action_scores(obs[None], info)[0]
            scores[~masks] = -np.inf
            obs, r, term, trunc, _ = single.step(int(np.argmax(scores)))
            total, steps, done = total + r, steps + 1, term or trunc
        assert total == pytest.approx(res["per_user"]["returns"][k], abs=1e-5)
        assert steps == res["per_user"]["lengths"][k]


def test_recent_items_are_the_simulated_history(small_data):
    e = MovieRecSimEnv(dataset=small_data)
    _, info = e.reset(seed=0)
    u = small_data.user_to_index(info["user_id"])
    logged = small_data.items[small_data.offsets[u] : small_data.train_end[u]]
    np.testing.assert_array_equal(e.recent_items(3)[0], logged[-3:])
    _, _, _, _, step = e.step(int(np.flatnonzero(e.action_masks())[0]))
    assert e.recent_items(3)[0, -1] == step["watched"] + 1
    with pytest.raises(ValueError, match="window"):
        e.recent_items(0)


def test_replay_envs_are_refused(tiny_data):
    from movierec_env.env import MovieRecEnv
    from movierec_env.testing import RandomProjectionEncoder

    replay = MovieRecEnv(dataset=tiny_data, encoders=RandomProjectionEncoder(tiny_data))
    with pytest.raises(TypeError, match="MovieRecSim-v0"):
        evaluate_episodes(make_agent("popular", replay), replay)


def test_linucb_learns_from_its_own_rewards_and_round_trips(env, tmp_path):
    from agents.bandits import LinUCBAgent
    from agents.registry import load_agent

    agent = make_agent("linucb", env, seed=0, num_envs=4)
    before = agent.b.copy()
    agent.learn(40)
    assert agent.num_timesteps >= 40 and not np.array_equal(agent.b, before)
    path = agent.save(tmp_path / "lin")
    loaded = load_agent("linucb", path, env=env)
    assert isinstance(loaded, LinUCBAgent)
    np.testing.assert_array_equal(loaded.A, agent.A)
    res = evaluate_episodes(loaded, env, max_users=4)
    assert res["n_users"] == 4


def test_oracles_are_attached_to_the_batch_they_are_judged_on(env):
    oracle = make_agent("oracle-greedy", env)
    res = evaluate_episodes(oracle, env, max_users=16)
    rnd = evaluate_episodes(make_agent("random", env, seed=0), env, max_users=16)
    assert oracle.env is env  # re-attached to its own env afterwards
    assert res["mean_return"] > rnd["mean_return"] and res["take_rate"] > rnd["take_rate"]


def test_dqn_on_the_simulator_gets_its_simulator_defaults(env):
    from agents.registry import SIM_GAMMA

    dqn = make_agent("dqn", env, seed=0, num_envs=2)
    assert dqn.gamma == SIM_GAMMA and dqn.policy.net_kwargs["encoder_prob"] == "log"
    assert dqn.policy.net_kwargs["residual"] is False
    assert dqn.policy_kwargs["popularity_feature"] is True
    # A caller's own policy settings win over the simulator defaults.
    mine = make_agent("dqn", env, num_envs=2, policy_kwargs={"encoder_prob": "absolute"})
    assert mine.policy.net_kwargs["encoder_prob"] == "absolute"
    assert mine.policy.net_kwargs["residual"] is False  # the other defaults stay
    ablation = make_agent("dqn-gamma0", env, num_envs=2)
    assert ablation.gamma == 0.0 and ablation.policy.net_kwargs["encoder_prob"] == "log"


def test_dqn_state_scales_are_saved_and_loaded(env, tmp_path):
    import torch

    from agents.dqn import DQN

    dqn = make_agent("dqn", env, seed=0, num_envs=2, policy_kwargs={"state_scales": True})
    assert dqn.policy.net_kwargs["state_scales"] is True
    with torch.no_grad():
        dqn.policy.q_net.scale_head.weight.normal_()
    obs, _ = env.reset(seed=1)
    dqn.save(tmp_path / "dqn.zip")
    back = DQN.load(tmp_path / "dqn.zip")
    assert back.policy.net_kwargs["state_scales"] is True
    np.testing.assert_allclose(back.policy.q_values(obs), dqn.policy.q_values(obs), rtol=1e-6)


def test_one_genre_recommends_its_genre_to_everyone_forever(env):
    from movierec_env import rec_env

    agent = make_agent("one-genre", env)
    c = rec_env(env)
    in_genre = c.item_features.genre_matrix[1:, agent.genre] > 0
    assert agent.genre_name == "Drama"  # the largest genre mass in ml-latest-small's targets
    obs, _ = env.reset(seed=3)
    for _ in range(10):
        a = int(agent.predict(obs, action_masks=c.action_masks(), deterministic=True)[0])
        assert in_genre[a] and c.action_masks()[a]
        # The most popular allowed movie of the genre: the order ignores the observation.
        allowed = np.flatnonzero(c.action_masks() & in_genre)
        pop = c.item_features.popularity[1:]
        assert pop[a] == pop[allowed].max()
        obs, _, term, trunc, _ = env.step(a)
        if term or trunc:
            break
