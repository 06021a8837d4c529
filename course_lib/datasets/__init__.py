"""Everything the course trains or scores on: SynthNet, real ImageNet-family datasets,
verified downloads, the decode-once cache and on-device augmentation.

Import the submodules directly (``from course_lib.datasets import synthnet``); this package
imports nothing heavy on its own.
"""
