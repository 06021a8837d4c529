"""A stand-in for the ILSVRC-2012 devkit's ``data/meta.mat``, written with scipy.

The real file is a struct array ``synsets`` with the fields below (FACTS.md §2.2): the 1000
classes carry ILSVRC2012_IDs 1..1000, the internal synsets follow (``entity`` is 1001).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.io import savemat

FIELDS = ("ILSVRC2012_ID", "WNID", "words", "gloss", "num_children", "children",
          "wordnet_height", "num_train_images")


def write_devkit(root: Path, wnids_by_id: list[str], with_root: bool = True) -> Path:
    """Write ``root/data/meta.mat`` where ILSVRC2012_ID ``i`` names ``wnids_by_id[i - 1]``;
    ``with_root`` adds the internal synset ``entity`` as ID 1001, as in the real file."""
    rows = [(i + 1, w, "words", "gloss", 0, np.zeros(0), 0, 1300)
            for i, w in enumerate(wnids_by_id)]
    if with_root:
        rows.append((1001, "n00001740", "entity", "root", 2, np.array([1, 2]), 18, 0))
    synsets = np.zeros((len(rows),), dtype=[(f, object) for f in FIELDS])
    for k, row in enumerate(rows):
        synsets[k] = row
    (Path(root) / "data").mkdir(parents=True, exist_ok=True)
    savemat(Path(root) / "data" / "meta.mat", {"synsets": synsets.reshape(-1, 1)})
    return Path(root)
