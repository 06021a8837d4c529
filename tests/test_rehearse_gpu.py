"""A rehearsal of the Colab ``gpu`` path, on the CPU against 127.0.0.1 (``make rehearse-gpu``).

What a Colab learner's runtime does, end to end, with generated files of the real formats served
locally: Imagenette-160 fetched, verified, extracted and prepared by the chapter's own plan under
the ``gpu`` profile; two training steps of the torchvision-size network at the gpu crop; the
validation images scored; torchvision's AlexNet weights (a generated file of the real keys and
shapes) loaded through the pretrained-weights code; ImageNetV2-format images scored 1000-way.
The URLs and checksums come from a test-only registry file honoured only with
``COURSE_REHEARSAL=1`` (:mod:`course_lib.rehearsal`); every use says so. Also: the Colab install
line's dependencies, read from the installed metadata, pull in no second Jupyter stack and cover
everything the chapters import.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import tarfile
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
import torch
from test_gpu_profile import imagenette_tree
from test_models_pretrained import torchvision_shaped_state_dict
from test_pretrained_scores import imagenetv2_like_tar

from course_lib.datasets import registry
from course_lib.datasets.loader import UInt8Loader
from course_lib.evaluate import predict
from course_lib.plan import plan
from course_lib.pretrained_scores import V2, pretrained_missing, score_pretrained
from course_lib.rehearsal import WEIGHTS

pytestmark = pytest.mark.rehearsal
ROOT = Path(__file__).resolve().parent.parent
NETTE = "imagenette2-160"


def _entry(path: Path, url: str) -> dict:
    return {"url": url, "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "size": path.stat().st_size}


@pytest.fixture
def mirror(tmp_path, local_server, monkeypatch):
    """Generated Imagenette-160, ImageNetV2 and weights files on the local server, and the
    test-only registry naming them; the gpu profile on the CPU."""
    served = local_server.root
    nette = served / registry.DATASETS[NETTE].filename
    with tarfile.open(nette, "w:gz") as tar:
        top = imagenette_tree(tmp_path / "src")
        tar.add(top, arcname=top.name)
    v2 = served / registry.DATASETS[V2].filename
    imagenetv2_like_tar(v2, registry.DATASETS[V2].top_dir)
    weights = served / "alexnet-owt-7be5be79.pth"  # the real file's name
    torch.save(torchvision_shaped_state_dict(seed=5), weights)
    table = {NETTE: _entry(nette, local_server.url(nette.name)),
             V2: _entry(v2, local_server.url(v2.name)),
             WEIGHTS: _entry(weights, local_server.url(weights.name))}
    path = tmp_path / "rehearsal-registry.json"
    path.write_text(json.dumps(table), encoding="utf-8")
    monkeypatch.setenv("COURSE_REHEARSAL_REGISTRY", str(path))
    monkeypatch.setenv("COURSE_PROFILE", "gpu")
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    return table


def test_the_test_only_registry_needs_the_flag_too(mirror, monkeypatch, capsys):
    assert registry.get(NETTE).urls == registry.DATASETS[NETTE].urls  # no flag: the real one
    assert capsys.readouterr().err == ""
    monkeypatch.setenv("COURSE_REHEARSAL", "1")
    assert registry.get(NETTE).urls == (mirror[NETTE]["url"],)
    assert "REHEARSAL (COURSE_REHEARSAL=1)" in capsys.readouterr().err
    assert registry.DATASETS[NETTE].urls[0].startswith("https://")  # the registry never changes


def test_the_colab_gpu_path_end_to_end(mirror, monkeypatch, capsys):
    monkeypatch.setenv("COURSE_REHEARSAL", "1")
    assert plan(splits=()).missing()  # 00: reports, downloads nothing
    run = plan(splits=("train", "val"))  # 06's set-up cell: fetch, verify, prepare, open
    said = capsys.readouterr()
    assert f"data: {NETTE} was not here, so it was fetched" in said.out
    assert "REHEARSAL" in said.err  # every output that used the test-only registry says so
    assert run.profile.name == "gpu" and run.crop == 128 and run.data.num_classes == 10
    model = run.model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    images = torch.from_numpy(np.array(run.data.train.images[:6]))
    labels = torch.from_numpy(np.array(run.data.train.labels[:6]))
    for _ in range(2):
        loss = torch.nn.functional.cross_entropy(
            model(images[:, :, :run.crop, :run.crop].float() / 255), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert torch.isfinite(loss)
    val = run.data.val
    scored = predict(model, UInt8Loader(val.images, val.labels, 5, shuffle=False),
                     mode="center", crop_size=run.crop, device="cpu", progress=False)
    assert scored.scores.shape == (len(val), 10) and 0 <= scored.error(1) <= 1
    assert pretrained_missing()  # the weights and ImageNetV2 stay opt-in: nothing fetched yet
    v2 = score_pretrained(image_size=72, crop=64, batch_size=4, device="cpu", progress=False)
    assert v2.scores.shape == (8, 1000) and sorted(set(v2.labels.tolist())) == [0, 7, 10, 999]
    assert pretrained_missing() == []
    assert capsys.readouterr().err.count("REHEARSAL") >= 2  # ImageNetV2 and the weights


def _requirement_names(dist: str) -> set[str]:
    """The distributions ``dist`` requires at run time (no extras), normalised."""
    names = set()
    for line in metadata.requires(dist) or []:
        if "extra ==" in line:
            continue
        marker = line.split(";", 1)
        if len(marker) > 1 and "python_version" in marker[1] and sys.version_info >= (3, 11) \
                and "< '3.11'" in marker[1]:
            continue
        names.add(re.split(r"[\s<>=!~\[;(]", line, maxsplit=1)[0].lower().replace("_", "-"))
    return names


def _closure(dist: str) -> set[str]:
    seen, todo = set(), [dist]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            todo.extend(_requirement_names(name))
        except metadata.PackageNotFoundError:
            continue
    return seen


def test_the_colab_install_line_pulls_no_second_jupyter_and_covers_the_chapters():
    installed = _closure("course_lib")
    assert not installed & {"jupyterlab", "notebook", "jupyter-server", "nbclassic", "voila"}
    providers = metadata.packages_distributions()
    imported = set()
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            if cell["cell_type"] == "code":
                imported |= set(re.findall(r"^(?:from|import) (\w+)", "".join(cell["source"]),
                                           re.M))
    colab_has = {"IPython", "google"}  # Colab's own runtime
    for module in sorted(imported - set(sys.stdlib_module_names) - colab_has - {"course_lib"}):
        dists = {d.lower().replace("_", "-") for d in providers.get(module, [])}
        assert dists & installed, f"chapters import {module}, which course_lib does not require"
