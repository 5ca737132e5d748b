"""``MovieRec-v0``: next-movie recommendation on MovieLens as logged replay."""

from __future__ import annotations

import array
from operator import index
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from numpy.typing import NDArray

from movierec_env.candidates import CandidateGenerator
from movierec_env.catalogue import Catalogue
from movierec_env.data.types import PreparedDataset
from movierec_env.replay import ReplayCore, ReplayEnvProperties, draw_episode
from movierec_env.reward import RewardConfig, compute_reward

__all__ = ["RENDER_HISTORY", "MovieRecEnv", "render_text"]

#: Number of recent movies shown by ``render()``.
RENDER_HISTORY = 5


class MovieRecEnv(ReplayEnvProperties, gym.Env[Any, np.int64]):
    """Next-movie recommendation on MovieLens as logged replay (``MovieRec-v0``).

    ## Description

    Sequential movie recommendation on MovieLens, replayed from the logs. An episode is one
    user's rating sequence in time order. At each step the agent sees a frozen encoder's
    embedding of the user's history and recommends one movie; it is rewarded for matching
    the movie the user actually rated next (and for matching its genres), then the history
    advances by that logged movie.

    **Logged replay.** The history advances along the logged sequence *whatever the action*:
    the agent's recommendation never changes what the user watches next. The next
    observation therefore does not depend on the action, which makes the task close to a
    contextual bandit (each step is a context, the reward of every action is determined by
    the logged next movie). Observations are precomputed once per (dataset, encoder) with
    ``encoder.observations(data)`` and shared by every env copy in the process, so ``step``
    is a few O(1) array lookups.

    ## Action Space

    ``Discrete(n_items)``: action ``a`` recommends item ``a + 1`` of the prepared dataset
    (3,650 movies for ml-latest-small after 5/5 filtering). ``env.unwrapped.catalogue[a]``
    gives its movieId, title and genres. An action outside the space raises ``ValueError``
    (``TypeError`` for a non-integer).

    ``action_masks()`` returns a boolean ``(n_items,)`` array, True = allowed, hiding the
    movies already in the user's history (sb3-contrib ``MaskablePPO`` convention); the
    target is hidden only if the user re-rates a movie. ``mask_seen=False`` allows all. If
    the history covers the whole catalogue, everything is allowed.

    **Candidate mode** (``candidates=K``, see :mod:`movierec_env.candidates`): the action is
    ``Discrete(K)``, an index into the K unseen movies a seeded generator proposes at each
    step (the encoder's top movies, popular and random ones, shuffled, drawn with
    ``self.np_random``). ``info["candidates"]`` holds their catalogue actions;
    ``action_masks()`` is ``(K,)`` all True (no candidate was seen).

    ## Observation Space

    ``Box(-1, 1, (obs_dim,), float32)``: the frozen hybrid encoder's embedding
    ``concat(z_lstm, z_content)`` of the history strictly before the judged position
    (``obs_dim = encoder.obs_dim``), copied from the shared precomputed table. The final
    observation of an episode that ends at a user's last interaction (test split, or
    training-only users) is zeros: no embedding of the complete sequence exists.

    In candidate mode: ``concat(embedding, features (K, F) row-major)``, a bounded ``Box``
    (features in [0, 1]), or with ``candidates={"k": K, "observation": "dict"}`` a ``Dict``
    with ``"user"`` and ``"candidates"``; ``F = n_genres + 4`` (unit genre vector, encoder
    score, popularity percentile, rating term, genre affinity with the recent history;
    layout in :mod:`movierec_env.candidates`).

    ## Rewards

    For action ``a`` judged against the logged next movie ``t`` (see
    :mod:`movierec_env.reward` for details)::

        reward = w_hit * hit + w_genre * genre + w_rating * rating     (0.4 / 0.3 / 0.3)
        hit    = [a + 1 == t]                                          in {0, 1}
        genre  = cosine(genres(a + 1), genres(t))                      in [0, 1]
                 (0 if either has no genre; genre_mode="seed": 0.5 * cosine, in [0, 0.5])
        rating = clip((mean of the last 5 ratings of the history - 3) / 2, 0, 1)   in [0, 1]
                 (rating_mode="window", the seed system's term: it rewards sequences of
                 highly rated movies and does not depend on the action;
                 rating_mode="item": clip((mean training rating of movie a + 1 - 3) / 2, 0, 1))

    The reward lies in ``[0, w_hit + w_genre + w_rating]``, i.e. ``[0, 1]`` by default.
    ``info`` of ``step`` holds the unweighted terms ``"reward_hit"``, ``"reward_genre"``,
    ``"reward_rating"`` (so ``reward == sum(weights[k] * info["reward_" + k])`` up to float32
    rounding), ``"weights"``, ``"target"`` (action index of the logged next movie),
    ``"target_movie_id"``, ``"hit"``, ``"position"`` (absolute interaction index the *next*
    action is judged against) and ``"user_id"``. Note that the logged target is in ``info``:
    an agent that reads it is cheating; agents must act on the observation (and masks).
    In candidate mode the reward is that of the chosen candidate's movie, and ``info`` also
    holds ``"item_action"`` (its catalogue action), ``"movie_id"`` (its movieId),
    ``"target_in_candidates"`` (whether the logged next movie was among the K) and
    ``"candidates"`` (the next step's K catalogue actions).

    ## Starting State

    ``reset()`` draws a user uniformly from the split's eligible users with
    ``self.np_random``; ``reset(options={"user_id": userId})`` picks one (raw MovieLens
    userId; ``ValueError`` if unknown or not eligible).

    * ``split="train"``: users with more than ``min_history`` training interactions; the
      first judged position is ``offsets[u] + min_history`` (or uniform in the training
      range with ``random_start=True``).
    * ``split="val"`` / ``"test"``: every user with a split (PROTOCOL.md); the single judged
      position is the validation / test target, the history its whole prefix.

    ## Episode End

    Never terminated by default. Truncated when the judged position reaches the end of the
    split's range (train: the user's last training interaction; val/test: after the one
    step) or after ``max_episode_steps`` steps. With ``bandit=True`` every episode is one
    step at a random judged position and ends with ``terminated=True`` (the contextual-bandit
    reading of the logged replay: its future does not depend on the action, so there is
    nothing to bootstrap). Stepping a finished episode raises ``RuntimeError``.

    ## Arguments

    ```python
    gym.make("MovieRec-v0", dataset=None, encoders=None, split="train", min_history=5,
             max_episode_steps=None, random_start=False, reward=None, mask_seen=True,
             candidates=None, obs_dtype="float32", bandit=False, render_mode=None)
    ```

    * ``dataset``: ``None`` (embedded ml-latest-small), a MovieLens folder, or a ready
      :class:`~movierec_env.data.PreparedDataset` object (not JSON: fine for direct use).
    * ``encoders``: ``None`` (``encoders.default_encoder(data)``: the shipped checkpoint for
      the embedded dataset, trained once and cached for others), a checkpoint directory, or
      a ready encoder object (``encoders.HybridEncoder`` or anything with its interface).
    * ``split``, ``min_history``, ``random_start``: see Starting State.
    * ``max_episode_steps``: with ``gym.make`` it is applied by the ``TimeLimit`` wrapper; the
      class and the vector env also accept it directly.
    * ``reward``: dict of :class:`~movierec_env.reward.RewardConfig` fields, e.g.
      ``{"w_hit": 1.0, "w_genre": 0.0, "w_rating": 0.0}`` or ``{"genre_mode": "seed"}``.
    * ``mask_seen``: whether ``action_masks()`` hides already seen movies.
    * ``candidates``: ``None`` (full-catalogue actions, the default), ``K`` (e.g. ``20``) or
      a dict of :class:`~movierec_env.candidates.CandidateConfig` fields, e.g.
      ``{"k": 20, "encoder": 0.5, "popular": 0.25, "random": 0.25, "observation": "dict",
      "order": "genre_affinity"}``.
    * ``obs_dtype``: ``"float32"`` (default) or ``"float16"``: how the shared observation
      table is stored (float16 halves its memory, e.g. 6.4 GB instead of 12.8 GB for a
      25M-interaction dataset at obs_dim 128, for values at most ``2**-12`` off); every
      observation is still returned as float32, so the observation space is the same.
    * ``bandit``: one-step episodes ended by ``terminated=True`` (see Episode End; implies
      ``random_start=True``, ``max_episode_steps`` must be ``None`` or 1). With
      ``candidates={"k": 10, "order": "genre_affinity"}`` it is the coursework task that
      Stable-Baselines3 with library defaults learns in minutes (docs/candidates.md).
    * ``render_mode``: ``None`` or ``"ansi"`` (text: recent movies with titles, genres and
      ratings, the recommendation and what was actually watched next).

    Reusing objects: ``MovieRecEnv(dataset=data, encoders=encoder)`` (or the same kwargs to
    ``gym.make``) skips loading; observation tables are cached per (dataset, encoder).

    ## Version History

    * v0: Initial version; candidate mode (``candidates=K``), its slot ``order`` and
      one-step ``bandit`` episodes added as options (the defaults, full-catalogue actions
      and whole-sequence episodes, are unchanged).
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4}  # noqa: RUF012 (Gymnasium API)

    def __init__(
        self,
        dataset: str | PreparedDataset | None = None,
        encoders: Any = None,
        split: str = "train",
        min_history: int = 5,
        max_episode_steps: int | None = None,
        random_start: bool = False,
        reward: dict[str, Any] | RewardConfig | None = None,
        mask_seen: bool = True,
        candidates: int | dict[str, Any] | None = None,
        obs_dtype: str = "float32",
        bandit: bool = False,
        render_mode: str | None = None,
    ) -> None:
        self.render_mode = self._checked_render_mode(render_mode)
        core = ReplayCore(
            dataset=dataset,
            encoders=encoders,
            split=split,
            min_history=min_history,
            max_episode_steps=max_episode_steps,
            random_start=random_start,
            reward=reward,
            mask_seen=mask_seen,
            candidates=candidates,
            obs_dtype=obs_dtype,
            bandit=bandit,
        )
        self._core = core
        gen = self._gen = core.generator
        self.observation_space: spaces.Space[Any]
        if gen is None:
            self.observation_space = spaces.Box(-1.0, 1.0, (core.obs_dim,), np.float32)
            self.action_space = spaces.Discrete(core.n_actions)
        else:
            self.observation_space = gen.observation_space()
            self.action_space = spaces.Discrete(gen.k)
        self._cands = np.full(gen.k if gen else 0, -1, dtype=np.int64)
        self._catalogue: Catalogue | None = None
        # Hot-path state and shortcuts (plain Python values: cheapest to read and compare).
        self._obs = core.obs
        self._obs_cast = core.obs.dtype != np.float32  # a float16 table: cast each row
        self._tables = tables = core.tables
        # The hot path's tables, as memoryviews (indexing one gives a Python int or float).
        code, genre_values, rating_w = tables.scalar_terms
        # bandit=True ends each step with terminated=True: off the hot path, which stays
        # branch-free for the default episodes.
        self._bandit = core.bandit
        self._slow = gen is not None or code is None or core.bandit
        self._mv_target = tables.target_action.data
        self._mv_target_combo = tables.target_combo.data
        self._mv_combo = tables.genre_combo_scaled.data
        # (without a pairwise table, _slow: the hot path never reads the code table)
        self._mv_code = (np.zeros(1, np.uint8) if code is None else code).data
        self._mv_genre = genre_values.data
        self._rating_by_action = tables.config.rating_mode == "item"
        by_action = self._rating_by_action
        self._mv_rating = (tables.rating_action if by_action else tables.rating_position).data
        self._mv_rating_w = rating_w.data
        self._w_hit = float(tables.w_hit)
        self._f32 = array.array("f", [0.0])  # this env's float32 rounding slot
        self._n_actions = core.n_actions if gen is None else gen.k
        self._max_steps = core.max_steps
        self._weights = core.weights
        self._movie_ids = core.movie_ids
        self._user = -1
        self._user_id = -1
        self._pos = 0
        self._stop = 0  # the episode ends when the judged position reaches it
        self._active = False
        self._allowed = np.ones(core.n_actions, dtype=bool)
        self._mask_pos = 0
        self._last: tuple[int, int, float, bool, float, float] | None = None

    # ------------------------------------------------------------------ properties
    @property
    def position(self) -> int:
        """Absolute interaction index the next action is judged against."""
        return self._pos

    # ------------------------------------------------------------------ API
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[NDArray[np.float32], dict[str, Any]]:
        """Start an episode (see the class docstring, "Starting State").

        Args:
            seed: Seed of ``self.np_random``.
            options: ``{"user_id": userId}`` to replay a given user.

        Returns:
            The first observation and ``{"position", "user_id"}``.
        """
        super().reset(seed=seed)
        core = self._core
        user = None
        if options:
            unknown = sorted(set(options) - {"user_id"})
            if unknown:
                raise ValueError(f"unknown reset option(s) {unknown}; allowed: ['user_id']")
            if options.get("user_id") is not None:
                user = core.user_index(options["user_id"])
        user, pos = draw_episode(self.np_random, core.episodes, core.random_start, user)
        self._user = user
        self._user_id = core.user_ids[user]
        self._pos = pos
        self._stop = min(int(core.episodes.end[user]), pos + self._max_steps)
        self._active = True
        self._allowed.fill(True)
        self._mask_pos = int(core.data.offsets[user])
        self._last = None
        info: dict[str, Any] = {"position": pos, "user_id": self._user_id}
        if self._gen is not None:
            return self._propose(pos, info), info
        return self._row(pos), info

    def _row(self, pos: int) -> NDArray[np.float32]:
        """A float32 copy of the observation of ``pos`` (the hot path inlines it)."""
        row = self._obs[pos]
        return row.astype(np.float32) if self._obs_cast else row.copy()

    def _propose(self, pos: int, info: dict[str, Any]) -> Any:
        """Candidate mode: draw the candidates of ``pos``; the observation that shows them."""
        gen: CandidateGenerator = self._gen  # type: ignore[assignment]
        self._cands, feats = gen.propose(self.np_random, pos, self._obs[pos])
        info["candidates"] = self._cands.copy()
        return gen.observation(self._obs[pos], feats)

    def step(
        self, action: Any
    ) -> tuple[NDArray[np.float32], SupportsFloat, bool, bool, dict[str, Any]]:
        """Recommend a movie; the history then advances by the logged next movie.

        Args:
            action: Action index in ``[0, n_items)`` (candidate mode: ``[0, K)``).

        Returns:
            ``(observation, reward, terminated, truncated, info)`` (``terminated`` only with
            ``bandit=True``).

        Raises:
            ValueError: If the action is out of range.
            TypeError: If the action is not an integer.
            RuntimeError: If no episode is running (call ``reset()``).
        """
        cls = action.__class__
        if cls is int:
            a = action
        elif cls is np.int64:
            a = index(action)  # 5x cheaper than int() on a numpy integer
        else:
            a = self._coerce_action(action)
        if not 0 <= a < self._n_actions:
            raise ValueError(
                f"action {a} is out of range: MovieRec-v0 has actions 0..{self._n_actions - 1}"
            )
        if not self._active:
            raise RuntimeError("no episode is running: call reset() first")
        pos = self._pos
        nxt = pos + 1
        self._pos = nxt
        truncated = nxt >= self._stop
        if truncated:
            self._active = False
        if self._slow:
            return self._slow_step(a, pos, truncated)
        # The hot path, in plain Python scalars: a numpy scalar operation costs 60-130 ns, a
        # memoryview read ~30 ns, a function call ~100 ns (docs/env.md, "Cost and how it
        # grows"). It computes compute_reward(tables, a, pos) exactly: the float32 weighted
        # terms are precomputed (RewardTables.scalar_terms); each sum is rounded to float32
        # through an array("f") slot (the sum of two float32 values computed in double and
        # rounded once is the float32 sum: a double has more than 2 x 24 + 2 significand
        # bits); 0 + x == x stands for the missed hit. Tested bit for bit at every position.
        t = self._mv_target[pos]
        k = 2 * self._mv_code[self._mv_combo[a] + self._mv_target_combo[pos]]
        j = a if self._rating_by_action else pos
        pairs = self._mv_genre
        f32 = self._f32
        if a == t:
            f32[0] = self._w_hit + pairs[k + 1]
            f32[0] = f32[0] + self._mv_rating_w[j]
            hit = True
        else:
            f32[0] = pairs[k + 1] + self._mv_rating_w[j]
            hit = False
        reward = f32[0]
        genre = pairs[k]
        rating = self._mv_rating[j]
        if self.render_mode is not None:
            self._last = (a, pos, reward, hit, genre, rating)
        info = {
            "position": nxt,
            "user_id": self._user_id,
            "reward_hit": 1.0 if hit else 0.0,
            "reward_genre": genre,
            "reward_rating": rating,
            "weights": self._weights.copy(),
            "target": t,
            "target_movie_id": self._movie_ids[t],
            "hit": hit,
        }
        if self._obs_cast:
            return self._obs[nxt].astype(np.float32), reward, False, truncated, info
        return self._obs[nxt].copy(), reward, False, truncated, info

    def _slow_step(
        self, a: int, pos: int, truncated: bool
    ) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        """Candidate mode, bandit episodes, or no pairwise genre table: through numpy."""
        item = a if self._gen is None else int(self._cands[a])
        r, h, g, q, target = compute_reward(self._tables, item, pos)
        reward, hit, genre, rating, t = float(r), bool(h), float(g), float(q), int(target)
        if self.render_mode is not None:
            self._last = (item, pos, reward, hit, genre, rating)
        nxt = pos + 1
        info = {
            "position": nxt,
            "user_id": self._user_id,
            "reward_hit": 1.0 if hit else 0.0,
            "reward_genre": genre,
            "reward_rating": rating,
            "weights": self._weights.copy(),
            "target": t,
            "target_movie_id": self._movie_ids[t],
            "hit": hit,
        }
        terminated = self._bandit  # bandit episodes are one step: it ends them
        truncated = truncated and not terminated
        if self._gen is None:
            return self._row(nxt), reward, terminated, truncated, info
        info["item_action"] = item
        info["movie_id"] = self._movie_ids[item]
        info["target_in_candidates"] = bool((self._cands == t).any())
        return self._propose(nxt, info), reward, terminated, truncated, info

    def _coerce_action(self, action: Any) -> int:
        if isinstance(action, np.integer | int) and not isinstance(action, bool | np.bool_):
            return int(action)
        if isinstance(action, np.ndarray) and action.size == 1 and action.dtype.kind in "iu":
            return int(action.reshape(()))
        raise TypeError(
            f"action must be an integer in [0, {self._n_actions}), got {action!r} "
            f"({type(action).__name__})"
        )

    def action_masks(self) -> NDArray[np.bool_]:
        """Allowed actions, ``(n_items,)`` bool (True = allowed).

        With ``mask_seen=True`` the movies in the user's history before the judged position
        are masked; otherwise (or if nothing would be left) every action is allowed. In
        candidate mode: ``(K,)`` all True (the generator never proposes a seen movie).
        """
        if self._gen is not None:
            return np.ones(self._gen.k, dtype=bool)
        if not self._core.mask_seen:
            return np.ones(self._n_actions, dtype=bool)
        if self._pos > self._mask_pos:
            self._allowed[self._tables.target_action[self._mask_pos : self._pos]] = False
            self._mask_pos = self._pos
        if self._user >= 0 and self._core.exhaustible[self._user] and not self._allowed.any():
            return np.ones(self._n_actions, dtype=bool)
        return self._allowed.copy()

    def render(self) -> str | None:
        """Text view of the episode (``render_mode="ansi"``); ``None`` otherwise."""
        if self.render_mode != "ansi":
            return None
        return render_text(self._core, self.catalogue, self._user, self._pos, self._last)


def render_text(
    core: ReplayCore,
    catalogue: Catalogue,
    user: int,
    pos: int,
    last: tuple[int, int, float, bool, float, float] | None,
) -> str:
    """Human-readable state: recent movies, the last recommendation and the logged next movie.

    Args:
        core: The env's shared core.
        catalogue: The catalogue.
        user: User index (``-1`` before the first reset).
        pos: Position the next action is judged against.
        last: ``(action, judged position, reward, hit, genre, rating)`` of the last step.
    """
    if user < 0:
        return "MovieRec-v0: no episode yet (call reset())\n"
    data = core.data
    judged = last[1] if last is not None else pos
    start = int(data.offsets[user])
    lines = [
        f"MovieRec-v0 | split {core.split} | user {core.user_ids[user]} | "
        f"history {judged - start} movies | position {judged}",
        "Recent history (oldest first):",
    ]
    for g in range(max(start, judged - RENDER_HISTORY), judged):
        movie = catalogue[int(data.items[g]) - 1]
        lines.append(f"  {float(data.ratings[g]):.1f}*  {movie}")
    if last is None:
        lines.append("Recommended: (nothing yet: call step())")
    else:
        a, g, reward, hit, genre, rating = last
        target = catalogue[int(data.items[g]) - 1]
        w = core.weights
        lines.append(f"Recommended:  {catalogue[a]}")
        lines.append(f"Watched next: {target} (rated {float(data.ratings[g]):.1f})")
        lines.append(
            f"Reward {reward:.3f} = {w['hit']:g}*hit {int(hit)} + {w['genre']:g}*genre "
            f"{genre:.3f} + {w['rating']:g}*rating {rating:.3f}" + (" -- HIT" if hit else "")
        )
    return "\n".join(lines) + "\n"
