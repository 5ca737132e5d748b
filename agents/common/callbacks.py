"""Callbacks complementing SB3's.

Why :class:`TqdmProgressBarCallback` is written here: SB3's ``ProgressBarCallback`` draws
with ``tqdm.rich`` and so needs the ``rich`` package, which this project does not depend
on. This one is the same callback on plain ``tqdm`` (a dependency already).
"""

from __future__ import annotations

from typing import Any

from stable_baselines3.common.callbacks import BaseCallback
from tqdm.auto import tqdm

__all__ = ["TqdmProgressBarCallback"]


class TqdmProgressBarCallback(BaseCallback):
    """Progress bar over env steps (``learn(..., progress_bar=True)``), on plain tqdm.

    Args:
        desc: Text before the bar.
    """

    def __init__(self, desc: str = "training") -> None:
        super().__init__()
        self.desc = desc
        self.pbar: Any = None
        self._seen = 0

    def _on_training_start(self) -> None:
        total = int(self.locals["total_timesteps"]) - int(self.model.num_timesteps)
        self._seen = int(self.model.num_timesteps)
        self.pbar = tqdm(total=total, desc=self.desc, unit="step", dynamic_ncols=True)

    def _on_step(self) -> bool:
        now = int(self.model.num_timesteps)
        self.pbar.update(now - self._seen)
        self._seen = now
        return True

    def _on_training_end(self) -> None:
        if self.pbar is not None:
            self.pbar.refresh()
            self.pbar.close()
