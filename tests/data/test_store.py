"""The prepared-dataset cache: exact round trip, damaged and stale files, no pandas warm."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import movierec_env.data as data_pkg
from movierec_env.data import PrepareConfig, embedded_path, load_dataset, prepare, store
from movierec_env.data.loaders import load_raw


def _equal(a, b) -> None:
    for f in dataclasses.fields(a):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, np.ndarray):
            assert x.dtype == y.dtype and x.shape == y.shape, f.name
            np.testing.assert_array_equal(x, y, err_msg=f.name)
        else:
            assert x == y and type(x) is type(y), f.name


@pytest.fixture()
def folder(tmp_path, monkeypatch) -> Path:
    """A copy of the embedded dataset, with the cache in a temporary folder."""
    monkeypatch.setenv("MOVIEREC_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "ml"
    out.mkdir()
    for name in ("movies.csv.gz", "ratings.csv.gz"):
        (out / name).write_bytes((embedded_path() / name).read_bytes())
    return out


def _file(folder: Path, cfg: PrepareConfig) -> Path:
    key = store.cache_key(folder, cfg)
    assert key is not None
    return store._path(key)


def test_round_trip_is_exact(folder):
    cfg = PrepareConfig()
    want = prepare(load_raw(folder), cfg)
    assert store.load_prepared(folder, cfg) is None
    store.save_prepared(folder, cfg, want)
    got = store.load_prepared(folder, cfg)
    assert got is not None
    _equal(got, want)
    assert got.item_titles.dtype == object and isinstance(got.item_titles[1], str)
    # Another config is another file.
    assert store.load_prepared(folder, PrepareConfig(min_user_ratings=6)) is None


@pytest.mark.parametrize("damage", ["truncated", "garbage", "edited-array"])
def test_damaged_file_is_ignored_and_rewritten(folder, damage, monkeypatch):
    cfg = PrepareConfig()
    want = prepare(load_raw(folder), cfg)
    store.save_prepared(folder, cfg, want)
    path = _file(folder, cfg)
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[:-5000])
    elif damage == "garbage":
        path.write_bytes(b"not a zip file")
    else:  # a consistent zip whose arrays no longer give the stored fingerprint
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        arrays["items"] = arrays["items"][::-1].copy()
        with open(path, "wb") as fh:
            np.savez(fh, **arrays)
    assert store.load_prepared(folder, cfg) is None
    # An empty per-process memo for this test only: the session's shared datasets (other
    # tests compare them by identity) stay memoised.
    monkeypatch.setattr(data_pkg, "_CACHE", {})
    _equal(load_dataset(folder, cfg), want)  # prepared again and stored whole
    got = store.load_prepared(folder, cfg)
    assert got is not None
    _equal(got, want)
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no temp file


def test_edited_raw_file_is_a_new_key(folder):
    cfg = PrepareConfig()
    store.save_prepared(folder, cfg, prepare(load_raw(folder), cfg))
    before = store.cache_key(folder, cfg)
    ratings = folder / "ratings.csv.gz"
    ratings.write_bytes(ratings.read_bytes() + b"\0")  # any change of content
    assert store.cache_key(folder, cfg) != before
    assert store.load_prepared(folder, cfg) is None
    after = store.cache_key(folder, cfg)
    (folder / "README.txt").write_text("not a raw file")  # other files do not matter
    assert store.cache_key(folder, cfg) == after


def test_cache_off(folder, monkeypatch):
    monkeypatch.setenv("MOVIEREC_DATA_CACHE", "0")
    cfg = PrepareConfig()
    store.save_prepared(folder, cfg, prepare(load_raw(folder), cfg))
    assert not (Path(os.environ["MOVIEREC_CACHE"]) / "prepared").exists()


def test_warm_load_imports_no_pandas(tmp_path):
    code = (
        "import sys\n"
        "from movierec_env.data import load_dataset\n"
        "d = load_dataset()\n"
        "print('pandas' in sys.modules, d.n_interactions)\n"
    )
    env = {**os.environ, "MOVIEREC_CACHE": str(tmp_path)}
    runs = [
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env
        )
        for _ in range(2)
    ]
    for out in runs:
        assert out.returncode == 0, out.stderr[-2000:]
    n = runs[0].stdout.split()[1]
    assert runs[0].stdout.split() == ["True", n]  # read the CSVs
    assert runs[1].stdout.split() == ["False", n]  # read the cache
