"""The reference model per profile (course_lib.reference): trained once, loaded after, checked."""

from __future__ import annotations

import errno
import io
import math
import os
import re
from pathlib import Path

import pytest
import torch

import course_lib.train
from course_lib import diskspace, reference
from course_lib.diskspace import DiskFullError
from course_lib.plan import plan
from course_lib.profiles import get_profile


@pytest.fixture(scope="module")
def trained_file(tmp_path_factory):
    """One smoke reference model for the module (training it is the slow part)."""
    path = tmp_path_factory.mktemp("ref") / "reference.pt"
    reference.train_reference("smoke", path=path, progress=False)
    return path.read_bytes()


@pytest.fixture
def smoke_reference(trained_file):
    path = reference.reference_path("smoke")  # in this test's own COURSE_DATA
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(trained_file)
    return reference.reference_model("smoke", progress=False)


@pytest.mark.slow
def test_trained_when_absent_then_loaded_with_the_same_weights(capsys):
    smoke_reference = reference.reference_model("smoke", progress=False)
    assert smoke_reference.trained_now and smoke_reference.path.is_file()
    assert "training one now" in capsys.readouterr().out
    again = reference.reference_model("smoke")
    assert not again.trained_now
    for (name, a), (_, b) in zip(smoke_reference.model.state_dict().items(),
                                 again.model.state_dict().items()):
        assert torch.equal(a, b), name
    images = torch.rand(4, 3, again.crop_size, again.crop_size)
    assert torch.equal(smoke_reference.model(images), again.model(images))
    assert list(again.history["epoch"]) == [1]
    # a curve, not a point: validations within the epoch, saved and loaded with the weights
    steps = again.history.attrs["steps"]
    smoke = get_profile("smoke")
    total = smoke.reference_epochs * math.ceil(len(again.data.train) / smoke.batch_size)
    assert len(steps) >= min(reference.VALIDATIONS, total)
    assert list(steps["step"]) == list(smoke_reference.history.attrs["steps"]["step"])
    assert steps["val_top1_error"].between(0, 1).all() and steps["epoch"].is_monotonic_increasing
    assert again.data.num_classes == get_profile("smoke").num_classes


def test_the_recipe_hash_separates_profiles():
    smoke = get_profile("smoke")
    assert reference.reference_path(smoke) != reference.reference_path(smoke.replace(width=0.5))
    assert reference.recipe_key(smoke) == reference.recipe_key("smoke")


@pytest.mark.slow
def test_a_file_from_another_recipe_is_refused_naming_the_difference(smoke_reference):
    other = get_profile("smoke").replace(reference_epochs=2)
    path = reference.reference_path(other)
    path.write_bytes(smoke_reference.path.read_bytes())
    with pytest.raises(reference.ReferenceModelError,
                       match="reference_epochs 1 in the file vs 2 in the profile"):
        reference.reference_model(other)


def test_a_corrupt_or_foreign_file_is_refused(tmp_path):
    path = reference.reference_path("smoke")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(reference.ReferenceModelError, match="not a readable reference model"):
        reference.reference_model("smoke")
    torch.save({"format": "something/else"}, path)
    with pytest.raises(reference.ReferenceModelError, match="not a course reference model"):
        reference.reference_model("smoke")


@pytest.mark.slow
def test_no_training_when_too_slow():
    with pytest.raises(reference.ReferenceModelError,
                       match=r"would take about .* on this machine.*COURSE_PROFILE=smoke"):
        reference.reference_model("smoke", max_minutes=0)
    assert not reference.reference_path("smoke").exists()


def test_train_reference_never_replaces_a_file(smoke_reference):
    with pytest.raises(reference.ReferenceModelError, match="already exists"):
        reference.train_reference("smoke", path=smoke_reference.path,
                                  data=plan("smoke").data, progress=False)


# --------------------------------------------------------------------------------------------
# crafted files: each a ReferenceModelError naming the file and what is wrong


def first_weight(payload: dict) -> str:
    return next(iter(payload["state_dict"]))


def set_key(key, value):
    def change(payload):
        payload[key] = value
    return change


def set_option(key, value):
    def change(payload):
        payload["model"][key] = value
    return change


def set_weight(value_of):
    def change(payload):
        key = first_weight(payload)
        payload["state_dict"][key] = value_of(payload["state_dict"][key])
    return change


CRAFTED = {
    "weights missing": (lambda p: p.pop("state_dict"), "'state_dict' is missing"),
    "weights a list": (set_key("state_dict", [1, 2]), "'state_dict' should be a dict"),
    "options a list": (set_key("model", ["scaled"]), "'model' should be a dict"),
    "options incomplete": (lambda p: p["model"].pop("width"),
                           r"'model' should hold the options \['input_size', 'num_classes', "
                           r"'variant', 'width'\]"),
    "num_classes a string": (set_option("num_classes", "8"),
                             "option 'num_classes' should be a positive integer, found '8'"),
    "width negative": (set_option("width", -1.0), "option 'width' should be a positive number"),
    "unknown variant": (set_option("variant", "resnet"), "do not make an AlexNet"),
    # a huge input size would make a huge first fully connected layer: refused without building
    "input size far too big": (set_option("input_size", 100_000),
                               r"weights do not fit the recorded network: weights '[\w.]+': "
                               r"expected \(.*\) float32, found"),
    "weight of the wrong shape": (set_weight(lambda t: torch.zeros(1)),
                                  r"weights '[\w.]+': expected \(\d+, 3, \d+, \d+\) float32, "
                                  r"found \(1,\) float32"),
    "weight of the wrong dtype": (set_weight(lambda t: t.double()), r"found \(.*\) float64"),
    "weight not a tensor": (set_weight(lambda t: "x"), "found a str"),
    "extra weight": (lambda p: p["state_dict"].update(extra=torch.zeros(1)),
                     "unexpected key 'extra'"),
    "recipe a list": (set_key("recipe", []), "'recipe' should be a dict"),
    "class names a string": (set_key("class_names", "abc"),
                             "'class_names' should be a non-empty list of class names"),
    "class names too few": (lambda p: p["class_names"].pop(),
                            "'model' has 8 classes but 'class_names' lists 7"),
    "history a dict": (set_key("history", {"epoch": 1}), "'history' should be a list of dicts"),
    "steps missing": (lambda p: p.pop("steps"), "'steps' is missing"),
    "steps a string": (set_key("steps", "78"), "'steps' should be a list of dicts"),
    "crop size a string": (set_key("crop_size", "28"), "'crop_size' should be a positive integer"),
    "image size missing": (lambda p: p.pop("image_size"), "'image_size' is missing"),
}


@pytest.mark.parametrize("case", list(CRAFTED))
def test_a_crafted_file_is_refused_naming_the_file_and_the_problem(trained_file, case):
    change, expected = CRAFTED[case]
    path = reference.reference_path("smoke")
    path.parent.mkdir(parents=True)
    payload = torch.load(io.BytesIO(trained_file), weights_only=True)
    change(payload)
    torch.save(payload, path)
    with pytest.raises(reference.ReferenceModelError) as refused:
        reference.load_reference("smoke")  # refused before the splits are opened
    message = str(refused.value)
    assert message.startswith(str(path)) and re.search(expected, message), message


def test_classes_that_differ_name_the_first_difference(trained_file):
    names = list(plan("smoke").data.class_names)
    path = reference.reference_path("smoke")
    path.parent.mkdir(parents=True)
    payload = torch.load(io.BytesIO(trained_file), weights_only=True)
    payload["class_names"][3] = "teapot"
    torch.save(payload, path)
    with pytest.raises(reference.ReferenceModelError,
                       match=f"class 3 is 'teapot' in the file, {names[3]!r} in the dataset"):
        reference.load_reference("smoke")


def test_class_difference_names_the_first_extra_class():
    assert reference._class_difference(["a", "b"], ["a", "b"]) is None
    assert reference._class_difference(["a", "b", "c"], ["a", "b"]) == (
        "the file has 3 classes and the dataset 2 (class 2, 'c', is only in the file)")


# --------------------------------------------------------------------------------------------
# an unwritable or full COURSE_DATA fails before training, not after


@pytest.fixture
def no_training(monkeypatch):
    """Training (or timing it) fails the test: the refusal must come first."""
    def never(*args, **kwargs):
        raise AssertionError("trained before checking that the model can be saved")

    monkeypatch.setattr(reference, "estimate_seconds", never)
    monkeypatch.setattr(course_lib.train, "fit", never)


def test_a_file_where_the_models_folder_belongs_is_refused_before_training(no_training):
    models = reference.reference_path("smoke").parent
    models.parent.mkdir(parents=True)
    models.write_text("not a folder")
    with pytest.raises(reference.ReferenceModelError, match=f"cannot create {models}.*COURSE_DATA"):
        reference.reference_model("smoke")
    with pytest.raises(reference.ReferenceModelError, match=f"cannot create {models}"):
        reference.train_reference("smoke")


def test_a_read_only_models_folder_is_refused_before_training(no_training, monkeypatch):
    # tests run as root, where a chmod'ed folder stays writable: the permission is faked
    models = reference.reference_path("smoke").parent
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p) == models
                        else real_access(p, mode))
    with pytest.raises(reference.ReferenceModelError, match=f"{models} is not writable"):
        reference.reference_model("smoke")


def test_no_room_for_the_weights_is_refused_before_training(no_training, monkeypatch):
    monkeypatch.setattr(diskspace, "free_bytes", lambda folder: 1000)
    with pytest.raises(DiskFullError, match=r"the reference model needs [\d.]+ MiB in .*models"):
        reference.train_reference("smoke", data=plan("smoke").data)


def test_a_full_disk_during_the_save_leaves_no_partial_file(trained_file, monkeypatch, tmp_path):
    payload = torch.load(io.BytesIO(trained_file), weights_only=True)

    def full(obj, f, *args, **kwargs):
        f.write(b"half a model")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full)
    with pytest.raises(DiskFullError, match=f"the reference model needs .* in {tmp_path}"):
        reference._write(payload, tmp_path / "reference.pt")
    assert list(tmp_path.iterdir()) == []


# ensemble members of the reference recipe (reference.ensemble_member, notebook 08): trained
# once with their own seed, saved beside the reference model, loaded after; a broken file is
# trained again


def test_member_paths_name_the_profile_recipe_seed_and_epochs():
    smoke = get_profile("smoke")
    path = reference.member_path(smoke, 1)
    assert path.parent == reference.reference_path(smoke).parent
    assert path.name == (f"member-smoke-{reference.recipe_key(smoke)}-seed1-"
                         f"{smoke.reference_epochs}ep.pt")
    others = {reference.member_path(smoke, 2), reference.member_path(smoke, 1, epochs=5),
              reference.member_path(smoke.replace(width=0.5), 1)}
    assert path not in others and len(others) == 3


@pytest.mark.slow
def test_a_member_is_trained_once_then_loaded(smoke_reference):
    model, trained_now = reference.ensemble_member(smoke_reference, 1, progress=False)
    assert trained_now and not model.training
    assert reference.member_path("smoke", 1).is_file()
    again, trained_again = reference.ensemble_member(smoke_reference, 1, progress=False)
    assert not trained_again
    crop = smoke_reference.crop_size
    images = torch.rand(3, 3, crop, crop, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        assert torch.equal(model(images), again(images))
        # another seed: another network than the reference (seed 0)
        assert not torch.equal(model(images), smoke_reference.model(images))


@pytest.mark.slow
def test_a_broken_member_file_is_reported_and_trained_again(smoke_reference, capsys):
    path = reference.member_path("smoke", 2)
    path.write_bytes(b"not a state dict")
    model, trained_now = reference.ensemble_member(smoke_reference, 2, progress=False)
    assert trained_now and "not usable" in capsys.readouterr().out
    saved = torch.load(path, map_location="cpu", weights_only=True)
    assert saved.keys() == model.state_dict().keys()
    assert not list(path.parent.glob(".*tmp*"))  # written atomically, nothing left over


def test_a_model_another_notebook_saves_meanwhile_is_loaded_not_trained_again(trained_file,
                                                                            monkeypatch):
    # two notebooks started at once: both find no file; the other one saves it while this one
    # estimates its training time, so this one loads it instead of refusing or training again
    path = reference.reference_path("smoke")
    path.parent.mkdir(parents=True, exist_ok=True)

    def the_other_notebook_saves(profile, data):
        path.write_bytes(trained_file)
        return 1.0

    def no_training(*args, **kwargs):
        raise AssertionError("trained again although the file was there")

    monkeypatch.setattr(reference, "estimate_seconds", the_other_notebook_saves)
    monkeypatch.setattr(reference, "train_reference", no_training)
    loaded = reference.reference_model("smoke", progress=False)
    assert not loaded.trained_now and loaded.path == path
