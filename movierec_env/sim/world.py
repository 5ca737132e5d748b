"""The simulated user ("world"): batched state, organic choice, response, rating, leaving.

A :class:`World` holds only item-side and global parameters; a user is their logged
prefix, folded into a :class:`WorldState` by :meth:`World.initial_state`. All methods are
batched over ``B`` users and draw only from a passed :class:`numpy.random.Generator`.

One :meth:`World.step` is one movie watched:

1. the recommendation (one item per user, ``(B,)``, or a slate ``(B, k)``; item 0 = no
   recommendation) is taken with the choice-model probabilities of
   :meth:`World.accept_prob`, else the user picks organically from
   :meth:`World.organic_scores` (a softmax over unseen items);
2. the watched movie is rated (:meth:`World.rating` plus noise, rounded to the layout's
   step and clipped to its scale);
3. history, genre exposure, satisfaction, the ignored-recommendation counter and the
   session position are updated in place;
4. the user leaves with :meth:`World.leave_prob` of the new state.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from movierec_env.data.types import PreparedDataset
from movierec_env.sim.leave import LEAVE_COLUMNS, POSITION_EDGES, design, linear_predictor
from movierec_env.sim.params import WorldParams
from movierec_env.sim.rating import RatingItems, fold_in, predict

__all__ = ["ARRAYS", "FITTED", "StepResult", "World", "WorldState"]

#: Arrays every world holds: name -> (dtype, number of dimensions).
ARRAYS: dict[str, tuple[str, int]] = {
    "pref_factors": ("float32", 2),
    "genres": ("float32", 2),
    "pop_count": ("float32", 1),
    "trans_indptr": ("int64", 1),
    "trans_indices": ("int64", 1),
    "trans_count": ("float32", 1),
    "rating_item_bias": ("float32", 1),
    "rating_item_factors": ("float32", 2),
    "users": ("int64", 1),
}
#: Fitted scalars every world holds.
FITTED = (
    "pref_factors_weight",
    "pref_momentum_weight",
    "pref_popularity_weight",
    "pref_transition_weight",
    "pref_decay",
    "exposure_decay",
    "rating_mean",
    "rating_reg",
    "rating_sigma",
    "rating_drift",
    "rating_step",
    "rating_min",
    "rating_max",
    "leave_intercept",
    *(f"leave_{c}" for c in LEAVE_COLUMNS),
    "satisfaction_decay",
)
#: Dynamics a world can switch off (:meth:`World.with_dynamics`), for the horizon gate.
DYNAMICS = ("leave", "patience", "exposure", "satisfaction")


@dataclass
class WorldState:
    """Batched state of ``B`` simulated users (arrays updated in place by ``step``).

    Attributes:
        seen: Items already watched, ``(B, n_items + 1)`` bool (column 0 always True).
        profile: Decayed sum of watched items' preference factors, ``(B, d)``.
        profile_weight: Decayed count matching ``profile``, ``(B,)``.
        exposure: Decayed sum of watched items' genre rows, ``(B, n_genres)``.
        sat_num: Decayed sum of rating deviations from the user's mean, ``(B,)``.
        sat_den: Decayed count matching ``sat_num``, ``(B,)``.
        user_mean: The user's mean rating over the prefix, ``(B,)``.
        ignored: Decayed count of ignored recommendations, ``(B,)``.
        session_pos: Movies watched in the current session, ``(B,)`` int.
        last_item: The last watched item (0 = none), ``(B,)`` int.
        rating_bias: Folded-in rating bias, ``(B,)``.
        rating_factors: Folded-in rating factors, ``(B, d_r)``.
    """

    seen: NDArray[np.bool_]
    profile: NDArray[np.float64]
    profile_weight: NDArray[np.float64]
    exposure: NDArray[np.float64]
    sat_num: NDArray[np.float64]
    sat_den: NDArray[np.float64]
    user_mean: NDArray[np.float64]
    ignored: NDArray[np.float64]
    session_pos: NDArray[np.int64]
    last_item: NDArray[np.int64]
    rating_bias: NDArray[np.float64]
    rating_factors: NDArray[np.float64]

    @property
    def batch_size(self) -> int:
        """Number of users ``B``."""
        return int(self.seen.shape[0])

    @property
    def satisfaction(self) -> NDArray[np.float64]:
        """Decayed mean rating deviation (0 without ratings), ``(B,)``."""
        if self.sat_num.shape[0] == 1:  # the same quotient without np.divide's masked dispatch
            den = float(self.sat_den[0])
            return np.array([float(self.sat_num[0]) / den if den > 0 else 0.0])
        return np.divide(
            self.sat_num, self.sat_den, out=np.zeros_like(self.sat_num), where=self.sat_den > 0
        )

    @property
    def exposure_share(self) -> NDArray[np.float64]:
        """Each user's decayed genre exposure normalised to sum 1 (0 without any), ``(B, G)``."""
        et = self.exposure.sum(axis=1, keepdims=True)
        if et.shape[0] == 1:  # one user: the same quotients without the masked dispatch
            return self.exposure / et if et[0, 0] > 0 else np.zeros_like(self.exposure)
        return np.divide(self.exposure, et, out=np.zeros_like(self.exposure), where=et > 0)

    def copy(self) -> WorldState:
        """A deep copy."""
        return WorldState(**{f.name: getattr(self, f.name).copy() for f in fields(self)})

    def take(self, rows: NDArray[np.int64]) -> WorldState:
        """The sub-batch of ``rows`` (copies)."""
        return WorldState(**{f.name: getattr(self, f.name)[rows] for f in fields(self)})


class StepResult(NamedTuple):
    """What one :meth:`World.step` produced, per user (``(B,)`` arrays)."""

    accepted: NDArray[np.bool_]
    watched_items: NDArray[np.int64]
    ratings: NDArray[np.float64]
    leave_prob: NDArray[np.float64]
    left: NDArray[np.bool_]


def _segment_sum(offsets: NDArray[np.int64], x: NDArray[np.floating]) -> NDArray[np.float64]:
    n, b = int(offsets[-1]), offsets.size - 1
    seg = np.repeat(np.arange(b), np.diff(offsets))
    ind = sp.csr_matrix((np.ones(n), (seg, np.arange(n))), shape=(b, n))
    return np.asarray(ind @ x)


def _inverse_cdf_draw(
    logits: NDArray[np.float32],
    u: NDArray[np.float64],
    top: NDArray[np.float32] | None = None,
) -> NDArray[np.int64]:
    """One draw per row from ``softmax(logits)`` by inverting its CDF at ``u`` (``(B,)``).

    Two levels (blocks of about sqrt(n) columns, then columns within the chosen block), so
    the cost is one pass of ``exp`` and sums instead of a cumulative sum over every column.
    Never returns a column of zero probability (``-inf`` logit), even under rounding.
    ``top`` is ``logits.max(axis=1, keepdims=True)`` when the caller has it already.
    """
    b, n = logits.shape
    size = max(int(np.sqrt(n)), 1)
    n_blocks = -(-n // size)
    padded = np.empty((b, n_blocks * size), dtype=np.float32)
    padded[:, n:] = 0.0  # only the tail: the rest is written just below
    if top is None:
        top = logits.max(axis=1, keepdims=True)
    np.subtract(logits, top, out=padded[:, :n])
    np.exp(padded[:, :n], out=padded[:, :n])
    blocks = padded.reshape(b, n_blocks, size)
    cum_blocks = np.cumsum(blocks.sum(axis=2, dtype=np.float64), axis=1)
    if b == 1 and 0.0 < cum_blocks[0, -1] < np.inf:
        # One row: the same arithmetic on scalars. Both cumulative sums are of non-negative
        # terms, hence sorted, so counting the entries below a target is a searchsorted.
        t = float(u[0]) * float(cum_blocks[0, -1])
        k = min(int(np.searchsorted(cum_blocks[0], t)), n_blocks - 1)
        chosen1 = blocks[0, k]
        inner1 = np.cumsum(chosen1, dtype=np.float64)
        c = int(np.searchsorted(inner1, t - (float(cum_blocks[0, k - 1]) if k > 0 else 0.0)))
        last1 = size - 1 - int(np.argmax(chosen1[::-1] > 0))
        return np.array([k * size + min(c, last1)], dtype=np.int64)
    target = u * cum_blocks[:, -1]
    blk = np.minimum((cum_blocks < target[:, None]).sum(axis=1), n_blocks - 1)
    rows = np.arange(b)
    before = np.where(blk > 0, cum_blocks[rows, np.maximum(blk - 1, 0)], 0.0)
    chosen = blocks[rows, blk]
    inner = np.cumsum(chosen.astype(np.float64), axis=1)
    col = (inner < (target - before)[:, None]).sum(axis=1)
    # Rounding may push past the block's last column with mass: step back onto it.
    last = size - 1 - np.argmax(chosen[:, ::-1] > 0, axis=1)
    return (blk * size + np.minimum(col, last)).astype(np.int64)


class World:
    """A fitted simulated user (see the module docstring; fit with ``fit_world``).

    Args:
        arrays: The arrays of :data:`ARRAYS`.
        fitted: The scalars of :data:`FITTED`.
        params: Declared parameters.
        meta: ``fingerprint``, ``world``, ``seed``, ``dataset`` and a fit ``report``.
    """

    def __init__(
        self,
        arrays: dict[str, NDArray[Any]],
        fitted: dict[str, float],
        params: WorldParams,
        meta: dict[str, Any],
    ) -> None:
        missing = [k for k in (*ARRAYS, *FITTED) if k not in arrays and k not in fitted]
        if missing:
            raise ValueError(f"world is missing {missing[0]!r}")
        self.arrays = {k: np.asarray(arrays[k], dtype=ARRAYS[k][0]) for k in ARRAYS}
        self.fitted = {k: float(fitted[k]) for k in FITTED}
        self.params = params
        self.meta = dict(meta)
        self.data: PreparedDataset | None = None
        #: Dynamics switched on (all of :data:`DYNAMICS` for a fitted world).
        self.dynamics: frozenset[str] = frozenset(DYNAMICS)
        f = self.fitted
        self._w = np.array(
            [
                f["pref_factors_weight"],
                f["pref_momentum_weight"],
                f["pref_popularity_weight"],
                f["pref_transition_weight"],
            ]
        )
        self._leave_coef = np.array([f[f"leave_{c}"] for c in LEAVE_COLUMNS])
        self._position_edges = np.asarray(POSITION_EDGES)
        self._rating = RatingItems(
            f["rating_mean"],
            self.arrays["rating_item_bias"].astype(np.float64),
            self.arrays["rating_item_factors"].astype(np.float64),
            f["rating_reg"],
        )
        # Organic logits are one matmul: [a * profile, c * exposure, 1] @ [V, G, b * logpop].T
        n1 = self.arrays["pop_count"].shape[0]
        pop = (self._w[2] * np.log1p(self.arrays["pop_count"])).astype(np.float32)[:, None]
        self._item_matrix = np.ascontiguousarray(
            np.concatenate([self.arrays["pref_factors"], self.arrays["genres"], pop], axis=1).T
        )
        self._genres64 = self.arrays["genres"].astype(np.float64)
        a = self.arrays
        if (
            a["trans_indptr"].shape != (n1 + 1,)
            or a["trans_indices"].shape != a["trans_count"].shape
        ):
            raise ValueError("world transition table is malformed (indptr/indices/counts)")
        if a["trans_indices"].size and (
            a["trans_indices"].min() < 0 or a["trans_indices"].max() >= n1
        ):
            raise ValueError("world transition table has item indices out of range")
        # Transition logits w_t * log(1 + count), added row-wise for each user's last item.
        self._trans = sp.csr_matrix(
            (self._w[3] * np.log1p(a["trans_count"]), a["trans_indices"], a["trans_indptr"]),
            shape=(n1, n1),
            dtype=np.float32,
        )
        # The same table as plain CSR arrays: a step gathers its users' rows with numpy,
        # without scipy's per-call fancy-indexing overhead (same values, same order).
        self._trans_indptr = np.asarray(self._trans.indptr, dtype=np.int64)
        self._trans_indices = np.asarray(self._trans.indices, dtype=np.int64)
        self._trans_data = np.asarray(self._trans.data, dtype=np.float32)

    # ------------------------------------------------------------------ properties
    @property
    def n_items(self) -> int:
        """Catalogue size (items ``1..n_items``)."""
        return int(self.arrays["pop_count"].shape[0] - 1)

    @property
    def fingerprint(self) -> str:
        """Fingerprint of the dataset the world was fitted on."""
        return str(self.meta["fingerprint"])

    @property
    def name(self) -> str:
        """``"train"`` or ``"eval"``."""
        return str(self.meta["world"])

    def with_params(self, **changes: Any) -> World:
        """A copy with some declared parameters changed (arrays shared, read-only use).

        Raises:
            ValueError: For ``gap_hours`` (the hazard was fitted with it: refit instead)
                or an invalid value.
        """
        if "gap_hours" in changes and changes["gap_hours"] != self.params.gap_hours:
            raise ValueError(
                f"gap_hours={changes['gap_hours']!r}: the leave hazard was fitted with "
                f"gap_hours={self.params.gap_hours}; fit a new world instead"
            )
        out = World(self.arrays, self.fitted, replace(self.params, **changes), self.meta)
        out.data = self.data
        out.dynamics = self.dynamics
        return out

    def with_dynamics(self, **switches: bool) -> World:
        """A copy with some dynamics switched off (an analysis variant, never saved).

        Each switch names one channel through which an action changes the future:

        * ``leave``: the session-end hazard; off, :meth:`leave_prob` is 0 (users never leave);
        * ``patience``: the ignored-recommendation counter; off, it never grows, so
          ``ignore_leave_weight`` has no effect;
        * ``exposure``: what a watched movie does to later choices: the preference
          ``profile``, the genre ``exposure`` (momentum in :meth:`organic_scores`,
          boredom in :meth:`accept_prob`, genre concentration in the hazard) and the last
          item of the transition term stay as they were at the start;
        * ``satisfaction``: the rating deviation that drives rating drift and the hazard's
          satisfaction feature stays as it was at the start.

        The ``seen`` set and the session position always advance (a movie is watched once;
        the session clock is not an action's effect).

        Args:
            **switches: ``name=False`` to switch a dynamic off (``True`` to switch it on).

        Raises:
            ValueError: For a name outside :data:`DYNAMICS`.
        """
        unknown = sorted(set(switches) - set(DYNAMICS))
        if unknown:
            raise ValueError(f"unknown dynamics {unknown}; known: {list(DYNAMICS)}")
        out = self.with_params()
        on = set(self.dynamics)
        for name, value in switches.items():
            (on.add if value else on.discard)(name)
        out.dynamics = frozenset(on)
        return out

    def without_dynamics(self) -> World:
        """A copy where an action changes nothing but ``seen``: no leaving, frozen state.

        The organic choice, the take probabilities and the ratings of a user then depend
        only on which movies they have watched (never on the order or on what was ignored),
        and nobody leaves: one-step greedy is the optimal policy up to the ``seen`` effect.
        """
        return self.with_dynamics(**dict.fromkeys(DYNAMICS, False))

    # ------------------------------------------------------------------ state
    def initial_state(
        self,
        users: NDArray[np.integer],
        prefix_ends: NDArray[np.integer],
        data: PreparedDataset | None = None,
    ) -> WorldState:
        """States of users whose history is their logged interactions before ``prefix_ends``.

        Args:
            users: User indices, ``(B,)``.
            prefix_ends: Absolute interaction index one past each prefix (e.g. a target
                position, or ``data.train_end[users]``), ``(B,)``; within the user's rows.
            data: The dataset (default: the one attached at fit or load time).

        Raises:
            ValueError: Without a dataset, for another dataset, or out-of-range inputs.
        """
        d = data if data is not None else self.data
        if d is None:
            raise ValueError("data=None: this world has no dataset attached; pass data=")
        self.check_data(d)
        u = np.asarray(users, dtype=np.int64).ravel()
        ends = np.asarray(prefix_ends, dtype=np.int64).ravel()
        if u.shape != ends.shape:
            raise ValueError(f"prefix_ends has shape {ends.shape}, users has shape {u.shape}")
        if u.size and (u.min() < 0 or u.max() >= d.n_users):
            raise ValueError(f"users must be in [0, {d.n_users}), got {int(u.min())}..")
        starts = d.offsets[u]
        bad = (ends < starts) | (ends > d.offsets[u + 1])
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"prefix_ends[{i}]={int(ends[i])} is outside user {int(u[i])}'s rows "
                f"[{int(starts[i])}, {int(d.offsets[u[i] + 1])}]"
            )
        lens = ends - starts
        offs = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
        within = np.arange(offs[-1]) - np.repeat(offs[:-1], lens)
        idx = np.repeat(starts, lens) + within
        return self.state_from_history(offs, d.items[idx], d.ratings[idx])

    def state_from_history(
        self,
        offsets: NDArray[np.int64],
        items: NDArray[np.integer],
        ratings: NDArray[np.floating],
    ) -> WorldState:
        """States from histories in CSR form (``offsets`` of length ``B + 1``, oldest first).

        Raises:
            ValueError: If an item is outside ``1..n_items``.
        """
        it: NDArray[np.int64] = np.asarray(items, dtype=np.int64)
        r: NDArray[np.float64] = np.asarray(ratings, dtype=np.float64)
        items = it
        if items.size and (items.min() < 1 or items.max() > self.n_items):
            raise ValueError(f"history items must be in [1, {self.n_items}]")
        b, f = offsets.size - 1, self.fitted
        lens = np.diff(offsets)
        seg = np.repeat(np.arange(b), lens)
        age = np.repeat(offsets[1:], lens) - 1 - np.arange(items.size)
        cnt = lens.astype(np.float64)
        msum = _segment_sum(offsets, r[:, None])[:, 0]
        user_mean = np.where(cnt > 0, msum / np.maximum(cnt, 1), f["rating_mean"])
        w_p = f["pref_decay"] ** age
        w_e = f["exposure_decay"] ** age
        w_s = f["satisfaction_decay"] ** age
        dev = r - user_mean[seg]
        seen = np.zeros((b, self.n_items + 1), dtype=bool)
        seen[seg, items] = True
        seen[:, 0] = True
        bias, fac = fold_in(self._rating, seg, b, items, r)
        pf = self.arrays["pref_factors"].astype(np.float64)
        last = np.zeros(b, dtype=np.int64)
        last[lens > 0] = items[offsets[1:][lens > 0] - 1]
        return WorldState(
            seen=seen,
            profile=_segment_sum(offsets, w_p[:, None] * pf[items]),
            profile_weight=_segment_sum(offsets, w_p[:, None])[:, 0],
            exposure=_segment_sum(offsets, w_e[:, None] * self._genres64[items]),
            sat_num=_segment_sum(offsets, (w_s * dev)[:, None])[:, 0],
            sat_den=_segment_sum(offsets, w_s[:, None])[:, 0],
            user_mean=user_mean,
            ignored=np.zeros(b),
            session_pos=np.zeros(b, dtype=np.int64),
            last_item=last,
            rating_bias=bias,
            rating_factors=fac,
        )

    # ------------------------------------------------------------------ responses
    def _profile_exposure(self, state: WorldState) -> tuple[NDArray[Any], NDArray[Any]]:
        if state.batch_size == 1:  # the same quotient without np.divide's masked dispatch
            pw1 = float(state.profile_weight[0])
            prof = state.profile / pw1 if pw1 > 0 else np.zeros_like(state.profile)
        else:
            pw = state.profile_weight[:, None]
            prof = np.divide(state.profile, pw, out=np.zeros_like(state.profile), where=pw > 0)
        return prof, state.exposure_share

    def _transition_entries(
        self, last_item: NDArray[np.int64]
    ) -> tuple[NDArray[np.int64] | int, NDArray[np.int64] | slice]:
        """Batch rows and table positions of the transition entries of each ``last_item``."""
        ptr = self._trans_indptr
        if last_item.shape[0] == 1:
            li = int(last_item[0])
            return 0, slice(int(ptr[li]), int(ptr[li + 1]))
        starts = ptr[last_item]
        lens = ptr[last_item + 1] - starts
        rows = np.repeat(np.arange(last_item.shape[0]), lens)
        pos = np.arange(rows.size) + np.repeat(starts - (np.cumsum(lens) - lens), lens)
        return rows, pos

    def organic_scores(self, state: WorldState) -> NDArray[np.float32]:
        """Organic-choice logits ``(B, n_items + 1)``; seen items and padding are ``-inf``.

        The organic choice is ``softmax`` of these over the unseen items.
        """
        prof, expo = self._profile_exposure(state)
        one = np.ones((prof.shape[0], 1))
        left = np.concatenate([self._w[0] * prof, self._w[1] * expo, one], axis=1)
        out: NDArray[np.float32] = left.astype(np.float32) @ self._item_matrix
        rows, pos = self._transition_entries(state.last_item)
        out[rows, self._trans_indices[pos]] += self._trans_data[pos]
        np.copyto(out, np.float32(-np.inf), where=state.seen)
        return out

    def rating(self, state: WorldState, items: NDArray[np.integer]) -> NDArray[np.float64]:
        """Expected rating of ``items`` (``(B,)`` or ``(B, k)``), clipped to the scale."""
        it: NDArray[np.int64] = np.asarray(items, dtype=np.int64)
        f = self.fitted
        mu = predict(self._rating, state.rating_bias, state.rating_factors, it)
        drift = f["rating_drift"] * state.satisfaction
        mu = mu + (drift if it.ndim == 1 else drift[:, None])
        # np.minimum(np.maximum()) is np.clip without its Python-level dispatch cost.
        return np.minimum(np.maximum(mu, f["rating_min"]), f["rating_max"])

    def rating_all(self, state: WorldState) -> NDArray[np.float64]:
        """Expected rating of every item, ``(B, n_items + 1)`` (:meth:`rating` of each column)."""
        r, f = self._rating, self.fitted
        mu = state.rating_factors @ r.item_factors.T
        mu += r.mean + r.item_bias[None, :] + state.rating_bias[:, None]
        mu += (f["rating_drift"] * state.satisfaction)[:, None]
        return np.clip(mu, f["rating_min"], f["rating_max"], out=mu)

    def _checked_recs(self, rec: NDArray[np.int64], batch_size: int) -> NDArray[np.int64]:
        """``rec`` as a ``(B, k)`` slate array; a clear error on a bad shape or item.

        Raises:
            ValueError: If ``rec`` is not ``(B,)`` or ``(B, k)``, or an item is out of range.
        """
        rec2 = rec[:, None] if rec.ndim == 1 else rec
        if rec2.ndim != 2 or rec2.shape[0] != batch_size:
            raise ValueError(
                f"rec_items must have shape (B,) or (B, k) with B={batch_size}, got {rec.shape}"
            )
        if rec2.size and (rec2.min() < 0 or rec2.max() > self.n_items):
            raise ValueError(f"rec_items must be in [0, {self.n_items}] (0 = none)")
        return rec2

    def accept_prob(
        self,
        state: WorldState,
        rec_items: NDArray[np.integer],
        scores: NDArray[np.float32] | None = None,
    ) -> NDArray[np.float64]:
        """Probability that the user takes each recommended item.

        Choice model: slot ``k`` has utility ``kappa * (logit_k - logit_top) - boredom *
        (exposure . genres_k)`` against the organic option of mass ``ignore_mass``
        (:class:`WorldParams`). Seen items and item 0 (no recommendation) are never taken.

        Args:
            state: Current state.
            rec_items: ``(B,)`` one item per user, or ``(B, k)`` a slate.
            scores: :meth:`organic_scores` of ``state`` if already computed.

        Returns:
            Same shape as ``rec_items``; for a slate, ``1 - sum`` over slots is the
            probability of ignoring it.
        """
        rec = np.asarray(rec_items, dtype=np.int64)
        single = rec.ndim == 1
        rec2 = self._checked_recs(rec, state.batch_size)
        s = self.organic_scores(state) if scores is None else scores
        p = self._accept_prob(state, rec2, s, s.max(axis=1, keepdims=True))
        return p[:, 0] if single else p

    def _accept_prob(
        self,
        state: WorldState,
        rec2: NDArray[np.int64],
        s: NDArray[np.float32],
        s_max: NDArray[np.float32],
    ) -> NDArray[np.float64]:
        """:meth:`accept_prob` of a checked ``(B, k)`` slate, given the scores' row maxima."""
        top = s_max.astype(np.float64)
        top = np.where(np.isfinite(top), top, 0.0)
        rows = np.arange(rec2.shape[0])[:, None]
        util = self.params.accept_sensitivity * (s[rows, rec2].astype(np.float64) - top)
        if self.params.boredom_weight:
            _, expo = self._profile_exposure(state)
            overlap = np.einsum("bg,bkg->bk", expo, self._genres64[rec2])
            util = util - self.params.boredom_weight * overlap
        ok = np.isfinite(util)
        ex = np.where(ok, np.exp(np.where(ok, util, 0.0)), 0.0)
        den = self.params.ignore_mass + ex.sum(axis=1, keepdims=True)
        p: NDArray[np.float64] = np.divide(ex, den, out=np.zeros_like(ex), where=den > 0)
        return p

    def accept_prob_each(
        self, state: WorldState, scores: NDArray[np.float32] | None = None
    ) -> NDArray[np.float64]:
        """Probability that a *lone* recommendation of each item is taken, ``(B, n_items + 1)``.

        Column ``i`` equals ``accept_prob(state, full(B, i))`` (the same choice model,
        vectorised over every item); seen items and column 0 are 0.

        Args:
            state: Current state.
            scores: :meth:`organic_scores` of ``state`` if already computed.
        """
        s = self.organic_scores(state) if scores is None else scores
        top = s.max(axis=1, keepdims=True).astype(np.float64)
        top = np.where(np.isfinite(top), top, 0.0)
        util = self.params.accept_sensitivity * (s.astype(np.float64) - top)
        if self.params.boredom_weight:
            _, expo = self._profile_exposure(state)
            util -= self.params.boredom_weight * (expo @ self._genres64.T)
        ex = np.exp(util, out=util)  # seen items have logit -inf: exp gives 0
        den = self.params.ignore_mass + ex
        p = np.divide(ex, den, out=np.zeros_like(ex), where=den > 0)
        p[:, 0] = 0.0
        return p

    def leave_features(self, state: WorldState) -> NDArray[np.float64]:
        """Hazard design ``(B, len(LEAVE_COLUMNS))``: satisfaction, concentration, position."""
        conc = (state.exposure_share**2).sum(axis=1)
        if state.batch_size == 1:  # design() of one row, without its array plumbing
            x = np.empty((1, len(LEAVE_COLUMNS)))
            x[0, 0] = state.satisfaction[0]
            x[0, 1] = conc[0]
            x[0, 2:] = state.session_pos[0] >= self._position_edges
            return x
        return design(state.satisfaction, conc, state.session_pos)

    def leave_prob(self, state: WorldState) -> NDArray[np.float64]:
        """Probability of ending the session in ``state`` (after the last watched movie)."""
        if "leave" not in self.dynamics:
            return np.zeros(state.batch_size)
        feats = self.leave_features(state)
        z = linear_predictor(feats, self.fitted["leave_intercept"], self._leave_coef)
        z = z + self.params.ignore_leave_weight * state.ignored
        return 1.0 / (1.0 + np.exp(-z))

    # ------------------------------------------------------------------ dynamics
    def _organic_draw(self, scores: NDArray[np.float32], rng: np.random.Generator) -> NDArray[Any]:
        """One organic choice per row of ``scores`` (logits), drawn with ``rng``."""
        return _inverse_cdf_draw(scores, rng.random((scores.shape[0],)))

    def step(
        self, state: WorldState, rec_items: NDArray[np.integer], rng: np.random.Generator
    ) -> StepResult:
        """Advance every user by one watched movie (``state`` is updated in place).

        Draws four uniforms per user from ``rng`` and calls :meth:`step_with_draws`.

        Args:
            state: Current state (users that left should be reset by the caller).
            rec_items: ``(B,)`` or ``(B, k)`` recommended items, 0 = no recommendation.
            rng: Source of every random draw.

        Returns:
            :class:`StepResult` ``(accepted, watched_items, ratings, leave_prob, left)``.

        Raises:
            TypeError: If ``rng`` is not a :class:`numpy.random.Generator`.
            ValueError: If ``rec_items`` has the wrong shape or an item out of range.
        """
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
        return self.step_with_draws(state, rec_items, rng.random((state.batch_size, 4)))

    def _update(
        self,
        state: WorldState,
        watched: NDArray[np.int64],
        ratings: NDArray[np.float64],
        ignored: NDArray[np.bool_],
    ) -> None:
        f, on = self.fitted, self.dynamics
        # One user: scalar indexing (rows broadcast as the (1, d) rows would).
        w: Any = int(watched[0]) if state.batch_size == 1 else watched
        if state.batch_size == 1:
            state.seen[0, w] = True
        else:
            state.seen[np.arange(state.batch_size), w] = True
        if "exposure" in on:
            state.profile *= f["pref_decay"]
            state.profile += self.arrays["pref_factors"][w]
            state.profile_weight *= f["pref_decay"]
            state.profile_weight += 1.0
            state.exposure *= f["exposure_decay"]
            state.exposure += self._genres64[w]
        if "satisfaction" in on:
            state.sat_num *= f["satisfaction_decay"]
            state.sat_num += ratings - state.user_mean
            state.sat_den *= f["satisfaction_decay"]
            state.sat_den += 1.0
        if "patience" in on:
            state.ignored *= self.params.ignore_decay
            state.ignored += ignored
        state.session_pos += 1
        if "exposure" in on:  # the last-item transition term is an effect of what was watched
            state.last_item[:] = watched

    def new_session(self, state: WorldState, rows: NDArray[np.int64] | None = None) -> None:
        """Start a new session for ``rows`` (all users by default): position and patience reset."""
        sel = slice(None) if rows is None else rows
        state.session_pos[sel] = 0
        state.ignored[sel] = 0.0

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the world directory ``path`` atomically (``world.json`` + ``arrays.npz``).

        Raises:
            ValueError: For a variant with dynamics switched off (:meth:`with_dynamics`).
        """
        if self.dynamics != frozenset(DYNAMICS):
            raise ValueError(
                f"this world has dynamics {sorted(set(DYNAMICS) - self.dynamics)} switched off: "
                "an analysis variant, not saved"
            )
        from movierec_env.sim.storage import save_world

        return save_world(self, path)

    @classmethod
    def load(cls, path: str | os.PathLike[str], data: PreparedDataset | None = None) -> World:
        """Load a world directory; ``data`` (optional) must be the dataset it was fitted on.

        Raises:
            FileNotFoundError: If ``path`` holds no world.
            ValueError: If the files are malformed, edited, truncated or from another dataset.
        """
        from movierec_env.sim.storage import load_world

        return load_world(path, data)

    def step_with_draws(
        self,
        state: WorldState,
        rec_items: NDArray[np.integer],
        draws: NDArray[np.floating],
        scores: NDArray[np.float32] | None = None,
    ) -> StepResult:
        """:meth:`step` with its randomness given: four uniforms in [0, 1) per user.

        ``draws[:, 0]`` picks taking a slot (or not), ``draws[:, 1]`` the organic choice,
        ``draws[:, 2]`` the rating noise (through the normal quantile function) and
        ``draws[:, 3]`` leaving. An env whose users each own a generator (a vector env
        equal to single envs) draws the four numbers per user and calls this.

        Args:
            state: Current state (updated in place).
            rec_items: ``(B,)`` or ``(B, k)`` recommended items, 0 = no recommendation.
            draws: ``(B, 4)`` uniforms.
            scores: :meth:`organic_scores` of ``state`` if already computed (a planner
                that has just ranked with them saves recomputing).

        Returns:
            :class:`StepResult`.
        """
        u = np.asarray(draws, dtype=np.float64)
        if u.shape != (state.batch_size, 4):
            raise ValueError(f"draws must have shape ({state.batch_size}, 4), got {u.shape}")
        rec = np.asarray(rec_items, dtype=np.int64)
        rec2 = self._checked_recs(rec, state.batch_size)
        if rec2.shape == (1, 1) and scores is None and not self.params.boredom_weight:
            return self._step_one(state, int(rec2[0, 0]), u)
        if scores is None:
            scores = self.organic_scores(state)
        s_max = scores.max(axis=1, keepdims=True)  # shared by the choice model and the draw
        p = self._accept_prob(state, rec2, scores, s_max)
        slot = (np.cumsum(p, axis=1) < u[:, :1]).sum(axis=1)
        accepted = slot < rec2.shape[1]
        organic = np.zeros(state.batch_size, dtype=np.int64)
        if state.batch_size == 1:  # no row copies for a single user
            if not accepted[0]:
                organic = _inverse_cdf_draw(scores, u[:, 1], s_max)
        else:
            own = np.flatnonzero(~accepted)  # only users who ignored the recommendation choose
            if 2 * own.size > state.batch_size:
                # Most rows: drawing for every row (each row's draw is its own arithmetic)
                # costs less than copying those rows' scores out.
                organic[own] = _inverse_cdf_draw(scores, u[:, 1], s_max)[own]
            elif own.size:
                organic[own] = _inverse_cdf_draw(scores[own], u[own, 1], s_max[own])
        b = np.arange(state.batch_size)
        watched = np.where(accepted, rec2[b, np.minimum(slot, rec2.shape[1] - 1)], organic)
        ratings, lp = self._rate_and_update(state, watched, u, (rec2 > 0).any(axis=1) & ~accepted)
        return StepResult(accepted, watched.astype(np.int64), ratings, lp, u[:, 3] < lp)

    def _rate_and_update(
        self,
        state: WorldState,
        watched: NDArray[np.int64],
        u: NDArray[np.float64],
        ignored: NDArray[np.bool_],
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """A step's second half: ratings of ``watched``, the state update, leave probability.

        The rating is the expected one plus noise from ``u[:, 2]`` (normal quantile), on the
        rating grid and clipped to the scale.
        """
        from scipy.special import ndtri

        f = self.fitted
        z = ndtri(np.minimum(np.maximum(u[:, 2], 1e-12), 1.0 - 1e-12))
        noisy = self.rating(state, watched) + f["rating_sigma"] * z
        step = f["rating_step"]
        ratings = np.minimum(
            np.maximum(np.round(noisy / step) * step, f["rating_min"]), f["rating_max"]
        )
        self._update(state, watched, ratings, ignored)
        return ratings, self.leave_prob(state)

    def _step_one(self, state: WorldState, item: int, u: NDArray[np.float64]) -> StepResult:
        """:meth:`step_with_draws` of one user and one recommended ``item`` (no boredom term).

        The same arithmetic in the same order, on scalars where the batched code works on
        ``(1, 1)`` arrays (IEEE ``+ - * /`` give the same result either way; ``exp``, the
        matmul and the sums stay numpy calls of the same shapes): a single env's step is
        a few dozen small operations, whose fixed cost is most of it. Tested equal to the
        batched path (``test_step_of_a_batch_equals_each_user_alone``) and by the trajectory
        digest.
        """
        scores = self.organic_scores(state)
        s_max = scores.max(axis=1, keepdims=True)
        top = float(s_max[0, 0])
        if not np.isfinite(top):
            top = 0.0
        util = self.params.accept_sensitivity * (float(scores[0, item]) - top)
        if item > 0 and np.isfinite(util):
            ex = float(np.exp(np.float64(util)))
            den = self.params.ignore_mass + ex
            p = ex / den if den > 0 else 0.0
        else:
            p = 0.0
        accepted = not p < float(u[0, 0])
        if accepted:
            watched = item
        else:
            watched = int(_inverse_cdf_draw(scores, u[:, 1], s_max)[0])
        watched_a = np.array([watched], dtype=np.int64)
        ratings, lp = self._rate_and_update(
            state, watched_a, u, np.array([item > 0 and not accepted])
        )
        return StepResult(np.array([accepted]), watched_a, ratings, lp, u[:, 3] < lp)

    def check_data(self, data: PreparedDataset, source: str = "world") -> None:
        """Refuse a dataset other than the one the world was fitted on.

        Raises:
            ValueError: If the fingerprints differ.
        """
        if data.fingerprint != self.fingerprint:
            raise ValueError(
                f"{source} was fitted on dataset fingerprint {self.fingerprint[:16]}, "
                f"not {data.fingerprint[:16]} ({data.name!r})"
            )
