"""Shared fixtures: a small synthetic dataset (unit tests) and the shipped one (end to end)."""

from __future__ import annotations

import pytest

from movierec_env.data import PrepareConfig, PreparedDataset, load_dataset, prepare
from movierec_env.data.synthetic import synthetic_raw


@pytest.fixture(scope="session")
def tiny_data() -> PreparedDataset:
    """40 users x 30 movies, ~1,200 interactions, prepared with 3/3 filtering."""
    raw = synthetic_raw(n_users=40, n_movies=30, n_ratings=1_200, seed=0)
    return prepare(raw, PrepareConfig(min_user_ratings=3, min_item_ratings=3))


@pytest.fixture(scope="session")
def small_data() -> PreparedDataset:
    """The shipped ml-latest-small, prepared per PROTOCOL.md."""
    return load_dataset()


@pytest.fixture()
def one_torch_thread():
    """Small networks on 2 shared cores: one thread avoids oversubscription (docs/dqn.md)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


#: Candidates per step in the candidate-mode tests.
CANDIDATES_K = 8


@pytest.fixture(scope="session")
def cand_data() -> PreparedDataset:
    """109 movies, histories of at most 52: every position leaves more than K unseen."""
    raw = synthetic_raw(n_users=40, n_movies=120, n_ratings=1_500, seed=0)
    return prepare(raw, PrepareConfig(min_user_ratings=3, min_item_ratings=3))


@pytest.fixture(scope="session")
def cand_encoder(cand_data):
    from movierec_env.testing import RandomProjectionEncoder

    return RandomProjectionEncoder(cand_data)


@pytest.fixture()
def make_cand(cand_data, cand_encoder):
    """Factory of candidate-mode MovieRecEnv instances (K = CANDIDATES_K by default)."""
    from movierec_env.env import MovieRecEnv

    def make(candidates=CANDIDATES_K, **kwargs):
        return MovieRecEnv(
            dataset=cand_data, encoders=cand_encoder, candidates=candidates, **kwargs
        )

    return make


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run the ``movierec`` entry point (exit codes as the shell sees them).

    Returns:
        ``(exit code, stdout, stderr)``.
    """
    from experiments.cli import main

    code = 0
    try:
        main(argv)
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err
