import dataclasses

import pytest

from course_lib import profiles
from course_lib.profiles import PROFILES, UnknownProfileError, current_profile, get_profile


def test_the_four_profiles_exist_in_order():
    assert list(PROFILES) == ["smoke", "laptop", "gpu", "full"]
    for name, profile in PROFILES.items():
        assert profile.name == name and get_profile(name) is profile


def test_profiles_are_frozen_and_replace_returns_a_changed_copy():
    smoke = PROFILES["smoke"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        smoke.epochs = 99
    bigger = smoke.replace(epochs=3)
    assert bigger.epochs == 3 and smoke.epochs == 1


def test_sizes_grow_from_smoke_to_full():
    smoke, laptop, full = PROFILES["smoke"], PROFILES["laptop"], PROFILES["full"]
    for knob in ("image_size", "num_classes", "train_per_class", "epochs"):
        assert getattr(smoke, knob) < getattr(laptop, knob) < getattr(full, knob), knob


def test_crops_fit_inside_images():
    for p in PROFILES.values():
        assert 0 < p.crop_size <= p.image_size, p.name


def test_full_profile_is_ilsvrc_at_the_papers_sizes():
    full = PROFILES["full"]
    # FACTS.md §4.2/§4.3: 256-px images, 224-px crops, 1000 classes, batch 128, lr 0.01.
    assert (full.image_size, full.crop_size, full.num_classes) == (256, 224, 1000)
    assert (full.batch_size, full.lr, full.schedule) == (128, 0.01, "plateau")


def test_every_profile_names_a_schedule_train_accepts():
    from course_lib.train.config import SCHEDULES, TrainConfig

    for p in PROFILES.values():
        assert p.schedule in SCHEDULES, p.name
        TrainConfig(batch_size=p.batch_size, lr=p.lr, schedule=p.schedule, epochs=p.epochs)


@pytest.mark.parametrize(
    "env, cuda, expected",
    [
        ({"COURSE_PROFILE": "gpu"}, False, "gpu"),
        ({"COURSE_PROFILE": "Laptop "}, True, "laptop"),
        ({"CI": "true"}, True, "smoke"),
        ({"CI": "true", "COURSE_PROFILE": "full"}, False, "full"),
        ({}, True, "gpu"),
        ({}, False, "laptop"),
        ({"CI": ""}, False, "laptop"),
    ],
)
def test_selection_rules(monkeypatch, env, cuda, expected):
    monkeypatch.setattr(profiles, "_cuda_available", lambda: cuda)
    assert current_profile(env).name == expected


def test_unknown_profile_names_the_valid_ones():
    with pytest.raises(UnknownProfileError) as info:
        current_profile({"COURSE_PROFILE": "bogus"})
    message = str(info.value)
    assert "bogus" in message
    for name in PROFILES:
        assert name in message
