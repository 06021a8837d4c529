import random

import numpy as np
import pytest
import torch

from course_lib import device as dev
from course_lib.device import (
    DeviceError,
    environment_report,
    format_report,
    pick_device,
    pick_precision,
    seed_everything,
)


def test_cpu_when_nothing_else(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(dev, "_mps_available", lambda: False)
    assert pick_device(environ={}) == torch.device("cpu")


def test_cuda_preferred_when_available(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device(environ={}) == torch.device("cuda")


def test_environment_variable_overrides(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device(environ={"COURSE_DEVICE": "cpu"}) == torch.device("cpu")
    assert pick_device("cpu", environ={"COURSE_DEVICE": "cuda"}) == torch.device("cpu")


def test_unknown_device_is_an_error():
    with pytest.raises(DeviceError, match="unknown device 'tpu'.*cuda, mps, cpu"):
        pick_device(environ={"COURSE_DEVICE": "tpu"})


def test_missing_cuda_is_an_error_not_a_fallback(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(DeviceError, match="no CUDA device"):
        pick_device("cuda:0", environ={})


def test_precision_rules(monkeypatch):
    assert pick_precision("cpu", fp32=True).autocast_dtype is None
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    p = pick_precision("cuda")
    assert (p.autocast_dtype, p.use_grad_scaler, p.name) == (torch.bfloat16, False, "bf16")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: False)
    p = pick_precision("cuda")
    assert (p.autocast_dtype, p.use_grad_scaler, p.name) == (torch.float16, True, "fp16")
    assert pick_precision("mps").autocast_dtype is None
    monkeypatch.setattr(dev, "cpu_has_native_bf16", lambda: True)
    assert pick_precision("cpu").autocast_dtype is torch.bfloat16
    monkeypatch.setattr(dev, "cpu_has_native_bf16", lambda: False)
    assert pick_precision("cpu").name == "fp32"


def test_seed_everything_reproduces_every_generator():
    def draw():
        return random.random(), np.random.rand(), torch.rand(2).tolist()

    gen = seed_everything(123)
    first = draw() + (torch.rand(1, generator=gen).item(),)
    gen = seed_everything(123)
    second = draw() + (torch.rand(1, generator=gen).item(),)
    assert first == second
    seed_everything(124)
    assert draw() != first[:3]


def test_environment_report_has_the_keys_a_bug_report_needs(tmp_path):
    (tmp_path / "synthnet-64").mkdir()
    (tmp_path / "synthnet-64" / ".complete").write_text("")
    (tmp_path / "half-extracted").mkdir()
    for split in ("train", "val"):
        (tmp_path / "caches" / "synthnet-32" / split).mkdir(parents=True)
        (tmp_path / "caches" / "synthnet-32" / split / ".complete").write_text("")
    (tmp_path / "caches" / "half-built" / "train").mkdir(parents=True)
    report = environment_report({"COURSE_DATA": str(tmp_path), "COURSE_PROFILE": "smoke"})
    for key in ("profile", "device", "torch", "torchvision", "python", "data_dir", "cpu_cores",
                "ram_gb", "precision", "cuda_available", "device_name", "datasets_present"):
        assert key in report, key
    assert report["profile"] == "smoke"
    assert report["torch"] == torch.__version__
    assert report["data_dir"] == str(tmp_path)
    assert report["datasets_present"] == ["caches/synthnet-32", "synthnet-64"]
    text = format_report(report)
    assert "synthnet-64" in text and text.count("\n") == len(report) - 1
