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
    """``Q(s, a) = f(s) · e_a + b_a`` over a ``Discrete(n_actions)`` action space.

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
    ) -> None:
        super().__init__()
        act = ACTIVATIONS[activation_name(activation_fn)]
        layers: list[nn.Module] = []
        width = obs_dim
        for h in net_arch:
            layers += [nn.Linear(width, int(h)), act()]
            width = int(h)
        if embed_dim is None:
            embed_dim = width
        else:
            layers.append(nn.Linear(width, int(embed_dim)))
        self.embed_dim = int(embed_dim)
        self.n_actions = int(n_actions)
        self.tower = nn.Sequential(*layers)
        self.item_embeddings = nn.Parameter(torch.empty(n_actions, self.embed_dim))
        self.item_bias = nn.Parameter(torch.zeros(n_actions))
        nn.init.normal_(self.item_embeddings, std=1.0 / np.sqrt(self.embed_dim))
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

    def features(self, obs: torch.Tensor) -> torch.Tensor:
        """State embedding ``f(s)``, shape ``(B, embed_dim)``."""
        out: torch.Tensor = self.tower(obs.flatten(1))
        return out

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """Q-values of every action, shape ``(B, n_actions)``."""
        return torch.addmm(self.item_bias, self.features(obs), self.item_embeddings.t())

    def q_selected(self, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """Q-values of the given actions only, shape ``(B,)`` (no full catalogue scoring)."""
        f = self.features(obs)
        return (f * self.item_embeddings[actions]).sum(dim=1) + self.item_bias[actions]


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
        freeze_items: Keep the item table fixed.
        item_embeddings: Initial item table (not saved in the config: it lives in the weights).
        item_bias: Initial item bias.
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
        item_embeddings: NDArray[np.floating] | None = None,
        item_bias: NDArray[np.floating] | None = None,
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
        }
        kw = {k: v for k, v in self.net_kwargs.items() if k != "warm_start"}
        self.q_net = ItemEmbeddingQNetwork(
            self.obs_dim, self.n_actions, item_embeddings=item_embeddings, item_bias=item_bias, **kw
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
