"""load_pretrained(): download from 127.0.0.1, verify, cache, load strictly; clear refusals."""

from __future__ import annotations

import hashlib

import pytest
import torch
import torchvision

from course_lib.download import DownloadError
from course_lib.models.alexnet import alexnet
from course_lib.models.pretrained import (
    SHA256,
    SIZE,
    URL,
    PretrainedWeightsError,
    load_pretrained,
    weights_dir,
)
from course_lib.paths import data_dir


def torchvision_shaped_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    """torchvision AlexNet's exact keys and shapes, every tensor a strided view of one small
    random buffer, so the saved file weighs ~2 MB instead of 233 MiB but each tensor differs."""
    shapes = {k: v.shape for k, v in torchvision.models.alexnet(weights=None).state_dict().items()}
    buffer = torch.randn(500_000, generator=torch.Generator().manual_seed(seed))
    state = {}
    for i, (key, shape) in enumerate(shapes.items()):
        strides, step = [], 1 + i  # a different stride pattern per tensor
        for _ in shape:
            strides.append(step)
            step = 1 + 2 * i
        strides = tuple(reversed(strides))
        reach = sum((n - 1) * s for n, s in zip(shape, strides, strict=True))
        assert reach < len(buffer) - 1000 * i
        state[key] = buffer.as_strided(shape, strides, storage_offset=1000 * i)
    return state


@pytest.fixture
def served_weights(local_server):
    state = torchvision_shaped_state_dict()
    path = local_server.root / "alexnet-test.pth"
    torch.save(state, path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return local_server, state, local_server.url("alexnet-test.pth"), digest, path.stat().st_size


def test_downloads_verifies_caches_and_loads(served_weights):
    server, state, url, digest, size = served_weights
    model = alexnet("torchvision")
    assert load_pretrained(model, url=url, sha256=digest, size=size, progress=False) is model
    loaded = model.state_dict()
    assert list(loaded) == list(state)
    for key, tensor in state.items():
        assert torch.equal(loaded[key], tensor), key
    cached = data_dir() / "weights" / "alexnet-test.pth"
    assert cached.is_file() and weights_dir() == cached.parent
    assert hashlib.sha256(cached.read_bytes()).hexdigest() == digest
    # A second load uses the verified cache: no new request reaches the server.
    requests = len(server.state.requests)
    server.state.status_override = 404
    load_pretrained(alexnet("torchvision"), url=url, sha256=digest, size=size, progress=False)
    assert len(server.state.requests) == requests


def test_wrong_checksum_fails_and_caches_nothing(served_weights, tmp_path):
    _server, _state, url, digest, size = served_weights
    root = tmp_path / "weights_root"
    model = alexnet("torchvision")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(DownloadError, match="does not match"):
        load_pretrained(model, root, url=url, sha256="0" * 64, size=size, progress=False)
    assert not root.exists() or list(root.iterdir()) == []
    assert all(torch.equal(model.state_dict()[k], v) for k, v in before.items())


def test_cached_file_that_no_longer_matches_is_fetched_again(served_weights, tmp_path):
    _server, state, url, digest, size = served_weights
    root = tmp_path / "w"
    root.mkdir()
    (root / "alexnet-test.pth").write_bytes(b"corrupt")
    model = load_pretrained(alexnet("torchvision"), root, url=url, sha256=digest, size=size,
                            progress=False)
    assert torch.equal(model.state_dict()["classifier.6.bias"], state["classifier.6.bias"])


@pytest.mark.parametrize(
    "kwargs,message",
    [({"variant": "paper"}, "'paper' variant"),
     ({"variant": "scaled", "input_size": 56, "width": 0.5, "num_classes": 20}, "'scaled' variant"),
     ({"variant": "torchvision", "width": 0.5}, "width=0.5"),
     ({"variant": "torchvision", "lrn": True}, "lrn=True")],
)
def test_other_networks_are_refused_before_any_download(local_server, kwargs, message):
    model = alexnet(**kwargs)
    with pytest.raises(PretrainedWeightsError, match=message):
        load_pretrained(model, url=local_server.url("never.pth"), progress=False)
    assert local_server.state.requests == []


def test_other_num_classes_needs_skip_head(served_weights):
    _server, state, url, digest, size = served_weights
    model = alexnet("torchvision", num_classes=10)
    with pytest.raises(PretrainedWeightsError, match="skip_head=True"):
        load_pretrained(model, url=url, sha256=digest, size=size, progress=False)
    head = model.classifier[6].weight.detach().clone()
    load_pretrained(model, url=url, sha256=digest, size=size, skip_head=True, progress=False)
    assert torch.equal(model.classifier[6].weight, head)  # fc8 keeps its own 10-way init
    assert torch.equal(model.features[0].weight, state["features.0.weight"])
    assert torch.equal(model.classifier[4].weight, state["classifier.4.weight"])


def test_file_with_wrong_keys_is_rejected(local_server):
    state = torchvision_shaped_state_dict()
    state["features.1.weight"] = state.pop("features.0.weight")
    path = local_server.root / "bad.pth"
    torch.save(state, path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(PretrainedWeightsError, match="missing features.0.weight"):
        load_pretrained(alexnet("torchvision"), url=local_server.url("bad.pth"), sha256=digest,
                        size=None, progress=False)


def test_published_constants():
    # DATASETS.md §1 item 6 / §2.6: the URL's 8-hex tag is the prefix of the full SHA-256.
    assert URL == "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth"
    assert SHA256.startswith("7be5be79") and len(SHA256) == 64
    assert SIZE == 244_408_911
