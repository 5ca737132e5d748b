"""`movierec evaluate --agent NAME` for the agents package's names."""

from __future__ import annotations

import json

import pytest

from agents import evaluate_agent, make_agent
from tests.conftest import run_cli


@pytest.fixture()
def patched(monkeypatch, tiny_data, fake_encoder):
    import movierec_env.data
    from experiments.commands import evaluate as ev

    monkeypatch.setattr(movierec_env.data, "load_dataset", lambda *a, **k: tiny_data)
    monkeypatch.setattr(ev, "load_encoder", lambda data, enc: fake_encoder)


@pytest.mark.parametrize("name", ["genre", "reward-greedy", "encoder-greedy", "random"])
def test_evaluate_agent_names_match_evaluate_agent(patched, capsys, make_env, name):
    code, out, err = run_cli(["evaluate", "--agent", name, "--json", "--seed", "3"], capsys)
    assert code == 0, err
    got = json.loads(out)
    env = make_env(split="test")
    ref = evaluate_agent(make_agent(name, env, seed=3), env)
    for key in ("HR@1", "HR@5", "HR@10", "NDCG@10", "MRR", "n_users"):
        assert got[key] == pytest.approx(ref[key]), key


def test_learning_agent_needs_a_model(patched, capsys):
    code, _, err = run_cli(["evaluate", "--agent", "dqn"], capsys)
    assert code == 2
    assert "--model" in err and err.strip().count("\n") == 0
