from __future__ import annotations

import numpy as np
import pytest

from movierec_env.sim import World, fit_world
from movierec_env.sim import preference as pr
from movierec_env.sim.features import split_users

from .conftest import SMALL


def _users(data, n=16):
    u = np.arange(data.n_users)[data.train_end - data.offsets[:-1] >= 2][:n]
    return u, data.train_end[u]


def test_halves_are_disjoint_and_cover_users(sim_data):
    h = split_users(sim_data.n_users, seed=0)
    assert np.intersect1d(h["train"], h["eval"]).size == 0
    assert h["train"].size + h["eval"].size == sim_data.n_users
    assert not np.array_equal(split_users(sim_data.n_users, 1)["train"], h["train"])


def test_validation_worlds_split_the_train_worlds_users(sim_data):
    h = split_users(sim_data.n_users, seed=0)
    # val_a and val_b are disjoint halves of "train": never an "eval" (held-out) user.
    assert np.intersect1d(h["val_a"], h["val_b"]).size == 0
    np.testing.assert_array_equal(np.union1d(h["val_a"], h["val_b"]), h["train"])
    assert abs(h["val_a"].size - h["val_b"].size) <= 1
    assert np.intersect1d(h["val_b"], h["eval"]).size == 0
    # The two original halves are those of before (the published worlds do not move).
    perm = np.random.default_rng(0).permutation(sim_data.n_users)
    np.testing.assert_array_equal(h["train"], np.sort(perm[: (sim_data.n_users + 1) // 2]))
    w = fit_world(sim_data, "val_b", seed=0, progress=False, **SMALL)
    np.testing.assert_array_equal(w.arrays["users"], h["val_b"])
    assert w.meta["world"] == "val_b"
    with pytest.raises(ValueError, match="world must be one of"):
        fit_world(sim_data, "val_c", seed=0, progress=False, **SMALL)


def test_fit_is_deterministic_per_seed(sim_data, sim_world):
    again = fit_world(sim_data, "train", seed=0, progress=False, **SMALL)
    assert again.fitted == sim_world.fitted
    for k, a in sim_world.arrays.items():
        np.testing.assert_array_equal(a, again.arrays[k], err_msg=k)
    other = fit_world(sim_data, "eval", seed=0, progress=False, **SMALL)
    assert not np.array_equal(other.arrays["users"], sim_world.arrays["users"])


def test_step_is_deterministic_per_rng(sim_data, sim_world):
    u, ends = _users(sim_data)
    runs = []
    for _ in range(2):
        st = sim_world.initial_state(u, ends)
        rng = np.random.default_rng(7)
        runs.append([sim_world.step(st, np.full(u.size, 1), rng) for _ in range(4)])
    for a, b in zip(*runs, strict=True):
        for x, y in zip(a, b, strict=True):
            np.testing.assert_array_equal(x, y)


def test_step_outputs_and_state_updates(sim_data, sim_world):
    u, ends = _users(sim_data)
    st = sim_world.initial_state(u, ends)
    rng = np.random.default_rng(0)
    lo, hi = sim_data.rating_scale
    for _ in range(5):
        before = st.seen.copy()
        pos = st.session_pos.copy()
        res = sim_world.step(st, np.zeros(u.size, dtype=np.int64), rng)
        assert not res.accepted.any()  # no recommendation: nothing to accept
        assert not before[np.arange(u.size), res.watched_items].any()  # never a rewatch
        assert st.seen[np.arange(u.size), res.watched_items].all()
        assert ((res.ratings >= lo) & (res.ratings <= hi)).all()
        np.testing.assert_allclose(res.ratings * 2, np.round(res.ratings * 2))
        assert ((res.leave_prob > 0) & (res.leave_prob < 1)).all()
        np.testing.assert_array_equal(st.session_pos, pos + 1)


def test_initial_state_matches_the_logged_recurrences(sim_data, sim_world):
    u, ends = _users(sim_data)
    f = sim_world.fitted
    inp = pr.states_at(
        sim_data,
        ends,
        sim_world.arrays["pref_factors"].astype(float),
        f["pref_decay"],
        f["exposure_decay"],
    )
    st = sim_world.initial_state(u, ends)
    prof = st.profile / st.profile_weight[:, None]
    expo = st.exposure / st.exposure.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(prof, inp.profile, atol=1e-6)
    np.testing.assert_allclose(expo, inp.exposure, atol=1e-6)


def test_accept_prob_choice_model(sim_data, sim_world):
    u, ends = _users(sim_data)
    st = sim_world.initial_state(u, ends)
    top = sim_world.organic_scores(st).argmax(axis=1)
    p = sim_world.accept_prob(st, top)
    np.testing.assert_allclose(p, 1 - sim_world.params.ignore_prob)  # definition of ignore_prob
    seen_item = sim_data.items[ends - 1]
    assert (sim_world.accept_prob(st, seen_item) == 0).all()
    assert (sim_world.accept_prob(st, np.zeros(u.size, dtype=np.int64)) == 0).all()
    slate = np.stack([top, seen_item, np.roll(top, 1)], axis=1)
    ps = sim_world.accept_prob(st, slate)
    assert ps.shape == (u.size, 3)
    assert (ps.sum(axis=1) <= 1 + 1e-12).all()
    assert (ps[:, 1] == 0).all()
    eager = sim_world.with_params(ignore_prob=0.0)
    np.testing.assert_allclose(eager.accept_prob(st, top), 1.0)
    lazy = sim_world.with_params(ignore_prob=0.9)
    assert (lazy.accept_prob(st, top) < p).all()


def test_ignored_recommendations_raise_leave_prob(sim_data, sim_world):
    u, ends = _users(sim_data)
    impatient = sim_world.with_params(ignore_leave_weight=2.0, ignore_prob=0.99)
    st = impatient.initial_state(u, ends)
    base = impatient.leave_prob(st)
    seen_item = sim_data.items[ends - 1]  # never taken: always ignored
    impatient.step(st, seen_item, np.random.default_rng(0))
    assert (st.ignored == 1).all()
    st2 = impatient.initial_state(u, ends)
    impatient.step(st2, np.zeros(u.size, dtype=np.int64), np.random.default_rng(0))
    assert (st2.ignored == 0).all()
    assert (impatient.leave_prob(st) > impatient.leave_prob(st2)).all()
    assert base.shape == (u.size,)


def test_bad_state_inputs(sim_data, sim_world):
    u, ends = _users(sim_data, 4)
    with pytest.raises(ValueError, match="prefix_ends"):
        sim_world.initial_state(u, ends + 10_000)
    with pytest.raises(ValueError, match="users"):
        sim_world.initial_state(np.array([sim_data.n_users]), np.array([0]))
    st = sim_world.initial_state(u, ends)
    with pytest.raises(ValueError, match="rec_items"):
        sim_world.accept_prob(st, np.full(u.size, sim_world.n_items + 1))
    with pytest.raises(ValueError, match="rec_items"):
        sim_world.accept_prob(st, np.ones((u.size + 1, 2), dtype=np.int64))
    with pytest.raises(TypeError, match="rng"):
        sim_world.step(st, np.zeros(u.size, dtype=np.int64), 0)
    with pytest.raises(ValueError, match="gap_hours"):
        sim_world.with_params(gap_hours=2.0)
    with pytest.raises(ValueError, match="ignore_prob"):
        sim_world.with_params(ignore_prob=2.0)
    bare = World(sim_world.arrays, sim_world.fitted, sim_world.params, sim_world.meta)
    with pytest.raises(ValueError, match="data"):
        bare.initial_state(u, ends)


def test_organic_draw_follows_the_softmax(sim_world):
    rng = np.random.default_rng(0)
    n = sim_world.n_items + 1
    scores = np.full((1, n), -np.inf, dtype=np.float32)
    support = np.array([1, 5, n // 2, n - 1])
    scores[0, support] = [0.0, 1.0, 2.0, -1.0]
    draws = sim_world._organic_draw(np.repeat(scores, 40_000, axis=0), rng)
    assert set(np.unique(draws)) <= set(support.tolist())
    p = np.exp(scores[0, support] - 2.0)
    p /= p.sum()
    emp = np.bincount(draws, minlength=n)[support] / draws.size
    se = np.sqrt(p * (1 - p) / draws.size)
    assert (np.abs(emp - p) < 5 * se).all(), (emp, p)


def _reference_organic_scores(world, state):
    """organic_scores as first written: scipy.sparse fancy row indexing of the transitions."""
    prof, expo = world._profile_exposure(state)
    one = np.ones((prof.shape[0], 1))
    left = np.concatenate([world._w[0] * prof, world._w[1] * expo, one], axis=1)
    out = left.astype(np.float32) @ world._item_matrix
    sub = world._trans[state.last_item]
    rows = np.repeat(np.arange(out.shape[0]), np.diff(sub.indptr))
    out[rows, sub.indices] += sub.data
    np.copyto(out, np.float32(-np.inf), where=state.seen)
    return out


def test_organic_scores_equal_the_sparse_reference_bit_for_bit(sim_data, sim_world):
    u, ends = _users(sim_data)
    st = sim_world.initial_state(u, ends)
    st.last_item[0] = 0  # no last item: no transition entries
    assert (np.diff(sim_world._trans_indptr)[st.last_item[1:]] > 0).any()
    np.testing.assert_array_equal(
        sim_world.organic_scores(st), _reference_organic_scores(sim_world, st)
    )
    for i in range(3):  # B = 1 takes its own branch
        one = st.take(np.array([i]))
        np.testing.assert_array_equal(
            sim_world.organic_scores(one), _reference_organic_scores(sim_world, one)
        )


@pytest.mark.parametrize("slate", [1, 3])
def test_step_of_a_batch_equals_each_user_alone(sim_data, sim_world, slate):
    """A batch of B users steps exactly as B batches of one (the B = 1 path is separate)."""
    u, ends = _users(sim_data)
    batch = sim_world.initial_state(u, ends)
    alone = [batch.take(np.array([i])) for i in range(u.size)]
    rng = np.random.default_rng(3)
    for _ in range(6):
        rec = rng.integers(0, sim_world.n_items + 1, (u.size, slate))
        draws = rng.random((u.size, 4))
        res = sim_world.step_with_draws(batch, rec, draws)
        for i, st in enumerate(alone):
            one = sim_world.step_with_draws(st, rec[i : i + 1], draws[i : i + 1])
            for x, y in zip(res, one, strict=True):
                np.testing.assert_array_equal(x[i : i + 1], y)
    for i, st in enumerate(alone):
        for name in vars(st):
            np.testing.assert_array_equal(getattr(batch, name)[i : i + 1], getattr(st, name))


def test_inverse_cdf_draw_with_given_row_maxima_is_the_same_draw(sim_data, sim_world):
    from movierec_env.sim.world import _inverse_cdf_draw

    u, ends = _users(sim_data)
    scores = sim_world.organic_scores(sim_world.initial_state(u, ends))
    draws = np.random.default_rng(0).random(u.size)
    np.testing.assert_array_equal(
        _inverse_cdf_draw(scores, draws, scores.max(axis=1, keepdims=True)),
        _inverse_cdf_draw(scores, draws),
    )


def test_inverse_cdf_draw_of_one_row_equals_the_batched_draw():
    """The single-row branch (scalars, searchsorted) draws exactly what the batch does."""
    from movierec_env.sim.world import _inverse_cdf_draw

    rng = np.random.default_rng(5)
    logits = (rng.normal(size=(400, 97)) * 4).astype(np.float32)
    logits[rng.random(logits.shape) < 0.3] = -np.inf
    logits[:50, 10:60] = -np.inf  # whole blocks without mass
    logits[50:60] = np.float32(0.0)  # ties
    u = rng.random(400)
    u[:5] = 0.0
    u[5:10] = np.nextafter(1.0, 0.0)
    batched = _inverse_cdf_draw(logits, u)
    alone = np.concatenate([_inverse_cdf_draw(logits[i : i + 1], u[i : i + 1]) for i in range(400)])
    np.testing.assert_array_equal(alone, batched)
    # (u = 0 exactly, probability 2**-53 per draw, may land on a massless first column.)
    assert np.isfinite(logits[np.arange(5, 400), batched[5:]]).all()
