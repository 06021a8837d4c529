"""``make execute PRECISION=fp32`` (.ci/execute.py): times a chapter with fp32 forced, from a copy,
in a COURSE_DATA of its own, and leaves the notebook and the timings file as they are."""

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.subprocess
def test_an_fp32_run_leaves_the_notebook_and_the_reference_model_alone(tmp_path):
    probe = tmp_path / "probe.txt"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        "import os\n"
        "open(os.environ['EXECUTE_PROBE'], 'w').write(\n"
        "    os.environ.get('COURSE_PRECISION', '') + '|' + os.environ.get('COURSE_DATA', ''))")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    path = tmp_path / "01_building_imagenet.ipynb"  # a chapter the timings file knows
    nbformat.write(nb, path)
    before = path.read_bytes()
    timings = (ROOT / "docs" / "timings.json").read_bytes()
    outer_data = tmp_path / "my-data"
    env = {"PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin",
           "HOME": str(tmp_path), "EXECUTE_PROBE": str(probe), "COURSE_DATA": str(outer_data)}
    done = subprocess.run([sys.executable, str(ROOT / ".ci" / "execute.py"), "--profile",
                           "smoke", "--precision", "fp32", "--no-record", str(path)],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    precision, data = probe.read_text().split("|")
    assert precision == "fp32"
    assert data and Path(data) != outer_data and not outer_data.exists()
    assert "(smoke_fp32)" in done.stdout
    assert path.read_bytes() == before  # the kept outputs are the default precision's
    assert (ROOT / "docs" / "timings.json").read_bytes() == timings
    assert json.loads(before)["cells"][0]["outputs"] == []
