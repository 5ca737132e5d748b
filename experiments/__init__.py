"""Command line, benchmark harness and examples."""
