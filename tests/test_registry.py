"""The dataset registry: the table's facts, fetch end to end from 127.0.0.1, labels in the 0-999 index."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import re
import shutil
import tarfile
import threading
from pathlib import Path

import numpy as np
import pytest
from devkit_files import write_devkit
from http_server import LocalServer
from test_readers import make_cifar, make_numbered_folders, write_jpeg

from course_lib import classes, download
from course_lib.__main__ import main
from course_lib.datasets import readers, registry
from course_lib.datasets.registry import DatasetNotReadyError, UnknownDatasetError
from course_lib.download import DownloadError
from course_lib.paths import COMPLETE_MARKER

# --------------------------------------------------------------------------------- the table


def test_every_downloadable_spec_is_complete():
    for name, spec in registry.DATASETS.items():
        assert spec.name == name
        if spec.layout == "ilsvrc2012":
            continue
        assert spec.urls and all(u.startswith(("https://", "http://")) for u in spec.urls)
        assert all(u.rsplit("/", 1)[1] == spec.filename for u in spec.urls)
        assert spec.size and spec.size > 1_000_000
        assert spec.licence and spec.counts and spec.top_dir
        for c in spec.checksums:
            assert c.kind == "sha256" and re.fullmatch("[0-9a-f]{64}", c.value), (name, c)
        enforced = spec.enforced_checksum()
        assert enforced is not None, name
        assert spec.download_checks() == {"size": spec.size, enforced.kind: enforced.value}


def test_every_downloadable_spec_declares_what_it_unpacks_to():
    # Hand counts from DATASETS.md's counts and layouts (none publishes a member count):
    nette = 9_469 + 3_925 + 1 + (1 + 2 + 20)  # images, noisy_imagenette.csv, folders
    expected_members = {
        "imagenette2": nette, "imagenette2-320": nette, "imagenette2-160": nette,
        "cifar10": 9, "imagenetv2-matched-frequency": 11_001,
    }
    downloadable = {n for n, s in registry.DATASETS.items() if s.layout != "ilsvrc2012"}
    assert downloadable == set(expected_members)
    for name, members in expected_members.items():
        spec = registry.get(name)
        assert spec.members == members, name
        assert spec.extraction_source and "derived" in spec.extraction_source, name
        # An upper bound that never lowers the cap below 4 × the archive's size.
        assert spec.size <= spec.extracted_size <= 4 * spec.size, name
    # A plain tar's files cannot exceed the tar itself.
    assert registry.get("imagenetv2-matched-frequency").extracted_size == 1_264_079_360
    assert registry.get("cifar10").extracted_size >= 6 * 10_000 * 3_072
    assert registry.get("ilsvrc2012").members is None  # read in place, never extracted here


def test_checksum_choice_follows_trust_then_strength():
    # Values copied from DATASETS.md §1 (summary table).
    nette = registry.get("imagenette2-160")
    assert nette.enforced_checksum().value == "64d0c4859f35a461889e0147755a999a48b49bf38a7e0f9bd27003f10db02fe5"
    assert nette.size == 99_003_388
    assert registry.get("cifar10").enforced_checksum().value.startswith("6d958be0")


def test_imagenetv2_urls_are_pinned_to_the_hf_revision():
    for variant in ("matched-frequency",):
        spec = registry.get(f"imagenetv2-{variant}")
        assert spec.urls == (
            "https://huggingface.co/datasets/vaishaal/ImageNetV2/resolve/"
            f"d626240be2538720e83103a0e1178d24aca8b12c/imagenetv2-{variant}.tar.gz",)
        assert spec.top_dir == f"imagenetv2-{variant}-format-val"
        assert spec.size % 512 == 0  # a plain tar (DATASETS.md §2.5)
        assert spec.classes == list(classes.wnid_to_index())


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(UnknownDatasetError) as info:
        registry.get("imagenet")
    for name in registry.DATASETS:
        assert name in str(info.value)


def test_imagenette_labels_are_imagenet_indices():
    index = classes.wnid_to_index()
    nette = registry.get("imagenette2")
    # ImageNet-1k indices from DATASETS.md §2.1.
    assert [index[w] for w in nette.classes] == [0, 217, 482, 491, 497, 566, 569, 571, 574, 701]
    assert nette.label_map() == {i: k for k, i in enumerate([0, 217, 482, 491, 497, 566, 569, 571, 574, 701])}


# ------------------------------------------------------------------------ fetch end to end


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _served(spec, server, archive: Path, **changes):
    """``spec`` pointed at ``archive`` on the local server, with its real size and sha256."""
    return dataclasses.replace(
        spec, urls=(server.url(archive.name),), filename=archive.name, size=archive.stat().st_size,
        checksums=(registry.Checksum("sha256", _sha(archive), "test"),), **changes)


def _tar_folder(archive: Path, folder: Path, mode: str = "w:gz") -> Path:
    with tarfile.open(archive, mode) as tar:
        tar.add(folder, arcname=folder.name)
    return archive


def _make_imagenette(base: Path, wnids, per_class=2) -> Path:
    top = base / "imagenette2-160"
    for split in ("train", "val"):
        for k, wnid in enumerate(wnids):
            for i in range(per_class):
                write_jpeg(top / split / wnid / f"{wnid}_{i}.JPEG", value=k)
    (top / "noisy_imagenette.csv").write_text("path,noisy_labels_0\n")
    return top


def test_fetch_downloads_verifies_extracts_and_labels(local_server, tmp_path):
    wnids = registry.IMAGENETTE_WNIDS[:3]
    top = _make_imagenette(tmp_path / "src", wnids)
    archive = _tar_folder(local_server.root / "imagenette2-160.tgz", top)
    spec = _served(registry.get("imagenette2-160"), local_server, archive)
    root = tmp_path / "data"
    path = spec.fetch(root, progress=False)
    assert path == root / "imagenette2-160"
    assert (path / COMPLETE_MARKER).is_file() and spec.is_present(root)
    assert not spec.archive_path(root).exists()  # deleted after extraction
    train = spec.samples(root, "train")
    index = classes.wnid_to_index()
    assert len(train) == 6
    assert {(p.parent.name, lab) for p, lab in train} == {(w, index[w]) for w in wnids}
    assert train[0][0].is_file() and train[0][0].is_relative_to(path)
    # Same result from the dataset folder or the unpacked top folder.
    assert spec.samples(path, "train") == train
    assert spec.samples(path / "imagenette2-160", "train") == train
    # Fetching again touches nothing.
    n = len(local_server.state.requests)
    assert spec.fetch(root, progress=False) == path
    assert len(local_server.state.requests) == n


def test_fetch_with_wrong_checksum_leaves_nothing(local_server, tmp_path):
    top = _make_imagenette(tmp_path / "src", registry.IMAGENETTE_WNIDS[:1])
    archive = _tar_folder(local_server.root / "imagenette2-160.tgz", top)
    spec = _served(registry.get("imagenette2-160"), local_server, archive)
    spec = dataclasses.replace(spec, checksums=(registry.Checksum("sha256", "1" * 64, "test"),))
    root = tmp_path / "data"
    with pytest.raises(DownloadError, match="1" * 64):
        spec.fetch(root, progress=False)
    assert not (root / "imagenette2-160").exists()
    assert list((root / "downloads").iterdir()) == []
    with pytest.raises(DatasetNotReadyError, match="fetch imagenette2-160"):
        spec.samples(root, "train")


def test_half_extracted_dataset_is_not_read(tmp_path):
    spec = registry.get("imagenette2-160")
    _make_imagenette(tmp_path / "data" / "imagenette2-160", registry.IMAGENETTE_WNIDS[:1])
    with pytest.raises(DatasetNotReadyError, match=COMPLETE_MARKER):
        spec.samples(tmp_path / "data", "train")
    # A copy the learner unpacked by hand elsewhere is read as it is.
    own = _make_imagenette(tmp_path / "mine", registry.IMAGENETTE_WNIDS[:1])
    assert len(spec.samples(own, "val")) == 2


def test_fetch_uses_a_file_put_in_place_by_hand(local_server, tmp_path, monkeypatch):
    top = _make_imagenette(tmp_path / "src", registry.IMAGENETTE_WNIDS[:1])
    archive = _tar_folder(tmp_path / "imagenette2-160.tgz", top)
    spec = _served(registry.get("imagenette2-160"), local_server, archive)
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    root = tmp_path / "data"
    with pytest.raises(DownloadError) as info:
        spec.fetch(root, progress=False)
    where = spec.archive_path(root)
    assert str(where.resolve()) in str(info.value) and spec.urls[0] in str(info.value)
    where.parent.mkdir(parents=True)
    where.write_bytes(archive.read_bytes())
    assert spec.fetch(root, progress=False) == root / "imagenette2-160"
    assert local_server.state.requests == []


def test_imagenetv2_plain_tar_and_numeric_folders(local_server, tmp_path):
    spec = registry.get("imagenetv2-matched-frequency")
    top = tmp_path / "src" / spec.top_dir
    labels = [0, 1, 2, 10, 100, 999]
    make_numbered_folders(top, labels)
    archive = _tar_folder(local_server.root / spec.filename, top, mode="w")  # plain tar, .tar.gz name
    spec = _served(spec, local_server, archive)
    root = tmp_path / "data"
    spec.fetch(root, progress=False)
    samples = spec.samples(root, "test")
    assert {(p.parent.name, lab) for p, lab in samples} == {(str(x), x) for x in labels}
    by_folder = {p.parent.name: lab for p, lab in samples}
    assert by_folder["10"] == 10 and by_folder["100"] == 100 and by_folder["999"] == 999
    # ImageFolder's indices (position among the names sorted as text) would be wrong (DATASETS.md §2.5).
    text_index = {name: i for i, name in enumerate(sorted(by_folder))}
    assert text_index["10"] == 2 and text_index["2"] == 4
    with pytest.raises(ValueError, match="splits"):
        spec.samples(root, "val")


def test_cifar10_fetch_then_arrays(local_server, tmp_path):
    spec = registry.get("cifar10")
    expected = make_cifar(tmp_path / "src" / readers.CIFAR10_TOP)
    archive = _tar_folder(local_server.root / spec.filename, tmp_path / "src" / readers.CIFAR10_TOP)
    spec = _served(spec, local_server, archive)
    root = tmp_path / "data"
    spec.fetch(root, progress=False)
    images, labels = readers.load_cifar10(spec.locate(root), "test")
    assert images.shape == (4, 3, 32, 32)
    assert (images.reshape(4, -1) == expected["test"][0]).all()
    assert spec.classes[0] == "airplane"
    with pytest.raises(ValueError, match="load_cifar10"):
        spec.samples(root, "train")


# ----------------------------------------------------------------------------- ILSVRC-2012


def test_ilsvrc_folder_layout_from_imagenet_root(tmp_path, monkeypatch, capsys):
    spec = registry.get("ilsvrc2012")
    monkeypatch.delenv("IMAGENET_ROOT", raising=False)
    with pytest.raises(DatasetNotReadyError, match="IMAGENET_ROOT"):
        spec.samples(split="val")
    assert not spec.is_present()
    root = tmp_path / "imagenet"
    root.mkdir()
    (root / registry.DEVKIT_ARCHIVE).write_bytes(b"")  # archives are not unpacked here
    with pytest.raises(DatasetNotReadyError, match="neither a train/ nor a val/ folder"):
        registry.fetch("ilsvrc2012", root)
    wnids = ["n01440764", "n02102040", "n15075141"]  # indices 0, 217, 999
    for split in ("train", "val"):
        for wnid in wnids:
            write_jpeg(root / split / wnid / f"{wnid}_1.JPEG")
    monkeypatch.setenv("IMAGENET_ROOT", str(root))
    assert spec.fetch() == root and spec.is_present()
    for split in ("train", "val"):
        samples = spec.samples(split=split)
        assert [lab for _, lab in samples] == [0, 217, 999]
    assert spec.samples(root, "train") == spec.samples(split="train")
    assert main(["fetch", "ilsvrc2012"]) == 0
    assert "train: 3 images (published: 1,281,167)" in capsys.readouterr().out


def test_ilsvrc_flat_val_uses_the_devkit_numbering(tmp_path, monkeypatch):
    root = tmp_path / "imagenet"
    devkit = root / registry.DEVKIT_DIR
    wnids = list(classes.wnid_to_index())
    perm = np.random.default_rng(0).permutation(1000)  # devkit ID k+1 is wnid perm[k]
    write_devkit(devkit, [wnids[k] for k in perm])
    ids = [5, 1, 1000]
    (devkit / registry.GROUND_TRUTH).write_text("\n".join(map(str, ids)) + "\n")
    for i in range(1, 4):
        write_jpeg(root / "val" / f"ILSVRC2012_val_{i:08d}.JPEG")
    monkeypatch.setenv("IMAGENET_ROOT", str(root))
    samples = registry.get("ilsvrc2012").samples(split="val")
    assert [lab for _, lab in samples] == [int(perm[i - 1]) for i in ids]


# ------------------------------------------------------------------------------------ CLI


def test_cli_fetch_list_and_errors(capsys, monkeypatch):
    assert main(["fetch", "--list"]) == 0
    out = capsys.readouterr().out
    for name, spec in registry.DATASETS.items():
        assert name in out and spec.licence in out
    assert "99.0 MB" in out  # imagenette2-160
    lines = {line.split()[0]: line for line in out.splitlines()}
    assert "checks" in lines["name"]
    assert "size + sha256" in lines["imagenette2-160"]
    assert main(["fetch", "nope"]) == 2
    assert "imagenette2-160" in capsys.readouterr().err
    monkeypatch.delenv("IMAGENET_ROOT", raising=False)
    assert main(["fetch", "ilsvrc2012"]) == 1
    assert "IMAGENET_ROOT" in capsys.readouterr().err


def test_cli_fetch_downloads_into_root(local_server, tmp_path, capsys, monkeypatch):
    top = _make_imagenette(tmp_path / "src", registry.IMAGENETTE_WNIDS[:2])
    archive = _tar_folder(local_server.root / "imagenette2-160.tgz", top)
    spec = _served(registry.get("imagenette2-160"), local_server, archive)
    monkeypatch.setitem(registry.DATASETS, spec.name, spec)
    root = tmp_path / "elsewhere"
    assert main(["fetch", "imagenette2-160", "--root", str(root), "--no-progress", "--keep-archive"]) == 0
    out = capsys.readouterr().out
    assert str(root / "imagenette2-160" / "imagenette2-160") in out
    assert "val: 4 images (published: 3,925)   <- differs" in out
    assert spec.archive_path(root).is_file()
    assert spec.samples(root, "val") and spec.is_present(root)
    (local_server.root / "imagenette2-160.tgz").unlink()
    monkeypatch.setitem(registry.DATASETS, spec.name, dataclasses.replace(spec, size=1))
    assert main(["fetch", "imagenette2-160", "--root", str(tmp_path / "other"), "--no-progress"]) == 1
    assert "404" in capsys.readouterr().err


# ------------------------------------------------------------------------------- layouts


def test_every_layout_comes_from_the_table():
    assert {spec.layout for spec in registry.DATASETS.values()} == set(registry.LAYOUTS)
    with pytest.raises(ValueError, match="unknown layout 'folders'"):
        dataclasses.replace(registry.get("imagenette2-160"), layout="folders")


# ------------------------------------------------------------------ archive bombs


def _bomb_entry(server, archive: Path):
    """A test registry entry for ``archive``: imagenette2-160 with small declared values."""
    return _served(registry.get("imagenette2-160"), server, archive,
                   extracted_size=50_000, members=30)


def test_fetch_refuses_a_compression_bomb(local_server, tmp_path):
    archive = local_server.root / "imagenette2-160.tgz"
    with tarfile.open(archive, "w:gz") as tar:  # one highly compressible 30 MB "image"
        info = tarfile.TarInfo("imagenette2-160/train/n01440764/bomb.JPEG")
        info.size = 30_000_000
        tar.addfile(info, io.BytesIO(bytes(info.size)))
    spec = _bomb_entry(local_server, archive)
    assert archive.stat().st_size < 100_000  # 30 MB of content in a few tens of kB
    cap = max(50_000, 4 * archive.stat().st_size)
    root = tmp_path / "data"
    with pytest.raises(download.ArchiveTooLargeError) as info:
        spec.fetch(root, progress=False)
    message = str(info.value)
    assert str(spec.archive_path(root)) in message and f"cap of {cap:,} bytes" in message
    assert "declared extracted size 50,000" in message and "30,000,000 bytes" in message
    assert not spec.is_present(root)
    assert list((root / spec.name).iterdir()) == []  # the partial extraction is gone
    assert spec.archive_path(root).is_file()  # the verified download is kept, not lost
    with pytest.raises(DatasetNotReadyError):
        spec.samples(root, "train")


def test_fetch_refuses_a_member_count_bomb(local_server, tmp_path):
    archive = local_server.root / "imagenette2-160.tgz"
    with tarfile.open(archive, "w:gz") as tar:  # 5,000 tiny files
        for i in range(5000):
            info = tarfile.TarInfo(f"imagenette2-160/train/n01440764/{i:05d}.JPEG")
            info.size = 1
            tar.addfile(info, io.BytesIO(b"x"))
    spec = _bomb_entry(local_server, archive)
    root = tmp_path / "data"
    with pytest.raises(download.ArchiveTooLargeError) as info:
        spec.fetch(root, progress=False)
    message = str(info.value)
    assert str(spec.archive_path(root)) in message
    assert "cap of 31 members (declared 30 members + 1 %)" in message
    assert "after reading 32 member headers" in message
    assert not spec.is_present(root) and list((root / spec.name).iterdir()) == []


def test_an_archive_within_its_declared_members_is_extracted(local_server, tmp_path):
    top = _make_imagenette(tmp_path / "src", registry.IMAGENETTE_WNIDS[:2])  # 8 images
    archive = _tar_folder(local_server.root / "imagenette2-160.tgz", top)
    with tarfile.open(archive) as tar:
        count = len(tar.getmembers())  # images, csv, folders
    spec = _served(registry.get("imagenette2-160"), local_server, archive, members=count)
    root = tmp_path / "data"
    spec.fetch(root, progress=False)
    assert len(spec.samples(root, "train")) == 4
    assert f"{count} members" in (root / spec.name / COMPLETE_MARKER).read_text()


# ------------------------------------------------------------------ mirrors, two at once


def test_a_malformed_content_length_moves_on_to_the_next_mirror(local_server, tmp_path, capsys):
    top = _make_imagenette(tmp_path / "src", registry.IMAGENETTE_WNIDS[:1])
    archive = _tar_folder(local_server.root / "imagenette2-160.tgz", top)
    broken_root = tmp_path / "broken"
    broken_root.mkdir()
    shutil.copy(archive, broken_root / archive.name)
    spec = _served(registry.get("imagenette2-160"), local_server, archive)
    root = tmp_path / "data"
    with LocalServer(broken_root, content_length="12abc") as broken:
        spec = dataclasses.replace(spec, urls=(broken.url(archive.name), spec.urls[0]))
        assert spec.fetch(root, progress=False) == root / spec.name
        assert len(broken.state.requests) == 1
    err = capsys.readouterr().err
    assert "malformed Content-Length header '12abc'" in err and "trying the next mirror" in err
    assert spec.is_present(root) and len(local_server.state.requests) == 1


def test_two_fetches_at_once_download_and_extract_once(local_server, tmp_path, monkeypatch):
    top = _make_imagenette(tmp_path / "src", registry.IMAGENETTE_WNIDS[:1])
    archive = _tar_folder(local_server.root / "imagenette2-160.tgz", top)
    spec = _served(registry.get("imagenette2-160"), local_server, archive)
    real_bar = download._bar

    def slow_bar(items, archive, progress):  # the extraction takes a while
        for item in real_bar(items, archive, progress):
            yield item
            threading.Event().wait(0.05)

    monkeypatch.setattr(download, "_bar", slow_bar)
    root = tmp_path / "data"
    results = []

    def work():
        try:
            results.append(spec.fetch(root, progress=False))
        except BaseException as exc:  # noqa: BLE001 - reported below
            results.append(exc)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert results == [root / spec.name] * 2
    assert len(local_server.state.requests) == 1  # one download, one extraction
    assert len(spec.samples(root, "train")) == 2
    assert not spec.archive_path(root).exists()
    assert sorted(p.name for p in root.iterdir()) == ["downloads", spec.name]  # no lock left
