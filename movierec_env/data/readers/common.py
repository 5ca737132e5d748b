"""What every MovieLens reader shares: errors, byte-level line scanning, text and catalogue helpers.

Line numbers in messages are 1-based, as in the file (a header is line 1). Files may be
gzip-compressed (``name.gz``).
"""

from __future__ import annotations

import csv
import gzip
import io
import re
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import chain
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from movierec_env.data.errors import DataFileError, DatasetLayoutError

__all__ = [
    "BLOCK_BYTES",
    "NO_GENRES",
    "Catalogue",
    "DataFileError",
    "DatasetLayoutError",
    "Movies",
    "blank_line_numbers",
    "blank_mask",
    "check_unique",
    "field_counts",
    "first_short_line",
    "genre_matrix",
    "int_ids",
    "line_text",
    "open_binary",
    "parser_error",
    "read_text",
    "reading",
    "show_line",
]

#: MovieLens' marker for a movie without genre; it is not a genre.
NO_GENRES = "(no genres listed)"
#: Bytes read at a time when scanning a file for a line or for blank lines.
BLOCK_BYTES = 1 << 24


# --------------------------------------------------------------------------- files


# --------------------------------------------------------------------------- files


def open_binary(path: Path) -> io.BufferedIOBase:
    """Open a file for binary reading, through gzip when it ends in ``.gz``."""
    if path.suffix == ".gz":
        return gzip.open(path, "rb")
    return open(path, "rb")


def read_text(path: Path) -> str:
    """Read a (small) text file: UTF-8 (BOM stripped) if it decodes, else latin-1."""
    with open_binary(path) as fh:
        data = fh.read()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def line_text(path: Path, line: int, limit: int = 120) -> str:
    """Return line ``line`` (1-based) of a file, for error messages (block-wise scan)."""
    skip = line - 1  # newlines to pass before the wanted line starts
    carry = b""
    with open_binary(path) as fh:
        while True:
            block = fh.read(BLOCK_BYTES)
            if not block:
                return show_line(carry, limit) if skip == 0 else ""
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
                return show_line(carry if end < 0 else carry[:end], limit)


def show_line(raw: bytes, limit: int) -> str:
    """A line as text for a message: decoded, without its line break, cut at ``limit``."""
    text = raw.decode("utf-8", errors="replace").rstrip("\r\n")
    return text if len(text) <= limit else text[:limit] + "..."


def blank_line_numbers(path: Path) -> NDArray[np.int64]:
    """1-based numbers of the lines that are empty or only a carriage return (vectorised)."""
    found: list[NDArray[np.int64]] = []
    seen = 0  # newlines before the current buffer
    carry = b""
    with open_binary(path) as fh:
        while block := fh.read(BLOCK_BYTES):
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


def parser_error(path: Path, exc: Exception) -> DataFileError:
    """Turn a pandas parser error into a :class:`DataFileError` naming the line."""
    msg = str(exc).strip()
    m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", msg)
    if m:
        line = int(m.group(2))
        return DataFileError(
            path,
            f"expected {m.group(1)} fields, found {m.group(3)}: {line_text(path, line)!r}",
            line,
        )
    return DataFileError(path, f"cannot be parsed: {msg}")


@contextmanager
def reading(path: Path) -> Iterator[None]:
    """Turn low-level read failures (broken gzip, truncated download) into DataFileError."""
    try:
        yield
    except DataFileError:
        raise
    except (EOFError, zlib.error, gzip.BadGzipFile, UnicodeDecodeError) as exc:
        raise DataFileError(path, f"cannot be read ({type(exc).__name__}: {exc})") from None


# --------------------------------------------------------------------------- movies


@dataclass
class Movies:
    """A movies file as read, in file order."""

    ids: NDArray[np.int64]
    titles: NDArray[np.object_]
    genres: NDArray[np.object_]  # 'A|B|C' strings (empty for the 100k layout)
    lines: NDArray[np.int64]  # 1-based line of each movie
    blank_lines: int


def int_ids(path: Path, raw: pd.Series, lines: NDArray[np.int64], what: str) -> NDArray[np.int64]:
    """Parse ids as integers; raise naming the line of the first one that is not."""
    num = pd.to_numeric(raw, errors="coerce").to_numpy(np.float64)
    with np.errstate(invalid="ignore"):
        bad = np.isnan(num) | (num != np.floor(num))
    if bad.any():
        i = int(np.argmax(bad))
        raise DataFileError(
            path, f"cannot parse {what} {str(raw.iloc[i])!r} as an integer", int(lines[i])
        )
    return num.astype(np.int64)


def check_unique(path: Path, ids: NDArray[np.int64], lines: NDArray[np.int64]) -> None:
    """Raise on the first duplicate movie id in file order, naming both lines."""
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


def blank_mask(lines: list[str]) -> NDArray[np.bool_]:
    """True for the lines that are empty or only whitespace."""
    return np.fromiter((not ln.strip() for ln in lines), dtype=bool, count=len(lines))


def field_counts(lines: list[str], sep: str, quoted: bool) -> NDArray[np.int64]:
    """Fields per line; quoted fields (CSV) are parsed properly only where a quote occurs."""
    counts = np.fromiter((ln.count(sep) + 1 for ln in lines), dtype=np.int64, count=len(lines))
    if quoted:
        q = [k for k, ln in enumerate(lines) if '"' in ln]
        for k, row in zip(q, csv.reader([lines[k] for k in q], delimiter=sep), strict=True):
            counts[k] = len(row)
    return counts


def first_short_line(
    path: Path, lines: list[str], n_fields: int, sep: str, quoted: bool, example: str
) -> None:
    """Raise on the first non-blank line whose field count is not ``n_fields``."""
    nonblank = ~blank_mask(lines)
    counts = field_counts(lines, sep, quoted)
    bad = nonblank & (counts != n_fields)
    if bad.any():
        i = int(np.argmax(bad))
        last = not nonblank[i + 1 :].any()
        hint = "; truncated last line?" if last and counts[i] < n_fields else ""
        raise DataFileError(
            path,
            f"line has {int(counts[i])} field(s), expected {n_fields} ({example}){hint}: "
            f"{show_line(lines[i].encode(), 120)!r}",
            i + 1,
        )


def genre_matrix(genres: NDArray[np.object_]) -> tuple[list[str], NDArray[np.uint8]]:
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


@dataclass
class Catalogue:
    """A layout's movie catalogue as read, before the checks every layout shares.

    Attributes:
        movies_file: The movies file (for messages).
        ratings_file: The ratings file of the layout.
        movies: The movies in file order.
        genre_names: Genre vocabulary, sorted.
        genres: Binary movie x genre matrix aligned with ``movies``, uint8.
        skipped: Layout-specific content skipped while reading (reason -> count).
    """

    movies_file: Path
    ratings_file: Path
    movies: Movies
    genre_names: list[str]
    genres: NDArray[np.uint8]
    skipped: dict[str, int]
