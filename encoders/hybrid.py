"""HybridEncoder: the environment's observation and a blended score linear in it.

See docs/DESIGN.md ("Encoders"). With ``z_l = TimeRatingAwareLSTM`` and ``z_c =
TimeRatingAwareContentModel`` embeddings (both tanh-bounded) and their linear heads
``l = z @ W.T + b``, the blend ``alpha * log_softmax(l_l) + (1 - alpha) * log_softmax(l_c)``
equals, up to a per-row constant that never changes a ranking,

    scores(obs) = obs @ item_matrix().T + item_bias(),   obs = concat(z_l, z_c) in [-1, 1]

with ``item_matrix() = concat(alpha * W_l, (1 - alpha) * W_c)``.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from encoders.content import ContentConfig, TimeRatingAwareContentModel
from encoders.features import step_features
from encoders.lstm import LSTMConfig, TimeRatingAwareLSTM
from encoders.numpy_encoder import (
    FORMAT_VERSION,
    WEIGHTS_FILE,
    NumpyHybridEncoder,
    available_cpus,
    export_weights,
    read_config,
)
from encoders.raw import RawHistoryMixin
from encoders.training import (
    TrainConfig,
    model_scores,
    ranking_metrics,
    target_embeddings,
    train_encoder,
)
from movierec_env.cache import replace_dir
from movierec_env.data.types import PreparedDataset

__all__ = [
    "ALPHA_GRID",
    "CONTENT_TRAIN",
    "FORMAT_VERSION",
    "LSTM_TRAIN",
    "HybridEncoder",
    "train_hybrid",
]

#: Alphas tried on the validation split.
ALPHA_GRID = tuple(round(a, 2) for a in np.linspace(0.0, 1.0, 21))


class HybridEncoder(RawHistoryMixin):
    """Frozen pair of encoders giving bounded observations and blended next-movie scores.

    Args:
        lstm: A trained :class:`TimeRatingAwareLSTM` (frozen here).
        content: A trained :class:`TimeRatingAwareContentModel` (frozen here).
        alpha: Weight of the LSTM in the blend, in [0, 1].
        window: History window ``W`` the encoders were trained with.
        fingerprint: Fingerprint of the prepared dataset they were trained on.
        metrics: Free-form JSON-ready record (validation metrics, training times, ...).

    Raw histories (:meth:`embed`, :meth:`start_states`, :meth:`advance`) need the
    dataset's catalogue and rating scale: :meth:`bind` takes them from the dataset
    (``load(path, data)``, ``train_hybrid`` and ``encoders.default_encoder`` bind).

    Raises:
        ValueError: If ``alpha`` is outside [0, 1] or the encoders disagree on ``n_items``.
    """

    def __init__(
        self,
        lstm: TimeRatingAwareLSTM,
        content: TimeRatingAwareContentModel,
        alpha: float,
        window: int,
        fingerprint: str,
        metrics: dict[str, Any] | None = None,
    ) -> None:
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}")
        if lstm.n_items != content.n_items:
            raise ValueError(
                f"encoders disagree on n_items: lstm {lstm.n_items}, content {content.n_items}"
            )
        self.lstm = lstm.freeze()
        self.content = content.freeze()
        self.alpha = float(alpha)
        self.window = int(window)
        self.fingerprint = fingerprint
        self.metrics: dict[str, Any] = dict(metrics or {})
        self._matrix: NDArray[np.float32] | None = None
        self._bias: NDArray[np.float32] | None = None
        self._item_movie_ids: NDArray[np.int64] | None = None
        self._rating_scale: tuple[float, float] | None = None

    @property
    def n_items(self) -> int:
        """Catalogue size (padding excluded)."""
        return self.lstm.n_items

    @property
    def obs_dim(self) -> int:
        """Observation size ``lstm.dim + content.dim``."""
        return self.lstm.dim + self.content.dim

    def set_alpha(self, alpha: float) -> None:
        """Change the blend weight (clears the cached head)."""
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}")
        self.alpha = float(alpha)
        self._matrix = self._bias = None

    def check_data(self, data: PreparedDataset) -> None:
        """Raise ``ValueError`` unless ``data`` is the dataset the encoders were trained on."""
        if data.fingerprint != self.fingerprint:
            raise ValueError(
                f"encoders were trained on a dataset with fingerprint {self.fingerprint[:16]}..., "
                f"but dataset {data.name!r} has fingerprint {data.fingerprint[:16]}... "
                "(a different dataset or preparation config); train encoders for it with "
                "`movierec train-encoders --data ...` or use encoders.default_encoder(data)"
            )

    def observations(self, data: PreparedDataset) -> NDArray[np.float32]:
        """Observation of every interaction row, shape ``(n_interactions, obs_dim)``.

        Row ``g`` is ``concat(z_lstm, z_content)`` of the history strictly before ``g``
        (its last ``window`` to ``2 * window`` interactions); a user's first row is zeros.
        Computed by the numpy pass (:meth:`to_numpy`), the one every observation table is
        built with, so a table is the same whether or not torch was loaded to build it;
        it agrees with the torch models' own pass (``encoders.training.row_embeddings``)
        to float32 rounding.

        Raises:
            ValueError: If ``data`` is not the dataset the encoders were trained on.
        """
        self.check_data(data)
        return self.to_numpy().observations(data)

    def observation_blocks(
        self, data: PreparedDataset, max_rows: int = 1 << 18
    ) -> Iterator[tuple[int, NDArray[np.float32]]]:
        """:meth:`observations` in consecutive blocks of whole users, in bounded memory.

        Yields ``(first_row, rows)``: the blocks cover rows ``0 .. n_interactions - 1`` in
        order and equal the matching rows of :meth:`observations` (each user's rows are
        computed the same way; float rounding may differ in the last bit with the batch
        composition). A block holds at most ``max_rows`` rows, or one user's rows when that
        user alone has more. ``movierec_env.replay.observation_table`` streams them into
        the cached table, so the ``(n_interactions, obs_dim)`` array is never held twice.

        Raises:
            ValueError: If ``data`` is not the dataset the encoders were trained on, or
                ``max_rows < 1``.
        """
        self.check_data(data)
        return self.to_numpy().observation_blocks(data, max_rows)

    def to_numpy(self) -> NumpyHybridEncoder:
        """The observation pass on a numpy copy of the frozen weights (no torch to run it).

        What ``weights.npz`` of a checkpoint holds (:meth:`save`), in memory: the env's
        cold start reads that file instead and never imports torch.
        """
        return NumpyHybridEncoder(self._numpy_weights(), self._config_record())

    def _numpy_weights(self) -> dict[str, NDArray[np.float32]]:
        return export_weights(self.lstm.state_dict(), self.content.state_dict())

    def _config_record(self) -> dict[str, Any]:
        """What ``config.json`` records of the models (their configs and the blend)."""
        return {
            "format_version": FORMAT_VERSION,
            "alpha": self.alpha,
            "window": self.window,
            "fingerprint": self.fingerprint,
            "lstm": self.lstm.config_dict(),
            "content": self.content.config_dict(),
        }

    def target_observations(
        self, data: PreparedDataset, positions: NDArray[np.integer]
    ) -> NDArray[np.float32]:
        """Observations of some rows only (equal to ``observations(data)[positions]``)."""
        self.check_data(data)
        feats = step_features(data)
        with torch.inference_mode():
            a = target_embeddings(self.lstm, data, positions, self.window, feats)
            b = target_embeddings(self.content, data, positions, self.window, feats)
        return np.concatenate([a, b], axis=1)

    # ------------------------------------------------------------------ raw histories
    def item_matrix(self) -> NDArray[np.float32]:
        """``concat(alpha * W_lstm, (1 - alpha) * W_content)``, shape ``(n_items + 1, obs_dim)``."""
        if self._matrix is None:
            with torch.no_grad():
                wl = self.lstm.item_matrix().numpy()
                wc = self.content.item_matrix().numpy()
            self._matrix = np.concatenate(
                [self.alpha * wl, (1.0 - self.alpha) * wc], axis=1
            ).astype(np.float32)
        return self._matrix

    def item_bias(self) -> NDArray[np.float32]:
        """``alpha * b_lstm + (1 - alpha) * b_content``, shape ``(n_items + 1,)`` (finite)."""
        if self._bias is None:
            with torch.no_grad():
                b = self.alpha * self.lstm.item_bias() + (1 - self.alpha) * self.content.item_bias()
            self._bias = b.numpy().astype(np.float32)
        return self._bias

    def scores(self, obs: NDArray[np.floating] | torch.Tensor) -> NDArray[np.float32]:
        """Blended logits ``obs @ item_matrix().T + item_bias()``; column 0 is ``-inf``.

        Args:
            obs: Observations, shape ``(B, obs_dim)`` or ``(obs_dim,)``.

        Returns:
            Scores, shape ``(B, n_items + 1)`` (``(n_items + 1,)`` for a single observation).
        """
        o = obs.detach().cpu().numpy() if isinstance(obs, torch.Tensor) else np.asarray(obs)
        if o.shape[-1] != self.obs_dim:
            raise ValueError(f"obs must have last dimension {self.obs_dim}, got {o.shape}")
        out = o.astype(np.float32) @ self.item_matrix().T + self.item_bias()
        out[..., 0] = -np.inf
        return out

    # ------------------------------------------------------------------ evaluation
    def component_scores(
        self, data: PreparedDataset, positions: NDArray[np.integer], which: str
    ) -> NDArray[np.float32]:
        """Scores of ``"lstm"``, ``"content"`` or ``"hybrid"`` at target ``positions``."""
        obs = self.target_observations(data, positions)
        dl = self.lstm.dim
        if which == "lstm":
            return model_scores(self.lstm, obs[:, :dl])
        if which == "content":
            return model_scores(self.content, obs[:, dl:])
        if which == "hybrid":
            return self.scores(obs)
        raise ValueError(f"which must be 'lstm', 'content' or 'hybrid', got {which!r}")

    def choose_alpha(self, data: PreparedDataset) -> dict[str, Any]:
        """Set ``alpha`` to the grid value with the best validation NDCG@10.

        Returns:
            ``{"alpha": best, "grid": {alpha: NDCG@10}, "val": metrics at best}``.
        """
        pos = data.target_indices("val")
        obs = self.target_observations(data, pos)
        dl = self.lstm.dim
        sl = model_scores(self.lstm, obs[:, :dl])
        sc = model_scores(self.content, obs[:, dl:])
        sl[:, 0] = sc[:, 0] = 0.0  # padding: avoid 0 * -inf; ranking ignores column 0
        grid: dict[str, float] = {}
        best: tuple[float, float, dict[str, float]] = (-1.0, 0.0, {})
        for a in ALPHA_GRID:
            m = ranking_metrics(data, a * sl + (1 - a) * sc, pos)
            grid[f"{a:.2f}"] = m["NDCG@10"]
            if m["NDCG@10"] > best[0]:
                best = (m["NDCG@10"], a, m)
        self.set_alpha(best[1])
        return {"alpha": best[1], "grid": grid, "val": best[2]}

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the checkpoint directory ``path`` atomically.

        Files: ``config.json`` (configs, alpha, window, fingerprint, metrics),
        ``lstm.pt`` and ``content.pt`` (``state_dict`` tensors) and ``weights.npz`` (the
        same tensors as numpy arrays, read by :class:`~encoders.numpy_encoder.NumpyHybridEncoder`
        without torch). The directory is written
        beside ``path`` under a temporary name and renamed into place, so an interrupted
        save never leaves a half-written checkpoint at ``path``.

        Returns:
            The checkpoint path.
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
        try:
            meta = {
                **self._config_record(),
                "metrics": self.metrics,
                "torch_version": torch.__version__,
                "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            }
            (tmp / "config.json").write_text(json.dumps(meta, indent=2, sort_keys=True))
            torch.save(self.lstm.state_dict(), tmp / "lstm.pt")
            torch.save(self.content.state_dict(), tmp / "content.pt")
            weights: dict[str, Any] = dict(self._numpy_weights())  # the torch-free copy
            np.savez(tmp / WEIGHTS_FILE, allow_pickle=False, **weights)
            replace_dir(tmp, path)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        return path

    @classmethod
    def load(
        cls, path: str | os.PathLike[str], data: PreparedDataset | None = None
    ) -> HybridEncoder:
        """Load a checkpoint written by :meth:`save` (tensors with ``weights_only=True``).

        Args:
            path: Checkpoint directory.
            data: When given, the dataset must be the one the encoders were trained on;
                the encoder is bound to it (:meth:`bind`).

        Raises:
            FileNotFoundError: If ``path`` holds no checkpoint.
            ValueError: If the checkpoint is malformed or ``data``'s fingerprint differs.
        """
        path = Path(path)
        meta = read_config(path)
        lcfg = LSTMConfig(**meta["lstm"])
        ccfg_d = dict(meta["content"])
        ccfg_d["decays"] = tuple(ccfg_d["decays"])
        ccfg = ContentConfig(**ccfg_d)
        lstm = TimeRatingAwareLSTM(lcfg)
        content = TimeRatingAwareContentModel(ccfg)
        for model, name in ((lstm, "lstm.pt"), (content, "content.pt")):
            state = torch.load(path / name, map_location="cpu", weights_only=True)
            model.load_state_dict(state)
        enc = cls(
            lstm, content, meta["alpha"], meta["window"], meta["fingerprint"], meta["metrics"]
        )
        if data is not None:
            enc.bind(data)
        return enc


def train_hybrid(
    data: PreparedDataset,
    seed: int = 0,
    lstm_config: dict[str, Any] | None = None,
    content_config: dict[str, Any] | None = None,
    lstm_train: TrainConfig | None = None,
    content_train: TrainConfig | None = None,
    progress: bool = True,
    parallel: bool | None = None,
) -> HybridEncoder:
    """Train both encoders on ``data``'s training interactions and pick ``alpha``.

    The two trainings are independent; with ``parallel`` they run in two processes (one
    thread each), which on 2 cores halves the wall time. Both paths give the same weights.

    Args:
        data: The dataset.
        seed: Seed of both trainings (overrides the seeds of the train configs).
        lstm_config: Overrides of :class:`LSTMConfig` fields (``n_items`` is set here).
        content_config: Overrides of :class:`ContentConfig` fields.
        lstm_train: Training settings of the LSTM (defaults: :data:`LSTM_TRAIN`).
        content_train: Training settings of the content model (defaults:
            :data:`CONTENT_TRAIN`); its ``window`` must equal the LSTM's.
        progress: Show progress bars.
        parallel: Train the two encoders in two processes; default: when at least two CPUs
            are available.

    Returns:
        The frozen hybrid, with validation metrics and training times in ``metrics``.

    Raises:
        ValueError: If the two windows differ.
    """
    t0 = time.perf_counter()
    lt = replace(lstm_train or LSTM_TRAIN, seed=seed)
    ct = replace(content_train or CONTENT_TRAIN, seed=seed)
    if lt.window != ct.window:
        raise ValueError(f"both encoders need one window, got {lt.window} and {ct.window}")
    if parallel is None:
        parallel = available_cpus() >= 2
    jobs = [
        ("lstm", lstm_config or {}, lt, progress, 0),
        ("content", content_config or {}, ct, progress, 1),
    ]
    if parallel:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=2, mp_context=mp.get_context("spawn")) as pool:
            futures = [pool.submit(_train_one, data, *job) for job in jobs]
            (lstm, rec_l), (content, rec_c) = (f.result() for f in futures)
    else:
        lstm, rec_l = _train_one(data, *jobs[0])
        content, rec_c = _train_one(data, *jobs[1])
    assert isinstance(lstm, TimeRatingAwareLSTM)
    assert isinstance(content, TimeRatingAwareContentModel)
    enc = HybridEncoder(lstm, content, 0.5, lt.window, data.fingerprint).bind(data)
    blend = enc.choose_alpha(data)
    enc.metrics = {
        "dataset": data.name,
        "seed": seed,
        "lstm": {k: v for k, v in rec_l.items() if k != "history"},
        "content": {k: v for k, v in rec_c.items() if k != "history"},
        "hybrid": {"val": blend["val"], "alpha_grid": blend["grid"]},
        "train_seconds": time.perf_counter() - t0,
        "parallel": parallel,
    }
    return enc


def _train_one(
    data: PreparedDataset,
    kind: str,
    overrides: dict[str, Any],
    train: TrainConfig,
    progress: bool,
    position: int,
) -> tuple[TimeRatingAwareLSTM | TimeRatingAwareContentModel, dict[str, Any]]:
    """Build one encoder from ``train.seed`` and train it (runs in a worker process too)."""
    init_rng = torch.Generator().manual_seed(train.seed)
    model: TimeRatingAwareLSTM | TimeRatingAwareContentModel
    if kind == "lstm":
        model = TimeRatingAwareLSTM(LSTMConfig(n_items=data.n_items, **overrides), init_rng)
        desc = "TimeRatingAwareLSTM"
    else:
        cfg = ContentConfig(n_items=data.n_items, n_genres=len(data.genre_names), **overrides)
        model = TimeRatingAwareContentModel(cfg, data.item_genres, init_rng)
        desc = "TimeRatingAwareContentModel"
    with torch.no_grad():  # start from the unigram distribution: fewer epochs to converge
        model.item_bias_param.copy_(torch.from_numpy(np.log1p(data.popularity).astype(np.float32)))
    rec = train_encoder(model, data, train, progress=progress, desc=desc, position=position)
    return model, rec


#: Default training settings (chosen on ml-latest-small validation, docs/encoders.md).
LSTM_TRAIN = TrainConfig(batch_size=16)
CONTENT_TRAIN = TrainConfig(batch_size=16)
