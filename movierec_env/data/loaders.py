"""Readers for the MovieLens layouts (CSV for now; other layouts to follow)."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.preprocessing import MultiLabelBinarizer

from movierec_env.data.types import RawDataset

#: Name of the dataset shipped inside the package.
EMBEDDED = "ml-latest-small"
NO_GENRES = "(no genres listed)"


def embedded_path(name: str = EMBEDDED) -> Path:
    """Folder of an embedded dataset inside the installed package."""
    return Path(str(resources.files("movierec_env.data") / "embedded" / name))


def resolve_dataset(dataset: str | os.PathLike[str] | None) -> Path:
    """Turn a dataset argument (embedded name, folder path or ``None``) into a folder.

    Raises:
        FileNotFoundError: If it names neither an embedded dataset nor an existing folder.
    """
    if dataset is None or str(dataset) == EMBEDDED:
        return embedded_path()
    path = Path(dataset).expanduser()
    if not path.is_dir():
        raise FileNotFoundError(
            f"dataset {str(dataset)!r} is neither the embedded dataset {EMBEDDED!r} "
            "nor an existing folder"
        )
    return path


def _find(folder: Path, stem: str) -> Path | None:
    for cand in (folder / stem, folder / f"{stem}.gz"):
        if cand.is_file():
            return cand
    return None


def load_raw(dataset: str | os.PathLike[str] | None = None) -> RawDataset:
    """Load a MovieLens dataset, choosing the reader by the files present.

    Args:
        dataset: ``None`` or ``"ml-latest-small"`` for the embedded dataset, or a folder.

    Returns:
        The raw dataset.
    """
    folder = resolve_dataset(dataset)
    movies, ratings = _find(folder, "movies.csv"), _find(folder, "ratings.csv")
    if movies is None or ratings is None:
        raise FileNotFoundError(f"no MovieLens layout recognised in {folder}")
    mdf = pd.read_csv(movies, dtype={"movieId": np.int64, "title": str, "genres": str})
    rdf = pd.read_csv(
        ratings,
        dtype={"userId": np.int64, "movieId": np.int64, "rating": np.float32, "timestamp": np.int64},
    )
    mdf = mdf.sort_values("movieId", kind="stable")
    genre_lists = [
        [g for g in s.split("|") if g and g != NO_GENRES] for s in mdf["genres"].fillna("")
    ]
    mlb = MultiLabelBinarizer()
    genres = mlb.fit_transform(genre_lists).astype(np.uint8)
    name = EMBEDDED if folder == embedded_path() else folder.name
    return RawDataset(
        name=name,
        source=str(folder),
        layout="csv",
        movie_ids=mdf["movieId"].to_numpy(np.int64),
        titles=mdf["title"].to_numpy(object),
        genre_names=[str(g) for g in mlb.classes_],
        genres=genres,
        user_ids=rdf["userId"].to_numpy(np.int64),
        rating_movie_ids=rdf["movieId"].to_numpy(np.int64),
        ratings=rdf["rating"].to_numpy(np.float32),
        timestamps=rdf["timestamp"].to_numpy(np.int64),
        rating_scale=(0.5, 5.0),
    )
