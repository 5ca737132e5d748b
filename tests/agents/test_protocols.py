"""The agent contract: every agent of the registry is an Agent, ours are RankingAgents."""

from __future__ import annotations

import numpy as np
import pytest

from agents.common.protocols import Agent, RankingAgent, is_ranking_agent
from agents.registry import BASELINE_NAMES, load_agent, make_agent


@pytest.mark.parametrize("name", [*BASELINE_NAMES, "dqn"])
def test_package_agents_are_ranking_agents(make_env, hybrid_tiny, tiny_data, name):
    from movierec_env.env import MovieRecEnv

    kwargs = {"num_envs": 1, "learning_starts": 10, "buffer_size": 100} if name == "dqn" else {}
    real = name in ("lstm", "content")  # single-encoder rankings need a HybridEncoder
    env = MovieRecEnv(dataset=tiny_data, encoders=hybrid_tiny) if real else make_env()
    agent = make_agent(name, env, seed=0, **kwargs)
    assert isinstance(agent, Agent) and isinstance(agent, RankingAgent)
    assert is_ranking_agent(agent)


def test_sb3_models_are_agents(make_env):
    agent = make_agent("sb3-ppo", make_env(), seed=0, n_steps=16, batch_size=16)
    assert isinstance(agent, Agent)


@pytest.mark.parametrize("name", ["random", "popular", "genre", "reward-greedy", "lstm"])
def test_baselines_save_data_only_zips_and_load_back(
    make_env, hybrid_tiny, tiny_data, tmp_path, name
):
    from movierec_env.env import MovieRecEnv

    env = MovieRecEnv(dataset=tiny_data, encoders=hybrid_tiny) if name == "lstm" else make_env()
    agent = make_agent(name, env, seed=4)
    path = agent.save(tmp_path / name)
    assert path.suffix == ".zip"
    import zipfile

    with zipfile.ZipFile(path) as zf:
        assert zf.namelist() == ["data.json"]  # no pickle, no tensors
    loaded = load_agent(name, path, env=env)
    assert type(loaded) is type(agent)
    obs = np.zeros((3, env.observation_space.shape[0]), dtype=np.float32)
    info = {"position": tiny_data.target_indices("test")[:3]}
    # The random generator's state is saved too: both continue with the same draws.
    np.testing.assert_array_equal(agent.action_scores(obs, info), loaded.action_scores(obs, info))


def test_loading_another_agents_file_is_refused(make_env, tmp_path):
    from agents.baselines import GenreAgent, PopularityAgent

    env = make_env()
    path = GenreAgent(env).save(tmp_path / "g")
    with pytest.raises(ValueError, match="holds agent 'genre'"):
        PopularityAgent.load(path, env=env)
    (tmp_path / "junk.zip").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a MovieRec agent checkpoint"):
        GenreAgent.load(tmp_path / "junk.zip", env=env)
