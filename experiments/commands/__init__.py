"""One module per ``movierec`` subcommand (see :mod:`experiments.cli`)."""

__all__ = []
