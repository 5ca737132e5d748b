"""Command line, benchmark harness and examples."""

__all__ = []
