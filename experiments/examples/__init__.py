"""Examples to read top to bottom: coursework (candidate mode), SB3 PPO, comparisons, offline RL.

Run each as a script, e.g. ``python -m experiments.examples.train_sb3_ppo --quick``.
"""

__all__ = []
