"""Notebook 10, section 4.1: torchvision's AlexNet scored on ImageNetV2, against 127.0.0.1.

The test runs the notebook's own cell (the code cell whose first line is :data:`MARKER`), with the
registry's ImageNetV2 entry and the weights pointed at small files served from 127.0.0.1 (the
fixture of ``test_notebook_07_pretrained``: flat-coloured JPEGs of four ImageNet classes in the
real archive layout, and a state dict with torchvision AlexNet's keys and shapes), and compares
the per-image verdicts with torchvision's own ``alexnet`` holding the same weights.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from notebook_cells import run_marked_cell
from test_notebook_07_pretrained import (  # noqa: F401 (served: a fixture)
    CROP,
    IMAGE_SIZE,
    V2,
    served,
    torchvision_logits,
)

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "10_trusting_the_benchmark.ipynb"
MARKER = "# pretrained AlexNet on ImageNetV2"


def notebook_namespace() -> dict:
    return run_marked_cell(NOTEBOOK.name, MARKER)


def test_missing_names_the_fetch_commands_and_downloads_nothing(local_server):
    cell = notebook_namespace()
    commands = [command for _, command in cell["imagenetv2_missing"]()]
    assert commands == [
        'python -c "from course_lib.models import alexnet, load_pretrained; '
        "load_pretrained(alexnet('torchvision'))\"",
        "python -m course_lib fetch imagenetv2-matched-frequency"]
    assert local_server.state.requests == []


@pytest.mark.slow
def test_cell_scores_imagenetv2_like_torchvision(served):  # noqa: F811
    server, state, weights = served
    cell = notebook_namespace()
    correct = cell["imagenetv2_correct"](image_size=IMAGE_SIZE, crop=CROP, batch_size=3,
                                         weights=weights, progress=False)
    assert cell["imagenetv2_missing"](url=weights["url"]) == []

    opened = cell["open_splits"](dataset=V2, image_size=IMAGE_SIZE, splits=("test",))
    images = torch.from_numpy(np.array(opened.test.images))
    labels_1k = np.asarray(opened.extra["original_labels"])[np.asarray(opened.test.labels)]
    want = torchvision_logits(state, images).argmax(dim=1).numpy() == labels_1k
    assert correct.dtype == bool and correct.shape == (len(images),)
    np.testing.assert_array_equal(correct, want)
