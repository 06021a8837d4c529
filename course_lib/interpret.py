"""Looking inside a trained AlexNet: the tools behind notebook 09 (the paper's Sec. 6.1).

Krizhevsky et al. (2012) look at their network in two ways: the 96 first-layer kernels as
pictures (Fig. 3, where the two GPUs' halves differ in colour), and the training images whose
last-hidden-layer vectors lie nearest, in Euclidean distance, to a test image's (Fig. 4). Zeiler
and Fergus (2014) added occlusion: grey out one patch at a time and watch the class probability.
Every function here takes a model and tensors; none knows which dataset they came from.

=============================  ==============================================================
call                           what it gives
=============================  ==============================================================
:func:`preprocess`             uint8 images → the model's input (centre crop, normalize)
:func:`to_display`             the model's input → ``(N, H, W, 3)`` floats in [0, 1] to plot
:func:`activation_modules`     for conv1 … fc7 the module whose output is that layer's activity
:func:`capture_activations`    those activities (and the input) for a batch of images, via
                               forward hooks, optionally average-pooled to a small grid
:func:`unit_scores`            one number per image and unit (the maximum over the map)
:func:`top_activating`         the images that drive one unit hardest
:func:`occlusion_map`          the drop in a class's probability as a grey patch slides over
:func:`nearest_neighbors`      the k nearest rows of a bank in Euclidean distance (chunked)
:func:`neighbor_agreement`     the share of neighbours that share the query's class
:func:`linear_probe`           a logistic regression on frozen features: train and val accuracy
:func:`color_fraction`         how colour-specific each first-layer kernel is (0 grey … 1)
:func:`neighbor_correlation`   how smooth first-layer kernels are: adjacent weights' correlation
:func:`kernel_grid`            first-layer kernels tiled into one RGB picture
=============================  ==============================================================
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .datasets.augment import IMAGENET_MEAN, IMAGENET_STD, center_crop, normalize
from .errors import CourseValueError

HIDDEN_LAYERS = ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7")
"""The layers whose activities a probe or a neighbour search reads (fc8 is the classifier)."""
INPUT = "input"
"""The name :func:`capture_activations` gives the model's input (the normalized pixels)."""


def _as_tensor(x, where: str) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x
    try:
        return torch.from_numpy(np.ascontiguousarray(x))
    except TypeError as exc:
        raise TypeError(f"{where}: expected a tensor or numpy array, got "
                        f"{type(x).__name__}") from exc


# --------------------------------------------------------------------------------------------
# inputs


def preprocess(images, crop: int, mean: Sequence[float] = IMAGENET_MEAN,
               std: Sequence[float] = IMAGENET_STD) -> torch.Tensor:
    """What the course's models take at test time: the central ``crop`` of each image,
    normalized per channel (as :func:`course_lib.evaluate.predict` does for ``mode="center"``).

    ``images: (N, 3, S, S) uint8`` (tensor or numpy) → ``(N, 3, crop, crop) float32``.
    """
    images = _as_tensor(images, "preprocess")
    if images.dtype != torch.uint8:
        raise TypeError(f"preprocess: expected uint8 images (0-255), got {images.dtype}")
    return normalize(center_crop(images, crop), mean, std)


def to_display(inputs: torch.Tensor, mean: Sequence[float] = IMAGENET_MEAN,
               std: Sequence[float] = IMAGENET_STD) -> np.ndarray:
    """Undo :func:`preprocess`'s normalization for plotting: ``(N, 3, H, W)`` float (or
    ``(3, H, W)``) → ``(N, H, W, 3)`` (or ``(H, W, 3)``) float in [0, 1]."""
    x = _as_tensor(inputs, "to_display").detach().float().cpu()
    single = x.ndim == 3
    x = x[None] if single else x
    m = torch.as_tensor(mean, dtype=x.dtype).view(1, -1, 1, 1)
    s = torch.as_tensor(std, dtype=x.dtype).view(1, -1, 1, 1)
    out = (x * s + m).clamp(0, 1).permute(0, 2, 3, 1).numpy()
    return out[0] if single else out


# --------------------------------------------------------------------------------------------
# activations


def activation_modules(model: nn.Module) -> dict[str, nn.Module]:
    """``{"conv1": module, …, "fc7": module}``: for each hidden learned layer of an AlexNet
    (:meth:`course_lib.models.alexnet.AlexNet.learned_layers`), the activation function (ReLU or
    tanh) that follows it, whose output is the layer's activity as the next layer sees it
    (before LRN and pooling)."""
    learned = model.learned_layers()
    order = [*model.features, *model.classifier]
    found = {}
    for name in HIDDEN_LAYERS:
        layer = learned[name]
        position = next(i for i, m in enumerate(order) if m is layer)
        after = order[position + 1] if position + 1 < len(order) else None
        if not isinstance(after, (nn.ReLU, nn.Tanh)):
            raise CourseValueError(f"activation_modules: {name} is not followed by a ReLU or tanh "
                             f"(found {type(after).__name__})")
        found[name] = after
    return found


def _pooled(output: torch.Tensor, grid: int | None, dtype: torch.dtype) -> torch.Tensor:
    if output.ndim == 4 and grid is not None:
        output = F.adaptive_avg_pool2d(output, grid)
    # a copy on the CPU: an in-place op later in the network must not change it
    return output.detach().to("cpu", dtype, copy=True)


def capture_activations(model: nn.Module, inputs, layers: Iterable[str] = HIDDEN_LAYERS, *,
                        grid: int | None = None, crop: int | None = None, batch_size: int = 200,
                        with_logits: bool = False,
                        dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """Each of ``layers``' activities for every image, read by forward hooks.

    ``inputs``: ``(N, 3, H, W)`` float model inputs (see :func:`preprocess`), or uint8 images
    with ``crop`` given, which are preprocessed a chunk at a time (the float copy of all N
    images is never held). They run in chunks of ``batch_size`` on the model's device, in eval
    mode without gradients (the model's train/eval mode is restored). ``layers``: names from
    :data:`HIDDEN_LAYERS`, and ``"input"`` for the model's input itself (the pixels as the
    network sees them). Returns ``{layer: (N, C, h, w)}`` for convolutions and the input
    (``(N, C, grid, grid)`` when ``grid`` is given: each map average-pooled as it is read, so
    only the small grid is ever kept) and ``{layer: (N, D)}`` for fully connected layers, on
    the CPU as ``dtype`` (float32; float16 halves the memory, e.g. for probe features that are
    converted back one layer at a time), in ``layers``' order; with ``with_logits`` also
    ``"logits": (N, num_classes)`` in float32. The hooks are removed even when the forward
    pass fails.
    """
    inputs = _as_tensor(inputs, "capture_activations")
    if inputs.ndim != 4 or not (inputs.is_floating_point() or inputs.dtype == torch.uint8):
        raise CourseValueError(f"capture_activations: inputs must be (N, 3, H, W) floats or uint8, "
                         f"got {tuple(inputs.shape)} {inputs.dtype}")
    if inputs.dtype == torch.uint8 and crop is None:
        raise CourseValueError("capture_activations: uint8 images need crop= (the side the model "
                         "takes), to be preprocessed as preprocess() does")
    if grid is not None and (not isinstance(grid, int) or grid < 1):
        raise CourseValueError(f"capture_activations: grid must be a positive int or None, got {grid!r}")
    modules = activation_modules(model)
    layers = list(layers)
    unknown = [name for name in layers if name not in modules and name != INPUT]
    if unknown:
        raise CourseValueError(f"capture_activations: unknown layer(s) {unknown}; choose from "
                         f"{[INPUT, *modules]}")
    device = next(model.parameters()).device
    chunks: dict[str, list[torch.Tensor]] = {name: [] for name in layers}
    logits = []

    def hook_for(name):
        def hook(_module, _inputs, output):
            chunks[name].append(_pooled(output, grid, dtype))
        return hook

    handles = [modules[name].register_forward_hook(hook_for(name)) for name in layers
               if name != INPUT]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for start in range(0, len(inputs), batch_size):
                chunk = inputs[start:start + batch_size]
                if chunk.dtype == torch.uint8:
                    chunk = preprocess(chunk, crop)
                if INPUT in chunks:
                    chunks[INPUT].append(_pooled(chunk, grid, dtype))
                out = model(chunk.to(device))
                if with_logits:
                    logits.append(out.detach().to("cpu", torch.float32))
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    result = {name: torch.cat(parts) for name, parts in chunks.items()}
    if with_logits:
        result["logits"] = torch.cat(logits)
    return result


def flatten_features(activations: torch.Tensor) -> np.ndarray:
    """``(N, C, h, w)`` or ``(N, D)`` → ``(N, C·h·w)`` float32 numpy (a probe's input)."""
    return _as_tensor(activations, "flatten_features").reshape(len(activations), -1).float().numpy()


def unit_scores(activations: torch.Tensor) -> torch.Tensor:
    """One number per image and unit: ``(N, C, h, w)`` → ``(N, C)`` by the maximum over the
    map; ``(N, D)`` is returned as it is."""
    x = _as_tensor(activations, "unit_scores")
    if x.ndim == 2:
        return x
    if x.ndim != 4:
        raise CourseValueError(f"unit_scores: expected (N, C, h, w) or (N, D), got {tuple(x.shape)}")
    return x.flatten(2).amax(dim=2)


def top_activating(activations: torch.Tensor, unit: int,
                   k: int = 9) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` images whose :func:`unit_scores` for ``unit`` are largest, strongest first
    (ties: the lower index first). Returns ``(indices (k,) int64, scores (k,))``."""
    scores = unit_scores(activations)
    if not 0 <= unit < scores.shape[1]:
        raise CourseValueError(f"top_activating: unit {unit} out of range (the layer has "
                         f"{scores.shape[1]} units)")
    column = scores[:, unit]
    order = torch.sort(-column, stable=True).indices[:k]
    return order, column[order]


def class_purity(indices: torch.Tensor, labels) -> np.ndarray:
    """For each row of ``indices (U, k)`` (e.g. a unit's top-k images), the share of its k
    images that belong to the row's most common class: ``(U,)`` floats in [1/k, 1]."""
    labels = np.asarray(labels)
    rows = np.asarray(indices)
    out = np.empty(len(rows))
    for i, row in enumerate(rows):
        out[i] = np.bincount(labels[row]).max() / len(row)
    return out


# --------------------------------------------------------------------------------------------
# occlusion (Zeiler & Fergus 2014, Sec. 4.2)


@dataclass(frozen=True)
class OcclusionMap:
    """What :func:`occlusion_map` returns.

    ``drops: (R, C)`` float: for the patch whose top-left corner is at ``(r·stride, c·stride)``,
    the target's probability on the clean image minus its probability with that patch greyed
    (positive: the patch mattered for the class). ``base``: the clean probability; ``target``,
    ``patch``, ``stride``; ``image_size``: ``(H, W)``.
    """

    drops: np.ndarray
    base: float
    target: int
    patch: int
    stride: int
    image_size: tuple[int, int]

    def per_pixel(self) -> np.ndarray:
        """``(H, W)``: each pixel's mean drop over the patches that covered it (NaN where none
        did, i.e. a strip at the right and bottom when the stride does not fit exactly)."""
        height, width = self.image_size
        total, count = np.zeros((height, width)), np.zeros((height, width))
        for (r, c), value in np.ndenumerate(self.drops):
            top, left = r * self.stride, c * self.stride
            total[top:top + self.patch, left:left + self.patch] += value
            count[top:top + self.patch, left:left + self.patch] += 1
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def occlusion_positions(size: int, patch: int, stride: int) -> list[int]:
    """The top/left offsets of the patches along one side: ``0, stride, …`` while the patch
    still fits (``range(0, size - patch + 1, stride)``)."""
    if not (isinstance(patch, int) and isinstance(stride, int)) or patch < 1 or stride < 1:
        raise CourseValueError(f"patch and stride must be positive ints, got {patch!r} and {stride!r}")
    if patch > size:
        raise CourseValueError(f"patch {patch} is larger than the image side {size}")
    return list(range(0, size - patch + 1, stride))


def occlusion_map(model: nn.Module, image: torch.Tensor, target: int, *, patch: int,
                  stride: int, fill: float = 0.0, batch_size: int = 64) -> OcclusionMap:
    """Slide a ``patch``×``patch`` square of value ``fill`` over ``image`` in steps of
    ``stride`` and record how much the softmax probability of class ``target`` drops.

    ``image: (3, H, W)`` float, a model input (normalized: ``fill=0`` is the dataset's mean
    colour, a neutral grey). The occluded copies run in batches of ``batch_size`` in eval mode.
    Returns an :class:`OcclusionMap` with ``drops (R, C)``, ``R = len(range(0, H - patch + 1,
    stride))``.
    """
    image = _as_tensor(image, "occlusion_map")
    if image.ndim != 3 or not image.is_floating_point():
        raise CourseValueError(f"occlusion_map: image must be one (3, H, W) float tensor, got "
                         f"{tuple(image.shape)} {image.dtype}")
    height, width = image.shape[-2:]
    rows = occlusion_positions(height, patch, stride)
    cols = occlusion_positions(width, patch, stride)
    device = next(model.parameters()).device
    image = image.to(device)
    was_training = model.training
    model.eval()
    probs = []
    try:
        with torch.no_grad():
            base = model(image[None]).softmax(dim=1)[0, target].item()
            spots = [(top, left) for top in rows for left in cols]
            for start in range(0, len(spots), batch_size):
                part = spots[start:start + batch_size]
                batch = image.repeat(len(part), 1, 1, 1)
                for i, (top, left) in enumerate(part):
                    batch[i, :, top:top + patch, left:left + patch] = fill
                probs.append(model(batch).softmax(dim=1)[:, target].double().cpu())
    finally:
        model.train(was_training)
    drops = base - torch.cat(probs).numpy().reshape(len(rows), len(cols))
    return OcclusionMap(drops=drops, base=base, target=int(target), patch=patch, stride=stride,
                        image_size=(int(height), int(width)))


# --------------------------------------------------------------------------------------------
# nearest neighbours (the paper's Fig. 4)


def nearest_neighbors(queries, bank, k: int, *, exclude=None,
                      chunk: int = 512) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` rows of ``bank`` nearest to each query in Euclidean distance.

    ``queries: (Q, D)``, ``bank: (N, D)`` (tensors or arrays; computed in float64 with
    ``‖q − b‖² = ‖q‖² − 2 q·b + ‖b‖²``, ``chunk`` queries at a time: besides a float64 copy of
    the bank, memory stays ``chunk × (D + N)``). ``exclude: (Q,)`` optional: for each
    query a bank row it may not return (its own position when the queries are bank rows;
    -1 for none). Returns ``(indices (Q, k) int64, distances (Q, k) float64)``, nearest first;
    equal distances keep the lower index first.
    """
    same = queries is bank
    b = _as_tensor(bank, "nearest_neighbors").double()
    q = b if same else _as_tensor(queries, "nearest_neighbors")  # converted a chunk at a time
    if q.ndim != 2 or b.ndim != 2 or q.shape[1] != b.shape[1]:
        raise CourseValueError(f"nearest_neighbors: queries (Q, D) and bank (N, D) must share D, got "
                         f"{tuple(q.shape)} and {tuple(b.shape)}")
    available = len(b) - (0 if exclude is None else 1)
    if not 1 <= k <= available:
        raise CourseValueError(f"nearest_neighbors: k={k} but only {available} bank rows can be "
                         "returned per query")
    if exclude is not None:
        exclude = _as_tensor(exclude, "nearest_neighbors").long().reshape(-1)
        if len(exclude) != len(q):
            raise CourseValueError(f"nearest_neighbors: exclude has {len(exclude)} entries for "
                             f"{len(q)} queries")
    bank_sq = (b * b).sum(dim=1)
    all_idx, all_dist = [], []
    for start in range(0, len(q), chunk):
        part = q[start:start + chunk].double()
        squared = (part * part).sum(dim=1, keepdim=True) - 2 * part @ b.T + bank_sq
        squared.clamp_(min=0)
        if exclude is not None:
            own = exclude[start:start + chunk]
            rows = torch.nonzero(own >= 0).flatten()
            squared[rows, own[rows]] = float("inf")
        order = torch.sort(squared, dim=1, stable=True).indices[:, :k]
        all_idx.append(order)
        all_dist.append(squared.gather(1, order).sqrt())
    return torch.cat(all_idx), torch.cat(all_dist)


def neighbor_agreement(neighbor_labels, query_labels) -> float:
    """The share of neighbours whose class is the query's: ``neighbor_labels (Q, k)``,
    ``query_labels (Q,)`` → a float in [0, 1] (the mean over all Q·k neighbours)."""
    n = np.asarray(neighbor_labels)
    q = np.asarray(query_labels).reshape(-1, 1)
    if n.ndim != 2 or len(n) != len(q):
        raise CourseValueError(f"neighbor_agreement: expected (Q, k) and (Q,), got {n.shape} and "
                         f"{q.shape[:1]}")
    return float((n == q).mean())


# --------------------------------------------------------------------------------------------
# linear probes (Alain & Bengio 2016)


@dataclass(frozen=True)
class ProbeResult:
    """A linear probe's accuracies (fractions) on the images it was fitted on and on held-out
    ones, and the feature dimension it read."""

    train_accuracy: float
    val_accuracy: float
    dims: int


def linear_probe(train_x, train_y, val_x, val_y) -> ProbeResult:
    """Fit a multinomial logistic regression on frozen features and score it.

    ``train_x: (N, D)``, ``train_y: (N,)``, ``val_x: (M, D)``, ``val_y: (M,)``. Each feature
    is standardized with the training mean and standard deviation (scikit-learn's
    ``StandardScaler``), then ``LogisticRegression(max_iter=300)`` (L2, C = 1, lbfgs) is
    fitted on the training rows only. Returns a :class:`ProbeResult`.

    The fit runs with one BLAS thread (``threadpoolctl``): a probe is small, and on a busy
    2-core machine two BLAS threads contending with PyTorch's were measured 20–40× slower.
    """
    # scikit-learn is heavy and only this probe needs it here
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    train_x = np.asarray(train_x, dtype=np.float32).reshape(len(train_x), -1)
    val_x = np.asarray(val_x, dtype=np.float32).reshape(len(val_x), -1)
    if train_x.shape[1] != val_x.shape[1]:
        raise CourseValueError(f"linear_probe: train has {train_x.shape[1]} features, val "
                         f"{val_x.shape[1]}")
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=300))
    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore", ConvergenceWarning)  # not fully converged: still a probe
        probe.fit(train_x, np.asarray(train_y))
        train_accuracy = float(probe.score(train_x, np.asarray(train_y)))
        val_accuracy = float(probe.score(val_x, np.asarray(val_y)))
    return ProbeResult(train_accuracy=train_accuracy, val_accuracy=val_accuracy,
                       dims=int(train_x.shape[1]))


def first_layer_reaching(accuracies: Mapping[str, float], threshold: float) -> str | None:
    """The first layer, in the mapping's order (the network's), whose accuracy is at least
    ``threshold``; None when none reaches it."""
    return next((name for name, value in accuracies.items() if value >= threshold), None)


# --------------------------------------------------------------------------------------------
# first-layer kernels (the paper's Fig. 3)


def color_fraction(kernels, std: Sequence[float] | None = None) -> np.ndarray:
    """How colour-specific each kernel is: ``kernels (K, 3, h, w)`` → ``(K,)`` in [0, 1].

    Split each kernel into its grey part ``g = mean over the 3 channels`` (the same weights on
    R, G and B: it sees brightness only) and the rest ``w − g`` (which sums to zero over the
    channels: it sees colour only); these are orthogonal, so ``‖w‖² = 3‖g‖² + ‖w − g‖²``. The
    result is ``‖w − g‖² / ‖w‖²``: 0 for a grey kernel, 1 for a pure colour-opponent one, 2/3
    for a kernel that reads one channel only. ``std``: the per-channel normalization the
    network's input had; each channel's weights are divided by it first, so the measure refers
    to the pixel values. A kernel of all zeros gives NaN.
    """
    w = _as_tensor(kernels, "color_fraction").detach().double().cpu()
    if w.ndim != 4 or w.shape[1] != 3:
        raise CourseValueError(f"color_fraction: expected (K, 3, h, w) kernels, got {tuple(w.shape)}")
    if std is not None:
        w = w / torch.as_tensor(std, dtype=w.dtype).view(1, 3, 1, 1)
    gray = w.mean(dim=1, keepdim=True)
    color = ((w - gray) ** 2).flatten(1).sum(dim=1)
    total = (w**2).flatten(1).sum(dim=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (color / total).numpy()


def neighbor_correlation(kernels) -> float:
    """How much structure first-layer kernels hold: ``kernels (K, C, h, w)`` → one number.

    Subtract each kernel-channel's mean; pool all pairs of horizontally and vertically adjacent
    weights of a kernel (every channel) and take their Pearson correlation; average over
    kernels. Written out, for kernel ``k`` with centred weights ``v[c, i, j]``, the pairs are
    ``(v[c, i, j], v[c, i, j+1])`` and ``(v[c, i, j], v[c, i+1, j])`` for every ``c, i, j``
    where both exist, and ``r_k = Σ(x − x̄)(y − ȳ) / √(Σ(x − x̄)² · Σ(y − ȳ)²)`` over them.

    White noise gives about 0 (neighbours are independent); smooth patterns (blobs, edges,
    low-frequency stripes) give a positive number: a 5×5 step edge 0.77, larger kernels more;
    a one-pixel checkerboard −1. Kernels whose centred weights are all zero (no pairs to
    correlate) are left out of the average; NaN if every kernel is such.
    """
    w = _as_tensor(kernels, "neighbor_correlation").detach().double().cpu()
    if w.ndim != 4 or min(w.shape[2:]) < 2:
        raise CourseValueError(f"neighbor_correlation: expected (K, C, h, w) kernels with h, w ≥ 2, "
                               f"got {tuple(w.shape)}")
    v = w - w.mean(dim=(2, 3), keepdim=True)
    x = torch.cat([v[..., :, :-1].flatten(1), v[..., :-1, :].flatten(1)], dim=1)  # (K, pairs)
    y = torch.cat([v[..., :, 1:].flatten(1), v[..., 1:, :].flatten(1)], dim=1)
    x, y = x - x.mean(dim=1, keepdim=True), y - y.mean(dim=1, keepdim=True)
    denominator = ((x**2).sum(dim=1) * (y**2).sum(dim=1)).sqrt()
    keep = denominator > 1e-12 * (w**2).flatten(1).sum(dim=1).clamp(min=1e-300)
    if not keep.any():
        return float("nan")
    return float(((x * y).sum(dim=1)[keep] / denominator[keep]).mean())


def kernel_grid(kernels, columns: int = 8, pad: int = 1) -> np.ndarray:
    """First-layer kernels tiled into one picture: ``(K, 3, h, w)`` → ``(rows·(h+pad)+pad,
    columns·(w+pad)+pad, 3)`` float in [0, 1], row-major, white separators.

    Each kernel is scaled on its own, symmetrically about zero (``0.5 + w / (2·max|w|)``), so
    mid-grey is a zero weight and a colour means the channels' weights differ there.
    """
    w = _as_tensor(kernels, "kernel_grid").detach().float().cpu()
    if w.ndim != 4 or w.shape[1] != 3:
        raise CourseValueError(f"kernel_grid: expected (K, 3, h, w) kernels, got {tuple(w.shape)}")
    count, _, h, wd = w.shape
    rows = -(-count // columns)
    peak = w.abs().flatten(1).amax(dim=1).clamp(min=1e-12).view(-1, 1, 1, 1)
    scaled = (0.5 + w / (2 * peak)).permute(0, 2, 3, 1).numpy()
    grid = np.ones((rows * (h + pad) + pad, columns * (wd + pad) + pad, 3))
    for i in range(count):
        r, c = divmod(i, columns)
        top, left = pad + r * (h + pad), pad + c * (wd + pad)
        grid[top:top + h, left:left + wd] = scaled[i]
    return grid


def tower_color_gap(fractions, towers: int = 2, permutations: int = 5000,
                    seed: int = 0) -> tuple[np.ndarray, float]:
    """Do the towers' kernels differ in colour? ``fractions (K,)`` from :func:`color_fraction`
    in channel order (tower t holds channels ``t·K/towers … (t+1)·K/towers − 1``, as
    ``groups=towers`` convolutions split them). Returns ``(mean per tower (towers,), p)``, where
    ``p`` is the share of ``permutations`` random relabellings of the kernels into towers whose
    largest gap between tower means is at least the observed one (a permutation test)."""
    f = np.asarray(fractions, dtype=np.float64)
    if len(f) % towers:
        raise CourseValueError(f"tower_color_gap: {len(f)} kernels do not split into {towers} towers")

    def gap(values):
        means = values.reshape(towers, -1).mean(axis=1)
        return means, means.max() - means.min()

    means, observed = gap(f)
    rng = np.random.default_rng(seed)
    hits = sum(gap(rng.permutation(f))[1] >= observed - 1e-12 for _ in range(permutations))
    return means, (hits + 1) / (permutations + 1)
