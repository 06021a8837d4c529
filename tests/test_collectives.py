"""The collectives shared by training and evaluation, alone and on two gloo processes."""

from __future__ import annotations

import socket

import pytest
import torch

from course_lib import collectives


def test_without_a_process_group_everything_is_local():
    assert not collectives.initialized() and collectives.world_size() == 1
    t = torch.tensor([1.0, 2.0])
    assert collectives.all_reduce(t) is t and t.tolist() == [1.0, 2.0]
    assert collectives.gather_objects({"a": 1}) == [{"a": 1}]
    assert collectives.all_ranks_agree(True) and not collectives.all_ranks_agree(False)
    assert torch.equal(collectives.gather_rows(torch.ones(2, 3)), torch.ones(2, 3))
    with pytest.raises(ValueError, match="'mean'"):
        collectives.all_reduce(t, op="mean")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, port: int, out: str) -> None:
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    try:
        result = {
            "sum": collectives.all_reduce(torch.tensor([rank + 1.0])).item(),
            "max": collectives.all_reduce(torch.tensor([rank + 1.0]), op="max").item(),
            "agree": collectives.all_ranks_agree(rank == 0),
            "objects": collectives.gather_objects(f"rank {rank}"),
            # rank 0 has two rows of width 3, rank 1 none (and does not know the width)
            "rows": collectives.gather_rows(torch.full((2, 3), 7.0) if rank == 0
                                            else torch.zeros(0, 0)),
            "ints": collectives.gather_rows(torch.arange(rank + 1) + 10 * rank),
        }
        try:
            collectives.gather_rows(torch.zeros(1, 3 + rank))
            result["clash"] = None
        except ValueError as exc:
            result["clash"] = str(exc)
        torch.save(result, f"{out}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_two_gloo_ranks(tmp_path):
    import torch.multiprocessing as mp

    mp.spawn(_worker, args=(_free_port(), str(tmp_path)), nprocs=2, join=True)
    for rank in range(2):
        r = torch.load(tmp_path / f"rank{rank}.pt", weights_only=False)
        assert (r["sum"], r["max"], r["agree"]) == (3.0, 2.0, False)
        assert r["objects"] == ["rank 0", "rank 1"]
        assert torch.equal(r["rows"], torch.full((2, 3), 7.0))
        assert r["ints"].tolist() == [0, 10, 11]  # in rank order
        assert "disagree" in r["clash"] and "(3,)" in r["clash"] and "(4,)" in r["clash"]
