"""Ablations at a miniature scale: short training runs, and how many images an effect needs.

Notebook 07 holds the ideas (which claims a miniature can test, the decision rule, the sizing
arithmetic); this module does the heavy lifting:

=============================  ===============================================================
call                           what it does
=============================  ===============================================================
:class:`Arm`                   one configuration: AlexNet switches, training changes, layers cut
:func:`run_arm`                train one arm with one seed and score it (:class:`RunResult`)
:func:`results_table`          one row per run: errors, over-fitting gap, seconds
:func:`remove_layer`           cut a middle convolution out of an AlexNet (paper, Sec. 7)
:func:`layer_gradient_norms`   per-layer weight-gradient norms of a network on one batch
:func:`images_to_detect`       validation images per system that a d-point drop at error p needs
:func:`seed_threshold`         how far from 0 a mean of per-seed differences must be (t test)
:func:`decide`                 notebook 07's decision rule: agree, disagree, undetectable here
=============================  ===============================================================

Every run goes through a plan (:func:`course_lib.plan.plan`: its network and training
settings for one crop), :func:`course_lib.train.fit` and
:func:`course_lib.evaluate.predict`), so an ablation changes only what its :class:`Arm` says.
"""

from __future__ import annotations

import contextlib
import io
import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from statistics import NormalDist

import numpy as np
import pandas as pd
import torch
from scipy import stats
from torch import nn

from .datasets import augment
from .datasets.loader import UInt8Loader
from .device import seed_everything
from .errors import CourseValueError
from .evaluate import predict
from .train import STEP_COLUMNS, fit

MIDDLE_LAYERS = ("conv3", "conv4", "conv5")
EVAL_BATCH = 512
VERDICTS = ("agree", "disagree", "undetectable here")


@dataclass(frozen=True)
class Arm:
    """One configuration of an ablation.

    ``name``: how tables and plots call it. ``model``: switches for
    :func:`course_lib.models.alexnet` (``activation="tanh"``, ``lrn=False``,
    ``pool="non-overlapping"``, ``dropout=0.0``). ``train``: :class:`~course_lib.train.TrainConfig`
    fields that differ (``augment="none"``, ``pca_color=0.1``). ``remove``: middle layers cut out
    with :func:`remove_layer` (e.g. ``("conv4",)``).
    """

    name: str
    model: Mapping = field(default_factory=dict)
    train: Mapping = field(default_factory=dict)
    remove: tuple[str, ...] = ()


@dataclass
class RunResult:
    """What :func:`run_arm` returns for one arm and one seed.

    ``val_errors``: ``(N,)`` bool, True where the top-1 guess on validation image i is wrong
    (None without validation images); ``val_top1_error``: their mean; ``train_top1_error``: the
    top-1 error of the trained network on its own training images, in evaluation mode with
    centre crops (dropout off, no augmentation), so ``val − train`` is the over-fitting gap;
    ``history``: :func:`~course_lib.train.fit`'s rows (one per epoch run); ``steps``: its rows
    every ``val_every_steps`` steps when the run asked for them (the running training error
    within each epoch; empty otherwise); ``reached``: the epoch whose running training error
    first fell to ``stop_below`` (None if it never did, or no threshold was set); ``seconds``:
    training plus scoring.
    """

    arm: str
    seed: int
    val_errors: np.ndarray | None
    val_top1_error: float | None
    train_top1_error: float | None
    history: pd.DataFrame
    reached: int | None
    seconds: float
    steps: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(STEP_COLUMNS)))


class _Reached(Exception):
    """Raised by the epoch callback to stop a run once it crosses its threshold."""


def remove_layer(model: nn.Module, name: str) -> nn.Module:
    """Cut the middle convolution ``name`` (conv3, conv4 or conv5) and its activation out of an
    :class:`~course_lib.models.alexnet.AlexNet`, in place; returns the model.

    Both modules become ``nn.Identity``, so every other layer keeps its position and weights.
    Only a convolution whose input and output widths match can go without changing its
    neighbours (in the scaled network that is conv4, 192 → 192 at width 0.5); any other raises
    ``ValueError`` naming the widths. ``model.config`` still describes the uncut network.
    """
    if name not in MIDDLE_LAYERS:
        raise CourseValueError(f"remove_layer: {name!r} is not a middle convolution; choose one of "
                         f"{MIDDLE_LAYERS}")
    layer = model.learned_layers()[name]
    if layer.in_channels != layer.out_channels:
        raise CourseValueError(
            f"remove_layer: {name} maps {layer.in_channels} to {layer.out_channels} channels, so "
            "the layers around it would have to change; only a layer with equal input and output "
            "widths can be cut out")
    features = model.features
    index = next(i for i, m in enumerate(features) if m is layer)
    if index + 1 >= len(features) or not isinstance(features[index + 1], (nn.ReLU, nn.Tanh)):
        raise CourseValueError(f"remove_layer: {name} is not followed by its activation in "
                         f"model.features (found {features[index + 1:index + 2]})")
    features[index] = nn.Identity()
    features[index + 1] = nn.Identity()
    return model


def _error_per_image(model: nn.Module, images, labels, crop: int, config) -> np.ndarray:
    """``(N,)`` bool top-1 mistakes of ``model`` on ``images`` (centre crops, eval mode)."""
    batches = UInt8Loader(images, labels, EVAL_BATCH, shuffle=False)
    preds = predict(model, batches, mode="center", crop_size=crop, device=config.device,
                    precision=config.precision, normalize=(config.mean, config.std),
                    channels_last=config.channels_last)
    return (preds.predictions[:, 0] != preds.labels).numpy()


def run_arm(arm: Arm, train, val=None, *, plan, num_classes: int | None = None,
            seed: int = 0, stop_below: float | None = None, score_train: bool = True,
            **config) -> RunResult:
    """Train ``arm`` once from seed ``seed`` and score it.

    ``train``, ``val``: splits (``.images (N, 3, S, S) uint8``, ``.labels (N,)``) at the plan's
    image size; ``val=None`` skips validation. ``plan``: a :class:`course_lib.plan.Plan` whose
    network (variant, width, crop) and training settings (epochs, batch, learning rate,
    schedule) the run follows; ``num_classes`` (default: the plan's). ``config``: other
    :class:`~course_lib.train.TrainConfig` fields (``schedule="constant"``); the arm's own
    ``train`` changes win over them. Validation is scored once, after training (not after
    every epoch). ``stop_below``: stop at the end of the first epoch whose running training
    top-1 error is at or below it (the epoch goes in :attr:`RunResult.reached`).
    ``score_train``: also score the training images in evaluation mode.
    :func:`~course_lib.train.fit`'s line per epoch is kept out of the output (the history has
    it); a run that fails still raises, with its message.

    The network's initial weights, the batch order and the augmentation draws depend only on
    ``seed``, so two arms with the same seed see the same images in the same order.
    """
    start = time.perf_counter()
    config = plan.train_config(**{"seed": seed, "progress": False, "out_dir": None, **config,
                                  **dict(arm.train)})
    seed_everything(seed)
    model = plan.model(num_classes, **dict(arm.model))
    for name in arm.remove:
        remove_layer(model, name)

    rows: list[dict] = []
    step_rows: list[dict] = []
    reached = None

    def watch(event: str, info: dict) -> None:
        nonlocal reached
        if event == "step" and info.get("row") is not None:
            step_rows.append(info["row"])
        if event != "epoch":
            return
        rows.append({k: v for k, v in info.items() if k != "checkpoint"})
        if stop_below is not None and info["train_top1_error"] <= stop_below:
            reached = int(info["epoch"])
            raise _Reached

    try:
        with contextlib.redirect_stderr(io.StringIO()):
            fit(model, train, None, config, callbacks=watch)
    except _Reached:
        pass
    crop = plan.crop
    val_errors = None if val is None else _error_per_image(model, val.images, val.labels, crop,
                                                           config)
    train_error = (float(_error_per_image(model, train.images, train.labels, crop, config).mean())
                   if score_train else None)
    return RunResult(arm=arm.name, seed=seed, val_errors=val_errors,
                     val_top1_error=None if val_errors is None else float(val_errors.mean()),
                     train_top1_error=train_error, history=pd.DataFrame(rows), reached=reached,
                     seconds=time.perf_counter() - start,
                     steps=pd.DataFrame(step_rows, columns=list(STEP_COLUMNS)))


def results_table(results: Iterable[RunResult]) -> pd.DataFrame:
    """One row per run: ``arm``, ``seed``, ``val_top1_error``, ``train_top1_error``, ``gap``
    (validation minus training error: the over-fitting), ``epochs`` run, ``reached``,
    ``seconds``."""
    rows = []
    for r in results:
        gap = (None if r.val_top1_error is None or r.train_top1_error is None
               else r.val_top1_error - r.train_top1_error)
        rows.append({"arm": r.arm, "seed": r.seed, "val_top1_error": r.val_top1_error,
                     "train_top1_error": r.train_top1_error, "gap": gap,
                     "epochs": len(r.history), "reached": r.reached, "seconds": r.seconds})
    return pd.DataFrame(rows)


def layer_gradient_norms(model: nn.Module, images: torch.Tensor, labels: torch.Tensor,
                         crop: int) -> pd.Series:
    """The L2 norm of the loss gradient with respect to each learned layer's weights.

    ``model``: an AlexNet (its :meth:`learned_layers` name conv1 … fc8), left in evaluation mode
    for the call so dropout draws nothing; ``images: (B, 3, S, S) uint8``, ``labels: (B,)``;
    centre crops of side ``crop``, normalised with ImageNet's mean and standard deviation.
    Cross-entropy averaged over the batch, one backward pass in fp32. Returns a Series indexed
    conv1 … fc8. The model's gradients are cleared afterwards and its training flag restored.
    """
    x = augment.normalize(augment.center_crop(torch.as_tensor(images), crop))
    was_training = model.training
    model.eval()
    model.zero_grad(set_to_none=True)
    try:
        loss = nn.functional.cross_entropy(model(x), torch.as_tensor(labels).long())
        loss.backward()
        norms = {name: float(layer.weight.grad.norm())
                 for name, layer in model.learned_layers().items()}
    finally:
        model.zero_grad(set_to_none=True)
        model.train(was_training)
    return pd.Series(norms, name="gradient norm")


def images_to_detect(difference: float, error: float, alpha: float = 0.05,
                     power: float = 0.8) -> int:
    """Validation images each of two systems needs for a drop of ``difference`` below ``error``
    to be detected by a two-sided two-proportion z-test at level ``alpha`` with probability
    ``power`` (both fractions, e.g. 0.014 below 0.30).

    With ``p1 = error``, ``p2 = error − difference``, ``p̄ = (p1 + p2)/2`` (Fleiss)::

        n = ⌈ ((z(1 − α/2)·√(2·p̄(1 − p̄)) + z(power)·√(p1(1 − p1) + p2(1 − p2))) / difference)² ⌉

    the inverse of :func:`course_lib.scoring.stats.minimum_detectable_difference`: the smallest
    n at which that function's answer is at most ``difference``.
    """
    if not 0 < difference <= error <= 1:
        raise CourseValueError(f"need 0 < difference <= error <= 1 (fractions), got "
                         f"difference={difference}, error={error}")
    if not (0 < alpha < 1 and 0 < power < 1):
        raise CourseValueError(f"alpha and power must be in (0, 1), got {alpha}, {power}")
    z_alpha = NormalDist().inv_cdf(1 - alpha / 2)
    z_beta = NormalDist().inv_cdf(power)
    p1, p2 = error, error - difference
    pooled = (p1 + p2) / 2
    root_n = (z_alpha * math.sqrt(2 * pooled * (1 - pooled))
              + z_beta * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))) / difference
    return max(1, math.ceil(root_n ** 2 - 1e-9))


def _per_seed(differences) -> np.ndarray:
    """``differences`` as a ``(k,)`` float array, k ≥ 1, every value finite; ValueError otherwise."""
    try:
        values = np.array(differences, dtype=float)  # a copy: the caller's data stays as it is
    except (TypeError, ValueError) as error:
        raise CourseValueError(f"differences must be numbers, one per seed; got {differences!r} "
                         f"({error})") from None
    if values.ndim != 1 or values.size == 0:
        raise CourseValueError(f"differences must be a non-empty 1-D sequence, one value per seed; got "
                         f"shape {values.shape}")
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise CourseValueError(f"differences must be finite; seed position {int(bad[0])} holds "
                         f"{values[bad[0]]}")
    return values


def seed_threshold(differences, alpha: float = 0.05) -> float:
    """How far from zero the mean of per-seed differences must be before seed-to-seed noise alone
    would put it there with probability below ``alpha`` (two-sided): a paired t test across seeds.

    ``differences``: ``(k,)`` one difference per seed (a list, array or Series; any unit, the
    result has the same one). With ``s`` their sample standard deviation (``ddof=1``) the mean's
    standard error is ``s / √k``, and when the compared choice makes no difference the mean
    divided by that estimate follows Student's t with ``k − 1`` degrees of freedom, so::

        threshold = t(1 − α/2, k − 1) · s / √k

    It shrinks as seeds are added (the 1/√k, and the quantile falling from 12.7 at k = 2 towards
    the normal 1.96). ``math.inf`` with one seed: one run says nothing about run-to-run noise.
    Raises ValueError for an empty, non-1-D or non-finite ``differences`` or ``alpha`` outside
    (0, 1).
    """
    values = _per_seed(differences)
    if not 0 < alpha < 1:
        raise CourseValueError(f"alpha must be in (0, 1), got {alpha}")
    k = values.size
    if k < 2:
        return math.inf
    quantile = float(stats.t.ppf(1 - alpha / 2, k - 1))
    return quantile * float(values.std(ddof=1)) / math.sqrt(k)


def decide(differences, mdd: float, claimed: float | None = None, alpha: float = 0.05) -> str:
    """Notebook 07's decision rule: ``"agree"``, ``"disagree"`` or ``"undetectable here"``.

    ``differences``: ``(k,)`` per-seed differences, *error without the choice minus error with
    it* (positive: the choice helps, as the paper claims); ``mdd``: the validation set's minimum
    detectable difference, in the same unit (0 where no validation set is involved);
    ``claimed``: the paper's effect in that unit, or None where it gives no number.

    The threshold is ``max(mdd, seed_threshold(differences, alpha))``. A mean difference beyond
    it (strictly, in absolute value) is detected: agree if positive, disagree if negative.
    Otherwise, if ``claimed − mean`` exceeds the threshold, an effect of the paper's size would
    have been seen and was not: disagree. Otherwise: undetectable here.
    """
    values = _per_seed(differences)
    if not (isinstance(mdd, (int, float, np.number)) and math.isfinite(mdd) and mdd >= 0):
        raise CourseValueError(f"mdd must be a finite number ≥ 0, got {mdd!r}")
    if claimed is not None and not (isinstance(claimed, (int, float, np.number))
                                    and math.isfinite(claimed)):
        raise CourseValueError(f"claimed must be a finite number, or None where the paper gives no "
                         f"size; got {claimed!r}")
    threshold = max(float(mdd), seed_threshold(values, alpha))
    mean = float(values.mean())
    if abs(mean) > threshold:
        return "agree" if mean > 0 else "disagree"
    if claimed is not None and claimed - mean > threshold:
        return "disagree"
    return "undetectable here"
