"""AlexNet variants: exact parameter counts, torchvision equivalence, towers, LRN, init, switches.

Figures are copied from ../shared/FACTS.md (section cited beside each).
"""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from course_lib.models.alexnet import (
    LAYER_NAMES,
    AlexNet,
    CeilModeConv2d,
    alexnet,
    initialize,
    spatial_chain,
)
from course_lib.models.lrn import LocalResponseNorm
from course_lib.profiles import get_profile


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.fixture(scope="module")
def paper() -> AlexNet:
    torch.manual_seed(0)
    return alexnet("paper")


# ---------------------------------------------------------------------------------------------
# Parameter counts (FACTS §4.5)


@pytest.mark.parametrize("variant, towers, count", [
    ("paper", None, 60_965_224),  # FACTS §4.5, original 2-GPU net
    ("torchvision", None, 61_100_840),  # FACTS §4.5 and §5 (num_params)
    ("paper", 1, 62_378_344),  # FACTS §4.5, "no grouping"
])
def test_exact_parameter_counts(variant, towers, count):
    assert n_params(alexnet(variant, towers=towers)) == count


def test_paper_per_layer_parameters_match_the_table(paper):
    # FACTS §4.5, column "Original 2-GPU net".
    expected = {
        "conv1": 34_944, "conv2": 307_456, "conv3": 885_120, "conv4": 663_936,
        "conv5": 442_624, "fc6": 37_752_832, "fc7": 16_781_312, "fc8": 4_097_000,
    }
    got = {name: n_params(layer) for name, layer in paper.learned_layers().items()}
    assert got == expected


# ---------------------------------------------------------------------------------------------
# torchvision equivalence


def test_torchvision_variant_matches_torchvision_alexnet():
    torch.manual_seed(1)
    reference = torchvision.models.alexnet(weights=None).eval()
    ours = alexnet("torchvision").eval()
    ref_state = reference.state_dict()
    assert list(ours.state_dict()) == list(ref_state)
    assert all(ours.state_dict()[k].shape == v.shape for k, v in ref_state.items())
    ours.load_state_dict(ref_state, strict=True)
    x = torch.randn(3, 3, 224, 224, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        diff = (ours(x) - reference(x)).abs().max().item()
    assert diff < 1e-5


# ---------------------------------------------------------------------------------------------
# Spatial chain: 224 and 227 both give 55 -> 27 -> 13 -> 6 (FACTS §4.2)


def feature_sides(model: AlexNet, side: int) -> dict[str, int]:
    """Side of conv1's output and of each max-pool's output, from a real forward pass."""
    sides, pools = {}, 0
    x = torch.zeros(1, 3, side, side)
    with torch.no_grad():
        for layer in model.features:
            x = layer(x)
            if isinstance(layer, nn.Conv2d) and "conv1" not in sides:
                sides["conv1"] = x.shape[-1]
            if isinstance(layer, nn.MaxPool2d):
                pools += 1
                sides[f"pool{pools}"] = x.shape[-1]
    return sides


@pytest.mark.parametrize("side", [224, 227])
def test_paper_accepts_224_and_227_with_the_55_27_13_6_chain(paper, side):
    assert feature_sides(paper, side) == {"conv1": 55, "pool1": 27, "pool2": 13, "pool3": 6}
    assert spatial_chain(side, (11, 4, 0), conv1_ceil=True) == {
        "input": side, "conv1": 55, "pool1": 27, "pool2": 13, "pool3": 6,
    }
    with torch.no_grad():
        assert paper.eval()(torch.zeros(1, 3, side, side)).shape == (1, 1000)


def test_ceil_mode_conv1_at_224_is_a_227_conv_with_zeros_right_and_bottom():
    # cuda-convnet's 1 + ceil((224 - 11)/4) = 55: the last window overhangs by 3 pixels.
    torch.manual_seed(3)
    conv = CeilModeConv2d(3, 8, kernel_size=11, stride=4)
    x = torch.randn(2, 3, 224, 224)
    expected = F.conv2d(F.pad(x, (0, 3, 0, 3)), conv.weight, conv.bias, stride=4)
    with torch.no_grad():
        got = conv(x)
    assert got.shape == (2, 8, 55, 55)
    torch.testing.assert_close(got, expected)
    # A 227 input needs no padding: it is an ordinary convolution.
    x227 = torch.randn(1, 3, 227, 227)
    with torch.no_grad():
        torch.testing.assert_close(conv(x227), F.conv2d(x227, conv.weight, conv.bias, stride=4))


def test_torchvision_variant_chain_at_224():
    assert feature_sides(alexnet("torchvision"), 224) == {
        "conv1": 55, "pool1": 27, "pool2": 13, "pool3": 6,
    }


# ---------------------------------------------------------------------------------------------
# Two towers = grouped convolutions (FACTS §4.1)


@pytest.mark.parametrize("name", ["conv2", "conv4", "conv5"])
def test_grouped_conv_equals_two_half_convolutions_on_the_towers(paper, name):
    conv = paper.learned_layers()[name]
    assert conv.groups == 2
    x = torch.randn(2, conv.in_channels, 13, 13, generator=torch.Generator().manual_seed(4))
    half_in, half_out = conv.in_channels // 2, conv.out_channels // 2
    towers = [
        F.conv2d(
            x[:, t * half_in:(t + 1) * half_in],
            conv.weight[t * half_out:(t + 1) * half_out],
            conv.bias[t * half_out:(t + 1) * half_out],
            padding=conv.padding,
        )
        for t in range(2)
    ]
    with torch.no_grad():
        torch.testing.assert_close(conv(x), torch.cat(towers, dim=1), rtol=1e-4, atol=1e-5)
        # Tower 1's outputs ignore tower 2's input maps entirely.
        x2 = x.clone()
        x2[:, half_in:] = torch.randn_like(x2[:, half_in:])
        torch.testing.assert_close(conv(x2)[:, :half_out], conv(x)[:, :half_out])


def test_conv3_and_fc_layers_connect_across_towers(paper):
    layers = paper.learned_layers()
    assert layers["conv3"].groups == 1 and layers["conv3"].weight.shape == (384, 256, 3, 3)
    assert layers["conv1"].groups == 1
    assert all(isinstance(layers[f], nn.Linear) for f in ("fc6", "fc7", "fc8"))


# ---------------------------------------------------------------------------------------------
# LRN (FACTS §4.1, §4.6)


def lrn_brute_force(a: torch.Tensor, n=5, alpha=1e-4, beta=0.75, k=2.0, divide_by_n=False):
    """Sec. 3.3's formula, one scalar at a time; ``divide_by_n`` gives cuda-convnet's α/n."""
    out = torch.empty_like(a)
    num_maps = a.shape[1]
    scale = alpha / n if divide_by_n else alpha
    for b in range(a.shape[0]):
        for i in range(num_maps):
            for y in range(a.shape[2]):
                for x in range(a.shape[3]):
                    total = 0.0
                    for j in range(max(0, i - n // 2), min(num_maps - 1, i + n // 2) + 1):
                        total += float(a[b, j, y, x]) ** 2
                    out[b, i, y, x] = float(a[b, i, y, x]) / (k + scale * total) ** beta
    return out


@pytest.fixture(scope="module")
def lrn_input() -> torch.Tensor:
    # Large activations so that alpha * sum(a^2) is comparable to k and the conventions differ.
    return 40 * torch.randn(2, 9, 3, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(5))


@pytest.mark.parametrize("convention,divide_by_n", [("pytorch", True), ("paper", False)])
def test_lrn_matches_brute_force_formula(lrn_input, convention, divide_by_n):
    module = LocalResponseNorm(5, 1e-4, 0.75, 2.0, convention=convention)
    expected = lrn_brute_force(lrn_input, divide_by_n=divide_by_n)
    torch.testing.assert_close(module(lrn_input), expected, rtol=1e-10, atol=1e-10)


def test_lrn_conventions_differ_and_match_torch_with_alpha_or_5_alpha(lrn_input):
    ours_pt = LocalResponseNorm(convention="pytorch")(lrn_input)
    ours_paper = LocalResponseNorm(convention="paper")(lrn_input)
    torch.testing.assert_close(ours_pt, nn.LocalResponseNorm(5, 1e-4, 0.75, 2.0)(lrn_input))
    torch.testing.assert_close(ours_paper, nn.LocalResponseNorm(5, 5e-4, 0.75, 2.0)(lrn_input))
    assert (ours_pt - ours_paper).abs().max() > 1.0


def test_lrn_gradients_match_torch():
    x = torch.randn(2, 16, 5, 5, dtype=torch.float64, requires_grad=True)
    x_ref = x.detach().clone().requires_grad_(True)
    (LocalResponseNorm()(x) ** 2).sum().backward()
    (nn.LocalResponseNorm(5, 1e-4, 0.75, 2.0)(x_ref) ** 2).sum().backward()
    torch.testing.assert_close(x.grad, x_ref.grad)


@pytest.mark.parametrize("convention", ["pytorch", "paper"])
def test_lrn_written_out_backward_passes_gradcheck_and_matches_autograd(convention):
    """The hand-written backward against finite differences and against autograd's tape of the
    brute-force formula, with activations loud enough that the α term matters."""
    torch.manual_seed(3)
    module = LocalResponseNorm(5, 0.05, 0.75, 2.0, convention=convention)
    x = (torch.randn(2, 7, 3, 4, dtype=torch.float64) * 4).requires_grad_()
    assert torch.autograd.gradcheck(module, (x,))
    upstream = torch.randn(2, 7, 3, 4, dtype=torch.float64)
    (ours,) = torch.autograd.grad(module(x), x, upstream)
    scale = 0.05 / 5 if convention == "pytorch" else 0.05
    maps = []  # Sec. 3.3 map by map, as differentiable tensor arithmetic
    for i in range(x.shape[1]):
        window = x[:, max(0, i - 2):i + 3]
        maps.append(x[:, i] / (2.0 + scale * (window**2).sum(dim=1)) ** 0.75)
    (expected,) = torch.autograd.grad(torch.stack(maps, dim=1), x, upstream)
    torch.testing.assert_close(ours, expected, rtol=1e-10, atol=1e-12)


def test_lrn_training_keeps_its_input_and_denominator_for_backward():
    """What the tape holds for one LRN: its input, the denominator (and the small band matrix);
    saved-tensor hooks count every tensor autograd keeps between the forward and the backward
    pass."""
    x = torch.randn(4, 16, 9, 9, requires_grad=True)
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t.numel()) or t,
                                                  lambda t: t):
        out = LocalResponseNorm()(x)
    assert sum(saved) == 2 * x.numel() + 16 * 16, saved
    out.sum().backward()
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t.numel()) or t,
                                                  lambda t: t):
        saved.clear()
        nn.LocalResponseNorm(5, 1e-4, 0.75, 2.0)(x)
    assert sum(saved) > 3 * x.numel()  # what the tape of the plain arithmetic keeps


def lrn_reference(a: torch.Tensor, alpha=1e-4, n=5, beta=0.75, k=2.0) -> torch.Tensor:
    """cuda-convnet's LRN (α/n) in float64 with an explicit loop over the window."""
    a = a.double()
    squares = a * a
    total = torch.zeros_like(a)
    for offset in range(-(n // 2), n // 2 + 1):
        lo, hi = max(0, offset), a.shape[1] + min(0, offset)
        total[:, lo - offset:hi - offset] += squares[:, lo:hi]
    return a / (k + alpha / n * total) ** beta


@pytest.fixture(scope="module")
def loud_activations() -> torch.Tensor:
    # window RMS 200-1000: a sum of five squares (≥ 200,000) overflows fp16 (max 65,504); each
    # value and the output still fit comfortably
    gen = torch.Generator().manual_seed(7)
    return torch.empty(2, 8, 3, 3).uniform_(200, 1000, generator=gen) * torch.where(
        torch.rand(2, 8, 3, 3, generator=gen) < 0.5, -1.0, 1.0)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_lrn_does_not_overflow_on_half_precision_inputs(loud_activations, dtype):
    x = loud_activations.to(dtype)
    out = LocalResponseNorm()(x)
    assert out.dtype == dtype
    expected = lrn_reference(x)  # the same rounded inputs, in float64
    assert expected.abs().min() > 0.1  # the true outputs are far from 0
    tol = {torch.float16: 2**-11, torch.bfloat16: 2**-8}[dtype]  # unit roundoff: one rounding
    torch.testing.assert_close(out.double(), expected, rtol=tol, atol=0)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_lrn_under_autocast_sums_in_float32(loud_activations, dtype):
    # autocast would otherwise run the window-sum convolution in fp16 (overflow) or bf16 (8 bits
    # of mantissa); the float32 input comes back as float32, as accurate as float32 allows
    with torch.autocast("cpu", dtype=dtype):
        out = LocalResponseNorm()(loud_activations)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out.double(), lrn_reference(loud_activations), rtol=1e-5, atol=0)


def test_lrn_half_precision_lasts_at_least_as_long_as_torchs():
    # torch's own LRN averages the squares, so fp16 holds to a window RMS of 256; ours must too
    x = torch.full((1, 5, 1, 1), 250.0)
    torch.testing.assert_close(LocalResponseNorm()(x.half()).double(), lrn_reference(x),
                               rtol=1e-3, atol=0)


def test_lrn_rejects_bad_settings():
    with pytest.raises(ValueError, match="convention"):
        LocalResponseNorm(convention="caffe")
    with pytest.raises(ValueError, match="odd"):
        LocalResponseNorm(size=4)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        LocalResponseNorm()(torch.zeros(3, 4))


def test_paper_lrn_layers_sit_after_relu_of_conv1_and_conv2(paper):
    kinds = [type(m).__name__ for m in paper.features]
    assert kinds[:8] == [
        "CeilModeConv2d", "ReLU", "LocalResponseNorm", "MaxPool2d",
        "Conv2d", "ReLU", "LocalResponseNorm", "MaxPool2d",
    ]
    assert kinds.count("LocalResponseNorm") == 2
    lrn = paper.features[2]
    assert (lrn.size, lrn.paper_alpha, lrn.beta, lrn.k) == (5, 1e-4, 0.75, 2.0)  # FACTS §4.1


# ---------------------------------------------------------------------------------------------
# Initialisation (FACTS §4.3)


def test_paper_initialisation_statistics(paper):
    for name, layer in paper.learned_layers().items():
        w = layer.weight.detach()
        assert abs(w.mean().item()) < 0.01 * 5 / w.numel() ** 0.5 + 1e-6, name
        assert w.std().item() == pytest.approx(0.01, rel=0.03), name
        bias = 1.0 if name in ("conv2", "conv4", "conv5", "fc6", "fc7") else 0.0
        assert torch.all(layer.bias == bias), name


def test_kaiming_and_torchvision_initialisations():
    torch.manual_seed(6)
    model = alexnet("scaled", input_size=56, width=0.5, num_classes=20, init="kaiming")
    for name, layer in model.learned_layers().items():
        fan_in = layer.weight[0].numel()
        std = 0.01 if name == "fc8" else (2 / fan_in) ** 0.5  # He: gain sqrt(2) for ReLU
        assert layer.weight.std().item() == pytest.approx(std, rel=0.1), name
        assert torch.all(layer.bias == 0)
    tanh = alexnet("scaled", input_size=56, width=0.5, num_classes=20, activation="tanh")
    conv3 = tanh.learned_layers()["conv3"]
    assert conv3.weight.std().item() == pytest.approx(5 / 3 / conv3.weight[0].numel() ** 0.5, rel=0.1)
    initialize(model, "torchvision")  # PyTorch's default: uniform(±1/sqrt(fan_in)) weights
    fc6 = model.learned_layers()["fc6"]
    bound = 1 / fc6.in_features**0.5
    assert fc6.weight.abs().max() <= bound and fc6.weight.abs().max() > 0.9 * bound
    with pytest.raises(ValueError, match="unknown init"):
        initialize(model, "xavier")


@pytest.mark.parametrize("init", ["kaiming", "paper"])
def test_conv1_at_the_papers_scale_changes_conv1_only(init):
    torch.manual_seed(2)
    plain = alexnet("scaled", input_size=56, width=0.5, num_classes=20, init=init)
    torch.manual_seed(2)
    small = alexnet("scaled", input_size=56, width=0.5, num_classes=20, init=init, conv1_std=0.01)
    conv1 = small.learned_layers()["conv1"]
    assert conv1.weight.std().item() == pytest.approx(0.01, rel=0.1)  # 3,600 weights
    assert abs(conv1.weight.mean().item()) < 0.001 and torch.all(conv1.bias == 0)
    he_or_paper = {"kaiming": (2 / 75) ** 0.5, "paper": 0.01}[init]  # fan-in 3·5·5
    assert plain.learned_layers()["conv1"].weight.std().item() == pytest.approx(he_or_paper, rel=0.1)
    for name in LAYER_NAMES[1:]:  # the same draws as without it
        assert torch.equal(plain.learned_layers()[name].weight,
                           small.learned_layers()[name].weight), name
    assert small.config.conv1_std == 0.01 and plain.config.conv1_std is None
    for bad in (0, -0.1, 1.5, True, "0.01"):
        with pytest.raises(ValueError, match="conv1_std must be a number"):
            alexnet("scaled", input_size=56, conv1_std=bad)


# ---------------------------------------------------------------------------------------------
# Ablation switches: each changes what it says and nothing else


def leaf_reprs(model: nn.Module) -> list[str]:
    return [repr(m) for m in model.modules() if not list(m.children())]


def param_shapes(model: nn.Module) -> list[tuple[int, ...]]:
    return [tuple(p.shape) for p in model.parameters()]


LRN_REPR = "LocalResponseNorm(size=5, alpha=0.0001, beta=0.75, k=2.0, convention='pytorch')"
SWITCHES = {
    # switch: (keyword arguments, how the base model's leaf reprs must change)
    "tanh": ({"activation": "tanh"}, lambda r: "Tanh()" if r == "ReLU(inplace=True)" else r),
    "no_lrn": ({"lrn": False}, lambda r: "Identity()" if r == LRN_REPR else r),
    "non_overlapping_pool": (
        {"pool": "non-overlapping"},
        lambda r: r.replace("MaxPool2d(kernel_size=3, stride=2", "MaxPool2d(kernel_size=2, stride=2"),
    ),
    "no_dropout": ({"dropout": 0.0}, lambda r: r.replace("Dropout(p=0.5", "Dropout(p=0.0")),
}


@pytest.mark.parametrize("switch", sorted(SWITCHES))
@pytest.mark.parametrize(
    "variant,kwargs",
    [("paper", {"width": 0.25}), ("scaled", {"input_size": 56, "width": 0.25, "num_classes": 20})],
)
def test_each_switch_changes_what_it_says_and_nothing_else(variant, kwargs, switch):
    extra, transform = SWITCHES[switch]
    base = alexnet(variant, **kwargs)
    switched = alexnet(variant, **kwargs, **extra)
    expected = [transform(r) for r in leaf_reprs(base)]
    assert leaf_reprs(base) != leaf_reprs(switched)  # the switch did something
    assert leaf_reprs(switched) == expected  # ... and only that
    assert param_shapes(switched) == param_shapes(base)
    assert list(switched.state_dict()) == list(base.state_dict())
    assert switched.config == dataclasses.replace(base.config, **extra)
    side = kwargs.get("input_size", 224)
    with torch.no_grad():
        out = switched.eval()(torch.randn(2, 3, side, side))
    assert out.shape == (2, base.config.num_classes) and torch.isfinite(out).all()


def test_switches_have_effect_on_outputs():
    """Same weights, switch flipped: outputs change (each switch is live in the forward pass)."""
    kwargs = {"input_size": 56, "width": 0.25, "num_classes": 20}
    torch.manual_seed(7)
    base = alexnet("scaled", **kwargs).eval()
    x = torch.randn(2, 3, 56, 56)
    with torch.no_grad():
        ref = base(x)
        for extra in ({"activation": "tanh"}, {"lrn": False}, {"pool": "non-overlapping"}):
            other = alexnet("scaled", **kwargs, **extra).eval()
            other.load_state_dict(base.state_dict())
            assert not torch.allclose(other(x), ref), extra
        # dropout only acts in training mode
        drop = alexnet("scaled", **kwargs, dropout=0.0)
        drop.load_state_dict(base.state_dict())
        torch.testing.assert_close(drop.train()(x), ref)


def test_non_overlapping_pooling_keeps_fc6_shape_for_small_inputs():
    kwargs = {"input_size": 56, "width": 0.25, "num_classes": 20}
    over, non = alexnet("scaled", **kwargs), alexnet("scaled", **kwargs, pool="non-overlapping")
    assert feature_sides(over, 56) == {"conv1": 28, "pool1": 13, "pool2": 6, "pool3": 2}
    assert feature_sides(non, 56) == {"conv1": 28, "pool1": 14, "pool2": 7, "pool3": 3}
    assert over.learned_layers()["fc6"].in_features == non.learned_layers()["fc6"].in_features


def test_towers_switch_only_groups_conv2_conv4_conv5():
    one, two = alexnet("paper", width=0.25, towers=1), alexnet("paper", width=0.25)
    groups = {n: (one.learned_layers()[n].groups, two.learned_layers()[n].groups)
              for n in ("conv1", "conv2", "conv3", "conv4", "conv5")}
    assert groups == {"conv1": (1, 1), "conv2": (1, 2), "conv3": (1, 1), "conv4": (1, 2),
                      "conv5": (1, 2)}
    assert dataclasses.replace(one.config, towers=2) == two.config


# ---------------------------------------------------------------------------------------------
# Scaled variant and the profiles


@pytest.mark.parametrize("name", ["smoke", "laptop"])
def test_profile_networks_are_alexnet_shaped(name):
    p = get_profile(name)
    model = alexnet(p.model_variant, num_classes=p.num_classes, width=p.width, input_size=p.crop_size)
    kinds = [type(m).__name__ for m in model.modules() if not list(m.children())]
    assert kinds.count("Conv2d") == 5 and kinds.count("Linear") == 3
    assert kinds.count("LocalResponseNorm") == 2 and kinds.count("MaxPool2d") == 3
    with torch.no_grad():
        out = model.eval()(torch.randn(2, 3, p.crop_size, p.crop_size))
    assert out.shape == (2, p.num_classes)


def test_laptop_network_widths():
    p = get_profile("laptop")
    model = alexnet("scaled", num_classes=20, width=p.width, input_size=p.crop_size)
    assert model.config.widths == (48, 128, 192, 192, 128) and model.config.fc_width == 2048


@pytest.mark.parametrize("side", [28, 32, 48, 56, 64, 96, 112, 128])
def test_scaled_runs_for_small_inputs(side):
    model = alexnet("scaled", input_size=side, width=0.25, num_classes=5)
    chain = spatial_chain(side, model.config.conv1)
    assert chain["pool3"] == model.config.final_size >= 2
    with torch.no_grad():
        assert model.eval()(torch.randn(1, 3, side, side)).shape == (1, 5)


def quadrant_images(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(n, 3, 32, 32)`` noise with a bright quadrant; the quadrant is the label (0..3)."""
    labels = torch.arange(n) % 4
    images = 0.5 * torch.randn(n, 3, 32, 32, generator=torch.Generator().manual_seed(seed))
    for i, label in enumerate(labels.tolist()):
        r, c = divmod(label, 2)
        images[i, :, r * 16:(r + 1) * 16, c * 16:(c + 1) * 16] += 1.5
    return images, labels


@pytest.mark.slow
def test_scaled_network_with_default_init_learns():
    """The default (Kaiming) init trains with plain SGD: held-out accuracy far above chance."""
    torch.manual_seed(8)
    model = alexnet("scaled", input_size=32, width=0.125, num_classes=4)
    x, y = quadrant_images(32, seed=8)
    assert F.cross_entropy(model(x), y).item() == pytest.approx(1.386, abs=0.1)  # ln 4 at init
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    for _ in range(30):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    x_test, y_test = quadrant_images(64, seed=108)
    with torch.no_grad():
        accuracy = (model.eval()(x_test).argmax(1) == y_test).float().mean().item()
    assert accuracy >= 0.9  # chance is 0.25


def test_bad_arguments_say_what_is_wrong():
    with pytest.raises(ValueError, match="unknown AlexNet variant 'vgg'"):
        alexnet("vgg")
    with pytest.raises(ValueError, match="needs input_size"):
        alexnet("scaled")
    with pytest.raises(ValueError, match="too small"):
        alexnet("scaled", input_size=12)
    with pytest.raises(ValueError, match="dropout"):
        alexnet("paper", dropout=1.0)
    with pytest.raises(ValueError, match="activation"):
        alexnet("paper", activation="gelu")
    with pytest.raises(ValueError, match="pool"):
        alexnet("paper", pool="average")
    with pytest.raises(ValueError, match="num_classes"):
        alexnet("paper", num_classes=0)


def test_lrn_and_the_summary_run_on_the_meta_device():
    """Counting a network without memory (device "meta") must not trip over LRN's float32 path."""
    from course_lib.models import alexnet, summarize
    from course_lib.models.lrn import LocalResponseNorm

    out = LocalResponseNorm(5)(torch.empty(2, 8, 4, 4, device="meta"))
    assert out.shape == (2, 8, 4, 4) and out.device.type == "meta"
    with torch.device("meta"):
        net = alexnet("paper")
    table = summarize(net, 224)
    assert int(table["params"].sum()) == 60_965_224
