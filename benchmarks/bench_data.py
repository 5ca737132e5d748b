"""Benchmark of the data layer: load + prepare time and peak memory.

Two measurements, each in a fresh Python process (so peak RSS is the data layer's, not
the generator's):

1. the embedded ml-latest-small (target: well under 2 s);
2. a synthetic ml-25m-sized CSV dataset (25 million ratings, 162,541 users, 62,423
   movies, written to a temporary folder; target: under 2 minutes and 8 GB).

The synthetic ratings file mimics ml-25m's shape: users sorted ascending with at least 20
ratings each (long-tailed activity), each user's ratings sorted by movieId (so the
chronological sort has real work to do), Zipf-like movie popularity, half-star ratings,
non-contiguous movie ids, quoted titles with commas.

Usage::

    python benchmarks/bench_data.py                   # both; writes docs/data.md
    python benchmarks/bench_data.py --skip-large      # ml-latest-small only
    python benchmarks/bench_data.py --workdir /tmp/ml25 --keep   # reuse the 25M files

The results replace the block between the ``bench:start``/``bench:end`` markers of
``docs/data.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import NDArray

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "data.md"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"

GENRES = [
    "Action", "Adventure", "Animation", "Children", "Comedy", "Crime", "Documentary",
    "Drama", "Fantasy", "Film-Noir", "Horror", "IMAX", "Musical", "Mystery", "Romance",
    "Sci-Fi", "Thriller", "War", "Western",
]  # fmt: skip

# --------------------------------------------------------------------------- child


CHILD = r"""
import json, resource, sys, time

def peak_mb():
    # VmHWM restarts at exec; ru_maxrss may carry the forking parent's peak on Linux.
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

t0 = time.perf_counter()
from movierec_env.data import load_raw, prepare
t_import = time.perf_counter() - t0
rss_import = peak_mb()
dataset, repeats = (sys.argv[1] or None), int(sys.argv[2])
runs = []
for _ in range(repeats):
    t0 = time.perf_counter()
    raw = load_raw(dataset)
    t1 = time.perf_counter()
    d = prepare(raw)
    t2 = time.perf_counter()
    runs.append({"load_s": t1 - t0, "prepare_s": t2 - t1, "total_s": t2 - t0})
    counts = {"raw_users": raw.n_users, "raw_movies": raw.n_movies,
              "raw_ratings": raw.n_ratings, "users": d.n_users, "items": d.n_items,
              "interactions": d.n_interactions}
    del raw, d
print(json.dumps({"import_s": t_import, "rss_import_mb": rss_import, "runs": runs,
                  "peak_rss_mb": peak_mb(),
                  **counts}))
"""


def measure(dataset: str, repeats: int) -> dict:
    """Run load_raw + prepare ``repeats`` times in a fresh interpreter; return its report."""
    out = subprocess.run(
        [sys.executable, "-c", CHILD, dataset, str(repeats)],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    result: dict = json.loads(out.stdout.strip().splitlines()[-1])
    return result


# --------------------------------------------------------------------------- generator


def _digits(x: NDArray[np.int64]) -> tuple[NDArray[np.uint8], NDArray[np.bool_]]:
    """ASCII digits of non-negative ints, left-aligned, as (n, width) bytes + valid mask."""
    n_dig = np.ones(x.shape, dtype=np.int64)
    for k in range(1, 19):
        n_dig += x >= 10**k
    width = int(n_dig.max())
    pos = np.arange(width)
    valid = pos[None, :] < n_dig[:, None]
    power = np.where(valid, n_dig[:, None] - 1 - pos[None, :], 0)
    digits = (x[:, None] // (10**power)) % 10
    return (digits + 48).astype(np.uint8), valid


def csv_bytes(columns: list[NDArray[np.int64] | NDArray[np.float32]]) -> bytes:
    """Vectorised CSV rows (ints; floats as one-decimal half stars), ~50x faster than pandas."""
    mats, masks = [], []
    for k, col in enumerate(columns):
        if col.dtype.kind == "f":
            whole = np.floor(col).astype(np.int64)
            half = (col - whole) > 0
            mat = np.stack([whole + 48, np.full_like(whole, 46), np.where(half, 53, 48)], 1)
            mats.append(mat.astype(np.uint8))
            masks.append(np.ones(mat.shape, dtype=bool))
        else:
            mat, valid = _digits(col.astype(np.int64))
            mats.append(mat)
            masks.append(valid)
        sep = 10 if k == len(columns) - 1 else 44  # '\n' or ','
        mats.append(np.full((col.shape[0], 1), sep, dtype=np.uint8))
        masks.append(np.ones((col.shape[0], 1), dtype=bool))
    mat = np.concatenate(mats, axis=1)
    mask = np.concatenate(masks, axis=1)
    return mat[mask].tobytes()


def generate(folder: Path, n_ratings: int, seed: int = 0) -> None:
    """Write a synthetic ml-25m-shaped CSV dataset into ``folder``."""
    rng = np.random.default_rng(seed)
    n_users, n_movies = 162_541, 62_423
    n_users = min(n_users, max(1, n_ratings // 40))
    folder.mkdir(parents=True, exist_ok=True)

    # Catalogue: sparse ids up to ~210k like ml-25m, 1-3 genres, some with none.
    movie_ids = np.sort(rng.choice(np.arange(1, 210_000), n_movies, replace=False))
    years = rng.integers(1920, 2020, n_movies)
    titles = [
        f"Movie {m}, The ({y})" if m % 7 == 0 else f"Movie {m} ({y})"
        for m, y in zip(movie_ids.tolist(), years.tolist(), strict=True)
    ]
    g = rng.random((n_movies, len(GENRES))) < 0.12
    genres = ["|".join(GENRES[j] for j in np.flatnonzero(row)) for row in g]
    genres = [s or "(no genres listed)" for s in genres]
    pd.DataFrame({"movieId": movie_ids, "title": titles, "genres": genres}).to_csv(
        folder / "movies.csv", index=False
    )

    # Users: >= 20 ratings each, long-tailed activity; file sorted by user then movie.
    base = min(20, n_ratings // n_users)
    weights = rng.lognormal(0.0, 1.2, n_users)
    counts = base + rng.multinomial(n_ratings - base * n_users, weights / weights.sum())
    users = np.repeat(np.arange(1, n_users + 1, dtype=np.int64), counts)
    pop = 1.0 / np.arange(1, n_movies + 1) ** 0.9
    movie_rows = rng.choice(n_movies, size=n_ratings, p=pop / pop.sum())
    movie_rows = rng.permutation(n_movies)[movie_rows]  # popularity not in id order
    order = np.argsort(users * n_movies + movie_rows, kind="stable")
    movies = movie_ids[movie_rows[order]]
    del movie_rows, order
    start = rng.integers(789_652_009, 1_500_000_000, n_users)
    spread = rng.integers(60, 60 * 60 * 24 * 365 * 3, n_users)
    ts = start[users - 1] + (rng.random(n_ratings) * spread[users - 1]).astype(np.int64)
    stars = [0.02, 0.03, 0.03, 0.07, 0.06, 0.2, 0.13, 0.26, 0.08, 0.12]  # 0.5 .. 5.0
    ratings = (rng.choice(np.arange(1, 11), n_ratings, p=stars) / 2).astype(np.float32)

    chunk = 2_000_000
    with open(folder / "ratings.csv", "wb") as fh:
        fh.write(b"userId,movieId,rating,timestamp\n")
        for s in range(0, n_ratings, chunk):
            e = min(s + chunk, n_ratings)
            fh.write(csv_bytes([users[s:e], movies[s:e], ratings[s:e], ts[s:e]]))


# --------------------------------------------------------------------------- report


def _row(name: str, r: dict, target: str) -> str:
    runs = r["runs"]
    first = runs[0]
    best = min(runs, key=lambda x: x["total_s"])
    med = float(np.median([x["total_s"] for x in runs]))
    return (
        f"| {name} | {r['raw_ratings']:,} | {r['interactions']:,} | "
        f"{first['load_s']:.2f} | {first['prepare_s']:.2f} | {first['total_s']:.2f} | "
        f"{med:.2f} / {best['total_s']:.2f} | {r['peak_rss_mb'] / 1024:.2f} | "
        f"{r['rss_import_mb'] / 1024:.2f} | {target} |"
    )


def write_doc(rows: list[str], command: str, notes: list[str]) -> None:
    """Replace the benchmark block of docs/data.md (or append one)."""
    block = "\n".join(
        [
            START,
            f"Measured {dt.date.today().isoformat()} on {platform.machine()}, "
            f"{os.cpu_count()} CPU cores, Python {platform.python_version()}, "
            f"numpy {np.__version__}, pandas {pd.__version__}. Reproduce with:",
            "",
            "```bash",
            command,
            "```",
            "",
            "| dataset | ratings | interactions after 5/5 | load s | prepare s | total s "
            "(1st run) | total s median / best | peak RSS GB | RSS after imports GB | "
            "target |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
            *rows,
            "",
            *notes,
            END,
        ]
    )
    text = DOC.read_text() if DOC.exists() else "# Data layer\n"
    if START in text and END in text:
        head, rest = text.split(START, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        text = text.rstrip() + "\n\n## Benchmark\n\n" + block + "\n"
    DOC.write_text(text)


def main() -> None:
    """Run the benchmark and write the table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ratings", type=int, default=25_000_000, help="size of the large run")
    ap.add_argument("--repeats", type=int, default=5, help="runs on ml-latest-small")
    ap.add_argument("--skip-large", action="store_true", help="only ml-latest-small")
    ap.add_argument("--workdir", type=Path, default=None, help="folder for the large files")
    ap.add_argument("--keep", action="store_true", help="keep (and reuse) the large files")
    ap.add_argument("--no-doc", action="store_true", help="print, do not write docs/data.md")
    ap.add_argument("--note", action="append", default=[], help="extra note under the table")
    args = ap.parse_args()

    rows: list[str] = []
    small = measure("", args.repeats)
    rows.append(_row("ml-latest-small (embedded)", small, "total < 2 s"))
    print(json.dumps({"ml-latest-small": small}, indent=1), flush=True)

    if not args.skip_large:
        work = args.workdir or Path(tempfile.mkdtemp(prefix="movierec-bench-"))
        folder = work / f"synthetic-{args.ratings}"
        try:
            if not (folder / "ratings.csv").exists():
                t0 = time.perf_counter()
                generate(folder, args.ratings)
                size = (folder / "ratings.csv").stat().st_size / 2**20
                print(f"generated {folder} in {time.perf_counter() - t0:.1f} s "
                      f"({size:.0f} MiB)", flush=True)  # fmt: skip
            large = measure(str(folder), 1)
            print(json.dumps({"synthetic": large}, indent=1), flush=True)
            rows.append(
                _row(
                    f"synthetic ml-25m-sized ({large['raw_users']:,} users, "
                    f"{large['raw_movies']:,} movies)",
                    large,
                    "total < 120 s, peak < 8 GB",
                )
            )
        finally:
            if not args.keep:
                shutil.rmtree(folder, ignore_errors=True)
                if args.workdir is None:
                    shutil.rmtree(work, ignore_errors=True)

    cmd = "python benchmarks/bench_data.py" + (" --skip-large" if args.skip_large else "")
    if args.ratings != 25_000_000:
        cmd += f" --ratings {args.ratings}"
    notes = [
        "Each dataset runs in a fresh interpreter; *load* is `load_raw` (parse, validate, "
        "genre matrix), *prepare* is `prepare` (5/5 filter, chronological sort, split, "
        "statistics). Peak RSS is the process's maximum resident set "
        "(`VmHWM` of `/proc/self/status`), imports included. Generating the synthetic files is "
        "not timed. The synthetic set keeps every rating through 5/5 (users have >= 20 "
        "ratings, movies >= 5), the worst case for `prepare`; its ratings file is sorted "
        "by user then movieId like ml-25m's, so the chronological sort has real work.",
        *args.note,
    ]
    if args.no_doc:
        print("\n".join(rows))
    else:
        write_doc(rows, cmd, notes)
        print(f"wrote {DOC}")


if __name__ == "__main__":
    main()
