"""``python -m course_lib score`` and the scoring benchmark."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from test_scoring_submission import make_devkit

from course_lib.__main__ import main
from course_lib.bench import BENCHMARKS, BenchResult
from course_lib.bench import scoring as scoring_bench
from course_lib.classes import load_class_table
from course_lib.commands import COMMANDS
from course_lib.hierarchy import load_imagenet_hierarchy
from course_lib.scoring import wilson_interval


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "course_lib", "score", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def files(tmp_path):
    """A 1-based submission with 1-5 labels per line and its ground truth (60 images)."""
    rng = np.random.default_rng(0)
    lines, truth = [], []
    for i in range(60):
        t = int(rng.integers(1, 31))
        labels = list(rng.choice(np.arange(1, 31), int(rng.integers(1, 6)), replace=False))
        if i % 3 == 0 and t not in labels:
            labels[-1] = t  # some right guesses at every rank
        lines.append([int(x) for x in labels])
        truth.append(t)
    pred, gt = tmp_path / "pred.txt", tmp_path / "gt.txt"
    pred.write_text("".join(" ".join(map(str, row)) + "\n" for row in lines))
    gt.write_text("".join(f"{t}\n" for t in truth))
    return pred, gt, lines, truth


def brute_error(lines, truth, k):
    return sum(t not in row[:k] for row, t in zip(lines, truth)) / len(truth)


def test_score_is_registered():
    assert "score" in COMMANDS and "scoring" in BENCHMARKS


@pytest.mark.slow
def test_json_output_via_subprocess(files):
    pred, gt, lines, truth = files
    result = run_cli("--pred", str(pred), "--gt", str(gt), "--json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["n_images"] == 60
    assert out["top1_error"] == pytest.approx(brute_error(lines, truth, 1))
    assert out["top5_error"] == pytest.approx(brute_error(lines, truth, 5))
    errors5 = round(brute_error(lines, truth, 5) * 60)
    assert out["top5_error_ci95"] == pytest.approx(list(wilson_interval(errors5, 60)))
    assert out["error_by_guesses"] == pytest.approx([brute_error(lines, truth, k)
                                                     for k in range(1, 6)])
    assert "L-1" in out["label_convention"] and "hierarchical_cost" not in out


@pytest.mark.slow
def test_bad_input_via_subprocess_prints_nothing_on_stdout(files, tmp_path):
    _, gt, _, _ = files
    bad = tmp_path / "bad.txt"
    bad.write_text("1 2\n\n3\n")
    result = run_cli("--pred", str(bad), "--gt", str(gt), "--json")
    assert result.returncode == 2  # the documented status for bad input
    assert result.stdout == ""
    assert f"{bad}, line 2: empty line" in result.stderr


def test_help_says_what_one_based_labels_mean(capsys):
    with pytest.raises(SystemExit) as info:
        main(["score", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "index L-1" in out and "ILSVRC2012_ID" in out and "--zero-based" in out


def test_text_table_in_process(files, capsys):
    pred, gt, lines, truth = files
    assert main(["score", "--pred", str(pred), "--gt", str(gt)]) == 0
    out = capsys.readouterr().out
    rows = {line.split("  ")[0]: line.split() for line in out.splitlines() if "error" in line}
    assert rows["top-5 error"][2] == f"{brute_error(lines, truth, 5):.4f}"
    assert rows["top-1 error"][2] == f"{brute_error(lines, truth, 1):.4f}"
    assert "1-based" in out and "60 images" in out


def test_zero_based_in_process(files, tmp_path, capsys):
    pred, gt, lines, truth = files
    zpred, zgt = tmp_path / "zpred.txt", tmp_path / "zgt.txt"
    zpred.write_text("".join(" ".join(str(x - 1) for x in row) + "\n" for row in lines))
    zgt.write_text("".join(f"{t - 1}\n" for t in truth))
    assert main(["score", "--pred", str(zpred), "--gt", str(zgt), "--zero-based", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["top5_error"] == pytest.approx(brute_error(lines, truth, 5))
    assert out["label_convention"].startswith("0-based")
    # flat errors do not depend on the convention as long as both files share it
    assert main(["score", "--pred", str(pred), "--gt", str(gt), "--zero-based", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["top5_error"] == out["top5_error"]


def brute_hierarchical(lines, truth, index_of):
    """Per image min over guesses of the LCA height, from Hierarchy.lca_height pair by pair."""
    h = load_imagenet_hierarchy()
    wnids = load_class_table()["wnid"].tolist()
    total = 0
    for row, t in zip(lines, truth):
        total += min(h.lca_height(wnids[index_of(g)], wnids[index_of(t)]) for g in row)
    return total / len(truth), h.max_height


def test_hierarchical_cost_in_process(files, capsys):
    pred, gt, lines, truth = files
    assert main(["score", "--pred", str(pred), "--gt", str(gt), "--hierarchical",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    ref, max_height = brute_hierarchical(lines, truth, lambda label: label - 1)
    assert out["hierarchical_cost"] == pytest.approx(ref)
    assert out["hierarchical_cost_normalized"] == pytest.approx(ref / max_height)
    assert out["hierarchical_max_height"] == max_height
    assert "2010" in out["hierarchical_cost_form"]
    assert "2011" in out["hierarchical_cost_normalized_form"]
    assert "full ImageNet hierarchy" in out["hierarchical_note"]


def test_devkit_changes_the_hierarchical_cost_not_the_flat_error(files, tmp_path, capsys):
    pred, gt, lines, truth = files
    id_to_index = np.random.default_rng(1).permutation(1000)
    devkit = make_devkit(tmp_path / "devkit", id_to_index)
    assert main(["score", "--pred", str(pred), "--gt", str(gt), "--devkit", str(devkit),
                 "--hierarchical", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["top5_error"] == pytest.approx(brute_error(lines, truth, 5))
    ref, _ = brute_hierarchical(lines, truth, lambda label: id_to_index[label - 1])
    assert out["hierarchical_cost"] == pytest.approx(ref)
    assert str(devkit) in out["label_convention"]
    plain, _ = brute_hierarchical(lines, truth, lambda label: label - 1)
    assert out["hierarchical_cost"] != pytest.approx(plain)


def test_errors_and_warnings_go_to_stderr(files, tmp_path, capsys):
    pred, gt, _, _ = files
    assert main(["score", "--pred", str(tmp_path / "nope.txt"), "--gt", str(gt)]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "cannot read" in captured.err
    longer = tmp_path / "long.txt"
    longer.write_text(pred.read_text() + "1\n")
    assert main(["score", "--pred", str(longer), "--gt", str(gt), "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "line 61: extra line" in captured.err
    dup = tmp_path / "dup.txt"
    dup.write_text("4 4\n" + "".join(pred.read_text().splitlines(keepends=True)[1:]))
    assert main(["score", "--pred", str(dup), "--gt", str(gt), "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["n_images"] == 60
    assert f"warning: {dup}, line 1: label 4 appears more than once" in captured.err
    assert main(["score", "--pred", str(pred), "--gt", str(gt), "--devkit", str(tmp_path)]) == 2
    assert "meta.mat" in capsys.readouterr().err


def test_scoring_benchmark_quick_is_well_formed():
    results = scoring_bench.run(torch.device("cpu"), quick=True)
    assert len(results) == 1
    r = results[0]
    assert isinstance(r, BenchResult)
    assert r.unit == "s" and not r.higher_is_better and r.target_ratio == 5.0
    assert r.baseline > 0 and r.candidate > 0 and r.ratio > 0
    assert set(r.as_dict()) >= {"name", "baseline", "candidate", "ratio", "met"}
