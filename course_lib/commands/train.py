"""Train an AlexNet with the course's training core (``course_lib.train.fit``).

    python -m course_lib train --dataset synthnet --epochs 2 --json      # the profile's SynthNet
    python -m course_lib train --dataset imagenette2-160 --model torchvision --size 160 --epochs 30
    torchrun --nproc_per_node=8 --max-restarts=3 -m course_lib train --dataset ilsvrc2012 \\
        --model paper --size 256 --epochs 90 --resume auto

Data: ``synthnet`` is rendered in memory from the profile (``--size`` sets its image side);
any other name is read from its decode-once cache ``$COURSE_DATA/caches/<name>-<size>/{train,val}``
(build it first with ``python -m course_lib prepare <name> --size S``), or from ``--cache DIR``
holding ``train/`` and ``val/`` caches. Labels are renumbered 0..K-1 over the classes present.

Recipe: the paper's (SGD, momentum 0.9, weight decay 5e-4, lr divided by 10 on plateaus), with
the profile's batch size and learning rate unless given. Checkpoints go to ``--out`` (default
``runs/<dataset>-<model>-<size>``); an existing checkpoint is continued with ``--resume auto``
(automatic after a torchrun restart) and never silently replaced. ``--json`` prints the final
metrics and the checkpoint path.
"""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path

NAME = "train"
HELP = "train an AlexNet with the training core (one device or many under torchrun)"


def add_arguments(parser) -> None:
    parser.add_argument("--dataset", default=None,
                        help="synthnet or a prepared dataset name (default: the profile's)")
    parser.add_argument("--model", default=None,
                        help="AlexNet variant: scaled, torchvision or paper (default: the profile's)")
    parser.add_argument("--epochs", type=int, default=None, help="default: the profile's")
    parser.add_argument("--size", type=int, default=None,
                        help="stored image side in px (default: the profile's image_size)")
    parser.add_argument("--crop", type=int, default=None,
                        help="training crop side (default: the profile's, or 7/8 of --size)")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="global batch over all ranks (default: the profile's)")
    parser.add_argument("--lr", type=float, default=None, help="default: the profile's")
    parser.add_argument("--schedule", default="plateau",
                        help="plateau (the paper), cosine, onecycle, step or constant")
    parser.add_argument("--warmup-epochs", type=float, default=0.0)
    parser.add_argument("--label-smoothing", type=float, default=0.0)
    parser.add_argument("--width", type=float, default=None,
                        help="channel-width multiplier (default: the profile's for 'scaled', else 1)")
    parser.add_argument("--cache", default=None, help="a folder holding train/ and val/ caches")
    parser.add_argument("--out", default=None, help="checkpoint folder (default: see above)")
    parser.add_argument("--resume", default=None, help="'auto' or a checkpoint path")
    parser.add_argument("--overwrite", action="store_true",
                        help="start over even if --out holds a checkpoint")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1, mps (default: pick_device())")
    parser.add_argument("--fp32", action="store_true", help="no mixed precision")
    parser.add_argument("--compile", action="store_true", help="torch.compile the model")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--checkpoint-every", type=int, default=None, metavar="STEPS",
                        help="also checkpoint every STEPS optimiser steps")
    parser.add_argument("--json", action="store_true", help="print the final metrics as JSON")


def _synthnet(profile, size: int, seed: int) -> tuple:
    from ..datasets import synthnet

    size = min(max(size, synthnet.MIN_SIZE), synthnet.MAX_SIZE)
    train = synthnet.from_profile(profile, "train", image_size=size, seed=seed)
    val = synthnet.from_profile(profile, "val", image_size=size, seed=seed)
    return (train.images, train.labels), (val.images, val.labels), train.class_names


def _cached(name: str, size: int, folder: Path | None) -> tuple:
    import numpy as np

    from ..datasets.cache import open_cache
    from ..paths import data_dir

    root = folder or data_dir() / "caches" / f"{name}-{size}"
    train = open_cache(root / "train")
    val = open_cache(root / "val") if (root / "val").exists() else None
    labels = sorted(set(train.class_labels) | set(val.class_labels if val else []))
    remap = np.full(max(labels) + 1, -1, dtype=np.int64)
    remap[labels] = np.arange(len(labels))
    names = dict(zip(train.class_labels, train.classes))
    if val is not None:
        names.update(zip(val.class_labels, val.classes))
    val_arrays = None if val is None else (val.images, remap[val.labels])
    return (train.images, remap[train.labels]), val_arrays, [names[lab] for lab in labels]


def run(args) -> int:
    from ..datasets.cache import CacheError
    from ..device import DeviceError
    from ..models.alexnet import alexnet
    from ..profiles import UnknownProfileError, current_profile
    from ..train import CheckpointError, TrainConfig, TrainingDiverged, fit

    try:
        profile = current_profile()
    except UnknownProfileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    dataset = (args.dataset or profile.dataset).lower()
    variant = args.model or profile.model_variant
    size = args.size or profile.image_size
    crop = args.crop or (profile.crop_size if size == profile.image_size else round(size * 224 / 256))
    resume = args.resume
    if resume is None and os.environ.get("TORCHELASTIC_RESTART_COUNT", "0") != "0":
        resume = "auto"  # torchrun restarted the workers: continue, don't start over
    out = Path(args.out) if args.out else Path("runs") / f"{dataset}-{variant}-{size}"
    try:
        if dataset == "synthnet" and args.cache is None:
            train, val, classes = _synthnet(profile, size, args.seed)
        else:
            train, val, classes = _cached(dataset, size, Path(args.cache) if args.cache else None)
        width = args.width if args.width is not None else (profile.width if variant == "scaled" else 1.0)
        config = TrainConfig(
            epochs=args.epochs or profile.epochs, batch_size=args.batch_size or profile.batch_size,
            lr=args.lr or profile.lr, schedule=args.schedule, warmup_epochs=args.warmup_epochs,
            label_smoothing=args.label_smoothing, crop_size=crop, device=args.device,
            precision="fp32" if args.fp32 else "auto", compile=args.compile, out_dir=str(out),
            resume=resume, overwrite=args.overwrite, seed=args.seed,
            checkpoint_every_steps=args.checkpoint_every)
        from ..device import seed_everything

        seed_everything(args.seed)  # the initial weights
        model = alexnet(variant, num_classes=len(classes), width=width,
                        input_size=crop if variant == "scaled" else None)
        history = fit(model, train, val, config)
    except (CacheError, CheckpointError, TrainingDiverged, DeviceError, ValueError, OSError) as exc:
        hint = ""
        if isinstance(exc, CacheError):
            hint = f" (build it with: python -m course_lib prepare {dataset} --size {size})"
        print(f"error: train {dataset}: {exc}{hint}", file=sys.stderr)
        return 2
    if os.environ.get("RANK", "0") != "0":
        return 0
    last = history.iloc[-1].to_dict()
    result = {
        "dataset": dataset, "model": variant, "width": width, "num_classes": len(classes),
        "image_size": size, "crop_size": crop, "epochs": int(last["epoch"]),
        "train_images": int(last["images"]), "chance_top1_error": 1 - 1 / len(classes),
        **{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in last.items()
           if k not in ("epoch",)},
        "total_seconds": float(history["seconds"].sum()),
        "checkpoint": history.attrs["checkpoint"], "device": history.attrs["device"],
        "precision": history.attrs["precision"], "world_size": history.attrs["world_size"],
    }
    if args.json:
        print(json.dumps(result, indent=2, default=float))
    else:
        val_text = "" if result["val_top1_error"] is None else (
            f"val top-1 error {result['val_top1_error']:.3f} (chance "
            f"{result['chance_top1_error']:.3f}), top-5 {result['val_top5_error']:.3f}; ")
        print(f"{dataset} / {variant}: {val_text}{result['images_per_s']:.0f} img/s; "
              f"checkpoint {result['checkpoint']}")
    return 0
