"""Train an AlexNet with the course's training core (``course_lib.train.fit``).

    python -m course_lib train --dataset synthnet --epochs 2 --json      # the profile's SynthNet
    python -m course_lib train --dataset imagenette2-160 --model torchvision --size 160 --epochs 30
    torchrun --nproc_per_node=8 --max-restarts=3 -m course_lib train --dataset ilsvrc2012 \\
        --model paper --size 256 --epochs 90 --resume auto

Data: ``synthnet`` is rendered in memory from the profile (``--size`` sets its image side);
any other name is read from its decode-once cache ``$COURSE_DATA/caches/<name>-<size>/{train,val}``
(build it first with ``python -m course_lib prepare <name> --size S``), or from ``--cache DIR``
holding ``train/`` and ``val/`` caches. Labels are renumbered 0..K-1 over the classes present.

Recipe: the paper's optimiser (SGD, momentum 0.9, weight decay 5e-4) with the profile's batch
size, learning rate and schedule unless given: the paper's "÷10 when the validation error
plateaus" for ``full``, one-cycle for the shorter profiles, where a plateau rule would never get
to act (on laptop SynthNet after 2 epochs: 23-28% top-1 error with one-cycle, 31-40% with a
constant rate; benchmarks/README.md). ``--optimizer adamw`` (lr 0.001, weight decay 0.05 unless
given) is the modern alternative.

``--baseline`` also fits the pre-2012 pipeline (HOG + colour histograms + logistic regression,
:class:`course_lib.models.baselines.HandcraftedBaseline`) on the same training images,
centre-cropped like the validation images, and reports its validation errors beside the
network's, with an exact McNemar test of the difference on the same images.

Checkpoints go to ``--out`` (default ``runs/<dataset>-<model>-<size>``); an existing checkpoint
is continued with ``--resume auto`` (automatic after a torchrun restart) and never silently
replaced. ``--json`` prints the final metrics and the checkpoint path.
"""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path

NAME = "train"
HELP = "train an AlexNet with the training core (one device or many under torchrun)"
BASELINE_MAX_IMAGES = 100_000  # HOG features take about 2 ms an image on one core


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
    parser.add_argument("--lr", type=float, default=None,
                        help="default: the profile's for sgd, 0.001 for adamw")
    parser.add_argument("--optimizer", default="sgd", choices=("sgd", "adamw"),
                        help="sgd (the paper's) or adamw (default: sgd)")
    parser.add_argument("--weight-decay", type=float, default=None,
                        help="default: 5e-4 for sgd (the paper's), 0.05 for adamw")
    parser.add_argument("--schedule", default=None,
                        help="plateau (the paper's), cosine, onecycle, step or constant "
                             "(default: the profile's)")
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
    parser.add_argument("--baseline", action="store_true",
                        help="also fit the pre-2012 baseline (HOG + colour + logistic regression) "
                             f"on the same images (at most {BASELINE_MAX_IMAGES:,}) and report it")
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


def _check_baseline(train, val) -> None:
    """Refuse ``--baseline`` before training when it could not run (so no run is wasted)."""
    if val is None:
        raise ValueError("--baseline needs validation images to score the baseline on")
    if len(train[1]) > BASELINE_MAX_IMAGES:
        raise ValueError(f"--baseline fits hand-made features on every training image: "
                         f"{len(train[1]):,} is more than {BASELINE_MAX_IMAGES:,} (hours on a CPU)")


def _baseline(train, val, model, config, num_classes: int) -> dict:
    """Fit :class:`HandcraftedBaseline` on the centre crops of the training images, score it on
    the validation images' centre crops (what ``model`` is validated on), and compare the two
    per image: ``only_network_wrong`` / ``only_baseline_wrong`` and McNemar's exact p-value."""
    import time

    import numpy as np
    import torch

    from ..datasets.augment import center_crop
    from ..datasets.loader import UInt8Loader
    from ..evaluate import predict
    from ..models.baselines import HandcraftedBaseline
    from ..scoring.metrics import per_image_topk_error, topk_errors
    from ..scoring.stats import mcnemar_exact

    def crops(images):
        return center_crop(torch.from_numpy(np.asarray(images)), config.crop_size).numpy()

    start = time.perf_counter()
    labels = np.asarray(val[1])
    scores = HandcraftedBaseline().fit(crops(train[0]), np.asarray(train[1])).scores(
        crops(val[0]), num_classes=num_classes)
    seconds = time.perf_counter() - start
    k = min(5, num_classes)  # as fit's top-5 error: with fewer classes every class is a guess
    errors = topk_errors(scores, labels, ks=(1, k))
    device = next(model.parameters()).device
    network = predict(model, UInt8Loader(val[0], labels, config.batch_size, shuffle=False),
                      mode="center", crop_size=config.crop_size, device=device,
                      normalize=(config.mean, config.std))
    test = mcnemar_exact(per_image_topk_error(network.scores, labels, 1),
                         per_image_topk_error(scores, labels, 1))
    return {"method": "HOG + colour histograms + logistic regression (HandcraftedBaseline)",
            "val_top1_error": errors[1], "val_top5_error": errors[k], "seconds": seconds,
            "only_network_wrong": test.only_a_wrong, "only_baseline_wrong": test.only_b_wrong,
            "mcnemar_p": test.p_value}


def run(args) -> int:
    from ..datasets.cache import CacheError
    from ..device import DeviceError
    from ..models.alexnet import alexnet
    from ..profiles import UnknownProfileError, current_profile
    from ..train import CheckpointError, TrainConfig, TrainingDiverged, fit
    from ..train.config import ADAMW_DEFAULTS

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
        if args.baseline:
            _check_baseline(train, val)
        width = args.width if args.width is not None else (profile.width if variant == "scaled" else 1.0)
        recipe = ADAMW_DEFAULTS if args.optimizer == "adamw" else {}
        config = TrainConfig(
            epochs=args.epochs or profile.epochs, batch_size=args.batch_size or profile.batch_size,
            lr=args.lr or recipe.get("lr", profile.lr), optimizer=args.optimizer,
            weight_decay=(args.weight_decay if args.weight_decay is not None
                          else recipe.get("weight_decay", TrainConfig.weight_decay)),
            schedule=args.schedule or profile.schedule, warmup_epochs=args.warmup_epochs,
            label_smoothing=args.label_smoothing, crop_size=crop, device=args.device,
            precision="fp32" if args.fp32 else "auto", compile=args.compile, out_dir=str(out),
            resume=resume, overwrite=args.overwrite, seed=args.seed,
            checkpoint_every_steps=args.checkpoint_every)
        from ..device import seed_everything

        seed_everything(args.seed)  # the initial weights
        model = alexnet(variant, num_classes=len(classes), width=width,
                        input_size=crop if variant == "scaled" else None)
        history = fit(model, train, val, config)
        rank0 = os.environ.get("RANK", "0") == "0"
        baseline = (_baseline(train, val, model, config, len(classes))
                    if args.baseline and rank0 else None)
    except (CacheError, CheckpointError, TrainingDiverged, DeviceError, ValueError, OSError) as exc:
        hint = ""
        if isinstance(exc, CacheError):
            hint = f" (build it with: python -m course_lib prepare {dataset} --size {size})"
        print(f"error: train {dataset}: {exc}{hint}", file=sys.stderr)
        return 2
    if not rank0:
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
    if baseline is not None:
        result["baseline"] = baseline
    if args.json:
        print(json.dumps(result, indent=2, default=float))
    else:
        val_text = "" if result["val_top1_error"] is None else (
            f"val top-1 error {result['val_top1_error']:.3f} (chance "
            f"{result['chance_top1_error']:.3f}), top-5 {result['val_top5_error']:.3f}; ")
        print(f"{dataset} / {variant}: {val_text}{result['images_per_s']:.0f} img/s; "
              f"checkpoint {result['checkpoint']}")
        if baseline is not None:
            print(f"pre-2012 baseline ({baseline['method']}): val top-1 error "
                  f"{baseline['val_top1_error']:.3f}, top-5 {baseline['val_top5_error']:.3f}; "
                  f"only the network wrong on {baseline['only_network_wrong']} images, only the "
                  f"baseline on {baseline['only_baseline_wrong']} (McNemar p = "
                  f"{baseline['mcnemar_p']:.2g})")
    return 0
