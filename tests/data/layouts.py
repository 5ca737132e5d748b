"""Tiny hand-made MovieLens datasets in each layout, written to a temporary folder.

The same four movies and eight ratings are written in every layout, so a test can check
that all readers agree. Tests that need bad input write the good files, then edit one.
"""

from __future__ import annotations

import gzip
from pathlib import Path

# movieId, title, genres (file order is deliberately not sorted by id).
MOVIES: list[tuple[int, str, list[str]]] = [
    (1, "Toy Story (1995)", ["Adventure", "Animation", "Comedy"]),
    (5, "2001: A Space Odyssey (1968)", ["Adventure", "Sci-Fi"]),
    (2, "American President, The (1995)", ["Comedy", "Drama", "Romance"]),
    (7, "Untitled (2000)", []),
]

# userId, movieId, rating (whole stars: valid in every layout), timestamp.
RATINGS: list[tuple[int, int, float, int]] = [
    (1, 1, 4.0, 964982703),
    (1, 5, 3.0, 964981247),
    (1, 2, 5.0, 964982224),
    (2, 1, 2.0, 1445714835),
    (2, 7, 1.0, 1445714835),
    (3, 5, 4.0, 1000000000),
    (3, 1, 5.0, 999999999),
    (3, 2, 3.0, 999999999),
]

#: ml-100k's genre list (u.genre), index order.
GENRES_100K = [
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
    "Romance", "Sci-Fi", "Thriller", "War", "Western",
]  # fmt: skip

#: Files of each layout: (movies file, ratings file).
FILES = {"csv": ("movies.csv", "ratings.csv"), "dat": ("movies.dat", "ratings.dat"),
         "100k": ("u.item", "u.data")}  # fmt: skip


def movies_text(layout: str) -> str:
    """The movies file of a layout, as text."""
    if layout == "csv":
        rows = ["movieId,title,genres"]
        for mid, title, genres in MOVIES:
            t = f'"{title}"' if "," in title else title
            rows.append(f"{mid},{t},{'|'.join(genres) or '(no genres listed)'}")
    elif layout == "dat":
        rows = [
            f"{mid}::{title}::{'|'.join(genres) or '(no genres listed)'}"
            for mid, title, genres in MOVIES
        ]
    else:
        rows = []
        for mid, title, genres in MOVIES:
            flags = [
                "1" if g in genres or (g == "unknown" and not genres) else "0" for g in GENRES_100K
            ]
            rows.append(
                f"{mid}|{title}|01-Jan-1995||http://us.imdb.com/M/title-exact?{mid}|"
                + "|".join(flags)
            )
    return "\n".join(rows) + "\n"


def ratings_text(layout: str) -> str:
    """The ratings file of a layout, as text."""
    if layout == "csv":
        rows = ["userId,movieId,rating,timestamp"]
        rows += [f"{u},{m},{r:.1f},{t}" for u, m, r, t in RATINGS]
    elif layout == "dat":
        rows = [f"{u}::{m}::{int(r)}::{t}" for u, m, r, t in RATINGS]
    else:
        rows = [f"{u}\t{m}\t{int(r)}\t{t}" for u, m, r, t in RATINGS]
    return "\n".join(rows) + "\n"


def write_layout(
    folder: Path,
    layout: str,
    *,
    movies: str | None = None,
    ratings: str | None = None,
    encoding: str = "utf-8",
    gz: bool = False,
) -> Path:
    """Write a tiny dataset of ``layout`` into ``folder`` (created) and return it.

    ``movies``/``ratings`` replace the default text of those files.
    """
    folder.mkdir(parents=True, exist_ok=True)
    mname, rname = FILES[layout]
    texts = {
        mname: movies if movies is not None else movies_text(layout),
        rname: ratings if ratings is not None else ratings_text(layout),
    }
    if layout == "100k":
        texts["u.genre"] = "".join(f"{g}|{i}\n" for i, g in enumerate(GENRES_100K)) + "\n"
    for name, text in texts.items():
        data = text.encode(encoding)
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(data))
        else:
            (folder / name).write_bytes(data)
    return folder
