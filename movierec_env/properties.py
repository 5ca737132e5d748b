"""The env-contract properties every MovieRec env reads off its shared core.

:class:`~movierec_env.replay.ReplayEnvProperties` (``MovieRec-v0``) and
:class:`~movierec_env.sim_env.SimEnvProperties` (``MovieRecSim-v0``) both hold a ``_core``
(``ReplayCore`` / ``SimCore``) with the same read-only parts; this mixin turns them into the
contract's properties once, for the single and the vector env of both.
"""

from __future__ import annotations

from typing import Any, Protocol

from movierec_env.candidates import CandidateConfig, CandidateGenerator
from movierec_env.catalogue import Catalogue
from movierec_env.contract import EncoderLike, ItemFeatures
from movierec_env.data.types import PreparedDataset
from movierec_env.reward import RewardConfig, RewardTables

__all__ = ["CoreEnvProperties", "checked_render_mode"]


class _Core(Protocol):
    """What both env cores hold."""

    data: PreparedDataset
    reward_config: RewardConfig
    tables: RewardTables
    features: ItemFeatures
    mask_seen: bool
    split: str
    n_actions: int
    candidate_config: CandidateConfig | None
    generator: CandidateGenerator | None

    @property
    def encoder(self) -> Any:
        """The frozen encoder (the replay core loads it on first read)."""


def checked_render_mode(render_mode: str | None, metadata: dict[str, Any]) -> str | None:
    """``render_mode`` if an env with ``metadata`` supports it.

    Raises:
        ValueError: Naming the supported modes.
    """
    if render_mode is not None and render_mode not in metadata["render_modes"]:
        raise ValueError(
            f"render_mode must be None or one of {metadata['render_modes']}, got {render_mode!r}"
        )
    return render_mode


class CoreEnvProperties:
    """Read-only contract properties shared by every MovieRec env (single and vector)."""

    _core: _Core
    _catalogue: Catalogue | None = None
    metadata: dict[str, Any]

    def _checked_render_mode(self, render_mode: str | None) -> str | None:
        """``render_mode`` if the env supports it (:func:`checked_render_mode`)."""
        return checked_render_mode(render_mode, self.metadata)

    @property
    def n_actions(self) -> int:
        """Number of movies (``dataset.n_items``): the action space, or each slate slot's."""
        return self._core.n_actions

    @property
    def catalogue(self) -> Catalogue:
        """Maps actions to movies (movieId, title, genres)."""
        if self._catalogue is None:
            self._catalogue = Catalogue(self._core.data)
        return self._catalogue

    @property
    def dataset(self) -> PreparedDataset:
        """The prepared dataset (histories, split, training statistics)."""
        return self._core.data

    @property
    def encoder(self) -> EncoderLike:
        """The frozen encoder whose embeddings are the observations."""
        enc: EncoderLike = self._core.encoder
        return enc

    @property
    def reward_config(self) -> RewardConfig:
        """The reward configuration in use."""
        return self._core.reward_config

    @property
    def reward_tables(self) -> RewardTables:
        """The reward's precomputed tables (shared by every env on the same dataset)."""
        return self._core.tables

    @property
    def item_features(self) -> ItemFeatures:
        """Item side information in the reward's own normalisation (memoised)."""
        return self._core.features

    @property
    def mask_seen(self) -> bool:
        """Whether ``action_masks()`` hides movies already seen (or watched)."""
        return self._core.mask_seen

    @property
    def split(self) -> str:
        """The split episodes come from."""
        return self._core.split

    @property
    def candidates(self) -> int | None:
        """``K`` in candidate mode (the action space is ``Discrete(K)``), else ``None``."""
        gen = self._core.generator
        return None if gen is None else gen.k

    @property
    def candidate_config(self) -> CandidateConfig | None:
        """The candidate settings (``None`` with full-catalogue actions)."""
        return self._core.candidate_config

    def _generator(self) -> CandidateGenerator:
        """The candidate generator.

        Raises:
            ValueError: With full-catalogue actions.
        """
        gen = self._core.generator
        if gen is None:
            raise ValueError(
                "this env has full-catalogue actions; make it with candidates=K for candidate mode"
            )
        return gen
