"""`movierec benchmark --executor ray`: the same result files as local, failures resume."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

ray = pytest.importorskip("ray", reason="Ray is not installed (extra movierec[ray])")

from experiments.benchmark import BenchmarkConfig, run_benchmark  # noqa: E402
from experiments.ray_executor import run_jobs_on_ray  # noqa: E402

pytestmark = pytest.mark.slow

SETTINGS = {"seeds": 2, "quick": True, "timesteps": 2_000, "eval_every": 1_000}


@pytest.fixture(scope="module")
def ray_two_cpus():
    ray.init(address="local", num_cpus=2, include_dashboard=False)
    yield
    ray.shutdown()


def _results(run_dir: Path) -> dict[str, dict]:
    """Every result and curve file, without the timings."""
    out = {}
    for f in sorted([*run_dir.glob("seeds/*/*.json"), *run_dir.glob("curves/*.json")]):
        row = json.loads(f.read_text())
        row.pop("train_seconds", None)
        out[str(f.relative_to(run_dir))] = row
    return out


@pytest.fixture(scope="module")
def local_run(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("local")
    cfg = BenchmarkConfig(agents=("random", "popular", "dqn"), **SETTINGS)
    run_benchmark(cfg, run_dir)
    return run_dir


def test_ray_tasks_give_the_local_result_files(local_run, ray_two_cpus, tmp_path):
    cfg = BenchmarkConfig(agents=("random", "popular", "dqn"), executor="ray", **SETTINGS)
    paths = run_benchmark(cfg, tmp_path)
    expected = _results(local_run)
    assert len(expected) == 3 * 2 + 2  # 3 agents x 2 seeds, 2 DQN learning curves
    assert _results(tmp_path) == expected
    assert paths["html"].exists() and (tmp_path / "results.md").exists()
    assert not list(tmp_path.rglob("*.tmp"))


def test_failed_or_killed_tasks_write_nothing_and_a_rerun_resumes_them(
    local_run, ray_two_cpus, tmp_path
):
    cfg = BenchmarkConfig(agents=("random", "popular"), executor="ray", **SETTINGS)

    def flaky(cfg, enc_source, seed, name, progress_bar):
        from experiments.benchmark import compute_job

        if (seed, name) == (1, "random"):
            os._exit(1)  # the worker process dies in the middle of the job
        if (seed, name) == (0, "popular"):
            raise ValueError("boom")
        return compute_job(cfg, enc_source, seed, name, progress_bar)

    jobs = [(s, a) for s in (0, 1) for a in cfg.agents]
    said: list[str] = []
    failures = run_jobs_on_ray(cfg, tmp_path, None, jobs, said.append, compute=flaky)
    assert len(failures) == 2
    assert any(f.startswith("seed 1 random:") for f in failures)
    assert any(f.startswith("seed 0 popular:") and "boom" in f for f in failures)
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*.json")) == [
        "seeds/0/random.json",
        "seeds/1/popular.json",
    ]
    assert not list(tmp_path.rglob("*.tmp"))

    said.clear()
    run_benchmark(cfg, tmp_path, progress=said.append)
    assert "resuming: 2 evaluations already done" in said
    ran = [m for m in said if m.startswith("seed ")]
    assert sorted(m.split(":")[0] for m in ran) == ["seed 0 popular", "seed 1 random"]
    expected = {k: v for k, v in _results(local_run).items() if "dqn" not in k}
    assert _results(tmp_path) == expected
