"""Helpers shared by the agents: vector-env glue, a masked replay buffer, data-only checkpoints."""

from agents.common.buffers import MaskedReplayBuffer, ReplaySamples
from agents.common.envs import ActionMaskSource, as_vector_env, get_action_masks
from agents.common.serialization import load_checkpoint, save_checkpoint

__all__ = [
    "ActionMaskSource",
    "MaskedReplayBuffer",
    "ReplaySamples",
    "as_vector_env",
    "get_action_masks",
    "load_checkpoint",
    "save_checkpoint",
]
