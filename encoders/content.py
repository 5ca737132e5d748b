"""TimeRatingAwareContentModel: recency-weighted content profile of a history."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor, nn

from encoders.base import Dropout, SequenceEncoder, init_parameters, isolated_rng
from encoders.features import N_STEP_FEATURES

__all__ = ["ContentConfig", "TimeRatingAwareContentModel", "decayed_means"]


@dataclass(frozen=True)
class ContentConfig:
    """Hyperparameters of :class:`TimeRatingAwareContentModel`.

    Defaults were chosen by validation NDCG@10 on ml-latest-small (docs/encoders.md).

    Attributes:
        n_items: Catalogue size (padding excluded).
        n_genres: Width of the fixed genre vectors.
        dim: Item representation size, also the bounded embedding size (weight tying).
        hidden: Width of the per-step projection that is pooled.
        decays: Per-step decay factors of the exponentially weighted means (one pooled
            profile per factor, from short-term to long-term taste); the last step itself is
            always included as well.
        dropout: Dropout on the item representations and the pooled profile.
        n_features: Step features per interaction (rating and time).
    """

    n_items: int
    n_genres: int
    dim: int = 64
    hidden: int = 64
    decays: tuple[float, ...] = (0.7, 0.9, 0.97)
    dropout: float = 0.1
    n_features: int = N_STEP_FEATURES


def decayed_means(x: Tensor, decay: float) -> Tensor:
    """Causal exponentially weighted means ``sum_s decay^(t-s) x_s / sum_s decay^(t-s)``.

    Computed with a rescaled cumulative sum, in chunks short enough that ``decay^-chunk``
    stays below 1e4 (float32 keeps ~3 significant digits more than the result needs), so
    the cost is linear in the length.

    Args:
        x: ``(B, L, H)`` right-padded steps (padding after the valid steps never enters a
            valid step's mean because the sum is causal).
        decay: Decay factor in (0, 1).

    Returns:
        ``(B, L, H)`` means, same dtype as ``x``.
    """
    if not 0.0 < decay < 1.0:
        raise ValueError(f"decay must be in (0, 1), got {decay}")
    b, length, h = x.shape
    chunk = max(1, int(math.log(1e4) / -math.log(decay)))
    xf = x.to(torch.float32)
    outs = []
    carry = torch.zeros(b, 1, h, dtype=torch.float32, device=x.device)
    for s in range(0, length, chunk):
        xc = xf[:, s : s + chunk]
        i = torch.arange(xc.shape[1], dtype=torch.float32, device=x.device)
        up = decay ** (-i)
        down = decay**i
        local = torch.cumsum(xc * up[None, :, None], dim=1) * down[None, :, None]
        total = local + carry * (decay * down)[None, :, None]
        outs.append(total)
        carry = total[:, -1:]
    sums = torch.cat(outs, dim=1)
    t = torch.arange(length, dtype=torch.float32, device=x.device)
    norm = (1.0 - decay ** (t + 1.0)) / (1.0 - decay)
    return (sums / norm[None, :, None]).to(x.dtype)


class TimeRatingAwareContentModel(SequenceEncoder):
    """Content similarity: which movie fits the taste profile of what was watched.

    Each movie is represented as ``r_i = E[i] + genre[i] @ P``: a learned embedding plus a
    projection of its FIXED genre vector (a buffer, never trained). A step's input is
    ``r_i`` with the normalised rating and time features, projected to ``hidden``. The
    sequence model keeps exponentially weighted means of the steps at several decay rates
    (short-term to long-term taste) plus the last step, and maps them to the bounded
    embedding ``z = tanh(MLP(...))``. The head scores movie ``i`` with ``z @ r_i + b_i``
    (tied to the input representation), so a rarely rated movie whose embedding has barely
    moved still scores through its genres: ``W_c[i] = E[i] + genre[i] @ P``.

    Args:
        config: Hyperparameters (:class:`ContentConfig`).
        item_genres: Binary item x genre matrix, shape ``(n_items + 1, n_genres)`` (row 0
            padding); stored as a buffer so checkpoints hold it.
        generator: Draws the initial weights when given (and torch's global generator is
            left untouched); else they come from the global generator, like torch layers.
    """

    config: ContentConfig
    genres: Tensor

    def __init__(
        self,
        config: ContentConfig,
        item_genres: NDArray[np.float32] | Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__(config)
        self.n_items = config.n_items
        self.dim = config.dim
        if item_genres is None:
            g = torch.zeros(config.n_items + 1, config.n_genres)
        else:
            g = torch.as_tensor(np.asarray(item_genres, dtype=np.float32))
        if tuple(g.shape) != (config.n_items + 1, config.n_genres):
            raise ValueError(
                f"item_genres must have shape {(config.n_items + 1, config.n_genres)}, "
                f"got {tuple(g.shape)}"
            )
        # Row-normalised so a movie with many genres does not get a larger vector.
        g = g / g.sum(dim=1, keepdim=True).clamp_min(1.0).sqrt()
        self.register_buffer("genres", g.contiguous())
        with isolated_rng(generator is not None):
            self.item_emb = nn.Embedding(config.n_items + 1, config.dim, padding_idx=0)
            nn.init.normal_(self.item_emb.weight, std=0.05, generator=generator)
            self.genre_proj = nn.Linear(config.n_genres, config.dim, bias=False)
            self.drop = Dropout(config.dropout)
            self.step = nn.Linear(config.dim + config.n_features, config.hidden)
            n_pool = len(config.decays) + 1
            self.mlp = nn.Sequential(
                nn.Linear(n_pool * config.hidden, config.hidden),
                nn.GELU(),
                nn.Linear(config.hidden, config.dim),
            )
        if generator is not None:
            init_parameters(self, generator)
        with torch.no_grad():
            self.item_emb.weight[0].zero_()

    def item_matrix(self) -> Tensor:
        """Item representations ``E + genre @ P``, shape ``(n_items + 1, dim)``."""
        return self.item_emb.weight + self.genre_proj(self.genres)

    def carry_size(self) -> int:
        """``len(decays) * hidden``: the decayed sums of the steps, one per decay."""
        return len(self.config.decays) * self.config.hidden

    def advance_carry(
        self, carry: Tensor, items: Tensor, features: Tensor, steps: Tensor
    ) -> tuple[Tensor, Tensor]:
        """Update the decayed sums of every running segment (see the base class).

        A segment's carry holds ``S_t = decay * S_{t-1} + x_t`` per decay; segment 0's
        means are ``S_t / sum_{s<t} decay^s``, as :func:`decayed_means` computes them.
        """
        n_seg, batch, _ = carry.shape
        n_dec, hidden = len(self.config.decays), self.config.hidden
        rep = self.item_emb(items) + self.genre_proj(self.genres[items])
        x = torch.nn.functional.gelu(self.step(torch.cat([self.drop(rep), features], dim=-1)))
        d = torch.tensor(self.config.decays, dtype=x.dtype, device=x.device)
        sums = carry.reshape(n_seg, batch, n_dec, hidden) * d[:, None] + x[None, :, None, :]
        t = steps.to(x.dtype)
        means = [
            sums[0, :, j] / ((1.0 - decay**t) / (1.0 - decay))[:, None]
            for j, decay in enumerate(self.config.decays)
        ]
        z = torch.tanh(self.mlp(self.drop(torch.cat([x, *means], dim=-1))))
        return sums.reshape(n_seg, batch, n_dec * hidden), z

    def step_embeddings(
        self, items: Tensor, features: Tensor, lengths: Tensor, select: Tensor | None = None
    ) -> Tensor:
        """Embedding after each step (see the base class); causal, so padding is unread."""
        rep = self.item_matrix()[items]
        x = torch.nn.functional.gelu(self.step(torch.cat([self.drop(rep), features], dim=-1)))
        pooled = torch.cat([x] + [decayed_means(x, d) for d in self.config.decays], dim=-1)
        if select is not None:
            pooled = pooled[select]
        return torch.tanh(self.mlp(self.drop(pooled)))
