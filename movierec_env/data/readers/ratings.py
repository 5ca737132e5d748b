"""The ratings reader of every layout: a strict, fast pandas pass; a diagnostic pass on failure.

The ratings file is parsed by pandas' C engine with fixed dtypes (the ``::`` separator is
read as ``sep=":"`` with the empty fields in between checked to be empty, so the slow
python engine is never needed). Only when that strict pass fails does a chunked,
string-typed pass run to find the first bad line and say what is wrong. Each layout
describes its file with a :class:`RatingsFormat`.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from movierec_env.data.readers.common import (
    DataFileError,
    blank_line_numbers,
    line_text,
    parser_error,
    reading,
)

__all__ = ["CHUNK_ROWS", "FIELD_NAMES", "Ratings", "RatingsFormat", "check_ratings", "read_ratings"]

#: Rows per chunk of the diagnostic (error-locating) pass.
CHUNK_ROWS = 1_000_000


@dataclass
class Ratings:
    """A ratings file as read, in file order, with what maps rows back to lines."""

    users: NDArray[np.int64]
    movies: NDArray[np.int64]
    ratings: NDArray[np.float32]
    timestamps: NDArray[np.int64]
    first_line: int
    #: For each skipped blank row, the index of the kept row it comes before, sorted
    #: (``None`` when nothing was skipped: then row i is on line ``first_line + i``).
    shift: NDArray[np.int64] | None
    blank_lines: int

    def line_of(self, i: int) -> int:
        """1-based file line of kept row ``i``."""
        if self.shift is None:
            return self.first_line + i
        return self.first_line + i + int(np.searchsorted(self.shift, i, side="right"))


def _shift_from_blank_rows(blank_rows: NDArray[np.int64]) -> NDArray[np.int64] | None:
    """Blank row indices (among all data rows) -> kept-row index each blank precedes."""
    if blank_rows.size == 0:
        return None
    return blank_rows - np.arange(blank_rows.size, dtype=np.int64)


@dataclass(frozen=True)
class RatingsFormat:
    """How to read one layout's ratings file."""

    sep: str
    header: bool
    #: Column (name with a header, position without) of user, movie, rating, timestamp.
    columns: tuple[Any, Any, Any, Any]
    #: Number of fields per line (headerless formats).
    n_fields: int | None = None
    #: Positions that must be empty (the gaps of the "::" separator).
    empty: tuple[int, ...] = ()
    #: How a line looks, for messages.
    example: str = ""
    #: Fields per line as a user counts them (``None``: the header's column count).
    logical_fields: int | None = None


FIELD_NAMES = ("user id", "movie id", "rating", "timestamp")


def _check_header(path: Path, fmt: RatingsFormat) -> None:
    try:
        head = pd.read_csv(path, sep=fmt.sep, nrows=0, engine="c")
    except pd.errors.EmptyDataError:
        raise DataFileError(path, "the file is empty") from None
    cols = [str(c).strip() for c in head.columns]
    missing = [c for c in fmt.columns if c not in cols]
    if missing:
        raise DataFileError(
            path,
            f"missing column(s) {', '.join(missing)}; the header has {', '.join(cols)!r} "
            f"but the first line must be the header {fmt.example}",
            1,
        )


def read_ratings(path: Path, fmt: RatingsFormat) -> Ratings:
    """Read a ratings file: a strict, fast pass; a diagnostic pass if that fails."""
    with reading(path):
        return _read_ratings_unchecked(path, fmt)


def _read_ratings_unchecked(path: Path, fmt: RatingsFormat) -> Ratings:
    if fmt.header:
        _check_header(path, fmt)
    dtype: dict[Any, Any] = dict(
        zip(fmt.columns, (np.int64, np.int64, np.float32, np.int64), strict=True)
    )
    for c in fmt.empty:
        dtype[c] = np.float32
    kwargs: dict[str, Any] = {
        "sep": fmt.sep,
        "header": 0 if fmt.header else None,
        "engine": "c",
        "skip_blank_lines": False,
        "quoting": csv.QUOTE_NONE if not fmt.header else csv.QUOTE_MINIMAL,
    }
    if fmt.n_fields is not None:
        kwargs["names"] = list(range(fmt.n_fields))
    first_line = 2 if fmt.header else 1
    try:
        df = pd.read_csv(path, dtype=dtype, **kwargs)
    except pd.errors.EmptyDataError:
        raise DataFileError(path, "the file is empty") from None
    except pd.errors.ParserError as exc:
        raise parser_error(path, exc) from None
    except (ValueError, OverflowError):
        df = None
    shift: NDArray[np.int64] | None = None
    n_blank = 0
    if df is None:
        # Blank lines (harmless: skip and count them, still fast), or a bad value, empty
        # field or short line (the diagnostic pass finds which and where).
        try:
            df = pd.read_csv(path, dtype=dtype, **{**kwargs, "skip_blank_lines": True})
        except (ValueError, OverflowError):
            return _read_ratings_diagnose(path, fmt, kwargs, first_line)
        blank = blank_line_numbers(path)
        blank = blank[blank >= first_line]
        n_blank = int(blank.size)
        shift = _shift_from_blank_rows(blank - first_line)
    _check_no_implicit_index(path, df, first_line)
    if fmt.header:
        df.columns = [str(c).strip() for c in df.columns]
    rt = df[fmt.columns[2]].to_numpy(np.float32)
    bad_empty = any(df[c].notna().any() for c in fmt.empty)
    if np.isnan(rt).any() or bad_empty:
        del df
        return _read_ratings_diagnose(path, fmt, kwargs, first_line)
    out = Ratings(
        users=df[fmt.columns[0]].to_numpy(np.int64),
        movies=df[fmt.columns[1]].to_numpy(np.int64),
        ratings=rt,
        timestamps=df[fmt.columns[3]].to_numpy(np.int64),
        first_line=first_line,
        shift=shift,
        blank_lines=n_blank,
    )
    if out.users.size == 0:
        raise DataFileError(path, "the file has no ratings" + (" (header only)" * fmt.header))
    return out


def _read_ratings_diagnose(
    path: Path, fmt: RatingsFormat, kwargs: dict[str, Any], first_line: int
) -> Ratings:
    """String-typed chunked pass: raise on the first bad line, else return the data.

    Blank lines are counted and skipped; integral values written as floats (``"5.0"``)
    are accepted for ids and timestamps.
    """
    parts: list[list[NDArray[np.float64]]] = [[], [], [], []]
    blank_rows: list[NDArray[np.int64]] = []
    n_kept = 0
    reader = pd.read_csv(path, dtype=str, keep_default_na=False, chunksize=CHUNK_ROWS, **kwargs)
    try:
        for chunk in reader:
            _check_no_implicit_index(path, chunk, first_line)
            if fmt.header:
                chunk.columns = [str(c).strip() for c in chunk.columns]
            row0 = int(chunk.index[0])
            converted, nonblank = _diagnose_chunk(path, fmt, chunk, first_line + row0)
            keep = np.flatnonzero(nonblank)
            n_kept += keep.size
            blank_rows.append(np.flatnonzero(~nonblank) + row0)
            for k, num in enumerate(converted):
                parts[k].append(num[keep])
    except pd.errors.ParserError as exc:
        raise parser_error(path, exc) from None
    finally:
        reader.close()
    if n_kept == 0:
        raise DataFileError(path, "the file has no ratings" + (" (header only)" * fmt.header))
    return Ratings(
        users=np.concatenate(parts[0]).astype(np.int64),
        movies=np.concatenate(parts[1]).astype(np.int64),
        ratings=np.concatenate(parts[2]).astype(np.float32),
        timestamps=np.concatenate(parts[3]).astype(np.int64),
        first_line=first_line,
        shift=_shift_from_blank_rows(np.concatenate(blank_rows).astype(np.int64)),
        blank_lines=int(sum(b.size for b in blank_rows)),
    )


def _diagnose_chunk(
    path: Path, fmt: RatingsFormat, chunk: pd.DataFrame, line0: int
) -> tuple[list[NDArray[np.float64]], NDArray[np.bool_]]:
    """Convert one string chunk (first row on line ``line0``); raise on its first bad line.

    Returns:
        The four columns as float64 and the mask of non-blank rows.
    """
    blank = np.ones(len(chunk), dtype=bool)
    for c in chunk.columns:
        blank &= chunk[c].to_numpy(object) == ""
    nonblank = ~blank
    # Candidate problems as (row, check, column); the earliest row wins.
    problems: list[tuple[int, str, int]] = []

    def first(mask: NDArray[np.bool_], check: str, k: int) -> None:
        hits = np.flatnonzero(mask & nonblank)
        if hits.size:
            problems.append((int(hits[0]), check, k))

    for pos in fmt.empty:
        first(chunk.iloc[:, pos].to_numpy(object) != "", "separator", 0)
    raws = [chunk[c].to_numpy(object) for c in fmt.columns]
    converted: list[NDArray[np.float64]] = []
    for k, raw in enumerate(raws):
        num = pd.to_numeric(pd.Series(raw), errors="coerce").to_numpy(np.float64)
        bad = np.isnan(num)
        first(bad, "number", k)
        if k != 2:
            with np.errstate(invalid="ignore"):
                first(~bad & (num != np.floor(num)), "integer", k)
        converted.append(num)
    if not problems:
        return converted, nonblank

    i, check, k = min(problems)
    line = line0 + i
    text = line_text(path, line)
    expected = fmt.logical_fields or chunk.shape[1]
    n_here = _count_fields(text, fmt)
    if fmt.sep == ":" and re.search(r"(?<!:):(?!:)", text):
        message = f"expected fields separated by '::' ({fmt.example}), found {text!r}"
    elif n_here < expected:
        message = (
            f"line has {n_here} field(s), expected {expected} ({fmt.example}); "
            f"truncated line? {text!r}"
        )
    elif check == "separator":
        message = f"expected fields separated by '::' ({fmt.example}), found {text!r}"
    elif raws[k][i] == "":
        message = f"empty {FIELD_NAMES[k]}: {text!r}"
    elif check == "number":
        kind = "a number" if k == 2 else "an integer"
        message = f"cannot parse {FIELD_NAMES[k]} {raws[k][i]!r} as {kind}: {text!r}"
    else:
        message = f"{FIELD_NAMES[k]} {raws[k][i]!r} is not an integer" + (
            " (timestamps are whole seconds)" if k == 3 else ""
        )
    raise DataFileError(path, message, line)


def _check_no_implicit_index(path: Path, df: pd.DataFrame, first_line: int) -> None:
    # pandas silently turns the first column into the index when the first data line
    # has one field more than the header: refuse instead of shifting columns.
    if not isinstance(df.index, pd.RangeIndex):
        raise DataFileError(
            path,
            f"expected {df.shape[1]} fields, found {df.shape[1] + 1}: "
            f"{line_text(path, first_line)!r}",
            first_line,
        )


def _count_fields(text: str, fmt: RatingsFormat) -> int:
    if text == "":
        return 0
    if fmt.sep == ":":
        return len(text.split("::"))
    return len(next(csv.reader([text], delimiter=fmt.sep)))


def check_ratings(path: Path, r: Ratings, scale: tuple[float, float]) -> None:
    """Raise on the first rating outside the layout's scale, naming its line."""
    lo, hi = scale
    bad = (r.ratings < lo) | (r.ratings > hi)
    if bad.any():
        i = int(np.argmax(bad))
        raise DataFileError(
            path,
            f"rating {float(r.ratings[i]):g} is outside the rating scale {lo:g}-{hi:g} "
            "of this layout",
            r.line_of(i),
        )
