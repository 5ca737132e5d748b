"""TimeRatingAwareLSTM: an LSTM over (movie, rating, time) steps predicting the next movie."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from encoders.base import Dropout, SequenceEncoder, init_parameters, isolated_rng
from encoders.features import N_STEP_FEATURES

__all__ = ["LSTMConfig", "TimeRatingAwareLSTM"]


@dataclass(frozen=True)
class LSTMConfig:
    """Hyperparameters of :class:`TimeRatingAwareLSTM`.

    Defaults were chosen by validation NDCG@10 on ml-latest-small (docs/encoders.md); the
    recipe (full softmax cross-entropy, every position a target, tied item embeddings)
    follows GRU4Rec with cross-entropy loss as in Klenitskiy & Vasilev (RecSys 2023).

    Attributes:
        n_items: Catalogue size (padding excluded).
        dim: Item embedding size, which is also the bounded embedding size (weight tying).
        hidden: LSTM hidden size.
        layers: LSTM layers.
        dropout: Dropout on the input item embeddings and on the LSTM output.
        n_features: Step features per interaction (rating and time).
    """

    n_items: int
    dim: int = 64
    hidden: int = 64
    layers: int = 1
    dropout: float = 0.1
    n_features: int = N_STEP_FEATURES


class TimeRatingAwareLSTM(SequenceEncoder):
    """Sequential behaviour: which movie comes next given the order of what was watched.

    Each step's input is the movie's embedding, its normalised rating and scale-free time
    features (log gap since the previous rating, burst and session flags; see
    :mod:`encoders.features`). An LSTM reads the history; the history embedding is
    ``z = tanh(proj(h_t))`` in [-1, 1]^dim, and every movie is scored by the tied head
    ``z @ E.T + b`` where ``E`` is the input item embedding table. It captures series and
    franchise order (sequels, watching a collection in order).

    Args:
        config: Hyperparameters (:class:`LSTMConfig`).
        generator: Draws the initial weights when given (and torch's global generator is
            left untouched); else they come from the global generator, like torch layers.
    """

    config: LSTMConfig

    def __init__(self, config: LSTMConfig, generator: torch.Generator | None = None) -> None:
        super().__init__(config)
        self.n_items = config.n_items
        self.dim = config.dim
        with isolated_rng(generator is not None):
            self.item_emb = nn.Embedding(config.n_items + 1, config.dim, padding_idx=0)
            nn.init.normal_(self.item_emb.weight, std=0.05, generator=generator)
            self.drop = Dropout(config.dropout)
            self.rnn = nn.LSTM(
                config.dim + config.n_features,
                config.hidden,
                num_layers=config.layers,
                batch_first=True,
            )
            self.proj = nn.Linear(config.hidden, config.dim)
        if generator is not None:
            init_parameters(self, generator)
        with torch.no_grad():
            self.item_emb.weight[0].zero_()

    def step_embeddings(
        self, items: Tensor, features: Tensor, lengths: Tensor, select: Tensor | None = None
    ) -> Tensor:
        """Embedding after each step (see the base class); padding is never read."""
        x = torch.cat([self.drop(self.item_emb(items)), features], dim=-1)
        packed = pack_padded_sequence(
            x, lengths.to("cpu", torch.long), batch_first=True, enforce_sorted=False
        )
        h, _ = self.rnn(packed)
        out, _ = pad_packed_sequence(h, batch_first=True, total_length=items.shape[1])
        if select is not None:
            out = out[select]
        return torch.tanh(self.proj(self.drop(out)))

    def item_matrix(self) -> Tensor:
        """The tied output matrix (the item embedding table)."""
        return self.item_emb.weight
