"""Deep Q-Network with action masking, an item-embedding Q-head and vectorised training."""

from __future__ import annotations

import os
import sys
import time
from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
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

from agents.common.buffers import MASK_STORAGES, MaskedReplayBuffer, ReplaySamples
from agents.common.callbacks import TqdmProgressBarCallback
from agents.common.envs import ActionMaskSource, as_vector_env, autoreset_mode, info_positions
from agents.common.serialization import load_checkpoint, save_checkpoint
from agents.dqn.policies import DQNPolicy, masked_max

SelfDQN = TypeVar("SelfDQN", bound="DQN")

#: Policy names accepted by :class:`DQN` (SB3's alias convention).
POLICY_ALIASES: dict[str, type[DQNPolicy]] = {"MlpPolicy": DQNPolicy}

#: Policy settings used unless ``policy_kwargs`` overrides them (see :class:`DQN`).
DEFAULT_POLICY_KWARGS: dict[str, Any] = {"encoder_head": "auto"}

#: Settings implied by ``encoder_head=True`` unless given: the Q-head is built from fixed
#: item features and the frozen encoder only, no free per-movie parameters (docs/dqn.md).
ENCODER_HEAD_DEFAULTS: dict[str, Any] = {
    "genre_features": True,
    "embed_dim": 0,
    "warm_start": False,
    "freeze_items": True,
}

#: Constructor arguments saved in checkpoints (JSON) and restored by :meth:`DQN.load`.
_HYPERPARAMETERS = (
    "learning_rate",
    "buffer_size",
    "learning_starts",
    "batch_size",
    "tau",
    "gamma",
    "train_freq",
    "gradient_steps",
    "target_update_interval",
    "exploration_fraction",
    "exploration_initial_eps",
    "exploration_final_eps",
    "max_grad_norm",
    "residual_decay",
    "mask_storage",
    "stats_window_size",
)


def _space_to_json(space: spaces.Space[Any]) -> dict[str, Any]:
    if isinstance(space, spaces.Discrete):
        return {"type": "Discrete", "n": int(space.n), "start": int(space.start)}
    if isinstance(space, spaces.Box):
        low, high = np.unique(space.low), np.unique(space.high)
        return {
            "type": "Box",
            "shape": list(space.shape),
            "dtype": str(space.dtype),
            "low": float(low[0]) if low.size == 1 else space.low.tolist(),
            "high": float(high[0]) if high.size == 1 else space.high.tolist(),
        }
    raise TypeError(f"cannot describe space {space}")


def _space_from_json(d: dict[str, Any]) -> spaces.Space[Any]:
    if d["type"] == "Discrete":
        return spaces.Discrete(int(d["n"]), start=int(d.get("start", 0)))
    if d["type"] == "Box":
        dtype = np.dtype(d["dtype"])
        shape = tuple(int(s) for s in d["shape"])
        low = np.full(shape, d["low"], dtype=dtype) if np.isscalar(d["low"]) else d["low"]
        high = np.full(shape, d["high"], dtype=dtype) if np.isscalar(d["high"]) else d["high"]
        low, high = np.asarray(low, dtype=dtype), np.asarray(high, dtype=dtype)
        return spaces.Box(low=low, high=high, shape=shape, dtype=dtype)
    raise ValueError(f"unknown space type {d.get('type')!r} in checkpoint")


def _same_space(a: spaces.Space[Any], b: spaces.Space[Any]) -> bool:
    return _space_to_json(a) == _space_to_json(b)


class DQN:
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
      linear head (``env.unwrapped.encoder.item_matrix()`` / ``item_bias()``).
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
        train_freq: Update every ``train_freq`` vector-env steps (an int or ``(n, "step")``).
        gradient_steps: Gradient steps per update.
        target_update_interval: Env steps between target network updates.
        exploration_fraction: Fraction of training over which epsilon decays.
        exploration_initial_eps: Initial epsilon.
        exploration_final_eps: Final epsilon.
        max_grad_norm: Gradient norm clip.
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
            table from ``env.unwrapped.encoder``; ``"auto"``: when there is one),
            ``freeze_items`` (default: ``warm_start``), ``genre_features`` (append the
            items' L2-normalised genre vectors and rating term, from
            ``env.unwrapped.dataset``, as fixed item features: the genre reward term is
            linear in them), ``encoder_head`` (default ``"auto"``: True when the env has a
            frozen encoder and genres; adds the frozen encoder's next-movie distribution
            ``p(.|s)`` as two terms with learned weights and implies
            ``genre_features=True, embed_dim=0, freeze_items=True``, i.e. no free per-movie
            parameters; see ``docs/dqn.md``), ``residual`` (default True: the learned
            state-dependent weights ``f(s)`` of the item features).
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
        train_freq: int | tuple[int, str] = 1,
        gradient_steps: int = 4,
        target_update_interval: int = 10_000,
        exploration_fraction: float = 0.1,
        exploration_initial_eps: float = 1.0,
        exploration_final_eps: float = 0.05,
        max_grad_norm: float = 10.0,
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
        if isinstance(train_freq, tuple):
            if len(train_freq) != 2 or train_freq[1] != "step":
                raise ValueError(f'train_freq must be an int or (n, "step"), got {train_freq!r}')
            train_freq = int(train_freq[0])
        checks = {
            "buffer_size": buffer_size >= 1,
            "batch_size": batch_size >= 1,
            "train_freq": train_freq >= 1,
            "gradient_steps": gradient_steps >= 1,
            "target_update_interval": target_update_interval >= 1,
            "tau": 0.0 < tau <= 1.0,
            "gamma": 0.0 <= gamma <= 1.0,
            "exploration_fraction": 0.0 <= exploration_fraction <= 1.0,
            "residual_decay": residual_decay >= 0.0,
        }
        for name, ok in checks.items():
            if not ok:
                raise ValueError(f"invalid {name}={locals()[name]!r}")
        if mask_storage not in ("auto", *MASK_STORAGES):
            raise ValueError(f"mask_storage must be 'auto' or one of {MASK_STORAGES}")
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
        self.train_freq = int(train_freq)
        self.gradient_steps = int(gradient_steps)
        self.target_update_interval = int(target_update_interval)
        self.exploration_fraction = float(exploration_fraction)
        self.exploration_initial_eps = float(exploration_initial_eps)
        self.exploration_final_eps = float(exploration_final_eps)
        self.max_grad_norm = float(max_grad_norm)
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
        self.exploration_rate = self.exploration_initial_eps
        self.rng = np.random.default_rng(seed)
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
        self._mask_source: ActionMaskSource | None = None
        self._logger: Logger | None = None
        self._custom_logger = False
        self.start_time = 0.0

        kwargs = self._resolve_policy_kwargs()
        self.policy_kwargs = {k: kwargs[k] for k in self.policy_kwargs}
        if kwargs.pop("warm_start", False):
            enc = self._find_encoder()
            matrix = np.asarray(enc.item_matrix(), dtype=np.float32)[1:]
            bias = np.asarray(enc.item_bias(), dtype=np.float32)[1:]
            bias = np.where(np.isfinite(bias), bias, np.nanmin(bias[np.isfinite(bias)]))
            kwargs.update(warm_start=True, embed_dim=matrix.shape[1])
            if kwargs.get("freeze_items"):
                # Frozen: the encoder's own head, so f(s) = obs reproduces its logits.
                kwargs.update(item_embeddings=matrix, item_bias=bias - bias.mean())
            else:
                scaled = matrix / (matrix.std() + 1e-8) / np.sqrt(matrix.shape[1])
                kwargs.update(item_embeddings=scaled, item_bias=np.zeros_like(bias))
        if kwargs.get("genre_features") and not kwargs.get("n_item_features"):
            feats = self._find_item_features()
            kwargs.update(item_features=feats, n_item_features=feats.shape[1])
        if kwargs.get("encoder_head") and "encoder_matrix" not in kwargs and self.env is not None:
            enc = self._find_encoder()
            ebias = np.asarray(enc.item_bias(), dtype=np.float32)[1:]
            ebias = np.where(np.isfinite(ebias), ebias, np.nanmin(ebias[np.isfinite(ebias)]))
            kwargs.update(
                encoder_matrix=np.asarray(enc.item_matrix(), dtype=np.float32)[1:],
                encoder_bias=ebias,
            )
        # Initialise the weights from the model's own seed without touching the global RNG.
        with torch.random.fork_rng(devices=[]):
            if seed is not None:
                torch.manual_seed(seed)
            self.policy = policy_class(obs_space, act_space, **kwargs).to(self.device)
        self.optimizer = self._make_optimizer()

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
            if not _same_space(mine, theirs):
                raise ValueError(f"env space {theirs} does not match the model's {mine}")
        self.env = venv
        self.n_envs = venv.num_envs
        self._last_obs = None
        self._mask_source = None

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

    def _find_encoder(self) -> Any:
        """The frozen encoder behind the env (``env.unwrapped.encoder``), for warm starts."""
        if self.env is None:
            raise ValueError("warm_start=True needs an env exposing unwrapped.encoder")
        base = self.env.unwrapped
        enc = getattr(base, "encoder", None)
        if enc is None and hasattr(base, "envs"):
            enc = getattr(base.envs[0].unwrapped, "encoder", None)
        if enc is None or not hasattr(enc, "item_matrix"):
            raise ValueError(
                "warm_start=True needs env.unwrapped.encoder with item_matrix()/item_bias() "
                "(MovieRec-v0 has one)"
            )
        n = int(self.action_space.n)  # type: ignore[attr-defined]
        if enc.item_matrix().shape[0] != n + 1:
            raise ValueError(
                f"encoder has {enc.item_matrix().shape[0] - 1} items but the env {n} actions"
            )
        return enc

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

    def _resolve_policy_kwargs(self) -> dict[str, Any]:
        """``policy_kwargs`` over :data:`DEFAULT_POLICY_KWARGS`, ``"auto"`` values resolved.

        ``warm_start="auto"`` warm-starts when the env exposes a frozen encoder;
        ``genre_features="auto"`` adds genre features when its dataset has genres;
        ``freeze_items`` defaults to ``warm_start``.
        """
        kwargs = {**DEFAULT_POLICY_KWARGS, **self.policy_kwargs}
        if kwargs.get("encoder_head") == "auto":
            kwargs["encoder_head"] = self._has_encoder() and self._has_genres()
        if kwargs["encoder_head"]:
            if self.env is not None:
                self._find_encoder()  # a clear error when the env has none
            kwargs = {**ENCODER_HEAD_DEFAULTS, **kwargs}
        if kwargs.get("warm_start") == "auto":
            kwargs["warm_start"] = self._has_encoder()
        if kwargs.get("genre_features") == "auto":
            kwargs["genre_features"] = bool(kwargs.get("n_item_features")) or self._has_genres()
        if kwargs["encoder_head"] and not kwargs.get("genre_features"):
            raise ValueError("encoder_head=True needs genre_features=True (the item features)")
        if kwargs.get("freeze_items") is None:
            kwargs["freeze_items"] = bool(kwargs.get("warm_start", False))
        return kwargs

    def _has_encoder(self) -> bool:
        try:
            self._find_encoder()
        except ValueError:
            return False
        return True

    def _has_genres(self) -> bool:
        try:
            self._find_genres()
        except ValueError:
            return False
        return True

    def _find_dataset(self) -> Any:
        base = None if self.env is None else self.env.unwrapped
        data = getattr(base, "dataset", None)
        if data is None and base is not None and hasattr(base, "envs"):
            data = getattr(base.envs[0].unwrapped, "dataset", None)
        return data

    def _find_item_features(self) -> NDArray[np.float32]:
        """Fixed item features: L2-normalised genre rows, then the movie's rating term.

        Genre-less movies get zero rows; the rating term is
        ``clip((mean training rating - 3) / 2, 0, 1)``. The genre rows are normalised
        exactly as the reward's cosine (:mod:`movierec_env.reward`), so ``Gn[a] · u`` *is*
        the expected genre term when ``u`` is the next movie's expected genre row.
        """
        genres = self._find_genres()
        norms = np.linalg.norm(genres, axis=1, keepdims=True)
        unit = np.divide(genres, norms, out=np.zeros_like(genres), where=norms > 0)
        data = self._find_dataset()
        mean = np.asarray(data.item_mean_rating, dtype=np.float32)[1:]
        rating = np.clip((np.nan_to_num(mean, nan=3.0) - 3.0) / 2.0, 0.0, 1.0)
        return np.concatenate([unit, rating[:, None]], axis=1).astype(np.float32)

    def _find_genres(self) -> NDArray[np.float32]:
        """Item genre vectors ``(n_actions, n_genres)`` of the env's dataset."""
        data = self._find_dataset()
        if data is None or not hasattr(data, "item_genres"):
            raise ValueError("genre_features=True needs env.unwrapped.dataset.item_genres")
        genres = np.asarray(data.item_genres, dtype=np.float32)[1:]
        if genres.shape[0] != int(self.action_space.n):  # type: ignore[attr-defined]
            raise ValueError("the dataset's item_genres do not match the action space")
        return genres

    # ------------------------------------------------------------------ acting
    def _random_allowed(self, masks: NDArray[np.bool_] | None, n: int) -> NDArray[np.int64]:
        """Uniform random allowed actions for ``n`` rows (rejection sampling, then exact)."""
        n_actions = int(self.action_space.n)  # type: ignore[attr-defined]
        acts = self.rng.integers(0, n_actions, size=n)
        if masks is None:
            return acts
        rows = np.arange(n)
        for _ in range(16):  # masks are sparse: one or two rounds almost always suffice
            bad = ~masks[rows, acts]
            if not bad.any():
                return acts
            acts[bad] = self.rng.integers(0, n_actions, size=int(bad.sum()))
        for j in np.flatnonzero(~masks[rows, acts]):
            allowed = np.flatnonzero(masks[j])
            if allowed.size:
                acts[j] = self.rng.choice(allowed)
        return acts

    def _act(
        self, obs: NDArray[Any], masks: NDArray[np.bool_] | None, eps: float
    ) -> NDArray[np.int64]:
        """Epsilon-greedy allowed actions for a batch."""
        t, _ = self.policy.obs_to_tensor(obs)
        actions = self.policy.greedy(t, masks)
        if eps > 0:
            explore: NDArray[np.bool_] = self.rng.random(size=(actions.shape[0],)) < eps
            if explore.any():
                sub = None if masks is None else masks[explore]
                actions[explore] = self._random_allowed(sub, int(explore.sum()))
        return actions

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

    def _make_buffer(self, positions: NDArray[np.int64] | None) -> MaskedReplayBuffer:
        """Create the replay buffer, choosing how next-state masks are stored."""
        assert self._mask_source is not None
        src = self._mask_source
        storage = self.mask_storage
        if storage == "auto":
            if not src.available:
                storage = "none"
            elif src.check_rebuilder(positions):
                storage = "position"
            else:
                storage = "packed"
        elif storage == "position" and not src.check_rebuilder(positions):
            raise ValueError(
                'mask_storage="position" but the env cannot rebuild its action masks from '
                'info["position"]; use "packed" or "auto"'
            )
        elif storage == "packed" and not src.available:
            raise ValueError('mask_storage="packed" but the env has no action_masks()')
        self._resolved_mask_storage = storage
        obs_space = self.observation_space
        return MaskedReplayBuffer(
            self.buffer_size,
            tuple(obs_space.shape or ()),
            obs_space.dtype or np.float32,
            int(self.action_space.n),  # type: ignore[attr-defined]
            mask_storage=storage,
            rebuilder=src.rebuilder if storage == "position" else None,
        )

    def _collect_step(self) -> tuple[NDArray[Any], NDArray[Any], NDArray[np.bool_], Any]:
        """One vector-env step: act, store the valid transitions, track episodes."""
        assert self.env is not None and self._mask_source is not None
        assert self.replay_buffer is not None and self._needs_reset is not None
        assert self._ep_rewards is not None and self._ep_lengths is not None
        use_masks = self._resolved_mask_storage != "none"
        masks = self._last_masks if use_masks else None
        obs = self._last_obs
        assert obs is not None
        actions = self._act(obs, masks, self.exploration_rate)
        new_obs, rewards, terminated, truncated, infos = self.env.step(actions)
        dones = np.logical_or(terminated, truncated)
        next_masks = self._mask_source.current() if use_masks else None
        # Next-step autoreset: a step right after an episode end only resets; skip it.
        valid = ~self._needs_reset
        next_obs = np.array(new_obs, copy=True)
        positions = info_positions(infos, self.n_envs)
        same_step = autoreset_mode(self.env) == AutoresetMode.SAME_STEP
        if same_step and dones.any():
            final_obs = infos.get("final_obs")
            final_info = infos.get("final_info", {})
            for i in np.flatnonzero(dones):
                if final_obs is not None:
                    next_obs[i] = final_obs[i]
                if positions is not None and "position" in final_info:
                    positions[i] = int(final_info["position"][i])
                if next_masks is not None and self._resolved_mask_storage == "packed":
                    # The final state's mask is gone after the reset; only truncated
                    # episodes bootstrap from it, and then over every action.
                    next_masks[i] = True
        if valid.any():
            sel = np.flatnonzero(valid)
            self.replay_buffer.add(
                obs[sel],
                actions[sel],
                np.asarray(rewards, dtype=np.float32)[sel],
                next_obs[sel],
                np.asarray(terminated, dtype=bool)[sel],
                None if positions is None else positions[sel],
                None if next_masks is None else next_masks[sel],
            )
        self._ep_rewards[valid] += np.asarray(rewards)[valid]
        self._ep_lengths[valid] += 1
        for i in np.flatnonzero(dones & valid):
            self.ep_info_buffer.append(
                {"r": float(self._ep_rewards[i]), "l": int(self._ep_lengths[i])}
            )
            self._ep_rewards[i] = 0.0
            self._ep_lengths[i] = 0
            self._episode_num += 1
        self._needs_reset = dones if not same_step else np.zeros_like(dones)
        self._last_obs = new_obs
        self._last_masks = next_masks
        self.num_timesteps += int(valid.sum())
        return new_obs, np.asarray(rewards), dones, infos

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
        """``r + gamma * (1 - terminated) * max_{a' allowed in s'} Q_target(s', a')``."""
        rewards = torch.as_tensor(batch.rewards, device=self.device)
        if self.gamma == 0:
            return rewards
        next_obs = torch.as_tensor(batch.next_observations, device=self.device).float()
        masks = None
        if batch.next_masks is not None:
            masks = torch.as_tensor(batch.next_masks, device=self.device)
        next_q = masked_max(self.policy.q_net_target(next_obs), masks)
        term = torch.as_tensor(batch.terminated, device=self.device)
        return rewards + (1.0 - term) * self.gamma * next_q

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

    # ------------------------------------------------------------------ persistence
    def _hyperparameters(self) -> dict[str, Any]:
        hp = {k: getattr(self, k) for k in _HYPERPARAMETERS}
        if callable(hp["learning_rate"]):
            hp["learning_rate"] = float(self.lr_schedule(self._current_progress_remaining))
        return hp

    def save(self, path: str | os.PathLike[str]) -> None:
        """Save hyperparameters, spaces and weights (no pickled code), atomically.

        Args:
            path: Destination; ``.zip`` is appended when missing (as SB3).
        """
        policy_kwargs = dict(self.policy.net_kwargs)
        data = {
            "class": type(self).__name__,
            "policy": self.policy_name,
            "hyperparameters": self._hyperparameters(),
            "policy_kwargs": policy_kwargs,
            "observation_space": _space_to_json(self.observation_space),
            "action_space": _space_to_json(self.action_space),
            "num_timesteps": int(self.num_timesteps),
            "n_updates": int(self._n_updates),
            "exploration_rate": float(self.exploration_rate),
            "seed": self.seed,
            "torch_version": torch.__version__,
        }
        tensors = {
            "q_net": self.policy.q_net.state_dict(),
            "q_net_target": self.policy.q_net_target.state_dict(),
            "optimizer": self.optimizer.state_dict(),
        }
        save_checkpoint(path, data, tensors)

    @classmethod
    def load(
        cls: type[SelfDQN],
        path: str | os.PathLike[str],
        env: gym.Env[Any, Any] | VectorEnv[Any, Any, Any] | str | None = None,
        device: torch.device | str = "auto",
        **kwargs: Any,
    ) -> SelfDQN:
        """Load a model saved with :meth:`save` (tensors read with ``weights_only=True``).

        Args:
            path: The checkpoint.
            env: Env to continue training or evaluating on; its spaces must match.
            device: Device of the loaded model.
            **kwargs: Override saved hyperparameters (e.g. ``learning_starts=0``).

        Returns:
            The model.

        Raises:
            ValueError: If the file is not a DQN checkpoint or the env does not match.
        """
        data, tensors = load_checkpoint(path, device="cpu")
        if data.get("class") != "DQN":
            raise ValueError(f"{path} holds a {data.get('class')!r}, not a DQN")
        obs_space = _space_from_json(data["observation_space"])
        act_space = _space_from_json(data["action_space"])
        if env is not None:
            venv = as_vector_env(env)
            for mine, theirs in (
                (obs_space, venv.single_observation_space),
                (act_space, venv.single_action_space),
            ):
                if not _same_space(mine, theirs):
                    raise ValueError(f"env space {theirs} does not match the saved {mine}")
            env = venv
        policy = data["policy"]
        if policy not in POLICY_ALIASES:
            raise ValueError(f"{path}: unknown policy {policy!r}")
        policy_kwargs = dict(data["policy_kwargs"])
        policy_kwargs["warm_start"] = False  # weights come from the file
        hp = {**data["hyperparameters"], **kwargs}
        model = cls(
            policy,
            env,
            policy_kwargs=policy_kwargs,
            seed=data.get("seed"),
            device=device,
            _spaces=(obs_space, act_space),
            **hp,
        )
        model.policy.net_kwargs["warm_start"] = bool(data["policy_kwargs"].get("warm_start"))
        model.policy.q_net.load_state_dict(tensors["q_net"])
        model.policy.q_net_target.load_state_dict(tensors["q_net_target"])
        if "optimizer" in tensors:
            model.optimizer.load_state_dict(tensors["optimizer"])
        model.policy.to(model.device)
        model.num_timesteps = int(data.get("num_timesteps", 0))
        model._n_updates = int(data.get("n_updates", 0))
        model.exploration_rate = float(data.get("exploration_rate", model.exploration_rate))
        return model


def linear_schedule(start: float, end: float = 0.0) -> Callable[[float], float]:
    """SB3-style learning-rate schedule from ``start`` to ``end`` over training."""
    return LinearSchedule(start, end, 1.0)
