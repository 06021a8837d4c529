"""The training core on a CUDA device (run by ``make gpu-check``; skipped without a GPU).

On a GPU the host must stay ahead of the device: ``fit`` may wait for it only every
``log_every`` steps (its docstring's promise). torch's sync debug mode turns every
synchronising call (``.item()``, a blocking copy between host and device, ``nonzero``...) into a
warning naming the Python line that made it, so the test counts them step by step.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from course_lib.models.alexnet import alexnet
from course_lib.train import TrainConfig, fit

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def colour_data(n: int, size: int = 32, classes: int = 4, seed: int = 0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, size=n)
    images = rng.integers(0, 256, size=(n, 3, size, size), dtype=np.uint8)
    images[:, 0] = (labels * 60)[:, None, None].astype(np.uint8)  # learnable: red = class
    return images, labels.astype(np.int64)


def small_net() -> torch.nn.Module:
    torch.manual_seed(0)
    return alexnet("scaled", num_classes=4, width=0.25, input_size=28)


@pytest.mark.parametrize("data_on_device", [True, False])
def test_fit_waits_for_the_device_only_every_log_every_steps(data_on_device):
    log_every, steps = 5, 20
    images, labels = colour_data(steps * 16)
    config = TrainConfig(epochs=1, batch_size=16, crop_size=28, lr=0.01, schedule="constant",
                         log_every=log_every, progress=False, device="cuda",
                         data_on_device=data_on_device)
    syncs: dict[int, list[str]] = {}
    fit(small_net(), (images, labels), None, config)  # warm-up: cuDNN, allocator, caches
    previous = torch.cuda.get_sync_debug_mode()
    torch.cuda.set_sync_debug_mode("warn")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            seen = 0

            def record(event, info):
                nonlocal seen
                new = [w for w in caught[seen:] if "synchroniz" in str(w.message)]
                if event == "step":
                    syncs[info["step_in_epoch"]] = [f"{w.filename}:{w.lineno}" for w in new]
                seen = len(caught)

            fit(small_net(), (images, labels), None, config, callbacks=record)
    finally:
        torch.cuda.set_sync_debug_mode(previous)
    assert sorted(syncs) == list(range(1, steps + 1))
    # step 1 also holds the set-up (weights to the device, the FLOP count...): not counted
    unexpected = {step: where for step, where in syncs.items()
                  if where and step > 1 and step % log_every and step != steps}
    assert not unexpected, (f"fit waited for the device between log_every={log_every} steps "
                            f"(step: where): {unexpected}")
    assert any(syncs[step] for step in range(log_every, steps + 1, log_every)), \
        "no synchronisation at all: is sync debug mode reporting?"


def test_fit_on_cuda_uses_native_bf16_and_learns():
    images, labels = colour_data(256)
    history = fit(small_net(), (images, labels), (images[:64], labels[:64]),
                  TrainConfig(epochs=3, batch_size=32, crop_size=28, lr=0.02, progress=False,
                              device="cuda", schedule="constant"))
    major, _ = torch.cuda.get_device_capability()
    assert history.attrs["precision"] == ("bf16" if major >= 8 else "fp16")
    assert history.attrs["device"].startswith("cuda")
    assert history["train_loss"].iloc[-1] < history["train_loss"].iloc[0]
