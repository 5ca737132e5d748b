"""Options shared by several ``movierec`` commands: same name, same meaning everywhere."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

__all__ = ["data_option", "encoders_option", "json_option"]

F = TypeVar("F", bound=Callable[..., Any])

#: ``--data DATASET``: the embedded dataset's name or a MovieLens folder.
data_option: Callable[[F], F] = click.option(
    "--data",
    "dataset",
    default=None,
    metavar="DATASET",
    help="MovieLens folder (any layout) or 'ml-latest-small' (default: the embedded set).",
)

#: ``--json``: print exactly one JSON object instead of a table.
json_option: Callable[[F], F] = click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON object."
)


def encoders_option(
    help: str = "Encoder checkpoint directory (default: the shipped one, or trained once "
    "and cached for another dataset).",
) -> Callable[[F], F]:
    """``--encoders DIR``: an encoder checkpoint directory."""
    return click.option("--encoders", "encoders", default=None, metavar="DIR", help=help)
