"""Rating model: global mean + user and item biases + low-rank factors (ALS), with fold-in.

Users are not parameters of a world: a user's bias and factors are *folded in* from their
logged prefix (one ridge solve against the fixed item parameters, the same solve as the
ALS user step), so a world simulates any user from a prefix, including users it never saw.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

__all__ = ["RatingItems", "fit_als", "fold_in", "predict", "rating_step"]


@dataclass
class RatingItems:
    """Item side of the rating model.

    Attributes:
        mean: Global mean rating.
        item_bias: Item biases, shape ``(n_items + 1,)``.
        item_factors: Item factors, shape ``(n_items + 1, dim)`` (``dim`` may be 0).
        reg: Ridge penalty used for fitting and for fold-in.
    """

    mean: float
    item_bias: NDArray[np.float64]
    item_factors: NDArray[np.float64]
    reg: float


def _ridge_groups(
    group: NDArray[np.int64],
    n_groups: int,
    x: NDArray[np.float64],
    y: NDArray[np.float64],
    reg: float,
) -> NDArray[np.float64]:
    """Per-group ridge solutions ``argmin sum (y - x.w)^2 + reg |w|^2`` (batched solve)."""
    k = x.shape[1]
    n = group.size
    ind = sp.csr_matrix((np.ones(n), (group, np.arange(n))), shape=(n_groups, n))
    outer = (x[:, :, None] * x[:, None, :]).reshape(n, k * k)
    a = np.asarray(ind @ outer).reshape(n_groups, k, k) + reg * np.eye(k)[None]
    b = np.asarray(ind @ (x * y[:, None]))
    return np.linalg.solve(a, b[:, :, None])[:, :, 0]


def fold_in(
    model: RatingItems,
    user: NDArray[np.int64],
    n_users: int,
    items: NDArray[np.int64],
    ratings: NDArray[np.floating],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """User biases and factors from their rated items (ridge against fixed items).

    Args:
        model: Fitted item side.
        user: Compact user index (``0..n_users-1``) of each rating.
        n_users: Number of users.
        items: Item of each rating.
        ratings: Rating values.

    Returns:
        ``(bias (n_users,), factors (n_users, dim))``; users without ratings get zeros.
    """
    x = np.concatenate([model.item_factors[items], np.ones((items.size, 1))], axis=1)
    y = np.asarray(ratings, dtype=np.float64) - model.mean - model.item_bias[items]
    sol = _ridge_groups(user, n_users, x, y, model.reg)
    return sol[:, -1].copy(), sol[:, :-1].copy()


def predict(
    model: RatingItems,
    bias: NDArray[np.float64],
    factors: NDArray[np.float64],
    items: NDArray[np.int64],
) -> NDArray[np.float64]:
    """Expected rating of each (user row, item) pair; ``items`` is ``(B,)`` or ``(B, k)``."""
    items = np.asarray(items, dtype=np.int64)
    base = model.mean + model.item_bias[items]
    if items.ndim == 1:
        return base + bias + np.einsum("bd,bd->b", factors, model.item_factors[items])
    return base + bias[:, None] + np.einsum("bd,bkd->bk", factors, model.item_factors[items])


def fit_als(
    user: NDArray[np.int64],
    n_users: int,
    items: NDArray[np.int64],
    ratings: NDArray[np.floating],
    n_items: int,
    dim: int,
    reg: float,
    seed: int,
    iters: int = 8,
) -> RatingItems:
    """Alternating least squares for ``mean + b_u + b_i + p_u . q_i``.

    Args:
        user: Compact user index of each rating.
        n_users: Number of users.
        items: Item index of each rating.
        ratings: Rating values.
        n_items: Catalogue size (items are ``1..n_items``).
        dim: Factor dimension (0 = biases only).
        reg: Ridge penalty on biases and factors.
        seed: Seed of the initial item factors.
        iters: ALS sweeps.

    Returns:
        The item side (user parameters are re-derived by :func:`fold_in`).
    """
    r = np.asarray(ratings, dtype=np.float64)
    mean = float(r.mean())
    rng = np.random.default_rng(seed)
    model = RatingItems(
        mean,
        np.zeros(n_items + 1),
        rng.normal(0.0, 0.1, (n_items + 1, dim)),
        reg,
    )
    for _ in range(iters):
        bu, pu = fold_in(model, user, n_users, items, r)
        x = np.concatenate([pu[user], np.ones((user.size, 1))], axis=1)
        sol = _ridge_groups(items, n_items + 1, x, r - mean - bu[user], reg)
        model.item_factors, model.item_bias = sol[:, :-1].copy(), sol[:, -1].copy()
        model.item_factors[0] = 0.0
        model.item_bias[0] = 0.0
    return model


def rating_step(ratings: NDArray[np.floating]) -> float:
    """The layout's rating step: 0.5 if any rating is a half star, else 1."""
    r = np.asarray(ratings, dtype=np.float64)
    return 0.5 if np.any(np.abs(r - np.round(r)) > 1e-6) else 1.0
