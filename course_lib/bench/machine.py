"""What a benchmark run saw of the CPU: model, instruction-set flags, threads, torch's kernels.

CPU speed depends on these more than on the clock: bf16 autocast only pays with native bf16
instructions (``avx512_bf16`` or AMX), and oneDNN picks its kernels from the ISA torch reports.
:func:`cpu_report` goes into every saved benchmark JSON so two results can be compared fairly.
"""

from __future__ import annotations

import os
import platform

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
    import torch

    from ..device import cpu_has_native_bf16

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
