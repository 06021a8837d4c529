"""Importing course_lib, or any of its modules, must do nothing observable."""

import os
import pkgutil
import subprocess
import sys

import pytest

import course_lib

SCRIPT = r"""
import importlib, os, pkgutil, sys
import numpy as np, torch
torch_state = torch.get_rng_state().clone()
np_state = np.random.get_state()[1].copy()
det = torch.are_deterministic_algorithms_enabled()
threads = torch.get_num_threads()
before = set(os.listdir("."))
import course_lib
names = [m.name for m in pkgutil.walk_packages(course_lib.__path__, "course_lib.")
         if m.name != "course_lib.__main__"]
for name in names:
    importlib.import_module(name)
assert torch.equal(torch.get_rng_state(), torch_state), "torch RNG state changed"
assert (np.random.get_state()[1] == np_state).all(), "numpy RNG state changed"
assert torch.are_deterministic_algorithms_enabled() == det, "deterministic flag changed"
assert torch.get_num_threads() == threads, "thread count changed"
assert set(os.listdir(".")) == before, "files created in the working directory"
print(len(names))
"""


@pytest.mark.subprocess  # a fresh interpreter is the point: nothing imported yet
def test_importing_every_module_has_no_side_effects(tmp_path):
    env = {**os.environ, "COURSE_DATA": str(tmp_path / "data")}
    result = subprocess.run([sys.executable, "-c", SCRIPT], cwd=tmp_path, capture_output=True,
                            text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    expected = len([m for m in pkgutil.walk_packages(course_lib.__path__, "course_lib.")
                    if m.name != "course_lib.__main__"])
    assert result.stdout == f"{expected}\n", "importing printed something"
    assert not (tmp_path / "data").exists(), "the data directory was created on import"
    assert list(tmp_path.iterdir()) == [], "import wrote files"
