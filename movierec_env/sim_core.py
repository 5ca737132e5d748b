"""What ``MovieRecSim-v0``'s single and vector env share: arguments, world, encoder, a batch.

A :class:`SimBatch` holds ``B`` simulated users: the world's state (what the user is), the
frozen encoder's incremental state (what the agent sees) and the episode bookkeeping. The
single env is a batch of one, the vector env a batch of ``num_envs``; both step with
:meth:`SimBatch.step` and draw their randomness per user from that user's own generator
(four uniforms per step, :meth:`World.step_with_draws`), so a vector env gives exactly the
transitions of single envs seeded alike.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from movierec_env.candidates import CandidateConfig, CandidateGenerator
from movierec_env.contract import HistoryEncoder, ItemFeatures
from movierec_env.data import PreparedDataset
from movierec_env.replay import item_features, resolve_dataset, resolve_encoder, reward_tables
from movierec_env.reward import RewardConfig, RewardTables
from movierec_env.sim.params import WORLD_NAMES
from movierec_env.sim.world import World, WorldState

__all__ = ["SIM_SPLITS", "SimBatch", "SimCore", "SimStep", "child_generator", "resolve_world"]

#: Episode split -> the world whose users its episodes start from: the train world's half,
#: the eval world's (held out), or one of the two validation worlds (halves of the train
#: world's users).
_SPLIT_USERS = {"train": "train", "test": "eval", "val_a": "val_a", "val_b": "val_b"}
#: Episode splits.
SIM_SPLITS = tuple(_SPLIT_USERS)
#: Declared world parameters an env argument may override (docs/sim.md, sensitivity).
WORLD_OVERRIDES = ("ignore_prob", "accept_sensitivity", "boredom_weight", "ignore_leave_weight")


def resolve_world(world: Any, data: PreparedDataset, overrides: dict[str, Any]) -> World:
    """The fitted world, with declared parameters replaced by ``overrides``.

    ``world`` is a name of ``WORLD_NAMES`` (the default world of ``data``: ``"train"``,
    ``"eval"``, ``"val_a"``, ``"val_b"``), a world directory, or a :class:`World`.

    Raises:
        ValueError: For an unknown world name, another dataset's world or a bad override.
        TypeError: For another type.
    """
    if isinstance(world, World):
        w = world
        w.check_data(data)
        w.data = data
    elif isinstance(world, str) and world in WORLD_NAMES:
        from movierec_env.sim.defaults import default_world

        w = default_world(data, world)
    elif isinstance(world, str | os.PathLike):
        if isinstance(world, str) and os.sep not in world and not os.path.exists(world):
            raise ValueError(
                f"world must be one of {WORLD_NAMES} or a world directory, got {world!r}"
            )
        w = World.load(world, data)
    else:
        raise TypeError(f"world must be one of {WORLD_NAMES}, a path or a World, got {world!r}")
    unknown = sorted(set(overrides) - set(WORLD_OVERRIDES))
    if unknown:
        raise ValueError(f"unknown world parameter(s) {unknown}; allowed: {list(WORLD_OVERRIDES)}")
    changes = {k: v for k, v in overrides.items() if v is not None}
    return w.with_params(**changes) if changes else w


def child_generator(rng: np.random.Generator) -> np.random.Generator:
    """An independent generator spawned from ``rng``'s seed sequence, without drawing from it.

    Candidate mode draws its candidates from such a child of the env's ``np_random``
    (spawned at every reset), so the world's own draws are those of full-catalogue mode:
    recommending candidate ``c`` gives exactly the transition of full-catalogue action
    ``candidates[c]`` under the same seed (common random numbers across the two modes).
    A generator without a seed sequence gets a child seeded by one draw from it.
    """
    bg = rng.bit_generator
    seq = getattr(bg, "seed_seq", None) or getattr(bg, "_seed_seq", None)
    if isinstance(seq, np.random.SeedSequence):
        return np.random.Generator(type(bg)(seq.spawn(1)[0]))
    return np.random.default_rng(int(rng.integers(2**63)))


#: Largest batch stepped by the numpy encoder step: at B = 1 it is ~7-10x faster than
#: torch's (whose fixed cost per op dominates), at B = 64 ~2.5x, at B = 1,024 10-40% slower
#: (measured on the shared 2-CPU machine, encoders/numpy_advance.py).
NUMPY_MAX_BATCH = 256


def _numpy_advance(encoder: Any) -> Any:
    """The numpy step of a bound ``HybridEncoder`` (None for any other encoder)."""
    from encoders.content import TimeRatingAwareContentModel
    from encoders.lstm import TimeRatingAwareLSTM

    lstm, content = getattr(encoder, "lstm", None), getattr(encoder, "content", None)
    scale = getattr(encoder, "_rating_scale", None)
    if (
        not isinstance(lstm, TimeRatingAwareLSTM)
        or not isinstance(content, TimeRatingAwareContentModel)
        or scale is None
    ):
        return None
    from encoders.numpy_advance import NumpyAdvance

    return NumpyAdvance(lstm, content, int(encoder.window), scale)


class SimStep(NamedTuple):
    """One batched step: rewards, terms and what the simulated users did (``(B,)`` each)."""

    reward: NDArray[np.float32]
    accepted: NDArray[np.bool_]
    genre: NDArray[np.float32]
    rating_term: NDArray[np.float32]
    rating: NDArray[np.float64]
    watched: NDArray[np.int64]
    leave_prob: NDArray[np.float64]
    left: NDArray[np.bool_]
    truncated: NDArray[np.bool_]


class SimCore:
    """Arguments and read-only parts shared by the single and vector simulator env.

    Args:
        dataset: ``None`` (embedded ml-latest-small), a name/folder, or a dataset.
        encoders: ``None`` (default encoder), a checkpoint directory or an encoder that
            embeds raw histories (:class:`~movierec_env.contract.HistoryEncoder`).
        world: A name of :data:`~movierec_env.sim.params.WORLD_NAMES` (``"train"`` /
            ``"eval"``, or the validation worlds ``"val_a"`` / ``"val_b"``), a world
            directory or a World.
        split: ``"train"`` (users of the train world's half), ``"test"`` (the held-out
            half, the eval world's users), or ``"val_a"`` / ``"val_b"`` (the users of that
            validation world: halves of the train world's).
        max_episode_steps: Truncate after this many steps (>= 1).
        slate_size: 1 (one movie per step) or k > 1 (a slate of k distinct movies).
        reward: Reward options (:class:`RewardConfig` fields; ``rating_mode`` and
            ``rating_window`` do not apply: the rating term is the watched movie's
            simulated rating).
        mask_seen: Whether ``action_masks()`` hides movies the simulated user has watched.
        step_seconds: Simulated time between two watched movies (the encoder's time
            features read gaps).
        world_params: Overrides of the world's declared parameters (:data:`WORLD_OVERRIDES`).
        candidates: ``None`` (full-catalogue actions), ``K`` or a dict of
            :class:`~movierec_env.candidates.CandidateConfig` fields: candidate mode, the
            generator of ``MovieRec-v0`` run on the *simulated* history (:meth:`propose`).

    Raises:
        ValueError: On invalid arguments (naming the argument).
        TypeError: If the encoder cannot embed raw histories.
    """

    def __init__(
        self,
        dataset: Any = None,
        encoders: Any = None,
        world: Any = "train",
        split: str = "train",
        max_episode_steps: int = 50,
        slate_size: int = 1,
        reward: Any = None,
        mask_seen: bool = True,
        step_seconds: int = 3_600,
        world_params: dict[str, Any] | None = None,
        candidates: Any = None,
    ) -> None:
        if split not in SIM_SPLITS:
            raise ValueError(f"split must be one of {SIM_SPLITS}, got {split!r}")
        for name, value, lo in (
            ("max_episode_steps", max_episode_steps, 1),
            ("slate_size", slate_size, 1),
            ("step_seconds", step_seconds, 0),
        ):
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < lo:
                raise ValueError(f"{name} must be an int >= {lo}, got {value!r}")
        self.reward_config = RewardConfig.from_value(reward)
        self.split = split
        self.max_episode_steps = int(max_episode_steps)
        self.slate_size = int(slate_size)
        self.mask_seen = bool(mask_seen)
        self.step_seconds = int(step_seconds)
        self.data = resolve_dataset(dataset)
        enc = resolve_encoder(encoders, self.data)
        if not isinstance(enc, HistoryEncoder) or not hasattr(enc, "advance"):
            raise TypeError(
                f"MovieRecSim-v0 needs an encoder that embeds raw histories incrementally "
                f"(encoders.HybridEncoder: embed, start_states, advance); got {type(enc).__name__}"
            )
        self.encoder: Any = enc
        #: The encoder's step in numpy (:class:`encoders.numpy_advance.NumpyAdvance`), used
        #: for batches of up to :data:`NUMPY_MAX_BATCH` users; None for another encoder.
        self.numpy_advance: Any = _numpy_advance(enc)
        self.world = resolve_world(world, self.data, dict(world_params or {}))
        if self.world.n_items != self.data.n_items:
            raise ValueError(f"world has {self.world.n_items} items, dataset {self.data.n_items}")
        from movierec_env.sim.features import world_users

        half = _SPLIT_USERS[split]
        seed = int(self.world.meta.get("seed", 0))
        users = world_users(self.data, half, seed)
        users = users[self.data.train_end[users] > self.data.offsets[users]]
        if users.size == 0:
            raise ValueError(f"no user of dataset {self.data.name!r} in split {split!r}")
        self.users: NDArray[np.int64] = np.asarray(users, dtype=np.int64)
        self._user_set = frozenset(self.users.tolist())
        self._start_rows: NDArray[np.int64] | None = None
        self._start_states: Any = None
        self._start_world: WorldState | None = None
        self._world_rows: NDArray[np.int64] | None = None
        self.tables: RewardTables = reward_tables(self.data, self.reward_config)
        self.features: ItemFeatures = item_features(self.data)
        scale = 0.5 if self.reward_config.genre_mode == "seed" else 1.0
        self._genre_rows = (self.features.genres * np.sqrt(scale)).astype(np.float32)
        self.n_actions = self.data.n_items
        self.obs_dim = int(self.encoder.obs_dim)
        self.weights = self.reward_config.weights
        cfg = self.reward_config
        self._w = (np.float32(cfg.w_hit), np.float32(cfg.w_genre), np.float32(cfg.w_rating))
        self.candidate_config = CandidateConfig.from_value(candidates)
        self.generator: CandidateGenerator | None = None
        if self.candidate_config is not None:
            if self.slate_size > 1:
                raise ValueError(
                    f"candidates={self.candidate_config.k} and slate_size={self.slate_size} "
                    "cannot be combined: candidate mode recommends one of the K candidates"
                )
            self.generator = CandidateGenerator(self.data, self.encoder, self.candidate_config)
            self._check_candidates()
        #: Size of the action space: ``K`` in candidate mode, else the catalogue.
        self.n_choices = self.n_actions if self.generator is None else self.generator.k

    def _check_candidates(self) -> None:
        """Raise unless every episode of the split leaves K unseen movies to propose.

        Bound: the distinct movies of the logged prefix plus one per step (a movie is
        watched once).
        """
        d, k = self.data, self.generator.k  # type: ignore[union-attr]
        users = self.users
        longest = int((d.train_end[users] - d.offsets[users]).max()) + self.max_episode_steps
        if d.n_items - longest >= k:
            return
        free = np.array(
            [
                d.n_items
                - np.unique(d.items[d.offsets[u] : d.train_end[u]]).size
                - self.max_episode_steps
                for u in users.tolist()
            ]
        )
        worst = int(np.argmin(free))
        if free[worst] < k:
            raise ValueError(
                f"candidates k={k} needs {k} unseen movies at every step, but user "
                f"{int(d.user_ids[users[worst]])} of split {self.split!r} may have only "
                f"{int(free[worst])} left after max_episode_steps={self.max_episode_steps}; "
                f"use k <= {max(int(free[worst]), 0)}"
            )

    def propose(
        self,
        rng: np.random.Generator,
        history: list[int],
        seen: NDArray[np.bool_],
        user_obs: NDArray[np.float32],
        user: int,
    ) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
        """Candidate mode: K unseen movies for a simulated history, and their features.

        Args:
            rng: The user's candidate generator (:func:`child_generator`).
            history: Watched items (1-based, the logged prefix then this episode's).
            seen: The world's ``seen`` row ``(n_items + 1,)`` (column 0 is padding).
            user_obs: The embedding of that history.
            user: User index (for error messages).

        Returns:
            ``(actions (K,), features (K, F))`` as :meth:`CandidateGenerator.propose`.
        """
        gen = self.generator
        assert gen is not None
        hist = np.asarray(history, dtype=np.int64) - 1
        where = f"user {int(self.data.user_ids[user])}"
        return gen.propose_for(rng, hist, ~seen[1:], user_obs, where=where)

    def user_index(self, user_id: Any) -> int:
        """User index of a raw userId of this split.

        Raises:
            ValueError: If the user is unknown or not in this split.
        """
        if isinstance(user_id, bool) or not isinstance(user_id, int | np.integer):
            raise ValueError(f"options['user_id'] must be an int userId, got {user_id!r}")
        try:
            user = self.data.user_to_index(int(user_id))
        except KeyError as err:
            raise ValueError(str(err.args[0])) from None
        if user not in self._user_set:
            raise ValueError(
                f"user {int(user_id)} is not in split {self.split!r} of MovieRecSim-v0"
            )
        return user

    def start_world_states(self, users: NDArray[np.int64]) -> WorldState:
        """The world's state after each user's logged training prefix (copies).

        Memoised for every user of the split when that takes under ~256 MB (the ``seen``
        matrix is users x items), else folded in at each reset.
        """
        d = self.data
        if self._start_world is None and self.users.size * (d.n_items + 1) <= 256 * 2**20:
            self._start_world = self.world.initial_state(self.users, d.train_end[self.users], d)
            self._world_rows = np.full(d.n_users, -1, dtype=np.int64)
            self._world_rows[self.users] = np.arange(self.users.size)
        u = np.asarray(users, dtype=np.int64)
        if self._start_world is None:
            return self.world.initial_state(u, d.train_end[u], d)
        assert self._world_rows is not None
        return self._start_world.take(self._world_rows[u])

    def start_encoder_states(self, users: NDArray[np.int64]) -> Any:
        """The encoder's incremental state after each user's logged training prefix.

        Computed once for every user of the split (batched, ``HybridEncoder.start_states``
        replays at most ``2W`` interactions per user) and memoised, so a reset costs a copy.
        """
        if self._start_rows is None:
            d, users_all = self.data, self.users
            hist = [slice(int(d.offsets[u]), int(d.train_end[u])) for u in users_all.tolist()]
            self._start_states = self.encoder.start_states(
                [d.items[h] for h in hist],
                [d.ratings[h] for h in hist],
                [d.timestamps[h] for h in hist],
            )
            self._start_rows = np.full(d.n_users, -1, dtype=np.int64)
            self._start_rows[users_all] = np.arange(users_all.size)
        return self._start_states.take(self._start_rows[np.asarray(users, dtype=np.int64)])

    def draw_user(self, rng: np.random.Generator) -> int:
        """A user of the split, uniformly (one draw from ``rng``)."""
        return int(self.users[int(rng.integers(self.users.size))])

    def rewards(
        self,
        rec: NDArray[np.int64],
        accepted: NDArray[np.bool_],
        slot_item: NDArray[np.int64],
        watched: NDArray[np.int64],
        rating: NDArray[np.float64],
    ) -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.float32]]:
        """``(reward, genre, rating term)`` of a batch (float32, as ``MovieRec-v0``'s).

        The judged recommendation is the slot the user took, or the first slot when they
        ignored the slate; its genre cosine is with the movie actually watched.
        """
        del rec
        g = self._genre_rows
        genre = np.maximum((g[slot_item] * g[watched]).sum(axis=1), 0.0).astype(np.float32)
        # rating_term inline (np.clip's dispatch costs more than the arithmetic at B = 1).
        rt = np.minimum(np.maximum((rating.astype(np.float32) - 3.0) / 2.0, 0.0), 1.0)
        w_hit, w_genre, w_rating = self._w
        reward = w_hit * accepted.astype(np.float32) + w_genre * genre + w_rating * rt
        return reward.astype(np.float32), genre, rt


@dataclass
class _Episode:
    """Per-user bookkeeping of a batch (``(B,)`` arrays)."""

    user: NDArray[np.int64]
    steps: NDArray[np.int64]
    clock: NDArray[np.int64]
    active: NDArray[np.bool_]


class SimBatch:
    """``B`` simulated users stepped together (see the module docstring).

    Args:
        core: The shared :class:`SimCore`.
        n: Batch size.
    """

    def __init__(self, core: SimCore, n: int) -> None:
        self.core = core
        self.n = int(n)
        self.world_state: WorldState | None = None
        self.enc_state: Any = None
        self.obs = np.zeros((self.n, core.obs_dim), dtype=np.float32)
        self.ep = _Episode(
            user=np.full(self.n, -1, dtype=np.int64),
            steps=np.zeros(self.n, dtype=np.int64),
            clock=np.zeros(self.n, dtype=np.int64),
            active=np.zeros(self.n, dtype=bool),
        )

    def reset_rows(self, rows: NDArray[np.int64], users: NDArray[np.int64]) -> None:
        """Start episodes for ``rows`` from the logged training prefixes of ``users``."""
        core, d = self.core, self.core.data
        rows = np.asarray(rows, dtype=np.int64)
        users = np.asarray(users, dtype=np.int64)
        ws = core.start_world_states(users)
        es = core.start_encoder_states(users)
        everything = rows.size == self.n and np.array_equal(rows, np.arange(self.n))
        if self.world_state is None or everything:
            self.world_state, self.enc_state = ws, es
        else:
            for f in fields(WorldState):
                getattr(self.world_state, f.name)[rows] = getattr(ws, f.name)
            self.enc_state = self.enc_state.put(rows, es)
        self.obs[rows] = es.obs.numpy()
        self.ep.user[rows] = users
        self.ep.steps[rows] = 0
        self.ep.clock[rows] = d.timestamps[d.train_end[users] - 1]
        self.ep.active[rows] = True

    def masks(self) -> NDArray[np.bool_]:
        """Allowed actions ``(B, n_items)``: unwatched movies (everything when none is left)."""
        if not self.core.mask_seen or self.world_state is None:
            return np.ones((self.n, self.core.n_actions), dtype=bool)
        allowed = ~self.world_state.seen[:, 1:]
        empty = ~allowed.any(axis=1)
        if empty.any():
            allowed[empty] = True
        return allowed

    def _world_step(
        self,
        rec: NDArray[np.int64],
        draws: NDArray[np.float64],
        active: NDArray[np.bool_],
        keep_idle: bool = True,
    ) -> Any:
        """The world's step for the active rows only (the others keep their state).

        Every row is stepped (each row's arithmetic is its own, so the active rows get what
        a sub-batch would: tested), then the few idle rows get their state back (unless
        ``keep_idle`` is False: their caller resets them next) and their outputs zeroed
        (watched item 1): cheaper than gathering and scattering the whole state of the
        active ones.
        """
        ws = self.world_state
        assert ws is not None
        world = self.core.world
        if active.all():
            return world.step_with_draws(ws, rec, draws)
        idle = np.flatnonzero(~active)
        kept = ws.take(idle) if keep_idle else None
        res = world.step_with_draws(ws, rec, draws)
        if kept is not None:
            for f in fields(WorldState):
                getattr(ws, f.name)[idle] = getattr(kept, f.name)
        for name, value in zip(res._fields, res, strict=True):
            value[idle] = 1 if name == "watched_items" else 0
        return res

    def step(
        self, actions: NDArray[np.int64], draws: NDArray[np.float64], keep_idle: bool = True
    ) -> SimStep:
        """Recommend ``actions`` (``(B,)`` or ``(B, k)`` action indices) to every active user.

        Rows that are not active (episode over, waiting for a reset) get zero rewards and
        keep their state. With ``keep_idle=False`` the caller promises to :meth:`reset_rows`
        every idle row before the next step (the vector env's autoreset): their state is
        then left as whatever the step made of it, which saves restoring the world's and
        the encoder's state of those rows (outputs and the active rows are the same).
        """
        core = self.core
        assert self.world_state is not None
        act = np.asarray(actions, dtype=np.int64).reshape(self.n, -1)
        rec = act + 1
        active = self.ep.active.copy()
        everyone = bool(active.all())  # the common case: no masking below
        res = self._world_step(rec, draws, active, keep_idle)
        taken = res.accepted if everyone else res.accepted & active
        if rec.shape[1] == 1:
            slot_item = rec[:, 0]
        else:
            slot = np.argmax(rec == res.watched_items[:, None], axis=1)
            slot_item = np.where(taken, rec[np.arange(self.n), slot], rec[:, 0])
        reward, genre, rt = core.rewards(rec, taken, slot_item, res.watched_items, res.ratings)
        if everyone:
            self.ep.clock = self.ep.clock + core.step_seconds
            items = res.watched_items
        else:
            self.ep.clock = np.where(active, self.ep.clock + core.step_seconds, self.ep.clock)
            items = np.where(active, res.watched_items, 1)
        ratings32 = res.ratings.astype(np.float32)
        # Idle rows whose state is about to be replaced need no masking in the encoder step.
        enc_active = None if everyone or not keep_idle else active
        if core.numpy_advance is not None and self.n <= NUMPY_MAX_BATCH:
            # Same arithmetic as encoder.advance (tested to float32 rounding), on inputs the
            # world produced (valid by construction, so unchecked).
            self.enc_state = core.numpy_advance.advance(
                self.enc_state, items, ratings32, self.ep.clock, enc_active
            )
            self.obs = self.enc_state.obs.numpy().copy()
        else:
            obs, self.enc_state = core.encoder.advance(
                self.enc_state, items, ratings32, self.ep.clock, active=enc_active
            )
            self.obs = np.asarray(obs, dtype=np.float32)
        self.ep.steps = self.ep.steps + active
        left = res.left if everyone else res.left & active
        truncated = active & ~left & (self.ep.steps >= core.max_episode_steps)
        self.ep.active = active & ~left & ~truncated
        if not everyone:
            zero = ~active
            reward[zero] = 0.0
            genre[zero] = 0.0
            rt[zero] = 0.0
        return SimStep(
            reward,
            taken,
            genre,
            rt,
            res.ratings,
            res.watched_items,
            res.leave_prob,
            left,
            truncated,
        )
