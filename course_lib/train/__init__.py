"""The training core: one loop, fast on any device, safe to interrupt, from one GPU to many.

    from course_lib.train import TrainConfig, fit, plot_history
    history = fit(model, train_split, val_split, TrainConfig(epochs=8, out_dir="runs/a"))
    plot_history(history)

=====================  ========================================================================
module                 what it does
=====================  ========================================================================
:mod:`.config`         :class:`TrainConfig`, the paper's recipe as defaults (FACTS.md §4.3)
:mod:`.loop`           :func:`fit`: epochs, progress bars, validation, history, checkpoints
:mod:`.step`           one optimiser step: on-device augmentation, autocast, OOM fallback
:mod:`.schedule`       fused/foreach SGD and the learning-rate schedule (plateau, cosine, ...)
:mod:`.checkpoint`     atomic, ``weights_only`` checkpoints with every random state, checked
:mod:`.resume`         which settings a resume must share with its checkpoint (one rule a field)
:mod:`.distributed`    torchrun / DistributedDataParallel (NCCL on GPUs, gloo on CPUs)
:mod:`.throughput`     FLOPs per image, achieved TFLOP/s and the device's peak
:mod:`.plot`           :func:`plot_history`
=====================  ========================================================================
"""

from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .config import TrainConfig
from .loop import HISTORY_COLUMNS, STEP_COLUMNS, TrainingDiverged, fit
from .plot import plot_history

__all__ = ["HISTORY_COLUMNS", "STEP_COLUMNS", "CheckpointError", "TrainConfig", "TrainingDiverged",
           "fit", "load_checkpoint", "plot_history", "save_checkpoint"]
