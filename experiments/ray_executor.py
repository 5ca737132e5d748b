"""Benchmark jobs as Ray tasks: ``movierec benchmark --executor ray [--address ADDRESS]``.

Each (agent, seed, env) job is one Ray task with one CPU (and the run's torch threads, one by
default) that computes its result (:func:`experiments.benchmark.compute_job`) and returns
it; the **driver** writes every file into the run directory
(:func:`experiments.benchmark.write_job`, atomic), so resumption, reports and plots are those
of a local run and the same seeds give the same result files. A task that fails or whose
worker dies writes nothing (tasks never write); it is reported, the other jobs finish, and
re-running the same command runs exactly the missing jobs.

On a cluster every worker needs this package installed (the same version) and must be able
to read the dataset folder and the encoder checkpoint of the run (``--encoders`` or the run
directory's ``encoders/``: a shared filesystem), unless the run uses the embedded dataset
and the shipped encoders (``--quick`` on the default dataset).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from experiments.benchmark import BenchmarkConfig, JobResult

__all__ = ["import_ray", "run_jobs_on_ray"]

Compute = Callable[..., "JobResult"]


def import_ray() -> Any:
    """Import Ray or say which extra to install.

    Raises:
        ImportError: If Ray is not installed.
    """
    try:
        import ray
    except ImportError as exc:
        raise ImportError(
            "--executor ray needs Ray: pip install 'movierec[ray]' (or pip install ray)"
        ) from exc
    return ray


def _task(
    compute: Compute, cfg: BenchmarkConfig, enc_source: str | None, seed: int, name: str
) -> JobResult:
    # In the Ray worker: BLAS threads as the CPU reservation, then the job itself.
    os.environ.setdefault("OMP_NUM_THREADS", str(cfg.threads))
    os.environ.setdefault("OPENBLAS_NUM_THREADS", str(cfg.threads))
    return compute(cfg, enc_source, seed, name, False)


def run_jobs_on_ray(
    cfg: BenchmarkConfig,
    run_dir: Path,
    enc_source: str | None,
    jobs: Sequence[tuple[int, str]],
    say: Callable[[str], None],
    compute: Compute | None = None,
) -> list[str]:
    """Run ``jobs`` as Ray tasks and write each finished one from this process.

    Joins ``cfg.address`` if given, else uses the Ray already initialised in this process,
    else starts a local one (and shuts down only what it started).

    Args:
        cfg: The run's settings.
        run_dir: Where the driver writes the results.
        enc_source: Encoder checkpoint folder every task loads (``None``: the shipped one).
        jobs: ``(seed, agent)`` pairs, in submission order.
        say: Progress messages.
        compute: What a task runs (default :func:`experiments.benchmark.compute_job`; the
            same signature; tests inject failures with it).

    Returns:
        One line per failed job (empty when all finished).
    """
    from tqdm.auto import tqdm

    from experiments.benchmark import compute_job, write_job

    ray = import_ray()
    started = False
    if cfg.address is not None:
        if not ray.is_initialized():
            ray.init(address=cfg.address)
            started = True
    elif not ray.is_initialized():
        # A new Ray of this machine's cores, even where RAY_ADDRESS or a `ray start` left
        # on this machine would make a bare ray.init() join that one.
        ray.init(address="local", include_dashboard=False)
        started = True
    remote = ray.remote(num_cpus=cfg.threads, max_retries=0)(_task)
    fn = compute or compute_job
    refs = {remote.remote(fn, cfg, enc_source, seed, name): (seed, name) for seed, name in jobs}
    failures: list[str] = []
    pending = list(refs)
    try:
        with tqdm(total=len(refs), desc="benchmark (ray)", unit="run") as bar:
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                for ref in done:
                    seed, name = refs[ref]
                    try:
                        result = ray.get(ref)
                    except Exception as exc:  # a task error or a dead worker: nothing written
                        cause = str(exc).strip().splitlines()
                        line = f"seed {seed} {name}: {type(exc).__name__}"
                        failures.append(line + (f" ({cause[-1][:200]})" if cause else ""))
                        say(f"FAILED {failures[-1]}")
                    else:
                        write_job(run_dir, result)
                        say(result.summary)
                    bar.update()
    finally:
        if started:
            ray.shutdown()
    return failures
