"""The exercise checks of notebook 03 (the building blocks): right answers pass, wrong ones fail
with the hint they need. Every wrong answer is written here as a learner would write it, not taken
from the checks' own tables of slips."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from check_helpers import answers_test
from torch import nn

from course_lib.checks import blocks
from course_lib.checks.core import ExerciseError


def test_every_exercise_declares_strings_that_would_give_it_away():
    names = {"conv2d", "max_pool2d", "cross_entropy", "numerical_gradient", "torch_sgd_step",
             "dropout"}
    assert set(blocks.ANSWERS) == names and all(blocks.ANSWERS[name] for name in names)


# --- conv2d ---------------------------------------------------------------------------------
def conv2d(x, w, b, stride, padding, flip=False, pad=None, step=None, bias=True, extra=0):
    """A learner's loops; the keywords switch in one slip each."""
    kernels = w[:, :, ::-1, ::-1] if flip else w
    before, after = (padding, padding) if pad is None else pad
    x = np.pad(x, ((0, 0), (before, after), (before, after)))
    step = stride if step is None else step
    c_out, _, kh, kw = w.shape
    h_out = (x.shape[1] - kh) // step + 1 + extra
    w_out = (x.shape[2] - kw) // step + 1 + extra
    out = np.zeros((c_out, h_out, w_out))
    for o in range(c_out):
        for i in range(h_out):
            for j in range(w_out):
                window = x[:, i * step:i * step + kh, j * step:j * step + kw]
                if window.shape[1:] != (kh, kw):  # past the edge: what the slice gives
                    window = np.pad(window, ((0, 0), (0, kh - window.shape[1]),
                                             (0, kw - window.shape[2])))
                out[o, i, j] = np.sum(window * kernels[o]) + (b[o] if bias else 0)
    return out


def test_conv2d_cases_cover_the_strides_and_a_rounded_down_side():
    cases = blocks._conv_cases()
    assert {case[3] for case in cases} == {1, 2, 3, 4}
    assert any((x.shape[1] + 2 * p - w.shape[2]) % s for x, w, b, s, p in cases)
    assert any(w.shape[2] != w.shape[3] for _, w, *_ in cases)
    assert any(x.shape[1] != x.shape[2] for x, *_ in cases)


def conv2d_ceiling(x, w, b, s, p):
    c_out, _, kh, kw = w.shape
    x = np.pad(x, ((0, 0), (p, p), (p, p)))
    h_out = math.ceil((x.shape[1] - kh) / s) + 1
    w_out = math.ceil((x.shape[2] - kw) / s) + 1
    out = np.zeros((c_out, h_out, w_out))
    for o in range(c_out):
        for i in range(h_out):
            for j in range(w_out):
                window = x[:, i * s:i * s + kh, j * s:j * s + kw]
                part = w[o][:, :window.shape[1], :window.shape[2]]
                out[o, i, j] = np.sum(window * part) + b[o]
    return out


test_conv2d = answers_test(blocks.check_conv2d, right=[conv2d], wrong=[
    (lambda x, w, b, s, p: conv2d(x, w, b, s, p, flip=True), r"flipped.*cross-correlation"),
    (lambda x, w, b, s, p: conv2d(x, w, b, s, p, bias=False), r"Add the bias"),
    (lambda x, w, b, s, p: conv2d(x, w, b, s, 0), r"Pad first"),
    (lambda x, w, b, s, p: conv2d(x, w, b, s, p, pad=(p, 0)), r"all four sides"),
    (lambda x, w, b, s, p: conv2d(x, w, b, s, p, step=1), r"every `stride` pixels"),
    (lambda x, w, b, s, p: conv2d(x, w, b, s, p, extra=-1), r"One output too few"),
    (conv2d_ceiling, r"One output too many.*hang over"),
    (lambda x, w, b, s, p: conv2d(x, w, b, s, p)[None], r"without a batch axis"),
], ids=["flipped", "no-bias", "no-padding", "padding-one-side", "stride-ignored", "one-too-few",
        "ceiling", "batch-axis"])


def test_conv2d_that_never_ends_is_stopped(monkeypatch):
    def forever(x, w, b, s, p):
        while True:
            pass

    harness = blocks.check_cases
    monkeypatch.setattr(blocks, "check_cases",
                        lambda *args, **kwargs: harness(*args, **{**kwargs, "seconds": 1}))
    with pytest.raises(ExerciseError, match="still running"):
        blocks.check_conv2d(forever)


# --- max-pooling ----------------------------------------------------------------------------
def max_pool(x, size, stride, start=None, reduce=np.max, extra=0):
    c, h, w = x.shape
    h_out, w_out = (h - size) // stride + 1 + extra, (w - size) // stride + 1 + extra
    out = np.zeros((c, h_out, w_out))
    for m in range(c):
        for i in range(h_out):
            for j in range(w_out):
                window = x[m, i * stride:i * stride + size, j * stride:j * stride + size]
                out[m, i, j] = reduce(window) if start is None else max(start, window.max())
    return out


def test_max_pool2d_cases_include_alexnets_overlapping_pools_and_negative_values():
    cases = blocks._pool_cases()
    assert {(z, s) for _, z, s in cases} == {(3, 2), (2, 2)}
    assert all((x < 0).any() for x, *_ in cases)


def non_overlapping(x, size, stride):  # steps by the window's size
    c, h, w = x.shape
    return np.stack([[[x[m, i:i + size, j:j + size].max() for j in range(0, w - size + 1, size)]
                      for i in range(0, h - size + 1, size)] for m in range(c)])


def ceil_mode(x, size, stride):  # a window past the edge
    c, h, w = x.shape
    h_out, w_out = -(-(h - size) // stride) + 1, -(-(w - size) // stride) + 1
    return np.stack([[[x[m, i * stride:i * stride + size, j * stride:j * stride + size].max()
                       for j in range(w_out)] for i in range(h_out)] for m in range(c)])


test_max_pool2d = answers_test(blocks.check_max_pool2d, right=[max_pool], wrong=[
    (non_overlapping, r"not every `size` = 3"),
    (lambda x, z, s: max_pool(x, z, 1), r"not by one"),
    (lambda x, z, s: max_pool(x, z, s, reduce=np.mean), r"mean of each window"),
    (lambda x, z, s: max_pool(x, z, s, start=0.0), r"not from 0"),
    (lambda x, z, s: max_pool(x, z, s).max(axis=0), r"keeps the C maps"),
    (ceil_mode, r"One output too many"),
], ids=["non-overlapping", "stride-one", "mean", "from-zero", "maps-merged", "ceil-mode"])


# --- cross-entropy --------------------------------------------------------------------------
def stable(logits, targets):
    top = logits.max(axis=1)
    log_sum = top + np.log(np.sum(np.exp(logits - top[:, None]), axis=1))
    return float(np.mean(log_sum - logits[np.arange(len(targets)), targets]))


def test_cross_entropy_cases_overflow_and_underflow_a_naive_softmax():
    for logits, _ in blocks._ce_cases()[1:]:
        with np.errstate(all="ignore"):
            e = np.exp(logits)
        assert np.isinf(e).any() or (e == 0).any()


def naive(logits, targets):
    with np.errstate(all="ignore"):
        p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        return float(np.mean(-np.log(p[np.arange(len(targets)), targets])))


test_cross_entropy = answers_test(blocks.check_cross_entropy, right=[stable], wrong=[
    (naive, r"Not a finite number.*overflows"),
    (lambda z, t: stable(z, t) * len(t), r"sum over the examples"),
    (lambda z, t: -stable(z, t), r"Sign"),
    (lambda z, t: float(np.mean(
        np.log(np.sum(np.exp(z - z.max(axis=1, keepdims=True)), axis=1)) - z[np.arange(len(t)), t])),
     r"shifted the logits inside the log"),
    (lambda z, t: float(np.mean(-np.exp(z[np.arange(len(t)), t] - z.max(axis=1)) / np.sum(
        np.exp(z - z.max(axis=1, keepdims=True)), axis=1))), r"Take the log"),
    (lambda z, t: [stable(z[i:i + 1], t[i:i + 1]) for i in range(len(t))], r"one loss per example"),
], ids=["naive", "sum", "sign", "shift-kept", "probability", "per-example"])


# --- numerical gradient ---------------------------------------------------------------------
def two_sided(f, w, h):
    grad = np.empty(w.shape)
    for i in range(w.size):
        up, down = w.astype(float).ravel(), w.astype(float).ravel()
        up[i] += h
        down[i] -= h
        grad.flat[i] = (f(up.reshape(w.shape)) - f(down.reshape(w.shape))) / (2 * h)
    return grad


def forward(f, w, h):
    base = f(w)
    grad = np.empty(w.shape)
    for i in np.ndindex(w.shape):
        moved = w.copy()
        moved[i] += h
        grad[i] = (f(moved) - base) / h
    return grad


def backward(f, w, h):
    return -forward(lambda v: f(-v), -w, h)  # (f(w) - f(w - h·e)) / h


def moves_w_in_place(f, w, h):
    grad = np.empty(w.shape)
    for i in np.ndindex(w.shape):
        w[i] += h
        above = f(w)
        w[i] -= 2 * h
        below = f(w)
        w[i] += h + 1e-3  # never quite put back
        grad[i] = (above - below) / (2 * h)
    return grad


test_numerical_gradient = answers_test(blocks.check_numerical_gradient, right=[
    two_sided, lambda f, w, h: two_sided(f, w, 1e-5),  # a small step of its own passes too
], wrong=[
    (forward, r"one-sided difference \(f\(w \+ h·e\) - f\(w\)\) / h"),
    (backward, r"one-sided difference \(f\(w\) - f\(w - h·e\)\) / h"),
    (lambda f, w, h: 2 * two_sided(f, w, h), r"Twice the gradient"),
    (lambda f, w, h: -two_sided(f, w, h), r"Sign"),
    (lambda f, w, h: np.ones(w.shape) * (f(w + h) - f(w - h)) / (2 * h), r"one coordinate"),
    (lambda f, w, h: float(two_sided(f, w, h).sum()), r"one partial derivative per entry"),
    (moves_w_in_place, r"changed its input `w` in place"),
], ids=["forward", "backward", "twice", "sign", "all-at-once", "scalar", "in-place"])


# --- one SGD step ---------------------------------------------------------------------------
def sgd(w, buf, grad, lr, momentum, weight_decay):
    buf = momentum * buf + (grad + weight_decay * w)
    return w - lr * buf, buf


def test_the_reference_is_torch_optim_sgd_over_several_steps():
    """Stepping the reference repeatedly reproduces torch.optim.SGD from its own zero start."""
    rng = np.random.default_rng(0)
    w, buf, grads = rng.normal(size=4), np.zeros(4), rng.normal(size=(5, 4))
    p = nn.Parameter(torch.tensor(w))
    optimizer = torch.optim.SGD([p], lr=0.1, momentum=0.9, weight_decay=0.01)
    for g in grads:
        w, buf = blocks._torch_step(w, buf, g, 0.1, 0.9, 0.01)
        p.grad = torch.tensor(g)
        optimizer.step()
    np.testing.assert_allclose(w, p.detach().numpy(), rtol=1e-12)


def paper_as_torch(w, buf, grad, lr, momentum, weight_decay):
    """The paper's rule run on v = -lr·buf: the same step, so it must pass."""
    v = -lr * buf
    v = momentum * v - weight_decay * lr * w - lr * grad
    return w + v, -v / lr


test_torch_sgd_step = answers_test(blocks.check_torch_sgd_step, right=[
    sgd, paper_as_torch,
], wrong=[
    (lambda w, b, g, lr, mu, wd: (w + lr * (mu * b + g + wd * w), mu * b + g + wd * w),
     r"move against it"),
    (lambda w, b, g, lr, mu, wd: (w + lr * (mu * b - g - wd * w), mu * b - g - wd * w),
     r"added to it, not subtracted"),
    (lambda w, b, g, lr, mu, wd: (w - lr * (mu * b + g + lr * wd * w), mu * b + g + lr * wd * w),
     r"units of a gradient"),
    (lambda w, b, g, lr, mu, wd: (w - lr * (mu * b + g + wd * w) - lr * wd * w,
                                  mu * b + g + wd * w), r"applied twice"),
    (lambda w, b, g, lr, mu, wd: (w - lr * (mu * b + g), mu * b + g), r"Weight decay is missing"),
    (lambda w, b, g, lr, mu, wd: (w - lr * (mu * b + g) - lr * wd * w, mu * b + g),
     r"decoupled decay"),
    (lambda w, b, g, lr, mu, wd: (w - (mu * b + lr * (g + wd * w)), mu * b + lr * (g + wd * w)),
     r"the paper's units"),
    (lambda w, b, g, lr, mu, wd: (w - lr * b, mu * b + g + wd * w), r"Update the buffer first"),
    (lambda w, b, g, lr, mu, wd: sgd(w, b, g, lr, mu, wd)[::-1], r"in that order"),
    (lambda w, b, g, lr, mu, wd: w - lr * (mu * b + g + wd * w), r"new weights, new buffer"),
], ids=["uphill", "paper-sign-buffer", "decay-times-lr", "decay-twice", "no-decay", "decoupled",
        "sutskever-units", "old-buffer", "swapped", "one-array"])


# --- dropout --------------------------------------------------------------------------------
def inverted(x, p, training, rng):
    if not training:
        return x
    return x * (rng.random(x.shape) > p) / (1 - p)


def binomial(x, p, training, rng):  # drawn another way
    return x * rng.binomial(1, 1 - p, size=x.shape) / (1 - p) if training else x.copy()


def test_the_dropout_reference_is_nn_dropouts_behaviour():
    x = np.full((100, 100), 3.0)
    trained = blocks._torch_dropout(x, 0.2, True, np.random.default_rng(0))
    assert abs(trained.zeros - 0.2) < 0.02 and math.isclose(trained.low, 1.25)
    evaluated = blocks._torch_dropout(x, 0.2, False, np.random.default_rng(0))
    assert evaluated.zeros == 0 and evaluated.low == evaluated.high == 1


test_dropout = answers_test(blocks.check_dropout, right=[inverted, binomial], wrong=[
    (lambda x, p, tr, rng: x * (rng.random(x.shape) > p) if tr else x, r"not scaled"),
    (lambda x, p, tr, rng: x * (rng.random(x.shape) > p) * (1 - p) if tr else x,
     r"paper's test-time factor"),
    (lambda x, p, tr, rng: x * (rng.random(x.shape) > p) / p if tr else x,
     r"probability of keeping a unit"),
    (lambda x, p, tr, rng: x * (rng.random(x.shape) < p) / p if tr else x,
     r"probability of dropping a unit"),
    (lambda x, p, tr, rng: x.copy(), r"In training mode drop"),
    (lambda x, p, tr, rng: x * (rng.random(x.shape) > p) / (1 - p), r"nn.Dropout does nothing"),
    (lambda x, p, tr, rng: inverted(x, p, True, rng) if tr else x * (1 - p),
     r"does not scale in training"),
    (lambda x, p, tr, rng: x.ravel(), r"an array of the same shape"),
], ids=["unscaled", "times-keep", "over-p", "p-is-keep", "never-drops", "drops-in-eval",
        "paper-factor-in-eval", "wrong-shape"])
