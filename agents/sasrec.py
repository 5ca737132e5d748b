"""SASRec: a causal self-attention next-movie ranker, the project's reference baseline.

Kang & McAuley, "Self-Attentive Sequential Recommendation" (ICDM 2018), trained the way
Klenitskiy & Vasilev ("Turning Dross Into Gold Loss: is BERT4Rec really better than
SASRec?", RecSys 2023) found strongest under full ranking: **full softmax cross-entropy
over the whole catalogue at every position** of the training sequences, instead of the
original one-negative binary cross-entropy (on ML-1M: HR@10 0.315 vs 0.250,
/work/shared/NOTES.md).

It is a *reference ranker*: a next-movie model that the encoders (whose embeddings are
the observation) and the agents are measured against, never the observation itself.

Model (defaults from the two papers, scaled to ml-latest-small): item embeddings (item 0
is padding) times ``sqrt(dim)`` plus learned positional embeddings over a left-padded
window of the last ``max_len`` items (the newest item always sits at position
``max_len - 1``), dropout, ``n_blocks`` pre-LayerNorm transformer blocks (causal
multi-head self-attention, a position-wise GELU feed-forward of width ``dim``, residuals
and dropout), a final LayerNorm, and a head tied to the item embeddings:
``logits = h @ E[1:].T``.

Training (:func:`train_sasrec`) reads TRAINING interactions only (PROTOCOL.md): each
user's training sequence is cut, from its end, into windows of at most ``max_len`` inputs
whose shifted-by-one targets are still training interactions, so every training
interaction after a user's first is a target exactly once per epoch. AdamW with the
project's cosine schedule (:func:`encoders.optim.make_optimizer`), gradient clipping at
5, early stopping on the validation targets' NDCG@10 (PROTOCOL.md metrics) with the best
weights restored. Every random draw comes from generators the trainer owns, seeded with
``seed`` (initial weights and dropout masks: ``torch.Generator``; batch order:
``numpy.random.default_rng``); torch's global generator is never read.

Scoring a position ``g`` reads ``items[offsets[u]:g]`` only (its last ``max_len``), so a
target is never seen when it is scored.

:class:`SASRecAgent` wraps it in the agent API of the baselines
(:class:`agents.baselines.BaselineAgent`: ``predict``, ``action_scores``, masks, candidate
mode), with ``learn`` training the model and a data-only ``save``/``load``
(:mod:`agents.common.serialization`).
"""

from __future__ import annotations

import copy
import math
import os
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor, nn
from torch.nn import functional as F

from agents.baselines import BaselineAgent, Info, _as_positions, _recent_items
from encoders.base import Dropout, dropout_generator, init_parameters, isolated_rng
from encoders.optim import make_optimizer
from movierec_env.data.types import PreparedDataset
from movierec_env.metrics import history_mask, metrics_from_ranks, ranks_from_scores

__all__ = [
    "SASRecAgent",
    "SASRecConfig",
    "SASRecModel",
    "history_windows",
    "sasrec_scores",
    "train_sasrec",
    "training_windows",
]


@dataclass(frozen=True)
class SASRecConfig:
    """Settings of :class:`SASRecModel` and :func:`train_sasrec`.

    The defaults were chosen on the validation split of ml-latest-small (docs/agents.md,
    "SASRec"); ``max_len``, ``n_blocks``, ``dim`` follow Klenitskiy & Vasilev's ML-1M
    setting (200, 2, 64).

    Attributes:
        max_len: Most recent items the model reads (the positional window).
        dim: Hidden size (embeddings, attention, feed-forward).
        n_blocks: Transformer blocks.
        n_heads: Attention heads (must divide ``dim``).
        dropout: Dropout on the embeddings, the attention weights and each sub-layer's
            output, in ``[0, 1)``.
        lr: AdamW learning rate (cosine-annealed to 10% over ``epochs``).
        weight_decay: AdamW (decoupled) weight decay.
        batch_size: Training windows per gradient step.
        epochs: Maximum epochs.
        patience: Stop after this many epochs without a better validation NDCG@10 and
            restore the best weights; ``None``: no early stopping (train every epoch,
            keep the last weights; the validation targets are then never read).
        threads: ``torch.set_num_threads`` while training and scoring (1 is fastest on
            the project's 2-core machines).
    """

    max_len: int = 200
    dim: int = 64
    n_blocks: int = 2
    n_heads: int = 1
    dropout: float = 0.2
    lr: float = 3e-3
    weight_decay: float = 0.0
    batch_size: int = 16
    epochs: int = 15
    patience: int | None = 3
    threads: int = 1

    def __post_init__(self) -> None:
        """Reject settings that cannot train, naming the value."""
        positive = ("max_len", "dim", "n_blocks", "n_heads", "batch_size", "epochs", "threads")
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"SASRecConfig.{name} must be an int >= 1, got {value!r}")
        if self.dim % self.n_heads:
            raise ValueError(f"SASRecConfig.n_heads ({self.n_heads}) must divide dim ({self.dim})")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"SASRecConfig.dropout must be in [0, 1), got {self.dropout!r}")
        if not self.lr > 0:
            raise ValueError(f"SASRecConfig.lr must be > 0, got {self.lr!r}")
        if self.weight_decay < 0:
            raise ValueError(f"SASRecConfig.weight_decay must be >= 0, got {self.weight_decay!r}")
        if self.patience is not None and (not isinstance(self.patience, int) or self.patience < 1):
            raise ValueError(
                f"SASRecConfig.patience must be an int >= 1 or None, got {self.patience!r}"
            )

    @classmethod
    def from_kwargs(cls, **kwargs: Any) -> SASRecConfig:
        """Build from keyword arguments, naming any unknown one.

        Raises:
            TypeError: If a keyword is not a field (the message lists the fields).
            ValueError: If a value is out of range.
        """
        names = [f.name for f in fields(cls)]
        unknown = sorted(set(kwargs) - set(names))
        if unknown:
            raise TypeError(
                f"unknown SASRec setting(s) {', '.join(unknown)}; choose from {', '.join(names)}"
            )
        return cls(**kwargs)


# --------------------------------------------------------------------------- the model
class _Block(nn.Module):
    """Pre-LayerNorm transformer block: causal self-attention, then a feed-forward."""

    def __init__(self, dim: int, n_heads: int, dropout: float) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.ln_attn = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        self.attn_drop = Dropout(dropout)
        self.drop_attn = Dropout(dropout)
        self.ln_ff = nn.LayerNorm(dim)
        self.ff1 = nn.Linear(dim, dim)
        self.ff2 = nn.Linear(dim, dim)
        self.drop_ff = Dropout(dropout)

    def forward(self, x: Tensor, allowed: Tensor) -> Tensor:
        """``x`` ``(B, T, dim)``; ``allowed`` ``(B, 1, T, T)`` bool (query may see key)."""
        b, t, d = x.shape
        h = self.n_heads
        q, k, v = self.qkv(self.ln_attn(x)).split(d, dim=-1)
        q, k, v = (y.view(b, t, h, d // h).transpose(1, 2) for y in (q, k, v))
        att = (q @ k.transpose(-2, -1)) / math.sqrt(d // h)
        att = self.attn_drop(torch.softmax(att.masked_fill(~allowed, float("-inf")), dim=-1))
        y = (att @ v).transpose(1, 2).reshape(b, t, d)
        x = x + self.drop_attn(self.out(y))
        return x + self.drop_ff(self.ff2(F.gelu(self.ff1(self.ln_ff(x)))))


class SASRecModel(nn.Module):
    """Causal self-attention over a left-padded window of item ids (item 0 is padding).

    Args:
        n_items: Catalogue size (items ``1..n_items``).
        config: Architecture settings (``max_len``, ``dim``, ``n_blocks``, ``n_heads``,
            ``dropout``).
        generator: Where the initial weights are drawn from (torch's global generator is
            left untouched either way).
    """

    def __init__(
        self, n_items: int, config: SASRecConfig, generator: torch.Generator | None = None
    ) -> None:
        super().__init__()
        if n_items < 1:
            raise ValueError(f"n_items must be >= 1, got {n_items}")
        self.n_items = int(n_items)
        self.config = config
        d = config.dim
        with isolated_rng():
            self.item_emb = nn.Embedding(n_items + 1, d, padding_idx=0)
            self.pos_emb = nn.Embedding(config.max_len, d)
            self.emb_drop = Dropout(config.dropout)
            self.blocks = nn.ModuleList(
                _Block(d, config.n_heads, config.dropout) for _ in range(config.n_blocks)
            )
            self.ln = nn.LayerNorm(d)
        gen = generator if generator is not None else torch.Generator().manual_seed(0)
        init_parameters(self, gen)
        with torch.no_grad():
            # Small embeddings (as SASRec implementations do): the tied head starts near
            # uniform, and padding stays exactly zero.
            self.item_emb.weight.normal_(0.0, 0.02, generator=gen)
            self.item_emb.weight[0].zero_()
            self.pos_emb.weight.normal_(0.0, 0.02, generator=gen)

    def forward(self, items: Tensor) -> Tensor:
        """Hidden states ``(B, T, dim)`` of left-padded windows ``items`` ``(B, T)``, T <= max_len.

        Position ``t`` sees items ``<= t`` of its row only (causal), and never padding
        (a padding query sees only itself, so no row is empty).
        """
        t = items.shape[1]
        if t > self.config.max_len:
            raise ValueError(f"windows of {t} items exceed max_len={self.config.max_len}")
        pos = torch.arange(self.config.max_len - t, self.config.max_len)
        x = self.item_emb(items) * math.sqrt(self.config.dim) + self.pos_emb(pos)[None]
        real = items > 0
        x = self.emb_drop(x) * real[..., None]
        causal = torch.ones(t, t, dtype=torch.bool).tril()
        allowed = causal[None] & (real[:, None, :] | torch.eye(t, dtype=torch.bool)[None])
        allowed = allowed[:, None]
        for block in self.blocks:
            x = block(x, allowed) * real[..., None]
        out: Tensor = self.ln(x)
        return out

    def logits(self, hidden: Tensor) -> Tensor:
        """Scores of items ``1..n_items`` (no padding column): ``hidden @ E[1:].T``."""
        return hidden @ self.item_emb.weight[1:].T


# --------------------------------------------------------------------------- data
def training_windows(data: PreparedDataset, max_len: int) -> tuple[NDArray[np.int64], ...]:
    """Input windows of every user's TRAINING sequence: ``(starts, stops)`` absolute indices.

    A window's inputs are ``items[start:stop]`` and its targets ``items[start+1:stop+1]``;
    ``stop + 1 <= train_end[u]``, so every target is a training interaction. Windows are
    cut from the end of the sequence with stride ``max_len`` (no target appears twice).
    """
    starts: list[NDArray[np.int64]] = []
    stops: list[NDArray[np.int64]] = []
    first = data.offsets[:-1]
    last_input = data.train_end - 1  # exclusive end of the inputs
    for o, e in zip(first.tolist(), last_input.tolist(), strict=True):
        if e <= o:
            continue
        ends = np.arange(e, o, -max_len, dtype=np.int64)
        stops.append(ends)
        starts.append(np.maximum(ends - max_len, o))
    if not stops:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    return np.concatenate(starts), np.concatenate(stops)


def _left_pad(
    items: NDArray[np.int64], starts: NDArray[np.int64], stops: NDArray[np.int64]
) -> NDArray[np.int64]:
    """``items[starts[b]:stops[b]]`` per row, left-padded with 0 to the longest row."""
    lens = stops - starts
    t = max(int(lens.max()) if lens.size else 0, 1)
    out = np.zeros((lens.size, t), dtype=np.int64)
    for row, (s, e) in enumerate(zip(starts.tolist(), stops.tolist(), strict=True)):
        if e > s:
            out[row, t - (e - s) :] = items[s:e]
    return out


def history_windows(
    data: PreparedDataset, positions: NDArray[np.integer], max_len: int
) -> NDArray[np.int64]:
    """The last ``max_len`` items strictly before each position, left-padded ``(B, T)``."""
    pos = np.asarray(positions, dtype=np.int64)
    if pos.size and (pos.min() < 0 or pos.max() >= data.n_interactions):
        raise ValueError(
            f"positions must be interaction indices in [0, {data.n_interactions}), got "
            f"{int(pos.min())}..{int(pos.max())}"
        )
    user = np.searchsorted(data.offsets, pos, side="right") - 1
    return _left_pad(data.items, np.maximum(data.offsets[user], pos - max_len), pos)


def _compact(recent: NDArray[np.int64], max_len: int) -> NDArray[np.int64]:
    """Rows of items with 0 as padding anywhere -> left-padded rows of their last items."""
    rows = [r[r > 0][-max_len:] for r in np.asarray(recent, dtype=np.int64)]
    t = max(max((len(r) for r in rows), default=0), 1)
    out = np.zeros((len(rows), t), dtype=np.int64)
    for i, r in enumerate(rows):
        if len(r):
            out[i, t - len(r) :] = r
    return out


@torch.no_grad()
def _window_scores(
    model: SASRecModel, windows: NDArray[np.int64], batch_size: int = 256
) -> NDArray[np.float32]:
    """Next-item logits ``(B, n_items + 1)`` after each left-padded window; column 0 ``-inf``."""
    was_training = model.training
    model.eval()
    out = np.empty((windows.shape[0], model.n_items + 1), dtype=np.float32)
    out[:, 0] = -np.inf
    for b in range(0, windows.shape[0], batch_size):
        w = windows[b : b + batch_size]
        # Trim columns that are padding in every row of this batch.
        keep = int((w > 0).any(axis=0).argmax()) if (w > 0).any() else w.shape[1] - 1
        h = model(torch.from_numpy(np.ascontiguousarray(w[:, keep:])))[:, -1]
        out[b : b + w.shape[0], 1:] = model.logits(h).numpy()
    model.train(was_training)
    return out


def sasrec_scores(
    model: SASRecModel, data: PreparedDataset, positions: NDArray[np.integer]
) -> NDArray[np.float32]:
    """Scores ``(B, n_items + 1)`` of every item at each position (column 0 ``-inf``).

    Reads ``items[offsets[u]:g]`` (its last ``max_len``) for position ``g`` of user ``u``:
    nothing at or after the target. The scorer shape of ``movierec evaluate``.
    """
    return _window_scores(model, history_windows(data, positions, model.config.max_len))


def _val_metrics(model: SASRecModel, data: PreparedDataset) -> dict[str, float]:
    pos = data.target_indices("val")
    scores = sasrec_scores(model, data, pos)
    return metrics_from_ranks(ranks_from_scores(scores, data.items[pos], history_mask(data, pos)))


# --------------------------------------------------------------------------- training
def train_sasrec(
    data: PreparedDataset,
    config: SASRecConfig | None = None,
    seed: int = 0,
    progress: bool = False,
) -> tuple[SASRecModel, dict[str, Any]]:
    """Train a SASRec on ``data``'s training interactions (full softmax cross-entropy).

    Args:
        data: The prepared dataset; only training interactions are inputs or targets, the
            validation targets drive early stopping (unless ``config.patience`` is None).
        config: Settings (default :class:`SASRecConfig`).
        seed: Seed of the initial weights, the dropout masks and the batch order.
        progress: Show a tqdm bar over batches.

    Returns:
        ``(model, record)``: the model in eval mode with the best weights, and a JSON-ready
        record (config, seed, best epoch, epochs run, validation metrics, per-epoch loss,
        validation NDCG@10 and seconds, training seconds).

    Raises:
        ValueError: If there is nothing to train on, or no validation target for early
            stopping.
    """
    cfg = config if config is not None else SASRecConfig()
    starts, stops = training_windows(data, cfg.max_len)
    if starts.size == 0:
        raise ValueError(f"dataset {data.name!r} has no training targets to train SASRec on")
    if cfg.patience is not None and data.target_indices("val").size == 0:
        raise ValueError(
            f"dataset {data.name!r} has no validation targets for early stopping "
            "(use patience=None)"
        )
    threads_before = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    try:
        model = SASRecModel(data.n_items, cfg, torch.Generator().manual_seed(seed))
        with dropout_generator(model, torch.Generator().manual_seed(seed + 1)):
            record = _train(model, data, cfg, seed, starts, stops, progress)
    finally:
        torch.set_num_threads(threads_before)
    return model, record


def _train(
    model: SASRecModel,
    data: PreparedDataset,
    cfg: SASRecConfig,
    seed: int,
    starts: NDArray[np.int64],
    stops: NDArray[np.int64],
    progress: bool,
) -> dict[str, Any]:
    from tqdm.auto import tqdm

    t0, c0 = time.perf_counter(), time.process_time()
    rng = np.random.default_rng(seed)
    opt, sched = make_optimizer(model.parameters(), cfg.lr, cfg.weight_decay, cfg.epochs)
    n_batches = -(-starts.size // cfg.batch_size)
    bar = tqdm(total=cfg.epochs * n_batches, desc="sasrec", disable=not progress, unit="batch")
    best_ndcg, best_epoch = -1.0, 0
    best_state = copy.deepcopy(model.state_dict())
    history: list[dict[str, float]] = []
    for epoch in range(1, cfg.epochs + 1):
        t_epoch = time.perf_counter()
        model.train()
        order = rng.permutation(starts.size)
        total, count = 0.0, 0
        for b in range(0, order.size, cfg.batch_size):
            idx = order[b : b + cfg.batch_size]
            inputs = _left_pad(data.items, starts[idx], stops[idx])
            targets = _left_pad(data.items, starts[idx] + 1, stops[idx] + 1)
            inputs_t, targets_t = torch.from_numpy(inputs), torch.from_numpy(targets)
            hidden = model(inputs_t)
            mask = targets_t > 0
            loss = F.cross_entropy(model.logits(hidden[mask]), targets_t[mask] - 1)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            n = int(mask.sum())
            total += float(loss.detach()) * n
            count += n
            bar.update(1)
        sched.step()
        row: dict[str, float] = {"epoch": epoch, "loss": total / max(count, 1)}
        if cfg.patience is not None:
            val = _val_metrics(model, data)
            row["val_NDCG@10"] = val["NDCG@10"]
            if val["NDCG@10"] > best_ndcg:
                best_ndcg, best_epoch = val["NDCG@10"], epoch
                best_state = copy.deepcopy(model.state_dict())
        row["seconds"] = time.perf_counter() - t_epoch
        history.append(row)
        bar.set_postfix(epoch=epoch, loss=f"{row['loss']:.3f}", val_ndcg=row.get("val_NDCG@10"))
        if cfg.patience is not None and epoch - best_epoch >= cfg.patience:
            break
    bar.close()
    if cfg.patience is not None:
        model.load_state_dict(best_state)
    else:
        best_epoch = len(history)
    model.eval()
    record: dict[str, Any] = {
        "config": asdict(cfg),
        "seed": seed,
        "best_epoch": best_epoch,
        "epochs_run": len(history),
        "history": history,
        "train_seconds": time.perf_counter() - t0,
        "train_cpu_seconds": time.process_time() - c0,  # this process (see train_encoder)
    }
    if cfg.patience is not None:
        record["val"] = _val_metrics(model, data)
    return record


# --------------------------------------------------------------------------- the agent
class SASRecAgent(BaselineAgent):
    """SASRec as a ranking agent (``sasrec``): the SB3 API of the baselines.

    ``learn()`` trains the model on the env's dataset (training interactions only,
    :func:`train_sasrec`; ``total_timesteps`` is ignored: SASRec trains by epochs with
    early stopping). Scores need ``info["position"]`` (the history is read from the
    dataset, as Markov's) or ``info["recent_items"]`` (a simulated user's); the
    observation is not used.

    Args:
        env: A MovieRec env (its dataset is trained on and read).
        seed: Seed of the training run (weights, dropout, batch order); ``None`` is 0.
        verbose: 1 shows a progress bar while learning.
        **settings: :class:`SASRecConfig` fields (e.g. ``epochs=10``).

    Raises:
        TypeError: On an unknown setting.
        ValueError: On a setting out of range.
    """

    name: ClassVar[str] = "sasrec"
    needs_context: ClassVar[bool] = True

    def __init__(
        self, env: Any, seed: int | None = None, verbose: int = 0, **settings: Any
    ) -> None:
        super().__init__(env, seed, verbose)
        self.config = SASRecConfig.from_kwargs(**settings)
        self.model: SASRecModel | None = None
        self.train_record: dict[str, Any] | None = None

    def _config(self) -> dict[str, Any]:
        return asdict(self.config)

    def learn(
        self, total_timesteps: int = 0, callback: Any = None, progress_bar: bool = False
    ) -> SASRecAgent:
        """Train on the env's training interactions (early stopping on val). Returns self."""
        self.model, self.train_record = train_sasrec(
            self.dataset,
            self.config,
            seed=0 if self.seed is None else int(self.seed),
            progress=progress_bar or self.verbose > 0,
        )
        return self

    def _trained(self) -> SASRecModel:
        if self.model is None:
            raise RuntimeError(
                "SASRecAgent is not trained: call learn() first, or SASRecAgent.load(path, env)"
            )
        return self.model

    def item_scores(self, obs: NDArray[np.floating], info: Info | None) -> NDArray[np.floating]:
        """SASRec's next-movie logits of every movie, ``(B, n_items)``."""
        model = self._trained()
        batch = np.atleast_2d(np.asarray(obs)).shape[0]
        threads_before = torch.get_num_threads()
        torch.set_num_threads(self.config.threads)
        try:
            recent = _recent_items(info, batch)
            if recent is not None:
                return _window_scores(model, _compact(recent, self.config.max_len))[:, 1:]
            pos = _as_positions(info, batch)
            return sasrec_scores(model, self.dataset, pos)[:, 1:]
        finally:
            torch.set_num_threads(threads_before)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the trained weights, settings and dataset fingerprint (data only, atomic).

        Raises:
            RuntimeError: If the agent has not been trained.
        """
        from agents.common.serialization import save_checkpoint

        model = self._trained()
        data = {
            "class": "SASRecAgent",
            "agent": self.name,
            "seed": self.seed,
            "config": asdict(self.config),
            "n_items": model.n_items,
            "fingerprint": self.dataset.fingerprint,
            "train_record": self.train_record,
        }
        return save_checkpoint(path, data, {"model": model.state_dict()})

    @classmethod
    def load(cls, path: str | os.PathLike[str], env: Any = None) -> SASRecAgent:
        """Rebuild a trained agent saved with :meth:`save` on ``env``.

        Raises:
            FileNotFoundError: If there is no such file.
            ValueError: If the file holds another agent, ``env`` is missing, or ``env``'s
                dataset is not the one the model was trained on.
        """
        from agents.common.serialization import checkpoint_path, load_checkpoint

        payload, tensors = load_checkpoint(path)
        p = Path(path) if Path(path).is_file() else checkpoint_path(path)
        if payload.get("class") != "SASRecAgent" or "model" not in tensors:
            raise ValueError(f"{p} holds {payload.get('class')!r}, not a SASRec agent")
        if env is None:
            raise ValueError("SASRecAgent.load needs env= (scores read its dataset's histories)")
        agent = cls(env, seed=payload.get("seed"), **payload.get("config", {}))
        if payload.get("fingerprint") != agent.dataset.fingerprint:
            raise ValueError(
                f"{p} was trained on another dataset (fingerprint "
                f"{str(payload.get('fingerprint'))[:16]}, env's {agent.dataset.fingerprint[:16]})"
            )
        model = SASRecModel(int(payload["n_items"]), agent.config)
        model.load_state_dict(tensors["model"])
        model.eval()
        agent.model = model
        agent.train_record = payload.get("train_record")
        return agent
