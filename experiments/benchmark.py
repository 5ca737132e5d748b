"""The main job: train the encoders, train and evaluate every agent over seeds, report.

A run directory holds everything a run produces and is the unit of resumption:

- ``config.json``: every setting, the package version and the git commit;
- ``encoders/``: the encoder checkpoint the run used (trained by the run unless given);
- ``seeds/<seed>/<agent>.json``: one finished (agent, seed) evaluation, written atomically;
  a re-run with the same ``--out`` skips what is there, so an interrupted run resumes per
  seed and nothing already written is lost;
- ``curves/<agent>__seed<seed>.json``: validation learning curves of learning agents;
- ``results.json``, ``results.csv``, ``results.md`` and the PNG plots: rebuilt from
  ``seeds/`` at the end of every run;
- ``report.html``: all of it in one self-contained page (tables, plots embedded as data
  URIs, settings, version, commit; :mod:`experiments.html_report`), written atomically.
"""

from __future__ import annotations

import csv
import json
import os
import platform
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from agents.registry import BASELINE_NAMES
from experiments import html_report, reporting

__all__ = [
    "DEFAULT_AGENTS",
    "DEFAULT_TIMESTEPS",
    "EXECUTORS",
    "QUICK_AGENTS",
    "BenchmarkConfig",
    "JobResult",
    "ValidationCurve",
    "compute_job",
    "load_curves",
    "load_per_seed",
    "run_benchmark",
    "run_job",
    "write_job",
    "write_json_atomic",
    "write_reports",
]

#: Agents of a quick benchmark: the heuristic ladder (the encoders issue's ``hybrid``,
#: ``lstm`` and ``content`` rankers are left to ``movierec evaluate``; ``constant``, added
#: for candidate mode, to ``benchmarks/bench_candidates.py`` until the results of
#: ``docs/results/`` are rebuilt) and the DQN.
QUICK_AGENTS: tuple[str, ...] = (
    *(a for a in BASELINE_NAMES if a not in ("hybrid", "lstm", "content", "constant")),
    "dqn",
)
#: Agents of a full benchmark: the quick ones plus Stable-Baselines3's DQN and PPO.
DEFAULT_AGENTS: tuple[str, ...] = (*QUICK_AGENTS, "sb3-dqn", "sb3-ppo")


@dataclass
class BenchmarkConfig:
    """Settings of one benchmark run (saved as ``config.json``).

    Attributes:
        dataset: Embedded dataset name or folder (``None`` = embedded ml-latest-small).
        agents: Agent names (see :data:`agents.registry.AGENT_NAMES`).
        seeds: Number of seeds (``base_seed``, ``base_seed + 1``, ...).
        base_seed: First seed.
        timesteps: Environment steps for the DQN (``None`` = the agent's default).
        sb3_timesteps: Environment steps for Stable-Baselines3 agents, which train far
            more slowly per step (``None`` = ``timesteps``).
        encoders: Encoder checkpoint folder; ``None`` trains them into the run folder,
            except in quick mode on the embedded dataset, which uses the shipped one.
        quick: Fewer seeds and steps (a smoke run for class or CI).
        eval_every: Validation evaluation interval (env steps) for learning curves.
        num_envs: Users stepped at once by the DQN's vector env.
        threads: Torch CPU threads per process (1 is fastest for these small networks on
            2 cores: docs/dqn.md).
        workers: Processes running (agent, seed) jobs side by side (one per core).
        reward: Reward settings passed to the env (``None`` = env defaults).
        env: ``"MovieRec-v0"`` (logged replay: PROTOCOL.md metrics on the test split) or
            ``"MovieRecSim-v0"`` (agents trained in the train world on training users,
            judged by one episode per held-out user in the eval world).
        executor: ``"local"`` (this process, or ``workers`` processes) or ``"ray"`` (one
            Ray task per job, one CPU each; the driver writes every result).
        address: The Ray cluster to join (``ray.init(address=...)``: ``"auto"``,
            ``"ray://host:10001"``); ``None`` starts a local Ray on this machine's cores.
    """

    dataset: str | None = None
    agents: Sequence[str] = DEFAULT_AGENTS
    seeds: int = 3
    base_seed: int = 0
    timesteps: int | None = None
    sb3_timesteps: int | None = None
    encoders: str | None = None
    quick: bool = False
    eval_every: int | None = None
    num_envs: int = 64
    threads: int = 1
    workers: int = 1
    reward: dict[str, Any] | None = field(default=None)
    env: str = "MovieRec-v0"
    executor: str = "local"
    address: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Plain-JSON view of the settings."""
        d = asdict(self)
        d["agents"] = list(self.agents)
        return d


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write JSON to ``path`` through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(obj, f, indent=2, default=_json_default)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _json_default(o: Any) -> Any:
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, np.generic):
        return o.item()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


#: Settings that say how jobs run, not what they compute: a run may resume with others.
_HOW_TO_RUN = ("workers", "executor", "address")


def _check_or_write_config(run_dir: Path, cfg: BenchmarkConfig) -> None:
    path = run_dir / "config.json"
    from movierec_env import __version__

    settings = cfg.to_json()
    if path.exists():
        old = json.loads(path.read_text()).get("settings", {})
        changed = sorted(
            k for k in settings if k not in _HOW_TO_RUN and old.get(k, settings[k]) != settings[k]
        )
        if changed or set(old) - set(settings):
            changed = changed or sorted(set(old) - set(settings))
            raise ValueError(
                f"{run_dir} holds a run with other settings ({', '.join(changed)} differ); "
                "resume with the same settings or choose another --out"
            )
        return
    write_json_atomic(
        path,
        {
            "settings": settings,
            "version": __version__,
            "git_commit": _git_commit(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        },
    )


def _check_or_record_encoders(run_dir: Path, enc_source: str | None) -> None:
    """Record the encoder checkpoint's digest in ``config.json``; refuse to resume on another.

    The settings name the checkpoint's folder, not its weights: retrained encoders in the
    same folder (a new shipped checkpoint, say) would otherwise mix two observations in
    one table. Runs recorded before the digest existed resume unchecked.
    """
    from movierec_env.checkpoints import checkpoint_digest, shipped_checkpoint

    folder = Path(enc_source) if enc_source is not None else shipped_checkpoint()
    digest = checkpoint_digest(folder)
    path = run_dir / "config.json"
    cfg_json = json.loads(path.read_text())
    old = cfg_json.get("encoder_digest")
    if old is not None and digest is not None and old != digest:
        raise ValueError(
            f"{run_dir} holds results made with other encoders than {folder} now holds "
            f"(checkpoint digest {old[:12]} then, {digest[:12]} now: new weights or new "
            "encoder code); choose another --out"
        )
    if old is None and digest is not None:
        write_json_atomic(path, {**cfg_json, "encoder_digest": digest})


def load_per_seed(run_dir: Path) -> dict[str, dict[int, dict[str, Any]]]:
    """All finished (agent, seed) results of a run directory."""
    out: dict[str, dict[int, dict[str, Any]]] = {}
    for f in sorted((run_dir / "seeds").glob("*/*.json")):
        out.setdefault(f.stem, {})[int(f.parent.name)] = json.loads(f.read_text())
    return out


def load_curves(run_dir: Path) -> dict[str, list[dict[str, list[float]]]]:
    """Learning curves of a run directory, grouped by agent."""
    out: dict[str, list[dict[str, list[float]]]] = {}
    for f in sorted((run_dir / "curves").glob("*.json")):
        agent = f.stem.split("__seed")[0]
        out.setdefault(agent, []).append(json.loads(f.read_text()))
    return out


#: Where (agent, seed) jobs run: this machine's processes, or Ray tasks.
EXECUTORS = ("local", "ray")

#: Benchmarkable environments -> how their reports read.
ENVS = {"MovieRec-v0": reporting.REPLAY_REPORT, "MovieRecSim-v0": reporting.SIM_REPORT}
#: Learning-curve metrics per environment (validation: ``val`` split / train-world users).
CURVE_KEYS = {
    "MovieRec-v0": ("mean_reward", "HR@10"),
    "MovieRecSim-v0": ("mean_return", "take_rate"),
}


def _run_env(run_dir: Path) -> str:
    """The environment of a run directory (``config.json``; earlier runs: ``MovieRec-v0``)."""
    path = run_dir / "config.json"
    if not path.exists():
        return "MovieRec-v0"
    return str(json.loads(path.read_text()).get("settings", {}).get("env", "MovieRec-v0"))


def write_reports(run_dir: Path) -> dict[str, Path]:
    """Rebuild results.json/.csv/.md, the plots and report.html from ``seeds/`` and ``curves/``.

    Returns:
        ``"table"`` (results.md), the plots (``"bars"``, ``"reward_terms"``, ``"curves"``
        when there are learning curves) and ``"html"`` (the self-contained report.html).
    """
    env_id = _run_env(run_dir)
    spec = ENVS[env_id]
    per_seed = load_per_seed(run_dir)
    if not per_seed:
        raise ValueError(f"{run_dir} holds no finished evaluation yet")
    first = next(iter(next(iter(per_seed.values())).values()))
    weights: Mapping[str, float] = first.get("weights") or {"hit": 0.4, "genre": 0.3, "rating": 0.3}
    results = reporting.aggregate(per_seed)
    write_json_atomic(run_dir / "results.json", {"agents": results})
    with open(run_dir / "results.csv", "w", newline="") as f:
        keys = reporting._numeric_keys([r for s in per_seed.values() for r in s.values()])
        w = csv.writer(f)
        w.writerow(["agent", "seed", *keys])
        for agent, seeds in sorted(per_seed.items()):
            for seed, row in sorted(seeds.items()):
                w.writerow([agent, seed, *(row.get(k, "") for k in keys)])
    ref = "dqn" if "dqn" in per_seed else next(iter(per_seed))
    blocks = reporting.result_blocks(results, per_seed, reference=ref, spec=spec)
    table = reporting.blocks_markdown(blocks)
    if spec is reporting.SIM_REPORT:
        worlds = reporting.world_rank_blocks(results)
        table += f"\n{reporting.blocks_markdown(worlds)}" if worlds else ""
        blocks += worlds
    (run_dir / "results.md").write_text(table)
    paths = {
        "table": run_dir / "results.md",
        "bars": reporting.plot_bars(results, run_dir / "metrics.png", spec),
        "reward_terms": reporting.plot_reward_terms(
            results, weights, run_dir / "reward_terms.png", spec
        ),
    }
    if spec is reporting.SIM_REPORT:
        paths["return_vs_length"] = reporting.plot_return_vs_length(
            results, run_dir / "return_vs_length.png"
        )
    curves = load_curves(run_dir)
    if curves:
        paths["curves"] = reporting.plot_learning_curves(
            curves, run_dir / "learning_curves.png", CURVE_KEYS[env_id]
        )
    images = {k: p for k, p in paths.items() if k != "table"}
    paths["html"] = html_report.write_html_report(run_dir, blocks, images)
    return paths


Progress = Callable[[str], None]

#: This package's learning agents: they train on the native vector env, at its speed.
VECTOR_LEARNERS = ("dqn", "dqn-gamma0", "linucb")

#: Default training budgets (env steps) of the learning agents: full and quick mode.
#: Stable-Baselines3's agents step one env at a time (~200-300 steps/s here, NOTES.md),
#: so they get a smaller budget; the table reports every agent's budget.
DEFAULT_TIMESTEPS = {"dqn": (200_000, 50_000), "sb3": (10_000, 3_000)}


def _timesteps(cfg: BenchmarkConfig, name: str) -> int:
    ours = name in VECTOR_LEARNERS
    full, quick = DEFAULT_TIMESTEPS["dqn" if ours else "sb3"]
    given = cfg.timesteps if ours else (cfg.sb3_timesteps or cfg.timesteps)
    return int(given or (quick if cfg.quick else full))


def _eval_every(cfg: BenchmarkConfig, steps: int) -> int:
    return int(cfg.eval_every or max(1, steps // 10))


def ValidationCurve(
    env: Any,
    curve: dict[str, list[float]],
    every: int,
    record: Callable[[Any], Mapping[str, float]] | None = None,
) -> Any:
    """SB3 callback recording validation metrics every ``every`` env steps.

    Args:
        env: The validation env.
        curve: Filled in place: ``"steps"`` and one list per metric ``record`` returns.
        every: Env steps between two records.
        record: The metrics of a model (default: ``evaluate_agent`` on the ``"val"`` split,
            mean reward and HR@10).

    Built by a factory so that importing this module does not import Stable-Baselines3.
    """
    from stable_baselines3.common.callbacks import BaseCallback

    from agents import evaluate_agent

    def replay_metrics(model: Any) -> Mapping[str, float]:
        res = evaluate_agent(model, env, split="val")
        return {"mean_reward": float(res["mean_reward"]), "HR@10": float(res["HR@10"])}

    measure = record or replay_metrics

    class _Curve(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self._next = 0

        def _record(self) -> None:
            curve["steps"].append(float(self.num_timesteps))
            for key, value in measure(self.model).items():
                curve.setdefault(key, []).append(float(value))

        def _on_training_start(self) -> None:
            self._record()
            self._next = self.num_timesteps + every

        def _on_step(self) -> bool:
            if self.num_timesteps >= self._next:
                self._record()
                self._next += every
            return True

        def _on_training_end(self) -> None:
            if not curve["steps"] or curve["steps"][-1] < self.num_timesteps:
                self._record()

    return _Curve()


def _encoder_source(cfg: BenchmarkConfig, data: Any, run_dir: Path, say: Progress) -> str | None:
    """Where every job loads the encoders from (``None`` = the shipped checkpoint).

    Trains them into ``run_dir/encoders`` first when the run needs its own.
    """
    from encoders import train_hybrid
    from movierec_env.data import EMBEDDED

    enc_dir = run_dir / "encoders"
    if cfg.encoders is not None:
        return cfg.encoders
    if (enc_dir / "config.json").exists():
        say(f"reusing encoders trained earlier in this run ({enc_dir})")
        return str(enc_dir)
    if cfg.quick and data.name == EMBEDDED:
        say("quick mode: using the shipped encoder checkpoint")
        return None
    say("training the encoders (LSTM + content model)")
    t0 = time.perf_counter()
    train_hybrid(data, seed=cfg.base_seed, progress=True).save(enc_dir)
    say(f"encoders trained in {time.perf_counter() - t0:.0f} s -> {enc_dir}")
    return str(enc_dir)


@dataclass
class JobResult:
    """One finished (agent, seed) job, before it is written.

    Attributes:
        seed: The seed.
        name: The agent.
        row: The evaluation (``evaluate_agent`` / ``evaluate_episodes``) with
            ``train_seconds`` and ``timesteps`` added: ``seeds/<seed>/<agent>.json``.
        curve: Validation learning curve (``"steps"`` empty for non-learners).
        summary: A one-line summary.
    """

    seed: int
    name: str
    row: dict[str, Any]
    curve: dict[str, list[float]]
    summary: str


def run_job(
    cfg: BenchmarkConfig,
    run_dir: Path,
    enc_source: str | None,
    seed: int,
    name: str,
    progress_bar: bool = True,
) -> str:
    """Train (if it learns) and evaluate one agent with one seed; write its result files.

    Runs in the benchmark's process or in a worker process (:func:`compute_job`, then
    :func:`write_job`).

    Returns:
        A one-line summary.
    """
    result = compute_job(cfg, enc_source, seed, name, progress_bar)
    write_job(run_dir, result)
    return result.summary


def compute_job(
    cfg: BenchmarkConfig,
    enc_source: str | None,
    seed: int,
    name: str,
    progress_bar: bool = True,
) -> JobResult:
    """Train (if it learns) and evaluate one agent with one seed; write nothing.

    Everything it needs is loaded from ``cfg`` and ``enc_source`` (datasets, encoders and
    observation tables are memoised per process), so it runs alike in this process, a
    worker process or a Ray task.
    """
    import gymnasium as gym
    import torch

    import movierec_env  # noqa: F401  (registers MovieRec-v0)
    from agents import evaluate_agent
    from agents.registry import LEARNING_AGENT_NAMES, make_agent
    from encoders import HybridEncoder, default_encoder
    from experiments.commands.train import make_training_env
    from movierec_env.data import load_dataset

    torch.set_num_threads(cfg.threads)
    data = load_dataset(cfg.dataset)
    encoder = default_encoder(data) if enc_source is None else HybridEncoder.load(enc_source, data)
    env_kwargs: dict[str, Any] = {"dataset": data, "encoders": encoder}
    if cfg.reward is not None:
        env_kwargs["reward"] = dict(cfg.reward)
    if cfg.env == "MovieRecSim-v0":
        return _run_sim_job(cfg, env_kwargs, seed, name, progress_bar)
    eval_env = gym.make("MovieRec-v0", split="test", **env_kwargs)
    t0 = time.perf_counter()
    curve: dict[str, list[float]] = {"steps": [], "mean_reward": [], "HR@10": []}
    steps = _timesteps(cfg, name) if name in LEARNING_AGENT_NAMES else 0
    if steps:
        env = make_training_env(name, data, encoder, cfg.num_envs, seed)
        agent = make_agent(name, env, seed=seed)
        cb = ValidationCurve(eval_env, curve, _eval_every(cfg, steps))
        agent.learn(total_timesteps=steps, callback=cb, progress_bar=progress_bar)
        env.close()
    else:
        agent = make_agent(name, eval_env, seed=seed)
    train_s = time.perf_counter() - t0
    row = evaluate_agent(agent, eval_env, split="test")
    eval_env.close()
    summary = (
        f"seed {seed} {name}: reward {row['mean_reward']:.4f} HR@10 {row['HR@10']:.3f} "
        f"({train_s:.0f} s)"
    )
    return _job_result(seed, name, row, curve, train_s, steps, summary)


def _job_result(
    seed: int,
    name: str,
    row: dict[str, Any],
    curve: dict[str, list[float]],
    train_s: float,
    steps: int,
    summary: str,
) -> JobResult:
    row["train_seconds"] = train_s
    row["timesteps"] = steps
    return JobResult(seed=seed, name=name, row=row, curve=curve, summary=summary)


def write_job(run_dir: Path, result: JobResult) -> None:
    """Write one finished job's files, atomically: its curve first, then its result.

    The result file is what marks the job done (resume skips it), so an interruption at any
    point leaves the job either done with its curve, or to be run again.
    """
    if result.curve["steps"]:
        write_json_atomic(
            run_dir / "curves" / f"{result.name}__seed{result.seed}.json", result.curve
        )
    write_json_atomic(run_dir / "seeds" / str(result.seed) / f"{result.name}.json", result.row)


def _run_sim_job(
    cfg: BenchmarkConfig,
    env_kwargs: dict[str, Any],
    seed: int,
    name: str,
    progress_bar: bool,
) -> JobResult:
    """One (agent, seed) job on ``MovieRecSim-v0``: train world in, eval world out.

    Learning agents train in the train world on the training half of the users (the DQN
    and LinUCB on the native vector env); every agent is judged by one episode per
    held-out user in the eval world (:func:`agents.sim_evaluation.evaluate_episodes`,
    episodes seeded by the job's seed, the same for every agent). Learning curves record
    the mean return and take rate of 64 training users in the train world.
    """
    import gymnasium as gym

    from agents.registry import LEARNING_AGENT_NAMES, make_agent
    from agents.sim_evaluation import evaluate_episodes
    from movierec_env.gym_compat import make_vec

    sim = "MovieRecSim-v0"
    eval_env = gym.make(sim, world="eval", split="test", **env_kwargs)
    val_env = gym.make(sim, world="train", split="train", **env_kwargs)

    def record(model: Any) -> Mapping[str, float]:
        res = evaluate_episodes(model, val_env, max_users=64, seed=seed)
        return {"mean_return": res["mean_return"], "take_rate": res["take_rate"]}

    t0 = time.perf_counter()
    curve: dict[str, list[float]] = {"steps": []}
    steps = _timesteps(cfg, name) if name in LEARNING_AGENT_NAMES else 0
    if steps:
        vector = name in VECTOR_LEARNERS
        train_env = (
            make_vec(
                sim,
                num_envs=cfg.num_envs,
                world="train",
                split="train",
                **env_kwargs,
            )
            if vector
            else gym.make(sim, world="train", split="train", **env_kwargs)
        )
        agent = make_agent(name, train_env, seed=seed)
        cb = ValidationCurve(val_env, curve, _eval_every(cfg, steps), record)
        agent.learn(total_timesteps=steps, callback=cb, progress_bar=progress_bar)
        train_env.close()
    else:
        agent = make_agent(name, eval_env, seed=seed)
    train_s = time.perf_counter() - t0
    row = evaluate_episodes(agent, eval_env, seed=seed)
    row["weights"] = rec_env_weights(eval_env)
    # The same users and episode seeds in the train world: does the ranking hold there?
    train_world = gym.make(sim, world="train", split="test", **env_kwargs)
    row[reporting.TRAIN_WORLD_KEY] = evaluate_episodes(agent, train_world, seed=seed)["mean_return"]
    train_world.close()
    summary = (
        f"seed {seed} {name}: return {row['mean_return']:.3f} length {row['mean_length']:.2f} "
        f"take rate {row['take_rate']:.3f} ({train_s:.0f} s)"
    )
    return _job_result(seed, name, row, curve, train_s, steps, summary)


def rec_env_weights(env: Any) -> dict[str, float]:
    """The reward weights of a MovieRec env (through the env contract)."""
    from movierec_env import rec_env

    return dict(rec_env(env).reward_config.weights)


def run_benchmark(
    cfg: BenchmarkConfig, run_dir: Path, progress: Progress | None = None
) -> dict[str, Path]:
    """Run (or resume) a benchmark in ``run_dir`` and write its reports.

    With ``cfg.workers > 1`` the (agent, seed) jobs run in that many worker processes
    (one torch thread each), longest first; every job writes its own result file, so the
    outcome is the same as a sequential run and an interruption loses at most the jobs
    in flight. With ``cfg.executor == "ray"`` every job is a Ray task
    (:mod:`experiments.ray_executor`) and this process writes the results.

    Args:
        cfg: Settings.
        run_dir: Run directory (created; resumed if it holds a run with the same settings).
        progress: Called with one-line status messages.

    Returns:
        Paths of the table, the plots and report.html.

    Raises:
        ValueError: For unknown agents, envs or executors, or another run's directory.
        RuntimeError: If Ray tasks failed (the others' results are written; re-running
            resumes exactly the failed jobs).
    """
    from tqdm.auto import tqdm

    from agents.registry import AGENT_NAMES, LEARNING_AGENT_NAMES
    from movierec_env.data import load_dataset

    say = progress or (lambda _m: None)
    unknown = [a for a in cfg.agents if a not in AGENT_NAMES]
    if unknown:
        raise ValueError(f"unknown agent(s) {unknown}; choose from {sorted(AGENT_NAMES)}")
    if cfg.workers < 1:
        raise ValueError(f"workers must be >= 1, got {cfg.workers}")
    if cfg.env not in ENVS:
        raise ValueError(f"env must be one of {sorted(ENVS)}, got {cfg.env!r}")
    if cfg.executor not in EXECUTORS:
        raise ValueError(f"executor must be one of {list(EXECUTORS)}, got {cfg.executor!r}")
    if cfg.address is not None and cfg.executor != "ray":
        raise ValueError(f"address {cfg.address!r} needs executor='ray'")
    if cfg.executor == "ray":
        from experiments.ray_executor import import_ray

        import_ray()  # a missing extra fails before any work
    run_dir.mkdir(parents=True, exist_ok=True)
    _check_or_write_config(run_dir, cfg)

    data = load_dataset(cfg.dataset)
    enc_source = _encoder_source(cfg, data, run_dir, say)
    _check_or_record_encoders(run_dir, enc_source)
    done = load_per_seed(run_dir)
    seeds = [cfg.base_seed + i for i in range(cfg.seeds)]
    jobs = [(s, a) for s in seeds for a in cfg.agents if s not in done.get(a, {})]
    if len(jobs) < len(seeds) * len(cfg.agents):
        say(f"resuming: {len(seeds) * len(cfg.agents) - len(jobs)} evaluations already done")
    # Longest first (the DQN, then Stable-Baselines3, then the instant baselines).
    order = dict.fromkeys(VECTOR_LEARNERS, 0)
    jobs.sort(key=lambda j: (order.get(j[1], 1 if j[1] in LEARNING_AGENT_NAMES else 2), j[0]))
    if cfg.executor == "ray" and jobs:
        from experiments.ray_executor import run_jobs_on_ray

        failed = run_jobs_on_ray(cfg, run_dir, enc_source, jobs, say)
        if failed:
            raise RuntimeError(
                f"{len(failed)} of {len(jobs)} job(s) failed, nothing written for them: "
                + "; ".join(failed)
                + f". Re-run the same command to run just those (results in {run_dir})"
            )
    elif cfg.workers == 1 or len(jobs) < 2:
        for seed, name in tqdm(jobs, desc="benchmark", unit="run"):
            say(run_job(cfg, run_dir, enc_source, seed, name))
    else:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor, as_completed

        ctx = mp.get_context("spawn")  # no fork after torch has started threads
        with ProcessPoolExecutor(max_workers=cfg.workers, mp_context=ctx) as pool:
            futures = [
                pool.submit(run_job, cfg, run_dir, enc_source, seed, name, False)
                for seed, name in jobs
            ]
            for fut in tqdm(as_completed(futures), total=len(futures), desc="benchmark"):
                say(fut.result())
    return write_reports(run_dir)
