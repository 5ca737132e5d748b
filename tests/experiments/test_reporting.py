from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from experiments import reporting


def _row(reward: float, ranks: list[int], rewards: list[float]) -> dict:
    r = np.asarray(ranks)
    return {
        "HR@10": float((r <= 10).mean()),
        "NDCG@10": 0.1,
        "mean_reward": reward,
        "reward_hit": 0.0,
        "reward_genre": 0.3,
        "reward_rating": 0.4,
        "per_user": {"ranks": ranks, "rewards": rewards},
    }


def test_mean_std_ci_matches_t_interval() -> None:
    c = reporting.mean_std_ci([1.0, 2.0, 3.0])
    assert c["mean"] == pytest.approx(2.0)
    assert c["std"] == pytest.approx(1.0)
    assert c["ci95"] == pytest.approx(4.302652729911275 / np.sqrt(3))
    one = reporting.mean_std_ci([5.0])
    assert one["std"] == 0.0 and one["ci95"] == 0.0 and one["n"] == 1


def test_aggregate_over_seeds() -> None:
    per_seed = {"a": {0: _row(0.2, [1, 20], [0.1, 0.3]), 1: _row(0.4, [1, 1], [0.5, 0.3])}}
    res = reporting.aggregate(per_seed)
    assert res["a"]["mean_reward"]["mean"] == pytest.approx(0.3)
    assert res["a"]["HR@10"]["mean"] == pytest.approx(0.75)
    assert "per_user" not in res["a"]


def test_paired_test_detects_a_consistent_difference() -> None:
    rng = np.random.default_rng(0)
    base = rng.random(200)
    better = base + 0.05 + 0.01 * rng.random(200)
    per_seed = {
        "a": {0: _row(0.0, [5] * 200, list(better))},
        "b": {0: _row(0.0, [5] * 200, list(base))},
    }
    t = reporting.paired_test(per_seed, "a", "b", "rewards")
    assert t["diff"] > 0 and t["p"] < 1e-10
    same = reporting.paired_test(per_seed, "a", "a", "rewards")
    assert same["p"] == 1.0 and same["diff"] == 0.0


def test_paired_test_on_hits_is_mcnemar() -> None:
    # 30 users hit only by a, 10 only by b, 60 tied: exact binomial on the 40 discordant.
    ranks_a = [1] * 30 + [50] * 10 + [1] * 30 + [50] * 30
    ranks_b = [50] * 30 + [1] * 10 + [1] * 30 + [50] * 30
    per_seed = {
        "a": {0: _row(0.0, ranks_a, [0.0] * 100)},
        "b": {0: _row(0.0, ranks_b, [0.0] * 100)},
    }
    t = reporting.paired_test(per_seed, "a", "b", "hits@10")
    from scipy import stats

    assert t["diff"] == pytest.approx(0.2)
    assert t["p"] == pytest.approx(stats.binomtest(30, 40, 0.5).pvalue)


def test_per_user_ndcg_is_averaged_over_seeds_and_tested_with_wilcoxon() -> None:
    seeds = {0: {"per_user": {"ranks": [1, 3, 11]}}, 1: {"per_user": {"ranks": [1, 1, 11]}}}
    got = reporting.per_user_mean(seeds, "ndcg@10")
    np.testing.assert_allclose(got, [1.0, (0.5 + 1.0) / 2, 0.0])
    rng = np.random.default_rng(1)
    ra = rng.integers(1, 6, 300)  # a ranks every target in the top 5, b lower
    rb = ra + rng.integers(1, 8, 300)
    per_seed = {
        "a": {0: {"per_user": {"ranks": ra}}, 1: {"per_user": {"ranks": ra}}},
        "b": {0: {"per_user": {"ranks": rb}}, 1: {"per_user": {"ranks": rb}}},
    }
    t = reporting.paired_test(per_seed, "a", "b", "ndcg@10")
    assert t["diff"] > 0 and t["p"] < 1e-10
    xa, xb = 1 / np.log2(ra + 1), np.where(rb <= 10, 1 / np.log2(rb + 1), 0.0)
    assert t["p"] == pytest.approx(stats.wilcoxon(xa, xb).pvalue)


def test_markdown_table_sorted_by_reward_with_tests() -> None:
    per_seed = {
        "dqn": {0: _row(0.3, [1, 2, 30], [0.3, 0.3, 0.3]), 1: _row(0.3, [1, 2, 30], [0.3] * 3)},
        "random": {0: _row(0.1, [90, 80, 70], [0.1] * 3), 1: _row(0.1, [90, 80, 70], [0.1] * 3)},
    }
    md = reporting.markdown_table(reporting.aggregate(per_seed), per_seed, reference="dqn")
    lines = md.splitlines()
    assert lines[2].startswith("| `dqn` | 2 |")
    assert lines[3].startswith("| `random` | 2 |")
    assert "Paired tests against `dqn`" in md
    assert "| `random` | -0.2000 |" in md


def test_plots_are_written(tmp_path) -> None:
    per_seed = {
        "dqn": {0: _row(0.3, [1, 2], [0.3, 0.3]), 1: _row(0.25, [1, 20], [0.2, 0.3])},
        "popular": {0: _row(0.2, [9, 2], [0.2, 0.2]), 1: _row(0.2, [9, 2], [0.2, 0.2])},
    }
    res = reporting.aggregate(per_seed)
    w = {"hit": 0.4, "genre": 0.3, "rating": 0.3}
    for p in (
        reporting.plot_bars(res, tmp_path / "b.png"),
        reporting.plot_reward_terms(res, w, tmp_path / "t.png"),
        reporting.plot_learning_curves(
            {"dqn": [{"steps": [0, 10], "mean_reward": [0.1, 0.2], "HR@10": [0.0, 0.1]}] * 2},
            tmp_path / "c.png",
        ),
    ):
        assert p.stat().st_size > 1000
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _cell(mean: float, std: float = 0.1) -> dict[str, float]:
    return {"mean": mean, "std": std, "ci95": 0.2, "n": 5}


def test_world_rank_section_reports_both_rankings_and_their_correlation() -> None:
    eval_returns = {"a": 3.0, "b": 2.0, "c": 1.0, "d": 0.5}
    train_returns = {"a": 2.9, "b": 1.0, "c": 2.1, "d": 0.4}  # b and c swap places
    results = {
        k: {"mean_return": _cell(eval_returns[k]), "train_world_return": _cell(train_returns[k])}
        for k in eval_returns
    }
    text = reporting.world_rank_section(results)
    rho, _ = stats.spearmanr(list(eval_returns.values()), list(train_returns.values()))
    assert f"Spearman rho = {rho:.3f}" in text and rho == pytest.approx(0.8)
    assert "| `b` | 2.000 | 2 | 1.000 | 3 |" in text
    # Without train-world returns (MovieRec-v0 runs) there is no section.
    assert reporting.world_rank_section({k: {"mean_return": _cell(1.0)} for k in "abc"}) == ""


def test_return_vs_length_plot(tmp_path) -> None:
    results = {
        a: {"mean_return": _cell(r), "mean_length": _cell(length)}
        for a, r, length in (("dqn", 2.0, 6.0), ("oracle-greedy", 4.5, 8.0), ("random", 1.0, 4.8))
    }
    path = reporting.plot_return_vs_length(results, tmp_path / "rl.png")
    assert path.stat().st_size > 1000


def test_every_table_row_of_an_oracle_is_labelled() -> None:
    table = reporting.Table(("agent", "x"), (("oracle-greedy", "1"), ("dqn", "2")))
    text = table.markdown()
    assert "| `oracle-greedy` (ORACLE) | 1 |" in text and "| `dqn` | 2 |" in text


def test_simulator_paired_tests_name_what_they_test() -> None:
    """The second test is of recommendations taken per episode, and its header says so."""

    def row(ret: float, takes: list[int], lengths: list[int]) -> dict:
        return {
            "mean_return": ret,
            "take_rate": sum(takes) / sum(lengths),
            "per_user": {"returns": [ret] * 3, "takes": takes, "lengths": lengths},
        }

    per_seed = {
        "dqn": {0: row(2.0, [3, 1, 2], [6, 4, 5]), 1: row(2.1, [2, 2, 2], [6, 4, 5])},
        "random": {0: row(1.0, [0, 0, 1], [5, 4, 5]), 1: row(1.1, [0, 1, 0], [5, 4, 5])},
    }
    md = reporting.markdown_table(
        reporting.aggregate(per_seed), per_seed, reference="dqn", spec=reporting.SIM_REPORT
    )
    assert "| agent | Δ mean return | p | significant | Δ takes per episode |" in md
    # Per user, averaged over seeds: dqn takes 2.5, 1.5, 2; random 0, 0.5, 0.5: -5/3.
    assert "| `random` | -1.0000 |" in md and "| -1.6667 |" in md
