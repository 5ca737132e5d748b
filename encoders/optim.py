"""The optimiser and learning-rate schedule every trainer of the project uses.

One definition of "AdamW with cosine annealing to a fraction of the learning rate", so the
encoder trainer and the agents that fine-tune encoders step the same schedule.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

__all__ = ["make_optimizer"]


def make_optimizer(
    params: Iterable[torch.Tensor] | Iterable[dict[str, Any]],
    lr: float,
    weight_decay: float = 0.0,
    total_steps: int = 1,
    final_lr_fraction: float = 0.1,
) -> tuple[torch.optim.AdamW, torch.optim.lr_scheduler.CosineAnnealingLR]:
    """AdamW and a cosine schedule from ``lr`` down to ``final_lr_fraction * lr``.

    Args:
        params: Parameters (or parameter groups) to optimise.
        lr: Initial learning rate.
        weight_decay: Decoupled (AdamW) weight decay.
        total_steps: Number of ``scheduler.step()`` calls over which the rate anneals
            (the encoder trainer steps once per epoch, so this is its ``epochs``); values
            below 1 count as 1.
        final_lr_fraction: Learning rate at the end of the schedule, as a fraction of
            ``lr``.

    Returns:
        ``(optimizer, scheduler)``.

    Raises:
        ValueError: If ``lr`` is not positive, ``weight_decay`` is negative or
            ``final_lr_fraction`` is outside [0, 1].
    """
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr}")
    if weight_decay < 0:
        raise ValueError(f"weight_decay must be >= 0, got {weight_decay}")
    if not 0.0 <= final_lr_fraction <= 1.0:
        raise ValueError(f"final_lr_fraction must be in [0, 1], got {final_lr_fraction}")
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(
        opt, T_max=max(int(total_steps), 1), eta_min=lr * final_lr_fraction
    )
    return opt, sched
