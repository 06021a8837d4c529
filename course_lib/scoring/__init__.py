"""ILSVRC-style scoring: top-k and hierarchical error, submission files, uncertainty, a test server.

* :mod:`.metrics`: :func:`topk_error`, :func:`per_class_error`, :func:`confusion_matrix`,
  :func:`hierarchical_cost` (ILSVRC 2010–2011);
* :mod:`.submission`: devkit-layout submission and ground-truth files, read and written;
* :mod:`.stats`: Wilson and bootstrap intervals, exact McNemar, paired bootstrap, comparing two
  published error rates, minimum detectable difference;
* :mod:`.server`: :class:`EvaluationServer` with quotas, a log, a public/private split and the
  Ladder leaderboard.

Needs no model and no dataset; everything works on numpy arrays or torch tensors.
"""

from .metrics import (
    MAX_GUESSES,
    NORMALISED_FORM,
    RAW_FORM,
    HierarchicalCost,
    confusion_matrix,
    hierarchical_cost,
    lca_matrix_in_order,
    per_class_error,
    per_image_topk_error,
    top_guesses,
    topk_error,
    topk_errors,
)
from .server import WEEK, EvaluationServer, SubmissionRecord, adaptive_attack
from .stats import (
    McNemarResult,
    PairedBootstrapResult,
    RateComparison,
    bootstrap_interval,
    compare_error_rates,
    mcnemar_exact,
    minimum_detectable_difference,
    paired_bootstrap,
    wilson_interval,
)
from .submission import (
    DuplicateLabelWarning,
    SubmissionError,
    label_convention,
    read_ground_truth,
    read_pair,
    read_submission,
    write_ground_truth,
    write_submission,
)

__all__ = [
    "MAX_GUESSES", "NORMALISED_FORM", "RAW_FORM", "WEEK",
    "DuplicateLabelWarning", "EvaluationServer", "HierarchicalCost", "McNemarResult",
    "PairedBootstrapResult", "RateComparison", "SubmissionError", "SubmissionRecord",
    "adaptive_attack", "bootstrap_interval", "compare_error_rates", "confusion_matrix",
    "hierarchical_cost", "label_convention", "lca_matrix_in_order", "mcnemar_exact",
    "minimum_detectable_difference", "paired_bootstrap", "per_class_error",
    "per_image_topk_error", "read_ground_truth", "read_pair", "read_submission",
    "top_guesses", "topk_error", "topk_errors", "wilson_interval", "write_ground_truth",
    "write_submission",
]
