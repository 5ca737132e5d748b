"""experiments/examples/rllib_ppo.py: RLlib's PPO trains on MovieRec-v0 by its registered id."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("ray.rllib", reason="RLlib is not installed (extra movierec[ray])")

pytestmark = pytest.mark.slow


def test_rllib_ppo_trains_and_is_ranked_by_evaluate_agent(capsys):
    from experiments.examples import rllib_ppo

    res = rllib_ppo.main(["--quick", "--iterations", "2", "--batch", "200"])
    train = res["train"]
    assert train["iterations"] == 2 and len(train["episode_return_mean"]) == 2
    assert train["env_steps"] >= 2 * 200  # RLlib sampled MovieRec-v0 from its id
    for name in ("rllib-ppo", "random"):
        # The PROTOCOL.md evaluation of every other agent: all 610 test users, full ranking.
        assert res[name]["n_users"] == 610 and 0.0 <= res[name]["HR@10"] <= 1.0
    assert res["rllib-ppo"]["ranking"] == "action_scores"  # ranked by the policy's logits
    assert "iteration 2" in capsys.readouterr().out


def test_ranker_scores_every_movie():
    from experiments.examples import rllib_ppo

    class FakeModule:  # RLlib's forward_inference contract: a batch dict in, logits out
        def forward_inference(self, batch):
            from ray.rllib.core.columns import Columns

            obs = batch[Columns.OBS]
            return {Columns.ACTION_DIST_INPUTS: obs.flip(1) * 2}

    ranker = rllib_ppo.RLlibRanker(FakeModule())
    obs = np.array([[0.1, 0.5, -0.2], [0.3, 0.0, 0.9]], dtype=np.float32)
    np.testing.assert_allclose(ranker.action_scores(obs), obs[:, ::-1] * 2)
    actions, state = ranker.predict(obs[0])
    assert actions.tolist() == [1] and state is None
