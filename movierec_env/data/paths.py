"""Where a dataset argument points: the embedded dataset or a folder (no pandas needed)."""

from __future__ import annotations

import os
import re
from importlib import resources
from pathlib import Path

from movierec_env.data.errors import DatasetLayoutError

__all__ = ["EMBEDDED", "LAYOUTS", "embedded_path", "resolve_dataset"]

#: Name of the dataset shipped inside the package.
EMBEDDED = "ml-latest-small"

#: Layout name -> (required files, description for messages).
LAYOUTS: dict[str, tuple[tuple[str, ...], str]] = {
    "csv": (
        ("movies.csv", "ratings.csv"),
        "CSV layout: movies.csv + ratings.csv (ml-latest-small, ml-latest, ml-20m/25m/32m)",
    ),
    "dat": (("movies.dat", "ratings.dat"), "'::' layout: movies.dat + ratings.dat (ml-1m, ml-10m)"),
    "100k": (("u.data", "u.item", "u.genre"), "ml-100k layout: u.data + u.item + u.genre"),
}


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
