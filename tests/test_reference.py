"""The reference model per profile (course_lib.reference): trained once, loaded after, checked."""

from __future__ import annotations

import pytest
import torch

from course_lib import reference
from course_lib.profiles import get_profile
from course_lib.recipe import open_splits


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
    assert again.data.num_classes == get_profile("smoke").num_classes


def test_the_recipe_hash_separates_profiles():
    smoke = get_profile("smoke")
    assert reference.reference_path(smoke) != reference.reference_path(smoke.replace(width=0.5))
    assert reference.recipe_key(smoke) == reference.recipe_key("smoke")


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


def test_no_training_when_not_allowed_or_too_slow():
    with pytest.raises(reference.ReferenceModelError, match="train --reference"):
        reference.reference_model("smoke", train=False)
    with pytest.raises(reference.ReferenceModelError,
                       match=r"would take about .* on this machine.*COURSE_PROFILE=smoke"):
        reference.reference_model("smoke", max_minutes=0)
    assert not reference.reference_path("smoke").exists()


def test_train_reference_never_replaces_a_file(smoke_reference):
    with pytest.raises(reference.ReferenceModelError, match="already exists"):
        reference.train_reference("smoke", path=smoke_reference.path,
                                  data=open_splits("smoke"), progress=False)


def test_weights_only_loading_skips_the_data(smoke_reference):
    light = reference.reference_model("smoke", with_data=False)
    assert light.data is None and not light.trained_now
    images = torch.rand(2, 3, light.crop_size, light.crop_size)
    assert torch.equal(light.model(images), smoke_reference.model(images))
