"""torchrun with 2 CPU processes (gloo) trains exactly like one process with the same global batch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from test_train import colour_data, config, tiny_net

from course_lib.train import fit, load_checkpoint
from course_lib.train.distributed import env_world

TESTS = Path(__file__).parent

# 21 training images with a global batch of 4: six steps per epoch, the last with one image, so
# one rank runs an empty batch at step six (the padding path); 21 = 10 + 11 across the ranks.
WORKER = textwrap.dedent("""
    import os, sys
    sys.path.insert(0, sys.argv[1])
    import torch
    from test_train import colour_data, config, tiny_net
    from course_lib.train import fit

    out = sys.argv[2]
    attempt = int(os.environ["TORCHELASTIC_RESTART_COUNT"])
    train, val = colour_data(6, seed=0), colour_data(2, seed=1)
    train = (train[0][:21], train[1][:21])
    cfg = config(epochs=2, batch_size=4, augment="none", precision="fp32", out_dir=out,
                 resume="auto")

    def crash_after_first_epoch(event, info):
        if attempt == 0 and event == "epoch" and info["epoch"] == 1:
            raise SystemExit(3)  # torchrun --max-restarts=1 starts both ranks again

    model = tiny_net(seed=attempt, dropout=0.0)  # the restart's weights must come from the file
    history = fit(model, train, val, cfg, callbacks=crash_after_first_epoch)
    assert not torch.distributed.is_initialized(), "fit left its process group open"
    if os.environ["RANK"] == "0":
        torch.save(model.state_dict(), out + "/final.pt")
        history.drop(columns=["tflops", "peak_share"]).to_json(out + "/history.json")
""")



def test_env_world_reads_torchrun_variables():
    assert env_world({}) == (0, 1, 0)
    assert env_world({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1"}) == (3, 4, 1)
    with pytest.raises(ValueError, match="RANK=4, WORLD_SIZE=4"):
        env_world({"RANK": "4", "WORLD_SIZE": "4"})


@pytest.mark.slow
def test_two_gloo_processes_match_one_process_with_the_same_global_batch(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    out = tmp_path / "ddp"
    env = {**os.environ, "COURSE_DEVICE": "cpu", "OMP_NUM_THREADS": "1"}
    run = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
         "--max-restarts=1",
         str(script), str(TESTS), str(out)],
        env=env, capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "resumed from" in run.stderr  # the restarted ranks continued from epoch 2

    train, val = colour_data(6, seed=0), colour_data(2, seed=1)
    train = (train[0][:21], train[1][:21])
    single = tiny_net(dropout=0.0)
    reference = fit(single, train, val, config(batch_size=4, augment="none", precision="fp32",
                                               epochs=2))
    ddp_weights = torch.load(out / "final.pt", weights_only=True)
    for key, value in single.state_dict().items():
        torch.testing.assert_close(ddp_weights[key], value, rtol=1e-4, atol=1e-5, msg=key)

    history = json.loads((out / "history.json").read_text())
    assert list(history["images"].values()) == [21, 21]  # each image once per epoch, all ranks
    assert list(history["val_top1_error"].values()) == pytest.approx(
        reference["val_top1_error"].tolist())
    assert list(history["train_loss"].values()) == pytest.approx(
        reference["train_loss"].tolist(), rel=1e-4)
    payload = load_checkpoint(out / "last.pt")  # written by rank 0, with both ranks' RNG states
    assert payload["world_size"] == 2 and len(payload["rng"]) == 2 and payload["epoch"] == 2


# 24 images, global batch 4: six steps per epoch, a checkpoint every two. Run "a" starts on two
# ranks and dies at step 3 (after the step-2 checkpoint); torchrun restarts it. Run "b" resumes
# on two ranks a checkpoint that one process wrote at step 2.
RESUME_WORKER = textwrap.dedent("""
    import os, sys
    sys.path.insert(0, sys.argv[1])
    import torch
    from test_train import colour_data, config, tiny_net
    from course_lib.train import fit

    out = sys.argv[2]
    attempt = int(os.environ["TORCHELASTIC_RESTART_COUNT"])
    cfg = config(epochs=1, batch_size=4, augment="none", precision="fp32",
                 checkpoint_every_steps=2, resume="auto")

    def crash_at_step_three(event, info):
        if attempt == 0 and event == "step" and info["step"] == 3:
            raise SystemExit(3)  # torchrun --max-restarts=1 starts both ranks again

    for run in ("a", "b"):
        model = tiny_net(seed=attempt, dropout=0.0)  # a restart's weights come from the file
        history = fit(model, colour_data(6), None, cfg.replace(out_dir=f"{out}/{run}"),
                      callbacks=crash_at_step_three)
        if os.environ["RANK"] == "0":
            torch.save(model.state_dict(), f"{out}/{run}/final.pt")
            history[["images", "train_loss", "train_top1_error"]].to_json(f"{out}/{run}/history.json",
                                                                  double_precision=15)
""")


@pytest.mark.slow
def test_mid_epoch_resume_counts_the_epoch_once_whatever_the_number_of_ranks(tmp_path):
    from test_train import Stop

    train = colour_data(6)  # 24 images
    cfg = config(epochs=1, batch_size=4, augment="none", precision="fp32")
    single = tiny_net(dropout=0.0)
    reference = fit(single, train, None, cfg)

    def crash_at_step_three(event, info):
        if event == "step" and info["step"] == 3:
            raise Stop

    with pytest.raises(Stop):  # one process writes the step-2 checkpoint that run "b" resumes
        fit(tiny_net(dropout=0.0), train, None,
            cfg.replace(out_dir=str(tmp_path / "b"), checkpoint_every_steps=2),
            callbacks=crash_at_step_three)
    assert load_checkpoint(tmp_path / "b" / "last.pt")["partial"]["images"] == 8

    script = tmp_path / "worker.py"
    script.write_text(RESUME_WORKER)
    env = {**os.environ, "COURSE_DEVICE": "cpu", "OMP_NUM_THREADS": "1"}
    run = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
         "--max-restarts=1", str(script), str(TESTS), str(tmp_path)],
        env=env, capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "epoch 1, step 2 of 6" in run.stderr  # both runs resumed mid-epoch
    # a two-rank checkpoint holds both ranks' sums so far, not rank 0's alone
    assert load_checkpoint(tmp_path / "a" / "last.pt")["partial"] is None  # the epoch ended

    for name in ("a", "b"):
        history = json.loads((tmp_path / name / "history.json").read_text())
        assert list(history["images"].values()) == [24], name  # not 32 (b) and not counted twice
        assert list(history["train_loss"].values()) == pytest.approx(
            reference["train_loss"].tolist(), rel=1e-5), name
        assert list(history["train_top1_error"].values()) == pytest.approx(
            reference["train_top1_error"].tolist(), abs=1e-12), name
        ddp_weights = torch.load(tmp_path / name / "final.pt", weights_only=True)
        for key, value in single.state_dict().items():
            torch.testing.assert_close(ddp_weights[key], value, rtol=1e-4, atol=1e-5,
                                       msg=f"{name}: {key}")
