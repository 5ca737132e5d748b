"""LinUCB's (state, movie) features and the width of a ridge regression's confidence bound.

Shared by :class:`agents.LinUCBAgent` (which also fits the regression's ``b`` and acts on
``theta . x + alpha * width``) and the DQN's ``exploration="ucb"`` (which adds
``bonus * width`` to its Q-values when it acts in training): directed exploration toward
the (state, movie) pairs the agent's own past recommendations describe least.

The features of a (state, movie) pair are what an agent can know: the frozen encoder's
log-probability of the movie given the observation (scaled to [-1, 1]), the movie's unit
genre row (the reward's normalisation), its rating term, its training popularity
percentile and a constant.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from movierec_env.contract import RecEnv

__all__ = ["LinearConfidence"]


class LinearConfidence:
    """The design matrix ``A = ridge * I + sum x x'`` over the recommended pairs' features.

    Args:
        contract: The MovieRec env (its frozen encoder and item features are read).
        ridge: The prior ``A = ridge * I`` (> 0).

    Raises:
        ValueError: If ``ridge`` is not positive.
    """

    def __init__(self, contract: RecEnv, ridge: float = 1.0) -> None:
        if not ridge > 0:
            raise ValueError(f"ridge must be > 0, got {ridge}")
        self.contract = contract
        self.ridge = float(ridge)
        feats = contract.item_features
        pct = feats.popularity_rank()
        self.static = np.concatenate(
            [feats.genres[1:], feats.rating_term[1:, None], pct[:, None], np.ones((pct.size, 1))],
            axis=1,
        )
        #: Feature size: the encoder's log-probability, then the static features.
        self.dim = self.static.shape[1] + 1
        self.A = np.eye(self.dim) * self.ridge

    def scaled_logp(self, user: NDArray[np.floating]) -> NDArray[np.float64]:
        """The first feature of every movie, ``(B, n_items)``, scaled into [-1, 1].

        It is the encoder's log-probability of the movie given ``user`` (embeddings
        ``(B, obs_dim)``).
        """
        from scipy.special import log_softmax

        logits = np.asarray(self.contract.encoder.scores(user), dtype=np.float64)
        logp = log_softmax(logits[:, 1:], axis=1)
        out: NDArray[np.float64] = np.clip(logp / 10.0 + 1.0, -1.0, 1.0)  # ~e^-10 and above
        return out

    def features(
        self, user: NDArray[np.floating], items: NDArray[np.int64] | None = None
    ) -> NDArray[np.float64]:
        """Features ``(B, n_items, d)`` of every movie (or ``(B, K, d)`` of ``items``).

        Args:
            user: User embeddings ``(B, obs_dim)`` (the observation, or its user part in
                candidate mode).
            items: Optional ``(B, K)`` action indices (0-based) to describe only those.
        """
        return self.features_from(self.scaled_logp(user), items)

    def features_from(
        self, scaled: NDArray[np.float64], items: NDArray[np.int64] | None = None
    ) -> NDArray[np.float64]:
        """:meth:`features` from the :meth:`scaled_logp` of the same users."""
        b = scaled.shape[0]
        if items is None:
            static = np.broadcast_to(self.static, (b, *self.static.shape))
            return np.concatenate([scaled[:, :, None], static], axis=2)
        its = np.asarray(items, dtype=np.int64).reshape(b, -1)
        picked = np.take_along_axis(scaled, its, axis=1)
        return np.concatenate([picked[:, :, None], self.static[its]], axis=2)

    def widths(
        self, x: NDArray[np.float64], a_inv: NDArray[np.float64] | None = None
    ) -> NDArray[np.float64]:
        """``sqrt(x' A^-1 x)`` of features ``(B, n, d)``: shape ``(B, n)``."""
        inv = np.linalg.inv(self.A) if a_inv is None else a_inv
        out: NDArray[np.float64] = np.sqrt(np.einsum("bnd,de,bne->bn", x, inv, x).clip(0.0))
        return out

    def all_widths(self, scaled: NDArray[np.float64]) -> NDArray[np.float64]:
        """:meth:`widths` of every movie's features from their :meth:`scaled_logp` ``u``.

        With ``x = [u, s]`` (``s`` the movie's static features) and ``M = A^-1``,
        ``x' M x = u^2 M_00 + 2 u (s . M_s0) + s' M_ss s``: the last two terms are per
        movie, so the cost is O(B n) instead of O(B n d^2).
        """
        inv = np.linalg.inv(self.A)
        s = self.static
        cross = s @ inv[1:, 0]
        quad = np.einsum("nd,nd->n", s @ inv[1:, 1:], s)
        total = scaled * scaled * inv[0, 0] + 2.0 * scaled * cross + quad
        out: NDArray[np.float64] = np.sqrt(total.clip(0.0))
        return out

    def update(self, x: NDArray[np.float64]) -> None:
        """Add the recommended pairs' features ``(B, d)`` to ``A``."""
        x = np.asarray(x, dtype=np.float64).reshape(-1, self.dim)
        self.A += x.T @ x

    def state(self) -> dict[str, Any]:
        """What a checkpoint keeps (JSON-ready)."""
        return {"ridge": self.ridge, "A": self.A.tolist()}

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state`.

        Raises:
            ValueError: If the saved matrix does not fit these features.
        """
        a = np.asarray(state["A"], dtype=np.float64)
        if a.shape != (self.dim, self.dim):
            raise ValueError(f"saved A has shape {a.shape}, expected {(self.dim, self.dim)}")
        self.A = a
