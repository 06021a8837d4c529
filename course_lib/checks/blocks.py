"""Checks for the exercises of notebook 03 (the building blocks).

Each learner function takes NumPy arrays and is compared with what PyTorch computes on the same
inputs, on several cases, and the usual slips are named:

===============================  ==============================================================
check                            the exercise
===============================  ==============================================================
:func:`check_conv2d`             ``fn(x, w, b, stride, padding)``: a 2-D convolution (PyTorch's
                                 cross-correlation) written with loops, against ``F.conv2d``
:func:`check_max_pool2d`         ``fn(x, size, stride)``: max-pooling, against ``F.max_pool2d``
:func:`check_cross_entropy`      ``fn(logits, targets)``: the mean cross-entropy, finite for
                                 large logits, against ``F.cross_entropy``
:func:`check_numerical_gradient` ``fn(f, w, h)``: a gradient by finite differences, against
                                 autograd
:func:`check_torch_sgd_step`     ``fn(w, buf, grad, lr, momentum, weight_decay)``: one step of
                                 ``torch.optim.SGD``, derived from the paper's update rule
:func:`check_dropout`            ``fn(x, p, training, rng)``: ``nn.Dropout``'s behaviour, by its
                                 statistics in training and evaluation mode
===============================  ==============================================================
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .core import (
    ExerciseError,
    as_array,
    as_number,
    check_cases,
    close,
    not_attempted,
    wrong_answer,
)

# What would give each exercise's answer away if a learner read it before solving it: no heading,
# objective, prose, code or output above the exercise's check may state these
# (tests/test_answers_kept.py greps the notebook and the learner's copy for them). conv2d: the
# output-size rule; max_pool2d: the window's slice and its maximum; cross_entropy: the shift by
# the row's largest logit; numerical_gradient: the two-sided difference; torch_sgd_step: PyTorch's
# update of its buffer and weights; dropout: the survivors' scale.
ANSWERS: dict[str, tuple[str, ...]] = {
    "conv2d": ("W − F + 2P", "W - F + 2P", "W - F + 2 * P", "2 * padding - ", "// stride + 1",
               "(W + 2P − F)", "(H + 2P − F)"),
    # the windows are the convolution's (its solution, above, slices them); the maximum is new
    "max_pool2d": ("* stride + size", ".max(axis=(1, 2))", "window.max("),
    "cross_entropy": ("max(axis=1, keepdims=True)", "logits.max(", "z.max(", "log-sum-exp",
                      "logsumexp", "z − max", "z - max"),
    "numerical_gradient": ("/ (2 * h)", "/ (2*h)", "/ 2h", "/(2h)", "central difference",
                           "central differences", "w + h·e) − f(w − h·e"),
    "torch_sgd_step": ("μ·b + g + λ·w", "μb + g + λw", "μ·b + (g + λ·w)", "μb + (g + λw)",
                       "momentum * buf + grad", "w − ε·b", "w - lr * buf", "w − lr·b"),
    "dropout": ("1/(1 − p)", "1 / (1 − p)", "1/(1-p)", "1 / (1 - p)", "/ (1 - p)", "/ (1 − p)",
                "/(1 − p)"),
}

_DOUBLE = torch.float64


def _t(a) -> torch.Tensor:
    return torch.as_tensor(np.ascontiguousarray(a), dtype=_DOUBLE)  # a flipped view too


# --- convolution ----------------------------------------------------------------------------
def _conv(x, w, b, stride, padding):
    """``F.conv2d`` on one image: ``x (C_in, H, W)``, ``w (C_out, C_in, kH, kW)``, ``b (C_out,)``."""
    out = F.conv2d(_t(x)[None], _t(w), None if b is None else _t(b), stride=stride,
                   padding=padding)
    return out[0].numpy()


def _conv_cases() -> list[tuple]:
    """(x, w, b, stride, padding): stride 1, 2, 3 and 4, padding 0-2, non-square inputs and
    kernels, sides where the last window position is rounded down."""
    rng = np.random.default_rng(31)
    shapes = [((2, 7, 7), (3, 2, 3, 3), 1, 0),
              ((3, 9, 8), (2, 3, 3, 3), 2, 1),
              ((3, 24, 20), (2, 3, 11, 11), 4, 0),  # AlexNet-like conv1: 11×11, stride 4
              ((1, 8, 10), (2, 1, 5, 3), 1, 2),  # a non-square kernel
              ((2, 11, 11), (2, 2, 3, 3), 3, 1)]
    return [(rng.normal(size=x), rng.normal(size=w), rng.normal(size=w[0]), s, p)
            for x, w, s, p in shapes]


def _size(side, kernel, stride, padding, rounding=math.floor):
    return rounding((side + 2 * padding - kernel) / stride) + 1


def _conv_shape_is(rounding, extra=0):
    """A test: the answer has the shape the output would have with ``rounding`` (or ``extra``
    positions more)."""
    def slip(x, w, b, s, p):
        shape = (w.shape[0], _size(x.shape[1], w.shape[2], s, p, rounding) + extra,
                 _size(x.shape[2], w.shape[3], s, p, rounding) + extra)
        return lambda got: np.shape(got) == shape and shape != _conv(x, w, b, s, p).shape
    return slip


CONV_SLIPS = [
    (lambda x, w, b, s, p: _conv(x, w[:, :, ::-1, ::-1], b, s, p),
     " That is the textbook convolution, with the kernel flipped. Deep-learning libraries slide "
     "the kernel as it is (cross-correlation): out[o, i, j] = sum(window * w[o]) + b[o]."),
    (lambda x, w, b, s, p: _conv(x, w, None, s, p), " Add the bias b[o] to every output of map o."),
    (lambda x, w, b, s, p: _conv(x, w, b, s, 0),
     " Pad first: `padding` rows and columns of zeros on every side of x."),
    (lambda x, w, b, s, p: _conv(np.pad(x, ((0, 0), (p, 0), (p, 0))), w, b, s, 0),
     " Zeros go on all four sides: padding before the first row and column and after the last."),
    (lambda x, w, b, s, p: _conv(x, w, b, 1, p),
     " Windows start every `stride` pixels: output (i, j) reads the window whose top-left corner "
     "is at (i·stride, j·stride) of the padded input."),
    (_conv_shape_is(math.ceil),
     " One output too many along an axis: a window that would hang over the padded edge does not "
     "count (PyTorch rounds the number of steps down)."),
    (_conv_shape_is(math.floor, -1),
     " One output too few along an axis: the last window that fits exactly counts too."),
    (lambda x, w, b, s, p: _conv(x, w, b, s, p)[None],
     " Return (C_out, H_out, W_out), one image, without a batch axis."),
]


def check_conv2d(fn: Callable | None) -> bool:
    """Exercise of notebook 03: ``fn(x, w, b, stride, padding)`` with ``x (C_in, H, W)``,
    ``w (C_out, C_in, kH, kW)``, ``b (C_out,)`` returns ``(C_out, H_out, W_out)``, what
    ``F.conv2d`` computes on the one image (cross-correlation, zeros padded on every side)."""
    return check_cases(
        "conv2d", fn, _conv_cases(), reference=_conv, slips=CONV_SLIPS,
        same=functools.partial(close, rel=1e-7, abs_tol=1e-9), seconds=20,
        slow_hint=" Keep the loops to the output positions (and channels): each output is one "
                  "window times the kernel, summed.",
        where=lambda x, w, b, s, p: (f"for x of shape {x.shape}, w of shape {w.shape}, stride {s}, "
                                     f"padding {p}"),
        shown=lambda want: f"F.conv2d's output, of shape {want.shape}",
        done="Matches F.conv2d on 5 cases: strides 1 to 4, padding 0 to 2, non-square inputs and "
             "kernels.")


# --- max-pooling ----------------------------------------------------------------------------
def _pool(x, size, stride, **kwargs):
    return F.max_pool2d(_t(x)[None], size, stride, **kwargs)[0].numpy()


def _pool_cases() -> list[tuple]:
    """(x, size, stride): AlexNet's overlapping 3/2 and the usual 2/2, odd and non-square sides,
    negative values (a pool that starts from 0 is wrong there)."""
    rng = np.random.default_rng(32)
    return [(rng.normal(size=shape), z, s) for shape, z, s in
            [((2, 7, 7), 3, 2), ((2, 6, 6), 2, 2), ((1, 9, 6), 3, 2), ((3, 13, 13), 3, 2),
             ((1, 8, 11), 2, 2)]]


POOL_SLIPS = [
    (lambda x, z, s: _pool(x, z, z),
     lambda x, z, s: f" Windows start every `stride` = {s} pixels, not every `size` = {z}: with "
                     "size 3 and stride 2 neighbouring windows overlap by one row or column."),
    (lambda x, z, s: _pool(x, z, 1), " Move the window by `stride` pixels, not by one."),
    (lambda x, z, s: _pool(x, z, s, ceil_mode=True),
     " One output too many: a window that would hang over the edge does not count."),
    (lambda x, z, s: F.avg_pool2d(_t(x)[None], z, s)[0].numpy(),
     " That is the mean of each window; max-pooling keeps its largest value."),
    (lambda x, z, s: np.maximum(_pool(x, z, s), 0),
     " Start each window's maximum from its first value (or -inf), not from 0: inputs can be "
     "negative."),
    (lambda x, z, s: _pool(x, z, s).max(axis=0),
     " Pool each map on its own: the output keeps the C maps."),
]


def check_max_pool2d(fn: Callable | None) -> bool:
    """Exercise of notebook 03: ``fn(x, size, stride)`` with ``x (C, H, W)`` returns the largest
    value of each ``size × size`` window, windows every ``stride`` pixels, no padding:
    ``F.max_pool2d(x, size, stride)`` on the one image."""
    return check_cases(
        "max_pool2d", fn, _pool_cases(), reference=_pool, slips=POOL_SLIPS, seconds=20,
        where=lambda x, z, s: f"for x of shape {x.shape}, size {z}, stride {s}",
        shown=lambda want: f"F.max_pool2d's output, of shape {want.shape}",
        done="Matches F.max_pool2d with overlapping (3/2) and non-overlapping (2/2) windows.")


# --- cross-entropy --------------------------------------------------------------------------
def _ce(logits, targets, reduction="mean"):
    return float(F.cross_entropy(_t(logits), torch.as_tensor(targets, dtype=torch.long),
                                 reduction=reduction))


def _ce_cases() -> list[tuple]:
    """(logits, targets): small logits; logits in the thousands (exp overflows); logits of
    -1000 (exp underflows to 0); a true class far below the others (its probability underflows)."""
    rng = np.random.default_rng(33)
    small = rng.normal(size=(8, 5))
    large = 1000 * rng.normal(size=(6, 4))
    low = rng.normal(size=(5, 3)) - 1000
    wrong = rng.normal(size=(4, 6))
    targets = [rng.integers(0, k, size=n) for n, k in (small.shape, large.shape, low.shape,
                                                        wrong.shape)]
    wrong[np.arange(4), targets[3]] -= 800  # the true class is 800 below the rest
    return [(small, targets[0]), (large, targets[1]), (low, targets[2]), (wrong, targets[3])]


def _max_shift_kept(logits, targets):
    """The loss of a learner who shifted the log-sum by the row's maximum but not the true
    class's logit."""
    return _ce(logits, targets) - float(np.mean(np.max(logits, axis=1)))


CE_SLIPS = [
    (lambda z, t: lambda got: not math.isfinite(float(got)),
     " Not a finite number: exp() of a logit near 710 or more overflows to inf (and of -750 or "
     "less underflows to 0, whose log is -inf). Shift each row's logits by one constant before "
     "exponentiating: the softmax does not change, and no exponent needs to be large."),
    (lambda z, t: _ce(z, t, "sum"), " That is the sum over the examples; return their mean."),
    (lambda z, t: -_ce(z, t), " Sign: the loss is minus the log-probability of the true class."),
    (_max_shift_kept,
     " You shifted the logits inside the log of the sum, but not the true class's logit (or you "
     "did not add the shift back): both terms need the same shift."),
    (lambda z, t: float(np.mean(-F.softmax(_t(z), 1).numpy()[np.arange(len(t)), t])),
     " Take the log of the true class's probability (minus its mean), not the probability."),
    (lambda z, t: _ce(z.T, t) if z.shape[0] == z.shape[1] else None,
     " The softmax runs over the classes (axis 1), for each example."),
    (lambda z, t: lambda got: np.size(got) == len(t) and np.size(got) > 1,
     " That is one loss per example: return their mean, a single number."),
]


def check_cross_entropy(fn: Callable | None) -> bool:
    """Exercise of notebook 03: ``fn(logits (N, K), targets (N,) int)`` returns the mean over
    the N examples of minus the log of the softmax probability of the true class, finite
    for logits in the thousands: ``F.cross_entropy`` in float64."""
    def read(got, logits, targets):
        if np.size(got) == len(targets) and len(targets) > 1:
            return np.asarray(got, dtype=float)  # one loss per example: named by a slip
        return as_number(got)

    return check_cases(
        "cross_entropy", fn, _ce_cases(), reference=_ce, slips=CE_SLIPS, read=read,
        same=functools.partial(close, rel=1e-7, abs_tol=1e-9),
        where=lambda z, t: (f"for {z.shape[0]} examples of {z.shape[1]} classes with logits "
                            f"between {z.min():.0f} and {z.max():.0f}"),
        shown=lambda loss: f"{loss:.6g} (F.cross_entropy)",
        done="Matches F.cross_entropy, logits in the thousands and a true class 800 below the "
             "rest included.")


# --- numerical gradient ---------------------------------------------------------------------
class _Function:
    """A scalar function of one array: ``f(w)`` on NumPy arrays (what the learner calls),
    ``f.torch(w)`` the same on a tensor (what autograd differentiates)."""

    def __init__(self, label: str, numpy_fn: Callable, torch_fn: Callable):
        self.label, self.numpy_fn, self.torch = label, numpy_fn, torch_fn

    def __call__(self, w) -> float:
        return float(self.numpy_fn(np.asarray(w, dtype=float)))

    def __repr__(self):
        return f"<{self.label}>"


def _softmax_loss(x, y) -> _Function:
    def numpy_fn(w):
        z = x @ w
        m = z.max(axis=1, keepdims=True)
        return np.mean(m[:, 0] + np.log(np.exp(z - m).sum(axis=1)) - z[np.arange(len(y)), y])

    return _Function("a softmax classifier's loss", numpy_fn,
                     lambda w: F.cross_entropy(_t(x) @ w, torch.as_tensor(y)))


def _gradient_cases() -> list[tuple]:
    """(f, w, h): a softmax classifier's loss in its (4, 3) weights, a bumpy function, a
    quadratic; h large enough that a one-sided difference is visibly off."""
    rng = np.random.default_rng(34)
    x, y = rng.normal(size=(6, 4)), rng.integers(0, 3, size=6)
    a = rng.normal(size=(4, 4))
    a = a @ a.T
    bumpy = _Function("sum(sin(3w)·w²) + sum(w⁴)/2",
                      lambda w: np.sum(np.sin(3 * w) * w ** 2) + 0.5 * np.sum(w ** 4),
                      lambda w: (torch.sin(3 * w) * w ** 2).sum() + 0.5 * (w ** 4).sum())
    quadratic = _Function("the quadratic w·Aw/2", lambda w: 0.5 * w @ a @ w,
                          lambda w: 0.5 * w @ _t(a) @ w)
    return [(_softmax_loss(x, y), rng.normal(size=(4, 3)), 1e-2),
            (bumpy, rng.normal(size=5), 1e-3),
            (quadratic, rng.normal(size=4), 1e-2)]


def _autograd(f, w, h):
    t = _t(w).requires_grad_(True)
    f.torch(t).backward()
    return t.grad.numpy()


def _differences(f, w, h, lower, upper, divide):
    """The finite difference ``(f(w + upper·h·e_i) − f(w + lower·h·e_i)) / (divide·h)`` for
    every coordinate i."""
    out = np.zeros_like(w, dtype=float)
    for i in np.ndindex(w.shape):
        step = np.zeros_like(w, dtype=float)
        step[i] = h
        out[i] = (f(w + upper * step) - f(w + lower * step)) / (divide * h)
    return out


def _gradient_close(got, want) -> bool:
    """Within 1e-4 of autograd (relative to the gradient's largest entry, or 1): a two-sided
    difference at these h is 10-50× inside, a one-sided one 10-40× outside."""
    got = np.asarray(got, dtype=float)
    return got.shape == want.shape and float(np.max(np.abs(got - want))) <= 1e-4 * max(
        1.0, float(np.max(np.abs(want))))


GRADIENT_SLIPS = [
    (lambda f, w, h: _differences(f, w, h, 0, 1, 1),
     lambda f, w, h: f" That is the one-sided difference (f(w + h·e) - f(w)) / h: its error shrinks "
                     f"only in proportion to h, and at h = {h:g} it is visible. Step to both "
                     "sides of w."),
    (lambda f, w, h: _differences(f, w, h, -1, 0, 1),
     " That is the one-sided difference (f(w) - f(w - h·e)) / h: its error shrinks only in "
     "proportion to h. Step to both sides of w."),
    (lambda f, w, h: _differences(f, w, h, -1, 1, 1),
     " Twice the gradient: the two points are 2h apart."),
    (lambda f, w, h: -_autograd(f, w, h),
     " Sign: the gradient points uphill, f(upper point) minus f(lower point)."),
    (lambda f, w, h: np.full(w.shape, (f(w + h) - f(w - h)) / (2 * h)),
     " Every entry is the same: move one coordinate of w at a time, and keep the others fixed."),
    (lambda f, w, h: lambda got: np.size(got) == 1 and w.size > 1,
     " Return one partial derivative per entry of w: an array of w's shape."),
]


def check_numerical_gradient(fn: Callable | None) -> bool:
    """Exercise of notebook 03: ``fn(f, w, h)`` returns the gradient of the scalar function
    ``f`` at ``w`` (an array of w's shape) by finite differences with step ``h``; compared
    with autograd (``torch``'s ``backward``) on three functions."""
    return check_cases(
        "numerical_gradient", fn, _gradient_cases(), reference=_autograd, slips=GRADIENT_SLIPS,
        same=_gradient_close,  # no time limit: its forked call would hide a w changed in place
        where=lambda f, w, h: f"for {f.label}, w of shape {w.shape}, h = {h:g}",
        shown=lambda want: f"autograd's gradient, of shape {want.shape}",
        done="Within 1e-4 of autograd on a softmax classifier's loss, a bumpy function and a "
             "quadratic.")


# --- one SGD step ---------------------------------------------------------------------------
def _torch_step(w, buf, grad, lr, momentum, weight_decay):
    """``torch.optim.SGD.step()`` with its momentum buffer set to ``buf``: (new w, new buffer)."""
    p = torch.nn.Parameter(_t(w).clone())
    p.grad = _t(grad).clone()
    optimizer = torch.optim.SGD([p], lr=lr, momentum=momentum, weight_decay=weight_decay)
    optimizer.state[p]["momentum_buffer"] = _t(buf).clone()
    optimizer.step()
    return p.detach().numpy().copy(), optimizer.state[p]["momentum_buffer"].numpy().copy()


def _sgd_cases() -> list[tuple]:
    """(w, buf, grad, lr, momentum, weight_decay): the paper's constants from a zero buffer and
    from a running one, then larger ones where every slip shows."""
    rng = np.random.default_rng(35)
    rows = [(0.01, 0.9, 0.0005, False), (0.01, 0.9, 0.0005, True), (0.1, 0.9, 0.05, True),
            (0.5, 0.5, 0.1, True)]
    cases = []
    for lr, momentum, decay, running in rows:
        w, grad = rng.normal(size=5), rng.normal(size=5)
        buf = rng.normal(size=5) if running else np.zeros(5)
        cases.append((w, buf, grad, lr, momentum, decay))
    return cases


def _step_with(buffer_rule, weight_rule):
    def slip(w, b, g, lr, mu, wd):
        new_b = buffer_rule(w, b, g, lr, mu, wd)
        return _Pair(weight_rule(w, b, new_b, g, lr, wd), new_b)
    return slip


def _torch_buffer(w, b, g, lr, mu, wd):
    return mu * b + g + wd * w


def _down(w, b, new_b, g, lr, wd):
    return w - lr * new_b


SGD_SLIPS = [
    (_step_with(_torch_buffer, lambda w, b, new_b, g, lr, wd: w + lr * new_b),
     " The buffer points uphill (it is -v/ε): the weights move against it, w - ε·b."),
    (_step_with(lambda w, b, g, lr, mu, wd: mu * b - g - wd * w,
                lambda w, b, new_b, g, lr, wd: w + lr * new_b),
     " PyTorch's buffer is -v/ε, so it points uphill: the gradient and the decay are added "
     "to it, not subtracted (the paper's v subtracts them)."),
    (_step_with(lambda w, b, g, lr, mu, wd: mu * b + g + lr * wd * w, _down),
     " Weight decay inside the buffer is λ·w, in the units of a gradient: the learning rate "
     "multiplies the whole buffer once, when the weights move."),
    (_step_with(_torch_buffer, lambda w, b, new_b, g, lr, wd: w - lr * new_b - lr * wd * w),
     " Weight decay is applied twice: it is already in the buffer."),
    (_step_with(lambda w, b, g, lr, mu, wd: mu * b + g, _down),
     " Weight decay is missing: add λ·w to the gradient."),
    (_step_with(lambda w, b, g, lr, mu, wd: mu * b + g,
                lambda w, b, new_b, g, lr, wd: w - lr * (new_b + wd * w)),
     " Weight decay goes into the buffer with the gradient, as in the paper's rule (where it "
     "sits inside v); applied to the weights separately it is decoupled decay (SGDW, AdamW)."),
    (_step_with(lambda w, b, g, lr, mu, wd: mu * b + lr * (g + wd * w),
                lambda w, b, new_b, g, lr, wd: w - new_b),
     " That buffer holds ε·(gradient): the paper's units. PyTorch's holds gradients and "
     "multiplies by ε only when the weights move."),
    (_step_with(_torch_buffer, lambda w, b, new_b, g, lr, wd: w - lr * b),
     " Update the buffer first, then move the weights by the new buffer."),
    (lambda w, b, g, lr, mu, wd: _Pair(*_torch_step(w, b, g, lr, mu, wd)[::-1]),
     " Return (new weights, new buffer), in that order."),
]


class _Pair:
    """(new weights, new buffer), compared as numbers and shown rounded."""

    def __init__(self, w, buf):
        self.w, self.buf = w, buf

    def __repr__(self):
        def short(a):
            return "[" + ", ".join(f"{v:.3g}" for v in a.ravel()[:2]) + (
                ", …]" if a.size > 2 else "]")
        return f"weights {short(self.w)}, buffer {short(self.buf)}"


def _same_pair(got, want) -> bool:
    return isinstance(got, _Pair) and all(
        close(a, b, rel=1e-9, abs_tol=1e-12) for a, b in ((got.w, want.w), (got.buf, want.buf)))


def _reference_pair(*case) -> _Pair:
    return _Pair(*_torch_step(*case))


def check_torch_sgd_step(fn: Callable | None) -> bool:
    """Exercise of notebook 03: ``fn(w, buf, grad, lr, momentum, weight_decay)`` returns
    ``(new_w, new_buf)``, one step of ``torch.optim.SGD`` whose momentum buffer held ``buf``,
    derived from the paper's rule with PyTorch's buffer ``b = -v / lr``."""
    if fn is None:
        return not_attempted("torch_sgd_step")

    def paired(w, buf, grad, lr, momentum, weight_decay):
        got = fn(w, buf, grad, lr, momentum, weight_decay)
        pair = (tuple(as_array(a) for a in got) if isinstance(got, (tuple, list))
                and len(got) == 2 else ())
        if len(pair) != 2 or any(a is None or a.shape != w.shape for a in pair):
            raise wrong_answer("torch_sgd_step", "return two arrays", "(new weights, new "
                               f"buffer), each of w's shape {w.shape}", got)
        return _Pair(*pair)

    return check_cases(
        "torch_sgd_step", paired, _sgd_cases(), reference=_reference_pair, slips=SGD_SLIPS,
        same=_same_pair,
        where=lambda w, b, g, lr, mu, wd: (f"for lr {lr}, momentum {mu}, weight_decay {wd}, "
                                           + ("a zero buffer" if not b.any() else "a running "
                                              "buffer")),
        shown=lambda want: f"torch.optim.SGD's {want}",
        done="Matches torch.optim.SGD's step (weights and momentum buffer) with the paper's "
             "constants and others.")


# --- dropout --------------------------------------------------------------------------------
class _Summary:
    """What dropout did to an array: the fraction of zeros, and the smallest and largest factor
    by which the non-zero outputs differ from the input."""

    def __init__(self, zeros: float, low: float, high: float):
        self.zeros, self.low, self.high = zeros, low, high

    def __repr__(self):
        factor = (f"× {self.low:.4g}" if math.isclose(self.low, self.high, rel_tol=1e-9)
                  else f"× {self.low:.4g} to {self.high:.4g}")
        return f"{self.zeros:.1%} zeros, the rest {factor}"


def _summary(out, x) -> _Summary:
    out = np.asarray(out, dtype=float)
    kept = out != 0
    ratios = out[kept] / x[kept]
    if not ratios.size:
        return _Summary(1.0, math.nan, math.nan)
    return _Summary(float(1 - kept.mean()), float(ratios.min()), float(ratios.max()))


def _torch_dropout(x, p, training, rng):
    """nn.Dropout(p) in training or evaluation mode on x (its own seeded random numbers)."""
    layer = nn.Dropout(p).train(training)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(rng.integers(2 ** 31)))
        return _summary(layer(_t(x)).numpy(), x)


def _dropout_cases() -> list[tuple]:
    """(x, p, training, rng): 120,000 positive activations, p 0.5 (the paper's) and 0.2, in
    training and evaluation mode."""
    x = np.random.default_rng(36).uniform(0.5, 1.5, size=(300, 400))
    return [(x, p, training, np.random.default_rng(seed))
            for seed, (p, training) in enumerate([(0.5, True), (0.2, True), (0.5, False),
                                                  (0.2, False)])]


def _same_summary(got, want) -> bool:
    """Zeros within 0.01 (five standard errors on 120,000 units) and the same factor."""
    return (isinstance(got, _Summary) and abs(got.zeros - want.zeros) <= 0.01
            and close(got.low, want.low, rel=1e-7) and close(got.high, want.high, rel=1e-7))


DROPOUT_SLIPS = [
    (lambda x, p, training, rng: (_Summary(p, 1, 1) if training else None),
     " The survivors are not scaled: evaluation returns x unchanged, so in training the expected "
     "output must be x too, and dropping a fraction p of the units takes that much away."),
    (lambda x, p, training, rng: (_Summary(p, 1 - p, 1 - p) if training else None),
     " Multiplying by (1 - p) is the paper's test-time factor; here evaluation is the identity, "
     "so training must make up for the dropped units: divide by the fraction kept."),
    (lambda x, p, training, rng: (_Summary(p, 1 / p, 1 / p) if training else None),
     " Divide by the probability of keeping a unit, not of dropping it."),
    (lambda x, p, training, rng: (_Summary(1 - p, 1 / p, 1 / p) if training else None),
     " p is the probability of dropping a unit (nn.Dropout's convention), not of keeping it."),
    (lambda x, p, training, rng: (_Summary(0, 1, 1) if training else None),
     " In training mode drop each unit with probability p."),
    (lambda x, p, training, rng: (None if training else _Summary(p, 1 / (1 - p), 1 / (1 - p))),
     " In evaluation mode nn.Dropout does nothing: return x unchanged."),
    (lambda x, p, training, rng: (None if training else _Summary(0, 1 - p, 1 - p)),
     " In evaluation mode return x unchanged: the paper's × (1 - p) at test time belongs to "
     "dropout that does not scale in training, and yours does."),
]


def check_dropout(fn: Callable | None) -> bool:
    """Exercise of notebook 03: ``fn(x, p, training, rng)`` behaves as ``nn.Dropout(p)``: in
    training each unit is zeroed with probability ``p`` (random numbers from the NumPy
    generator ``rng``) and the rest are scaled so that the expected output is ``x``; in
    evaluation mode it returns ``x``. Compared by its statistics: the fraction of zeros and the
    factor on the survivors."""
    def summarized(x, p, training, rng):
        got = fn(x, p, training, rng)
        array = as_array(got)
        if array is None or array.shape != x.shape:
            raise wrong_answer("dropout", f"for x of shape {x.shape}", "an array of the same "
                               "shape", got)
        return _summary(array, x)

    if fn is None:
        return not_attempted("dropout")
    return check_cases(
        "dropout", summarized, _dropout_cases(), reference=_torch_dropout, slips=DROPOUT_SLIPS,
        same=_same_summary,
        where=lambda x, p, training, rng: (f"for {x.size:,} positive units, p = {p}, "
                                           f"{'training' if training else 'evaluation'} mode"),
        shown=repr,
        done="Behaves as nn.Dropout: about p of the units dropped in training, the rest scaled "
             "so the expectation is kept, nothing done in evaluation mode.")


__all__ = ["ExerciseError", "check_conv2d", "check_cross_entropy", "check_dropout",
           "check_max_pool2d", "check_numerical_gradient", "check_torch_sgd_step"]
