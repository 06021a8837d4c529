"""``make gpu-check`` (.ci/gpu_check.py): a clear refusal without CUDA, and the right tests picked."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / ".ci" / "gpu_check.py"


def load_script():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_without_cuda_it_says_so_and_runs_nothing(monkeypatch, capsys):
    gpu_check = load_script()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)

    def no_subprocess(*args, **kwargs):
        raise AssertionError(f"gpu-check started {args} without a CUDA device")

    monkeypatch.setattr(subprocess, "run", no_subprocess)
    assert gpu_check.main([]) == 2
    err = capsys.readouterr().err
    assert "no CUDA device: gpu-check needs one" in err
    assert f"torch {torch.__version__}" in err


def test_makefile_target_runs_the_script():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "\ngpu-check:" in makefile and ".ci/gpu_check.py" in makefile


@pytest.mark.slow
def test_plugin_keeps_only_the_tests_that_need_cuda(tmp_path):
    (tmp_path / "test_sample.py").write_text(textwrap.dedent("""
        import pytest
        import torch

        needs = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

        @needs
        def test_on_the_gpu():
            pass

        @pytest.mark.cuda
        def test_marked_cuda():
            pass

        @pytest.mark.skipif(True, reason="another reason")
        def test_skipped_for_something_else():
            pass

        def test_on_any_machine():
            pass
    """))
    (tmp_path / "test_module_mark.py").write_text(textwrap.dedent("""
        import pytest
        import torch

        pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA only")

        def test_under_a_module_mark():
            pass
    """))
    done = subprocess.run(
        [sys.executable, "-m", "pytest", str(tmp_path), "-p", "gpu_check", "--collect-only",
         "-q", "-p", "no:cacheprovider"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={"PYTHONPATH": str(ROOT / ".ci"), "PATH": "/usr/bin:/bin"})
    collected = {line.split("::")[-1] for line in done.stdout.splitlines() if "::" in line}
    assert collected == {"test_on_the_gpu", "test_marked_cuda", "test_under_a_module_mark"}, \
        done.stdout + done.stderr


def test_every_chapter_is_a_step_under_the_gpu_profile_with_its_own_limit(tmp_path):
    gpu_check = load_script()
    args = gpu_check.parse_args([])
    steps = gpu_check.planned_steps(args, "python", str(tmp_path), tmp_path / "out")
    names = [name for name, _, _ in steps]
    chapters = sorted(p.name[:2] for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    assert len(chapters) == 12
    assert names == ["synthnet", "cuda-tests", "bench", "imagenette"] + [
        f"chapter-{c}" for c in chapters]
    for _, cmd, limit in steps[4:]:
        assert cmd[1:3] == ["-m", "papermill"] and cmd[-4:-2] == ["profile_name", "gpu"]
        assert Path(cmd[4]).parent == tmp_path / "out" and Path(cmd[3]).name == Path(cmd[4]).name
        assert limit >= 240  # two minutes of start-up plus twice the chapter's estimate
    # the set the chapters train on is prepared at the gpu profile's 160 px first
    imagenette = steps[3][1]
    assert imagenette[1].endswith("imagenette_like.py") and imagenette[3:5] == ["--prepare", "160"]


def test_a_part_of_the_check_can_be_asked_for_and_nonsense_is_refused(tmp_path, capsys):
    gpu_check = load_script()
    args = gpu_check.parse_args(["--steps", "imagenette", "chapters", "--chapters", "5", "07"])
    names = [n for n, _, _ in gpu_check.planned_steps(args, "python", str(tmp_path), tmp_path)]
    assert names == ["imagenette", "chapter-05", "chapter-07"]
    with pytest.raises(SystemExit):
        gpu_check.parse_args(["--chapters", "12"])
    assert "--chapters 12: no such chapter" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        gpu_check.parse_args(["--steps", "chapters"])  # nothing to train on
    assert "needs imagenette too" in capsys.readouterr().err


def test_the_figures_an_executed_chapter_drew_are_saved_as_png(tmp_path):
    gpu_check = load_script()
    png = bytes.fromhex("89504e470d0a1a0a") + b"rest of a picture"
    import base64
    import json

    cells = [{"cell_type": "markdown", "source": ["# a title"]},
             {"cell_type": "code", "outputs": [
                 {"output_type": "stream", "text": ["hello"]},
                 {"output_type": "display_data",
                  "data": {"image/png": base64.b64encode(png).decode()}}]},
             {"cell_type": "code", "outputs": []}]
    executed = tmp_path / "08_scoring.ipynb"
    executed.write_text(json.dumps({"cells": cells}), encoding="utf-8")
    assert gpu_check.save_figures(executed, tmp_path) == ["08_cell1_0.png"]
    assert (tmp_path / "08_cell1_0.png").read_bytes() == png
