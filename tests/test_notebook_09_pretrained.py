"""Notebook 09, section 2.1: torchvision's pretrained conv1 kernels, read only when on disk.

The code is not copied here: the test reads notebooks/09_inside_alexnet.ipynb, takes the code cell
whose first line starts with :data:`MARKER` and runs it, so the notebook and this test cannot
drift apart. A file with torchvision AlexNet's keys and shapes stands in for the 233 MiB weights;
it is verified by its SHA-256 as the real one is, and a file that fails the check is never read.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch
from notebook_cells import run_marked_cell
from test_models_pretrained import torchvision_shaped_state_dict

from course_lib.download import DownloadError

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "09_inside_alexnet.ipynb"
MARKER = "# torchvision's pretrained conv1"


def notebook_namespace() -> dict:
    return run_marked_cell(NOTEBOOK.name, MARKER)


def test_absent_weights_give_none_and_nothing_is_downloaded(monkeypatch):
    ns = notebook_namespace()

    def no_network(*args, **kwargs):
        raise AssertionError("the notebook must not download the weights by itself")

    monkeypatch.setattr("course_lib.download.download_file", no_network)
    assert ns["pretrained_conv1"]() is None
    assert "load_pretrained(alexnet('torchvision'))" in ns["FETCH"]


def test_present_weights_give_torchvisions_conv1():
    from course_lib.models import pretrained

    ns = notebook_namespace()
    state = torchvision_shaped_state_dict(seed=5)
    path = pretrained.weights_dir() / "alexnet-owt-7be5be79.pth"  # the real file's name
    path.parent.mkdir(parents=True)
    torch.save(state, path)
    options = {"sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
               "size": path.stat().st_size}
    kernels = ns["pretrained_conv1"](options)
    assert kernels.shape == (64, 3, 11, 11)
    torch.testing.assert_close(kernels, state["features.0.weight"])


def test_a_file_that_fails_its_checksum_is_not_read(monkeypatch):
    from course_lib.models import pretrained

    monkeypatch.setenv("COURSE_OFFLINE", "1")  # a mismatch must not turn into a download here
    ns = notebook_namespace()
    path = pretrained.weights_dir() / "alexnet-owt-7be5be79.pth"
    path.parent.mkdir(parents=True)
    torch.save(torchvision_shaped_state_dict(seed=6), path)
    with pytest.raises(DownloadError):  # the published SHA-256 does not match this file
        ns["pretrained_conv1"]()
