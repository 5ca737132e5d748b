"""ORACLES for ``MovieRecSim-v0``: policies that read the TRUE simulated user.

These are not agents a deployed recommender could be: they read the world (the fitted
simulated user, ``env.unwrapped.world``) and its hidden state (``env.unwrapped.
oracle_state()``), the env's documented **oracle** interface. They exist to measure the
simulator, not to be compared with agents as equals: every table labels them as oracles.

* :class:`GreedyOracle` (``"oracle-greedy"``): the one-step optimum, the unseen movie with
  the highest *exact* expected immediate reward under the true world
  (:func:`expected_rewards`).
* :class:`PlannerOracle` (``"oracle-planner"``): one-step lookahead with Monte Carlo
  rollouts on copies of the true state (Bertsekas' rollout algorithm): for each user the
  top ``candidates`` movies by the greedy score are each followed by ``rollouts`` simulated
  continuations of ``horizon`` steps under a cheap base policy; a candidate scores its exact
  immediate reward plus ``gamma`` times the mean rollout return, and a candidate replaces
  the greedy choice only when its advantage (paired over rollouts) minus ``confidence``
  standard errors is the largest and positive (:func:`plan_items`). With ``horizon=0`` it
  is the greedy oracle.

Both run at the world level too (:func:`greedy_items`, :func:`plan_items`), which is what
``movierec sim gate`` (``experiments/sim_gate.py``) uses: no encoder is needed to decide.

The expected reward of a lone recommendation ``a`` (``MovieRecSim-v0``'s reward, weights
``w``) is exact under the world's choice and rating models::

    E[r(a)] = w_hit p(a)
            + w_genre  [p(a) cos(a, a) + (1 - p(a)) sum_j q(j) cos(a, j)]
            + w_rating [p(a) E rt(a)   + (1 - p(a)) sum_j q(j) E rt(j)]

with ``p(a)`` the probability the recommendation is taken (:meth:`World.accept_prob_each`),
``q`` the organic choice (softmax of :meth:`World.organic_scores` over unseen movies; the
organic pick may equal ``a``) and ``E rt`` the reward's rating term averaged over the
world's rating noise (normal, rounded to the rating step, clipped: computed exactly on the
rating grid with the normal CDF, :func:`expected_rating_terms`).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray
from scipy.special import ndtr

from agents.common.fixed import FixedAgentMixin
from movierec_env.contract import ItemFeatures
from movierec_env.reward import RewardConfig, rating_term
from movierec_env.sim.world import World, WorldState

__all__ = [
    "ROLLOUT_POLICIES",
    "GreedyOracle",
    "OracleAgent",
    "PlannerConfig",
    "PlannerOracle",
    "RewardSpec",
    "expected_rating_terms",
    "expected_rewards",
    "greedy_items",
    "plan_items",
    "top_accept_items",
]

#: Base policies a planner's rollouts may follow.
ROLLOUT_POLICIES = ("top-accept", "greedy")
#: Rows per chunk of the dense ``(rows, n_items)`` computations (bounds memory).
_CHUNK = 512


@dataclass(frozen=True)
class RewardSpec:
    """``MovieRecSim-v0``'s reward as the oracles compute it.

    Attributes:
        genre_rows: Unit genre rows ``(n_items + 1, n_genres)`` scaled for ``genre_mode``
            (``genre_rows[a] @ genre_rows[b]`` is the genre term of ``a`` against ``b``).
        w_hit: Weight of "took the recommendation".
        w_genre: Weight of the genre term.
        w_rating: Weight of the rating term.
    """

    genre_rows: NDArray[np.float64]
    w_hit: float
    w_genre: float
    w_rating: float

    @classmethod
    def from_config(cls, features: ItemFeatures, config: RewardConfig) -> RewardSpec:
        """The spec of an env's item features and reward configuration (as ``SimCore``)."""
        scale = 0.5 if config.genre_mode == "seed" else 1.0
        rows = np.asarray(features.genres, dtype=np.float64) * np.sqrt(scale)
        return cls(rows, float(config.w_hit), float(config.w_genre), float(config.w_rating))

    def realized(
        self,
        rec: NDArray[np.int64],
        accepted: NDArray[np.bool_],
        watched: NDArray[np.int64],
        ratings: NDArray[np.float64],
    ) -> NDArray[np.float64]:
        """Reward of lone recommendations ``rec`` given what the users did (``(B,)``)."""
        g = self.genre_rows
        genre = np.clip((g[rec] * g[watched]).sum(axis=1), 0.0, None)
        rt = rating_term(np.asarray(ratings, dtype=np.float64))
        return self.w_hit * accepted + self.w_genre * genre + self.w_rating * rt


def expected_rating_terms(world: World, mu: NDArray[np.float64]) -> NDArray[np.float64]:
    """The reward's rating term averaged over the world's rating noise, elementwise.

    A rating is ``clip(round((mu + sigma z) / step) * step, min, max)``, ``z`` standard
    normal, so it lies on the grid ``min, min + step, ..., max`` and ``P(rating >= g) =
    Phi((mu - (g - step / 2)) / sigma)``; the term (a step function on the grid) is summed
    over its jumps: ``E rt = rt(min) + sum_g [rt(g) - rt(g - step)] P(rating >= g)``.

    Args:
        world: The world (its ``rating_sigma``, ``rating_step``, ``rating_min/max``).
        mu: Expected ratings (``World.rating`` / ``World.rating_all``), any shape.

    Raises:
        ValueError: If the scale's ends are not multiples of the rating step.
    """
    f = world.fitted
    step, lo, hi, sigma = f["rating_step"], f["rating_min"], f["rating_max"], f["rating_sigma"]
    k_lo, k_hi = round(lo / step), round(hi / step)
    if abs(k_lo * step - lo) > 1e-9 or abs(k_hi * step - hi) > 1e-9:
        raise ValueError(f"rating scale [{lo}, {hi}] is not on the rating step {step}")
    grid = np.arange(k_lo, k_hi + 1) * step
    vals = rating_term(grid)
    jumps = np.diff(vals)
    m = np.asarray(mu, dtype=np.float64)
    out = np.full(m.shape, float(vals[0]))
    for k in np.flatnonzero(jumps):
        z = m - (grid[k + 1] - step / 2.0)
        out += jumps[k] * (ndtr(z / sigma) if sigma > 0 else (z >= 0).astype(np.float64))
    return out


def _softmax_unseen(scores: NDArray[np.float32]) -> NDArray[np.float64]:
    s = scores.astype(np.float64)
    s -= s.max(axis=1, keepdims=True)
    e = np.exp(s)
    return np.asarray(e / e.sum(axis=1, keepdims=True))


def expected_rewards(
    world: World,
    state: WorldState,
    spec: RewardSpec,
    scores: NDArray[np.float32] | None = None,
) -> NDArray[np.float64]:
    """Exact expected immediate reward of recommending each item alone (module docstring).

    Args:
        world: The true world.
        state: The users' states (``B`` rows; not changed).
        spec: The reward.
        scores: :meth:`World.organic_scores` of ``state`` if already computed.

    Returns:
        ``(B, n_items + 1)`` float64; seen movies and column 0 are ``-inf``.
    """
    b = state.batch_size
    out = np.empty((b, world.n_items + 1))
    g = spec.genre_rows
    self_cos = (g * g).sum(axis=1)
    for lo in range(0, b, _CHUNK):
        rows = np.arange(lo, min(lo + _CHUNK, b))
        sub = state if rows.size == b else state.take(rows)
        s = world.organic_scores(sub) if scores is None else scores[rows]
        p = world.accept_prob_each(sub, s)
        q = _softmax_unseen(s)
        genre = p * self_cos[None, :] + (1.0 - p) * ((q @ g) @ g.T)
        ert = expected_rating_terms(world, world.rating_all(sub))
        org = (q * ert).sum(axis=1, keepdims=True)
        rating = p * ert + (1.0 - p) * org
        e = spec.w_hit * p + spec.w_genre * genre + spec.w_rating * rating
        e[sub.seen] = -np.inf
        out[rows] = e
    return out


def _argmax_allowed(values: NDArray[np.float64], allowed: NDArray[np.bool_] | None) -> Any:
    if allowed is not None:
        values = np.where(allowed, values, -np.inf)
    return np.argmax(values, axis=1).astype(np.int64)


def greedy_items(
    world: World,
    state: WorldState,
    spec: RewardSpec,
    allowed: NDArray[np.bool_] | None = None,
) -> NDArray[np.int64]:
    """The one-step optimum: per user the item with the highest :func:`expected_rewards`.

    Args:
        world: The true world.
        state: The users' states.
        spec: The reward.
        allowed: Optional ``(B, n_items + 1)`` mask of items that may be recommended.

    Returns:
        Items ``(B,)`` (``1..n_items``; ties go to the lowest item).
    """
    return _argmax_allowed(expected_rewards(world, state, spec), allowed)


def top_accept_items(
    world: World, state: WorldState, scores: NDArray[np.float32] | None = None
) -> NDArray[np.int64]:
    """Per user the unseen item most likely to be taken (a cheap rollout policy).

    The take probability rises with the choice utility ``kappa * logit - boredom *
    overlap`` (:meth:`World.accept_prob`), so its argmax needs no exponentials.
    """
    s = world.organic_scores(state) if scores is None else scores
    boredom = world.params.boredom_weight
    if boredom:
        expo = state.exposure / np.maximum(state.exposure.sum(axis=1, keepdims=True), 1e-300)
        overlap = (expo @ world.arrays["genres"].astype(np.float64).T).astype(np.float32)
        s = s - np.float32(boredom / world.params.accept_sensitivity) * overlap
    return np.argmax(s, axis=1).astype(np.int64)


@dataclass(frozen=True)
class PlannerConfig:
    """Settings of the rollout planner (:func:`plan_items`).

    Defaults keep one decision for 64 users at about 0.1-0.2 s on one core of the 2-core
    machines this project runs on (64 x 4 x 4 = 1,024 rollouts of 4 steps, one batch):
    on the eval world, more rollouts (8) gave the same gap and a longer horizon (8, with
    6 candidates) a smaller one (the rollouts' noise grows with their length;
    ``docs/sim_gate.md``).

    Attributes:
        candidates: ``M``, the top movies by the greedy score that are compared.
        rollouts: ``R``, simulated continuations per candidate (common random numbers:
            candidate ``m``'s rollout ``r`` uses the same uniforms for every ``m``).
        horizon: ``H``, steps simulated after the candidate's own step (0 = greedy).
        gamma: Discount of the rollout return (1.0: the env's undiscounted return).
        rollout_policy: Base policy of the rollouts, one of :data:`ROLLOUT_POLICIES`:
            ``"top-accept"`` (the movie most likely to be taken; cheap) or ``"greedy"``
            (the greedy oracle; about 3x slower per step).
        max_episode_steps: The env's truncation: rollouts never run past it (the world's
            ``session_pos`` counts the steps of the episode so far). None = no cap.
        confidence: ``z`` of the selection rule: a candidate replaces the greedy one only
            if its estimated advantage minus ``z`` standard errors (paired over rollouts)
            is the largest and positive. 0 = plain argmax of the estimates.
    """

    candidates: int = 4
    rollouts: int = 4
    horizon: int = 4
    gamma: float = 1.0
    rollout_policy: str = "top-accept"
    max_episode_steps: int | None = 50
    confidence: float = 1.0

    def __post_init__(self) -> None:
        for name, lo in (("candidates", 1), ("rollouts", 1), ("horizon", 0)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise ValueError(f"{name} must be an int >= {lo}, got {v!r}")
        if not 0.0 <= self.confidence < 100.0:
            raise ValueError(f"confidence must be in [0, 100), got {self.confidence!r}")
        if not 0.0 <= self.gamma <= 1.0:
            raise ValueError(f"gamma must be in [0, 1], got {self.gamma!r}")
        if self.rollout_policy not in ROLLOUT_POLICIES:
            raise ValueError(
                f"rollout_policy must be one of {ROLLOUT_POLICIES}, got {self.rollout_policy!r}"
            )
        m = self.max_episode_steps
        if m is not None and (isinstance(m, bool) or not isinstance(m, int) or m < 1):
            raise ValueError(f"max_episode_steps must be None or an int >= 1, got {m!r}")


def plan_items(
    world: World,
    state: WorldState,
    spec: RewardSpec,
    rng: np.random.Generator,
    config: PlannerConfig | None = None,
    allowed: NDArray[np.bool_] | None = None,
) -> NDArray[np.int64]:
    """Rollout lookahead on copies of the true state (see :class:`PlannerConfig`).

    All ``B x M x R`` rollouts are one world batch. A candidate's score is its exact
    expected immediate reward plus ``gamma`` times the mean over rollouts of the discounted
    return of the ``H`` following steps, each reward weighted by the probability that the
    user has not left yet (the product of the world's leave probabilities along the
    rollout, rather than sampled leave events: same expectation, less variance). The
    candidate's own step is simulated (same uniforms for every candidate) for the state it
    leads to. The greedy candidate is kept unless another's advantage over it, minus
    ``confidence`` standard errors of the paired rollout differences, is positive.

    Args:
        world: The true world.
        state: The users' states (not changed: rollouts run on copies).
        spec: The reward.
        rng: The planner's generator (its only source of randomness).
        config: Planner settings (defaults: :class:`PlannerConfig`).
        allowed: Optional ``(B, n_items + 1)`` mask of items that may be recommended.

    Returns:
        Items ``(B,)``.
    """
    cfg = config or PlannerConfig()
    b = state.batch_size
    exp = expected_rewards(world, state, spec)
    if allowed is not None:
        exp = np.where(allowed, exp, -np.inf)
    if cfg.horizon == 0 or cfg.candidates == 1 or b == 0:
        return np.argmax(exp, axis=1).astype(np.int64)
    m = min(cfg.candidates, world.n_items)
    r, h_max = cfg.rollouts, cfg.horizon
    # Top-M by the greedy score, best first (ties keep the lower item first, so candidate 0
    # is exactly the greedy oracle's choice).
    cand = np.sort(np.argpartition(-exp, m - 1, axis=1)[:, :m], axis=1)
    order = np.argsort(-np.take_along_axis(exp, cand, axis=1), axis=1, kind="stable")
    cand = np.take_along_axis(cand, order, axis=1)
    imm = np.take_along_axis(exp, cand, axis=1)
    draws = rng.random((b, 1, r, h_max + 1, 4))
    draws = np.broadcast_to(draws, (b, m, r, h_max + 1, 4)).reshape(b * m * r, h_max + 1, 4)
    row_user = np.repeat(np.arange(b), m * r)
    cap = np.iinfo(np.int64).max // 2 if cfg.max_episode_steps is None else cfg.max_episode_steps
    left_steps = (cap - state.session_pos)[row_user]
    sim = state.take(row_user)
    res = world.step_with_draws(sim, np.repeat(cand, r, axis=1).reshape(-1), draws[:, 0])
    # Leaving is not sampled: each later reward is weighted by the probability that the
    # simulated user is still there (conditional Monte Carlo: the same expectation as
    # sampling the leave draws, without their variance).
    alive = 1.0 - res.leave_prob
    future = np.zeros(b * m * r)
    disc = 1.0
    for h in range(1, h_max + 1):
        on = (left_steps > h).astype(np.float64)
        if not on.any():
            break
        scores = world.organic_scores(sim)
        if cfg.rollout_policy == "greedy":
            act = greedy_items(world, sim, spec)
        else:
            act = top_accept_items(world, sim, scores)
        out = world.step_with_draws(sim, act, draws[:, h], scores)
        reward = spec.realized(act, out.accepted, out.watched_items, out.ratings)
        future += disc * alive * on * reward
        alive *= 1.0 - out.leave_prob
        disc *= cfg.gamma
    # Advantage over the greedy candidate (column 0), paired over rollouts (same uniforms),
    # and its lower confidence bound: deviate from greedy only when the rollouts say so
    # clearly. Without it the argmax over noisy estimates picks noise (winner's curse) and
    # loses immediate reward where nothing can be planned (docs/sim_gate.md).
    fut = future.reshape(b, m, r)
    diff = fut - fut[:, :1, :]
    adv = (imm - imm[:, :1]) + cfg.gamma * diff.mean(axis=2)
    if cfg.confidence > 0 and r > 1:
        se = cfg.gamma * diff.std(axis=2, ddof=1) / np.sqrt(r)
        adv = adv - cfg.confidence * se
    best = np.argmax(adv, axis=1)
    return cand[np.arange(b), best].astype(np.int64)


# --------------------------------------------------------------------------- agents
def _sim_env(env: Any) -> Any:
    """The unwrapped ``MovieRecSim-v0`` env (single or vector) behind ``env``.

    Raises:
        TypeError: For any other env.
    """
    from movierec_env.contract import is_rec_env, rec_env
    from movierec_env.sim_env import SimEnvProperties

    base = rec_env(env) if is_rec_env(env) else env
    if not isinstance(base, SimEnvProperties):
        raise TypeError(
            f"the oracles read the true simulated user: they need a MovieRecSim-v0 env "
            f"(gym.make / gym.make_vec), got {type(base).__name__}"
        )
    return base


class OracleAgent(FixedAgentMixin):
    """SB3-style plumbing of the ORACLES (read the true world; see the module docstring).

    Args:
        env: A ``MovieRecSim-v0`` env, single or vector (wrappers allowed).
        seed: Seed of the oracle's own generator (the planner's rollouts).
        verbose: 0 silent, 1 info.

    Raises:
        TypeError: If ``env`` is not a ``MovieRecSim-v0`` env.
    """

    #: The registry name.
    name: ClassVar[str] = "oracle"
    checkpoint_class: ClassVar[str] = "OracleAgent"
    #: Labelled as an oracle in every table.
    is_oracle: ClassVar[bool] = True

    def __init__(self, env: Any, seed: int | None = None, verbose: int = 0) -> None:
        self.env = env
        self._base = _sim_env(env)
        self.spec = RewardSpec.from_config(self._base.item_features, self._base.reward_config)
        self.n_actions = int(self._base.n_actions)
        self.seed = seed
        self.verbose = verbose
        self._rng = np.random.default_rng(seed)

    def attach(self, env: Any) -> Any:
        """Read ``env``'s simulated users from now on; returns the env read before.

        :func:`agents.sim_evaluation.evaluate_episodes` attaches an oracle to the batch it
        steps, so the oracle decides for the users it is judged on.

        Raises:
            TypeError: If ``env`` is not a ``MovieRecSim-v0`` env.
        """
        before = self.env
        self.env, self._base = env, _sim_env(env)
        return before

    def decide(
        self, world: World, state: WorldState, allowed: NDArray[np.bool_] | None
    ) -> NDArray[np.int64]:
        """Items ``(B,)`` to recommend in ``state`` (world level)."""
        raise NotImplementedError

    def predict(
        self,
        observation: NDArray[Any],
        state: Any = None,
        episode_start: NDArray[np.bool_] | None = None,
        deterministic: bool = True,
        action_masks: NDArray[np.bool_] | None = None,
    ) -> tuple[Any, Any]:
        """The oracle's action for the env's current simulated users (SB3 ``predict``).

        The observation only fixes the batch shape: the decision reads the true world
        state (``oracle_state()``) of the env the oracle was built on. In candidate mode
        the decision is restricted to the K movies the env proposes (``current_candidates``)
        and the action is the chosen slot.

        Args:
            observation: ``(obs_dim,)`` or ``(num_envs, obs_dim)``.
            state: Unused; returned unchanged.
            episode_start: Unused.
            deterministic: Unused (the planner draws from its own seeded generator).
            action_masks: Optional allowed actions ``(n_items,)`` or ``(B, n_items)``
                (candidate mode: ``(K,)`` or ``(B, K)``).

        Returns:
            ``(actions, state)``: an int for a single observation, else ``(B,)``.

        Raises:
            RuntimeError: Before the env's first reset.
            ValueError: If the observation's batch does not match the env's.
        """
        ws = self._base.oracle_state()
        if ws is None:
            raise RuntimeError("the env has no simulated users yet: call env.reset() first")
        obs = np.asarray(observation)
        single = obs.ndim == 1
        batch = 1 if single else obs.shape[0]
        if batch != ws.batch_size:
            raise ValueError(f"observation batch {batch} != the env's {ws.batch_size} users")
        allowed = None
        if action_masks is not None:
            am = np.atleast_2d(np.asarray(action_masks, dtype=bool))
            allowed = np.concatenate([np.zeros((am.shape[0], 1), dtype=bool), am], axis=1)
        cands = None
        if self._base.candidates is not None:  # choose among the K proposed movies
            cands = self._base.current_candidates()
            ok = np.ones(cands.shape, dtype=bool) if allowed is None else allowed[:, 1:]
            allowed = np.zeros((batch, self.n_actions + 1), dtype=bool)
            np.put_along_axis(allowed, cands + 1, ok, axis=1)
        actions = self.decide(self._base.world, ws, allowed) - 1
        if cands is not None:
            actions = np.argmax(cands == actions[:, None], axis=1).astype(np.int64)
        if single:
            return np.int64(actions[0]), state
        return actions, state

    @classmethod
    def load(cls, path: str | os.PathLike[str], env: Any = None) -> OracleAgent:
        """Rebuild an oracle saved with :meth:`save` on ``env`` (a ``MovieRecSim-v0`` env).

        Raises:
            FileNotFoundError: If there is no such file.
            ValueError: If the file holds another agent or ``env`` is missing.
            TypeError: If ``env`` is not a ``MovieRecSim-v0`` env.
        """
        from agents.common.serialization import load_checkpoint

        data, _ = load_checkpoint(path)
        if data.get("class") != "OracleAgent" or data.get("agent") != cls.name:
            raise ValueError(f"{path} holds {data.get('agent')!r}, not {cls.name!r}")
        if env is None:
            raise ValueError(f"{cls.__name__}.load needs env= (a MovieRecSim-v0 env)")
        agent = cls(env, seed=data.get("seed"), **data.get("config", {}))
        agent._rng.bit_generator.state = data["rng_state"]
        return agent


class GreedyOracle(OracleAgent):
    """ORACLE: the one-step optimum under the TRUE world (:func:`greedy_items`).

    Reads ``env.unwrapped.world`` and ``oracle_state()``; no deployed recommender could.
    """

    name: ClassVar[str] = "oracle-greedy"

    def decide(
        self, world: World, state: WorldState, allowed: NDArray[np.bool_] | None
    ) -> NDArray[np.int64]:
        """The greedy oracle's items (``(B,)``)."""
        return greedy_items(world, state, self.spec, allowed)


class PlannerOracle(OracleAgent):
    """ORACLE: rollout lookahead on copies of the TRUE world state (:func:`plan_items`).

    Reads ``env.unwrapped.world`` and ``oracle_state()``; no deployed recommender could.

    Args:
        env: A ``MovieRecSim-v0`` env (single or vector).
        seed: Seed of the rollouts' generator.
        verbose: 0 silent, 1 info.
        **config: :class:`PlannerConfig` fields (``candidates``, ``rollouts``, ``horizon``,
            ``gamma``, ``rollout_policy``, ``max_episode_steps``; the latter defaults to
            the env's).
    """

    name: ClassVar[str] = "oracle-planner"

    def __init__(self, env: Any, seed: int | None = None, verbose: int = 0, **config: Any) -> None:
        super().__init__(env, seed=seed, verbose=verbose)
        config.setdefault("max_episode_steps", int(self._base.max_episode_steps))
        self.config = PlannerConfig(**config)

    def _config(self) -> dict[str, Any]:
        return asdict(self.config)

    def decide(
        self, world: World, state: WorldState, allowed: NDArray[np.bool_] | None
    ) -> NDArray[np.int64]:
        """The planner's items (``(B,)``)."""
        return plan_items(world, state, self.spec, self._rng, self.config, allowed)
