"""The data layer's errors (in a module of their own: importing them needs no pandas)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["DataFileError", "DatasetLayoutError"]


class DataFileError(ValueError):
    """Bad content in a data file.

    The message names the file, the line (1-based, as in the file) where there is one,
    and the offending value.

    Attributes:
        path: The file.
        line: 1-based line number, or ``None`` when the problem is not on one line.
    """

    def __init__(self, path: Path | str, message: str, line: int | None = None) -> None:
        self.path = str(path)
        self.line = line
        where = self.path if line is None else f"{self.path}, line {line}"
        super().__init__(f"{where}: {message}")


class DatasetLayoutError(FileNotFoundError):
    """A dataset folder (or name) that holds no complete MovieLens layout."""
