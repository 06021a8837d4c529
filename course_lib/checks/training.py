"""Checks for the exercises of notebook 05 (the training core).

Each check compares the learner's function with the library's own computation
(:class:`course_lib.train.schedule.LRSchedule`, :mod:`course_lib.train.throughput`) on a few
inputs and, when the answer is wrong, recognises the usual mistakes and names them.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from ..models import alexnet
from ..models.summary import summarize
from ..train.config import TrainConfig
from ..train.schedule import LRSchedule
from ..train.throughput import achieved_tflops, training_flops_per_image
from .core import ExerciseError, as_number, attempt, passed

# The paper's run (Krizhevsky et al. 2012, Sec. 5: "roughly 90 cycles through the training set")
# on ILSVRC-2012's training set (devkit readme: 1,281,167 images), and the MACs of one 224-px
# image through the paper's two-tower network (course_lib.models.summarize; FACTS §4.5).
PAPER_EPOCHS = 90
ILSVRC2012_TRAIN_IMAGES = 1_281_167
PAPER_MACS = 724_406_816
SECONDS_PER_DAY = 86_400


def _close(a: float, b: float, rel: float = 1e-6) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-15)


# --------------------------------------------------------------------------------------------
# exercise 1: the one-cycle learning rate


def _onecycle_slips(step: int, total: int, max_lr: float) -> dict[str, float]:
    """What each common slip gives at ``step``: the right shape but for one thing."""
    t = min(step, total) / total
    rise = 0.3
    start, end = max_lr / 25, max_lr * 1e-4
    up = 0.5 * (1 - math.cos(math.pi * min(t / rise, 1.0)))
    down = 0.5 * (1 + math.cos(math.pi * max(t - rise, 0.0) / (1 - rise)))
    right = start + (max_lr - start) * up if t < rise else end + (max_lr - end) * down
    return {
        "constant": max_lr,
        "cosine": max_lr * 0.5 * (1 + math.cos(math.pi * t)),
        "linear rise": start + (max_lr - start) * t / rise if t < rise else right,
        "rise from 0": max_lr * up if t < rise else right,
        "linear fall": right if t < rise else end + (max_lr - end) * (1 - (t - rise) / (1 - rise)),
        "falls to 0": right if t < rise else max_lr * down,
        "percentage": 100 * right,
        "share": right / max_lr,
    }


ONECYCLE_HINTS = {
    "constant": " That is a constant rate. One-cycle starts low, at max_lr / 25, rises to max_lr "
                "over the first 30 % of the steps, then falls.",
    "cosine": " That is the cosine schedule (max_lr down to 0 over the run). One-cycle first "
              "rises from max_lr / 25 to max_lr over 30 % of the steps, then falls.",
    "linear rise": " The rise follows half a cosine, 0.5·(1 − cos(π·t/0.3)), not a straight line.",
    "rise from 0": " The rise starts at max_lr / 25, not at 0: lr = max_lr/25 + (max_lr − "
                   "max_lr/25)·0.5·(1 − cos(π·t/0.3)).",
    "linear fall": " The fall follows half a cosine, 0.5·(1 + cos(π·(t − 0.3)/0.7)), not a "
                   "straight line.",
    "falls to 0": " The fall ends at max_lr / 10⁴, not at 0: lr = max_lr/10⁴ + (max_lr − "
                  "max_lr/10⁴)·0.5·(1 + cos(π·(t − 0.3)/0.7)).",
    "percentage": " Return the learning rate itself, not a percentage.",
    "share": " Return the learning rate itself (max_lr times the shape), not a share of max_lr.",
}


def _onecycle_hint(values: dict[int, float], total: int, max_lr: float, step: int) -> str:
    """The hint for the slip that explains every value the learner gave in this run (else the
    one that explains the first wrong value)."""
    slips = {s: _onecycle_slips(s, total, max_lr) for s in values}
    for slip in ONECYCLE_HINTS:
        if all(_close(v, slips[s][slip]) for s, v in values.items()):
            return ONECYCLE_HINTS[slip]
    for slip in ONECYCLE_HINTS:
        if _close(values[step], slips[step][slip]):
            return ONECYCLE_HINTS[slip]
    return ""


def check_onecycle_lr(fn: Callable | None) -> bool:
    """Exercise of notebook 05: ``fn(step, total_steps, max_lr)`` returns the learning rate of
    the one-cycle schedule at optimiser step ``step`` (0-based) of ``total_steps``: a half-cosine
    rise from ``max_lr/25`` to ``max_lr`` over the first 30 % of the steps, then a half-cosine
    fall to ``max_lr/10⁴`` at the end (``t = step / total_steps``)."""
    name = "onecycle_lr"
    cases = [(1000, 0.02, [0, 150, 300, 500, 650, 999]), (640, 0.1, [0, 1, 96, 192, 400, 639])]
    for total, max_lr, steps in cases:
        schedule = LRSchedule(TrainConfig(schedule="onecycle", lr=max_lr, epochs=1), total)
        values = {}
        for step in steps:
            ok, got = attempt(name, fn, step, total, max_lr)
            if not ok:
                return False
            values[step] = as_number(got)
        for step in steps:
            want = schedule.lr_at(step)
            if _close(values[step], want):
                continue
            hint = _onecycle_hint(values, total, max_lr, step)
            raise ExerciseError(f"{name}: at step {step} of {total} (t = {step / total:.3f}) "
                                f"with max_lr = {max_lr} expected {want:.6g}, got "
                                f"{values[step]!r}.{hint}")
    return passed(name, "Matches course_lib.train.schedule.LRSchedule (schedule='onecycle') "
                        "at 12 steps of two runs.")


# --------------------------------------------------------------------------------------------
# exercise 2: achieved training TFLOP/s


def check_training_tflops(fn: Callable | None) -> bool:
    """Exercise of notebook 05: ``fn(images_per_s, macs_per_image)`` returns the training
    TFLOP/s done at ``images_per_s`` for a network costing ``macs_per_image``
    multiply-accumulates per image in the forward pass."""
    name = "training_tflops"
    with torch.random.fork_rng():
        torch.manual_seed(0)
        small = alexnet("scaled", num_classes=10, width=0.125, input_size=28)
    small_macs = summarize(small, (3, 28, 28)).attrs["total_macs"]
    cases = [(2_500.0, float(small_macs), training_flops_per_image(small, 28)),
             (40_000.0, 714_188_480.0, 6.0 * 714_188_480)]  # torchvision's AlexNet at 224 px
    for images_per_s, macs, flops in cases:
        ok, got = attempt(name, fn, images_per_s, macs)
        if not ok:
            return False
        want = achieved_tflops(images_per_s, flops)
        value = as_number(got)
        if _close(value, want):
            continue
        hint = ""
        if _close(value, want / 3):
            hint = (" That counts the forward pass only. The backward pass costs about twice "
                    "the forward (gradients for the inputs and for the weights), so a training "
                    "step is about 3 forward passes.")
        elif _close(value, want / 2):
            hint = " A multiply-accumulate is two floating-point operations (one ×, one +)."
        elif _close(value, want / 6):
            hint = (" MACs are not FLOPs: ×2 for multiply and add, ×3 for forward plus "
                    "backward.")
        elif _close(value, want * 1e12):
            hint = " That is FLOP/s; a TFLOP/s is 10¹² FLOP/s."
        elif _close(value, want * 1e3):
            hint = " That is GFLOP/s; a TFLOP/s is 10¹² FLOP/s."
        raise ExerciseError(f"{name}: {images_per_s:,.0f} images/s with {macs:,.0f} MACs per "
                            f"image: expected {want:.6g} TFLOP/s, got {got!r}.{hint}")
    return passed(name, "Matches course_lib.train.throughput (6 × MACs per training image).")


# --------------------------------------------------------------------------------------------
# exercise 3: the paper's run on this machine


def paper_run_days_reference(images_per_s: float, macs_per_image: float) -> float:
    """Days for :data:`PAPER_EPOCHS` epochs of :data:`ILSVRC2012_TRAIN_IMAGES` images of the
    paper's network, if time per image grows in proportion to MACs from a network of
    ``macs_per_image`` trained at ``images_per_s``."""
    paper_images_per_s = images_per_s * macs_per_image / PAPER_MACS
    return PAPER_EPOCHS * ILSVRC2012_TRAIN_IMAGES / paper_images_per_s / SECONDS_PER_DAY


def check_paper_run_days(fn: Callable | None) -> bool:
    """Exercise of notebook 05: ``fn(images_per_s, macs_per_image)`` returns how many days the
    paper's 90 epochs over ILSVRC-2012's 1,281,167 training images would take for its network
    (``PAPER_MACS`` MACs per image) on a machine that trains a network of ``macs_per_image``
    MACs at ``images_per_s``, assuming time per image grows in proportion to MACs."""
    name = "paper_run_days"
    cases = [(700.0, 61_933_824.0), (250.0, 61_933_824.0), (30_000.0, 714_188_480.0)]
    for images_per_s, macs in cases:
        ok, got = attempt(name, fn, images_per_s, macs)
        if not ok:
            return False
        want = paper_run_days_reference(images_per_s, macs)
        value = as_number(got)
        if _close(value, want, rel=1e-4):
            continue
        ratio = PAPER_MACS / macs
        hint = ""
        if _close(value, want / PAPER_EPOCHS, rel=1e-4):
            hint = f" That is one epoch; the paper made about {PAPER_EPOCHS} passes."
        elif _close(value, want / ratio, rel=1e-4) and ratio != 1:
            hint = (f" That is the time for the network you measured. The paper's network costs "
                    f"{ratio:.2f}× its MACs per image, so it trains {ratio:.2f}× slower.")
        elif _close(value, want / ratio**2, rel=1e-4) and ratio != 1:
            hint = (" The MAC ratio is the wrong way round: the bigger network is the slower "
                    "one, so divide your rate by PAPER_MACS / macs_per_image.")
        elif _close(value, want * 24, rel=1e-4):
            hint = " That is hours; divide by 24 for days."
        elif _close(value, want * SECONDS_PER_DAY, rel=1e-4):
            hint = " That is seconds; a day has 86,400."
        raise ExerciseError(f"{name}: at {images_per_s:,.0f} images/s for {macs:,.0f} MACs per "
                            f"image expected {want:.4g} days, got {got!r}.{hint}")
    return passed(name, f"Checked {len(cases)} machines.")
