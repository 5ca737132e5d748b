"""A digest of ``MovieRecSim-v0`` trajectories, to check that a speed change kept them.

Runs 3,000 single-env steps (``gym.make``, seed 0, uniformly pre-sampled actions, resets
on episode end) and 60 steps of the native vector env at 4 and 300 envs, hashes what the
simulated users did (movie, rating, reward, term, trunc, accept, leave probability, reset
infos) and saves the observations; run it on two versions of the code and compare:

    PYTHONPATH=<old tree> python benchmarks/sim_trajectory_digest.py --obs /tmp/old.npy
    PYTHONPATH=. python benchmarks/sim_trajectory_digest.py --obs /tmp/new.npy \
        --compare /tmp/old.npy

Equal digests mean identical trajectories; observations are compared by max |difference|
(the encoder's numpy and torch steps agree to float32 rounding, not bit for bit).
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import numpy as np


def main() -> None:
    """Print the digest (and the observations' max difference with ``--compare``)."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--obs", type=Path, required=True, help="where to save the observations")
    p.add_argument("--compare", type=Path, help="observations of another run")
    args = p.parse_args()
    import gymnasium as gym
    import torch

    import movierec_env  # noqa: F401  (registers MovieRecSim-v0)

    torch.set_num_threads(1)
    h = hashlib.sha256()
    env = gym.make("MovieRecSim-v0", max_episode_steps=50)
    n = env.unwrapped.n_actions
    obs, info = env.reset(seed=0)
    seen = [obs]
    for a in np.random.default_rng(0).integers(0, n, args.steps).tolist():
        obs, r, term, trunc, info = env.step(a)
        keys = ("watched", "rating", "accepted", "leave_prob", "user_id")
        h.update(repr((float(r), term, trunc, *(info[k] for k in keys))).encode())
        seen.append(obs)
        if term or trunc:
            obs, info = env.reset()
            h.update(repr(info).encode())
            seen.append(obs)
    for k in (4, 300):
        venv = gym.make_vec("MovieRecSim-v0", num_envs=k, vectorization_mode="vector_entry_point")
        rng = np.random.default_rng(1)
        o, _ = venv.reset(seed=0)
        seen.append(o.ravel())
        for _ in range(60):
            o, r, te, tr, inf = venv.step(rng.integers(0, n, k))
            for x in (r, te, tr, inf["watched"], inf["rating"]):
                h.update(np.asarray(x).tobytes())
            seen.append(o.ravel())
    flat = np.concatenate([np.ravel(x) for x in seen])
    np.save(args.obs, flat)
    print(f"trajectory digest {h.hexdigest()}")
    if args.compare is not None:
        other = np.load(args.compare)
        if other.shape != flat.shape:
            print(f"observations differ in count: {other.size} vs {flat.size}")
        else:
            print(f"observations: max |difference| {float(np.abs(other - flat).max()):.2e}")


if __name__ == "__main__":
    main()
