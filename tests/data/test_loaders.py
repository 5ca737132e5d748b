"""load_raw(): every layout, harmless variations and every kind of bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from movierec_env.data import EMBEDDED, load_raw
from movierec_env.data.loaders import DataFileError, DatasetLayoutError, detect_layout
from tests.data.layouts import FILES, MOVIES, RATINGS, movies_text, ratings_text, write_layout

LAYOUTS = ["csv", "dat", "100k"]


def _edit(text: str, line: int, new: str | None) -> str:
    """Replace 1-based ``line`` of ``text`` (``None`` deletes it)."""
    lines = text.splitlines()
    if new is None:
        del lines[line - 1]
    else:
        lines[line - 1] = new
    return "\n".join(lines) + "\n"


def _raises(folder: Path, *fragments: str, exc: type[Exception] = DataFileError) -> str:
    with pytest.raises(exc) as info:
        load_raw(folder)
    msg = str(info.value)
    for frag in fragments:
        assert frag in msg, f"{frag!r} not in {msg!r}"
    return msg


# --------------------------------------------------------------------------- layouts


@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_layout_reads_the_same_content(tmp_path: Path, layout: str) -> None:
    raw = load_raw(write_layout(tmp_path / f"ml-{layout}", layout))
    assert raw.layout == layout
    assert raw.name == f"ml-{layout}"
    # Catalogue sorted by id, titles and genres follow their movie.
    assert raw.movie_ids.tolist() == sorted(m for m, _, _ in MOVIES)
    by_id = {m: (t, g) for m, t, g in MOVIES}
    assert raw.titles.tolist() == [by_id[m][0] for m in raw.movie_ids]
    for row, mid in enumerate(raw.movie_ids):
        got = {raw.genre_names[j] for j in np.flatnonzero(raw.genres[row])}
        assert got == set(by_id[int(mid)][1])
    assert raw.genres.dtype == np.uint8
    # Ratings in file order, with their types.
    assert raw.user_ids.tolist() == [u for u, _, _, _ in RATINGS]
    assert raw.rating_movie_ids.tolist() == [m for _, m, _, _ in RATINGS]
    assert raw.ratings.tolist() == [r for _, _, r, _ in RATINGS]
    assert raw.timestamps.tolist() == [t for _, _, _, t in RATINGS]
    assert raw.ratings.dtype == np.float32 and raw.timestamps.dtype == np.int64
    assert (raw.n_users, raw.n_movies, raw.n_ratings) == (3, 4, 8)
    assert raw.rating_scale == ((1.0, 5.0) if layout == "100k" else (0.5, 5.0))


def test_no_genres_is_not_a_genre(tmp_path: Path) -> None:
    raw = load_raw(write_layout(tmp_path, "csv"))
    assert "(no genres listed)" not in raw.genre_names
    assert raw.genres[raw.movie_ids.tolist().index(7)].sum() == 0


def test_100k_unknown_genre_is_no_genre_and_counted(tmp_path: Path) -> None:
    raw = load_raw(write_layout(tmp_path, "100k"))
    assert "unknown" not in raw.genre_names
    assert "Children's" in raw.genre_names
    assert raw.genres[raw.movie_ids.tolist().index(7)].sum() == 0
    assert raw.skipped == {"'unknown' genre flags in u.item (treated as no genre)": 1}


@pytest.mark.parametrize("layout", LAYOUTS)
def test_gzipped_files(tmp_path: Path, layout: str) -> None:
    plain = load_raw(write_layout(tmp_path / "plain", layout))
    packed = load_raw(write_layout(tmp_path / "packed", layout, gz=True))
    assert packed.movie_ids.tolist() == plain.movie_ids.tolist()
    assert packed.ratings.tolist() == plain.ratings.tolist()
    assert packed.titles.tolist() == plain.titles.tolist()


def test_a_file_path_means_its_folder(tmp_path: Path) -> None:
    write_layout(tmp_path / "ml-1m", "dat")
    raw = load_raw(tmp_path / "ml-1m" / "ratings.dat")
    assert raw.name == "ml-1m" and raw.n_ratings == len(RATINGS)


def test_detect_layout_prefers_complete_layout(tmp_path: Path) -> None:
    write_layout(tmp_path, "dat")
    (tmp_path / "tags.dat").write_text("1::1::funny::1\n")
    layout, files = detect_layout(tmp_path)
    assert layout == "dat" and set(files) == {"movies.dat", "ratings.dat"}


# --------------------------------------------------------------------------- harmless


def test_crlf_and_bom(tmp_path: Path) -> None:
    movies = "\ufeff" + movies_text("csv").replace("\n", "\r\n")
    ratings = "\ufeff" + ratings_text("csv").replace("\n", "\r\n")
    raw = load_raw(write_layout(tmp_path, "csv", movies=movies, ratings=ratings))
    assert raw.n_ratings == len(RATINGS) and raw.skipped == {}
    assert raw.titles.tolist()[1] == "American President, The (1995)"
    assert "Romance" in raw.genre_names  # last field: no stray '\r'


@pytest.mark.parametrize("layout", ["dat", "100k"])
def test_crlf_and_bom_headerless(tmp_path: Path, layout: str) -> None:
    movies = "\ufeff" + movies_text(layout).replace("\n", "\r\n")
    ratings = "\ufeff" + ratings_text(layout).replace("\n", "\r\n")
    raw = load_raw(write_layout(tmp_path, layout, movies=movies, ratings=ratings))
    assert raw.movie_ids.tolist() == [1, 2, 5, 7]
    assert raw.user_ids.tolist()[0] == 1
    assert raw.timestamps.tolist() == [t for _, _, _, t in RATINGS]


def test_latin1_titles(tmp_path: Path) -> None:
    movies = movies_text("dat").replace("Untitled (2000)", "Amélie (2001)")
    raw = load_raw(write_layout(tmp_path / "l1", "dat", movies=movies, encoding="latin-1"))
    assert "Amélie (2001)" in raw.titles.tolist()
    raw = load_raw(write_layout(tmp_path / "u8", "dat", movies=movies, encoding="utf-8"))
    assert "Amélie (2001)" in raw.titles.tolist()


def test_dat_title_with_colons(tmp_path: Path) -> None:
    movies = movies_text("dat").replace("Untitled (2000)", "Star Trek: Voyage::Home (1986)")
    raw = load_raw(write_layout(tmp_path, "dat", movies=movies))
    assert "Star Trek: Voyage::Home (1986)" in raw.titles.tolist()


def test_quoted_title_with_quotes_and_commas(tmp_path: Path) -> None:
    movies = movies_text("csv") + '9,"Say ""Hi"", Again (1999)",Comedy\n'
    raw = load_raw(write_layout(tmp_path, "csv", movies=movies))
    assert raw.titles[-1] == 'Say "Hi", Again (1999)'


def test_movies_without_genres(tmp_path: Path) -> None:
    movies = movies_text("csv").replace("(no genres listed)", "")
    raw = load_raw(write_layout(tmp_path, "csv", movies=movies))
    assert raw.genres[-1].sum() == 0


def test_half_star_ratings_and_float_written_integers(tmp_path: Path) -> None:
    ratings = _edit(ratings_text("csv"), 2, "1,1,0.5,964982703.0")
    raw = load_raw(write_layout(tmp_path, "csv", ratings=ratings))
    assert raw.ratings[0] == 0.5 and raw.timestamps[0] == 964982703


@pytest.mark.parametrize("layout", LAYOUTS)
def test_blank_lines_are_skipped_and_counted(tmp_path: Path, layout: str) -> None:
    ratings = ratings_text(layout).replace("\n", "\n\n", 2)
    _, rname = FILES[layout]
    raw = load_raw(write_layout(tmp_path, layout, ratings=ratings))
    assert raw.n_ratings == len(RATINGS)
    assert raw.skipped[f"blank lines in {rname}"] == 2


def test_blank_lines_keep_line_numbers_right(tmp_path: Path) -> None:
    # Line 4 is blank; the bad rating is on line 6 of the file.
    text = ratings_text("csv").splitlines()
    text.insert(3, "")
    text[5] = "2,1,9.0,1445714835"
    ratings = "\n".join(text) + "\n"
    _raises(write_layout(tmp_path, "csv", ratings=ratings), "ratings.csv, line 6", "9")


@pytest.mark.parametrize("eol", ["\n", "\r\n"])
@pytest.mark.parametrize("slow_path", [False, True])
def test_blank_lines_and_later_errors(tmp_path: Path, eol: str, slow_path: bool) -> None:
    # Blank lines on 3 and 6 (and at the end); the out-of-scale rating is on line 9. The
    # slow path is forced by an integral timestamp written as a float ("5.0").
    text = ratings_text("csv").splitlines()
    text.insert(2, "")
    text.insert(5, "")
    text[8] = "3,2,7.5,999999999"
    if slow_path:
        text[1] = "1,1,4.0,964982703.0"
    ratings = eol.join(text) + eol + eol
    folder = write_layout(tmp_path, "csv", ratings=ratings)
    _raises(folder, "ratings.csv, line 9:", "7.5")
    text[8] = "3,2,3.0,999999999"
    text.append("4,99,3.0,1")  # line 12: header, 8 ratings, 2 blank lines before it
    ratings = eol.join(text) + eol + eol
    write_layout(tmp_path, "csv", ratings=ratings)
    _raises(folder, "ratings.csv, line 12:", "unknown movie id 99")
    raw = load_raw(folder, unknown_movies="skip")
    assert raw.skipped["blank lines in ratings.csv"] == 3
    assert raw.n_ratings == len(RATINGS)


def test_unknown_movies_can_be_skipped_and_counted(tmp_path: Path) -> None:
    ratings = ratings_text("csv") + "4,99,3.0,1\n"
    folder = write_layout(tmp_path, "csv", ratings=ratings)
    raw = load_raw(folder, unknown_movies="skip")
    assert raw.n_ratings == len(RATINGS)
    assert raw.skipped == {"ratings of movies missing from movies.csv": 1}
    with pytest.raises(ValueError, match="unknown_movies"):
        load_raw(folder, unknown_movies="drop")


# --------------------------------------------------------------------------- bad input


def test_missing_folder_names_embedded_and_hint(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as info:
        load_raw(tmp_path / "nope")
    assert "nope" in str(info.value) and EMBEDDED in str(info.value)
    with pytest.raises(DatasetLayoutError, match="grouplens"):
        load_raw("ml-1m-not-here")


def test_unknown_layout_lists_files_and_layouts(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hi")
    (tmp_path / "data.json").write_text("{}")
    msg = _raises(tmp_path, "data.json", "notes.txt", exc=DatasetLayoutError)
    for expected in ("movies.csv", "ratings.dat", "u.data"):
        assert expected in msg


def test_unknown_layout_points_to_subfolder(tmp_path: Path) -> None:
    write_layout(tmp_path / "ml-1m", "dat")
    _raises(tmp_path, "did you mean", "ml-1m", exc=DatasetLayoutError)


@pytest.mark.parametrize(
    ("layout", "remove", "missing"),
    [("csv", "movies.csv", "movies.csv"), ("dat", "ratings.dat", "ratings.dat"),
     ("100k", "u.genre", "u.genre")],
)  # fmt: skip
def test_missing_file(tmp_path: Path, layout: str, remove: str, missing: str) -> None:
    write_layout(tmp_path, layout)
    (tmp_path / remove).unlink()
    _raises(tmp_path, f"missing {missing}", exc=FileNotFoundError)


def test_missing_column(tmp_path: Path) -> None:
    ratings = _edit(ratings_text("csv"), 1, "userId,movieId,score,timestamp")
    _raises(write_layout(tmp_path / "r", "csv", ratings=ratings), "ratings.csv", "line 1", "rating")
    movies = _edit(movies_text("csv"), 1, "movieId,name,genres")
    _raises(write_layout(tmp_path / "m", "csv", movies=movies), "movies.csv", "line 1", "title")


def test_headerless_csv_is_explained(tmp_path: Path) -> None:
    ratings = _edit(ratings_text("csv"), 1, None)
    msg = _raises(write_layout(tmp_path, "csv", ratings=ratings), "ratings.csv", "header")
    assert "userId,movieId,rating,timestamp" in msg


@pytest.mark.parametrize(
    ("layout", "line", "bad", "value"),
    [
        ("csv", 4, "1,2,abc,964982224", "'abc'"),
        ("csv", 3, "x1,5,3.0,964981247", "'x1'"),
        ("csv", 5, "2,1,2.0,", "empty timestamp"),
        ("dat", 2, "1::5::three::964981247", "'three'"),
        ("100k", 7, "3\t1\t5\t99x", "'99x'"),
    ],
)
def test_unparsable_numbers(tmp_path: Path, layout: str, line: int, bad: str, value: str) -> None:
    ratings = _edit(ratings_text(layout), line, bad)
    _, rname = FILES[layout]
    _raises(write_layout(tmp_path, layout, ratings=ratings), rname, f"line {line}:", value)


def test_unparsable_movie_id(tmp_path: Path) -> None:
    movies = _edit(movies_text("csv"), 3, "five,Foo (1999),Drama")
    _raises(write_layout(tmp_path, "csv", movies=movies), "movies.csv, line 3", "'five'")


@pytest.mark.parametrize(
    ("layout", "line", "bad", "value", "scale"),
    [
        ("csv", 3, "1,5,5.5,964981247", "5.5", "0.5-5"),
        ("csv", 9, "3,2,0,999999999", "rating 0 ", "0.5-5"),
        ("dat", 1, "1::1::6::964982703", "6", "0.5-5"),
        ("100k", 2, "1\t5\t0.5\t964981247", "0.5", "1-5"),
    ],
)
def test_rating_outside_scale(
    tmp_path: Path, layout: str, line: int, bad: str, value: str, scale: str
) -> None:
    ratings = _edit(ratings_text(layout), line, bad)
    _, rname = FILES[layout]
    _raises(write_layout(tmp_path, layout, ratings=ratings), rname, f"line {line}:", value, scale)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_non_integer_timestamp(tmp_path: Path, layout: str) -> None:
    line = 3 if layout == "csv" else 2
    sep = {"csv": ",", "dat": "::", "100k": "\t"}[layout]
    ratings = _edit(ratings_text(layout), line, sep.join(["1", "5", "3", "964981247.5"]))
    _, rname = FILES[layout]
    _raises(write_layout(tmp_path, layout, ratings=ratings), rname, f"line {line}:", "964981247.5")


def test_non_integer_user_id(tmp_path: Path) -> None:
    ratings = _edit(ratings_text("csv"), 2, "1.5,1,4.0,964982703")
    _raises(write_layout(tmp_path, "csv", ratings=ratings), "line 2:", "user id '1.5'")


@pytest.mark.parametrize("layout", LAYOUTS)
def test_duplicate_movie_ids(tmp_path: Path, layout: str) -> None:
    text = movies_text(layout)
    first = 2 if layout == "csv" else 1  # Toy Story (id 1)
    dup = text.splitlines()[first - 1].replace("Toy Story", "Toy Story Again")
    movies = text + dup + "\n"
    last = len(text.splitlines()) + 1
    mname, _ = FILES[layout]
    _raises(
        write_layout(tmp_path, layout, movies=movies),
        f"{mname}, line {last}:",
        "duplicate movie id 1",
        f"line {first}",
    )


@pytest.mark.parametrize("layout", LAYOUTS)
def test_ratings_of_unknown_movies(tmp_path: Path, layout: str) -> None:
    sep = {"csv": ",", "dat": "::", "100k": "\t"}[layout]
    ratings = ratings_text(layout) + sep.join(["4", "99", "3", "1"]) + "\n"
    n_lines = len(ratings.splitlines())
    mname, rname = FILES[layout]
    _raises(
        write_layout(tmp_path, layout, ratings=ratings),
        f"{rname}, line {n_lines}:",
        "unknown movie id 99",
        mname,
    )


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("which", [0, 1])
def test_empty_files(tmp_path: Path, layout: str, which: int) -> None:
    name = FILES[layout][which]
    kwargs = {"movies": ""} if which == 0 else {"ratings": ""}
    _raises(write_layout(tmp_path, layout, **kwargs), name, "empty")


def test_header_only_files(tmp_path: Path) -> None:
    header = "userId,movieId,rating,timestamp\n"
    _raises(write_layout(tmp_path / "r", "csv", ratings=header), "ratings.csv", "no ratings")
    _raises(
        write_layout(tmp_path / "m", "csv", movies="movieId,title,genres\n"),
        "movies.csv",
        "no movies",
    )


@pytest.mark.parametrize(
    ("layout", "which", "tail"),
    [
        ("csv", 1, "3,5"),
        ("csv", 1, "3,5,4.0"),
        ("csv", 0, "9,Foo (1999)"),
        ("dat", 1, "3::5::4"),
        ("dat", 0, "9::Foo (1999)"),
        ("100k", 1, "3\t5"),
        ("100k", 0, "9|Foo (1999)|01-Jan-1995||http://x|0|1"),
    ],
)
def test_truncated_last_line(tmp_path: Path, layout: str, which: int, tail: str) -> None:
    texts = [movies_text(layout), ratings_text(layout)]
    texts[which] += tail  # no final newline: the download stopped mid-line
    line = len(texts[which].splitlines())
    name = FILES[layout][which]
    folder = write_layout(tmp_path, layout, movies=texts[0], ratings=texts[1])
    _raises(folder, f"{name}, line {line}:", repr(tail), "truncated")


@pytest.mark.parametrize("line", [2, 5])
def test_too_many_fields(tmp_path: Path, line: int) -> None:
    ratings = _edit(ratings_text("csv"), line, "2,1,2.0,1445714835,extra")
    _raises(
        write_layout(tmp_path, "csv", ratings=ratings),
        f"ratings.csv, line {line}:",
        "expected 4 fields, found 5",
        "extra",
    )


def test_dat_wrong_separator(tmp_path: Path) -> None:
    ratings = _edit(ratings_text("dat"), 3, "1:2::5::964982224")
    _raises(write_layout(tmp_path, "dat", ratings=ratings), "ratings.dat, line 3:", "'::'", "1:2")


def test_100k_bad_genre_flag(tmp_path: Path) -> None:
    movies = movies_text("100k").replace("|1|", "|x|", 1)
    _raises(write_layout(tmp_path, "100k", movies=movies), "u.item, line 1:", "'x'")


def test_100k_bad_genre_file(tmp_path: Path) -> None:
    folder = write_layout(tmp_path, "100k")
    (folder / "u.genre").write_text("unknown|0\nAction\n")
    _raises(folder, "u.genre, line 2:", "'Action'")


def test_gzip_errors_name_the_gz_file(tmp_path: Path) -> None:
    ratings = _edit(ratings_text("csv"), 4, "1,2,abc,964982224")
    folder = write_layout(tmp_path, "csv", ratings=ratings, gz=True)
    _raises(folder, "ratings.csv.gz, line 4:", "'abc'")


def test_large_line_numbers_are_exact(tmp_path: Path) -> None:
    # Many rows so that the diagnostic pass works over several chunks.
    import movierec_env.data.loaders as loaders

    rows = ["userId,movieId,rating,timestamp"] + [f"{i % 7 + 1},1,4.0,{i}" for i in range(5000)]
    rows[4321] = "3,1,4.0,12x"
    folder = write_layout(tmp_path, "csv", ratings="\n".join(rows) + "\n")
    old = loaders._CHUNK_ROWS
    loaders._CHUNK_ROWS = 1000
    try:
        _raises(folder, "ratings.csv, line 4322:", "'12x'")
    finally:
        loaders._CHUNK_ROWS = old


@pytest.mark.parametrize("data", [b"not gzip", "truncated"])
def test_broken_gzip(tmp_path: Path, data: bytes | str) -> None:
    folder = write_layout(tmp_path, "csv", gz=True)
    path = folder / "ratings.csv.gz"
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2] if data == "truncated" else data)
    _raises(folder, "ratings.csv.gz", "cannot be read")
    mpath = folder / "movies.csv.gz"
    mpath.write_bytes(mpath.read_bytes()[:-10])
    _raises(folder, "movies.csv.gz", "cannot be read")


@pytest.mark.parametrize("block", [1, 7, 64, 1 << 24])
@pytest.mark.parametrize("eol", ["\n", "\r\n"])
def test_line_scanners_across_blocks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int, eol: str
) -> None:
    import movierec_env.data.loaders as loaders

    lines = ["header", "a,1", "", "bb,22", "", "", "ccc,333", "d"]
    path = tmp_path / "f.csv"
    path.write_bytes(eol.join(lines).encode())
    monkeypatch.setattr(loaders, "_BLOCK", block)
    for k, text in enumerate(lines, start=1):
        assert loaders._line_text(path, k) == text
    assert loaders._blank_line_numbers(path).tolist() == [3, 5, 6]


# --------------------------------------------------------------------------- shipped


def test_embedded_dataset_counts() -> None:
    raw = load_raw()
    assert raw.name == EMBEDDED and raw.layout == "csv"
    assert (raw.n_users, raw.n_movies, raw.n_ratings) == (610, 9742, 100836)
    assert raw.skipped == {}
    assert bool(np.all(np.diff(raw.movie_ids) > 0))
    assert len(raw.genre_names) == 19 and "(no genres listed)" not in raw.genre_names
    assert set(np.unique(raw.ratings).tolist()) <= {x / 2 for x in range(1, 11)}
    assert load_raw(EMBEDDED).n_ratings == raw.n_ratings
