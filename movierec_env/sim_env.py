"""``MovieRecSim-v0``: interactive recommendation on a simulated user learned from MovieLens."""

from __future__ import annotations

from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from numpy.typing import NDArray

from movierec_env.candidates import CandidateConfig
from movierec_env.catalogue import Catalogue
from movierec_env.metrics import history_mask
from movierec_env.properties import CoreEnvProperties
from movierec_env.reward import RewardConfig
from movierec_env.sim_core import SimBatch, SimCore, SimStep, child_generator

__all__ = ["SIM_ENV_ID", "MovieRecSimEnv", "SimEnvProperties", "check_slate", "step_info"]

SIM_ENV_ID = "MovieRecSim-v0"


def check_slate(actions: NDArray[np.int64], n_actions: int, slate_size: int) -> None:
    """Refuse out-of-range actions and slates with duplicates.

    Raises:
        ValueError: Naming the bad action or the duplicated movie.
    """
    if actions.size and (int(actions.min()) < 0 or int(actions.max()) >= n_actions):
        bad = int(actions[(actions < 0) | (actions >= n_actions)][0])
        raise ValueError(
            f"action {bad} is out of range: {SIM_ENV_ID} has actions 0..{n_actions - 1}"
        )
    if slate_size > 1:
        rows = np.sort(actions.reshape(-1, slate_size), axis=1)
        dup = (rows[:, 1:] == rows[:, :-1]).any(axis=1)
        if dup.any():
            row = rows[int(np.argmax(dup))]
            movie = int(row[1:][row[1:] == row[:-1]][0])
            raise ValueError(f"slate recommends action {movie} twice: slates hold distinct movies")


def step_info(core: SimCore, out: SimStep, i: int, user_id: int) -> dict[str, Any]:
    """The ``info`` of one user's step (see the env docstring for the keys)."""
    watched = int(out.watched[i])
    return {
        "user_id": user_id,
        "reward_hit": float(out.accepted[i]),
        "reward_genre": float(out.genre[i]),
        "reward_rating": float(out.rating_term[i]),
        "weights": dict(core.weights),
        "accepted": bool(out.accepted[i]),
        "watched": watched - 1,
        "watched_movie_id": int(core.data.item_movie_ids[watched]),
        "rating": float(out.rating[i]),
        "leave_prob": float(out.leave_prob[i]),
    }


class SimEnvProperties(CoreEnvProperties):
    """The env contract (:class:`movierec_env.RecEnv`) of the simulator envs."""

    _core: SimCore
    _batch: SimBatch
    _catalogue: Catalogue | None = None
    metadata: dict[str, Any]

    @property
    def sim_core(self) -> SimCore:
        """The settings and read-only parts shared with the vector env (world included)."""
        return self._core

    @property
    def max_episode_steps(self) -> int:
        """Episodes are truncated after this many steps."""
        return self._core.max_episode_steps

    @property
    def world(self) -> Any:
        """The fitted world: an **oracle** interface (agents must not read it)."""
        return self._core.world

    def current_candidates(self) -> NDArray[np.int64]:
        """``(num_envs, K)`` item actions proposed now to each simulated user.

        What ``info["candidates"]`` holds (for agents called without ``info``).

        Raises:
            ValueError: With full-catalogue actions, or before the first reset.
        """
        self._generator()
        if self._cands is None:
            raise ValueError("no candidates yet: call reset() first")
        return np.atleast_2d(self._cands).copy()

    def candidates_at(
        self, positions: NDArray[np.integer], rng: np.random.Generator
    ) -> NDArray[np.int64]:
        """Item actions ``(B, K)`` the generator proposes at *logged* positions.

        As ``MovieRec-v0``'s (rows drawn in order from ``rng``), on the logged history.

        Raises:
            ValueError: With full-catalogue actions.
        """
        pos = np.atleast_1d(np.asarray(positions, dtype=np.int64))
        return self._generator().draw_at(rng, pos, self.observations_at(pos))

    def candidate_observations_at(
        self, positions: NDArray[np.integer], candidates: NDArray[np.integer]
    ) -> Any:
        """Candidate-mode observations of *logged* positions with the given candidates.

        Raises:
            ValueError: With full-catalogue actions or on mismatched shapes.
        """
        pos = np.atleast_1d(np.asarray(positions, dtype=np.int64))
        return self._generator().observations_at(pos, self.observations_at(pos), candidates)

    def _propose_rows(self, rows: NDArray[np.int64] | range) -> Any:
        """Candidate mode: draw the candidates of ``rows``; the whole batch's observation."""
        core, batch, gen = self._core, self._batch, self._generator()
        if self._cands is None:
            self._cands = np.zeros((batch.n, gen.k), dtype=np.int64)
            self._feats = np.zeros((batch.n, gen.k, gen.n_features), dtype=np.float32)
        seen = batch.world_state.seen  # type: ignore[union-attr]
        for i in rows:
            i = int(i)
            self._cands[i], self._feats[i] = core.propose(
                self._cand_rngs[i],
                self._histories[i],
                seen[i],
                batch.obs[i],
                int(batch.ep.user[i]),
            )
        return gen.observation(batch.obs, self._feats)

    _cands: NDArray[np.int64] | None = None
    _feats: NDArray[np.float32]
    _cand_rngs: list[Any]

    def oracle_state(self) -> Any:
        """The simulated users' current ``WorldState`` (``(num_envs, ...)``): **oracle** only.

        For the oracle baselines and planners, which read the true model; agents never do.
        """
        return self._batch.world_state

    def action_masks_at(self, positions: NDArray[np.integer]) -> NDArray[np.bool_]:
        """Masks at *logged* positions (the history before them), as at an episode start.

        Candidate mode: ``(B, K)`` all True (the generator never proposes a seen movie).
        """
        pos = np.atleast_1d(np.asarray(positions, dtype=np.int64))
        if self._core.generator is not None:
            return np.ones((pos.size, self._core.generator.k), dtype=bool)
        if not self._core.mask_seen:
            return np.ones((pos.size, self._core.n_actions), dtype=bool)
        return ~history_mask(self._core.data, pos)[:, 1:]

    def current_positions(self) -> NDArray[np.int64]:
        """``-1`` for every user: simulated histories are not logged positions."""
        return np.full(self._batch.n, -1, dtype=np.int64)

    def observations_at(self, positions: NDArray[np.integer]) -> NDArray[np.float32]:
        """Observations of *logged* positions (the encoder's embedding of their history)."""
        d = self._core.data
        pos = np.atleast_1d(np.asarray(positions, dtype=np.int64))
        users = np.searchsorted(d.offsets, pos, side="right") - 1
        hist = [slice(int(d.offsets[u]), int(g)) for u, g in zip(users, pos, strict=True)]
        out = self._core.encoder.embed(
            [d.items[h] for h in hist],
            [d.ratings[h] for h in hist],
            [d.timestamps[h] for h in hist],
        )
        return np.asarray(out, dtype=np.float32).reshape(pos.size, -1)

    def watched_masks(self) -> NDArray[np.bool_]:
        """``(num_envs, n_items)`` True for the movies each simulated user has not watched.

        ``action_masks()`` with full-catalogue actions, and what a deployed recommender
        knows in candidate mode too (everything when nothing is left).
        """
        return self._batch.masks()

    def recent_items(self, window: int) -> NDArray[np.int64]:
        """The last ``window`` watched items per user, ``(num_envs, window)``, newest last.

        Left-padded with 0 (the padding item) for shorter histories: the logged prefix
        followed by the movies watched in this episode. What a deployed recommender knows
        of its user (context baselines such as Markov and genre read it, through
        ``info["recent_items"]`` in the episodic evaluation).
        """
        w = int(window)
        if w < 1:
            raise ValueError(f"window must be >= 1, got {window!r}")
        out = np.zeros((len(self._histories), w), dtype=np.int64)
        for i, h in enumerate(self._histories):
            tail = h[-w:]
            if tail:
                out[i, w - len(tail) :] = tail
        return out

    _histories: list[list[int]]


class MovieRecSimEnv(SimEnvProperties, gym.Env[NDArray[np.float32], Any]):
    """Interactive movie recommendation on a simulated MovieLens user (``MovieRecSim-v0``).

    ## Description

    An episode starts from a real user's logged training prefix. At each step the agent
    recommends a movie (or a slate); the simulated user (a world fitted on the training
    logs and validated on held-out logs, ``movierec_env.sim``, ``docs/sim.md``) takes it or
    watches a movie of their own choice, rates what they watched, and may leave. The
    recommendation changes what the user watches next, how they rate and whether they
    stay: unlike ``MovieRec-v0`` (logged replay), the future depends on the actions.

    ## Action Space

    ``Discrete(n_items)`` (action ``a`` recommends item ``a + 1``), or with
    ``slate_size=k > 1`` ``MultiDiscrete([n_items] * k)`` of distinct movies (a duplicate is
    a ``ValueError``). ``action_masks()`` hides the movies the simulated user has watched.

    **Candidate mode** (``candidates=K`` or a dict of
    :class:`~movierec_env.candidates.CandidateConfig` fields, e.g. ``{"k": 10, "order":
    "genre_affinity"}``): ``Discrete(K)``, a choice among K movies the user has not watched,
    proposed at every step by ``MovieRec-v0``'s generator (:mod:`movierec_env.candidates`:
    the encoder's top movies, popular and random ones) run on the *simulated* history.
    The candidates are drawn from a child stream of ``np_random`` spawned at each reset, so
    the world's own draws are those of full-catalogue mode: choosing candidate ``c`` gives
    the transition of full-catalogue action ``candidates[c]`` under the same seed.
    ``info["candidates"]`` holds the K catalogue actions; ``action_masks()`` is ``(K,)``
    all True. Not combinable with ``slate_size > 1``.

    ## Observation Space

    ``Box(-1, 1, (obs_dim,), float32)``: exactly ``MovieRec-v0``'s observation, the frozen
    ``HybridEncoder``'s embedding, of the *simulated* history, advanced incrementally
    (``HybridEncoder.advance``) as the user watches. In candidate mode, that embedding
    followed by the candidates' features (``MovieRec-v0``'s layout: a bounded ``Box``, or a
    ``Dict`` with ``candidates={"k": K, "observation": "dict"}``).

    ## Rewards

    ``w_hit * [user took the recommendation] + w_genre * cos(genres(recommended),
    genres(watched)) + w_rating * clip((simulated rating - 3) / 2, 0, 1)``; defaults
    0.4 / 0.3 / 0.3 as ``MovieRec-v0`` (``reward={...}`` configures the weights and
    ``genre_mode``). For a slate the judged recommendation is the slot taken, else the
    first slot. ``info``: ``reward_hit``, ``reward_genre``, ``reward_rating``, ``weights``,
    ``accepted``, ``watched`` (action index), ``watched_movie_id``, ``rating``,
    ``leave_prob``, ``user_id``; in candidate mode also ``item_action`` and ``movie_id`` (the
    chosen candidate) and ``candidates`` (the next step's K).

    ## Starting State

    ``reset()`` draws a user of the split uniformly with ``self.np_random``
    (``options={"user_id": id}`` picks one): ``split="train"`` users are the train world's
    half, ``split="test"`` the held-out half (the eval world's users). ``split="val_a"`` /
    ``"val_b"`` are the users of the two validation worlds, disjoint halves of the train
    world's users: with ``world=`` the same name they repeat the benchmark's protocol (train
    in one world, judge in another fitted on the judged users) for choosing settings
    without the held-out users (``benchmarks/bench_sim_dqn.py --transfer``).

    ## Episode End

    Terminated when the simulated user leaves (the world's fitted session-end hazard);
    truncated after ``max_episode_steps`` steps (default 50).

    ## Arguments

    ``gym.make("MovieRecSim-v0", dataset=None, encoders=None, world="train",
    split="train", max_episode_steps=50, slate_size=1, reward=None, mask_seen=True,
    step_seconds=3600, ignore_prob=None, accept_sensitivity=None, boredom_weight=None,
    ignore_leave_weight=None, candidates=None, render_mode=None)``. ``world``: ``"train"`` /
    ``"eval"`` (the fitted worlds; shipped for the embedded dataset), ``"val_a"`` /
    ``"val_b"`` (the validation worlds: fitted once on first use, about half a minute each,
    and cached), a world directory, or a ``World``.
    The four declared (unidentifiable) parameters default to the world's
    (``WorldParams``: ``ignore_prob`` 0.5, ``accept_sensitivity`` 1, ``boredom_weight`` 0,
    ``ignore_leave_weight`` 0.2).

    ``env.unwrapped.world`` is the true model: an **oracle** interface for the oracle
    baselines and the planner; agents never read it.

    ## Version History

    * v0: Initial version; candidate mode (``candidates=K``).
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4}  # noqa: RUF012 (Gymnasium API)

    def __init__(
        self,
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
        self.render_mode = self._checked_render_mode(render_mode)
        self._core = SimCore(
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
        core = self._core
        gen = core.generator
        self.observation_space: spaces.Space[Any] = (
            spaces.Box(-1.0, 1.0, (core.obs_dim,), np.float32)
            if gen is None
            else gen.observation_space()
        )
        self.action_space: spaces.Space[Any] = (
            spaces.Discrete(core.n_choices)
            if core.slate_size == 1
            else spaces.MultiDiscrete(np.full(core.slate_size, core.n_actions))
        )
        self._batch = SimBatch(core, 1)
        self._histories = [[]]
        self._last: str | None = None
        self._cand_rngs = [None]

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[NDArray[np.float32], dict[str, Any]]:
        """Start an episode from a user's logged prefix (see "Starting State")."""
        super().reset(seed=seed)
        user = None
        if options:
            unknown = sorted(set(options) - {"user_id"})
            if unknown:
                raise ValueError(f"unknown reset option(s) {unknown}; allowed: ['user_id']")
            if options.get("user_id") is not None:
                user = self._core.user_index(options["user_id"])
        if user is None:
            user = self._core.draw_user(self.np_random)
        self._batch.reset_rows(np.array([0]), np.array([user]))
        d = self._core.data
        self._histories = [d.items[d.offsets[user] : d.train_end[user]].tolist()]
        self._last = None
        info: dict[str, Any] = {"user_id": int(d.user_ids[user])}
        if self._core.generator is None:
            return self._batch.obs[0].copy(), info
        self._cand_rngs[0] = child_generator(self.np_random)
        return self._candidate_obs(info), info

    def _candidate_obs(self, info: dict[str, Any]) -> Any:
        """Candidate mode: draw the current user's candidates; the observation showing them."""
        obs = self._propose_rows(range(1))
        assert self._cands is not None
        info["candidates"] = self._cands[0].copy()
        if isinstance(obs, dict):
            return {key: value[0] for key, value in obs.items()}
        return obs[0]

    def step(
        self, action: Any
    ) -> tuple[NDArray[np.float32], SupportsFloat, bool, bool, dict[str, Any]]:
        """Recommend a movie (or a slate); the simulated user responds.

        Raises:
            ValueError: On an out-of-range action or a slate with duplicates.
            TypeError: On a non-integer action.
            RuntimeError: If no episode is running.
        """
        core = self._core
        if (
            core.slate_size == 1
            and isinstance(action, int | np.integer)
            and not isinstance(action, bool)
            and 0 <= action < core.n_choices
        ):  # the common case, without the array checks below
            acts = np.array([[action]], dtype=np.int64)
        else:
            acts = np.asarray(action)
            if acts.dtype.kind not in "iu" or acts.size != core.slate_size:
                what = "an integer" if core.slate_size == 1 else f"{core.slate_size} integers"
                raise TypeError(f"action must be {what} in [0, {core.n_choices}), got {action!r}")
            acts = acts.astype(np.int64).reshape(1, core.slate_size)
            check_slate(acts, core.n_choices, core.slate_size)
        if not self._batch.ep.active[0]:
            raise RuntimeError("no episode is running: call reset() first")
        gen = core.generator
        if gen is not None:  # candidate mode: the chosen candidate's catalogue action
            assert self._cands is not None
            acts = self._cands[0][acts]
        draws = self.np_random.random((1, 4))
        out = self._batch.step(acts, draws)
        user = int(self._batch.ep.user[0])
        self._histories[0].append(int(out.watched[0]))
        info = step_info(core, out, 0, int(core.data.user_ids[user]))
        if self.render_mode is not None:
            self._last = self._describe(acts[0], info)
        if gen is None:
            obs = self._batch.obs[0].copy()
        else:
            item = int(acts[0, 0])
            info["item_action"] = item
            info["movie_id"] = int(core.data.item_movie_ids[item + 1])
            obs = self._candidate_obs(info)
        return obs, float(out.reward[0]), bool(out.left[0]), bool(out.truncated[0]), info

    def action_masks(self) -> NDArray[np.bool_]:
        """Allowed actions ``(n_items,)`` (True = allowed): movies not yet watched.

        Candidate mode: ``(K,)`` all True (the generator never proposes a watched movie).
        """
        if self._core.generator is not None:
            return np.ones(self._core.generator.k, dtype=bool)
        return self.watched_masks()[0]

    def _describe(self, acts: NDArray[np.int64], info: dict[str, Any]) -> str:
        cat = self.catalogue
        rec = ", ".join(str(cat[int(a)]) for a in acts)
        taken = "took it" if info["accepted"] else "chose their own"
        return (
            f"Recommended: {rec}\nWatched: {cat[info['watched']]} ({taken}), rated "
            f"{info['rating']:.1f}; leave probability {info['leave_prob']:.2f}"
        )

    def render(self) -> str | None:
        """Text view (``render_mode="ansi"``): recent history and the last step."""
        if self.render_mode != "ansi":
            return None
        if self._batch.ep.user[0] < 0:
            return f"{SIM_ENV_ID}: no episode yet (call reset())\n"
        cat = self.catalogue
        recent = self._histories[0][-5:]
        lines = [
            f"{SIM_ENV_ID} | split {self._core.split} | world {self._core.world.name} | "
            f"step {int(self._batch.ep.steps[0])}",
            "Recent history: " + "; ".join(cat[i - 1].title for i in recent),
            self._last or "Recommended: (nothing yet: call step())",
        ]
        return "\n".join(lines) + "\n"
