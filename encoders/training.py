"""Training (next-movie prediction, full softmax cross-entropy) and batched inference.

Training uses TRAINING interactions only (PROTOCOL.md): every training position of every
user is a target, read through the same overlapping segments (:class:`Segments`) that
inference uses, so train and test histories have the same shape. The validation target of
each user drives early stopping; the best weights are restored from a deep copy.
"""

from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch.nn import functional as F
from tqdm.auto import tqdm

from encoders.base import SequenceEncoder, dropout_generator
from encoders.features import (
    Segments,
    make_segments,
    segment_batch,
    segment_start,
    step_features,
)
from encoders.optim import make_optimizer
from movierec_env.data.types import PreparedDataset
from movierec_env.metrics import history_mask, metrics_from_ranks, ranks_from_scores

__all__ = [
    "TrainConfig",
    "evaluate_encoder",
    "history_embeddings",
    "model_scores",
    "ranking_metrics",
    "row_embeddings",
    "segment_embeddings",
    "target_embeddings",
    "train_encoder",
    "user_row_embeddings",
]


@dataclass(frozen=True)
class TrainConfig:
    """Settings of :func:`train_encoder`.

    Attributes:
        window: History window ``W`` (each history embedding sees the last ``W`` to ``2W``
            interactions, the whole prefix when shorter).
        epochs: Maximum epochs.
        batch_size: Segments per gradient step.
        lr: Adam learning rate (cosine-annealed to 10% over ``epochs``).
        weight_decay: Adam (decoupled, AdamW) weight decay.
        patience: Stop after this many epochs without a better validation NDCG@10.
        seed: Seed of the batch order and the dropout masks (and, in
            :func:`encoders.train_hybrid`, of the initial weights).
        threads: ``torch.set_num_threads`` during training (1 measured fastest on 2 cores).
    """

    window: int = 50
    epochs: int = 6
    batch_size: int = 16
    lr: float = 1e-2
    weight_decay: float = 0.0
    patience: int = 2
    seed: int = 0
    threads: int = 1


def _to_tensors(
    it: NDArray[np.int64], ft: NDArray[np.float32], lens: NDArray[np.int64]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return torch.from_numpy(it), torch.from_numpy(ft), torch.from_numpy(lens)


@torch.no_grad()
def segment_embeddings(
    model: SequenceEncoder,
    data: PreparedDataset,
    seg: Segments,
    feats: NDArray[np.float32] | None = None,
    batch_size: int = 512,
) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    """Embeddings emitted by every segment, in eval mode.

    Returns:
        ``(rows, z)``: row index ``g = p + 1`` of each emitted position ``p`` and its
        embedding, shape ``(n_emitted, dim)``.
    """
    f = step_features(data) if feats is None else feats
    was_training = model.training
    model.eval()
    rows_out: list[NDArray[np.int64]] = []
    z_out: list[NDArray[np.float32]] = []
    # Similar lengths together keep padding small.
    order = np.argsort(seg.stop - seg.start, kind="stable")
    for b in range(0, order.size, batch_size):
        idx = order[b : b + batch_size]
        it, ft, lens, pos = segment_batch(seg, idx, data.items, f)
        emit = (pos >= seg.emit_from[idx][:, None]) & (pos >= 0)
        z = model.step_embeddings(*_to_tensors(it, ft, lens), torch.from_numpy(emit))
        rows_out.append(pos[emit] + 1)
        z_out.append(z.numpy())
    model.train(was_training)
    if not rows_out:
        return np.zeros(0, dtype=np.int64), np.zeros((0, model.dim), dtype=np.float32)
    return np.concatenate(rows_out), np.concatenate(z_out).astype(np.float32)


def row_embeddings(
    model: SequenceEncoder,
    data: PreparedDataset,
    window: int,
    feats: NDArray[np.float32] | None = None,
) -> NDArray[np.float32]:
    """History embedding of every row, shape ``(n_interactions, dim)``.

    Row ``g`` embeds the (windowed) history strictly before ``g``; a user's first row is
    zeros. The model is causal, so reading whole sequences never leaks row ``g``'s future.
    """
    return user_row_embeddings(model, data, window, 0, data.n_users, feats)


def user_row_embeddings(
    model: SequenceEncoder,
    data: PreparedDataset,
    window: int,
    first_user: int,
    end_user: int,
    feats: NDArray[np.float32] | None = None,
) -> NDArray[np.float32]:
    """Rows ``offsets[first_user] .. offsets[end_user] - 1`` of :func:`row_embeddings`.

    Users are independent (segments never cross two sequences), so a table can be built
    block by block of whole users in bounded memory (``HybridEncoder.observation_blocks``).
    """
    lo, hi = int(data.offsets[first_user]), int(data.offsets[end_user])
    ends = data.offsets[first_user + 1 : end_user + 1]
    seg = make_segments(data.offsets[first_user:end_user], ends, window)
    rows, z = segment_embeddings(model, data, seg, feats)
    out = np.zeros((hi - lo, model.dim), dtype=np.float32)
    user_end = np.repeat(ends, data.lengths[first_user:end_user])  # user end of each row
    keep = rows < user_end[rows - 1 - lo]  # the output after a user's last step has no row
    out[rows[keep] - lo] = z[keep]
    return out


def target_embeddings(
    model: SequenceEncoder,
    data: PreparedDataset,
    positions: NDArray[np.integer],
    window: int,
    feats: NDArray[np.float32] | None = None,
) -> NDArray[np.float32]:
    """History embeddings of some target rows only (same values as :func:`row_embeddings`).

    Reads only the last segment before each target, so evaluating 610 validation targets
    costs a small fraction of a full pass.
    """
    positions = np.asarray(positions, dtype=np.int64)
    f = step_features(data) if feats is None else feats
    user = np.searchsorted(data.offsets, positions, side="right") - 1
    return history_embeddings(model, data.items, f, data.offsets[user], positions, window)


@torch.no_grad()
def history_embeddings(
    model: SequenceEncoder,
    items: NDArray[np.int64],
    feats: NDArray[np.float32],
    starts: NDArray[np.integer],
    ends: NDArray[np.integer],
    window: int,
    batch_size: int = 512,
) -> NDArray[np.float32]:
    """Embedding of each history ``[starts[b], ends[b])`` of a CSR table, in eval mode.

    Each history is read through the segment :func:`make_segments` would use for the row
    right after it (:func:`encoders.features.segment_start`), so the result equals that
    row of :func:`row_embeddings`; an empty history gives zeros.

    Args:
        model: The encoder.
        items: Item index of every interaction of the table.
        feats: Step features of every interaction (:func:`sequence_features`).
        starts: Absolute index where each history's sequence starts.
        ends: One past each history's last interaction.
        window: The window ``W``.
        batch_size: Histories per forward pass.

    Returns:
        ``(len(starts), dim)`` embeddings, in input order.
    """
    starts_ = np.asarray(starts, dtype=np.int64)
    ends_ = np.asarray(ends, dtype=np.int64)
    out = np.zeros((starts_.size, model.dim), dtype=np.float32)
    has = np.flatnonzero(ends_ > starts_)
    s, e = starts_[has], ends_[has]
    seg = Segments(s + segment_start(e - s, window), e, e - 1)
    was_training = model.training
    model.eval()
    # Similar lengths together keep padding small (the order segment_embeddings uses).
    order = np.argsort(seg.stop - seg.start, kind="stable")
    for b in range(0, order.size, batch_size):
        idx = order[b : b + batch_size]
        it, ft, lens, _ = segment_batch(seg, idx, items, feats)
        select = np.zeros(it.shape, dtype=bool)
        select[np.arange(idx.size), lens - 1] = True
        z = model.step_embeddings(*_to_tensors(it, ft, lens), torch.from_numpy(select))
        out[has[idx]] = z.numpy()
    model.train(was_training)
    return out


def ranking_metrics(
    data: PreparedDataset, scores: NDArray[np.floating], positions: NDArray[np.integer]
) -> dict[str, float]:
    """PROTOCOL.md metrics of item scores ``(B, n_items + 1)`` for target ``positions``."""
    positions = np.asarray(positions, dtype=np.int64)
    ranks = ranks_from_scores(scores, data.items[positions], history_mask(data, positions))
    return metrics_from_ranks(ranks)


@torch.no_grad()
def model_scores(model: SequenceEncoder, z: NDArray[np.float32]) -> NDArray[np.float32]:
    """Log-softmax scores of embeddings ``z`` under ``model``'s head."""
    logits = model.logits(torch.from_numpy(z))
    return torch.log_softmax(logits, dim=-1).numpy()


def evaluate_encoder(
    model: SequenceEncoder,
    data: PreparedDataset,
    split: str,
    window: int,
    feats: NDArray[np.float32] | None = None,
) -> dict[str, float]:
    """PROTOCOL.md metrics of one encoder's greedy ranking on ``split`` targets."""
    pos = data.target_indices(split)
    z = target_embeddings(model, data, pos, window, feats)
    return ranking_metrics(data, model_scores(model, z), pos)


def train_encoder(
    model: SequenceEncoder,
    data: PreparedDataset,
    config: TrainConfig,
    progress: bool = True,
    desc: str = "encoder",
    position: int = 0,
) -> dict[str, Any]:
    """Train ``model`` in place on next-movie prediction; restore the best weights.

    Args:
        model: The encoder (fresh, or to be fine-tuned).
        data: The dataset; only training interactions are targets.
        config: Training settings.
        progress: Show a tqdm progress bar.
        desc: Label of the progress bar.
        position: Line of the progress bar (two trainings side by side).

    Returns:
        A JSON-ready record: config, best epoch, validation metrics of the best weights,
        per-epoch loss and validation NDCG@10, training seconds (wall clock, and this
        process's CPU time).

    Raises:
        ValueError: If the dataset has no training target or no validation target.
    """
    threads_before = torch.get_num_threads()
    torch.set_num_threads(config.threads)
    try:
        # Explicit generators, never torch's global one: batch order from a numpy generator
        # (in _train), dropout masks from a torch generator, both seeded with config.seed.
        with dropout_generator(model, torch.Generator().manual_seed(config.seed)):
            return _train(model, data, config, progress, desc, position)
    finally:
        torch.set_num_threads(threads_before)


def _train(
    model: SequenceEncoder,
    data: PreparedDataset,
    config: TrainConfig,
    progress: bool,
    desc: str,
    position: int,
) -> dict[str, Any]:
    t0, c0 = time.perf_counter(), time.process_time()
    rng = np.random.default_rng(config.seed)
    feats = step_features(data)
    starts = data.offsets[:-1]
    seg = make_segments(starts, data.train_end, config.window)
    train_end_of = np.repeat(data.train_end, data.lengths)
    val_pos = data.target_indices("val")
    if len(seg) == 0 or data.target_indices("train").size == 0:
        raise ValueError(f"dataset {data.name!r} has no training targets to train on")
    if val_pos.size == 0:
        raise ValueError(f"dataset {data.name!r} has no validation targets for early stopping")

    opt, sched = make_optimizer(
        model.parameters(), config.lr, config.weight_decay, total_steps=config.epochs
    )
    best_ndcg, best_epoch = -1.0, 0
    best_state = copy.deepcopy(model.state_dict())
    history: list[dict[str, float]] = []
    n_batches = -(-len(seg) // config.batch_size)
    bar = tqdm(
        total=config.epochs * n_batches,
        desc=desc,
        disable=not progress,
        leave=False,
        unit="batch",
        position=position,
    )
    for epoch in range(config.epochs):
        model.train()
        order = rng.permutation(len(seg))
        total, count = 0.0, 0
        for b in range(0, order.size, config.batch_size):
            idx = order[b : b + config.batch_size]
            it, ft, lens, pos = segment_batch(seg, idx, data.items, feats)
            # Emitted positions whose next interaction is still a training interaction.
            safe = np.clip(pos, 0, None)
            tmask = (pos >= seg.emit_from[idx][:, None]) & (pos >= 0)
            tmask &= safe + 1 < train_end_of[safe]
            if not tmask.any():
                continue
            z = model.step_embeddings(*_to_tensors(it, ft, lens), torch.from_numpy(tmask))
            targets = torch.from_numpy(data.items[safe[tmask] + 1])
            loss = F.cross_entropy(model.logits(z), targets)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            total += float(loss.detach()) * int(targets.numel())
            count += int(targets.numel())
            bar.update(1)
        sched.step()
        val = evaluate_encoder(model, data, "val", config.window, feats)
        history.append({"epoch": epoch + 1, "loss": total / max(count, 1), **val})
        if val["NDCG@10"] > best_ndcg:
            best_ndcg, best_epoch = val["NDCG@10"], epoch + 1
            best_state = copy.deepcopy(model.state_dict())
        bar.set_postfix(
            epoch=epoch + 1, loss=f"{total / max(count, 1):.3f}", val_ndcg=f"{val['NDCG@10']:.4f}"
        )
        if epoch + 1 - best_epoch >= config.patience:
            break
    bar.close()
    model.load_state_dict(best_state)
    model.eval()
    val = evaluate_encoder(model, data, "val", config.window, feats)
    return {
        "train_config": asdict(config),
        "best_epoch": best_epoch,
        "epochs_run": len(history),
        "val": val,
        "history": history,
        "train_seconds": time.perf_counter() - t0,
        # CPU time of this process: what the training cost, less disturbed by other jobs
        # on a shared machine than the wall clock (equal to it on a quiet one, 1 thread).
        "train_cpu_seconds": time.process_time() - c0,
    }
