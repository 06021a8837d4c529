"""``prepare`` / ``build_cache`` lose nothing and never crash (issue #19, items 1 and 8).

Item 1: an ``--out`` folder is replaced only when it is provably a course cache; a folder that
merely holds a ``manifest.json`` (a web app's) or a ``.complete`` beside the user's files is
refused and every file in it survives.

Item 8: a disk without room for the cache is refused before anything big is written (the array's
size, ``N × 3 × S × S`` bytes, is known), a full disk met during the build is one clean message,
a killed decoding process is a clean error, and no ``.building-*`` folder is ever left behind.
The real full-disk run (a 256 KiB tmpfs in a private mount namespace) skips where mounting is
not allowed.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from test_cache import write_tree

from course_lib import diskspace
from course_lib.__main__ import main
from course_lib.datasets import cache as cache_module
from course_lib.datasets.cache import CacheError, build_cache, open_cache
from course_lib.diskspace import DiskFullError
from course_lib.paths import COMPLETE_MARKER

SIZE = 32
N_IMAGES = 12  # write_tree's default: 3 classes × 4 images
CACHE_BYTES = N_IMAGES * 3 * SIZE * SIZE  # 36,864 bytes: the uint8 array, by hand


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative path → bytes), hidden ones included."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def leftovers(parent: Path) -> list[str]:
    """Temporary folders a build left next to its cache."""
    return sorted(p.name for p in parent.iterdir() if ".building-" in p.name or ".old-" in p.name)


@pytest.fixture
def tree(tmp_path):
    return write_tree(tmp_path / "tree")


# ------------------------------------------------------------------------------------------
# item 1: only a provable cache is replaced

WEB_APP_MANIFEST = {"name": "My thesis viewer", "short_name": "thesis", "start_url": ".",
                    "display": "standalone", "icons": [{"src": "icon.png", "sizes": "192x192"}]}


def web_app_folder(root: Path) -> Path:
    """A user's project: a web app's manifest.json beside the sources of a thesis."""
    (root / "src").mkdir(parents=True)
    (root / "manifest.json").write_text(json.dumps(WEB_APP_MANIFEST))
    (root / "src" / "thesis.tex").write_text("\\documentclass{book} % three years of work\n")
    (root / "index.html").write_text("<html></html>\n")
    return root


def test_a_folder_with_a_web_app_manifest_is_refused_and_kept(tree, tmp_path):
    mine = web_app_folder(tmp_path / "mine")
    before = snapshot(mine)
    with pytest.raises(CacheError) as info:
        build_cache(tree, mine, SIZE, workers=0, progress=False)
    message = str(info.value)
    assert str(mine) in message and "not a cache folder" in message
    assert "src/" in message and "index.html" in message  # names what is not the cache's
    assert snapshot(mine) == before
    assert leftovers(tmp_path) == []


def test_prepare_out_refuses_a_web_app_folder_through_the_cli(tmp_path, capsys):
    root = tmp_path / "photos"
    write_tree(root, classes=("a", "b"), per_class=2)
    mine = web_app_folder(tmp_path / "mine")
    before = snapshot(mine)
    assert main(["prepare", "imagefolder", "--root", str(root), "--size", str(SIZE), "--out",
                 str(mine), "--workers", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: prepare imagefolder: ") and str(mine) in err
    assert snapshot(mine) == before
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("files,match", [
    ({"manifest.json": json.dumps(WEB_APP_MANIFEST)}, "not a cache manifest"),  # alone
    ({COMPLETE_MARKER: "downloaded\n", "notes.md": "keep me\n"}, "notes.md"),
], ids=["lone-manifest", "marker-and-user-file"])
def test_a_folder_that_only_looks_like_a_cache_is_refused(tree, tmp_path, files, match):
    mine = tmp_path / "mine"
    mine.mkdir()
    for name, text in files.items():
        (mine / name).write_text(text)
    before = snapshot(mine)
    with pytest.raises(CacheError, match=match):
        build_cache(tree, mine, SIZE, workers=0, progress=False)
    assert snapshot(mine) == before


def test_a_cache_with_a_user_file_added_is_refused(tree, tmp_path):
    """A genuine cache manifest does not make the user's file inside it expendable."""
    out = tmp_path / "c"
    build_cache(tree, out, SIZE, workers=0, progress=False)
    (out / "my_analysis.ipynb").write_text("{}")
    before = snapshot(out)
    with pytest.raises(CacheError, match="my_analysis.ipynb"):
        build_cache(tree, out, SIZE, workers=0, progress=False, force=True)
    assert snapshot(out) == before


def test_a_genuine_cache_is_still_replaced(tree, tmp_path):
    out = tmp_path / "c"
    first = build_cache(tree, out, SIZE, workers=0, progress=False)
    assert first.rebuilt
    # forced, at another size, and an outdated format version: each replaces the cache
    assert build_cache(tree, out, SIZE, workers=0, progress=False, force=True).rebuilt
    assert build_cache(tree, out, SIZE - 8, workers=0, progress=False).size == SIZE - 8
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["settings"]["version"] = manifest["version"] = 1
    (out / "manifest.json").write_text(json.dumps(manifest))
    again = build_cache(tree, out, SIZE, workers=0, progress=False)
    assert again.rebuilt and again.manifest["settings"]["version"] == cache_module.CACHE_VERSION
    # an interrupted one (no marker) too, and an empty folder
    (out / COMPLETE_MARKER).unlink()
    assert build_cache(tree, out, SIZE, workers=0, progress=False).rebuilt
    empty = tmp_path / "empty"
    empty.mkdir()
    assert build_cache(tree, empty, SIZE, workers=0, progress=False).rebuilt
    assert sorted(p.name for p in out.iterdir()) == [
        ".complete", "converted.json", "images.npy", "labels.npy", "manifest.json",
        "skipped.json"]
    assert leftovers(tmp_path) == []


# ------------------------------------------------------------------------------------------
# item 8: full disks


def fake_free(monkeypatch, free: int) -> None:
    usage = shutil.disk_usage("/")
    monkeypatch.setattr(shutil, "disk_usage",
                        lambda path: type(usage)(usage.total, usage.total - free, free))


def test_too_little_free_space_is_refused_before_writing(tree, tmp_path, monkeypatch):
    out = tmp_path / "c"
    fake_free(monkeypatch, CACHE_BYTES - 1)
    with pytest.raises(DiskFullError) as info:
        build_cache(tree, out, SIZE, workers=0, progress=False)
    message = str(info.value)
    assert str(out) in message and "36.0 KiB" in message and "not enough disk space" in message
    assert info.value.errno == errno.ENOSPC
    assert not out.exists() and leftovers(tmp_path) == []
    # exactly the array's size is enough (no skipped files, so no compacted copy)
    fake_free(monkeypatch, CACHE_BYTES)
    assert build_cache(tree, out, SIZE, workers=0, progress=False).rebuilt


def test_the_compacted_copy_is_checked_too(tree, tmp_path, monkeypatch):
    """With skipped files the kept rows are copied into a second array: room for it is
    checked before it is created (here: room for the first array only)."""
    bad = tree[0][0]
    bad.write_text("not an image")
    calls = []

    def free_bytes(folder):
        calls.append(folder)
        return CACHE_BYTES if len(calls) == 1 else CACHE_BYTES // 2

    monkeypatch.setattr(diskspace, "free_bytes", free_bytes)
    out = tmp_path / "c"
    with pytest.raises(DiskFullError, match="33.0 KiB"):  # 11 kept × 3 × 32 × 32 bytes
        build_cache(tree, out, SIZE, workers=0, progress=False)
    assert not out.exists() and leftovers(tmp_path) == []


@pytest.mark.parametrize("where", [(os, "posix_fallocate"), (cache_module, "_write_json")],
                         ids=["reserving the array", "writing the manifest"])
def test_a_disk_that_fills_during_the_build_keeps_the_old_cache(tree, tmp_path, monkeypatch,
                                                                 where):
    """The free-space check passed, then another program filled the disk."""
    out = tmp_path / "c"
    build_cache(tree, out, SIZE, workers=0, progress=False)
    before = snapshot(out)

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(*where, full)
    with pytest.raises(DiskFullError) as info:
        build_cache(tree, out, SIZE, workers=0, progress=False, force=True)
    assert str(out) in str(info.value)
    assert snapshot(out) == before and len(open_cache(out)) == N_IMAGES
    assert leftovers(tmp_path) == []


def test_the_cli_says_one_line_when_the_disk_is_full(tmp_path, capsys, monkeypatch):
    root = tmp_path / "photos"
    write_tree(root, classes=("a", "b"), per_class=2)
    out = tmp_path / "caches" / "photos"
    fake_free(monkeypatch, 1000)
    assert main(["prepare", "imagefolder", "--root", str(root), "--size", str(SIZE), "--out",
                 str(out), "--workers", "2"]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("error: prepare imagefolder: not enough disk space")
    assert str(out) in lines[0] and "12.0 KiB" in lines[0]  # 4 images × 3 × 32 × 32 bytes
    assert "Traceback" not in captured.err and "Errno" not in captured.err
    assert not out.exists() and leftovers(out.parent) == []


def test_a_killed_decoding_process_is_a_clean_error(tree, tmp_path, monkeypatch):
    """A worker killed by the system (a SIGBUS, the OOM killer) used to surface as a
    BrokenProcessPool traceback."""
    parent = os.getpid()
    real = cache_module.decode_file

    def killed_in_a_worker(*args, **kwargs):
        if os.getpid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)
        return real(*args, **kwargs)

    monkeypatch.setattr(cache_module, "decode_file", killed_in_a_worker)  # inherited by fork
    monkeypatch.setattr(cache_module, "DECODE_CHUNK", 3)
    out = tmp_path / "c"
    with pytest.raises(CacheError, match="decoding process died.*--workers 0"):
        build_cache(tree, out, SIZE, workers=2, progress=False)
    assert not out.exists() and leftovers(tmp_path) == []


def test_a_killed_builds_folder_is_removed_by_the_next_build(tree, tmp_path):
    """A build killed outright (SIGKILL) cannot clean up; the next build of the same cache
    removes its folder when its process is gone, and leaves running builds' folders alone."""
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True, timeout=60)
    dead_pid = int(finished.stdout)
    host = re.sub(r"[^A-Za-z0-9_]", "_", socket.gethostname())  # as the folder names say it
    dead = tmp_path / f".c.building-{host}-{dead_pid}-0123abcd"
    running = tmp_path / f".c.building-{host}-{os.getpid()}-0123abcd"
    elsewhere = tmp_path / f".c.building-otherhost-{dead_pid}-0123abcd"
    other_cache = tmp_path / f".d.building-{host}-{dead_pid}-0123abcd"
    for folder in (dead, running, elsewhere, other_cache):
        folder.mkdir()
        (folder / "all.npy").write_bytes(b"\0" * 100)
    build_cache(tree, tmp_path / "c", SIZE, workers=0, progress=False)
    assert not dead.exists()
    assert running.exists() and elsewhere.exists() and other_cache.exists()


TMPFS_SCRIPT = textwrap.dedent("""\
    set -u
    mount -t tmpfs -o size=256k tmpfs "$DISK" || exit 77
    "$PYTHON" -m course_lib prepare imagefolder --root "$ROOT" --size 32 --out "$DISK/c" \\
        --workers 2 --json
    echo "rc=$?"
    ls -A "$DISK"
    """)


@pytest.mark.subprocess
def test_a_real_full_disk_is_a_clean_refusal(tmp_path):
    """90 images at 32 px need 90 × 3 × 32 × 32 = 276,480 bytes (270 KiB), more than a
    256 KiB tmpfs holds. Before: the memory-mapped array was written until the disk was full,
    and a decoding process died of SIGBUS (a BrokenProcessPool traceback)."""
    if shutil.which("unshare") is None:
        pytest.skip("no unshare(1) to mount a private tmpfs")
    root = tmp_path / "photos"
    write_tree(root, classes=("a", "b", "c"), per_class=30)
    disk = tmp_path / "disk"
    disk.mkdir()
    env = {**os.environ, "DISK": str(disk), "ROOT": str(root), "PYTHON": sys.executable,
           "COURSE_DATA": str(tmp_path / "data")}
    result = subprocess.run(["unshare", "-m", "sh", "-c", TMPFS_SCRIPT], capture_output=True,
                            text=True, env=env, timeout=300,
                            cwd=Path(__file__).resolve().parent.parent)
    if result.returncode == 77 or "rc=" not in result.stdout:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()[:200]}")
    assert "rc=2" in result.stdout, result.stdout + result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "not enough disk space" in errors[0], result.stderr
    assert "270.0 KiB" in errors[0] and str(disk / "c") in errors[0]
    assert "Traceback" not in result.stderr
    listing = result.stdout.split("rc=2", 1)[1].split()
    assert listing == [], f"left on the full disk: {listing}"
