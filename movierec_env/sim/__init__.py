"""The simulated user ("world"): a response model fitted on MovieLens training logs.

    from movierec_env.data import load_dataset
    from movierec_env.sim import default_world

    data = load_dataset()
    world = default_world(data, world="train")  # shipped for the embedded dataset
    state = world.initial_state(users, data.train_end[users])
    accepted, watched, ratings, leave_prob, left = world.step(state, rec_items, rng)

numpy, scipy and scikit-learn only (no torch). See ``docs/DESIGN.md`` ("Simulated user")
and ``docs/sim.md`` (validation against held-out logs).
"""

from movierec_env.sim.defaults import cache_dir, default_world, shipped_world_dir
from movierec_env.sim.fit import fit_world
from movierec_env.sim.params import WORLD_NAMES, WorldParams
from movierec_env.sim.world import StepResult, World, WorldState

__all__ = [
    "WORLD_NAMES",
    "StepResult",
    "World",
    "WorldParams",
    "WorldState",
    "cache_dir",
    "default_world",
    "fit_world",
    "shipped_world_dir",
]
