"""MovieRec at ml-25m scale: memory and speed of every piece on a synthetic ml-25m-sized set.

On the synthetic dataset of ``bench_data.generate`` (25M ratings, 162,541 users, 62,423
movies; written to ``--workdir``, reused with ``--keep``) it measures, each phase in a
fresh process so that its peak RSS (``VmHWM``) is its own:

* ``data``: ``load_dataset`` (parse + prepare + write the prepared-dataset cache when the
  cache is empty, else read it);
* ``table``: building the observation table of a ``HybridEncoder`` sized for the
  catalogue (default architecture, obs_dim 128) with **freshly initialised, untrained
  weights** (training on 25M ratings is out of reach on 2 cores in a session; the cost of
  ``observations()`` does not depend on the weights' values), once per storage dtype
  (float32, float16): time, peak RSS, file size;
* ``env`` (per dtype): ``gym.make`` time and memory, steps/s unwrapped and through
  ``gym.make``, the native vector env at 1,024 envs, ``action_masks()`` per call;
* ``dqn``: the ``agents`` DQN with default settings on the 62k-action env: parameters,
  memory, ``learn()`` env steps/s after ``learning_starts``, ``predict`` latency;
* ``sim``: ``MovieRecSim-v0``'s world step at ~62k movies (the shipped world's catalogue
  tiled 17x, as ``bench_sim_env.py`` does for its growth table) next to the real env's
  step at 3,650 movies;
* ``precision``: the agents' metrics on ml-latest-small (shipped encoder) with a float32
  and a float16 table, and the largest difference between the two tables.

Usage::

    PYTHONPATH=. python benchmarks/bench_scale.py --workdir /tmp/scale25 --keep
    PYTHONPATH=. python benchmarks/bench_scale.py --workdir /tmp/scale25 --keep --phases env

Results: ``<workdir>/results.json`` (merged over runs, so phases can be rerun alone) and
the block between ``<!-- bench_scale:start -->`` and ``<!-- bench_scale:end -->`` of
``docs/env.md``. Timings are wall-clock unless said otherwise; the machine may be shared:
ratios within one run are what to trust.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
DOC = ROOT / "docs" / "env.md"
START, END = "<!-- bench_scale:start -->", "<!-- bench_scale:end -->"
N_RATINGS = 25_000_000
DTYPES = ("float32", "float16")
PHASES = ("data", "table", "env", "dqn", "sim", "precision")
GIB = 1024.0**3


def peak_gib() -> float:
    """This process's peak resident set (``VmHWM``), GiB."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024 / GIB
    return float("nan")  # pragma: no cover


def rss_gib() -> float:
    """This process's current resident set (``VmRSS``), GiB."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024 / GIB
    return float("nan")  # pragma: no cover


# --------------------------------------------------------------------------- phases
def _data(workdir: Path) -> Any:
    from movierec_env.data import load_dataset

    return load_dataset(workdir / "data")


def untrained_encoder(data: Any) -> Any:
    """The default ``HybridEncoder`` architecture for ``data``, initialised from seed 0."""
    import torch

    from encoders import (
        ContentConfig,
        HybridEncoder,
        LSTMConfig,
        TimeRatingAwareContentModel,
        TimeRatingAwareLSTM,
    )

    g = torch.Generator().manual_seed(0)
    lstm = TimeRatingAwareLSTM(LSTMConfig(n_items=data.n_items), g)
    cfg = ContentConfig(n_items=data.n_items, n_genres=len(data.genre_names))
    content = TimeRatingAwareContentModel(cfg, data.item_genres, g)
    return HybridEncoder(lstm, content, 0.25, window=50, fingerprint=data.fingerprint)


def phase_data(workdir: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Load (and, with an empty cache, prepare and cache) the dataset."""
    cache = Path(os.environ["MOVIEREC_CACHE"]) / "prepared"
    warm = cache.is_dir() and any(cache.glob("*.npz"))
    t0 = time.perf_counter()
    data = _data(workdir)
    return {
        "seconds": time.perf_counter() - t0,
        "from_cache": warm,
        "peak_gib": peak_gib(),
        "rss_gib": rss_gib(),
        "users": data.n_users,
        "items": data.n_items,
        "interactions": data.n_interactions,
        "mean_history": data.n_interactions / data.n_users,
    }


def phase_table(workdir: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Build (or reuse) the observation table of each dtype; time, memory, size."""
    import torch

    from movierec_env import replay

    torch.set_num_threads(1)
    data = _data(workdir)
    enc = untrained_encoder(data)
    digest = replay.encoder_digest(enc)
    out: dict[str, Any] = {"obs_dim": int(enc.obs_dim), "rss_before_gib": rss_gib()}
    for dtype in args.dtypes:
        path = replay._disk_path(digest, data, dtype)
        assert path is not None
        reused = path.is_file()
        t0 = time.perf_counter()
        table = replay.observation_table(enc, data, digest, obs_dtype=dtype)
        seconds = time.perf_counter() - t0
        saved = workdir / "results.json"
        rec = json.loads(saved.read_text()) if reused and saved.is_file() else {}
        before = rec.get("table", {}).get(dtype, {})
        out_seconds = before.get("seconds", seconds) if reused else seconds
        out[dtype] = {
            "seconds": out_seconds,
            "reused": reused,
            "file_gib": path.stat().st_size / GIB,
            "table_gib": table.nbytes / GIB,
            "peak_gib_after": peak_gib(),
            "rows_per_s": data.n_interactions
            / (before.get("seconds", seconds) if reused else seconds),
        }
        del table
        replay.clear_caches()
    out["peak_gib"] = peak_gib()
    return out


def phase_env(workdir: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Construction, steps/s and mask cost of the single and the vector env."""
    import bench_env
    import gymnasium as gym
    import torch

    import movierec_env  # noqa: F401
    from movierec_env.env import MovieRecEnv

    torch.set_num_threads(1)
    dtype = args.dtype
    data = _data(workdir)
    enc = untrained_encoder(data)
    base = rss_gib()
    t0 = time.perf_counter()
    env = gym.make("MovieRec-v0", dataset=data, encoders=enc, obs_dtype=dtype)
    env.reset(seed=0)
    make_s = time.perf_counter() - t0
    after_make = rss_gib()
    raw = MovieRecEnv(dataset=data, encoders=enc, obs_dtype=dtype)
    raw.reset(seed=0)
    raw.action_masks()  # its own core: its flags too, outside the timing
    t0 = time.perf_counter()
    env.unwrapped.action_masks()  # the first call computes the per-user "exhaustible" flags
    first_mask_s = time.perf_counter() - t0
    res: dict[str, Any] = {"make_s": make_s, "make_rss_gib": after_make - base}
    res["first_mask_s"] = first_mask_s
    # The embedded ml-latest-small with the shipped encoder, same dtype, measured in turn
    # with the 25M env: the same load hits both, so their ratio is what to read.
    small = MovieRecEnv(obs_dtype=dtype)
    small.reset(seed=0)
    small.action_masks()
    # A catalogue with more than MAX_GENRE_COMBOS genre combinations (the synthetic one
    # has 8,321) has no pairwise genre table: its step takes the numpy path. The same
    # path on ml-latest-small separates that from the cost of size.
    small_numpy = MovieRecEnv(obs_dtype=dtype)
    small_numpy._slow = True
    if raw._tables.genre_table is None:  # the genre cosine's fallback (a dot product) too
        small_numpy._tables = dataclasses.replace(small_numpy._tables, genre_table=None)
    res["numpy_path"] = bool(raw._slow)
    keys = ("unwrapped", "small", "small_numpy", "gym_make")
    rounds: dict[str, list[float]] = {k: [] for k in keys}
    rounds["mask_us"], rounds["small_mask_us"] = [], []
    for _ in range(args.repeats):
        for key, e in zip(keys, (raw, small, small_numpy, env), strict=True):
            rounds[key].append(bench_env.single_steps_per_s(e, args.steps, 1))
        rounds["mask_us"].append(bench_env.mask_seconds(raw, args.steps // 4) * 1e6)
        rounds["small_mask_us"].append(bench_env.mask_seconds(small, args.steps // 4) * 1e6)
    for key in keys:
        res[key] = max(rounds[key])
    res["mask_us"] = min(rounds["mask_us"])
    res["small_mask_us"] = min(rounds["small_mask_us"])
    t0 = time.perf_counter()
    venv = gym.make_vec(
        "MovieRec-v0",
        num_envs=1024,
        vectorization_mode="vector_entry_point",
        dataset=data,
        encoders=enc,
        obs_dtype=dtype,
    )
    res["vector_make_s"] = time.perf_counter() - t0
    res["vector_1024"] = bench_env.vector_steps_per_s(venv, args.vector_batches, args.repeats)
    venv.reset(seed=0)
    t0 = time.process_time()
    for _ in range(5):
        venv.unwrapped.action_masks()
    res["vector_mask_ms"] = (time.process_time() - t0) / 5 * 1e3
    res["table_gib"] = raw.unwrapped._core.obs.nbytes / GIB
    res["rss_gib"] = rss_gib()
    res["peak_gib"] = peak_gib()
    res["clock"] = "cpu (time.process_time), best of repeats"
    return res


def phase_dqn(workdir: Path, args: argparse.Namespace) -> dict[str, Any]:
    """The DQN's size, memory, training throughput and predict latency."""
    import gymnasium as gym
    import torch

    import movierec_env  # noqa: F401
    from agents.dqn import DQN

    torch.set_num_threads(1)
    data = _data(workdir)
    enc = untrained_encoder(data)
    # 64 envs as in bench_dqn.py / docs/dqn.md (the DQN collects one batch per update)
    env = gym.make_vec(
        "MovieRec-v0",
        num_envs=args.dqn_envs,
        vectorization_mode="vector_entry_point",
        dataset=data,
        encoders=enc,
        obs_dtype=args.dtype,
    )
    before = rss_gib()
    t0 = time.perf_counter()
    model = DQN("MlpPolicy", env, seed=0)
    build_s = time.perf_counter() - t0
    params = sum(p.numel() for p in model.q_net.parameters())
    trainable = sum(p.numel() for p in model.q_net.parameters() if p.requires_grad)
    starts = int(model.learning_starts)
    t0 = time.perf_counter()
    model.learn(starts + 10)
    warm_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    model.learn(args.dqn_steps, reset_num_timesteps=False)
    learn_s = time.perf_counter() - t0
    obs, _ = env.reset(seed=1)
    masks = env.unwrapped.action_masks()[0]
    obs = obs[0]
    lat = []
    for _ in range(50):
        t1 = time.perf_counter()
        model.predict(obs, deterministic=True, action_masks=masks)
        lat.append(time.perf_counter() - t1)
    batch = np.repeat(obs[None], 256, axis=0)
    t1 = time.perf_counter()
    for _ in range(5):
        model.predict(batch, deterministic=True)
    batch_ms = (time.perf_counter() - t1) / 5 * 1e3
    return {
        "params": int(params),
        "trainable": int(trainable),
        "param_mib": params * 4 / 2**20,
        "build_s": build_s,
        "learning_starts": starts,
        "warmup_s": warm_s,
        "steps": args.dqn_steps,
        "num_envs": args.dqn_envs,
        "learn_steps_per_s": args.dqn_steps / learn_s,
        "gradient_steps": int(model.gradient_steps),
        "batch_size": int(model.batch_size),
        "predict_ms": float(np.median(lat)) * 1e3,
        "predict_256_ms": batch_ms,
        "rss_added_gib": rss_gib() - before,
        "peak_gib": peak_gib(),
    }


def phase_sim(workdir: Path, args: argparse.Namespace) -> dict[str, Any]:
    """MovieRecSim-v0 at 3,650 movies and its world step at ~62k (tiled catalogue)."""
    import bench_sim_env
    import torch

    torch.set_num_threads(1)
    single = bench_sim_env.single_steps_per_s(args.sim_steps, args.repeats)
    rows = bench_sim_env.catalogue_growth((1, 1024), (1, 17), args.repeats)
    return {
        "single_steps_per_s_3650": single[0],
        "world": [{"batch": b, "items": n, "us": us} for b, n, us in rows],
        "peak_gib": peak_gib(),
    }


def phase_precision(workdir: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Agents' metrics on ml-latest-small with float32 and float16 tables."""
    import gymnasium as gym
    import torch

    import movierec_env  # noqa: F401
    from agents.evaluation import evaluate_agent
    from agents.registry import make_agent

    torch.set_num_threads(1)
    out: dict[str, Any] = {}
    tables = {}
    for dtype in DTYPES:
        env = gym.make("MovieRec-v0", split="test", obs_dtype=dtype)
        tables[dtype] = env.unwrapped._core.obs
        for name in ("encoder-greedy", "reward-greedy"):
            res = evaluate_agent(make_agent(name, env, seed=0), env, split="test")
            out.setdefault(name, {})[dtype] = {
                k: float(res[k]) for k in ("mean_reward", "HR@10", "NDCG@10")
            }
        # The DQN, same seed and steps on each table: only the observations' rounding differs.
        from agents.dqn import DQN

        venv = gym.make_vec(
            "MovieRec-v0", num_envs=64, vectorization_mode="vector_entry_point", obs_dtype=dtype
        )
        runs = []
        for seed in range(args.precision_seeds):
            model = DQN("MlpPolicy", venv, seed=seed).learn(args.precision_dqn_steps)
            res = evaluate_agent(model, env, split="test")
            runs.append({k: float(res[k]) for k in ("mean_reward", "HR@10", "NDCG@10")})
        out.setdefault("dqn_runs", {})[dtype] = runs
        out.setdefault("dqn", {})[dtype] = {
            k: float(np.mean([r[k] for r in runs])) for k in ("mean_reward", "HR@10", "NDCG@10")
        }
    out["dqn_steps"] = args.precision_dqn_steps
    diff = np.abs(tables["float16"].astype(np.float32) - tables["float32"])
    out["max_abs_diff"] = float(diff.max())
    out["mean_abs_diff"] = float(diff.mean())
    out["rows"] = int(tables["float32"].shape[0])
    return out


# --------------------------------------------------------------------------- driver
def _child(phase: str, args: argparse.Namespace, extra: list[str]) -> dict[str, Any]:
    cmd = [
        sys.executable,
        __file__,
        "--child",
        phase,
        "--workdir",
        str(args.workdir),
        "--steps",
        str(args.steps),
        "--vector-batches",
        str(args.vector_batches),
        "--repeats",
        str(args.repeats),
        "--dqn-steps",
        str(args.dqn_steps),
        "--dqn-envs",
        str(args.dqn_envs),
        "--sim-steps",
        str(args.sim_steps),
        "--precision-dqn-steps",
        str(args.precision_dqn_steps),
        "--precision-seeds",
        str(args.precision_seeds),
        *extra,
    ]
    env = dict(os.environ)
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    cache = "cache-small" if phase == "precision" else "cache"
    env["MOVIEREC_CACHE"] = str(args.workdir / cache)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit(f"phase {phase} failed with status {proc.returncode}")
    line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")][-1]
    res: dict[str, Any] = json.loads(line[len("RESULT ") :])
    res["wall_s"] = time.perf_counter() - t0
    res["load"] = [load0, os.getloadavg()[0]]
    print(f"{phase} {' '.join(extra)}: {json.dumps(res)}", flush=True)
    return res


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run the phases in fresh processes; merge their results into results.json."""
    path = args.workdir / "results.json"
    results: dict[str, Any] = json.loads(path.read_text()) if path.is_file() else {}
    data_dir = args.workdir / "data"
    if not any(data_dir.glob("ratings.*")):
        import bench_data

        print(f"generating {N_RATINGS:,} ratings into {data_dir}", flush=True)
        bench_data.generate(data_dir, N_RATINGS, seed=0)

    def save() -> None:
        results["machine"] = {
            "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "platform": platform.machine(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "numpy": np.__version__,
        }
        path.write_text(json.dumps(results, indent=1, sort_keys=True))

    for phase in args.phases:
        if phase == "data":
            if args.cold_data:  # parse + prepare + write the cache, then read it back
                shutil.rmtree(args.workdir / "cache" / "prepared", ignore_errors=True)
                results["data_cold"] = _child(phase, args, [])
                save()
            results[phase] = _child(phase, args, [])
        elif phase in ("env", "dqn"):
            for dtype in args.dtypes if phase == "env" else ["float16"]:
                results.setdefault(phase, {})[dtype] = _child(phase, args, ["--dtype", dtype])
                save()
        elif phase == "table":  # merged per dtype: one dtype can be rebuilt alone
            res = _child(phase, args, ["--dtypes", *args.dtypes])
            for dtype in args.dtypes:
                res[dtype]["load"] = res["load"]
            results["table"] = {**results.get("table", {}), **res}
        else:
            results[phase] = _child(phase, args, [])
        save()
    return results


def _f(x: float, nd: int = 0) -> str:
    return f"{x:,.{nd}f}"


def _load(x: dict[str, Any]) -> str:
    a, b = x.get("load", [float("nan")] * 2)
    return f"{a:.1f} → {b:.1f}"


def _row(phase: str, what: str, value: str, x: dict[str, Any] | None = None) -> str:
    """A table row; the phase's peak RSS and load average on its first row (``x``)."""
    peak = f"{x['peak_gib']:.2f}" if x else ""
    return f"| {phase} | {what} | {value} | {peak} | {_load(x) if x else ''} |"


def render(r: dict[str, Any], command: str) -> str:
    """The Markdown block of docs/env.md."""
    m = r.get("machine", {})
    d = r.get("data", {})
    lines = [
        f"Measured {m.get('when', '?')} on {m.get('platform', '?')}, {m.get('cpus', '?')} CPUs "
        f"(Python {m.get('python', '?')}, numpy {m.get('numpy', '?')}), one torch thread, "
        "`OPENBLAS_NUM_THREADS=1`, each phase in a fresh process. Reproduce: "
        f"`{command}`. The 2-core machine was shared with another engineer's training jobs: "
        "the load average at the start and end of each phase is listed; absolute times are "
        "taken under that load, ratios within one run are what to trust.",
        "",
    ]
    if d:
        lines += [
            f"Dataset: synthetic ml-25m-sized (`bench_data.generate`, seed 0): "
            f"{_f(d['users'])} users, {_f(d['items'])} movies, {_f(d['interactions'])} "
            f"interactions after 5/5 (mean history {_f(d['mean_history'])}). Encoder: "
            "`HybridEncoder` of the default architecture (obs_dim 128) sized for this "
            "catalogue, **freshly initialised, not trained** (the cost of `observations()` "
            "and of every env step does not depend on the weights' values; no quality "
            "number below comes from it).",
            "",
        ]
    lines += [
        "| phase | measurement | value | peak RSS of the phase (GiB) | load avg |",
        "|---|---|---|---|---|",
    ]
    for x in (r.get("data_cold"), d):
        if x:
            how = "prepared-dataset cache" if x["from_cache"] else "parse, prepare, write cache"
            value = f"{x['seconds']:.1f} s, {x['rss_gib']:.2f} GiB resident after"
            lines.append(_row("data", f"`load_dataset` ({how})", value, x))
    t = r.get("table")
    for dtype in DTYPES:
        x = (t or {}).get(dtype)
        if x:
            rate = f"{x['seconds']:.0f} s ({_f(x['rows_per_s'])} rows/s)"
            what = f"build the {dtype} table (encoder pass, streamed to disk)"
            if x.get("note"):
                what += f" ({x['note']})"
            lines.append(_row("table", what, rate, {**t, **x, "peak_gib": x["peak_gib_after"]}))
            lines.append(_row("table", f"{dtype} table file", f"{x['file_gib']:.2f} GiB"))
    for dtype, x in r.get("env", {}).items():
        e = f"env {dtype}"
        make = f"{x['make_s']:.1f} s, +{x['make_rss_gib']:.2f} GiB RSS"
        lines += [
            _row(e, "`gym.make` + `reset` (table memory-mapped from the cache)", make, x),
            _row(e, "first `action_masks()` (per-user flags, once)", f"{x['first_mask_s']:.2f} s"),
            _row(e, "unwrapped env (steps/s, CPU time)", _f(x["unwrapped"])),
            _row(e, "`gym.make` env (steps/s, CPU time)", _f(x["gym_make"])),
            _row(
                e,
                "`action_masks()` per call (µs; step+mask minus step, noisy)",
                f"{x['mask_us']:.1f}",
            ),
        ]
        if "small" in x:
            ratio = x["small"] / x["unwrapped"]
            path = "numpy path: no pairwise genre table" if x["numpy_path"] else "fast path"
            lines[-3] = _row(e, f"unwrapped env (steps/s, CPU time; {path})", _f(x["unwrapped"]))
            lines += [
                _row(
                    e,
                    "same run, ml-latest-small unwrapped, fast path (steps/s; ratio to the above)",
                    f"{_f(x['small'])} ({ratio:.2f}x)",
                ),
            ]
        if "small_numpy" in x:
            ratio = x["small_numpy"] / x["unwrapped"]
            lines += [
                _row(
                    e,
                    "same run, ml-latest-small, the same numpy path (steps/s; ratio to the above)",
                    f"{_f(x['small_numpy'])} ({ratio:.2f}x)",
                ),
            ]
        if "small" in x:
            lines += [
                _row(
                    e,
                    "same run, ml-latest-small `action_masks()` (µs)",
                    f"{x['small_mask_us']:.1f}",
                ),
            ]
        lines += [
            _row(e, "vector env, 1,024 envs (steps/s, CPU time)", _f(x["vector_1024"])),
            _row(e, "vector `action_masks()` (1,024 x n_items), ms", f"{x['vector_mask_ms']:.1f}"),
        ]
    for dtype, x in r.get("dqn", {}).items():
        q = f"DQN ({dtype} env)"
        params = f"{_f(x['params'])} ({x['param_mib']:.2f} MiB), trainable {_f(x['trainable'])}"
        learn = (
            f"`learn()` env steps/s after `learning_starts` ({x['learning_starts']:,}), "
            f"{x['num_envs']} envs, {x['gradient_steps']} updates of {x['batch_size']} per "
            "vector step, wall"
        )
        lines += [
            _row(q, "Q-network parameters (default `MlpPolicy`)", params, x),
            _row(q, "RSS added by the model and `learn()`", f"{x['rss_added_gib']:.2f} GiB"),
            _row(q, learn, f"{x['learn_steps_per_s']:.1f} ({x['steps']:,} steps)"),
            _row(q, "`predict` one observation with masks, median (ms)", f"{x['predict_ms']:.2f}"),
            _row(q, "`predict` a batch of 256 (ms)", f"{x['predict_256_ms']:.1f}"),
        ]
    s = r.get("sim")
    if s:
        single = _f(s["single_steps_per_s_3650"])
        lines.append(_row("sim", "`MovieRecSim-v0` single env, 3,650 movies (steps/s)", single, s))
        for w in s["world"]:
            what = f"world step, {w['batch']:,} user(s), {_f(w['items'])} movies (µs)"
            lines.append(_row("sim", what, _f(w["us"], 1)))
        one = {w["items"]: w["us"] for w in s["world"] if w["batch"] == 1}
        if len(one) == 2:  # the step at 3,650 plus what the world's step grows by
            small_n, big_n = sorted(one)
            est = 1.0 / (1.0 / s["single_steps_per_s_3650"] + (one[big_n] - one[small_n]) * 1e-6)
            what = f"**estimate**: single env at {_f(big_n)} movies (steps/s)"
            lines.append(_row("sim", what, _f(est)))
    p = r.get("precision")
    if p:
        lines += [
            "",
            "Precision of a float16 table on ml-latest-small (shipped encoder, "
            f"{_f(p['rows'])} rows): largest |float16 - float32| {p['max_abs_diff']:.2e}, "
            f"mean {p['mean_abs_diff']:.2e}. Test split, `agents.evaluate_agent`:",
            "",
            "| agent | table | mean reward | HR@10 | NDCG@10 |",
            "|---|---|---|---|---|",
        ]
        for name in ("encoder-greedy", "reward-greedy", "dqn"):
            for dtype in DTYPES if name in p else ():
                x = p[name][dtype]
                label = name
                if name == "dqn":
                    seeds = len(p["dqn_runs"][dtype])
                    label = (
                        f"DQN, default settings, {p['dqn_steps']:,} steps, 64 envs, "
                        f"mean of seeds 0-{seeds - 1}"
                    )
                lines.append(
                    f"| {label} | {dtype} | {x['mean_reward']:.6f} | {x['HR@10']:.6f} "
                    f"| {x['NDCG@10']:.6f} |"
                )
        if "dqn_runs" in p:
            per_seed = [
                f"seed {i}: {a['mean_reward']:.4f} vs {b['mean_reward']:.4f}"
                for i, (a, b) in enumerate(
                    zip(p["dqn_runs"]["float32"], p["dqn_runs"]["float16"], strict=True)
                )
            ]
            lines += [
                "",
                "DQN mean reward per seed, float32 vs float16: " + "; ".join(per_seed) + ".",
            ]
    return "\n".join(lines)


def write_block(path: Path, text: str) -> None:
    """Replace this benchmark's block in ``path`` (appended when absent), atomically."""
    from docblock import write_marked_block

    write_marked_block(path, START, END, text)


def main() -> None:
    """Run the phases (or one child phase) and write the results."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument(
        "--workdir", type=Path, default=None, help="data, caches, results (temporary without it)"
    )
    p.add_argument("--keep", action="store_true", help="keep the data and caches for reruns")
    p.add_argument("--cold-data", action="store_true", help="also time a cold load_dataset")
    p.add_argument("--phases", nargs="*", choices=PHASES, default=list(PHASES))
    p.add_argument("--dtypes", nargs="+", choices=DTYPES, default=list(DTYPES))
    p.add_argument("--steps", type=int, default=100_000, help="single-env steps per round")
    p.add_argument("--vector-batches", type=int, default=200)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--dqn-steps", type=int, default=640, help="env steps timed")
    p.add_argument("--dqn-envs", type=int, default=64)
    p.add_argument("--sim-steps", type=int, default=2_000)
    p.add_argument("--precision-dqn-steps", type=int, default=30_000)
    p.add_argument("--precision-seeds", type=int, default=3)
    p.add_argument("--doc", type=Path, default=DOC)
    p.add_argument("--no-doc", action="store_true")
    p.add_argument("--child", choices=PHASES, help=argparse.SUPPRESS)
    p.add_argument("--dtype", choices=DTYPES, default="float16", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        fn = globals()[f"phase_{args.child}"]
        print("RESULT " + json.dumps(fn(args.workdir, args)), flush=True)
        return
    temporary = args.workdir is None
    if temporary:
        import tempfile

        args.workdir = Path(tempfile.mkdtemp(prefix="bench_scale-"))
    args.workdir.mkdir(parents=True, exist_ok=True)
    try:
        results = run(args)
        command = (
            "PYTHONPATH=. python benchmarks/bench_scale.py --workdir /tmp/scale25 --keep "
            "--cold-data"
        )
        text = render(results, command)
        print(text)
        if not args.no_doc:
            write_block(args.doc, text)
    finally:
        if temporary:
            shutil.rmtree(args.workdir, ignore_errors=True)
        elif not args.keep:  # the big files; results.json stays
            for name in ("data", "cache", "cache-small"):
                shutil.rmtree(args.workdir / name, ignore_errors=True)


if __name__ == "__main__":
    main()
