"""What both encoders share: a bounded history embedding and a linear head over all items."""

from __future__ import annotations

import contextlib
import math
from abc import abstractmethod
from collections.abc import Iterator
from dataclasses import asdict
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

__all__ = ["Dropout", "SequenceEncoder", "dropout_generator", "init_parameters", "isolated_rng"]


class Dropout(nn.Dropout):
    """:class:`torch.nn.Dropout` that draws its mask from an explicit generator.

    ``generator`` is ``None`` by default (then it falls back to torch's global generator,
    like :class:`torch.nn.Dropout`); trainers set it with :func:`dropout_generator` so a
    training run draws only from generators it owns. In eval mode it is the identity.
    """

    generator: torch.Generator | None = None

    def forward(self, x: Tensor) -> Tensor:
        """Zero each element with probability ``p`` and rescale the rest by ``1 / (1 - p)``."""
        if not self.training or self.p == 0.0:
            return x
        if self.generator is None:
            return F.dropout(x, self.p, True, self.inplace)
        keep = 1.0 - self.p
        if keep <= 0.0:
            return torch.zeros_like(x)
        mask = torch.empty_like(x).bernoulli_(keep, generator=self.generator)
        return x * mask / keep


@contextlib.contextmanager
def dropout_generator(model: nn.Module, generator: torch.Generator) -> Iterator[None]:
    """Make every :class:`Dropout` of ``model`` draw from ``generator`` inside the block."""
    mods = [m for m in model.modules() if isinstance(m, Dropout)]
    before = [m.generator for m in mods]
    for m in mods:
        m.generator = generator
    try:
        yield
    finally:
        for m, g in zip(mods, before, strict=True):
            m.generator = g


@contextlib.contextmanager
def isolated_rng(enabled: bool = True) -> Iterator[None]:
    """Restore torch's global CPU generator on exit (module constructors draw from it).

    Used while building a model whose parameters are then re-drawn from an explicit
    generator, so building it leaves the global state exactly as it was.
    """
    if not enabled:
        yield
        return
    with torch.random.fork_rng(devices=[]):
        yield


def init_parameters(module: nn.Module, generator: torch.Generator) -> None:
    """Re-draw the parameters of ``module``'s layers from ``generator``.

    The distributions are PyTorch's defaults: :class:`torch.nn.Linear` weights
    ``kaiming_uniform_(a=sqrt(5))`` and biases ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``;
    every :class:`torch.nn.LSTM` parameter ``U(-1/sqrt(hidden), 1/sqrt(hidden))``. Other
    parameters (embeddings, biases of the head) are left to the model. Layers are visited
    in ``module.modules()`` order, so a seed always gives the same weights.
    """
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.kaiming_uniform_(m.weight, a=math.sqrt(5), generator=generator)
            if m.bias is not None:
                bound = 1.0 / math.sqrt(m.in_features) if m.in_features > 0 else 0.0
                nn.init.uniform_(m.bias, -bound, bound, generator=generator)
        elif isinstance(m, nn.LSTM):
            bound = 1.0 / math.sqrt(m.hidden_size) if m.hidden_size > 0 else 0.0
            for p in m.parameters():
                nn.init.uniform_(p, -bound, bound, generator=generator)


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
    def carry_size(self) -> int:
        """Width ``C`` of the running state of one segment (see :meth:`advance_carry`)."""

    def initial_carry(self, n_segments: int, batch_size: int) -> Tensor:
        """Running state of segments that have read nothing: zeros ``(S, B, C)``."""
        p = self.item_bias_param
        return torch.zeros(
            n_segments, batch_size, self.carry_size(), dtype=p.dtype, device=p.device
        )

    @abstractmethod
    def advance_carry(
        self, carry: Tensor, items: Tensor, features: Tensor, steps: Tensor
    ) -> tuple[Tensor, Tensor]:
        """Feed one interaction to ``S`` running segments of each of ``B`` histories.

        The incremental form of :meth:`step_embeddings`: a segment that starts from
        :meth:`initial_carry` and is fed ``x_1 .. x_t`` embeds exactly what
        :meth:`step_embeddings` gives after step ``t`` of that segment (to float32
        rounding), at O(1) cost per step. All ``S`` segments of a history read the same
        interaction; only segment 0 is embedded.

        Args:
            carry: ``(S, B, C)`` running states (zeros: a segment that has read nothing).
            items: ``(B,)`` item indices of the new interaction.
            features: ``(B, F)`` its step features.
            steps: ``(B,)`` number of steps segment 0 has read, this one included.

        Returns:
            ``(carry (S, B, C), z (B, dim))``: the new states and segment 0's embedding.
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
