"""Benchmark the encoders against the reference rows (PROTOCOL.md, test split).

Trains both encoders once per seed with the default settings of ``movierec
train-encoders`` and the SASRec reference ranker (``agents.sasrec``, default
``SASRecConfig``, in a child process of its own so its peak memory is its own), evaluates
popular, Markov, the LSTM, the content model, the hybrid and SASRec on the same test
targets with the same code (``evaluate_scorer``: PROTOCOL.md ranks and metrics), times
training (per epoch too) and ``HybridEncoder.observations``, and writes a mean ± std
table into docs/encoders.md (between the ``bench:start`` / ``bench:end`` markers).

Usage::

    python benchmarks/bench_encoders.py --seeds 0 1 2 3 4 [--data DATASET] [--threads 1]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import resource
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import torch

from agents.sasrec import SASRecConfig, SASRecModel, sasrec_scores, train_sasrec
from encoders import train_hybrid
from encoders.baselines import markov_scores, popularity_scores
from experiments.commands.evaluate import encoder_test_metrics, evaluate_scorer
from movierec_env.data import load_dataset

DOC = Path(__file__).resolve().parents[1] / "docs" / "encoders.md"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"
ROWS = ("popular", "markov", "lstm", "content", "hybrid", "sasrec")
KEYS = ("HR@1", "HR@5", "HR@10", "NDCG@10", "MRR")


def _fmt(values: list[float], digits: int = 4) -> str:
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


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


def _train_sasrec_child(dataset: str | None, seed: int, threads: int) -> dict[str, Any]:
    """Train SASRec in a fresh process; return its weights, record and peak memory."""
    torch.set_num_threads(threads)
    data = load_dataset(dataset)
    before = _proc_mb("VmRSS")
    model, record = train_sasrec(data, SASRecConfig(threads=threads), seed=seed)
    return {
        "state": model.state_dict(),
        "record": record,
        "rss_before_mb": before,
        "peak_rss_mb": _proc_mb("VmHWM"),
    }


def _sasrec_run(dataset: str | None, seed: int, threads: int) -> dict[str, Any]:
    with ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn")) as pool:
        return pool.submit(_train_sasrec_child, dataset, seed, threads).result()


def main() -> None:
    """Run the benchmark and update the docs."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--data", default=None, help="dataset folder or 'ml-latest-small'")
    ap.add_argument("--threads", type=int, default=None, help="training threads override")
    ap.add_argument("--no-write", action="store_true", help="print only, do not edit docs")
    ap.add_argument("--note", default="", help="free text recorded under the table")
    args = ap.parse_args()

    data = load_dataset(args.data)
    results: dict[str, dict[str, list[float]]] = {r: {k: [] for k in KEYS} for r in ROWS}
    train_s: list[float] = []
    alphas: list[float] = []
    epoch_s: dict[str, list[float]] = {"lstm": [], "content": [], "sasrec": []}
    epochs: dict[str, list[int]] = {"lstm": [], "content": [], "sasrec": []}
    sasrec_train_s: list[float] = []
    peak_mb: dict[str, float] = {}
    sasrec_rss: list[tuple[float, float]] = []
    obs_s: dict[int, list[float]] = {1: [], 2: []}
    for name, fn in (("popular", popularity_scores), ("markov", markov_scores)):
        m = evaluate_scorer(data, fn)
        for k in KEYS:
            results[name][k].append(m[k])
    from dataclasses import replace

    from encoders.hybrid import CONTENT_TRAIN, LSTM_TRAIN

    over = {"threads": args.threads} if args.threads else {}
    for seed in args.seeds:
        parent_rss = _proc_mb("VmRSS")  # what a worker's ru_maxrss starts from (see _rss_mb)
        t0 = time.perf_counter()
        enc = train_hybrid(
            data,
            seed=seed,
            lstm_train=replace(LSTM_TRAIN, **over),
            content_train=replace(CONTENT_TRAIN, **over),
            progress=False,
        )
        train_s.append(time.perf_counter() - t0)
        alphas.append(enc.alpha)
        for name in ("lstm", "content"):
            rec = enc.metrics[name]
            epochs[name].append(int(rec["epochs_run"]))
            epoch_s[name].append(rec["train_seconds"] / rec["epochs_run"])
        if "encoders" not in peak_mb:  # the workers of the first seed (nothing else ran yet)
            who = resource.RUSAGE_CHILDREN if enc.metrics.get("parallel") else resource.RUSAGE_SELF
            peak_mb["encoders"] = _rss_mb(who)
            peak_mb["parent"] = parent_rss
        tm = encoder_test_metrics(enc, data)
        for name in ("lstm", "content", "hybrid"):
            for k in KEYS:
                results[name][k].append(tm[name][k])
        for threads in (1, 2):
            torch.set_num_threads(threads)
            t1 = time.perf_counter()
            enc.observations(data)
            obs_s[threads].append(time.perf_counter() - t1)
        # SASRec: trained in a child process, scored here by the same evaluate_scorer.
        run = _sasrec_run(args.data, seed, args.threads or 1)
        sas = SASRecModel(data.n_items, SASRecConfig(**run["record"]["config"]))
        sas.load_state_dict(run["state"])
        sas.eval()
        rec = run["record"]
        sasrec_train_s.append(rec["train_seconds"])  # the child's start-up excluded
        epochs["sasrec"].append(int(rec["epochs_run"]))
        epoch_s["sasrec"].append(rec["train_seconds"] / rec["epochs_run"])
        sasrec_rss.append((run["rss_before_mb"], run["peak_rss_mb"]))
        tm["sasrec"] = evaluate_scorer(data, lambda d, pos, m=sas: sasrec_scores(m, d, pos))
        for k in KEYS:
            results["sasrec"][k].append(tm["sasrec"][k])
        print(
            f"seed {seed}: train {train_s[-1]:.1f} s, alpha {enc.alpha:.2f}, "
            f"sasrec {sasrec_train_s[-1]:.1f} s (best epoch {rec['best_epoch']}), "
            + ", ".join(f"{n} HR@10 {tm[n]['HR@10']:.4f}" for n in tm),
            flush=True,
        )

    lines = [
        f"Dataset `{data.name}`, test split, {data.target_indices('test').size} users, "
        f"seeds {args.seeds} (popular and Markov are deterministic; sasrec is the "
        "reference ranker `agents.sasrec`, default `SASRecConfig`). "
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"torch {torch.__version__}.",
        "",
        "| model | HR@1 | HR@5 | HR@10 | NDCG@10 | MRR |",
        "|---|---|---|---|---|---|",
    ]
    for name in ROWS:
        lines.append(f"| {name} | " + " | ".join(_fmt(results[name][k]) for k in KEYS) + " |")
    lines += [
        "",
        f"- training both encoders (wall clock, per seed): {_fmt(train_s, 1)} s",
        f"- alpha chosen on validation: {', '.join(f'{a:.2f}' for a in alphas)}",
        f"- training SASRec (wall clock, per seed, one process, {args.threads or 1} thread): "
        f"{_fmt(sasrec_train_s, 1)} s; epochs run "
        f"{', '.join(map(str, epochs['sasrec']))} (early stopping on validation NDCG@10)",
        "- time per epoch (training wall clock / epochs run, each epoch's validation "
        "pass included): "
        + "; ".join(
            f"{n} {_fmt(epoch_s[n], 1)} s ({', '.join(map(str, epochs[n]))} epochs)"
            for n in ("lstm", "content", "sasrec")
        ),
        "- peak memory (resident set of the training process, torch and the data included): "
        f"encoders {peak_mb.get('encoders', float('nan')):.0f} MiB (`ru_maxrss` of the "
        "two encoder worker processes of the first seed, the larger one; an upper bound "
        "that is their own peak when above the parent's "
        f"{peak_mb.get('parent', float('nan')):.0f} MiB at their start); "
        f"SASRec {_fmt([b for _, b in sasrec_rss], 0)} MiB (`VmHWM` of its own process; "
        f"{_fmt([a for a, _ in sasrec_rss], 0)} MiB after loading torch and the data, "
        "before training)",
        f"- `observations()` for all {data.n_interactions} rows: "
        f"{_fmt(obs_s[1], 2)} s (1 thread), {_fmt(obs_s[2], 2)} s (2 threads)",
    ]
    if args.note:
        lines.append(f"- note: {args.note}")
    cmd = "python benchmarks/bench_encoders.py --seeds " + " ".join(map(str, args.seeds))
    if args.data:
        cmd += f" --data {args.data}"
    lines += ["", f"Reproduce: `{cmd}`"]
    table = "\n".join(lines)
    print(table)
    if args.no_write:
        return
    text = DOC.read_text() if DOC.exists() else f"# Encoders\n\n{START}\n{END}\n"
    if START not in text or END not in text:
        text += f"\n{START}\n{END}\n"
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    tmp = DOC.with_name(f".{DOC.name}.tmp")
    tmp.write_text(f"{head}{START}\n{table}\n{END}{tail}")
    os.replace(tmp, DOC)  # atomic: an interrupted run never leaves half a page
    print(f"wrote {DOC}")


if __name__ == "__main__":
    main()
