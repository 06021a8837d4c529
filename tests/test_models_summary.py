"""summarize(): per-layer params, MACs and activations against FACTS.md §4.5/§5 and hand counts."""

from __future__ import annotations

import pytest
from torch import nn

from course_lib.models.alexnet import alexnet
from course_lib.models.summary import COLUMNS, summarize


@pytest.fixture(scope="module")
def tv_summary():
    return summarize(alexnet("torchvision"), 224)


@pytest.fixture(scope="module")
def paper_model():
    return alexnet("paper")


def test_torchvision_macs_are_714_19_million(tv_summary):
    # FACTS §4.5 / §5: 714.19 M MACs, torchvision's "_ops" 0.714.
    assert tv_summary.attrs["total_macs"] == pytest.approx(714.19e6, rel=1e-3)


def test_paper_macs_are_724_4_million(paper_model):
    # FACTS §4.5: original net 724.4 M MACs per 224 image.
    assert summarize(paper_model, 224).attrs["total_macs"] == pytest.approx(724.4e6, rel=1e-3)


def test_paper_neurons_are_659_272(paper_model):
    # FACTS §4.5: 55²·96 + 27²·256 + 13²·384·2 + 13²·256 + 4096·2 + 1000 = 659,272.
    df = summarize(paper_model, 227)
    learned = df[df["layer"] != ""]
    assert list(learned["layer"]) == ["conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"]
    assert learned["activations"].sum() == 659_272


@pytest.mark.parametrize(
    "variant,kwargs,side",
    [("torchvision", {}, 224), ("paper", {}, 224),
     ("scaled", {"input_size": 56, "width": 0.5, "num_classes": 20}, 56)],
)
def test_totals_equal_sum_of_numel(variant, kwargs, side, paper_model):
    model = paper_model if variant == "paper" else alexnet(variant, **kwargs)
    df = summarize(model, side)
    total = sum(p.numel() for p in model.parameters())
    assert df.attrs["total_params"] == total == int(df["params"].sum())
    assert df.attrs["unvisited_params"] == 0
    assert df["param_share"].sum() == pytest.approx(1.0)
    assert df["mac_share"].sum() == pytest.approx(1.0)


def test_rows_columns_and_shapes(tv_summary):
    assert tuple(tv_summary.columns) == COLUMNS
    first = tv_summary.iloc[0]
    assert (first["name"], first["type"], first["output_shape"]) == ("features.0", "Conv2d", (64, 55, 55))
    # conv1: 55·55·64 outputs, each 3·11·11 multiply-accumulates (FACTS §4.5 arithmetic).
    assert first["macs"] == 55 * 55 * 64 * 3 * 11 * 11
    assert first["params"] == 23_296 and first["activations"] == 55 * 55 * 64
    assert tv_summary.iloc[-1]["output_shape"] == (1000,)


def test_hand_counted_small_network():
    model = nn.Sequential(
        nn.Conv2d(4, 6, 3, padding=1, groups=2),  # 6·5·5 outputs × (4/2)·9 = 2,700 MACs
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(150, 10),  # 10 outputs × 150 = 1,500 MACs
    )
    df = summarize(model, (4, 5, 5))
    assert list(df["macs"]) == [2700, 0, 0, 1500]
    assert list(df["params"]) == [6 * 2 * 9 + 6, 0, 0, 150 * 10 + 10]
    assert list(df["activations"]) == [150, 150, 150, 10]
    assert df.attrs["input_shape"] == (1, 4, 5, 5)


def test_module_called_twice_counts_params_once():
    shared = nn.Linear(8, 8)
    model = nn.Sequential(shared, nn.ReLU(), shared)
    df = summarize(model, (1, 1, 3, 8))  # the Linear acts on the last dimension
    assert len(df) == 3
    assert list(df["params"]) == [72, 0, 0]
    assert df.attrs["total_params"] == 72 == int(df["params"].sum())
    assert list(df["macs"]) == [3 * 8 * 8, 0, 3 * 8 * 8]


def test_training_mode_is_restored_and_no_grad_is_kept():
    model = alexnet("scaled", input_size=32, width=0.125, num_classes=3).train()
    summarize(model, 32)
    assert model.training
    assert all(p.grad is None for p in model.parameters())
    model.eval()
    summarize(model, (1, 3, 32, 32))
    assert not model.training


def test_bad_input_size_says_what_is_accepted():
    with pytest.raises(ValueError, match="input_size"):
        summarize(nn.Linear(2, 2), (1, 2, 3, 4, 5))


def test_input_size_forms_agree():
    model = alexnet("scaled", input_size=32, width=0.125, num_classes=3)
    forms = [32, (32, 32), (3, 32, 32), (1, 3, 32, 32)]
    totals = {summarize(model, f).attrs["total_macs"] for f in forms}
    assert len(totals) == 1
