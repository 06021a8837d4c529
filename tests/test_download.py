"""Verified downloads and safe extraction, against the 127.0.0.1 server in tests/http_server.py."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path

import pytest

from course_lib import download
from course_lib.download import (
    DownloadError,
    DownloadUnavailableError,
    UnsafeArchiveError,
    download_file,
    extract_archive,
)
from course_lib.paths import COMPLETE_MARKER


def _payload(n: int, seed: int = 0) -> bytes:
    """n bytes that do not compress and differ with the seed."""
    out = bytearray()
    counter = 0
    while len(out) < n:
        out += hashlib.sha256(f"{seed}-{counter}".encode()).digest()
        counter += 1
    return bytes(out[:n])


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def _build_tar(path: Path, files: dict[str, bytes], mode: str = "w:gz") -> bytes:
    with tarfile.open(path, mode) as tar:
        for name, data in files.items():
            _add_bytes(tar, name, data)
    return path.read_bytes()


FILES = {
    "demo/train/a/0.bin": _payload(40_000, 1),
    "demo/train/b/1.bin": _payload(30_000, 2),
    "demo/readme.txt": b"hello\n",
}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _fetch(server, name, dest, data, **kw):
    kw.setdefault("sha256", _sha(data))
    kw.setdefault("size", len(data))
    return download_file(server.url(name), dest, progress=False, backoff=0, **kw)


# ------------------------------------------------------------------------------ downloads


def test_good_archive_downloads_verifies_extracts_and_gets_marker(local_server, tmp_path):
    data = _build_tar(local_server.root / "demo.tar.gz", FILES)
    dest = tmp_path / "dl" / "demo.tar.gz"
    assert _fetch(local_server, "demo.tar.gz", dest, data) == dest
    assert dest.read_bytes() == data
    assert not dest.with_name("demo.tar.gz.part").exists()
    out = extract_archive(dest, tmp_path / "out")
    assert (out / COMPLETE_MARKER).is_file()
    for name, content in FILES.items():
        assert (out / name).read_bytes() == content
    assert not list(out.glob(".extracting-*"))


def test_wrong_checksum_leaves_nothing_in_place(local_server, tmp_path):
    data = _build_tar(local_server.root / "demo.tar.gz", FILES)
    dest = tmp_path / "dl" / "demo.tar.gz"
    wrong = "0" * 64
    with pytest.raises(DownloadError) as info:
        _fetch(local_server, "demo.tar.gz", dest, data, sha256=wrong)
    message = str(info.value)
    assert local_server.url("demo.tar.gz") in message
    assert wrong in message and _sha(data) in message  # expected and actual
    assert f"{len(data):,}" in message
    assert not dest.exists()
    assert list(dest.parent.iterdir()) == []  # no .part either


def test_wrong_size_leaves_nothing_in_place(local_server, tmp_path):
    data = _build_tar(local_server.root / "demo.tar.gz", FILES)
    dest = tmp_path / "dl" / "demo.tar.gz"
    with pytest.raises(DownloadError, match="size") as info:
        _fetch(local_server, "demo.tar.gz", dest, data, size=len(data) + 1)
    assert _sha(data) in str(info.value)  # the actual hash is reported too
    assert list(dest.parent.iterdir()) == []


def test_dropped_connection_resumes_with_range(local_server, tmp_path):
    data = _build_tar(local_server.root / "demo.tar.gz", FILES)
    local_server.state.drop_after = 10_000
    local_server.state.drops = 1
    dest = tmp_path / "demo.tar.gz"
    _fetch(local_server, "demo.tar.gz", dest, data)
    assert dest.read_bytes() == data
    ranges = [rng for _, rng in local_server.state.requests]
    assert ranges == [None, "bytes=10000-"]


def test_dropped_connection_retries_from_scratch_without_range(local_server, tmp_path):
    data = _build_tar(local_server.root / "demo.tar.gz", FILES)
    local_server.state.support_range = False
    local_server.state.drop_after = 10_000
    local_server.state.drops = 2
    dest = tmp_path / "demo.tar.gz"
    _fetch(local_server, "demo.tar.gz", dest, data)
    assert dest.read_bytes() == data  # the 200 answers were written from byte 0, not appended
    assert len(local_server.state.requests) == 3


def test_persistent_drops_give_up_with_manual_instructions(local_server, tmp_path):
    data = _build_tar(local_server.root / "demo.tar.gz", FILES)
    local_server.state.drop_after = 1000
    local_server.state.drops = 100
    dest = tmp_path / "demo.tar.gz"
    with pytest.raises(DownloadUnavailableError) as info:
        _fetch(local_server, "demo.tar.gz", dest, data, retries=2)
    assert len(local_server.state.requests) == 3
    assert str(dest.resolve()) in str(info.value)
    assert not dest.exists()
    # What came in is kept only as .part, resumed next time and still verified.
    local_server.state.drops = 0
    _fetch(local_server, "demo.tar.gz", dest, data)
    assert dest.read_bytes() == data
    assert local_server.state.requests[-1][1] == "bytes=3000-"


@pytest.mark.parametrize("present", ["demo.tar.gz", "demo.tar.gz.part"])
def test_a_complete_file_or_part_is_verified_without_a_request(local_server, tmp_path, present):
    data = _build_tar(local_server.root / "demo.tar.gz", FILES)
    dest = tmp_path / "demo.tar.gz"
    (tmp_path / present).write_bytes(data)
    _fetch(local_server, "demo.tar.gz", dest, data)
    assert local_server.state.requests == [] and dest.read_bytes() == data


def test_present_corrupt_file_is_replaced(local_server, tmp_path):
    data = _build_tar(local_server.root / "demo.tar.gz", FILES)
    dest = tmp_path / "demo.tar.gz"
    dest.write_bytes(data[:-10] + b"0123456789")
    _fetch(local_server, "demo.tar.gz", dest, data)
    assert dest.read_bytes() == data
    assert len(local_server.state.requests) == 1


def test_blocked_download_is_not_retried_and_says_what_to_do(local_server, tmp_path):
    local_server.state.status_override = 403
    dest = tmp_path / "sub" / "thing.tgz"
    with pytest.raises(DownloadUnavailableError) as info:
        download_file(local_server.url("thing.tgz"), dest, sha256="ab" * 32, size=1234,
                      progress=False, backoff=0)
    message = str(info.value)
    assert len(local_server.state.requests) == 1
    assert local_server.url("thing.tgz") in message and "403" in message
    assert str(dest.resolve()) in message and "ab" * 32 in message and "1,234" in message


def test_offline_error_names_url_and_destination(tmp_path):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/cifar.tar.gz"
    dest = tmp_path / "cifar.tar.gz"
    with pytest.raises(DownloadUnavailableError) as info:
        download_file(url, dest, sha256="c" * 64, size=10, retries=1, progress=False, backoff=0)
    message = str(info.value)
    assert url in message and str(dest.resolve()) in message and "c" * 64 in message
    assert not dest.exists() and not dest.with_name("cifar.tar.gz.part").exists()


def test_course_offline_fails_without_any_request(local_server, tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    (local_server.root / "x.bin").write_bytes(b"x")
    with pytest.raises(DownloadUnavailableError, match="COURSE_OFFLINE"):
        download_file(local_server.url("x.bin"), tmp_path / "x.bin", size=1, progress=False)
    assert local_server.state.requests == []


def test_progress_bar_path_runs(local_server, tmp_path):
    data = _build_tar(local_server.root / "demo.tar.gz", FILES)
    dest = download_file(local_server.url("demo.tar.gz"), tmp_path / "d.tgz", sha256=_sha(data),
                         progress=True, backoff=0)
    assert dest.read_bytes() == data


# ------------------------------------------------------------------------------ extraction


def _tar_with(path: Path, add) -> Path:
    with tarfile.open(path, "w") as tar:
        _add_bytes(tar, "top/ok.txt", b"fine")
        add(tar)
    return path


def _link(name, target, kind=tarfile.SYMTYPE):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


@pytest.mark.parametrize(
    "add, what",
    [
        (lambda t: _add_bytes(t, "top/../../evil.txt", b"x"), "'..'"),
        (lambda t: _add_bytes(t, "../evil.txt", b"x"), "'..'"),
        (lambda t: _add_bytes(t, "/tmp/evil.txt", b"x"), "absolute"),
        (lambda t: t.addfile(_link("top/link", "../../outside")), "symlink"),
        (lambda t: t.addfile(_link("top/link", "/etc/passwd")), "symlink"),
        (lambda t: t.addfile(_link("top/hard", "../outside", tarfile.LNKTYPE)), "hard link"),
        (lambda t: t.addfile(_link("top/dev", "", tarfile.CHRTYPE)), "device"),
        (lambda t: t.addfile(_link("top/blk", "", tarfile.BLKTYPE)), "device"),
        (lambda t: t.addfile(_link("top/fifo", "", tarfile.FIFOTYPE)), "FIFO"),
        # Links that stay inside were allowed before; no course archive has one, and a chain of
        # such links is how tarfile's own filter was bypassed (CVE-2025-4517): all refused now.
        (lambda t: t.addfile(_link("top/alias.txt", "ok.txt")), "symlink"),
        (lambda t: t.addfile(_link("top/hard.txt", "top/ok.txt", tarfile.LNKTYPE)), "hard link"),
        (lambda t: _add_bytes(t, COMPLETE_MARKER, b"x"), "completion marker"),
    ],
    ids=["dotdot-inner", "dotdot", "absolute", "symlink-escape", "symlink-absolute",
         "hardlink-escape", "device", "block-device", "fifo", "symlink-inside", "hardlink-inside",
         "marker-name"],
)
def test_unsafe_tar_members_are_refused(tmp_path, add, what):
    archive = _tar_with(tmp_path / "bad.tar", add)
    dest = tmp_path / "a" / "b" / "out"
    with pytest.raises(UnsafeArchiveError, match=what) as info:
        extract_archive(archive, dest)
    assert str(archive) in str(info.value)  # names the archive (and the member, via `what`)
    assert not (dest / COMPLETE_MARKER).exists()
    assert not (dest / "top").exists()
    assert not list(tmp_path.rglob("evil.txt"))
    assert not list(dest.glob(".extracting-*"))


def _outside_untouched(tmp_path: Path, dest: Path, victim: Path) -> None:
    """Nothing but the archive, the victim and the (empty) destination exists under tmp_path."""
    assert victim.read_text() == "original"
    assert not (dest / COMPLETE_MARKER).exists()
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p.suffix != ".tar" and p != victim]
    assert written == []


def test_symlink_chain_is_refused_and_writes_nothing_outside(tmp_path):
    # Each link stays inside when read on its own ("x/y" -> ".." is the top, "x/y/z" -> ".."
    # one above it), but followed in turn they lead out of the destination.
    victim = tmp_path / "victim.txt"
    victim.write_text("original")
    archive = tmp_path / "chain.tar"
    with tarfile.open(archive, "w") as tar:
        tar.addfile(_link("x/y", ".."))
        tar.addfile(_link("x/y/z", ".."))
        _add_bytes(tar, "x/y/z/evil.txt", b"escaped")  # tmp_path/data/evil.txt, outside
    dest = tmp_path / "data" / "out"
    with pytest.raises(UnsafeArchiveError, match="symlink") as info:
        extract_archive(archive, dest, progress=False)
    assert "'x/y'" in str(info.value)
    _outside_untouched(tmp_path, dest, victim)


def test_cve_2025_4517_long_link_chain_is_refused(tmp_path):
    """The PATH_MAX trick: symlinks through long nested folder names that os.path.realpath (and
    so tarfile's data filter on Python 3.11.7) stops resolving, then a hard link to a file
    outside plus a regular member of the same name, which overwrites that file. Against the old
    code this overwrote ``victim.txt``, created ``newfile`` beside it and wrote the marker."""
    victim = tmp_path / "victim.txt"
    victim.write_text("original")
    dest = tmp_path / "data" / "out"
    dest.mkdir(parents=True)
    archive = tmp_path / "poc.tar"
    steps = "abcdefghijklmnop"
    # Sized from the temporary folder the extraction writes into (old name: .extracting-NAME-PID).
    extracting = dest / f".extracting-{archive.name}-{os.getpid()}"
    path_max = os.pathconf(tmp_path, "PC_PATH_MAX") if hasattr(os, "pathconf") else 4096
    component = "d" * ((path_max - len(str(extracting)) - 1) // (len(steps) + 1))
    with tarfile.open(archive, "w", format=tarfile.PAX_FORMAT) as tar:
        path = ""
        for step in steps:
            folder = tarfile.TarInfo(os.path.join(path, component))
            folder.type, folder.mode = tarfile.DIRTYPE, 0o777
            tar.addfile(folder)
            tar.addfile(_link(os.path.join(path, step), component))
            path = os.path.join(path, component)
        long_link = os.path.join(*steps, "l" * 254)
        tar.addfile(_link(long_link, os.path.join(*[".."] * len(steps))))
        # long_link -> the extraction folder; three more ".." reach tmp_path (data/out/.extracting-*).
        tar.addfile(_link("escape", os.path.join(long_link, "..", "..", "..")))
        tar.addfile(_link("flaglink", "escape/victim.txt", tarfile.LNKTYPE))
        _add_bytes(tar, "flaglink", b"overwritten")
        _add_bytes(tar, "escape/newfile", b"new")
    with pytest.raises(UnsafeArchiveError, match="symlink"):
        extract_archive(archive, dest, progress=False)
    assert victim.read_text() == "original"
    assert not (tmp_path / "newfile").exists()
    assert not (dest / COMPLETE_MARKER).exists()
    assert list(dest.iterdir()) == []


@pytest.mark.skipif(not download._FILTER_ERRORS, reason="this Python's tarfile has no filters")
def test_tarfile_filter_errors_become_unsafe_archive_errors(tmp_path, monkeypatch):
    # Our own member checks switched off: what is left is tarfile's data filter, whose
    # FilterError must come out as UnsafeArchiveError naming archive and member.
    monkeypatch.setattr(download, "_check_tar_member", lambda member, archive: None)
    monkeypatch.setattr(download, "_ensure_inside", lambda *args: None)
    archive = _tar_with(tmp_path / "bad.tar", lambda t: t.addfile(_link("top/link", "../../x")))
    dest = tmp_path / "out"
    with pytest.raises(UnsafeArchiveError, match="data filter") as info:
        extract_archive(archive, dest, progress=False)
    assert str(archive) in str(info.value) and "'top/link'" in str(info.value)
    assert isinstance(info.value.__cause__, tarfile.FilterError)
    assert not (dest / COMPLETE_MARKER).exists()


def test_without_tarfile_filters_our_checks_are_the_guard(tmp_path, monkeypatch):
    # Python before 3.10.12 / 3.11.4 has no extraction filters: the same archives are refused,
    # and a good one is still extracted (without the archive's owners and modes).
    monkeypatch.setattr(download, "_FILTER_ERRORS", ())
    victim = tmp_path / "victim.txt"
    victim.write_text("original")
    chain = tmp_path / "chain.tar"
    with tarfile.open(chain, "w") as tar:
        tar.addfile(_link("x/y", ".."))
        tar.addfile(_link("x/y/z", ".."))
        _add_bytes(tar, "x/y/z/evil.txt", b"escaped")
    dest = tmp_path / "data" / "out"
    with pytest.raises(UnsafeArchiveError, match="symlink"):
        extract_archive(chain, dest, progress=False)
    _outside_untouched(tmp_path, dest, victim)
    good = tmp_path / "good.tar"
    _build_tar(good, FILES, mode="w")
    out = extract_archive(good, tmp_path / "good", progress=False)
    assert all((out / n).read_bytes() == d for n, d in FILES.items())


def test_member_resolved_through_a_link_outside_is_refused(tmp_path):
    into = tmp_path / "into"
    into.mkdir()
    (into / "sneaky").symlink_to(tmp_path)
    root = os.path.realpath(into)
    download._ensure_inside(root, into, "fine/file.txt", Path("a.tar"))
    with pytest.raises(UnsafeArchiveError, match="outside the destination") as info:
        download._ensure_inside(root, into, "sneaky/file.txt", Path("a.tar"))
    assert "a.tar" in str(info.value) and "'sneaky/file.txt'" in str(info.value)


def test_plain_tar_named_tar_gz_is_extracted(tmp_path):
    archive = tmp_path / "imagenetv2-like.tar.gz"
    data = _build_tar(archive, FILES, mode="w")  # uncompressed, as ImageNetV2's are
    assert data[:2] != b"\x1f\x8b" and len(data) % 512 == 0
    with pytest.raises(tarfile.ReadError):  # what naive "r:gz" code would hit
        tarfile.open(archive, "r:gz")
    out = extract_archive(archive, tmp_path / "out")
    assert all((out / n).read_bytes() == d for n, d in FILES.items())


def test_interrupted_extraction_is_redone(tmp_path):
    archive = tmp_path / "demo.tar.gz"
    _build_tar(archive, FILES)
    dest = tmp_path / "out"
    # What a killed run leaves: a half-written file, a stray file, a temp folder, no marker.
    (dest / "demo" / "train" / "a").mkdir(parents=True)
    (dest / "demo" / "train" / "a" / "0.bin").write_bytes(FILES["demo/train/a/0.bin"][:100])
    (dest / "demo" / "train" / "a" / "partial-leftover").write_bytes(b"junk")
    (dest / ".extracting-demo.tar.gz-99999" / "demo").mkdir(parents=True)
    extract_archive(archive, dest)
    assert (dest / COMPLETE_MARKER).is_file()
    assert all((dest / n).read_bytes() == d for n, d in FILES.items())
    assert not (dest / "demo" / "train" / "a" / "partial-leftover").exists()
    assert sorted(p.name for p in dest.iterdir()) == [COMPLETE_MARKER, "demo"]


def test_extraction_killed_half_way_leaves_no_marker_and_is_redone(tmp_path, monkeypatch):
    archive = tmp_path / "demo.tar.gz"
    _build_tar(archive, FILES)
    dest = tmp_path / "out"
    real_replace = os.replace
    moved = []

    def replace_then_die(src, dst):  # the first entry lands, then the process "dies"
        real_replace(src, dst)
        moved.append(dst)
        raise KeyboardInterrupt

    monkeypatch.setattr(download.os, "replace", replace_then_die)
    with pytest.raises(KeyboardInterrupt):
        extract_archive(archive, dest)
    assert moved and not (dest / COMPLETE_MARKER).exists()
    monkeypatch.setattr(download.os, "replace", real_replace)
    extract_archive(archive, dest)
    assert (dest / COMPLETE_MARKER).is_file()
    assert all((dest / n).read_bytes() == d for n, d in FILES.items())


def test_completed_extraction_is_trusted_not_redone(tmp_path):
    archive = tmp_path / "demo.tar.gz"
    _build_tar(archive, FILES)
    dest = extract_archive(archive, tmp_path / "out")
    (dest / "demo" / "readme.txt").write_bytes(b"edited by the learner")
    extract_archive(archive, dest)
    assert (dest / "demo" / "readme.txt").read_bytes() == b"edited by the learner"


def test_not_an_archive_is_an_error(tmp_path):
    junk = tmp_path / "junk.tgz"
    junk.write_bytes(b"this is not an archive" * 100)
    with pytest.raises(DownloadError, match="not a tar archive"):
        extract_archive(junk, tmp_path / "out")
    assert not (tmp_path / "out" / COMPLETE_MARKER).exists()


def test_check_file_reports_each_mismatch(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"abc")
    assert download.check_file(path, sha256=_sha(b"abc"), size=3) == []
    problems = download.check_file(path, sha256="0" * 64, size=3)
    assert problems == [f"sha256: expected {'0' * 64}, got {_sha(b'abc')}"]
    assert download.check_file(path, size=4) == ["size: expected 4 bytes, got 3"]
    assert os.path.getsize(path) == 3


def test_resume_answered_with_another_range_starts_over(tmp_path):
    class Answer:  # a 206 for bytes the client did not ask for
        status = 206
        headers = {"Content-Range": "bytes 0-99/100"}

    part = tmp_path / "f.part"
    part.write_bytes(b"x" * 50)
    with pytest.raises(OSError, match="asked for bytes 50-"):
        download._resume_offset(Answer(), 50, part)
    assert not part.exists()
    Answer.headers = {"Content-Range": "bytes 50-99/100"}
    part.write_bytes(b"x" * 50)
    assert download._resume_offset(Answer(), 50, part) == 50


# ------------------------------------------------------------------------------ hostile servers


def test_planted_part_symlink_is_refused_not_written_through(local_server, tmp_path):
    data = _build_tar(local_server.root / "demo.tar.gz", FILES)
    victim = tmp_path / "victim.txt"
    victim.write_text("original")
    dest = tmp_path / "dl" / "demo.tar.gz"
    dest.parent.mkdir()
    part = dest.with_name("demo.tar.gz.part")
    part.symlink_to(victim)
    with pytest.raises(DownloadError, match="symbolic link") as info:
        _fetch(local_server, "demo.tar.gz", dest, data)
    assert str(part) in str(info.value)
    assert victim.read_text() == "original"
    assert part.is_symlink() and not dest.exists()
    assert local_server.state.requests == []
    # Once the learner removes it, the download works.
    part.unlink()
    assert _fetch(local_server, "demo.tar.gz", dest, data).read_bytes() == data


def test_planted_part_fifo_is_refused(local_server, tmp_path):
    data = _build_tar(local_server.root / "demo.tar.gz", FILES)
    dest = tmp_path / "demo.tar.gz"
    os.mkfifo(dest.with_name("demo.tar.gz.part"))
    outcome = []

    def attempt():  # in a thread: a downloader that opens the FIFO would block for ever
        try:
            _fetch(local_server, "demo.tar.gz", dest, data)
            outcome.append(None)
        except Exception as exc:  # noqa: BLE001 - checked below
            outcome.append(exc)

    thread = threading.Thread(target=attempt, daemon=True)
    thread.start()
    thread.join(timeout=2.5)
    assert not thread.is_alive(), "the download blocked on the FIFO"
    assert isinstance(outcome[0], DownloadError) and "not a regular file" in str(outcome[0])
    assert local_server.state.requests == []


def test_endless_body_without_length_stops_at_the_expected_size(local_server, tmp_path):
    data = _build_tar(local_server.root / "demo.tar.gz", FILES)
    local_server.state.endless = True  # no Content-Length, then zeros for ever
    dest = tmp_path / "demo.tar.gz"
    start = time.monotonic()
    with pytest.raises(DownloadUnavailableError, match=f"more than the expected {len(data):,} bytes"):
        _fetch(local_server, "demo.tar.gz", dest, data)
    assert time.monotonic() - start < 3
    assert len(local_server.state.requests) == 1  # the mirror failed: no retry
    assert not dest.exists() and not dest.with_name("demo.tar.gz.part").exists()


def test_announced_length_beyond_the_expected_size_fails_the_mirror(local_server, tmp_path):
    data = _build_tar(local_server.root / "demo.tar.gz", FILES)
    local_server.state.content_length = str(10 * len(data))
    with pytest.raises(DownloadUnavailableError, match="announces"):
        _fetch(local_server, "demo.tar.gz", tmp_path / "demo.tar.gz", data)
    assert len(local_server.state.requests) == 1


def test_trickling_server_hits_the_deadline(local_server, tmp_path):
    data = _payload(200, 5)
    (local_server.root / "slow.bin").write_bytes(data)
    local_server.state.trickle = 0.2  # one byte every 0.2 s: 40 s for the file
    dest = tmp_path / "slow.bin"
    start = time.monotonic()
    with pytest.raises(DownloadUnavailableError, match="deadline of 1 s") as info:
        _fetch(local_server, "slow.bin", dest, data, min_seconds=1.0, timeout=1.0)
    assert time.monotonic() - start < 3
    assert "resumed next time" in str(info.value)  # what arrived is kept for a resume
    assert not dest.exists()


def test_deadline_scales_with_the_expected_size():
    clock = download._Clock(60.0, 10_000_000_000, 50_000.0)
    assert clock.seconds == 200_000  # 10 GB at 50 kB/s
    assert download._Clock(60.0, 1000, 50_000.0).seconds == 60
    unknown = download._Clock(60.0, None, 50_000.0)
    unknown.allow_for(6_000_000)  # the Content-Length stands in for an unknown size
    assert unknown.seconds == 120


@pytest.mark.parametrize("value", ["12abc", "-5", "1e3", ""])
def test_malformed_content_length_fails_the_mirror_with_a_message(local_server, tmp_path, value):
    data = _build_tar(local_server.root / "demo.tar.gz", FILES)
    local_server.state.content_length = value
    dest = tmp_path / "demo.tar.gz"
    with pytest.raises(DownloadUnavailableError, match="malformed Content-Length") as info:
        _fetch(local_server, "demo.tar.gz", dest, data)
    assert local_server.url("demo.tar.gz") in str(info.value) and repr(value) in str(info.value)
    assert len(local_server.state.requests) == 1
    assert not dest.exists()


# ------------------------------------------------------------------------------ two at once


def _slow_members(seconds: float):
    """A stand-in for download._bar that pauses after each member, so two runs overlap."""
    def bar(items, archive, progress):
        for item in items:
            yield item
            time.sleep(seconds)
    return bar


def _complete(dest: Path) -> bool:
    return all((dest / n).is_file() and (dest / n).read_bytes() == d for n, d in FILES.items())


def test_two_threads_extracting_at_once_do_not_collide(tmp_path, monkeypatch):
    # Before the lock, the second run deleted the first's temporary folder half-way, and one of
    # them moved a partial tree into place and wrote the marker.
    archive = tmp_path / "demo.tar.gz"
    _build_tar(archive, FILES)
    dest = tmp_path / "out"
    monkeypatch.setattr(download, "_bar", _slow_members(0.1))
    results = []

    def work():
        try:
            extract_archive(archive, dest, progress=False)
            results.append(_complete(dest))  # complete the moment each run returns
        except BaseException as exc:  # noqa: BLE001 - reported below
            results.append(exc)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
        time.sleep(0.05)
    for t in threads:
        t.join(timeout=10)
    assert results == [True, True]
    assert (dest / COMPLETE_MARKER).is_file() and _complete(dest)
    assert sorted(p.name for p in dest.iterdir()) == [COMPLETE_MARKER, "demo"]
    assert not download.lock_path(dest).exists()


_PROCESS = """
import sys, time
from pathlib import Path
from course_lib import download
def bar(items, archive, progress):
    for item in items:
        yield item
        time.sleep(0.25)
download._bar = bar
dest = Path(sys.argv[2])
download.extract_archive(Path(sys.argv[1]), dest, progress=False)
names = sys.argv[3:]
sys.exit(0 if all((dest / n).is_file() for n in names) else 3)  # 3: returned with a partial tree
"""


@pytest.mark.subprocess
def test_two_processes_extracting_at_once_do_not_collide(tmp_path):
    archive = tmp_path / "demo.tar.gz"
    _build_tar(archive, FILES)
    dest = tmp_path / "out"
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root)}
    procs = [subprocess.Popen([sys.executable, "-c", _PROCESS, str(archive), str(dest), *FILES],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    results = [p.communicate(timeout=20) + (p.returncode,) for p in procs]
    assert [rc for _, _, rc in results] == [0, 0], results
    assert (dest / COMPLETE_MARKER).is_file() and _complete(dest)
    assert sorted(p.name for p in dest.iterdir()) == [COMPLETE_MARKER, "demo"]


def test_lock_is_exclusive_across_threads_and_reentrant_within_one(tmp_path):
    target = tmp_path / "thing"
    order = []

    def other():
        with download.target_lock(target):
            order.append("other")

    with download.target_lock(target):
        with download.target_lock(target):  # the same thread again: no deadlock
            thread = threading.Thread(target=other)
            thread.start()
            time.sleep(0.2)
            order.append("first")
    thread.join(timeout=5)
    assert order == ["first", "other"]
    assert not download.lock_path(target).exists()


def test_without_any_lock_primitive_extraction_still_works(tmp_path, monkeypatch):
    monkeypatch.setattr(download, "fcntl", None)
    monkeypatch.setattr(download, "msvcrt", None)
    archive = tmp_path / "demo.tar.gz"
    _build_tar(archive, FILES)
    out = extract_archive(archive, tmp_path / "out", progress=False)
    assert all((out / n).read_bytes() == d for n, d in FILES.items())


# ------------------------------------------------------------------------------ archive bombs


def _zeros_tgz(path: Path, name: str, size: int) -> Path:
    """A .tgz of one file of ``size`` zero bytes: about 1,000 times smaller than its content."""
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo(name)
        info.size = size
        tar.addfile(info, io.BytesIO(bytes(size)))
    return path


def _many_files_tgz(path: Path, count: int, top: str = "demo") -> Path:
    """A .tgz of ``count`` tiny files (a member-count bomb when ``count`` is large)."""
    with tarfile.open(path, "w:gz") as tar:
        for i in range(count):
            _add_bytes(tar, f"{top}/f{i:06d}.txt", b"x")
    return path


def _nothing_left(dest: Path) -> None:
    assert not (dest / COMPLETE_MARKER).exists()
    assert not list(dest.glob(".extracting-*"))  # the partial extraction was removed
    assert [p for p in dest.rglob("*")] == []


def test_extraction_caps_follow_the_formula():
    # max(declared extracted size, 4 × archive size) bytes; declared members + 1 %, rounded up.
    assert download.extraction_caps(1000).max_bytes == 4000
    assert download.extraction_caps(1000).max_members is None
    assert download.extraction_caps(1000, extracted_size=3999).max_bytes == 4000
    assert download.extraction_caps(1000, extracted_size=10_000).max_bytes == 10_000
    assert download.extraction_caps(1000, members=100).max_members == 101
    assert download.extraction_caps(1000, members=13_418).max_members == 13_553  # 13,552.18 up
    assert download.extraction_caps(1000, members=9).max_members == 10  # 9.09 up


def test_a_compression_bomb_is_refused_before_anything_is_written(tmp_path):
    archive = _zeros_tgz(tmp_path / "bomb.tgz", "demo/zeros.bin", 20 << 20)
    size = archive.stat().st_size
    assert size < 100_000  # 20 MiB of content in a few tens of kB
    dest = tmp_path / "out"
    with pytest.raises(download.ArchiveTooLargeError) as info:
        extract_archive(archive, dest, progress=False, extracted_size=10_000, members=5)
    message = str(info.value)
    cap = 4 * size
    assert str(archive) in message  # the archive
    assert f"cap of {cap:,} bytes" in message and f"4 × the archive's {size:,} bytes" in message
    assert f"{20 << 20:,} bytes" in message and "'demo/zeros.bin'" in message  # what was found
    assert isinstance(info.value, UnsafeArchiveError)
    _nothing_left(dest)


def test_declared_extracted_size_raises_the_cap_above_four_times_the_archive(tmp_path):
    archive = _zeros_tgz(tmp_path / "sparse-data.tgz", "demo/zeros.bin", 1 << 20)
    assert 4 * archive.stat().st_size < 1 << 20
    with pytest.raises(download.ArchiveTooLargeError, match=f"cap of {(1 << 20) - 1:,} bytes"):
        extract_archive(archive, tmp_path / "low", progress=False, extracted_size=(1 << 20) - 1)
    out = extract_archive(archive, tmp_path / "ok", progress=False, extracted_size=1 << 20)
    assert (out / "demo" / "zeros.bin").read_bytes() == bytes(1 << 20)


def test_a_member_count_bomb_is_refused_at_the_cap(tmp_path):
    archive = _many_files_tgz(tmp_path / "many.tgz", 3000)
    dest = tmp_path / "out"
    with pytest.raises(download.ArchiveTooLargeError) as info:
        extract_archive(archive, dest, progress=False, members=10)
    message = str(info.value)
    assert str(archive) in message
    assert "cap of 11 members" in message and "declared 10 members + 1 %" in message
    assert "found member 12 ('demo/f000011.txt') after reading 12 member headers" in message
    _nothing_left(dest)


def test_the_member_cap_allows_one_percent_more(tmp_path):
    # 100 files + the folder-less layout: 100 members; declared 99 -> cap 100 (99.99 up).
    archive = _many_files_tgz(tmp_path / "hundred.tgz", 100)
    out = extract_archive(archive, tmp_path / "ok", progress=False, members=99)
    assert len(list((out / "demo").iterdir())) == 100
    with pytest.raises(download.ArchiveTooLargeError, match="cap of 99 members"):
        extract_archive(archive, tmp_path / "no", progress=False, members=98)  # 98.98 up: 99


def _bomb_after_a_small_file(path: Path) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        _add_bytes(tar, "demo/a-first.txt", b"written before the bomb")
        info = tarfile.TarInfo("demo/zeros.bin")
        info.size = 20 << 20
        tar.addfile(info, io.BytesIO(bytes(20 << 20)))
    return path


def test_without_the_size_check_the_tar_data_read_is_capped(tmp_path, monkeypatch):
    # The declared sizes switched off: reading the headers would go through 20 MiB of tar
    # data; the cap on the decompressed data read stops it first.
    monkeypatch.setattr(download._Budget, "declare", lambda self, name, size: None)
    archive = _bomb_after_a_small_file(tmp_path / "bomb.tgz")
    dest = tmp_path / "out"
    with pytest.raises(download.ArchiveTooLargeError, match="bytes of tar data") as info:
        extract_archive(archive, dest, progress=False)
    caps = download.extraction_caps(archive.stat().st_size)
    assert f"cap of {caps.max_stream:,} bytes of tar data" in str(info.value)
    _nothing_left(dest)


def test_without_the_header_checks_the_written_bytes_are_the_last_guard(tmp_path, monkeypatch):
    # Both header-level guards switched off: the count of bytes actually written is the last
    # guard. It stops inside the big file, and the partial extraction (the first file and
    # part of the second) is removed.
    monkeypatch.setattr(download._Budget, "declare", lambda self, name, size: None)
    monkeypatch.setattr(download._Budget, "read_tar_data", lambda self, position: None)
    asked = []  # (member, bytes written before, chunk size) for every chunk about to be written
    real_write = download._Budget.write

    def spy(self, name, size):
        asked.append((name, self.written, size))
        real_write(self, name, size)

    monkeypatch.setattr(download._Budget, "write", spy)
    archive = _bomb_after_a_small_file(tmp_path / "bomb.tgz")
    dest = tmp_path / "out"
    with pytest.raises(download.ArchiveTooLargeError) as info:
        extract_archive(archive, dest, progress=False)
    cap = 4 * archive.stat().st_size
    assert "'demo/zeros.bin'" in str(info.value) and f"cap of {cap:,} bytes" in str(info.value)
    assert [name for name, _, _ in asked] == ["demo/a-first.txt", "demo/zeros.bin"]
    name, before, size = asked[-1]  # the first chunk of the bomb: refused, not written
    assert before == len(b"written before the bomb") and before + size > cap
    assert f"{before:,} bytes were written" in str(info.value)
    _nothing_left(dest)


class _Endless(io.RawIOBase):
    """A source that never ends (what a decompressor of a bomb looks like)."""

    def readable(self):
        return True

    def readinto(self, buffer):
        buffer[:] = bytes(len(buffer))
        return len(buffer)


def test_written_bytes_never_pass_the_cap(tmp_path):
    caps = download.extraction_caps(1000, extracted_size=3 * download.MIB + 5)
    budget = download._Budget(Path("x.tar"), caps)
    target = tmp_path / "big.bin"
    with pytest.raises(download.ArchiveTooLargeError, match="3,145,728 bytes were written"):
        download._write_member(io.BufferedReader(_Endless()), str(target), "big.bin", budget)
    assert target.stat().st_size == 3 * download.MIB <= caps.max_bytes


def test_a_huge_pax_header_is_refused_before_it_is_read(tmp_path):
    # tarfile reads a PAX header's records into memory whole: 20 MB of them (a few kB of gzip)
    # would be read, and 20 GB could be, before anything is written. Refused at 16 MiB.
    archive = tmp_path / "pax.tgz"
    with tarfile.open(archive, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("demo/ok.txt")
        info.size = 2
        info.pax_headers = {"comment": "x" * 20_000_000}
        tar.addfile(info, io.BytesIO(b"ok"))
    dest = tmp_path / "out"
    with pytest.raises(download.ArchiveTooLargeError, match="header record") as info:
        extract_archive(archive, dest, progress=False)
    assert str(archive) in str(info.value) and f"{download.MAX_HEADER_READ:,}" in str(info.value)
    _nothing_left(dest)


def test_a_damaged_archive_is_an_error_naming_it(tmp_path):
    good = tmp_path / "demo.tar.gz"
    data = _build_tar(good, FILES)
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(data[: len(data) // 2])  # a truncated download placed by hand
    dest = tmp_path / "out"
    with pytest.raises(DownloadError, match="damaged or truncated") as info:
        extract_archive(cut, dest, progress=False)
    assert str(cut) in str(info.value)
    _nothing_left(dest)


def test_extracted_files_keep_the_archive_time_stamps(tmp_path):
    archive = tmp_path / "demo.tar"
    with tarfile.open(archive, "w") as tar:
        info = tarfile.TarInfo("demo/old.txt")
        info.size, info.mtime = 3, 1_000_000_000
        tar.addfile(info, io.BytesIO(b"old"))
    out = extract_archive(archive, tmp_path / "out", progress=False)
    assert (out / "demo" / "old.txt").stat().st_mtime == 1_000_000_000
