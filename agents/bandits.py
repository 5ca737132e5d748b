"""A LinUCB-style contextual bandit: the one-step learner every RL agent must beat.

Li et al., "A contextual-bandit approach to personalized news article recommendation",
WWW 2010 (LinUCB with a shared linear model). Each (state, movie) pair is described by a
few features an agent can know: the frozen encoder's log-probability of the movie given
the observation, the movie's genre row (the reward's normalisation), its rating term and
its training popularity percentile. The expected reward is modelled as ``theta . x`` by
ridge regression on the rewards the agent itself observed (bandit feedback: only the
recommended movie's reward), and the agent recommends
``argmax_a theta . x_a + alpha * sqrt(x_a' A^-1 x_a)`` over allowed movies. It never plans:
it maximises the immediate reward, so on ``MovieRecSim-v0`` it is the learned one-step
baseline of the ladder (the greedy oracle is its upper bound).

In candidate mode (an env made with ``candidates=K``) the same model scores the K proposed
movies (``info["candidates"]``, else the env's ``current_candidates()``) from the user part
of the observation, and its action is the slot: a one-step learner beside SB3's agents on
the same task.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from gymnasium.vector import VectorEnv
from numpy.typing import NDArray

from agents.baselines import _as_candidates
from agents.common.confidence import LinearConfidence
from movierec_env.candidates import user_part
from movierec_env.contract import RecEnv, rec_env

__all__ = ["LinUCBAgent"]


class LinUCBAgent:
    """LinUCB over movie features, SB3 API (``learn``, ``predict``, ``action_scores``).

    Args:
        env: A MovieRec env (single or vector; read through the env contract).
        seed: Seed of the tie-breaking noise.
        alpha: Width of the confidence bonus.
        ridge: Ridge prior (``A = ridge * I`` at the start).
        verbose: 0 silent.
    """

    name = "linucb"

    def __init__(
        self,
        env: Any,
        seed: int | None = None,
        alpha: float = 0.5,
        ridge: float = 1.0,
        verbose: int = 0,
    ) -> None:
        if not alpha >= 0 or not ridge > 0:  # (LinearConfidence checks ridge too)
            raise ValueError(f"alpha must be >= 0 and ridge > 0, got alpha={alpha}, ridge={ridge}")
        self.env = env
        self.contract: RecEnv = rec_env(env)
        self.seed, self.alpha, self.ridge, self.verbose = seed, float(alpha), float(ridge), verbose
        self._confidence = LinearConfidence(self.contract, self.ridge)
        self.b = np.zeros(self._confidence.dim)
        self._rng = np.random.default_rng(seed)
        self.num_timesteps = 0
        #: ``K`` in candidate mode (scores and actions over the K proposed movies).
        self.candidates: int | None = self.contract.candidates

    @property
    def A(self) -> NDArray[np.float64]:
        """The ridge regression's design matrix (:class:`LinearConfidence`'s)."""
        return self._confidence.A

    @A.setter
    def A(self, value: NDArray[np.float64]) -> None:
        self._confidence.A = np.asarray(value, dtype=np.float64)

    def _features(
        self, user: NDArray[np.floating], items: NDArray[np.int64] | None = None
    ) -> NDArray[np.float64]:
        """Features ``(B, n_items, d)`` (or ``(B, K, d)`` of ``items`` ``(B, K)``)."""
        return self._confidence.features(user, items)

    def _user(self, obs: Any) -> NDArray[np.float32]:
        """The user embeddings ``(B, obs_dim)`` of observations (either mode, flat or dict)."""
        return np.atleast_2d(user_part(obs, self.contract.encoder.obs_dim))

    def _candidates(self, info: dict[str, Any] | None, batch: int) -> NDArray[np.int64] | None:
        """Candidate mode: the ``(B, K)`` proposed movies (``info`` first, else the env's)."""
        if self.candidates is None:
            return None
        if info is not None and "candidates" in info:
            return _as_candidates(info, batch, self.candidates)
        return self.contract.current_candidates().reshape(batch, self.candidates)

    def action_scores(self, obs: Any, info: dict[str, Any] | None = None) -> Any:
        """Upper confidence bounds of every action's expected reward.

        ``(B, n_items)``, or ``(B, K)`` over the proposed movies in candidate mode.
        """
        user = self._user(obs)
        x = self._features(user, self._candidates(info, user.shape[0]))
        a_inv = np.asarray(np.linalg.inv(self.A), dtype=np.float64)
        theta = a_inv @ self.b
        mean = x @ theta
        bonus = self._confidence.widths(x, a_inv)
        return mean + self.alpha * bonus + 1e-9 * self._rng.random(mean.shape)

    def predict(
        self,
        observation: NDArray[np.floating],
        state: Any = None,
        episode_start: Any = None,
        deterministic: bool = False,
        action_masks: NDArray[np.bool_] | None = None,
    ) -> tuple[Any, Any]:
        """The allowed movie with the highest upper confidence bound (SB3 ``predict``)."""
        single = np.asarray(user_part(observation, self.contract.encoder.obs_dim)).ndim == 1
        scores = self.action_scores(observation)
        if action_masks is not None:
            scores = np.where(np.atleast_2d(action_masks), scores, -np.inf)
        acts = np.argmax(scores, axis=1).astype(np.int64)
        return (np.int64(acts[0]) if single else acts), state

    def learn(self, total_timesteps: int, callback: Any = None, progress_bar: bool = False) -> Any:
        """Interact for ``total_timesteps`` env steps, updating the ridge regression."""
        env = self.env
        vector = isinstance(env, VectorEnv)
        obs, _ = env.reset(seed=self.seed)
        steps = 0
        while steps < total_timesteps:
            masks = np.atleast_2d(self.contract.action_masks())
            acts, _ = self.predict(obs, action_masks=masks)
            acts = np.atleast_1d(acts)
            cands = self._candidates(None, acts.size)
            items = acts[:, None] if cands is None else cands[np.arange(acts.size), acts, None]
            x = self._features(self._user(obs), items)[:, 0]
            obs, reward, term, trunc, _ = env.step(acts if vector else int(acts[0]))
            r = np.atleast_1d(np.asarray(reward, dtype=np.float64))
            self._confidence.update(x)
            self.b += x.T @ r
            steps += acts.size
            if not vector and (term or trunc):
                obs, _ = env.reset()
        self.num_timesteps += steps
        return self

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Data-only checkpoint (settings, ``A`` and ``b``) like the other agents."""
        from agents.common.serialization import save_checkpoint

        data = {
            "class": "LinUCBAgent",
            "seed": self.seed,
            "config": {"alpha": self.alpha, "ridge": self.ridge},
            "A": self.A.tolist(),
            "b": self.b.tolist(),
            "num_timesteps": self.num_timesteps,
        }
        return save_checkpoint(path, data, {})

    @classmethod
    def load(cls, path: str | os.PathLike[str], env: Any = None) -> LinUCBAgent:
        """Rebuild a saved agent on ``env``.

        Raises:
            ValueError: If the file holds another agent or ``env`` is missing.
        """
        from agents.common.serialization import load_checkpoint

        data, _ = load_checkpoint(path)
        if data.get("class") != "LinUCBAgent":
            raise ValueError(f"{path} holds a {data.get('class')!r}, not a LinUCBAgent")
        if env is None:
            raise ValueError("LinUCBAgent.load needs env=")
        agent = cls(env, seed=data.get("seed"), **data.get("config", {}))
        agent.A, agent.b = np.asarray(data["A"]), np.asarray(data["b"])
        agent.num_timesteps = int(data.get("num_timesteps", 0))
        return agent
