"""A benchmark run's self-contained ``report.html``: one file to open, mail or archive.

It holds the run's results tables (mean ± std over seeds, 95% intervals, paired tests:
the blocks of :func:`experiments.reporting.result_blocks`, the same as ``results.md``),
every plot embedded as a base64 ``data:`` URI, and the run's settings, package version and
git commit (``config.json``). No script, stylesheet, font or image is fetched from anywhere,
so it renders the same offline, from an attachment or from an archive years later.
"""

from __future__ import annotations

import base64
import html
import json
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from experiments.reporting import Block, Table, oracle_mark

__all__ = ["REPORT_NAME", "render_html", "write_html_report"]

#: The report's file name in a run directory.
REPORT_NAME = "report.html"

_CSS = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 78em;
       padding: 0 1em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.8em; }
table { border-collapse: collapse; margin: 0.6em 0 1.2em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right;
         white-space: nowrap; }
th:first-child, td:first-child { text-align: left; }
th { background: #f3f3f3; } tr:nth-child(even) td { background: #fafafa; }
code { font-size: 0.95em; }
figure { margin: 1em 0 2em; } figure img { max-width: 100%; border: 1px solid #eee; }
table.meta td, table.meta th { text-align: left; }
"""

#: Captions of the plots ``write_reports`` makes, by key.
PLOT_CAPTIONS = {
    "bars": "Main metrics per agent (mean ± std over seeds)",
    "reward_terms": "Where each agent's reward comes from (weighted terms)",
    "curves": "Validation learning curves (mean, min-max band over seeds)",
    "return_vs_length": "Mean return against mean episode length per agent",
}


def _inline(text: str) -> str:
    """Escaped text with Markdown's `code` spans as <code>."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text))


def _table(table: Table, css_class: str = "results", code_first: bool = True) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in table.header)
    thead = f"<thead><tr>{head}</tr></thead>" if any(table.header) else ""
    body = []
    for first, *rest in table.rows:
        first_cell = f"<code>{html.escape(first)}</code>" if code_first else html.escape(first)
        first_cell += html.escape(oracle_mark(first)) if code_first else ""
        cells = [f"<td>{first_cell}</td>"]
        cells += [f"<td>{html.escape(c)}</td>" for c in rest]
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f'<table class="{css_class}">{thead}<tbody>{"".join(body)}</tbody></table>'


def _data_uri(path: Path) -> str:
    data = path.read_bytes()
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        raise ValueError(f"{path} is not a PNG image")
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def _meta_rows(config: Mapping[str, Any]) -> list[tuple[str, str]]:
    rows = [
        ("package version", str(config.get("version", "unknown"))),
        ("git commit", str(config.get("git_commit") or "unknown (not a git checkout)")),
    ]
    for key in ("started", "python", "platform"):
        if key in config:
            rows.append((key, str(config[key])))
    return rows


def render_html(
    blocks: Sequence[Block],
    images: Mapping[str, Path],
    config: Mapping[str, Any],
    title: str = "MovieRec benchmark",
) -> str:
    """The report as one HTML string.

    Args:
        blocks: Paragraphs and tables (:func:`experiments.reporting.result_blocks`).
        images: Plot key -> PNG file, embedded in this order (captions: ``PLOT_CAPTIONS``,
            else the key).
        config: The run's ``config.json`` (``settings``, ``version``, ``git_commit``, ...).
        title: Page title and heading.

    Returns:
        A complete HTML5 document that loads nothing from outside itself.

    Raises:
        ValueError: If an image is not a PNG file.
    """
    settings = config.get("settings", {})
    env_id = settings.get("env", "MovieRec-v0")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}: {html.escape(str(env_id))}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}: <code>{html.escape(str(env_id))}</code></h1>",
        '<h2 id="run">Run</h2>',
        _table(Table(("", ""), tuple(_meta_rows(config))), "meta", code_first=False),
        '<h2 id="results">Results</h2>',
    ]
    for block in blocks:
        parts.append(_table(block) if isinstance(block, Table) else f"<p>{_inline(block)}</p>")
    if images:
        parts.append('<h2 id="plots">Plots</h2>')
        for key, path in images.items():
            caption = PLOT_CAPTIONS.get(key, key)
            parts.append(
                f'<figure><img alt="{html.escape(caption)}" src="{_data_uri(Path(path))}">'
                f"<figcaption>{html.escape(caption)}</figcaption></figure>"
            )
    parts.append('<h2 id="settings">Settings</h2>')
    rows = tuple((str(k), json.dumps(v, sort_keys=True)) for k, v in sorted(settings.items()))
    parts.append(_table(Table(("setting", "value"), rows), "meta settings"))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_html_report(
    run_dir: Path,
    blocks: Sequence[Block],
    images: Mapping[str, Path],
    config: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``run_dir/report.html`` atomically (a temporary file, then a rename).

    An interrupted or failing write leaves the previous report as it was. The file gets
    the permissions of any new file (``0o666`` less the umask), since it is meant to be
    shared.

    Args:
        run_dir: The run directory.
        blocks: Paragraphs and tables of the results.
        images: Plot key -> PNG file.
        config: The run's ``config.json`` contents (default: read from ``run_dir``).

    Returns:
        The report's path.
    """
    if config is None:
        cfg_path = run_dir / "config.json"
        config = json.loads(cfg_path.read_text()) if cfg_path.exists() else {}
    text = render_html(blocks, images, config)
    path = run_dir / REPORT_NAME
    fd, tmp = tempfile.mkstemp(dir=run_dir, prefix=f".{REPORT_NAME}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private (0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
