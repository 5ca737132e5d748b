"""Write a benchmark's results between its markers in a Markdown page, atomically.

Shared by the benchmark scripts (``bench_env.py``, ``bench_scale.py``,
``bench_encoders.py``): the text between ``start`` and ``end`` is replaced (the block is
appended when the page has none), through a temporary file renamed into place, so an
interrupted run never leaves half a page.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["write_marked_block"]


def write_marked_block(path: Path, start: str, end: str, text: str) -> None:
    """Replace the ``start`` ... ``end`` block of ``path`` with ``text`` (append if absent)."""
    doc = path.read_text() if path.is_file() else ""
    block = f"{start}\n{text}\n{end}"
    if start in doc and end in doc:
        head, rest = doc.split(start, 1)
        doc = head + block + rest.split(end, 1)[1]
    else:
        doc = doc.rstrip("\n") + "\n\n" + block + "\n"
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(doc)
    os.replace(tmp, path)
