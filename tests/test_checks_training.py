"""The exercise checks of notebook 06: right answers pass, wrong ones get the hint for their slip.

The right answers here are written from the exercise statements (and, for the schedule, checked
against torch's own OneCycleLR), not taken from the library the checks compare with; the slips
are written as a learner would write them, not taken from the checks' own models of them.
"""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from check_helpers import answers_test

from course_lib.checks.core import ExerciseError
from course_lib.checks.training import (
    ILSVRC2012_TRAIN_IMAGES,
    PAPER_EPOCHS,
    PAPER_MACS,
    check_onecycle_lr,
    check_paper_run_days,
    check_train_epoch,
    check_training_tflops,
)

# --- exercise 1: one epoch of training -----------------------------------------------------


def train_epoch(model, optimizer, batches):
    model.train()
    images_seen, loss_sum = 0, 0.0
    for images, labels in batches:
        loss = F.cross_entropy(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        images_seen += labels.shape[0]
        loss_sum += loss.item() * labels.shape[0]
    return loss_sum / images_seen


def with_tensors(model, optimizer, batches):  # returns a tensor, uses the loss module
    model.train(True)
    criterion = torch.nn.CrossEntropyLoss()
    total, count = torch.zeros(()), 0
    for x, y in batches:
        optimizer.zero_grad(set_to_none=False)
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
        total, count = total + loss.detach() * len(x), count + len(x)
    return total / count


def test_the_check_leaves_the_global_random_state_alone():
    torch.manual_seed(7)
    before = torch.random.get_rng_state()
    check_train_epoch(train_epoch)
    assert torch.equal(torch.random.get_rng_state(), before)


def no_zero_grad(model, optimizer, batches):
    model.train()
    losses, sizes = [], []
    for x, y in batches:
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        sizes.append(len(y))
    return float(np.average(losses, weights=sizes))


def never_trains_mode(model, optimizer, batches):
    n, total = 0, 0.0
    for x, y in batches:
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        n, total = n + len(y), total + loss.item() * len(y)
    return total / n


def averaged_twice(model, optimizer, batches):
    model.train()
    batch_losses = []
    for x, y in batches:
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y).mean() / x.shape[0]
        loss.backward()
        optimizer.step()
        batch_losses.append(loss.item())
    return sum(batch_losses) / len(batch_losses)  # whatever it returns, the weights tell


def steps_before_backward(model, optimizer, batches):
    model.train()
    n, total = 0, 0.0
    for x, y in batches:
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        optimizer.step()
        loss.backward()
        n, total = n + len(y), total + loss.item() * len(y)
    return total / n


def steps_first_in_the_loop(model, optimizer, batches):
    model.train()
    n, total = 0, 0.0
    for x, y in batches:
        optimizer.step()
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        n, total = n + len(y), total + loss.item() * len(y)
    return total / n


def mean_of_batch_means(model, optimizer, batches):
    model.train()
    losses = []
    for x, y in batches:
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return float(np.mean(losses))


def last_batch_loss(model, optimizer, batches):
    model.train()
    for x, y in batches:
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
    return loss.item()


def returns_nothing(model, optimizer, batches):
    model.train()
    for x, y in batches:
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()


test_train_epoch = answers_test(check_train_epoch, right=[train_epoch, with_tensors], wrong=[
    (no_zero_grad, "gradients were never zeroed"),
    (never_trains_mode, "stayed in evaluation mode"),
    (averaged_twice, "averaged twice"),
    (steps_before_backward, "weights never moved"),
    (steps_first_in_the_loop, "previous batch's gradients"),
    (mean_of_batch_means, "plain mean of the batch means"),
    (last_batch_loss, "last batch's loss"),
    (returns_nothing, "returned None"),
], ids=["no-zero-grad", "eval-mode", "averaged-twice", "step-before-backward", "step-first",
        "mean-of-batch-means", "last-batch", "none"])


def test_train_epoch_error_names_the_batches_and_what_was_wrong():
    with pytest.raises(ExerciseError, match=r"train_epoch: one epoch of batches of 12, 12, 5 images "
                                            r"\(seed 2\): expected returned loss [\d.]+ with the "
                                            r"reference's weights, got returned loss [\d.]+ with "
                                            r"the reference's weights\. The loss is the plain mean"):
        check_train_epoch(mean_of_batch_means)
    with pytest.raises(ExerciseError, match=r"got returned loss 2 with the reference's weights\.$"):
        check_train_epoch(lambda model, optimizer, batches: train_epoch(model, optimizer, batches)
                          and 2.0)  # trains right, returns no loss of its own: no slip named
    with pytest.raises(ExerciseError, match=r"got returned loss 2 with weights off by [\d.e-]+ "
                                            r"\(relative\)\. The weights never moved"):
        check_train_epoch(lambda model, optimizer, batches: 2.0)


# --- exercise 4: one-cycle -----------------------------------------------------------------


def onecycle_lr(step, total_steps, max_lr):
    t = step / total_steps
    if t < 0.3:
        return max_lr / 25 + (max_lr - max_lr / 25) * 0.5 * (1 - math.cos(math.pi * t / 0.3))
    end = max_lr * 1e-4
    return end + (max_lr - end) * 0.5 * (1 + math.cos(math.pi * (t - 0.3) / 0.7))


def test_onecycle_answer_has_torchs_shape():
    # torch's OneCycleLR with the same rise share and start (its end is initial_lr/final_div,
    # so final_div_factor=1e4/25 puts it at max_lr/1e4 like the course's)
    total, max_lr = 200, 0.1
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=max_lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=max_lr, total_steps=total + 1,
                                                pct_start=0.3, div_factor=25,
                                                final_div_factor=1e4 / 25,
                                                anneal_strategy="cos", three_phase=False)
    for step in range(total):
        ours = onecycle_lr(step, total, max_lr)
        assert math.isclose(opt.param_groups[0]["lr"], ours, rel_tol=0.05, abs_tol=2e-4), step
        opt.step()
        sched.step()


test_onecycle_lr = answers_test(check_onecycle_lr, right=[onecycle_lr], wrong=[
    (lambda s, n, m: m, "constant rate. One-cycle starts low"),
    (lambda s, n, m: m * 0.5 * (1 + math.cos(math.pi * s / n)), "cosine schedule"),
    (lambda s, n, m: (m / 25 + (m - m / 25) * (s / n) / 0.3) if s / n < 0.3
     else onecycle_lr(s, n, m), "not a straight line"),
    (lambda s, n, m: m * 0.5 * (1 - math.cos(math.pi * s / n / 0.3)) if s / n < 0.3
     else onecycle_lr(s, n, m), "starts at max_lr / 25, not at 0"),
    (lambda s, n, m: onecycle_lr(s, n, m) if s / n < 0.3
     else m * 1e-4 + (m - m * 1e-4) * (1 - (s / n - 0.3) / 0.7), "fall follows half a cosine"),
    (lambda s, n, m: onecycle_lr(s, n, m) if s / n < 0.3
     else m * 0.5 * (1 + math.cos(math.pi * (s / n - 0.3) / 0.7)), "ends at max_lr / 10⁴"),
    (lambda s, n, m: 100 * onecycle_lr(s, n, m), "not a percentage"),
    (lambda s, n, m: onecycle_lr(s, n, m) / m, "not a share of max_lr"),
], ids=["constant", "cosine", "straight-rise", "rise-from-zero", "straight-fall", "fall-to-zero",
        "percentage", "share"])


def test_onecycle_error_names_the_step_and_values():
    with pytest.raises(ExerciseError, match=r"at step 0 of 1000 \(t = 0.000\) with max_lr = "
                                            r"0.02: expected 0.0008, got 0.02"):
        check_onecycle_lr(lambda s, n, m: m)


# --- exercise 2: TFLOP/s -------------------------------------------------------------------


def training_tflops(images_per_s, macs_per_image):
    return images_per_s * macs_per_image * 2 * 3 / 1e12


def test_training_tflops_of_torchvision_alexnet_at_40k_images_per_s():
    # 714.19 M MACs (torchvision's "0.714 GFLOPS"), 6 FLOPs per MAC in training
    assert math.isclose(training_tflops(40_000, 714_188_480), 171.405, rel_tol=1e-5)


def tflops_times(factor):
    return lambda ips, macs: factor * training_tflops(ips, macs)


test_training_tflops = answers_test(check_training_tflops, right=[training_tflops], wrong=[
    (tflops_times(1 / 3), "forward pass only"),
    (tflops_times(1 / 2), "two floating-point operations"),
    (tflops_times(1 / 6), "MACs are not FLOPs"),
    (tflops_times(1e12), "That is FLOP/s"),
    (tflops_times(1e3), "That is GFLOP/s"),
    # forward (out·in MACs) plus only the weights' gradient: 2 passes × 2 FLOPs per MAC
    (lambda ips, macs: ips * (macs + macs) * 2 / 1e12, "one of the backward pass's two products"),
], ids=["forward-only", "no-factor-2", "macs", "flops", "gflops", "one-backward-product"])


# --- exercise 3: the paper's run -----------------------------------------------------------


def paper_run_days(images_per_s, macs_per_image):
    seconds_per_image = 1 / images_per_s * PAPER_MACS / macs_per_image
    return seconds_per_image * PAPER_EPOCHS * ILSVRC2012_TRAIN_IMAGES / (24 * 3600)


def test_paper_run_days_worked_example():
    # 30,000 img/s for torchvision's AlexNet (714.19 M MACs): 1.0143× the MACs of the paper's
    # net ... 90 × 1,281,167 / (30,000 × 714.19/724.41) s = 3,898 s = 0.0451 days
    assert math.isclose(paper_run_days(30_000, 714_188_480), 0.045117, rel_tol=1e-4)


test_paper_run_days = answers_test(check_paper_run_days, right=[paper_run_days], wrong=[
    (lambda ips, macs: paper_run_days(ips, macs) / PAPER_EPOCHS, "That is one epoch"),
    (lambda ips, macs: paper_run_days(ips, macs) * macs / PAPER_MACS, "the network you measured"),
    (lambda ips, macs: paper_run_days(ips, macs) * (macs / PAPER_MACS) ** 2, "wrong way round"),
    (lambda ips, macs: paper_run_days(ips, macs) * 24, "That is hours"),
    (lambda ips, macs: paper_run_days(ips, macs) * 86_400, "That is seconds"),
    (lambda ips, macs: 1.0, r"expected .* days, got 1\.0\.$"),  # no known slip: still an error
], ids=["one-epoch", "measured-network", "wrong-way-round", "hours", "seconds", "other"])
