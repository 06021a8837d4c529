"""course_lib.pretrained_scores (notebooks 08 §8 and 11 §4): torchvision's pretrained AlexNet
scored 1000-way on ImageNetV2, against 127.0.0.1.

The registry's ImageNetV2 entry is pointed at a small archive of the real layout
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
from PIL import Image
from test_models_pretrained import torchvision_shaped_state_dict
from torchvision.transforms.v2 import functional as TF

from course_lib.datasets import registry
from course_lib.pretrained_scores import V2, WEIGHTS_COMMAND, pretrained_missing, score_pretrained
from course_lib.recipe import open_splits

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
# class index -> flat colour of its images: the colour tells which class an image is
COLORS = {0: (200, 30, 30), 7: (30, 200, 30), 10: (30, 30, 200), 999: (220, 220, 40)}
PER_CLASS = 2
IMAGE_SIZE, CROP = 72, 64  # small, so the test is fast; AlexNet's adaptive pool takes any size


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


def test_missing_names_the_fetch_commands_and_downloads_nothing(local_server):
    commands = [command for _, command in pretrained_missing()]
    assert commands == [WEIGHTS_COMMAND, "python -m course_lib fetch imagenetv2-matched-frequency"]
    assert "load_pretrained(alexnet('torchvision'))" in WEIGHTS_COMMAND
    assert local_server.state.requests == []


def test_chapters_07_and_10_call_the_library_not_a_copy():
    """The measurement lives in the library once: neither chapter defines its own."""
    import json

    for name in ("08_scoring.ipynb", "11_trusting_the_benchmark.ipynb"):
        cells = json.loads((NOTEBOOKS / name).read_text(encoding="utf-8"))["cells"]
        code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        assert "score_pretrained(" in code and "pretrained_missing()" in code, name
        assert "def score_pretrained" not in code and "load_pretrained(alexnet" not in code, name


@pytest.mark.slow
def test_scores_imagenetv2_against_torchvision(served):
    server, state, weights = served
    missing = pretrained_missing(url=weights["url"])
    assert [what.split(" (")[0] for what, _ in missing] == [
        "torchvision's AlexNet weights", "ImageNetV2 MatchedFrequency"]

    result = score_pretrained(image_size=IMAGE_SIZE, crop=CROP, batch_size=3, device="cpu",
                              weights=weights, progress=False)
    assert pretrained_missing(url=weights["url"]) == []

    # every image once, labelled with its ImageNet index, in the reader's order
    expected = [label for label in sorted(COLORS) for _ in range(PER_CLASS)]
    assert result.labels.tolist() == expected
    assert result.scores.shape == (len(expected), 1000)

    # the images behind the rows: their colour says which class each row really is
    opened = open_splits(V2, IMAGE_SIZE, splits=("test",))
    images = torch.from_numpy(np.array(opened.test.images))
    for row, label in enumerate(result.labels.tolist()):
        mean = images[row].float().mean(dim=(1, 2))
        assert torch.allclose(mean, torch.tensor(COLORS[label], dtype=torch.float32), atol=4), row

    # the scores: torchvision's own AlexNet with the same weights, centre crop, ImageNet norm
    want = torchvision_logits(state, images).softmax(dim=1)
    torch.testing.assert_close(result.scores, want, atol=1e-5, rtol=1e-4)
    top1 = float((want.argmax(dim=1) != result.labels).float().mean())
    assert result.error(1) == pytest.approx(top1)
    top5 = want.topk(5, dim=1).indices
    assert result.error(5) == pytest.approx(
        float((top5 != result.labels[:, None]).all(dim=1).float().mean()))
