"""Notebook 06's training loop, the given cell with exercise 1's solution, computes what ``fit``
computes.

The loop is not copied here: the test reads notebooks/06_training_core.ipynb, takes the code
cell whose first line is :data:`MARKER` (``to_input``, ``batches``, ``train_simple``) and the
solution cell of exercise 1 (``train_epoch_solution``), runs both in one namespace and binds
``train_epoch``, which ``train_simple`` looks up when it is called, to the solution, so the
notebook and this test cannot drift apart. Same starting weights, seed, batch order and
settings (fp32, no augmentation, constant rate, plain memory layout) must give the same weights
as ``fit``, with a last batch that is only partly full and a reshuffle between epochs.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch
from notebook_cells import run_cells_with
from test_checks_training import no_zero_grad  # a slip, written as a learner would

from course_lib.checks.training import check_train_epoch
from course_lib.plan import plan
from course_lib.recipe import Split, Splits
from course_lib.train import TrainConfig, fit

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "06_training_core.ipynb"
MARKER = "# teaching loop"
SOLUTION = "def train_epoch_solution("
IMAGES, BATCH = 100, 40  # two full batches and one of 20 per epoch


def teaching_loop() -> dict:
    """The namespace of the notebook's loop cell and exercise 1's solution cell (which runs the
    solution through its check), with ``train_epoch`` bound to the solution."""
    loop = run_cells_with(NOTEBOOK.name, [MARKER, SOLUTION],
                          {"check_train_epoch": check_train_epoch})
    assert "train_epoch" not in loop  # the given cell leaves the step to the exercise
    loop["train_epoch"] = loop["train_epoch_solution"]
    return loop


@pytest.fixture(scope="module")
def setup():
    """(the loop's namespace, smoke SynthNet with 100 training images, starting weights)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # two small processes on two cores: one thread each is fastest
    full = plan("smoke", splits=("train", "val")).data
    pick = np.sort(np.random.default_rng(0).permutation(len(full.train))[:IMAGES])
    data = Splits(dataset=full.dataset, image_size=full.image_size,
                  class_names=full.class_names, source=full.source, test=None,
                  train=Split(full.train.images[pick], full.train.labels[pick]), val=full.val)
    torch.manual_seed(0)
    model = plan("smoke", splits=()).model(data.num_classes)
    yield teaching_loop(), data, model.state_dict()
    torch.set_num_threads(threads)


def fitted(data, weights, epochs: int, seed: int) -> torch.nn.Module:
    model = plan("smoke", splits=()).model(data.num_classes)
    model.load_state_dict(weights)
    config = TrainConfig(epochs=epochs, batch_size=BATCH, lr=0.02, momentum=0.9,
                         weight_decay=5e-4, schedule="constant", augment="none",
                         precision="fp32", channels_last=False, crop_size=28, seed=seed,
                         device="cpu", progress=False)
    history = fit(model, data.train, data.val, config)
    model.history = history
    return model


def looped(loop, data, weights, epochs: int, seed: int) -> tuple[torch.nn.Module, list]:
    model = plan("smoke", splits=()).model(data.num_classes)
    model.load_state_dict(weights)
    history = loop["train_simple"](model, data.train, data.val, epochs=epochs, batch_size=BATCH,
                                   lr=0.02, crop=28, seed=seed, device="cpu")
    return model, history


def max_difference(a: torch.nn.Module, b: torch.nn.Module) -> float:
    return max((x - y).abs().max().item()
               for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True))


@pytest.mark.parametrize("epochs", [1, 2])
def test_the_notebook_loop_reaches_fits_weights(setup, epochs):
    loop, data, weights = setup
    start = plan("smoke", splits=()).model(data.num_classes)
    start.load_state_dict(weights)
    mine, history = looped(loop, data, copy.deepcopy(weights), epochs, seed=3)
    theirs = fitted(data, copy.deepcopy(weights), epochs, seed=3)
    assert max_difference(mine, start) > 1e-3  # it trained: the comparison below means something
    assert max_difference(mine, theirs) <= 1e-5
    for row, (_, fit_row) in zip(history, theirs.history.iterrows(), strict=True):
        assert row["train_loss"] == pytest.approx(fit_row["train_loss"], abs=1e-5)
        assert row["val_top1_error"] == pytest.approx(fit_row["val_top1_error"], abs=1e-9)


def test_another_batch_order_gives_other_weights(setup):
    # the comparison can fail: a different seed (order and dropout) moves the weights well
    # beyond the tolerance used above
    loop, data, weights = setup
    mine, _ = looped(loop, data, copy.deepcopy(weights), 1, seed=4)
    theirs = fitted(data, copy.deepcopy(weights), 1, seed=3)
    assert max_difference(mine, theirs) > 1e-4


def test_the_solution_cell_passes_its_check(capsys):
    teaching_loop()
    assert "✅ train_epoch: correct." in capsys.readouterr().out


def test_train_simple_uses_the_train_epoch_bound_when_it_runs(setup):
    # what `use` hands on is what trains: a loop without zero_grad ends far from fit's weights
    loop, data, weights = setup
    loop["train_epoch"] = no_zero_grad  # as `use` binds it, a global of the loop's cell
    try:
        mine, _ = looped(loop, data, copy.deepcopy(weights), 1, seed=3)
    finally:
        loop["train_epoch"] = loop["train_epoch_solution"]
    theirs = fitted(data, copy.deepcopy(weights), 1, seed=3)
    assert max_difference(mine, theirs) > 1e-3


def test_the_loop_crops_the_center_and_normalizes_like_torchvision(setup):
    from torchvision.transforms import v2

    loop, data, _ = setup
    images = data.train.images[:5]
    got = loop["to_input"](images, 28, "cpu")
    want = v2.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])(
        v2.ToDtype(torch.float32, scale=True)(v2.CenterCrop(28)(torch.from_numpy(images))))
    assert got.shape == (5, 3, 28, 28)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-6)
