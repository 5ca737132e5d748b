"""Aggregation, statistics, tables and plots of benchmark results.

Input everywhere is the per-seed result of :func:`agents.evaluate_agent` as stored by the
benchmark: a flat mapping of metric name -> float, plus per-user arrays under
``"per_user"`` (``"ranks"`` and ``"rewards"``, aligned over the same test users for every
agent), which the paired tests use.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import stats

__all__ = [
    "TABLE_METRICS",
    "aggregate",
    "markdown_table",
    "mean_std_ci",
    "paired_test",
    "per_user_mean",
    "plot_bars",
    "plot_learning_curves",
    "plot_reward_terms",
]

#: Metrics shown in the results table, in order.
TABLE_METRICS = (
    "HR@1",
    "HR@5",
    "HR@10",
    "NDCG@10",
    "MRR",
    "mean_reward",
    "reward_hit",
    "reward_genre",
    "reward_rating",
    "coverage",
)

PerSeed = Mapping[str, Mapping[int, Mapping[str, Any]]]


def _numeric_keys(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    keys: list[str] = []
    for row in rows:
        for k, v in row.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in keys:
                keys.append(k)
    return keys


def mean_std_ci(values: Sequence[float]) -> dict[str, float]:
    """Mean, sample std and the half-width of a 95% t-interval over seeds.

    With one value the std and interval are 0 (no spread can be estimated: the table
    marks such rows with ``n = 1``).
    """
    a = np.asarray(values, dtype=np.float64)
    n = a.size
    mean = float(a.mean())
    std = float(a.std(ddof=1)) if n > 1 else 0.0
    half = float(stats.t.ppf(0.975, n - 1) * std / math.sqrt(n)) if n > 1 else 0.0
    return {"mean": mean, "std": std, "ci95": half, "n": n}


def aggregate(per_seed: PerSeed) -> dict[str, dict[str, dict[str, float]]]:
    """Mean, std and 95% CI over seeds of every numeric metric of every agent."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for agent, seeds in per_seed.items():
        rows = [seeds[s] for s in sorted(seeds)]
        out[agent] = {k: mean_std_ci([r[k] for r in rows if k in r]) for k in _numeric_keys(rows)}
    return out


def per_user_mean(seeds: Mapping[int, Mapping[str, Any]], key: str) -> NDArray[np.float64]:
    """Per-user value averaged over seeds (``key`` = ``"rewards"`` or ``"hits@10"``)."""
    arrays = []
    for s in sorted(seeds):
        pu = seeds[s]["per_user"]
        if key == "hits@10":
            arrays.append((np.asarray(pu["ranks"]) <= 10).astype(np.float64))
        else:
            arrays.append(np.asarray(pu[key], dtype=np.float64))
    return np.mean(arrays, axis=0)


def paired_test(per_seed: PerSeed, a: str, b: str, key: str) -> dict[str, float]:
    """Two-sided paired test over users of agent ``a`` vs ``b``.

    Each user's value is first averaged over seeds, so seeds do not count as independent
    samples. Rewards use the Wilcoxon signed-rank test (zero differences dropped); binary
    hits with one seed use the exact McNemar test (a binomial test on the discordant
    users), the right test for paired 0/1 outcomes.

    Returns:
        ``{"diff": mean(a - b), "p": p-value, "n": users}``.
    """
    xa, xb = per_user_mean(per_seed[a], key), per_user_mean(per_seed[b], key)
    if xa.shape != xb.shape:
        raise ValueError(f"agents {a!r} and {b!r} were evaluated on different users")
    diff = xa - xb
    n = int(diff.size)
    if np.allclose(diff, 0.0):
        return {"diff": 0.0, "p": 1.0, "n": n}
    binary = np.isin(xa, (0.0, 1.0)).all() and np.isin(xb, (0.0, 1.0)).all()
    if binary:
        wins, losses = int((diff > 0).sum()), int((diff < 0).sum())
        p = stats.binomtest(wins, wins + losses, 0.5).pvalue
    else:
        p = stats.wilcoxon(xa, xb, zero_method="wilcox").pvalue
    return {"diff": float(diff.mean()), "p": float(p), "n": n}


def _fmt(cell: Mapping[str, float] | None, digits: int = 3) -> str:
    if cell is None:
        return "–"
    if cell["n"] > 1:
        return f"{cell['mean']:.{digits}f} ± {cell['std']:.{digits}f}"
    return f"{cell['mean']:.{digits}f}"


def markdown_table(
    results: Mapping[str, Mapping[str, Mapping[str, float]]],
    per_seed: PerSeed,
    reference: str = "dqn",
    metrics: Sequence[str] = TABLE_METRICS,
) -> str:
    """Results table (mean ± std over seeds), CI table and paired tests against ``reference``.

    Rows are sorted by mean reward. The paired tests compare every agent with
    ``reference`` per user; a difference is called significant only at p < 0.05.
    """
    agents = sorted(results, key=lambda a: -results[a].get("mean_reward", {"mean": 0.0})["mean"])
    n_seeds = {a: len(per_seed[a]) for a in agents}
    lines = ["| agent | seeds | " + " | ".join(metrics) + " |"]
    lines.append("|---|---|" + "---|" * len(metrics))
    for a in agents:
        cells = [_fmt(results[a].get(m)) for m in metrics]
        lines.append(f"| `{a}` | {n_seeds[a]} | " + " | ".join(cells) + " |")
    lines += ["", "95% confidence intervals over seeds (t-interval, half-width):", ""]
    ci_metrics = ("HR@10", "NDCG@10", "mean_reward")
    lines.append("| agent | " + " | ".join(ci_metrics) + " |")
    lines.append("|---|" + "---|" * len(ci_metrics))
    for a in agents:
        cells = []
        for m in ci_metrics:
            c = results[a].get(m)
            if c is None or c["n"] < 2:
                cells.append("– (one seed)" if c is not None else "–")
            else:
                cells.append(f"{c['mean']:.3f} ± {c['ci95']:.3f}")
        lines.append(f"| `{a}` | " + " | ".join(cells) + " |")
    if reference in per_seed:
        lines += [
            "",
            f"Paired tests against `{reference}` over test users (per-user values averaged over "
            "seeds; reward: Wilcoxon signed-rank; HR@10: exact McNemar with one seed, Wilcoxon "
            "otherwise; 'yes' = p < 0.05). Claim 'A beats B' only where it says yes:",
            "",
            "| agent | Δ mean reward | p | significant | Δ HR@10 | p | significant |",
            "|---|---|---|---|---|---|---|",
        ]
        for a in agents:
            if a == reference:
                continue
            r = paired_test(per_seed, a, reference, "rewards")
            h = paired_test(per_seed, a, reference, "hits@10")
            lines.append(
                f"| `{a}` | {r['diff']:+.4f} | {r['p']:.2g} | {'yes' if r['p'] < 0.05 else 'no'} "
                f"| {h['diff']:+.4f} | {h['p']:.2g} | {'yes' if h['p'] < 0.05 else 'no'} |"
            )
    return "\n".join(lines) + "\n"


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_bars(results: Mapping[str, Mapping[str, Mapping[str, float]]], path: Path) -> Path:
    """Bar chart of HR@10, NDCG@10 and mean reward per agent (error bars = std over seeds)."""
    plt = _plt()
    agents = sorted(results, key=lambda a: -results[a]["mean_reward"]["mean"])
    metrics = ("HR@10", "NDCG@10", "mean_reward")
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.2))
    for ax, m in zip(axes, metrics, strict=True):
        means = [results[a][m]["mean"] for a in agents]
        stds = [results[a][m]["std"] for a in agents]
        ax.bar(range(len(agents)), means, yerr=stds, capsize=3, color="C0")
        ax.set_xticks(range(len(agents)), agents, rotation=45, ha="right")
        ax.set_title(m)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle("Test split, mean ± std over seeds")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_reward_terms(
    results: Mapping[str, Mapping[str, Mapping[str, float]]],
    weights: Mapping[str, float],
    path: Path,
) -> Path:
    """Stacked bars: each agent's mean reward split into its weighted hit, genre, rating terms."""
    plt = _plt()
    agents = sorted(results, key=lambda a: -results[a]["mean_reward"]["mean"])
    fig, ax = plt.subplots(figsize=(9, 4.5))
    bottom = np.zeros(len(agents))
    for term, color in (("hit", "C3"), ("genre", "C2"), ("rating", "C1")):
        vals = np.array([results[a][f"reward_{term}"]["mean"] * weights[term] for a in agents])
        ax.bar(
            range(len(agents)), vals, bottom=bottom, color=color, label=f"{weights[term]} × {term}"
        )
        bottom += vals
    ax.set_xticks(range(len(agents)), agents, rotation=45, ha="right")
    ax.set_ylabel("mean reward per step")
    ax.set_title("Where each agent's reward comes from (test split)")
    ax.legend()
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_learning_curves(
    curves: Mapping[str, Sequence[Mapping[str, Sequence[float]]]], path: Path
) -> Path:
    """Validation reward and HR@10 against env steps, mean with a min-max band over seeds.

    Args:
        curves: agent -> one dict per seed with equal-length lists ``"steps"``,
            ``"mean_reward"`` and ``"HR@10"``.
        path: Output PNG.
    """
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    for i, (agent, runs) in enumerate(sorted(curves.items())):
        if not runs:
            continue
        n = min(len(r["steps"]) for r in runs)
        steps = np.asarray(runs[0]["steps"][:n])
        for ax, key in zip(axes, ("mean_reward", "HR@10"), strict=True):
            ys = np.array([r[key][:n] for r in runs], dtype=np.float64)
            ax.plot(steps, ys.mean(axis=0), color=f"C{i}", label=agent)
            ax.fill_between(steps, ys.min(axis=0), ys.max(axis=0), color=f"C{i}", alpha=0.2)
    for ax, title in zip(axes, ("validation mean reward", "validation HR@10"), strict=True):
        ax.set_xlabel("environment steps")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
