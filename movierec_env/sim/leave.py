"""Leaving: a logistic session-end hazard on the user's state after each watched movie.

Sessions are cut from each user's training prefix at gaps longer than ``gap_hours``; the
label of interaction ``t`` is whether its session ends after it. Features are the state the
world carries: satisfaction (``rho``-decayed mean of the user's rating deviations from
their mean), the concentration (Herfindahl index) of the ``delta``-decayed genre exposure
and a piecewise-constant baseline over the position in the session (indicators
``position >= e`` for ``e`` in :data:`POSITION_EDGES`: a discrete-time hazard). A smooth
``log(position)`` term was tried first: it sends the hazard of long sessions to ~0, while
the logs show it flattening near 0.01 after 50 ratings, so simulated sessions never ended.
The null is a constant hazard.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from movierec_env.data.types import PreparedDataset
from movierec_env.sim.features import (
    decayed_sum,
    genre_rows,
    normalise_rows,
    session_table,
    user_mean_ratings,
)

__all__ = [
    "LEAVE_COLUMNS",
    "LEAVE_GROUPS",
    "POSITION_EDGES",
    "RHO_GRID",
    "LeaveSamples",
    "concentration",
    "design",
    "fit_hazard",
    "hazard",
    "leave_samples",
    "linear_predictor",
    "mean_log_likelihood",
    "satisfaction",
]

#: Session positions where the baseline hazard may step (``position >= edge`` indicators).
POSITION_EDGES = (2, 3, 5, 10, 20, 50, 100)
#: Column order of the hazard's coefficients.
LEAVE_COLUMNS = (
    "satisfaction",
    "genre_concentration",
    *(f"position_ge_{e}" for e in POSITION_EDGES),
)
#: Driver name -> its columns (a driver is switched off as a whole).
LEAVE_GROUPS: dict[str, tuple[int, ...]] = {
    "satisfaction": (0,),
    "genre_concentration": (1,),
    "session_position": tuple(range(2, 2 + len(POSITION_EDGES))),
}
#: Grid of the satisfaction decay ``rho``.
RHO_GRID = (0.0, 0.5, 0.8, 0.95)


@dataclass
class LeaveSamples:
    """Hazard design at a set of interactions: features ``x`` (n, 3) and labels ``y``."""

    index: NDArray[np.int64]
    x: NDArray[np.float64]
    y: NDArray[np.int64]


def satisfaction(
    data: PreparedDataset, rho: float, user_mean: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Inclusive ``rho``-decayed mean of rating deviations per interaction."""
    dev = data.ratings.astype(np.float64) - user_mean[data.user_index]
    num = decayed_sum(data.offsets, dev, rho)
    den = decayed_sum(data.offsets, np.ones(data.n_interactions), rho)
    return num / den


def concentration(data: PreparedDataset, delta: float) -> NDArray[np.float64]:
    """Inclusive Herfindahl index of the ``delta``-decayed genre exposure per interaction."""
    e = normalise_rows(decayed_sum(data.offsets, genre_rows(data)[data.items], delta))
    return np.asarray((e**2).sum(axis=1))


def design(
    sat: NDArray[np.float64], conc: NDArray[np.float64], position: NDArray[np.integer]
) -> NDArray[np.float64]:
    """Hazard design matrix ``(n, len(LEAVE_COLUMNS))`` from the three state quantities."""
    pos = np.asarray(position)[:, None]
    steps = (pos >= np.asarray(POSITION_EDGES)[None, :]).astype(np.float64)
    return np.concatenate([np.asarray(sat)[:, None], np.asarray(conc)[:, None], steps], axis=1)


def leave_samples(
    data: PreparedDataset,
    index: NDArray[np.int64],
    rho: float,
    delta: float,
    gap_hours: float,
) -> LeaveSamples:
    """Labelled hazard samples at the given (training) interactions; censored ones dropped."""
    position, ends, labelled = session_table(data, gap_hours)
    idx = np.asarray(index, dtype=np.int64)
    idx = idx[labelled[idx]]
    sat = satisfaction(data, rho, user_mean_ratings(data))
    conc = concentration(data, delta)
    x = design(sat[idx], conc[idx], position[idx])
    return LeaveSamples(idx, x, ends[idx].astype(np.int64))


def fit_hazard(
    samples: LeaveSamples, drop: tuple[str, ...] = ()
) -> tuple[float, NDArray[np.float64]]:
    """Logistic hazard without the drivers in ``drop`` (their coefficients are 0).

    Returns:
        ``(intercept, coefficients (len(LEAVE_COLUMNS),))``. With every driver dropped (or a
        single class) the intercept is the logit of the base rate.

    Raises:
        ValueError: For an unknown driver name.
    """
    from sklearn.linear_model import LogisticRegression

    unknown = [d for d in drop if d not in LEAVE_GROUPS]
    if unknown:
        raise ValueError(f"drop: unknown driver {unknown[0]!r} (known: {sorted(LEAVE_GROUPS)})")
    on = np.ones(len(LEAVE_COLUMNS), dtype=bool)
    for d in drop:
        on[list(LEAVE_GROUPS[d])] = False
    # A column that never varies in the data carries no information: keep it at 0.
    if samples.x.shape[0]:
        on &= samples.x.std(axis=0) > 0
    coef = np.zeros(len(LEAVE_COLUMNS))
    rate = float(np.clip(samples.y.mean() if samples.y.size else 0.5, 1e-6, 1 - 1e-6))
    if not on.any() or np.unique(samples.y).size < 2:
        return float(np.log(rate / (1 - rate))), coef
    model = LogisticRegression(C=100.0, max_iter=2000)
    model.fit(samples.x[:, on], samples.y)
    coef[on] = model.coef_[0]
    return float(model.intercept_[0]), coef


def linear_predictor(
    x: NDArray[np.float64], intercept: float, coef: NDArray[np.float64]
) -> NDArray[np.float64]:
    """``intercept + x @ coef`` per row, the same arithmetic at any number of rows.

    A row-wise product and sum, not ``x @ coef``: BLAS picks its kernel by the number of
    rows (gemv vs dot), and on some CPUs the two round differently, which would make one
    user's leave probability depend on who else is in the batch.
    """
    out: NDArray[np.float64] = intercept + (x * coef).sum(axis=1)
    return out


def hazard(
    x: NDArray[np.float64], intercept: float, coef: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Leave probabilities of feature rows ``x``."""
    return 1.0 / (1.0 + np.exp(-linear_predictor(x, intercept, coef)))


def mean_log_likelihood(p: NDArray[np.float64], y: NDArray[np.int64]) -> float:
    """Mean Bernoulli log-likelihood (probabilities clipped to ``[1e-12, 1 - 1e-12]``)."""
    q = np.clip(p, 1e-12, 1 - 1e-12)
    return float(np.mean(y * np.log(q) + (1 - y) * np.log(1 - q)))
