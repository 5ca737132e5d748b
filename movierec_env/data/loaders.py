"""Readers for the MovieLens layouts users download, chosen by the files present.

Three layouts are recognised (files may be gzip-compressed, ``name.gz``):

- **CSV** (ml-latest-small, ml-latest, ml-20m, ml-25m, ml-32m): ``movies.csv``
  (``movieId,title,genres``) and ``ratings.csv`` (``userId,movieId,rating,timestamp``),
  both with a header line.
- **"::"** (ml-1m, ml-10m): ``movies.dat`` (``MovieID::Title::Genres``) and
  ``ratings.dat`` (``UserID::MovieID::Rating::Timestamp``), no header, latin-1 or UTF-8.
- **ml-100k**: ``u.data`` (tab-separated ``user item rating timestamp``), ``u.item``
  (pipe-separated, latin-1, 5 fields then one 0/1 flag per genre) and ``u.genre``
  (``name|index``). The genre "unknown" is treated as no genre.

Reading is vectorised: the ratings file is parsed by pandas' C engine with fixed dtypes
(the ``::`` separator is read as ``sep=":"`` with the empty fields in between checked to
be empty, so the slow python engine is never needed). Only when that strict pass fails
does a chunked, string-typed pass run to find the first bad line and say what is wrong.
Every error names the file, the 1-based line number as in the file (the header is line
1) and the offending value. Blank lines and other skipped content are counted in
:attr:`RawDataset.skipped`, never dropped silently.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import re
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from movierec_env.data.types import RawDataset

__all__ = [
    "EMBEDDED",
    "LAYOUTS",
    "NO_GENRES",
    "DataFileError",
    "DatasetLayoutError",
    "detect_layout",
    "embedded_path",
    "load_raw",
    "resolve_dataset",
]

#: Name of the dataset shipped inside the package.
EMBEDDED = "ml-latest-small"
#: MovieLens' marker for a movie without genre; it is not a genre.
NO_GENRES = "(no genres listed)"
#: ml-100k's genre for "no genre known"; treated like no genre.
UNKNOWN_GENRE = "unknown"

#: Layout name -> (required files, description for messages).
LAYOUTS: dict[str, tuple[tuple[str, ...], str]] = {
    "csv": (
        ("movies.csv", "ratings.csv"),
        "CSV layout: movies.csv + ratings.csv (ml-latest-small, ml-latest, ml-20m/25m/32m)",
    ),
    "dat": (("movies.dat", "ratings.dat"), "'::' layout: movies.dat + ratings.dat (ml-1m, ml-10m)"),
    "100k": (("u.data", "u.item", "u.genre"), "ml-100k layout: u.data + u.item + u.genre"),
}

#: Rating scale (min, max) of each layout.
RATING_SCALES: dict[str, tuple[float, float]] = {
    "csv": (0.5, 5.0),
    "dat": (0.5, 5.0),
    "100k": (1.0, 5.0),
}

#: Rows per chunk of the diagnostic (error-locating) pass.
_CHUNK_ROWS = 1_000_000
#: Bytes read at a time when scanning a file for a line or for blank lines.
_BLOCK = 1 << 24
#: Largest id for which lookups use a dense table instead of a sort.
_DENSE_ID_LIMIT = 100_000_000


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


# --------------------------------------------------------------------------- files


def embedded_path(name: str = EMBEDDED) -> Path:
    """Folder of an embedded dataset inside the installed package."""
    return Path(str(resources.files("movierec_env.data") / "embedded" / name))


def resolve_dataset(dataset: str | os.PathLike[str] | None) -> Path:
    """Turn a dataset argument (embedded name, folder or file path, ``None``) into a folder.

    A path to one of a layout's files (e.g. ``ml-1m/ratings.dat``) means its folder.

    Raises:
        DatasetLayoutError: If it names neither an embedded dataset nor an existing path.
    """
    if dataset is None or str(dataset) == EMBEDDED:
        return embedded_path()
    path = Path(dataset).expanduser()
    if path.is_file():
        return path.parent
    if not path.is_dir():
        hint = ""
        if re.fullmatch(r"ml-[\w.-]+", str(dataset)):
            hint = (
                f"; only {EMBEDDED!r} is embedded: download {str(dataset)!r} from "
                "https://grouplens.org/datasets/movielens/, unpack it and pass its folder"
            )
        raise DatasetLayoutError(
            f"dataset {str(dataset)!r} is neither the embedded dataset {EMBEDDED!r} "
            f"nor an existing folder{hint}"
        )
    return path


def _find(folder: Path, name: str) -> Path | None:
    for cand in (folder / name, folder / f"{name}.gz"):
        if cand.is_file():
            return cand
    return None


def detect_layout(folder: Path) -> tuple[str, dict[str, Path]]:
    """Pick the layout of a folder from the files present.

    Args:
        folder: A dataset folder.

    Returns:
        The layout name (a key of :data:`LAYOUTS`) and its files by plain name.

    Raises:
        DatasetLayoutError: If no layout is complete; the message lists the files found,
            the files missing from a partly present layout, and the layouts expected.
    """
    partial: list[str] = []
    for layout, (names, desc) in LAYOUTS.items():
        found = {n: p for n in names if (p := _find(folder, n)) is not None}
        if len(found) == len(names):
            return layout, found
        if found:
            missing = [n for n in names if n not in found]
            partial.append(f"{desc} is missing {', '.join(missing)}")
    files = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
    shown = ", ".join(files[:20]) + (f", ... ({len(files)} in all)" if len(files) > 20 else "")
    if partial:
        raise DatasetLayoutError(
            f"incomplete MovieLens dataset in {folder}: {'; '.join(partial)} "
            f"(files found: {shown or 'none'})"
        )
    expected = "; ".join(desc for _, desc in LAYOUTS.values())
    subdirs = [p.name for p in folder.iterdir() if p.is_dir()] if folder.is_dir() else []
    hint = ""
    for sub in sorted(subdirs):
        if any(_find(folder / sub, names[0]) for names, _ in LAYOUTS.values()):
            hint = f"; did you mean the folder {folder / sub}?"
            break
    raise DatasetLayoutError(
        f"no MovieLens layout recognised in {folder}: files found: {shown or 'none'}; "
        f"expected one of: {expected} (each file may be .gz){hint}"
    )


def _open_binary(path: Path) -> io.BufferedIOBase:
    if path.suffix == ".gz":
        return gzip.open(path, "rb")
    return open(path, "rb")


def _read_text(path: Path) -> str:
    """Read a (small) text file: UTF-8 (BOM stripped) if it decodes, else latin-1."""
    with _open_binary(path) as fh:
        data = fh.read()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _line_text(path: Path, line: int, limit: int = 120) -> str:
    """Return line ``line`` (1-based) of a file, for error messages (block-wise scan)."""
    skip = line - 1  # newlines to pass before the wanted line starts
    carry = b""
    with _open_binary(path) as fh:
        while True:
            block = fh.read(_BLOCK)
            if not block:
                return _show(carry, limit) if skip == 0 else ""
            if skip > 0:
                n = block.count(b"\n")
                if n < skip:
                    skip -= n
                    continue
                pos = -1
                for _ in range(skip):
                    pos = block.index(b"\n", pos + 1)
                block, skip = block[pos + 1 :], 0
            carry += block
            end = carry.find(b"\n")
            if end >= 0 or len(carry) > 1 << 20:
                return _show(carry if end < 0 else carry[:end], limit)


def _show(raw: bytes, limit: int) -> str:
    text = raw.decode("utf-8", errors="replace").rstrip("\r\n")
    return text if len(text) <= limit else text[:limit] + "..."


# --------------------------------------------------------------------------- ratings


@dataclass
class _Ratings:
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
        if self.shift is None:
            return self.first_line + i
        return self.first_line + i + int(np.searchsorted(self.shift, i, side="right"))


def _shift_from_blank_rows(blank_rows: NDArray[np.int64]) -> NDArray[np.int64] | None:
    """Blank row indices (among all data rows) -> kept-row index each blank precedes."""
    if blank_rows.size == 0:
        return None
    return blank_rows - np.arange(blank_rows.size, dtype=np.int64)


def _blank_line_numbers(path: Path) -> NDArray[np.int64]:
    """1-based numbers of the lines that are empty or only a carriage return (vectorised)."""
    found: list[NDArray[np.int64]] = []
    seen = 0  # newlines before the current buffer
    carry = b""
    with _open_binary(path) as fh:
        while block := fh.read(_BLOCK):
            data = carry + block
            buf = np.frombuffer(data, dtype=np.uint8)
            nl = np.flatnonzero(buf == 10)
            if nl.size == 0:
                carry = data
                continue
            starts = np.concatenate(([0], nl[:-1] + 1))
            length = nl - starts
            blank = (length == 0) | ((length == 1) & (buf[starts] == 13))
            found.append(seen + 1 + np.flatnonzero(blank).astype(np.int64))
            seen += int(nl.size)
            carry = data[int(nl[-1]) + 1 :]
    return np.concatenate(found) if found else np.zeros(0, dtype=np.int64)


@dataclass(frozen=True)
class _RatingsFormat:
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


_FIELD_NAMES = ("user id", "movie id", "rating", "timestamp")

_FORMATS: dict[str, _RatingsFormat] = {
    "csv": _RatingsFormat(
        sep=",",
        header=True,
        columns=("userId", "movieId", "rating", "timestamp"),
        example="userId,movieId,rating,timestamp",
    ),
    "dat": _RatingsFormat(
        sep=":",
        header=False,
        columns=(0, 2, 4, 6),
        n_fields=7,
        empty=(1, 3, 5),
        example="UserID::MovieID::Rating::Timestamp",
        logical_fields=4,
    ),
    "100k": _RatingsFormat(
        sep="\t",
        header=False,
        columns=(0, 1, 2, 3),
        n_fields=4,
        example="user<TAB>item<TAB>rating<TAB>timestamp",
        logical_fields=4,
    ),
}


def _parser_error(path: Path, exc: Exception) -> DataFileError:
    msg = str(exc).strip()
    m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", msg)
    if m:
        line = int(m.group(2))
        return DataFileError(
            path,
            f"expected {m.group(1)} fields, found {m.group(3)}: {_line_text(path, line)!r}",
            line,
        )
    return DataFileError(path, f"cannot be parsed: {msg}")


def _check_header(path: Path, fmt: _RatingsFormat) -> None:
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


@contextmanager
def _reading(path: Path) -> Iterator[None]:
    """Turn low-level read failures (broken gzip, truncated download) into DataFileError."""
    try:
        yield
    except DataFileError:
        raise
    except (EOFError, zlib.error, gzip.BadGzipFile, UnicodeDecodeError) as exc:
        raise DataFileError(path, f"cannot be read ({type(exc).__name__}: {exc})") from None


def _read_ratings(path: Path, fmt: _RatingsFormat) -> _Ratings:
    """Read a ratings file: a strict, fast pass; a diagnostic pass if that fails."""
    with _reading(path):
        return _read_ratings_unchecked(path, fmt)


def _read_ratings_unchecked(path: Path, fmt: _RatingsFormat) -> _Ratings:
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
        raise _parser_error(path, exc) from None
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
        blank = _blank_line_numbers(path)
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
    out = _Ratings(
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
    path: Path, fmt: _RatingsFormat, kwargs: dict[str, Any], first_line: int
) -> _Ratings:
    """String-typed chunked pass: raise on the first bad line, else return the data.

    Blank lines are counted and skipped; integral values written as floats (``"5.0"``)
    are accepted for ids and timestamps.
    """
    parts: list[list[NDArray[np.float64]]] = [[], [], [], []]
    blank_rows: list[NDArray[np.int64]] = []
    n_kept = 0
    reader = pd.read_csv(path, dtype=str, keep_default_na=False, chunksize=_CHUNK_ROWS, **kwargs)
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
        raise _parser_error(path, exc) from None
    finally:
        reader.close()
    if n_kept == 0:
        raise DataFileError(path, "the file has no ratings" + (" (header only)" * fmt.header))
    return _Ratings(
        users=np.concatenate(parts[0]).astype(np.int64),
        movies=np.concatenate(parts[1]).astype(np.int64),
        ratings=np.concatenate(parts[2]).astype(np.float32),
        timestamps=np.concatenate(parts[3]).astype(np.int64),
        first_line=first_line,
        shift=_shift_from_blank_rows(np.concatenate(blank_rows).astype(np.int64)),
        blank_lines=int(sum(b.size for b in blank_rows)),
    )


def _diagnose_chunk(
    path: Path, fmt: _RatingsFormat, chunk: pd.DataFrame, line0: int
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
    text = _line_text(path, line)
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
        message = f"empty {_FIELD_NAMES[k]}: {text!r}"
    elif check == "number":
        kind = "a number" if k == 2 else "an integer"
        message = f"cannot parse {_FIELD_NAMES[k]} {raws[k][i]!r} as {kind}: {text!r}"
    else:
        message = f"{_FIELD_NAMES[k]} {raws[k][i]!r} is not an integer" + (
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
            f"{_line_text(path, first_line)!r}",
            first_line,
        )


def _count_fields(text: str, fmt: _RatingsFormat) -> int:
    if text == "":
        return 0
    if fmt.sep == ":":
        return len(text.split("::"))
    return len(next(csv.reader([text], delimiter=fmt.sep)))


def _check_ratings(path: Path, r: _Ratings, scale: tuple[float, float]) -> None:
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


# --------------------------------------------------------------------------- movies


@dataclass
class _Movies:
    ids: NDArray[np.int64]
    titles: NDArray[np.object_]
    genres: NDArray[np.object_]  # 'A|B|C' strings (empty for the 100k layout)
    lines: NDArray[np.int64]  # 1-based line of each movie
    blank_lines: int


def _int_ids(path: Path, raw: pd.Series, lines: NDArray[np.int64], what: str) -> NDArray[np.int64]:
    num = pd.to_numeric(raw, errors="coerce").to_numpy(np.float64)
    with np.errstate(invalid="ignore"):
        bad = np.isnan(num) | (num != np.floor(num))
    if bad.any():
        i = int(np.argmax(bad))
        raise DataFileError(
            path, f"cannot parse {what} {str(raw.iloc[i])!r} as an integer", int(lines[i])
        )
    return num.astype(np.int64)


def _check_unique(path: Path, ids: NDArray[np.int64], lines: NDArray[np.int64]) -> None:
    order = np.argsort(ids, kind="stable")
    s = ids[order]
    dup = np.flatnonzero(s[1:] == s[:-1])
    if dup.size:
        # Report the duplicate that comes first in the file.
        second = order[dup + 1]
        j = int(np.argmin(lines[second]))
        first = int(order[dup[j]])
        i = int(second[j])
        raise DataFileError(
            path,
            f"duplicate movie id {int(ids[i])} (first defined on line {int(lines[first])})",
            int(lines[i]),
        )


def _blank_mask(lines: list[str]) -> NDArray[np.bool_]:
    return np.fromiter((not ln.strip() for ln in lines), dtype=bool, count=len(lines))


def _field_counts(lines: list[str], sep: str, quoted: bool) -> NDArray[np.int64]:
    """Fields per line; quoted fields (CSV) are parsed properly only where a quote occurs."""
    counts = np.fromiter((ln.count(sep) + 1 for ln in lines), dtype=np.int64, count=len(lines))
    if quoted:
        q = [k for k, ln in enumerate(lines) if '"' in ln]
        for k, row in zip(q, csv.reader([lines[k] for k in q], delimiter=sep), strict=True):
            counts[k] = len(row)
    return counts


def _first_short_line(
    path: Path, lines: list[str], n_fields: int, sep: str, quoted: bool, example: str
) -> None:
    """Raise on the first non-blank line whose field count is not ``n_fields``."""
    nonblank = ~_blank_mask(lines)
    counts = _field_counts(lines, sep, quoted)
    bad = nonblank & (counts != n_fields)
    if bad.any():
        i = int(np.argmax(bad))
        last = not nonblank[i + 1 :].any()
        hint = "; truncated last line?" if last and counts[i] < n_fields else ""
        raise DataFileError(
            path,
            f"line has {int(counts[i])} field(s), expected {n_fields} ({example}){hint}: "
            f"{_show(lines[i].encode(), 120)!r}",
            i + 1,
        )


def _read_movies_csv(path: Path) -> _Movies:
    text = _read_text(path)
    if not text.strip():
        raise DataFileError(path, "the file is empty")
    try:
        df = pd.read_csv(
            io.StringIO(text), dtype=str, keep_default_na=False, skip_blank_lines=False
        )
    except pd.errors.ParserError as exc:
        raise _parser_error(path, exc) from None
    df.columns = [str(c).strip() for c in df.columns]
    missing = [c for c in ("movieId", "title", "genres") if c not in df.columns]
    if missing:
        raise DataFileError(
            path,
            f"missing column(s) {', '.join(missing)}; the header has "
            f"{', '.join(df.columns)!r} but the first line must be the header "
            "movieId,title,genres",
            1,
        )
    text_lines = text.splitlines()
    _first_short_line(
        path, text_lines, len(df.columns), ",", quoted=True, example="movieId,title,genres"
    )
    lines = np.arange(2, len(df) + 2, dtype=np.int64)
    if len(text_lines) == len(df) + 1:  # one row per line (no line break inside quotes)
        blank = _blank_mask(text_lines[1:])
    else:
        blank = (df.apply(lambda c: c.str.strip() == "")).all(axis=1).to_numpy(bool)
    if blank.any():
        df, lines = df[~blank], lines[~blank]
    if len(df) == 0:
        raise DataFileError(path, "the file has no movies (header only)")
    ids = _int_ids(path, df["movieId"], lines, "movie id")
    genres = df["genres"].to_numpy(object)
    return _Movies(ids, df["title"].to_numpy(object), genres, lines, int(blank.sum()))


#: MovieID::Title::Genres; titles may hold ':' (even '::'), genres hold none.
_DAT_MOVIE = re.compile(r"^([^:]*)::(.*)::([^:]*)$")


def _read_movies_dat(path: Path) -> _Movies:
    text = _read_text(path)
    if not text.strip():
        raise DataFileError(path, "the file is empty")
    all_lines = text.splitlines()
    nonblank = ~_blank_mask(all_lines)
    matches = [_DAT_MOVIE.match(ln) for ln in all_lines]
    bad = nonblank & np.fromiter((m is None for m in matches), dtype=bool, count=len(matches))
    if bad.any():
        i = int(np.argmax(bad))
        last = not nonblank[i + 1 :].any()
        raise DataFileError(
            path,
            "expected 3 fields MovieID::Title::Genres"
            + ("; truncated last line?" if last else "")
            + f": {_show(all_lines[i].encode(), 120)!r}",
            i + 1,
        )
    keep = np.flatnonzero(nonblank)
    groups = [matches[k].groups() for k in keep]  # type: ignore[union-attr]
    cols = np.array(groups, dtype=object).reshape(-1, 3)
    lines = keep.astype(np.int64) + 1
    ids = _int_ids(path, pd.Series(cols[:, 0], dtype=object), lines, "movie id")
    return _Movies(ids, cols[:, 1].copy(), cols[:, 2].copy(), lines, int((~nonblank).sum()))


def _read_genre_names_100k(path: Path) -> list[str]:
    text = _read_text(path)
    rows = [ln.rsplit("|", 1) for ln in text.splitlines() if ln.strip()]  # 19 lines
    if not rows:
        raise DataFileError(path, "the file is empty")
    names: dict[int, str] = {}
    for k, row in enumerate(rows):
        if len(row) != 2 or not row[1].strip().isdigit():
            raise DataFileError(path, f"expected 'name|index', found {'|'.join(row)!r}", k + 1)
        names[int(row[1])] = row[0].strip()
    if sorted(names) != list(range(len(names))):
        raise DataFileError(path, f"genre indices must be 0..{len(names) - 1}, got {sorted(names)}")
    return [names[i] for i in range(len(names))]


def _read_movies_100k(path: Path, genre_names: list[str]) -> tuple[_Movies, NDArray[np.uint8]]:
    text = _read_text(path)
    if not text.strip():
        raise DataFileError(path, "the file is empty")
    n_fields = 5 + len(genre_names)
    example = "movie id|title|release date|video release date|IMDb URL|<genre flags>"
    all_lines = text.splitlines()
    _first_short_line(path, all_lines, n_fields, "|", quoted=False, example=example)
    nonblank = ~_blank_mask(all_lines)
    keep = np.flatnonzero(nonblank)
    lines = keep.astype(np.int64) + 1
    cells = np.array([all_lines[k].split("|") for k in keep], dtype=object).reshape(-1, n_fields)
    ids = _int_ids(path, pd.Series(cells[:, 0], dtype=object), lines, "movie id")
    flags = cells[:, 5:]
    bad = (flags != "0") & (flags != "1")
    if bad.any():
        i, j = np.unravel_index(int(np.argmax(bad)), bad.shape)
        raise DataFileError(
            path,
            f"genre flag {genre_names[j]!r} must be 0 or 1, got {flags[i, j]!r}",
            int(lines[i]),
        )
    matrix = (flags == "1").astype(np.uint8)
    movies = _Movies(ids, cells[:, 1].copy(), np.zeros(0, object), lines, int((~nonblank).sum()))
    return movies, matrix


# --------------------------------------------------------------------------- assembly


def _genre_matrix(genres: NDArray[np.object_]) -> tuple[list[str], NDArray[np.uint8]]:
    """Binary movie x genre matrix of ``"A|B"`` strings (like sklearn's MultiLabelBinarizer).

    Catalogue-sized work (at most ~90k movies) on C-speed string methods plus a hash
    factorisation; scikit-learn is not imported (it costs seconds at start-up).
    ``"(no genres listed)"`` and empty strings mean no genre; the vocabulary is sorted.
    """
    n = genres.shape[0]
    split = [str(g).split("|") for g in genres]
    lens = np.fromiter(map(len, split), dtype=np.int64, count=n)
    flat = np.array([x.strip() for x in chain.from_iterable(split)], dtype=object)
    rows = np.repeat(np.arange(n, dtype=np.int64), lens)
    ok = (flat != "") & (flat != NO_GENRES)
    names = sorted(set(flat[ok].tolist()))
    matrix = np.zeros((n, len(names)), dtype=np.uint8)
    if names:
        codes = np.searchsorted(np.array(names, dtype=object), flat[ok])
        matrix[rows[ok], codes] = 1
    return names, matrix


def _dense_member(values: NDArray[np.int64], catalogue: NDArray[np.int64]) -> NDArray[np.bool_]:
    """``np.isin(values, catalogue)`` via a lookup table when ids are small (fast)."""
    hi = int(max(values.max(initial=0), catalogue.max(initial=0)))
    lo = int(min(values.min(initial=0), catalogue.min(initial=0)))
    if lo >= 0 and hi < _DENSE_ID_LIMIT:
        table = np.zeros(hi + 1, dtype=bool)
        table[catalogue] = True
        return table[values]
    pos = np.searchsorted(catalogue, values).clip(0, catalogue.size - 1)
    return catalogue[pos] == values


def load_raw(
    dataset: str | os.PathLike[str] | None = None, *, unknown_movies: str = "error"
) -> RawDataset:
    """Load a MovieLens dataset, choosing the reader by the files present.

    Args:
        dataset: ``None`` or ``"ml-latest-small"`` for the embedded dataset, or a folder
            (or a file inside it) holding the CSV, ``::`` or ml-100k layout.
        unknown_movies: What to do with ratings of movies missing from the movies file:
            ``"error"`` (default) raises; ``"skip"`` drops them and counts them in
            :attr:`RawDataset.skipped`.

    Returns:
        The raw dataset, catalogue sorted by movie id, ratings in file order.

    Raises:
        DatasetLayoutError: (a ``FileNotFoundError``) if no layout is found or files are
            missing; the message lists the files found and the layouts expected.
        DataFileError: (a ``ValueError``) on bad content, naming the file, the line and
            the value.
        ValueError: If ``unknown_movies`` is not ``"error"`` or ``"skip"``.
    """
    if unknown_movies not in ("error", "skip"):
        raise ValueError(f"unknown_movies must be 'error' or 'skip', got {unknown_movies!r}")
    folder = resolve_dataset(dataset)
    layout, files = detect_layout(folder)
    skipped: dict[str, int] = {}
    genre_matrix: NDArray[np.uint8] | None = None
    genre_names: list[str] = []

    if layout == "csv":
        mfile, rfile = files["movies.csv"], files["ratings.csv"]
        with _reading(mfile):
            movies = _read_movies_csv(mfile)
    elif layout == "dat":
        mfile, rfile = files["movies.dat"], files["ratings.dat"]
        with _reading(mfile):
            movies = _read_movies_dat(mfile)
    else:
        mfile, rfile = files["u.item"], files["u.data"]
        with _reading(files["u.genre"]):
            all_names = _read_genre_names_100k(files["u.genre"])
        with _reading(mfile):
            movies, flags = _read_movies_100k(mfile, all_names)
        keep = [j for j, g in enumerate(all_names) if g.lower() != UNKNOWN_GENRE]
        n_unknown = int(flags[:, [j for j in range(len(all_names)) if j not in keep]].sum())
        if n_unknown:
            skipped[f"'{UNKNOWN_GENRE}' genre flags in {mfile.name} (treated as no genre)"] = (
                n_unknown
            )
        genre_names = [all_names[j] for j in keep]
        genre_matrix = flags[:, keep]
        order = np.argsort(genre_names, kind="stable")
        genre_names = [genre_names[j] for j in order]
        genre_matrix = np.ascontiguousarray(genre_matrix[:, order])

    _check_unique(mfile, movies.ids, movies.lines)
    if movies.blank_lines:
        skipped[f"blank lines in {mfile.name}"] = movies.blank_lines

    if genre_matrix is None:
        genre_names, genre_matrix = _genre_matrix(movies.genres)

    order = np.argsort(movies.ids, kind="stable")
    movie_ids = movies.ids[order]
    titles = movies.titles[order]
    genre_matrix = np.ascontiguousarray(genre_matrix[order])

    scale = RATING_SCALES[layout]
    r = _read_ratings(rfile, _FORMATS[layout])
    if r.blank_lines:
        skipped[f"blank lines in {rfile.name}"] = r.blank_lines
    _check_ratings(rfile, r, scale)
    known = _dense_member(r.movies, movie_ids)
    if not known.all():
        unknown = np.flatnonzero(~known)
        if unknown_movies == "error":
            i = int(unknown[0])
            raise DataFileError(
                rfile,
                f"rating of unknown movie id {int(r.movies[i])}: it is not in {mfile.name} "
                f"({unknown.size} such rating(s) in all; load_raw(..., unknown_movies='skip') "
                "drops and counts them)",
                r.line_of(i),
            )
        skipped[f"ratings of movies missing from {mfile.name}"] = int(unknown.size)
        r.users, r.movies = r.users[known], r.movies[known]
        r.ratings, r.timestamps = r.ratings[known], r.timestamps[known]
        if r.users.size == 0:
            raise DataFileError(
                rfile, f"no rating left: every rated movie is missing from {mfile.name}"
            )

    name = EMBEDDED if folder.resolve() == embedded_path().resolve() else folder.resolve().name
    return RawDataset(
        name=name,
        source=str(folder),
        layout=layout,
        movie_ids=movie_ids,
        titles=titles,
        genre_names=genre_names,
        genres=genre_matrix,
        user_ids=r.users,
        rating_movie_ids=r.movies,
        ratings=r.ratings,
        timestamps=r.timestamps,
        rating_scale=scale,
        skipped=skipped,
    )
