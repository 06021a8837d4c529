"""Hostile checkpoints and full disks: a crafted file is refused naming the file and the first
thing that does not fit (never loaded into a kernel), and a full disk is a clear error that
keeps the previous checkpoint and leaves no temporary file."""

from __future__ import annotations

import errno
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
import torch
from test_train import assert_same_weights, colour_data, config, tiny_net, weights

from course_lib.diskspace import DiskFullError
from course_lib.train import CheckpointError, fit, load_checkpoint, save_checkpoint

TESTS = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def train():
    return colour_data(8)


@pytest.fixture(scope="module")
def checkpoints(train, tmp_path_factory) -> dict[str, bytes]:
    """One epoch of SGD and of AdamW (4 steps each): their ``last.pt`` bytes."""
    out = {}
    for optimizer, lr in (("sgd", 0.02), ("adamw", 1e-3)):
        folder = tmp_path_factory.mktemp(optimizer)
        fit(tiny_net(), train, None, config(epochs=1, optimizer=optimizer, lr=lr,
                                            out_dir=str(folder)))
        out[optimizer] = (folder / "last.pt").read_bytes()
    return out


def crafted(checkpoints, optimizer: str, folder: Path, change) -> Path:
    """``folder/last.pt``: the optimizer's checkpoint with ``change(payload)`` applied."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "last.pt"
    path.write_bytes(checkpoints[optimizer])
    payload = load_checkpoint(path)
    change(payload)
    del payload["format"]
    save_checkpoint(payload, path)
    return path


def first_key(state: dict) -> str:
    return next(iter(state))


# --------------------------------------------------------------------------------------------
# optimiser state of the wrong shape: refused in a clean error, not a crash (in a subprocess:
# loading it would corrupt the heap in the fused CPU kernels and kill the process)

RESUME_SCRIPT = textwrap.dedent("""
    import sys
    sys.path.insert(0, {tests!r})
    from test_train import colour_data, config, tiny_net
    from course_lib.train import CheckpointError, fit
    try:
        fit(tiny_net(), colour_data(8), None, config(epochs=3, optimizer={optimizer!r},
            lr={lr!r}, out_dir={out!r}, resume="auto"))
    except CheckpointError as exc:
        print(f"refused: {{exc}}")
        sys.exit(3)
    print("trained")
""")


@pytest.mark.parametrize("optimizer, lr, key", [("sgd", 0.02, "momentum_buffer"),
                                                ("adamw", 1e-3, "exp_avg_sq")])
@pytest.mark.slow
def test_wrong_shaped_optimizer_state_is_refused_not_a_crash(checkpoints, tmp_path, optimizer,
                                                              lr, key):
    def shrink(payload):
        for entry in payload["optimizer"]["state"].values():
            entry[key] = torch.zeros(1)  # every buffer one element long

    path = crafted(checkpoints, optimizer, tmp_path / "run", shrink)
    script = RESUME_SCRIPT.format(tests=str(TESTS), optimizer=optimizer, lr=lr,
                                  out=str(path.parent))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300, cwd=TESTS.parent)
    assert done.returncode == 3, (done.returncode, done.stdout[-2000:], done.stderr[-2000:])
    assert f"refused: {path}" in done.stdout
    assert f"optimizer state[0] '{key}': expected (" in done.stdout
    assert "found (1,) float32" in done.stdout


# --------------------------------------------------------------------------------------------
# every other crafted entry: a CheckpointError naming the file and the first mismatch


def set_model(key_of, value_of):
    def change(payload):
        key = key_of(payload["model"])
        payload["model"][key] = value_of(payload["model"][key])
    return change


def set_entry(key, value):
    def change(payload):
        payload[key] = value
    return change


def set_optimizer(change_state):
    def change(payload):
        change_state(payload["optimizer"])
    return change


def first_buffer(state: dict) -> dict:
    return state["state"][first_key(state["state"])]


HOSTILE = {
    "model tensor of the wrong shape": (
        set_model(first_key, lambda t: torch.zeros(1)),
        r"do not fit this model.*model state '[\w.]+': expected \(\d+, 3, \d+, \d+\) float32, "
        r"found \(1,\) float32"),
    "model tensor of the wrong dtype": (
        set_model(first_key, lambda t: t.double()),
        r"model state '[\w.]+': expected \(\d+, 3, \d+, \d+\) float32, found .* float64"),
    "model entry that is not a tensor": (
        set_model(first_key, lambda t: t.tolist()),
        r"model state '[\w.]+': expected .* float32, found a list"),
    "model key missing": (
        lambda p: p["model"].pop(first_key(p["model"])), r"model state: '[\w.]+' is missing"),
    "model key extra": (
        lambda p: p["model"].update(extra=torch.zeros(2)), "unexpected key 'extra'"),
    "model a list": (set_entry("model", [1, 2]), "model state: expected a dict of tensors"),
    "optimizer buffer of the wrong dtype": (
        set_optimizer(lambda s: first_buffer(s).update(
            momentum_buffer=first_buffer(s)["momentum_buffer"].double())),
        r"optimizer state\[\d+\] 'momentum_buffer': expected .* float32, found .* float64"),
    "optimizer buffer not a tensor": (
        set_optimizer(lambda s: first_buffer(s).update(momentum_buffer="x")),
        r"'momentum_buffer': expected .* float32, found a str"),
    "optimizer momentum other than the config's": (
        set_optimizer(lambda s: s["param_groups"][0].update(momentum=0.5)),
        r"optimizer param_groups\[0\] 'momentum': expected 0.9, found 0.5"),
    "optimizer state for an unknown parameter": (
        set_optimizer(lambda s: s["state"].update({99: {"momentum_buffer": torch.zeros(1)}})),
        "parameter id 99, which no group holds"),
    "optimizer without param_groups": (
        set_optimizer(lambda s: s.pop("param_groups")), "expected a dict with 'state'"),
    "optimizer group of another size": (
        set_optimizer(lambda s: s["param_groups"][0]["params"].pop()),
        r"param_groups\[0\]: expected 16 parameters, found 15"),
    "epoch not a number": (set_entry("epoch", "one"),
                           "'epoch': expected an integer >= 0, found 'one'"),
    "position past the epoch's end": (set_entry("step_in_epoch", 9),
                                      "expected below the 4 batches per epoch, found 9"),
    "schedule state of strings": (set_entry("schedule", {"scale": "x"}),
                                  "'schedule': expected a dict of numbers"),
    "scaler state a string": (set_entry("scaler", "x"), "'scaler': expected a dict of numbers"),
    "history not a list": (set_entry("history", {"epoch": 1}), "'history': expected a list"),
    "step history not a list": (set_entry("step_history", 7), "'step_history': expected a list"),
    "micro-batch negative": (set_entry("micro_batch", -1),
                             "'micro_batch': expected None or an integer >= 1, found -1"),
    "partial sums missing": (set_entry("partial", {"loss": 1.0}), "'partial': expected None"),
    "random state garbage": (set_entry("rng", [{"python": 5}]),
                             "random states cannot be restored"),
    "entry missing": (lambda p: p.pop("world_size"), "'world_size' is missing"),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_a_crafted_checkpoint_is_refused_naming_the_file_and_the_mismatch(
        checkpoints, train, tmp_path, case):
    change, expected = HOSTILE[case]
    path = crafted(checkpoints, "sgd", tmp_path, change)
    before = path.read_bytes()
    with pytest.raises(CheckpointError) as refused:
        fit(tiny_net(), train, None, config(epochs=3, out_dir=str(tmp_path), resume="auto"))
    message = str(refused.value)
    assert message.startswith(str(path)), message
    assert re.search(expected, message), message
    assert path.read_bytes() == before


def test_a_crafted_model_state_leaves_the_model_untouched(checkpoints, train, tmp_path):
    path = crafted(checkpoints, "sgd", tmp_path, set_model(first_key, lambda t: t.double()))
    model = tiny_net(seed=3)
    before = weights(model)
    with pytest.raises(CheckpointError, match=str(path)):
        fit(model, train, None, config(epochs=3, out_dir=str(tmp_path), resume="auto"))
    assert_same_weights(weights(model), before)


@pytest.mark.slow
def test_an_untouched_checkpoint_still_resumes(checkpoints, train, tmp_path):
    # the checks refuse what is crafted, not what fit wrote (SGD and AdamW)
    for optimizer, lr in (("sgd", 0.02), ("adamw", 1e-3)):
        path = crafted(checkpoints, optimizer, tmp_path / optimizer, lambda p: None)
        history = fit(tiny_net(), train, None, config(epochs=2, optimizer=optimizer, lr=lr,
                                                      out_dir=str(path.parent), resume="auto"))
        assert history["epoch"].tolist() == [1, 2]


# --------------------------------------------------------------------------------------------
# a full disk


def disk_full_after(partial: bytes):
    """A stand-in for ``torch.save`` that writes ``partial`` and fails as a full disk does."""
    def save(obj, f, *args, **kwargs):
        f.write(partial)
        raise OSError(errno.ENOSPC, "No space left on device")
    return save


def test_a_full_disk_is_a_clear_error_that_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = save_checkpoint({"model": {"w": torch.ones(3)}}, tmp_path / "last.pt")
    before = path.read_bytes()
    monkeypatch.setattr(torch, "save", disk_full_after(b"half a checkpoint"))
    with pytest.raises(DiskFullError) as full:
        save_checkpoint({"model": {"w": torch.zeros(1000)}}, path)
    message = str(full.value)
    assert "not enough disk space" in message and str(tmp_path) in message
    assert "a checkpoint needs 3.9 KiB" in message  # 1,000 float32 weights
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]  # no temporary file left


@pytest.mark.slow
def test_a_full_disk_during_training_stops_cleanly(train, tmp_path, monkeypatch):
    fit(tiny_net(), train, None, config(epochs=1, out_dir=str(tmp_path)))
    files = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert sorted(files) == ["history.csv", "last.pt"]
    monkeypatch.setattr(torch, "save", disk_full_after(b"PK\x03\x04 partial"))
    with pytest.raises(DiskFullError, match=f"a checkpoint needs .* in {tmp_path}"):
        fit(tiny_net(), train, None, config(epochs=2, out_dir=str(tmp_path), resume="auto"))
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == files


@pytest.mark.slow
def test_a_full_disk_while_writing_the_history_keeps_the_old_one(train, tmp_path, monkeypatch):
    fit(tiny_net(), train, None, config(epochs=1, out_dir=str(tmp_path)))
    history = (tmp_path / "history.csv").read_bytes()

    def full(self, path, *args, **kwargs):
        Path(path).write_text("epoch,lr\n1,")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_csv", full)
    with pytest.raises(DiskFullError, match=r"history \(history.csv\)"):
        fit(tiny_net(), train, None, config(epochs=2, out_dir=str(tmp_path), resume="auto"))
    assert (tmp_path / "history.csv").read_bytes() == history
    assert sorted(p.name for p in tmp_path.iterdir()) == ["history.csv", "last.pt"]


def test_other_write_errors_pass_through_and_keep_the_previous_checkpoint(tmp_path, monkeypatch):
    path = save_checkpoint({"model": {"w": torch.ones(3)}}, tmp_path / "last.pt")
    before = path.read_bytes()

    def dies_half_way(obj, f, *args, **kwargs):
        f.write(b"half a checkpoint")
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(torch, "save", dies_half_way)
    with pytest.raises(OSError) as failed:
        save_checkpoint({"model": {"w": torch.zeros(3)}}, path)
    assert not isinstance(failed.value, DiskFullError) and failed.value.errno == errno.EIO
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]  # no temporary file left
