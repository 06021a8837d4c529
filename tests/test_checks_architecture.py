"""The exercise checks of notebook 04: right answers pass, wrong ones get the hint they need."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from check_helpers import answers_test
from torch import nn

from course_lib.checks import architecture as arch
from course_lib.checks.core import ExerciseError
from course_lib.models import LocalResponseNorm, alexnet
from course_lib.models.alexnet import CeilModeConv2d


class TodoModule(nn.Module):
    def __init__(self):
        super().__init__()
        raise NotImplementedError


def test_a_module_class_whose_init_raises_is_not_attempted(capsys):
    assert arch.check_conv1(TodoModule) is False
    assert "not attempted" in capsys.readouterr().out


# --- input sides (224 or 227?) ------------------------------------------------------------
def input_sides(out, f, s, p):
    """Search: every side whose windows, counted one by one, make an output ``out`` wide."""
    def windows(w):
        count, start = 0, 0
        while start + f <= w + 2 * p:
            count, start = count + 1, start + s
        return count
    return [w for w in range(1, 2000) if windows(w) == out]


def test_input_sides_cases_agree_with_real_convolutions_and_the_paper_chain():
    # FACTS §4.2: 224 → 54 under the floor rule, 227 → 55, 224 with padding 2 → 55 (torchvision),
    # pools 55 → 27 and 13 → 6; each listed side measured on a real convolution, and the sides
    # just outside the list give another output.
    for out, f, s, p in arch.SIDES_CASES:
        sides = arch._input_sides(out, f, s, p)
        assert sides == list(range(sides[0], sides[0] + s))
        assert all(arch._measured_side(w, f, s, p) == out for w in sides)
        assert arch._measured_side(sides[-1] + 1, f, s, p) == out + 1
        if sides[0] - 1 + 2 * p >= f:
            assert arch._measured_side(sides[0] - 1, f, s, p) == out - 1
    assert arch._input_sides(55, 11, 4, 0) == [227, 228, 229, 230]
    assert 224 in arch._input_sides(55, 11, 4, 2) and 224 in arch._input_sides(54, 11, 4, 0)
    with torch.no_grad():  # cuda-convnet's ceiling rule, on course_lib's ceiling-mode conv
        assert CeilModeConv2d(1, 1, 11, stride=4)(torch.zeros(1, 1, 224, 224)).shape[-1] == 55


def sides_by(rule):
    """The sides (searched up to 2000) that a wrong output-size rule maps to ``out``."""
    return lambda out, f, s, p: [w for w in range(f, 2000) if rule(w, f, s, p) == out]


test_input_sides = answers_test(arch.check_input_sides, right=[
    input_sides,
    lambda out, f, s, p: range(s * (out - 1) + f - 2 * p, s * out + f - 2 * p),  # closed form
], wrong=[
    (lambda out, f, s, p: [s * (out - 1) + f - 2 * p], r"tile the input exactly.*every such side"),
    (lambda out, f, s, p: s * (out - 1) + f - 2 * p, r"got 227\. That side makes the windows tile"),
    (sides_by(lambda w, f, s, p: -(-(w - f + 2 * p) // s) + 1), r"ceiling rule.*entirely inside"),
    (sides_by(lambda w, f, s, p: (w - f + 2 * p) // s), r"first window counts too"),
    (sides_by(lambda w, f, s, p: (w - f + p) // s + 1), r"both sides"),
    (sides_by(lambda w, f, s, p: (w - f) // s + 1), r"Include the padding"),
    (lambda out, f, s, p: list(range(s * (out - 1) + f - 2 * p, s * out + f - 2 * p + 1)),
     r"One side too many: 231 pixels"),
    (lambda out, f, s, p: [s * (out - 1) + f - 2 * p + i for i in range(s - 1)],
     r"One side short.*S - 1 = 3"),
], ids=["exact-tiling-only", "one-number", "ceiling", "no-plus-one", "one-sided-padding",
        "no-padding", "one-too-many", "one-short"])


def test_input_sides_that_are_not_numbers_are_reported_without_a_hint():
    with pytest.raises(ExerciseError) as error:
        arch.check_input_sides(lambda *case: "227 to 230")
    assert error.value.args[0].endswith("expected the input sides [227, 228, 229, 230], got "
                                        "'227 to 230'.")


# --- conv1 ---------------------------------------------------------------------------------
class Conv1(nn.Module):
    def __init__(self, out=96, bias=True, padding=0, pad_right=3, relu=False, kernel=11):
        super().__init__()
        self.conv = nn.Conv2d(3, out, kernel, stride=4, padding=padding, bias=bias)
        self.pad_right, self.relu = pad_right, relu

    def forward(self, x):
        y = self.conv(F.pad(x, (0, self.pad_right, 0, self.pad_right)))
        return y.relu() if self.relu else y


def test_reference_conv1_is_the_paper_networks_conv1():
    ours = arch.reference_conv1()
    theirs = alexnet("paper", width=1.0).learned_layers()["conv1"]
    assert type(ours) is type(theirs)
    for attr in ("in_channels", "out_channels", "kernel_size", "stride", "padding", "groups"):
        assert getattr(ours, attr) == getattr(theirs, attr)
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        ours.load_state_dict(theirs.state_dict())
        assert torch.equal(ours(x), theirs(x))


class CrashesAt227(Conv1):
    def forward(self, x):
        assert x.shape[-1] == 224, "only 224"
        return super().forward(x)


test_conv1 = answers_test(arch.check_conv1, right=[
    Conv1, arch.reference_conv1,  # reusing course_lib's ceiling conv passes too
], wrong=[
    (lambda: Conv1(pad_right=0), r"54×54 is PyTorch's floor rule"),
    (lambda: Conv1(padding=2, pad_right=0), r"Same shape, different numbers: padding 2"),
    (lambda: Conv1(relu=True), r"Leave out the ReLU"),
    (lambda: Conv1(out=48), r"48 kernels is one GPU's half"),
    (lambda: Conv1(bias=False), r"Every kernel has a bias"),
    (lambda: Conv1(kernel=7), r"11×11"),
    (lambda: "conv1", r"nn.Module"),
    (CrashesAt227, r"\(2, 3, 227, 227\) batch raised AssertionError"),
], ids=["floor", "torchvision-padding", "relu", "one-tower", "no-bias", "kernel", "not-a-module",
        "crashes-at-227"])


# --- LRN ----------------------------------------------------------------------------------
def lrn_loop(a, size, alpha, beta, k):
    """The printed formula, a loop over channels (independent of course_lib's band matrix)."""
    channels = a.shape[1]
    out = torch.empty_like(a)
    for i in range(channels):
        lo, hi = max(0, i - size // 2), min(channels - 1, i + size // 2)
        out[:, i] = a[:, i] / (k + alpha * (a[:, lo:hi + 1] ** 2).sum(dim=1)) ** beta
    return out


def lrn_in_place(a, n, alpha, beta, k):
    out = lrn_loop(a, n, alpha, beta, k)
    a.copy_(out)
    return a


test_local_response_norm = answers_test(arch.check_local_response_norm, right=[
    lrn_loop,
    # The FACTS §4.6 recipe: the printed formula is torch's module with alpha = α·n.
    lambda a, n, alpha, beta, k: nn.LocalResponseNorm(n, alpha * n, beta, k)(a),
], wrong=[
    (lambda a, n, alpha, beta, k: nn.LocalResponseNorm(n, alpha, beta, k)(a),
     r"α/n reading: torch.nn.LocalResponseNorm .* divide alpha by the window size"),
    (lambda a, n, alpha, beta, k: nn.LocalResponseNorm(n, alpha, beta)(a),
     r"Two slips.*default k is 1"),
    (lambda a, n, alpha, beta, k: lrn_loop(a, n, alpha, beta, 1.0), r"paper's is 2"),
    (lambda a, n, alpha, beta, k: lrn_loop(a, n, alpha, 1.0, k), r"power beta"),
    (lambda a, n, alpha, beta, k: lrn_loop(a, 2 * n + 1, alpha, beta, k), r"2 on each side"),
    (lambda a, n, alpha, beta, k: arch._lrn_wrapping(a, n, alpha, beta, k), r"does not wrap"),
    (lambda a, n, alpha, beta, k: lrn_loop(a, n, alpha, beta, k).sum(dim=1), r"same shape"),
    (lrn_in_place, "in place"),
], ids=["alpha-over-n", "torch-defaults", "k", "beta", "window", "wrap", "reduces", "in-place"])


def test_lrn_reference_is_the_paper_convention():
    # The check's reference agrees with an independent loop over channels.
    a = torch.rand(1, 6, 2, 2) * 50
    assert torch.allclose(arch._lrn(a, 5, 1e-3, 0.75, 2.0), lrn_loop(a, 5, 1e-3, 0.75, 2.0),
                          rtol=1e-5)
    assert isinstance(LocalResponseNorm(convention="paper"), nn.LocalResponseNorm)


# --- parameter counts ---------------------------------------------------------------------
def conv_params(c_in, c_out, k, groups=1):
    return c_out * (c_in // groups) * k * k + c_out


def test_conv_params_reproduces_the_paper_total():
    # FACTS §4.5: 60,965,224 parameters for the two-tower network; fc layers as 1×1 convs.
    layers = [(3, 96, 11, 1), (96, 256, 5, 2), (256, 384, 3, 1), (384, 384, 3, 2),
              (384, 256, 3, 2), (9216, 4096, 1, 1), (4096, 4096, 1, 1), (4096, 1000, 1, 1)]
    assert sum(conv_params(*layer) for layer in layers) == 60_965_224


test_conv_params = answers_test(arch.check_conv_params, right=[conv_params], wrong=[
    (lambda i, o, k, g: o * (i // g) * k * k, r"weights only: add the 96 biases"),
    (lambda i, o, k, g: o * i * k * k + o, r"groups=2 each kernel sees only in_channels / groups = 48"),
    (lambda i, o, k, g: o * (i // g) * k * k + o // g, r"not the biases"),
    (lambda i, o, k, g: (o // g) * (i // g) * k * k + o, r"still out_channels kernels"),
    (lambda i, o, k, g: o * (i // g) * k + o, r"k² weights"),
], ids=["no-bias", "no-groups", "bias-over-groups", "out-over-groups", "k-not-squared"])


# --- neurons per layer --------------------------------------------------------------------
def neuron_counts(net, side):
    layers = [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    counts = {}
    handles = [m.register_forward_hook(lambda m, i, o: counts.__setitem__(m, o[0].numel()))
               for m in layers]
    try:
        with torch.no_grad():
            net.eval()(torch.zeros(1, 3, side, side))
    finally:
        for h in handles:
            h.remove()
    return [counts[m] for m in layers]


def test_neuron_counts_reference_is_the_papers_659_272_at_full_width():
    # FACTS §4.5: 55²·96 + 27²·256 + 13²·384·2 + 13²·256 + 4096·2 + 1000.
    counts = neuron_counts(alexnet("paper"), 224)
    assert counts == [290_400, 186_624, 64_896, 64_896, 43_264, 4096, 4096, 1000]


def _batch_of_two(net, side):
    layers = [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    out = []
    handles = [m.register_forward_hook(lambda m, i, o: out.append(o.numel())) for m in layers]
    with torch.no_grad():
        net.eval()(torch.zeros(2, 3, side, side))
    for h in handles:
        h.remove()
    return out


def _all_leaves(net, side):
    out = []
    leaves = [m for m in net.modules() if not list(m.children())]
    handles = [m.register_forward_hook(lambda m, i, o: out.append(o[0].numel())) for m in leaves]
    with torch.no_grad():
        net.eval()(torch.zeros(1, 3, side, side))
    for h in handles:
        h.remove()
    return out


def _inputs(net, side):
    layers = [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    out = []
    handles = [m.register_forward_hook(lambda m, i, o: out.append(i[0][0].numel())) for m in layers]
    with torch.no_grad():
        net.eval()(torch.zeros(1, 3, side, side))
    for h in handles:
        h.remove()
    return out


def _hooks_left(net, side):
    layers = [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    out = []
    for m in layers:
        m.register_forward_hook(lambda m, i, o: out.append(o[0].numel()))
    with torch.no_grad():
        net.eval()(torch.zeros(1, 3, side, side))
    return out


test_neuron_counts = answers_test(arch.check_neuron_counts, right=[
    neuron_counts,
    lambda net, side: dict(zip(arch.LEARNED, neuron_counts(net, side), strict=True)),  # a dict
], wrong=[
    (_batch_of_two, r"2× too large: count per image"),
    (_all_leaves, r"Count only the learned layers"),
    (lambda net, side: neuron_counts(net, side)[:5], r"Include every learned layer"),
    (lambda net, side: [sum(p.numel() for p in m.parameters()) for m in net.modules()
                        if isinstance(m, (nn.Conv2d, nn.Linear))], r"parameter counts"),
    (lambda net, side: [getattr(m, "out_channels", getattr(m, "out_features", 0))
                        for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))],
     r"channel counts"),
    (_inputs, r"input image's size.*count the output"),
    (_hooks_left, r"still has hooks.*handle.remove\(\)"),
    (lambda net, side: 659_272, r"a list of 8 numbers"),
], ids=["batch", "all-modules", "convs-only", "params", "channels", "inputs", "hooks", "total"])


# --- parameter shares ---------------------------------------------------------------------
def param_shares(counts):
    total = sum(counts.values())
    return {name: 100 * n / total for name, n in counts.items()}


def test_param_shares_of_the_paper_break_the_one_percent_claim():
    # FACTS §4.5/§7: conv3 1.45 %, conv4 1.09 %; fc6 61.9 %.
    net = alexnet("paper")
    counts = {name: sum(p.numel() for p in m.parameters())
              for name, m in net.learned_layers().items()}
    shares = param_shares(counts)
    assert round(shares["conv3"], 2) == 1.45 and round(shares["conv4"], 2) == 1.09
    assert round(shares["fc6"], 1) == 61.9


def _conv_only(counts):
    convs = {k: v for k, v in counts.items() if k.startswith("conv")}
    fcs = {k: v for k, v in counts.items() if not k.startswith("conv")}
    return {**param_shares(convs), **param_shares(fcs)} if convs else param_shares(counts)


test_param_shares = answers_test(arch.check_param_shares, right=[param_shares], wrong=[
    (lambda c: {k: v / sum(c.values()) for k, v in c.items()}, r"fractions; multiply by 100"),
    (_conv_only, r"whole model's parameters"),
    (lambda c: {k: round(v) for k, v in param_shares(c).items()}, r"Do not round"),
    (lambda c: {k: v for k, v in param_shares(c).items() if k != "b" and k != "fc8"},
     r"a dict with the keys"),
    (lambda c: list(param_shares(c).values()), r"a dict with the keys"),
], ids=["fractions", "conv-total", "rounded", "missing-key", "list"])


@pytest.mark.parametrize("check, answer", [
    (arch.check_conv1, Conv1), (arch.check_conv_params, conv_params),
    (arch.check_neuron_counts, neuron_counts), (arch.check_param_shares, param_shares),
], ids=["conv1", "conv_params", "neuron_counts", "param_shares"])
def test_checks_leave_torchs_random_numbers_alone(check, answer):
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    check(answer)
    assert torch.equal(torch.rand(3), expected)
