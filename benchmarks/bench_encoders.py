"""Benchmark the encoders against the reference rows (PROTOCOL.md, test split).

Trains both encoders once per seed with the default settings of ``movierec
train-encoders`` and the SASRec reference ranker (``agents.sasrec``, default
``SASRecConfig``, in a child process of its own so its peak memory is its own), evaluates
popular, Markov, the LSTM, the content model, the hybrid and SASRec on the same test
targets with the same code (``scorer_ranks``: PROTOCOL.md ranks), and writes into
docs/encoders.md (between the ``bench:start`` / ``bench:end`` markers): mean ± std and
95% intervals over seeds, paired tests over users against SASRec (and the LSTM against
Markov), training time (wall clock and CPU, per epoch too), peak memory and the cost of
``HybridEncoder.observations``.

``--scale`` runs the same training on a synthetic dataset of ml-1m's size and sequence
lengths (``movierec_env.data.synthetic.synthetic_sequential_raw``, written in the ml-1m
``::`` layout), one seed, and writes its block (``bench-scale:start`` / ``bench-scale:end``).

Usage::

    python benchmarks/bench_encoders.py --seeds 0 1 2 3 4 [--data DATASET] [--threads 1]
                                        [--save DIR]   # the first seed's checkpoint
    python benchmarks/bench_encoders.py --scale --seeds 0 [--workdir DIR]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import resource
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from agents.sasrec import SASRecConfig, SASRecModel, sasrec_scores, train_sasrec
from encoders import train_hybrid
from encoders.baselines import markov_scores, popularity_scores
from experiments.commands.evaluate import scorer_ranks
from experiments.reporting import mean_std_ci, paired_test
from movierec_env.data import load_dataset
from movierec_env.metrics import metrics_from_ranks

DOC = Path(__file__).resolve().parents[1] / "docs" / "encoders.md"
MARKERS = {
    "seeds": ("<!-- bench:start -->", "<!-- bench:end -->"),
    "scale": ("<!-- bench-scale:start -->", "<!-- bench-scale:end -->"),
}
ROWS = ("popular", "markov", "lstm", "content", "hybrid", "sasrec")
KEYS = ("HR@1", "HR@5", "HR@10", "NDCG@10", "MRR")


def _fmt(values: list[float], digits: int = 4) -> str:
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def _ci(values: list[float], digits: int = 4) -> str:
    """``[low, high]``: the 95% t-interval of the mean over seeds."""
    if len(values) < 2:
        return "-"
    c = mean_std_ci(values)
    return f"[{c['mean'] - c['ci95']:.{digits}f}, {c['mean'] + c['ci95']:.{digits}f}]"


def _rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    """Peak resident set size (``getrusage``; Linux reports KiB) in MiB.

    Linux carries ``ru_maxrss`` over ``fork`` and ``exec``: a spawned child's value is at
    least its parent's resident set at the fork, so it bounds the child's own peak from
    above only. :func:`_proc_mb` reads the process's own figures instead.
    """
    return resource.getrusage(who).ru_maxrss / 1024


def _proc_mb(field: str) -> float:
    """``VmRSS`` (now) or ``VmHWM`` (peak since exec) of this process, in MiB (Linux)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return float("nan")


def _train_sasrec_child(
    dataset: str | None, seed: int, threads: int, overrides: dict[str, Any]
) -> dict[str, Any]:
    """Train SASRec in a fresh process; return its weights, record and peak memory."""
    torch.set_num_threads(threads)
    data = load_dataset(dataset)
    before = _proc_mb("VmRSS")
    model, record = train_sasrec(data, SASRecConfig(threads=threads, **overrides), seed=seed)
    return {
        "state": model.state_dict(),
        "record": record,
        "rss_before_mb": before,
        "peak_rss_mb": _proc_mb("VmHWM"),
    }


def _sasrec_run(
    dataset: str | None, seed: int, threads: int, overrides: dict[str, Any]
) -> dict[str, Any]:
    with ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn")) as pool:
        return pool.submit(_train_sasrec_child, dataset, seed, threads, overrides).result()


def run_seed(
    data: Any,
    dataset: str | None,
    seed: int,
    threads: int | None,
    save: Path | None,
    sasrec_epochs: int | None = None,
) -> dict[str, Any]:
    """Train both encoders and SASRec with ``seed``; ranks of every model on the test split.

    ``sasrec_epochs`` trains SASRec for exactly that many epochs (no early stopping, last
    weights): a timing run, not its quality.
    """
    from encoders.hybrid import CONTENT_TRAIN, LSTM_TRAIN

    over = {"threads": threads} if threads else {}
    out: dict[str, Any] = {"ranks": {}, "epochs": {}, "epoch_s": {}, "epoch_cpu_s": {}}
    parent_rss = _proc_mb("VmRSS")  # what a worker's ru_maxrss starts from (see _rss_mb)
    t0 = time.perf_counter()
    enc = train_hybrid(
        data,
        seed=seed,
        lstm_train=replace(LSTM_TRAIN, **over),
        content_train=replace(CONTENT_TRAIN, **over),
        progress=False,
    )
    out["train_s"] = time.perf_counter() - t0
    out["alpha"] = enc.alpha
    out["encoder_cpu_s"] = 0.0
    for name in ("lstm", "content"):
        rec = enc.metrics[name]
        out["epochs"][name] = int(rec["epochs_run"])
        out["epoch_s"][name] = rec["train_seconds"] / rec["epochs_run"]
        out["epoch_cpu_s"][name] = rec["train_cpu_seconds"] / rec["epochs_run"]
        out["encoder_cpu_s"] += rec["train_cpu_seconds"]
    who = resource.RUSAGE_CHILDREN if enc.metrics.get("parallel") else resource.RUSAGE_SELF
    out["encoder_peak_mb"], out["parent_mb"] = _rss_mb(who), parent_rss
    if save is not None:
        enc.save(save)
    for which in ("lstm", "content", "hybrid"):
        out["ranks"][which] = scorer_ranks(
            data, lambda d, pos, w=which: enc.component_scores(d, pos, w)
        )
    out["obs_s"] = {}
    for n_threads in (1, 2):
        torch.set_num_threads(n_threads)
        t1 = time.perf_counter()
        enc.observations(data)
        out["obs_s"][n_threads] = time.perf_counter() - t1
    torch.set_num_threads(threads or 1)
    # SASRec: trained in a child process, scored here by the same scorer_ranks.
    sas_over: dict[str, Any] = {}
    if sasrec_epochs is not None:
        sas_over = {"epochs": sasrec_epochs, "patience": None}
    run = _sasrec_run(dataset, seed, threads or 1, sas_over)
    rec = run["record"]
    sas = SASRecModel(data.n_items, SASRecConfig(**rec["config"]))
    sas.load_state_dict(run["state"])
    sas.eval()
    out["sasrec_train_s"] = rec["train_seconds"]  # the child's start-up excluded
    out["sasrec_cpu_s"] = rec["train_cpu_seconds"]
    out["epochs"]["sasrec"] = int(rec["epochs_run"])
    out["epoch_s"]["sasrec"] = rec["train_seconds"] / rec["epochs_run"]
    out["epoch_cpu_s"]["sasrec"] = rec["train_cpu_seconds"] / rec["epochs_run"]
    out["sasrec_mb"] = (run["rss_before_mb"], run["peak_rss_mb"])
    out["ranks"]["sasrec"] = scorer_ranks(data, lambda d, pos, m=sas: sasrec_scores(m, d, pos))
    return out


def _paired(ranks: dict[str, dict[int, Any]], a: str, b: str) -> str:
    """``Δ HR@10 (p) / Δ NDCG@10 (p)`` of ``a`` minus ``b``, per-user values seed-averaged."""
    per_seed = {
        name: {s: {"per_user": {"ranks": r}} for s, r in ranks[name].items()} for name in (a, b)
    }
    cells = []
    for key in ("hits@10", "ndcg@10"):
        t = paired_test(per_seed, a, b, key)
        cells += [f"{t['diff']:+.4f}", f"{t['p']:.2g}"]
    return " | ".join(cells)


def seeds_block(data: Any, args: argparse.Namespace, runs: dict[int, dict[str, Any]]) -> str:
    """The mean ± std / 95% interval / paired-test table of the seed runs."""
    ranks: dict[str, dict[int, Any]] = {name: {} for name in ROWS}
    for name, fn in (("popular", popularity_scores), ("markov", markov_scores)):
        r = scorer_ranks(data, fn)
        ranks[name] = {seed: r for seed in runs}  # deterministic: the same every seed
    for seed, run in runs.items():
        for name in ("lstm", "content", "hybrid", "sasrec"):
            ranks[name][seed] = run["ranks"][name]
    metrics = {
        name: {k: [metrics_from_ranks(ranks[name][s])[k] for s in runs] for k in KEYS}
        for name in ROWS
    }
    vals = list(runs.values())
    lines = [
        f"Dataset `{data.name}`, test split, {data.target_indices('test').size} users, "
        f"seeds {list(runs)} (popular and Markov are deterministic; sasrec is the "
        "reference ranker `agents.sasrec`, default `SASRecConfig`). "
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"torch {torch.__version__}. Mean ± std over seeds; [95% t-interval of the mean].",
        "",
        "| model | HR@1 | HR@5 | HR@10 | HR@10 95% CI | NDCG@10 | NDCG@10 95% CI | MRR |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in ROWS:
        m = metrics[name]
        lines.append(
            f"| {name} | {_fmt(m['HR@1'])} | {_fmt(m['HR@5'])} | {_fmt(m['HR@10'])} | "
            f"{_ci(m['HR@10'])} | {_fmt(m['NDCG@10'])} | {_ci(m['NDCG@10'])} | "
            f"{_fmt(m['MRR'])} |"
        )
    lines += [
        "",
        "Paired tests over the test users (each user's hit@10 and NDCG@10 first averaged "
        "over the seeds; two-sided Wilcoxon signed-rank test, or the exact McNemar test "
        "when the values are 0/1, `experiments.reporting.paired_test`):",
        "",
        "| comparison | Δ HR@10 | p | Δ NDCG@10 | p |",
        "|---|---|---|---|---|",
    ]
    for a, b in (
        ("hybrid", "sasrec"),
        ("content", "sasrec"),
        ("lstm", "sasrec"),
        ("markov", "sasrec"),
        ("lstm", "markov"),
    ):
        lines.append(f"| {a} − {b} | {_paired(ranks, a, b)} |")
    lines += [
        "",
        f"- training both encoders (wall clock, per seed): "
        f"{_fmt([v['train_s'] for v in vals], 1)} s; CPU time of the two training "
        f"processes together: {_fmt([v['encoder_cpu_s'] for v in vals], 1)} s",
        "- alpha chosen on validation: " + ", ".join(f"{v['alpha']:.2f}" for v in vals),
        f"- training SASRec (wall clock, per seed, one process, {args.threads or 1} thread): "
        f"{_fmt([v['sasrec_train_s'] for v in vals], 1)} s (CPU "
        f"{_fmt([v['sasrec_cpu_s'] for v in vals], 1)} s); epochs run "
        f"{', '.join(str(v['epochs']['sasrec']) for v in vals)} (early stopping on "
        "validation NDCG@10)",
        "- time per epoch (training time / epochs run, each epoch's validation pass "
        "included; wall clock, CPU in brackets): "
        + "; ".join(
            f"{n} {_fmt([v['epoch_s'][n] for v in vals], 1)} s "
            f"({_fmt([v['epoch_cpu_s'][n] for v in vals], 1)} s CPU; "
            f"{', '.join(str(v['epochs'][n]) for v in vals)} epochs)"
            for n in ("lstm", "content", "sasrec")
        ),
        _memory_line(vals),
        f"- `observations()` for all {data.n_interactions} rows: "
        f"{_fmt([v['obs_s'][1] for v in vals], 2)} s (1 thread), "
        f"{_fmt([v['obs_s'][2] for v in vals], 2)} s (2 threads)",
    ]
    if args.note:
        lines.append(f"- note: {args.note}")
    cmd = "python benchmarks/bench_encoders.py --seeds " + " ".join(map(str, runs))
    if args.data:
        cmd += f" --data {args.data}"
    lines += ["", f"Reproduce: `{cmd}`"]
    return "\n".join(lines)


def _memory_line(vals: list[dict[str, Any]]) -> str:
    first = vals[0]
    return (
        "- peak memory (resident set of the training process, torch and the data "
        f"included): encoders {first['encoder_peak_mb']:.0f} MiB (`ru_maxrss` of the two "
        "encoder worker processes of the first seed, the larger one; an upper bound that is "
        f"their own peak when above the parent's {first['parent_mb']:.0f} MiB at their "
        f"start); SASRec {_fmt([v['sasrec_mb'][1] for v in vals], 0)} MiB (`VmHWM` of its "
        f"own process; {_fmt([v['sasrec_mb'][0] for v in vals], 0)} MiB after loading "
        "torch and the data, before training)"
    )


def scale_block(data: Any, args: argparse.Namespace, seed: int, run: dict[str, Any]) -> str:
    """The ml-1m-sized training cost block (one seed)."""
    lengths = data.lengths
    rows = []
    for name, fn in (("popular", popularity_scores), ("markov", markov_scores)):
        rows.append((name, metrics_from_ranks(scorer_ranks(data, fn))))
    for name in ("lstm", "content", "hybrid", "sasrec"):
        rows.append((name, metrics_from_ranks(run["ranks"][name])))
    lines = [
        f"Synthetic ml-1m-sized dataset (`synthetic_sequential_raw(seed={args.data_seed})`, "
        f"written in the ml-1m `::` layout and read back): {data.n_users:,} users, "
        f"{data.n_items:,} movies, {data.n_interactions:,} ratings after 5/5 filtering; "
        f"ratings per user: min {int(lengths.min())}, median {int(np.median(lengths))}, "
        f"mean {lengths.mean():.1f}, max {int(lengths.max())} (ml-1m: 20, 96, 165.6, 2,314). "
        f"Seed {seed}, default settings, one torch thread per process. Machine: "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch "
        f"{torch.__version__}; load average at the start {args.load_start:.1f}, at the end "
        f"{os.getloadavg()[0]:.1f}.",
        "",
        "| model | epochs run | per epoch, wall (s) | per epoch, CPU (s) | training, wall (s) |",
        "|---|---|---|---|---|",
    ]
    for n in ("lstm", "content", "sasrec"):
        total = run["epoch_s"][n] * run["epochs"][n]
        lines.append(
            f"| {n} | {run['epochs'][n]} | {run['epoch_s'][n]:.1f} | "
            f"{run['epoch_cpu_s'][n]:.1f} | {total:.0f} |"
        )
    target = "met" if run["train_s"] < 600 else "**missed**"
    sas_note = ""
    if args.sasrec_epochs is not None:
        sas_note = (
            f" (a timing run: {args.sasrec_epochs} epochs, no early stopping; on "
            "ml-latest-small early stopping ended it after 9-15 epochs (5 seeds), so its full run "
            f"would take about {9 * run['epoch_s']['sasrec']:.0f}-"
            f"{15 * run['epoch_s']['sasrec']:.0f} s at this speed)"
        )
    lines += [
        "",
        f"- **both encoders, wall clock: {run['train_s']:.0f} s** (target < 600 s: {target}; "
        "the two train side by side in two processes); CPU time of the two processes "
        f"together {run['encoder_cpu_s']:.0f} s; SASRec {run['sasrec_train_s']:.0f} s "
        f"wall ({run['sasrec_cpu_s']:.0f} s CPU), alone in one process after them{sas_note}",
        _memory_line([run]),
        f"- `observations()` for all {data.n_interactions:,} rows: {run['obs_s'][1]:.1f} s "
        f"(1 thread), {run['obs_s'][2]:.1f} s (2 threads)",
        "- test metrics on this synthetic set (a sanity check that training worked, not a "
        "quality claim: its sequential pattern is planted): "
        + "; ".join(f"{n} HR@10 {m['HR@10']:.3f} NDCG@10 {m['NDCG@10']:.3f}" for n, m in rows),
    ]
    if args.note:
        lines.append(f"- note: {args.note}")
    cmd = f"python benchmarks/bench_encoders.py --scale --seeds {seed}"
    if args.sasrec_epochs is not None:
        cmd += f" --sasrec-epochs {args.sasrec_epochs}"
    lines += ["", f"Reproduce: `{cmd}`"]
    return "\n".join(lines)


def write_block(which: str, table: str) -> None:
    """Replace the ``which`` block of docs/encoders.md atomically."""
    from docblock import write_marked_block

    write_marked_block(DOC, *MARKERS[which], table)
    print(f"wrote {DOC}")


def main() -> None:
    """Run the benchmark and update the docs."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--data", default=None, help="dataset folder or 'ml-latest-small'")
    ap.add_argument("--threads", type=int, default=None, help="training threads override")
    ap.add_argument("--save", type=Path, default=None, help="save the first seed's encoders")
    ap.add_argument("--scale", action="store_true", help="synthetic ml-1m-sized run")
    ap.add_argument("--data-seed", type=int, default=0, help="seed of the synthetic data")
    ap.add_argument("--workdir", type=Path, default=None, help="folder for the synthetic set")
    ap.add_argument(
        "--sasrec-epochs",
        type=int,
        default=None,
        help="--scale: train SASRec for exactly N epochs (timing only; default: early stopping)",
    )
    ap.add_argument("--no-write", action="store_true", help="print only, do not edit docs")
    ap.add_argument("--note", default="", help="free text recorded under the table")
    args = ap.parse_args()
    args.load_start = os.getloadavg()[0]

    if args.scale:
        from movierec_env.data.synthetic import synthetic_sequential_raw, write_dat

        folder = args.workdir or Path(tempfile.mkdtemp(prefix="movierec-ml1m-"))
        if not (folder / "ratings.dat").exists():
            write_dat(synthetic_sequential_raw(seed=args.data_seed), folder)
        args.data = str(folder)
    data = load_dataset(args.data)
    runs: dict[int, dict[str, Any]] = {}
    for i, seed in enumerate(args.seeds):
        runs[seed] = run_seed(
            data,
            args.data,
            seed,
            args.threads,
            args.save if i == 0 else None,
            args.sasrec_epochs if args.scale else None,
        )
        r = runs[seed]
        print(
            f"seed {seed}: encoders {r['train_s']:.1f} s, alpha {r['alpha']:.2f}, "
            f"sasrec {r['sasrec_train_s']:.1f} s, "
            + ", ".join(
                f"{n} HR@10 {metrics_from_ranks(x)['HR@10']:.4f}" for n, x in r["ranks"].items()
            ),
            flush=True,
        )
        if args.scale:
            break
    if args.scale:
        seed = args.seeds[0]
        table = scale_block(data, args, seed, runs[seed])
    else:
        table = seeds_block(data, args, runs)
    print(table)
    if not args.no_write:
        write_block("scale" if args.scale else "seeds", table)


if __name__ == "__main__":
    main()
