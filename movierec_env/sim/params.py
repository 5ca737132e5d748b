"""Declared parameters of the simulated user: what the MovieLens logs cannot identify.

MovieLens logs what users rated, never what they were shown, so how often a user ignores a
recommendation, how fast patience runs out on ignored ones and whether repeated genres bore
are not identifiable (the logs hold no impressions). They are declared here, with documented
defaults, validated ranges and a sensitivity analysis in ``docs/sim.md``; everything else
in a world is fitted on training interactions (:mod:`movierec_env.sim.fit`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

__all__ = ["WORLD_NAMES", "WorldParams", "check_world_name"]

#: World names: ``"train"`` and ``"eval"``, fitted on disjoint halves of the users (agents
#: train in the first and are judged in the second, on its users); ``"val_a"`` and
#: ``"val_b"``, fitted on disjoint halves of the train world's users, for a validation that
#: repeats that protocol (train in ``val_a``, judge in ``val_b``) without the held-out users.
WORLD_NAMES = ("train", "eval", "val_a", "val_b")


def check_world_name(world: str) -> str:
    """Return ``world`` if it is a known world name.

    Raises:
        ValueError: If ``world`` is not one of :data:`WORLD_NAMES`.
    """
    if world not in WORLD_NAMES:
        raise ValueError(f"world must be one of {WORLD_NAMES}, got {world!r}")
    return world


def _check_range(name: str, value: float, lo: float, hi: float, lo_open: bool, hi_open: bool):
    ok = (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and (value > lo if lo_open else value >= lo)
        and (value < hi if hi_open else value <= hi)
    )
    if not ok:
        left, right = "(" if lo_open else "[", ")" if hi_open else "]"
        raise ValueError(f"{name} must be in {left}{lo}, {hi}{right}, got {value!r}")


@dataclass(frozen=True)
class WorldParams:
    """Declared (not identifiable) parameters of a world, plus the session gap threshold.

    Attributes:
        ignore_prob: Probability that a user ignores a lone recommendation of the item they
            would most like to watch next (their top organic item), at zero boredom. The
            organic option of the choice model has mass ``ignore_prob / (1 - ignore_prob)``.
            Not identifiable (no impressions); default 0.5, a coin flip for the best item,
            RecSim's ``no_click_mass = 1`` in spirit. In ``[0, 1)``.
        accept_sensitivity: Exponent ``kappa`` of the choice model: a recommended item's
            odds of being taken scale with ``(p_item / p_top) ** kappa``, its organic
            probability relative to the top item. 1.0 (default) means a recommendation is
            taken in proportion to how much the user would have chosen it anyway. > 0.
        boredom_weight: Penalty on a recommendation's choice utility per unit of genre
            overlap with the user's recent exposure. The logs show genre *momentum*, not
            boredom, so the default is 0.0 (off); a positive value is an assumption.
            In ``[0, 10]``.
        ignore_decay: Per-step decay of the ignored-recommendation counter. In ``(0, 1)``.
        ignore_leave_weight: Increase of the leave log-odds per unit of the decayed
            ignored-recommendation counter (patience lost on ignored recommendations).
            Not identifiable; default 0.2 (five recent ignored recommendations raise the
            leave odds by about 2.7x). In ``[0, 10]``.
        gap_hours: Session threshold: a gap longer than this between two ratings of a user
            ends a session. Default 1.0: on ml-latest-small the histogram of log10 gaps has
            its valley between about 0.5 h and 5 h, and 1 h lies in it. > 0.
        max_session_steps: Safety cap used by replays and validation. >= 1.
    """

    ignore_prob: float = 0.5
    accept_sensitivity: float = 1.0
    boredom_weight: float = 0.0
    ignore_decay: float = 0.8
    ignore_leave_weight: float = 0.2
    gap_hours: float = 1.0
    max_session_steps: int = 200

    def __post_init__(self) -> None:
        _check_range("ignore_prob", self.ignore_prob, 0.0, 1.0, False, True)
        _check_range("accept_sensitivity", self.accept_sensitivity, 0.0, 100.0, True, False)
        _check_range("boredom_weight", self.boredom_weight, 0.0, 10.0, False, False)
        _check_range("ignore_decay", self.ignore_decay, 0.0, 1.0, True, True)
        _check_range("ignore_leave_weight", self.ignore_leave_weight, 0.0, 10.0, False, False)
        _check_range("gap_hours", self.gap_hours, 0.0, 1e6, True, False)
        if (
            not isinstance(self.max_session_steps, int)
            or isinstance(self.max_session_steps, bool)
            or self.max_session_steps < 1
        ):
            raise ValueError(
                f"max_session_steps must be an integer >= 1, got {self.max_session_steps!r}"
            )

    @property
    def ignore_mass(self) -> float:
        """Mass of the organic (ignore) option in the choice model."""
        return self.ignore_prob / (1.0 - self.ignore_prob)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict of the parameters."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> WorldParams:
        """Build from :meth:`to_dict` output, refusing unknown keys.

        Raises:
            ValueError: On an unknown key or an out-of-range value.
        """
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown WorldParams field {unknown[0]!r} (known: {sorted(known)})")
        return cls(**values)
