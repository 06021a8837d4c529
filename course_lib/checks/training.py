"""Checks for the exercises of notebook 06 (the training core).

Each check compares the learner's function with a reference (one epoch of the loop written out
here, :func:`train_epoch_reference`; the library's own :class:`course_lib.train.schedule.LRSchedule`
and :mod:`course_lib.train.throughput`) on a few inputs and, when the answer is wrong,
recognises the usual mistakes and names them.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..models import alexnet
from ..models.summary import summarize
from ..train.config import TrainConfig
from ..train.schedule import LRSchedule
from ..train.throughput import achieved_tflops, training_flops_per_image
from .core import as_number, check_cases, close, describe

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
    # the three calls of a step, as the loop writes them (section 1's prose names the stages in
    # words only; the tutorial loop of section 3, below the check, writes them out)
    "train_epoch": ("optimizer.zero_grad()", "loss.backward()", "optimizer.step()"),
    # the factor the learner derives (2 FLOPs per MAC × 3 passes); the TFLOP/s the page prints
    # with it depend on the machine's speed
    "training_tflops": ("6 × MACs", "6 * macs", "2 * 3 * macs", "× 6 ×", "three forward passes",
                        "3 forward passes", "twice the forward", "2 (multiply and add) × 3"),
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
# exercise 1: one epoch of training

# A case is (seed, batch sizes): the seed makes the network's weights, its data and its dropout
# masks. The last case ends with a partial batch, so a loss that averages the batch means
# without weighting them by size shows.
TRAIN_EPOCH_CASES = [(0, (8, 8, 8)), (1, (6, 6, 6, 6)), (2, (12, 12, 5))]
SMALL_INPUT, SMALL_CLASSES = (3, 4, 4), 5  # (channels, height, width) of the case's images
SMALL_LR = 0.05
WEIGHTS_REL = 1e-5  # the weights may differ by this share of the largest weight


def small_network() -> torch.nn.Module:
    """The check's network: small, with dropout (so training mode matters), from the global
    random state."""
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(math.prod(SMALL_INPUT), 32),
                               torch.nn.ReLU(), torch.nn.Dropout(0.5),
                               torch.nn.Linear(32, SMALL_CLASSES))


class Trained:
    """What one epoch of a ``train_epoch`` left: the network's weights afterwards (flattened,
    float64) and what the function returned. ``gap``: how far the weights lie from the
    reference's, as a share of the largest weight (set by the check)."""

    def __init__(self, weights: np.ndarray, loss):
        self.weights, self.loss, self.gap = weights, loss, None

    @property
    def number(self) -> float:
        return math.nan if self.loss is None else as_number(self.loss)

    def __repr__(self) -> str:
        said = (f"returned loss {self.number:.6g}" if math.isfinite(self.number)
                else f"returned {describe(self.loss)[:20]}")
        if self.gap is None:
            return f"{said} with {len(self.weights):,} weights"
        if self.gap <= WEIGHTS_REL:
            return f"{said} with the reference's weights"
        return f"{said} with weights off by {self.gap:.1g} (relative)"


def one_epoch(train_epoch: Callable) -> Callable:
    """The function the check's harness calls: ``(seed, sizes) -> Trained``. It builds the
    case's network, starts it in evaluation mode (a loop that never switches training mode on
    keeps dropout off, and shows), an SGD optimizer with the paper's momentum and weight decay,
    and batches of ``sizes`` images, then calls ``train_epoch(model, optimizer, batches)`` with
    the batches as an iterator, as ``train_simple`` hands them over. The global random state is
    left as it was."""

    def run(seed, sizes):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = small_network()
            model.eval()
            optimizer = torch.optim.SGD(model.parameters(), lr=SMALL_LR, momentum=0.9,
                                        weight_decay=5e-4)
            batches = [(torch.randn(n, *SMALL_INPUT), torch.randint(0, SMALL_CLASSES, (n,)))
                       for n in sizes]
            torch.manual_seed(seed + 1_000)  # the dropout masks, the same for every answer
            loss = train_epoch(model, optimizer, iter(batches))
            weights = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
        return Trained(weights.double().numpy(), loss)

    return run


def train_epoch_reference(model, optimizer, batches) -> float:
    """One epoch: training mode on, then per ``(x, y)`` batch forward, the batch's mean
    cross-entropy, gradients zeroed, backward, step; returns the mean loss per image."""
    model.train()
    seen, total = 0, 0.0
    for x, y in batches:
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        seen, total = seen + len(y), total + loss.item() * len(y)
    return total / seen


def _with_slip(slip: str) -> Callable:
    """:func:`train_epoch_reference` with one usual slip (a key of :data:`TRAINING_SLIPS` or
    :data:`RETURN_SLIPS`) put in, as a ``train_epoch``."""

    def loop(model, optimizer, batches):
        if slip != "eval mode":
            model.train()
        losses, sizes = [], []
        for x, y in batches:
            if slip == "step a batch late":
                optimizer.step()  # with the previous batch's gradients
            if slip != "no zero_grad":
                optimizer.zero_grad()
            loss = F.cross_entropy(model(x), y)
            if slip == "averaged twice":
                loss = loss / len(y)
            if slip == "step before backward":
                optimizer.step()  # no gradient yet
            loss.backward()
            if slip not in ("step before backward", "step a batch late"):
                optimizer.step()
            losses.append(loss.item())
            sizes.append(len(y))
        per_image = [loss * n for loss, n in zip(losses, sizes)]
        return {"mean of batch means": sum(losses) / len(losses), "last batch": losses[-1],
                "sum": sum(per_image)}.get(slip, sum(per_image) / sum(sizes))

    return loop


# slips that change the training, told apart by the weights they leave
TRAINING_SLIPS = {
    "no zero_grad":
        " The gradients were never zeroed, so each step added up the gradients of every batch "
        "so far: zero them before each backward pass.",
    "eval mode":
        " The network stayed in evaluation mode (dropout off): switch training mode on at the "
        "start of the epoch.",
    "averaged twice":
        " The loss was averaged twice: cross-entropy already returns the mean over the batch, "
        "so dividing by the batch size again shrinks every step.",
    "step before backward":
        " The weights never moved: the step came before the backward pass, when there were no "
        "gradients yet to apply (or no step was taken).",
    "step a batch late":
        " Each step applied the previous batch's gradients: the step came before this batch's "
        "backward pass (so the last batch's gradients were never used).",
}
# slips in what the function returns, with the training right
RETURN_SLIPS = {
    "mean of batch means":
        " The loss is the plain mean of the batch means, so the partial last batch counts as "
        "much as a full one: weight each batch's mean by its number of images.",
    "last batch": " That is the last batch's loss, not the mean over the epoch's images.",
    "sum": " That is the sum of the losses of all the images: divide by their number.",
}


@functools.cache
def _trained_by(slip: str | None, seed: int, sizes: tuple) -> Trained:
    """One epoch of the reference (``slip`` None) or of the reference with ``slip`` in it."""
    return one_epoch(train_epoch_reference if slip is None else _with_slip(slip))(seed, sizes)


def _weights_gap(got: np.ndarray, want: np.ndarray) -> float:
    return float(np.abs(got - want).max() / max(np.abs(want).max(), 1e-12))


def _weights_close(got: np.ndarray, want: np.ndarray) -> bool:
    return got.shape == want.shape and _weights_gap(got, want) <= WEIGHTS_REL


def _loss_close(got: float, want: float) -> bool:
    return math.isclose(got, want, rel_tol=1e-5, abs_tol=1e-9)


def _same_epoch(got: Trained, want: Trained) -> bool:
    return _weights_close(got.weights, want.weights) and _loss_close(got.number, want.number)


def _left_weights(slip: Trained) -> Callable:
    """A test of an answer: it left the weights this slip leaves."""
    return lambda got: _weights_close(got.weights, slip.weights)


def _returned_loss(slip: Trained) -> Callable:
    """A test of an answer: it trained right (the slip trains right) and returned this slip's
    loss."""
    return lambda got: _weights_close(got.weights, slip.weights) and _loss_close(got.number,
                                                                                 slip.number)


def _train_epoch_slips(seed, sizes) -> list[tuple]:
    """``[(test of an answer, hint), ...]`` on one case: a training slip is recognised by the
    weights it leaves, a slip in the returned loss by the right weights with its loss."""
    sizes = tuple(sizes)
    table = [(_left_weights(_trained_by(slip, seed, sizes)), hint)
             for slip, hint in TRAINING_SLIPS.items()]
    table += [(_returned_loss(_trained_by(slip, seed, sizes)), hint)
              for slip, hint in RETURN_SLIPS.items()]
    table.append((lambda got: got.loss is None,
                  " Your function returned None: return the epoch's mean loss per image."))
    return table


def _read_epoch(got, seed, sizes) -> Trained:
    got.gap = _weights_gap(got.weights, _trained_by(None, seed, tuple(sizes)).weights)
    return got


def check_train_epoch(fn: Callable | None) -> bool:
    """Exercise of notebook 06: ``fn(model, optimizer, batches)`` trains ``model`` for one
    epoch: training mode on, then for each ``(x, y)`` of the iterator ``batches`` (images
    ``(B, C, H, W)`` float32 and labels ``(B,)`` int64, on the network's device) forward, the
    batch's mean cross-entropy, gradients zeroed, backward, one optimizer step; it returns the
    epoch's mean training loss per image (each batch's mean weighted by its size). Checked on a
    small network with dropout, started in evaluation mode, against
    :func:`train_epoch_reference`; ``tests/test_teaching_loop.py`` compares the loop with
    ``course_lib.train.fit``."""
    return check_cases(
        "train_epoch", None if fn is None else one_epoch(fn), TRAIN_EPOCH_CASES,
        reference=lambda seed, sizes: _trained_by(None, seed, tuple(sizes)),
        read=_read_epoch, same=_same_epoch, slips=_train_epoch_slips,
        where=lambda seed, sizes: f"one epoch of batches of {', '.join(map(str, sizes))} images "
                                  f"(seed {seed})",
        shown=lambda want: f"returned loss {want.number:.6g} with the reference's weights",
        done=f"The same weights and loss as the reference in {len(TRAIN_EPOCH_CASES)} one-epoch "
             "runs of a small network with dropout, one ending in a partial batch.")


# --------------------------------------------------------------------------------------------
# exercise 4: the one-cycle learning rate


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
    """Exercise of notebook 06: ``fn(step, total_steps, max_lr)`` returns the learning rate of
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
# exercise 2: achieved training TFLOP/s

TFLOPS_SLIPS = [
    (lambda ips, macs: ips * 2 * macs / 1e12,
     " That counts the forward pass only. The backward pass costs about twice the forward "
     "(gradients for the inputs and for the weights), so a training step is about 3 forward "
     "passes."),
    (lambda ips, macs: ips * 4 * macs / 1e12,
     " That is the forward pass and one of the backward pass's two products. It needs both: "
     "the gradient for the layer's input and the one for its weights, each as costly as the "
     "forward."),
    (lambda ips, macs: ips * 3 * macs / 1e12,
     " A multiply-accumulate is two floating-point operations (one ×, one +)."),
    (lambda ips, macs: ips * macs / 1e12,
     " MACs are not FLOPs: ×2 for multiply and add, ×3 for forward plus backward."),
    (lambda ips, macs: ips * 6 * macs, " That is FLOP/s; a TFLOP/s is 10¹² FLOP/s."),
    (lambda ips, macs: ips * 6 * macs / 1e9, " That is GFLOP/s; a TFLOP/s is 10¹² FLOP/s."),
]


def check_training_tflops(fn: Callable | None) -> bool:
    """Exercise of notebook 06: ``fn(images_per_s, macs_per_image)`` returns the training
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
# exercise 3: the paper's run on this machine


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
    """Exercise of notebook 06: ``fn(images_per_s, macs_per_image)`` returns how many days the
    paper's 90 epochs over ILSVRC-2012's 1,281,167 training images would take for its network
    (``PAPER_MACS`` MACs per image) on a machine that trains a network of ``macs_per_image``
    MACs at ``images_per_s``, assuming time per image grows in proportion to MACs."""
    cases = [(700.0, 61_933_824.0), (250.0, 61_933_824.0), (30_000.0, 714_188_480.0)]
    return check_cases(
        "paper_run_days", fn, cases, reference=paper_run_days_reference,
        same=lambda a, b: _close(a, b, rel=1e-4), slips=PAPER_DAYS_SLIPS,
        where=lambda ips, macs: f"at {ips:,.0f} images/s for {macs:,.0f} MACs per image",
        shown=lambda want: f"{want:.4g} days", done=f"Checked {len(cases)} machines.")
