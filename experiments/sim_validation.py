"""Validation of a fitted world against held-out logs (issue 10, ``movierec sim validate``).

Every number is measured on data the world never saw: PROTOCOL.md test targets for the
preference and rating models, and the *other* half of the users (the users of the other
world) for the session dynamics. ``validate_worlds`` returns one JSON-able dict; the
Markdown report and plots are written by :mod:`experiments.sim_report`.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import stats
from sklearn.metrics import log_loss, roc_auc_score

from movierec_env.data.types import PreparedDataset
from movierec_env.metrics import history_mask, metrics_from_ranks, ranks_from_scores
from movierec_env.sim import World
from movierec_env.sim import leave as lv
from movierec_env.sim import preference as pr
from movierec_env.sim.features import training_interactions, training_targets
from movierec_env.sim.rating import fit_als, fold_in, predict

__all__ = [
    "IGNORE_GRID",
    "PATIENCE_GRID",
    "baseline_metrics",
    "compare_worlds",
    "km_survival",
    "leave_metrics",
    "leave_terms",
    "logged_sessions",
    "preference_metrics",
    "preference_terms",
    "public",
    "rating_metrics",
    "replay_metrics",
    "sensitivity",
    "simulate_sessions",
    "validate_worlds",
]

#: Declared parameter values of the sensitivity analysis.
IGNORE_GRID = (0.1, 0.3, 0.5, 0.7, 0.9)
PATIENCE_GRID = (0.0, 0.2, 1.0)


def _paired(full: NDArray[np.float64], null: NDArray[np.float64]) -> dict[str, Any]:
    """Mean per-sample log-likelihood gain of ``full`` over ``null``, its SE, a verdict."""
    d = full - null
    n = int(d.size)
    se = float(d.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")
    gain = float(d.mean()) if n else float("nan")
    beats = bool(n > 1 and gain > 2.0 * se)
    return {
        "ll": float(full.mean()),
        "ll_null": float(null.mean()),
        "gain": gain,
        "se": se,
        "n": n,
        "beats_null": beats,
        "status": "fitted" if beats else "assumption",
    }


def _tables(world: World) -> pr.PreferenceTables:
    """The world's choice-model tables (raw counts, as while fitting)."""
    import scipy.sparse as sp

    a = world.arrays
    n1 = a["pop_count"].shape[0]
    trans = sp.csr_matrix(
        (a["trans_count"].astype(np.float64), a["trans_indices"], a["trans_indptr"]),
        shape=(n1, n1),
    )
    return pr.PreferenceTables(
        a["pref_factors"].astype(np.float64),
        a["genres"].astype(np.float64),
        a["pop_count"].astype(np.float64),
        trans,
    )


def preference_metrics(data: PreparedDataset, world: World) -> dict[str, float]:
    """PROTOCOL.md full-ranking metrics of the organic choice on test targets."""
    pos = data.target_indices("test")
    user = np.searchsorted(data.offsets, pos, side="right") - 1
    ranks = []
    for s in range(0, pos.size, 512):
        p, u = pos[s : s + 512], user[s : s + 512]
        scores = world.organic_scores(world.initial_state(u, p, data))
        ranks.append(ranks_from_scores(scores, data.items[p], history_mask(data, p)))
    return metrics_from_ranks(np.concatenate(ranks))


def baseline_metrics(data: PreparedDataset) -> dict[str, dict[str, float]]:
    """Popular and first-order Markov on the same test targets (encoders.baselines)."""
    from encoders.baselines import markov_scores, popularity_scores

    pos = data.target_indices("test")
    out = {}
    for name, fn in (("popular", popularity_scores), ("markov", markov_scores)):
        ranks = [
            ranks_from_scores(
                fn(data, pos[s : s + 512]),
                data.items[pos[s : s + 512]],
                history_mask(data, pos[s : s + 512]),
            )
            for s in range(0, pos.size, 512)
        ]
        out[name] = metrics_from_ranks(np.concatenate(ranks))
    return out


def rating_metrics(data: PreparedDataset, world: World, seed: int) -> dict[str, Any]:
    """RMSE/MAE of the rating model on test targets next to three baselines."""
    pos = data.target_indices("test")
    user = np.searchsorted(data.offsets, pos, side="right") - 1
    st = world.initial_state(user, pos, data)
    y = data.ratings[pos].astype(np.float64)
    pred = world.rating(st, data.items[pos])
    no_drift = world.rating(st, data.items[pos]) - world.fitted["rating_drift"] * st.satisfaction
    train = data.train_mask()
    glob = np.full(pos.size, float(data.ratings[train].mean()))
    item_mean = data.item_mean_rating[data.items[pos]].astype(np.float64)
    # User + item biases fitted on ALL users' training ratings (a stronger baseline than
    # the world's half), users folded in from the same prefixes as the world.
    idx = np.flatnonzero(train)
    bias_model = fit_als(
        data.user_index[idx],
        data.n_users,
        data.items[idx],
        data.ratings[idx],
        data.n_items,
        0,
        world.fitted["rating_reg"],
        seed,
    )
    pidx = np.flatnonzero(np.arange(data.n_interactions) < np.repeat(data.test_index, data.lengths))
    bu, fu = fold_in(
        bias_model, data.user_index[pidx], data.n_users, data.items[pidx], data.ratings[pidx]
    )
    ub = predict(bias_model, bu[user], fu[user], data.items[pos])
    lo, hi = data.rating_scale
    out: dict[str, Any] = {
        "n": int(pos.size),
        "dim": int(world.arrays["rating_item_factors"].shape[1]),
    }
    for name, p in (
        ("", pred),
        ("_global_mean", glob),
        ("_item_mean", item_mean),
        ("_user_item_bias", ub),
        ("_no_drift", no_drift),
    ):
        p = np.clip(p, lo, hi)
        out[f"rmse{name}"] = float(np.sqrt(np.mean((p - y) ** 2)))
        out[f"mae{name}"] = float(np.mean(np.abs(p - y)))
    sig = world.fitted["rating_sigma"]
    out["_drift_rows"] = (
        -0.5 * ((y - np.clip(pred, lo, hi)) / sig) ** 2,
        -0.5 * ((y - np.clip(no_drift, lo, hi)) / sig) ** 2,
    )
    return out


def _ece(p: NDArray[np.float64], y: NDArray[np.int64], bins: int = 10) -> float:
    edges = np.unique(np.quantile(p, np.linspace(0, 1, bins + 1)))
    which = np.clip(np.searchsorted(edges[1:-1], p, side="right"), 0, max(edges.size - 2, 0))
    ece = 0.0
    for b in np.unique(which):
        m = which == b
        ece += m.mean() * abs(float(y[m].mean()) - float(p[m].mean()))
    return float(ece)


def leave_metrics(
    data: PreparedDataset, world: World, heldout: NDArray[np.int64]
) -> dict[str, Any]:
    """AUC, ECE, log loss and reliability of the hazard on held-out users' sessions."""
    from sklearn.calibration import calibration_curve

    f = world.fitted
    s = lv.leave_samples(
        data,
        training_interactions(data, heldout),
        f["satisfaction_decay"],
        f["exposure_decay"],
        world.params.gap_hours,
    )
    coef = np.array([f[f"leave_{c}"] for c in lv.LEAVE_COLUMNS])
    p = lv.hazard(s.x, f["leave_intercept"], coef)
    base = float(world.meta["report"]["leave_base_rate"])
    p_null = np.full(p.size, base)
    two = np.unique(s.y).size == 2
    prob_true, prob_pred = calibration_curve(s.y, p, n_bins=10, strategy="quantile")
    row = s.y * np.log(p) + (1 - s.y) * np.log(1 - p)
    row_null = s.y * np.log(p_null) + (1 - s.y) * np.log(1 - p_null)
    return {
        "auc": float(roc_auc_score(s.y, p)) if two else float("nan"),
        "ece": _ece(p, s.y),
        "ece_null": _ece(p_null + 1e-12 * np.arange(p.size) / p.size, s.y),
        "log_loss": float(log_loss(s.y, p, labels=[0, 1])),
        "log_loss_null": float(log_loss(s.y, p_null, labels=[0, 1])),
        "ll": float(row.mean()),
        "ll_null": float(row_null.mean()),
        "base_rate_heldout": float(s.y.mean()),
        "base_rate_fitted": base,
        "n": int(s.y.size),
        "reliability": {"prob_pred": prob_pred.tolist(), "prob_true": prob_true.tolist()},
        "_samples": s,
    }


def preference_terms(
    data: PreparedDataset, world: World, heldout: NDArray[np.int64], seed: int, n: int
) -> dict[str, Any]:
    """Held-out next-item log-likelihood of each preference term against its null.

    Nulls are refitted on the world's own users (same sample size), then scored on
    ``n`` transitions of the held-out users.
    """
    rng = np.random.default_rng(seed)
    tables = _tables(world)
    own = training_targets(data, world.arrays["users"])
    own = np.sort(rng.choice(own, min(n, own.size), replace=False))
    held = training_targets(data, heldout)
    held = np.sort(rng.choice(held, min(n, held.size), replace=False))
    f = world.fitted
    lam, delta = f["pref_decay"], f["exposure_decay"]
    w_full = np.array([f[f"pref_{k}_weight"] for k in pr.FEATURES])
    v = tables.factors
    full = pr.row_log_likelihood(data, pr.states_at(data, held, v, lam, delta), tables, w_full)
    nulls = {
        "recency (profile decay vs order ignored, lam=1)": (1.0, delta, (1, 1, 1, 1)),
        "genre momentum (exposure term vs off)": (lam, delta, (1, 0, 1, 1)),
        "exposure decay (vs no decay, delta=1)": (lam, 1.0, (1, 1, 1, 1)),
        "popularity prior (vs off)": (lam, delta, (1, 1, 0, 1)),
        "taste factors (vs off)": (lam, delta, (0, 1, 1, 1)),
        "last-item transitions (vs off)": (lam, delta, (1, 1, 1, 0)),
    }
    out = {}
    for name, (l0, d0, free) in nulls.items():
        inp = pr.states_at(data, own, v, l0, d0, in_sample=True)
        w0, _ = pr.fit_coefficients(data, inp, tables, tuple(bool(x) for x in free))
        null = pr.row_log_likelihood(data, pr.states_at(data, held, v, l0, d0), tables, w0)
        out[name] = {**_paired(full, null), "kind": "next-item LL per transition"}
    return out


def leave_terms(data: PreparedDataset, world: World, leave: dict[str, Any]) -> dict[str, Any]:
    """Each hazard driver against the hazard refitted without it (held-out users)."""
    f = world.fitted
    own = lv.leave_samples(
        data,
        training_interactions(data, world.arrays["users"]),
        f["satisfaction_decay"],
        f["exposure_decay"],
        world.params.gap_hours,
    )
    held: lv.LeaveSamples = leave["_samples"]
    b_full, c_full = lv.fit_hazard(own)

    def rows(b0: float, c: NDArray[np.float64]) -> NDArray[np.float64]:
        p = np.clip(lv.hazard(held.x, b0, c), 1e-12, 1 - 1e-12)
        y = held.y.astype(np.float64)
        out: NDArray[np.float64] = y * np.log(p) + (1.0 - y) * np.log(1.0 - p)
        return out

    full = rows(b_full, c_full)
    out = {}
    for name in lv.LEAVE_GROUPS:
        out[f"leave: {name} (vs dropped)"] = {
            **_paired(full, rows(*lv.fit_hazard(own, (name,)))),
            "kind": "session-end LL per rating",
        }
    out["leave: all drivers (vs constant hazard)"] = {
        **_paired(full, rows(*lv.fit_hazard(own, tuple(lv.LEAVE_GROUPS)))),
        "kind": "session-end LL per rating",
    }
    return out


def logged_sessions(
    data: PreparedDataset, users: NDArray[np.int64], gap_hours: float
) -> dict[str, NDArray[Any]]:
    """Sessions of ``users``' training interactions.

    Returns:
        ``start`` (absolute index of the first rating), ``user``, ``length``,
        ``repeat`` (share of consecutive pairs sharing a genre, NaN for length 1),
        ``rating`` (mean rating) and ``complete`` (the end is observed; a user's last
        training session is censored) per session.
    """
    from movierec_env.sim.features import session_table

    position, ends, labelled = session_table(data, gap_hours)
    idx = training_interactions(data, users)
    sid = np.cumsum(position[idx] == 1) - 1
    n = int(sid.max()) + 1 if sid.size else 0
    last = np.r_[sid[1:] != sid[:-1], True] if sid.size else np.zeros(0, dtype=bool)
    complete = np.zeros(n, dtype=bool)
    complete[sid[last]] = (ends & labelled)[idx[last]]
    length = np.bincount(sid, minlength=n)
    rating = np.bincount(sid, weights=data.ratings[idx], minlength=n) / np.maximum(length, 1)
    g = data.item_genres
    share = (g[data.items[idx[:-1]]] * g[data.items[idx[1:]]]).sum(axis=1) > 0
    same = sid[1:] == sid[:-1]
    rep = np.bincount(sid[1:][same], weights=share[same], minlength=n)
    repeat = np.where(length > 1, rep / np.maximum(length - 1, 1), np.nan)
    start = idx[np.r_[True, sid[1:] != sid[:-1]]] if sid.size else idx
    return {
        "start": start,
        "user": data.user_index[start],
        "length": length,
        "repeat": repeat,
        "rating": rating,
        "complete": complete,
    }


def simulate_sessions(
    world: World,
    data: PreparedDataset,
    users: NDArray[np.int64],
    prefix_ends: NDArray[np.int64],
    rng: np.random.Generator,
    policy: str = "none",
    max_steps: int | None = None,
) -> dict[str, NDArray[Any]]:
    """Run one session per user until they leave (or ``max_steps``).

    ``policy`` is ``"none"`` (no recommendation: organic replay), ``"greedy"`` (the
    world's own top unseen item) or ``"popular"`` (most popular unseen item).

    Returns:
        Per user: ``length``, ``repeat``, ``rating`` (mean), ``accepted`` (count).
    """
    cap = max_steps or world.params.max_session_steps
    b = users.size
    st = world.initial_state(users, prefix_ends, data)
    rows = np.arange(b)
    length, rep, tot_r, acc = (np.zeros(b) for _ in range(4))
    prev = np.zeros(b, dtype=np.int64)
    g = world.arrays["genres"] > 0
    pop = world.arrays["pop_count"].astype(np.float64)
    active = np.ones(b, dtype=bool)
    for _ in range(cap):
        if policy == "greedy":
            rec = world.organic_scores(st).argmax(axis=1)
        elif policy == "popular":
            rec = np.where(st.seen, -np.inf, pop[None, :]).argmax(axis=1)
        else:
            rec = np.zeros(rows.size, dtype=np.int64)
        res = world.step(st, rec, rng)
        r, w = rows[active], res.watched_items[active]
        length[r] += 1
        tot_r[r] += res.ratings[active]
        acc[r] += res.accepted[active]
        rep[r] += (prev[r] > 0) & (g[prev[r]] & g[w]).any(axis=1)
        prev[r] = w
        active &= ~res.left
        if not active.any():
            break
        if active.mean() < 0.5:  # compact the batch: most sessions are short
            st, rows = st.take(np.flatnonzero(active)), rows[active]
            active = np.ones(rows.size, dtype=bool)
    return {
        "length": length,
        "repeat": np.where(length > 1, rep / np.maximum(length - 1, 1), np.nan),
        "rating": tot_r / np.maximum(length, 1),
        "accepted": acc,
    }


def _distances(sim: NDArray[np.float64], log: NDArray[np.float64]) -> dict[str, float]:
    sim, log = sim[np.isfinite(sim)], log[np.isfinite(log)]
    nan = float("nan")
    if sim.size == 0 or log.size == 0:
        keys = ("wasserstein", "ks", "mean_sim", "mean_log", "median_sim", "median_log")
        return dict.fromkeys(keys, nan)
    return {
        "wasserstein": float(stats.wasserstein_distance(sim, log)),
        "ks": float(stats.ks_2samp(sim, log).statistic),
        "mean_sim": float(sim.mean()),
        "mean_log": float(log.mean()),
        "median_sim": float(np.median(sim)),
        "median_log": float(np.median(log)),
    }


def km_survival(length: NDArray[Any], event: NDArray[np.bool_], cap: int) -> NDArray[np.float64]:
    """Kaplan-Meier ``S[k] = P(session length > k)`` for ``k = 0..cap`` (censoring allowed)."""
    length = np.minimum(np.asarray(length, dtype=np.int64), cap)
    event = np.asarray(event, dtype=bool) & (np.asarray(length) < cap)
    ks = np.arange(cap + 1)
    at_risk = (length[None, :] >= ks[:, None]).sum(axis=1)
    ends = np.bincount(length[event], minlength=cap + 1)[: cap + 1]
    h = np.divide(ends, at_risk, out=np.zeros(cap + 1), where=at_risk > 0)
    h[0] = 0.0
    return np.asarray(np.cumprod(1.0 - h))


def _survival(sim_len: NDArray[Any], log: dict[str, NDArray[Any]], cap: int) -> dict[str, Any]:
    s_log = km_survival(log["length"], log["complete"], cap)
    s_sim = km_survival(sim_len, sim_len < cap, cap)
    at = [k for k in (1, 2, 5, 10, 20, 50, 100) if k <= cap]
    return {
        "rmst_log": float(s_log[:cap].sum()),
        "rmst_sim": float(s_sim[:cap].sum()),
        "max_abs_diff": float(np.abs(s_log - s_sim).max()),
        "survival_log": {str(k): float(s_log[k]) for k in at},
        "survival_sim": {str(k): float(s_sim[k]) for k in at},
        "_curves": (s_log, s_sim),
    }


def replay_metrics(
    data: PreparedDataset,
    world: World,
    heldout: NDArray[np.int64],
    seed: int,
    max_sessions: int,
) -> dict[str, Any]:
    """Held-out users' logged sessions vs the world's organic sessions from the same starts.

    Session lengths are compared twice: as distributions over *complete* sessions, and as
    Kaplan-Meier survival curves over all sessions (a user's last training session is
    censored, and those are often the long sign-up bursts).
    """
    logged = logged_sessions(data, heldout, world.params.gap_hours)
    rng = np.random.default_rng(seed)
    n_all = logged["start"].size
    pick = np.sort(rng.choice(n_all, min(max_sessions, n_all), replace=False))
    log = {k: v[pick] for k, v in logged.items()}
    cap = world.params.max_session_steps
    sim = simulate_sessions(world, data, log["user"], log["start"], rng)
    done = log["complete"]
    log_len = np.minimum(log["length"], cap).astype(np.float64)
    return {
        "n_sessions": int(pick.size),
        "n_complete": int(done.sum()),
        "cap": cap,
        "capped_share_log": float((log["length"][done] >= cap).mean()) if done.any() else 0.0,
        "capped_share_sim": float((sim["length"][done] >= cap).mean()) if done.any() else 0.0,
        "session_length": _distances(sim["length"][done], log_len[done]),
        "session_survival": _survival(sim["length"], log, cap),
        "genre_repeat": _distances(sim["repeat"][done], log["repeat"][done].astype(np.float64)),
        "mean_rating": _distances(sim["rating"][done], log["rating"][done].astype(np.float64)),
        "_sim": {k: v[done] for k, v in sim.items()},
        "_log": {**{k: v[done] for k, v in log.items()}, "length": log_len[done]},
    }


def _nanmean(x: NDArray[np.float64]) -> float:
    x = x[np.isfinite(x)]
    return float(x.mean()) if x.size else float("nan")


def sensitivity(
    data: PreparedDataset, world: World, seed: int, n_users: int = 300, steps: int = 50
) -> list[dict[str, Any]]:
    """Acceptance and session statistics as the declared parameters vary."""
    pos = data.target_indices("test")
    rng = np.random.default_rng(seed)
    pos = np.sort(rng.choice(pos, min(n_users, pos.size), replace=False))
    user = np.searchsorted(data.offsets, pos, side="right") - 1
    configs = [{"ignore_prob": v} for v in IGNORE_GRID]
    configs += [{"ignore_leave_weight": v} for v in PATIENCE_GRID]
    configs += [{"boredom_weight": 1.0}]
    out: list[dict[str, Any]] = []
    for cfg in configs:
        w = world.with_params(**cfg)
        for policy in ("greedy", "popular", "none"):
            if policy == "none" and len(out) >= 3:
                continue  # organic sessions do not depend on the declared parameters
            sim = simulate_sessions(w, data, user, pos, np.random.default_rng(seed), policy, steps)
            out.append(
                {
                    **{k: float(v) for k, v in cfg.items()},
                    "policy": policy,
                    "accept_rate": float(sim["accepted"].sum() / max(sim["length"].sum(), 1)),
                    "session_length": float(sim["length"].mean()),
                    "mean_rating": _nanmean(sim["rating"]),
                    "genre_repeat": _nanmean(sim["repeat"]),
                }
            )
    return out


def compare_worlds(data: PreparedDataset, a: World, b: World) -> dict[str, Any]:
    """How much two independently fitted worlds differ (scalars, item tables, rankings)."""
    scalars = {
        k: {"train": a.fitted[k], "eval": b.fitted[k], "abs_diff": abs(a.fitted[k] - b.fitted[k])}
        for k in a.fitted
    }
    pa, pb = np.log1p(a.arrays["pop_count"]), np.log1p(b.arrays["pop_count"])
    both = (pa > 0) & (pb > 0)
    corr_bias = float(
        np.corrcoef(a.arrays["rating_item_bias"][both], b.arrays["rating_item_bias"][both])[0, 1]
    )
    corr_pop = float(np.corrcoef(pa[1:], pb[1:])[0, 1])
    pos = data.target_indices("test")
    user = np.searchsorted(data.offsets, pos, side="right") - 1
    sa = a.organic_scores(a.initial_state(user, pos, data))
    sb = b.organic_scores(b.initial_state(user, pos, data))
    ta = np.argsort(-sa, axis=1)[:, :10]
    tb = np.argsort(-sb, axis=1)[:, :10]
    overlap = np.mean([np.intersect1d(x, y).size / 10 for x, y in zip(ta, tb, strict=True)])
    rho = [stats.spearmanr(x, y).statistic for x, y in zip(sa[:50, 1:], sb[:50, 1:], strict=True)]
    return {
        "scalars": scalars,
        "rating_item_bias_corr": corr_bias,
        "log_pop_corr": corr_pop,
        "top10_overlap": float(overlap),
        "organic_score_spearman": float(np.nanmean(np.where(np.isfinite(rho), rho, np.nan))),
    }


def validate_worlds(
    data: PreparedDataset,
    worlds: dict[str, World],
    seed: int = 0,
    sample: int = 1500,
    max_sessions: int = 1500,
) -> dict[str, Any]:
    """The whole validation of the ``train`` world (and the ``eval`` world's key numbers).

    Held-out users of a world are the other world's users.

    Returns:
        JSON-able dict (keys starting with ``_`` hold arrays for the plots).
    """
    t0 = time.perf_counter()
    w, e = worlds["train"], worlds["eval"]
    held = e.arrays["users"]
    pref = preference_metrics(data, w)
    base = baseline_metrics(data)
    rating = rating_metrics(data, w, seed)
    leave = leave_metrics(data, w, held)
    terms = preference_terms(data, w, held, seed, sample)
    terms.update(leave_terms(data, w, leave))
    full_r, null_r = rating["_drift_rows"]
    terms["rating drift with satisfaction (vs off)"] = {
        **_paired(full_r, null_r),
        "kind": "Gaussian rating LL per test target (up to a constant)",
    }
    replay = replay_metrics(data, w, held, seed, max_sessions)
    eval_pref = preference_metrics(data, e)
    return {
        "dataset": data.name,
        "fingerprint": data.fingerprint,
        "seed": seed,
        "params": w.params.to_dict(),
        "fit": {k: v.meta["report"] for k, v in worlds.items()},
        "preference": {
            **pref,
            "popular": base["popular"],
            "markov": base["markov"],
            "eval_world": eval_pref,
        },
        "rating": rating,
        "leave": leave,
        "terms": terms,
        "replay": replay,
        "sensitivity": sensitivity(data, w, seed),
        "worlds": compare_worlds(data, w, e),
        "validate_seconds": round(time.perf_counter() - t0, 1),
    }


def public(result: Any) -> Any:
    """``result`` without the private (``_``-prefixed) entries, JSON-able (NaN -> None)."""
    if isinstance(result, dict):
        return {k: public(v) for k, v in result.items() if not str(k).startswith("_")}
    if isinstance(result, list):
        return [public(v) for v in result]
    if isinstance(result, (np.floating, np.integer, np.bool_)):
        result = result.item()
    if isinstance(result, float) and not np.isfinite(result):
        return None  # JSON has no NaN
    return result
