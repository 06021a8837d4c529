"""Crowd verification: confidence table, dynamic consensus, majority vote, the Fig. 7 fit."""

import ast
import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest

from course_lib import crowd
from course_lib.crowd import (
    BURMESE_CAT,
    CAT,
    Crowd,
    compare_methods,
    confidence_table,
    dynamic_consensus,
    majority_vote,
)


def brute_force_table(votes, labels):
    """Loop over every subset of every image's votes: cell (y, n) gets 1 / C(V, y+n) per subset."""
    v = votes.shape[1]
    total = np.zeros((v + 1, v + 1))
    good = np.zeros((v + 1, v + 1))
    for row, label in zip(votes, labels):
        for k in range(1, v + 1):
            for subset in itertools.combinations(range(v), k):
                y = sum(bool(row[j]) for j in subset)
                total[y, k - y] += 1 / math.comb(v, k)
                good[y, k - y] += label / math.comb(v, k)
    return total, good


def test_confidence_table_matches_brute_force_count():
    votes = np.array(
        [[1, 1, 1, 0], [1, 0, 0, 0], [0, 0, 0, 0], [1, 1, 0, 1], [0, 1, 0, 0], [1, 1, 1, 1]],
        dtype=bool,
    )
    labels = np.array([True, False, False, True, True, True])
    table = confidence_table(votes, labels)
    total, good = brute_force_table(votes, labels)
    np.testing.assert_allclose(table.support, total, atol=1e-12)
    seen = total > 0
    np.testing.assert_allclose(table.probability[seen], good[seen] / total[seen], atol=1e-12)
    assert np.isnan(table.probability[~seen]).all()
    # A hand-checked cell: (4 yes, 0 no) occurs only in the last image, which is good.
    assert table.probability[4, 0] == 1.0
    # (0 yes, 1 no): images 0..5 have 1, 3, 4, 1, 3, 0 no votes out of 4 -> weights n/4;
    # good ones (0, 3, 4, 5) give 1/4 + 1/4 + 3/4 + 0 = 5/4 of 12/4 in all.
    assert table.probability[0, 1] == pytest.approx(5 / 12)


def test_default_labels_are_the_strict_majority_of_seed_votes():
    votes = np.array([[1, 1, 0], [0, 0, 1], [1, 1, 1]], dtype=bool)
    by_default = confidence_table(votes)
    explicit = confidence_table(votes, [True, False, True])
    np.testing.assert_array_equal(by_default.probability, explicit.probability)


def test_perfect_crowd_needs_one_vote_per_image():
    perfect = Crowd(sensitivity=1.0, false_positive_rate=0.0, prior=0.4)
    good, votes = perfect.simulate(500, 10, seed=3)
    table = confidence_table(votes[:50])
    assert table.probability[1, 0] == 1.0 and table.probability[0, 1] == 0.0
    result = dynamic_consensus(votes[50:], table, threshold=0.999)
    assert (result.votes_used == 1).all()
    np.testing.assert_array_equal(result.accepted, good[50:])


def test_precision_rises_with_the_threshold():
    df = compare_methods(CAT, 20_000, thresholds=(0.6, 0.9, 0.99), majority_ks=(1,), seed=0)
    dyn = df[df["method"] == "dynamic consensus"]
    precision = dyn["precision"].to_numpy()
    votes = dyn["votes_per_image"].to_numpy()
    assert precision[0] < precision[1] < precision[2]
    assert votes[0] <= votes[1] < votes[2]
    # With a table estimated from 2,000 seed images, accepted images are about as good as the
    # threshold promises.
    assert precision[2] > 0.98


def test_majority_vote_hand_computed():
    votes = np.array(
        [
            [1, 1, 0, 0, 0],  # 2 of 5 yes -> reject; first 3: 2 of 3 -> accept
            [1, 0, 1, 1, 0],  # 3 of 5 -> accept; first 3: 2 of 3 -> accept
            [0, 0, 1, 1, 1],  # 3 of 5 -> accept; first 3: 1 of 3 -> reject
            [0, 0, 0, 0, 0],
            [1, 1, 1, 1, 1],
        ]
    )
    np.testing.assert_array_equal(majority_vote(votes), [False, True, True, False, True])
    np.testing.assert_array_equal(majority_vote(votes, k=3), [True, True, False, False, True])
    np.testing.assert_array_equal(majority_vote(votes, k=1), [True, True, False, False, True])
    # An even k with a tie is not a convincing majority.
    assert not majority_vote(np.array([[1, 0]]), k=2)[0]


def test_dynamic_consensus_stops_at_the_first_confident_cell():
    # Hand-made table over 3 votes: one yes is not enough, two yes are; one no rejects.
    prob = np.full((4, 4), np.nan)
    prob[1, 0], prob[2, 0], prob[3, 0] = 0.8, 0.95, 0.99
    prob[0, 1], prob[1, 1], prob[2, 1] = 0.02, 0.5, 0.9
    table = crowd.ConfidenceTable(prob, np.ones((4, 4)))
    votes = np.array([[1, 1, 0], [0, 1, 1], [1, 0, 1], [1, 0, 0]], dtype=bool)
    result = dynamic_consensus(votes, table, threshold=0.9)
    np.testing.assert_array_equal(result.votes_used, [2, 1, 3, 3])
    np.testing.assert_array_equal(result.accepted, [True, False, True, False])
    np.testing.assert_allclose(result.confidence, [0.95, 0.02, 0.9, np.nan])


def test_simulation_is_reproducible_with_a_seed():
    a = BURMESE_CAT.simulate(300, 7, seed=11)
    b = BURMESE_CAT.simulate(300, 7, seed=11)
    c = BURMESE_CAT.simulate(300, 7, seed=12)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])
    # The first votes do not depend on how many are drawn.
    np.testing.assert_array_equal(BURMESE_CAT.simulate(300, 3, seed=11)[1], a[1][:, :3])
    pd_a = compare_methods(CAT, 400, seed=5)
    pd_b = compare_methods(CAT, 400, seed=5)
    assert pd_a.equals(pd_b)


def test_simulated_rates_match_the_model():
    good, votes = CAT.simulate(40_000, 4, seed=0)
    assert good.mean() == pytest.approx(CAT.prior, abs=0.01)
    assert votes[good].mean() == pytest.approx(CAT.sensitivity, abs=0.01)
    assert votes[~good].mean() == pytest.approx(CAT.false_positive_rate, abs=0.01)


def test_exact_confidence_against_bayes_rule_for_alike_images():
    c = Crowd(sensitivity=0.9, false_positive_rate=0.2, prior=0.3)  # concentration inf
    yes, no = 2, 1
    good = 0.3 * 0.9**2 * 0.1
    bad = 0.7 * 0.2**2 * 0.8
    assert float(c.confidence(yes, no)) == pytest.approx(good / (good + bad))


def test_estimated_table_approaches_the_exact_one_with_true_labels():
    good, votes = BURMESE_CAT.simulate(20_000, 10, seed=1)
    table = confidence_table(votes, good)
    for (y, n) in [(1, 0), (0, 1), (2, 1), (3, 0)]:
        assert table.probability[y, n] == pytest.approx(float(BURMESE_CAT.confidence(y, n)), abs=0.02)


def test_fig7_presets_reproduce_the_published_table():
    # Deng et al. 2009 Fig. 7 (FACTS.md §1.3): (yes, no) -> cat / Burmese cat.
    fig7 = {(0, 1): (0.07, 0.23), (1, 0): (0.85, 0.69), (1, 1): (0.46, 0.49),
            (2, 0): (0.97, 0.83), (0, 2): (0.02, 0.12), (3, 0): (0.99, 0.90),
            (2, 1): (0.85, 0.68)}
    assert dict(crowd.FIG7) == fig7
    table = crowd.fig7_table()
    assert list(table.columns) == ["yes", "no", "cat", "burmese_cat"]
    assert {(y, n): (c, b) for y, n, c, b in table.itertuples(index=False)} == fig7
    # the module docstring promises a largest difference of 0.005 (cat) and 0.012 (Burmese cat)
    for column, (preset, largest) in enumerate(((CAT, 0.005), (BURMESE_CAT, 0.012))):
        for (y, n), values in fig7.items():
            assert float(preset.confidence(y, n)) == pytest.approx(values[column], abs=largest)
        fitted = crowd.fit_crowd({k: v[column] for k, v in fig7.items()})
        assert fitted.sensitivity == pytest.approx(preset.sensitivity, abs=0.002)
        assert fitted.prior == pytest.approx(preset.prior, abs=0.002)


def test_difficulty_interpolates_between_cat_and_burmese_cat():
    for d, preset in ((0.0, CAT), (1.0, BURMESE_CAT)):
        c = crowd.crowd_for_difficulty(d)
        assert c.sensitivity == pytest.approx(preset.sensitivity)
        assert c.false_positive_rate == pytest.approx(preset.false_positive_rate)
        assert c.concentration == pytest.approx(preset.concentration)
    mid = crowd.crowd_for_difficulty(0.5)
    assert BURMESE_CAT.sensitivity < mid.sensitivity < CAT.sensitivity
    np.testing.assert_allclose(crowd.difficulty_from_depth([10, 13, 14, 15, 18], 13, 15),
                               [0, 0, 0.5, 1, 1])
    with pytest.raises(ValueError, match="difficulty"):
        crowd.crowd_for_difficulty(1.5)


def test_votes_for_majority_accuracy_hand_computed():
    # accuracy 0.8: k=1 -> 0.8; k=3 -> 0.8^3 + 3*0.8^2*0.2 = 0.896; k=5 -> 0.94208.
    assert crowd.votes_for_majority_accuracy(0.8, 0.8) == 1
    assert crowd.votes_for_majority_accuracy(0.8, 0.89) == 3
    assert crowd.votes_for_majority_accuracy(0.8, 0.9) == 5
    with pytest.raises(ValueError, match="accuracy"):
        crowd.votes_for_majority_accuracy(0.5, 0.9)


def test_bad_input_says_what_is_wrong():
    with pytest.raises(ValueError, match="sensitivity .* must exceed"):
        Crowd(sensitivity=0.2, false_positive_rate=0.3)
    with pytest.raises(ValueError, match=r"votes must be .*votes\[0, 1\] = 2"):
        majority_vote(np.array([[0, 2]]))
    with pytest.raises(ValueError, match="threshold"):
        dynamic_consensus(np.zeros((2, 3), bool), confidence_table(np.ones((2, 3), bool)), 0.3)
    with pytest.raises(ValueError, match="no vote to count: 0 votes per image"):
        dynamic_consensus(np.zeros((2, 0), bool), confidence_table(np.ones((2, 3), bool)), 0.9)
    with pytest.raises(ValueError, match="more than the 10 seed images"):
        compare_methods(CAT, 10)


def test_candidate_pool_grows_with_queries_and_languages():
    df = crowd.candidate_pool_growth(seed=0)
    assert len(df) == 5 * 5
    assert df["unique"].is_monotonic_increasing
    assert (df["unique"] <= df["returned"].cumsum()).all()
    assert df["precision"].iloc[-1] == pytest.approx(0.10, abs=0.02)


def test_truth_labelled_seeds_give_a_calibrated_table():
    # For a hard synset, majority-labelled seeds make the table over-confident; true labels do not.
    kwargs = dict(thresholds=(0.99,), majority_ks=(1,), seed=4)
    by_majority = compare_methods(BURMESE_CAT, 20_000, seed_labels="majority", **kwargs)
    by_truth = compare_methods(BURMESE_CAT, 20_000, seed_labels="truth", **kwargs)
    assert by_truth["precision"].iloc[0] > 0.97
    assert by_majority["precision"].iloc[0] < by_truth["precision"].iloc[0] - 0.05
    with pytest.raises(ValueError, match="seed_labels"):
        compare_methods(CAT, 100, seed_labels="experts")


def test_table_lookup_and_long_form():
    prob = np.full((3, 3), np.nan)
    prob[1, 0], prob[0, 1], prob[1, 1], prob[2, 0] = 0.8, 0.1, 0.5, 0.95
    support = np.arange(9.0).reshape(3, 3)
    table = crowd.ConfidenceTable(prob, support)
    assert table.max_votes == 2
    got = table.lookup(np.array([1, 0, 2, 0, 1, -1]), np.array([0, 1, 0, 2, 2, 0]))
    # (0, 2) was never seen, (1, 2) lies beyond two votes, (-1, 0) is nonsense: all NaN
    np.testing.assert_array_equal(got, [0.8, 0.1, 0.95, np.nan, np.nan, np.nan])


def test_compare_methods_without_majority_rows():
    df = compare_methods(CAT, 300, thresholds=(0.9,), majority_ks=(), seed=2)
    assert df["method"].tolist() == ["dynamic consensus"]


# --- the notebook's loops against the library --------------------------------------------
NOTEBOOK_01 = Path(__file__).resolve().parent.parent / "notebooks" / "01_building_imagenet.ipynb"


def notebook_functions(*names):
    """The functions ``names`` as notebook 01 defines them (only their ``def``s are run)."""
    cells = json.loads(NOTEBOOK_01.read_text(encoding="utf-8"))["cells"]
    namespace = {"np": np, "math": math}
    for name in names:
        sources = ["".join(c["source"]) for c in cells
                   if c["cell_type"] == "code" and f"def {name}(" in "".join(c["source"])]
        assert sources, f"{NOTEBOOK_01.name} has no code cell defining {name}()"
        body = [node for node in ast.parse(sources[0]).body
                if isinstance(node, ast.FunctionDef) and node.name == name]
        exec(compile(ast.Module(body=body, type_ignores=[]), NOTEBOOK_01.name, "exec"), namespace)
        if name == "label_image_solution":  # later cells call it by the exercise's name
            namespace["label_image"] = namespace[name]
    return [namespace[name] for name in names]


def test_notebook_seed_table_equals_the_library():
    (seed_table,) = notebook_functions("seed_table")
    for preset, seed in ((CAT, 0), (BURMESE_CAT, 1)):
        good, votes = preset.simulate(120, 10, seed=seed)
        for labels in (majority_vote(votes), good):
            mine = seed_table(votes, labels)
            library = confidence_table(votes, labels).probability
            np.testing.assert_array_equal(np.isnan(mine), np.isnan(library))
            np.testing.assert_allclose(mine, library, rtol=0, atol=1e-12)


def test_notebook_loop_equals_the_vectorised_library():
    label_image, loop = notebook_functions("label_image_solution", "dynamic_consensus")
    rng = np.random.default_rng(5)
    for preset, seed in ((CAT, 2), (BURMESE_CAT, 3)):
        good, votes = preset.simulate(400, 10, seed=seed)
        table = confidence_table(votes[:40])  # few seeds: many NaN cells
        assert np.isnan(table.probability[1:, 1:]).any()
        for threshold in (0.5, 0.6, 0.9, 0.99, 1.0):
            accepted, used = loop(votes[40:], table.probability, threshold)
            library = dynamic_consensus(votes[40:], table, threshold)
            np.testing.assert_array_equal(accepted, library.accepted)
            np.testing.assert_array_equal(used, library.votes_used)
    # a random table, NaN in a third of its cells
    prob = rng.random((8, 8))
    prob[rng.random((8, 8)) < 0.33] = np.nan
    votes = rng.random((300, 7)) < 0.5
    accepted, used = loop(votes, prob, 0.8)
    library = dynamic_consensus(votes, crowd.ConfidenceTable(prob, np.ones_like(prob)), 0.8)
    np.testing.assert_array_equal(accepted, library.accepted)
    np.testing.assert_array_equal(used, library.votes_used)
    assert label_image(np.array([True, False]), prob[:3, :3], 0.8)[1] in (1, 2)
