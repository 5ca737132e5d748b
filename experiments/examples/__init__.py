"""Examples to read top to bottom: SB3 PPO on MovieRec-v0, comparing agents, offline-RL export.

Run each as a script, e.g. ``python -m experiments.examples.train_sb3_ppo --quick``.
"""

__all__ = []
