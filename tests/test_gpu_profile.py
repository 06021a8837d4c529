"""The gpu profile, rehearsed on the CPU: its plan opens an Imagenette-format decode-once cache,
and chapters 07 and 11, which need SynthNet on purpose, ask for it by name and run their set-up
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
    cell = run_cells_with("07_ablations.ipynb", [
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
    cell = run_cells_with("11_trusting_the_benchmark.ipynb", [
        'profile_name = None', "profile = resolve(profile_name)", "sets = plan(trial",
        "recollected = sets.replace("])
    assert cell["profile"].name == "gpu" and cell["trial"].name == "laptop"
    assert cell["data"].dataset == "synthnet" and cell["data"].test is not None
    assert len(cell["recollected"]) == len(cell["data"].val) == 64
    assert set(cell["correct"]) == {"original validation set", "re-collected (seed 1)",
                                    "shifted (seed 1)"}


def _served_imagenette(tmp_path, server, monkeypatch):
    """Imagenette-160's spec pointed at a generated archive of its real layout on the local
    server (its real size and sha256 computed here), and the gpu profile on the CPU."""
    import dataclasses
    import hashlib
    import tarfile

    top = imagenette_tree(tmp_path / "src")
    archive = server.root / "imagenette2-160.tgz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(top, arcname=top.name)
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    spec = dataclasses.replace(
        registry.get(NETTE), urls=(server.url(archive.name),), size=archive.stat().st_size,
        checksums=(registry.Checksum("sha256", digest, "generated here"),))
    monkeypatch.setitem(registry.DATASETS, NETTE, spec)
    monkeypatch.setenv("COURSE_PROFILE", "gpu")
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    return archive


def test_a_gpu_chapter_with_no_cache_fetches_prepares_and_trains(tmp_path, local_server,
                                                                 monkeypatch, capsys):
    _served_imagenette(tmp_path, local_server, monkeypatch)
    assert plan(splits=()).missing()  # 00 reports what is missing and downloads nothing
    assert plan(splits=()).missing()
    run = plan(splits=("train", "val"))  # what a chapter's set-up cell does
    said = capsys.readouterr().out.strip().splitlines()
    assert len(said) == 1 and said[0].startswith(f"data: {NETTE} was not here, so it was "
                                                 "fetched") and "checksum verified" in said[0]
    assert run.data.train.images.shape == (20, 3, 160, 160) and run.data.num_classes == 10
    model, images = run.model(), torch.from_numpy(np.array(run.data.train.images[:4])) / 255
    crop = images[:, :, :run.crop, :run.crop]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    before = [p.detach().clone() for p in model.parameters()]
    for _ in range(2):  # two training steps of the torchvision-size network at the gpu crop
        loss = torch.nn.functional.cross_entropy(
            model(crop.float()), torch.from_numpy(np.array(run.data.train.labels[:4])))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert plan(splits=("val",)).data.val is not None  # the second time: nothing fetched
    assert capsys.readouterr().out == ""


def test_with_no_network_the_chapter_stops_with_the_command_that_fixes_it(tmp_path, local_server,
                                                                          monkeypatch):
    from course_lib.recipe import DatasetUnavailableError

    archive = _served_imagenette(tmp_path, local_server, monkeypatch)
    archive.unlink()  # the mirror answers 404: as good as no network for the learner
    with pytest.raises(DatasetUnavailableError, match=r"could not be fetched .*python -m "
                       r"course_lib prepare imagenette2-160 --size 160"):
        plan(splits=("train", "val"))
    assert plan(splits=()).missing()  # nothing half-made was left as a cache
