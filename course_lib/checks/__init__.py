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
:mod:`.blocks`       03 the building blocks
:mod:`.architecture` 04 AlexNet's architecture
:mod:`.pipeline`     05 the data pipeline
:mod:`.training`     06 the training core
:mod:`.ablations`    07 ablations
:mod:`.scoring`      08 scoring
:mod:`.inside`       09 inside AlexNet
:mod:`.moment`       10 the 2012 moment
:mod:`.trust`        11 trusting the benchmark
===================  ============================================================

Every chapter imports its checks the same way, from its own module, in its set-up cell
(``from course_lib.checks.pipeline import check_crop_count``). Every check calls the learner's
function through :func:`.core.attempt` and names slips through :func:`.core.slip_hint`; those
that compare answers case by case with a reference (most of them) run through
:func:`.core.check_cases`.
"""

from .core import ExerciseError

__all__ = ["ExerciseError"]
