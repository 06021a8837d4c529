"""Notebook 07, section 8: the pretrained AlexNet scored 1000-way on ImageNetV2, against 127.0.0.1.

The code is not copied here: the test reads notebooks/07_scoring.ipynb, takes the code cell whose
first line starts with :data:`MARKER` and runs it, so the notebook and this test cannot drift
apart. The registry's ImageNetV2 entry is pointed at a small archive of the real layout
(``imagenetv2-matched-frequency-format-val/<class index>/<sha1>.jpeg``, an uncompressed tar)
served from 127.0.0.1, and the weights at a file with torchvision AlexNet's keys and shapes; both
are verified by their SHA-256 on download, as the real ones are. The scores are checked against
torchvision's own ``alexnet`` with the same weights, and the labels against the image contents.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from notebook_cells import run_marked_cell
from PIL import Image
from test_models_pretrained import torchvision_shaped_state_dict
from torchvision.transforms.v2 import functional as TF

from course_lib.datasets import registry

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "07_scoring.ipynb"
pytestmark = pytest.mark.skipif(not NOTEBOOK.exists(), reason="notebook 07 is not in this checkout")
MARKER = "# pretrained AlexNet, 1000-way"
V2 = "imagenetv2-matched-frequency"
# class index -> flat colour of its images: the colour tells which class an image is
COLORS = {0: (200, 30, 30), 7: (30, 200, 30), 10: (30, 30, 200), 999: (220, 220, 40)}
PER_CLASS = 2
IMAGE_SIZE, CROP = 72, 64  # small, so the test is fast; AlexNet's adaptive pool takes any size


def notebook_namespace() -> dict:
    return run_marked_cell(NOTEBOOK.name, MARKER)


def torchvision_logits(state: dict, images: torch.Tensor) -> torch.Tensor:
    """``(N, 1000)`` logits of torchvision's own AlexNet with ``state``, on the centre
    ``CROP`` crops of ``images: (N, 3, H, W) uint8`` normalised with ImageNet's mean and std:
    the reference the notebooks' cells are held to."""
    reference = torchvision.models.alexnet(weights=None)
    reference.load_state_dict(state)
    reference.eval()
    x = TF.normalize(TF.to_dtype(TF.center_crop(images, [CROP, CROP]), torch.float32, scale=True),
                     mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])
    with torch.no_grad():
        return reference(x)


def imagenetv2_like_tar(path: Path, top: str) -> None:
    """An uncompressed tar named .tar.gz, as ImageNetV2's are, holding flat-coloured JPEGs."""
    with tarfile.open(path, "w") as tar:
        for label, color in COLORS.items():
            for i in range(PER_CLASS):
                buffer = io.BytesIO()
                Image.new("RGB", (96 + 8 * i, 80), color).save(buffer, "JPEG", quality=95)
                data = buffer.getvalue()
                name = hashlib.sha1(data + bytes([label % 256, i])).hexdigest()
                info = tarfile.TarInfo(f"{top}/{label}/{name}.jpeg")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))


@pytest.fixture
def served(local_server, monkeypatch):
    spec = registry.get(V2)
    archive = local_server.root / spec.filename
    imagenetv2_like_tar(archive, spec.top_dir)
    monkeypatch.setitem(registry.DATASETS, V2, dataclasses.replace(
        spec, urls=(local_server.url(spec.filename),), size=archive.stat().st_size,
        checksums=(registry.Checksum("sha256", hashlib.sha256(archive.read_bytes()).hexdigest(),
                                     "test archive"),)))
    state = torchvision_shaped_state_dict(seed=3)
    weights = local_server.root / "alexnet-owt-7be5be79.pth"  # the real file's name
    torch.save(state, weights)
    options = {"url": local_server.url(weights.name),
               "sha256": hashlib.sha256(weights.read_bytes()).hexdigest(),
               "size": weights.stat().st_size}
    return local_server, state, options


@pytest.mark.slow
def test_pretrained_cell_scores_imagenetv2_against_torchvision(served):
    server, state, weights = served
    cell = notebook_namespace()
    missing = cell["pretrained_missing"](url=weights["url"])
    assert [what.split(" (")[0] for what, _ in missing] == [
        "torchvision's AlexNet weights", "ImageNetV2 MatchedFrequency"]
    assert "python -m course_lib fetch imagenetv2-matched-frequency" in missing[1][1]

    result = cell["score_pretrained"](image_size=IMAGE_SIZE, crop=CROP, batch_size=3,
                                      device="cpu", weights=weights, progress=False)
    assert cell["pretrained_missing"](url=weights["url"]) == []

    # every image once, labelled with its ImageNet index, in the reader's order
    expected = [label for label in sorted(COLORS) for _ in range(PER_CLASS)]
    assert result.labels.tolist() == expected
    assert result.scores.shape == (len(expected), 1000)

    # the images behind the rows: their colour says which class each row really is
    opened = cell["open_splits"](dataset=V2, image_size=IMAGE_SIZE, splits=("test",))
    images = torch.from_numpy(np.array(opened.test.images))
    for row, label in enumerate(result.labels.tolist()):
        mean = images[row].float().mean(dim=(1, 2))
        assert torch.allclose(mean, torch.tensor(COLORS[label], dtype=torch.float32), atol=4), row

    # the scores: torchvision's own AlexNet with the same weights, centre crop, ImageNet norm
    want = torchvision_logits(state, images).softmax(dim=1)
    torch.testing.assert_close(result.scores, want, atol=1e-5, rtol=1e-4)
    top1 = float((want.argmax(dim=1) != result.labels).float().mean())
    assert result.error(1) == pytest.approx(top1)

    # a second run finds everything on disk and downloads nothing
    requests = len(server.state.requests)
    cell["score_pretrained"](image_size=IMAGE_SIZE, crop=CROP, device="cpu", weights=weights,
                             progress=False)
    assert len(server.state.requests) == requests


def test_pretrained_missing_names_the_commands_and_downloads_nothing(local_server):
    cell = notebook_namespace()
    missing = cell["pretrained_missing"]()
    commands = [command for _, command in missing]
    assert commands == [
        'python -c "from course_lib.models import alexnet, load_pretrained; '
        "load_pretrained(alexnet('torchvision'))\"",
        "python -m course_lib fetch imagenetv2-matched-frequency"]
    assert local_server.state.requests == []
