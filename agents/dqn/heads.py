"""How the DQN's Q-head is put together from the env: warm start, item features, encoder head.

Everything the head takes from a MovieRec env comes through the env contract
(:class:`movierec_env.RecEnv`): the frozen encoder's linear head (``item_matrix()`` /
``item_bias()``) and the item side information in the reward's own normalisation
(``item_features.action_features()``: unit genre rows and the rating term). Any other env
gets the plain MLP head.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from movierec_env.contract import RecEnv

__all__ = [
    "DEFAULT_POLICY_KWARGS",
    "ENCODER_HEAD_DEFAULTS",
    "build_policy_kwargs",
    "checked_encoder",
]

#: Policy settings used unless ``policy_kwargs`` overrides them (see :class:`agents.DQN`).
DEFAULT_POLICY_KWARGS: dict[str, Any] = {"encoder_head": "auto"}

#: Settings implied by ``encoder_head=True`` unless given: the Q-head is built from fixed
#: item features and the frozen encoder only, no free per-movie parameters (docs/dqn.md).
ENCODER_HEAD_DEFAULTS: dict[str, Any] = {
    "genre_features": True,
    "embed_dim": 0,
    "warm_start": False,
    "freeze_items": True,
}


def checked_encoder(contract: RecEnv | None, n_actions: int) -> Any:
    """The env's frozen encoder, checked against the action space.

    Raises:
        ValueError: If there is no MovieRec env or its encoder does not fit the actions.
    """
    if contract is None:
        raise ValueError(
            "warm_start / encoder_head need a MovieRec env (movierec_env.RecEnv) with a "
            "frozen encoder exposing item_matrix()/item_bias()"
        )
    enc = contract.encoder
    rows = enc.item_matrix().shape[0]
    if rows != n_actions + 1:
        raise ValueError(f"encoder has {rows - 1} items but the env {n_actions} actions")
    return enc


def _has_encoder(contract: RecEnv | None, n_actions: int) -> bool:
    try:
        checked_encoder(contract, n_actions)
    except ValueError:
        return False
    return True


def _has_genres(contract: RecEnv | None, n_actions: int) -> bool:
    if contract is None:
        return False
    return int(contract.item_features.genre_matrix.shape[0]) == n_actions + 1


def _finite_bias(bias: NDArray[np.float32]) -> NDArray[np.float32]:
    """Padding's ``-inf`` (and any non-finite entry) replaced by the smallest finite bias."""
    return np.where(np.isfinite(bias), bias, np.nanmin(bias[np.isfinite(bias)]))


def resolve_auto(
    policy_kwargs: dict[str, Any], contract: RecEnv | None, n_actions: int, has_env: bool
) -> dict[str, Any]:
    """``policy_kwargs`` over :data:`DEFAULT_POLICY_KWARGS`, ``"auto"`` values resolved.

    ``encoder_head="auto"``: on when the env has a frozen encoder and genres;
    ``warm_start="auto"``: when it has an encoder; ``genre_features="auto"``: when it has
    genres; ``freeze_items`` defaults to ``warm_start``.

    Raises:
        ValueError: On contradictory settings or an env without what they need.
    """
    kwargs = {**DEFAULT_POLICY_KWARGS, **policy_kwargs}
    if kwargs.get("encoder_head") == "auto":
        kwargs["encoder_head"] = _has_encoder(contract, n_actions) and _has_genres(
            contract, n_actions
        )
    if kwargs["encoder_head"]:
        if has_env:
            checked_encoder(contract, n_actions)  # a clear error when the env has none
        kwargs = {**ENCODER_HEAD_DEFAULTS, **kwargs}
    if kwargs.get("warm_start") == "auto":
        kwargs["warm_start"] = _has_encoder(contract, n_actions)
    if kwargs.get("genre_features") == "auto":
        kwargs["genre_features"] = bool(kwargs.get("n_item_features")) or _has_genres(
            contract, n_actions
        )
    if kwargs["encoder_head"] and not kwargs.get("genre_features"):
        raise ValueError("encoder_head=True needs genre_features=True (the item features)")
    if kwargs.get("popularity_feature") and not kwargs.get("genre_features"):
        raise ValueError("popularity_feature=True needs genre_features=True (the item features)")
    if kwargs.get("freeze_items") is None:
        kwargs["freeze_items"] = bool(kwargs.get("warm_start", False))
    return kwargs


def build_policy_kwargs(
    policy_kwargs: dict[str, Any], contract: RecEnv | None, n_actions: int, has_env: bool
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Resolve ``policy_kwargs`` and add the arrays the head is built from.

    Args:
        policy_kwargs: The user's ``policy_kwargs``.
        contract: The env's contract (``None`` for a non-MovieRec env or when loading).
        n_actions: Size of the action space.
        has_env: Whether the model has an env (loading without one skips env arrays;
            the weights come from the checkpoint).

    Returns:
        ``(resolved, kwargs)``: the user's keys with ``"auto"`` resolved (what is saved),
        and every keyword argument of the policy.
    """
    kwargs = resolve_auto(policy_kwargs, contract, n_actions, has_env)
    resolved = {k: kwargs[k] for k in policy_kwargs}
    popularity = bool(kwargs.pop("popularity_feature", False))
    if kwargs.pop("warm_start", False):
        enc = checked_encoder(contract, n_actions)
        matrix = np.asarray(enc.item_matrix(), dtype=np.float32)[1:]
        bias = _finite_bias(np.asarray(enc.item_bias(), dtype=np.float32)[1:])
        kwargs.update(warm_start=True, embed_dim=matrix.shape[1])
        if kwargs.get("freeze_items"):
            # Frozen: the encoder's own head, so f(s) = obs reproduces its logits.
            kwargs.update(item_embeddings=matrix, item_bias=bias - bias.mean())
        else:
            scaled = matrix / (matrix.std() + 1e-8) / np.sqrt(matrix.shape[1])
            kwargs.update(item_embeddings=scaled, item_bias=np.zeros_like(bias))
    if kwargs.get("genre_features") and not kwargs.get("n_item_features"):
        if not _has_genres(contract, n_actions):
            raise ValueError("genre_features=True needs a MovieRec env whose items have genres")
        assert contract is not None
        feats = contract.item_features.action_features(np.float32)
        if popularity:  # one more fixed column: the training-popularity rank in [0, 1]
            rank = contract.item_features.popularity_rank().astype(np.float32)
            feats = np.concatenate([feats, rank[:, None]], axis=1)
        kwargs.update(item_features=feats, n_item_features=feats.shape[1])
    if kwargs.get("encoder_head") and "encoder_matrix" not in kwargs and has_env:
        enc = checked_encoder(contract, n_actions)
        kwargs.update(
            encoder_matrix=np.asarray(enc.item_matrix(), dtype=np.float32)[1:],
            encoder_bias=_finite_bias(np.asarray(enc.item_bias(), dtype=np.float32)[1:]),
        )
    return resolved, kwargs
