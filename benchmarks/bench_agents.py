"""Benchmark the baseline ladder on MovieRec-v0 (test split) and write the table into docs.

Every baseline is evaluated with :func:`agents.evaluate_agent` on the test split (one step
per user, PROTOCOL.md metrics from full rankings) with the env's default reward. ``random``
is evaluated over ``--seeds`` seeds (mean ± std); the other baselines are deterministic
(one run; their std over seeds is exactly 0).

Usage::

    python benchmarks/bench_agents.py                  # ml-latest-small, shipped encoders
    python benchmarks/bench_agents.py --data DIR --encoders CKPT --seeds 5

The table replaces the block between ``<!-- bench_agents:start -->`` and
``<!-- bench_agents:end -->`` in ``docs/agents.md`` (or ``--out``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

START, END = "<!-- bench_agents:start -->", "<!-- bench_agents:end -->"
AGENTS = (
    "random",
    "popular",
    "markov",
    "genre",
    "lstm",
    "content",
    "encoder-greedy",
    "reward-greedy",
)
COLUMNS = (
    ("mean_reward", "reward"),
    ("reward_hit", "hit"),
    ("reward_genre", "genre"),
    ("reward_rating", "rating"),
    ("HR@1", "HR@1"),
    ("HR@10", "HR@10"),
    ("NDCG@10", "NDCG@10"),
    ("MRR", "MRR"),
    ("coverage", "coverage"),
    ("diversity", "diversity"),
    ("novelty", "novelty (bits)"),
    ("popularity_percentile", "pop. pct"),
)


def run(
    data_arg: str | None, encoders: str | None, seeds: int, agents: list[str]
) -> dict[str, Any]:
    """Evaluate each agent; returns ``{agent: {metric: [values over seeds]}, "_meta": ...}``."""
    import torch

    torch.set_num_threads(1)
    from agents import evaluate_agent
    from agents.registry import make_agent
    from movierec_env.env import MovieRecEnv

    env = MovieRecEnv(dataset=data_arg, encoders=encoders, split="test")
    t0 = time.perf_counter()
    env.reset(seed=0)
    setup_s = time.perf_counter() - t0
    results: dict[str, Any] = {}
    for name in agents:
        runs = seeds if name == "random" else 1
        rows: dict[str, list[float]] = {}
        for s in range(runs):
            try:
                agent = make_agent(name, env, seed=s)
            except (ImportError, AttributeError, TypeError) as exc:
                print(f"skipping {name}: {exc}")
                rows = {}
                break
            t = time.perf_counter()
            res = evaluate_agent(agent, env)
            res["eval_seconds"] = time.perf_counter() - t
            for key, _ in (*COLUMNS, ("eval_seconds", "")):
                rows.setdefault(key, []).append(float(res[key]))
            print(
                f"{name} seed {s}: reward {res['mean_reward']:.4f} HR@10 {res['HR@10']:.4f} "
                f"({res['eval_seconds']:.1f} s)"
            )
        if rows:
            results[name] = rows
    from movierec_env import rec_env

    contract = rec_env(env)
    data = contract.dataset
    results["_meta"] = {
        "dataset": data.name,
        "n_users": int(data.target_indices("test").size),
        "weights": contract.reward_config.weights,
        "reward": contract.reward_config.to_dict(),
        "seeds_random": seeds,
        "encoder": _encoder_id(contract.encoder, encoders),
        "setup_seconds": setup_s,
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
    }
    return results


def _encoder_id(enc: Any, path: str | None) -> str:
    """Which encoder was used: checkpoint folder, a short hash of its weights, alpha, window."""
    import hashlib

    from encoders import shipped_checkpoint

    folder = Path(path) if path else shipped_checkpoint()
    h = hashlib.sha256()
    for f in sorted(folder.glob("*.pt")):
        h.update(f.read_bytes())
    where = "shipped checkpoint" if path is None else str(folder)
    return f"{where} (weights sha256 {h.hexdigest()[:12]}, alpha={enc.alpha}, window={enc.window})"


def _cell(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.4f}"
    return f"{np.mean(values):.4f} ± {np.std(values, ddof=1):.4f}"


def table(results: dict[str, Any]) -> str:
    """Markdown table, agents sorted by mean reward."""
    meta = results["_meta"]
    names = sorted(
        (k for k in results if k != "_meta"), key=lambda a: -np.mean(results[a]["mean_reward"])
    )
    head = "| agent | " + " | ".join(h for _, h in COLUMNS) + " | eval s |"
    sep = "|---" * (len(COLUMNS) + 2) + "|"
    lines = [head, sep]
    for a in names:
        cells = [_cell(results[a][k]) for k, _ in COLUMNS]
        lines.append(
            f"| `{a}` | " + " | ".join(cells) + f" | {np.mean(results[a]['eval_seconds']):.1f} |"
        )
    w = meta["weights"]
    lines += [
        "",
        f"{meta['dataset']}, test split, {meta['n_users']} users; reward "
        f"{w['hit']} × hit + {w['genre']} × genre + {w['rating']} × rating "
        f"({json.dumps(meta['reward'])}); `hit`, `genre`, `rating` are the unweighted means "
        f"of the terms. `random`: mean ± std over {meta['seeds_random']} seeds; the others "
        "are deterministic. Coverage, diversity, novelty and popularity percentile are over "
        f"the top-10 lists. Encoder: {meta['encoder']}. Measured on {meta['machine']} "
        "(shared with other jobs: times are upper bounds).",
    ]
    return "\n".join(lines)


def write(out: Path, text: str) -> None:
    """Replace the marked block of ``out`` (append one if missing), atomically."""
    block = f"{START}\n{text}\n{END}"
    old = out.read_text() if out.exists() else ""
    if START in old and END in old:
        new = old[: old.index(START)] + block + old[old.index(END) + len(END) :]
    else:
        new = old + ("\n" if old and not old.endswith("\n") else "") + block + "\n"
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(new)
    os.replace(tmp, out)


def main() -> None:
    """Command-line entry point."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=None, help="MovieLens folder (default: ml-latest-small)")
    p.add_argument("--encoders", default=None, help="encoder checkpoint (default: shipped)")
    p.add_argument("--seeds", type=int, default=5, help="seeds of the random baseline")
    p.add_argument("--agents", default=",".join(AGENTS), help="comma-separated agent names")
    p.add_argument("--out", type=Path, default=Path(__file__).parents[1] / "docs" / "agents.md")
    p.add_argument("--json", type=Path, default=None, help="also write raw results here")
    a = p.parse_args()
    results = run(
        a.data, a.encoders, a.seeds, [s.strip() for s in a.agents.split(",") if s.strip()]
    )
    text = table(results)
    print(text)
    write(a.out, text)
    if a.json:
        a.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
