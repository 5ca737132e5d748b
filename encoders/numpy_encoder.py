"""The frozen encoders' full pass over a dataset in numpy: a cold start without torch.

A cold ``gym.make("MovieRec-v0")`` (empty cache) computes the observation table: the
embedding of every interaction's history. :class:`NumpyHybridEncoder` runs that pass on
numpy arrays with the weights read from the checkpoint's ``weights.npz`` (written by
``HybridEncoder.save`` beside the torch ``state_dict`` files), so the env never imports
torch (about 1.6 s of a 3 s cold start) when the table is all it needs. It reads the same
segments as the torch pass (:func:`encoders.features.make_segments`) and runs the same
arithmetic: the LSTM cell, the content model's decayed means and MLP. It is what
``HybridEncoder.observations`` runs, and its rows agree with the torch models' own pass
(``encoders.training.row_embeddings``) to 1e-5 (tests/encoders/test_numpy_encoder.py).

This module imports numpy only (not torch, not scipy): ``import encoders.numpy_encoder``
stays torch-free because the ``encoders`` package loads its other modules lazily.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from encoders.features import make_segments, segment_batch, step_features
from movierec_env.data.types import PreparedDataset

__all__ = [
    "FORMAT_VERSION",
    "WEIGHTS_FILE",
    "NumpyHybridEncoder",
    "available_cpus",
    "erf",
    "export_weights",
    "gelu",
    "read_config",
]

#: The torch-free copy of a checkpoint's weights (``lstm/<key>``, ``content/<key>``).
WEIGHTS_FILE = "weights.npz"
#: Checkpoint format version (``encoders.hybrid`` writes it; bump on an incompatible change).
FORMAT_VERSION = 1

F32 = NDArray[np.float32]

# The rational approximation of erf on [-4, 4] that Eigen and XLA use for float32
# (erf(x) = x P(x^2) / Q(x^2), clamped; |erf(4)| rounds to 1 in float32): measured within
# 4.5e-7 of the float64 erf (tests/encoders/test_numpy_encoder.py), a few float32 ulps.
_ERF_P = tuple(np.float32(c) for c in (
    -2.72614225801306e-10, 2.77068142495902e-08, -2.10102402082508e-06,
    -5.69250639462346e-05, -7.34990630326855e-04, -2.95459980854025e-03,
    -1.60960333262415e-02))  # fmt: skip
_ERF_Q = tuple(np.float32(c) for c in (
    -1.45660718464996e-05, -2.13374055278905e-04, -1.68282697438203e-03,
    -7.37332916720468e-03, -1.42647390514189e-02))  # fmt: skip
_INV_SQRT2 = np.float32(1.0 / np.sqrt(2.0))


def erf(x: NDArray[np.floating]) -> F32:
    """The error function in float32, elementwise (no scipy: see ``_ERF_P``)."""
    u = np.clip(np.asarray(x, dtype=np.float32), -4.0, 4.0)
    u2 = u * u
    p = np.full_like(u2, _ERF_P[0])
    for c in _ERF_P[1:]:
        p *= u2
        p += c
    q = np.full_like(u2, _ERF_Q[0])
    for c in _ERF_Q[1:]:
        q *= u2
        q += c
    p *= u
    p /= q
    np.clip(p, -1.0, 1.0, out=p)  # the rational form overshoots 1 by ulps near |x| = 4
    return p


def gelu(x: F32) -> F32:
    """Exact (erf) GELU, as ``torch.nn.functional.gelu``'s default, in float32."""
    e = erf(x * _INV_SQRT2)
    e += np.float32(1.0)
    e *= np.float32(0.5)
    e *= x
    return e


def read_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A checkpoint directory's ``config.json``, its format version checked (no torch).

    Raises:
        FileNotFoundError: If ``path`` holds no ``config.json``.
        ValueError: If it is not JSON or of another format version.
    """
    cfg_file = Path(path) / "config.json"
    if not cfg_file.is_file():
        raise FileNotFoundError(f"no encoder checkpoint at {path} (missing config.json)")
    try:
        config = json.loads(cfg_file.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{cfg_file}: invalid JSON at line {exc.lineno}: {exc.msg}") from exc
    got = config.get("format_version") if isinstance(config, dict) else None
    if got != FORMAT_VERSION:
        raise ValueError(
            f"{cfg_file}: format_version {got!r} is not supported (expected {FORMAT_VERSION})"
        )
    out: dict[str, Any] = config
    return out


def available_cpus() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _sigmoid(x: F32) -> F32:
    with np.errstate(over="ignore"):  # exp(-x) = inf for x < -88 gives exactly 0
        out: F32 = np.float32(1.0) / (np.float32(1.0) + np.exp(-x))
    return out


class NumpyHybridEncoder:
    """``HybridEncoder``'s observation pass on numpy weights (see the module docstring).

    Args:
        weights: ``lstm/<key>`` and ``content/<key>`` arrays: the two models'
            ``state_dict`` entries (``HybridEncoder.save`` writes them to ``weights.npz``).
        config: The checkpoint's ``config.json`` content (``lstm``, ``content``, ``alpha``,
            ``window``, ``fingerprint``).

    Raises:
        ValueError: If a weight is missing or has the wrong shape for the config.
    """

    def __init__(self, weights: Mapping[str, NDArray[Any]], config: Mapping[str, Any]) -> None:
        lcfg, ccfg = dict(config["lstm"]), dict(config["content"])
        self.window = int(config["window"])
        self.alpha = float(config["alpha"])
        self.fingerprint = str(config["fingerprint"])
        self.layers, self.hidden = int(lcfg["layers"]), int(lcfg["hidden"])
        self.decays = tuple(float(d) for d in ccfg["decays"])
        self.obs_dim = int(lcfg["dim"]) + int(ccfg["dim"])
        n_rows = int(lcfg["n_items"]) + 1
        d_in_l = int(lcfg["dim"]) + int(lcfg["n_features"])
        d_in_c = int(ccfg["dim"]) + int(ccfg["n_features"])
        h, hc = self.hidden, int(ccfg["hidden"])
        shapes = {
            "lstm/item_emb.weight": (n_rows, int(lcfg["dim"])),
            "lstm/proj.weight": (int(lcfg["dim"]), h),
            "lstm/proj.bias": (int(lcfg["dim"]),),
            "content/item_emb.weight": (n_rows, int(ccfg["dim"])),
            "content/genres": (n_rows, int(ccfg["n_genres"])),
            "content/genre_proj.weight": (int(ccfg["dim"]), int(ccfg["n_genres"])),
            "content/step.weight": (hc, d_in_c),
            "content/step.bias": (hc,),
            "content/mlp.0.weight": (hc, (len(self.decays) + 1) * hc),
            "content/mlp.0.bias": (hc,),
            "content/mlp.2.weight": (int(ccfg["dim"]), hc),
            "content/mlp.2.bias": (int(ccfg["dim"]),),
        }
        for k in range(self.layers):
            shapes[f"lstm/rnn.weight_ih_l{k}"] = (4 * h, d_in_l if k == 0 else h)
            shapes[f"lstm/rnn.weight_hh_l{k}"] = (4 * h, h)
            shapes[f"lstm/rnn.bias_ih_l{k}"] = (4 * h,)
            shapes[f"lstm/rnn.bias_hh_l{k}"] = (4 * h,)
        w: dict[str, F32] = {}
        for key, shape in shapes.items():
            if key not in weights:
                raise ValueError(f"encoder weights lack {key!r}")
            arr = np.asarray(weights[key], dtype=np.float32)
            if arr.shape != shape:
                raise ValueError(f"encoder weight {key!r} has shape {arr.shape}, expected {shape}")
            w[key] = arr
        dim_l = int(lcfg["dim"])
        layers = range(self.layers)
        self._w_ih = [np.ascontiguousarray(w[f"lstm/rnn.weight_ih_l{k}"].T) for k in layers]
        self._w_hh = [np.ascontiguousarray(w[f"lstm/rnn.weight_hh_l{k}"].T) for k in layers]
        self._b = [w[f"lstm/rnn.bias_ih_l{k}"] + w[f"lstm/rnn.bias_hh_l{k}"] for k in layers]
        # Item-only part of layer 0's input projection, one row per item (+ both biases).
        self._l_item = w["lstm/item_emb.weight"] @ self._w_ih[0][:dim_l] + self._b[0]
        self._l_feat = np.ascontiguousarray(self._w_ih[0][dim_l:])
        self._proj_w = np.ascontiguousarray(w["lstm/proj.weight"].T)
        self._proj_b = w["lstm/proj.bias"]
        # The content model's item representation E + genre @ P, and its step projection.
        genres = w["content/genres"]
        rep = w["content/item_emb.weight"] + genres @ w["content/genre_proj.weight"].T
        step_w = np.ascontiguousarray(w["content/step.weight"].T)
        dim_c = int(ccfg["dim"])
        self._c_item = rep @ step_w[:dim_c] + w["content/step.bias"]
        self._c_feat = np.ascontiguousarray(step_w[dim_c:])
        self._mlp1_w = np.ascontiguousarray(w["content/mlp.0.weight"].T)
        self._mlp1_b = w["content/mlp.0.bias"]
        self._mlp2_w = np.ascontiguousarray(w["content/mlp.2.weight"].T)
        self._mlp2_b = w["content/mlp.2.bias"]

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike[str]) -> NumpyHybridEncoder:
        """Read a checkpoint's ``config.json`` and ``weights.npz`` (no torch, no pickle).

        Raises:
            FileNotFoundError: If the checkpoint has no ``config.json`` or ``weights.npz``
                (checkpoints saved before the numpy copy existed: load them with
                ``HybridEncoder.load`` and save them again).
            ValueError: If a file is malformed.
        """
        path = Path(path)
        config = read_config(path)
        w_file = path / WEIGHTS_FILE
        if not w_file.is_file():
            raise FileNotFoundError(f"no {WEIGHTS_FILE} in encoder checkpoint {path}")
        try:
            with np.load(w_file, allow_pickle=False) as z:
                weights = {k: z[k] for k in z.files}
        except (OSError, ValueError) as exc:
            raise ValueError(f"{w_file}: not a readable weights file ({exc})") from exc
        try:
            return cls(weights, config)
        except (KeyError, TypeError) as exc:
            raise ValueError(f"{path / 'config.json'}: missing or malformed field {exc}") from exc

    # ------------------------------------------------------------------ the pass
    def check_data(self, data: PreparedDataset) -> None:
        """Raise ``ValueError`` unless ``data`` is the dataset the encoders were trained on."""
        if data.fingerprint != self.fingerprint:
            raise ValueError(
                f"encoders were trained on a dataset with fingerprint {self.fingerprint[:16]}..., "
                f"but dataset {data.name!r} has fingerprint {data.fingerprint[:16]}..."
            )

    def observations(self, data: PreparedDataset) -> F32:
        """Observation of every interaction row, as ``HybridEncoder.observations``."""
        self.check_data(data)
        return self._user_rows(data, 0, data.n_users, step_features(data))

    def observation_blocks(
        self, data: PreparedDataset, max_rows: int = 1 << 18
    ) -> Iterator[tuple[int, F32]]:
        """``(first_row, rows)`` blocks of whole users, as ``HybridEncoder.observation_blocks``.

        Raises:
            ValueError: If ``data`` is not the encoders' dataset, or ``max_rows < 1``.
        """
        self.check_data(data)
        if max_rows < 1:
            raise ValueError(f"max_rows must be >= 1, got {max_rows}")
        return self._blocks(data, int(max_rows))

    def _blocks(self, data: PreparedDataset, max_rows: int) -> Iterator[tuple[int, F32]]:
        feats = step_features(data)
        offsets = data.offsets
        u = 0
        while u < data.n_users:
            end = int(np.searchsorted(offsets, offsets[u] + max_rows, side="right")) - 1
            end = min(max(end, u + 1), data.n_users)
            yield int(offsets[u]), self._user_rows(data, u, end, feats)
            u = end

    def _user_rows(
        self, data: PreparedDataset, first_user: int, end_user: int, feats: F32, batch: int = 512
    ) -> F32:
        """Rows of users ``first_user .. end_user - 1`` (``user_row_embeddings`` of both).

        The two models are independent: on >= 2 CPUs the content model runs in a second
        thread while this one runs the LSTM (numpy's array operations release the GIL),
        as ``HybridEncoder``'s torch pass did. The thread lives for this call only, so a
        process forked later never inherits a pool without its worker.
        """
        lo, hi = int(data.offsets[first_user]), int(data.offsets[end_user])
        ends = data.offsets[first_user + 1 : end_user + 1]
        seg = make_segments(data.offsets[first_user:end_user], ends, self.window)
        out = np.zeros((hi - lo, self.obs_dim), dtype=np.float32)
        user_end = np.repeat(ends, data.lengths[first_user:end_user])
        order = np.argsort(seg.stop - seg.start, kind="stable")  # similar lengths together
        pool = ThreadPoolExecutor(max_workers=1) if available_cpus() >= 2 else None
        try:
            for b in range(0, order.size, batch):
                idx = order[b : b + batch]
                it, ft, _, pos = segment_batch(seg, idx, data.items, feats)
                emit = (pos >= seg.emit_from[idx][:, None]) & (pos >= 0)
                rows = pos[emit] + 1
                keep = rows < user_end[rows - 1 - lo]  # the output after a user's last step
                if pool is not None:
                    fut = pool.submit(self._content, it, ft, emit)
                    z_l, z_c = self._lstm(it, ft, emit), fut.result()
                else:
                    z_l, z_c = self._lstm(it, ft, emit), self._content(it, ft, emit)
                out[rows[keep] - lo, : z_l.shape[1]] = z_l[keep]
                out[rows[keep] - lo, z_l.shape[1] :] = z_c[keep]
        finally:
            if pool is not None:
                pool.shutdown()
        return out

    def _lstm(self, items: NDArray[np.int64], feats: F32, emit: NDArray[np.bool_]) -> F32:
        b, length = items.shape
        hd = self.hidden
        # Time-major inputs of layer 0 (every step's slice contiguous): (L, B, 4H).
        x: F32 = self._l_item[items.T] + feats.transpose(1, 0, 2) @ self._l_feat
        for k in range(self.layers):
            h = np.zeros((b, hd), dtype=np.float32)
            c = np.zeros((b, hd), dtype=np.float32)
            out = np.empty((length, b, hd), dtype=np.float32)
            gates = np.empty((b, 4 * hd), dtype=np.float32)
            for t in range(length):
                np.matmul(h, self._w_hh[k], out=gates)
                gates += x[t]
                sig = _sigmoid(gates)
                c *= sig[:, hd : 2 * hd]
                c += sig[:, :hd] * np.tanh(gates[:, 2 * hd : 3 * hd])
                h = out[t]
                np.tanh(c, out=h)
                h *= sig[:, 3 * hd :]
            if k + 1 < self.layers:
                x = out @ self._w_ih[k + 1] + self._b[k + 1]
        last: F32 = out.transpose(1, 0, 2)[emit]
        z: F32 = np.tanh(last @ self._proj_w + self._proj_b)
        return z

    def _content(self, items: NDArray[np.int64], feats: F32, emit: NDArray[np.bool_]) -> F32:
        b, length = items.shape
        x = gelu(self._c_item[items.T] + feats.transpose(1, 0, 2) @ self._c_feat)  # (L, B, Hc)
        hc = x.shape[2]
        d = np.array(self.decays, dtype=np.float32)[:, None]
        # Decayed sums S_t = d S_{t-1} + x_t per decay, kept for every step: (L, n_dec, B, Hc).
        sums = np.empty((length, d.shape[0], b, hc), dtype=np.float32)
        prev = np.zeros((d.shape[0], b, hc), dtype=np.float32)
        for t in range(length):
            np.multiply(prev, d[:, :, None], out=sums[t])
            sums[t] += x[t]
            prev = sums[t]
        steps = np.arange(1, length + 1, dtype=np.float32)
        norm = (np.float32(1.0) - d ** steps[None, :]) / (np.float32(1.0) - d)  # (n_dec, L)
        tt, bb = np.nonzero(emit.T)  # emitted (step, segment) pairs
        means = sums[tt, :, bb] / norm.T[tt][:, :, None]  # (n_emit, n_dec, Hc)
        pooled = np.concatenate([x[tt, bb], means.reshape(tt.size, -1)], axis=1)
        hid = gelu(pooled @ self._mlp1_w + self._mlp1_b)
        z: F32 = np.tanh(hid @ self._mlp2_w + self._mlp2_b)
        # Back to the segment-major order of ``emit`` (that of the LSTM's rows).
        order = np.argsort(bb * length + tt, kind="stable")
        return z[order]


def export_weights(
    lstm_state: Mapping[str, Any], content_state: Mapping[str, Any]
) -> dict[str, F32]:
    """``weights.npz`` content from the two models' ``state_dict`` (tensors or arrays)."""
    out: dict[str, F32] = {}
    for prefix, state in (("lstm", lstm_state), ("content", content_state)):
        for key, value in state.items():
            arr = value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)
            out[f"{prefix}/{key}"] = np.ascontiguousarray(arr, dtype=np.float32)
    return out
