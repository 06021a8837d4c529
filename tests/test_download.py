"""Verified downloads and safe extraction, against the 127.0.0.1 server in tests/http_server.py."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import zipfile
from pathlib import Path

import pytest

from course_lib.datasets import download
from course_lib.datasets.download import (
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


def test_md5_and_first_mib_md5_compare_like_with_like(local_server, tmp_path):
    data = _payload(MIB := 1 << 20, 3) + _payload(5000, 4)
    (local_server.root / "big.bin").write_bytes(data)
    whole_md5 = hashlib.md5(data).hexdigest()
    head_md5 = hashlib.md5(data[:MIB]).hexdigest()
    assert whole_md5 != head_md5
    dest = tmp_path / "big.bin"
    _fetch(local_server, "big.bin", dest, data, sha256=None, md5=whole_md5, md5_first_mib=head_md5)
    assert dest.read_bytes() == data
    dest.unlink()
    # A whole-file md5 given as the first-MiB md5 (the fastai trap) must fail.
    with pytest.raises(DownloadError, match="md5_first_mib"):
        _fetch(local_server, "big.bin", dest, data, sha256=None, md5_first_mib=whole_md5)
    assert not dest.exists()


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


def test_complete_part_file_is_verified_without_a_request(local_server, tmp_path):
    data = _build_tar(local_server.root / "demo.tar.gz", FILES)
    dest = tmp_path / "demo.tar.gz"
    dest.with_name("demo.tar.gz.part").write_bytes(data)
    _fetch(local_server, "demo.tar.gz", dest, data)
    assert local_server.state.requests == [] and dest.read_bytes() == data


def test_present_verified_file_is_not_downloaded_again(local_server, tmp_path):
    data = _build_tar(local_server.root / "demo.tar.gz", FILES)
    dest = tmp_path / "demo.tar.gz"
    dest.write_bytes(data)
    _fetch(local_server, "demo.tar.gz", dest, data)
    assert local_server.state.requests == []


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
        download_file(url, dest, md5="c" * 32, size=10, retries=1, progress=False, backoff=0)
    message = str(info.value)
    assert url in message and str(dest.resolve()) in message and "c" * 32 in message
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
    ],
    ids=["dotdot-inner", "dotdot", "absolute", "symlink-escape", "symlink-absolute",
         "hardlink-escape", "device"],
)
def test_unsafe_tar_members_are_refused(tmp_path, add, what):
    archive = _tar_with(tmp_path / "bad.tar", add)
    dest = tmp_path / "a" / "b" / "out"
    with pytest.raises(UnsafeArchiveError, match=what):
        extract_archive(archive, dest)
    assert not (dest / COMPLETE_MARKER).exists()
    assert not (dest / "top").exists()
    assert not list(tmp_path.rglob("evil.txt"))
    assert not list(dest.glob(".extracting-*"))


def test_symlink_inside_destination_is_allowed(tmp_path):
    archive = _tar_with(tmp_path / "ok.tar", lambda t: t.addfile(_link("top/alias.txt", "ok.txt")))
    out = extract_archive(archive, tmp_path / "out")
    assert (out / "top" / "alias.txt").read_bytes() == b"fine"


def test_zip_extracts_and_refuses_dotdot(tmp_path):
    good = tmp_path / "good.zip"
    with zipfile.ZipFile(good, "w") as zf:
        for name, data in FILES.items():
            zf.writestr(name, data)
    out = extract_archive(good, tmp_path / "zout")
    assert (out / COMPLETE_MARKER).is_file()
    assert all((out / n).read_bytes() == d for n, d in FILES.items())

    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("ok.txt", b"1")
        zf.writestr("../evil.txt", b"2")
    with pytest.raises(UnsafeArchiveError, match="'..'"):
        extract_archive(bad, tmp_path / "zbad")
    assert not (tmp_path / "evil.txt").exists()
    assert not (tmp_path / "zbad" / COMPLETE_MARKER).exists()

    link = tmp_path / "link.zip"
    with zipfile.ZipFile(link, "w") as zf:
        info = zipfile.ZipInfo("top/link")
        info.external_attr = (0o120777 << 16)  # a Unix symlink entry
        zf.writestr(info, "../../outside")
    with pytest.raises(UnsafeArchiveError, match="link"):
        extract_archive(link, tmp_path / "zlink")


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
    with pytest.raises(DownloadError, match="neither a tar nor a zip"):
        extract_archive(junk, tmp_path / "out")
    assert not (tmp_path / "out" / COMPLETE_MARKER).exists()


def test_check_file_reports_each_mismatch(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"abc")
    assert download.check_file(path, sha256=_sha(b"abc"), size=3) == []
    problems = download.check_file(path, md5="0" * 32, sha256=_sha(b"abc"))
    assert len(problems) == 1 and problems[0].startswith("md5:")
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
