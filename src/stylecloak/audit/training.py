"""The learned attacker's training loop, shared by its cleaner (:mod:`.cleaner`) and detector (:mod:`.detector`)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ..progress import Progress


def train(model: nn.Module, steps: int, lr: float, step_loss: Callable[[], torch.Tensor], progress: Progress | None = None, digits: int = 7) -> dict:
    """Train ``model`` in place: ``steps`` Adam steps (learning rate ``lr``), each on the loss ``step_loss()`` computes
    from a fresh batch; then frozen in eval mode. ``progress`` is told (step, steps, {"loss": …}) after each step.

    Returns the loss log: the first step's loss and the mean of the last 10, rounded to ``digits``."""
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    losses = []
    for step in range(steps):
        loss = step_loss()
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
        if progress is not None:
            progress(step + 1, steps, {"loss": losses[-1]})
    model.eval().requires_grad_(False)
    return {"loss_first": round(losses[0], digits), "loss_last": round(sum(losses[-10:]) / len(losses[-10:]), digits)}
