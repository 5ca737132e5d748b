"""The DQN (and SB3's algorithms) on MovieRec-v0 with the fake encoder on tiny data."""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from agents.dqn import DQN
from movierec_env.gym_compat import make_vec
from movierec_env.metrics import history_mask
from movierec_env.vector_env import MovieRecVectorEnv

FAST = dict(learning_starts=32, batch_size=32, buffer_size=2_000, seed=0)


@pytest.fixture()
def venv(tiny_data, fake_encoder):
    return MovieRecVectorEnv(num_envs=4, dataset=tiny_data, encoders=fake_encoder)


def test_masks_are_stored_as_positions_and_rebuilt_exactly(venv, tiny_data) -> None:
    model = DQN("MlpPolicy", venv, gamma=0.5, **FAST).learn(300)
    buf = model.replay_buffer
    assert buf is not None and buf.mask_storage == "position"
    assert buf.next_packed is None and buf.next_positions is not None
    n = buf.size()
    rebuilt = model._mask_source.rebuilder(buf.next_positions[:n])
    np.testing.assert_array_equal(rebuilt, ~history_mask(tiny_data, buf.next_positions[:n])[:, 1:])
    # and it agrees with the env's own masks at the current states
    np.testing.assert_array_equal(model._mask_source.rebuilder(venv.position), venv.action_masks())


def test_dqn_never_recommends_a_seen_movie(venv, tiny_data) -> None:
    model = DQN("MlpPolicy", venv, **FAST).learn(200)
    obs, _ = venv.reset(seed=3)
    for _ in range(30):
        masks = venv.action_masks()
        acts, _ = model.predict(obs, deterministic=False, action_masks=masks)
        assert masks[np.arange(4), acts].all()
        seen = history_mask(tiny_data, venv.position)[:, 1:]
        assert not seen[np.arange(4), acts].any()
        obs, *_ = venv.step(acts)


def test_warm_start_reads_the_encoder(venv, fake_encoder) -> None:
    model = DQN("MlpPolicy", venv, policy_kwargs=dict(warm_start=True), **FAST)
    table = model.q_net.item_embeddings.detach().numpy()
    w = fake_encoder.item_matrix()[1:]
    assert table.shape == w.shape
    ratio = table / w
    np.testing.assert_allclose(ratio, ratio.flat[0], rtol=1e-4)  # a rescaled copy
    assert model.policy.net_kwargs["warm_start"] is True


def test_make_vec_and_evaluate_agent(tiny_data, fake_encoder) -> None:
    import movierec_env  # noqa: F401
    from agents.evaluation import evaluate_agent

    venv = make_vec(
        "MovieRec-v0",
        num_envs=3,
        dataset=tiny_data,
        encoders=fake_encoder,
    )
    model = DQN("MlpPolicy", venv, **FAST).learn(150)
    test_env = gym.make("MovieRec-v0", dataset=tiny_data, encoders=fake_encoder, split="test")
    res = evaluate_agent(model, test_env)
    assert res["ranking"] == "action_scores"
    assert 0.0 <= res["mean_reward"] <= 1.0 and res["n_users"] > 0


@pytest.mark.parametrize("name", ["sb3-dqn", "sb3-ppo", "qrdqn", "maskable-ppo"])
def test_sb3_algorithms_plug_in(name: str, make_env) -> None:
    from agents.registry import make_agent

    kwargs = {"n_steps": 32, "batch_size": 16} if "ppo" in name else {"learning_starts": 16}
    model = make_agent(name, make_env(), seed=0, **kwargs)
    model.learn(64)
    obs, _ = make_env(split="test").reset(seed=0)
    action, _ = model.predict(obs, deterministic=True)
    assert 0 <= int(action) < make_env().action_space.n


@pytest.mark.slow
def test_train_cli_saves_a_loadable_dqn(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from experiments.cli import cli

    out = tmp_path / "dqn.zip"
    args = ["train", "--agent", "dqn", "--timesteps", "3000", "--out", str(out), "--no-progress"]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    assert f"saved dqn to {out}" in res.output
    summary = json.loads(res.output.splitlines()[0])
    assert 0.0 < summary["val"]["mean_reward"] < 1.0
    model = DQN.load(out)
    assert model.num_timesteps >= 3000


def test_default_head_on_movierec_is_the_encoder_head(venv, tiny_data, fake_encoder) -> None:
    from movierec_env.reward import RewardConfig, RewardTables

    model = DQN("MlpPolicy", venv, **FAST)
    kw = model.policy.net_kwargs
    assert kw["encoder_head"] and kw["genre_features"] and kw["embed_dim"] == 0
    net = model.q_net
    np.testing.assert_allclose(
        net.enc_matrix.numpy(), fake_encoder.item_matrix()[1:], rtol=1e-6, atol=1e-6
    )
    # The genre features are normalised exactly as the reward's cosine: their dot product
    # *is* the genre term (genre-less movies: 0).
    tables = RewardTables.build(tiny_data, RewardConfig())
    feats = net.item_features.numpy()
    n_genres = len(tiny_data.genre_names)
    assert feats.shape[1] == n_genres + 1  # genres + the movie's rating term
    gn = feats[:, :n_genres]
    n = gn.shape[0]
    a, b = np.meshgrid(np.arange(n), np.arange(n))
    combos = tables.genre_combo
    expected = tables.genre_table.reshape(-1)[combos[a] * (combos.max() + 1) + combos[b]]
    np.testing.assert_allclose(np.clip(gn @ gn.T, 0, 1), expected, atol=1e-5)
    # the residual head alone is decayed toward the encoder terms
    groups = model.optimizer.param_groups
    decayed = [p for g in groups if g["weight_decay"] > 0 for p in g["params"]]
    assert {id(p) for p in decayed} == {id(p) for p in net.head.parameters()}
    assert groups[1]["weight_decay"] == model.residual_decay == 1.0
    model.learn(200)
    assert model.replay_buffer is not None


def test_make_agent_trains_the_dqn_on_the_native_vector_env(make_env) -> None:
    from agents.registry import make_agent

    env = make_env()
    model = make_agent("dqn", env, seed=0, num_envs=1)  # a plain env stays as it is
    assert model.n_envs == 1


def test_popularity_feature_adds_the_popularity_rank_column(venv, tiny_data, tmp_path) -> None:
    from movierec_env.contract import ItemFeatures

    rank = ItemFeatures.from_dataset(tiny_data).popularity_rank()
    pop = tiny_data.popularity[1:]
    assert rank.shape == (tiny_data.n_items,) and rank.min() == 0.0 and rank.max() == 1.0
    assert np.unique(rank).size == rank.size  # ties broken by index
    assert (np.diff(pop[np.argsort(rank)]) >= 0).all()  # more popular, higher rank
    plain = DQN("MlpPolicy", venv, **FAST)
    model = DQN("MlpPolicy", venv, policy_kwargs={"popularity_feature": True}, **FAST)
    feats, base = model.q_net.item_features.numpy(), plain.q_net.item_features.numpy()
    assert feats.shape == (base.shape[0], base.shape[1] + 1)
    np.testing.assert_array_equal(feats[:, :-1], base)
    np.testing.assert_allclose(feats[:, -1], rank, rtol=1e-6)
    model.learn(200)
    model.save(tmp_path / "pop.zip")
    again = DQN.load(tmp_path / "pop.zip", env=venv)
    np.testing.assert_array_equal(again.q_net.item_features.numpy(), feats)
    obs = venv.reset(seed=0)[0]
    np.testing.assert_allclose(again.action_scores(obs), model.action_scores(obs), rtol=1e-6)
    with pytest.raises(ValueError, match="popularity_feature"):
        DQN(
            "MlpPolicy",
            venv,
            policy_kwargs={
                "popularity_feature": True,
                "encoder_head": False,
                "genre_features": False,
            },
            **FAST,
        )


def test_encoder_exploration_draws_from_the_encoders_distribution(
    venv, fake_encoder, tmp_path
) -> None:
    from scipy.special import softmax

    model = DQN("MlpPolicy", venv, exploration="encoder", **FAST)
    obs = venv.reset(seed=0)[0][:1]
    n = 20_000
    rows = np.repeat(obs, n, axis=0)
    probs = softmax(np.asarray(fake_encoder.scores(obs), dtype=np.float64)[0, 1:])
    counts = np.bincount(model._encoder_allowed(rows, None), minlength=probs.size)
    # Every action's frequency within 5 binomial standard deviations of p(a|s).
    sd = np.sqrt(n * probs * (1 - probs)) + 1e-9
    assert (np.abs(counts - n * probs) <= 5 * sd + 1).all()
    # Disallowed actions are never drawn, even the encoder's favourite.
    masks = np.ones((n, probs.size), dtype=bool)
    masks[:, int(np.argmax(probs))] = False
    masks[: n // 2, : probs.size // 2] = False
    acts = model._encoder_allowed(rows, masks)
    assert masks[np.arange(n), acts].all()
    # Training explores that way and never takes a masked action; the setting is saved.
    model.learn(300)
    model.save(tmp_path / "enc.zip")
    assert DQN.load(tmp_path / "enc.zip", env=venv).exploration == "encoder"


def test_ucb_exploration_adds_the_confidence_width_and_learns_a(venv, tmp_path) -> None:
    model = DQN("MlpPolicy", venv, exploration="ucb", exploration_bonus=0.0, **FAST)
    conf = model._confidence
    assert conf is not None
    obs = venv.reset(seed=0)[0]
    masks = venv.action_masks()
    masks[:, :3] = False
    t, _ = model.policy.obs_to_tensor(obs)
    scaled = conf.scaled_logp(obs)
    # No bonus: the greedy actions.
    np.testing.assert_array_equal(
        model._ucb_actions(t, scaled, masks), model.policy.greedy(t, masks)
    )
    # A huge bonus: the allowed movie whose interval is widest (LinUCB's width).
    widths = conf.widths(conf.features(obs))
    np.testing.assert_allclose(conf.all_widths(conf.scaled_logp(obs)), widths, atol=1e-12)
    model.exploration_bonus = 1e9
    expected = np.where(masks, widths, -np.inf).argmax(axis=1)
    np.testing.assert_array_equal(model._ucb_actions(t, scaled, masks), expected)
    # Training adds each executed recommendation's features to A once: the constant
    # feature's diagonal entry is the ridge plus the number of transitions.
    model.exploration_bonus = 1.0
    model.learn(200)
    assert conf.A[-1, -1] == pytest.approx(1.0 + model.num_timesteps)
    assert not np.allclose(conf.A, np.eye(conf.dim))
    # Saved and restored with the checkpoint.
    model.save(tmp_path / "ucb.zip")
    loaded = DQN.load(tmp_path / "ucb.zip", env=venv)
    assert (loaded.exploration, loaded.exploration_bonus) == ("ucb", 1.0)
    np.testing.assert_array_equal(loaded._confidence.A, conf.A)


def test_encoder_exploration_needs_a_movierec_env() -> None:
    from tests.agents.toy_env import ToyRecEnv

    with pytest.raises(ValueError, match="exploration"):
        DQN("MlpPolicy", ToyRecEnv(), exploration="boltzmann")
    with pytest.raises(ValueError, match="encoder"):
        DQN("MlpPolicy", ToyRecEnv(), exploration="encoder")
    with pytest.raises(ValueError, match="ucb"):
        DQN("MlpPolicy", ToyRecEnv(), exploration="ucb")
    with pytest.raises(ValueError, match="exploration_bonus=-1"):
        DQN("MlpPolicy", ToyRecEnv(), exploration="ucb", exploration_bonus=-1)
