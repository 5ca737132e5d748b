"""A numpy form of :func:`encoders.histories.advance_state` for small batches.

One incremental step of the frozen encoders is a few dozen tiny operations; at a batch of
one, torch's fixed cost per operation (~5-10 us on CPU) makes it about 1 ms, most of a
simulator step. :class:`NumpyAdvance` copies the frozen weights out of the two models once
and runs the same arithmetic (LSTM cell, the content model's decayed sums and MLP, the step
features, the two-segment window logic) on numpy arrays, which costs a fraction of that.

It reads and returns the same :class:`~encoders.histories.EncoderState` (its tensors share
memory with the numpy arrays), so the two paths can be mixed; observations agree with the
torch path to float32 rounding (tests/encoders/test_numpy_advance.py).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from scipy.special import erf

from encoders.content import TimeRatingAwareContentModel
from encoders.histories import EncoderState
from encoders.lstm import TimeRatingAwareLSTM

__all__ = ["NumpyAdvance"]

_YEAR = 365.0 * 24 * 3600
_LOG_YEAR = math.log1p(_YEAR)
_LOG_1000 = math.log1p(1000.0)
_SQRT_HALF = np.float32(1.0 / math.sqrt(2.0))

F32 = NDArray[np.float32]


def _np(t: torch.Tensor) -> F32:
    return np.ascontiguousarray(t.detach().cpu().numpy().astype(np.float32))


def _gelu(x: F32) -> F32:
    """Exact (erf) GELU, as ``torch.nn.functional.gelu``'s default."""
    out: F32 = x * (np.float32(0.5) + np.float32(0.5) * erf(x * _SQRT_HALF))
    return out


class NumpyAdvance:
    """The frozen encoders' incremental step on numpy arrays (see the module docstring).

    Args:
        lstm: The frozen LSTM encoder.
        content: The frozen content encoder.
        window: The window ``W``.
        rating_scale: ``(min, max)`` rating of the dataset.

    Raises:
        TypeError: If the models are not the two encoder types this mirrors.
    """

    def __init__(
        self,
        lstm: Any,
        content: Any,
        window: int,
        rating_scale: tuple[float, float],
    ) -> None:
        if not isinstance(lstm, TimeRatingAwareLSTM) or not isinstance(
            content, TimeRatingAwareContentModel
        ):
            raise TypeError(
                "NumpyAdvance mirrors TimeRatingAwareLSTM and TimeRatingAwareContentModel, got "
                f"{type(lstm).__name__} and {type(content).__name__}"
            )
        self.window = int(window)
        lo, hi = rating_scale
        self._mid = np.float32((lo + hi) / 2.0)
        self._half = np.float32(max((hi - lo) / 2.0, 1e-6))
        cfg = lstm.config
        self._layers, self._hidden = cfg.layers, cfg.hidden
        ccfg = content.config
        self._c_hidden = ccfg.hidden
        self._decays = np.array(ccfg.decays, dtype=np.float32)
        self._norm_den = (1.0 - self._decays)[None, :]
        with torch.no_grad():
            rnn = lstm.rnn
            self._w_ih = [_np(getattr(rnn, f"weight_ih_l{k}").T) for k in range(cfg.layers)]
            self._w_hh = [_np(getattr(rnn, f"weight_hh_l{k}").T) for k in range(cfg.layers)]
            self._b = [
                _np(getattr(rnn, f"bias_ih_l{k}") + getattr(rnn, f"bias_hh_l{k}"))
                for k in range(cfg.layers)
            ]
            self._proj_w = _np(lstm.proj.weight.T)
            self._proj_b = _np(lstm.proj.bias)
            # Everything of a step's first projections that depends on the item only is one
            # row of a table: [LSTM layer-0 gates from the item embedding + both biases,
            # content step pre-activation from E + genre @ P + bias]; the step features'
            # part is one small matmul with the stacked feature weights.
            dim_l, dim_c = lstm.config.dim, content.config.dim
            lstm_part = _np(lstm.item_emb.weight) @ self._w_ih[0][:dim_l] + self._b[0]
            step_w = _np(content.step.weight.T)
            content_part = _np(content.item_matrix()) @ step_w[:dim_c] + _np(content.step.bias)
            self._item_table = np.ascontiguousarray(
                np.concatenate([lstm_part, content_part], axis=1), dtype=np.float32
            )
            self._feat_w = np.ascontiguousarray(
                np.concatenate([self._w_ih[0][dim_l:], step_w[dim_c:]], axis=1)
            )
            self._split = 4 * cfg.hidden
            mlp1, mlp2 = content.mlp[0], content.mlp[2]
            assert isinstance(mlp1, torch.nn.Linear) and isinstance(mlp2, torch.nn.Linear)
            self._mlp1_w = _np(mlp1.weight.T)
            self._mlp1_b = _np(mlp1.bias)
            self._mlp2_w = _np(mlp2.weight.T)
            self._mlp2_b = _np(mlp2.bias)

    def step_features(
        self,
        ratings: F32,
        timestamps: NDArray[np.int64],
        length: NDArray[np.int64],
        last_timestamp: NDArray[np.int64],
    ) -> F32:
        """Step features of the next interaction, as :func:`next_step_features`."""
        b = ratings.shape[0]
        if b == 1:  # one history: the same arithmetic on scalars (numpy's log1p kept)
            return self._step_features_one(ratings, timestamps, length, last_timestamp)
        first = length == 0
        gap = np.maximum((timestamps - last_timestamp).astype(np.float64), 0.0)
        gap[first] = 0.0
        out = np.empty((b, 6), dtype=np.float32)
        out[:, 0] = np.clip((ratings - self._mid) / self._half, -1.0, 1.0)
        out[:, 1] = np.log1p(gap) / _LOG_YEAR
        out[:, 2] = (gap == 0) & ~first
        out[:, 3] = (gap < 3600) & ~first
        out[:, 4] = first
        out[:, 5] = np.log1p(length.astype(np.float64)) / _LOG_1000
        return out

    def _step_features_one(
        self,
        ratings: F32,
        timestamps: NDArray[np.int64],
        length: NDArray[np.int64],
        last_timestamp: NDArray[np.int64],
    ) -> F32:
        """:meth:`step_features` of one history (float32 and float64 steps as there)."""
        first = bool(length[0] == 0)
        gap = 0.0 if first else max(float(timestamps[0] - last_timestamp[0]), 0.0)
        out = np.empty((1, 6), dtype=np.float32)
        x = (ratings[0] - self._mid) / self._half  # float32, as the array form
        out[0, 0] = min(max(x, np.float32(-1.0)), np.float32(1.0))
        out[0, 1] = np.log1p(np.float64(gap)) / _LOG_YEAR
        out[0, 2] = gap == 0 and not first
        out[0, 3] = gap < 3600 and not first
        out[0, 4] = first
        out[0, 5] = np.log1p(np.float64(length[0])) / _LOG_1000
        return out

    def _lstm(self, carry: F32, pre: F32) -> tuple[F32, F32]:
        n_seg, b, _ = carry.shape
        layers, hidden = self._layers, self._hidden
        state = carry.reshape(n_seg, b, 2, layers, hidden)
        new = np.empty((n_seg, b, 2, layers, hidden), dtype=np.float32)
        h: F32 = pre
        for k in range(layers):
            # Contiguous 2-D operands: numpy's matmul falls back to a slow non-BLAS loop on
            # strided views (10x slower at B = 1,024), and loops over a stacked (3-D) one.
            hk = np.ascontiguousarray(state[:, :, 0, k]).reshape(n_seg * b, hidden)
            gates = (hk @ self._w_hh[k]).reshape(n_seg, b, 4 * hidden)
            if k == 0:
                gates += pre
            else:
                gates += (h.reshape(n_seg * b, hidden) @ self._w_ih[k]).reshape(gates.shape)
                gates += self._b[k]
            sig = 1.0 / (1.0 + np.exp(-gates))
            g = np.tanh(gates[..., 2 * hidden : 3 * hidden])
            c = sig[..., hidden : 2 * hidden] * state[:, :, 1, k] + sig[..., :hidden] * g
            h = sig[..., 3 * hidden :] * np.tanh(c)
            new[:, :, 0, k] = h
            new[:, :, 1, k] = c
        z = np.tanh(h[0] @ self._proj_w + self._proj_b)
        return new.reshape(n_seg, b, -1), z

    def _content(self, carry: F32, pre: F32, steps: NDArray[np.int64]) -> tuple[F32, F32]:
        n_seg, b, _ = carry.shape
        n_dec, hidden = self._decays.size, self._c_hidden
        x = _gelu(pre)
        sums = carry.reshape(n_seg, b, n_dec, hidden) * self._decays[:, None]
        sums += x[None, :, None, :]
        norm = (1.0 - self._decays[None, :] ** steps.astype(np.float32)[:, None]) / self._norm_den
        means = sums[0] / norm[:, :, None]  # (B, n_dec, hidden), contiguous
        pooled = np.concatenate([x, means.reshape(b, n_dec * hidden)], axis=1)
        hid = _gelu(pooled @ self._mlp1_w + self._mlp1_b)
        z = np.tanh(hid @ self._mlp2_w + self._mlp2_b)
        return sums.reshape(n_seg, b, n_dec * hidden), z

    def advance(
        self,
        state: EncoderState,
        items: NDArray[np.int64],
        ratings: NDArray[np.float32],
        timestamps: NDArray[np.int64],
        active: NDArray[np.bool_] | None = None,
    ) -> EncoderState:
        """:func:`~encoders.histories.advance_state` of valid ``(B,)`` inputs.

        Inputs are not checked (the caller, a simulator, produces them): items must be in
        ``1..n_items``. Returns a new state; ``state`` is not modified.
        """
        w = self.window
        length = state.length.numpy()
        last_ts = state.last_timestamp.numpy()
        lstm_c = state.lstm.numpy()
        cont_c = state.content.numpy()
        it = np.asarray(items, dtype=np.int64)
        r = np.asarray(ratings, dtype=np.float32)
        ts = np.asarray(timestamps, dtype=np.int64)
        q = length
        on_w = (q % w == 0) & (q >= w)
        feats = self.step_features(r, ts, q, last_ts)
        steps = q + 1 - np.maximum(q // w - 1, 0) * w
        if on_w.any():  # rare: the next segment takes over and a fresh one starts
            swap = (on_w & (q >= 2 * w))[:, None]
            reset = on_w[:, None]
            lstm_c = np.stack(
                [np.where(swap, lstm_c[1], lstm_c[0]), np.where(reset, 0.0, lstm_c[1])]
            ).astype(np.float32, copy=False)
            cont_c = np.stack(
                [np.where(swap, cont_c[1], cont_c[0]), np.where(reset, 0.0, cont_c[1])]
            ).astype(np.float32, copy=False)
        pre = self._item_table[it] + feats @ self._feat_w
        new_l, z_l = self._lstm(lstm_c, pre[:, : self._split])
        new_c, z_c = self._content(cont_c, pre[:, self._split :], steps)
        obs = np.concatenate([z_l, z_c], axis=1).astype(np.float32, copy=False)
        new_len, new_ts = q + 1, ts.copy()
        if active is not None and not active.all():
            a = np.asarray(active, dtype=bool)
            new_len = np.where(a, new_len, length)
            new_ts = np.where(a, new_ts, last_ts)
            new_l = np.where(a[None, :, None], new_l, state.lstm.numpy())
            new_c = np.where(a[None, :, None], new_c, state.content.numpy())
            obs = np.where(a[:, None], obs, state.obs.numpy())
        return EncoderState(
            length=torch.from_numpy(new_len),
            last_timestamp=torch.from_numpy(new_ts),
            lstm=torch.from_numpy(new_l),
            content=torch.from_numpy(new_c),
            obs=torch.from_numpy(obs),
        )
