"""The baseline ladder: from a random policy to the one-step reward optimum.

Every baseline speaks the Stable-Baselines3 agent API (``predict``, ``learn``, ``save``,
``load``) so that SB3's ``evaluate_policy`` and this package's
:func:`agents.evaluate_agent` run it like any RL agent, and offers
``action_scores(obs, info) -> (B, n_items)`` for full-ranking metrics (DESIGN.md,
"Agents").

The ladder, weakest to strongest on the blended reward:

======================  ==================================================================
name                    policy
======================  ==================================================================
``random``              a uniformly random unseen movie (seeded)
``popular``             the unseen movie with the most training interactions
``constant``            one movie for everyone: the best mean reward on training
                        interactions (next best where seen)
``markov``              first-order transition counts from the last movie, popularity
                        back-off (:func:`encoders.baselines.markov_scores`)
``genre``               the unseen movie whose genres are closest (cosine) to the genres of
                        the recent history; ties go to the more popular movie
``encoder-greedy``      the frozen hybrid encoder's most likely next movie
``reward-greedy``       the movie with the highest *expected* blended reward under the
                        encoder's next-movie distribution: the one-step optimum under the
                        encoders' own predictions, and the honest bar for any RL agent on
                        logged replay (where the action does not change the next state)
======================  ==================================================================

Context: Markov and genre need the user's history, which the observation (a frozen
embedding) does not spell out. They read it from the dataset through the ``"position"``
key of the env's ``info`` (``action_scores``; ``predict(..., info=...)``). Everything else
an agent needs from the env (dataset, encoder, reward tables, item features, action
masks) comes through the env contract, :func:`movierec_env.rec_env`. All baselines
respect action masks: a movie the user has seen is never recommended.

Persistence follows the DQN's: ``save(path)`` writes a data-only zip checkpoint (JSON
settings and the random generator's state, no pickle; ``.zip`` appended as SB3 does) and
``load(path, env)`` rebuilds the agent on an env (the statistics come from its dataset).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from gymnasium.vector import VectorEnv
from numpy.typing import NDArray

from agents.common.fixed import FixedAgentMixin
from movierec_env.candidates import user_part
from movierec_env.contract import RecEnv, rec_env
from movierec_env.data.types import PreparedDataset
from movierec_env.metrics import history_mask
from movierec_env.reward import RewardTables, unit_rows

__all__ = [
    "BaselineAgent",
    "ConstantAgent",
    "EncoderGreedyAgent",
    "EncoderRankerAgent",
    "GenreAgent",
    "MarkovAgent",
    "OneGenreAgent",
    "PopularityAgent",
    "RandomAgent",
    "RewardGreedyAgent",
    "constant_scores",
    "expected_reward_scores",
    "genre_scores",
    "genre_scores_after",
]

Info = dict[str, Any]


# --------------------------------------------------------------------------- helpers
def _as_positions(info: Info | None, batch: int) -> NDArray[np.int64]:
    """The ``"position"`` entry of an env ``info`` as a ``(batch,)`` int64 array."""
    if info is None or "position" not in info:
        raise ValueError(
            "this agent needs the env's info['position'] (the absolute index of the "
            "interaction the next action is judged against); pass the info returned by "
            "env.reset()/env.step()"
        )
    pos = np.atleast_1d(np.asarray(info["position"], dtype=np.int64))
    if pos.shape != (batch,):
        raise ValueError(
            f"info['position'] has shape {pos.shape}, expected ({batch},) for {batch} observations"
        )
    return pos


def _recent_items(info: Info | None, batch: int) -> NDArray[np.int64] | None:
    """``info["recent_items"]`` ``(batch, W)`` (a simulated user's history), if given."""
    if info is None or "recent_items" not in info:
        return None
    items = np.atleast_2d(np.asarray(info["recent_items"], dtype=np.int64))
    if items.shape[0] != batch:
        raise ValueError(
            f"info['recent_items'] has {items.shape[0]} rows, expected {batch} for {batch} "
            "observations"
        )
    return items


def genre_scores_after(
    data: PreparedDataset,
    recent: NDArray[np.integer],
    gn: NDArray[np.float64],
    tie: NDArray[np.float64],
) -> NDArray[np.float64]:
    """:func:`genre_scores` for histories given as their recent items ``(B, W)`` (0 = pad)."""
    items = np.asarray(recent, dtype=np.int64)
    profile = gn[items].sum(axis=1)  # row 0 of gn is zero: padding adds nothing
    norm = np.linalg.norm(profile, axis=1, keepdims=True)
    profile = np.divide(profile, norm, out=np.zeros_like(profile), where=norm > 0)
    scores = np.round((profile @ gn.T) * 1e6) + tie[None, :]
    scores[:, 0] = -np.inf
    return scores


def _as_candidates(info: Info | None, batch: int, k: int) -> NDArray[np.int64]:
    """The ``"candidates"`` entry of an env ``info`` as a ``(batch, k)`` int64 array."""
    if info is None or "candidates" not in info:
        raise ValueError(
            "in candidate mode this agent needs the env's info['candidates'] (the item "
            "actions of the K proposed movies); pass the info returned by "
            "env.reset()/env.step()"
        )
    cands = np.asarray(info["candidates"], dtype=np.int64).reshape(-1, k)
    if cands.shape[0] != batch:
        raise ValueError(
            f"info['candidates'] has shape {cands.shape}, expected ({batch}, {k}) for "
            f"{batch} observations"
        )
    return cands


def _popularity_rank_fraction(data: PreparedDataset) -> NDArray[np.float64]:
    """Per item (``n_items + 1``) a value in ``[0, 1)``, larger for more popular items."""
    pop = np.asarray(data.popularity, dtype=np.float64)
    # Stable order: equal counts fall back to the lower item index, so ties are reproducible.
    order = np.lexsort((-np.arange(pop.size), pop))
    frac = np.empty(pop.size, dtype=np.float64)
    frac[order] = np.arange(pop.size) / pop.size
    return frac


def genre_scores(
    data: PreparedDataset,
    positions: NDArray[np.integer],
    window: int = 30,
    *,
    gn: NDArray[np.float64] | None = None,
    tie: NDArray[np.float64] | None = None,
) -> NDArray[np.float64]:
    """Genre closeness of every item to the recent history of each target position.

    The profile of a position is the mean of the normalised genre vectors of the last
    ``window`` movies before it; an item's score is its genre cosine with that profile,
    quantised to 1e-6, plus a popularity tie-break in ``[0, 1e-6)``, so that sorting the
    scores orders by genre closeness first and training popularity second.

    Args:
        data: The prepared dataset.
        positions: Absolute interaction indices of the targets.
        window: How many of the most recent movies form the profile.
        gn: Precomputed unit genre rows (``ItemFeatures.genres``; optional, for speed).
        tie: Precomputed popularity tie-break fractions (optional, for speed).

    Returns:
        Scores, shape ``(len(positions), n_items + 1)``, float64; column 0 is ``-inf``.
    """
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    positions = np.asarray(positions, dtype=np.int64)
    gn = unit_rows(np.asarray(data.item_genres, dtype=np.float64)) if gn is None else gn
    tie = _popularity_rank_fraction(data) if tie is None else tie
    user = np.searchsorted(data.offsets, positions, side="right") - 1
    start = np.maximum(data.offsets[user], positions - window)
    lens = positions - start
    profile = np.zeros((positions.size, gn.shape[1]), dtype=np.float64)
    rows = np.repeat(np.arange(positions.size), lens)
    within = np.arange(lens.sum()) - np.repeat(np.cumsum(lens) - lens, lens)
    np.add.at(profile, rows, gn[data.items[np.repeat(start, lens) + within]])
    norm = np.linalg.norm(profile, axis=1, keepdims=True)
    profile = np.divide(profile, norm, out=np.zeros_like(profile), where=norm > 0)
    cos = profile @ gn.T
    scores = np.round(cos * 1e6) + tie[None, :]
    scores[:, 0] = -np.inf
    return scores


def expected_reward_scores(
    logits: NDArray[np.floating],
    seen: NDArray[np.bool_] | None,
    tables: RewardTables,
    positions: NDArray[np.integer] | None,
) -> NDArray[np.float64]:
    """Expected blended reward of every action under a next-movie distribution.

    With ``p = softmax(logits)`` over unseen actions (the logged next movie is never one the
    user has seen) the expected reward of recommending ``a`` at position ``g`` is, with the
    terms of :mod:`movierec_env.reward`::

        E[r(a)] = w_hit p(a) + w_genre sum_j p(j) genre(a, j) + w_rating E[rating(a)]

    The genre part is ``R[a] . (R^T p)`` with ``R`` the reward tables' unit genre rows
    (already scaled for ``genre_mode="seed"``): ``O(B n_items n_genres)``, never the
    item x item cosine matrix. The rating term is the window term of ``g``
    (action-independent) or the action's item term, as configured.

    Args:
        logits: Next-movie logits over actions ``(B, n_items)``.
        seen: Actions the user has already seen ``(B, n_items)`` (True = seen), or None.
        tables: The env's reward tables (``rec_env(env).reward_tables``).
        positions: Absolute index of the judged interaction per row ``(B,)``, or None for a
            history that is not logged (a simulated user's, ``MovieRecSim-v0``): then the
            rating term is the action's item term (its mean training rating), what an
            agent can know of the rating the user will give.

    Returns:
        Expected rewards ``(B, n_items)``, float64; seen actions are ``-inf``.
    """
    z = np.asarray(logits, dtype=np.float64).copy()
    if seen is not None:
        z[seen] = -np.inf
    z -= z.max(axis=1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    cfg = tables.config
    rows = np.asarray(tables.genre_rows, dtype=np.float64)
    expected = cfg.w_hit * p + cfg.w_genre * ((p @ rows) @ rows.T)
    if cfg.rating_mode == "window" and positions is not None:
        rating = np.asarray(tables.rating_position, dtype=np.float64)[np.asarray(positions)]
        expected += cfg.w_rating * rating[:, None]
    else:
        expected += cfg.w_rating * np.asarray(tables.rating_action, dtype=np.float64)[None, :]
    if seen is not None:
        expected[seen] = -np.inf
    return expected


# --------------------------------------------------------------------------- base class
class BaselineAgent(FixedAgentMixin):
    """Common SB3-style plumbing of the baselines.

    Args:
        env: A MovieRec env (single or vector, wrapped or not); the agent reads it
            through the env contract (:func:`movierec_env.rec_env`): dataset, encoder,
            reward tables and item features, and in ``predict`` the current positions and
            action masks.
        seed: Seed of the agent's own random generator (only ``random`` draws from it).
        verbose: 0 silent, 1 info.
    """

    #: The CLI / registry name.
    name: ClassVar[str] = "baseline"
    checkpoint_class: ClassVar[str] = "BaselineAgent"
    #: Whether ``action_scores`` needs ``info["position"]``.
    needs_context: ClassVar[bool] = False

    def __init__(self, env: Any, seed: int | None = None, verbose: int = 0) -> None:
        self.env = env
        self.contract: RecEnv = rec_env(env)
        self.dataset: PreparedDataset = self.contract.dataset
        space = env.single_action_space if isinstance(env, VectorEnv) else env.action_space
        self.action_space = space
        self.n_actions = int(space.n)  # type: ignore[union-attr]
        self.n_items = int(self.dataset.n_items)
        #: ``K`` in candidate mode (scores over the K proposed movies), else ``None``.
        self.candidates: int | None = self.contract.candidates
        expected = self.n_items if self.candidates is None else self.candidates
        if self.n_actions != expected:
            raise ValueError(
                f"action space has {self.n_actions} actions but the env has "
                + (
                    f"{self.n_items} items"
                    if self.candidates is None
                    else f"{self.candidates} candidates"
                )
            )
        self.seed = seed
        self.verbose = verbose
        self._rng = np.random.default_rng(seed)

    # -- SB3 API ---------------------------------------------------------------------
    def item_scores(self, obs: NDArray[np.floating], info: Info | None) -> NDArray[np.floating]:
        """Scores of every movie of the catalogue, shape ``(B, n_items)``; higher is better.

        Args:
            obs: User embeddings ``(B, obs_dim)`` (or one ``(obs_dim,)``).
            info: The env's info with ``"position"`` (needed by context baselines).
        """
        raise NotImplementedError

    def action_scores(self, obs: Any, info: Info | None) -> NDArray[np.floating]:
        """Scores of every action; higher is better.

        With full-catalogue actions: :meth:`item_scores`, ``(B, n_items)``. In candidate mode
        ``(B, K)``: the catalogue scores of the K proposed movies (``info["candidates"]``),
        so every baseline ranks the candidates by its own global order.

        Args:
            obs: Observations ``(B, ...)`` (or one) as the env gives them.
            info: The env's info with ``"position"`` (and ``"candidates"`` in candidate mode).
        """
        if self.candidates is None:
            return self.item_scores(obs, info)
        user = np.atleast_2d(user_part(obs, self.contract.encoder.obs_dim))
        cands = _as_candidates(info, user.shape[0], self.candidates)
        return np.take_along_axis(np.asarray(self.item_scores(user, info)), cands, axis=1)

    def predict(
        self,
        observation: NDArray[np.floating],
        state: Any = None,
        episode_start: NDArray[np.bool_] | None = None,
        deterministic: bool = False,
        *,
        info: Info | None = None,
        action_masks: NDArray[np.bool_] | None = None,
    ) -> tuple[NDArray[np.int64], Any]:
        """Choose the best allowed action per observation (SB3 ``predict``).

        Args:
            observation: ``(obs_dim,)`` or ``(B, obs_dim)``.
            state: Unused (no recurrent state); returned unchanged.
            episode_start: Unused.
            deterministic: Unused by the deterministic baselines (ties are broken by the
                lowest action index); ``random`` always samples.
            info: Env info with ``"position"``; when None the position is read from the env
                the agent was built with.
            action_masks: Allowed actions ``(n_items,)`` or ``(B, n_items)``; when None they
                come from ``env.action_masks()`` (and, failing that, from the positions).

        Returns:
            ``(actions, state)``: an int for a single observation, else an array ``(B,)``.
        """
        obs: Any
        if isinstance(observation, dict):  # candidate mode, Dict observation
            obs = {key: np.asarray(v) for key, v in observation.items()}
            single = obs["user"].ndim == 1
            obs2: Any = {key: v[None] for key, v in obs.items()} if single else obs
            batch = obs2["user"].shape[0]
        else:
            obs = np.asarray(observation)
            single = obs.ndim == 1
            obs2 = obs[None, :] if single else obs
            batch = obs2.shape[0]
        if info is None:
            pos = self.contract.current_positions()
            if pos.shape == (batch,):
                info = {"position": pos}
                if self.candidates is not None:
                    info["candidates"] = self.contract.current_candidates()
        masks = action_masks
        if masks is None:
            masks = np.atleast_2d(self.contract.action_masks())
            if masks.shape[0] != batch:
                masks = None
        if masks is None and self.candidates is None and info is not None and "position" in info:
            masks = ~history_mask(self.dataset, _as_positions(info, batch))[:, 1:]
        scores = self.action_scores(obs2, info)
        actions = _masked_argmax(scores, None if masks is None else np.atleast_2d(masks))
        if single:
            return np.int64(actions[0]), state
        return actions, state

    # -- persistence ----------------------------------------------------------------
    @classmethod
    def _read(cls, path: str | os.PathLike[str]) -> tuple[Path, dict[str, Any]]:
        """The saved payload (zip checkpoint, or the JSON files of earlier versions)."""
        from agents.common.serialization import checkpoint_path, load_checkpoint

        p = Path(path)
        legacy = p if p.suffix == ".json" else p.with_suffix(".json")
        if legacy.is_file() and not p.is_file() and not checkpoint_path(p).is_file():
            return legacy, json.loads(legacy.read_text())
        data, _ = load_checkpoint(p)
        if data.get("class") != "BaselineAgent":
            raise ValueError(f"{p} holds a {data.get('class')!r}, not a baseline agent")
        return checkpoint_path(p) if not p.is_file() else p, data

    @classmethod
    def _restore(cls, payload: dict[str, Any], env: Any) -> BaselineAgent:
        agent = cls(env, seed=payload.get("seed"), **payload.get("config", {}))
        state = payload.get("rng_state")
        if state is not None:
            agent._rng.bit_generator.state = state
        return agent

    @classmethod
    def load(cls, path: str | os.PathLike[str], env: Any = None) -> BaselineAgent:
        """Rebuild an agent saved with :meth:`save` on ``env``.

        Raises:
            FileNotFoundError: If there is no such file.
            ValueError: If the file holds another agent or ``env`` is missing.
        """
        p, payload = cls._read(path)
        if payload.get("agent") != cls.name:
            raise ValueError(f"{p} holds agent {payload.get('agent')!r}, not {cls.name!r}")
        if env is None:
            raise ValueError(f"{cls.__name__}.load needs env= (the statistics come from its data)")
        return cls._restore(payload, env)


def _masked_argmax(
    scores: NDArray[np.floating], masks: NDArray[np.bool_] | None
) -> NDArray[np.int64]:
    s = np.array(scores, dtype=np.float64, copy=True)
    if masks is not None:
        if masks.shape != s.shape:
            raise ValueError(f"action masks have shape {masks.shape}, scores {s.shape}")
        if not masks.any(axis=1).all():
            raise ValueError("an observation has no allowed action (every movie is masked)")
        s[~masks] = -np.inf
    return np.argmax(s, axis=1).astype(np.int64)


# --------------------------------------------------------------------------- baselines
class RandomAgent(BaselineAgent):
    """A uniformly random unseen movie; seeded by ``seed``."""

    name = "random"

    def item_scores(self, obs: NDArray[np.floating], info: Info | None) -> NDArray[np.floating]:
        """Uniform random scores (a random ranking) from the agent's own generator."""
        batch = np.atleast_2d(np.asarray(obs)).shape[0]
        return self._rng.random((batch, self.n_items))


class PopularityAgent(BaselineAgent):
    """The most popular unseen movie (training interaction counts)."""

    name = "popular"

    def __init__(self, env: Any, seed: int | None = None, verbose: int = 0) -> None:
        super().__init__(env, seed, verbose)
        from encoders.baselines import popularity_scores

        # Popularity is the same for every position: score one, broadcast to the batch.
        first = self.dataset.target_indices("test")[:1]
        row = np.asarray(popularity_scores(self.dataset, first), dtype=np.float64)[0, 1:]
        self._scores = row

    def item_scores(self, obs: NDArray[np.floating], info: Info | None) -> NDArray[np.floating]:
        """Training popularity of every movie (the same for every observation)."""
        batch = np.atleast_2d(np.asarray(obs)).shape[0]
        return np.broadcast_to(self._scores, (batch, self.n_items)).copy()


def constant_scores(data: PreparedDataset, tables: RewardTables) -> NDArray[np.float64]:
    """Mean reward of recommending each movie at every training interaction ``(n_items,)``.

    With the reward's own terms (:mod:`movierec_env.reward`) over the training positions
    ``g`` (every interaction before a user's ``train_end``): ``w_hit`` times the movie's
    share of training targets, plus ``w_genre`` times its mean genre term with the training
    targets (linear in the genre rows: ``R[a] . mean_g R[t_g]``; genre rows are
    non-negative, so no cosine is clipped), plus ``w_rating`` times the mean rating term
    (the window term is the same for every movie; the item term is the movie's own).
    """
    user = np.repeat(np.arange(data.n_users), data.lengths)
    positions = np.flatnonzero(np.arange(data.n_interactions) < data.train_end[user])
    targets = np.asarray(tables.target_action[positions], dtype=np.int64)
    cfg = tables.config
    share = np.bincount(targets, minlength=data.n_items) / max(targets.size, 1)
    rows = np.asarray(tables.genre_rows, dtype=np.float64)
    genre = rows @ rows[targets].mean(axis=0)
    if cfg.rating_mode == "window":
        rating: Any = float(np.mean(tables.rating_position[positions], dtype=np.float64))
    else:
        rating = np.asarray(tables.rating_action, dtype=np.float64)
    out: NDArray[np.float64] = cfg.w_hit * share + cfg.w_genre * genre + cfg.w_rating * rating
    return out


class ConstantAgent(BaselineAgent):
    """One movie for everyone: the best mean reward on training interactions (``constant``).

    The degenerate policy an RL agent must beat to show it uses its observation: it ranks
    the catalogue by :func:`constant_scores` (the same order for every user), so it
    recommends the movie with the highest mean training reward, the next best where that
    one is masked (seen), and in candidate mode the candidate that ranks best in that
    global order. On ml-latest-small that movie is a genre-central one: the genre term
    pays on almost every step.
    """

    name = "constant"

    def __init__(self, env: Any, seed: int | None = None, verbose: int = 0) -> None:
        super().__init__(env, seed, verbose)
        self._scores = constant_scores(self.dataset, self.contract.reward_tables)

    def item_scores(self, obs: NDArray[np.floating], info: Info | None) -> NDArray[np.floating]:
        """Mean training reward of every movie (the same for every observation)."""
        batch = np.atleast_2d(np.asarray(obs)).shape[0]
        return np.broadcast_to(self._scores, (batch, self.n_items)).copy()


class OneGenreAgent(BaselineAgent):
    """One genre forever: its most popular unseen movies, for everyone (``one-genre``).

    The second degenerate policy of the ladder (after ``constant``). The genre is the one
    with the largest share of the reward's genre mass over the training targets (the sum
    of the targets' unit genre rows, the reward's own normalisation): on ml-latest-small,
    Drama. Movies of that genre rank by training popularity above every other movie (which
    follow by popularity), so the agent recommends that genre's most popular unseen movie
    at every step, to every user, whatever the observation.

    Attributes:
        genre: Index of the chosen genre (a column of ``item_features.genre_matrix``).
        genre_name: Its name, when the dataset has genre names.
    """

    name = "one-genre"

    def __init__(self, env: Any, seed: int | None = None, verbose: int = 0) -> None:
        super().__init__(env, seed, verbose)
        feats = self.contract.item_features
        tables = self.contract.reward_tables
        user = np.repeat(np.arange(self.dataset.n_users), self.dataset.lengths)
        train = np.arange(self.dataset.n_interactions) < self.dataset.train_end[user]
        targets = np.asarray(tables.target_action[np.flatnonzero(train)], dtype=np.int64)
        mass = np.asarray(feats.genres, dtype=np.float64)[targets].sum(axis=0)
        self.genre = int(np.argmax(mass))
        names = list(getattr(self.dataset, "genre_names", []) or [])
        self.genre_name = names[self.genre] if self.genre < len(names) else str(self.genre)
        pop = np.asarray(feats.popularity[1:], dtype=np.float64)
        in_genre = np.asarray(feats.genre_matrix[1:, self.genre]) > 0
        # Popularity ranks within [0, 1); the genre's movies are lifted above all others.
        ranks = np.argsort(np.argsort(pop, kind="stable"), kind="stable") / max(pop.size, 1)
        self._scores = ranks + in_genre.astype(np.float64)

    def item_scores(self, obs: NDArray[np.floating], info: Info | None) -> NDArray[np.floating]:
        """The same order for every observation: the genre's movies first, by popularity."""
        batch = np.atleast_2d(np.asarray(obs)).shape[0]
        return np.broadcast_to(self._scores, (batch, self.n_items)).copy()


class MarkovAgent(BaselineAgent):
    """First-order Markov chain: transition counts from the last movie, popularity back-off.

    Scores come from :func:`encoders.baselines.markov_scores` (fit on training
    interactions), the same function behind ``movierec evaluate --agent markov``.
    """

    name = "markov"
    needs_context = True

    def item_scores(self, obs: NDArray[np.floating], info: Info | None) -> NDArray[np.floating]:
        """Transition scores from each position's last movie."""
        from encoders.baselines import markov_scores, markov_scores_after

        batch = np.atleast_2d(np.asarray(obs)).shape[0]
        recent = _recent_items(info, batch)
        if recent is not None:
            return np.asarray(markov_scores_after(self.dataset, recent[:, -1]))[:, 1:]
        pos = _as_positions(info, batch)
        return np.asarray(markov_scores(self.dataset, pos))[:, 1:]


class GenreAgent(BaselineAgent):
    """The unseen movie closest in genre to the recent history; ties by popularity.

    Args:
        env: The env.
        seed: Unused (deterministic).
        verbose: Verbosity.
        window: Number of most recent movies whose genres form the profile (see
            :func:`genre_scores`). The default, 30, was chosen on the validation split of
            ml-latest-small (mean reward 0.2506 at 30; 0.2483 at 10, 0.2498 at 50, 0.2461
            with the whole history).
    """

    name = "genre"
    needs_context = True

    def __init__(
        self, env: Any, seed: int | None = None, verbose: int = 0, window: int = 30
    ) -> None:
        super().__init__(env, seed, verbose)
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        self.window = int(window)
        self._gn = self.contract.item_features.genres
        self._tie = _popularity_rank_fraction(self.dataset)

    def _config(self) -> dict[str, Any]:
        return {"window": self.window}

    def item_scores(self, obs: NDArray[np.floating], info: Info | None) -> NDArray[np.floating]:
        """Genre cosine with the recent-history profile, popularity tie-break."""
        batch = np.atleast_2d(np.asarray(obs)).shape[0]
        recent = _recent_items(info, batch)
        if recent is not None:
            tail = recent[:, -self.window :]
            return genre_scores_after(self.dataset, tail, self._gn, self._tie)[:, 1:]
        pos = _as_positions(info, batch)
        return genre_scores(self.dataset, pos, self.window, gn=self._gn, tie=self._tie)[:, 1:]


class EncoderRankerAgent(BaselineAgent):
    """Greedy ranking by a frozen encoder's next-movie scores.

    ``component="hybrid"`` scores from the observation itself
    (``encoder.scores(obs)``, DESIGN.md); ``"lstm"`` and ``"content"`` use one encoder's
    scores (``HybridEncoder.component_scores``, the rankers of ``movierec evaluate``) and
    need ``info["position"]``.

    Args:
        env: The env (its contract's ``encoder`` is used).
        seed: Unused (deterministic).
        verbose: Verbosity.
        component: ``"hybrid"``, ``"lstm"`` or ``"content"``.
    """

    name = "encoder"
    COMPONENTS: ClassVar[tuple[str, ...]] = ("hybrid", "lstm", "content")

    def __init__(
        self, env: Any, seed: int | None = None, verbose: int = 0, component: str = "hybrid"
    ) -> None:
        super().__init__(env, seed, verbose)
        if component not in self.COMPONENTS:
            raise ValueError(f"component must be one of {self.COMPONENTS}, got {component!r}")
        self.component = component
        encoder = self.contract.encoder
        self.encoder: Any = encoder
        self.needs_context = component != "hybrid"  # type: ignore[misc]
        if component != "hybrid" and not hasattr(encoder, "component_scores"):
            raise TypeError(
                f"{type(encoder).__name__} has no component_scores(); the {component!r} "
                "ranking needs an encoders.HybridEncoder"
            )

    def _config(self) -> dict[str, Any]:
        return {"component": self.component}

    def item_scores(self, obs: NDArray[np.floating], info: Info | None) -> NDArray[np.floating]:
        """The encoder's blended (or single-encoder) logits over movies."""
        obs2 = np.atleast_2d(np.asarray(obs, dtype=np.float32))
        if self.component == "hybrid":
            return np.asarray(self.encoder.scores(obs2))[:, 1:]
        pos = _as_positions(info, obs2.shape[0])
        scores = self.encoder.component_scores(self.dataset, pos, self.component)
        return np.asarray(scores)[:, 1:]

    @classmethod
    def load(cls, path: str | os.PathLike[str], env: Any = None) -> BaselineAgent:
        """Rebuild from :meth:`save` (the name on file may be any encoder ranker)."""
        _, payload = cls._read(path)
        if env is None:
            raise ValueError(f"{cls.__name__}.load needs env=")
        return cls._restore(payload, env)


class EncoderGreedyAgent(EncoderRankerAgent):
    """The frozen hybrid encoder's most likely unseen next movie (``encoder-greedy``)."""

    name = "encoder-greedy"

    def __init__(self, env: Any, seed: int | None = None, verbose: int = 0) -> None:
        super().__init__(env, seed, verbose, component="hybrid")

    def _config(self) -> dict[str, Any]:
        return {}


class RewardGreedyAgent(BaselineAgent):
    """The movie with the highest expected blended reward under the encoder's predictions.

    ``p = softmax(encoder.scores(obs))`` over unseen movies is the encoder's belief about
    the logged next movie; the agent recommends ``argmax_a E_p[r(a, next)]`` with the env's
    own reward weights and terms (see :func:`expected_reward_scores`). In logged replay the
    action does not change the next state, so this is the one-step optimum under the
    encoders' own predictions: an RL agent that beats it has learnt something the encoder
    does not know.

    Args:
        env: The env (its contract's ``encoder`` and ``reward_tables`` are used).
        seed: Unused (deterministic).
        verbose: Verbosity.
    """

    name = "reward-greedy"
    needs_context = True

    def __init__(self, env: Any, seed: int | None = None, verbose: int = 0) -> None:
        super().__init__(env, seed, verbose)
        self.encoder: Any = self.contract.encoder
        self.tables = self.contract.reward_tables

    def item_scores(self, obs: NDArray[np.floating], info: Info | None) -> NDArray[np.floating]:
        """Expected blended reward of every movie (seen movies ``-inf``)."""
        obs2 = np.atleast_2d(np.asarray(obs, dtype=np.float32))
        logits = np.asarray(self.encoder.scores(obs2))[:, 1:]
        recent = _recent_items(info, obs2.shape[0])
        if recent is not None:  # a simulated user: seen movies come as (item) masks
            masks = None if info is None else info.get("item_masks", info.get("action_masks"))
            if masks is not None and np.shape(masks)[-1] != logits.shape[1]:
                masks = None  # candidate mode's (B, K) action masks say nothing of the rest
            seen = None if masks is None else ~np.atleast_2d(np.asarray(masks, dtype=bool))
            return expected_reward_scores(logits, seen, self.tables, None)
        pos = _as_positions(info, obs2.shape[0])
        seen = history_mask(self.dataset, pos)[:, 1:]
        return expected_reward_scores(logits, seen, self.tables, pos)
