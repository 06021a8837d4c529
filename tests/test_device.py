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
    resolve_precision,
    seed_everything,
)


@pytest.mark.parametrize("cuda, prefer, environ, expected", [
    (False, None, {}, "cpu"),  # nothing else (no MPS either)
    (True, None, {}, "cuda"),  # CUDA preferred when available
    (True, None, {"COURSE_DEVICE": "cpu"}, "cpu"),  # the variable overrides the rule
    (True, "cpu", {"COURSE_DEVICE": "cuda"}, "cpu"),  # and the argument overrides the variable
])
def test_the_device_choice(monkeypatch, cuda, prefer, environ, expected):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(dev, "_mps_available", lambda: False)
    assert pick_device(prefer, environ=environ) == torch.device(expected)


def test_unknown_device_is_an_error():
    with pytest.raises(DeviceError, match="unknown device 'tpu'.*cuda, mps, cpu"):
        pick_device(environ={"COURSE_DEVICE": "tpu"})


def test_missing_cuda_is_an_error_not_a_fallback(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(DeviceError, match="no CUDA device"):
        pick_device("cuda:0", environ={})


def fake_gpu(monkeypatch, capability: tuple[int, int], emulated_bf16: bool = True) -> None:
    """A CUDA device of the given compute capability; ``torch.cuda.is_bf16_supported()`` says
    True as recent torch does on a T4 (it counts emulated bf16 unless told not to)."""
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported",
                        lambda including_emulation=True: including_emulation and emulated_bf16
                        or capability >= (8, 0))


def test_t4_gets_fp16_with_a_grad_scaler_not_emulated_bf16(monkeypatch):
    fake_gpu(monkeypatch, (7, 5))  # Colab's default GPU
    p = pick_precision("cuda")
    assert (p.autocast_dtype, p.use_grad_scaler, p.name) == (torch.float16, True, "fp16")
    assert "7.5" in p.reason


def test_ampere_and_newer_get_bf16_without_a_scaler(monkeypatch):
    for capability in ((8, 0), (8, 6), (9, 0)):  # A100, RTX 30xx, H100
        fake_gpu(monkeypatch, capability)
        p = pick_precision("cuda:0")
        assert (p.autocast_dtype, p.use_grad_scaler, p.name) == (torch.bfloat16, False, "bf16")


def test_cpu_and_mps_precision_rules(monkeypatch):
    assert pick_precision("mps").autocast_dtype is None
    monkeypatch.setattr(dev, "cpu_has_native_bf16", lambda: True)
    assert pick_precision("cpu").autocast_dtype is torch.bfloat16
    monkeypatch.setattr(dev, "cpu_has_native_bf16", lambda: False)
    assert pick_precision("cpu").name == "fp32"


def test_course_precision_forces_what_auto_means(monkeypatch):
    monkeypatch.setattr(dev, "cpu_has_native_bf16", lambda: True)
    monkeypatch.setenv("COURSE_PRECISION", "fp32")  # timing a chapter as an AVX2 laptop runs it
    p = resolve_precision("auto", "cpu")
    assert p.autocast_dtype is None and "COURSE_PRECISION=fp32" in p.reason
    assert resolve_precision("bf16", "cpu").name == "bf16"  # an explicit request still wins
    monkeypatch.setenv("COURSE_PRECISION", "auto")
    assert resolve_precision(None, "cpu").name == "bf16"
    monkeypatch.setenv("COURSE_PRECISION", "double")
    with pytest.raises(ValueError, match="COURSE_PRECISION='double': use one of"):
        resolve_precision(None, "cpu")


def test_resolve_precision_is_the_one_place_names_become_modes(monkeypatch):
    fake_gpu(monkeypatch, (7, 5))
    cuda = torch.device("cuda")
    assert resolve_precision("auto", cuda) == pick_precision(cuda)
    assert resolve_precision(None, cuda) == pick_precision(cuda)
    for name, dtype, scaler in (("fp32", None, False), ("bf16", torch.bfloat16, False),
                                ("fp16", torch.float16, True)):
        p = resolve_precision(name, cuda)
        assert (p.autocast_dtype, p.use_grad_scaler, p.name) == (dtype, scaler, name)
    # fp16 gradients need the scaler only where they are computed in fp16 with CUDA's kernels
    assert not resolve_precision("fp16", "cpu").use_grad_scaler
    assert resolve_precision(torch.float32, "cpu").autocast_dtype is None
    assert resolve_precision(torch.bfloat16, "cpu").name == "bf16"
    given = dev.Precision(torch.float16, False, "mine")
    assert resolve_precision(given, cuda) is given
    with pytest.raises(ValueError, match="'fp8'"):
        resolve_precision("fp8", "cpu")
    with pytest.raises(ValueError, match="torch.float64"):
        resolve_precision(torch.float64, "cpu")


def test_the_training_loop_and_evaluation_use_the_same_resolver():
    from course_lib import evaluate
    from course_lib.train import loop

    assert loop.resolve_precision is resolve_precision  # bench.train imports it from there
    assert not hasattr(evaluate, "_resolve_precision")


def test_seed_everything_reproduces_every_generator():
    def draw():
        return random.random(), np.random.rand(), torch.rand(2).tolist()

    seed_everything(123)
    first = draw()
    seed_everything(123)
    assert draw() == first
    seed_everything(124)
    assert draw() != first


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


def test_paths_are_shown_without_the_machines_folders(tmp_path, monkeypatch):
    from course_lib import paths

    root = paths._CHECKOUT_ROOT
    assert paths.shown(root / "data" / "weights" / "w.pth") == "data/weights/w.pth"
    assert paths.shown(root) == "."
    monkeypatch.chdir(tmp_path)
    assert paths.shown(tmp_path / "runs" / "last.pt") == "runs/last.pt"
    home = tmp_path.parent / "ana-home"
    assert paths.shown(home / "data" / "x.txt", {"HOME": str(home)}) == "~/data/x.txt"
    assert paths.shown("/srv/elsewhere/file", {"HOME": str(home)}) == "/srv/elsewhere/file"
    assert paths.shown("relative/file") == "relative/file"


def test_the_printed_report_shows_no_absolute_checkout_path():
    from course_lib import paths
    from course_lib.device import format_report

    root = paths._CHECKOUT_ROOT
    text = format_report({"executable": str(root / ".venv" / "bin" / "python"),
                          "data_dir": str(root / "data"), "torch": "2.14.1"})
    assert str(root) not in text
    assert "executable  .venv/bin/python" in text and "data_dir    data" in text
