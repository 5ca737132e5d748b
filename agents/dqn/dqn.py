"""Deep Q-Network with action masking, an item-embedding Q-head and vectorised training."""

from __future__ import annotations

import sys
import time
from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from gymnasium.vector import VectorEnv
from numpy.typing import NDArray
from stable_baselines3.common.callbacks import (
    BaseCallback,
    CallbackList,
    ConvertCallback,
)
from stable_baselines3.common.logger import Logger
from stable_baselines3.common.type_aliases import MaybeCallback, Schedule
from stable_baselines3.common.utils import (
    FloatSchedule,
    LinearSchedule,
    configure_logger,
    get_device,
    polyak_update,
    safe_mean,
    update_learning_rate,
)
from torch.nn import functional as F

from agents.common.buffers import (
    MASK_STORAGES,
    MaskedReplayBuffer,
    NStepAccumulator,
    ReplaySamples,
)
from agents.common.callbacks import TqdmProgressBarCallback
from agents.common.confidence import LinearConfidence
from agents.common.envs import ActionMaskSource, as_vector_env, info_positions
from agents.common.spaces import same_space
from agents.dqn.checkpoint import CheckpointMixin
from agents.dqn.heads import DEFAULT_POLICY_KWARGS, ENCODER_HEAD_DEFAULTS, build_policy_kwargs
from agents.dqn.policies import POLICY_ALIASES, DQNPolicy, masked_argmax, masked_max
from agents.dqn.rollout import VectorRollout
from movierec_env.contract import is_rec_env, rec_env

__all__ = [
    "DEFAULT_POLICY_KWARGS",
    "DQN",
    "ENCODER_HEAD_DEFAULTS",
    "POLICY_ALIASES",
    "linear_schedule",
]

SelfDQN = TypeVar("SelfDQN", bound="DQN")

#: Kinds of exploration (``exploration=``): epsilon actions uniform over the allowed actions,
#: or drawn from the frozen encoder's next-movie distribution; or ``"ucb"``: every training
#: action maximises Q plus a confidence bonus (epsilon actions stay uniform).
EXPLORATIONS = ("uniform", "encoder", "ucb")


class DQN(VectorRollout, CheckpointMixin):
    """Deep Q-Network for large discrete catalogues, with Stable-Baselines3's API.

    Paper: Mnih et al., "Human-level control through deep reinforcement learning", Nature
    518, 529-533 (2015).

    The algorithm is the paper's: epsilon-greedy exploration with a linear schedule,
    uniform experience replay (which breaks the correlation of sequential data), a target
    network copied every ``target_update_interval`` env steps (or Polyak-averaged with
    ``tau < 1``), Huber loss and gradient clipping. The API, logger keys, callbacks and
    argument names are SB3's ``DQN``; a model also works with
    ``stable_baselines3.common.evaluation.evaluate_policy`` and with sb3-contrib's masked
    ``evaluate_policy`` (``predict`` accepts ``action_masks``).

    What SB3's DQN lacks and this one adds (written by hand for that reason):

    * **Action masking**: ``env.action_masks()`` (True = allowed, sb3-contrib's convention)
      restricts exploration, greedy actions *and* the target's ``max_a'`` over the next
      state. The replay buffer keeps next-state masks compactly (the env's
      ``info["position"]``, 8 bytes per transition, when the env can rebuild masks from it;
      bit-packed masks otherwise), see :mod:`agents.common.buffers`.
    * **A Q-head that scales**: ``Q(s, a) = f(s) · e_a + b_a`` with an item embedding table
      (``embed_dim << n_items``); the TD update scores only the sampled actions. With
      ``policy_kwargs=dict(warm_start=True)`` the table starts from the frozen encoder's
      linear head (the env contract's ``encoder.item_matrix()`` / ``item_bias()``).
    * **The encoder head** (default on MovieRec-v0, ``policy_kwargs["encoder_head"]``):
      ``Q(s, a) = v(s) + F_a · f(s) + alpha F_a · (p(.|s) @ F) + beta p(a|s) + c b_a`` with
      fixed item features ``F`` (unit genre rows and the rating term, so the genre reward
      is linear in them), the frozen encoder's next-movie distribution ``p(.|s)`` (a fixed
      function of the observation) and no free per-movie parameters: every transition
      trains the shared parts whatever movie was recommended, and no movie wins the
      ``max`` over the catalogue on its own noise.
    * **Batched training over a Gymnasium vector env** (e.g. ``gym.make_vec("MovieRec-v0",
      num_envs=64, vectorization_mode="vector_entry_point")``): one forward pass acts for
      all sub-envs, transitions are added in bulk; a single ``gym.Env`` works too.
    * **Data-only checkpoints**: JSON + tensors read with ``weights_only=True``, written
      atomically (SB3 pickles with cloudpickle).

    Defaults: ``tau``, ``exploration_initial_eps`` / ``exploration_final_eps``, Huber loss
    and ``max_grad_norm`` follow the Nature paper / SB3. The rest are tuned for MovieRec-v0
    (logged replay, 128-d observations, ~3.6k actions; see ``docs/dqn.md``): Adam at 3e-4,
    batches of 256 with 4 updates per vector step, a 200k-transition buffer, exploration
    over the first 10% of training, and ``gamma=0``: in logged replay the next state does
    not depend on the action, so bootstrapping only adds the variance of the next state's
    value to every target without changing which action is best; ``gamma=0`` measured best
    (``docs/dqn.md``). Set ``gamma`` as in SB3 for environments where actions matter later.

    Args:
        policy: ``"MlpPolicy"`` or a :class:`~agents.dqn.policies.DQNPolicy` subclass.
        env: A Gymnasium env, vector env or env id (``None`` only when loading).
        learning_rate: Adam learning rate, a float or a schedule of the progress remaining
            (1 -> 0), as in SB3.
        buffer_size: Replay buffer capacity (transitions).
        learning_starts: Env steps collected before the first update.
        batch_size: Minibatch size of each gradient step.
        tau: Target update coefficient (1: hard copy, as in the paper).
        gamma: Discount factor.
        n_steps: Horizon of the n-step return targets ``sum_{k<n} gamma^k r_{t+k} +
            gamma^n max_a' Q_target(s_{t+n}, a')`` (Sutton & Barto ch. 7; Rainbow), per
            sub-env, cut at episode ends (default 1: one-step Q-learning). Larger ``n``
            leans less on the bootstrapped max over noisy Q-values, at the price of the
            off-policy bias of the behaviour policy's rewards.
        train_freq: Update every ``train_freq`` vector-env steps (an int or ``(n, "step")``).
        gradient_steps: Gradient steps per update.
        target_update_interval: Env steps between target network updates.
        exploration_fraction: Fraction of training over which epsilon decays.
        exploration_initial_eps: Initial epsilon.
        exploration_final_eps: Final epsilon.
        max_grad_norm: Gradient norm clip.
        exploration: What an exploratory (epsilon) action is: ``"uniform"`` (an allowed
            action uniformly at random, as SB3; the default) or ``"encoder"`` (drawn from
            the env's frozen encoder's next-movie distribution ``p(.|s)`` over the allowed
            actions: exploration among plausible movies; needs a MovieRec env); or
            ``"ucb"``: every training action is the allowed argmax of
            ``Q(s, a) + exploration_bonus * sqrt(x' A^-1 x)``, LinUCB's confidence width
            over (state, movie) features ``x`` (:class:`agents.common.confidence.
            LinearConfidence`; ``A`` accumulates the features of the agent's own
            recommendations: directed exploration toward the pairs it has tried least;
            needs a MovieRec env), epsilon actions staying uniform. Only training is
            affected; ``predict(deterministic=False)`` stays epsilon-uniform.
        exploration_bonus: Width multiplier of ``exploration="ucb"`` (>= 0; ignored
            otherwise).
        double_q: Double Q-learning (van Hasselt et al., AAAI 2016): the online network
            chooses the next action, the target network values it, which removes the
            max's upward bias over many noisy Q-values (default off).
        residual_decay: With the encoder head: decoupled (AdamW) weight decay of the
            residual head ``f(s)`` only (ignored otherwise).
        mask_storage: How next-state masks are kept: ``"auto"`` (position when the env can
            rebuild masks from ``info["position"]``, else packed bits, else none),
            ``"position"``, ``"packed"`` or ``"none"`` (no masking at all).
        stats_window_size: Episodes averaged in ``rollout/ep_rew_mean``.
        tensorboard_log: TensorBoard log folder (``None``: no TensorBoard).
        policy_kwargs: Passed to the policy (merged over :data:`DEFAULT_POLICY_KWARGS`):
            ``net_arch`` (default ``[256]``), ``embed_dim`` (default 64; the observation
            size when warm-started), ``activation_fn``, ``warm_start`` (initialise the item
            table from the env's frozen encoder; ``"auto"``: when there is one),
            ``freeze_items`` (default: ``warm_start``), ``genre_features`` (append the
            items' L2-normalised genre vectors and rating term, from
            ``rec_env(env).item_features``, as fixed item features: the genre reward term is
            linear in them), ``encoder_head`` (default ``"auto"``: True when the env has a
            frozen encoder and genres; adds the frozen encoder's next-movie distribution
            ``p(.|s)`` as two terms with learned weights and implies
            ``genre_features=True, embed_dim=0, freeze_items=True``, i.e. no free per-movie
            parameters; see ``docs/dqn.md``), ``residual`` (default True: the learned
            state-dependent weights ``f(s)`` of the item features),
            ``popularity_feature`` (default False: append each movie's training-popularity
            rank in ``[0, 1]``, ``ItemFeatures.popularity_rank()``, to the item features,
            the feature ``LinUCBAgent`` also reads), ``state_scales`` (default False: the
            encoder head's two weights ``alpha``, ``beta`` get a state-dependent part, a
            zero-initialised linear map of the state tower; without it and without the
            residual, the action-dependent part of Q is one blend of fixed item features
            for every state).
        verbose: 0 silent, 1 training logs on stdout.
        seed: Seed of network initialisation, exploration and replay sampling.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``...
    """

    def __init__(
        self,
        policy: str | type[DQNPolicy],
        env: gym.Env[Any, Any] | VectorEnv[Any, Any, Any] | str | None,
        learning_rate: float | Schedule = 3e-4,
        buffer_size: int = 200_000,
        learning_starts: int = 2_000,
        batch_size: int = 256,
        tau: float = 1.0,
        gamma: float = 0.0,
        n_steps: int = 1,
        train_freq: int | tuple[int, str] = 1,
        gradient_steps: int = 4,
        target_update_interval: int = 10_000,
        exploration_fraction: float = 0.1,
        exploration_initial_eps: float = 1.0,
        exploration_final_eps: float = 0.05,
        max_grad_norm: float = 10.0,
        exploration: str = "uniform",
        exploration_bonus: float = 1.0,
        double_q: bool = False,
        residual_decay: float = 1.0,
        mask_storage: str = "auto",
        stats_window_size: int = 100,
        tensorboard_log: str | None = None,
        policy_kwargs: dict[str, Any] | None = None,
        verbose: int = 0,
        seed: int | None = None,
        device: torch.device | str = "auto",
        _spaces: tuple[spaces.Space[Any], spaces.Space[Any]] | None = None,
    ) -> None:
        train_freq = _checked_args(
            train_freq=train_freq,
            buffer_size=buffer_size,
            batch_size=batch_size,
            gradient_steps=gradient_steps,
            target_update_interval=target_update_interval,
            tau=tau,
            gamma=gamma,
            n_steps=n_steps,
            exploration_fraction=exploration_fraction,
            exploration_bonus=exploration_bonus,
            residual_decay=residual_decay,
            mask_storage=mask_storage,
        )
        if isinstance(policy, str):
            if policy not in POLICY_ALIASES:
                raise ValueError(f"unknown policy {policy!r}; choose one of {list(POLICY_ALIASES)}")
            policy_class = POLICY_ALIASES[policy]
        else:
            policy_class = policy
        self.policy_name = policy if isinstance(policy, str) else policy.__name__
        self.learning_rate = learning_rate
        self.buffer_size = int(buffer_size)
        self.learning_starts = int(learning_starts)
        self.batch_size = int(batch_size)
        self.tau = float(tau)
        self.gamma = float(gamma)
        self.n_steps = int(n_steps)
        self.train_freq = int(train_freq)
        self.gradient_steps = int(gradient_steps)
        self.target_update_interval = int(target_update_interval)
        self.exploration_fraction = float(exploration_fraction)
        self.exploration_initial_eps = float(exploration_initial_eps)
        self.exploration_final_eps = float(exploration_final_eps)
        self.max_grad_norm = float(max_grad_norm)
        if exploration not in EXPLORATIONS:
            raise ValueError(f"exploration must be one of {EXPLORATIONS}, got {exploration!r}")
        self.exploration = exploration
        self.exploration_bonus = float(exploration_bonus)
        self.double_q = bool(double_q)
        self.residual_decay = float(residual_decay)
        self.mask_storage = mask_storage
        self.stats_window_size = int(stats_window_size)
        self.tensorboard_log = tensorboard_log
        self.verbose = int(verbose)
        self.seed = seed
        self.device = get_device(device)
        self.policy_kwargs = dict(policy_kwargs or {})

        self.env: VectorEnv[Any, Any, Any] | None = None
        if env is not None:
            self.env = as_vector_env(env)
            obs_space, act_space = self.env.single_observation_space, self.env.single_action_space
        elif _spaces is not None:
            obs_space, act_space = _spaces
        else:
            raise ValueError("env is required (pass a Gymnasium env, vector env or env id)")
        self.observation_space = obs_space
        self.action_space = act_space
        self.n_envs = self.env.num_envs if self.env is not None else 1

        self.lr_schedule: Schedule = FloatSchedule(learning_rate)
        self.exploration_schedule: Schedule = LinearSchedule(
            self.exploration_initial_eps, self.exploration_final_eps, self.exploration_fraction
        )
        self.rng = np.random.default_rng(seed)
        self._init_training_state()
        if not isinstance(act_space, spaces.Discrete):
            raise TypeError(f"DQN needs a Discrete action space, got {act_space}")
        contract = rec_env(self.env) if self.env is not None and is_rec_env(self.env) else None
        if contract is not None and contract.candidates is not None:
            raise ValueError(
                "agents.DQN scores the full catalogue (its head holds one row per movie) and "
                f"does not support candidate mode (candidates={contract.candidates}); use "
                "make_agent('sb3-dqn', env) or a full-catalogue env"
            )
        n_actions = int(act_space.n)
        self._explore_encoder: Any = None
        self._confidence: LinearConfidence | None = None
        if self.env is not None:
            self._bind_exploration(self.env)
        self.policy_kwargs, kwargs = build_policy_kwargs(
            self.policy_kwargs, contract, n_actions, has_env=self.env is not None
        )
        # Initialise the weights from the model's own seed without touching the global RNG.
        with torch.random.fork_rng(devices=[]):
            if seed is not None:
                torch.manual_seed(seed)
            self.policy = policy_class(obs_space, act_space, **kwargs).to(self.device)
        self.optimizer = self._make_optimizer()

    def _init_training_state(self) -> None:
        """Counters, episode statistics and the lazily built buffer, logger and masks."""
        self.exploration_rate = self.exploration_initial_eps
        self.num_timesteps = 0
        self._total_timesteps = 0
        self._num_timesteps_at_start = 0
        self._n_updates = 0
        self._episode_num = 0
        self._current_progress_remaining = 1.0
        self._steps_since_target_update = 0
        self._last_obs: NDArray[Any] | None = None
        self._needs_reset: NDArray[np.bool_] | None = None
        self._ep_rewards: NDArray[np.float64] | None = None
        self._ep_lengths: NDArray[np.int64] | None = None
        self.ep_info_buffer: deque[dict[str, float]] = deque(maxlen=self.stats_window_size)
        self.replay_buffer: MaskedReplayBuffer | None = None
        self._nstep: NStepAccumulator | None = None
        self._mask_source: ActionMaskSource | None = None
        self._logger: Logger | None = None
        self._custom_logger = False
        self.start_time = 0.0

    # ------------------------------------------------------------------ SB3 accessors
    @property
    def logger(self) -> Logger:
        """The SB3 logger (configured at the start of :meth:`learn`)."""
        if self._logger is None:
            self._logger = configure_logger(self.verbose, None, "DQN", True)
        return self._logger

    def set_logger(self, logger: Logger) -> None:
        """Use ``logger`` instead of the one :meth:`learn` would configure (SB3 API)."""
        self._logger = logger
        self._custom_logger = True

    def get_env(self) -> VectorEnv[Any, Any, Any] | None:
        """The training vector env (SB3 API; callbacks read ``num_envs`` from it)."""
        return self.env

    def set_env(self, env: gym.Env[Any, Any] | VectorEnv[Any, Any, Any] | str) -> None:
        """Replace the training env; its spaces must match the model's."""
        venv = as_vector_env(env)
        for mine, theirs in (
            (self.observation_space, venv.single_observation_space),
            (self.action_space, venv.single_action_space),
        ):
            if not same_space(mine, theirs):
                raise ValueError(f"env space {theirs} does not match the model's {mine}")
        self.env = venv
        self.n_envs = venv.num_envs
        self._last_obs = None
        self._mask_source = None
        self._bind_exploration(venv)

    def _bind_exploration(self, env: VectorEnv[Any, Any, Any]) -> None:
        """Take what the exploration reads from ``env``.

        ``exploration="encoder"``: the env's frozen encoder (``_explore_encoder``);
        ``"ucb"``: LinUCB's confidence width over the env's features (``_confidence``; a
        new env keeps the design matrix learnt so far). Nothing for ``"uniform"``.

        Raises:
            ValueError: If that exploration is asked for on an env without a MovieRec
                contract or whose encoder does not fit the actions.
        """
        self._explore_encoder = None
        if self.exploration == "uniform":
            self._confidence = None
            return
        from agents.dqn.heads import checked_encoder

        if self.exploration == "ucb" and not is_rec_env(env):
            raise ValueError(
                'exploration="ucb" needs a MovieRec env (its encoder and item features '
                "describe the (state, movie) pairs)"
            )
        contract = rec_env(env) if is_rec_env(env) else None
        encoder = checked_encoder(contract, int(self.action_space.n))  # type: ignore[attr-defined]
        if self.exploration == "encoder":
            self._explore_encoder = encoder
            return
        assert contract is not None
        confidence = LinearConfidence(contract)
        if self._confidence is not None:
            confidence.set_state(self._confidence.state())  # keep what was learnt
        self._confidence = confidence

    def get_vec_normalize_env(self) -> None:
        """No ``VecNormalize`` here (SB3 API, used by its callbacks)."""
        return None

    @property
    def q_net(self) -> torch.nn.Module:
        """The online Q-network."""
        return self.policy.q_net

    @property
    def q_net_target(self) -> torch.nn.Module:
        """The target Q-network."""
        return self.policy.q_net_target

    def _make_optimizer(self) -> torch.optim.Optimizer:
        """Adam, or AdamW decaying only the residual head when the encoder head is on.

        The decoupled weight decay ``residual_decay`` on the residual head ``f(s)`` shrinks
        the learned per-state correction of the item-feature weights toward the encoder
        terms (measured: docs/dqn.md).
        """
        q_net = self.policy.q_net
        params = [p for p in q_net.parameters() if p.requires_grad]
        lr = self.lr_schedule(1.0)
        if not (q_net.encoder_head and self.residual_decay > 0):
            return torch.optim.Adam(params, lr=lr)
        head = {id(p) for p in q_net.head.parameters() if p.requires_grad}
        return torch.optim.AdamW(
            [
                {"params": [p for p in params if id(p) not in head], "weight_decay": 0.0},
                {
                    "params": [p for p in params if id(p) in head],
                    "weight_decay": self.residual_decay,
                },
            ],
            lr=lr,
        )

    # ------------------------------------------------------------------ acting
    def predict(
        self,
        observation: NDArray[Any],
        state: tuple[NDArray[Any], ...] | None = None,
        episode_start: NDArray[Any] | None = None,
        deterministic: bool = False,
        action_masks: NDArray[np.bool_] | None = None,
    ) -> tuple[NDArray[np.int64], tuple[NDArray[Any], ...] | None]:
        """Greedy (or epsilon-greedy) actions, SB3's ``predict``.

        Args:
            observation: One observation or a batch ``(B, *obs_shape)``.
            state: Unused (no recurrent state); returned as is.
            episode_start: Unused.
            deterministic: Greedy when True; otherwise epsilon-greedy at the current
                exploration rate (as SB3's DQN).
            action_masks: Allowed actions, ``(n_actions,)`` or ``(B, n_actions)``
                (sb3-contrib's convention). Without them every action is allowed.

        Returns:
            ``(actions, state)``; actions has shape ``()`` for one observation, ``(B,)``
            for a batch.
        """
        t, batched = self.policy.obs_to_tensor(observation)
        masks = None
        if action_masks is not None:
            masks = np.asarray(action_masks, dtype=bool).reshape(t.shape[0], -1)
        actions = self.policy.greedy(t, masks)
        if not deterministic and self.exploration_rate > 0:
            explore: NDArray[np.bool_] = (
                self.rng.random(size=(actions.shape[0],)) < self.exploration_rate
            )
            if explore.any():
                sub = None if masks is None else masks[explore]
                actions[explore] = self._random_allowed(sub, int(explore.sum()))
        return (actions if batched else actions[0].reshape(())), state

    def action_scores(
        self, obs: NDArray[Any], info: dict[str, Any] | None = None
    ) -> NDArray[np.float32]:
        """Q-values as ranking scores, ``(B, n_actions)`` (DESIGN.md agent contract)."""
        q = self.policy.q_values(obs)
        return q if q.ndim == 2 else q[None]

    # ------------------------------------------------------------------ learning
    def _setup_learn(
        self,
        total_timesteps: int,
        callback: MaybeCallback,
        reset_num_timesteps: bool,
        tb_log_name: str,
        progress_bar: bool,
    ) -> tuple[int, BaseCallback]:
        if self.env is None:
            raise ValueError("this model has no env: pass one to DQN.load(..., env=) or set_env")
        self.start_time = time.time_ns()
        if reset_num_timesteps:
            self.num_timesteps = 0
            self._episode_num = 0
            self.ep_info_buffer = deque(maxlen=self.stats_window_size)
        else:
            total_timesteps += self.num_timesteps
        self._total_timesteps = total_timesteps
        self._num_timesteps_at_start = self.num_timesteps
        n_actions = int(self.action_space.n)  # type: ignore[attr-defined]
        if self._mask_source is None:
            self._mask_source = ActionMaskSource(self.env, n_actions)
        if reset_num_timesteps or self._last_obs is None:
            seed = None if self.seed is None else int(self.seed)
            self._last_obs, info = self.env.reset(seed=seed if self._last_obs is None else None)
            self._last_info = info
            self._needs_reset = np.zeros(self.n_envs, dtype=bool)
            self._ep_rewards = np.zeros(self.n_envs)
            self._ep_lengths = np.zeros(self.n_envs, dtype=np.int64)
            self._last_masks = self._mask_source.current()
            # Fresh episodes: n-step queues of the old ones can never complete.
            self._nstep = None
            if self.n_steps > 1:
                self._nstep = NStepAccumulator(self.n_steps, self.gamma, self.n_envs)
        if self.replay_buffer is None:
            self.replay_buffer = self._make_buffer(info_positions(self._last_info, self.n_envs))
        if not self._custom_logger:
            self._logger = configure_logger(
                self.verbose, self.tensorboard_log, tb_log_name, reset_num_timesteps
            )
        if isinstance(callback, list):
            callback = CallbackList(callback)
        if not isinstance(callback, BaseCallback):
            callback = ConvertCallback(callback)
        if progress_bar:
            callback = CallbackList([callback, TqdmProgressBarCallback()])
        callback.init_callback(self)  # type: ignore[arg-type]
        return total_timesteps, callback

    def train(self, gradient_steps: int, batch_size: int) -> None:
        """Run ``gradient_steps`` TD updates on replayed minibatches (SB3's ``train``)."""
        assert self.replay_buffer is not None
        lr = self.lr_schedule(self._current_progress_remaining)
        update_learning_rate(self.optimizer, lr)
        losses = []
        q_net = self.policy.q_net
        for _ in range(gradient_steps):
            batch = self.replay_buffer.sample(batch_size, self.rng, with_masks=self.gamma > 0)
            obs = torch.as_tensor(batch.observations, device=self.device).float()
            actions = torch.as_tensor(batch.actions, device=self.device)
            target_q = self._td_target(batch)
            current_q = q_net.q_selected(obs, actions)
            loss = F.smooth_l1_loss(current_q, target_q)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(q_net.parameters(), self.max_grad_norm)
            self.optimizer.step()
            losses.append(loss.item())
        self._n_updates += gradient_steps
        self.logger.record("train/learning_rate", lr)
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        self.logger.record("train/loss", float(np.mean(losses)))

    @torch.no_grad()
    def _td_target(self, batch: ReplaySamples) -> torch.Tensor:
        """``r + gamma * (1 - terminated) * max_{a' allowed in s'} Q_target(s', a')``.

        With n-step transitions ``r`` is the discounted n-step return and ``gamma`` the
        transition's own ``gamma^m``.

        With ``double_q`` the max is ``Q_target(s', argmax_{a' allowed} Q(s', a'))``.
        """
        rewards = torch.as_tensor(batch.rewards, device=self.device)
        if self.gamma == 0:
            return rewards
        discount: float | torch.Tensor = self.gamma
        if batch.discounts is not None:  # n-step transitions: gamma^m each
            discount = torch.as_tensor(batch.discounts, device=self.device)
        next_obs = torch.as_tensor(batch.next_observations, device=self.device).float()
        masks = None
        if batch.next_masks is not None:
            masks = torch.as_tensor(batch.next_masks, device=self.device)
        if self.double_q:
            best = masked_argmax(self.policy.q_net(next_obs), masks)
            next_q = self.policy.q_net_target(next_obs).gather(1, best[:, None])[:, 0]
            if masks is not None:  # nothing allowed in s': no future value (as masked_max)
                next_q = torch.where(masks.any(dim=1), next_q, torch.zeros_like(next_q))
        else:
            next_q = masked_max(self.policy.q_net_target(next_obs), masks)
        term = torch.as_tensor(batch.terminated, device=self.device)
        return rewards + (1.0 - term) * discount * next_q

    def _update_target(self) -> None:
        polyak_update(
            self.policy.q_net.parameters(), self.policy.q_net_target.parameters(), self.tau
        )

    def _dump_logs(self) -> None:
        elapsed = max((time.time_ns() - self.start_time) / 1e9, sys.float_info.epsilon)
        fps = int((self.num_timesteps - self._num_timesteps_at_start) / elapsed)
        self.logger.record("time/episodes", self._episode_num, exclude="tensorboard")
        if len(self.ep_info_buffer) > 0:
            episodes = self.ep_info_buffer
            self.logger.record("rollout/ep_rew_mean", safe_mean([e["r"] for e in episodes]))
            self.logger.record("rollout/ep_len_mean", safe_mean([e["l"] for e in episodes]))
        self.logger.record("rollout/exploration_rate", self.exploration_rate)
        self.logger.record("time/fps", fps)
        self.logger.record("time/time_elapsed", int(elapsed), exclude="tensorboard")
        self.logger.record("time/total_timesteps", self.num_timesteps, exclude="tensorboard")
        self.logger.dump(step=self.num_timesteps)

    def dump_logs(self) -> None:
        """Write the logger's current values (SB3 API, used by some callbacks)."""
        self._dump_logs()

    def learn(
        self: SelfDQN,
        total_timesteps: int,
        callback: MaybeCallback = None,
        log_interval: int = 4,
        tb_log_name: str = "DQN",
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> SelfDQN:
        """Train for ``total_timesteps`` env steps (summed over sub-envs).

        Args:
            total_timesteps: Env steps to collect.
            callback: SB3 callback(s), called after every vector-env step.
            log_interval: Dump logs every ``log_interval`` finished episodes (SB3's
                off-policy convention).
            tb_log_name: TensorBoard run name.
            reset_num_timesteps: Start counting from 0 (False continues a previous run).
            progress_bar: Show a tqdm progress bar (SB3's ``ProgressBarCallback``).

        Returns:
            ``self``.
        """
        if total_timesteps < 0:
            raise ValueError(f"total_timesteps must be >= 0, got {total_timesteps}")
        total_timesteps, cb = self._setup_learn(
            total_timesteps, callback, reset_num_timesteps, tb_log_name, progress_bar
        )
        cb.on_training_start(locals(), globals())
        n_calls = 0
        last_logged_episode = self._episode_num
        while self.num_timesteps < total_timesteps:
            self._current_progress_remaining = 1.0 - self.num_timesteps / max(total_timesteps, 1)
            self.exploration_rate = self.exploration_schedule(self._current_progress_remaining)
            before = self.num_timesteps
            cb.on_rollout_start()
            new_obs, rewards, dones, infos = self._collect_step()
            n_calls += 1
            self._steps_since_target_update += self.num_timesteps - before
            if self._steps_since_target_update >= self.target_update_interval:
                self._update_target()
                self._steps_since_target_update = 0
            cb.update_locals(locals())
            if not cb.on_step():
                cb.on_rollout_end()
                break
            cb.on_rollout_end()
            if log_interval is not None and (
                self._episode_num // log_interval > last_logged_episode // log_interval
            ):
                last_logged_episode = self._episode_num
                self._dump_logs()
            if (
                self.num_timesteps > self.learning_starts
                and n_calls % self.train_freq == 0
                and self.replay_buffer is not None
                and self.replay_buffer.size() >= 1
            ):
                self.train(self.gradient_steps, self.batch_size)
        cb.on_training_end()
        return self


def _checked_args(train_freq: int | tuple[int, str], mask_storage: str, **values: float) -> int:
    """Validate the constructor's numeric arguments; returns ``train_freq`` as an int.

    Raises:
        ValueError: Naming the first invalid argument and its value.
    """
    if isinstance(train_freq, tuple):
        if len(train_freq) != 2 or train_freq[1] != "step":
            raise ValueError(f'train_freq must be an int or (n, "step"), got {train_freq!r}')
        train_freq = int(train_freq[0])
    checks = {
        "buffer_size": lambda v: v >= 1,
        "batch_size": lambda v: v >= 1,
        "gradient_steps": lambda v: v >= 1,
        "target_update_interval": lambda v: v >= 1,
        "tau": lambda v: 0.0 < v <= 1.0,
        "gamma": lambda v: 0.0 <= v <= 1.0,
        "n_steps": lambda v: isinstance(v, int | np.integer) and not isinstance(v, bool) and v >= 1,
        "exploration_fraction": lambda v: 0.0 <= v <= 1.0,
        "residual_decay": lambda v: v >= 0.0,
        "exploration_bonus": lambda v: v >= 0.0,
    }
    if train_freq < 1:
        raise ValueError(f"invalid train_freq={train_freq!r}")
    for name, ok in checks.items():
        if not ok(values[name]):
            raise ValueError(f"invalid {name}={values[name]!r}")
    if mask_storage not in ("auto", *MASK_STORAGES):
        raise ValueError(f"mask_storage must be 'auto' or one of {MASK_STORAGES}")
    return int(train_freq)


def linear_schedule(start: float, end: float = 0.0) -> Callable[[float], float]:
    """SB3-style learning-rate schedule from ``start`` to ``end`` over training."""
    return LinearSchedule(start, end, 1.0)
