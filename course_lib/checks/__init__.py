"""The ``check_*()`` helpers behind the notebook exercises, one module per chapter.

Each check takes the learner's answer, compares it with a reference, and returns True (right),
returns False (not attempted yet) or raises :class:`ExerciseError` saying what is wrong (see
:mod:`.core`). :func:`course_lib.exercises.use` hands later cells the learner's own function
once it passes, else the reference with a visible note.

===================  ============================================================
module               notebook
===================  ============================================================
:mod:`.start`        00 start here
:mod:`.imagenet`     01 building ImageNet
:mod:`.benchmark`    02 the benchmark
:mod:`.architecture` 03 AlexNet's architecture
:mod:`.pipeline`     04 the data pipeline
:mod:`.training`     05 the training core
:mod:`.ablations`    06 ablations
:mod:`.scoring`      07 scoring
:mod:`.inside`       08 inside AlexNet
:mod:`.moment`       09 the 2012 moment
:mod:`.trust`        10 trusting the benchmark
===================  ============================================================

Chapters 00–02 are re-exported here; later chapters import from their own module
(``from course_lib.checks.pipeline import check_crop_count``).
"""

from .benchmark import (
    check_error_difference_z,
    check_hierarchical_cost,
    check_relative_margin,
    check_topk_error,
)
from .core import ExerciseError
from .imagenet import check_label_image, check_lca_height, check_majority_vote, check_votes_needed
from .start import check_batches_per_epoch, check_count_parameters, check_to_display_image

__all__ = ["ExerciseError", "check_batches_per_epoch", "check_count_parameters",
           "check_error_difference_z", "check_hierarchical_cost", "check_label_image",
           "check_lca_height", "check_majority_vote", "check_relative_margin",
           "check_to_display_image", "check_topk_error", "check_votes_needed"]
