"""Benchmark MovieRec-v0: start-up time, memory, steps/s, and how cost grows with scale.

Measures, on ml-latest-small with the default encoder unless told otherwise:

* cold start: ``import movierec_env; gym.make("MovieRec-v0"); reset()`` in a fresh Python
  process, once with an empty ``$MOVIEREC_CACHE`` (a fresh install) and once again with the
  cache that run left behind;
* peak memory (max RSS) of a fresh process that makes the env, a 1,024-env vector env and
  steps both;
* throughput with uniformly random actions, pre-sampled outside the timed loop (the env is
  timed, not the RNG): ``gym.make`` with its default wrappers, the unwrapped env, and the
  native vector env at several ``num_envs``; resets are inside the timed loop;
* the **floor** (:class:`FloorEnv`, defined here): a Gymnasium env with the same spaces that
  only looks up a precomputed observation row and builds an ``info`` with the same keys as
  ``MovieRec-v0`` (and, for reference, one with an empty ``info``), timed in the same rounds
  as the env, through ``gym.make`` and unwrapped; the table reports the ratio floor / env;
* scaling (``--scaling``): the same on synthetic catalogues of growing size, with a random
  projection encoder (the env's cost does not depend on what the encoder computes).

Each throughput number is the best of ``--repeats`` runs, the floor and the env taking turns
within each round (the usual way to time code on a shared machine: contention only ever
slows a run down). ``--clock cpu`` (the default) times with ``time.process_time()``, the CPU
time of this process, which other jobs on a shared machine disturb far less than the wall
clock (``--clock wall``).

Usage::

    python benchmarks/bench_env.py                    # writes the table into docs/env.md
    python benchmarks/bench_env.py --scaling --repeats 5
    python benchmarks/bench_env.py --encoders random --no-write   # without the real encoder

The tables replace the block between ``<!-- bench_env:start -->`` and
``<!-- bench_env:end -->`` in ``docs/env.md`` (or ``--out``).
"""

from __future__ import annotations

import argparse
import json
import operator
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from movierec_env.testing import RandomProjectionEncoder

START, END = "<!-- bench_env:start -->", "<!-- bench_env:end -->"
ROOT = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------------- fresh processes
_COLD = """
import sys
import time
t0 = time.perf_counter()
import gymnasium as gym
import movierec_env
env = gym.make("MovieRec-v0", **KW)
env.reset(seed=0)
t1 = time.perf_counter()
env.step(0)
print("TORCH", int("torch" in sys.modules))
print("RESULT", t1 - t0)
"""

_MEMORY = """
import resource
import numpy as np
import gymnasium as gym
import movierec_env
env = gym.make("MovieRec-v0", **KW)
env.reset(seed=0)
rng = np.random.default_rng(0)
for a in rng.integers(0, env.action_space.n, 20_000).tolist():
    if env.step(a)[3]:
        env.reset()
env.unwrapped.action_masks()
venv = gym.make_vec("MovieRec-v0", num_envs=1024, vectorization_mode="vector_entry_point", **KW)
venv.reset(seed=0)
for _ in range(50):
    venv.step(rng.integers(0, env.action_space.n, 1024))
venv.unwrapped.action_masks()
print("RESULT", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0)
"""


def _fresh_process(code: str, kwargs: dict[str, Any], env: dict[str, str]) -> dict[str, float]:
    """Run ``code`` in a fresh interpreter; its ``KEY value`` lines (the last of each key)."""
    script = code.replace("KW", repr(kwargs))
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        cwd=str(ROOT),
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"benchmark subprocess failed:\n{out.stderr[-3000:]}")
    found: dict[str, float] = {}
    for line in out.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0].isupper():
            found[parts[0]] = float(parts[1])
    return found


def cold_start(kwargs: dict[str, Any], repeats: int = 1) -> dict[str, float]:
    """Seconds to import + make + reset in a fresh process: empty cache, then warm cache.

    Each is the best of ``repeats`` fresh processes (a new empty cache for each cold one);
    ``cold_torch`` / ``warm_torch`` say whether a cold / warm start (make + reset + one
    step) imported torch in any of them.
    """
    fresh, again, cold_torch, warm_torch = [], [], 0.0, 0.0
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as cache:
            env = {"MOVIEREC_CACHE": cache, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
            cold = _fresh_process(_COLD, kwargs, env)
            warm = _fresh_process(_COLD, kwargs, env)
            fresh.append(cold["RESULT"])
            again.append(warm["RESULT"])
            cold_torch = max(cold_torch, cold["TORCH"])
            warm_torch = max(warm_torch, warm["TORCH"])
    return {
        "fresh_install_s": min(fresh),
        "second_start_s": min(again),
        "cold_torch": cold_torch,
        "warm_torch": warm_torch,
    }


def peak_memory_mb(kwargs: dict[str, Any]) -> float:
    """Max RSS (MiB) of a fresh process running a single env and a 1,024-env vector env."""
    return _fresh_process(_MEMORY, kwargs, {"OMP_NUM_THREADS": "1"})["RESULT"]


# ---------------------------------------------------------------------- the floor
FLOOR_ID = "MovieRecFloor-v0"


class FloorEnv(gym.Env[Any, Any]):
    """The floor: what any env that looks up a precomputed observation must cost.

    The same spaces as ``MovieRec-v0``; ``step`` converts the action, advances a position,
    copies the precomputed observation row and, with ``full_info``, builds an ``info`` with
    ``MovieRec-v0``'s keys and value types (constant values: nothing is computed). Episodes
    last ``episode_length`` steps (the env's mean, so both reset equally often).
    """

    def __init__(
        self, table: Any, n_actions: int, episode_length: int = 100, full_info: bool = True
    ) -> None:
        from gymnasium import spaces

        self.observation_space = spaces.Box(-1.0, 1.0, (table.shape[1],), np.float32)
        self.action_space = spaces.Discrete(n_actions)
        self._obs = table
        self._length = max(1, int(episode_length))
        self._full = full_info
        self._weights = {"hit": 0.4, "genre": 0.3, "rating": 0.3}
        self._pos = self._stop = 0

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        """Start an episode at a random row."""
        super().reset(seed=seed)
        self._pos = int(self.np_random.integers(self._obs.shape[0] - self._length))
        self._stop = self._pos + self._length
        return self._obs[self._pos].copy(), {"position": self._pos, "user_id": 1}

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        """Copy the next row; a constant reward and info."""
        a = operator.index(action)  # as cheap as MovieRec-v0's own conversion
        nxt = self._pos + 1
        self._pos = nxt
        truncated = nxt >= self._stop
        info: dict[str, Any] = {}
        if self._full:
            info = {
                "position": nxt,
                "user_id": 1,
                "reward_hit": 0.0,
                "reward_genre": 0.5,
                "reward_rating": 0.5,
                "weights": self._weights.copy(),
                "target": a,
                "target_movie_id": a,
                "hit": False,
            }
        return self._obs[nxt].copy(), 0.5, False, truncated, info


if FLOOR_ID not in gym.registry:
    gym.register(FLOOR_ID, entry_point=FloorEnv)


# ---------------------------------------------------------------------- throughput
_CLOCKS = {"cpu": time.process_time, "wall": time.perf_counter}


def single_steps_per_s(
    env: Any, n_steps: int, repeats: int, seed: int = 0, clock: str = "cpu"
) -> float:
    """Best-of-``repeats`` steps/s of a single env with pre-sampled random actions."""
    now = _CLOCKS[clock]
    rng = np.random.default_rng(seed)
    n = int(env.action_space.n)
    best = 0.0
    for _ in range(repeats):
        actions = list(rng.integers(0, n, n_steps))  # np.int64, as SB3 passes them
        env.reset(seed=seed)
        step, reset = env.step, env.reset
        t = now()
        for a in actions:
            if step(a)[3]:
                reset()
        best = max(best, n_steps / max(now() - t, 1e-9))
    return best


def vector_steps_per_s(
    venv: Any, n_batches: int, repeats: int, seed: int = 0, clock: str = "cpu"
) -> float:
    """Best-of-``repeats`` env-steps/s of a vector env with pre-sampled random actions."""
    now = _CLOCKS[clock]
    rng = np.random.default_rng(seed)
    n = int(venv.single_action_space.n)
    best = 0.0
    for _ in range(repeats):
        actions = rng.integers(0, n, (n_batches, venv.num_envs))
        venv.reset(seed=seed)
        step = venv.step
        t = now()
        for a in actions:
            step(a)
        best = max(best, n_batches * venv.num_envs / max(now() - t, 1e-9))
    return best


def mask_seconds(env: Any, n_calls: int, seed: int = 0, clock: str = "cpu") -> float:
    """Mean seconds of ``step`` + ``action_masks()`` minus a plain ``step`` (mask cost)."""
    now = _CLOCKS[clock]
    rng = np.random.default_rng(seed)
    actions = rng.integers(0, int(env.action_space.n), n_calls).tolist()
    env.reset(seed=seed)
    t = now()
    for a in actions:
        env.action_masks()
        if env.step(a)[3]:
            env.reset()
    with_masks = now() - t
    env.reset(seed=seed)
    t = now()
    for a in actions:
        if env.step(a)[3]:
            env.reset()
    return max(0.0, (with_masks - (now() - t)) / n_calls)


def throughput(
    data: Any,
    encoder: Any,
    n_steps: int,
    n_batches: int,
    num_envs: list[int],
    repeats: int,
    clock: str = "cpu",
    floor: bool = True,
) -> dict[str, float]:
    """Steps/s of the wrapped, unwrapped and vector envs on one dataset (and of the floor).

    The floor envs and ``MovieRec-v0`` take turns within each of the ``repeats`` rounds;
    each number is the best round.
    """
    import movierec_env  # noqa: F401

    res: dict[str, float] = {}
    wrapped = gym.make("MovieRec-v0", dataset=data, encoders=encoder)
    core = wrapped.unwrapped._core  # the benchmark may look inside: the env's own table
    contestants: dict[str, Any] = {"wrapped": wrapped, "unwrapped": wrapped.unwrapped}
    if floor:
        eps = core.episodes
        length = int(np.mean(eps.end[eps.users] - eps.first[eps.users]))
        kw = {"table": core.obs, "n_actions": core.n_actions, "episode_length": length}
        floor_env = gym.make(FLOOR_ID, **kw)
        empty = gym.make(FLOOR_ID, full_info=False, **kw)
        contestants |= {
            "floor_wrapped": floor_env,
            "floor_unwrapped": floor_env.unwrapped,
            "floor_empty_wrapped": empty,
            "floor_empty_unwrapped": empty.unwrapped,
        }
    # Touch every page of the (memory-mapped) table once, as any long run does: the first
    # read of a page is a page fault, which would otherwise land in whichever run is first.
    float(np.asarray(core.obs).sum())
    for _ in range(repeats):
        for name, env in contestants.items():
            res[name] = max(res.get(name, 0.0), single_steps_per_s(env, n_steps, 1, clock=clock))
    res["mask_us"] = 1e6 * mask_seconds(wrapped.unwrapped, min(n_steps, 20_000), clock=clock)
    for n in num_envs:
        venv = gym.make_vec(
            "MovieRec-v0",
            num_envs=n,
            vectorization_mode="vector_entry_point",
            dataset=data,
            encoders=encoder,
        )
        batches = max(20, n_batches * 1024 // max(n, 1) // 4) if n < 1024 else n_batches
        res[f"vector_{n}"] = vector_steps_per_s(venv, batches, repeats, clock=clock)
    return res


def scaling(
    sizes: list[int], n_steps: int, repeats: int, obs_dim: int, clock: str = "cpu"
) -> list[dict[str, Any]]:
    """Throughput and table sizes on synthetic catalogues of growing size."""
    from movierec_env import MovieRecEnv, rec_env
    from movierec_env.data import PrepareConfig, prepare
    from movierec_env.data.synthetic import synthetic_raw

    rows = []
    for n_movies in sizes:
        raw = synthetic_raw(
            n_users=1_000, n_movies=n_movies, n_ratings=max(100_000, 20 * n_movies), seed=0
        )
        data = prepare(raw, PrepareConfig(min_user_ratings=5, min_item_ratings=1))
        enc = RandomProjectionEncoder(data, obs_dim=obs_dim)
        res = throughput(data, enc, n_steps, 100, [1024], repeats, clock=clock, floor=False)
        contract = rec_env(MovieRecEnv(dataset=data, encoders=enc))
        tables = contract.reward_tables
        obs_bytes = (data.n_interactions + 1) * int(enc.obs_dim) * 4  # the float32 table
        genre_mb = 0 if tables.genre_table is None else tables.genre_table.nbytes / 2**20
        rows.append(
            {
                "n_items": data.n_items,
                "n_interactions": data.n_interactions,
                "mean_history": float(data.lengths.mean()),
                "obs_table_mb": obs_bytes / 2**20,
                "genre_table_mb": genre_mb,
                **res,
            }
        )
    return rows


# ---------------------------------------------------------------------- report
_CLOCK_NAMES = {
    "cpu": "this process's CPU time (`time.process_time`)",
    "wall": "the wall clock (`time.perf_counter`)",
}


def _fmt(x: float) -> str:
    return f"{x:,.0f}"


def render(results: dict[str, Any]) -> str:
    """Markdown tables of the results."""
    meta = results["meta"]
    t = results["throughput"]
    lines = [
        f"Measured {meta['date']} on {meta['machine']} (Python {meta['python']}, numpy "
        f"{meta['numpy']}, gymnasium {meta['gymnasium']}); dataset {meta['dataset']} "
        f"({meta['n_items']:,} items, {meta['n_interactions']:,} interactions), encoder "
        f"{meta['encoder']} (obs_dim {meta['obs_dim']}); best of {meta['repeats']} runs, "
        f"timed by {_CLOCK_NAMES[meta.get('clock', 'wall')]}. Reproduce: `{meta['command']}`.",
        "",
        "| measurement | target | measured | met |",
        "|---|---|---|---|",
    ]

    def row(name: str, target: str, value: str, ok: bool) -> None:
        lines.append(f"| {name} | {target} | {value} | {'yes' if ok else '**no**'} |")

    row(
        "`gym.make` env, default wrappers (steps/s)",
        ">= 50,000",
        _fmt(t["wrapped"]),
        t["wrapped"] >= 50_000,
    )
    row("unwrapped env (steps/s)", ">= 100,000", _fmt(t["unwrapped"]), t["unwrapped"] >= 100_000)
    if "floor_wrapped" in t:
        for how in ("wrapped", "unwrapped"):
            label = "`gym.make`" if how == "wrapped" else "unwrapped"
            row(
                f"floor env, same info keys, {label} (steps/s)",
                "-",
                _fmt(t[f"floor_{how}"]),
                True,
            )
            row(
                f"floor env, empty info, {label} (steps/s)",
                "-",
                _fmt(t[f"floor_empty_{how}"]),
                True,
            )
            ratio = t[f"floor_{how}"] / t[how]
            row(f"floor (same keys) / MovieRec-v0, {label}", "<= 2.0", f"{ratio:.2f}", ratio <= 2)
    for key, value in t.items():
        if key.startswith("vector_"):
            n = int(key.split("_")[1])
            target = ">= 2,000,000" if n == 1024 else "-"
            row(
                f"vector env, {n:,} envs (steps/s)",
                target,
                _fmt(value),
                value >= 2_000_000 if n == 1024 else True,
            )
    row("`action_masks()` per call (µs)", "-", f"{t['mask_us']:.1f}", True)
    if "cold" in results:
        c = results["cold"]
        row(
            "first `gym.make` + reset, fresh process, empty cache (s)",
            "< 3",
            f"{c['fresh_install_s']:.2f}",
            c["fresh_install_s"] < 3,
        )
        row(
            "same, second start (warm cache) (s)",
            "< 1",
            f"{c['second_start_s']:.2f}",
            c["second_start_s"] < 1,
        )
        for kind in ("cold", "warm"):
            if f"{kind}_torch" in c:
                torch_loaded = bool(c[f"{kind}_torch"])
                row(
                    f"{kind} start (make + reset + step) imports torch",
                    "no",
                    "yes" if torch_loaded else "no",
                    not torch_loaded,
                )
    if "memory_mb" in results:
        m = results["memory_mb"]
        row("peak RSS: env + 1,024-env vector env (MiB)", "< 1,024", f"{m:,.0f}", m < 1024)
    if results.get("scaling"):
        lines += [
            "",
            "Scaling on synthetic catalogues (random-projection encoder, same obs_dim; "
            "1,000 users):",
            "",
            "| items | interactions | mean history | obs table (MiB) | genre table (MiB) "
            "| unwrapped (steps/s) | vector 1,024 (steps/s) | `action_masks()` (µs) |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in results["scaling"]:
            lines.append(
                f"| {r['n_items']:,} | {r['n_interactions']:,} | {r['mean_history']:.0f} | "
                f"{r['obs_table_mb']:.1f} | {r['genre_table_mb']:.2f} | {_fmt(r['unwrapped'])} "
                f"| {_fmt(r['vector_1024'])} | {r['mask_us']:.1f} |"
            )
    return "\n".join(lines)


def write_block(path: Path, text: str) -> None:
    """Replace this benchmark's block in ``path`` (appended when absent), atomically."""
    from docblock import write_marked_block

    write_marked_block(path, START, END, text)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark (see the module docstring)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default=None, help="MovieLens folder (default: embedded)")
    p.add_argument(
        "--encoders",
        default=None,
        help="checkpoint dir, or 'random' for a random projection (default: shipped)",
    )
    p.add_argument("--steps", type=int, default=200_000, help="single-env steps per run")
    p.add_argument("--batches", type=int, default=300, help="vector steps per run at 1,024 envs")
    p.add_argument("--num-envs", type=int, nargs="+", default=[1, 64, 1024])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument(
        "--clock",
        choices=sorted(_CLOCKS),
        default="cpu",
        help="cpu: this process's CPU time (steadier on a shared machine); wall: elapsed time",
    )
    p.add_argument(
        "--start-repeats", type=int, default=3, help="fresh processes per start-up number"
    )
    p.add_argument("--scaling", action="store_true", help="also run the synthetic scaling table")
    p.add_argument("--scaling-sizes", type=int, nargs="+", default=[1_000, 10_000, 50_000])
    p.add_argument("--skip-subprocess", action="store_true", help="skip cold start and memory")
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "env.md")
    p.add_argument("--no-write", action="store_true")
    p.add_argument("--json", type=Path, default=None, help="also dump raw results here")
    args = p.parse_args(argv)

    from movierec_env import MovieRecEnv, load_dataset

    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover
        pass
    data = load_dataset(args.dataset)
    if args.encoders == "random":
        encoder: Any = RandomProjectionEncoder(data, obs_dim=128)
        obs_dim = 128
        enc_name = "random projection (stand-in)"
        sub_kwargs = None  # a fresh process cannot rebuild this object
    else:
        # The argument itself, not the loaded object: the env then starts as a user's does
        # (the observation table cached under the checkpoint's digest).
        encoder = args.encoders
        obs_dim = MovieRecEnv(dataset=data, encoders=args.encoders).observation_space.shape[0]
        enc_name = "default (shipped checkpoint)" if args.encoders is None else args.encoders
        sub_kwargs = {
            k: v
            for k, v in (("dataset", args.dataset), ("encoders", args.encoders))
            if v is not None
        }
    cmd = "python benchmarks/bench_env.py " + " ".join(sys.argv[1:] if argv is None else argv)
    results: dict[str, Any] = {
        "meta": {
            "date": time.strftime("%Y-%m-%d"),
            "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
            "python": platform.python_version(),
            "numpy": np.__version__,
            "gymnasium": gym.__version__,
            "dataset": data.name,
            "n_items": data.n_items,
            "n_interactions": data.n_interactions,
            "encoder": enc_name,
            "obs_dim": int(obs_dim),
            "repeats": args.repeats,
            "clock": args.clock,
            "command": cmd.strip(),
        }
    }
    print(f"throughput on {data.name} ...", flush=True)
    results["throughput"] = throughput(
        data, encoder, args.steps, args.batches, args.num_envs, args.repeats, clock=args.clock
    )
    print(json.dumps(results["throughput"], indent=1), flush=True)
    if sub_kwargs is not None and not args.skip_subprocess:
        print("cold start and memory in fresh processes ...", flush=True)
        results["cold"] = cold_start(sub_kwargs, args.start_repeats)
        results["memory_mb"] = peak_memory_mb(sub_kwargs)
    if args.scaling:
        print("scaling ...", flush=True)
        results["scaling"] = scaling(
            args.scaling_sizes,
            min(args.steps, 100_000),
            args.repeats,
            int(obs_dim),
            clock=args.clock,
        )
    text = render(results)
    print(text)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str))
    if not args.no_write:
        write_block(args.out, text)
        print(f"wrote {args.out}")
    return results


if __name__ == "__main__":
    main()
