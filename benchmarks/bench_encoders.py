"""Benchmark the encoders against the reference rows (PROTOCOL.md, test split).

Trains both encoders once per seed with the default settings of ``movierec
train-encoders``, evaluates popular, Markov, the LSTM, the content model and the hybrid on
the test targets, times training and ``HybridEncoder.observations``, and writes a mean ±
std table into docs/encoders.md (between the ``bench:start`` / ``bench:end`` markers).

Usage::

    python benchmarks/bench_encoders.py --seeds 0 1 2 3 4 [--data DATASET] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

import torch

from encoders import train_hybrid
from encoders.baselines import markov_scores, popularity_scores
from experiments.commands.evaluate import encoder_test_metrics, evaluate_scorer
from movierec_env.data import load_dataset

DOC = Path(__file__).resolve().parents[1] / "docs" / "encoders.md"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"
ROWS = ("popular", "markov", "lstm", "content", "hybrid")
KEYS = ("HR@1", "HR@5", "HR@10", "NDCG@10", "MRR")


def _fmt(values: list[float], digits: int = 4) -> str:
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


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
    obs_s: dict[int, list[float]] = {1: [], 2: []}
    for name, fn in (("popular", popularity_scores), ("markov", markov_scores)):
        m = evaluate_scorer(data, fn)
        for k in KEYS:
            results[name][k].append(m[k])
    from dataclasses import replace

    from encoders.hybrid import CONTENT_TRAIN, LSTM_TRAIN

    over = {"threads": args.threads} if args.threads else {}
    for seed in args.seeds:
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
        tm = encoder_test_metrics(enc, data)
        for name in ("lstm", "content", "hybrid"):
            for k in KEYS:
                results[name][k].append(tm[name][k])
        for threads in (1, 2):
            torch.set_num_threads(threads)
            t1 = time.perf_counter()
            enc.observations(data)
            obs_s[threads].append(time.perf_counter() - t1)
        print(
            f"seed {seed}: train {train_s[-1]:.1f} s, alpha {enc.alpha:.2f}, "
            + ", ".join(f"{n} HR@10 {tm[n]['HR@10']:.4f}" for n in tm),
            flush=True,
        )

    lines = [
        f"Dataset `{data.name}`, test split, {data.target_indices('test').size} users, "
        f"seeds {args.seeds} (popular and Markov are deterministic). "
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
    DOC.write_text(f"{head}{START}\n{table}\n{END}{tail}")
    print(f"wrote {DOC}")


if __name__ == "__main__":
    main()
