"""ILSVRC-style scoring: top-k and hierarchical error, submission files, uncertainty, a test server.

* :mod:`.metrics`: :func:`topk_error`, :func:`confusion_matrix`,
  :func:`hierarchical_cost` (ILSVRC 2010–2011);
* :mod:`.submission`: devkit-layout submission and ground-truth files, read and written;
* :mod:`.stats`: Wilson and bootstrap intervals, exact McNemar, paired bootstrap, comparing two
  published error rates, minimum detectable difference;
* :mod:`.server`: :class:`EvaluationServer` with quotas, a log, a public/private split and the
  Ladder leaderboard, telling a team only what a real server would;
* :mod:`.calibration`: :func:`expected_calibration_error`, :func:`calibration_bins` and
  :func:`reliability_diagram` (equal-width bins on the top-1 confidence).

Needs no model and no dataset; everything works on numpy arrays or torch tensors.
"""

from .calibration import calibration_bins, expected_calibration_error, reliability_diagram
from .metrics import (
    MAX_GUESSES,
    NORMALIZED_FORM,
    RAW_FORM,
    HierarchicalCost,
    confusion_matrix,
    hierarchical_cost,
    lca_matrix_in_order,
    per_image_topk_error,
    top_guesses,
    topk_error,
)
from .server import (
    MAX_TEAM_NAME,
    WEEK,
    ChallengeOpenError,
    EvaluationServer,
    LeaderboardRow,
    SubmissionRecord,
    SubmissionResult,
    adaptive_attack,
    team_key,
)
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
    MAX_LINE_BYTES,
    DuplicateLabelWarning,
    SubmissionError,
    label_convention,
    printable_name,
    read_ground_truth,
    read_pair,
    read_submission,
    write_ground_truth,
    write_submission,
)

__all__ = [
    "MAX_GUESSES", "MAX_LINE_BYTES", "MAX_TEAM_NAME", "NORMALIZED_FORM", "RAW_FORM", "WEEK",
    "ChallengeOpenError", "DuplicateLabelWarning", "EvaluationServer", "HierarchicalCost",
    "LeaderboardRow", "McNemarResult", "PairedBootstrapResult", "RateComparison",
    "SubmissionError", "SubmissionRecord", "SubmissionResult",
    "adaptive_attack", "bootstrap_interval", "calibration_bins", "compare_error_rates",
    "confusion_matrix", "expected_calibration_error", "hierarchical_cost", "label_convention",
    "lca_matrix_in_order", "mcnemar_exact", "minimum_detectable_difference", "paired_bootstrap",
    "per_image_topk_error", "printable_name", "read_ground_truth",
    "read_pair", "read_submission", "reliability_diagram", "team_key", "top_guesses",
    "topk_error", "wilson_interval", "write_ground_truth", "write_submission",
]
