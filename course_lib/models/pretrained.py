"""torchvision's ImageNet weights for the ``"torchvision"`` AlexNet, downloaded once and verified.

The file is ``AlexNet_Weights.IMAGENET1K_V1`` (../shared/DATASETS.md §2.6; FACTS §5: top-1/top-5
error 43.478% / 20.934% on ILSVRC-2012 val, centre crop). It holds torchvision's one-tower
64-192-384-256-256 network; no weights for the paper's two-tower network were ever published in
PyTorch form, so only ``alexnet("torchvision")`` (width 1, no LRN, one tower) can take them.

**About the checksum.** PyTorch publishes only the 8-hex prefix ``7be5be79`` of the file's
SHA-256 (in its name), and ``torch.hub`` checks just those 32 bits, and only on download: a file
already in its cache is loaded unchecked (DATASETS.md §2.6 and caveat 7). The full SHA-256 used
here, ``7be5be79…cdee02``, was computed by at least four independent projects, not by PyTorch;
its prefix matches the published one. Every call checks the cached file's size and full
SHA-256 again (about a second for 233 MiB), so a corrupt or swapped file is never loaded.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

import torch
from torch import nn

from .. import rehearsal
from ..download import download_file  # the neutral downloader: models never import datasets
from ..errors import CourseError
from ..paths import data_dir
from .alexnet import AlexNet, alexnet

# DATASETS.md §1 item 6 and §2.6.
URL = "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth"
SHA256 = "7be5be791159472b1fbf3c69796f7cb30dca7ad8466c2df70058c37116cdee02"
SIZE = 244_408_911
HEAD_KEYS = ("classifier.6.weight", "classifier.6.bias")  # fc8, the 1000-way classifier


class PretrainedWeightsError(CourseError, ValueError):
    """The model cannot take the weights, or the weights file is not what it should be."""


def weights_dir(root: Path | None = None) -> Path:
    """Where downloaded weights are cached: ``root``, else ``paths.data_dir() / "weights"``."""
    if root is not None:
        return Path(root)
    return data_dir() / "weights"


def _why_not(model: nn.Module) -> str | None:
    """A sentence saying why ``model`` cannot take torchvision's weights, or None if it can."""
    config = getattr(model, "config", None)
    if not isinstance(model, AlexNet) or config is None:
        return (
            f"load_pretrained takes an AlexNet built by course_lib.models.alexnet.alexnet"
            f"('torchvision'), not a {type(model).__name__}"
        )
    if config.variant != "torchvision":
        return (
            f"the ImageNet weights are torchvision's one-tower 64-192-384-256-256 AlexNet; this "
            f"is the {config.variant!r} variant ({'-'.join(map(str, config.widths))} kernels"
            f"{', two towers' if config.towers == 2 else ''}{', LRN' if config.lrn else ''}), "
            "for which no trained weights were published in PyTorch form. Build "
            "alexnet('torchvision') to use them, or train this one"
        )
    changed = [
        f"{name}={getattr(config, name)!r}"
        for name, default in (("width", 1.0), ("towers", 1), ("lrn", False))
        if getattr(config, name) != default
    ]
    if changed:
        return (
            "the ImageNet weights fit only alexnet('torchvision') with width=1.0, towers=1 and "
            f"lrn=False; this model has {', '.join(changed)}"
        )
    return None


def _check_file_contents(state: object, expected: dict[str, torch.Size], path: Path) -> None:
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise PretrainedWeightsError(f"{path} does not hold a state_dict of tensors")
    got = {k: v.shape for k, v in state.items()}
    problems = [f"missing {k}" for k in expected if k not in got]
    problems += [f"unexpected {k}" for k in got if k not in expected]
    problems += [
        f"{k}: shape {tuple(got[k])} in the file, {tuple(shape)} in torchvision's AlexNet"
        for k, shape in expected.items()
        if k in got and got[k] != shape
    ]
    if problems:
        raise PretrainedWeightsError(
            f"{path} is not a torchvision AlexNet state_dict: " + "; ".join(problems[:5])
        )


def load_pretrained(
    model: AlexNet,
    root: Path | None = None,
    *,
    url: str = URL,
    sha256: str = SHA256,
    size: int | None = SIZE,
    skip_head: bool = False,
    progress: bool = True,
) -> AlexNet:
    """Load torchvision's ImageNet weights into ``model`` (in place) and return it.

    ``model`` must be ``alexnet("torchvision")`` (any other variant or a changed width, towers
    or LRN raises :class:`PretrainedWeightsError` saying why, before anything is downloaded).
    The file ``url`` is fetched once into :func:`weights_dir` (``root``) by
    :func:`course_lib.download.download_file`, verified against ``sha256`` and
    ``size`` (a mismatch raises its ``DownloadError`` and leaves nothing cached), read with
    ``torch.load(..., weights_only=True)`` and loaded with ``strict=True``.

    Under a rehearsal (:mod:`course_lib.rehearsal`) the default ``url``, ``sha256`` and
    ``size`` are the test-only registry's, with a warning.

    ``num_classes != 1000``: raises, unless ``skip_head=True``, which loads every layer but fc8
    (``classifier.6``) and leaves the model's own freshly initialised fc8 (for fine-tuning on
    another label set, e.g. Imagenette's 10 classes); all other keys must still match exactly.
    """
    rehearsed = rehearsal.entry(rehearsal.WEIGHTS) if url == URL else None
    if rehearsed is not None:  # a rehearsal's generated file (course_lib.rehearsal), said so
        url, sha256, size = rehearsed["url"], rehearsed["sha256"], rehearsed["size"]
    reason = _why_not(model)
    if reason is not None:
        raise PretrainedWeightsError(reason)
    if model.config.num_classes != 1000 and not skip_head:
        raise PretrainedWeightsError(
            f"this model has {model.config.num_classes} classes but the ImageNet weights end in a "
            "1000-way fc8; pass skip_head=True to load every layer except fc8, which keeps its "
            "fresh initialisation (for fine-tuning)"
        )
    # Checked before any download; it is also the key/shape table the file must match.
    with torch.device("meta"):
        reference = alexnet("torchvision", num_classes=1000, init="torchvision")
    expected = {k: v.shape for k, v in reference.state_dict().items()}

    name = Path(urlparse(url).path).name or "weights.pth"
    path = download_file(url, weights_dir(root) / name, sha256=sha256, size=size, progress=progress)
    state = torch.load(path, map_location="cpu", weights_only=True)
    _check_file_contents(state, expected, path)
    if skip_head:
        state = {k: v for k, v in state.items() if k not in HEAD_KEYS}
        result = model.load_state_dict(state, strict=False)
        if sorted(result.missing_keys) != sorted(HEAD_KEYS) or result.unexpected_keys:
            raise PretrainedWeightsError(
                f"loading {path} without the head left missing keys {result.missing_keys} and "
                f"unexpected keys {result.unexpected_keys}"
            )
    else:
        model.load_state_dict(state, strict=True)
    return model
