"""``.ci/imagenette_like.py``: a generated set in Imagenette-160's layout, counts and file names
that the course's own preparation and plan open like the real one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ci_scripts import load_ci_script
from PIL import Image

from course_lib.datasets import registry
from course_lib.plan import plan

tool = load_ci_script("imagenette_like")


def test_counts_spread_over_the_classes_as_evenly_as_they_divide():
    assert tool.per_class(9469, 10) == [947] * 9 + [946]
    assert sum(tool.per_class(3925, 10)) == 3925 and set(tool.per_class(3925, 10)) == {392, 393}


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return tool.write_tree(tmp_path_factory.mktemp("src"), scale=0.01, workers=2)


def test_the_tree_has_the_real_layout_wnids_names_and_short_side(tree):
    spec = registry.get("imagenette2-160")
    top = tree["top"]
    assert top.name == spec.top_dir == "imagenette2-160"
    for split in ("train", "val"):
        assert sorted(p.name for p in (top / split).iterdir()) == sorted(spec.classes)
    # 1 % of 9,469 and 3,925, spread over the ten classes
    assert tree["images"] == {"train": 95, "val": 39}
    train = sorted((top / "train" / spec.classes[0]).glob("*.JPEG"))
    val = sorted((top / "val" / spec.classes[0]).glob("*.JPEG"))
    assert train[0].name.startswith(spec.classes[0] + "_")
    assert val[0].name == "ILSVRC2012_val_00000001.JPEG"
    sizes = {Image.open(p).size for p in train}
    assert sizes == {(213, 160), (160, 213)}  # landscape and portrait, short side 160
    assert Image.open(train[0]).format == "JPEG"


def test_an_existing_tree_is_never_overwritten(tree):
    with pytest.raises(SystemExit, match="exists already"):
        tool.write_tree(tree["top"].parent, scale=0.01)


def test_the_laptop_plan_opens_it_at_its_own_size(tree, tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA", str(tmp_path))
    tool.prepare(tree["top"], [64], workers=0)
    run = plan("laptop", dataset="imagenette2-160", splits=("train", "val"))
    assert run.data.num_classes == 10 and run.crop == 56
    assert run.data.train.images.shape == (95, 3, 64, 64) and len(run.data.val) == 39
    assert run.data.class_names == sorted(registry.get("imagenette2-160").classes)


def test_the_laptop_figures_quoted_come_from_the_measured_record():
    """README.md and notebook 00 quote the laptop measurement on this set; both must say what
    the record in benchmarks/results says (one measured source, no drift)."""
    root = Path(__file__).resolve().parent.parent
    record = json.loads((root / "benchmarks" / "results" / "2026-12-07_laptop_imagenette.json")
                        .read_text(encoding="utf-8"))
    assert record["within_budget"] and record["images"] == {"train": 9469, "val": 3925}
    readme = (root / "README.md").read_text(encoding="utf-8")
    start = "".join("".join(c["source"]) for c in json.loads(
        (root / "notebooks" / "00_start_here.ipynb").read_text(encoding="utf-8"))["cells"])
    for text in (readme, " ".join(start.split())):
        text = " ".join(text.split())
        assert f"took {record['seconds']} s with fp32 forced on 2 cores" in text
        assert f"{record['peak_gib']} GiB" in text
