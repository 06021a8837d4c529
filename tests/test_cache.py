"""Decode-once cache: contents, parallel = serial, rebuilt only on change, atomic, and the
``prepare`` command (imagefolder and synthnet) through the CLI with --json."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from PIL import Image

from course_lib.__main__ import main
from course_lib.datasets import cache as cache_module
from course_lib.datasets import synthnet
from course_lib.datasets.cache import CacheError, build_cache, open_cache
from course_lib.datasets.images import decode_file
from course_lib.paths import COMPLETE_MARKER

SIZE = 32


def write_tree(root, classes=("cat", "dog", "eel"), per_class=4, seed=0):
    """``root/<class>/<i>.JPEG`` with random sizes; returns the (path, label) list."""
    rng = np.random.default_rng(seed)
    samples = []
    for label, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            w, h = rng.integers(SIZE, 3 * SIZE, 2)
            path = root / name / f"{i}.JPEG"
            Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path)
            samples.append((path, label))
    return samples


@pytest.fixture
def tree(tmp_path):
    return write_tree(tmp_path / "tree")


def test_cache_holds_each_decoded_image_with_its_label(tree, tmp_path):
    cache = build_cache(tree, tmp_path / "c", SIZE, classes=["cat", "dog", "eel"], workers=0,
                        progress=False)
    assert cache.rebuilt and isinstance(cache.images, np.memmap)
    assert cache.images.shape == (12, 3, SIZE, SIZE) and cache.images.dtype == np.uint8
    for i, (path, label) in enumerate(tree):
        assert np.array_equal(cache.images[i], decode_file(path, SIZE)[0])
        assert cache.labels[i] == label
    m = cache.manifest
    assert m["counts"] == {"0": 4, "1": 4, "2": 4} and m["size"] == SIZE  # keyed by label
    assert m["n_images"] == 12 and m["n_skipped"] == 0 and len(m["inputs_checksum"]) == 64
    assert cache.classes == ["cat", "dog", "eel"] and cache.class_labels == [0, 1, 2]
    assert (cache.path / COMPLETE_MARKER).is_file()
    reopened = open_cache(cache.path)
    assert np.array_equal(reopened.images, cache.images) and not reopened.rebuilt


def test_process_pool_build_equals_serial_build(tree, tmp_path, monkeypatch):
    serial = build_cache(tree, tmp_path / "a", SIZE, workers=0, progress=False)
    monkeypatch.setattr(cache_module, "DECODE_CHUNK", 3)  # 12 files: four tasks
    parallel = build_cache(tree, tmp_path / "b", SIZE, workers=2, progress=False)
    assert np.array_equal(serial.images, parallel.images)
    assert np.array_equal(serial.labels, parallel.labels)


def test_rebuilt_only_when_inputs_or_settings_change(tree, tmp_path):
    out = tmp_path / "c"
    first = build_cache(tree, out, SIZE, workers=0, progress=False)
    assert first.rebuilt
    assert not build_cache(tree, out, SIZE, workers=0, progress=False).rebuilt
    # a file's content (size/mtime) changes
    path = tree[0][0]
    Image.new("RGB", (40, 40), (255, 0, 0)).save(path)
    os.utime(path, ns=(1, 1))
    changed = build_cache(tree, out, SIZE, workers=0, progress=False)
    assert changed.rebuilt and changed.images[0].tolist() == decode_file(path, SIZE)[0].tolist()
    assert not build_cache(tree, out, SIZE, workers=0, progress=False).rebuilt
    # a file is added; a label changes; the size changes; force
    extra = tree + [(tree[1][0], 2)]
    assert build_cache(extra, out, SIZE, workers=0, progress=False).rebuilt
    relabelled = [(p, 2 - lab) for p, lab in tree]
    assert build_cache(relabelled, out, SIZE, workers=0, progress=False).rebuilt
    assert build_cache(relabelled, out, SIZE - 4, workers=0, progress=False).rebuilt
    assert build_cache(relabelled, out, SIZE - 4, workers=0, progress=False,
                       force=True).rebuilt
    assert open_cache(out).size == SIZE - 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c", "tree"]  # no leftovers


def test_synthnet_arrays_are_stored_as_is_and_resized_when_asked(tmp_path):
    data = synthnet.make_synthnet("val", num_classes=4, per_class=3, image_size=32, seed=1)
    same = build_cache(data, tmp_path / "same", 32, progress=False)
    assert np.array_equal(same.images, data.images) and same.classes == data.wnids
    assert not build_cache(data, tmp_path / "same", 32, progress=False).rebuilt
    smaller = build_cache((data.images, data.labels), tmp_path / "small", 24, progress=False)
    assert smaller.images.shape == (12, 3, 24, 24)
    first = Image.fromarray(data.images[0].transpose(1, 2, 0)).resize((24, 24), Image.BILINEAR)
    assert np.array_equal(smaller.images[0], np.asarray(first).transpose(2, 0, 1))


def test_an_incomplete_cache_is_never_opened(tree, tmp_path):
    cache = build_cache(tree, tmp_path / "c", SIZE, workers=0, progress=False)
    (cache.path / COMPLETE_MARKER).unlink()
    with pytest.raises(CacheError, match="no complete cache.*interrupted"):
        open_cache(cache.path)
    # build_cache does not trust it either: it rebuilds
    assert build_cache(tree, tmp_path / "c", SIZE, workers=0, progress=False).rebuilt
    with pytest.raises(CacheError, match="does not exist"):
        open_cache(tmp_path / "nowhere")


def test_refuses_to_overwrite_a_folder_that_is_not_a_cache(tree, tmp_path):
    precious = tmp_path / "mine"
    precious.mkdir()
    (precious / "thesis.txt").write_text("keep me")
    with pytest.raises(CacheError, match="not a cache folder"):
        build_cache(tree, precious, SIZE, workers=0, progress=False)
    assert (precious / "thesis.txt").read_text() == "keep me"


def test_labels_in_a_larger_index_keep_their_values(tree, tmp_path):
    """A 3-class subset labelled in the 1000-class index (as registry datasets are)."""
    big = [(p, [7, 300, 999][lab]) for p, lab in tree]
    cache = build_cache(big, tmp_path / "c", SIZE, classes={7: "n07", 300: "n300", 999: "n999"},
                        workers=0, progress=False)
    assert sorted(set(cache.labels.tolist())) == [7, 300, 999]
    assert cache.classes == ["n07", "n300", "n999"] and cache.class_labels == [7, 300, 999]


def test_bad_arguments(tree, tmp_path):
    with pytest.raises(ValueError, match="sample 0"):
        build_cache(["just-a-path.jpg"], tmp_path / "c", SIZE)
    with pytest.raises(ValueError, match="empty"):
        build_cache([], tmp_path / "c", SIZE)
    with pytest.raises(ValueError, match="class names"):
        build_cache(tree, tmp_path / "c", SIZE, classes=["a", "b"], workers=0)
    with pytest.raises(ValueError, match="no name for label"):
        build_cache(tree, tmp_path / "c", SIZE, classes={0: "a", 1: "b"}, workers=0)


def test_prepare_imagefolder_through_the_cli(tmp_path, capsys):
    root = tmp_path / "folder"
    write_tree(root, classes=("b_class", "a_class"), per_class=3)
    (root / "a_class" / "broken.jpg").write_text("not a jpeg")
    out = tmp_path / "out"
    argv = ["prepare", "imagefolder", "--root", str(root), "--size", str(SIZE), "--out",
            str(out), "--workers", "0", "--json"]
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["n_images"] == 6 and summary["n_skipped"] == 1
    assert summary["skipped"] == [{"file": str(root / "a_class" / "broken.jpg"),
                                   "reason": summary["skipped"][0]["reason"]}]
    assert "not an image" in summary["skipped"][0]["reason"]
    assert summary["classes"] == ["a_class", "b_class"]  # sorted folder names
    assert summary["cache"] == str(out)
    cache = open_cache(out)
    assert cache.manifest["counts"] == {"0": 3, "1": 3}
    assert summary["splits"]["all"]["counts"] == [3, 3]
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["splits"]["all"]["rebuilt"] is False


def test_prepare_synthnet_and_errors(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COURSE_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("COURSE_PROFILE", "smoke")
    assert main(["prepare", "synthnet", "--size", "32", "--num-classes", "4", "--per-class", "2",
                 "--splits", "train,val", "--knob", "clutter=0.9", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["n_images"] == 16 and summary["n_skipped"] == 0 and summary["skipped"] == []
    assert len(summary["classes"]) == 4
    assert summary["cache"] == str(tmp_path / "data" / "caches" / "synthnet-32")
    expected = synthnet.make_synthnet("val", num_classes=4, per_class=2, image_size=32,
                                      clutter=0.9)
    assert np.array_equal(open_cache(tmp_path / "data/caches/synthnet-32/val").images,
                          expected.images)
    assert main(["prepare", "imagefolder", "--root", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert "missing" in err and "not a folder" in err


def test_prepare_a_registry_dataset_from_a_local_copy(tmp_path, capsys):
    """An Imagenette-shaped folder given with --root: labels stay in the 0-999 index."""
    root = tmp_path / "imagenette"
    for split in ("train", "val"):
        write_tree(root / split, classes=("n01440764", "n03888257"), per_class=2)
    out = tmp_path / "out"
    assert main(["prepare", "imagenette2-160", "--root", str(root), "--size", str(SIZE),
                 "--out", str(out), "--workers", "0", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["n_images"] == 8 and summary["n_skipped"] == 0
    assert summary["classes"] == ["n01440764", "n03888257"]
    train = open_cache(out / "train")
    # ImageNet index: n01440764 (tench) is 0, n03888257 (parachute) is 701
    assert sorted(set(train.labels.tolist())) == [0, 701]
    assert train.class_labels == [0, 701]


def test_two_classes_with_one_name_keep_their_own_counts(tmp_path):
    # ILSVRC has two synsets named "crane" (the bird and the machine); here every file of the
    # machine is bad: the bird must still be a class of the cache, with its own count
    samples = write_tree(tmp_path / "tree", classes=("bird", "machine", "dog"), per_class=3)
    for path, label in samples:
        if label == 1:
            path.write_text("not a jpeg")
    names = {0: "crane", 1: "crane", 2: "dog"}
    with pytest.warns(UserWarning, match="crane"):
        built = build_cache(samples, tmp_path / "c", SIZE, classes=names, workers=0,
                            progress=False, allow_empty_classes=True)
    opened = open_cache(tmp_path / "c")
    for cache in (built, opened):
        assert cache.class_labels == [0, 2]
        assert cache.classes == ["crane", "dog"]
    assert opened.manifest["counts"] == {"0": 3, "1": 0, "2": 3}
    assert opened.summary()["counts"] == [3, 3]  # one per class of the cache, in its order
