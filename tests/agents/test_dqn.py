"""DQN unit tests on the toy logged-replay env (fast, no dataset)."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.vector import SyncVectorEnv
from stable_baselines3.common.callbacks import BaseCallback, CallbackList, EvalCallback
from stable_baselines3.common.evaluation import evaluate_policy

from agents.common.buffers import MaskedReplayBuffer, ReplaySamples
from agents.common.serialization import load_checkpoint, save_checkpoint
from agents.dqn import DQN
from agents.dqn.policies import ItemEmbeddingQNetwork, masked_argmax, masked_max
from movierec_env.gym_compat import AutoresetMode, autoreset_mode, sync_vector_env
from tests.agents.toy_env import ToyRecEnv
from tests.gym_versions import sync_env

SMALL = dict(learning_starts=50, batch_size=32, buffer_size=5_000, seed=0)


def make_venv(n: int = 4, mode: AutoresetMode | None = None, **kw) -> SyncVectorEnv:
    """Toy envs in a SyncVectorEnv: ``mode`` (skipped where unavailable), else the version's
    same-step one where it has it (next-step on Gymnasium 1.0)."""
    fns = [lambda: ToyRecEnv(**kw) for _ in range(n)]
    return sync_vector_env(fns, same_step=True) if mode is None else sync_env(fns, mode)


def test_learn_returns_self_and_predict_shapes() -> None:
    env = ToyRecEnv()
    model = DQN("MlpPolicy", env, **SMALL)
    assert model.learn(100) is model
    assert model.num_timesteps >= 100
    obs, _ = env.reset(seed=1)
    a, state = model.predict(obs, deterministic=True)
    assert a.shape == () and state is None and 0 <= int(a) < env.action_space.n
    batch = np.stack([obs, obs * 0.5, -obs])
    acts, _ = model.predict(batch, deterministic=True)
    assert acts.shape == (3,) and acts.dtype.kind == "i"
    again, _ = model.predict(batch, deterministic=True)
    np.testing.assert_array_equal(acts, again)
    with pytest.raises(ValueError, match="shape"):
        model.predict(np.zeros(3, dtype=np.float32))


def test_same_seed_same_model() -> None:
    preds = []
    for _ in range(2):
        model = DQN("MlpPolicy", make_venv(2), **SMALL).learn(200)
        preds.append(model.action_scores(ToyRecEnv().codes))
    np.testing.assert_allclose(preds[0], preds[1], rtol=1e-6)


def test_bad_arguments_raise() -> None:
    with pytest.raises(ValueError, match="policy"):
        DQN("CnnPolicy", ToyRecEnv())
    with pytest.raises(ValueError, match="gamma"):
        DQN("MlpPolicy", ToyRecEnv(), gamma=1.5)
    with pytest.raises(ValueError, match="mask_storage"):
        DQN("MlpPolicy", ToyRecEnv(), mask_storage="bits")
    with pytest.raises(TypeError, match="Discrete"):
        DQN("MlpPolicy", gym.make("Pendulum-v1"))


# ---------------------------------------------------------------- masking
def test_masked_argmax_and_max_skip_masked_actions() -> None:
    q = torch.tensor([[5.0, 1.0, 3.0], [0.0, 9.0, -1.0], [1.0, 2.0, 3.0]])
    masks = torch.tensor([[False, True, True], [True, False, True], [False, False, False]])
    assert masked_argmax(q, masks).tolist()[:2] == [2, 0]
    assert masked_max(q, masks).tolist() == [3.0, 0.0, 0.0]  # nothing allowed -> 0
    assert masked_max(q, None).tolist() == [5.0, 9.0, 3.0]


@pytest.mark.parametrize("deterministic", [True, False])
def test_predict_never_picks_a_masked_action(deterministic: bool) -> None:
    env = ToyRecEnv(n_actions=50)
    model = DQN("MlpPolicy", env, **SMALL)
    model.exploration_rate = 0.5
    rng = np.random.default_rng(0)
    obs = rng.uniform(-1, 1, (400, 8)).astype(np.float32)
    masks = rng.random((400, 50)) < 0.1  # only ~5 allowed actions per row
    masks[:, 0] = False
    masks[np.arange(400), rng.integers(1, 50, 400)] = True
    q = model.action_scores(obs)
    assert (masks[np.arange(400), q.argmax(1)]).mean() < 0.5  # unmasked greedy would err
    acts, _ = model.predict(obs, deterministic=deterministic, action_masks=masks)
    assert masks[np.arange(400), acts].all()


class MaskRecorder(gym.Wrapper):
    """Records (mask, action) pairs of every step."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.violations = 0
        self.steps = 0

    def step(self, action):
        mask = self.env.unwrapped.action_masks()
        self.violations += int(not mask[int(action)])
        self.steps += 1
        return self.env.step(action)


def test_training_never_takes_a_masked_action() -> None:
    envs = [MaskRecorder(ToyRecEnv(n_actions=6, seq_len=5)) for _ in range(3)]
    venv = sync_vector_env([lambda e=e: e for e in envs], same_step=True)
    DQN("MlpPolicy", venv, exploration_fraction=0.5, **SMALL).learn(600)
    assert sum(e.steps for e in envs) >= 600
    assert sum(e.violations for e in envs) == 0


@pytest.mark.parametrize("rebuilder", [True, False])
def test_buffer_masks_match_the_env(rebuilder: bool) -> None:
    venv = make_venv(3, with_rebuilder=rebuilder)
    model = DQN("MlpPolicy", venv, gamma=0.9, **SMALL).learn(300)
    buf = model.replay_buffer
    assert buf is not None
    assert buf.mask_storage == ("position" if rebuilder else "packed")
    batch = buf.sample(200, np.random.default_rng(0))
    assert batch.next_masks is not None
    toy = ToyRecEnv()
    code_to_target = {tuple(c): t for t, c in enumerate(toy.codes)}
    # The next state's seen targets are masked: rebuild them from the stored next obs.
    for obs, nxt, mask in zip(
        batch.observations, batch.next_observations, batch.next_masks, strict=True
    ):
        t_now = code_to_target[tuple(obs)]
        assert not mask[t_now] or np.array_equal(obs, nxt)  # the judged target is now seen
        assert mask.sum() >= toy.n_actions - toy.seq_len


def _set_q_to_bias(net: torch.nn.Module, bias: list[float]) -> None:
    """Make an item-embedding Q-network return ``bias`` for every observation."""
    with torch.no_grad():
        net.item_bias.copy_(torch.tensor(bias))
        net.item_embeddings.zero_()
        net.value.weight.zero_()
        net.value.bias.zero_()


def test_td_target_max_ranges_over_allowed_actions_only() -> None:
    model = DQN("MlpPolicy", ToyRecEnv(n_actions=4), gamma=0.5, **SMALL)
    _set_q_to_bias(model.q_net_target, [100.0, 1.0, 2.0, 3.0])
    obs = np.zeros((2, 8), dtype=np.float32)
    batch = ReplaySamples(
        observations=obs,
        actions=np.zeros(2, dtype=np.int64),
        rewards=np.array([1.0, 1.0], dtype=np.float32),
        next_observations=obs,
        terminated=np.array([0.0, 1.0], dtype=np.float32),
        next_masks=np.array([[False, True, True, False], [False, True, True, True]]),
    )
    target = model._td_target(batch).numpy()
    np.testing.assert_allclose(target, [1.0 + 0.5 * 2.0, 1.0])  # not 100: action 0 is masked


def test_double_q_target_values_the_online_choice_with_the_target_net() -> None:
    model = DQN("MlpPolicy", ToyRecEnv(n_actions=4), gamma=0.5, double_q=True, **SMALL)
    _set_q_to_bias(model.q_net, [100.0, 1.0, 5.0, 3.0])  # online: best allowed action is 2
    _set_q_to_bias(model.q_net_target, [100.0, 7.0, 2.0, 9.0])  # target: its own max is 9
    obs = np.zeros((3, 8), dtype=np.float32)
    batch = ReplaySamples(
        observations=obs,
        actions=np.zeros(3, dtype=np.int64),
        rewards=np.ones(3, dtype=np.float32),
        next_observations=obs,
        terminated=np.zeros(3, dtype=np.float32),
        next_masks=np.array([[False, True, True, True], [False, True, False, False], [False] * 4]),
    )
    target = model._td_target(batch).numpy()
    # Q_target at the online argmax (2 -> 2.0; only 1 allowed -> 7.0); nothing allowed -> 0.
    np.testing.assert_allclose(target, [1.0 + 0.5 * 2.0, 1.0 + 0.5 * 7.0, 1.0])
    model.double_q = False
    np.testing.assert_allclose(model._td_target(batch).numpy(), [1.0 + 0.5 * 9.0, 4.5, 1.0])


def test_packed_buffer_roundtrip() -> None:
    buf = MaskedReplayBuffer(10, (2,), np.float32, 13, mask_storage="packed")
    masks = np.random.default_rng(0).random((4, 13)) < 0.5
    obs = np.zeros((4, 2), np.float32)
    buf.add(obs, np.arange(4), np.ones(4), obs, np.zeros(4, bool), next_masks=masks)
    buf.add(obs, np.arange(4), np.ones(4), obs, np.zeros(4, bool), next_masks=masks)
    buf.add(obs, np.arange(4), np.ones(4), obs, np.zeros(4, bool), next_masks=masks)
    assert buf.size() == 10 and buf.full
    s = buf.sample(50, np.random.default_rng(1))
    assert s.next_masks is not None
    np.testing.assert_array_equal(s.next_masks, masks[s.actions])


# ---------------------------------------------------------------- autoreset handling
@pytest.mark.parametrize("mode", [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP])
def test_only_real_transitions_are_stored(mode: AutoresetMode) -> None:
    model = DQN("MlpPolicy", make_venv(4, mode=mode, seq_len=5), **SMALL).learn(400)
    assert model.replay_buffer is not None
    assert model.replay_buffer.size() == model.num_timesteps
    assert model.ep_info_buffer and {e["l"] for e in model.ep_info_buffer} == {5}
    buf = model.replay_buffer
    toy = ToyRecEnv()
    targets = [int(np.flatnonzero((toy.codes == o).all(1))[0]) for o in buf.observations[:400]]
    hits = buf.actions[:400] == np.array(targets)
    np.testing.assert_array_equal(buf.rewards[:400], hits.astype(np.float32))


# ---------------------------------------------------------------- target network
def _params(module: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in module.parameters()]).clone()


def test_target_network_is_updated() -> None:
    model = DQN("MlpPolicy", make_venv(2), target_update_interval=100, **SMALL)
    before = _params(model.q_net_target)
    model.learn(300)
    assert not torch.equal(before, _params(model.q_net_target))
    # never updated when the interval exceeds training; the online net did learn
    frozen = DQN("MlpPolicy", make_venv(2), target_update_interval=10**9, **SMALL)
    start = _params(frozen.q_net_target)
    frozen.learn(300)
    assert torch.equal(start, _params(frozen.q_net_target))
    assert not torch.equal(start, _params(frozen.q_net))


def test_polyak_update() -> None:
    model = DQN("MlpPolicy", ToyRecEnv(), tau=0.25, **SMALL)
    with torch.no_grad():
        for p in model.q_net.parameters():
            p.add_(1.0)
    online, target = _params(model.q_net), _params(model.q_net_target)
    model._update_target()
    torch.testing.assert_close(_params(model.q_net_target), 0.25 * online + 0.75 * target)


# ---------------------------------------------------------------- learning
def test_learns_a_trivially_learnable_env() -> None:
    venv = make_venv(8, n_actions=12, n_users=32)
    model = DQN(
        "MlpPolicy",
        venv,
        learning_starts=200,
        batch_size=64,
        exploration_fraction=0.3,
        learning_rate=1e-3,
        gradient_steps=2,
        seed=0,
        policy_kwargs=dict(net_arch=[64], embed_dim=16),
    ).learn(3_000)
    toy = ToyRecEnv(n_actions=12, n_users=32)
    positions = np.arange(toy.targets.size)
    acts, _ = model.predict(
        toy.codes[toy.targets], deterministic=True, action_masks=toy.masks_at(positions)
    )
    accuracy = (acts == toy.targets).mean()
    assert accuracy > 0.9, accuracy  # random among allowed: ~1/10


# ---------------------------------------------------------------- SB3 integration
class CountingCallback(BaseCallback):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0
        self.started = False
        self.ended = False

    def _on_training_start(self) -> None:
        self.started = True

    def _on_step(self) -> bool:
        self.calls += 1
        assert self.model.num_timesteps == self.num_timesteps
        return self.calls < 20  # stops training early

    def _on_training_end(self) -> None:
        self.ended = True


def test_sb3_callbacks_are_invoked(tmp_path: Path) -> None:
    counting = CountingCallback()
    eval_cb = EvalCallback(ToyRecEnv(), n_eval_episodes=2, eval_freq=5, log_path=str(tmp_path))
    venv = make_venv(2)
    model = DQN("MlpPolicy", venv, **SMALL)
    model.learn(10_000, callback=CallbackList([counting, eval_cb]), progress_bar=True)
    assert counting.started and counting.ended and counting.calls == 20
    if autoreset_mode(venv) == AutoresetMode.SAME_STEP:
        assert model.num_timesteps == 40  # stopped by the callback, 2 envs per call
    else:  # Gymnasium 1.0: next-step only, and reset-only steps are not env steps
        assert 20 < model.num_timesteps < 40
    assert eval_cb.n_calls == 20 and eval_cb.evaluations_timesteps  # evaluated
    assert (tmp_path / "evaluations.npz").exists()
    calls = []
    model.learn(10, callback=lambda _locals, _globals: calls.append(1) or True)
    assert calls


def test_evaluate_policy_runs() -> None:
    model = DQN("MlpPolicy", ToyRecEnv(), **SMALL).learn(100)
    mean, std = evaluate_policy(model, ToyRecEnv(), n_eval_episodes=3, warn=False)
    assert 0.0 <= mean <= 5.0 and std >= 0.0


def test_logger_keys(tmp_path: Path) -> None:
    from stable_baselines3.common.logger import configure

    model = DQN("MlpPolicy", make_venv(2), **SMALL)
    model.set_logger(configure(str(tmp_path), ["csv"]))
    model.learn(400, log_interval=1)
    header = (tmp_path / "progress.csv").read_text().splitlines()[0].split(",")
    for key in (
        "rollout/ep_rew_mean",
        "rollout/exploration_rate",
        "train/loss",
        "train/learning_rate",
        "train/n_updates",
        "time/fps",
        "time/total_timesteps",
    ):
        assert key in header


# ---------------------------------------------------------------- persistence
def test_save_load_roundtrip(tmp_path: Path) -> None:
    model = DQN("MlpPolicy", make_venv(2), policy_kwargs=dict(net_arch=[32, 32]), **SMALL)
    model.learn(300)
    model.save(tmp_path / "dqn")
    path = tmp_path / "dqn.zip"
    assert zipfile.is_zipfile(path)
    loaded = DQN.load(path)
    obs = ToyRecEnv().codes
    np.testing.assert_allclose(loaded.action_scores(obs), model.action_scores(obs), rtol=1e-6)
    a1, _ = model.predict(obs, deterministic=True)
    a2, _ = loaded.predict(obs, deterministic=True)
    np.testing.assert_array_equal(a1, a2)
    assert loaded.policy.net_kwargs["net_arch"] == [32, 32]
    assert loaded.num_timesteps == model.num_timesteps
    assert loaded.exploration_rate == pytest.approx(model.exploration_rate)
    assert loaded.gamma == model.gamma and loaded.batch_size == model.batch_size
    # continue training on an env
    again = DQN.load(path, env=make_venv(2), learning_starts=0)
    again.learn(50, reset_num_timesteps=False)
    assert again.num_timesteps >= model.num_timesteps + 50
    with pytest.raises(ValueError, match="space"):
        DQN.load(path, env=ToyRecEnv(n_actions=7))


def test_atomic_save_keeps_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = DQN("MlpPolicy", ToyRecEnv(), **SMALL)
    path = tmp_path / "model.zip"
    model.save(path)
    good = path.read_bytes()
    calls = {"n": 0}
    real_save = torch.save

    def failing_save(obj, f, *a, **k):  # fail after the first tensor was written
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt("interrupted")
        return real_save(obj, f, *a, **k)

    monkeypatch.setattr(torch, "save", failing_save)
    with pytest.raises(KeyboardInterrupt):
        model.save(path)
    assert path.read_bytes() == good
    assert os.listdir(tmp_path) == ["model.zip"]  # no temporary file left behind
    monkeypatch.undo()
    DQN.load(path)


_SIDE_EFFECT: list[str] = []


class Evil:
    def __reduce__(self):
        return (_SIDE_EFFECT.append, ("executed",))


def test_load_refuses_pickled_code(tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path / "ok", {"class": "DQN"}, {"q_net": {"w": torch.ones(2)}})
    data, tensors = load_checkpoint(path)
    assert data["class"] == "DQN" and torch.equal(tensors["q_net"]["w"], torch.ones(2))
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(evil, "w") as dst:
        dst.writestr("data.json", src.read("data.json"))
        with dst.open("q_net.pt", "w") as fh:
            torch.save({"w": Evil()}, fh)
    with pytest.raises(Exception, match=r"(?i)weights_only|unpickl|global"):
        load_checkpoint(evil)
    assert _SIDE_EFFECT == []
    with pytest.raises(ValueError, match="not a MovieRec"):
        (tmp_path / "junk.zip").write_bytes(b"not a zip")
        load_checkpoint(tmp_path / "junk.zip")
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing")


def test_item_embedding_head_scores_selected_actions() -> None:
    net = ItemEmbeddingQNetwork(8, 30, net_arch=[16], embed_dim=4)
    obs = torch.randn(5, 8)
    acts = torch.tensor([0, 3, 29, 7, 7])
    full = net(obs)
    torch.testing.assert_close(net.q_selected(obs, acts), full[torch.arange(5), acts])
    assert full.shape == (5, 30)
    with pytest.raises(ValueError, match="item_embeddings"):
        ItemEmbeddingQNetwork(8, 30, embed_dim=4, item_embeddings=np.zeros((30, 5)))


def _encoder_head_net(
    seed: int, n: int, d: int, k: int, **kwargs: Any
) -> tuple[ItemEmbeddingQNetwork, np.ndarray, np.ndarray, np.ndarray]:
    """A frozen-table encoder-head Q-network on random features, encoder matrix and bias."""
    rng = np.random.default_rng(seed)
    feats = rng.random((n, k)).astype(np.float32)
    mat = rng.normal(size=(n, d)).astype(np.float32)
    bias = rng.normal(size=n).astype(np.float32)
    net = ItemEmbeddingQNetwork(
        d,
        n,
        embed_dim=0,
        freeze_items=True,
        n_item_features=k,
        item_features=feats,
        encoder_head=True,
        encoder_matrix=mat,
        encoder_bias=bias,
        **kwargs,
    )
    return net, feats, mat, bias


def test_encoder_head_terms_match_a_numpy_reference() -> None:
    rng = np.random.default_rng(100)
    n, d, k = 30, 8, 5
    net, feats, mat, bias = _encoder_head_net(0, n, d, k, net_arch=[16])
    # A frozen table starts Q at v(s): the zero-initialised head adds nothing yet.
    assert not net.head.weight.any() and not net.item_bias.requires_grad
    with torch.no_grad():
        net.enc_scales.copy_(torch.tensor([0.7, 2.0]))
        net.value.weight.zero_()
        net.value.bias.fill_(0.1)
    obs = rng.uniform(-1, 1, (4, d)).astype(np.float32)
    logits = obs @ mat.T + bias
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    expected = 0.1 + 0.7 * (p @ feats) @ feats.T + 2.0 * p
    full = net(torch.as_tensor(obs)).detach().numpy()
    np.testing.assert_allclose(full, expected, rtol=1e-5, atol=1e-6)
    acts = torch.tensor([0, 29, 3, 3])
    sel = net.q_selected(torch.as_tensor(obs), acts).detach().numpy()
    np.testing.assert_allclose(sel, expected[np.arange(4), acts.numpy()], rtol=1e-5, atol=1e-6)
    # Only the shared parts learn: tower, head, value, the two encoder scales, bias scale.
    trainable = {name for name, p in net.named_parameters() if p.requires_grad}
    assert "item_embeddings" not in trainable and "item_bias" not in trainable
    assert {"enc_scales", "bias_scale"} <= trainable


def test_state_scales_make_the_encoder_terms_weights_depend_on_the_state() -> None:
    """``state_scales=True``: (alpha, beta) + a zero-initialised linear map of the tower."""
    rng = np.random.default_rng(7)
    n, d, k = 25, 6, 4
    kw: dict[str, Any] = dict(net_arch=[8], residual=False, encoder_prob="log")
    plain, feats, mat, bias = _encoder_head_net(3, n, d, k, **kw)
    gated, _, _, _ = _encoder_head_net(3, n, d, k, state_scales=True, **kw)
    gated.load_state_dict(plain.state_dict(), strict=False)  # same tower, value, scales
    obs = torch.as_tensor(rng.uniform(-1, 1, (5, d)).astype(np.float32))
    with torch.no_grad():
        for net in (plain, gated):
            net.enc_scales.copy_(torch.tensor([0.4, 1.2]))
    # Zero at the start: the same Q as the plain head.
    torch.testing.assert_close(gated(obs), plain(obs))
    with torch.no_grad():
        gated.scale_head.weight.normal_()
    h = gated.tower(obs)
    scales = gated.enc_scales + gated.scale_head(h)
    assert scales.shape == (5, 2) and scales[:, 0].std() > 0  # one (alpha, beta) per state
    logits = obs.numpy() @ mat.T + bias
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    score = np.maximum(np.log(p / p.max(1, keepdims=True)), -20.0)
    s = scales.detach().numpy()
    v = gated.value(h).detach().numpy()
    expected = v + s[:, :1] * ((p @ feats) @ feats.T) + s[:, 1:] * score
    np.testing.assert_allclose(gated(obs).detach().numpy(), expected, rtol=1e-4, atol=1e-5)
    acts = torch.tensor([0, 24, 3, 3, 9])
    sel = gated.q_selected(obs, acts).detach().numpy()
    np.testing.assert_allclose(sel, expected[np.arange(5), acts.numpy()], rtol=1e-4, atol=1e-5)
    assert "scale_head.weight" in {name for name, q in gated.named_parameters() if q.requires_grad}
    assert plain.scale_head is None
    with pytest.raises(ValueError, match="state_scales"):
        ItemEmbeddingQNetwork(d, n, state_scales=True)


@pytest.mark.parametrize("mode", ["relative", "log"])
def test_encoder_prob_modes_score_p_against_its_top_movie(mode: str) -> None:
    rng = np.random.default_rng(101)
    n, d, k = 20, 6, 3
    net, _, mat, bias = _encoder_head_net(1, n, d, k, net_arch=[8], encoder_prob=mode)
    with torch.no_grad():
        net.enc_scales.copy_(torch.tensor([0.0, 1.5]))
        net.value.weight.zero_()
        net.value.bias.zero_()
    obs = rng.uniform(-1, 1, (3, d)).astype(np.float32)
    logits = obs @ mat.T + bias
    gap = logits - logits.max(1, keepdims=True)  # log(p / max p)
    expected = 1.5 * (np.exp(gap) if mode == "relative" else np.maximum(gap, -20.0))
    full = net(torch.as_tensor(obs)).detach().numpy()
    np.testing.assert_allclose(full, expected, rtol=1e-4, atol=1e-5)
    # The encoder's top movie scores highest (1 or 0), whatever the scale of p.
    np.testing.assert_array_equal(full.argmax(1), logits.argmax(1))
    acts = torch.tensor([0, 19, 4])
    sel = net.q_selected(torch.as_tensor(obs), acts).detach().numpy()
    np.testing.assert_allclose(sel, expected[np.arange(3), acts.numpy()], rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="encoder_prob"):
        ItemEmbeddingQNetwork(d, n, encoder_prob="softmax")


def test_default_head_without_an_encoder_is_the_item_embedding_head() -> None:
    model = DQN("MlpPolicy", make_venv(2), **SMALL)
    kw = model.policy.net_kwargs
    assert kw["encoder_head"] is False and kw["embed_dim"] == 64 and not kw["freeze_items"]
    with pytest.raises(ValueError, match="encoder"):
        DQN("MlpPolicy", make_venv(2), policy_kwargs=dict(encoder_head=True), **SMALL)


# ---------------------------------------------------------------- n-step returns
def _push(acc, env_ids, rewards, terminated, dones, t):
    """One step of sub-envs ``env_ids``: observation = step number ``t`` (as a float)."""
    n = len(env_ids)
    obs = np.full((n, 1), float(t), dtype=np.float32)
    return acc.push(
        np.asarray(env_ids),
        obs,
        np.full(n, t, dtype=np.int64),
        np.asarray(rewards, dtype=np.float32),
        obs + 1.0,
        np.asarray(terminated, dtype=bool),
        np.asarray(dones, dtype=bool),
        next_positions=np.full(n, 100 + t, dtype=np.int64),
    )


def test_nstep_accumulator_returns_discounts_and_episode_ends() -> None:
    from agents.common.buffers import NStepAccumulator

    g = 0.5
    acc = NStepAccumulator(3, g, n_envs=2)
    assert _push(acc, [0, 1], [1, 10], [False, False], [False, False], 0) is None
    assert _push(acc, [0, 1], [2, 20], [False, False], [False, False], 1) is None
    # Third step: both queues are full; each emits its oldest transition, 3 steps long.
    out = _push(acc, [0, 1], [4, 40], [False, False], [False, False], 2)
    assert out is not None
    np.testing.assert_allclose(out["rewards"], [1 + g * 2 + g**2 * 4, 10 + g * 20 + g**2 * 40])
    np.testing.assert_allclose(out["discounts"], [g**3, g**3])
    np.testing.assert_array_equal(out["obs"][:, 0], [0.0, 0.0])  # s_t
    np.testing.assert_array_equal(out["next_obs"][:, 0], [3.0, 3.0])  # s_{t+3}
    np.testing.assert_array_equal(out["actions"], [0, 0])
    np.testing.assert_array_equal(out["next_positions"], [102, 102])
    assert not out["terminated"].any() and acc.pending() == 4
    # Env 0 terminates, env 1 is truncated at step 3: both flush every waiting start.
    out = _push(acc, [0, 1], [8, 80], [True, False], [True, True], 3)
    assert out is not None and acc.pending() == 0
    np.testing.assert_array_equal(out["actions"], [1, 2, 3, 1, 2, 3])
    np.testing.assert_allclose(
        out["rewards"],
        [2 + g * 4 + g**2 * 8, 4 + g * 8, 8, 20 + g * 40 + g**2 * 80, 40 + g * 80, 80],
    )
    np.testing.assert_allclose(out["discounts"], [g**3, g**2, g, g**3, g**2, g])
    # Terminated: no bootstrap; truncated: bootstrap from the final state, as one-step.
    np.testing.assert_array_equal(out["terminated"], [True] * 3 + [False] * 3)
    np.testing.assert_array_equal(out["next_obs"][:, 0], [4.0] * 6)
    # Only the sub-envs stepped are touched; a new episode starts an empty queue.
    assert _push(acc, [1], [5], [False], [False], 4) is None and acc.pending() == 1
    acc.clear()
    assert acc.pending() == 0
    with pytest.raises(ValueError, match="n_steps"):
        NStepAccumulator(0, g, 1)


def test_nstep_of_one_passes_transitions_through() -> None:
    from agents.common.buffers import NStepAccumulator

    out = _push(NStepAccumulator(1, 0.9, 1), [0], [3], [False], [False], 0)
    assert out is not None
    np.testing.assert_allclose(out["rewards"], [3.0])
    np.testing.assert_allclose(out["discounts"], [np.float32(0.9)])


def test_nstep_td_target_uses_each_transitions_discount() -> None:
    model = DQN("MlpPolicy", ToyRecEnv(n_actions=4), gamma=0.5, n_steps=3, **SMALL)
    _set_q_to_bias(model.q_net_target, [1.0, 2.0, 3.0, 4.0])
    obs = np.zeros((3, 8), dtype=np.float32)
    batch = ReplaySamples(
        observations=obs,
        actions=np.zeros(3, dtype=np.int64),
        rewards=np.array([1.0, 1.0, 1.0], dtype=np.float32),
        next_observations=obs,
        terminated=np.array([0.0, 0.0, 1.0], dtype=np.float32),
        next_masks=None,
        discounts=np.array([0.125, 0.5, 0.125], dtype=np.float32),
    )
    target = model._td_target(batch).numpy()
    np.testing.assert_allclose(target, [1.0 + 0.125 * 4.0, 1.0 + 0.5 * 4.0, 1.0])


def test_nstep_dqn_stores_every_step_once_and_saves_n_steps(tmp_path: Path) -> None:
    model = DQN("MlpPolicy", make_venv(3, seq_len=5), gamma=0.5, n_steps=3, **SMALL).learn(300)
    buf = model.replay_buffer
    assert buf is not None and buf.discounts is not None and model._nstep is not None
    # Every env step becomes one transition once its horizon or its episode ends.
    assert buf.size() + model._nstep.pending() == model.num_timesteps
    assert set(np.unique(buf.discounts[: buf.size()]).tolist()) == {0.5, 0.25, 0.125}
    # 5-step episodes, horizon 3: per finished episode three full-horizon starts and one
    # each of horizon 2 and 1; an unfinished one has emitted at most two full ones (3 envs).
    counts = {d: int((buf.discounts[: buf.size()] == d).sum()) for d in (0.125, 0.25, 0.5)}
    assert counts[0.25] == counts[0.5] > 0
    assert 0 <= counts[0.125] - 3 * counts[0.5] <= 2 * 3
    model.save(tmp_path / "m.zip")
    assert DQN.load(tmp_path / "m.zip").n_steps == 3
    with pytest.raises(ValueError, match="n_steps"):
        DQN("MlpPolicy", ToyRecEnv(), n_steps=0)
    one = DQN("MlpPolicy", make_venv(2), gamma=0.5, **SMALL).learn(100)
    assert one.replay_buffer is not None and one.replay_buffer.discounts is None


class _Chain(gym.Env):
    """A delayed reward: "grab" (action 0) pays 0.2 and ends; "wait" (action 1) pays
    nothing until the ``length``-th wait, which pays 1. Under gamma 0.9 waiting is worth
    0.9**(length-1) > 0.2 from the start; under gamma 0 grabbing is."""

    def __init__(self, length: int = 4) -> None:
        self.length = length
        self.observation_space = gym.spaces.Box(0.0, 1.0, (length + 1,), np.float32)
        self.action_space = gym.spaces.Discrete(2)
        self.pos = 0

    def _obs(self) -> np.ndarray:
        o = np.zeros(self.length + 1, np.float32)
        o[self.pos] = 1.0
        return o

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.pos = 0
        return self._obs(), {}

    def step(self, action):
        if int(action) == 0:
            return self._obs(), 0.2, True, False, {}
        self.pos += 1
        done = self.pos == self.length
        return self._obs(), 1.0 if done else 0.0, done, False, {}


@pytest.mark.parametrize(("gamma", "first_action"), [(0.9, 1), (0.0, 0)])
def test_the_discount_decides_between_a_small_reward_now_and_a_larger_one_later(
    gamma: float, first_action: int
) -> None:
    """The TD target discounts and bootstraps: gamma 0.9 learns to wait, gamma 0 grabs."""
    venv = sync_vector_env([lambda: _Chain() for _ in range(4)], same_step=True)
    model = DQN(
        "MlpPolicy",
        venv,
        gamma=gamma,
        learning_starts=100,
        batch_size=64,
        exploration_fraction=0.5,
        learning_rate=1e-3,
        target_update_interval=100,
        seed=0,
        policy_kwargs=dict(net_arch=[32], embed_dim=8),
    ).learn(4_000)
    chain = _Chain()
    obs = np.stack([np.eye(chain.length + 1, dtype=np.float32)[i] for i in range(chain.length)])
    q = model.policy.q_values(obs)
    assert int(q[0].argmax()) == first_action, q
    # Q(position i, wait) is the chain's discounted value gamma**(length - 1 - i).
    expected = gamma ** np.arange(chain.length - 1, -1, -1.0)
    np.testing.assert_allclose(q[:, 1], expected, atol=0.05)
    np.testing.assert_allclose(q[:, 0], 0.2, atol=0.05)
