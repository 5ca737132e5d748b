"""Stable-Baselines3-style agents: the DQN, the baselines and the Recommender."""
