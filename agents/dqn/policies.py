"""Q-networks and the DQN policy: an MLP state tower scored against an item embedding table.

``Q(s, a) = f(s) · e_a + b_a`` with ``f`` an MLP of the observation, ``e_a`` a row of an
item embedding table ``E (n_actions, embed_dim)`` and ``b_a`` a per-item bias. SB3's
``QNetwork`` ends in ``Linear(hidden, n_actions)``, which is the same form with
``embed_dim = hidden`` and nothing else; what this module adds (and why it is written by
hand):

* ``embed_dim`` decoupled from the hidden width, so a catalogue of tens of thousands of
  items costs ``n_items x embed_dim`` parameters, not ``n_items x hidden``;
* :meth:`ItemEmbeddingQNetwork.q_selected` scores only the actions in a batch
  (``O(B·d)``) for the TD update, instead of all ``n_items`` (``O(B·n·d)``) as SB3 does
  before its ``gather``;
* a warm start of ``E`` and ``b`` from a frozen encoder's linear head (MovieRec's
  ``HybridEncoder.item_matrix()`` / ``item_bias()``), so the Q-head starts from item
  representations that already encode genres and co-occurrence.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from numpy.typing import NDArray
from torch import nn

__all__ = [
    "ACTIVATIONS",
    "ENCODER_PROBS",
    "POLICY_ALIASES",
    "DQNPolicy",
    "ItemEmbeddingQNetwork",
    "activation_name",
    "masked_argmax",
    "masked_max",
]

#: Values of ``policy_kwargs["encoder_prob"]``: how the encoder head's ``beta`` term reads
#: the frozen encoder's next-movie distribution. ``"absolute"``: ``p(a|s)`` (the expected
#: hit when the reward is "the user's logged next movie", MovieRec-v0); ``"relative"``:
#: ``p(a|s) / max_a' p(a'|s)`` in ``[0, 1]`` (how close ``a`` is to the user's most likely
#: next movie; on the simulator the chance a recommendation is taken grows with it, and a
#: scalar starting at 0 reaches the needed weight in a few hundred Adam steps, where
#: ``p(a|s)`` itself is at most a few percent over thousands of movies); ``"log"``:
#: ``log(p(a|s) / max_a' p(a'|s))`` in ``[LOG_FLOOR, 0]`` (the same, on a log scale, like
#: LinUCB's log-probability feature).
ENCODER_PROBS: tuple[str, ...] = ("absolute", "relative", "log")
#: Lower clip of the ``"log"`` encoder score.
LOG_FLOOR = -20.0

#: Activation names accepted in ``policy_kwargs["activation_fn"]`` (saved as names, never code).
ACTIVATIONS: dict[str, type[nn.Module]] = {
    "ReLU": nn.ReLU,
    "Tanh": nn.Tanh,
    "GELU": nn.GELU,
    "ELU": nn.ELU,
    "SiLU": nn.SiLU,
    "LeakyReLU": nn.LeakyReLU,
}


def activation_name(fn: str | type[nn.Module]) -> str:
    """Canonical name of an activation given as a name or an ``nn.Module`` class."""
    name = fn if isinstance(fn, str) else fn.__name__
    if name not in ACTIVATIONS:
        raise ValueError(f"activation_fn must be one of {sorted(ACTIVATIONS)}, got {name!r}")
    return name


class ItemEmbeddingQNetwork(nn.Module):
    """``Q(s, a) = v(s) + f(s) · e_a + b_a`` over a ``Discrete(n_actions)`` action space.

    Args:
        obs_dim: Size of the (flat) observation.
        n_actions: Number of actions (items).
        net_arch: Hidden layer widths of the state tower ``f``.
        embed_dim: Width of ``f(s)`` and of the item embeddings; ``None`` means the last
            hidden width (then the head is exactly SB3's output layer).
        activation_fn: Activation name or class (see :data:`ACTIVATIONS`).
        item_embeddings: Optional ``(n_actions, embed_dim)`` initial item table.
        item_bias: Optional ``(n_actions,)`` initial item bias.
        freeze_items: Keep the item table and bias fixed (only ``f`` learns).
        n_item_features: Width of fixed item features ``F`` appended to the table
            (``Q = f(s) · [e_a; F_a] + b_a``), e.g. L2-normalised genre vectors: the genre
            reward ``cos(g_a, g_next)`` is linear in ``F_a``, so the state tower only has to
            predict the next movie's expected normalised genres.
        item_features: The ``(n_actions, n_item_features)`` features (zeros when loading:
            they come from the saved weights).
    """

    def __init__(
        self,
        obs_dim: int,
        n_actions: int,
        net_arch: list[int] | tuple[int, ...] = (256,),
        embed_dim: int | None = 64,
        activation_fn: str | type[nn.Module] = "ReLU",
        item_embeddings: NDArray[np.floating] | torch.Tensor | None = None,
        item_bias: NDArray[np.floating] | torch.Tensor | None = None,
        freeze_items: bool = False,
        n_item_features: int = 0,
        item_features: NDArray[np.floating] | None = None,
        encoder_head: bool = False,
        encoder_matrix: NDArray[np.floating] | None = None,
        encoder_bias: NDArray[np.floating] | None = None,
        residual: bool = True,
        encoder_prob: str = "absolute",
        state_scales: bool = False,
    ) -> None:
        super().__init__()
        if state_scales and not encoder_head:
            raise ValueError("state_scales=True needs encoder_head=True (it scales its terms)")
        if encoder_prob not in ENCODER_PROBS:
            raise ValueError(f"encoder_prob must be one of {ENCODER_PROBS}, got {encoder_prob!r}")
        self.encoder_prob = encoder_prob
        act = ACTIVATIONS[activation_name(activation_fn)]
        layers: list[nn.Module] = []
        width = obs_dim
        for h in net_arch:
            layers += [nn.Linear(width, int(h)), act()]
            width = int(h)
        head: nn.Module = nn.Identity()
        if embed_dim is None:
            embed_dim = width
            if n_item_features:
                head = nn.Linear(width, embed_dim + int(n_item_features))
        else:
            head = nn.Linear(width, int(embed_dim) + int(n_item_features))
        self.embed_dim = int(embed_dim)
        self.head = head
        # A state value v(s): rewards have state-only parts (MovieRec's rating term), which a
        # pure dot product f(s)·e_a could only fit through a shared item direction.
        self.value = nn.Linear(width, 1)
        feats = torch.zeros(n_actions, int(n_item_features))
        if item_features is not None:
            feats = torch.as_tensor(np.asarray(item_features), dtype=torch.float32)
            if tuple(feats.shape) != (n_actions, int(n_item_features)):
                raise ValueError(
                    f"item_features must have shape ({n_actions}, {n_item_features}), "
                    f"got {tuple(feats.shape)}"
                )
        self.item_features: torch.Tensor
        self.register_buffer("item_features", feats)
        # Frozen encoder head (optional): logits l(s) = obs @ M.T + c of the encoder's
        # next-item distribution p(.|s) = softmax(l(s)). Two terms with learned scalars
        # (starting at 0) use it: alpha * F_a · (p(.|s) @ F) (the item features' expected
        # value under p, e.g. the next movie's expected genre vector) and beta * p(a|s).
        self.encoder_head = bool(encoder_head)
        self.enc_matrix: torch.Tensor
        self.enc_bias: torch.Tensor
        self.register_buffer("enc_matrix", torch.zeros(n_actions if encoder_head else 0, obs_dim))
        self.register_buffer("enc_bias", torch.zeros(n_actions if encoder_head else 0))
        self.enc_scales = nn.Parameter(torch.zeros(2), requires_grad=self.encoder_head)
        # Optional state-dependent part of (alpha, beta): a linear map of the tower's hidden
        # layer, zero at the start. Without it the action-dependent part of Q is the same
        # blend of the item features for every state, so no discount can change the policy
        # beyond that blend's two weights.
        self.scale_head: nn.Module | None = None
        if state_scales:
            self.scale_head = nn.Linear(width, 2)
            nn.init.zeros_(self.scale_head.weight)
            nn.init.zeros_(self.scale_head.bias)
        if not residual:
            # No state-dependent item scores f(s): only v(s) and the encoder terms learn.
            if not (freeze_items and encoder_head):
                raise ValueError("residual=False needs encoder_head=True and freeze_items=True")
            self.head.requires_grad_(False)
        if encoder_head and encoder_matrix is not None:
            with torch.no_grad():
                self.enc_matrix.copy_(torch.as_tensor(np.asarray(encoder_matrix)))
                self.enc_bias.copy_(torch.as_tensor(np.asarray(encoder_bias)))
        self.n_actions = int(n_actions)
        self.tower = nn.Sequential(*layers) if layers else nn.Identity()
        self.item_embeddings = nn.Parameter(torch.empty(n_actions, self.embed_dim))
        self.item_bias = nn.Parameter(torch.zeros(n_actions))
        # Q uses ``bias_scale * b_a``: 1 and fixed for a learned bias; with a frozen item
        # table (e.g. the encoder's popularity-like bias) a learned scalar starting at 0, so
        # the frozen bias enters Q only as far as the rewards support it.
        self.bias_scale = nn.Parameter(torch.tensor(0.0 if freeze_items else 1.0))
        self.bias_scale.requires_grad_(bool(freeze_items))
        nn.init.normal_(self.item_embeddings, std=1.0 / np.sqrt(max(self.embed_dim, 1)))
        if item_embeddings is not None:
            emb = torch.as_tensor(np.asarray(item_embeddings), dtype=torch.float32)
            if tuple(emb.shape) != (n_actions, self.embed_dim):
                raise ValueError(
                    f"item_embeddings must have shape ({n_actions}, {self.embed_dim}), "
                    f"got {tuple(emb.shape)}"
                )
            with torch.no_grad():
                self.item_embeddings.copy_(emb)
        if item_bias is not None:
            b = torch.as_tensor(np.asarray(item_bias), dtype=torch.float32)
            if tuple(b.shape) != (n_actions,):
                raise ValueError(f"item_bias must have shape ({n_actions},), got {tuple(b.shape)}")
            with torch.no_grad():
                self.item_bias.copy_(b)
        if freeze_items:
            self.item_embeddings.requires_grad_(False)
            self.item_bias.requires_grad_(False)
            # Start Q at v(s) alone: a random head over a frozen table would start with
            # large arbitrary item scores that the first updates must unlearn.
            if isinstance(self.head, nn.Linear):
                nn.init.zeros_(self.head.weight)
                nn.init.zeros_(self.head.bias)

    def features(self, obs: torch.Tensor) -> torch.Tensor:
        """State embedding ``f(s)``, shape ``(B, embed_dim)``."""
        out: torch.Tensor = self.head(self.tower(obs.flatten(1)))
        return out

    def _hidden(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``f(s)``, ``v(s)`` and the encoder terms' weights ``(B, 2)`` (or ``(2,)``)."""
        h = self.tower(obs.flatten(1))
        scales = self.enc_scales
        if self.scale_head is not None:
            scales = scales + self.scale_head(h)
        return self.head(h), self.value(h), scales

    def _encoder_probs(self, obs: torch.Tensor) -> torch.Tensor:
        """The frozen encoder's next-item distribution ``p(.|s)``, ``(B, n_actions)``."""
        logits = torch.addmm(self.enc_bias, obs.flatten(1), self.enc_matrix.t())
        return torch.softmax(logits, dim=1)

    def _encoder_score(self, p: torch.Tensor) -> torch.Tensor:
        """The term ``beta`` multiplies: ``p(a|s)``, or ``p(a|s) / max_a' p(a'|s)``."""
        if self.encoder_prob == "relative":
            return p / p.max(dim=1, keepdim=True).values
        if self.encoder_prob == "log":
            top = p.max(dim=1, keepdim=True).values
            return torch.log(p.clamp_min(1e-30) / top).clamp_min(LOG_FLOOR)
        return p

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """Q-values of every action, shape ``(B, n_actions)``."""
        f, v, scales = self._hidden(obs)
        q = torch.addmm(self.bias_scale * self.item_bias, f, self.item_table().t()) + v
        if self.encoder_head:
            p = self._encoder_probs(obs)
            feats = self.item_features
            score = self._encoder_score(p)
            alpha, beta = scales[..., 0:1], scales[..., 1:2]
            q = q + alpha * ((p @ feats) @ feats.t()) + beta * score
        return q

    def item_table(self) -> torch.Tensor:
        """``[E | F]``, shape ``(n_actions, embed_dim + n_item_features)``."""
        if self.item_features.shape[1] == 0:
            return self.item_embeddings
        return torch.cat([self.item_embeddings, self.item_features], dim=1)

    def q_selected(self, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """Q-values of the given actions only, shape ``(B,)`` (no full catalogue scoring)."""
        f, v, scales = self._hidden(obs)
        rows = self.item_embeddings[actions]
        if self.item_features.shape[1]:
            rows = torch.cat([rows, self.item_features[actions]], dim=1)
        q = (f * rows).sum(dim=1) + self.bias_scale * self.item_bias[actions] + v[:, 0]
        if self.encoder_head:
            p = self._encoder_probs(obs)
            feats = self.item_features
            expected = ((p @ feats) * feats[actions]).sum(dim=1)
            p_a = self._encoder_score(p).gather(1, actions[:, None])[:, 0]
            q = q + scales[..., 0] * expected + scales[..., 1] * p_a
        return q


def masked_argmax(q: torch.Tensor, masks: torch.Tensor | None) -> torch.Tensor:
    """Greedy actions among the allowed ones (row with nothing allowed: action 0)."""
    if masks is None:
        return q.argmax(dim=1)
    return q.masked_fill(~masks, -torch.inf).argmax(dim=1)


def masked_max(q: torch.Tensor, masks: torch.Tensor | None) -> torch.Tensor:
    """Max Q over allowed actions (0 where nothing is allowed)."""
    if masks is None:
        return q.max(dim=1).values
    best = q.masked_fill(~masks, -torch.inf).max(dim=1).values
    return torch.where(torch.isfinite(best), best, torch.zeros_like(best))


class DQNPolicy(nn.Module):
    """Online and target Q-networks plus greedy (masked) action selection.

    Args:
        observation_space: A ``Box`` observation space.
        action_space: A ``Discrete`` action space.
        net_arch: Hidden widths of the state tower.
        embed_dim: Item embedding width (``None``: last hidden width).
        activation_fn: Activation name or class.
        warm_start: Documented in :class:`~agents.dqn.DQN`; resolved there into
            ``item_embeddings`` / ``item_bias``.
        genre_features: Documented in :class:`~agents.dqn.DQN`; resolved there into
            ``item_features``.
        n_item_features: Width of the fixed item features.
        freeze_items: Keep the item table fixed.
        item_embeddings: Initial item table (not saved in the config: it lives in the weights).
        item_bias: Initial item bias.
        item_features: Fixed item features ``(n_actions, n_item_features)``.
    """

    def __init__(
        self,
        observation_space: spaces.Space[Any],
        action_space: spaces.Space[Any],
        net_arch: list[int] | tuple[int, ...] = (256,),
        embed_dim: int | None = 64,
        activation_fn: str | type[nn.Module] = "ReLU",
        warm_start: bool = False,
        freeze_items: bool = False,
        genre_features: bool = False,
        n_item_features: int = 0,
        encoder_head: bool = False,
        residual: bool = True,
        encoder_prob: str = "absolute",
        state_scales: bool = False,
        item_embeddings: NDArray[np.floating] | None = None,
        item_bias: NDArray[np.floating] | None = None,
        item_features: NDArray[np.floating] | None = None,
        encoder_matrix: NDArray[np.floating] | None = None,
        encoder_bias: NDArray[np.floating] | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(observation_space, spaces.Box):
            raise TypeError(f"DQN needs a Box observation space, got {observation_space}")
        if not isinstance(action_space, spaces.Discrete):
            raise TypeError(f"DQN needs a Discrete action space, got {action_space}")
        self.observation_space = observation_space
        self.action_space = action_space
        self.obs_dim = int(np.prod(observation_space.shape))
        self.n_actions = int(action_space.n)
        self.net_kwargs: dict[str, Any] = {
            "net_arch": [int(h) for h in net_arch],
            "embed_dim": None if embed_dim is None else int(embed_dim),
            "activation_fn": activation_name(activation_fn),
            "warm_start": bool(warm_start),
            "freeze_items": bool(freeze_items),
            "genre_features": bool(genre_features),
            "n_item_features": int(n_item_features),
            "encoder_head": bool(encoder_head),
            "residual": bool(residual),
            "encoder_prob": str(encoder_prob),
            "state_scales": bool(state_scales),
        }
        kw = {k: v for k, v in self.net_kwargs.items() if k not in ("warm_start", "genre_features")}
        self.q_net = ItemEmbeddingQNetwork(
            self.obs_dim,
            self.n_actions,
            item_embeddings=item_embeddings,
            item_bias=item_bias,
            item_features=item_features,
            encoder_matrix=encoder_matrix,
            encoder_bias=encoder_bias,
            **kw,
        )
        self.q_net_target = ItemEmbeddingQNetwork(self.obs_dim, self.n_actions, **kw)
        self.q_net_target.load_state_dict(self.q_net.state_dict())
        self.q_net_target.requires_grad_(False)

    @property
    def device(self) -> torch.device:
        """Device of the parameters."""
        return self.q_net.item_bias.device

    def obs_to_tensor(self, obs: NDArray[Any]) -> tuple[torch.Tensor, bool]:
        """Batch an observation; returns ``(tensor (B, obs_dim), was_batched)``."""
        arr = np.asarray(obs, dtype=np.float32)
        shape = tuple(self.observation_space.shape)
        if arr.shape == shape:
            return torch.as_tensor(arr, device=self.device).reshape(1, -1), False
        if arr.shape[1:] == shape:
            return torch.as_tensor(arr, device=self.device).reshape(arr.shape[0], -1), True
        raise ValueError(f"observation has shape {arr.shape}; expected {shape} or (B, *{shape})")

    @torch.no_grad()
    def q_values(self, obs: NDArray[Any]) -> NDArray[np.float32]:
        """Q-values of every action, ``(B, n_actions)`` (``(n_actions,)`` for one obs)."""
        t, batched = self.obs_to_tensor(obs)
        q = self.q_net(t).cpu().numpy()
        return q if batched else q[0]

    @torch.no_grad()
    def greedy(self, obs: torch.Tensor, masks: NDArray[np.bool_] | None) -> NDArray[np.int64]:
        """Greedy allowed actions for a batch of observations."""
        m = None if masks is None else torch.as_tensor(masks, device=self.device)
        return masked_argmax(self.q_net(obs), m).cpu().numpy()


#: Policy names accepted by :class:`agents.DQN` (SB3's alias convention).
POLICY_ALIASES: dict[str, type[DQNPolicy]] = {"MlpPolicy": DQNPolicy}
