"""torchvision's pretrained AlexNet scored 1000-way on a registry dataset (ImageNetV2 by default).

Notebooks 08 (section 8) and 11 (section 4) hold the published figures against a measurement;
this is the one measurement both call::

    from course_lib.pretrained_scores import pretrained_missing, score_pretrained
    if not pretrained_missing():                 # the weights and ImageNetV2 are on disk
        v2 = score_pretrained(progress=False)    # Predictions, labels in ImageNet's 0-999
        v2.error(1), v2.error(5)

Nothing downloads unless it is called: :func:`pretrained_missing` only looks, and names the
commands that fetch what is absent (each file is checked against its published SHA-256 when it
is fetched).
"""

from __future__ import annotations

from urllib.parse import urlparse

import numpy as np

from .datasets import registry
from .datasets.loader import UInt8Loader
from .evaluate import Predictions, predict
from .models import alexnet, pretrained
from .paths import shown
from .recipe import open_splits, prepare_caches

V2 = "imagenetv2-matched-frequency"
# the command that fetches torchvision's weights (load_pretrained downloads and verifies them)
WEIGHTS_COMMAND = ('python -c "from course_lib.models import alexnet, load_pretrained; '
                   "load_pretrained(alexnet('torchvision'))\"")


def pretrained_missing(dataset: str = V2, url: str = pretrained.URL) -> list[tuple[str, str]]:
    """What :func:`score_pretrained` needs that is not on disk yet: ``[(what, the command that
    fetches it), ...]``, empty when everything is there. Downloads nothing."""
    missing = []
    weights = pretrained.weights_dir() / urlparse(url).path.rsplit("/", 1)[-1]
    if not weights.is_file():
        missing.append((f"torchvision's AlexNet weights ({shown(weights)})", WEIGHTS_COMMAND))
    spec = registry.get(dataset)
    if not spec.is_present():
        missing.append((f"{spec.title} ({shown(spec.dataset_dir())})",
                        f"python -m course_lib fetch {dataset}"))
    return missing


def score_pretrained(dataset: str = V2, *, image_size: int = 256, crop: int = 224,
                     batch_size: int = 50, device=None, weights: dict | None = None,
                     progress: bool = True) -> Predictions:
    """torchvision's pretrained AlexNet on every image of ``dataset`` (a registry dataset
    labelled with ImageNet's 0-999 indices): :class:`~course_lib.evaluate.Predictions` with
    ``scores (N, 1000)`` and ``labels (N,)`` in 0-999, in the reader's order.

    As the published figures were measured: the short side resized to ``image_size``, the
    centre ``crop``, ImageNet's mean and std, fp32. Fetches, verifies and decodes once what is
    missing (``weights``: :func:`~course_lib.models.pretrained.load_pretrained`'s
    ``url``/``sha256``/``size``, for a mirror).
    """
    spec = registry.get(dataset)
    prepare_caches(dataset, image_size, progress=progress)  # fetch, verify, decode once
    split = spec.splits[0]
    opened = open_splits(dataset, image_size, splits=(split,))
    imagenet_index = np.asarray(opened.extra["original_labels"])  # cache label -> 0-999
    labels = imagenet_index[np.asarray(opened[split].labels)]
    model = pretrained.load_pretrained(alexnet("torchvision"), progress=progress,
                                       **(weights or {}))
    batches = UInt8Loader(opened[split].images, labels, batch_size, shuffle=False,
                          device=device)
    return predict(model, batches, mode="center", crop_size=crop, device=device,
                   precision="fp32", progress=progress)
