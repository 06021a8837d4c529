"""The one resume rule, field by field: a resume continues exactly, or is refused naming the
field, the checkpoint's value and the new one (course_lib.train.resume.RESUME_RULES)."""

from __future__ import annotations

import dataclasses
import re
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
from test_train import Stop, assert_same_weights, colour_data, config, tiny_net, weights

from course_lib.datasets.augment import IMAGENET_MEAN, IMAGENET_STD
from course_lib.train import CheckpointError, TrainConfig, fit, load_checkpoint
from course_lib.train.resume import RESUME_RULES, resume_mismatches

BASE = config(deterministic=True)  # epochs 2, batch 8 of 32 images, crop 28, fp32, SGD, plateau


@pytest.fixture(scope="module")
def data():
    return colour_data(8), colour_data(4, seed=1)


@pytest.fixture(scope="module")
def mid_epoch(data, tmp_path_factory) -> bytes:
    """A checkpoint at step 2 of 4 of epoch 1 (BASE, with validation), as bytes."""
    out = tmp_path_factory.mktemp("mid")

    def crash(event, info):
        if event == "step" and info["step"] == 3:
            raise Stop

    with pytest.raises(Stop):
        fit(tiny_net(), data[0], data[1], BASE.replace(out_dir=str(out), checkpoint_every_steps=2),
            callbacks=crash)
    return (out / "last.pt").read_bytes()


def placed(tmp_path, checkpoint: bytes):
    """``tmp_path/last.pt`` holding ``checkpoint``; returns its path."""
    path = tmp_path / "last.pt"
    path.write_bytes(checkpoint)
    return path


def test_every_config_field_has_a_resume_rule():
    # a new TrainConfig field must be classified (must match on resume, or may differ)
    assert sorted(RESUME_RULES) == sorted(f.name for f in dataclasses.fields(TrainConfig))
    assert all(why for _rule, why in RESUME_RULES.values())


@pytest.mark.parametrize("field, value, theirs, now", [
    ("seed", 1, "0", "1"),
    ("weight_decay", 1e-3, "0.0005", "0.001"),
    ("momentum", 0.8, "0.9", "0.8"),
    ("augment", "none", "'crop_flip'", "'none'"),
    ("crop_size", 24, "28", "24"),
    ("precision", "bf16", "'fp32'", "'bf16'"),
    ("optimizer", "adamw", "'sgd'", "'adamw'"),
    ("lr", 0.01, "0.02", "0.01"),
    ("schedule", "constant", "'plateau'", "'constant'"),
    ("grad_clip", 1.0, "None", "1.0"),
    ("pca_color", 0.1, "0.0", "0.1"),
    ("mean", (0.5, 0.5, 0.5), repr(list(IMAGENET_MEAN)), "[0.5, 0.5, 0.5]"),
    ("std", (0.2, 0.2, 0.2), repr(list(IMAGENET_STD)), "[0.2, 0.2, 0.2]"),
])
def test_a_resume_that_changes_a_result_setting_is_refused(data, mid_epoch, tmp_path, field,
                                                           value, theirs, now):
    path = placed(tmp_path, mid_epoch)
    model = tiny_net(seed=9)
    before = weights(model)
    with pytest.raises(CheckpointError) as refused:
        fit(model, data[0], data[1], BASE.replace(out_dir=str(tmp_path), resume="auto",
                                                  **{field: value}))
    message = str(refused.value)
    assert str(path) in message
    assert f"{field} {theirs} in the checkpoint, {now} now" in message, message
    assert "resume_mismatch='weights'" in message  # and the way out
    assert_same_weights(weights(model), before)  # refused before touching anything
    assert (tmp_path / "last.pt").read_bytes() == mid_epoch


def test_other_images_of_the_same_count_are_refused(data, mid_epoch, tmp_path):
    # 32 images in batches of 8 either way: only the fingerprint tells the sets apart
    placed(tmp_path, mid_epoch)
    other = colour_data(8, seed=5)
    with pytest.raises(CheckpointError, match=r"training set fingerprint '[0-9a-f]{16}' in the "
                                              r"checkpoint, '[0-9a-f]{16}' now"):
        fit(tiny_net(), other, data[1], BASE.replace(out_dir=str(tmp_path), resume="auto"))


def test_an_adamw_checkpoint_resumed_as_sgd_is_refused_not_a_key_error(data, tmp_path):
    cfg = BASE.replace(optimizer="adamw", lr=1e-3, weight_decay=0.05)
    fit(tiny_net(), data[0], None, cfg.replace(epochs=1, out_dir=str(tmp_path)))
    with pytest.raises(CheckpointError) as refused:
        fit(tiny_net(), data[0], None, BASE.replace(out_dir=str(tmp_path), resume="auto"))
    message = str(refused.value)
    assert "optimizer 'adamw' in the checkpoint, 'sgd' now" in message
    assert "lr 0.001 in the checkpoint, 0.02 now" in message
    assert "weight_decay 0.05 in the checkpoint, 0.0005 now" in message


@pytest.mark.slow
def test_settings_that_do_not_change_the_result_may_differ(data, mid_epoch, tmp_path):
    # display, checkpoint cadence, the data's placement, the mismatch policy and determinism:
    # the resumed run still ends bitwise where the uninterrupted one does
    reference = tiny_net()
    full = fit(reference, data[0], data[1], BASE)
    placed(tmp_path, mid_epoch)
    model = tiny_net(seed=4)
    free = dict(log_every=1, progress=False, checkpoint_every_steps=3, data_on_device=False,
                resume_mismatch="weights", overwrite=True, deterministic=False)
    assert all(RESUME_RULES[k][0] == "free" for k in free)
    resumed = fit(model, data[0], data[1], BASE.replace(out_dir=str(tmp_path), resume="auto",
                                                        **free))
    assert_same_weights(weights(model), weights(reference))
    exact = ["epoch", "lr", "train_loss", "train_top1_error", "val_loss", "val_top1_error"]
    pd.testing.assert_frame_equal(resumed[exact], full[exact])
    # what the new checkpoint records is what was used
    payload = load_checkpoint(tmp_path / "last.pt")
    (group,) = payload["optimizer"]["param_groups"]
    assert (group["momentum"], group["weight_decay"]) == (0.9, 5e-4)
    assert (payload["config"]["momentum"], payload["config"]["weight_decay"]) == (0.9, 5e-4)


def test_weights_mode_uses_the_new_settings_and_records_them(data, mid_epoch, tmp_path, capsys):
    placed(tmp_path, mid_epoch)
    fit(tiny_net(), data[0], None, BASE.replace(out_dir=str(tmp_path), resume="auto",
                                                resume_mismatch="weights", weight_decay=1e-3,
                                                momentum=0.8, epochs=1))
    assert "momentum 0.9 in the checkpoint, 0.8 now" in capsys.readouterr().err
    payload = load_checkpoint(tmp_path / "last.pt")
    (group,) = payload["optimizer"]["param_groups"]
    assert (group["momentum"], group["weight_decay"]) == (0.8, 1e-3)
    assert (payload["config"]["momentum"], payload["config"]["weight_decay"]) == (0.8, 1e-3)


# --------------------------------------------------------------------------------------------
# the comparison itself, on hand-made records


def record(**config_changes) -> dict:
    cfg = TrainConfig(crop_size=None, precision="auto").replace(**config_changes)
    return {"config": cfg.as_dict(), "resolved": {"crop_size": 28, "precision": "fp32"},
            "data": {"train_images": 32, "steps_per_epoch": 4, "fingerprint": "ab" * 8}}


def test_values_that_resolve_the_same_are_the_same():
    # crop None (7/8 of 32 px) and precision "auto" (fp32 on this machine) as used = 28, fp32
    saved, ours = record(), record(crop_size=28, precision="fp32")
    assert resume_mismatches(saved, ours) == []
    ours["resolved"]["precision"] = "bf16"
    assert resume_mismatches(saved, ours) == ["precision 'fp32' in the checkpoint, 'bf16' now"]


def test_a_record_without_resolved_values_is_compared_as_asked():
    saved = record()
    del saved["resolved"]  # an older course_lib
    assert resume_mismatches(saved, record()) == []
    assert resume_mismatches(saved, record(precision="fp32")) == [
        "precision 'auto' in the checkpoint, 'fp32' now"]


def test_a_field_the_checkpoint_lacks_is_named_as_not_recorded():
    saved = record()
    del saved["config"]["seed"]
    assert resume_mismatches(saved, record()) == ["seed (not recorded) in the checkpoint, 0 now"]


def test_crafted_values_are_different_not_compared_elementwise():
    saved = record()
    saved["config"]["lr"] = torch.ones(3)  # a tensor where a number belongs
    saved["config"]["seed"] = True  # a bool is not the integer 1 (nor 0)
    reasons = resume_mismatches(saved, record())
    assert reasons == ["lr a tensor (3,) in the checkpoint, 0.01 now",
                       "seed True in the checkpoint, 0 now"]


def test_the_data_record_reports_the_cause_not_its_consequences():
    saved, ours = record(), record()
    ours["data"].update(train_images=24, steps_per_epoch=3, fingerprint="cd" * 8)
    assert resume_mismatches(saved, ours) == ["training images 32 in the checkpoint, 24 now"]
    ours = record(batch_size=64)
    ours["data"]["steps_per_epoch"] = 1
    assert resume_mismatches(saved, ours) == ["batch_size 128 in the checkpoint, 64 now"]


def test_an_annealed_schedule_names_its_length():
    saved = record(schedule="cosine", epochs=2)
    (reason,) = resume_mismatches(saved, record(schedule="cosine", epochs=3))
    assert re.fullmatch(r"epochs \(the length of the cosine schedule\) 2 in the checkpoint, 3 now",
                        reason)
    assert resume_mismatches(record(epochs=2), record(epochs=3)) == []  # plateau: extends


# --------------------------------------------------------------------------------------------
# the guarantee all of this protects: a process killed outright resumes bitwise


KILLED_SCRIPT = """
import os, signal, sys
sys.path.insert(0, {tests!r})
from test_train import colour_data, config, tiny_net
from course_lib.train import fit

def kill(event, info):
    if event == "step" and info["step"] == 3:  # after the step-2 checkpoint
        os.kill(os.getpid(), signal.SIGKILL)

fit(tiny_net(), colour_data(8), colour_data(4, seed=1),
    config(deterministic=True, checkpoint_every_steps=2, out_dir={out!r}), callbacks=kill)
"""


@pytest.mark.slow
def test_kill_9_mid_epoch_then_resume_equals_uninterrupted(data, tmp_path):
    tests = str(Path(__file__).resolve().parent)
    killed = subprocess.run([sys.executable, "-c", KILLED_SCRIPT.format(tests=tests,
                                                                        out=str(tmp_path))],
                            capture_output=True, text=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["history.csv", "last.pt"]
    reference = tiny_net()
    full = fit(reference, data[0], data[1], BASE)
    model = tiny_net(seed=11)
    resumed = fit(model, data[0], data[1], BASE.replace(out_dir=str(tmp_path), resume="auto"))
    assert_same_weights(weights(model), weights(reference))
    exact = ["epoch", "lr", "train_loss", "train_top1_error", "val_loss", "val_top1_error"]
    pd.testing.assert_frame_equal(resumed[exact], full[exact])
