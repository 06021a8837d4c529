"""The one recipe from a profile to data, model and training settings (course_lib.recipe)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision

from course_lib import recipe
from course_lib.datasets import synthnet
from course_lib.profiles import PROFILES, get_profile, resolve
from course_lib.train import TrainConfig


def test_resolve_takes_a_name_a_profile_or_none(monkeypatch):
    assert resolve("laptop") is PROFILES["laptop"]
    assert resolve(PROFILES["gpu"]) is PROFILES["gpu"]
    monkeypatch.setenv("COURSE_PROFILE", "smoke")
    assert resolve(None) is PROFILES["smoke"]
    with pytest.raises(ValueError, match="valid profiles are smoke, laptop, gpu, full"):
        resolve("lapton")
    with pytest.raises(TypeError, match="got int"):
        resolve(3)


def test_open_splits_renders_the_profiles_synthnet():
    profile = get_profile("smoke")
    data = recipe.open_splits(profile)
    assert data.dataset == "synthnet" and data.num_classes == profile.num_classes
    for split in ("train", "val", "test"):
        n = profile.num_classes * getattr(profile, f"{split}_per_class")
        assert data[split].images.shape == (n, 3, profile.image_size, profile.image_size)
        assert data[split].images.dtype == np.uint8
        assert sorted(set(data[split].labels.tolist())) == list(range(profile.num_classes))
    # the same pixels as SynthNet asked directly for that split
    direct = synthnet.make_synthnet("val", num_classes=8, per_class=8, image_size=32, seed=0)
    assert np.array_equal(data.val.images, direct.images)
    images, labels = data.train  # a Split unpacks like the (images, labels) fit takes
    assert len(images) == len(labels) == len(data.train)


def test_open_splits_profile_changes_and_knobs():
    data = recipe.open_splits("smoke", splits=("train",), train_per_class=3, num_classes=5,
                              knobs={"clutter": 0.9})
    assert data.val is None and data.test is None
    assert data.train.images.shape[0] == 15 and data.extra["knobs"]["clutter"] == 0.9


def test_open_splits_refuses_unknown_names_sizes_and_splits():
    with pytest.raises(ValueError, match="unknown dataset 'nosuchset'.*synthnet.*imagenette2-160"):
        recipe.open_splits("smoke", "nosuchset")
    with pytest.raises(ValueError, match=r"image_size=16: SynthNet renders .*32\.\.256 px"):
        recipe.open_splits("smoke", image_size=16)
    with pytest.raises(ValueError, match="splits="):
        recipe.open_splits("smoke", splits=("training",))


def test_a_missing_cache_names_the_command_that_builds_it(tmp_path):
    with pytest.raises(recipe.DatasetUnavailableError,
                       match="prepare imagenette2-160 --size 160"):
        recipe.open_splits("gpu")


def test_cached_splits_equal_the_rendered_ones(tmp_path):
    caches = recipe.prepare_caches("synthnet", 32, out=tmp_path / "c", profile="smoke",
                                   splits=("train", "val"))
    assert set(caches) == {"train", "val"}
    cached = recipe.open_splits("smoke", "synthnet", cache_dir=tmp_path / "c",
                                splits=("train", "val"))
    rendered = recipe.open_splits("smoke", splits=("train", "val"))
    assert cached.class_names == rendered.extra["wnids"]  # a cache names classes by id
    for split in ("train", "val"):
        assert np.array_equal(np.asarray(cached[split].images), rendered[split].images)
        assert np.array_equal(cached[split].labels, rendered[split].labels)


def test_build_model_follows_the_profile():
    model = recipe.build_model("smoke", 8)
    assert model.config.variant == "scaled" and model.config.input_size == 28
    assert model(torch.zeros(2, 3, 28, 28)).shape == (2, 8)
    # the gpu profile's torchvision variant has torchvision's parameters, layer for layer
    ours = recipe.build_model("gpu", 1000)
    theirs = torchvision.models.alexnet()
    assert [p.shape for p in ours.parameters()] == [p.shape for p in theirs.parameters()]
    assert sum(p.numel() for p in ours.parameters()) == 61_100_840


def test_crop_rule_is_the_profiles_or_the_papers_ratio():
    assert recipe.crop_size("laptop") == 56
    assert recipe.crop_size("laptop", image_size=256) == 224
    assert recipe.crop_size("laptop", image_size=128) == 112


def test_train_config_from_profile():
    profile = get_profile("laptop")
    config = TrainConfig.from_profile(profile)
    assert (config.epochs, config.batch_size, config.lr, config.schedule, config.crop_size) == (
        profile.epochs, profile.batch_size, profile.lr, profile.schedule, profile.crop_size)
    assert config.momentum == 0.9 and config.weight_decay == 5e-4  # the paper's (Sec. 5)
    assert TrainConfig.from_profile(profile, image_size=128).crop_size == 112
    assert TrainConfig.from_profile(profile, epochs=3, lr=0.1).epochs == 3
    adamw = TrainConfig.from_profile(profile, optimizer="adamw")
    assert (adamw.lr, adamw.weight_decay) == (1e-3, 0.05)
    assert TrainConfig.from_profile(profile, optimizer="adamw", lr=3e-4).lr == 3e-4
    with pytest.raises(TypeError):
        TrainConfig.from_profile(profile, no_such_field=1)
