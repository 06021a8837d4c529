"""The memory a kernel may use: the cgroup's limit (Binder's 2 GB), not the host's RAM."""

from __future__ import annotations

import platform
from pathlib import Path

import pytest

from course_lib.memory import (
    GB,
    MemoryBudgetError,
    MemoryStatus,
    memory_status,
    release_freed_memory,
    require_memory,
)

HOST = "MemTotal:       24000000 kB\nMemFree:        1000 kB\nMemAvailable:   20000000 kB\n"


@pytest.fixture
def meminfo(tmp_path):
    path = tmp_path / "meminfo"
    path.write_text(HOST)
    return path


def test_cgroup_v2_limit_wins_over_the_hosts_ram(tmp_path, meminfo):
    cgroup = tmp_path / "cg"
    cgroup.mkdir()
    (cgroup / "memory.max").write_text(f"{2 * GB}\n")
    (cgroup / "memory.current").write_text(f"{int(1.5 * GB)}\n")
    status = memory_status(cgroup, meminfo)
    assert (status.limit, status.used, status.source) == (2 * GB, int(1.5 * GB), "cgroup v2")
    assert status.available == int(0.5 * GB)


def test_cgroup_v1_and_unlimited_groups(tmp_path, meminfo):
    v1 = tmp_path / "v1" / "memory"
    v1.mkdir(parents=True)
    (v1 / "memory.limit_in_bytes").write_text(f"{3 * GB}\n")
    (v1 / "memory.usage_in_bytes").write_text(f"{GB}\n")
    assert memory_status(tmp_path / "v1", meminfo).source == "cgroup v1"
    (v1 / "memory.limit_in_bytes").write_text("9223372036854771712\n")  # v1's "no limit"
    host = memory_status(tmp_path / "v1", meminfo)
    assert host.source == "host" and host.limit == 24000000 * 1024
    assert host.available == 20000000 * 1024
    v2 = tmp_path / "v2"
    v2.mkdir()
    (v2 / "memory.max").write_text("max\n")
    assert memory_status(v2, meminfo).source == "host"


def test_a_limit_above_the_machines_ram_does_not_bind(tmp_path, meminfo):
    cgroup = tmp_path / "cg"
    cgroup.mkdir()
    (cgroup / "memory.max").write_text(f"{64 * GB}\n")
    (cgroup / "memory.current").write_text(f"{GB}\n")
    assert memory_status(cgroup, meminfo).source == "host"


def test_require_memory_says_what_to_do_before_a_dead_kernel():
    tight = MemoryStatus(limit=2 * GB, used=int(1.6 * GB), source="cgroup v2")
    with pytest.raises(MemoryBudgetError, match=r"needs about 1\.2 GB but only 0\.4 GB of the "
                                                r"2\.0 GB .*cgroup v2.*Shut Down"):
        require_memory(1.2, "training", tight)
    require_memory(0.3, "training", tight)  # fits: silent
    require_memory(99, "training", MemoryStatus(None, None, "host"))  # unknown: silent


def _rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS line")


@pytest.mark.skipif(not Path("/proc/self/status").exists() or platform.libc_ver()[0] != "glibc",
                    reason="malloc_trim is glibc's (Linux)")
@pytest.mark.parametrize("full", [True, False])
def test_release_freed_memory_hands_fragmented_heap_pages_back(full):
    """Freed chunks between live ones stay resident until malloc_trim gives their pages back
    (glibc returns only the top of the heap by itself)."""
    blocks = [bytearray(64 * 1024) for _ in range(3000)]  # ~190 MB on the heap, touched
    keep = blocks[::50]  # live blocks spread through the heap: it cannot shrink from the top
    del blocks
    before = _rss_bytes()
    assert release_freed_memory(full=full) is True
    after = _rss_bytes()
    assert before - after > 100 * 2**20, (before, after)
    assert len(keep) == 60
