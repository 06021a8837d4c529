"""The optimiser and the learning-rate schedule.

**Optimiser.** SGD with momentum and weight decay, the paper's (Sec. 5; FACTS.md §4.3), or
AdamW (Loshchilov & Hutter, ICLR 2019) as the modern option, using
PyTorch's *fused* implementation (one kernel for all parameters) where the device has it and the
*foreach* one otherwise. PyTorch's SGD computes ``v ← μ·v + (g + λ·w)``, ``w ← w − ε·v``; the
paper writes ``v ← 0.9·v − 0.0005·ε·w − ε·g``, ``w ← w + v``. The two are the same update while
ε is constant (PyTorch's ``v`` is the paper's divided by −ε); they differ only for the step after
a learning-rate change, where PyTorch applies the new rate to the whole velocity.

**Schedule.** :class:`LRSchedule` gives the learning rate for every optimiser step: a shape over
the run (constant, cosine or one-cycle) times the plateau factor (the paper's "divide by 10 when
the validation error stops improving", decided at the end of each epoch by
:meth:`LRSchedule.epoch_end`). Its whole state is a few numbers, saved in checkpoints.
"""

from __future__ import annotations

import math

import torch

from ..errors import CourseValueError
from .config import TrainConfig

# the paper's plateau rule (Sec. 5; FACTS.md §4.3): ÷10 after PLATEAU_PATIENCE epochs without the
# error improving by PLATEAU_THRESHOLD, at most MAX_LR_DROPS times ("reduced three times")
PLATEAU_FACTOR = 0.1
PLATEAU_PATIENCE = 2
PLATEAU_THRESHOLD = 1e-3
MAX_LR_DROPS = 3


def make_optimizer(model: torch.nn.Module, config: TrainConfig,
                   device: torch.device) -> torch.optim.Optimizer:
    """The config's optimiser over ``model``'s trainable parameters, fused on CUDA and CPU,
    foreach elsewhere: SGD with ``momentum`` and ``weight_decay`` (the paper's), or AdamW with
    ``betas=(momentum, 0.999)`` and decoupled ``weight_decay``."""
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise CourseValueError("the model has no trainable parameters")
    speed = {"fused": True} if device.type in ("cuda", "cpu") else {"foreach": True}
    if config.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=config.lr, betas=(config.momentum, 0.999),
                                 weight_decay=config.weight_decay, **speed)
    return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum,
                           weight_decay=config.weight_decay, **speed)


class LRSchedule:
    """Learning rate per step: ``lr · shape(step) · plateau scale``.

    ``steps_per_epoch``: optimiser steps in one epoch. Shapes (``config.schedule``):

    * ``"plateau"``, ``"constant"``: 1 (the plateau rule acts only under ``"plateau"``);
    * ``"cosine"``: ``½(1 + cos(π t/T))`` over the whole run (T = epochs × steps_per_epoch);
    * ``"onecycle"``: a cosine rise from 1/25 to 1 over the first 30 % of the run, then a cosine
      fall to 1/10⁴ (the shape of ``torch.optim.lr_scheduler.OneCycleLR``).
    """

    def __init__(self, config: TrainConfig, steps_per_epoch: int):
        if steps_per_epoch < 1:
            raise CourseValueError(f"steps_per_epoch={steps_per_epoch}: the training data gives no batch")
        self.config = config
        self.steps_per_epoch = int(steps_per_epoch)
        self.total_steps = config.epochs * self.steps_per_epoch
        self.scale = 1.0  # plateau factor so far
        self.best = math.inf
        self.bad_epochs = 0
        self.drops = 0

    def shape(self, step: int) -> float:
        kind, total = self.config.schedule, max(self.total_steps, 1)
        t = min(step, total) / total
        if kind == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * t))
        if kind == "onecycle":
            rise = 0.3
            if t < rise:
                return 1 / 25 + (1 - 1 / 25) * 0.5 * (1 - math.cos(math.pi * t / rise))
            return 1e-4 + (1 - 1e-4) * 0.5 * (1 + math.cos(math.pi * (t - rise) / (1 - rise)))
        return 1.0

    def lr_at(self, step: int) -> float:
        """The learning rate for optimiser step ``step`` (0-based, counted over the whole run)."""
        return self.config.lr * self.shape(step) * self.scale

    def epoch_end(self, error: float) -> bool:
        """Feed the epoch's validation error; True when the plateau rule just cut the rate."""
        if self.config.schedule != "plateau" or not math.isfinite(error):
            return False
        if error < self.best - PLATEAU_THRESHOLD:
            self.best, self.bad_epochs = error, 0
            return False
        self.bad_epochs += 1
        if self.bad_epochs >= PLATEAU_PATIENCE and self.drops < MAX_LR_DROPS:
            self.scale *= PLATEAU_FACTOR
            self.drops += 1
            self.bad_epochs = 0
            return True
        return False

    def state_dict(self) -> dict:
        return {"scale": self.scale, "best": self.best, "bad_epochs": self.bad_epochs,
                "drops": self.drops}

    def load_state_dict(self, state: dict) -> None:
        self.scale = float(state["scale"])
        self.best = float(state["best"])
        self.bad_epochs = int(state["bad_epochs"])
        self.drops = int(state["drops"])
