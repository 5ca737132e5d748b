"""DQN (Mnih et al. 2015) with action masking and an item-embedding Q-head; SB3's API."""

from agents.dqn.dqn import DQN, linear_schedule
from agents.dqn.policies import DQNPolicy, ItemEmbeddingQNetwork

__all__ = ["DQN", "DQNPolicy", "ItemEmbeddingQNetwork", "linear_schedule"]
