"""``python -m course_lib train`` and the ``train`` benchmark (quick mode: well-formed, not fast)."""

from __future__ import annotations

import argparse
import errno
import json

import numpy as np
import pytest
import torch
from test_train import colour_data

from course_lib import reference
from course_lib.__main__ import main
from course_lib.bench import BENCHMARKS
from course_lib.commands import COMMANDS


def run_json(capsys, *argv) -> tuple[int, dict | None, str]:
    code = main(["train", *argv])
    captured = capsys.readouterr()
    return code, (json.loads(captured.out) if code == 0 else None), captured.err


@pytest.mark.slow
def test_train_synthnet_json(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "smoke")  # 8 classes × 24 images, 32 px, crop 28
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    out = tmp_path / "run"
    code, result, _ = run_json(capsys, "--dataset", "synthnet", "--epochs", "1", "--width",
                               "0.125", "--out", str(out), "--json")
    assert code == 0
    assert result["checkpoint"] == str(out / "last.pt") and (out / "last.pt").is_file()
    assert result["num_classes"] == 8 and result["chance_top1_error"] == pytest.approx(7 / 8)
    assert result["train_images"] == 8 * 24 and result["epochs"] == 1
    assert 0 <= result["val_top1_error"] <= 1 and result["crop_size"] == 28
    assert result["precision"] in ("bf16", "fp32") and result["world_size"] == 1


@pytest.mark.slow
def test_baseline_is_the_handcrafted_pipeline_on_the_same_centre_crops(capsys, tmp_path,
                                                                        monkeypatch):
    from course_lib.models.baselines import HandcraftedBaseline
    from course_lib.recipe import open_splits

    monkeypatch.setenv("COURSE_PROFILE", "smoke")
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    code, result, _ = run_json(capsys, "--dataset", "synthnet", "--epochs", "1", "--width",
                               "0.125", "--out", str(tmp_path / "run"), "--baseline", "--json")
    assert code == 0
    # the reference: the same splits, centre-cropped 32 → 28 by hand (offset 2), top-k by sorting
    # smoke: 8 classes at 32 px, 24 training and 8 validation images per class (profiles.py)
    data = open_splits("synthnet", 32, splits=("train", "val"), num_classes=8,
                       per_class={"train": 24, "val": 8, "test": 8}, seed=0)
    train, val = data.train, data.val
    crop = slice(2, 30)
    scores = HandcraftedBaseline().fit(train.images[:, :, crop, crop], train.labels).scores(
        val.images[:, :, crop, crop])
    ranked = np.argsort(-scores, axis=1)
    top1 = float(np.mean(ranked[:, 0] != val.labels))
    top5 = float(np.mean(~(ranked[:, :5] == val.labels[:, None]).any(axis=1)))
    assert result["baseline"]["val_top1_error"] == pytest.approx(top1)
    assert result["baseline"]["val_top5_error"] == pytest.approx(top5)
    assert "HOG" in result["baseline"]["method"] and top1 < 7 / 8  # it learns something
    # the paired comparison counts the same images the two error rates count
    b, c = result["baseline"]["only_network_wrong"], result["baseline"]["only_baseline_wrong"]
    assert (b - c) / len(val.labels) == pytest.approx(result["val_top1_error"] - top1)
    assert 0 < result["baseline"]["mcnemar_p"] <= 1


def test_baseline_too_big_is_refused_before_training(capsys, tmp_path, monkeypatch):
    from course_lib import comparison

    monkeypatch.setenv("COURSE_PROFILE", "smoke")
    monkeypatch.setattr(comparison, "BASELINE_MAX_IMAGES", 100)  # smoke has 8 × 24 = 192
    code, _, err = run_json(capsys, "--dataset", "synthnet", "--out", str(tmp_path / "run"),
                            "--baseline")
    assert code == 2 and "192 is more than 100" in err
    assert not (tmp_path / "run").exists()  # refused before any training


def test_baseline_without_validation_images_is_refused(capsys, tmp_path):
    from course_lib.datasets.cache import build_cache

    build_cache(colour_data(4), tmp_path / "c" / "train", 32, progress=False, workers=0)
    code, _, err = run_json(capsys, "--dataset", "mine", "--cache", str(tmp_path / "c"), "--size",
                            "32", "--out", str(tmp_path / "run"), "--baseline")
    assert code == 2 and "needs validation images" in err
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_adamw_from_the_command_line_gets_its_own_defaults(capsys, tmp_path, monkeypatch):
    from course_lib.profiles import get_profile

    monkeypatch.setenv("COURSE_PROFILE", "smoke")
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    code, result, _ = run_json(capsys, "--dataset", "synthnet", "--epochs", "1", "--width",
                               "0.125", "--out", str(tmp_path / "run"), "--optimizer", "adamw",
                               "--json")
    assert code == 0
    saved = torch.load(result["checkpoint"], weights_only=True)
    assert (saved["config"]["optimizer"], saved["config"]["lr"],
            saved["config"]["weight_decay"]) == ("adamw", 1e-3, 0.05)
    assert saved["config"]["schedule"] == get_profile("smoke").schedule == "onecycle"
    assert "exp_avg_sq" in saved["optimizer"]["state"][0]  # AdamW's second moment was saved


@pytest.mark.slow
def test_train_from_a_cache_renumbers_labels_and_resumes(capsys, tmp_path, monkeypatch):
    from course_lib.datasets.cache import build_cache

    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    images, labels = colour_data(6)
    sparse = np.array([3, 17, 250, 999])[labels]  # a 4-class subset labelled in the 0–999 index
    build_cache((images, sparse), tmp_path / "c" / "train", 32, progress=False, workers=0)
    build_cache((images[::3], sparse[::3]), tmp_path / "c" / "val", 32, progress=False, workers=0)
    argv = ["--dataset", "mine", "--cache", str(tmp_path / "c"), "--size", "32", "--crop", "28",
            "--model", "scaled", "--width", "0.125", "--batch-size", "8",
            "--schedule", "constant", "--out", str(tmp_path / "run")]
    code, result, _ = run_json(capsys, *argv, "--epochs", "1", "--json")
    assert code == 0 and result["num_classes"] == 4
    state = torch.load(result["checkpoint"], weights_only=True)["model"]
    head = [w for w in state.values() if w.ndim == 2][-1]  # the last fully connected layer
    assert head.shape[0] == 4  # a 4-way head, not 1000

    code, _, err = run_json(capsys, *argv, "--epochs", "2")
    assert code == 2 and "--resume auto" in err  # never silently overwrites the checkpoint
    code, result, err = run_json(capsys, *argv, "--epochs", "2", "--resume", "auto", "--json")
    assert code == 0 and result["epochs"] == 2 and "resumed from" in err  # constant: no length
    annealed = [a if a != "constant" else "onecycle" for a in argv]
    annealed[annealed.index("--out") + 1] = str(tmp_path / "run2")
    assert run_json(capsys, *annealed, "--epochs", "1", "--json")[0] == 0
    code, _, err = run_json(capsys, *annealed, "--epochs", "2", "--resume", "auto")
    assert code == 2 and "epochs" in err  # a one-cycle schedule would silently re-stretch
    code, result, err = run_json(capsys, *annealed, "--epochs", "2", "--resume", "auto",
                                 "--resume-mismatch", "weights", "--json")
    assert code == 0 and result["epochs"] == 2 and "fresh" in (err + str(result)).lower()


def test_train_without_a_cache_says_how_to_build_it(capsys, tmp_path):
    code, _, err = run_json(capsys, "--dataset", "imagenette2-160", "--size", "160",
                            "--out", str(tmp_path))
    assert code == 2
    assert "python -m course_lib prepare imagenette2-160 --size 160" in err


def test_train_is_registered():
    assert "train" in COMMANDS and "train" in BENCHMARKS


def test_an_unknown_dataset_names_the_known_ones(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "smoke")
    code, _, err = run_json(capsys, "--dataset", "nosuchset", "--out", str(tmp_path / "run"))
    assert code == 2
    assert "unknown dataset 'nosuchset'" in err and "synthnet" in err and "cifar10" in err


def test_a_synthnet_size_out_of_range_is_an_error_not_a_clamp(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "smoke")
    code, _, err = run_json(capsys, "--dataset", "synthnet", "--size", "16",
                            "--out", str(tmp_path / "run"))
    assert code == 2 and "image_size=16" in err and "32..256 px" in err
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_reference_trains_once_then_finds_it(capsys, monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "smoke")
    code, out, _ = run_json(capsys, "--reference", "--json")
    assert code == 0 and out["state"] == "trained" and out["profile"] == "smoke"
    code, out, _ = run_json(capsys, "--reference", "--json")
    assert code == 0 and out["state"] == "already there"


# --------------------------------------------------------------------------------------------
# resuming from the command line: exactly, or refused naming the setting


def smoke_argv(out, *extra) -> list[str]:
    return ["--dataset", "synthnet", "--width", "0.125", "--schedule", "constant",
            "--out", str(out), *extra]


@pytest.mark.slow
def test_a_changed_seed_is_refused_not_trained_on_other_images(capsys, tmp_path, monkeypatch):
    # --seed also re-renders SynthNet: continuing would train on other images in another order
    monkeypatch.setenv("COURSE_PROFILE", "smoke")
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    out = tmp_path / "run"
    assert run_json(capsys, *smoke_argv(out, "--epochs", "1", "--json"))[0] == 0
    before = (out / "last.pt").read_bytes()
    code, _, err = run_json(capsys, *smoke_argv(out, "--epochs", "2", "--resume", "auto",
                                                "--seed", "1"))
    assert code == 2 and "seed 0 in the checkpoint, 1 now" in err, err
    assert "training set fingerprint" in err  # the re-rendered images are told apart too
    assert (out / "last.pt").read_bytes() == before


@pytest.mark.slow
def test_an_adamw_checkpoint_resumed_without_adamw_is_refused(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "smoke")
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    out = tmp_path / "run"
    assert run_json(capsys, *smoke_argv(out, "--epochs", "1", "--optimizer", "adamw",
                                        "--json"))[0] == 0
    code, _, err = run_json(capsys, *smoke_argv(out, "--epochs", "2", "--resume", "auto"))
    assert code == 2 and "optimizer 'adamw' in the checkpoint, 'sgd' now" in err, err
    code, result, err = run_json(capsys, *smoke_argv(out, "--epochs", "2", "--resume", "auto",
                                                     "--optimizer", "adamw", "--json"))
    assert code == 0 and result["epochs"] == 2 and "resumed from" in err


@pytest.mark.slow
def test_a_full_disk_is_one_clear_line(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "smoke")
    monkeypatch.setenv("COURSE_DEVICE", "cpu")

    def full(obj, f, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full)
    out = tmp_path / "run"
    code, _, err = run_json(capsys, *smoke_argv(out, "--epochs", "1"))
    assert code == 2 and "not enough disk space: a checkpoint needs" in err and str(out) in err
    assert "Traceback" not in err and list(out.iterdir()) == []


def test_reference_with_an_unwritable_course_data_fails_before_training(capsys, tmp_path,
                                                                       monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "smoke")
    models = reference.reference_path("smoke").parent
    models.parent.mkdir(parents=True)
    models.write_text("a file where the models folder belongs")
    monkeypatch.setattr(reference, "estimate_seconds", lambda *a, **k: pytest.fail("trained"))
    code, _, err = run_json(capsys, "--reference")
    assert code == 2 and f"cannot create {models}" in err and "COURSE_DATA" in err


def test_reference_refuses_the_flags_it_would_ignore(capsys, monkeypatch):
    from course_lib.commands import train as train_command

    def never(*args, **kwargs):
        raise AssertionError("nothing may be trained when flags would be ignored")

    monkeypatch.setattr(reference, "reference_model", never)
    assert main(["train", "--reference", "--epochs", "3", "--lr", "0.1"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "--epochs, --lr" in err and "would ignore" in err
    args = argparse.Namespace(**{**vars(_parsed(["--reference", "--json"]))})
    assert train_command._ignored_by_reference(args) == []


def _parsed(argv):
    from course_lib.commands import train as train_command

    parser = argparse.ArgumentParser()
    train_command.add_arguments(parser)
    return parser.parse_args(argv)


@pytest.mark.slow
def test_the_profile_flag_picks_the_plan(capsys, tmp_path, monkeypatch):
    """``--profile`` wins over ``COURSE_PROFILE``; the flags are the plan's changes, so the crop
    follows ``--size`` (the paper's 224/256) and the network is built for it."""
    monkeypatch.setenv("COURSE_PROFILE", "laptop")
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    code, result, _ = run_json(capsys, "--profile", "smoke", "--dataset", "synthnet",
                               "--size", "40", "--epochs", "1", "--width", "0.125", "--out",
                               str(tmp_path / "run"), "--json")
    assert code == 0
    assert result["num_classes"] == 8 and result["train_images"] == 8 * 24  # smoke's sizes
    assert result["image_size"] == 40 and result["crop_size"] == 35  # round(40 · 224 / 256)
    code, _, err = run_json(capsys, "--profile", "lapton", "--epochs", "1")
    assert code == 2 and "valid profiles are smoke, laptop, gpu, full" in err
    assert len(err.strip().splitlines()) == 1


def test_a_missing_dataset_stops_the_command_naming_the_fix(capsys, monkeypatch):
    code, _, err = run_json(capsys, "--profile", "gpu", "--epochs", "1")
    assert code == 2
    assert "prepare imagenette2-160 --size 160" in err and "synthnet" not in err.lower()


def test_prepare_takes_the_profile_flag(capsys, tmp_path):
    assert main(["prepare", "synthnet", "--profile", "smoke", "--splits", "val", "--out",
                 str(tmp_path / "c"), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["size"] == 32 and summary["splits"]["val"]["n_images"] == 8 * 8
