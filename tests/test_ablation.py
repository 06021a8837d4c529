"""course_lib.ablation: sizing against the independent root finder and a simulation, the
decision rule's seed threshold against printed t tables and a simulation, layer removal,
per-layer gradients against the analytic gradient of the last layer, short runs."""

import math

import numpy as np
import pytest
import torch

from course_lib.ablation import (
    Arm,
    decide,
    images_to_detect,
    layer_gradient_norms,
    remove_layer,
    results_table,
    run_arm,
    seed_threshold,
)
from course_lib.models import alexnet
from course_lib.plan import plan
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


# Student's t quantiles t(0.975, df) from a printed table (Fisher & Yates; any statistics text)
T_TABLE = {1: 12.706, 2: 4.303, 3: 3.182, 9: 2.262}


@pytest.mark.parametrize("differences,df,sd", [
    ([1.0, 3.0], 1, math.sqrt(2)),
    ([2.0, 4.0, 6.0], 2, 2.0),
    ([1.0, 2.0, 3.0, 4.0], 3, math.sqrt(5 / 3)),
    (list(range(10)), 9, math.sqrt(55 / 6)),
])
def test_seed_threshold_is_the_tabled_t_quantile_times_the_standard_error(differences, df, sd):
    # sd: the sample standard deviation worked out by hand (sum of squares / (k − 1))
    k = len(differences)
    want = T_TABLE[df] * sd / math.sqrt(k)
    assert seed_threshold(differences) == pytest.approx(want, rel=2e-4)


def test_seed_threshold_with_one_seed_is_infinite():
    assert seed_threshold([3.7]) == math.inf


def test_seed_threshold_takes_lists_arrays_and_series_and_leaves_them_alone():
    import pandas as pd

    values = [3.0, 1.0, 2.0]
    for given in (list(values), np.array(values), pd.Series(values)):
        assert seed_threshold(given) == pytest.approx(seed_threshold(values))
        assert list(given) == values


def test_seed_threshold_false_alarms_in_5_percent_of_null_experiments():
    # four seeds, no real effect: the mean of the differences is beyond the threshold in about
    # 5 % of simulated ablations
    rng = np.random.default_rng(0)
    trials = rng.normal(0.0, 1.7, size=(8_000, 4))
    alarms = np.mean([abs(d.mean()) > seed_threshold(d) for d in trials])
    assert 0.043 < alarms < 0.057, alarms


def test_seed_threshold_detects_more_with_more_seeds():
    # an effect of one seed-SD: rarely detected with 3 seeds, almost always with 16
    rng = np.random.default_rng(1)
    power = {k: np.mean([abs(d.mean()) > seed_threshold(d)
                         for d in rng.normal(1.0, 1.0, size=(2_000, k))]) for k in (3, 16)}
    assert power[3] < 0.35 and power[16] > 0.95, power


@pytest.mark.parametrize("differences,mdd,claimed,want", [
    ([2.6, 2.8, 3.2, 3.4], 1.0, 1.4, "agree"),          # mean 3, threshold max(1, 0.41)
    ([-3.4, -3.2, -2.8, -2.6], 1.0, None, "disagree"),  # detected, the other way
    ([2.9, 3.1], 1.0, None, "agree"),                   # two seeds: t 12.7 · 0.1 = 1.27
    ([1.0, 5.0], 1.0, None, "undetectable here"),       # 12.7 · 2 = 25.4
    ([0.0, 0.1, 0.3, 0.4], 0.8, 1.4, "disagree"),       # 1.4 − 0.2 beyond the MDD of 0.8
    ([0.3, 0.4, 0.6, 0.7], 0.8, 1.2, "undetectable here"),  # 1.2 − 0.5 within it
    ([1.5, 1.5, 1.5], 1.5, None, "undetectable here"),  # exactly at the threshold
    ([5.0], 1.0, 1.4, "undetectable here"),             # one seed
    ([3.0, 3.0, 3.0, 3.0], 0.0, None, "agree"),         # no noise at all, no validation set
])
def test_decide_on_hand_made_cases(differences, mdd, claimed, want):
    assert decide(differences, mdd, claimed) == want


@pytest.mark.parametrize("call,match", [
    (lambda: seed_threshold([]), "non-empty 1-D"),
    (lambda: seed_threshold([[1.0, 2.0], [3.0, 4.0]]), r"shape \(2, 2\)"),
    (lambda: seed_threshold([1.0, float("nan"), 2.0]), "seed position 1 holds nan"),
    (lambda: seed_threshold(["a", "b"]), "must be numbers"),
    (lambda: seed_threshold([1.0, 2.0], alpha=1.5), "alpha must be in"),
    (lambda: decide([1.0, 2.0], -0.5), "mdd must be a finite number ≥ 0, got -0.5"),
    (lambda: decide([1.0, 2.0], float("nan")), "mdd must be"),
    (lambda: decide([1.0, 2.0], 1.0, float("nan")), "pass None|or None where"),
    (lambda: decide([1.0, 2.0], 1.0, "1.4"), "claimed must be a finite number"),
])
def test_decision_rule_rejects_bad_input_with_the_value(call, match):
    with pytest.raises(ValueError, match=match):
        call()


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
    return plan("smoke", image_size=32, num_classes=4, train_per_class=16, val_per_class=8,
                width=0.125, epochs=1, splits=("train", "val"))


def _run(tiny, arm, **kw):
    options = dict(plan=tiny, precision="fp32")
    options.update(kw)
    return run_arm(arm, tiny.data.train, tiny.data.val, **options)


@pytest.mark.slow
def test_run_arm_scores_every_validation_image_and_repeats_exactly(tiny):
    a = _run(tiny, Arm("full"), seed=3)
    b = _run(tiny, Arm("full"), seed=3)
    assert a.val_errors.shape == (len(tiny.data.val),) and a.val_errors.dtype == bool
    assert a.val_top1_error == pytest.approx(a.val_errors.mean())
    assert 0 <= a.train_top1_error <= 1
    assert np.array_equal(a.val_errors, b.val_errors)
    assert a.history["train_loss"].tolist() == b.history["train_loss"].tolist()


def test_run_arm_applies_the_arms_switches_quietly(tiny, capsys):
    r = _run(tiny, Arm("cut", model={"activation": "tanh", "dropout": 0.0},
                       train={"augment": "none"}, remove=("conv4",)), epochs=1)
    assert len(r.history) == 1 and r.arm == "cut"
    assert "epoch 1/1" not in capsys.readouterr().err  # fit's summary line is kept out


def test_run_arm_stops_at_the_threshold_and_reports_the_epoch(tiny):
    never = _run(tiny, Arm("full"), epochs=2, stop_below=-1.0, score_train=False)
    assert never.reached is None and len(never.history) == 2 and never.train_top1_error is None
    at_once = _run(tiny, Arm("full"), epochs=3, stop_below=1.0)
    assert at_once.reached == 1 and len(at_once.history) == 1
    assert never.steps.empty  # no points within the epochs unless asked


def test_run_arm_keeps_the_training_curve_within_epochs_up_to_its_stop(tiny):
    # 64 images in batches of 32: two steps an epoch, a point after each
    never = _run(tiny, Arm("full"), epochs=2, stop_below=-1.0, val_every_steps=1)
    assert never.steps["step"].tolist() == [1, 2, 3, 4]
    assert never.steps["epoch"].tolist() == [0.5, 1.0, 1.5, 2.0]
    ends = never.steps.set_index("epoch").loc[[1.0, 2.0], "train_top1_error"].tolist()
    assert ends == pytest.approx(never.history["train_top1_error"].tolist())
    assert never.steps["val_top1_error"].isna().all()  # run_arm validates once, at the end
    at_once = _run(tiny, Arm("full"), epochs=3, stop_below=1.0, val_every_steps=1)
    assert at_once.steps["step"].tolist() == [1, 2]  # the run stopped after its first epoch


def test_results_table_has_the_gap(tiny):
    r = _run(tiny, Arm("full"))
    table = results_table([r])
    assert table.loc[0, "gap"] == pytest.approx(r.val_top1_error - r.train_top1_error)
    assert table.loc[0, "epochs"] == 1
