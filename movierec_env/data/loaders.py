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

Each layout has its reader module in :mod:`movierec_env.data.readers` (``csv``, ``dat``,
``ml100k``; the ratings reader they share in ``readers.ratings``, errors and line handling
in ``readers.common``); this module finds the layout and assembles the
:class:`RawDataset`. Reading is vectorised (pandas' C engine; a diagnostic pass only when
the strict pass fails). Every error names the file, the 1-based line number as in the
file (the header is line 1) and the offending value. Blank lines and other skipped
content are counted in :attr:`RawDataset.skipped`, never dropped silently.
"""

from __future__ import annotations

import os
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from movierec_env.data.paths import EMBEDDED, LAYOUTS, embedded_path, resolve_dataset
from movierec_env.data.readers import common, ratings
from movierec_env.data.readers import csv as csv_layout
from movierec_env.data.readers import dat as dat_layout
from movierec_env.data.readers import ml100k as ml100k_layout
from movierec_env.data.readers.common import (
    NO_GENRES,
    Catalogue,
    DataFileError,
    DatasetLayoutError,
    check_unique,
)
from movierec_env.data.readers.common import (  # noqa: F401  (importable here, as before)
    blank_line_numbers as _blank_line_numbers,
)
from movierec_env.data.readers.common import line_text as _line_text  # noqa: F401
from movierec_env.data.readers.ratings import Ratings, check_ratings, read_ratings
from movierec_env.data.types import RawDataset

__all__ = [
    "EMBEDDED",
    "LAYOUTS",
    "NO_GENRES",
    "RATING_SCALES",
    "UNKNOWN_GENRE",
    "DataFileError",
    "DatasetLayoutError",
    "detect_layout",
    "embedded_path",
    "load_raw",
    "resolve_dataset",
]

#: ml-100k's genre for "no genre known"; treated like no genre.
UNKNOWN_GENRE = ml100k_layout.UNKNOWN_GENRE


#: The reader module of each layout (``read_catalogue``, ``RATINGS_FORMAT``, ``RATING_SCALE``).
_READERS: dict[str, Any] = {"csv": csv_layout, "dat": dat_layout, "100k": ml100k_layout}

#: Rating scale (min, max) of each layout.
RATING_SCALES: dict[str, tuple[float, float]] = {k: m.RATING_SCALE for k, m in _READERS.items()}

#: Largest id for which lookups use a dense table instead of a sort.
_DENSE_ID_LIMIT = 100_000_000


# The two tuning knobs of the line scanners and the diagnostic pass live beside the code
# that reads them; ``loaders._BLOCK`` and ``loaders._CHUNK_ROWS`` still read and set them
# (module-level data descriptors, so ``monkeypatch.setattr`` restores them too).
def _forward(module: types.ModuleType, attr: str) -> property:
    def get(_: types.ModuleType) -> Any:
        return getattr(module, attr)

    def set_(_: types.ModuleType, value: Any) -> None:
        setattr(module, attr, value)

    return property(get, set_, doc=f"Alias of {module.__name__}.{attr}.")


class _LoadersModule(types.ModuleType):
    _BLOCK = _forward(common, "BLOCK_BYTES")
    _CHUNK_ROWS = _forward(ratings, "CHUNK_ROWS")


sys.modules[__name__].__class__ = _LoadersModule


# --------------------------------------------------------------------------- files


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


# --------------------------------------------------------------------------- assembly


def _sorted_catalogue(
    cat: Catalogue, skipped: dict[str, int]
) -> tuple[NDArray[np.int64], NDArray[np.object_], NDArray[np.uint8]]:
    """Check the movie ids, count blank lines, sort by movie id: ``(ids, titles, genres)``."""
    check_unique(cat.movies_file, cat.movies.ids, cat.movies.lines)
    if cat.movies.blank_lines:
        skipped[f"blank lines in {cat.movies_file.name}"] = cat.movies.blank_lines
    order = np.argsort(cat.movies.ids, kind="stable")
    return (
        cat.movies.ids[order],
        cat.movies.titles[order],
        np.ascontiguousarray(cat.genres[order]),
    )


def _drop_unknown_movies(
    r: Ratings,
    movie_ids: NDArray[np.int64],
    cat: Catalogue,
    unknown_movies: str,
    skipped: dict[str, int],
) -> None:
    """Raise on (``"error"``) or drop and count (``"skip"``) ratings of unknown movies."""
    rfile, mfile = cat.ratings_file, cat.movies_file
    known = _dense_member(r.movies, movie_ids)
    if known.all():
        return
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
    reader = _READERS[layout]
    cat: Catalogue = reader.read_catalogue(files)
    skipped = dict(cat.skipped)
    movie_ids, titles, genre_matrix = _sorted_catalogue(cat, skipped)

    scale = RATING_SCALES[layout]
    r = read_ratings(cat.ratings_file, reader.RATINGS_FORMAT)
    if r.blank_lines:
        skipped[f"blank lines in {cat.ratings_file.name}"] = r.blank_lines
    check_ratings(cat.ratings_file, r, scale)
    _drop_unknown_movies(r, movie_ids, cat, unknown_movies, skipped)

    name = EMBEDDED if folder.resolve() == embedded_path().resolve() else folder.resolve().name
    return RawDataset(
        name=name,
        source=str(folder),
        layout=layout,
        movie_ids=movie_ids,
        titles=titles,
        genre_names=cat.genre_names,
        genres=genre_matrix,
        user_ids=r.users,
        rating_movie_ids=r.movies,
        ratings=r.ratings,
        timestamps=r.timestamps,
        rating_scale=scale,
        skipped=skipped,
    )
