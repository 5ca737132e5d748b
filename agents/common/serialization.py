"""Data-only agent checkpoints: a zip of JSON + tensors, written atomically.

Why not SB3's ``save_to_zip_file``: SB3 stores the algorithm's attributes with cloudpickle,
and loading such a file executes whatever code it names. A checkpoint here holds only:

* ``data.json``: hyperparameters, spaces description, class name, format and package version;
* ``<name>.pt``: state dicts (tensors, numbers, strings) saved with ``torch.save`` and read
  back with ``torch.load(..., weights_only=True)``, which refuses arbitrary objects.

The zip is written to a temporary file in the target folder and moved into place with
``os.replace`` (atomic on POSIX and Windows), so an interrupted save leaves the previous
checkpoint intact.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = ["FORMAT_VERSION", "checkpoint_path", "load_checkpoint", "save_checkpoint"]

#: Version of the checkpoint layout; bump when it changes incompatibly.
FORMAT_VERSION = 1


def checkpoint_path(path: str | os.PathLike[str]) -> Path:
    """``path`` with a ``.zip`` suffix added when it has none (SB3's convention)."""
    p = Path(path)
    return p if p.suffix == ".zip" else p.with_name(p.name + ".zip")


def save_checkpoint(
    path: str | os.PathLike[str], data: dict[str, Any], tensors: dict[str, Any]
) -> Path:
    """Write a checkpoint atomically.

    Args:
        path: Destination (``.zip`` is appended when missing); parent folders are created.
        data: JSON-serialisable description (hyperparameters, spaces, versions).
        tensors: Name -> state dict (or tensor); each becomes ``<name>.pt`` in the zip
            (torch is imported only when there are tensors, so agents without any, the
            baselines, stay torch-free).

    Returns:
        The path written.

    Raises:
        TypeError: If ``data`` is not JSON-serialisable.
    """
    from movierec_env import __version__

    dest = checkpoint_path(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    header = {"format_version": FORMAT_VERSION, "movierec_version": __version__, **data}
    text = json.dumps(header, indent=2, sort_keys=True)  # fails before any file is touched
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_DEFLATED) as zf:
                zf.writestr("data.json", text)
                for name, obj in tensors.items():
                    import torch

                    buf = io.BytesIO()
                    torch.save(obj, buf)
                    zf.writestr(f"{name}.pt", buf.getvalue())
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp_name, dest)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return dest


def load_checkpoint(
    path: str | os.PathLike[str], device: torch.device | str = "cpu"
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read a checkpoint written by :func:`save_checkpoint` without executing code.

    Args:
        path: The checkpoint (``.zip`` is appended when missing and the bare path is absent).
        device: Where tensors are mapped.

    Returns:
        ``(data, tensors)``.

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: If it is not a checkpoint of this format.
    """
    p = Path(path)
    if not p.exists():
        p = checkpoint_path(p)
    if not p.exists():
        raise FileNotFoundError(f"no checkpoint at {path} (nor {checkpoint_path(path)})")
    try:
        with zipfile.ZipFile(p) as zf:
            data = json.loads(zf.read("data.json"))
            names = [name for name in zf.namelist() if name.endswith(".pt")]
            tensors: dict[str, Any] = {}
            if names:
                import torch

                for name in names:
                    tensors[name[: -len(".pt")]] = torch.load(
                        io.BytesIO(zf.read(name)), map_location=device, weights_only=True
                    )
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError) as exc:
        raise ValueError(f"{p} is not a MovieRec agent checkpoint: {exc}") from exc
    version = data.get("format_version")
    if version != FORMAT_VERSION:
        raise ValueError(
            f"{p} has checkpoint format {version!r}; this version reads {FORMAT_VERSION}"
        )
    return data, tensors
