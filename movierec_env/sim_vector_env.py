"""Native batched ``MovieRecSim-v0``: N simulated users stepped together.

``gym.make_vec("MovieRecSim-v0", num_envs=N)`` builds :class:`MovieRecSimVectorEnv`. Sub-env
``i`` owns a generator seeded like ``SyncVectorEnv`` seeds its ``i``-th env (``seed + i``)
and draws its user and its four per-step uniforms from it exactly as the single env does,
so the same seeds give the transitions of N single envs. Autoreset follows Gymnasium's
default ``NEXT_STEP`` mode, as ``MovieRec-v0``'s vector env.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.utils import seeding
from gymnasium.vector.utils import batch_space
from numpy.typing import NDArray

from movierec_env.candidates import CandidateConfig
from movierec_env.gym_compat import AutoresetMode, NativeVectorEnv
from movierec_env.reward import RewardConfig
from movierec_env.sim_core import SimBatch, SimCore, child_generator
from movierec_env.sim_env import SimEnvProperties, check_slate

__all__ = ["MovieRecSimVectorEnv"]

_STEP_KEYS = (
    "reward_hit",
    "reward_genre",
    "reward_rating",
    "accepted",
    "watched",
    "watched_movie_id",
    "rating",
    "leave_prob",
)


class MovieRecSimVectorEnv(SimEnvProperties, NativeVectorEnv):
    """N independent ``MovieRecSim-v0`` episodes in one batch (numpy + one torch call).

    Same arguments and semantics as :class:`~movierec_env.sim_env.MovieRecSimEnv`, plus
    ``num_envs``. ``info`` follows the vector convention (``(num_envs,)`` arrays with
    ``"_key"`` masks); ``action_masks()`` is ``(num_envs, n_items)``.

    Candidate mode (``candidates=K``): sub-env ``i`` draws its candidates from a child of
    its own generator (spawned at each of its resets, as the single env), so the vector env
    still equals ``SyncVectorEnv`` of single envs; ``info["candidates"]`` is
    ``(num_envs, K)``, ``action_masks()`` ``(num_envs, K)`` all True.
    """

    metadata = {  # noqa: RUF012 (Gymnasium API)
        "render_modes": [],
        "autoreset_mode": AutoresetMode.NEXT_STEP,
    }

    def __init__(
        self,
        num_envs: int = 1,
        dataset: Any = None,
        encoders: Any = None,
        world: Any = "train",
        split: str = "train",
        max_episode_steps: int = 50,
        slate_size: int = 1,
        reward: dict[str, Any] | RewardConfig | None = None,
        mask_seen: bool = True,
        step_seconds: int = 3_600,
        ignore_prob: float | None = None,
        accept_sensitivity: float | None = None,
        boredom_weight: float | None = None,
        ignore_leave_weight: float | None = None,
        candidates: int | dict[str, Any] | CandidateConfig | None = None,
        render_mode: str | None = None,
    ) -> None:
        if isinstance(num_envs, bool) or not isinstance(num_envs, int | np.integer) or num_envs < 1:
            raise ValueError(f"num_envs must be an int >= 1, got {num_envs!r}")
        self.render_mode = self._checked_render_mode(render_mode)
        self._core = core = SimCore(
            dataset,
            encoders,
            world,
            split,
            max_episode_steps,
            slate_size,
            reward,
            mask_seen,
            step_seconds,
            {
                "ignore_prob": ignore_prob,
                "accept_sensitivity": accept_sensitivity,
                "boredom_weight": boredom_weight,
                "ignore_leave_weight": ignore_leave_weight,
            },
            candidates,
        )
        n = self.num_envs = int(num_envs)
        gen = core.generator
        self.single_observation_space: spaces.Space[Any] = (
            spaces.Box(-1.0, 1.0, (core.obs_dim,), np.float32)
            if gen is None
            else gen.observation_space()
        )
        self.single_action_space: spaces.Space[Any] = (
            spaces.Discrete(core.n_choices)
            if core.slate_size == 1
            else spaces.MultiDiscrete(np.full(core.slate_size, core.n_actions))
        )
        self.observation_space = batch_space(self.single_observation_space, n)
        self.action_space = (
            spaces.MultiDiscrete(np.full(n, core.n_choices))
            if core.slate_size == 1
            else spaces.MultiDiscrete(np.full((n, core.slate_size), core.n_actions))
        )
        self._batch = SimBatch(core, n)
        self._rngs: list[np.random.Generator | None] = [None] * n
        self._cand_rngs = [None] * n
        self._autoreset = np.zeros(n, dtype=bool)
        self._histories = [[] for _ in range(n)]
        self._started = False
        self._true = np.ones(n, dtype=bool)

    def _rng(self, i: int) -> np.random.Generator:
        rng = self._rngs[i]
        if rng is None:
            rng, _ = seeding.np_random(None)
            self._rngs[i] = rng
        return rng

    def _reset_rows(self, rows: NDArray[np.int64], users: list[int | None] | None = None) -> None:
        chosen = [
            self._core.draw_user(self._rng(int(i)))
            if users is None or users[k] is None
            else int(users[k])  # type: ignore[arg-type]
            for k, i in enumerate(rows)
        ]
        self._batch.reset_rows(rows, np.asarray(chosen, dtype=np.int64))
        d = self._core.data
        for i, u in zip(rows, chosen, strict=True):
            self._histories[int(i)] = d.items[d.offsets[u] : d.train_end[u]].tolist()
        if self._core.generator is not None:
            for i in rows:
                self._cand_rngs[int(i)] = child_generator(self._rng(int(i)))

    def reset(
        self,
        *,
        seed: int | list[int | None] | None = None,
        options: dict[str, Any] | None = None,
    ) -> tuple[NDArray[np.float32], dict[str, Any]]:
        """Reset every sub-env (``seed``: an int gives sub-env ``i`` seed ``seed + i``).

        ``options={"user_id": [...]}`` (one userId or ``None`` per sub-env) picks users.
        """
        n = self.num_envs
        if seed is None:
            seeds: list[int | None] = [None] * n
        elif isinstance(seed, int | np.integer):
            seeds = [int(seed) + i for i in range(n)]
        else:
            seeds = list(seed)
            if len(seeds) != n:
                raise ValueError(f"seed has {len(seeds)} entries for {n} sub-envs")
        for i, s in enumerate(seeds):
            if s is not None or self._rngs[i] is None:
                self._rngs[i], _ = seeding.np_random(s)
        users: list[int | None] | None = None
        if options:
            unknown = sorted(set(options) - {"user_id"})
            if unknown:
                raise ValueError(f"unknown reset option(s) {unknown}; allowed: ['user_id']")
            ids = options.get("user_id")
            if ids is not None:
                ids = list(np.atleast_1d(np.asarray(ids, dtype=object)))
                if len(ids) != n:
                    raise ValueError(f"options['user_id'] has {len(ids)} entries for {n} sub-envs")
                users = [None if v is None else self._core.user_index(int(v)) for v in ids]
        self._reset_rows(np.arange(n), users)
        self._autoreset[:] = False
        self._started = True
        d = self._core.data
        uid = d.user_ids[self._batch.ep.user].astype(np.int64)
        info: dict[str, Any] = {"user_id": uid, "_user_id": self._true.copy()}
        if self._core.generator is None:
            return self._batch.obs.copy(), info
        obs = self._propose_rows(range(n))
        info["candidates"] = self._current()
        info["_candidates"] = self._true.copy()
        return obs, info

    def _current(self) -> NDArray[np.int64]:
        assert self._cands is not None
        return self._cands.copy()

    def step(
        self, actions: Any
    ) -> tuple[
        NDArray[np.float32],
        NDArray[np.float64],
        NDArray[np.bool_],
        NDArray[np.bool_],
        dict[str, Any],
    ]:
        """Step every sub-env; finished ones reset on the following step (``NEXT_STEP``)."""
        if not self._started:
            raise RuntimeError("no episode is running: call reset() first")
        core, n = self._core, self.num_envs
        acts = np.asarray(actions)
        if acts.dtype.kind not in "iu":
            raise TypeError(f"actions must be integers, got dtype {acts.dtype}")
        acts = acts.astype(np.int64).reshape(n, core.slate_size)
        reset_rows = np.flatnonzero(self._autoreset)
        live = ~self._autoreset
        check_slate(acts[live], core.n_choices, core.slate_size)
        acts = np.where(live[:, None], acts, 0)
        if core.generator is not None:  # candidate mode: the chosen candidates' movies
            assert self._cands is not None
            acts = np.take_along_axis(self._cands, acts, axis=1)
        draws = np.zeros((n, 4))
        rows = np.flatnonzero(live).tolist()
        if rows:
            draws[rows] = [self._rng(i).random(4) for i in rows]
        self._batch.ep.active &= live
        # The idle rows are exactly reset_rows, reset just below: no need to keep them.
        out = self._batch.step(acts, draws, keep_idle=False)
        watched = out.watched.tolist()
        for i in rows:
            self._histories[i].append(watched[i])
        if reset_rows.size:
            self._reset_rows(reset_rows)
        self._autoreset = live & (out.left | out.truncated)
        info = self._info(out, live)
        if core.generator is None:
            obs = self._batch.obs.copy()
        else:
            item = acts[:, 0]
            info["item_action"] = np.where(live, item, -1)
            info["movie_id"] = np.where(live, core.data.item_movie_ids[item + 1], -1).astype(
                np.int64
            )
            info["_item_action"] = live.copy()
            info["_movie_id"] = live.copy()
            obs = self._propose_rows(range(n))
            info["candidates"] = self._current()
            info["_candidates"] = self._true.copy()
        return (
            obs,
            out.reward.astype(np.float64),
            out.left & live,
            out.truncated & live,
            info,
        )

    def _info(self, out: Any, live: NDArray[np.bool_]) -> dict[str, Any]:
        core = self._core
        d = core.data
        info: dict[str, Any] = {
            "user_id": d.user_ids[self._batch.ep.user].astype(np.int64),
            "_user_id": self._true.copy(),
            "reward_hit": out.accepted.astype(np.float64),
            "reward_genre": out.genre.astype(np.float64),
            "reward_rating": out.rating_term.astype(np.float64),
            "accepted": out.accepted.copy(),
            "watched": out.watched - 1,
            "watched_movie_id": d.item_movie_ids[out.watched].astype(np.int64),
            "rating": out.rating.astype(np.float64),
            "leave_prob": out.leave_prob.astype(np.float64),
            "weights": {k: np.full(self.num_envs, v) for k, v in core.weights.items()},
            "_weights": live.copy(),
        }
        for key in _STEP_KEYS:
            info["_" + key] = live.copy()
        return info

    def action_masks(self) -> NDArray[np.bool_]:
        """Allowed actions per sub-env, ``(num_envs, n_items)`` (True = allowed).

        Candidate mode: ``(num_envs, K)`` all True.
        """
        if self._core.generator is not None:
            return np.ones((self.num_envs, self._core.generator.k), dtype=bool)
        return self._batch.masks()
