"""End-to-end: ``movierec train-encoders`` and ``movierec evaluate`` on a non-embedded layout."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from experiments.cli import cli
from experiments.commands.evaluate import AGENTS, register_agent
from movierec_env.data.synthetic import synthetic_raw


@pytest.fixture(scope="module")
def ml1m_folder(tmp_path_factory):
    """A synthetic dataset written in the ml-1m '::' layout."""
    raw = synthetic_raw(n_users=60, n_movies=40, n_ratings=2_400, seed=5)
    folder = tmp_path_factory.mktemp("ml-syn")
    with open(folder / "movies.dat", "w", encoding="utf-8") as f:
        for mid, title, g in zip(raw.movie_ids, raw.titles, raw.genres, strict=True):
            names = "|".join(n for n, on in zip(raw.genre_names, g, strict=True) if on)
            f.write(f"{mid}::{title}::{names or '(no genres listed)'}\n")
    stars = np.clip(np.ceil(raw.ratings), 1, 5).astype(int)
    with open(folder / "ratings.dat", "w", encoding="utf-8") as f:
        rows = zip(raw.user_ids, raw.rating_movie_ids, stars, raw.timestamps, strict=True)
        for u, m, r, t in rows:
            f.write(f"{u}::{m}::{r}::{t}\n")
    return folder


def test_train_and_evaluate_on_another_layout(ml1m_folder, tmp_path, monkeypatch):
    monkeypatch.setenv("MOVIEREC_CACHE", str(tmp_path / "cache"))
    runner = CliRunner()
    out = tmp_path / "enc"
    res = runner.invoke(
        cli,
        [
            "train-encoders",
            "--data",
            str(ml1m_folder),
            "--out",
            str(out),
            "--epochs",
            "1",
            "--window",
            "5",
            "--quiet",
            "--no-parallel",
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    report = json.loads(res.output)
    assert (out / "config.json").is_file()
    assert set(report["test"]) == {"lstm", "content", "hybrid"}
    for agent in ("popular", "markov", "hybrid"):
        res = runner.invoke(
            cli,
            [
                "evaluate",
                "--agent",
                agent,
                "--data",
                str(ml1m_folder),
                "--encoders",
                str(out),
                "--json",
            ],
        )
        assert res.exit_code == 0, res.output
        m = json.loads(res.output)
        assert list(m) == ["HR@1", "HR@5", "HR@10", "NDCG@10", "MRR", "n_users"]
        assert 0 <= m["HR@1"] <= m["HR@5"] <= m["HR@10"] <= 1
    assert m["HR@10"] == report["test"]["hybrid"]["HR@10"]


def test_evaluate_unknown_agent_and_registry(ml1m_folder):
    runner = CliRunner()
    res = runner.invoke(cli, ["evaluate", "--agent", "nope", "--data", str(ml1m_folder)])
    assert res.exit_code != 0 and "unknown agent 'nope'" in res.output

    def oracle(data, opts):
        def score(d, pos):
            s = np.zeros((pos.size, d.n_items + 1), dtype=np.float32)
            s[np.arange(pos.size), d.items[pos]] = 1.0
            return s

        return score

    register_agent("oracle-test", oracle, "test only")
    try:
        res = runner.invoke(
            cli, ["evaluate", "--agent", "oracle-test", "--data", str(ml1m_folder), "--json"]
        )
        assert res.exit_code == 0, res.output
        assert json.loads(res.output)["HR@1"] == 1.0
    finally:
        AGENTS.pop("oracle-test")
