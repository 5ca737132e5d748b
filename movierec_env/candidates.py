"""Candidate actions: a seeded retrieval step that proposes K movies, and their features.

``gym.make("MovieRec-v0", candidates=20)`` turns the full-catalogue action
(``Discrete(n_items)``) into a choice among ``K`` candidates (``Discrete(K)``), the way
production recommenders split *retrieval* (a few hundred movies from cheap sources) from
*ranking* (a model picks among them), and the way public simulators make the task learnable
(RecSim's document candidates, SlateQ). This module holds the whole mechanism; the envs only
call it.

Generator (:class:`CandidateGenerator`), at a judged position ``g`` with history
``items[offsets[u]:g]``, from training statistics and the frozen encoder only (never a
validation or test target, never the logged next movie):

1. ``n_encoder = round(K * encoder)`` slots: the encoder's top unseen movies by
   ``scores(obs)`` (deterministic given the observation; ties: lower action first);
2. ``n_popular = round(K * popular)`` slots: drawn without replacement with probability
   proportional to ``training count + 1`` among the unseen movies not yet proposed
   (inverse-CDF draws with rejection: exact sequential sampling, a few microseconds);
3. the remaining ``n_random = K - n_encoder - n_popular`` slots: uniformly among the unseen
   movies not yet proposed (rejection sampling);
4. the K movies are shuffled, so a slot index says nothing about the source;
5. with ``order="genre_affinity"`` (or ``"encoder_score"``) they are then sorted by that
   feature, best first (a stable sort of the shuffled set: ties stay in random order), the
   way a production ranker receives candidates in a first-stage order. Slot 0 is then
   always the best match by that one feature, which a plain MLP can learn to use far
   sooner than 20 unordered slots (docs/candidates.md); ``"shuffle"`` (the default) keeps
   step 4's order.

Every random draw comes from the generator passed in (the env's ``np_random``; each
sub-env's own generator in the vector env), in this order, so seeding works as Gymnasium
users expect and a vector env gives the transitions of single envs seeded alike. A proposed
movie is never one the user has seen, and never proposed twice in a set.

Observation (``observation="flat"``, the default)::

    concat(user embedding (obs_dim,) in [-1, 1],  candidate features (K, F) row-major in [0, 1])

``observation="dict"``: ``{"user": (obs_dim,), "candidates": (K, F)}``. The ``F =
n_genres + 4`` features of a candidate, in order (:data:`FEATURE_NAMES` after the genres):

* ``genre_<name>`` (``n_genres`` columns): the unit-norm genre vector (the reward's own
  normalisation: ``genres[a] @ genres[b]`` is the reward's genre cosine);
* ``encoder_score``: ``1 - log(rank) / log(n_unseen)`` with ``rank`` the movie's rank among
  the unseen movies under the encoder's scores (1 = the encoder's favourite, 0 = its last);
* ``popularity``: training-popularity percentile in ``(0, 1]`` (ties share the mean rank);
* ``rating``: the reward's item rating term ``clip((mean training rating - 3) / 2, 0, 1)``;
* ``genre_affinity``: cosine of the candidate's genres with the mean genre vector of the
  last ``genre_window`` movies of the history (what a production ranker's "user-genre match"
  feature is; 0 when either has no genre).

Everything is bounded, so Gymnasium's and SB3's ``check_env`` stay quiet. Candidates are
drawn for every observation, the final one of an episode included (the position after the
last judged one, like its embedding; nothing acts on it), so an episode consumes the same
draws whether ``TimeLimit``, ``max_episode_steps`` or the end of the sequence truncates it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from gymnasium import spaces
from numpy.typing import NDArray

from movierec_env.data.types import PreparedDataset
from movierec_env.reward import rating_term, unit_rows

__all__ = [
    "COURSEWORK_K",
    "FEATURE_NAMES",
    "OBSERVATION_MODES",
    "ORDERS",
    "CandidateConfig",
    "CandidateGenerator",
    "coursework_task",
    "popularity_percentile",
    "user_part",
]

#: Names of the per-candidate features after the genre block, in layout order.
FEATURE_NAMES = ("encoder_score", "popularity", "rating", "genre_affinity")
#: Observation formats of candidate mode.
OBSERVATION_MODES = ("flat", "dict")
#: Slot orders of candidate mode (module docstring, step 5).
ORDERS = ("shuffle", "genre_affinity", "encoder_score")
#: K of the coursework task (:func:`coursework_task`), chosen on the validation split
#: (docs/candidates.md, "Choosing K").
COURSEWORK_K = 10
#: "Not computed yet" for the genre profile passed between the drawing and the features.
_UNSET: Any = object()


def popularity_percentile(data: PreparedDataset) -> NDArray[np.float64]:
    """Each item's training-popularity percentile in ``(0, 1]`` (ties share the mean rank).

    Shape ``(n_items + 1,)``; 1.0 is the most popular movie, row 0 (padding) is 0.
    """
    pop = np.asarray(data.popularity[1:], dtype=np.float64)
    order = np.argsort(pop, kind="stable")
    sorted_pop = pop[order]
    ranks = np.empty(pop.size, dtype=np.float64)
    # Average rank over ties: first and last index of each distinct value.
    _, first, counts = np.unique(sorted_pop, return_index=True, return_counts=True)
    avg = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(avg, counts)
    out = np.zeros(pop.size + 1, dtype=np.float64)
    out[1:] = ranks / pop.size
    return out


def coursework_task(k: int = COURSEWORK_K) -> dict[str, Any]:
    """``MovieRec-v0`` keyword arguments of the coursework task (docs/candidates.md).

    ``k`` candidates sorted by genre affinity (slot 0 is the best match with the recent
    history), one-step bandit episodes: ``gym.make("MovieRec-v0", **coursework_task())``.
    A fresh dict each call, so callers may change it.
    """
    return {"candidates": {"k": int(k), "order": "genre_affinity"}, "bandit": True}


def user_part(obs: Any, obs_dim: int) -> NDArray[np.float32]:
    """The user embedding ``(..., obs_dim)`` of a candidate-mode observation (flat or dict)."""
    if isinstance(obs, Mapping):
        return np.asarray(obs["user"], dtype=np.float32)
    return np.asarray(obs, dtype=np.float32)[..., :obs_dim]


@dataclass(frozen=True)
class CandidateConfig:
    """Settings of candidate mode (``candidates=`` of the envs).

    Attributes:
        k: Number of candidates proposed at each step (the action space is ``Discrete(k)``).
        encoder: Share of the slots filled with the encoder's top unseen movies.
        popular: Share drawn with probability proportional to training popularity + 1.
        random: Share drawn uniformly among the unseen movies. The three shares are >= 0
            and sum to 1; slot counts are ``round(k * encoder)``, ``round(k * popular)``
            and the rest.
        observation: ``"flat"`` (one bounded ``Box``) or ``"dict"`` (``"user"`` and
            ``"candidates"`` entries).
        genre_window: Number of most recent movies whose genres form the profile of the
            ``genre_affinity`` feature.
        order: Slot order: ``"shuffle"`` (random: a slot says nothing about its source or
            features), ``"genre_affinity"`` or ``"encoder_score"`` (sorted by that feature,
            best first; ties in random order).
    """

    k: int = 20
    encoder: float = 0.5
    popular: float = 0.25
    random: float = 0.25
    observation: str = "flat"
    genre_window: int = 30
    order: str = "shuffle"

    def __post_init__(self) -> None:
        if isinstance(self.k, bool) or not isinstance(self.k, int | np.integer) or self.k < 1:
            raise ValueError(f"candidates k must be an int >= 1, got {self.k!r}")
        object.__setattr__(self, "k", int(self.k))
        for name in ("encoder", "popular", "random"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise TypeError(f"candidates {name} share must be a number, got {value!r}")
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"candidates {name} share must be >= 0, got {value!r}")
            object.__setattr__(self, name, float(value))
        total = self.encoder + self.popular + self.random
        if abs(total - 1.0) > 1e-6:
            raise ValueError(
                "candidates shares encoder + popular + random must sum to 1, got "
                f"{self.encoder} + {self.popular} + {self.random} = {total}"
            )
        if self.observation not in OBSERVATION_MODES:
            raise ValueError(
                f"candidates observation must be one of {OBSERVATION_MODES}, "
                f"got {self.observation!r}"
            )
        if (
            isinstance(self.genre_window, bool)
            or not isinstance(self.genre_window, int | np.integer)
            or self.genre_window < 1
        ):
            raise ValueError(
                f"candidates genre_window must be an int >= 1, got {self.genre_window!r}"
            )
        object.__setattr__(self, "genre_window", int(self.genre_window))
        if self.order not in ORDERS:
            raise ValueError(f"candidates order must be one of {ORDERS}, got {self.order!r}")

    @classmethod
    def from_value(cls, value: Any) -> CandidateConfig | None:
        """``None`` (full-catalogue actions), ``K`` (an int), a mapping of fields or a config.

        Raises:
            ValueError: On unknown keys or invalid values.
            TypeError: On another type.
        """
        if value is None or isinstance(value, CandidateConfig):
            return value
        if isinstance(value, int | np.integer) and not isinstance(value, bool):
            return cls(k=int(value))
        if isinstance(value, Mapping):
            known = {f.name for f in dataclasses.fields(cls)}
            unknown = sorted(set(value) - known)
            if unknown:
                raise ValueError(
                    f"unknown candidates option(s) {unknown}; allowed: {sorted(known)}"
                )
            return cls(**dict(value))
        raise TypeError(
            "candidates must be None (full-catalogue actions), an int K, a dict of "
            f"CandidateConfig fields or a CandidateConfig; got {type(value).__name__}"
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form (round-trips through :meth:`from_value`)."""
        return dataclasses.asdict(self)

    @property
    def counts(self) -> tuple[int, int, int]:
        """``(n_encoder, n_popular, n_random)`` slots (they sum to ``k``)."""
        n_enc = min(self.k, round(self.k * self.encoder))
        n_pop = min(self.k - n_enc, round(self.k * self.popular))
        return n_enc, n_pop, self.k - n_enc - n_pop


class CandidateGenerator:
    """Proposes K unseen movies per judged position and describes them (module docstring).

    Args:
        data: The prepared dataset (histories and training statistics).
        encoder: The frozen encoder (``item_matrix()``, ``item_bias()``: the linear head
            whose scores rank the encoder's slots).
        config: The candidate settings.
    """

    def __init__(self, data: PreparedDataset, encoder: Any, config: CandidateConfig) -> None:
        self.data = data
        self.config = config
        self.k = config.k
        self.n_items = int(data.n_items)
        if self.k > self.n_items:
            raise ValueError(
                f"candidates k={self.k} exceeds the catalogue of {self.n_items} movies"
            )
        self.n_encoder, self.n_popular, self.n_random = config.counts
        self._matrix = np.ascontiguousarray(np.asarray(encoder.item_matrix(), dtype=np.float32)[1:])
        self._bias = np.ascontiguousarray(np.asarray(encoder.item_bias(), dtype=np.float32)[1:])
        self.obs_dim = int(self._matrix.shape[1])
        genres = np.asarray(data.item_genres[1:], dtype=np.float32)
        self.n_genres = int(genres.shape[1])
        self.genres = unit_rows(genres)
        self.popularity = popularity_percentile(data)[1:].astype(np.float32)
        mean = np.nan_to_num(np.asarray(data.item_mean_rating[1:], dtype=np.float64), nan=3.0)
        self.rating = rating_term(mean).astype(np.float32)
        self._pop_weight = np.asarray(data.popularity[1:], dtype=np.float64) + 1.0
        self._pop_cdf = np.cumsum(self._pop_weight)
        self.n_features = self.n_genres + len(FEATURE_NAMES)
        for arr in (self._matrix, self._bias, self.genres, self.popularity, self.rating):
            arr.flags.writeable = False
        self.feature_names: tuple[str, ...] = (
            *(f"genre_{g}" for g in data.genre_names),
            *FEATURE_NAMES,
        )

    # ------------------------------------------------------------------ spaces
    def observation_space(self) -> spaces.Box | spaces.Dict:
        """The single-env observation space (``Box`` or ``Dict``, see the module docstring)."""
        user = spaces.Box(-1.0, 1.0, (self.obs_dim,), np.float32)
        cands = spaces.Box(0.0, 1.0, (self.k, self.n_features), np.float32)
        if self.config.observation == "dict":
            return spaces.Dict({"user": user, "candidates": cands})
        low = np.concatenate([user.low, cands.low.reshape(-1)]).astype(np.float32)
        high = np.concatenate([user.high, cands.high.reshape(-1)]).astype(np.float32)
        return spaces.Box(low, high, dtype=np.float32)

    def observation(
        self, user_obs: NDArray[np.float32], features: NDArray[np.float32]
    ) -> NDArray[np.float32] | dict[str, NDArray[np.float32]]:
        """The observation from user embeddings ``(..., obs_dim)`` and features ``(..., K, F)``.

        Works on one row or a batch (fresh arrays either way).
        """
        user = np.array(user_obs, dtype=np.float32)
        feats = np.array(features, dtype=np.float32)
        if self.config.observation == "dict":
            return {"user": user, "candidates": feats}
        flat = feats.reshape(*feats.shape[:-2], self.k * self.n_features)
        return np.concatenate([user, flat], axis=-1)

    # ------------------------------------------------------------------ drawing
    def history(self, position: int) -> NDArray[np.int64]:
        """Item actions of the history of ``position`` (oldest first)."""
        data = self.data
        start = int(data.offsets[int(np.searchsorted(data.offsets, position, side="right")) - 1])
        return np.asarray(data.items[start:position], dtype=np.int64) - 1

    def scores(self, user_obs: NDArray[np.float32]) -> NDArray[np.float32]:
        """The encoder's scores of every action ``(n_items,)`` float32 for one observation.

        One ``einsum`` per row in every env (not BLAS): single and vector envs agree bit for
        bit (a batched or multi-threaded BLAS product may round differently), and a busy
        machine's BLAS threads cannot slow a step down (measured here: a 2-thread OpenBLAS
        matrix-vector product took 0.5-2.7 ms, the einsum 0.2 ms).
        """
        out: NDArray[np.float32] = np.einsum(
            "ij,j->i", self._matrix, np.asarray(user_obs, dtype=np.float32)
        )
        out += self._bias
        return out

    def draw(
        self,
        rng: np.random.Generator,
        position: int,
        user_obs: NDArray[np.float32],
        scores: NDArray[np.float32] | None = None,
    ) -> NDArray[np.int64]:
        """Propose K distinct unseen movies at ``position``: item actions ``(K,)`` int64.

        Args:
            rng: The generator to draw from (the env's ``np_random``).
            position: The judged position (its history is what the user has seen).
            user_obs: The observation (embedding) of that position.
            scores: ``self.scores(user_obs)`` if already computed.

        Raises:
            ValueError: If fewer than K movies are unseen at ``position``.
        """
        hist = self.history(position)
        return self.draw_for(rng, hist, self._unseen(hist), user_obs, scores, where=position)

    def draw_for(
        self,
        rng: np.random.Generator,
        history: NDArray[np.int64],
        allowed: NDArray[np.bool_],
        user_obs: NDArray[np.float32],
        scores: NDArray[np.float32] | None = None,
        where: Any = None,
        profile: Any = _UNSET,
    ) -> NDArray[np.int64]:
        """:meth:`draw` for any history: what the simulator's users have watched.

        Args:
            rng: The generator to draw from.
            history: Item actions watched so far, oldest first (the ``genre_affinity``
                profile reads the last ``genre_window``).
            allowed: ``(n_items,)`` bool, the movies that may be proposed (unseen); not
                modified.
            user_obs: The user embedding of this history.
            scores: ``self.scores(user_obs)`` if already computed.
            where: What the error message calls this history (a position, a user).
            profile: The history's genre profile if already computed (internal).

        Raises:
            ValueError: If fewer than K movies are allowed.
        """
        allowed = np.array(allowed, dtype=bool)
        n_free = int(allowed.sum())
        if n_free < self.k:
            if where is None:
                at = ""
            elif isinstance(where, int | np.integer):
                at = f" at position {where}"
            else:
                at = f" for {where}"
            raise ValueError(
                f"only {n_free} unseen movies{at}: candidates k={self.k} needs at least k"
            )
        chosen = np.empty(self.k, dtype=np.int64)
        n = 0
        if self.n_encoder:
            s = np.array(self.scores(user_obs) if scores is None else scores)
            s[~allowed] = -np.inf
            top = np.argpartition(-s, self.n_encoder - 1)[: self.n_encoder]
            top = top[np.lexsort((top, -s[top]))]
            chosen[: self.n_encoder] = top
            allowed[top] = False
            n = self.n_encoder
        if self.n_popular:
            pick = self._draw_popular(rng, allowed, self.n_popular)
            chosen[n : n + self.n_popular] = pick
            allowed[pick] = False
            n += self.n_popular
        if self.n_random:
            chosen[n:] = self._draw_uniform(rng, allowed, self.n_random)
        chosen = chosen[rng.permutation(self.k)]
        order = self.config.order
        if order == "shuffle":
            return chosen
        if order == "genre_affinity":
            key = self._affinity(np.asarray(history, dtype=np.int64), chosen, profile)
        else:  # "encoder_score": the rank feature is monotone in the score
            key = np.asarray(self.scores(user_obs) if scores is None else scores)[chosen]
        return chosen[np.argsort(-key, kind="stable")]

    def draw_at(
        self,
        rng: np.random.Generator,
        positions: NDArray[np.integer],
        user_obs: NDArray[np.float32],
    ) -> NDArray[np.int64]:
        """:meth:`draw` for each of ``positions`` in order, ``(B, K)`` (``user_obs`` ``(B, D)``)."""
        pos = np.atleast_1d(np.asarray(positions, dtype=np.int64))
        obs = np.asarray(user_obs, dtype=np.float32).reshape(pos.size, -1)
        out = np.empty((pos.size, self.k), dtype=np.int64)
        for i, g in enumerate(pos.tolist()):
            out[i] = self.draw(rng, g, obs[i])
        return out

    def observations_at(
        self,
        positions: NDArray[np.integer],
        user_obs: NDArray[np.float32],
        candidates: NDArray[np.integer],
    ) -> NDArray[np.float32] | dict[str, NDArray[np.float32]]:
        """Observations of logged ``positions`` (embeddings ``(B, D)``) with ``candidates``.

        Raises:
            ValueError: If ``candidates`` is not ``(B, K)``.
        """
        pos = np.atleast_1d(np.asarray(positions, dtype=np.int64))
        cands = np.asarray(candidates, dtype=np.int64).reshape(pos.size, -1)
        if cands.shape[1] != self.k:
            raise ValueError(
                f"candidates have shape {cands.shape}, expected ({pos.size}, {self.k})"
            )
        user = np.array(user_obs, dtype=np.float32).reshape(pos.size, -1)
        feats = np.empty((pos.size, self.k, self.n_features), dtype=np.float32)
        for i, g in enumerate(pos.tolist()):
            feats[i] = self.features(g, user[i], cands[i])
        return self.observation(user, feats)

    def unseen(self, position: int) -> NDArray[np.bool_]:
        """``(n_items,)`` bool: the movies not in the history of ``position``."""
        return self._unseen(self.history(position))

    def _unseen(self, hist: NDArray[np.int64]) -> NDArray[np.bool_]:
        allowed = np.ones(self.n_items, dtype=bool)
        allowed[hist] = False
        return allowed

    def _draw_uniform(
        self, rng: np.random.Generator, allowed: NDArray[np.bool_], n: int
    ) -> NDArray[np.int64]:
        """``n`` distinct allowed movies, uniformly (rejection sampling, then a fallback)."""
        out: list[int] = []
        for _ in range(64):
            for a in rng.integers(self.n_items, size=2 * n).tolist():
                if allowed[a] and a not in out:
                    out.append(a)
                    if len(out) == n:
                        return np.array(out, dtype=np.int64)
        rest = allowed.copy()
        rest[out] = False
        free = np.flatnonzero(rest)
        more = free[rng.choice(free.size, size=n - len(out), replace=False)]
        return np.concatenate([np.array(out, dtype=np.int64), more])

    def _draw_popular(
        self, rng: np.random.Generator, allowed: NDArray[np.bool_], n: int
    ) -> NDArray[np.int64]:
        """``n`` distinct allowed movies, drawn one after another with P proportional to count + 1.

        Inverse-CDF draws over the whole catalogue, rejecting seen or already drawn movies:
        exactly sequential sampling without replacement from the allowed movies, at a few
        microseconds instead of an O(n_items) weighted choice per step.
        """
        out: list[int] = []
        cdf = self._pop_cdf
        for _ in range(64):
            draws = np.searchsorted(cdf, rng.random(4 * n) * cdf[-1], side="right")
            for a in np.minimum(draws, self.n_items - 1).tolist():
                if allowed[a] and a not in out:
                    out.append(a)
                    if len(out) == n:
                        return np.array(out, dtype=np.int64)
        # Almost all the popularity mass is seen: a weighted choice among the rest.
        rest = allowed.copy()
        rest[out] = False
        free = np.flatnonzero(rest)
        w = self._pop_weight[free]
        more = free[rng.choice(free.size, size=n - len(out), replace=False, p=w / w.sum())]
        return np.concatenate([np.array(out, dtype=np.int64), more])

    def features(
        self,
        position: int,
        user_obs: NDArray[np.float32],
        actions: NDArray[np.integer],
        scores: NDArray[np.float32] | None = None,
    ) -> NDArray[np.float32]:
        """Features ``(K, F)`` float32 of the candidates ``actions`` at ``position``."""
        hist = self.history(position)
        return self.features_for(hist, self._unseen(hist), user_obs, actions, scores)

    def features_for(
        self,
        history: NDArray[np.int64],
        allowed: NDArray[np.bool_],
        user_obs: NDArray[np.float32],
        actions: NDArray[np.integer],
        scores: NDArray[np.float32] | None = None,
        profile: Any = _UNSET,
    ) -> NDArray[np.float32]:
        """:meth:`features` for any history (``allowed``: its unseen movies, as in ``draw_for``)."""
        acts = np.asarray(actions, dtype=np.int64)
        n_free = int(allowed.sum())
        s = self.scores(user_obs) if scores is None else scores
        free = s[allowed]
        rank = 1 + (free[None, :] > s[acts][:, None]).sum(axis=1)
        rank = np.minimum(np.maximum(rank, 1), max(n_free, 1))
        if n_free > 1:
            enc = 1.0 - np.log(rank.astype(np.float64)) / math.log(n_free)
        else:
            enc = np.ones(acts.size)
        out = np.empty((acts.size, self.n_features), dtype=np.float32)
        out[:, : self.n_genres] = self.genres[acts]
        out[:, self.n_genres] = np.minimum(np.maximum(enc, 0.0), 1.0)
        out[:, self.n_genres + 1] = self.popularity[acts]
        out[:, self.n_genres + 2] = self.rating[acts]
        hist = np.asarray(history, dtype=np.int64)
        out[:, self.n_genres + 3] = self._affinity(hist, acts, profile)
        return out

    def _profile(self, hist: NDArray[np.int64]) -> NDArray[np.float32] | None:
        """The unit genre profile of the last ``genre_window`` movies (None: no genre)."""
        recent = hist[-self.config.genre_window :]
        profile = self.genres[recent].sum(axis=0, dtype=np.float32)
        norm = np.float32(np.sqrt((profile * profile).sum()))
        return profile / norm if norm > 0 else None

    def _affinity(
        self,
        hist: NDArray[np.int64],
        acts: NDArray[np.int64],
        profile: Any = _UNSET,
    ) -> NDArray[np.float32]:
        """``genre_affinity`` ``(K,)``: cosine of each candidate's genres with the profile.

        The one computation behind both the feature and ``order="genre_affinity"``, so the
        slot order always agrees with the feature the agent sees. ``profile``: the
        :meth:`_profile` of ``hist`` if already computed.
        """
        prof = self._profile(hist) if profile is _UNSET else profile
        if prof is None:
            return np.zeros(acts.size, dtype=np.float32)
        # min/max rather than np.clip: the same values, without clip's dispatch cost.
        out: NDArray[np.float32] = np.minimum(
            np.maximum(self.genres[acts] @ prof, np.float32(0)), np.float32(1)
        )
        return out

    def propose(
        self, rng: np.random.Generator, position: int, user_obs: NDArray[np.float32]
    ) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
        """:meth:`draw` then :meth:`features`: ``(actions (K,), features (K, F))``."""
        hist = self.history(position)
        return self.propose_for(rng, hist, self._unseen(hist), user_obs, where=position)

    def propose_for(
        self,
        rng: np.random.Generator,
        history: NDArray[np.int64],
        allowed: NDArray[np.bool_],
        user_obs: NDArray[np.float32],
        where: Any = None,
    ) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
        """:meth:`draw_for` then :meth:`features_for` (one scoring, one genre profile)."""
        s = self.scores(user_obs)
        hist = np.asarray(history, dtype=np.int64)
        prof = self._profile(hist)
        acts = self.draw_for(rng, hist, allowed, user_obs, s, where=where, profile=prof)
        return acts, self.features_for(hist, allowed, user_obs, acts, s, profile=prof)

    # ------------------------------------------------------------------ checks
    def check_feasible(self, first: NDArray[np.int64], end: NDArray[np.int64]) -> None:
        """Raise unless every judged position of the episodes leaves K unseen movies.

        Args:
            first: Per user, the first judged position (``-1``: no episode).
            end: Per user, one past the last judged position.

        Raises:
            ValueError: Naming the user and the largest K the split allows.
        """
        data = self.data
        users = np.flatnonzero(first >= 0)
        last = end[users]  # the final observation's position too (a conservative bound)
        longest = last - data.offsets[users]
        if users.size == 0 or self.n_items - int(longest.max()) >= self.k:
            return  # even a history of distinct movies leaves k unseen
        worst_free, worst_user = self.n_items, -1
        for u, g in zip(users.tolist(), last.tolist(), strict=True):
            if self.n_items - (g - int(data.offsets[u])) >= self.k:
                continue
            free = self.n_items - np.unique(data.items[int(data.offsets[u]) : g]).size
            if free < worst_free:
                worst_free, worst_user = free, u
        if worst_free < self.k:
            raise ValueError(
                f"candidates k={self.k} needs {self.k} unseen movies at every judged position, "
                f"but user {int(data.user_ids[worst_user])} of dataset {data.name!r} has only "
                f"{worst_free} left; use k <= {worst_free}"
            )
