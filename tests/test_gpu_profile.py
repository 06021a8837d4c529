"""The gpu profile, rehearsed on the CPU: its plan opens an Imagenette-format decode-once cache,
and chapters 06 and 10, which need SynthNet on purpose, ask for it by name and run their set-up
cells under ``COURSE_PROFILE=gpu`` (they used to crash there whatever data was present).

The cache is generated here in Imagenette's real layout (``imagenette2-160/{train,val}/<wnid>/``
with the ten real wnids) and built by the same call ``prepare`` uses; the images are flat
colours, a few per class, so this runs in seconds.
"""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
import torch
from notebook_cells import run_cells_with
from PIL import Image

from course_lib import profiles
from course_lib.datasets import registry
from course_lib.plan import plan
from course_lib.recipe import prepare_caches

matplotlib.use("Agg")
NETTE = "imagenette2-160"
PER_SPLIT = {"train": 2, "val": 1}


def imagenette_tree(root):
    """``root/imagenette2-160/{train,val}/<wnid>/*.JPEG`` for the ten real classes; class k's
    images are a flat grey of level 20 k + 10, 170 × 160 px (Imagenette-160's short side)."""
    spec = registry.get(NETTE)
    top = root / spec.top_dir
    for split, n in PER_SPLIT.items():
        for k, wnid in enumerate(spec.classes):
            folder = top / split / wnid
            folder.mkdir(parents=True)
            for i in range(n):
                Image.new("RGB", (170, 160), (20 * k + 10,) * 3).save(
                    folder / f"{wnid}_{i}.JPEG", quality=95)
    return top


@pytest.fixture
def gpu_with_imagenette(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "gpu")
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    assert plan(splits=()).missing()  # nothing prepared yet: the plan says so, it does not swap
    prepare_caches(NETTE, 160, root=imagenette_tree(tmp_path / "download"), workers=0)
    assert plan(splits=()).missing() is None


def test_the_gpu_plan_opens_imagenette_and_trains_the_torchvision_network(gpu_with_imagenette):
    run = plan(splits=("train", "val"))
    assert run.profile.name == "gpu" and run.dataset == NETTE
    assert run.data.num_classes == 10 and run.data.test is None
    assert run.data.train.images.shape == (20, 3, 160, 160)
    assert run.data.class_names[0] == "n01440764"  # tench: a cache names classes by wnid
    # the labels are the classes' grey levels in order: class k is 20 k + 10
    level = np.asarray(run.data.train.images).mean(axis=(1, 2, 3))
    np.testing.assert_allclose(level, 20 * run.data.train.labels + 10, atol=2)
    assert run.crop == run.config.crop_size == 128
    model = run.model()
    assert model.config.variant == "torchvision" and model.config.num_classes == 10


@pytest.mark.slow
def test_chapter_06_runs_its_set_up_under_gpu(gpu_with_imagenette):
    cell = run_cells_with("06_ablations.ipynb", [
        'profile_name = None', "profile = resolve(profile_name)", "ablation = plan("])
    assert cell["profile"].name == "gpu"
    ablation = cell["ablation"]  # every later run of the chapter goes through this plan
    assert ablation.dataset == "synthnet" and ablation.image_size == 32 and ablation.crop == 28
    model = ablation.model()
    assert model.config.variant == "scaled" and model.config.input_size == 28
    small = ablation.replace(train_per_class=2, splits=("train",)).data  # as §2 opens it
    assert small.num_classes == 10 and small.train.images.shape == (20, 3, 32, 32)
    assert model(torch.zeros(2, 3, 28, 28)).shape == (2, 10)


@pytest.mark.slow
def test_chapter_10_runs_its_set_up_under_gpu(gpu_with_imagenette, monkeypatch):
    # the chapter runs on the laptop profile's SynthNet under gpu: made tiny here, so the
    # reference model it trains on first use takes seconds
    tiny = profiles.PROFILES["smoke"].replace(name="laptop")
    monkeypatch.setitem(profiles.PROFILES, "laptop", tiny)
    cell = run_cells_with("10_trusting_the_benchmark.ipynb", [
        'profile_name = None', "profile = resolve(profile_name)", "sets = plan(trial",
        "recollected = sets.replace("])
    assert cell["profile"].name == "gpu" and cell["trial"].name == "laptop"
    assert cell["data"].dataset == "synthnet" and cell["data"].test is not None
    assert len(cell["recollected"]) == len(cell["data"].val) == 64
    assert set(cell["correct"]) == {"original validation set", "re-collected (seed 1)",
                                    "shifted (seed 1)"}
