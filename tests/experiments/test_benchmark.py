"""End to end: `movierec benchmark` on the shipped dataset with cheap agents, and resume."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from experiments.cli import cli

pytestmark = pytest.mark.slow


def _run(out, *extra: str):
    args = ["benchmark", "--quick", "--agents", "random,popular,dqn", "--seeds", "2"]
    args += ["--timesteps", "3000", "--out", str(out), *extra]
    return CliRunner().invoke(cli, args, catch_exceptions=False)


def test_benchmark_writes_results_and_resumes(tmp_path) -> None:
    out = tmp_path / "run"
    res = _run(out)
    assert res.exit_code == 0, res.output
    results = json.loads((out / "results.json").read_text())["agents"]
    assert set(results) == {"random", "popular", "dqn"}
    for agent in results.values():
        for key in ("HR@1", "HR@5", "HR@10", "NDCG@10", "MRR", "mean_reward", "coverage"):
            assert {"mean", "std"} <= set(agent[key])
    assert results["popular"]["HR@10"]["std"] == 0.0  # deterministic baseline
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["settings"]["seeds"] == 2 and cfg["version"]
    csv_rows = (out / "results.csv").read_text().strip().splitlines()
    assert len(csv_rows) == 1 + 3 * 2
    for png in ("metrics.png", "reward_terms.png", "learning_curves.png"):
        assert (out / png).stat().st_size > 1000
    assert "| `popular` | 2 |" in (out / "results.md").read_text()
    # One self-contained page with the same tables and the three plots; its path last.
    report = (out / "report.html").read_text()
    assert report.count("data:image/png;base64,") == 3 and "<code>popular</code>" in report
    assert cfg["version"] in report
    assert res.stdout.strip().splitlines()[-1].endswith(str(out / "report.html"))

    # Interrupt: lose one (agent, seed); a re-run recomputes only that one.
    kept = out / "seeds" / "0" / "dqn.json"
    before = kept.stat().st_mtime_ns
    (out / "seeds" / "1" / "dqn.json").unlink()
    res2 = _run(out)
    assert res2.exit_code == 0, res2.output
    assert "resuming: 5 evaluations already done" in res2.output
    assert kept.stat().st_mtime_ns == before
    assert (out / "seeds" / "1" / "dqn.json").exists()


def test_benchmark_refuses_other_settings_in_same_dir(tmp_path) -> None:
    out = tmp_path / "run"
    (out).mkdir()
    (out / "config.json").write_text(json.dumps({"settings": {"seeds": 9}}))
    res = CliRunner().invoke(cli, ["benchmark", "--quick", "--out", str(out)])
    assert res.exit_code != 0
    assert "other settings" in str(res.exception) or "other settings" in res.output


def test_benchmark_refuses_to_resume_on_other_encoder_weights(tmp_path) -> None:
    import shutil

    from movierec_env.checkpoints import shipped_checkpoint

    enc = tmp_path / "enc"
    shutil.copytree(shipped_checkpoint(), enc)
    out = tmp_path / "run"
    args = ["benchmark", "--quick", "--agents", "popular", "--seeds", "1"]
    args += ["--encoders", str(enc), "--out", str(out)]
    res = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    digest = json.loads((out / "config.json").read_text())["encoder_digest"]
    assert len(digest) == 64
    again = CliRunner().invoke(cli, args, catch_exceptions=False)  # same weights: resumes
    assert again.exit_code == 0 and "resuming: 1 evaluations already done" in again.output
    cfg = json.loads((enc / "config.json").read_text())  # "retrained": other contents
    (enc / "config.json").write_text(json.dumps({**cfg, "note": "retrained"}))
    res = CliRunner().invoke(cli, args)
    assert res.exit_code != 0
    assert "other encoders" in str(res.exception) and digest[:12] in str(res.exception)


def test_benchmark_unknown_agent_is_a_clear_error(tmp_path) -> None:
    res = CliRunner().invoke(cli, ["benchmark", "--agents", "nope", "--out", str(tmp_path / "r")])
    assert res.exit_code != 0
    assert "unknown agent" in str(res.exception)


def test_benchmark_on_the_simulator(tmp_path) -> None:
    out = tmp_path / "sim"
    args = ["benchmark", "--quick", "--env", "MovieRecSim-v0", "--agents", "random,popular,dqn"]
    args += ["--timesteps", "640", "--out", str(out)]
    res = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    results = json.loads((out / "results.json").read_text())["agents"]
    assert set(results) == {"random", "popular", "dqn"}
    for agent in results.values():
        for key in ("mean_return", "mean_length", "take_rate", "mean_rating", "reward_hit"):
            assert {"mean", "std", "ci95"} <= set(agent[key])
    table = (out / "results.md").read_text()
    assert "Δ mean return" in table and "| `popular` | 1 |" in table
    assert json.loads((out / "config.json").read_text())["settings"]["env"] == "MovieRecSim-v0"
    for png in ("metrics.png", "reward_terms.png", "learning_curves.png", "return_vs_length.png"):
        assert (out / png).stat().st_size > 1000
    # Every agent is also judged in the train world, and the two rankings are compared.
    assert all("train_world_return" in agent for agent in results.values())
    assert "Rank correlation over 3 agents: Spearman rho" in table
    # report.html holds the same, and all four plots.
    report = (out / "report.html").read_text()
    assert "Rank correlation over 3 agents: Spearman rho" in report
    assert report.count("data:image/png;base64,") == 4
    seed0 = json.loads((out / "seeds" / "0" / "dqn.json").read_text())
    assert (
        seed0["timesteps"] == 640
        and len(seed0["per_user"]["returns"]) == results["dqn"]["n_users"]["mean"]
    )


def test_executor_settings_are_checked_before_any_work(tmp_path) -> None:
    from experiments.benchmark import BenchmarkConfig, run_benchmark

    with pytest.raises(ValueError, match="executor must be one of"):
        run_benchmark(BenchmarkConfig(executor="dask"), tmp_path / "a")
    with pytest.raises(ValueError, match="needs executor='ray'"):
        run_benchmark(BenchmarkConfig(address="auto"), tmp_path / "b")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_failed_ray_jobs_end_the_command_with_a_one_line_cause(tmp_path, monkeypatch) -> None:
    # No Ray needed: the executor is replaced by one whose every job failed.
    from experiments import ray_executor

    monkeypatch.setattr(ray_executor, "import_ray", lambda: None)
    seen = []

    def all_failed(cfg, run_dir, enc_source, jobs, say, compute=None):
        seen.extend(jobs)
        return [f"seed {s} {a}: WorkerCrashedError" for s, a in jobs]

    monkeypatch.setattr(ray_executor, "run_jobs_on_ray", all_failed)
    out = tmp_path / "run"
    args = ["benchmark", "--quick", "--agents", "random", "--executor", "ray", "--out", str(out)]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 1 and seen == [(0, "random")]
    assert "1 of 1 job(s) failed" in res.output
    assert "seed 0 random: WorkerCrashedError" in res.output
    assert "Re-run the same command" in res.output
    assert not (out / "seeds").exists() and not (out / "report.html").exists()
