"""The examples in experiments/examples and the offline-RL export (experiments/offline.py).

Unit tests of the export run on the synthetic ``tiny_data`` with a light stand-in encoder;
the examples' ``main()`` runs end to end on the shipped dataset with tiny budgets (slow).
"""

from __future__ import annotations

import os
import sys

import gymnasium as gym
import numpy as np
import pytest

import movierec_env  # noqa: F401  (registers MovieRec-v0)
from experiments import offline
from movierec_env.reward import compute_reward
from tests.agents.conftest import FakeEncoder


@pytest.fixture(scope="module")
def tiny_env(tiny_data):
    return gym.make("MovieRec-v0", dataset=tiny_data, encoders=FakeEncoder(tiny_data))


# --------------------------------------------------------------------------- npz export
def test_npz_round_trip_holds_the_logged_episodes(tiny_env, tiny_data, tmp_path):
    from movierec_env import rec_env

    path = offline.export_npz(tiny_env, tmp_path / "logged")  # ".npz" is appended
    assert path == tmp_path / "logged.npz" and path.is_file()
    episodes, meta = offline.load_npz(path)
    base = tiny_env.unwrapped
    assert meta["split"] == "train" and meta["dataset_fingerprint"] == tiny_data.fingerprint
    assert meta["n_actions"] == tiny_data.n_items
    # One episode per eligible user, in user order.
    assert [int(e["user_id"]) for e in episodes] == base.eligible_user_ids.tolist()

    contract = rec_env(tiny_env)
    obs_table = contract.observations_at(np.arange(tiny_data.n_interactions + 1))
    tables = contract.reward_tables
    for e in episodes:
        pos, act = e["positions"], e["actions"]
        u = tiny_data.user_to_index(int(e["user_id"]))
        # The positions walk the user's training range one step at a time ...
        assert pos[0] == tiny_data.offsets[u] + 5 and np.all(np.diff(pos) == 1)
        assert pos[-1] == tiny_data.train_end[u] - 1
        # ... the actions are the movies the user rated next ...
        np.testing.assert_array_equal(act, tiny_data.items[pos] - 1)
        # ... the observations are the env's, the last one after the final step ...
        assert e["observations"].shape == (act.size + 1, base.observation_space.shape[0])
        np.testing.assert_array_equal(e["observations"][:-1], obs_table[pos])
        np.testing.assert_array_equal(e["observations"][-1], obs_table[pos[-1] + 1])
        # ... and the rewards those of the env's reward function (every action a hit).
        reward, hit, *_ = compute_reward(tables, act, pos)
        np.testing.assert_array_equal(e["rewards"], reward)
        assert hit.all()
        assert not e["terminations"].any()
        assert e["truncations"][-1] and not e["truncations"][:-1].any()


def test_npz_rewards_match_a_step_by_step_replay(tiny_env, tiny_data, tmp_path):
    episodes, _ = offline.load_npz(offline.export_npz(tiny_env, tmp_path / "a.npz"))
    env = gym.make("MovieRec-v0", dataset=tiny_data, encoders=FakeEncoder(tiny_data))
    for e in episodes[:5]:
        obs, _ = env.reset(options={"user_id": int(e["user_id"])})
        np.testing.assert_array_equal(obs, e["observations"][0])
        for t, a in enumerate(e["actions"]):
            obs, r, term, trunc, info = env.step(int(a))
            assert info["hit"] and r == pytest.approx(float(e["rewards"][t]), abs=0)
            np.testing.assert_array_equal(obs, e["observations"][t + 1])
        assert trunc and not term


def test_npz_max_episodes_and_other_splits(tiny_data, tmp_path):
    env = gym.make("MovieRec-v0", dataset=tiny_data, encoders=FakeEncoder(tiny_data), split="test")
    episodes, meta = offline.load_npz(offline.export_npz(env, tmp_path / "t.npz", max_episodes=4))
    assert meta["split"] == "test" and len(episodes) == 4
    for e in episodes:  # one step per user: the test target
        u = tiny_data.user_to_index(int(e["user_id"]))
        assert e["positions"].tolist() == [tiny_data.test_index[u]]
    empty, _ = offline.load_npz(offline.export_npz(env, tmp_path / "e.npz", max_episodes=0))
    assert empty == []
    with pytest.raises(ValueError, match="max_episodes"):
        next(offline.iter_logged_episodes(env, max_episodes=-1))


def test_load_npz_rejects_missing_and_foreign_files(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope\.npz"):
        offline.load_npz(tmp_path / "nope.npz")
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(ValueError, match="not a MovieRec"):
        offline.load_npz(tmp_path / "other.npz")


# --------------------------------------------------------------------------- Minari export
def test_minari_missing_names_the_extra(tiny_env, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "minari", None)  # makes `import minari` fail
    with pytest.raises(ImportError, match=r"movierec\[minari\]"):
        offline.export_minari(tiny_env, "movierec/tiny/x-v0", out=tmp_path)


def test_minari_round_trip_matches_the_npz_export(tiny_env, tmp_path, monkeypatch):
    pytest.importorskip("minari")
    pytest.importorskip("h5py")
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "elsewhere"))
    ref, _ = offline.load_npz(offline.export_npz(tiny_env, tmp_path / "ref.npz"))
    ds = offline.export_minari(tiny_env, "movierec/tiny/logged-v0", out=tmp_path / "minari")
    assert (tmp_path / "minari" / "movierec" / "tiny" / "logged-v0").is_dir()
    assert os.environ["MINARI_DATASETS_PATH"] == str(tmp_path / "elsewhere")  # restored
    assert ds.total_episodes == len(ref)
    assert ds.total_steps == sum(e["actions"].size for e in ref)
    for got, want in zip(ds.iterate_episodes(), ref, strict=True):
        np.testing.assert_array_equal(got.actions, want["actions"])
        np.testing.assert_array_equal(got.rewards, want["rewards"])
        np.testing.assert_array_equal(got.observations, want["observations"])
        np.testing.assert_array_equal(got.truncations, want["truncations"])
    with pytest.raises(ValueError, match="Malformed"):
        offline.export_minari(tiny_env, "movierec/bad id", out=tmp_path / "minari")
    with pytest.raises(ValueError, match="already exists"):
        offline.export_minari(tiny_env, "movierec/tiny/logged-v0", out=tmp_path / "minari")
    again = offline.export_minari(
        tiny_env, "movierec/tiny/logged-v0", out=tmp_path / "minari", max_episodes=2,
        overwrite=True,
    )  # fmt: skip
    assert again.total_episodes == 2


# --------------------------------------------------------------------------- examples, shipped
def _shipped() -> bool:
    from encoders import shipped_checkpoint

    return (shipped_checkpoint() / "config.json").is_file()


shipped = [
    pytest.mark.slow,
    pytest.mark.skipif(not _shipped(), reason="no shipped encoder checkpoint"),
]


@pytest.fixture(autouse=True)
def _one_thread():
    import torch

    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)  # the examples set 1 thread; leave the process as found


@pytest.mark.parametrize("argv", [[], ["--quick"]])
def test_example_parsers(argv):
    from experiments.examples import compare_agents, coursework, export_minari, train_sb3_ppo

    assert train_sb3_ppo.parse_args([*argv]).timesteps == (2_048 if argv else 20_000)
    assert coursework.parse_args([*argv]).timesteps == (600 if argv else 40_000)
    assert compare_agents.parse_args([*argv]).agent_b == "encoder-greedy"
    assert export_minari.parse_args([*argv]).max_episodes == (20 if argv else None)
    with pytest.raises(SystemExit):
        compare_agents.parse_args(["popular", "popular"])
    with pytest.raises(SystemExit):
        compare_agents.parse_args(["popular", "no-such-agent"])


@pytest.mark.slow
@pytest.mark.skipif(not _shipped(), reason="no shipped encoder checkpoint")
class TestExamplesOnTheShippedDataset:
    """Each example's main() end to end on ml-latest-small with tiny budgets."""

    def test_compare_agents(self, capsys):
        from agents import evaluate_agent, make_agent
        from experiments.examples import compare_agents

        out = compare_agents.main(["popular", "encoder-greedy"])
        res, tests = out["metrics"], out["tests"]
        assert set(res) == {"popular", "encoder-greedy"}
        # The example's numbers are evaluate_agent's, on the same 610 test users.
        env = gym.make("MovieRec-v0", split="test")
        ref = evaluate_agent(make_agent("popular", env), env)
        assert res["popular"]["HR@10"] == ref["HR@10"] and ref["n_users"] == 610
        diff = res["encoder-greedy"]["mean_reward"] - res["popular"]["mean_reward"]
        assert tests["rewards"]["diff"] == pytest.approx(diff, abs=1e-9)
        assert 0.0 <= tests["rewards"]["p"] <= 1.0 and tests["rewards"]["n"] == 610
        assert out["wins"] + out["losses"] <= 610
        text = capsys.readouterr().out
        assert "Wilcoxon" in text and "HR@10" in text and "encoder-greedy" in text

    def test_compare_agents_trains_a_learning_agent(self):
        from experiments.examples import compare_agents

        out = compare_agents.main(["popular", "dqn", "--timesteps", "300"])
        assert out["metrics"]["dqn"]["ranking"] == "action_scores"
        assert np.isfinite(out["metrics"]["dqn"]["HR@10"])

    def test_cleanrl_dqn(self, capsys):
        # A CleanRL-style loop on the installed Gymnasium (CI: 1.x and 0.29.1, CleanRL's pin).
        from experiments.examples import cleanrl_dqn
        from movierec_env.gym_compat import LEGACY_VECTOR_API

        argv = ["--total-timesteps", "600", "--learning-starts", "200", "--num-envs", "2"]
        res = cleanrl_dqn.main(argv)
        train = res["train"]
        assert train["steps"] >= 600 and train["updates"] > 0
        assert train["autoreset"] == ("same-step" if LEGACY_VECTOR_API else "next-step")
        for name in ("cleanrl-dqn", "random"):
            assert res[name]["n_users"] == 610 and 0.0 <= res[name]["HR@10"] <= 1.0
        assert res["cleanrl-dqn"]["ranking"] == "action_scores"
        assert "cleanrl_dqn" in capsys.readouterr().out

    def test_train_sb3_ppo(self, capsys):
        from experiments.examples import train_sb3_ppo

        res = train_sb3_ppo.main(["--timesteps", "64", "--eval-episodes", "5"])
        assert set(res) == {"sb3-ppo", "maskable-ppo"}
        for r in res.values():
            # Ranked from the policy's logits over every movie, judged on all test users.
            assert r["ranking"] == "policy_logits" and r["n_users"] == 610
            assert 0.0 <= r["HR@10"] <= 1.0 and np.isfinite(r["sb3_mean_return"])
        assert "SB3 evaluate_policy" in capsys.readouterr().out

    def test_coursework_runs_top_to_bottom(self, capsys, tmp_path):
        from experiments.examples import coursework

        out = coursework.main(["--quick", "--out", str(tmp_path)])
        res, tests = out["results"], out["tests"]
        assert set(res) == {"random", "popular", "constant", "sb3-ppo", "sb3-dqn", "genre-match"}
        for name, r in res.items():
            # Candidate mode: every agent judged on the same 610 users and candidates.
            k = coursework.ENV_KWARGS["candidates"]["k"]
            assert r["n_users"] == 610 and r["candidates"] == k, name
            np.testing.assert_array_equal(
                r["per_user"]["candidates"], res["random"]["per_user"]["candidates"]
            )
        # The lab's candidates arrive sorted by genre affinity: the genre-match agent's
        # choice (argmax of that feature) always ties slot 0's affinity.
        import gymnasium as gym

        from movierec_env import rec_env

        pu = res["genre-match"]["per_user"]
        c = rec_env(gym.make("MovieRec-v0", split="test", **coursework.ENV_KWARGS))
        cands = np.asarray(pu["candidates"])
        obs = c.candidate_observations_at(np.asarray(pu["positions"]), cands)
        aff = obs[:, c.encoder.obs_dim :].reshape(len(cands), k, -1)[:, :, -1]
        slot = (cands == np.asarray(pu["actions"])[:, None]).argmax(axis=1)
        assert np.all(np.diff(aff, axis=1) <= 0)
        np.testing.assert_array_equal(aff[np.arange(len(cands)), slot], aff[:, 0])
        assert (slot == 0).mean() > 0.5
        assert res["sb3-ppo"]["ranking"] == "policy_logits"
        assert res["sb3-dqn"]["ranking"] == "q_values"
        assert 0.0 <= tests["sb3-dqn"]["constant"]["p"] <= 1.0
        assert all(len(c) >= 2 for c in out["curves"].values())
        text = capsys.readouterr().out
        assert "Exercise" in text and "candidate" in text

    def test_export_npz(self, tmp_path, small_data):
        from experiments.examples import export_minari

        out = export_minari.main(["--format", "npz", "--max-episodes", "3", "--out", str(tmp_path)])
        episodes, meta = offline.load_npz(tmp_path / "logged-train.npz")
        assert out["episodes"] == len(episodes) == 3 and meta["dataset"] == small_data.name
        for e in episodes:
            np.testing.assert_array_equal(e["actions"], small_data.items[e["positions"]] - 1)
        assert out["steps"] == sum(e["actions"].size for e in episodes)

    def test_export_minari(self, tmp_path, monkeypatch):
        minari = pytest.importorskip("minari")
        pytest.importorskip("h5py")
        from experiments.examples import export_minari

        out = export_minari.main(["--quick", "--out", str(tmp_path)])
        assert out["episodes"] == 20 and out["steps"] > 20
        # The dataset loads back with Minari alone and remembers how to rebuild the env.
        monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path))
        ds = minari.load_dataset("movierec/ml-latest-small/logged-train-v0")
        assert ds.total_episodes == 20 and ds.total_steps == out["steps"]
        assert ds.spec.env_spec.id == "MovieRec-v0"
        assert ds.spec.env_spec.kwargs["split"] == "train"
        env = ds.recover_environment()
        assert env.action_space == ds.action_space and env.unwrapped.split == "train"

    def test_export_minari_without_minari_exits_with_the_extra(self, tmp_path, monkeypatch):
        from experiments.examples import export_minari

        monkeypatch.setitem(sys.modules, "minari", None)
        with pytest.raises(SystemExit, match=r"(?s)movierec\[minari\].*--format npz"):
            export_minari.main(["--quick", "--out", str(tmp_path)])
