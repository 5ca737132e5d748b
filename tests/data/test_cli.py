"""``movierec data info``: JSON and table output, options, exit codes on bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from experiments.cli import cli, main
from movierec_env.data import PrepareConfig, load_raw, prepare
from tests.data.layouts import RATINGS, ratings_text, write_layout


def _info(*args: str) -> dict:
    result = CliRunner().invoke(cli, ["data", "info", *args, "--json"])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1  # exactly one JSON object
    out: dict = json.loads(lines[0])
    return out


@pytest.mark.parametrize("layout", ["csv", "dat", "100k"])
def test_json_on_each_layout(tmp_path: Path, layout: str) -> None:
    folder = write_layout(tmp_path / layout, layout)
    out = _info(str(folder), "--min-user-ratings", "1", "--min-item-ratings", "1")
    assert out["raw"]["users"] == 3
    assert out["raw"]["movies"] == 4
    assert out["raw"]["ratings"] == len(RATINGS)
    assert out["filtered"] == out["filtered"] | {"users": 3, "movies": 4, "interactions": 8}
    assert out["layout"] == layout
    assert out["filtered"]["sequence_length"] == {
        "min": 2, "median": 3.0, "mean": 2.67, "p90": 3.0, "max": 3,
    }  # fmt: skip
    assert out["filtered"]["split"] == {"train": 4, "val": 2, "test": 2}


def test_thresholds_change_the_filtered_counts(tmp_path: Path) -> None:
    folder = write_layout(tmp_path, "csv")
    out = _info(str(folder), "--min-user-ratings", "3", "--min-item-ratings", "1")
    assert out["filtered"]["users"] == 2  # users 1 and 3 have 3 ratings, user 2 has 2
    assert out["config"] == {"min_user_ratings": 3, "min_item_ratings": 1}


def test_skipped_counts_are_reported(tmp_path: Path) -> None:
    ratings = ratings_text("csv").replace("\n", "\n\n", 1) + "4,99,3.0,1\n"
    folder = write_layout(tmp_path, "csv", ratings=ratings)
    args = [str(folder), "--min-user-ratings", "1", "--min-item-ratings", "1"]
    out = _info(*args, "--unknown-movies", "skip")
    assert out["skipped"] == {
        "blank lines in ratings.csv": 1,
        "ratings of movies missing from movies.csv": 1,
    }
    text = CliRunner().invoke(cli, ["data", "info", *args, "--unknown-movies", "skip"]).output
    assert "blank lines in ratings.csv: 1" in text


@pytest.mark.slow
def test_embedded_dataset_json_and_table() -> None:
    out = _info()
    assert {k: out["raw"][k] for k in ("users", "movies", "ratings")} == {
        "users": 610,
        "movies": 9742,
        "ratings": 100836,
    }
    d = prepare(load_raw(), PrepareConfig())
    assert out["filtered"]["users"] == d.n_users
    assert out["filtered"]["movies"] == d.n_items
    assert out["filtered"]["interactions"] == d.n_interactions
    assert out["fingerprint"] == d.fingerprint
    assert 0.0 < out["filtered"]["sparsity"] < out["raw"]["sparsity"] < 1.0
    result = CliRunner().invoke(cli, ["data", "info"])
    assert result.exit_code == 0
    assert "100,836" in result.output and "filtered 5/5" in result.output
    lines = result.output.splitlines()
    table = lines[2 : lines.index("", 2)]  # header row to the first blank line
    assert table[1].startswith("users") and len(table) > 10
    assert len({len(r) for r in table}) == 1  # aligned columns


def _exit(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as info:
        main(argv)
    code = info.value.code
    return (code if isinstance(code, int) else 1), capsys.readouterr().err


def test_bad_file_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ratings = ratings_text("csv").replace("964981247", "96498x1247")
    folder = write_layout(tmp_path, "csv", ratings=ratings)
    code, err = _exit(["data", "info", str(folder)], capsys)
    assert code == 2
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1
    assert "ratings.csv, line 3" in err and "'96498x1247'" in err


def test_missing_dataset_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _exit(["data", "info", str(tmp_path / "none")], capsys)
    assert code == 2 and "none" in err


def test_empty_after_filtering_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = write_layout(tmp_path, "csv")
    code, err = _exit(["data", "info", str(folder)], capsys)  # 5/5 on 8 ratings
    assert code == 2 and "min_user_ratings" in err and "empty after filtering" in err
