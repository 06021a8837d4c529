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
