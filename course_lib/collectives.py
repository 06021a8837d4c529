"""The few ``torch.distributed`` collectives that training and evaluation share.

Every function is a no-op (or returns its input alone) when no process group is initialised, so
callers read the same with one process or many; with one, **every rank must call them in the
same order** (they are collectives). Tensors travel on the device the backend needs: the current
CUDA device under NCCL, the CPU otherwise (gloo); results come back on the input's device.
"""

from __future__ import annotations

import torch
import torch.distributed as torch_dist

from .errors import CourseValueError

_OPS = ("sum", "min", "max")


def initialized() -> bool:
    """True when a ``torch.distributed`` process group is up (e.g. under torchrun)."""
    return torch_dist.is_available() and torch_dist.is_initialized()


def world_size() -> int:
    """Ranks in the process group (1 without one)."""
    return torch_dist.get_world_size() if initialized() else 1


def collective_device() -> torch.device:
    """Where tensors must be for the backend: the current CUDA device (NCCL) or the CPU."""
    if torch_dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def all_reduce(tensor: torch.Tensor, op: str = "sum") -> torch.Tensor:
    """Reduce ``tensor`` in place over the ranks (``op``: "sum", "min" or "max"); returns it."""
    if op not in _OPS:
        raise CourseValueError(f"all_reduce: op must be one of {_OPS}, got {op!r}")
    if world_size() > 1:
        ops = {"sum": torch_dist.ReduceOp.SUM, "min": torch_dist.ReduceOp.MIN,
               "max": torch_dist.ReduceOp.MAX}
        device = collective_device()
        if tensor.device == device:
            torch_dist.all_reduce(tensor, op=ops[op])
        else:
            moved = tensor.to(device)
            torch_dist.all_reduce(moved, op=ops[op])
            tensor.copy_(moved)
    return tensor


def gather_objects(obj) -> list:
    """``[obj of rank 0, obj of rank 1, ...]`` on every rank (picklable objects)."""
    if world_size() == 1:
        return [obj]
    out = [None] * world_size()
    torch_dist.all_gather_object(out, obj)
    return out


def all_ranks_agree(ok: bool) -> bool:
    """True when ``ok`` holds on every rank, so that all raise together and none hangs."""
    flag = torch.tensor([int(bool(ok))])
    return bool(all_reduce(flag, op="min").item())


def gather_rows(tensor: torch.Tensor) -> torch.Tensor:
    """Every rank's ``tensor: (n_rank, *rest)`` concatenated in rank order, on the CPU.

    ``n_rank`` may differ (0 included); a rank with no rows takes ``rest`` from the others, so it
    need not know, e.g., the number of classes. Ranks whose non-empty tensors disagree on
    ``rest`` raise ``ValueError`` (on every rank).
    """
    if world_size() == 1:
        return tensor.cpu()
    shapes = gather_objects(tuple(tensor.shape))
    sizes = [shape[0] for shape in shapes]
    rests = {shape[1:] for shape in shapes if shape[0] > 0}
    if len(rests) > 1:
        raise CourseValueError(f"ranks disagree on the shape of their rows: {sorted(rests)}")
    rest = rests.pop() if rests else tuple(tensor.shape[1:])
    device = collective_device()
    padded = torch.zeros((max(sizes), *rest), dtype=tensor.dtype, device=device)
    if len(tensor):
        padded[:len(tensor)] = tensor.to(device)
    parts = [torch.empty_like(padded) for _ in sizes]
    torch_dist.all_gather(parts, padded)
    return torch.cat([part[:size] for part, size in zip(parts, sizes, strict=True)]).cpu()
