"""What both encoders share: a bounded history embedding and a linear head over all items."""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import asdict
from typing import Any

import torch
from torch import Tensor, nn


class SequenceEncoder(nn.Module):
    """Base class: ``z = tanh(...)`` in [-1, 1]^dim and ``logits = z @ W.T + b``.

    Subclasses implement :meth:`step_embeddings` (the embedding after every step of a
    right-padded batch, causal) and :meth:`item_matrix`. Item 0 is padding: its logit is
    ``-inf`` in :meth:`scores` and it never receives probability mass in training.

    Histories are passed as right-padded tensors: ``items (B, L)`` (0 at padding),
    ``features (B, L, F)`` (:func:`encoders.features.step_features` rows) and
    ``lengths (B,)``. Padding never changes an embedding (it only follows the valid steps
    and is masked out).
    """

    n_items: int
    dim: int

    def __init__(self, config: Any) -> None:
        super().__init__()
        self.config = config
        self.item_bias_param = nn.Parameter(torch.zeros(config.n_items + 1))

    @abstractmethod
    def step_embeddings(
        self, items: Tensor, features: Tensor, lengths: Tensor, select: Tensor | None = None
    ) -> Tensor:
        """Embedding after each step, in [-1, 1].

        Args:
            items: ``(B, L)`` item indices, right-padded with 0.
            features: ``(B, L, F)`` step features.
            lengths: ``(B,)`` valid lengths.
            select: Optional ``(B, L)`` bool mask of the steps wanted; the output head then
                runs on those steps only (cheaper).

        Returns:
            ``(B, L, dim)`` (garbage at padding), or ``(n_selected, dim)`` with ``select``.
        """

    @abstractmethod
    def item_matrix(self) -> Tensor:
        """Output matrix ``W``, shape ``(n_items + 1, dim)``."""

    def item_bias(self) -> Tensor:
        """Output bias ``b``, shape ``(n_items + 1,)``."""
        return self.item_bias_param

    def logits(self, z: Tensor) -> Tensor:
        """Linear head ``z @ W.T + b`` with the padding column at ``-inf``."""
        out = z @ self.item_matrix().T + self.item_bias()
        pad = torch.zeros(out.shape[-1], dtype=out.dtype, device=out.device)
        pad[0] = float("-inf")
        return out + pad

    def embed(self, items: Tensor, features: Tensor, lengths: Tensor) -> Tensor:
        """Fixed-size embedding of each history, shape ``(B, dim)``; zeros for empty ones."""
        lengths = lengths.to(torch.long)
        out = torch.zeros(items.shape[0], self.dim, dtype=torch.float32, device=items.device)
        nonempty = lengths > 0
        if bool(nonempty.any()):
            it, ft, ln = items[nonempty], features[nonempty], lengths[nonempty]
            select = torch.zeros(it.shape, dtype=torch.bool, device=it.device)
            select[torch.arange(it.shape[0]), ln - 1] = True
            out[nonempty] = self.step_embeddings(it, ft, ln, select)
        return out

    def scores(self, items: Tensor, features: Tensor, lengths: Tensor) -> Tensor:
        """Logits of every item as the next one, shape ``(B, n_items + 1)``."""
        return self.logits(self.embed(items, features, lengths))

    def freeze(self) -> SequenceEncoder:
        """Switch to eval mode and stop gradients; returns ``self``."""
        self.eval()
        for p in self.parameters():
            p.requires_grad_(False)
        return self

    def config_dict(self) -> dict[str, Any]:
        """The model's config as a JSON-ready dict."""
        return asdict(self.config)
