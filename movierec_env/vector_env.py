"""Native batched ``MovieRec-v0``: N users replayed at once with numpy.

``gym.make_vec("MovieRec-v0", num_envs=N)`` builds :class:`MovieRecVectorEnv` (the
registered ``vector_entry_point``). Sub-env ``i`` owns a generator seeded like
``SyncVectorEnv`` seeds its ``i``-th env (``seed + i``) and draws episodes with the same
function as :class:`~movierec_env.env.MovieRecEnv`, so with the same seed it gives exactly
the transitions of N single envs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.utils import seeding
from gymnasium.vector.utils import batch_space
from numpy.typing import NDArray

from movierec_env.catalogue import Catalogue
from movierec_env.data.types import PreparedDataset
from movierec_env.env import render_text
from movierec_env.gym_compat import AutoresetMode, NativeVectorEnv
from movierec_env.replay import ReplayCore, ReplayEnvProperties, draw_episode
from movierec_env.reward import RewardConfig, compute_reward

__all__ = ["MovieRecVectorEnv"]

_STEP_KEYS = ("reward_hit", "reward_genre", "reward_rating", "target", "target_movie_id", "hit")


class MovieRecVectorEnv(ReplayEnvProperties, NativeVectorEnv):
    """N independent ``MovieRec-v0`` episodes stepped together in numpy.

    Same semantics, arguments and reward as :class:`~movierec_env.env.MovieRecEnv` (see its
    docstring), plus ``num_envs``. Autoreset follows Gymnasium's default ``NEXT_STEP`` mode:
    the step after a sub-env's episode ends resets it (its action is ignored, its reward is
    0 and its info holds only the reset keys, ``info["_reward_hit"][i]`` etc. being False).

    Observations ``(num_envs, obs_dim)`` float32 are fresh arrays; rewards are float64 like
    ``SyncVectorEnv``'s. ``info`` follows the vector convention: each key maps to a
    ``(num_envs,)`` array with a ``"_key"`` mask (reward terms as float32);
    ``info["weights"]`` is a dict of constant arrays. ``action_masks()`` returns
    ``(num_envs, n_items)`` bool.

    Args:
        num_envs: Number of sub-environments.
        dataset: As for :class:`~movierec_env.env.MovieRecEnv`.
        encoders: As for :class:`~movierec_env.env.MovieRecEnv`.
        split: As for :class:`~movierec_env.env.MovieRecEnv`.
        min_history: As for :class:`~movierec_env.env.MovieRecEnv`.
        max_episode_steps: Truncate each sub-episode after this many steps.
        random_start: As for :class:`~movierec_env.env.MovieRecEnv`.
        reward: As for :class:`~movierec_env.env.MovieRecEnv`.
        mask_seen: As for :class:`~movierec_env.env.MovieRecEnv`.
        candidates: As for :class:`~movierec_env.env.MovieRecEnv` (candidate mode: each
            sub-env draws its candidates from its own generator, in the single env's
            order, so transitions stay those of single envs seeded alike).
        obs_dtype: As for :class:`~movierec_env.env.MovieRecEnv` (observations are
            float32 either way).
        bandit: As for :class:`~movierec_env.env.MovieRecEnv` (every sub-episode is one
            step, ended by ``terminated``).
        render_mode: ``None`` or ``"ansi"`` (``render()`` returns one text per sub-env).
    """

    metadata = {  # noqa: RUF012 (Gymnasium API)
        "render_modes": ["ansi"],
        "autoreset_mode": AutoresetMode.NEXT_STEP,
    }

    def __init__(
        self,
        num_envs: int = 1,
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
        if isinstance(num_envs, bool) or not isinstance(num_envs, int | np.integer) or num_envs < 1:
            raise ValueError(f"num_envs must be an int >= 1, got {num_envs!r}")
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
        n = self.num_envs = int(num_envs)
        gen = self._gen = core.generator
        self._n_act = core.n_actions if gen is None else gen.k
        self.single_observation_space: spaces.Space[Any]
        self.observation_space: spaces.Space[Any]
        if gen is None:
            self.single_observation_space = spaces.Box(-1.0, 1.0, (core.obs_dim,), np.float32)
            self.observation_space = spaces.Box(-1.0, 1.0, (n, core.obs_dim), np.float32)
        else:
            self.single_observation_space = gen.observation_space()
            self.observation_space = batch_space(self.single_observation_space, n)
            self._cands = np.full((n, gen.k), -1, dtype=np.int64)
            self._feats = np.zeros((n, gen.k, gen.n_features), dtype=np.float32)
        self.single_action_space = spaces.Discrete(self._n_act)
        self.action_space = spaces.MultiDiscrete(np.full(n, self._n_act))
        self._catalogue: Catalogue | None = None
        self._obs = core.obs
        self._tables = core.tables
        self._rngs: list[np.random.Generator | None] = [None] * n
        self._user = np.full(n, -1, dtype=np.int64)
        self._user_id = np.full(n, -1, dtype=np.int64)
        self._pos = np.zeros(n, dtype=np.int64)
        self._end = np.zeros(n, dtype=np.int64)
        self._steps = np.zeros(n, dtype=np.int64)
        self._autoreset = np.zeros(n, dtype=bool)
        self._started = False
        self._allowed = np.ones((n, core.n_actions), dtype=bool)
        self._mask_pos = np.zeros(n, dtype=np.int64)
        self._last: list[tuple[int, int, float, bool, float, float] | None] = [None] * n
        self._all_true = np.ones(n, dtype=bool)
        self._all_true.flags.writeable = False
        self._terminated = np.zeros(n, dtype=bool)
        self._terminated.flags.writeable = False
        self._movie_ids = core.data.item_movie_ids[1:]
        weights: dict[str, Any] = {}
        for key, value in core.weights.items():
            arr = np.full(n, value, dtype=np.float64)
            arr.flags.writeable = False
            weights[key] = arr
            weights["_" + key] = self._all_true
        self._weights_info = weights

    # ------------------------------------------------------------------ properties
    @property
    def position(self) -> NDArray[np.int64]:
        """Per sub-env, the absolute interaction index the next action is judged against."""
        return self._pos.copy()

    # ------------------------------------------------------------------ API
    def reset(
        self,
        *,
        seed: int | list[int | None] | None = None,
        options: dict[str, Any] | None = None,
    ) -> tuple[NDArray[np.float32], dict[str, Any]]:
        """Reset all (or ``options["reset_mask"]``) sub-envs.

        Args:
            seed: ``int`` (sub-env ``i`` gets ``seed + i``), a list of per-env seeds, or
                ``None``.
            options: ``{"user_id": userId or (num_envs,) userIds}`` to pick users,
                ``{"reset_mask": (num_envs,) bool}`` to reset only some sub-envs.

        Returns:
            Observations ``(num_envs, obs_dim)`` and ``{"position", "user_id"}`` arrays.
        """
        n = self.num_envs
        if isinstance(seed, int | np.integer) and not isinstance(seed, bool):
            super().reset(seed=int(seed))
            seeds: list[int | None] = [int(seed) + i for i in range(n)]
        elif seed is None:
            seeds = [None] * n
        else:
            seeds = list(seed)  # type: ignore[arg-type]
            if len(seeds) != n:
                raise ValueError(f"seed list has {len(seeds)} entries, expected num_envs={n}")
        options = dict(options or {})
        unknown = sorted(set(options) - {"user_id", "reset_mask"})
        if unknown:
            raise ValueError(
                f"unknown reset option(s) {unknown}; allowed: ['reset_mask', 'user_id']"
            )
        mask = options.get("reset_mask")
        if mask is None:
            mask_arr = np.ones(n, dtype=bool)
        else:
            mask_arr = np.asarray(mask)
            if mask_arr.shape != (n,) or mask_arr.dtype != np.bool_:
                raise ValueError(f"reset_mask must be a bool array of shape ({n},)")
            if not self._started and not mask_arr.all():
                raise ValueError("the first reset must reset every sub-env (no reset_mask)")
        user_ids = options.get("user_id")
        if user_ids is not None and np.ndim(user_ids) == 0:
            user_ids = [user_ids] * n
        if user_ids is not None and len(user_ids) != n:
            raise ValueError(f"options['user_id'] has {len(user_ids)} entries, expected {n}")
        idx = np.flatnonzero(mask_arr)
        users: list[int | None] = []
        for i in idx:
            if seeds[i] is not None or self._rngs[i] is None:
                self._rngs[i] = seeding.np_random(seeds[i])[0]
            user = None
            if user_ids is not None and user_ids[i] is not None:
                uid = user_ids[i]
                user = self._core.user_index(uid.item() if isinstance(uid, np.generic) else uid)
            users.append(user)
        self._reset_many(idx, users)
        self._autoreset = self._autoreset & ~mask_arr
        self._started = True
        info: dict[str, Any] = {
            "position": self._pos.copy(),
            "_position": self._all_true,
            "user_id": self._user_id.copy(),
            "_user_id": self._all_true,
        }
        if self._gen is not None:
            info["candidates"] = self._cands.copy()
            info["_candidates"] = self._all_true
        return self._observations(self._pos), info

    def _observations(self, positions: NDArray[np.int64]) -> Any:
        if self._gen is None:
            rows = self._obs[positions]
            return rows if rows.dtype == np.float32 else rows.astype(np.float32)
        return self._gen.observation(self._obs[positions], self._feats)

    def _propose(self, idx: Any) -> None:
        """Candidate mode: draw the candidates of sub-envs ``idx`` at their positions."""
        gen = self._gen
        assert gen is not None
        for i in idx:
            rng = self._rngs[i]
            assert rng is not None
            g = int(self._pos[i])
            self._cands[i], self._feats[i] = gen.propose(rng, g, self._obs[g])

    def _reset_many(self, idx: NDArray[np.int64], users: list[int | None] | None = None) -> None:
        """Start new episodes in sub-envs ``idx`` (draws in index order, then bulk writes)."""
        core = self._core
        episodes, random_start, rngs = core.episodes, core.random_start, self._rngs
        if users is None and not random_start:
            # Hot path of autoreset: the same rng call as draw_episode, inlined.
            n_users = episodes.users.shape[0]
            picks = [rngs[i].integers(n_users) for i in idx.tolist()]
            drawn_users = episodes.users[np.array(picks, dtype=np.int64)]
            starts = episodes.first[drawn_users]
        else:
            drawn_users = np.empty(idx.shape[0], dtype=np.int64)
            starts = np.empty(idx.shape[0], dtype=np.int64)
            for k, i in enumerate(idx.tolist()):
                rng = rngs[i]
                assert rng is not None
                drawn_users[k], starts[k] = draw_episode(
                    rng, episodes, random_start, None if users is None else users[k]
                )
        self._user[idx] = drawn_users
        self._user_id[idx] = core.data.user_ids[drawn_users]
        self._pos[idx] = starts
        self._end[idx] = episodes.end[drawn_users]
        self._steps[idx] = 0
        self._allowed[idx] = True
        self._mask_pos[idx] = core.data.offsets[drawn_users]
        if self.render_mode is not None:
            for i in idx.tolist():
                self._last[i] = None
        if self._gen is not None:
            self._propose(idx.tolist())

    def step(
        self, actions: Any
    ) -> tuple[
        NDArray[np.float32], NDArray[np.float64], NDArray[np.bool_], NDArray[np.bool_], dict
    ]:
        """Step every sub-env (NEXT_STEP autoreset).

        Args:
            actions: ``(num_envs,)`` integer actions in ``[0, n_items)`` (candidate mode:
                ``[0, K)``).

        Returns:
            ``(observations, rewards, terminated, truncated, info)``.

        Raises:
            ValueError: On a wrong shape or out-of-range action.
            TypeError: On non-integer actions.
            RuntimeError: If ``reset()`` was never called.
        """
        if not self._started:
            raise RuntimeError("call reset() before step()")
        acts = np.asarray(actions)
        n = self.num_envs
        if acts.shape != (n,):
            if acts.size == n:
                acts = acts.reshape(n)
            else:
                raise ValueError(f"actions must have shape ({n},), got {acts.shape}")
        if acts.dtype.kind not in "iu":
            raise TypeError(f"actions must be integers, got dtype {acts.dtype}")
        # One pass: negative int64 actions wrap to huge uint64 values.
        n_act = self._n_act
        if (acts.astype(np.uint64, copy=False) >= n_act).any():
            bad = int(np.flatnonzero((acts < 0) | (acts >= n_act))[0])
            raise ValueError(
                f"action {int(acts[bad])} of sub-env {bad} is out of range: MovieRec-v0 has "
                f"actions 0..{n_act - 1}"
            )
        ar = self._autoreset
        any_reset = bool(ar.any())
        if any_reset:
            self._reset_many(np.flatnonzero(ar))
        pos = self._pos
        items = acts if self._gen is None else self._cands[np.arange(n), acts]
        reward, hit, genre, rating, target = compute_reward(self._tables, items, pos)
        nxt = pos + 1
        steps = self._steps + 1
        truncated = (nxt >= self._end) | (steps >= self._core.max_steps)
        if self.render_mode is not None:
            self._remember(items, pos, reward, hit, genre, rating, ar)
        step_mask = self._all_true
        if any_reset:
            live = ~ar
            step_mask = live
            nxt = np.where(live, nxt, pos)
            steps = np.where(live, steps, 0)
            truncated &= live
            reward = np.where(live, reward, np.float32(0))
            hit = hit & live
            genre = np.where(live, genre, np.float32(0))
            rating = np.where(live, rating, np.float32(0))
            target = np.where(live, target, 0)
        self._pos = nxt
        self._steps = steps
        self._autoreset = truncated
        info: dict[str, Any] = {
            "position": nxt.copy(),
            "_position": self._all_true,
            "user_id": self._user_id.copy(),
            "_user_id": self._all_true,
            "reward_hit": hit.astype(np.float32),
            "reward_genre": genre,
            "reward_rating": rating,
            "weights": self._weights_info,
            "_weights": step_mask,
            "target": target,
            "target_movie_id": self._movie_ids[target],
            "hit": hit,
        }
        for key in _STEP_KEYS:
            info["_" + key] = step_mask
        if self._gen is not None:
            self._candidate_step(info, items, target, step_mask, any_reset, ar)
        ended, never = truncated.copy(), self._terminated.copy()
        if self._core.bandit:  # one-step episodes end by termination (ReplayCore)
            return self._observations(nxt), reward.astype(np.float64), ended, never, info
        return self._observations(nxt), reward.astype(np.float64), never, ended, info

    def _candidate_step(
        self,
        info: dict[str, Any],
        items: NDArray[np.int64],
        target: NDArray[np.int64],
        step_mask: NDArray[np.bool_],
        any_reset: bool,
        ar: NDArray[np.bool_],
    ) -> None:
        """Candidate mode: step info, then the candidates of every stepped sub-env."""
        inside = (self._cands == target[:, None]).any(axis=1)
        info["item_action"] = np.where(step_mask, items, 0)
        info["movie_id"] = np.where(step_mask, self._movie_ids[items], 0)
        info["target_in_candidates"] = inside & step_mask
        for key in ("item_action", "movie_id", "target_in_candidates"):
            info["_" + key] = step_mask
        self._propose(np.flatnonzero(~ar).tolist() if any_reset else range(self.num_envs))
        info["candidates"] = self._cands.copy()
        info["_candidates"] = self._all_true

    def _remember(
        self,
        acts: Any,
        pos: Any,
        reward: Any,
        hit: Any,
        genre: Any,
        rating: Any,
        ar: NDArray[np.bool_],
    ) -> None:
        for i in range(self.num_envs):
            self._last[i] = (
                None
                if ar[i]
                else (
                    int(acts[i]),
                    int(pos[i]),
                    float(reward[i]),
                    bool(hit[i]),
                    float(genre[i]),
                    float(rating[i]),
                )
            )

    def action_masks(self) -> NDArray[np.bool_]:
        """Allowed actions per sub-env, ``(num_envs, n_items)`` bool (True = allowed).

        Candidate mode: ``(num_envs, K)`` all True.
        """
        n = self.num_envs
        if self._gen is not None:
            return np.ones((n, self._gen.k), dtype=bool)
        if not self._core.mask_seen:
            return np.ones((n, self._core.n_actions), dtype=bool)
        delta = self._pos - self._mask_pos
        total = int(delta.sum())
        if total > 0:
            rows = np.repeat(np.arange(n), delta)
            within = np.arange(total) - np.repeat(np.cumsum(delta) - delta, delta)
            idx = np.repeat(self._mask_pos, delta) + within
            self._allowed[rows, self._tables.target_action[idx]] = False
            self._mask_pos = self._pos.copy()
        out = self._allowed.copy()
        exhaustible = self._core.exhaustible[np.maximum(self._user, 0)]
        if exhaustible.any():
            empty = exhaustible & ~out.any(axis=1)
            out[empty] = True
        return out

    def render(self) -> tuple[str, ...] | None:
        """One text per sub-env (``render_mode="ansi"``); ``None`` otherwise."""
        if self.render_mode != "ansi":
            return None
        cat = self.catalogue
        return tuple(
            render_text(self._core, cat, int(self._user[i]), int(self._pos[i]), self._last[i])
            for i in range(self.num_envs)
        )
