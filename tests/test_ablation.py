"""course_lib.ablation: sizing against the independent root finder and a simulation, layer
removal, per-layer gradients against the analytic gradient of the last layer, short runs."""

import math

import numpy as np
import pytest
import torch

from course_lib.ablation import (
    Arm,
    images_to_detect,
    layer_gradient_norms,
    remove_layer,
    results_table,
    run_arm,
)
from course_lib.models import alexnet
from course_lib.recipe import open_splits
from course_lib.scoring.stats import minimum_detectable_difference


@pytest.mark.parametrize("d,p", [(0.05, 0.25), (0.014, 0.30), (0.004, 0.30), (0.02, 0.10),
                                 (0.10, 0.50), (0.3, 0.9)])
def test_images_to_detect_inverts_the_minimum_detectable_difference(d, p):
    # minimum_detectable_difference solves the same power equation for Δ with a root finder:
    # n must be the smallest size at which it is at most d
    n = images_to_detect(d, p)
    assert minimum_detectable_difference(n, p) <= d + 1e-12
    assert minimum_detectable_difference(n - 1, p) > d


def test_images_to_detect_has_the_stated_power_in_simulation():
    # two systems at 25 % and 20 % error, each scored on n images: a two-sided pooled z-test at
    # the 5 % level should reject in about 80 % of simulated experiments
    d, p = 0.05, 0.25
    n = images_to_detect(d, p)
    rng = np.random.default_rng(0)
    trials = 20_000
    a = rng.binomial(n, p, trials) / n
    b = rng.binomial(n, p - d, trials) / n
    pooled = (a + b) / 2
    z = (a - b) / np.sqrt(2 * pooled * (1 - pooled) / n)
    power = np.mean(np.abs(z) > 1.959964)
    assert 0.785 < power < 0.815, power


def test_images_to_detect_grows_with_the_inverse_square_of_the_difference():
    small, large = images_to_detect(0.01, 0.3), images_to_detect(0.02, 0.3)
    assert 3.6 < small / large < 4.2


@pytest.mark.parametrize("d,p,alpha,power,match", [
    (0, 0.3, 0.05, 0.8, "difference=0"),
    (0.4, 0.3, 0.05, 0.8, "difference=0.4, error=0.3"),
    (1.4, 30, 0.05, 0.8, "error=30"),
    (0.01, 0.3, 0, 0.8, "alpha and power"),
    (0.01, 0.3, 0.05, 1.0, "alpha and power"),
])
def test_images_to_detect_rejects_bad_input(d, p, alpha, power, match):
    with pytest.raises(ValueError, match=match):
        images_to_detect(d, p, alpha, power)


def _scaled(**options):
    torch.manual_seed(0)
    return alexnet("scaled", num_classes=5, width=0.25, input_size=28, **options)


def test_remove_conv4_keeps_shapes_and_drops_exactly_its_parameters():
    model = _scaled()
    conv4 = model.learned_layers()["conv4"]
    before = sum(p.numel() for p in model.parameters())
    x = torch.randn(2, 3, 28, 28)
    remove_layer(model, "conv4")
    assert sum(p.numel() for p in model.parameters()) == before - sum(
        p.numel() for p in conv4.parameters())
    assert model(x).shape == (2, 5)
    assert not any(m is conv4 for m in model.modules())
    # the activation after it went too: one activation fewer in the features
    assert sum(isinstance(m, torch.nn.ReLU) for m in model.features) == 4


def test_removed_layer_is_the_identity_between_its_neighbours():
    model = _scaled(activation="tanh").eval()
    features = list(model.features)
    i = features.index(model.learned_layers()["conv4"])
    x = torch.randn(1, 3, 28, 28)
    with torch.no_grad():
        upto = torch.nn.Sequential(*features[:i])(x)
        remove_layer(model, "conv4")
        after = torch.nn.Sequential(*list(model.features)[i:i + 2])(upto)
    assert torch.equal(after, upto)


@pytest.mark.parametrize("name,match", [("conv3", "maps 64 to 96 channels"),
                                        ("conv5", "maps 96 to 64 channels"),
                                        ("fc6", "not a middle convolution")])
def test_remove_layer_refuses_what_it_cannot_cut(name, match):
    with pytest.raises(ValueError, match=match):
        remove_layer(_scaled(), name)


def test_gradient_norm_of_fc8_matches_the_analytic_gradient():
    # d(mean cross-entropy)/dW8 = (softmax − one-hot)ᵀ · h7 / B, with h7 the input of fc8
    model = _scaled(lrn=False)
    rng = np.random.default_rng(0)
    images = torch.as_tensor(rng.integers(0, 256, (6, 3, 32, 32), dtype=np.uint8))
    labels = torch.as_tensor(rng.integers(0, 5, 6))
    captured = {}
    fc8 = model.learned_layers()["fc8"]
    hook = fc8.register_forward_hook(lambda m, i, o: captured.update(h=i[0].detach(),
                                                                     z=o.detach()))
    norms = layer_gradient_norms(model, images, labels, crop=28)
    hook.remove()
    probs = torch.softmax(captured["z"], dim=1)
    probs[torch.arange(6), labels] -= 1
    analytic = probs.T @ captured["h"] / 6
    assert list(norms.index) == ["conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7",
                                 "fc8"]
    assert math.isclose(norms["fc8"], float(analytic.norm()), rel_tol=1e-4)
    assert (norms > 0).all()
    assert model.training and all(p.grad is None for p in model.parameters())


@pytest.fixture(scope="module")
def tiny():
    return open_splits("smoke", image_size=32, num_classes=4, train_per_class=16,
                       val_per_class=8, splits=("train", "val"))


def _run(tiny, arm, **kw):
    options = dict(profile="smoke", image_size=32, num_classes=4, width=0.125, epochs=1,
                   precision="fp32")
    options.update(kw)
    return run_arm(arm, tiny.train, tiny.val, **options)


def test_run_arm_scores_every_validation_image_and_repeats_exactly(tiny):
    a = _run(tiny, Arm("full"), seed=3)
    b = _run(tiny, Arm("full"), seed=3)
    assert a.val_errors.shape == (len(tiny.val),) and a.val_errors.dtype == bool
    assert a.val_top1_error == pytest.approx(a.val_errors.mean())
    assert 0 <= a.train_top1_error <= 1
    assert np.array_equal(a.val_errors, b.val_errors)
    assert a.history["train_loss"].tolist() == b.history["train_loss"].tolist()


def test_run_arm_applies_the_arms_switches_quietly(tiny, capsys):
    r = _run(tiny, Arm("cut", model={"activation": "tanh", "dropout": 0.0},
                       train={"augment": "none"}, remove=("conv4",)), epochs=1)
    assert len(r.history) == 1 and r.arm == "cut"
    assert "epoch 1/1" not in capsys.readouterr().err  # fit's summary line is kept out
    _run(tiny, Arm("loud"), epochs=1, quiet=False, score_train=False)
    assert "epoch 1/1" in capsys.readouterr().err


def test_run_arm_stops_at_the_threshold_and_reports_the_epoch(tiny):
    never = _run(tiny, Arm("full"), epochs=2, stop_below=-1.0, score_train=False)
    assert never.reached is None and len(never.history) == 2 and never.train_top1_error is None
    at_once = _run(tiny, Arm("full"), epochs=3, stop_below=1.0)
    assert at_once.reached == 1 and len(at_once.history) == 1


def test_results_table_has_the_gap(tiny):
    r = _run(tiny, Arm("full"))
    table = results_table([r])
    assert table.loc[0, "gap"] == pytest.approx(r.val_top1_error - r.train_top1_error)
    assert table.loc[0, "epochs"] == 1
