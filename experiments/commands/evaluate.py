"""``movierec evaluate``: PROTOCOL.md test metrics of a named agent.

Agents are looked up in :data:`AGENTS`, a name -> factory registry; a factory builds a
*scorer* ``(data, positions) -> scores (B, n_items + 1)`` (higher is better, column 0 is
padding). Later agents join with :func:`register_agent` without touching the command.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from experiments.commands.options import data_option, encoders_option, json_option

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from encoders.hybrid import HybridEncoder
    from movierec_env.data.types import PreparedDataset

__all__ = [
    "AGENTS",
    "encoder_test_metrics",
    "evaluate",
    "evaluate_scorer",
    "load_encoder",
    "register_agent",
    "scorer_ranks",
]

Scorer = Callable[["PreparedDataset", "NDArray[np.int64]"], "NDArray[np.floating]"]
#: Factory signature: ``(data, options) -> scorer``; options holds ``encoders`` (a
#: checkpoint directory or ``None``) and ``seed``.
ScorerFactory = Callable[["PreparedDataset", dict[str, Any]], Scorer]

AGENTS: dict[str, tuple[ScorerFactory, str]] = {}


def register_agent(name: str, factory: ScorerFactory, help: str = "") -> None:
    """Add (or replace) an agent name for ``movierec evaluate --agent``."""
    AGENTS[name] = (factory, help)


def load_encoder(data: PreparedDataset, encoders: str | None) -> HybridEncoder:
    """The checkpoint in ``encoders`` (checked against ``data``), else the default one."""
    from encoders import HybridEncoder, default_encoder

    return HybridEncoder.load(encoders, data) if encoders else default_encoder(data)


def _popular(data: PreparedDataset, opts: dict[str, Any]) -> Scorer:
    from encoders.baselines import popularity_scores

    return popularity_scores


def _markov(data: PreparedDataset, opts: dict[str, Any]) -> Scorer:
    from encoders.baselines import markov_scores

    return markov_scores


def _encoder(which: str) -> ScorerFactory:
    def factory(data: PreparedDataset, opts: dict[str, Any]) -> Scorer:
        enc = load_encoder(data, opts.get("encoders"))
        return lambda d, pos: enc.component_scores(d, pos, which)

    return factory


register_agent("popular", _popular, "most popular training items")
register_agent("markov", _markov, "first-order Markov, popularity back-off")
register_agent("lstm", _encoder("lstm"), "TimeRatingAwareLSTM greedy ranking")
register_agent("content", _encoder("content"), "TimeRatingAwareContentModel greedy ranking")
register_agent("hybrid", _encoder("hybrid"), "HybridEncoder blended greedy ranking")


def _from_agents(name: str) -> ScorerFactory:
    """A scorer from :mod:`agents` (baselines; learning agents need ``--model``).

    ``sasrec`` (a reference ranker) is trained here by :func:`agents.make_agent` unless
    ``--model`` gives a saved one.
    """

    def factory(data: PreparedDataset, opts: dict[str, Any]) -> Scorer:
        import numpy as np

        from agents.evaluation import agent_scores
        from agents.registry import LEARNING_AGENT_NAMES, load_agent, make_agent
        from movierec_env.env import MovieRecEnv

        enc = load_encoder(data, opts.get("encoders"))
        env = MovieRecEnv(dataset=data, encoders=enc, split="test")
        model = opts.get("model")
        if model:
            agent = load_agent(name, model, env=env)
        elif name in LEARNING_AGENT_NAMES:
            raise ValueError(
                f"agent {name!r} must be trained first: pass --model PATH (from `movierec train "
                f"--agent {name}`)"
            )
        else:
            agent = make_agent(name, env, seed=opts.get("seed"))

        def scorer(d: PreparedDataset, pos: NDArray[np.int64]) -> NDArray[np.floating]:
            scores, _ = agent_scores(agent, env.observations_at(pos), {"position": pos})
            if scores is None:
                raise ValueError(f"agent {name!r} gives no scores to rank movies by")
            out = np.full((pos.size, d.n_items + 1), -np.inf, dtype=np.float64)
            out[:, 1:] = scores
            return out

        return scorer

    return factory


def _register_agents() -> None:
    from agents.registry import AGENT_NAMES

    for name in AGENT_NAMES:
        if name not in AGENTS:
            register_agent(name, _from_agents(name), f"agents.make_agent({name!r})")


_register_agents()


def evaluate_scorer(
    data: PreparedDataset, scorer: Scorer, split: str = "test", batch_size: int = 512
) -> dict[str, float]:
    """PROTOCOL.md metrics of ``scorer`` on the targets of ``split`` (batched)."""
    from movierec_env.metrics import metrics_from_ranks

    return metrics_from_ranks(scorer_ranks(data, scorer, split, batch_size))


def scorer_ranks(
    data: PreparedDataset, scorer: Scorer, split: str = "test", batch_size: int = 512
) -> NDArray[np.int64]:
    """Rank of each target of ``split`` under ``scorer`` (PROTOCOL.md), in target order.

    The per-user values behind :func:`evaluate_scorer`, for paired tests over users.
    """
    import numpy as np

    from movierec_env.metrics import history_mask, ranks_from_scores

    pos = data.target_indices(split)
    ranks = []
    for b in range(0, pos.size, batch_size):
        p = pos[b : b + batch_size]
        s = np.asarray(scorer(data, p))
        ranks.append(ranks_from_scores(s, data.items[p], history_mask(data, p)))
    return np.concatenate(ranks) if ranks else np.zeros(0, dtype=np.int64)


def encoder_test_metrics(enc: HybridEncoder, data: PreparedDataset) -> dict[str, dict[str, float]]:
    """Test metrics of the LSTM, the content model and the hybrid."""
    out: dict[str, dict[str, float]] = {}
    for which in ("lstm", "content", "hybrid"):
        scorer: Scorer = functools.partial(_component, enc, which)
        out[which] = evaluate_scorer(data, scorer)
    return out


def _component(
    enc: HybridEncoder, which: str, data: PreparedDataset, positions: NDArray[np.int64]
) -> NDArray[np.float32]:
    return enc.component_scores(data, positions, which)


def _check_agent(ctx: click.Context, param: click.Parameter, value: str) -> str:
    if value not in AGENTS:
        raise click.BadParameter(
            f"unknown agent {value!r}; choose from {', '.join(sorted(AGENTS))}"
        )
    return value


@click.command()
@click.option(
    "--agent",
    required=True,
    callback=_check_agent,
    help="Agent to evaluate: " + ", ".join(AGENTS) + ".",
)
@data_option
@encoders_option()
@click.option(
    "--split",
    default="test",
    show_default=True,
    type=click.Choice(["test", "val"]),
    help="Targets to rank (report test; val is for model selection).",
)
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of random agents.")
@click.option(
    "--model",
    default=None,
    type=click.Path(dir_okay=False),
    help="Saved agent (from `movierec train`, or `save` in Python); required for dqn, "
    "sb3-dqn, sb3-ppo, qrdqn, maskable-ppo; for sasrec it replaces training on the spot.",
)
@json_option
def evaluate(
    agent: str,
    dataset: str | None,
    encoders: str | None,
    split: str,
    seed: int,
    model: str | None,
    as_json: bool,
) -> None:
    """Rank the full catalogue for every user's target (PROTOCOL.md) and print metrics.

    HR@1/5/10, NDCG@10 and MRR over users with a split; items in the user's prefix are
    excluded and ties count against the target.
    """
    from movierec_env.data import load_dataset

    data = load_dataset(dataset)
    factory, _ = AGENTS[agent]
    scorer = factory(data, {"encoders": encoders, "seed": seed, "model": model})
    m = evaluate_scorer(data, scorer, split)
    if as_json:
        click.echo(json.dumps(m))
        return
    click.echo(f"{agent} on {data.name} ({split}, {m['n_users']} users)")
    for key in ("HR@1", "HR@5", "HR@10", "NDCG@10", "MRR"):
        click.echo(f"  {key:8s} {m[key]:.4f}")
