"""Fitting a world on training interactions (PROTOCOL.md) of one half of the users."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from numpy.typing import NDArray
from tqdm.auto import tqdm

from movierec_env.data.types import PreparedDataset
from movierec_env.sim import leave as lv
from movierec_env.sim import preference as pr
from movierec_env.sim.features import (
    genre_rows,
    shift_within_users,
    training_interactions,
    training_targets,
    world_users,
)
from movierec_env.sim.params import WorldParams, check_world_name
from movierec_env.sim.rating import RatingItems, fit_als, fold_in, predict, rating_step
from movierec_env.sim.world import World

__all__ = [
    "DELTA_GRID",
    "LAMBDA_GRID",
    "REG_GRID",
    "fit_leave",
    "fit_preference",
    "fit_rating",
    "fit_world",
]

#: Grids of the profile decay ``lam`` and the genre-exposure decay ``delta``.
LAMBDA_GRID = (0.5, 0.7, 0.85, 0.95)
DELTA_GRID = (0.5, 0.8, 0.95)
#: Grid of the rating model's ridge penalty (chosen on validation targets).
REG_GRID = (3.0, 10.0, 30.0)


def _check_seed(seed: int) -> int:
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def fit_preference(
    data: PreparedDataset, users: NDArray[np.int64], seed: int, dim: int, sample: int
) -> dict[str, Any]:
    """Item factors, popularity prior and the grid + Newton fit of the choice softmax."""
    factors = pr.item_factors(data, users, dim, seed)
    tables = pr.PreferenceTables(
        factors,
        genre_rows(data),
        pr.popularity_counts(data, users),
        pr.transition_counts(data, users),
    )
    targets = training_targets(data, users)
    if targets.size == 0:
        raise ValueError("data: the world's users have no training transitions to fit")
    rng = np.random.default_rng(seed)
    if targets.size > sample:
        targets = np.sort(rng.choice(targets, sample, replace=False))

    def fit_at(lam: float, delta: float) -> tuple[NDArray[np.float64], float]:
        inp = pr.states_at(data, targets, factors, lam, delta, in_sample=True)
        return pr.fit_coefficients(data, inp, tables)

    grid: dict[str, float] = {}
    best: tuple[float, float, float, NDArray[np.float64]] = (-np.inf, 0.0, 0.0, np.zeros(4))
    for lam in LAMBDA_GRID:
        w, ll = fit_at(lam, 0.8)
        grid[f"lam={lam},delta=0.8"] = ll
        if ll > best[0]:
            best = (ll, lam, 0.8, w)
    for delta in DELTA_GRID:
        if delta == 0.8:
            continue
        w, ll = fit_at(best[1], delta)
        grid[f"lam={best[1]},delta={delta}"] = ll
        if ll > best[0]:
            best = (ll, best[1], delta, w)
    ll, lam, delta, w = best
    return {
        "factors": factors,
        "pop": tables.pop,
        "trans": tables.trans,
        "w": w,
        "lam": lam,
        "delta": delta,
        "train_ll": ll,
        "grid": grid,
        "n_targets": int(targets.size),
    }


def _val_rmse(data: PreparedDataset, model: RatingItems, users: NDArray[np.int64]) -> float:
    users = users[data.val_index[users] >= 0]
    if users.size == 0:
        return float("nan")
    idx = training_interactions(data, users)
    comp = np.searchsorted(users, data.user_index[idx])
    bias, fac = fold_in(model, comp, users.size, data.items[idx], data.ratings[idx])
    tgt = data.val_index[users]
    pred = predict(model, bias, fac, data.items[tgt])
    return float(np.sqrt(np.mean((pred - data.ratings[tgt]) ** 2)))


def fit_rating(
    data: PreparedDataset, users: NDArray[np.int64], seed: int, dim: int, rho: float
) -> dict[str, Any]:
    """ALS rating model (ridge chosen on validation targets), noise and satisfaction drift."""
    idx = training_interactions(data, users)
    comp = np.searchsorted(users, data.user_index[idx])
    items, r = data.items[idx], data.ratings[idx]
    fits = {
        reg: fit_als(comp, users.size, items, r, data.n_items, dim, reg, seed) for reg in REG_GRID
    }
    val = {reg: _val_rmse(data, m, users) for reg, m in fits.items()}
    reg = min(REG_GRID, key=lambda g: (np.nan_to_num(val[g], nan=np.inf), g))
    model = fits[reg]
    bias, fac = fold_in(model, comp, users.size, items, r)
    resid = r - predict(model, bias[comp], fac[comp], items)
    # Satisfaction before each rating (exclusive of it).
    sat = shift_within_users(data.offsets, lv.satisfaction(data, rho, _user_means(data)))[idx]
    drift = float((resid * sat).sum() / max(float((sat**2).sum()), 1e-12))
    vr = val[reg]
    sigma = float(vr) if np.isfinite(vr) else float(np.std(resid))
    return {"model": model, "reg": reg, "val_rmse": val, "sigma": sigma, "drift": drift}


def _user_means(data: PreparedDataset) -> NDArray[np.float64]:
    from movierec_env.sim.features import user_mean_ratings

    return user_mean_ratings(data)


def fit_leave(
    data: PreparedDataset, users: NDArray[np.int64], delta: float, gap_hours: float
) -> dict[str, Any]:
    """Logistic session-end hazard; ``rho`` chosen on a grid by in-sample likelihood."""
    idx = training_interactions(data, users)
    best: tuple[float, float, float, NDArray[np.float64]] = (
        -np.inf,
        0.0,
        0.0,
        np.zeros(len(lv.LEAVE_COLUMNS)),
    )
    grid: dict[str, float] = {}
    for rho in lv.RHO_GRID:
        s = lv.leave_samples(data, idx, rho, delta, gap_hours)
        b0, coef = lv.fit_hazard(s)
        ll = lv.mean_log_likelihood(lv.hazard(s.x, b0, coef), s.y) if s.y.size else 0.0
        grid[f"rho={rho}"] = ll
        if ll > best[0]:
            best = (ll, rho, b0, coef)
    s = lv.leave_samples(data, idx, best[1], delta, gap_hours)
    return {
        "rho": best[1],
        "intercept": best[2],
        "coef": best[3],
        "train_ll": best[0],
        "grid": grid,
        "n_samples": int(s.y.size),
        "base_rate": float(s.y.mean()) if s.y.size else float("nan"),
    }


def fit_world(
    data: PreparedDataset,
    world: str = "train",
    seed: int = 0,
    params: WorldParams | None = None,
    progress: bool = True,
    dim: int = 32,
    rating_dim: int = 16,
    sample: int = 3000,
) -> World:
    """Fit a world on the training interactions of one half of the users.

    Args:
        data: Prepared dataset (PROTOCOL.md split).
        world: ``"train"`` or ``"eval"``: which half of a ``seed``-permuted user list.
        seed: Seed of the user split, the SVD start vector, the likelihood sample and ALS.
        params: Declared parameters (defaults when ``None``); ``gap_hours`` cuts sessions.
        progress: Show a progress bar.
        dim: Preference factor dimension.
        rating_dim: Rating factor dimension.
        sample: Training transitions used for the choice-likelihood fit.

    Returns:
        The fitted world, with ``data`` attached.

    Raises:
        ValueError: For an unknown world name, a bad seed or too little data.
    """
    check_world_name(world)
    seed = _check_seed(seed)
    params = params if params is not None else WorldParams()
    if not isinstance(params, WorldParams):
        raise ValueError(f"params must be a WorldParams, got {type(params).__name__}")
    for name, v in (("dim", dim), ("rating_dim", rating_dim), ("sample", sample)):
        if not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
    if data.n_users < 2:
        raise ValueError(
            f"data: need at least 2 users to split into two worlds, got {data.n_users}"
        )
    t0 = time.perf_counter()
    users = world_users(data, world, seed)
    bar = tqdm(total=3, desc=f"fit world {world!r}", disable=not progress, leave=False)
    bar.set_postfix_str("preference")
    pref = fit_preference(data, users, seed, dim, sample)
    bar.update()
    bar.set_postfix_str("leave hazard")
    leave = fit_leave(data, users, pref["delta"], params.gap_hours)
    bar.update()
    bar.set_postfix_str("rating")
    rating = fit_rating(data, users, seed, rating_dim, leave["rho"])
    bar.update()
    bar.close()
    return _assemble(data, world, seed, params, users, pref, leave, rating, t0)


def _assemble(
    data: PreparedDataset,
    world: str,
    seed: int,
    params: WorldParams,
    users: NDArray[np.int64],
    pref: dict[str, Any],
    leave: dict[str, Any],
    rating: dict[str, Any],
    t0: float,
) -> World:
    model: RatingItems = rating["model"]
    train_r = data.ratings[data.train_mask()]
    step = rating_step(train_r)
    # The scale's ends on the rating grid: a '::' layout declares 0.5..5 but rates whole stars.
    lo = float(np.ceil(data.rating_scale[0] / step - 1e-9) * step)
    hi = float(np.floor(data.rating_scale[1] / step + 1e-9) * step)
    fitted = {
        "pref_factors_weight": pref["w"][0],
        "pref_momentum_weight": pref["w"][1],
        "pref_popularity_weight": pref["w"][2],
        "pref_transition_weight": pref["w"][3],
        "pref_decay": pref["lam"],
        "exposure_decay": pref["delta"],
        "rating_mean": model.mean,
        "rating_reg": model.reg,
        "rating_sigma": rating["sigma"],
        "rating_drift": rating["drift"],
        "rating_step": step,
        "rating_min": lo,
        "rating_max": hi,
        "leave_intercept": leave["intercept"],
        **{f"leave_{c}": float(v) for c, v in zip(lv.LEAVE_COLUMNS, leave["coef"], strict=True)},
        "satisfaction_decay": leave["rho"],
    }
    arrays = {
        "pref_factors": pref["factors"],
        "genres": genre_rows(data),
        "pop_count": pref["pop"],
        "trans_indptr": pref["trans"].indptr,
        "trans_indices": pref["trans"].indices,
        "trans_count": pref["trans"].data,
        "rating_item_bias": model.item_bias,
        "rating_item_factors": model.item_factors,
        "users": users,
    }
    report = {
        "fit_seconds": round(time.perf_counter() - t0, 2),
        "preference_train_ll": pref["train_ll"],
        "preference_grid": pref["grid"],
        "preference_targets": pref["n_targets"],
        "leave_train_ll": leave["train_ll"],
        "leave_grid": leave["grid"],
        "leave_samples": leave["n_samples"],
        "leave_base_rate": leave["base_rate"],
        "rating_val_rmse": {str(k): v for k, v in rating["val_rmse"].items()},
    }
    meta = {
        "world": world,
        "seed": seed,
        "fingerprint": data.fingerprint,
        "dataset": data.name,
        "n_users_fitted": int(users.size),
        "report": report,
    }
    w = World(arrays, fitted, params, meta)
    w.data = data
    return w
