"""``movierec train``'s action-mode options: candidate mode, bandit episodes, coursework."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from experiments.cli import cli
from experiments.commands.train import ORDERS, env_options
from movierec_env import candidates
from movierec_env.candidates import COURSEWORK_K, coursework_task


def test_orders_are_the_envs_orders() -> None:
    assert candidates.ORDERS == ORDERS


def test_coursework_task_is_sorted_bandit_candidates_and_a_fresh_dict() -> None:
    task = coursework_task()
    assert task == {"candidates": {"k": COURSEWORK_K, "order": "genre_affinity"}, "bandit": True}
    task["candidates"]["k"] = 99
    assert coursework_task()["candidates"]["k"] == COURSEWORK_K
    assert coursework_task(3)["candidates"]["k"] == 3


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((None, None, False, False), {}),
        ((7, None, False, False), {"candidates": {"k": 7, "order": "shuffle"}}),
        (
            (7, "encoder_score", True, False),
            {"candidates": {"k": 7, "order": "encoder_score"}, "bandit": True},
        ),
        ((None, None, True, False), {"bandit": True}),
        ((None, None, False, True), coursework_task()),
    ],
)
def test_env_options(args: tuple, expected: dict) -> None:
    assert env_options("sb3-ppo", *args) == expected


@pytest.mark.parametrize(
    ("agent", "args", "message"),
    [
        ("sb3-ppo", (5, None, False, True), "--coursework already sets"),
        ("sb3-ppo", (None, "genre_affinity", False, True), "--coursework already sets"),
        ("sb3-ppo", (None, "genre_affinity", False, False), "--order genre_affinity needs"),
        ("dqn", (5, None, False, False), "--agent dqn"),
        ("dqn", (None, None, False, True), "--agent dqn"),
    ],
)
def test_env_options_errors_name_the_option(agent: str, args: tuple, message: str) -> None:
    with pytest.raises(click.UsageError, match=message):
        env_options(agent, *args)


def test_train_cli_rejects_dqn_in_candidate_mode_before_any_work(tmp_path: Path) -> None:
    res = CliRunner().invoke(cli, ["train", "--agent", "dqn", "--candidates", "5"])
    assert res.exit_code == 2 and "--agent dqn" in res.output


@pytest.mark.slow
def test_train_cli_coursework_prints_reward_beside_random(tmp_path: Path) -> None:
    out = tmp_path / "ppo.zip"
    args = ["train", "--agent", "sb3-ppo", "--coursework", "--timesteps", "64"]
    res = CliRunner().invoke(cli, [*args, "--out", str(out), "--no-progress"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output.splitlines()[0])
    assert summary["env_kwargs"] == coursework_task()
    val = summary["val"]
    # Candidate mode reports how often the target was among the K candidates.
    assert 0.0 < val["candidate_recall"] < 1.0
    assert 0.0 < val["mean_reward"] < 1.0 and 0.0 < val["random_mean_reward"] < 1.0
    from stable_baselines3 import PPO

    model = PPO.load(out)
    assert model.action_space.n == COURSEWORK_K
