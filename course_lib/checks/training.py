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
from .core import check_cases, close

# The paper's run (Krizhevsky et al. 2012, Sec. 5: "roughly 90 cycles through the training set")
# on ILSVRC-2012's training set (devkit readme: 1,281,167 images), and the MACs of one 224-px
# image through the paper's two-tower network (course_lib.models.summarize; FACTS §4.5).
PAPER_EPOCHS = 90
ILSVRC2012_TRAIN_IMAGES = 1_281_167
PAPER_MACS = 724_406_816
SECONDS_PER_DAY = 86_400

# What would give each exercise's answer away if a learner read it before solving it: no heading,
# objective, prose, code or output above the exercise may state these (tests/test_answers_kept.py
# greps the notebook and the learner's copy for them).
ANSWERS: dict[str, tuple[str, ...]] = {
    # the factor the learner derives (2 FLOPs per MAC × 3 passes) and what the page prints with it
    "training_tflops": ("6 × MACs", "6 * macs", "2 * 3 * macs", "× 6 ×", "0.146"),
    # the scaling the learner derives (the estimate it prints depends on the machine's speed)
    "paper_run_days": ("images_per_s * macs_per_image / PAPER_MACS",
                       "macs_per_image / PAPER_MACS"),
    # the answer is the schedule's formula: the half-cosine of each phase, as a page would write it
    "onecycle_lr": ("cos(π t / 0.3)", "cos(π·t/0.3)", "cos(π (t − 0.3) / 0.7)",
                    "cos(π·(t − 0.3)/0.7)", "math.pi * t / 0.3", "math.pi * (t - 0.3) / 0.7"),
}


def _close(a, b, rel: float = 1e-6) -> bool:
    return close(a, b, rel=rel, abs_tol=1e-15)


# --------------------------------------------------------------------------------------------
# exercise 3: the one-cycle learning rate


def _onecycle(step: int, total: int, max_lr: float, *, rise: str = "cosine",
              fall: str = "cosine", start: float | None = None, end: float | None = None) -> float:
    """The one-cycle rate at ``step``, or a slip of it (a straight ``rise``/``fall``, another
    ``start``/``end``), written out here independently of :class:`LRSchedule`."""
    t = step / total
    start, end = (max_lr / 25 if start is None else start), (max_lr * 1e-4 if end is None else end)
    if t < 0.3:
        u = t / 0.3
        shape = u if rise == "line" else 0.5 * (1 - math.cos(math.pi * u))
        return start + (max_lr - start) * shape
    u = (t - 0.3) / 0.7
    shape = 1 - u if fall == "line" else 0.5 * (1 + math.cos(math.pi * u))
    return end + (max_lr - end) * shape


ONECYCLE_SLIPS = [
    (lambda s, n, m: m,
     " That is a constant rate. One-cycle starts low, at max_lr / 25, rises to max_lr over the "
     "first 30 % of the steps, then falls."),
    (lambda s, n, m: m * 0.5 * (1 + math.cos(math.pi * s / n)),
     " That is the cosine schedule (max_lr down to 0 over the run). One-cycle first rises from "
     "max_lr / 25 to max_lr over 30 % of the steps, then falls."),
    (lambda s, n, m: _onecycle(s, n, m, rise="line"),
     " The rise follows half a cosine, 0.5·(1 − cos(π·t/0.3)), not a straight line."),
    (lambda s, n, m: _onecycle(s, n, m, start=0.0),
     " The rise starts at max_lr / 25, not at 0: lr = max_lr/25 + (max_lr − max_lr/25)·0.5·"
     "(1 − cos(π·t/0.3))."),
    (lambda s, n, m: _onecycle(s, n, m, fall="line"),
     " The fall follows half a cosine, 0.5·(1 + cos(π·(t − 0.3)/0.7)), not a straight line."),
    (lambda s, n, m: _onecycle(s, n, m, end=0.0),
     " The fall ends at max_lr / 10⁴, not at 0: lr = max_lr/10⁴ + (max_lr − max_lr/10⁴)·0.5·"
     "(1 + cos(π·(t − 0.3)/0.7))."),
    (lambda s, n, m: 100 * _onecycle(s, n, m),
     " Return the learning rate itself, not a percentage."),
    (lambda s, n, m: _onecycle(s, n, m) / m,
     " Return the learning rate itself (max_lr times the shape), not a share of max_lr."),
]


def check_onecycle_lr(fn: Callable | None) -> bool:
    """Exercise of notebook 05: ``fn(step, total_steps, max_lr)`` returns the learning rate of
    the one-cycle schedule at optimiser step ``step`` (0-based) of ``total_steps``: a half-cosine
    rise from ``max_lr/25`` to ``max_lr`` over the first 30 % of the steps, then a half-cosine
    fall to ``max_lr/10⁴`` at the end (``t = step / total_steps``)."""
    cases = [(s, 1000, 0.02) for s in (0, 150, 300, 500, 650, 999)]
    cases += [(s, 640, 0.1) for s in (0, 1, 96, 192, 400, 639)]
    return check_cases(
        "onecycle_lr", fn, cases, same=_close, slips=ONECYCLE_SLIPS,
        reference=lambda s, n, m: LRSchedule(TrainConfig(schedule="onecycle", lr=m, epochs=1),
                                             n).lr_at(s),
        where=lambda s, n, m: f"at step {s} of {n} (t = {s / n:.3f}) with max_lr = {m}",
        done="Matches course_lib.train.schedule.LRSchedule (schedule='onecycle') at 12 steps of "
             "two runs.")


# --------------------------------------------------------------------------------------------
# exercise 1: achieved training TFLOP/s

TFLOPS_SLIPS = [
    (lambda ips, macs: ips * 2 * macs / 1e12,
     " That counts the forward pass only. The backward pass costs about twice the forward "
     "(gradients for the inputs and for the weights), so a training step is about 3 forward "
     "passes."),
    (lambda ips, macs: ips * 3 * macs / 1e12,
     " A multiply-accumulate is two floating-point operations (one ×, one +)."),
    (lambda ips, macs: ips * macs / 1e12,
     " MACs are not FLOPs: ×2 for multiply and add, ×3 for forward plus backward."),
    (lambda ips, macs: ips * 6 * macs, " That is FLOP/s; a TFLOP/s is 10¹² FLOP/s."),
    (lambda ips, macs: ips * 6 * macs / 1e9, " That is GFLOP/s; a TFLOP/s is 10¹² FLOP/s."),
]


def check_training_tflops(fn: Callable | None) -> bool:
    """Exercise of notebook 05: ``fn(images_per_s, macs_per_image)`` returns the training
    TFLOP/s done at ``images_per_s`` for a network costing ``macs_per_image``
    multiply-accumulates per image in the forward pass."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        small = alexnet("scaled", num_classes=10, width=0.125, input_size=28)
    small_macs = float(summarize(small, (3, 28, 28)).attrs["total_macs"])
    flops = {small_macs: training_flops_per_image(small, 28),
             714_188_480.0: 6.0 * 714_188_480}  # torchvision's AlexNet at 224 px
    return check_cases(
        "training_tflops", fn, [(2_500.0, small_macs), (40_000.0, 714_188_480.0)],
        reference=lambda ips, macs: achieved_tflops(ips, flops[macs]), same=_close,
        slips=TFLOPS_SLIPS,
        where=lambda ips, macs: f"{ips:,.0f} images/s with {macs:,.0f} MACs per image",
        shown=lambda want: f"{want:.6g} TFLOP/s",
        done="Matches course_lib.train.throughput (6 × MACs per training image).")


# --------------------------------------------------------------------------------------------
# exercise 2: the paper's run on this machine


def paper_run_days_reference(images_per_s: float, macs_per_image: float) -> float:
    """Days for :data:`PAPER_EPOCHS` epochs of :data:`ILSVRC2012_TRAIN_IMAGES` images of the
    paper's network, if time per image grows in proportion to MACs from a network of
    ``macs_per_image`` trained at ``images_per_s``."""
    paper_images_per_s = images_per_s * macs_per_image / PAPER_MACS
    return PAPER_EPOCHS * ILSVRC2012_TRAIN_IMAGES / paper_images_per_s / SECONDS_PER_DAY


def _days_slip(factor: Callable) -> Callable:
    return lambda ips, macs: paper_run_days_reference(ips, macs) * factor(PAPER_MACS / macs)


PAPER_DAYS_SLIPS = [
    (_days_slip(lambda ratio: 1 / PAPER_EPOCHS),
     f" That is one epoch; the paper made about {PAPER_EPOCHS} passes."),
    (_days_slip(lambda ratio: 1 / ratio if ratio != 1 else math.nan),
     lambda ips, macs: f" That is the time for the network you measured. The paper's network "
                       f"costs {PAPER_MACS / macs:.2f}× its MACs per image, so it trains "
                       f"{PAPER_MACS / macs:.2f}× slower."),
    (_days_slip(lambda ratio: ratio**-2 if ratio != 1 else math.nan),
     " The MAC ratio is the wrong way round: the bigger network is the slower one, so divide "
     "your rate by PAPER_MACS / macs_per_image."),
    (_days_slip(lambda ratio: 24), " That is hours; divide by 24 for days."),
    (_days_slip(lambda ratio: SECONDS_PER_DAY), " That is seconds; a day has 86,400."),
]


def check_paper_run_days(fn: Callable | None) -> bool:
    """Exercise of notebook 05: ``fn(images_per_s, macs_per_image)`` returns how many days the
    paper's 90 epochs over ILSVRC-2012's 1,281,167 training images would take for its network
    (``PAPER_MACS`` MACs per image) on a machine that trains a network of ``macs_per_image``
    MACs at ``images_per_s``, assuming time per image grows in proportion to MACs."""
    cases = [(700.0, 61_933_824.0), (250.0, 61_933_824.0), (30_000.0, 714_188_480.0)]
    return check_cases(
        "paper_run_days", fn, cases, reference=paper_run_days_reference,
        same=lambda a, b: _close(a, b, rel=1e-4), slips=PAPER_DAYS_SLIPS,
        where=lambda ips, macs: f"at {ips:,.0f} images/s for {macs:,.0f} MACs per image",
        shown=lambda want: f"{want:.4g} days", done=f"Checked {len(cases)} machines.")
