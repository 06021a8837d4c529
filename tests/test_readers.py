"""Readers for the on-disk dataset layouts, on small folders built here."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from course_lib.__main__ import main
from course_lib.datasets import readers
from course_lib.datasets.readers import LayoutError, list_images, read_class_folders


def write_jpeg(path: Path, value: int = 0, size: int = 8) -> Path:
    """A small real JPEG at ``path`` (parents created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (size, size), (value, 255 - value, 7)).save(path, "JPEG")
    return path


def make_numbered_folders(split_dir: Path, labels, per_class: int = 2) -> None:
    """ImageNetV2-style ``split_dir/<label>/<i>.jpeg``."""
    for label in labels:
        for i in range(per_class):
            write_jpeg(split_dir / str(label) / f"{i:040x}.jpeg", value=label % 256)


def write_cifar_batch(path: Path, data: np.ndarray, labels, **extra) -> None:
    """A batch shaped like the python CIFAR-10 files (bytes keys, data (N, 3072) uint8)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    batch = {b"data": data, b"labels": [int(x) for x in labels], b"batch_label": b"x", **extra}
    path.write_bytes(pickle.dumps(batch, protocol=2))


def make_cifar(folder: Path, n_per_batch: int = 4, seed: int = 0):
    """A ``cifar-10-batches-py`` folder; returns {split: (data (N, 3072), labels (N,))}."""
    rng = np.random.default_rng(seed)
    out = {}
    for split, names in readers.CIFAR10_FILES.items():
        datas, labs = [], []
        for name in names:
            data = rng.integers(0, 256, (n_per_batch, 3072), dtype=np.uint8)
            lab = rng.integers(0, 10, n_per_batch)
            write_cifar_batch(folder / name, data, lab)
            datas.append(data)
            labs.append(lab)
        out[split] = (np.concatenate(datas), np.concatenate(labs))
    meta = {b"label_names": [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog",
                             b"frog", b"horse", b"ship", b"truck"], b"num_vis": 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return out


# ---------------------------------------------------------------------------- numbered folders


def test_numbered_folders_are_read_as_integers_not_text(tmp_path):
    labels = [0, 1, 2, 9, 10, 11, 100, 101, 999]
    make_numbered_folders(tmp_path / "v2", labels)
    samples = readers.read_numbered_folders(tmp_path / "v2")
    assert len(samples) == 2 * len(labels)
    for path, label in samples:
        assert label == int(path.parent.name)
    assert [label for _, label in samples[::2]] == labels  # ordered numerically
    # The trap this avoids: text order puts "10" third and "100" fourth.
    text_order = sorted(str(x) for x in labels)
    assert text_order[:4] == ["0", "1", "10", "100"]


def test_numbered_folders_refuse_other_names(tmp_path):
    make_numbered_folders(tmp_path / "v2", [0, 1])
    (tmp_path / "v2" / "n01440764").mkdir()
    with pytest.raises(LayoutError, match="n01440764"):
        readers.read_numbered_folders(tmp_path / "v2")


def test_numbered_folders_refuse_out_of_range(tmp_path):
    make_numbered_folders(tmp_path / "v2", [0, 1000])
    with pytest.raises(LayoutError, match="'1000'"):
        readers.read_numbered_folders(tmp_path / "v2")


# ------------------------------------------------------------------------------- wnid folders


def test_wnid_folders_label_by_mapping_and_refuse_strays(tmp_path):
    mapping = {"n01440764": 0, "n02102040": 217}
    for wnid in mapping:
        for i in range(3):
            write_jpeg(tmp_path / "train" / wnid / f"{wnid}_{i}.JPEG")
    (tmp_path / "train" / "n01440764" / "notes.txt").write_text("not an image")
    write_jpeg(tmp_path / "train" / "n01440764" / "lower.jpg")
    samples = readers.read_wnid_folders(tmp_path / "train", mapping)
    assert len(samples) == 7
    assert {(p.parent.name, lab) for p, lab in samples} == {("n01440764", 0), ("n02102040", 217)}
    (tmp_path / "train" / "n99999999").mkdir()
    with pytest.raises(LayoutError, match="n99999999"):
        readers.read_wnid_folders(tmp_path / "train", mapping)


def test_missing_folder_is_reported(tmp_path):
    with pytest.raises(LayoutError, match="not found"):
        readers.read_wnid_folders(tmp_path / "nope", {})


# ---------------------------------------------------------------------------------- CIFAR-10


def test_load_cifar10_arrays_match_the_pickled_rows(tmp_path):
    folder = tmp_path / readers.CIFAR10_TOP
    expected = make_cifar(folder)
    for split, n in (("train", 20), ("test", 4)):
        images, labels = readers.load_cifar10(tmp_path, split)  # the parent folder works too
        data, lab = expected[split]
        assert images.shape == (n, 3, 32, 32) and images.dtype == np.uint8
        assert labels.dtype == np.int64 and (labels == lab).all()
        # Row layout: 1024 red values, then green, then blue, each row-major 32x32.
        i = n - 1
        assert (images[i, 0] == data[i, :1024].reshape(32, 32)).all()
        assert (images[i, 2] == data[i, 2048:].reshape(32, 32)).all()
        assert images[i, 1, 5, 7] == data[i, 1024 + 5 * 32 + 7]
    with pytest.raises(ValueError, match="'train' or 'test'"):
        readers.load_cifar10(folder, "val")


def test_cifar_loader_refuses_pickles_that_run_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    folder = tmp_path / readers.CIFAR10_TOP
    make_cifar(folder)
    (folder / "test_batch").write_bytes(pickle.dumps({b"data": Evil()}, protocol=2))
    with pytest.raises(pickle.UnpicklingError, match=r"print from a CIFAR batch"):
        readers.load_cifar10(folder, "test")


def test_cifar_bad_shape_is_reported(tmp_path):
    folder = tmp_path / readers.CIFAR10_TOP
    make_cifar(folder)
    write_cifar_batch(folder / "test_batch", np.zeros((2, 100), np.uint8), [0, 1])
    with pytest.raises(LayoutError, match=r"test_batch: expected data \(N, 3072\)"):
        readers.load_cifar10(folder, "test")


# ---------------------------------------------------------------------------- flat ILSVRC val


def test_flat_val_follows_ground_truth_in_file_name_order(tmp_path):
    for i in (3, 1, 2):  # created out of order on purpose
        write_jpeg(tmp_path / "val" / f"ILSVRC2012_val_{i:08d}.JPEG")
    gt = tmp_path / "gt.txt"
    gt.write_text("490\n361\n171\n")
    samples = readers.read_flat_val(tmp_path / "val", gt, lambda ids: ids - 1)
    assert [(p.name, lab) for p, lab in samples] == [
        ("ILSVRC2012_val_00000001.JPEG", 489), ("ILSVRC2012_val_00000002.JPEG", 360),
        ("ILSVRC2012_val_00000003.JPEG", 170)]
    gt.write_text("1\n2\n")
    with pytest.raises(LayoutError, match="2 labels for 3 images"):
        readers.read_flat_val(tmp_path / "val", gt, lambda ids: ids - 1)


def test_bad_lines_are_named_by_their_line_in_the_file(tmp_path):
    """Blank lines are skipped but still counted, so the line number is the file's."""
    for i in (1, 2):
        write_jpeg(tmp_path / "val" / f"ILSVRC2012_val_{i:08d}.JPEG")
    gt = tmp_path / "gt.txt"
    gt.write_text("\n490\nx7\n")
    with pytest.raises(LayoutError, match=r"gt.txt, line 3: 'x7' is not an integer"):
        readers.read_flat_val(tmp_path / "val", gt, lambda ids: ids - 1)


def test_list_images_keeps_unreadable_entries_for_the_cache_to_count(tmp_path):
    (tmp_path / "a.jpg").write_bytes(b"not really a jpeg")
    (tmp_path / "b.JPEG").symlink_to(tmp_path / "missing.jpg")  # a broken link
    (tmp_path / "c.txt").write_text("notes")
    (tmp_path / "d.png").mkdir()  # a folder named like an image
    assert [p.name for p in list_images(tmp_path)] == ["a.jpg", "b.JPEG", "d.png"]


def test_class_folders_label_by_sorted_name_and_keep_nested_images(tmp_path):
    for name in ("zebra", "ant"):
        (tmp_path / name / "sub").mkdir(parents=True)
        (tmp_path / name / "a.JPG").write_bytes(b"x")
        (tmp_path / name / "sub" / "b.png").write_bytes(b"x")
        (tmp_path / name / "notes.txt").write_text("skip me")
    (tmp_path / ".hidden").mkdir()
    samples, classes = read_class_folders(tmp_path)
    assert classes == ["ant", "zebra"]
    assert [(p.relative_to(tmp_path).as_posix(), label) for p, label in samples] == [
        ("ant/a.JPG", 0), ("ant/sub/b.png", 0), ("zebra/a.JPG", 1), ("zebra/sub/b.png", 1)]
    with pytest.raises(LayoutError, match="not a folder"):
        read_class_folders(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(LayoutError, match="no class sub-folders"):
        read_class_folders(tmp_path / "empty")


def test_an_empty_class_folder_is_refused_naming_it(tmp_path):
    for name in ("cat", "dog"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "a.jpg").write_bytes(b"x")
    (tmp_path / "zebra").mkdir()
    (tmp_path / "zebra" / "notes.txt").write_text("no images here")
    with pytest.raises(LayoutError, match=r"1 class folder\(s\) hold no image file: .*zebra.*"
                                          r"2 of 3 classes would remain"):
        read_class_folders(tmp_path)
    with pytest.warns(UserWarning, match=r"left out 1 empty class folder.*zebra.*2 of 3 classes"):
        samples, classes = read_class_folders(tmp_path, allow_empty_classes=True)
    assert classes == ["cat", "dog"] and [label for _, label in samples] == [0, 1]


def test_prepare_imagefolder_with_an_empty_class_fails_loudly(tmp_path, capsys):
    for name in ("cat", "dog"):
        (tmp_path / "photos" / name).mkdir(parents=True)
        Image.new("RGB", (40, 40), (200, 10, 10)).save(tmp_path / "photos" / name / "a.jpg")
    (tmp_path / "photos" / "empty").mkdir()
    code = main(["prepare", "imagefolder", "--root", str(tmp_path / "photos"), "--size", "32",
                 "--out", str(tmp_path / "cache")])
    err = capsys.readouterr().err
    assert code == 2 and "empty" in err and "2 of 3 classes would remain" in err
    assert not (tmp_path / "cache").exists()
