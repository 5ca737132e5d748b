"""The ``movierec`` command line.

Each subcommand lives in its own module under :mod:`experiments.commands` and is imported
only when it runs, so ``movierec --help`` stays fast and a command's heavy imports (torch)
never slow down another.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

__all__ = ["COMMANDS", "USER_ERRORS", "LazyGroup", "cli", "main"]

#: Subcommand name -> (module under experiments.commands, attribute, one-line help).
COMMANDS: dict[str, tuple[str, str, str]] = {
    "data": ("data", "data", "Inspect MovieLens datasets (users, movies, sparsity)."),
    "train-encoders": ("encoders", "train_encoders", "Train and freeze the two encoders."),
    "evaluate": ("evaluate", "evaluate", "Evaluate an agent with PROTOCOL.md metrics."),
    "train": ("train", "train", "Train an agent on MovieRec-v0 and save it."),
    "recommend": ("recommend", "recommend", "Recommend movies to a user, with reasons."),
    "benchmark": ("benchmark", "benchmark", "Benchmark the DQN against the baselines."),
    "sim": ("sim", "sim", "Fit and validate the simulated user (world)."),
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Names of all subcommands, sorted."""
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """Import and return subcommand ``cmd_name`` (``None`` if unknown)."""
        if cmd_name not in COMMANDS:
            return None
        module, attr, _ = COMMANDS[cmd_name]
        try:
            mod = importlib.import_module(f"experiments.commands.{module}")
        except ModuleNotFoundError as exc:  # a command whose module is not written yet
            if exc.name != f"experiments.commands.{module}":
                raise
            return None
        cmd: click.Command = getattr(mod, attr)
        return cmd

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """List subcommands with their one-line help without importing them."""
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="movierec")
def cli() -> None:
    """MovieRec: sequential movie recommendation on MovieLens as an RL benchmark."""


#: Errors that mean "bad input": shown as one line, exit code 2, no traceback.
USER_ERRORS: tuple[type[BaseException], ...] = (
    ValueError,
    FileNotFoundError,
    KeyError,
    ImportError,
    PermissionError,
)


def main(argv: list[str] | None = None) -> Any:
    """Entry point of the ``movierec`` console script."""
    try:
        return cli.main(args=argv, prog_name="movierec", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except USER_ERRORS as exc:
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        click.echo(f"error: {msg}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
