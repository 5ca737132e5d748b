"""The ``::`` layout (ml-1m, ml-10m).

``movies.dat`` (``MovieID::Title::Genres``) and ``ratings.dat``
(``UserID::MovieID::Rating::Timestamp``), no header, latin-1 or UTF-8.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from movierec_env.data.readers.common import (
    Catalogue,
    DataFileError,
    Movies,
    blank_mask,
    genre_matrix,
    int_ids,
    read_text,
    reading,
    show_line,
)
from movierec_env.data.readers.ratings import RatingsFormat

__all__ = ["FILES", "RATINGS_FORMAT", "RATING_SCALE", "read_catalogue", "read_movies_dat"]

#: Files of the layout: (movies, ratings).
FILES = ("movies.dat", "ratings.dat")
#: Rating scale (min, max).
RATING_SCALE = (0.5, 5.0)
#: ``::`` is read as ``sep=":"``; the empty fields in between must stay empty.
RATINGS_FORMAT = RatingsFormat(
    sep=":",
    header=False,
    columns=(0, 2, 4, 6),
    n_fields=7,
    empty=(1, 3, 5),
    example="UserID::MovieID::Rating::Timestamp",
    logical_fields=4,
)


#: MovieID::Title::Genres; titles may hold ':' (even '::'), genres hold none.
_DAT_MOVIE = re.compile(r"^([^:]*)::(.*)::([^:]*)$")


def read_movies_dat(path: Path) -> Movies:
    """Read ``movies.dat``; raises :class:`DataFileError` naming the line on bad content."""
    text = read_text(path)
    if not text.strip():
        raise DataFileError(path, "the file is empty")
    all_lines = text.splitlines()
    nonblank = ~blank_mask(all_lines)
    matches = [_DAT_MOVIE.match(ln) for ln in all_lines]
    bad = nonblank & np.fromiter((m is None for m in matches), dtype=bool, count=len(matches))
    if bad.any():
        i = int(np.argmax(bad))
        last = not nonblank[i + 1 :].any()
        raise DataFileError(
            path,
            "expected 3 fields MovieID::Title::Genres"
            + ("; truncated last line?" if last else "")
            + f": {show_line(all_lines[i].encode(), 120)!r}",
            i + 1,
        )
    keep = np.flatnonzero(nonblank)
    groups = [matches[k].groups() for k in keep]  # type: ignore[union-attr]
    cols = np.array(groups, dtype=object).reshape(-1, 3)
    lines = keep.astype(np.int64) + 1
    ids = int_ids(path, pd.Series(cols[:, 0], dtype=object), lines, "movie id")
    return Movies(ids, cols[:, 1].copy(), cols[:, 2].copy(), lines, int((~nonblank).sum()))


def read_catalogue(files: dict[str, Path]) -> Catalogue:
    """Read the layout's movies file; ``files`` maps its plain file names to paths."""
    mfile, rfile = files[FILES[0]], files[FILES[1]]
    with reading(mfile):
        movies = read_movies_dat(mfile)
    names, matrix = genre_matrix(movies.genres)
    return Catalogue(mfile, rfile, movies, names, matrix, {})
