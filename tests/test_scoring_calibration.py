"""Calibration (course_lib.scoring.calibration): ECE against a brute-force loop, bins by hand."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
import torch

from course_lib.scoring import calibration_bins, expected_calibration_error, reliability_diagram

matplotlib.use("Agg")


def softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def brute_force_ece(scores: np.ndarray, labels: np.ndarray, n_bins: int) -> float:
    conf, guess = scores.max(axis=1), scores.argmax(axis=1)
    total = 0.0
    for b in range(n_bins):
        lo, hi = b / n_bins, (b + 1) / n_bins
        members = [i for i in range(len(conf)) if (lo < conf[i] <= hi) or (b == 0 and conf[i] == 0)]
        if members:
            acc = np.mean([guess[i] == labels[i] for i in members])
            mean_conf = np.mean([conf[i] for i in members])
            total += len(members) / len(conf) * abs(acc - mean_conf)
    return total


def random_scores(seed: int, n: int = 500, c: int = 10):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, c)) * rng.uniform(0.1, 4.0, size=(n, 1))
    scores = softmax(logits)
    labels = np.where(rng.uniform(size=n) < 0.6, scores.argmax(axis=1), rng.integers(0, c, n))
    return scores, labels


@pytest.mark.parametrize("n_bins", [15, 4])
def test_ece_equals_brute_force(n_bins):
    scores, labels = random_scores(0)
    ece = expected_calibration_error(torch.from_numpy(scores), torch.from_numpy(labels), n_bins)
    assert ece == pytest.approx(brute_force_ece(scores, labels, n_bins), abs=1e-12)
    assert ece > 0.01
    assert expected_calibration_error(scores, labels, n_bins) == pytest.approx(ece, abs=1e-15)


def test_ece_by_hand_and_bin_edges():
    # four images at confidence 0.9 (bin (0.8667, 0.9333]), three right: gap 0.15
    scores = np.array([[0.9, 0.1]] * 4)
    assert expected_calibration_error(scores, np.array([0, 0, 0, 1])) == pytest.approx(0.15)
    # a confidence exactly on an edge (0.6 = 9/15) belongs to the bin that ends there
    table = calibration_bins(np.array([[0.6, 0.4], [0.4, 0.6]]), np.array([0, 0]))
    assert table["count"].tolist()[8] == 2 and table["count"].sum() == 2
    assert table.loc[8, "accuracy"] == 0.5 and np.isnan(table.loc[9, "accuracy"])
    # a confidence of exactly 0 goes in the first bin; ties pick the first class (torch.max)
    table = calibration_bins(np.array([[0.0, 0.0], [0.5, 0.5]]), np.array([0, 1]), n_bins=2)
    assert table["count"].tolist() == [2, 0]
    assert table.loc[0, "accuracy"] == 0.5


def test_tensors_in_low_precision_and_bad_input():
    scores, labels = random_scores(1)
    half = torch.from_numpy(scores).to(torch.bfloat16)
    ref = brute_force_ece(half.double().numpy(), labels, 15)
    assert expected_calibration_error(half, torch.from_numpy(labels)) == pytest.approx(ref, abs=1e-12)
    bad = scores.copy()
    bad[7, 3] = np.nan
    with pytest.raises(ValueError, match="NaN.*row 7"):
        expected_calibration_error(bad, labels)
    with pytest.raises(ValueError, match=r"need scores \(N, C\) and labels \(N,\)"):
        expected_calibration_error(scores, labels[:-1])
    with pytest.raises(ValueError, match="integer"):
        expected_calibration_error(scores, labels.astype(float))
    with pytest.raises(ValueError, match="no images"):
        expected_calibration_error(np.zeros((0, 3)), np.zeros(0, dtype=np.int64))
    with pytest.raises(ValueError, match="n_bins"):
        calibration_bins(scores, labels, n_bins=0)


def test_reliability_diagram_draws_on_given_axes():
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(1)
    scores = softmax(rng.normal(size=(200, 5)) * 2)
    labels = rng.integers(0, 5, 200)
    fig, ax = plt.subplots()
    try:
        returned = reliability_diagram(scores, labels, n_bins=10, ax=ax)
        assert returned is ax
        assert len(ax.patches) == 20  # accuracy bars and gap bars
        heights = [p.get_height() for p in ax.patches[:10]]
        conf, guess = scores.max(axis=1), scores.argmax(axis=1)
        for b, height in enumerate(heights):  # accuracy per bin, by a loop
            members = [i for i in range(200) if b / 10 < conf[i] <= (b + 1) / 10]
            want = np.mean([guess[i] == labels[i] for i in members]) if members else 0.0
            assert height == pytest.approx(want)
        ece = brute_force_ece(scores, labels, 10)
        assert any(f"{100 * ece:.2f}%" in t.get_text() for t in ax.get_legend().get_texts())
    finally:
        plt.close(fig)
