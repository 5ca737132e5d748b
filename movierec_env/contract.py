"""The env contract: what every MovieRec environment offers agents, evaluation and tools.

Both ``MovieRec-v0`` (:class:`~movierec_env.env.MovieRecEnv`, its native vector env
:class:`~movierec_env.vector_env.MovieRecVectorEnv`) and the interactive environments built
later implement :class:`RecEnv`. Agents, :func:`agents.evaluate_agent`, the
``Recommender``, the CLI and the benchmark read an env only through it: they call
:func:`rec_env` once on whatever they were given (a ``gym.make`` env with its wrappers, a
native vector env, a ``SyncVectorEnv`` of MovieRec envs) and use the typed result.

What the contract gives is what a deployed recommender could know: the catalogue and its
side information (genres, training popularity and mean ratings), the frozen encoder, the
reward's definition, the histories of the logged positions (for masks and context
baselines) and the observation of a logged position. The logged *next* movie stays in
``info`` of ``step`` for analysis only; agents must not read it.

Candidate mode (``candidates=K``, :mod:`movierec_env.candidates`) adds four members:
:attr:`RecEnv.candidates` (``K`` or ``None``), :meth:`RecEnv.current_candidates` (what
``info["candidates"]`` holds now, for agents called without ``info``),
:meth:`RecEnv.candidates_at` (the item actions the env's generator proposes at logged
positions, drawn from a given generator) and :meth:`RecEnv.candidate_observations_at` (what
the agent sees with those candidates), so evaluation can replay the generator on every test
user without stepping the env.

:class:`ItemFeatures` holds the item side information in the exact form the reward uses
(genre rows normalised like the reward's cosine, the rating term of the mean training
rating), so an agent that builds features from it needs no copy of a reward formula.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
from gymnasium.vector import VectorEnv
from numpy.typing import NDArray

from movierec_env.catalogue import Catalogue
from movierec_env.data.types import PreparedDataset
from movierec_env.reward import RewardConfig, RewardTables, rating_term, unit_rows

__all__ = ["EncoderLike", "HistoryEncoder", "ItemFeatures", "RecEnv", "is_rec_env", "rec_env"]


@runtime_checkable
class EncoderLike(Protocol):
    """What the envs need from a frozen encoder (``encoders.HybridEncoder`` satisfies it).

    Attributes:
        obs_dim: Size of the observation (the embedding).
        window: History window the encoder was trained with.
        fingerprint: Fingerprint of the dataset it was trained on.
    """

    obs_dim: int
    window: int
    fingerprint: str

    def observations(self, data: PreparedDataset) -> NDArray[np.float32]:
        """Observation of every position, ``(n_interactions, obs_dim)`` in [-1, 1]."""
        ...

    def item_matrix(self) -> NDArray[np.float32]:
        """Linear head ``(n_items + 1, obs_dim)``."""
        ...

    def item_bias(self) -> NDArray[np.float32]:
        """Head bias ``(n_items + 1,)``."""
        ...

    def scores(self, obs: NDArray[np.float32]) -> NDArray[np.float32]:
        """Blended logits ``(B, n_items + 1)``."""
        ...


@runtime_checkable
class HistoryEncoder(EncoderLike, Protocol):
    """An encoder that also embeds raw histories (``encoders.HybridEncoder``).

    ``bind(data)`` gives it the dataset's catalogue and rating scale (the envs bind their
    encoder to their dataset); ``embed(items, ratings, timestamps)`` then returns the
    observation of any history, as ``observations(data)`` would for the row after it.
    """

    def bind(self, data: PreparedDataset) -> Any:
        """Take the catalogue and rating scale of ``data``; returns the encoder."""
        ...

    def embed(self, items: Any, ratings: Any, timestamps: Any) -> NDArray[np.float32]:
        """Observation ``(obs_dim,)`` of one history, ``(B, obs_dim)`` of a batch."""
        ...


@dataclass(frozen=True, eq=False)
class ItemFeatures:
    """Item side information, item-aligned (``n_items + 1`` rows, row 0 = padding).

    Attributes:
        genre_matrix: The binary item x genre matrix ``(n_items + 1, n_genres)`` float32.
        genres: Unit-norm genre rows ``(n_items + 1, n_genres)`` float64, normalised exactly
            like the reward's genre cosine (genre-less movies and row 0 are zero rows), so
            ``genres[a] @ genres[b]`` is the cosine of two movies.
        mean_rating: Mean training rating ``(n_items + 1,)`` float32.
        rating_term: The reward's item rating term of each movie,
            ``clip((mean_rating - 3) / 2, 0, 1)`` (:func:`movierec_env.reward.rating_term`).
        popularity: Training interaction counts ``(n_items + 1,)`` int64.
    """

    genre_matrix: NDArray[np.float32]
    genres: NDArray[np.float64]
    mean_rating: NDArray[np.float32]
    rating_term: NDArray[np.float32]
    popularity: NDArray[np.int64]

    @classmethod
    def from_dataset(cls, data: PreparedDataset) -> ItemFeatures:
        """Side information of ``data`` (training interactions only)."""
        matrix = np.array(data.item_genres, dtype=np.float32)
        genres = unit_rows(matrix.astype(np.float64))
        mean = np.array(data.item_mean_rating, dtype=np.float32)
        term = rating_term(np.nan_to_num(mean, nan=3.0)).astype(np.float32)
        pop = np.array(data.popularity, dtype=np.int64)
        for arr in (matrix, genres, mean, term, pop):
            arr.flags.writeable = False
        return cls(
            genre_matrix=matrix, genres=genres, mean_rating=mean, rating_term=term, popularity=pop
        )

    def action_features(self, dtype: Any = np.float32) -> NDArray[Any]:
        """Per action (``n_items`` rows): unit genre row, then the rating term.

        Shape ``(n_items, n_genres + 1)``; the genre rows are normalised in ``dtype`` itself
        (:func:`~movierec_env.reward.unit_rows`), so the genre reward term is linear in them.
        """
        unit = unit_rows(self.genre_matrix[1:].astype(dtype))
        return np.concatenate([unit, self.rating_term[1:, None].astype(dtype)], axis=1)

    def popularity_rank(self) -> NDArray[np.float64]:
        """Per action (``n_items`` rows): its training-popularity rank scaled to ``[0, 1]``.

        0 is the least and 1 the most often interacted-with movie; ties are broken by
        index (a stable sort), so the ranks are distinct. The popularity feature of
        ``LinUCBAgent`` and of the DQN's ``popularity_feature`` head.
        """
        pop = self.popularity[1:].astype(np.float64)
        order = np.argsort(np.argsort(pop, kind="stable"), kind="stable")
        rank: NDArray[np.float64] = order / max(pop.size - 1, 1)
        return rank


@runtime_checkable
class RecEnv(Protocol):
    """The typed interface every MovieRec env implements (single and vector alike).

    A third-party env joins by implementing these members (structural typing: no base
    class needed); :func:`rec_env` checks that they all exist without evaluating them.
    """

    @property
    def n_actions(self) -> int:
        """Number of item actions, the catalogue size (``dataset.n_items``).

        The ``Discrete`` action space has this size with full-catalogue actions and
        :attr:`candidates` in candidate mode.
        """
        ...

    @property
    def candidates(self) -> int | None:
        """``K`` in candidate mode (actions index K proposed movies), ``None`` otherwise."""
        ...

    @property
    def catalogue(self) -> Catalogue:
        """Maps actions to movies (movieId, title, genres)."""
        ...

    @property
    def dataset(self) -> PreparedDataset:
        """The prepared dataset (histories, split, training statistics)."""
        ...

    @property
    def encoder(self) -> EncoderLike:
        """The frozen encoder whose embeddings are the observations."""
        ...

    @property
    def reward_config(self) -> RewardConfig:
        """The reward configuration in use."""
        ...

    @property
    def reward_tables(self) -> RewardTables:
        """The reward's precomputed tables (for :func:`movierec_env.reward.compute_reward`)."""
        ...

    @property
    def item_features(self) -> ItemFeatures:
        """Item side information in the reward's own normalisation."""
        ...

    @property
    def mask_seen(self) -> bool:
        """Whether ``action_masks()`` hides movies already in the history."""
        ...

    @property
    def split(self) -> str:
        """``"train"``, ``"val"`` or ``"test"``."""
        ...

    def action_masks(self) -> NDArray[np.bool_]:
        """Allowed actions now: ``(n_items,)`` (single env) or ``(num_envs, n_items)``.

        Candidate mode: ``(K,)`` or ``(num_envs, K)``, all True.
        """
        ...

    def action_masks_at(self, positions: NDArray[np.integer]) -> NDArray[np.bool_]:
        """Allowed actions ``(B, n_items)`` at logged positions, as ``action_masks()`` gives."""
        ...

    def current_candidates(self) -> NDArray[np.int64]:
        """Candidate mode: ``(num_envs, K)`` item actions proposed now (``info["candidates"]``)."""
        ...

    def candidates_at(
        self, positions: NDArray[np.integer], rng: np.random.Generator
    ) -> NDArray[np.int64]:
        """Candidate mode: item actions ``(B, K)`` proposed at logged positions.

        Drawn row by row from ``rng`` with the env's own generator (never a movie of the
        position's history, no duplicates); raises ``ValueError`` in full-catalogue mode.
        """
        ...

    def candidate_observations_at(
        self, positions: NDArray[np.integer], candidates: NDArray[np.integer]
    ) -> Any:
        """Candidate mode: the observations ``(B, ...)`` the env shows with these candidates.

        A flat array or a dict of arrays, as the env's observation space says.
        """
        ...

    def current_positions(self) -> NDArray[np.int64]:
        """``(num_envs,)`` positions the next actions are judged against (``info["position"]``)."""
        ...

    def observations_at(self, positions: NDArray[np.integer]) -> NDArray[np.float32]:
        """Embeddings ``(B, obs_dim)`` of logged positions (a fresh array).

        With full-catalogue actions this is the observation; in candidate mode it is the
        observation's user part (:meth:`candidate_observations_at` gives all of it).
        """
        ...


def rec_env(env: Any) -> RecEnv:
    """The :class:`RecEnv` behind ``env``.

    Args:
        env: A MovieRec env as users hold it: ``gym.make(...)`` (wrappers are looked
            through with ``env.unwrapped``), a native vector env, a Gymnasium
            ``SyncVectorEnv`` / ``AsyncVectorEnv`` built from MovieRec envs (its first
            sub-env is used: sub-envs share dataset, encoder and reward), or a
            :class:`RecEnv` itself.

    Returns:
        The env's contract.

    Raises:
        TypeError: If ``env`` is not a MovieRec env (naming its type).
    """
    if _implements(env):
        return env
    base = env.unwrapped if hasattr(env, "unwrapped") else env
    if _implements(base):
        return base
    subs = getattr(base, "envs", None) if isinstance(base, VectorEnv) else None
    if isinstance(subs, list | tuple) and subs:
        first = subs[0].unwrapped if hasattr(subs[0], "unwrapped") else subs[0]
        if _implements(first):
            return first
    raise TypeError(
        f"{type(env).__name__} is not a MovieRec env: expected MovieRec-v0 (single or "
        "vector, wrapped or not) or an object implementing movierec_env.RecEnv"
    )


#: Every member of :class:`RecEnv` (checked statically by :func:`rec_env`).
_MEMBERS = (
    "n_actions",
    "candidates",
    "catalogue",
    "dataset",
    "encoder",
    "reward_config",
    "reward_tables",
    "item_features",
    "mask_seen",
    "split",
    "action_masks",
    "action_masks_at",
    "current_positions",
    "observations_at",
    "current_candidates",
    "candidates_at",
    "candidate_observations_at",
)
_MISSING = object()


def _implements(obj: Any) -> bool:
    """Whether ``obj`` has every :class:`RecEnv` member (without evaluating properties)."""
    return all(inspect.getattr_static(obj, name, _MISSING) is not _MISSING for name in _MEMBERS)


def is_rec_env(env: Any) -> bool:
    """Whether :func:`rec_env` accepts ``env``."""
    try:
        rec_env(env)
    except TypeError:
        return False
    return True
