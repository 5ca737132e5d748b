"""The CSV layout (ml-latest-small, ml-latest, ml-20m, ml-25m, ml-32m).

``movies.csv`` (``movieId,title,genres``) and ``ratings.csv``
(``userId,movieId,rating,timestamp``), both with a header line.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd

from movierec_env.data.readers.common import (
    Catalogue,
    DataFileError,
    Movies,
    blank_mask,
    first_short_line,
    genre_matrix,
    int_ids,
    parser_error,
    read_text,
    reading,
)
from movierec_env.data.readers.ratings import RatingsFormat

__all__ = ["FILES", "RATINGS_FORMAT", "RATING_SCALE", "read_catalogue", "read_movies_csv"]

#: Files of the layout: (movies, ratings).
FILES = ("movies.csv", "ratings.csv")
#: Rating scale (min, max).
RATING_SCALE = (0.5, 5.0)
RATINGS_FORMAT = RatingsFormat(
    sep=",",
    header=True,
    columns=("userId", "movieId", "rating", "timestamp"),
    example="userId,movieId,rating,timestamp",
)


def read_movies_csv(path: Path) -> Movies:
    """Read ``movies.csv``; raises :class:`DataFileError` naming the line on bad content."""
    text = read_text(path)
    if not text.strip():
        raise DataFileError(path, "the file is empty")
    try:
        df = pd.read_csv(
            io.StringIO(text), dtype=str, keep_default_na=False, skip_blank_lines=False
        )
    except pd.errors.ParserError as exc:
        raise parser_error(path, exc) from None
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
    first_short_line(
        path, text_lines, len(df.columns), ",", quoted=True, example="movieId,title,genres"
    )
    lines = np.arange(2, len(df) + 2, dtype=np.int64)
    if len(text_lines) == len(df) + 1:  # one row per line (no line break inside quotes)
        blank = blank_mask(text_lines[1:])
    else:
        blank = (df.apply(lambda c: c.str.strip() == "")).all(axis=1).to_numpy(bool)
    if blank.any():
        df, lines = df[~blank], lines[~blank]
    if len(df) == 0:
        raise DataFileError(path, "the file has no movies (header only)")
    ids = int_ids(path, df["movieId"], lines, "movie id")
    genres = df["genres"].to_numpy(object)
    return Movies(ids, df["title"].to_numpy(object), genres, lines, int(blank.sum()))


def read_catalogue(files: dict[str, Path]) -> Catalogue:
    """Read the layout's movies file; ``files`` maps its plain file names to paths."""
    mfile, rfile = files[FILES[0]], files[FILES[1]]
    with reading(mfile):
        movies = read_movies_csv(mfile)
    names, matrix = genre_matrix(movies.genres)
    return Catalogue(mfile, rfile, movies, names, matrix, {})
