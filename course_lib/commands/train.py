"""Train an AlexNet with the course's training core (``course_lib.train.fit``).

    python -m course_lib train --dataset synthnet --epochs 2 --json      # the profile's SynthNet
    python -m course_lib train --dataset imagenette2-160 --model torchvision --size 160 --epochs 30
    torchrun --nproc_per_node=8 --max-restarts=3 -m course_lib train --dataset ilsvrc2012 \\
        --model paper --size 256 --epochs 90 --resume auto

Every setting comes from one plan (:func:`course_lib.plan.plan`) of the profile (``--profile``,
else ``COURSE_PROFILE`` and the rules of :mod:`course_lib.profiles`) with the flags given as its
changes, so the data, the crop, the training settings and the network agree.

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

import argparse
import contextlib
import json
import math
import os
import sys
from pathlib import Path

from ..comparison import check_baseline_inputs, compare_with_baseline
from ..device import seed_everything
from ..errors import CourseError, one_line
from ..plan import plan
from ..reference import reference_model
from ..train import fit

NAME = "train"
HELP = "train an AlexNet with the training core (one device or many under torchrun)"


def add_arguments(parser) -> None:
    parser.add_argument("--profile", default=None,
                        help="smoke, laptop, gpu or full (default: COURSE_PROFILE, else chosen "
                             "as course_lib.profiles says)")
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
                        help="plateau (the paper's), cosine, onecycle or constant "
                             "(default: the profile's)")
    parser.add_argument("--width", type=float, default=None,
                        help="channel-width multiplier (default: the profile's for 'scaled', else 1)")
    parser.add_argument("--cache", default=None, help="a folder holding train/ and val/ caches")
    parser.add_argument("--out", default=None, help="checkpoint folder (default: see above)")
    parser.add_argument("--resume", default=None, help="'auto' or a checkpoint path")
    parser.add_argument("--resume-mismatch", default="refuse", choices=("refuse", "weights"),
                        help="when the checkpoint's data or a setting that changes the result "
                             "(seed, batch size, optimiser, lr, schedule, augmentation, ...) "
                             "differs from this run's: refuse (default), or start a fresh "
                             "schedule from its weights (and say so)")
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
                             "on the same images (at most 100,000) and report it")
    parser.add_argument("--reference", action="store_true",
                        help="train (or find) the profile's reference model that later "
                             "chapters load (course_lib.reference), then stop")
    parser.add_argument("--json", action="store_true", help="print the final metrics as JSON")


def _plan(args, resume):
    """The run's plan (the profile with the flags given as its changes) and its config."""
    run = plan(args.profile, dataset=args.dataset, model_variant=args.model,
               image_size=args.size, crop_size=args.crop, width=args.width, epochs=args.epochs,
               batch_size=args.batch_size, schedule=args.schedule, splits=("train", "val"),
               seed=args.seed, data_seed=args.seed, cache_dir=args.cache)
    out = Path(args.out) if args.out else (
        Path("runs") / f"{run.dataset}-{run.profile.model_variant}-{run.image_size}")
    given = {"lr": args.lr, "weight_decay": args.weight_decay,
             "checkpoint_every_steps": args.checkpoint_every}
    config = run.train_config(
        optimizer=args.optimizer, device=args.device,
        precision="fp32" if args.fp32 else "auto", compile=args.compile, out_dir=str(out),
        resume=resume, resume_mismatch=args.resume_mismatch, overwrite=args.overwrite,
        **{k: v for k, v in given.items() if v is not None})
    return run, config


def _ignored_by_reference(args) -> list[str]:
    """The flags given with ``--reference`` that it would ignore (all but ``--json``): the
    reference model is trained by the profile's fixed recipe."""
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    defaults = vars(parser.parse_args([]))
    return [f"--{name.replace('_', '-')}" for name, default in defaults.items()
            if name not in ("reference", "json", "profile")
            and getattr(args, name, default) != default]


def _reference(args) -> int:
    ignored = _ignored_by_reference(args)
    if ignored:
        them = "it" if len(ignored) == 1 else "them"
        print(f"error: train --reference trains the profile's reference model by its fixed "
              f"recipe and would ignore {', '.join(ignored)}: drop {them}, or train without "
              "--reference", file=sys.stderr)
        return 2
    try:
        with contextlib.redirect_stdout(sys.stderr if args.json else sys.stdout):
            ref = reference_model(args.profile, max_minutes=float("inf"))
    except (CourseError, OSError) as exc:
        print(f"error: train --reference: {one_line(exc)}", file=sys.stderr)
        return 2
    state = "trained" if ref.trained_now else "already there"
    last = ref.history.iloc[-1]
    result = {"reference": str(ref.path), "state": state, "profile": ref.info["profile"],
              "val_top1_error": last.get("val_top1_error"), "epochs": int(last["epoch"])}
    print(json.dumps(result, indent=2, default=float) if args.json else
          f"reference model {state}: {ref.path} (val top-1 error {result['val_top1_error']:.3f})")
    return 0


def run(args) -> int:
    if args.reference:
        return _reference(args)
    resume = args.resume
    if resume is None and os.environ.get("TORCHELASTIC_RESTART_COUNT", "0") != "0":
        resume = "auto"  # torchrun restarted the workers: continue, don't start over
    dataset = (args.dataset or "the profile's dataset").lower()
    try:
        run_plan, config = _plan(args, resume)
        dataset, variant, size = run_plan.dataset, run_plan.profile.model_variant, run_plan.image_size
        data = run_plan.data
        if args.baseline:
            check_baseline_inputs(data.train, data.val)
        seed_everything(args.seed)  # the initial weights
        model = run_plan.model()
        history = fit(model, data.train, data.val, config)
        rank0 = os.environ.get("RANK", "0") == "0"
        baseline = None
        if args.baseline and rank0:
            baseline = compare_with_baseline(model, data.train, data.val, config.crop_size,
                                             batch_size=config.batch_size,
                                             normalize=(config.mean, config.std),
                                             num_classes=data.num_classes)
            baseline.pop("baseline_scores")
    except (CourseError, OSError) as exc:
        print(f"error: train {dataset}: {one_line(exc)}", file=sys.stderr)
        return 2
    if not rank0:
        return 0
    _report(args, history, dataset, variant, model, data, size, config, baseline)
    return 0


def _report(args, history, dataset, variant, model, data, size, config, baseline) -> None:
    last = history.iloc[-1].to_dict()
    classes = data.class_names
    result = {
        "dataset": dataset, "model": variant, "width": model.config.width,
        "num_classes": len(classes), "image_size": size, "crop_size": config.crop_size,
        "epochs": int(last["epoch"]), "train_images": int(last["images"]),
        "chance_top1_error": 1 - 1 / len(classes),
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
        return
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
