"""One process or many: the same :func:`~course_lib.train.fit` under ``torchrun``.

``torchrun --nproc_per_node=N -m course_lib train ...`` starts N processes and sets ``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT`` in each. :func:`setup`
reads them, joins the process group (NCCL between GPUs, gloo on CPUs) and picks the rank's
device (``cuda:LOCAL_RANK``). Without those variables it is a no-op and training runs in one
process. :class:`Dist` holds this process's place in the run and hands the few collectives the
loop needs to :mod:`course_lib.collectives` (shared with evaluation), so the loop reads the same
either way.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.distributed as torch_dist
from torch.distributed.rendezvous import rendezvous

from .. import collectives
from ..errors import CourseValueError


@dataclass
class Dist:
    """This process's place in the run: ``rank`` of ``world_size`` (1 = no process group)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    initialized_here: bool = False

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def all_reduce(self, tensor: torch.Tensor, op: str = "sum") -> torch.Tensor:
        """Reduce ``tensor`` in place over the ranks (``op``: "sum", "min" or "max")."""
        return collectives.all_reduce(tensor, op) if self.enabled else tensor

    def gather_objects(self, obj) -> list:
        """``[obj of rank 0, obj of rank 1, ...]`` on every rank."""
        return collectives.gather_objects(obj) if self.enabled else [obj]

    def barrier(self) -> None:
        if self.enabled:
            torch_dist.barrier()

    def close(self) -> None:
        """Leave the process group if :func:`setup` joined it."""
        if self.initialized_here and torch_dist.is_initialized():
            torch_dist.destroy_process_group()
            self.initialized_here = False


def env_world(environ: Mapping[str, str] | None = None) -> tuple[int, int, int]:
    """``(rank, world_size, local_rank)`` from torchrun's variables (``(0, 1, 0)`` without)."""
    env = os.environ if environ is None else environ
    try:
        world = int(env.get("WORLD_SIZE", "1"))
        rank = int(env.get("RANK", "0"))
        local = int(env.get("LOCAL_RANK", str(rank)))
    except ValueError as exc:
        raise CourseValueError(f"torchrun variables must be integers: {exc}") from None
    if world < 1 or not 0 <= rank < world:
        raise CourseValueError(f"RANK={rank}, WORLD_SIZE={world}: need 0 <= RANK < WORLD_SIZE")
    return rank, world, local


_groups_joined = 0  # process groups setup() has joined in this process so far


def _fresh_store(rank: int, world: int) -> dict:
    """A store namespace of its own for each process group after the first one ever joined.

    torchrun's key-value store outlives the workers and the groups: the gloo addresses the
    ranks of a previous attempt (after a torchrun restart) or of a previous group in this same
    process (a second :func:`fit`) published there would otherwise be read by the new ones,
    which then try to connect to closed sockets and hang.
    """
    attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")
    if attempt == "0" and _groups_joined == 0:
        return {}
    store, _, _ = next(rendezvous("env://", rank=rank, world_size=world))
    prefix = f"course_lib_attempt_{attempt}_group_{_groups_joined}"
    return {"store": torch_dist.PrefixStore(prefix, store), "rank": rank, "world_size": world}


def setup(device: torch.device) -> tuple[Dist, torch.device]:
    """Join the process group when launched by torchrun; returns ``(Dist, this rank's device)``.

    ``device`` is the device :func:`course_lib.device.pick_device` chose; on CUDA each rank
    takes ``cuda:LOCAL_RANK``. An already initialised process group is used as it is (and left
    open at the end).
    """
    global _groups_joined
    if torch_dist.is_available() and torch_dist.is_initialized():
        rank, world = torch_dist.get_rank(), torch_dist.get_world_size()
        local = env_world()[2] if "LOCAL_RANK" in os.environ else rank
        dist = Dist(rank, world, local, initialized_here=False)
    else:
        rank, world, local = env_world()
        dist = Dist(rank, world, local, initialized_here=False)
        if world > 1:
            if not torch_dist.is_available():
                raise RuntimeError("WORLD_SIZE > 1 but this torch build has no torch.distributed")
            backend = "nccl" if device.type == "cuda" else "gloo"
            if device.type == "cuda":
                torch.cuda.set_device(local)
            torch_dist.init_process_group(backend=backend, **_fresh_store(rank, world))
            _groups_joined += 1
            dist.initialized_here = True
    if dist.enabled and device.type == "cuda":
        device = torch.device("cuda", dist.local_rank)
    return dist, device
