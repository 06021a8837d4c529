"""How hard the device works: training FLOPs per image, achieved TFLOP/s, and the device's peak.

A training step costs about three forward passes (the backward pass computes gradients for both
the inputs and the weights, each as costly as the forward), and a multiply-accumulate is two
floating-point operations, so one image costs ``6 × MACs`` FLOPs, with the MACs counted by
:func:`course_lib.models.summary.summarize` (the count torchvision calls "GFLOPS": 0.714 G for
AlexNet at 224 px, FACTS.md §5).

Peaks are the dense (no sparsity) 16-bit tensor-core figures of the vendors' data sheets,
rounded; achieved / peak is the *model FLOPs utilisation*. Devices not in the table (CPUs, MPS,
other GPUs) get ``None``: the share is then not reported rather than guessed.
"""

from __future__ import annotations

import warnings

import torch

from ..errors import CourseWarning
from ..models.summary import summarize

# Substring of torch.cuda.get_device_name() -> dense bf16/fp16 tensor TFLOP/s (NVIDIA data
# sheets; the first match wins, so the more specific names come first).
PEAK_TFLOPS_16BIT: tuple[tuple[str, float], ...] = (
    ("H200", 989.0),
    ("H100 PCIe", 756.0),
    ("H100", 989.0),  # SXM
    ("A100", 312.0),
    ("L4", 121.0),
    ("T4", 65.0),  # fp16 only
    ("V100", 125.0),  # fp16 only (SXM2)
)


def peak_tflops(device: torch.device | str, dtype: torch.dtype | None) -> float | None:
    """The device's dense 16-bit tensor peak in TFLOP/s, or None (fp32, CPU, unknown GPU)."""
    device = torch.device(device)
    if device.type != "cuda" or dtype not in (torch.bfloat16, torch.float16):
        return None
    name = torch.cuda.get_device_name(device)
    return next((peak for key, peak in PEAK_TFLOPS_16BIT if key in name), None)


def training_flops_per_image(model: torch.nn.Module, crop_size: int) -> float | None:
    """``6 × MACs`` of one ``(3, crop, crop)`` image, or None if the model cannot be summarised;
    then a :class:`~course_lib.errors.CourseWarning` says why, so the empty TFLOP/s columns of
    ``fit``'s history are explained, not silent."""
    try:
        macs = summarize(model, (3, crop_size, crop_size)).attrs["total_macs"]
    except (TypeError, RuntimeError, ValueError) as exc:
        warnings.warn(f"TFLOP/s will not be reported: {type(model).__name__} could not be "
                      f"summarised for a {crop_size}-px crop ({type(exc).__name__}: "
                      f"{str(exc)[:200]})", CourseWarning, stacklevel=2)
        return None
    return 6.0 * float(macs)


def achieved_tflops(images_per_s: float, flops_per_image: float | None) -> float | None:
    """Training TFLOP/s actually done: images/s × FLOPs per image / 10¹²."""
    if flops_per_image is None:
        return None
    return images_per_s * flops_per_image / 1e12
