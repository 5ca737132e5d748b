"""Sequential movie recommendation on MovieLens as a Gymnasium benchmark.

Importing the package registers ``MovieRec-v0`` (string entry points: nothing heavy, no
torch, is imported until an env is made)::

    import gymnasium as gym
    import movierec_env  # noqa: F401  (or gym.make("movierec_env:MovieRec-v0"))

    env = gym.make("MovieRec-v0")
    envs = gym.make_vec("MovieRec-v0", num_envs=64)  # native batched numpy env
"""

from gymnasium.envs.registration import register, registry

__version__ = "0.1.0"

ENV_ID = "MovieRec-v0"

if ENV_ID not in registry:
    register(
        id=ENV_ID,
        entry_point="movierec_env.env:MovieRecEnv",
        vector_entry_point="movierec_env.vector_env:MovieRecVectorEnv",
        kwargs={},
    )

__all__ = ["ENV_ID", "__version__"]
