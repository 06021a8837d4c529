"""Checks for the exercises of notebook 03 (AlexNet's architecture).

Each check compares the learner's answer with what PyTorch or ``course_lib.models`` actually
computes (a convolution's real output size and parameter count, course_lib's LRN and conv1, the
per-layer accounting of :func:`course_lib.models.summarize`) and names the common mistakes:

=================================  ==========================================================
check                              the exercise
=================================  ==========================================================
:func:`check_conv_output_side`     ``fn(W, F, S, P)``: side of a convolution's output
:func:`check_conv1`                ``factory()``: the paper's conv1 with cuda-convnet's
                                   ceiling rule, ``(N, 3, 224, 224) → (N, 96, 55, 55)``
:func:`check_local_response_norm`  ``fn(a, size, alpha, beta, k)``: LRN as printed (α·Σa²)
:func:`check_conv_params`          ``fn(in_channels, out_channels, kernel_size, groups)``
:func:`check_neuron_counts`        ``fn(net, input_side)``: outputs of conv1 … fc8 per image
:func:`check_param_shares`         ``fn(counts)``: each layer's share of all parameters, in %
=================================  ==========================================================
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from ..models import alexnet, summarize
from ..models.alexnet import CeilModeConv2d
from ..models.lrn import LocalResponseNorm
from .core import ExerciseError, as_number, attempt, not_attempted, passed

LEARNED = ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8")


def _keeps_rng(check: Callable) -> Callable:
    """Run ``check`` with torch's global generator saved and restored: building the modules it
    compares must not change the random numbers the notebook draws next."""
    @functools.wraps(check)
    def wrapper(*args, **kwargs):
        with torch.random.fork_rng(devices=[]):
            return check(*args, **kwargs)

    return wrapper


# --- conv output side ---------------------------------------------------------------------
def _measured_side(side: int, kernel: int, stride: int, padding: int) -> int:
    """The side PyTorch's convolution really produces (floor rule), by running one."""
    x = torch.zeros(1, 1, side, side)
    w = torch.zeros(1, 1, kernel, kernel)
    return int(F.conv2d(x, w, stride=stride, padding=padding).shape[-1])


def _ceil_side(side: int, kernel: int, stride: int, padding: int) -> int:
    """cuda-convnet's size (``1 + ceil(...)``), measured on course_lib's ceiling-mode conv."""
    conv = CeilModeConv2d(1, 1, kernel_size=kernel, stride=stride, padding=padding, bias=False)
    with torch.no_grad():
        return int(conv(torch.zeros(1, 1, side, side)).shape[-1])


# (W, F, S, P): AlexNet's conv1 at 224 and 227, torchvision's padded conv1, the 3/2 pools,
# conv2-5, and the scaled network's first layers.
SIDE_CASES = [(224, 11, 4, 0), (227, 11, 4, 0), (224, 11, 4, 2), (55, 3, 2, 0), (27, 5, 1, 2),
              (13, 3, 1, 1), (13, 3, 2, 0), (56, 5, 2, 2), (28, 3, 1, 1)]


def check_conv_output_side(fn: Callable | None) -> bool:
    """Exercise of notebook 03: ``fn(W, F, S, P)`` returns the side of a convolution's (or a
    pool's) output for a W×W input, F×F kernel, stride S and padding P, by PyTorch's rule."""
    name = "conv_output_side"
    answers = []
    for case in SIDE_CASES:
        ok, got = attempt(name, fn, *case)
        if not ok:
            return False
        answers.append(got)
    wants = [_measured_side(*case) for case in SIDE_CASES]
    values = [as_number(got) for got in answers]
    if values == wants:
        return passed(name, f"Matches PyTorch's convolution on {len(SIDE_CASES)} cases, "
                            "AlexNet's conv1 and pools among them.")
    # A mistake is recognised by the whole pattern of answers, not one case (some coincide).
    mistakes = [
        ([(w - f + 2 * p) / s + 1 for w, f, s, p in SIDE_CASES],
         "{got:g} is the division before rounding: a window either fits or it does not, so "
         "floor it: (W - F + 2P) // S + 1."),
        ([_ceil_side(*case) for case in SIDE_CASES],
         "That is the ceiling rule of Krizhevsky's cuda-convnet, where the last window hangs "
         "over the edge. PyTorch floors: (W - F + 2P) // S + 1."),
        ([(w - f + 2 * p) // s for w, f, s, p in SIDE_CASES], "Count the first window too: + 1."),
        ([(w - f + p) // s + 1 for w, f, s, p in SIDE_CASES],
         "Padding P is added on both sides: 2P."),
        ([(w - f) // s + 1 for w, f, s, p in SIDE_CASES],
         "Include the padding: (W - F + 2P) // S + 1."),
    ]
    i = next(i for i, (v, w) in enumerate(zip(values, wants, strict=True)) if v != w)
    (w, f, s, p), got, want = SIDE_CASES[i], answers[i], wants[i]
    hint = next((" " + text.format(got=values[i]) for pattern, text in mistakes
                 if all(math.isclose(a, b) for a, b in zip(values, pattern, strict=True))), "")
    if (w, f, s, p) == (224, 11, 4, 0) and values[i] == 55:
        hint += (" A 224 input gives 55 only with the ceiling rule, with padding, or if you "
                 "assume a 227 input.")
    raise ExerciseError(f"{name}({w}, {f}, {s}, {p}): a {w}×{w} input, {f}×{f} kernel, "
                        f"stride {s}, padding {p} gives a {want}×{want} output in PyTorch; "
                        f"got {got!r}.{hint}")


# --- conv1 ---------------------------------------------------------------------------------
def reference_conv1():
    """course_lib's conv1 of the paper network: 96 kernels 11×11×3, stride 4, no padding, output
    size by cuda-convnet's ceiling rule (``alexnet("paper")``'s first layer)."""
    return CeilModeConv2d(3, 96, kernel_size=11, stride=4, padding=0)


def _shape_hint(shapes: list[tuple[int, ...]]) -> str:
    if (48, 3, 11, 11) in shapes:
        return (" 48 kernels is one GPU's half: conv1 has 96 kernels in all (48 + 48), and both "
                "towers see the whole image, so it is one ordinary convolution.")
    if (96, 3, 11, 11) in shapes and (96,) not in shapes:
        return " Every kernel has a bias too: a (96,) parameter (Conv2d's bias=True)."
    if any(len(s) == 4 and s[2:] != (11, 11) for s in shapes):
        return " conv1's kernels are 11×11 (over 3 colour channels)."
    return ""


def _compare_conv1(name: str, side: int, x, got, want, reference) -> None:
    """Raise :class:`ExerciseError` with the slip's hint when the learner's conv1 output ``got``
    differs from ``want`` (shape first, then values) on the ``side``-px batch ``x``."""
    if tuple(got.shape) != tuple(want.shape):
        hint = ""
        if tuple(got.shape[-2:]) == (54, 54):
            hint = (" 54×54 is PyTorch's floor rule with no padding. cuda-convnet's ceiling "
                    "rule lets the last window hang over the edge: add 3 zeros on the right "
                    "and bottom only (F.pad(x, (0, 3, 0, 3))) before convolving.")
        elif side == 227 and tuple(got.shape[-2:]) == (56, 56):
            hint = (" Padding 2 on every side (torchvision's choice) gives 55 from 224 but "
                    "56 from 227; the paper's layer pads nothing on the left and top.")
        raise ExerciseError(f"{name}: for a (2, 3, {side}, {side}) batch expected output "
                            f"shape {tuple(want.shape)}, got {tuple(got.shape)}.{hint}")
    if not torch.allclose(got, want, rtol=1e-4, atol=1e-4):
        hint = ""
        padded = F.conv2d(x, reference.weight, reference.bias, stride=4, padding=2)
        if padded.shape == got.shape and torch.allclose(got, padded, rtol=1e-4, atol=1e-4):
            hint = (" Same shape, different numbers: padding 2 on all four sides "
                    "(torchvision's fix) shifts every window 2 pixels up and left. The "
                    "paper's layer starts at the top-left pixel and pads only the right and "
                    "bottom edges: F.pad(x, (0, 3, 0, 3)).")
        elif torch.allclose(got, want.clamp(min=0), rtol=1e-4, atol=1e-4):
            hint = " Leave out the ReLU: it is the next layer of the network."
        worst = (got - want).abs().max().item()
        raise ExerciseError(f"{name}: with course_lib's conv1 weights copied in, your output "
                            f"on a {side}×{side} batch differs from it by up to {worst:.3g}."
                            f"{hint}")


@_keeps_rng
def check_conv1(factory: Callable | None) -> bool:
    """Exercise of notebook 03: ``factory()`` builds a module mapping ``(N, 3, H, W)`` images to
    conv1's ``(N, 96, H', W')`` responses as the paper's network computes them: 96 kernels of
    11×11×3, stride 4, and cuda-convnet's output size ``1 + ceil((W - 11) / 4)`` (55 from 224 and
    from 227), i.e. zeros added on the right and bottom only. No ReLU (it is the next layer).

    The check copies course_lib's conv1 weights into the module (matched by shape) and compares
    outputs on random images of side 224 and 227.
    """
    name = "conv1"
    ok, module = attempt(name, factory)
    if not ok:
        return False
    if not isinstance(module, nn.Module):
        raise ExerciseError(f"{name}: the factory should return an nn.Module (e.g. an instance "
                            f"of your class), got {type(module).__name__}.")
    params = list(module.parameters())
    shapes = sorted((tuple(p.shape) for p in params), key=len, reverse=True)
    if shapes != [(96, 3, 11, 11), (96,)]:
        raise ExerciseError(f"{name}: expected two parameters, weights (96, 3, 11, 11) and "
                            f"biases (96,); your module has {shapes}.{_shape_hint(shapes)}")
    generator = torch.Generator().manual_seed(3)
    reference = reference_conv1()
    with torch.no_grad():
        reference.weight.copy_(torch.randn(reference.weight.shape, generator=generator) * 0.05)
        reference.bias.copy_(torch.randn(96, generator=generator) * 0.1)
        for p in params:
            p.copy_(reference.weight if p.dim() == 4 else reference.bias)
    module.eval()
    for side in (224, 227):
        x = torch.randn(2, 3, side, side, generator=generator)
        with torch.no_grad():
            want = reference(x)
            try:
                got = module(x.clone())
            except NotImplementedError:
                return not_attempted(name)
            except Exception as exc:
                raise ExerciseError(f"{name}: calling your module on a (2, 3, {side}, {side}) "
                                    f"batch raised {type(exc).__name__}: {exc}") from exc
        if not isinstance(got, torch.Tensor):
            raise ExerciseError(f"{name}: forward should return a tensor, got "
                                f"{type(got).__name__}.")
        _compare_conv1(name, side, x, got, want, reference)
    return passed(name, "Same output as course_lib's conv1 (alexnet('paper')) on 224 and 227 "
                        "inputs: 55×55×96.")


# --- LRN ----------------------------------------------------------------------------------
def _lrn(a, size: int, alpha: float, beta: float, k: float, convention: str = "paper"):
    with torch.no_grad():
        return LocalResponseNorm(size, alpha, beta, k, convention=convention)(a)


def _lrn_wrapping(a, size: int, alpha: float, beta: float, k: float):
    """The printed formula with a window that wraps around the channels (a common slip)."""
    squares = a * a
    sums = sum(torch.roll(squares, shift, dims=1) for shift in range(-(size // 2), size // 2 + 1))
    return a / (k + alpha * sums) ** beta


LRN_CASES = [
    # (description, seed, shape, scale, non-negative, size, alpha, beta, k)
    ("the paper's constants n=5, α=1e-4, β=0.75, k=2 on large ReLU outputs", 11, (2, 8, 5, 5),
     40.0, True, 5, 1e-4, 0.75, 2.0),
    ("n=3, α=0.1, β=0.5, k=1 on signed inputs", 12, (1, 7, 3, 4), 3.0, False, 3, 0.1, 0.5, 1.0),
]


def check_local_response_norm(fn: Callable | None) -> bool:
    """Exercise of notebook 03: ``fn(a, size, alpha, beta, k)`` applies the paper's LRN formula
    exactly as printed, ``b_i = a_i / (k + alpha · Σ_j a_j²) ** beta`` with j over the ``size``
    maps centred on i (clipped at the first and last map), to ``a: (N, C, H, W)``; returns a
    tensor of the same shape. Compared with ``course_lib.models.LocalResponseNorm(...,
    convention="paper")``."""
    name = "local_response_norm"
    for what, seed, shape, scale, nonneg, size, alpha, beta, k in LRN_CASES:
        generator = torch.Generator().manual_seed(seed)
        a = torch.randn(shape, generator=generator) * scale
        if nonneg:
            a = a.abs()
        original = a.clone()
        ok, got = attempt(name, fn, a, size, alpha, beta, k)
        if not ok:
            return False
        if not torch.equal(a, original):
            raise ExerciseError(f"{name}: your function changed its input in place; return a new "
                                "tensor (the network needs the activations unchanged).")
        try:
            got = torch.as_tensor(got, dtype=torch.float32)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise ExerciseError(f"{name}: expected a tensor, got {type(got).__name__}") from exc
        want = _lrn(a, size, alpha, beta, k)
        if tuple(got.shape) != tuple(want.shape):
            raise ExerciseError(f"{name}: for input shape {tuple(shape)} expected the same shape "
                                f"back, got {tuple(got.shape)}. LRN normalises across channels "
                                "(dim 1) at each position; it does not reduce any dimension.")
        if torch.allclose(got, want, rtol=1e-4, atol=1e-6):
            continue
        candidates = [
            (_lrn(a, size, alpha, beta, k, convention="pytorch"),
             " This is the α/n reading: torch.nn.LocalResponseNorm (and cuda-convnet) divide "
             "alpha by the window size n. The paper's printed formula multiplies the sum by α "
             "itself: with torch's module you would pass alpha = α·n."),
            (_lrn(a, size, alpha, beta, 1.0, convention="pytorch"),
             " Two slips: torch.nn.LocalResponseNorm divides alpha by n (the printed formula "
             "does not), and its default k is 1 where the paper uses the k you are given."),
            (_lrn(a, size, alpha, beta, 1.0),
             " Use the k you are given (the paper's is 2); PyTorch's default k is 1."),
            (_lrn(a, size, alpha, 1.0, k),
             " Raise the denominator to the power beta."),
            (_lrn(a, 2 * size + 1, alpha, beta, k),
             f" The window is {size} maps wide in all, centred on i: {size // 2} on each side "
             "(i - n//2 … i + n//2), not n on each side."),
            (_lrn_wrapping(a, size, alpha, beta, k),
             " At the first and last maps the sum stops at the edge; it does not wrap around "
             "to the other end."),
        ]
        hint = next((h for c, h in candidates
                     if not torch.allclose(c, want, rtol=1e-4, atol=1e-6)
                     and torch.allclose(got, c, rtol=1e-4, atol=1e-6)), "")
        worst = (got - want).abs().max().item()
        raise ExerciseError(f"{name}: with {what} (input {tuple(shape)}), your output differs "
                            f"from the printed formula by up to {worst:.3g}.{hint}")
    return passed(name, "Matches course_lib's LocalResponseNorm(convention='paper'), the "
                        "formula as printed, with the paper's and other constants.")


# --- parameter counts ---------------------------------------------------------------------
# (in, out, kernel, groups): the paper's conv1-conv4, torchvision's conv2, an fc layer seen as a
# 1×1 convolution on a 1×1 input.
PARAM_CASES = [(3, 96, 11, 1), (96, 256, 5, 2), (256, 384, 3, 1), (384, 384, 3, 2),
               (64, 192, 5, 1), (1024, 512, 1, 1)]


@_keeps_rng
def check_conv_params(fn: Callable | None) -> bool:
    """Exercise of notebook 03: ``fn(in_channels, out_channels, kernel_size, groups)`` returns the
    number of learned parameters (weights and biases) of a ``Conv2d`` with square kernels."""
    name = "conv_params"
    for c_in, c_out, k, g in PARAM_CASES:
        ok, got = attempt(name, fn, c_in, c_out, k, g)
        if not ok:
            return False
        conv = nn.Conv2d(c_in, c_out, k, groups=g)
        want = sum(p.numel() for p in conv.parameters())
        value = as_number(got)
        if value == want:
            continue
        weights = conv.weight.numel()
        hint = ""
        if value == weights:
            hint = f" That counts the weights only: add the {c_out} biases, one per kernel."
        elif g > 1 and value == c_out * c_in * k * k + c_out:
            hint = (f" With groups={g} each kernel sees only in_channels / groups = {c_in // g} "
                    "input maps (its own tower's), so the weights shrink by that factor.")
        elif g > 1 and value == weights + c_out // g:
            hint = " Groups split the inputs, not the biases: each of the out_channels kernels has one."
        elif g > 1 and value == (c_out // g) * (c_in // g) * k * k + c_out:
            hint = (" There are still out_channels kernels in all; each one sees in_channels / "
                    "groups maps.")
        elif value == c_out * (c_in // g) * k + c_out and k > 1:
            hint = " A k×k kernel has k² weights per input map."
        raise ExerciseError(f"{name}({c_in}, {c_out}, {k}, groups={g}): nn.Conv2d({c_in}, "
                            f"{c_out}, {k}, groups={g}) has {want:,} parameters; got {got!r}."
                            f"{hint}")
    return passed(name, f"Matches nn.Conv2d's parameter count on {len(PARAM_CASES)} layers, "
                        "grouped ones among them.")


# --- neurons per layer --------------------------------------------------------------------
NETS = (("alexnet('paper', width=0.25)", "paper", {"width": 0.25}, 224),
        ("alexnet('torchvision', width=0.25)", "torchvision", {"width": 0.25}, 224),
        ("alexnet('scaled', input_size=56, width=0.5)", "scaled",
         {"input_size": 56, "width": 0.5, "num_classes": 20}, 56))


def _build(variant: str, options: dict):
    """A small AlexNet of ``variant`` (fast to build and run; its weights do not matter)."""
    return alexnet(variant, **options)


@functools.cache
def _learned(index: int) -> dict[str, tuple]:
    """summarize()'s rows of the learned layers of ``NETS[index]``: layer names, activations,
    params and param_share (cached: the tables never change within a process)."""
    _, variant, options, side = NETS[index]
    table = summarize(_build(variant, options), side)
    table = table[table["layer"] != ""]
    return {column: tuple(table[column]) for column in ("layer", "activations", "params",
                                                        "param_share")}


def _as_list(got) -> list | None:
    if isinstance(got, Mapping):
        got = list(got.values())
    try:
        return [as_number(v) for v in got]
    except TypeError:
        return None


@_keeps_rng
def check_neuron_counts(fn: Callable | None) -> bool:
    """Exercise of notebook 03: ``fn(net, input_side)`` returns the number of outputs ("neurons")
    of each learned layer of ``net`` (every ``Conv2d`` and ``Linear``, in forward order) for one
    ``(3, input_side, input_side)`` image: 8 numbers for AlexNet. A dict keyed by layer name is
    accepted too (its values in order). Compared with :func:`course_lib.models.summarize`'s
    ``activations`` on three small AlexNets; the function must leave no hooks behind."""
    name = "neuron_counts"
    for index, (label, variant, options, side) in enumerate(NETS):
        net = _build(variant, options)
        ok, got = attempt(name, fn, net, side)
        if not ok:
            return False
        table = _learned(index)
        want = [int(v) for v in table["activations"]]
        values = _as_list(got)
        where = f"{name}({label}, {side})"
        if values is None:
            raise ExerciseError(f"{where}: expected a list of 8 numbers, got "
                                f"{type(got).__name__}.")
        if len(values) != len(want):
            hint = (" Count only the learned layers, conv1 … fc8 (every nn.Conv2d and nn.Linear),"
                    " not ReLU, LRN, pooling or dropout." if len(values) > len(want) else
                    " Include every learned layer: the five convolutions and the three fully "
                    "connected layers.")
            raise ExerciseError(f"{where}: expected {len(want)} numbers (conv1 … fc8), got "
                                f"{len(values)}.{hint}")
        if values == want:
            continue
        params = [int(v) for v in table["params"]]
        modules = list(net.learned_layers().values())
        channels = [m.out_channels if hasattr(m, "out_channels") else m.out_features
                    for m in modules]
        hint = ""
        ratios = {v / w for v, w in zip(values, want, strict=True) if w}
        if len(ratios) == 1 and (r := ratios.pop()) > 1 and float(r).is_integer():
            hint = (f" Every count is {r:g}× too large: count per image (output[0].numel(), or "
                    "divide by the batch size).")
        elif values == params:
            hint = " These are parameter counts; count the layer's outputs (output.numel())."
        elif values == channels:
            hint = (" These are channel counts; a conv layer has C·H·W outputs (a neuron per "
                    "kernel per position).")
        elif values[0] == 3 * side * side:
            hint = (" The first number is the input image's size: a forward hook gets (module, "
                    "inputs, output); count the output.")
        raise ExerciseError(f"{where}: expected {want}, got {got!r}.{hint}")
    return passed(name, "Matches course_lib.models.summarize on the paper, torchvision and "
                        "scaled networks.")


# --- parameter shares ---------------------------------------------------------------------
@_keeps_rng
def check_param_shares(fn: Callable | None) -> bool:
    """Exercise of notebook 03: ``fn(counts)`` takes ``{"conv1": 34944, …, "fc8": …}`` (parameters
    per layer) and returns ``{layer: percent of all the parameters}`` with the same keys, unrounded.
    Compared with :func:`course_lib.models.summarize`'s ``param_share`` (× 100) on small AlexNets
    and with a hand-made case."""
    name = "param_shares"
    def cases():
        yield "a two-layer toy", {"a": 1, "b": 3}, {"a": 25.0, "b": 75.0}
        for index, (label, *_) in enumerate(NETS):
            table = _learned(index)
            yield (label, dict(zip(table["layer"], map(int, table["params"]), strict=True)),
                   {layer: 100.0 * float(share)
                    for layer, share in zip(table["layer"], table["param_share"], strict=True)})

    for label, counts, want in cases():
        ok, got = attempt(name, fn, dict(counts))
        if not ok:
            return False
        if not isinstance(got, Mapping) or set(got) != set(want):
            keys = sorted(got) if isinstance(got, Mapping) else type(got).__name__
            raise ExerciseError(f"{name}({label}): expected a dict with the keys {sorted(want)}, "
                                f"got {keys}.")
        values = {key: as_number(v) for key, v in got.items()}
        if all(math.isclose(values[key], want[key], rel_tol=1e-6, abs_tol=1e-9) for key in want):
            continue
        hint = ""
        convs = {k: v for k, v in counts.items() if k.startswith("conv")}
        if all(math.isclose(values[key], want[key] / 100, rel_tol=1e-6) for key in want):
            hint = " These are fractions; multiply by 100 for percentages."
        elif convs and all(math.isclose(values[key], 100 * counts[key] / sum(convs.values()),
                                        rel_tol=1e-6) for key in convs):
            hint = (" Divide by the whole model's parameters, the fully connected layers "
                    "included: the paper's claim is about shares of the model.")
        elif all(abs(values[key] - want[key]) <= 0.5 + 1e-9 for key in want):
            hint = " Do not round: conv1's share is well under 1 %, and rounding hides it."
        shown = {key: round(want[key], 4) for key in want}
        raise ExerciseError(f"{name}({label}): expected {shown}, got {got!r}.{hint}")
    return passed(name, "Matches course_lib.models.summarize's shares.")
