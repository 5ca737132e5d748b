"""Aggregation, statistics, tables and plots of benchmark results.

Input everywhere is the per-seed result of :func:`agents.evaluate_agent` as stored by the
benchmark: a flat mapping of metric name -> float, plus per-user arrays under
``"per_user"`` (``"ranks"`` and ``"rewards"``, aligned over the same test users for every
agent), which the paired tests use.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import stats

from movierec_env.metrics import ndcg_at_10

__all__ = [
    "REPLAY_REPORT",
    "SIM_REPORT",
    "TABLE_METRICS",
    "Block",
    "ReportSpec",
    "Table",
    "aggregate",
    "blocks_markdown",
    "markdown_table",
    "mean_std_ci",
    "oracle_mark",
    "paired_test",
    "per_user_mean",
    "plot_bars",
    "plot_learning_curves",
    "plot_return_vs_length",
    "plot_reward_terms",
    "result_blocks",
    "world_rank_blocks",
    "world_rank_section",
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


@dataclass(frozen=True)
class ReportSpec:
    """What an environment's tables and plots show.

    Attributes:
        metrics: Columns of the results table.
        primary: The metric rows are sorted by and paired-tested first.
        primary_label: Its name in prose.
        primary_per_user: Its per-user key (``per_user`` arrays) for paired tests.
        secondary: The second paired-tested metric (its column in the results table).
        secondary_per_user: Its per-user key (``"hits@10"``: ranks <= 10).
        secondary_label: What the paired test of ``secondary_per_user`` differs in (the
            per-user value need not be the table's metric: on the simulator it is the
            number of recommendations taken per episode, not the take rate).
        ci_metrics: Columns of the confidence-interval table.
        bar_metrics: The three panels of the bar chart.
        test_note: How the paired tests are described above their table.
        split_note: Where the numbers come from (plot titles).
    """

    metrics: tuple[str, ...]
    primary: str
    primary_label: str
    primary_per_user: str
    secondary: str
    secondary_per_user: str
    secondary_label: str
    ci_metrics: tuple[str, ...]
    bar_metrics: tuple[str, str, str]
    test_note: str
    split_note: str


#: ``MovieRec-v0``: PROTOCOL.md ranking metrics and the mean reward per judged target.
REPLAY_REPORT = ReportSpec(
    metrics=TABLE_METRICS,
    primary="mean_reward",
    primary_label="mean reward",
    primary_per_user="rewards",
    secondary="HR@10",
    secondary_per_user="hits@10",
    secondary_label="HR@10",
    ci_metrics=("HR@10", "NDCG@10", "mean_reward"),
    bar_metrics=("HR@10", "NDCG@10", "mean_reward"),
    test_note=(
        "seeds; reward: Wilcoxon signed-rank; HR@10: exact McNemar with one seed, Wilcoxon "
        "otherwise; 'yes' = p < 0.05). Claim 'A beats B' only where it says yes:"
    ),
    split_note="Test split",
)

#: ``MovieRecSim-v0``: one episode per held-out user in the eval world.
SIM_REPORT = ReportSpec(
    metrics=(
        "mean_return",
        "mean_length",
        "take_rate",
        "mean_rating",
        "reward_hit",
        "reward_genre",
        "reward_rating",
        "diversity",
        "coverage",
    ),
    primary="mean_return",
    primary_label="mean return",
    primary_per_user="returns",
    secondary="take_rate",
    secondary_per_user="takes",
    secondary_label="takes per episode",
    ci_metrics=("mean_return", "mean_length", "take_rate"),
    bar_metrics=("mean_return", "mean_length", "take_rate"),
    test_note=(
        "seeds; return and recommendations taken per episode: Wilcoxon signed-rank; "
        "'yes' = p < 0.05). Claim 'A beats B' only where it says yes:"
    ),
    split_note="Held-out users, eval world",
)


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
    """Per-user value averaged over seeds.

    ``key``: ``"rewards"`` (or any per-user array), or a metric of the per-user
    ``"ranks"``: ``"hits@10"`` (hit in the top 10) or ``"ndcg@10"`` (``1 / log2(rank + 1)``
    in the top 10, else 0).
    """
    arrays = []
    for s in sorted(seeds):
        pu = seeds[s]["per_user"]
        if key == "hits@10":
            arrays.append((np.asarray(pu["ranks"]) <= 10).astype(np.float64))
        elif key == "ndcg@10":
            arrays.append(ndcg_at_10(np.asarray(pu["ranks"])))
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


@dataclass(frozen=True)
class Table:
    """One results table, rendered alike as Markdown and HTML.

    Attributes:
        header: Column names.
        rows: One list of cell texts per row; the first cell is an agent name.
    """

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]

    def markdown(self) -> str:
        """The table as Markdown (agent names as code, oracles labelled as such)."""
        lines = ["| " + " | ".join(self.header) + " |", "|" + "---|" * len(self.header)]
        for first, *rest in self.rows:
            lines.append("| " + " | ".join([f"`{first}`{oracle_mark(first)}", *rest]) + " |")
        return "\n".join(lines)


def oracle_mark(agent: str) -> str:
    """``" (ORACLE)"`` for an oracle's row name (it reads the true simulated user), else ``""``.

    Every table row of an oracle carries the label, not only a note under one table.
    """
    return " (ORACLE)" if agent.startswith("oracle-") else ""


#: A report block: a paragraph or a table.
Block = str | Table


def result_blocks(
    results: Mapping[str, Mapping[str, Mapping[str, float]]],
    per_seed: PerSeed,
    reference: str = "dqn",
    metrics: Sequence[str] | None = None,
    spec: ReportSpec = REPLAY_REPORT,
) -> list[Block]:
    """The results table, the CI table and the paired tests, as paragraphs and tables.

    What :func:`markdown_table` and the HTML report (:mod:`experiments.html_report`)
    render. Rows are sorted by the spec's primary metric; paired tests compare every
    agent with ``reference`` per user (significant only at p < 0.05).
    """
    metrics = spec.metrics if metrics is None else metrics
    p = spec.primary
    agents = sorted(results, key=lambda a: -results[a].get(p, {"mean": 0.0})["mean"])
    blocks: list[Block] = [
        Table(
            ("agent", "seeds", *metrics),
            tuple(
                (a, str(len(per_seed[a])), *(_fmt(results[a].get(m)) for m in metrics))
                for a in agents
            ),
        )
    ]
    if any(a.startswith("oracle") for a in agents):
        blocks.append(
            "Rows `oracle-*` are ORACLES: they read the true simulated user (the world and its "
            "state), which no deployed recommender can; they bound what an agent could reach."
        )
    blocks.append("95% confidence intervals over seeds (t-interval, half-width):")
    ci_rows = []
    for a in agents:
        cells = []
        for m in spec.ci_metrics:
            c = results[a].get(m)
            if c is None or c["n"] < 2:
                cells.append("– (one seed)" if c is not None else "–")
            else:
                cells.append(f"{c['mean']:.3f} ± {c['ci95']:.3f}")
        ci_rows.append((a, *cells))
    blocks.append(Table(("agent", *spec.ci_metrics), tuple(ci_rows)))
    if reference in per_seed:
        blocks.append(
            f"Paired tests against `{reference}` over test users (per-user values averaged over "
            + spec.test_note
        )
        rows = []
        for a in agents:
            if a == reference:
                continue
            r = paired_test(per_seed, a, reference, spec.primary_per_user)
            h = paired_test(per_seed, a, reference, spec.secondary_per_user)
            rows.append(
                (
                    a,
                    f"{r['diff']:+.4f}",
                    f"{r['p']:.2g}",
                    "yes" if r["p"] < 0.05 else "no",
                    f"{h['diff']:+.4f}",
                    f"{h['p']:.2g}",
                    "yes" if h["p"] < 0.05 else "no",
                )
            )
        header: tuple[str, ...] = ("agent", f"Δ {spec.primary_label}", "p", "significant")
        header += (f"Δ {spec.secondary_label}", "p", "significant")
        blocks.append(Table(header, tuple(rows)))
    return blocks


def markdown_table(
    results: Mapping[str, Mapping[str, Mapping[str, float]]],
    per_seed: PerSeed,
    reference: str = "dqn",
    metrics: Sequence[str] | None = None,
    spec: ReportSpec = REPLAY_REPORT,
) -> str:
    """Results table (mean ± std over seeds), CI table and paired tests against ``reference``.

    Rows are sorted by the spec's primary metric (the mean reward on ``MovieRec-v0``). The
    paired tests compare every agent with ``reference`` per user; a difference is called
    significant only at p < 0.05.
    """
    return blocks_markdown(result_blocks(results, per_seed, reference, metrics, spec))


def blocks_markdown(blocks: Sequence[Block]) -> str:
    """Report blocks as Markdown (what ``results.md`` holds)."""
    return "\n\n".join(b.markdown() if isinstance(b, Table) else b for b in blocks) + "\n"


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_bars(
    results: Mapping[str, Mapping[str, Mapping[str, float]]],
    path: Path,
    spec: ReportSpec = REPLAY_REPORT,
) -> Path:
    """Bar chart of the spec's three metrics per agent (error bars = std over seeds)."""
    plt = _plt()
    agents = sorted(results, key=lambda a: -results[a][spec.primary]["mean"])
    metrics = spec.bar_metrics
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.2))
    for ax, m in zip(axes, metrics, strict=True):
        means = [results[a][m]["mean"] for a in agents]
        stds = [results[a][m]["std"] for a in agents]
        ax.bar(range(len(agents)), means, yerr=stds, capsize=3, color="C0")
        ax.set_xticks(range(len(agents)), agents, rotation=45, ha="right")
        ax.set_title(m)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(f"{spec.split_note}, mean ± std over seeds")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_reward_terms(
    results: Mapping[str, Mapping[str, Mapping[str, float]]],
    weights: Mapping[str, float],
    path: Path,
    spec: ReportSpec = REPLAY_REPORT,
) -> Path:
    """Stacked bars: each agent's mean reward split into its weighted hit, genre, rating terms."""
    plt = _plt()
    agents = sorted(results, key=lambda a: -results[a][spec.primary]["mean"])
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
    ax.set_title(f"Where each agent's reward comes from ({spec.split_note.lower()})")
    ax.legend()
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_learning_curves(
    curves: Mapping[str, Sequence[Mapping[str, Sequence[float]]]],
    path: Path,
    keys: tuple[str, str] = ("mean_reward", "HR@10"),
) -> Path:
    """Two validation metrics against env steps, mean with a min-max band over seeds.

    Args:
        curves: agent -> one dict per seed with equal-length lists ``"steps"``,
            and the two ``keys``.
        path: Output PNG.
        keys: The two validation metrics plotted (default: mean reward and HR@10).
    """
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    for i, (agent, runs) in enumerate(sorted(curves.items())):
        if not runs:
            continue
        n = min(len(r["steps"]) for r in runs)
        steps = np.asarray(runs[0]["steps"][:n])
        for ax, key in zip(axes, keys, strict=True):
            ys = np.array([r[key][:n] for r in runs], dtype=np.float64)
            ax.plot(steps, ys.mean(axis=0), color=f"C{i}", label=agent)
            ax.fill_between(steps, ys.min(axis=0), ys.max(axis=0), color=f"C{i}", alpha=0.2)
    titles = tuple(f"validation {k.replace('_', ' ')}" for k in keys)
    for ax, title in zip(axes, titles, strict=True):
        ax.set_xlabel("environment steps")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


#: Key of each agent's mean return on the same held-out users in the *train* world.
TRAIN_WORLD_KEY = "train_world_return"


def world_rank_blocks(results: Mapping[str, Mapping[str, Mapping[str, float]]]) -> list[Block]:
    """Agents ranked by mean return in the eval and the train world, and rank correlations.

    The rank correlations are Spearman's rho and Kendall's tau. The same held-out users,
    episodes seeded alike, judged in the two worlds fitted on disjoint halves of the users:
    a ranking that holds in both does not rest on one fit.
    Empty when the results hold no train-world return (runs of MovieRec-v0, older runs).
    """
    agents = [a for a in results if TRAIN_WORLD_KEY in results[a] and "mean_return" in results[a]]
    if len(agents) < 3:
        return []
    ev = np.array([results[a]["mean_return"]["mean"] for a in agents])
    tr = np.array([results[a][TRAIN_WORLD_KEY]["mean"] for a in agents])
    rho, p_rho = stats.spearmanr(ev, tr)
    tau, p_tau = stats.kendalltau(ev, tr)
    rank_ev = stats.rankdata(-ev, method="min").astype(int)
    rank_tr = stats.rankdata(-tr, method="min").astype(int)
    order = np.argsort(-ev, kind="stable")
    rows = tuple(
        (agents[i], f"{ev[i]:.3f}", str(rank_ev[i]), f"{tr[i]:.3f}", str(rank_tr[i])) for i in order
    )
    return [
        "Train world vs eval world (the same held-out users and episode seeds; worlds fitted\n"
        "on disjoint halves of the users): mean return and rank in each.",
        Table(("agent", "eval world", "rank", "train world", "rank"), rows),
        f"Rank correlation over {len(agents)} agents: Spearman rho = {rho:.3f} "
        f"(p = {p_rho:.2g}), Kendall tau = {tau:.3f} (p = {p_tau:.2g}).",
    ]


def world_rank_section(results: Mapping[str, Mapping[str, Mapping[str, float]]]) -> str:
    """:func:`world_rank_blocks` as Markdown (``""`` when there are none)."""
    blocks = world_rank_blocks(results)
    return blocks_markdown(blocks) if blocks else ""


def plot_return_vs_length(
    results: Mapping[str, Mapping[str, Mapping[str, float]]], path: Path
) -> Path:
    """Mean episode return against mean episode length per agent (std over seeds as bars).

    Lines of constant reward per step in the background: an agent can earn by keeping the
    user longer or by earning more per step, and the plot shows which.
    """
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.5, 5.5))
    agents = sorted(results, key=lambda a: -results[a]["mean_return"]["mean"])
    xs = [results[a]["mean_length"]["mean"] for a in agents]
    ys = [results[a]["mean_return"]["mean"] for a in agents]
    top = max(xs) * 1.1
    for per_step in (0.2, 0.3, 0.4, 0.5, 0.6):
        ax.plot([0, top], [0, per_step * top], color="0.85", lw=0.8, zorder=0)
        ax.annotate(f"{per_step}/step", (top, per_step * top), fontsize=7, color="0.5")
    for i, a in enumerate(agents):
        ax.errorbar(
            xs[i],
            ys[i],
            xerr=results[a]["mean_length"]["std"],
            yerr=results[a]["mean_return"]["std"],
            fmt="s" if a.startswith("oracle") else "o",
            color=plt.get_cmap("tab20")(i % 20),  # 20 distinct colours: one per agent
            capsize=2,
            label=f"{a} (ORACLE)" if a.startswith("oracle") else a,
        )
    ax.set_xlim(left=min(xs) * 0.8)
    ax.set_ylim(bottom=min(ys) * 0.8, top=max(ys) * 1.1)
    ax.set_xlabel("mean episode length (steps before the user leaves)")
    ax.set_ylabel("mean episode return")
    ax.set_title("Held-out users, eval world: return vs episode length")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
