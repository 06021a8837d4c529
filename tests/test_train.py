"""The training core: recipe, schedule, checkpoints, exact resume, divergence, OOM fallback."""

from __future__ import annotations

import math
import re
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from course_lib.models.alexnet import alexnet
from course_lib.train import (
    HISTORY_COLUMNS,
    CheckpointError,
    TrainConfig,
    TrainingDiverged,
    fit,
    load_checkpoint,
    plot_history,
    save_checkpoint,
)
from course_lib.train.schedule import MAX_LR_DROPS, PLATEAU_FACTOR, LRSchedule, make_optimizer
from course_lib.train.step import TrainStep
from course_lib.train.throughput import achieved_tflops, peak_tflops, training_flops_per_image

NUM_CLASSES = 4


def colour_data(per_class: int, size: int = 32, seed: int = 0):
    """``(images (N, 3, size, size) uint8, labels (N,))``: class k is a noisy image whose
    dominant colour is class k's, so a small network can learn it in a few steps."""
    rng = np.random.default_rng(seed)
    colours = np.array([[220, 30, 30], [30, 220, 30], [30, 30, 220], [220, 220, 30]])
    labels = np.repeat(np.arange(NUM_CLASSES), per_class)
    noise = rng.integers(-60, 60, size=(len(labels), 3, size, size))
    images = np.clip(colours[labels][:, :, None, None] + noise, 0, 255).astype(np.uint8)
    return images, labels.astype(np.int64)


def tiny_net(seed: int = 0, dropout: float = 0.5) -> nn.Module:
    torch.manual_seed(seed)
    return alexnet("scaled", num_classes=NUM_CLASSES, width=0.125, dropout=dropout, input_size=28)


def config(**changes) -> TrainConfig:
    base = TrainConfig(epochs=2, batch_size=8, crop_size=28, progress=False, device="cpu",
                       precision="fp32", lr=0.02)
    return base.replace(**changes)


@pytest.fixture(scope="module")
def data():
    return colour_data(8), colour_data(4, seed=1)


def weights(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def assert_same_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), f"{key} differs"


class Stop(Exception):
    """Raised by a callback to simulate an interruption."""


# --------------------------------------------------------------------------------------------
# config, optimiser, schedule


def test_defaults_are_the_paper_recipe():
    # Krizhevsky et al. 2012 Sec. 5 (FACTS.md §4.3): batch 128, momentum 0.9, wd 0.0005, lr 0.01
    c = TrainConfig()
    assert (c.batch_size, c.momentum, c.weight_decay, c.lr) == (128, 0.9, 0.0005, 0.01)
    assert c.schedule == "plateau" and (PLATEAU_FACTOR, MAX_LR_DROPS) == (0.1, 3)
    assert TrainConfig.from_dict(c.as_dict()) == c


@pytest.mark.parametrize("field, value", [("batch_size", 0), ("schedule", "linear"),
                                          ("precision", "fp8"), ("lr", -1.0),
                                          ("micro_batch", 0), ("augment", "mixup"),
                                          ("optimizer", "lbfgs"), ("momentum", 1.0),
                                          ("weight_decay", -1e-4), ("val_every_steps", 0)])
def test_config_rejects_bad_values_naming_the_field(field, value):
    with pytest.raises(ValueError, match=f"TrainConfig.{field}="):
        TrainConfig(**{field: value})


def test_config_from_dict_names_unknown_fields():
    with pytest.raises(ValueError, match="warp_speed"):
        TrainConfig.from_dict({"warp_speed": 9})


def test_sgd_step_follows_the_momentum_and_weight_decay_rule():
    torch.manual_seed(0)
    model = nn.Linear(3, 2)
    w0 = model.weight.detach().clone()
    opt = make_optimizer(model, TrainConfig(lr=0.1, momentum=0.9, weight_decay=0.01), torch.device("cpu"))
    grads = [torch.randn(2, 3) for _ in range(3)]
    w, v = w0.clone(), torch.zeros(2, 3)
    for g in grads:
        model.weight.grad = g.clone()
        model.bias.grad = torch.zeros(2)
        opt.step()
        # the paper's rule (FACTS.md §4.3) with ε fixed: v ← 0.9 v − λ ε w − ε g ; w ← w + v.
        v = 0.9 * v - 0.01 * 0.1 * w - 0.1 * g
        w = w + v
    torch.testing.assert_close(model.weight.detach(), w, rtol=1e-5, atol=1e-6)


def test_adamw_step_follows_the_decoupled_weight_decay_rule():
    torch.manual_seed(0)
    model = nn.Linear(3, 2)
    w = model.weight.detach().clone()
    cfg = TrainConfig(optimizer="adamw", lr=0.01, momentum=0.8, weight_decay=0.05)
    opt = make_optimizer(model, cfg, torch.device("cpu"))
    assert isinstance(opt, torch.optim.AdamW)
    m, v = torch.zeros(2, 3), torch.zeros(2, 3)
    for t in range(1, 4):
        g = torch.randn(2, 3)
        model.weight.grad, model.bias.grad = g.clone(), torch.zeros(2)
        opt.step()
        # Loshchilov & Hutter (2019), Alg. 2 with β₁ = momentum: the decay multiplies w
        # directly and never enters the moment estimates
        w = w * (1 - 0.01 * 0.05)
        m, v = 0.8 * m + 0.2 * g, 0.999 * v + 0.001 * g * g
        m_hat, v_hat = m / (1 - 0.8 ** t), v / (1 - 0.999 ** t)
        w = w - 0.01 * m_hat / (v_hat.sqrt() + 1e-8)
    torch.testing.assert_close(model.weight.detach(), w, rtol=1e-5, atol=1e-6)


def test_plateau_divides_by_ten_after_patience_at_most_three_times():
    s = LRSchedule(TrainConfig(lr=0.01), steps_per_epoch=5)
    errors = [0.9, 0.8, 0.8, 0.8, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7]
    drops = [s.epoch_end(e) for e in errors]
    # improvements at epochs 0, 1, 4; two epochs without improvement → ÷10 (epochs 3, 6, 8);
    # then no more drops: the paper divided three times (FACTS.md §4.3)
    assert [i for i, d in enumerate(drops) if d] == [3, 6, 8]
    assert s.lr_at(0) == pytest.approx(0.01 * 1e-3)


def test_cosine_and_onecycle_shapes():
    cos = LRSchedule(TrainConfig(lr=1.0, epochs=4, schedule="cosine"), steps_per_epoch=10)
    assert cos.lr_at(0) == 1.0 and cos.lr_at(20) == pytest.approx(0.5) and cos.lr_at(40) == pytest.approx(0)
    one = LRSchedule(TrainConfig(lr=1.0, epochs=10, schedule="onecycle"), steps_per_epoch=10)
    assert one.lr_at(0) == pytest.approx(1 / 25) and one.lr_at(30) == pytest.approx(1.0)
    assert one.lr_at(100) == pytest.approx(1e-4)
    assert not cos.epoch_end(0.1)  # the plateau rule acts only under schedule="plateau"


# --------------------------------------------------------------------------------------------
# fit


def test_fit_learns_and_records_history(data, tmp_path):
    (train, val) = data
    model = tiny_net()
    history = fit(model, train, val, config(epochs=2, out_dir=str(tmp_path)))
    assert list(history.columns) == list(HISTORY_COLUMNS)
    assert history["epoch"].tolist() == [1, 2]
    assert (history["images"] == len(train[1])).all()  # every training image once per epoch
    assert history[["train_top1_error", "val_top1_error"]].stack().between(0, 1).all()
    assert history["val_top5_error"].eq(0).all()  # 4 classes: the true one is always in the top 5
    assert history["val_top1_error"].iloc[-1] < 1 - 1 / NUM_CLASSES  # clearly learned something
    assert history.attrs["checkpoint"] == str(tmp_path / "last.pt")
    assert history.attrs["precision"] == "fp32" and history.attrs["world_size"] == 1
    # 6 × MACs of the network at the crop size (course_lib.models.summary counts the MACs)
    assert history.attrs["flops_per_image"] > 0 and history["tflops"].gt(0).all()
    saved = pd.read_csv(tmp_path / "history.csv")
    np.testing.assert_allclose(saved["val_top1_error"], history["val_top1_error"])
    payload = load_checkpoint(tmp_path / "last.pt")
    assert payload["epoch"] == 2 and payload["config"]["batch_size"] == 8
    # what the position counts in (32 images in batches of 8), checked by every resume
    data_record = dict(payload["data"])
    assert len(data_record.pop("fingerprint")) == 16
    assert data_record == {"train_images": 32, "steps_per_epoch": 4}
    assert payload["resolved"] == {"crop_size": 28, "precision": "fp32"}
    assert (payload["step_in_epoch"], payload["global_step"], payload["partial"]) == (0, 8, None)
    assert_same_weights(payload["model"], model.state_dict())


def test_fit_takes_a_split_and_crops_by_the_papers_ratio(data):
    (train, val) = data
    split = SimpleNamespace(images=val[0], labels=val[1])  # anything with .images and .labels
    history = fit(tiny_net(), train, split, config(epochs=1, crop_size=None))
    assert history.attrs["crop_size"] == 28  # 7/8 of 32 px, the paper's 224/256
    assert history["images"].tolist() == [len(train[1])]


def test_fit_rejects_what_is_not_uint8_arrays(data):
    images, labels = data[0]
    with pytest.raises(ValueError, match="train_data: images must be uint8"):
        fit(tiny_net(), (images.astype(np.float32), labels), None, config(epochs=1))
    with pytest.raises(ValueError, match="val_data: expected .images, labels. arrays.*got list"):
        fit(tiny_net(), data[0], [data[1]], config(epochs=1))


def test_fit_restores_global_determinism_flags(data):
    before = torch.are_deterministic_algorithms_enabled()
    fit(tiny_net(), data[0], None, config(epochs=1, deterministic=True))
    assert torch.are_deterministic_algorithms_enabled() == before


def test_fit_collects_all_garbage_once_per_run_not_per_epoch(data, monkeypatch):
    # a full collection walks every object of the process (0.2 s with PyTorch's compiler
    # imported): once per epoch it cost notebook 10 a minute per run of many tiny epochs
    import course_lib.memory as memory

    calls = []
    monkeypatch.setattr(memory.gc, "collect", lambda *generation: calls.append(generation) or 0)
    fit(tiny_net(), data[0], None, config(epochs=5, lr=0.005))
    full = [c for c in calls if c in ((), (2,))]
    assert len(full) == 1, calls
    assert len(calls) == 6, calls  # and still one young collection (with the trim) per epoch


def test_progress_into_a_log_file_is_one_line_per_epoch(data, capsys):
    # capsys's stderr is not a terminal (nor is this a notebook): no bar redrawn per batch with
    # carriage returns, only each epoch's summary line
    fit(tiny_net(), data[0], data[1], config(epochs=2, progress=True, log_every=1))
    err = capsys.readouterr().err
    assert "\r" not in err and "batch/s" not in err and "it/s" not in err
    lines = err.splitlines()
    assert [line.split(":")[0] for line in lines] == ["epoch 1/2", "epoch 2/2"], lines
    assert all("train loss" in line and "val top-1" in line for line in lines)


@pytest.mark.slow
def test_a_training_step_never_waits_for_the_device(data, monkeypatch):
    # every way the training core (course_lib/train) can read a tensor's value on the host;
    # between two "step" callbacks (log_every and checkpoints out of reach) it must not. (The
    # augmentation's crop offsets are drawn on a CPU generator: reading them is no device sync.)
    import sys
    from pathlib import Path

    import course_lib.train

    core = str(Path(course_lib.train.__file__).parent)
    calls = []
    for name in ("item", "tolist", "cpu", "numpy", "__bool__", "__float__", "__int__"):
        original = getattr(torch.Tensor, name)

        def counted(self, *args, _original=original, _name=name, **kwargs):
            caller = sys._getframe(1).f_code.co_filename
            if caller.startswith(core):
                calls.append(f"{_name} in {Path(caller).name}:{sys._getframe(1).f_lineno}")
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, counted)
    counts = []
    fit(tiny_net(), data[0], None, config(epochs=1, log_every=1000),
        callbacks=lambda event, info: counts.append(len(calls)))
    steps = counts[:-1]  # the "step" callbacks; the last one is the epoch's
    assert len(steps) == 4
    assert steps[2] == steps[0], calls[steps[0]:steps[2]]  # steps 2 and 3 of 4
    assert calls, "the counting itself works: the epoch's end reads the sums"


# --------------------------------------------------------------------------------------------
# exact resume


def interrupted_then_resumed(train, val, cfg: TrainConfig, out, stop_when):
    """Train until ``stop_when(event, info)`` is true (simulating a crash), then resume from
    ``out`` with a differently initialised network; returns ``(model, history)``."""

    def crash(event, info):
        if stop_when(event, info):
            raise Stop

    with pytest.raises(Stop):
        fit(tiny_net(), train, val, cfg.replace(out_dir=str(out)), callbacks=crash)
    model = tiny_net(seed=123)  # different initial weights: all must come from the file
    return model, fit(model, train, val, cfg.replace(out_dir=str(out), resume="auto"))


@pytest.mark.slow
@pytest.mark.parametrize("optimizer", ["sgd", "adamw"])
def test_stop_after_epoch_one_and_resume_equals_uninterrupted(data, tmp_path, optimizer):
    (train, val) = data
    # bf16 autocast where the CPU has it; AdamW's two moment buffers must round-trip too
    cfg = config(deterministic=True, precision="auto", optimizer=optimizer,
                 lr=0.02 if optimizer == "sgd" else 1e-3)
    reference = tiny_net()
    full = fit(reference, train, val, cfg.replace(out_dir=str(tmp_path / "a")))
    resumed_model, resumed = interrupted_then_resumed(
        train, val, cfg, tmp_path / "b", lambda event, info: event == "epoch" and info["epoch"] == 1)
    assert_same_weights(weights(resumed_model), weights(reference))
    exact = ["epoch", "lr", "train_loss", "train_top1_error", "val_loss", "val_top1_error"]
    pd.testing.assert_frame_equal(resumed[exact], full[exact])


def test_mid_epoch_checkpoint_resume_equals_uninterrupted(data, tmp_path, capsys):
    (train, _val) = data
    cfg = config(epochs=1, deterministic=True, checkpoint_every_steps=2)
    reference = tiny_net()
    full = fit(reference, train, None, cfg.replace(out_dir=str(tmp_path / "a")))
    steps_seen = []

    def crash_at_step_three(event, info):
        steps_seen.append(info.get("step"))
        return event == "step" and info["step"] == 3

    resumed, history = interrupted_then_resumed(train, None, cfg, tmp_path / "b", crash_at_step_three)
    assert steps_seen == [1, 2, 3]  # the crash came after the step-2 checkpoint
    assert "epoch 1, step 2 of 4" in capsys.readouterr().err  # resumed mid-epoch
    assert_same_weights(weights(resumed), weights(reference))
    assert history["images"].tolist() == [len(train[1])]  # the epoch's sums carried over
    exact = ["train_loss", "train_top1_error"]
    pd.testing.assert_frame_equal(history[exact], full[exact])


# --------------------------------------------------------------------------------------------
# a resume that cannot continue exactly is refused (or, if asked, starts a fresh schedule)


def stopped_mid_epoch(train, cfg: TrainConfig, out) -> None:
    """Train until step 3 of epoch 1 (a checkpoint was written at step 2), then crash."""

    def crash(event, info):
        if event == "step" and info["step"] == 3:
            raise Stop

    with pytest.raises(Stop):
        fit(tiny_net(), train, None, cfg.replace(out_dir=str(out), checkpoint_every_steps=2),
            callbacks=crash)


@pytest.mark.parametrize("new_batch", [16, 4])
def test_resume_with_another_batch_size_is_refused(data, tmp_path, new_batch):
    # the checkpoint's "step 2 of epoch 1" means 16 images at batch 8: at batch 16 it would skip
    # 16 unseen images, at batch 4 it would train 8 twice
    stopped_mid_epoch(data[0], config(), tmp_path)
    model = tiny_net(seed=9)
    before = weights(model)
    with pytest.raises(CheckpointError, match=f"batch_size 8 in the checkpoint, {new_batch} now"):
        fit(model, data[0], None, config(batch_size=new_batch, out_dir=str(tmp_path),
                                         resume="auto"))
    assert_same_weights(weights(model), before)  # refused before touching anything


def test_resume_with_another_number_of_training_images_is_refused(data, tmp_path):
    images, labels = data[0]
    fit(tiny_net(), (images, labels), None, config(epochs=1, out_dir=str(tmp_path)))
    with pytest.raises(CheckpointError, match="training images 32 in the checkpoint, 24 now"):
        fit(tiny_net(), (images[:24], labels[:24]), None,
            config(out_dir=str(tmp_path), resume="auto"))


@pytest.mark.parametrize("schedule", ["cosine", "onecycle"])
def test_resume_with_another_length_of_an_annealed_schedule_is_refused(data, tmp_path, schedule):
    # a cosine over 2 epochs stretched to 3 would not end at lr 0 as the checkpoint's run did
    stopped_mid_epoch(data[0], config(schedule=schedule), tmp_path)
    with pytest.raises(CheckpointError, match=r"epochs \(the length of the "
                       + schedule + r" schedule\) 2 in the checkpoint, 3 now"):
        fit(tiny_net(), data[0], None, config(schedule=schedule, epochs=3,
                                              out_dir=str(tmp_path), resume="auto"))
    fit(tiny_net(), data[0], None, config(epochs=1, out_dir=str(tmp_path / "p")))
    with pytest.raises(CheckpointError, match="schedule 'plateau' in the checkpoint, "
                       f"'{schedule}' now"):
        fit(tiny_net(), data[0], None, config(schedule=schedule, out_dir=str(tmp_path / "p"),
                                              resume="auto"))


@pytest.mark.slow
def test_more_epochs_of_a_plateau_schedule_continue_exactly(data, tmp_path):
    # the plateau (and constant) schedules do not depend on the run's length: a run of one
    # epoch extended to two equals a run of two
    cfg = config(deterministic=True)
    reference = tiny_net()
    full = fit(reference, data[0], data[1], cfg)
    fit(tiny_net(), data[0], data[1], cfg.replace(epochs=1, out_dir=str(tmp_path)))
    model = tiny_net(seed=5)
    extended = fit(model, data[0], data[1], cfg.replace(out_dir=str(tmp_path), resume="auto"))
    assert_same_weights(weights(model), weights(reference))
    pd.testing.assert_frame_equal(extended[["lr", "train_loss", "val_loss"]],
                                  full[["lr", "train_loss", "val_loss"]])


def test_a_checkpoint_that_does_not_record_its_data_is_refused(data, tmp_path):
    fit(tiny_net(), data[0], None, config(epochs=1, out_dir=str(tmp_path)))
    payload = load_checkpoint(tmp_path / "last.pt")
    del payload["data"], payload["format"]  # as an older course_lib wrote it
    save_checkpoint(payload, tmp_path / "last.pt")
    with pytest.raises(CheckpointError, match="older course_lib.*resume_mismatch='weights'"):
        fit(tiny_net(), data[0], None, config(out_dir=str(tmp_path), resume="auto"))


@pytest.mark.slow
def test_resume_mismatch_weights_starts_a_fresh_schedule_from_the_weights(data, tmp_path, capsys):
    train = data[0]
    stopped_mid_epoch(train, config(deterministic=True), tmp_path / "old")
    cfg = config(deterministic=True, batch_size=16, schedule="cosine")
    # what it must equal: the saved weights loaded by hand, then a fresh run
    reference = tiny_net(seed=7)
    reference.load_state_dict(load_checkpoint(tmp_path / "old" / "last.pt")["model"])
    expected = fit(reference, train, None, cfg)
    capsys.readouterr()

    model = tiny_net(seed=8)
    history = fit(model, train, None, cfg.replace(out_dir=str(tmp_path / "old"), resume="auto",
                                                  resume_mismatch="weights"))
    err = capsys.readouterr().err
    assert "batch_size 8 in the checkpoint, 16 now" in err
    assert "starts a fresh schedule at epoch 1 from its weights" in err
    assert history["epoch"].tolist() == [1, 2]
    # a new cosine over 2 × 2 steps: epoch 1 ends at its step 1, not at the old run's step 5
    assert history["lr"].iloc[0] == pytest.approx(0.02 * 0.5 * (1 + math.cos(math.pi / 4)))
    assert_same_weights(weights(model), weights(reference))
    pd.testing.assert_frame_equal(history[["lr", "train_loss"]], expected[["lr", "train_loss"]])


@pytest.mark.slow
def test_resume_mismatch_weights_continues_its_own_checkpoint_exactly(data, tmp_path, capsys):
    # a restart (torchrun, --resume auto) of a fresh-schedule run must not start over again
    train = data[0]
    stopped_mid_epoch(train, config(deterministic=True), tmp_path / "run")
    cfg = config(deterministic=True, batch_size=16, out_dir=str(tmp_path / "run"),
                 resume="auto", resume_mismatch="weights")
    uninterrupted = tiny_net()
    (tmp_path / "copy").mkdir()
    (tmp_path / "copy" / "last.pt").write_bytes((tmp_path / "run" / "last.pt").read_bytes())
    fit(uninterrupted, train, None, cfg.replace(out_dir=str(tmp_path / "copy")))

    def crash(event, info):
        if event == "epoch" and info["epoch"] == 1:
            raise Stop

    with pytest.raises(Stop):
        fit(tiny_net(), train, None, cfg, callbacks=crash)
    capsys.readouterr()
    model = tiny_net(seed=3)
    history = fit(model, train, None, cfg)
    assert "resumed from" in capsys.readouterr().err
    assert history["epoch"].tolist() == [1, 2]
    assert_same_weights(weights(model), weights(uninterrupted))


# --------------------------------------------------------------------------------------------
# checkpoint safety


@pytest.mark.parametrize("name, resume, write, refusal", [
    ("last.pt", "auto", lambda path: path.write_bytes(b"PK\x03\x04 this is not a whole checkpoint"),
     "not a readable checkpoint"),
    ("weights.pt", None, lambda path: torch.save({"state_dict": tiny_net().state_dict()}, path),
     "not a course_lib.train checkpoint"),
])
def test_a_corrupt_or_foreign_checkpoint_is_a_clear_error_and_left_alone(data, tmp_path, name,
                                                                         resume, write, refusal):
    path = tmp_path / name
    write(path)
    before = path.read_bytes()
    with pytest.raises(CheckpointError, match=re.escape(str(path)) + ".*" + refusal):
        fit(tiny_net(), data[0], None, config(out_dir=str(tmp_path), resume=resume or str(path)))
    assert path.read_bytes() == before


def test_loading_never_unpickles_code(tmp_path):
    # weights_only=True: a checkpoint holding an arbitrary object is refused, not executed
    path = save_checkpoint({"model": {}, "payload": Stop("x")}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(path)


def test_a_good_checkpoint_is_never_overwritten_by_a_fresh_run(data, tmp_path):
    fit(tiny_net(), data[0], None, config(epochs=1, out_dir=str(tmp_path)))
    before = (tmp_path / "last.pt").read_bytes()
    with pytest.raises(CheckpointError, match="resume='auto'"):
        fit(tiny_net(), data[0], None, config(epochs=1, out_dir=str(tmp_path)))
    assert (tmp_path / "last.pt").read_bytes() == before


def test_checkpoint_for_another_model_is_a_clear_error(data, tmp_path):
    fit(tiny_net(), data[0], None, config(epochs=1, out_dir=str(tmp_path)))
    torch.manual_seed(0)
    other = alexnet("scaled", num_classes=7, width=0.125, input_size=28)
    with pytest.raises(CheckpointError, match="do not fit this model"):
        fit(other, data[0], None, config(epochs=2, out_dir=str(tmp_path), resume="auto"))


def test_random_states_round_trip_through_a_checkpoint_file(tmp_path):
    """Every stream rng_state captures draws the same numbers again after restore_rng_state,
    also after a save/load (weights_only) round trip."""
    import random

    from course_lib.train.checkpoint import restore_rng_state, rng_state

    def draws(gen):
        return (random.random(), np.random.rand(), np.random.randn(), torch.rand(3).tolist(),
                torch.rand(2, generator=gen).tolist())

    gen = torch.Generator().manual_seed(5)
    np.random.randn()  # leave a cached Gaussian in NumPy's legacy state
    path = save_checkpoint({"rng": [rng_state(gen)]}, tmp_path / "rng.pt")
    first = draws(gen)
    assert draws(gen) != first  # the streams moved on
    restore_rng_state(load_checkpoint(path)["rng"][0], gen, path)
    assert draws(gen) == first


# --------------------------------------------------------------------------------------------
# divergence and out-of-memory


class NaNFrom(nn.Module):
    """Wraps a network; from its ``start``-th call on, its outputs are NaN."""

    def __init__(self, net: nn.Module, start: int):
        super().__init__()
        self.net, self.start, self.calls = net, start, 0

    def forward(self, x):
        out = self.net(x)
        self.calls += self.training  # summarize()'s pass (eval mode) does not count
        return out * float("nan") if self.calls > self.start else out


def test_nan_loss_stops_naming_the_step_and_a_lower_lr(data):
    model = NaNFrom(tiny_net(), start=2)  # steps 0 and 1 are fine, step 2 gives NaN
    with pytest.raises(TrainingDiverged) as err:
        fit(model, data[0], None, config(epochs=1, log_every=10, lr=0.05))
    message = str(err.value)
    assert "nan at step 2 (epoch 1, batch 3 of 4)" in message
    assert "lr=0.005" in message and "lower learning rate" in message


def test_exploding_loss_stops_training(data):
    with pytest.raises(TrainingDiverged, match=r"at step \d+ .*lr="):
        fit(tiny_net(dropout=0.0), data[0], None, config(epochs=3, lr=1e4, log_every=1))


class OOMAbove(nn.Module):
    """Wraps a network and raises CUDA's out-of-memory error for batches above ``limit``."""

    def __init__(self, net: nn.Module, limit: int):
        super().__init__()
        self.net, self.limit, self.sizes = net, limit, []

    def forward(self, x):
        self.sizes.append(len(x))
        if len(x) > self.limit:
            raise torch.cuda.OutOfMemoryError(f"fake: {len(x)} images do not fit")
        return self.net(x)


def oom_step(wrapped: OOMAbove, cfg: TrainConfig) -> TrainStep:
    """A one-process fp32 CPU :class:`TrainStep` of ``wrapped``; its notes go to stdout."""
    opt = make_optimizer(wrapped, cfg, torch.device("cpu"))
    return TrainStep(wrapped, wrapped, opt, torch.amp.GradScaler("cpu", enabled=False), None,
                     torch.device("cpu"), cfg, 32, torch.Generator().manual_seed(0), notify=print)


def test_out_of_memory_halves_the_micro_batch_and_keeps_the_step(capsys):
    cfg = config(augment="none", crop_size=32)
    images, labels = (torch.from_numpy(a) for a in colour_data(4))  # one batch of 16
    results = []
    for limit in (16, 4):
        net = tiny_net(dropout=0.0)
        wrapped = OOMAbove(net, limit)
        step = oom_step(wrapped, cfg)
        loss, correct = step(images, labels, 1 / 16)
        results.append((weights(net), float(loss), int(correct), step.micro_batch, wrapped.sizes))
    (w_full, loss_full, correct_full, _, _), (w_oom, loss_oom, correct_oom, micro, sizes) = results
    assert micro == 4 and sizes == [16, 8, 4, 4, 4, 4]  # 16 fails, 8 fails, then 4 × 4
    out = capsys.readouterr().out
    assert "halving the batch the model sees to 8" in out and "to 4" in out
    # gradient accumulation over the micro-batches gives the same optimiser step
    assert loss_oom == pytest.approx(loss_full, rel=1e-5) and correct_oom == correct_full
    for key in w_full:
        torch.testing.assert_close(w_oom[key], w_full[key], rtol=1e-4, atol=1e-6)


def test_out_of_memory_with_one_image_is_an_error():
    step = oom_step(OOMAbove(tiny_net(), 0), config(augment="none", crop_size=32, micro_batch=1))
    images, labels = (torch.from_numpy(a) for a in colour_data(1))
    with pytest.raises(RuntimeError, match="even with one image"):
        step(images, labels, 1.0)


@pytest.mark.slow
def test_fit_continues_after_out_of_memory(data, capsys):
    wrapped = OOMAbove(tiny_net(), 4)
    history = fit(wrapped, data[0], None, config(epochs=1))
    assert history["images"].tolist() == [len(data[0][1])]
    assert "CUDA out of memory with 8 images at once" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------
# throughput and plots


def test_flops_per_image_achieved_tflops_and_peak_lookup(monkeypatch):
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Flatten(), nn.Linear(4 * 8 * 8, 5))
    macs = 4 * 8 * 8 * 3 * 3 * 3 + 4 * 8 * 8 * 5  # conv: out elements × C_in k²; linear: in × out
    assert training_flops_per_image(model, 8) == 6 * macs
    assert peak_tflops("cpu", torch.bfloat16) is None
    # 1,000 images/s × 6 GFLOP each = 6 TFLOP/s; no FLOP count, no figure
    assert achieved_tflops(1000.0, 6e9) == pytest.approx(6.0)
    assert achieved_tflops(1000.0, None) is None
    # NVIDIA data sheets, dense 16-bit: H100 PCIe 756, H100 SXM 989 TFLOP/s; the PCIe name
    # also contains "H100", so the more specific entry must win
    names = {"cuda:0": "NVIDIA H100 PCIe", "cuda:1": "NVIDIA H100 80GB HBM3", "cuda:2": "Tesla K80"}
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device: names[str(device)])
    assert peak_tflops("cuda:0", torch.bfloat16) == 756.0
    assert peak_tflops("cuda:1", torch.float16) == 989.0
    assert peak_tflops("cuda:2", torch.float16) is None  # not in the table: not guessed
    assert peak_tflops("cuda:1", None) is None  # fp32 has no tensor-core peak here


def test_plot_history_draws_loss_and_error(data):
    import matplotlib

    matplotlib.use("Agg")
    history = pd.DataFrame({"epoch": [1, 2, 3], "lr": [0.01, 0.01, 0.001],
                            "train_loss": [2.0, 1.5, 1.0], "train_top1_error": [0.8, 0.6, 0.4],
                            "val_loss": [2.1, 1.7, 1.2], "val_top1_error": [0.85, 0.7, 0.5],
                            "val_top5_error": [0.5, 0.3, 0.2]})
    fig = plot_history(history)
    loss_ax, err_ax = fig.axes
    assert len(loss_ax.lines) == 2 + 1 and len(err_ax.lines) == 3 + 1  # curves + the lr-drop line
    np.testing.assert_allclose(err_ax.lines[1].get_ydata(), [0.85, 0.7, 0.5])
    with pytest.raises(ValueError, match="train_loss"):
        plot_history(history.drop(columns="train_loss"))
    assert math.isclose(loss_ax.lines[-1].get_xdata()[0], 3)
    # validations within the epochs (fit's val_every_steps) join the curve at their epochs
    history.attrs["steps"] = pd.DataFrame({
        "step": [5, 10, 15], "epoch": [0.5, 1.0, 1.5], "lr": [0.01] * 3,
        "train_loss": [2.5, 2.0, 1.7], "train_top1_error": [0.9, 0.8, 0.7],
        "val_loss": [2.4, 2.2, 1.9], "val_top1_error": [0.9, 0.86, 0.75],
        "val_top5_error": [0.6, 0.5, 0.4]})
    err_ax = plot_history(history).axes[1]
    np.testing.assert_allclose(err_ax.lines[1].get_xdata(), [0.5, 1, 1.5, 2, 3])
    np.testing.assert_allclose(err_ax.lines[1].get_ydata(), [0.9, 0.85, 0.75, 0.7, 0.5])


def test_a_one_cycle_runs_last_epoch_is_not_marked_as_a_learning_rate_drop(data):
    """One-cycle ends near zero, so its last epoch's rate is far below the one before: the
    schedule fit records keeps that from being drawn as a step."""
    import matplotlib

    matplotlib.use("Agg")
    history = pd.DataFrame({"epoch": [1, 2], "lr": [0.027, 4e-7], "train_loss": [2.2, 1.1],
                            "train_top1_error": [0.8, 0.5]})
    assert len(plot_history(history).axes[0].lines) == 1 + 1  # unknown schedule: marked
    history.attrs["schedule"] = "onecycle"
    assert len(plot_history(history).axes[0].lines) == 1  # the curve alone
    history.attrs["schedule"] = "plateau"
    assert len(plot_history(history).axes[0].lines) == 1 + 1
    # read back without its schedule, the rates within the epochs tell: one per step here
    del history.attrs["schedule"]
    history.attrs["steps"] = pd.DataFrame({"step": [1, 2, 3, 4], "epoch": [0.5, 1.0, 1.5, 2.0],
                                           "lr": [0.01, 0.027, 0.012, 4e-7],
                                           "train_loss": [2.5, 2.2, 1.5, 1.1],
                                           "train_top1_error": [0.9, 0.8, 0.6, 0.5]})
    assert len(plot_history(history).axes[0].lines) == 1
    history.attrs["steps"]["lr"] = [0.027, 0.027, 4e-7, 4e-7]  # constant within each epoch
    assert len(plot_history(history).axes[0].lines) == 1 + 1
    (train, val) = data
    fitted = fit(tiny_net(), train, val, config(epochs=1, schedule="onecycle"))
    assert fitted.attrs["schedule"] == "onecycle"


@pytest.mark.slow
def test_a_mid_epoch_resume_reads_only_the_batches_it_trains_on(data, tmp_path, monkeypatch):
    # resuming at step 2 of 4 must not copy the two batches before the checkpoint out of the
    # array again (at ILSVRC scale that was hundreds of GB read before the first step)
    from course_lib.datasets.loader import UInt8Loader

    (train, _val) = data
    cfg = config(epochs=1, deterministic=True)
    stopped_mid_epoch(train, cfg, tmp_path)
    taken = []
    original = UInt8Loader._take

    def counting(self, idx):
        if self.shuffle:  # the training loader (validation is off here)
            taken.append(len(idx))
        return original(self, idx)

    monkeypatch.setattr(UInt8Loader, "_take", counting)
    fit(tiny_net(), train, None, cfg.replace(out_dir=str(tmp_path), resume="auto",
                                             checkpoint_every_steps=2))
    steps = math.ceil(len(train[1]) / cfg.batch_size)
    assert steps == 4 and len(taken) == steps - 2, taken


def test_a_loader_starts_at_a_batch_without_reading_the_ones_before(data):
    from course_lib.datasets.loader import UInt8Loader

    images, labels = data[0]
    loader = UInt8Loader(images, labels, 8, seed=3)
    loader.set_epoch(2)
    whole = [b[1].tolist() for b in loader]
    assert [b[1].tolist() for b in loader.batches(2)] == whole[2:]
    assert list(loader.batches(len(whole))) == []
    with pytest.raises(ValueError, match="start=-1"):
        next(loader.batches(-1))


@pytest.mark.slow
def test_a_model_that_cannot_be_summarised_is_said_not_silent(data, monkeypatch):
    import course_lib.train.throughput as throughput
    from course_lib.errors import CourseWarning

    def broken(*args, **kwargs):
        raise RuntimeError("a layer the counter does not know")

    monkeypatch.setattr(throughput, "summarize", broken)  # the layer walk fit's counter uses
    with pytest.warns(CourseWarning, match="TFLOP/s will not be reported.*does not know"):
        history = fit(tiny_net(), data[0], None, config(epochs=1))
    assert history.attrs["flops_per_image"] is None and history["tflops"].isna().all()


@pytest.mark.slow
def test_validation_every_n_steps_gives_a_curve_with_more_points(data, tmp_path):
    train, val = data
    cfg = config(epochs=2, deterministic=True, val_every_steps=2)
    history = fit(tiny_net(), train, val, cfg)
    steps = history.attrs["steps"]
    assert steps["step"].tolist() == [2, 4, 6, 8]  # 4 steps per epoch
    assert steps["epoch"].tolist() == [0.5, 1.0, 1.5, 2.0]
    # at an epoch's last step the weights are the epoch row's: the same validation figures
    for epoch in (1, 2):
        at_end = steps[steps["epoch"] == epoch].iloc[0]
        row = history[history["epoch"] == epoch].iloc[0]
        assert at_end["val_top1_error"] == row["val_top1_error"]
        assert at_end["val_loss"] == pytest.approx(row["val_loss"])
    # scoring the validation set changes no weight: the same run without it ends identically
    plain, with_curve = tiny_net(), tiny_net()
    fit(plain, train, val, cfg.replace(val_every_steps=None))
    fit(with_curve, train, val, cfg)
    assert_same_weights(weights(plain), weights(with_curve))
    # without validation data the rows keep the running training figures: a training curve
    seen = []
    history = fit(tiny_net(), train, None, cfg,
                  callbacks=lambda event, info: seen.append(info["row"]) if event == "step" else 0)
    steps = history.attrs["steps"]
    assert steps["step"].tolist() == [2, 4, 6, 8] and steps["val_top1_error"].isna().all()
    ends = steps[steps["epoch"].isin([1.0, 2.0])]["train_top1_error"].tolist()
    assert ends == pytest.approx(history["train_top1_error"].tolist())  # the epoch's own error
    assert [row is not None for row in seen] == [False, True] * 4  # each row, as it is recorded
    assert [row["step"] for row in seen if row] == [2, 4, 6, 8]


@pytest.mark.slow
def test_the_step_curve_survives_a_resume(data, tmp_path):
    train, val = data
    cfg = config(epochs=2, deterministic=True, val_every_steps=2)
    whole = fit(tiny_net(), train, val, cfg.replace(out_dir=str(tmp_path / "a")))

    def crash(event, info):
        if event == "step" and info["step"] == 7:
            raise Stop

    with pytest.raises(Stop):
        fit(tiny_net(), train, val, cfg.replace(out_dir=str(tmp_path / "b"),
                                                checkpoint_every_steps=2), callbacks=crash)
    resumed = fit(tiny_net(), train, val, cfg.replace(out_dir=str(tmp_path / "b"),
                                                      checkpoint_every_steps=2, resume="auto"))
    pd.testing.assert_frame_equal(resumed.attrs["steps"], whole.attrs["steps"])


def test_the_loop_stays_readable():
    # issue 21's target: the loop class under 250 lines, its module under 350
    import inspect

    from course_lib.train import loop

    assert len(inspect.getsource(loop._Run).splitlines()) < 250
    assert len(inspect.getsource(loop).splitlines()) < 350
