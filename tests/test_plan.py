"""One plan from a profile to data, crop, training settings and network (course_lib.plan), and
the datasets below it (course_lib.recipe)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision

from course_lib import recipe
from course_lib.datasets import synthnet
from course_lib.plan import plan
from course_lib.profiles import PROFILES, get_profile, resolve


def test_resolve_takes_a_name_a_profile_or_none(monkeypatch):
    assert resolve("laptop") is PROFILES["laptop"]
    assert resolve(PROFILES["gpu"]) is PROFILES["gpu"]
    monkeypatch.setenv("COURSE_PROFILE", "smoke")
    assert resolve(None) is PROFILES["smoke"]
    with pytest.raises(ValueError, match="valid profiles are smoke, laptop, gpu, full"):
        resolve("lapton")
    with pytest.raises(TypeError, match="got int"):
        resolve(3)


def test_the_plan_renders_the_profiles_synthnet():
    profile = get_profile("smoke")
    data = plan(profile).data
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
    assert plan(profile, splits=()).data is None  # settings only: nothing rendered


def test_changes_seeds_and_knobs_reach_the_data():
    run = plan("smoke", splits=("train",), train_per_class=3, num_classes=5,
               knobs={"clutter": 0.9})
    data = run.data
    assert data.val is None and data.test is None
    assert data.train.images.shape[0] == 15 and data.extra["knobs"]["clutter"] == 0.9
    other = run.replace(data_seed=1)  # another draw of the same recipe
    assert other.knobs == run.knobs and other.data.train.images.shape == (15, 3, 32, 32)
    assert not np.array_equal(other.data.train.images, data.train.images)
    direct = synthnet.make_synthnet("train", num_classes=5, per_class=3, image_size=32, seed=1,
                                    clutter=0.9)
    assert np.array_equal(other.data.train.images, direct.images)


def test_the_plan_refuses_what_it_cannot_do():
    with pytest.raises(ValueError, match="unknown dataset 'nosuchset'.*synthnet.*imagenette2-160"):
        plan("smoke", dataset="nosuchset")
    with pytest.raises(ValueError, match=r"image_size=16: SynthNet renders .*32\.\.256 px"):
        plan("smoke", image_size=16)
    with pytest.raises(ValueError, match="splits="):
        plan("smoke", splits=("training",))
    with pytest.raises(ValueError, match=r"plan\(imagesize=\.\.\.\): not a setting.*image_size"):
        plan("smoke", imagesize=64)
    with pytest.raises(ValueError, match="crop_size=40 is larger than image_size=32"):
        plan("smoke", crop_size=40, splits=())
    with pytest.raises(ValueError, match="knobs are SynthNet's; dataset 'cifar10'"):
        plan("smoke", dataset="cifar10", knobs={"clutter": 0.5}, splits=())
    with pytest.raises(ValueError, match=r"image_size='64': a side in pixels"):
        plan("smoke", dataset="cifar10", image_size="64", splits=())


def test_a_missing_dataset_is_never_swapped_for_synthnet():
    """The gpu profile's Imagenette is not prepared here: the plan says so and names the command;
    it does not quietly train on SynthNet instead."""
    with pytest.raises(recipe.DatasetUnavailableError,
                       match="prepare imagenette2-160 --size 160"):
        plan("gpu")
    message = plan("gpu", splits=()).missing()  # looks on disk, opens nothing
    assert "imagenette2-160 at 160 px has no decode-once cache" in message
    assert "python -m course_lib prepare imagenette2-160 --size 160" in message
    assert plan("gpu", dataset="synthnet", splits=()).missing() is None
    assert plan("laptop", splits=()).missing() is None
    cifar = plan("laptop", splits=()).replace(dataset="cifar10")
    assert "python -m course_lib prepare cifar10 --size 64" in cifar.missing()
    assert plan("laptop", splits=()).missing() is None
    run = plan("gpu", dataset="synthnet", num_classes=2, train_per_class=2, val_per_class=2,
               image_size=64, splits=("train",))  # SynthNet, asked for by name
    assert run.data.dataset == "synthnet" and run.crop == 56


def test_cached_splits_equal_the_rendered_ones(tmp_path):
    caches = recipe.prepare_caches("synthnet", 32, out=tmp_path / "c", num_classes=8,
                                   per_class={"train": 24, "val": 8, "test": 8},
                                   splits=("train", "val"))
    assert set(caches) == {"train", "val"}
    cached = plan("smoke", cache_dir=tmp_path / "c", splits=("train", "val")).data
    rendered = plan("smoke", splits=("train", "val")).data
    assert cached.class_names == rendered.extra["wnids"]  # a cache names classes by id
    for split in ("train", "val"):
        assert np.array_equal(np.asarray(cached[split].images), rendered[split].images)
        assert np.array_equal(cached[split].labels, rendered[split].labels)
    with pytest.raises(ValueError, match="needs num_classes and per_class"):
        recipe.prepare_caches("synthnet", 32, out=tmp_path / "d")


@pytest.mark.slow
def test_the_network_follows_the_profile():
    model = plan("smoke", splits=()).model()
    assert model.config.variant == "scaled" and model.config.input_size == 28
    assert model(torch.zeros(2, 3, 28, 28)).shape == (2, 8)
    # the gpu profile's torchvision variant has torchvision's parameters, layer for layer
    ours = plan("gpu", splits=()).model(1000)
    theirs = torchvision.models.alexnet()
    assert [p.shape for p in ours.parameters()] == [p.shape for p in theirs.parameters()]
    assert sum(p.numel() for p in ours.parameters()) == 61_100_840
    # another variant is the full-width network unless a width is asked for
    assert plan("laptop", model_variant="torchvision", splits=()).profile.width == 1.0
    assert plan("laptop", model_variant="torchvision", width=0.5, splits=()).profile.width == 0.5
    assert plan("laptop", splits=()).profile.width == 0.5
    # conv1 at the paper's N(0, 0.01²) where the profile says so, He-normal when asked away
    conv1 = plan("laptop", splits=()).model().learned_layers()["conv1"].weight
    assert PROFILES["laptop"].conv1_init_std == 0.01
    assert conv1.std().item() == pytest.approx(0.01, rel=0.1)
    he = plan("laptop", splits=()).model(conv1_std=None).learned_layers()["conv1"].weight
    assert he.std().item() == pytest.approx((2 / he[0].numel()) ** 0.5, rel=0.1)
    assert plan("laptop", conv1_init_std=0.02, splits=()).model().config.conv1_std == 0.02


@pytest.mark.parametrize("profile", sorted(PROFILES))
@pytest.mark.parametrize("image_size", [None, 32, 64, 128, 256])
def test_the_crop_cannot_disagree(profile, image_size):
    """One crop for the data, the config and the network, whatever size is planned: the rule
    is the profile's crop at its own size, else the paper's 224/256."""
    run = plan(profile, image_size=image_size, splits=())
    size = image_size or PROFILES[profile].image_size
    expected = PROFILES[profile].crop_size if size == PROFILES[profile].image_size \
        else round(size * 224 / 256)
    assert run.crop == run.config.crop_size == expected and run.image_size == size
    if run.profile.model_variant == "scaled":
        assert run.model().config.input_size == expected


def test_a_crop_or_a_network_setting_cannot_be_changed_behind_the_plan():
    run = plan("laptop", splits=())
    with pytest.raises(ValueError, match=r"crop_size=28.*the crop is the plan's \(56 px\)"):
        run.train_config(crop_size=28)
    with pytest.raises(ValueError, match=r"model\(width=\.\.\.\): the plan fixes these"):
        run.model(width=0.25)
    smaller = run.replace(image_size=32)  # the crop follows a new size, as in a first plan
    assert smaller.crop == smaller.config.crop_size == 28
    assert smaller.model().config.input_size == 28


def test_the_training_settings_come_from_the_profile():
    profile = get_profile("laptop")
    run = plan(profile, splits=(), seed=4)
    config = run.config
    assert (config.epochs, config.batch_size, config.lr, config.schedule, config.crop_size) == (
        profile.epochs, profile.batch_size, profile.lr, profile.schedule, profile.crop_size)
    assert config.momentum == 0.9 and config.weight_decay == 5e-4  # the paper's (Sec. 5)
    assert config.seed == 4
    assert plan(profile, image_size=128, splits=()).config.crop_size == 112
    assert plan(profile, epochs=3, splits=()).config.epochs == 3
    assert run.train_config(epochs=3, lr=0.1).lr == 0.1
    adamw = run.train_config(optimizer="adamw")
    assert (adamw.lr, adamw.weight_decay) == (1e-3, 0.05)
    assert run.train_config(optimizer="adamw", lr=3e-4).lr == 3e-4
    with pytest.raises(TypeError):
        run.train_config(no_such_field=1)
