"""Checks for the exercises of notebook 04 (AlexNet's architecture).

Each check compares the learner's answer with what PyTorch or ``course_lib.models`` actually
computes (a convolution's real output size and parameter count, course_lib's LRN and conv1, the
per-layer accounting of :func:`course_lib.models.summarize`) and names the common mistakes:

=================================  ==========================================================
check                              the exercise
=================================  ==========================================================
:func:`check_input_sides`          ``fn(out, F, S, P)``: every input side giving that output
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
import operator
from collections.abc import Callable, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from ..models import alexnet, summarize
from ..models.alexnet import CeilModeConv2d
from ..models.lrn import LocalResponseNorm
from .core import ExerciseError, as_number, attempt, check_cases, passed, slip_hint

LEARNED = ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8")

# What would give each exercise's answer away if a learner read it before solving it: no heading,
# objective, prose, code or output above the exercise may state these (tests/test_answers_kept.py
# greps the notebook and the learner's copy for them). conv1's 55 × 55 needs a 227–230 input
# under the floor rule (W - F + 2P) // S + 1, which gives 54 at 224; conv1 pads S − 1 = 3 zeros
# on the right and bottom; the paper's network has
# 60,965,224 parameters (torchvision's 61,100,840; fc6 37,752,832, grouped conv2 307,456) and
# 290,400 neurons in conv1 (659,272 in all); conv3 and conv4 hold 1.45 % and 1.09 %, fc6 61.93 %.
ANSWERS: dict[str, tuple[str, ...]] = {
    # the sides themselves, the forward rule they come from, and what 224 gives under it
    "input_sides": ("227, 228, 229, 230", "227 to 230", "227–230", "227-230", "W - F + 2P",
                    "W − F + 2P", "W - F + 2 * P", "S * (out - 1)", "S(out − 1)", "54 × 54",
                    "54×54", "54.25"),
    "PaperConv1": ("(0, 3, 0, 3)", "S − 1 = 3", "S - 1 = 3"),
    # an apply exercise: the formula is the paper's, printed on purpose (the exercise is its code);
    # the code has many right forms, and its use prints only whether two readings agree
    "local_response_norm": (),
    # the counts, and the formula the learner derives from what groups do to a kernel's depth
    "conv_params": ("60,965,224", "60965224", "60_965_224", "61,100,840", "61_100_840",
                    "37,752,832", "307,456", "in_channels // groups", "in_channels / groups",
                    "(in_channels / groups) · k²"),
    # the counts, and the hook that records one image's outputs
    "neuron_counts": ("290,400", "290400", "659,272", "659272", "output[0].numel()"),
    "param_shares": ("1.45 %", "1.45", "1.09", "61.93", "61.9 %"),
}


# As a decorator: the check runs with torch's global generator saved and restored, so building
# the modules it compares does not change the random numbers the notebook draws next.
_keeps_rng = torch.random.fork_rng(devices=[])


# --- conv output side ---------------------------------------------------------------------
def _measured_side(side: int, kernel: int, stride: int, padding: int) -> int:
    """The side PyTorch's convolution really produces (floor rule), by running one."""
    x = torch.zeros(1, 1, side, side)
    w = torch.zeros(1, 1, kernel, kernel)
    return int(F.conv2d(x, w, stride=stride, padding=padding).shape[-1])


def _sides(out: int, kernel: int, stride: int, padding: int, rule: Callable) -> list[int]:
    """Every input side W (up to one stride beyond the largest possible) for which ``rule(W,
    kernel, stride, padding)`` is ``out``: the inverse of an output-size rule, by search."""
    top = stride * (out + 1) + kernel + 1
    return [w for w in range(1, top)
            if w + 2 * padding >= kernel and rule(w, kernel, stride, padding) == out]


def _floor_side(w: int, f: int, s: int, p: int) -> int:
    return (w - f + 2 * p) // s + 1


def _input_sides(out: int, kernel: int, stride: int, padding: int) -> list[int]:
    """The reference: the sides PyTorch's floor rule maps to ``out`` (the tests measure them on
    real convolutions)."""
    return _sides(out, kernel, stride, padding, _floor_side)


# (out, F, S, P): conv1 as printed and with torchvision's padding (55), what gives 54, pool1
# (27), conv2 and conv3 (which keep the size), pool3 (6).
SIDES_CASES = [(55, 11, 4, 0), (55, 11, 4, 2), (54, 11, 4, 0), (27, 3, 2, 0), (27, 5, 1, 2),
               (13, 3, 1, 1), (6, 3, 2, 0)]
FLOOR_RULE = " PyTorch counts only the windows that fit entirely inside the padded input."
SIDES_SLIPS = [
    (lambda out, f, s, p: [s * (out - 1) + f - 2 * p] if s > 1 else None,
     lambda out, f, s, p: f" That side makes the windows tile the input exactly, but a few pixels "
                          f"more leave a remainder too small for another window: the output stays "
                          f"{out} wide until the input has room for one more window, S = {s} "
                          "pixels later. List every such side."),
    (lambda out, f, s, p: _sides(out, f, s, p, lambda w, f, s, p: 1 + math.ceil((w - f + 2 * p) / s)),
     lambda out, f, s, p: " Those are the sides under cuda-convnet's ceiling rule, where the last "
                          "window may hang over the edge into zeros." + FLOOR_RULE),
    (lambda out, f, s, p: _sides(out, f, s, p, lambda *c: _floor_side(*c) - 1),
     " Those sides give one window too many: the first window counts too (the + 1 of the "
     "forward rule), so the output is one more than the number of strides."),
    (lambda out, f, s, p: _sides(out, f, s, p, lambda w, f, s, p: _floor_side(w, f, s, p / 2)),
     " The padding is added on both sides: the windows slide over W + 2P pixels."),
    (lambda out, f, s, p: _sides(out, f, s, 0, _floor_side),
     " Include the padding: the windows slide over W + 2P pixels."),
    (lambda out, f, s, p: list(range(s * (out - 1) + f - 2 * p, s * (out - 1) + f - 2 * p + s + 1)),
     lambda out, f, s, p: f" One side too many: {s * out + f - 2 * p} pixels have room for another "
                          "window, and the output grows by one."),
    (lambda out, f, s, p: list(range(s * (out - 1) + f - 2 * p, s * (out - 1) + f - 2 * p + s - 1))
     if s > 1 else None,
     lambda out, f, s, p: f" One side short: the remainder the floor drops can be anything from 0 "
                          f"to S - 1 = {s - 1} pixels, so S = {s} sides give the same output."),
]


def _read_sides(got, *case) -> list[int] | None:
    """The learner's sides as a sorted list of ints (one number counts as a list of one), or
    None when they are not whole numbers (then compared, and reported, as they are)."""
    try:
        values = [got] if as_number(got) == as_number(got) else list(got)
        numbers = [as_number(v) for v in values]
        if not all(x.is_integer() for x in numbers):
            return None
        return sorted(int(x) for x in numbers)
    except Exception:  # not a list of numbers: nothing to read
        return None


@_keeps_rng
def check_input_sides(fn: Callable | None) -> bool:
    """Exercise of notebook 04: ``fn(out, F, S, P)`` returns every input side W (a list of ints)
    for which a convolution (or pool) with F×F kernels, stride S and padding P gives an output
    ``out`` wide by PyTorch's floor rule: conv1's 55 needs 227–230, so 224 gives 54 there."""
    return check_cases(
        "input_sides", fn, SIDES_CASES, reference=_input_sides, slips=SIDES_SLIPS,
        read=_read_sides, same=lambda got, want: got is not None and got == want,
        where=lambda out, f, s, p: (f"for a {out}-wide output of {f}×{f} kernels, stride {s}, "
                                    f"padding {p}"),
        shown=lambda want: f"the input sides {want}",
        done=f"Matches PyTorch's output sizes on {len(SIDES_CASES)} layers, AlexNet's conv1 and "
             "pools among them.")


# --- conv1 ---------------------------------------------------------------------------------
def reference_conv1():
    """course_lib's conv1 of the paper network: 96 kernels 11×11×3, stride 4, no padding, output
    size by cuda-convnet's ceiling rule (``alexnet("paper")``'s first layer)."""
    return CeilModeConv2d(3, 96, kernel_size=11, stride=4, padding=0)


# A test on conv1's parameter shapes, and the hint of the slip it recognises.
CONV1_SHAPE_SLIPS = [
    (lambda shapes: (48, 3, 11, 11) in shapes,
     " 48 kernels is one GPU's half: conv1 has 96 kernels in all (48 + 48), and both towers see "
     "the whole image, so it is one ordinary convolution."),
    (lambda shapes: (96, 3, 11, 11) in shapes and (96,) not in shapes,
     " Every kernel has a bias too: a (96,) parameter (Conv2d's bias=True)."),
    (lambda shapes: any(len(s) == 4 and s[2:] != (11, 11) for s in shapes),
     " conv1's kernels are 11×11 (over 3 colour channels)."),
]


def _conv1_slips(reference: nn.Module) -> list:
    """conv1's usual slips on a batch ``x``: an output size (matched on size alone) or values."""
    return [
        (lambda x: (54, 54),
         " 54×54 is PyTorch's floor rule with no padding. cuda-convnet's ceiling rule lets the "
         "last window hang over the edge: add 3 zeros on the right and bottom only "
         "(F.pad(x, (0, 3, 0, 3))) before convolving."),
        (lambda x: (56, 56) if x.shape[-1] == 227 else None,
         " Padding 2 on every side (torchvision's choice) gives 55 from 224 but 56 from 227; the "
         "paper's layer pads nothing on the left and top."),
        (lambda x: F.conv2d(x, reference.weight, reference.bias, stride=4, padding=2),
         " Same shape, different numbers: padding 2 on all four sides (torchvision's fix) shifts "
         "every window 2 pixels up and left. The paper's layer starts at the top-left pixel and "
         "pads only the right and bottom edges: F.pad(x, (0, 3, 0, 3))."),
        (lambda x: reference(x).clamp(min=0),
         " Leave out the ReLU: it is the next layer of the network."),
    ]


def _same_output(got, want) -> bool:
    """Same shape and values (within 1e-4); a ``(height, width)`` is matched on the size alone."""
    if isinstance(want, tuple):
        return tuple(got.shape[-2:]) == want
    return got.shape == want.shape and torch.allclose(got, want, rtol=1e-4, atol=1e-4)


def _conv1_forward(module: nn.Module) -> Callable:
    """``module``'s forward as the function :func:`check_cases` runs: without gradients, a crash
    reported with the batch's shape, an answer that is not a tensor refused."""
    def forward(x):
        try:
            with torch.no_grad():
                out = module(x)
        except NotImplementedError:  # not written yet: reported as not attempted
            raise
        except Exception as exc:
            raise ExerciseError(f"conv1: calling your module on a {tuple(x.shape)} batch raised "
                                f"{type(exc).__name__}: {exc}") from exc
        if not isinstance(out, torch.Tensor):
            raise ExerciseError(f"conv1: forward should return a tensor, got "
                                f"{type(out).__name__}.")
        return out

    return forward


@_keeps_rng
def check_conv1(factory: Callable | None) -> bool:
    """Exercise of notebook 04: ``factory()`` builds a module mapping ``(N, 3, H, W)`` images to
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
        hint = slip_hint(shapes, CONV1_SHAPE_SLIPS, lambda shapes, test: test(shapes))
        raise ExerciseError(f"{name}: expected two parameters, weights (96, 3, 11, 11) and "
                            f"biases (96,); your module has {shapes}.{hint}")
    generator = torch.Generator().manual_seed(3)
    reference = reference_conv1().requires_grad_(False)
    with torch.no_grad():
        reference.weight.copy_(torch.randn(reference.weight.shape, generator=generator) * 0.05)
        reference.bias.copy_(torch.randn(96, generator=generator) * 0.1)
        for p in params:
            p.copy_(reference.weight if p.dim() == 4 else reference.bias)
    batches = [(torch.randn(2, 3, side, side, generator=generator),) for side in (224, 227)]
    return check_cases(
        name, _conv1_forward(module.eval()), batches, reference=reference, same=_same_output,
        slips=_conv1_slips(reference),
        where=lambda x: f"on a {tuple(x.shape)} batch, course_lib's conv1 weights copied in",
        shown=lambda want: f"the values of course_lib's conv1, shape {tuple(want.shape)}",
        done="Same output as course_lib's conv1 (alexnet('paper')) on 224 and 227 inputs: "
             "55×55×96.")


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
LRN_SLIPS = [
    (lambda a, n, alpha, beta, k: _lrn(a, n, alpha, beta, k, convention="pytorch"),
     " This is the α/n reading: torch.nn.LocalResponseNorm (and cuda-convnet) divide alpha by "
     "the window size n. The paper's printed formula multiplies the sum by α itself: with "
     "torch's module you would pass alpha = α·n."),
    (lambda a, n, alpha, beta, k: _lrn(a, n, alpha, beta, 1.0, convention="pytorch"),
     " Two slips: torch.nn.LocalResponseNorm divides alpha by n (the printed formula does not), "
     "and its default k is 1 where the paper uses the k you are given."),
    (lambda a, n, alpha, beta, k: _lrn(a, n, alpha, beta, 1.0),
     " Use the k you are given (the paper's is 2); PyTorch's default k is 1."),
    (lambda a, n, alpha, beta, k: _lrn(a, n, alpha, 1.0, k),
     " Raise the denominator to the power beta."),
    (lambda a, n, alpha, beta, k: _lrn(a, 2 * n + 1, alpha, beta, k),
     lambda a, n, *_: f" The window is {n} maps wide in all, centred on i: {n // 2} on each side "
                      "(i - n//2 … i + n//2), not n on each side."),
    (_lrn_wrapping,
     " At the first and last maps the sum stops at the edge; it does not wrap around to the other "
     "end."),
]


def _read_lrn(got, a, *_):
    """The learner's LRN output as a float32 tensor of ``a``'s shape, else ExerciseError."""
    try:
        got = torch.as_tensor(got, dtype=torch.float32)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ExerciseError(f"local_response_norm: expected a tensor, got "
                            f"{type(got).__name__}") from exc
    if got.shape != a.shape:
        raise ExerciseError(f"local_response_norm: for input shape {tuple(a.shape)} expected the "
                            f"same shape back, got {tuple(got.shape)}. LRN normalises across "
                            "channels (dim 1) at each position; it does not reduce any dimension.")
    return got


def check_local_response_norm(fn: Callable | None) -> bool:
    """Exercise of notebook 04: ``fn(a, size, alpha, beta, k)`` applies the paper's LRN formula
    exactly as printed, ``b_i = a_i / (k + alpha · Σ_j a_j²) ** beta`` with j over the ``size``
    maps centred on i (clipped at the first and last map), to ``a: (N, C, H, W)``; returns a
    tensor of the same shape. Compared with ``course_lib.models.LocalResponseNorm(...,
    convention="paper")``."""
    cases, labels = [], {}
    for what, seed, shape, scale, nonneg, *constants in LRN_CASES:
        a = torch.randn(shape, generator=torch.Generator().manual_seed(seed)) * scale
        cases.append((a.abs() if nonneg else a, *constants))
        labels[tuple(constants)] = what
    return check_cases(
        "local_response_norm", fn, cases, reference=_lrn, read=_read_lrn, slips=LRN_SLIPS,
        same=lambda got, want: torch.allclose(got, want, rtol=1e-4, atol=1e-6),
        where=lambda a, *constants: f"with {labels[constants]} (input {tuple(a.shape)})",
        shown=lambda want: "the printed formula's values",
        done="Matches course_lib's LocalResponseNorm(convention='paper'), the formula as "
             "printed, with the paper's and other constants.")


# --- parameter counts ---------------------------------------------------------------------
# (in, out, kernel, groups): the paper's conv1-conv4, torchvision's conv2, an fc layer seen as a
# 1×1 convolution on a 1×1 input.
PARAM_CASES = [(3, 96, 11, 1), (96, 256, 5, 2), (256, 384, 3, 1), (384, 384, 3, 2),
               (64, 192, 5, 1), (1024, 512, 1, 1)]
# Where a slip coincides with the right count (groups=1, a 1×1 kernel), it is not named.
PARAM_SLIPS = [
    (lambda i, o, k, g: o * (i // g) * k * k,
     lambda i, o, k, g: f" That counts the weights only: add the {o} biases, one per kernel."),
    (lambda i, o, k, g: o * i * k * k + o,
     lambda i, o, k, g: f" With groups={g} each kernel sees only in_channels / groups = {i // g} "
                        "input maps (its own tower's), so the weights shrink by that factor."),
    (lambda i, o, k, g: o * (i // g) * k * k + o // g,
     " Groups split the inputs, not the biases: each of the out_channels kernels has one."),
    (lambda i, o, k, g: (o // g) * (i // g) * k * k + o,
     " There are still out_channels kernels in all; each one sees in_channels / groups maps."),
    (lambda i, o, k, g: o * (i // g) * k + o, " A k×k kernel has k² weights per input map."),
]


@_keeps_rng
def check_conv_params(fn: Callable | None) -> bool:
    """Exercise of notebook 04: ``fn(in_channels, out_channels, kernel_size, groups)`` returns the
    number of learned parameters (weights and biases) of a ``Conv2d`` with square kernels."""
    return check_cases(
        "conv_params", fn, PARAM_CASES, slips=PARAM_SLIPS,
        reference=lambda i, o, k, g: sum(p.numel() for p in nn.Conv2d(i, o, k, groups=g)
                                          .parameters()),
        where=lambda i, o, k, g: f"nn.Conv2d({i}, {o}, {k}, groups={g})",
        shown=lambda want: f"{want:,} parameters",
        done=f"Matches nn.Conv2d's parameter count on {len(PARAM_CASES)} layers, grouped ones "
             "among them.")


# --- neurons per layer --------------------------------------------------------------------
NETS = (("alexnet('paper', width=0.25)", "paper", {"width": 0.25}, 224),
        ("alexnet('torchvision', width=0.25)", "torchvision", {"width": 0.25}, 224),
        ("alexnet('scaled', input_size=56, width=0.5)", "scaled",
         {"input_size": 56, "width": 0.5, "num_classes": 20}, 56))


@functools.cache
def _learned(index: int) -> dict[str, tuple]:
    """summarize()'s rows of the learned layers of ``NETS[index]`` (a small AlexNet, fast to
    build and run; its weights do not matter): layer names, activations, params and
    param_share (cached: the tables never change within a process)."""
    _, variant, options, side = NETS[index]
    table = summarize(alexnet(variant, **options), side)
    table = table[table["layer"] != ""]
    return {column: tuple(table[column]) for column in ("layer", "activations", "params",
                                                        "param_share")}


def _read_counts(where: str, got) -> list[float]:
    """The learner's counts as a list of 8 numbers (a dict's values in order), else
    :class:`ExerciseError` saying which layers to count."""
    try:
        values = [as_number(v) for v in (got.values() if isinstance(got, Mapping) else got)]
    except TypeError:
        raise ExerciseError(f"{where}: expected a list of 8 numbers, got "
                            f"{type(got).__name__}.") from None
    if len(values) != len(LEARNED):
        hint = (" Count only the learned layers, conv1 … fc8 (every nn.Conv2d and nn.Linear), "
                "not ReLU, LRN, pooling or dropout." if len(values) > len(LEARNED) else
                " Include every learned layer: the five convolutions and the three fully "
                "connected layers.")
        raise ExerciseError(f"{where}: expected {len(LEARNED)} numbers (conv1 … fc8), got "
                            f"{len(values)}.{hint}")
    return values


@_keeps_rng
def check_neuron_counts(fn: Callable | None) -> bool:
    """Exercise of notebook 04: ``fn(net, input_side)`` returns the number of outputs ("neurons")
    of each learned layer of ``net`` (every ``Conv2d`` and ``Linear``, in forward order) for one
    ``(3, input_side, input_side)`` image: 8 numbers for AlexNet. A dict keyed by layer name is
    accepted too (its values in order). Compared with :func:`course_lib.models.summarize`'s
    ``activations`` on three small AlexNets; the function must leave no hooks behind.

    Its own loop rather than :func:`check_cases`: two of its slips are read off the answer
    itself (every count the same whole multiple too large; the first count alone wrong)."""
    name = "neuron_counts"
    for index, (label, variant, options, side) in enumerate(NETS):
        net = alexnet(variant, **options)
        ok, got = attempt(name, fn, net, side)
        if not ok:
            return False
        where = f"{name}({label}, {side})"
        values, table = _read_counts(where, got), _learned(index)
        want = [int(v) for v in table["activations"]]
        if values == want:
            continue
        times = values[0] / want[0]
        hint = slip_hint(values, [
            ([times * w for w in want] if times > 1 and times.is_integer() else None,
             f" Every count is {times:g}× too large: count per image (output[0].numel(), or "
             "divide by the batch size)."),
            ([int(v) for v in table["params"]],
             " These are parameter counts; count the layer's outputs (output.numel())."),
            ([getattr(m, "out_channels", getattr(m, "out_features", None))
              for m in net.learned_layers().values()],
             " These are channel counts; a conv layer has C·H·W outputs (a neuron per kernel per "
             "position)."),
            ([3 * side * side, *values[1:]],
             " The first number is the input image's size: a forward hook gets (module, inputs, "
             "output); count the output."),
        ], operator.eq)
        raise ExerciseError(f"{where}: expected {want}, got {got!r}.{hint}")
    return passed(name, "Matches course_lib.models.summarize on the paper, torchvision and "
                        "scaled networks.")


# --- parameter shares ---------------------------------------------------------------------
def _percent(counts: Mapping) -> dict | None:
    """Each layer's share of the parameters in ``counts``, in %; None when there are none."""
    return {key: 100 * n / sum(counts.values()) for key, n in counts.items()} or None


# "Do not round" names any rounding to 0, 1 or 2 decimals.
SHARE_SLIPS = [
    (lambda counts: {key: n / sum(counts.values()) for key, n in counts.items()},
     " These are fractions; multiply by 100 for percentages."),
    (lambda counts: _percent({key: n for key, n in counts.items() if key.startswith("conv")}),
     " Divide by the whole model's parameters, the fully connected layers included: the paper's "
     "claim is about shares of the model."),
    *[(lambda counts, digits=digits: {key: round(share, digits)
                                      for key, share in _percent(counts).items()},
       " Do not round: conv1's share is well under 1 %, and rounding hides it.")
      for digits in (0, 1, 2)],
]


def _read_shares(got, counts: Mapping, label: str) -> dict:
    if not isinstance(got, Mapping) or set(got) != set(counts):
        keys = sorted(got) if isinstance(got, Mapping) else type(got).__name__
        raise ExerciseError(f"param_shares({label}): expected a dict with the keys "
                            f"{sorted(counts)}, got {keys}.")
    return {key: as_number(v) for key, v in got.items()}


@_keeps_rng
def check_param_shares(fn: Callable | None) -> bool:
    """Exercise of notebook 04: ``fn(counts)`` takes ``{"conv1": 34944, …, "fc8": …}`` (parameters
    per layer) and returns ``{layer: percent of all the parameters}`` with the same keys, unrounded.
    Compared with :func:`course_lib.models.summarize`'s ``param_share`` (× 100) on small AlexNets
    and with a hand-made case."""
    # each case's (layer, parameters) pairs → (what it is, the percent per layer)
    known = {(("a", 1), ("b", 3)): ("a two-layer toy", {"a": 25.0, "b": 75.0})}
    for index, (label, *_) in enumerate(NETS):
        table = _learned(index)
        counts = tuple(zip(table["layer"], map(int, table["params"]), strict=True))
        known[counts] = label, {layer: 100.0 * float(share) for layer, share in
                                zip(table["layer"], table["param_share"], strict=True)}

    def label(counts):
        return known[tuple(counts.items())][0]

    return check_cases(
        "param_shares", fn, [(dict(counts),) for counts in known], slips=SHARE_SLIPS,
        read=lambda got, counts: _read_shares(got, counts, label(counts)), where=label,
        reference=lambda counts: known[tuple(counts.items())][1],
        same=lambda got, want: all(math.isclose(got[key], share, rel_tol=1e-6, abs_tol=1e-9)
                                   for key, share in want.items()),  # a slip may name some keys
        shown=lambda want: repr({key: round(share, 4) for key, share in want.items()}),
        done="Matches course_lib.models.summarize's shares.")
