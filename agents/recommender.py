"""The Recommender: encoders + an RL agent (or a greedy ranking) + a popularity fallback.

What a practitioner calls to recommend movies to a person::

    from agents import Recommender

    rec = Recommender()                       # shipped encoders, encoder-greedy ranking
    print(rec.format_recommendations(rec.recommend(user_id=1, k=10), user_id=1))
    rec.hit_rate_at(10)                       # PROTOCOL.md HR@10 on the test split

Parts:

* **Scoring**: the frozen hybrid encoder (LSTM + content model, :mod:`encoders`) embeds
  the user's history; the agent ranks movies from that observation. The default agent is
  the encoder's greedy ranking (``encoder-greedy``); any agent with ``action_scores`` (the
  DQN's Q-values, a baseline) or a Stable-Baselines3 model can replace it.
* **Fallback**: a user who is unknown, or whose history is shorter than ``min_history``,
  gets the most viewed movies (training interaction counts), and the result says so.
* **Analysis** (:meth:`Recommender.analyze_user`): recently watched and highly rated
  movies weigh more. Recency is measured by position in the user's *own* timeline (the
  last rating has weight 1, one ``recency_half_life`` ratings earlier 0.5), never by the
  wall clock, so the same data always gives the same profile.
* **Reasons**: each recommendation says why: ``"because you rated Alien (1979) 5.0"`` (a
  highly rated movie of the user similar to it), ``"Sci-Fi, your top genre"``, or
  ``"popular with everyone"`` for the fallback.
* **Training**: :meth:`Recommender.configure_optimizers` builds the optimizers and
  learning-rate schedulers the encoders' trainer uses, :meth:`Recommender.fit` delegates
  to :func:`encoders.train_hybrid` and the agent's ``learn``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from agents.profile import (
    GenreStat,
    Recommendation,
    UserProfile,
    analyze_history,
    format_recommendations,
    history_weights,
    item_genre_names,
    rated_items,
)
from movierec_env.contract import HistoryEncoder, RecEnv
from movierec_env.data.types import PreparedDataset
from movierec_env.metrics import history_mask, metrics_from_ranks, ranks_from_scores
from movierec_env.reward import unit_rows

__all__ = ["GenreStat", "Recommendation", "Recommender", "UserProfile", "format_recommendations"]


class Recommender:
    """Recommend movies to users with the frozen encoders and an agent.

    Args:
        dataset: ``None`` (embedded ml-latest-small), a MovieLens folder, or a prepared
            dataset.
        encoders: ``None`` (the default encoder of the dataset), a checkpoint directory or
            a ready :class:`encoders.HybridEncoder`. Loaded on first use.
        agent: ``None`` (the encoder's greedy ranking), an agent name of
            :data:`agents.registry.AGENT_NAMES`, or an agent object (anything
            :func:`agents.evaluate_agent` accepts, e.g. a trained :class:`agents.DQN`).
        min_history: Users with fewer ratings than this get the popularity fallback.
        recency_half_life: In ratings of the user's own timeline: a rating this many
            ratings before the latest weighs half as much in :meth:`analyze_user`.
        seed: Seed passed to an agent built by name.

    Raises:
        ValueError: On a bad ``min_history`` or ``recency_half_life``.
    """

    def __init__(
        self,
        dataset: str | os.PathLike[str] | PreparedDataset | None = None,
        encoders: Any = None,
        agent: Any = None,
        *,
        min_history: int = 3,
        recency_half_life: float = 20.0,
        seed: int | None = None,
    ) -> None:
        if min_history < 1:
            raise ValueError(f"min_history must be >= 1, got {min_history}")
        if not recency_half_life > 0:
            raise ValueError(f"recency_half_life must be > 0, got {recency_half_life}")
        if isinstance(dataset, PreparedDataset):
            self.dataset = dataset
        else:
            from movierec_env.data import load_dataset

            self.dataset = load_dataset(dataset)
        self._encoders_arg = encoders
        self._agent_arg = agent if agent is not None else "encoder-greedy"
        self.min_history = int(min_history)
        self.recency_half_life = float(recency_half_life)
        self.seed = seed
        self._env: Any = None
        self._agent: Any = None
        self._gn = unit_rows(np.asarray(self.dataset.item_genres, dtype=np.float64))
        self._item_vec_cache: NDArray[np.float64] | None = None

    # ------------------------------------------------------------------ components
    @property
    def env(self) -> RecEnv:
        """The ``MovieRec-v0`` env (test split) the agent and the encoder live in."""
        if self._env is None:
            from movierec_env.env import MovieRecEnv

            self._env = MovieRecEnv(dataset=self.dataset, encoders=self._encoders_arg, split="test")
        return self._env

    @property
    def encoder(self) -> Any:
        """The frozen hybrid encoder."""
        return self.env.encoder

    @property
    def agent(self) -> Any:
        """The ranking agent (built on first use when given by name)."""
        if self._agent is None:
            if isinstance(self._agent_arg, str):
                from agents.registry import make_agent

                self._agent = make_agent(self._agent_arg, self.env, seed=self.seed)
            else:
                self._agent = self._agent_arg
        return self._agent

    @property
    def agent_name(self) -> str:
        """The agent's registry name, or its class name."""
        if isinstance(self._agent_arg, str):
            return self._agent_arg
        return str(getattr(self._agent_arg, "name", type(self._agent_arg).__name__))

    # ------------------------------------------------------------------ training
    def configure_optimizers(
        self, lr: float = 3e-3, weight_decay: float = 0.0, epochs: int = 40
    ) -> dict[str, tuple[Any, Any]]:
        """Optimizers and LR schedulers for fine-tuning the encoders in a custom loop.

        The same choice as the encoders' trainer (:func:`encoders.training.train_encoder`):
        AdamW with cosine annealing to 10% of ``lr`` over ``epochs``, one pair per encoder.
        The loaded encoders are frozen: call ``module.train()`` and
        ``module.requires_grad_(True)`` on the part to fine-tune (and rebuild the env, whose
        observations are cached) before stepping.

        Returns:
            ``{"lstm": (optimizer, scheduler), "content": (optimizer, scheduler)}`` (the
            components the encoder has).

        Raises:
            TypeError: If the encoder exposes no torch modules.
        """
        from encoders.optim import make_optimizer

        out: dict[str, tuple[Any, Any]] = {}
        for name, module in self._encoder_modules().items():
            out[name] = make_optimizer(module.parameters(), lr, weight_decay, total_steps=epochs)
        if not out:
            raise TypeError(f"{type(self.encoder).__name__} exposes no trainable torch modules")
        return out

    def _encoder_modules(self) -> dict[str, Any]:
        import torch

        enc = self.encoder
        return {
            name: getattr(enc, name)
            for name in ("lstm", "content")
            if isinstance(getattr(enc, name, None), torch.nn.Module)
        }

    def fit(
        self,
        train_encoders: bool = False,
        total_timesteps: int | None = None,
        seed: int | None = None,
        progress_bar: bool = False,
    ) -> Recommender:
        """Train the parts: the encoders (optional) and the agent.

        Args:
            train_encoders: Retrain the encoders with :func:`encoders.train_hybrid`
                (early-stopped on validation NDCG@10) instead of using the loaded ones.
            total_timesteps: Env steps for the agent's ``learn`` (its default when None;
                baselines learn nothing).
            seed: Seed of the encoders' training.
            progress_bar: Show progress bars.

        Returns:
            ``self``.
        """
        if train_encoders:
            from encoders import train_hybrid

            self._encoders_arg = train_hybrid(self.dataset, seed=seed or 0, progress=progress_bar)
            self._env = None
            if isinstance(self._agent_arg, str):
                self._agent = None
        agent = self.agent
        if total_timesteps is not None and hasattr(agent, "learn"):
            agent.learn(total_timesteps=total_timesteps, progress_bar=progress_bar)
        return self

    # ------------------------------------------------------------------ users
    def _user_index(self, user_id: int) -> int | None:
        try:
            return self.dataset.user_to_index(int(user_id))
        except KeyError:
            return None

    def _weights(self, ratings: NDArray[np.floating]) -> NDArray[np.float64]:
        """Recency x rating weight of each rating of a history (oldest first)."""
        return history_weights(ratings, self.dataset.rating_scale, self.recency_half_life)

    def _title(self, item: int) -> str:
        return str(self.dataset.item_titles[item])

    def _genres(self, item: int) -> tuple[str, ...]:
        return item_genre_names(self.dataset, item)

    def analyze_user(self, user_id: int, n_movies: int = 5) -> UserProfile:
        """Analyse a user's preferences from their rating history.

        Recently watched and highly rated movies weigh more: a rating's weight is its
        recency (by position in the user's own timeline, half-life ``recency_half_life``
        ratings) times its normalised rating (:func:`agents.profile.analyze_history`).

        Args:
            user_id: MovieLens userId.
            n_movies: How many recent and top-rated movies to list.

        Returns:
            The profile (``known=False`` and empty statistics for an unknown user).
        """
        u = self._user_index(user_id)
        if u is None:
            return UserProfile(
                user_id=int(user_id), known=False, n_ratings=0, mean_rating=float("nan")
            )
        items, ratings, _ = self.dataset.sequence(u)
        return analyze_history(
            self.dataset, items, ratings, int(user_id), self.recency_half_life, n_movies
        )

    # ------------------------------------------------------------------ scoring
    def _fallback_scores(self) -> NDArray[np.float64]:
        s = np.asarray(self.dataset.popularity, dtype=np.float64).copy()
        s[0] = -np.inf
        return s

    def _agent_scores(self, obs: NDArray[np.float32], info: dict[str, Any]) -> NDArray[np.float64]:
        """Scores ``(B, n_items + 1)`` of the agent (column 0 ``-inf``)."""
        from agents.evaluation import agent_scores

        found, _ = agent_scores(self.agent, obs, info)
        if found is None:
            raise TypeError(
                f"agent {self.agent_name!r} gives no scores (no action_scores, not an SB3 "
                "model): it cannot rank movies"
            )
        s = np.asarray(found, dtype=np.float64)
        out = np.empty((s.shape[0], s.shape[1] + 1), dtype=np.float64)
        out[:, 0] = -np.inf
        out[:, 1:] = np.nan_to_num(s, nan=-np.inf)
        return out

    def _end_observation(self, u: int, stop: int | None = None) -> NDArray[np.float32]:
        """The encoder's observation after the user's history, shape ``(1, obs_dim)``.

        ``stop`` (an absolute index) ends the history early: the result then equals the
        env's observation at position ``stop``.
        """
        d = self.dataset
        items, ratings, stamps = d.sequence(u)
        if stop is not None:
            keep = int(stop) - int(d.offsets[u])
            if not 0 < keep <= items.size:
                raise ValueError(f"stop {stop} is not a position of user index {u} with a history")
            items, ratings, stamps = items[:keep], ratings[:keep], stamps[:keep]
        return self._history_observation(items, ratings, stamps, d.user_ids[u : u + 1])

    def _history_observation(
        self,
        items: NDArray[np.int64],
        ratings: NDArray[np.floating],
        stamps: NDArray[np.int64],
        user_ids: NDArray[np.int64] | None = None,
    ) -> NDArray[np.float32]:
        """The encoder's observation of a raw history (item indices), ``(1, obs_dim)``.

        An encoder with ``embed(items, ratings, timestamps)`` (``encoders.HybridEncoder``,
        the DESIGN.md encoder contract) embeds it directly. Any other encoder honouring the
        env's contract (``observations(data)`` only) gets the history replayed in a one-user
        copy of the dataset with one placeholder interaction appended: its row is the
        embedding of the whole history (row ``g`` never reads interaction ``g`` itself).
        """
        enc = self.encoder
        if isinstance(enc, HistoryEncoder):
            out = enc.embed(
                np.asarray(items, dtype=np.int64),
                np.asarray(ratings, dtype=np.float32),
                np.asarray(stamps, dtype=np.int64),
            )
            return np.asarray(out, dtype=np.float32).reshape(1, -1)
        import dataclasses

        d = self.dataset
        n = items.size
        one = dataclasses.replace(
            d,
            user_ids=np.asarray(user_ids if user_ids is not None else [-1], dtype=np.int64),
            offsets=np.array([0, n + 1], dtype=np.int64),
            items=np.append(items, items[-1]).astype(np.int64),
            ratings=np.append(ratings, ratings[-1]).astype(np.float32),
            timestamps=np.append(stamps, stamps[-1]).astype(np.int64),
            train_end=np.array([n + 1], dtype=np.int64),
            val_index=np.array([-1], dtype=np.int64),
            test_index=np.array([-1], dtype=np.int64),
        )
        return np.asarray(enc.observations(one), dtype=np.float32)[[n]]

    def scores_at(
        self, positions: NDArray[np.integer]
    ) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
        """Scores of every item at logged target positions, with the fallback applied.

        Args:
            positions: Absolute interaction indices (the history is everything before).

        Returns:
            ``(scores (B, n_items + 1), fallback (B,))``: rows whose history is shorter than
            ``min_history`` hold the popularity fallback.
        """
        pos = np.asarray(positions, dtype=np.int64)
        user = np.searchsorted(self.dataset.offsets, pos, side="right") - 1
        fallback = (pos - self.dataset.offsets[user]) < self.min_history
        scores = np.empty((pos.size, self.dataset.n_items + 1), dtype=np.float64)
        scores[fallback] = self._fallback_scores()
        model = ~fallback
        if model.any():
            obs = self.env.observations_at(pos[model])
            info = {"position": pos[model], "user_id": self.dataset.user_ids[user[model]]}
            scores[model] = self._agent_scores(obs, info)
        return scores, fallback

    # ------------------------------------------------------------------ metrics
    def evaluate(self, split: str = "test") -> dict[str, float]:
        """PROTOCOL.md metrics of the Recommender (fallback included) on a split.

        Returns:
            ``HR@1``, ``HR@5``, ``HR@10``, ``NDCG@10``, ``MRR``, ``n_users`` and
            ``fallback_share`` (share of users served by the popularity fallback).
        """
        pos = self.dataset.target_indices(split)
        ranks = np.empty(pos.size, dtype=np.int64)
        n_fb = 0
        for s in range(0, pos.size, 256):
            p = pos[s : s + 256]
            scores, fb = self.scores_at(p)
            ranks[s : s + 256] = ranks_from_scores(
                scores, self.dataset.items[p], history_mask(self.dataset, p)
            )
            n_fb += int(fb.sum())
        out: dict[str, float] = dict(metrics_from_ranks(ranks))
        out["fallback_share"] = n_fb / max(pos.size, 1)
        return out

    def hit_rate_at(self, n: int = 10, split: str = "test") -> float:
        """How often the actual next movie is in the top ``n`` (full ranking, PROTOCOL.md).

        Raises:
            ValueError: If ``n < 1``.
        """
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        pos = self.dataset.target_indices(split)
        hits = 0
        for s in range(0, pos.size, 256):
            p = pos[s : s + 256]
            scores, _ = self.scores_at(p)
            r = ranks_from_scores(scores, self.dataset.items[p], history_mask(self.dataset, p))
            hits += int((r <= n).sum())
        return hits / pos.size

    # ------------------------------------------------------------------ recommend
    def _item_vectors(self) -> NDArray[np.float64] | None:
        """Unit rows of the encoder's item matrix (collaborative similarity), if any."""
        if self._item_vec_cache is None:
            try:
                m = np.asarray(self.encoder.item_matrix(), dtype=np.float64)
            except Exception:  # an encoder without an item matrix: genres only
                return None
            self._item_vec_cache = unit_rows(m)
        return self._item_vec_cache

    def _reasons(
        self,
        hist: NDArray[np.int64],
        ratings: NDArray[np.floating],
        items: NDArray[np.int64],
        profile: UserProfile,
    ) -> list[str]:
        """A short reason per recommended item, from the user's history (item indices)."""
        w = self._weights(ratings)
        lo, hi = self.dataset.rating_scale
        liked = ratings >= max(float(ratings.mean()), lo + 0.7 * (hi - lo))
        vecs = self._item_vectors()
        fav = list(profile.favourite_genres)
        out = []
        for item in items:
            genre_sim = self._gn[hist] @ self._gn[item]
            if vecs is None:
                similar = genre_sim >= 0.8
                strength = genre_sim
            else:
                # Scale-free: the anchor must be among the movies most similar to the
                # recommendation (top 5% of the catalogue by item-embedding cosine).
                emb_all = vecs[1:] @ vecs[item]
                strength = vecs[hist] @ vecs[item]
                similar = (strength >= np.quantile(emb_all, 0.95)) & (genre_sim >= 0.5)
            cand = np.where(liked & similar, strength * w, -np.inf)
            if cand.size and np.isfinite(cand.max()):
                t = int(np.argmax(cand))
                out.append(f"because you rated {self._title(int(hist[t]))} {ratings[t]:.1f}")
                continue
            genres = self._genres(int(item))
            shared = [g for g in fav if g in genres]
            if shared and shared[0] == fav[0]:
                out.append(f"{shared[0]}, your top genre")
            elif shared:
                out.append(f"{shared[0]}, one of your favourite genres")
            else:
                out.append("close to your recent viewing")
        return out

    def recommend(self, user_id: int, k: int = 10) -> list[Recommendation]:
        """Top-``k`` unseen movies for a user of the dataset, with reasons.

        A user who is unknown or has fewer than ``min_history`` ratings gets the most viewed
        movies (``source="popularity"``, reason ``"popular with everyone"``). For a person
        who is not in the dataset, use :meth:`recommend_for_ratings`.

        Args:
            user_id: MovieLens userId.
            k: Number of movies.

        Returns:
            The recommendations, best first.

        Raises:
            ValueError: If ``k < 1``.
        """
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        u = self._user_index(user_id)
        if u is None:
            empty = np.zeros(0, dtype=np.int64)
            return self._recommend_history(empty, empty.astype(np.float32), empty, k, None)
        items, ratings, stamps = self.dataset.sequence(u)
        return self._recommend_history(items, ratings, stamps, k, self.analyze_user(user_id))

    def recommend_for_ratings(
        self,
        rated: Mapping[int, float] | Sequence[tuple[int, float]],
        k: int = 10,
        timestamps: Sequence[int] | NDArray[np.integer] | None = None,
    ) -> list[Recommendation]:
        """Top-``k`` movies for a person given only the movies they rated.

        The history is embedded by the frozen encoders like any dataset user's (the
        encoder's ``embed``), so no dataset row is needed.

        Args:
            rated: ``{movieId: rating}`` or ``[(movieId, rating), ...]``, in the order the
                person watched them (oldest first).
            k: Number of movies.
            timestamps: Unix time (seconds) of each rating; by default the ratings are
                taken as one day apart, in the order given (the encoders read only gaps).

        Returns:
            The recommendations, best first; none of them is a rated movie. Fewer than
            ``min_history`` ratings give the popularity fallback.

        Raises:
            ValueError: On ``k < 1``, unknown movieIds (named), ratings outside the
                dataset's scale, or timestamps of another length or out of order.
        """
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        pairs = list(rated.items()) if isinstance(rated, Mapping) else list(rated)
        items, ratings = rated_items(self.dataset, pairs)
        if timestamps is None:
            stamps = np.arange(items.size, dtype=np.int64) * 86_400
        else:
            stamps = np.asarray(timestamps, dtype=np.int64).reshape(-1)
            if stamps.size != items.size:
                raise ValueError(
                    f"timestamps has {stamps.size} entries but {items.size} movies were rated"
                )
            if stamps.size and (np.diff(stamps) < 0).any():
                raise ValueError("timestamps must be in watching order (non-decreasing)")
        profile = analyze_history(
            self.dataset, items, ratings, -1, self.recency_half_life, known=False
        )
        return self._recommend_history(items, ratings, stamps, k, profile)

    def _recommend_history(
        self,
        hist: NDArray[np.int64],
        ratings: NDArray[np.floating],
        stamps: NDArray[np.int64],
        k: int,
        profile: UserProfile | None,
    ) -> list[Recommendation]:
        """Rank unseen movies after a raw history (item indices), with reasons."""
        d = self.dataset
        seen = np.zeros(d.n_items + 1, dtype=bool)
        seen[hist] = True
        if profile is None or hist.size < self.min_history:
            scores = self._fallback_scores()
            source = "popularity"
        else:
            if getattr(self.agent, "needs_context", False):
                raise ValueError(
                    f"agent {self.agent_name!r} reads its context from logged positions and "
                    "cannot score a user's next, not yet logged, movie; use encoder-greedy, "
                    "popular, random or a trained DQN"
                )
            obs = self._history_observation(hist, ratings, stamps)
            scores = self._agent_scores(obs, {"user_id": np.asarray([profile.user_id])})[0]
            source = "model"
        scores = scores.copy()
        scores[0] = -np.inf
        scores[seen] = -np.inf
        k = min(k, int(np.isfinite(scores).sum()))
        order = np.lexsort((np.arange(scores.size), -scores))[:k]
        if source == "popularity":
            reasons = [f"popular with everyone ({int(d.popularity[i])} ratings)" for i in order]
        else:
            assert profile is not None
            reasons = self._reasons(hist, ratings, order, profile)
        return [
            Recommendation(
                rank=r + 1,
                movie_id=int(d.item_movie_ids[i]),
                title=self._title(int(i)),
                genres=self._genres(int(i)),
                score=float(scores[i]),
                reason=reason,
                source=source,
            )
            for r, (i, reason) in enumerate(zip(order, reasons, strict=True))
        ]

    def explain_fallback(self, user_id: int) -> str | None:
        """Why ``user_id`` gets the popularity fallback, or None if the model serves them."""
        u = self._user_index(user_id)
        if u is None:
            return (
                f"user {user_id} is not in dataset {self.dataset.name!r}: showing the most "
                "popular movies"
            )
        n = int(self.dataset.lengths[u])
        if n < self.min_history:
            return (
                f"user {user_id} has only {n} rating(s) (fewer than {self.min_history}): "
                "showing the most popular movies"
            )
        return None

    def format_recommendations(
        self, recommendations: list[Recommendation], user_id: int | None = None
    ) -> str:
        """Human-readable text: the user's profile (when given) and the numbered list."""
        profile = self.analyze_user(user_id) if user_id is not None else None
        note = self.explain_fallback(user_id) if user_id is not None else None
        return format_recommendations(recommendations, profile=profile, note=note)
