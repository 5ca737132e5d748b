"""Acting and collecting for the DQN: epsilon-greedy over allowed actions on a vector env.

Split from :mod:`agents.dqn.dqn` (the algorithm): how actions are drawn under masks, how
the replay buffer keeps next-state masks, and how one vector-env step becomes stored
transitions under either Gymnasium autoreset mode.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from gymnasium.vector import VectorEnv
from numpy.typing import NDArray

from agents.common.buffers import MaskedReplayBuffer, NStepAccumulator
from agents.common.confidence import LinearConfidence
from agents.common.envs import ActionMaskSource, autoreset_mode, info_positions
from agents.dqn.policies import DQNPolicy
from movierec_env.gym_compat import AutoresetMode, final_info, final_observation

__all__ = ["VectorRollout"]


class VectorRollout:
    """Mixin of :class:`agents.dqn.DQN`: epsilon-greedy acting and transition collection."""

    env: VectorEnv[Any, Any, Any] | None
    action_space: spaces.Space[Any]
    observation_space: spaces.Space[Any]
    policy: DQNPolicy
    rng: np.random.Generator
    n_envs: int
    buffer_size: int
    n_steps: int
    gamma: float
    mask_storage: str
    exploration_rate: float
    num_timesteps: int
    replay_buffer: MaskedReplayBuffer | None
    ep_info_buffer: deque[dict[str, float]]
    _mask_source: ActionMaskSource | None
    _nstep: NStepAccumulator | None
    _resolved_mask_storage: str
    _last_obs: NDArray[Any] | None
    _last_masks: NDArray[np.bool_] | None
    _needs_reset: NDArray[np.bool_] | None
    _ep_rewards: NDArray[np.float64] | None
    _ep_lengths: NDArray[np.int64] | None
    _episode_num: int
    exploration: str
    exploration_bonus: float
    _explore_encoder: Any
    _confidence: LinearConfidence | None

    def _encoder_allowed(
        self, obs: NDArray[Any], masks: NDArray[np.bool_] | None
    ) -> NDArray[np.int64]:
        """Allowed actions drawn from the frozen encoder's next-movie distribution ``p(.|s)``.

        One Gumbel-max draw per row over the encoder's logits, disallowed actions excluded
        (``exploration="encoder"``): exploration among the movies the user plausibly
        watches next rather than uniformly over the catalogue.
        """
        logits = np.asarray(self._explore_encoder.scores(obs), dtype=np.float64)[:, 1:]
        if masks is not None:
            logits = np.where(masks, logits, -np.inf)
        gumbel = -np.log(-np.log(self.rng.random(size=logits.shape)))
        acts = np.argmax(logits + gumbel, axis=1).astype(np.int64)
        if masks is not None:  # rows with nothing allowed: any action, as the uniform path
            empty = ~masks.any(axis=1)
            if empty.any():
                acts[empty] = self._random_allowed(None, int(empty.sum()))
        return acts

    def _random_allowed(self, masks: NDArray[np.bool_] | None, n: int) -> NDArray[np.int64]:
        """Uniform random allowed actions for ``n`` rows (rejection sampling, then exact)."""
        n_actions = int(self.action_space.n)  # type: ignore[attr-defined]
        acts = self.rng.integers(0, n_actions, size=n)
        if masks is None:
            return acts
        rows = np.arange(n)
        for _ in range(16):  # masks are sparse: one or two rounds almost always suffice
            bad = ~masks[rows, acts]
            if not bad.any():
                return acts
            acts[bad] = self.rng.integers(0, n_actions, size=int(bad.sum()))
        for j in np.flatnonzero(~masks[rows, acts]):
            allowed = np.flatnonzero(masks[j])
            if allowed.size:
                acts[j] = self.rng.choice(allowed)
        return acts

    def _act(
        self,
        obs: NDArray[Any],
        masks: NDArray[np.bool_] | None,
        eps: float,
        scaled: NDArray[np.float64] | None = None,
    ) -> NDArray[np.int64]:
        """Epsilon-greedy allowed actions for a batch.

        ``scaled``: under ``exploration="ucb"``, the observations'
        :meth:`~agents.common.confidence.LinearConfidence.scaled_logp`; the greedy part is
        then the argmax of Q plus the confidence bonus.
        """
        t, _ = self.policy.obs_to_tensor(obs)
        if scaled is not None:
            actions = self._ucb_actions(t, scaled, masks)
        else:
            actions = self.policy.greedy(t, masks)
        if eps > 0:
            explore: NDArray[np.bool_] = self.rng.random(size=(actions.shape[0],)) < eps
            if explore.any():
                sub = None if masks is None else masks[explore]
                if self.exploration == "encoder":
                    actions[explore] = self._encoder_allowed(obs[explore], sub)
                else:
                    actions[explore] = self._random_allowed(sub, int(explore.sum()))
        return actions

    def _ucb_actions(
        self, t: torch.Tensor, scaled: NDArray[np.float64], masks: NDArray[np.bool_] | None
    ) -> NDArray[np.int64]:
        """Allowed argmax of ``Q + exploration_bonus * width`` (``exploration="ucb"``)."""
        assert self._confidence is not None
        with torch.no_grad():
            q = self.policy.q_net(t).cpu().numpy().astype(np.float64)
        scores = q + self.exploration_bonus * self._confidence.all_widths(scaled)
        if masks is not None:
            scores = np.where(masks, scores, -np.inf)
        actions: NDArray[np.int64] = np.argmax(scores, axis=1).astype(np.int64)
        return actions

    def _make_buffer(self, positions: NDArray[np.int64] | None) -> MaskedReplayBuffer:
        """Create the replay buffer, choosing how next-state masks are stored."""
        assert self._mask_source is not None
        src = self._mask_source
        storage = self.mask_storage
        if storage == "auto":
            if not src.available:
                storage = "none"
            elif src.check_rebuilder(positions):
                storage = "position"
            else:
                storage = "packed"
        elif storage == "position" and not src.check_rebuilder(positions):
            raise ValueError(
                'mask_storage="position" but the env cannot rebuild its action masks from '
                'info["position"]; use "packed" or "auto"'
            )
        elif storage == "packed" and not src.available:
            raise ValueError('mask_storage="packed" but the env has no action_masks()')
        self._resolved_mask_storage = storage
        obs_space = self.observation_space
        return MaskedReplayBuffer(
            self.buffer_size,
            tuple(obs_space.shape or ()),
            obs_space.dtype or np.float32,
            int(self.action_space.n),  # type: ignore[attr-defined]
            mask_storage=storage,
            rebuilder=src.rebuilder if storage == "position" else None,
            store_discounts=self.n_steps > 1,
        )

    def _collect_step(self) -> tuple[NDArray[Any], NDArray[Any], NDArray[np.bool_], Any]:
        """One vector-env step: act, store the valid transitions, track episodes."""
        assert self.env is not None and self._mask_source is not None
        assert self.replay_buffer is not None and self._needs_reset is not None
        assert self._ep_rewards is not None and self._ep_lengths is not None
        use_masks = self._resolved_mask_storage != "none"
        masks = self._last_masks if use_masks else None
        obs = self._last_obs
        assert obs is not None
        conf = self._confidence
        scaled = None if conf is None else conf.scaled_logp(np.asarray(obs, dtype=np.float32))
        actions = self._act(obs, masks, self.exploration_rate, scaled)
        new_obs, rewards, terminated, truncated, infos = self.env.step(actions)
        dones = np.logical_or(terminated, truncated)
        next_masks = self._mask_source.current() if use_masks else None
        # Next-step autoreset: a step right after an episode end only resets; skip it.
        valid = ~self._needs_reset
        next_obs = np.array(new_obs, copy=True)
        positions = info_positions(infos, self.n_envs)
        same_step = autoreset_mode(self.env) == AutoresetMode.SAME_STEP
        if same_step and dones.any():
            for i in np.flatnonzero(dones):
                last_obs = final_observation(infos, int(i))
                if last_obs is not None:
                    next_obs[i] = last_obs
                last_info = final_info(infos, int(i))
                if positions is not None and "position" in last_info:
                    positions[i] = int(last_info["position"])
                if next_masks is not None and self._resolved_mask_storage == "packed":
                    # The final state's mask is gone after the reset; only truncated
                    # episodes bootstrap from it, and then over every action.
                    next_masks[i] = True
        if conf is not None and scaled is not None:
            # The executed recommendations (epsilon ones included) are what was tried.
            conf.update(conf.features_from(scaled, actions[:, None])[valid, 0])
        if valid.any():
            sel = np.flatnonzero(valid)
            step = (
                obs[sel],
                actions[sel],
                np.asarray(rewards, dtype=np.float32)[sel],
                next_obs[sel],
                np.asarray(terminated, dtype=bool)[sel],
            )
            nxt = (
                None if positions is None else positions[sel],
                None if next_masks is None else next_masks[sel],
            )
            if self.n_steps == 1:
                self.replay_buffer.add(*step, *nxt)
            else:
                assert self._nstep is not None
                done = self._nstep.push(sel, *step, dones[sel], *nxt)
                if done is not None:
                    self.replay_buffer.add(**done)
        self._ep_rewards[valid] += np.asarray(rewards)[valid]
        self._ep_lengths[valid] += 1
        for i in np.flatnonzero(dones & valid):
            self.ep_info_buffer.append(
                {"r": float(self._ep_rewards[i]), "l": int(self._ep_lengths[i])}
            )
            self._ep_rewards[i] = 0.0
            self._ep_lengths[i] = 0
            self._episode_num += 1
        self._needs_reset = dones if not same_step else np.zeros_like(dones)
        self._last_obs = new_obs
        self._last_masks = next_masks
        self.num_timesteps += int(valid.sum())
        return new_obs, np.asarray(rewards), dones, infos
