"""Tests for course_lib.classes: the class table and the devkit ILSVRC2012_ID ↔ index mapping."""

from __future__ import annotations

import numpy as np
import pytest
from devkit_files import write_devkit
from scipy.io import savemat

from course_lib import classes
from course_lib.hierarchy import load_imagenet_hierarchy

KIT_FOX = "n02119789"  # devkit ILSVRC2012_ID 1 in map_clsloc.txt (FACTS.md §2.2)
ENGLISH_SETTER = "n02100735"  # ID 2
SIBERIAN_HUSKY = "n02110185"  # ID 3


def test_class_table_shape_and_order():
    t = classes.load_class_table()
    assert list(t.columns) == ["index", "wnid", "name", "definition"]
    assert len(t) == 1000 and t["index"].tolist() == list(range(1000))
    wnids = t["wnid"].tolist()
    assert wnids == sorted(wnids) and len(set(wnids)) == 1000
    assert all(w.startswith("n") and len(w) == 9 for w in wnids)
    # FACTS.md §2.2: torchvision/TF index 0 is n01440764 "tench", the first sorted wnid
    assert t.loc[0, "wnid"] == "n01440764" and t.loc[0, "name"].startswith("tench")
    assert (t["name"].str.len() > 0).all() and (t["definition"].str.len() > 0).all()
    assert [n.split(",")[0] for n in t["name"]].count("crane") == 2  # names are not unique


def test_class_table_is_a_fresh_copy():
    t = classes.load_class_table()
    t.loc[0, "name"] = "changed"
    assert classes.load_class_table().loc[0, "name"] != "changed"


def test_wnid_to_index_round_trips_and_matches_hierarchy():
    t = classes.load_class_table()
    idx = classes.wnid_to_index()
    assert all(idx[w] == i for i, w in zip(t["index"], t["wnid"], strict=True))
    assert load_imagenet_hierarchy().leaves == t["wnid"].tolist()


# --------------------------------------------------------------------------- devkit
@pytest.fixture
def permuted_devkit(tmp_path):
    """A devkit whose ID order is a seeded permutation of the sorted wnids, with the three
    first IDs of the real map_clsloc.txt."""
    wnids = classes.load_class_table()["wnid"].tolist()
    firsts = [KIT_FOX, ENGLISH_SETTER, SIBERIAN_HUSKY]
    rest = [w for w in wnids if w not in firsts]
    order = firsts + [rest[i] for i in np.random.default_rng(3).permutation(len(rest))]
    return write_devkit(tmp_path / "ILSVRC2012_devkit_t12", order), order


def test_read_devkit_permuted(permuted_devkit):
    root, order = permuted_devkit
    mapping = classes.read_devkit(root)
    assert list(mapping) == list(range(1, 1001))
    assert [mapping[i] for i in range(1, 1001)] == order
    assert mapping[1] == KIT_FOX
    # the data folder and the file itself are accepted too
    assert classes.read_devkit(root / "data") == mapping
    assert classes.read_devkit(root / "data" / "meta.mat") == mapping


def test_devkit_id_index_round_trip_with_devkit(permuted_devkit):
    root, order = permuted_devkit
    index = classes.wnid_to_index()
    ids = np.arange(1, 1001)
    got = classes.devkit_ids_to_indices(ids, devkit_dir=root)
    expected = np.array([index[order[i - 1]] for i in ids])  # brute force through the wnids
    np.testing.assert_array_equal(got, expected)
    assert sorted(got.tolist()) == list(range(1000))
    assert classes.devkit_ids_to_indices([1, 2, 3], root).tolist() == [
        index[KIT_FOX],
        index[ENGLISH_SETTER],
        index[SIBERIAN_HUSKY],
    ]
    back = classes.indices_to_devkit_ids(got, devkit_dir=root)
    np.testing.assert_array_equal(back, ids)
    grid = np.random.default_rng(0).integers(0, 1000, size=(4, 5))  # any shape
    out = classes.devkit_ids_to_indices(classes.indices_to_devkit_ids(grid, root), root)
    np.testing.assert_array_equal(out, grid)


def test_devkit_id_index_round_trip_without_devkit():
    # DESIGN.md clarifications: without a devkit, ID = index + 1
    ids = np.array([1, 2, 1000, 500])
    np.testing.assert_array_equal(classes.devkit_ids_to_indices(ids), [0, 1, 999, 499])
    np.testing.assert_array_equal(classes.indices_to_devkit_ids([0, 1, 999, 499]), ids)
    idx = np.arange(1000)
    np.testing.assert_array_equal(
        classes.devkit_ids_to_indices(classes.indices_to_devkit_ids(idx)), idx
    )
    assert classes.devkit_ids_to_indices(np.array([], dtype=np.int64)).shape == (0,)


def test_out_of_range_and_wrong_type_are_named():
    with pytest.raises(ValueError, match=r"1001 at position 2"):
        classes.devkit_ids_to_indices([1, 5, 1001])
    with pytest.raises(ValueError, match=r"0 at position 0"):
        classes.devkit_ids_to_indices([0])
    with pytest.raises(ValueError, match=r"1000 at position 1"):
        classes.indices_to_devkit_ids([3, 1000])
    with pytest.raises(TypeError, match="integers"):
        classes.devkit_ids_to_indices([1.5, 2.0])


def test_devkit_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="meta.mat"):
        classes.read_devkit(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError):
        classes.devkit_ids_to_indices([1], devkit_dir=tmp_path)


def test_devkit_not_a_mat_file(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "meta.mat").write_text("n02119789 1 kit_fox\n")
    with pytest.raises(ValueError, match=r"meta\.mat: not a readable MATLAB"):
        classes.read_devkit(tmp_path)


def test_devkit_foreign_mat_files(tmp_path):
    (tmp_path / "a" / "data").mkdir(parents=True)
    savemat(tmp_path / "a" / "data" / "meta.mat", {"cost_matrix": np.ones((2, 2))})
    with pytest.raises(ValueError, match=r"no struct array 'synsets'.*cost_matrix"):
        classes.read_devkit(tmp_path / "a")
    # another year's classes (wnids not in ILSVRC-2012)
    other = [f"n9{i:07d}" for i in range(1000)]
    write_devkit(tmp_path / "b", other)
    with pytest.raises(ValueError, match="not ILSVRC-2012 classes"):
        classes.read_devkit(tmp_path / "b")
    # only 999 leaves
    wnids = classes.load_class_table()["wnid"].tolist()
    write_devkit(tmp_path / "c", wnids[:999])
    with pytest.raises(ValueError, match=r"IDs missing: \[1000\]"):
        classes.read_devkit(tmp_path / "c")


def test_devkit_repeated_id_is_named(tmp_path):
    wnids = classes.load_class_table()["wnid"].tolist()
    root = write_devkit(tmp_path / "d", wnids, with_root=False)
    from scipy.io import loadmat

    syn = loadmat(root / "data" / "meta.mat")["synsets"]
    syn[999, 0]["ILSVRC2012_ID"] = np.array([[5]])  # the last class claims ID 5 as well
    savemat(root / "data" / "meta.mat", {"synsets": syn})
    with pytest.raises(ValueError, match=r"ILSVRC2012_ID 5 appears twice \(synsets\(1000\)\)"):
        classes.read_devkit(root)
