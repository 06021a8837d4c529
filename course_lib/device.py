"""The one place that chooses a device, a precision and seeds.

Every notebook and every command calls :func:`pick_device`; none picks a device itself.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import random
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata

import numpy as np
import torch

from . import __version__
from .errors import CourseError, CourseValueError
from .memory import memory_status
from .paths import data_dir, present_datasets, shown
from .profiles import profile_source

VALID_DEVICES = ("cuda", "mps", "cpu")


class DeviceError(CourseError, RuntimeError):
    """A requested device is unknown or not available on this machine."""


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def pick_device(prefer: str | None = None, environ: Mapping[str, str] | None = None) -> torch.device:
    """The device to compute on: CUDA, then Apple's MPS, then the CPU.

    ``prefer`` (or else the ``COURSE_DEVICE`` variable) forces a choice such as ``"cpu"`` or
    ``"cuda:1"``; asking for a device this machine does not have raises :class:`DeviceError`
    rather than silently falling back.
    """
    env = os.environ if environ is None else environ
    wanted = prefer or env.get("COURSE_DEVICE") or ""
    wanted = wanted.strip().lower()
    if wanted:
        kind = wanted.split(":", 1)[0]
        if kind not in VALID_DEVICES:
            raise DeviceError(
                f"unknown device {wanted!r} (from {'the argument' if prefer else 'COURSE_DEVICE'}):"
                f" use one of {', '.join(VALID_DEVICES)}"
            )
        if kind == "cuda" and not torch.cuda.is_available():
            raise DeviceError(f"device {wanted!r} was asked for, but torch sees no CUDA device")
        if kind == "mps" and not _mps_available():
            raise DeviceError(f"device {wanted!r} was asked for, but MPS is not available")
        return torch.device(wanted)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if _mps_available():
        return torch.device("mps")
    return torch.device("cpu")


@dataclass(frozen=True)
class Precision:
    """How to run the forward pass: ``autocast_dtype`` None means plain fp32."""

    autocast_dtype: torch.dtype | None
    use_grad_scaler: bool
    reason: str

    @property
    def name(self) -> str:
        return {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.autocast_dtype]


def _version_of(package: str) -> str | None:
    """An installed package's version, read from its metadata (importing torchvision would
    load its models: seconds, for a version string)."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def cpu_has_native_bf16() -> bool:
    """True when the CPU has bf16 instructions (AVX512-BF16 or AMX), so bf16 autocast pays."""
    cpu = getattr(torch, "cpu", None)
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(cpu, name, lambda: False)()) for name in checks)


def pick_precision(device: torch.device | str) -> Precision:
    """The fastest safe mixed-precision mode for ``device`` (what "auto" means).

    The ``COURSE_PRECISION`` variable (``fp32``, ``bf16``, ``fp16``) overrides the choice for
    every run that asks for "auto": ``COURSE_PRECISION=fp32`` times a chapter as a CPU without
    bf16 instructions (most laptops, many Binder machines) would run it. Otherwise:

    * CUDA with native bf16 (compute capability >= 8.0: A100, RTX 30xx, H100...): bf16
      autocast, no grad scaler.
    * Older CUDA (e.g. Colab's T4, 7.5): fp16 autocast with a grad scaler against underflow.
    * CPU with native bf16 instructions: bf16 autocast; other CPUs and MPS: fp32.
    """
    device = torch.device(device)
    forced = os.environ.get("COURSE_PRECISION", "").strip()
    if forced and forced.lower() != "auto":
        if forced.lower() not in PRECISION_NAMES:
            raise CourseValueError(f"COURSE_PRECISION={forced!r}: use one of {PRECISION_NAMES}")
        chosen = resolve_precision(forced.lower(), device)
        return dataclasses.replace(chosen, reason=f"COURSE_PRECISION={forced} is set")
    if device.type == "cuda":
        major, minor = torch.cuda.get_device_capability(device)
        # native bf16 from compute capability 8.0 (Ampere) on; not torch.cuda.is_bf16_supported(),
        # which by default also counts the emulated bf16 of older GPUs (a T4 is 7.5): it runs,
        # but slower than fp16 with a grad scaler
        if (major, minor) >= (8, 0):
            return Precision(torch.bfloat16, False,
                             f"this CUDA device (compute capability {major}.{minor}) has native bf16")
        return Precision(torch.float16, True, f"CUDA compute capability {major}.{minor} has no "
                         "native bf16: fp16 with a grad scaler")
    if device.type == "cpu" and cpu_has_native_bf16():
        return Precision(torch.bfloat16, False, "this CPU has native bf16 instructions")
    return Precision(None, False, f"no fast reduced precision on {device.type}")


PRECISION_NAMES = ("auto", "fp32", "bf16", "fp16")


def resolve_precision(precision, device: torch.device | str) -> Precision:
    """The one place a requested precision becomes a :class:`Precision` for ``device``.

    ``precision``: None or ``"auto"`` (:func:`pick_precision`), ``"fp32"``, ``"bf16"``,
    ``"fp16"`` (a grad scaler on CUDA, where fp16 gradients underflow), a ``torch.dtype``
    (float32, bfloat16, float16) or a :class:`Precision` (returned as it is). Anything else
    raises ``ValueError`` naming the value.
    """
    device = torch.device(device)
    if isinstance(precision, Precision):
        return precision
    if isinstance(precision, torch.dtype):
        names = {torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}
        if precision not in names:
            raise CourseValueError(f"precision {precision} is not one of float32, bfloat16, float16")
        precision = names[precision]
    if precision is None or precision == "auto":
        return pick_precision(device)
    dtypes = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
    if not isinstance(precision, str) or precision not in dtypes:
        raise CourseValueError(f"precision must be a Precision, a torch dtype or one of "
                               f"{PRECISION_NAMES}, got {precision!r}")
    # a grad scaler only where fp16 gradients are computed with CUDA's kernels (they underflow)
    return Precision(dtypes[precision], precision == "fp16" and device.type == "cuda",
                     f"{precision} was requested")


def seed_everything(seed: int, deterministic: bool = False) -> None:
    """Seed Python, NumPy and torch (all devices).

    ``deterministic=True`` also asks torch for deterministic kernels (slower, and some
    operations then raise), which the resume-equals-uninterrupted guarantee relies on.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True


def _ram_gb() -> float | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return None


def _device_name(device: torch.device) -> tuple[str, float | None]:
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        return props.name, props.total_memory / 2**30
    if device.type == "mps":
        return "Apple GPU (MPS)", None
    return _cpuinfo()[0] or platform.processor() or platform.machine() or "CPU", None


def environment_report(environ: Mapping[str, str] | None = None) -> dict:
    """Everything a bug report needs: versions, device, profile, data (a flat JSON-able dict)."""
    env = os.environ if environ is None else environ
    profile, profile_reason = profile_source(env)
    device = pick_device(environ=env)
    name, memory = _device_name(device)
    precision = pick_precision(device)
    root = data_dir(env)
    ram = _ram_gb()
    budget = memory_status()
    return {
        "course_lib": __version__,
        "python": platform.python_version(),
        "platform": f"{platform.system()} {platform.release()} ({platform.machine()})",
        "executable": sys.executable,
        "torch": torch.__version__,
        "torchvision": _version_of("torchvision"),
        "numpy": np.__version__,
        "cuda_available": torch.cuda.is_available(),
        "cuda_version": torch.version.cuda,
        "cuda_devices": torch.cuda.device_count(),
        "device": str(device),
        "device_name": name,
        "device_memory_gb": None if memory is None else round(memory, 1),
        "precision": precision.name,
        "cpu_cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "ram_gb": None if ram is None else round(ram, 1),
        # what a kernel may really use: the container's (cgroup's) limit, not the host's RAM
        "memory_limit_gb": None if budget.limit is None else round(budget.limit / 2**30, 1),
        "memory_free_gb": (None if budget.available is None
                           else round(budget.available / 2**30, 1)),
        "memory_limit_source": budget.source,
        "profile": profile,
        "profile_reason": profile_reason,
        "data_dir": str(root),
        "datasets_present": present_datasets(root),
    }


def format_report(report: dict) -> str:
    """An :func:`environment_report` as a two-column table of text (paths shown relative to
    the checkout or home folder, :func:`paths.shown`)."""
    width = max(len(key) for key in report)
    lines = []
    for key, value in report.items():
        if key in ("executable", "data_dir") and value:
            value = shown(value)
        if isinstance(value, list):
            value = ", ".join(value) if value else "(none yet)"
        elif value is None:
            value = "-"
        lines.append(f"{key:<{width}}  {value}")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# What a benchmark run (or a learner) saw of the CPU: bf16 autocast only pays with native bf16
# instructions (avx512_bf16 or AMX), and oneDNN picks its kernels from the ISA torch reports.

# The flags of /proc/cpuinfo that matter for PyTorch on a CPU, in the order they appeared.
CPU_FLAGS = ("sse4_2", "fma", "f16c", "avx", "avx2", "avx_vnni", "avx512f", "avx512bw",
             "avx512vl", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16",
             "amx_int8", "amx_fp16")


def _cpuinfo(path: str = "/proc/cpuinfo") -> tuple[str | None, set[str]]:
    """``(model name, flags)`` of the first processor in ``path`` (Linux), else ``(None, set())``."""
    name, flags = None, set()
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name" and name is None:
                    name = value.strip()
                elif key in ("flags", "Features") and not flags:  # x86, ARM
                    flags = set(value.split())
                if name is not None and flags:
                    break
    except OSError:
        pass
    return name, flags


def cpu_report(cpuinfo: str = "/proc/cpuinfo") -> dict:
    """The CPU as this process sees it (a flat JSON-able dict).

    ``model_name``; ``flags``: each of :data:`CPU_FLAGS` → present (None for all when
    ``/proc/cpuinfo`` is unreadable, e.g. macOS); ``native_bf16``: what
    :func:`course_lib.device.cpu_has_native_bf16` answers (torch's own check); ``torch_capability``:
    the ISA torch dispatches its CPU kernels for; ``logical_cpus`` and ``usable_cpus`` (the
    affinity mask, what a container allows); ``torch_threads`` / ``torch_interop_threads``;
    ``torch``; the thread-count variables set in the environment.
    """
    name, flags = _cpuinfo(cpuinfo)
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - macOS
        usable = os.cpu_count()
    backends_cpu = getattr(torch.backends, "cpu", None)
    capability = backends_cpu.get_cpu_capability() if hasattr(backends_cpu, "get_cpu_capability") else None
    return {
        "model_name": name or platform.processor() or platform.machine(),
        "flags": {f: (f in flags) if flags else None for f in CPU_FLAGS},
        "native_bf16": cpu_has_native_bf16(),
        "torch_capability": capability,
        "logical_cpus": os.cpu_count(),
        "usable_cpus": usable,
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "torch": torch.__version__,
        "thread_env": {k: os.environ[k] for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS",
                                                  "OPENBLAS_NUM_THREADS") if k in os.environ},
    }
