"""report.html: its content (plain parsing) and that a real browser renders it (Chromium)."""

from __future__ import annotations

import base64
import os
import re
import shutil
import stat
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from experiments import html_report, reporting
from tests.experiments.test_reporting import _row

CONFIG = {
    "settings": {"env": "MovieRec-v0", "seeds": 2, "agents": ["dqn", "random"], "quick": True},
    "version": "9.8.7",
    "git_commit": "0123456789abcdef0123456789abcdef01234567",
    "python": "3.11.7",
}


class _Page(HTMLParser):
    """Collects the tables (as rows of cell texts), images and external references."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self.images: list[str] = []
        self.external: list[str] = []
        self._cell: list[str] | None = None
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "img":
            self.images.append(a.get("src") or "")
        for key in ("src", "href"):
            if a.get(key) and not a[key].startswith("data:"):
                self.external.append(a[key])
        if tag in ("script", "link", "iframe"):
            self.external.append(tag)

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data):
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)


@pytest.fixture()
def run_dir(tmp_path: Path) -> tuple[Path, list[reporting.Block], dict[str, Path]]:
    per_seed = {
        "dqn": {0: _row(0.3, [1, 2, 30], [0.3, 0.3, 0.3]), 1: _row(0.28, [1, 2, 30], [0.3] * 3)},
        "random": {0: _row(0.1, [90, 80, 70], [0.1] * 3), 1: _row(0.1, [90, 80, 7], [0.1] * 3)},
    }
    results = reporting.aggregate(per_seed)
    blocks = reporting.result_blocks(results, per_seed, reference="dqn")
    w = {"hit": 0.4, "genre": 0.3, "rating": 0.3}
    images = {
        "bars": reporting.plot_bars(results, tmp_path / "metrics.png"),
        "reward_terms": reporting.plot_reward_terms(results, w, tmp_path / "reward_terms.png"),
        "curves": reporting.plot_learning_curves(
            {"dqn": [{"steps": [0, 10], "mean_reward": [0.1, 0.2], "HR@10": [0.0, 0.1]}] * 2},
            tmp_path / "learning_curves.png",
        ),
    }
    return tmp_path, blocks, images


def test_report_holds_the_tables_plots_and_run_settings(run_dir):
    path_dir, blocks, images = run_dir
    old_umask = os.umask(0o022)
    try:
        path = html_report.write_html_report(path_dir, blocks, images, CONFIG)
    finally:
        os.umask(old_umask)
    assert path == path_dir / "report.html"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # readable by others, to be shared
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    # Nothing is fetched from outside the file.
    assert page.external == []
    # Every plot is embedded, byte for byte.
    assert len(page.images) == 3
    for src, png in zip(page.images, images.values(), strict=True):
        prefix = "data:image/png;base64,"
        assert src.startswith(prefix)
        assert base64.b64decode(src[len(prefix) :]) == png.read_bytes()
    # Run table, the three result tables of results.md (same cells), settings table.
    results_tables = [b for b in blocks if isinstance(b, reporting.Table)]
    assert len(page.tables) == 1 + len(results_tables) + 1 == 5
    for table, block in zip(page.tables[1:4], results_tables, strict=True):
        assert tuple(table[0]) == block.header
        assert [tuple(r) for r in table[1:]] == [tuple(r) for r in block.rows]
    main, ci, paired = page.tables[1:4]
    assert [r[0] for r in main[1:]] == ["dqn", "random"]  # sorted by mean reward
    assert main[1][1] == "2" and "±" in main[1][main[0].index("mean_reward")]
    assert ci[0] == ["agent", "HR@10", "NDCG@10", "mean_reward"]
    assert paired[1][0] == "random" and paired[1][1] == "-0.2000"  # per-user rewards 0.1 vs 0.3
    text = "".join(page.text)
    assert "Paired tests against dqn" in text and "95% confidence intervals" in text
    meta = dict(tuple(r) for r in page.tables[0])
    assert meta["package version"] == "9.8.7" and meta["git commit"] == CONFIG["git_commit"]
    settings = dict(tuple(r) for r in page.tables[-1][1:])
    assert settings["seeds"] == "2" and settings["agents"] == '["dqn", "random"]'


def test_text_is_escaped():
    blocks = ["a <b> & `c<d>`", reporting.Table(("agent", "x"), (("<x>", "1 & 2"),))]
    text = html_report.render_html(blocks, {}, {"settings": {"env": "<e>"}})
    assert "<b>" not in text and "&lt;b&gt; &amp; <code>c&lt;d&gt;</code>" in text
    assert "<td><code>&lt;x&gt;</code></td><td>1 &amp; 2</td>" in text
    assert "<e>" not in text and "unknown (not a git checkout)" in text


def test_a_failed_write_keeps_the_previous_report(run_dir, monkeypatch):
    path_dir, blocks, images = run_dir
    path = html_report.write_html_report(path_dir, blocks, images, CONFIG)
    before = path.read_bytes()

    def boom(*_a, **_k):
        raise OSError("disk full")

    monkeypatch.setattr(html_report.os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        html_report.write_html_report(path_dir, blocks[:1], {}, CONFIG)
    assert path.read_bytes() == before
    assert not list(path_dir.glob(".report.html.*"))  # no temporary file left behind


def test_a_non_png_plot_is_a_clear_error(run_dir):
    path_dir, blocks, _ = run_dir
    bad = path_dir / "plot.png"
    bad.write_text("not an image")
    with pytest.raises(ValueError, match=r"plot\.png is not a PNG"):
        html_report.write_html_report(path_dir, blocks, {"bars": bad}, CONFIG)
    assert not (path_dir / "report.html").exists()


_CHROMIUM = next(
    (
        shutil.which(n)
        for n in ("chromium", "chromium-browser", "google-chrome", "chrome")
        if shutil.which(n)
    ),
    None,
)

#: Run after load: how many images decoded and how many tables rendered with rows.
_PROBE = """<script>
window.addEventListener("load", () => {
  const imgs = Array.from(document.images);
  const ok = imgs.filter((i) => i.complete && i.naturalWidth > 0).length;
  const tables = Array.from(document.querySelectorAll("table"));
  const rendered = tables.filter((t) => t.getBoundingClientRect().height > 0).length;
  document.body.setAttribute("data-probe", `images ${ok}/${imgs.length} tables ${rendered}`);
});
</script>"""


@pytest.mark.skipif(
    _CHROMIUM is None,
    reason="no chromium binary on PATH (Debian: apt-get install chromium; .ci/run installs it)",
)
def test_report_renders_in_headless_chromium(run_dir, tmp_path):
    path_dir, blocks, images = run_dir
    path = html_report.write_html_report(path_dir, blocks, images, CONFIG)
    # The probe goes into a copy: the report itself carries no script.
    probed = tmp_path / "probed.html"
    probed.write_text(path.read_text().replace("</body>", _PROBE + "</body>"))
    cmd = [
        str(_CHROMIUM),
        "--headless",
        "--no-sandbox",  # CI runs as root
        "--disable-gpu",
        "--disable-dev-shm-usage",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--virtual-time-budget=10000",
        "--dump-dom",
        probed.as_uri(),
    ]
    env = {**os.environ, "HOME": str(tmp_path)}
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    m = re.search(r'data-probe="([^"]*)"', out.stdout)
    assert m is not None, f"probe did not run; chromium said: {out.stderr[-2000:]}"
    assert m.group(1) == "images 3/3 tables 5"
