"""The ml-100k layout.

``u.data`` (tab-separated ``user item rating timestamp``), ``u.item`` (pipe-separated,
latin-1, 5 fields then one 0/1 flag per genre) and ``u.genre`` (``name|index``). The
genre "unknown" is treated as no genre.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from movierec_env.data.readers.common import (
    Catalogue,
    DataFileError,
    Movies,
    blank_mask,
    first_short_line,
    int_ids,
    read_text,
    reading,
)
from movierec_env.data.readers.ratings import RatingsFormat

__all__ = [
    "FILES",
    "RATINGS_FORMAT",
    "RATING_SCALE",
    "UNKNOWN_GENRE",
    "read_catalogue",
    "read_genre_names_100k",
    "read_movies_100k",
]

#: Files of the layout: (ratings, movies, genres).
FILES = ("u.data", "u.item", "u.genre")
#: Rating scale (min, max).
RATING_SCALE = (1.0, 5.0)
#: ml-100k's genre for "no genre known"; treated like no genre.
UNKNOWN_GENRE = "unknown"
RATINGS_FORMAT = RatingsFormat(
    sep="\t",
    header=False,
    columns=(0, 1, 2, 3),
    n_fields=4,
    example="user<TAB>item<TAB>rating<TAB>timestamp",
    logical_fields=4,
)


def read_genre_names_100k(path: Path) -> list[str]:
    """Read ``u.genre`` (``name|index`` lines) into the genre names in index order."""
    text = read_text(path)
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


def read_movies_100k(path: Path, genre_names: list[str]) -> tuple[Movies, NDArray[np.uint8]]:
    """Read ``u.item``: the movies and their 0/1 genre flags (columns of ``genre_names``)."""
    text = read_text(path)
    if not text.strip():
        raise DataFileError(path, "the file is empty")
    n_fields = 5 + len(genre_names)
    example = "movie id|title|release date|video release date|IMDb URL|<genre flags>"
    all_lines = text.splitlines()
    first_short_line(path, all_lines, n_fields, "|", quoted=False, example=example)
    nonblank = ~blank_mask(all_lines)
    keep = np.flatnonzero(nonblank)
    lines = keep.astype(np.int64) + 1
    cells = np.array([all_lines[k].split("|") for k in keep], dtype=object).reshape(-1, n_fields)
    ids = int_ids(path, pd.Series(cells[:, 0], dtype=object), lines, "movie id")
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
    movies = Movies(ids, cells[:, 1].copy(), np.zeros(0, object), lines, int((~nonblank).sum()))
    return movies, matrix


def read_catalogue(files: dict[str, Path]) -> Catalogue:
    """Read ``u.genre`` and ``u.item``; the "unknown" genre flags are counted and dropped."""
    mfile, rfile = files["u.item"], files["u.data"]
    with reading(files["u.genre"]):
        all_names = read_genre_names_100k(files["u.genre"])
    with reading(mfile):
        movies, flags = read_movies_100k(mfile, all_names)
    skipped: dict[str, int] = {}
    keep = [j for j, g in enumerate(all_names) if g.lower() != UNKNOWN_GENRE]
    n_unknown = int(flags[:, [j for j in range(len(all_names)) if j not in keep]].sum())
    if n_unknown:
        skipped[f"'{UNKNOWN_GENRE}' genre flags in {mfile.name} (treated as no genre)"] = n_unknown
    genre_names = [all_names[j] for j in keep]
    genre_matrix = flags[:, keep]
    order = np.argsort(genre_names, kind="stable")
    genre_names = [genre_names[j] for j in order]
    genre_matrix = np.ascontiguousarray(genre_matrix[:, order])
    return Catalogue(mfile, rfile, movies, genre_names, genre_matrix, skipped)
