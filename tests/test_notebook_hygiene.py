"""The hygiene check that CI runs on every notebook catches what it promises to catch."""

import copy
import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("check_notebooks", ROOT / ".ci" / "check_notebooks.py")
check_notebooks = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check_notebooks)

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def load(path):
    return json.loads(path.read_text(encoding="utf-8"))


def write(tmp_path, nb, name="00_test.ipynb"):
    path = tmp_path / name
    path.write_text(json.dumps(nb), encoding="utf-8")
    return path


@pytest.fixture
def clean_nb():
    return load(NOTEBOOKS[0])


def test_there_are_notebooks():
    assert NOTEBOOKS and NOTEBOOKS[0].name == "00_start_here.ipynb"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_repository_notebooks_are_clean(path):
    assert check_notebooks.problems(path, load(path)) == []


def test_clean_notebook_passes(tmp_path, clean_nb):
    assert check_notebooks.main([str(write(tmp_path, clean_nb))]) == 0


def test_planted_error_output_is_caught(tmp_path, clean_nb, capsys):
    nb = copy.deepcopy(clean_nb)
    cell = next(c for c in nb["cells"] if c["cell_type"] == "code" and c["outputs"])
    cell["outputs"].append({"output_type": "error", "ename": "ZeroDivisionError",
                            "evalue": "division by zero", "traceback": []})
    assert check_notebooks.main([str(write(tmp_path, nb))]) == 1
    err = capsys.readouterr().err
    assert "keeps an error output (ZeroDivisionError: division by zero)" in err
    assert "00_test.ipynb: cell" in err


def test_unstripped_metadata_is_caught_and_fixed(tmp_path, clean_nb, capsys):
    nb = copy.deepcopy(clean_nb)
    nb["metadata"]["widgets"] = {"state": {}}
    nb["cells"][2]["metadata"]["execution"] = {"iopub.execute_input": "2026-01-01"}
    path = write(tmp_path, nb)
    assert check_notebooks.main([str(path)]) == 1
    err = capsys.readouterr().err
    assert "notebook metadata not stripped: widgets" in err
    assert "cell 3: metadata not stripped: execution" in err
    assert check_notebooks.main(["--fix", str(path)]) == 0
    fixed = load(path)
    assert "widgets" not in fixed["metadata"]
    assert [c.get("outputs") for c in fixed["cells"]] == [c.get("outputs") for c in clean_nb["cells"]]


def test_a_solution_that_keeps_its_output_is_caught_and_fixed(tmp_path, clean_nb, capsys):
    """Its "✅ correct" (sometimes with the answer) would show under the learner's blank
    exercise; --fix (which make execute runs) clears it and leaves every other output."""
    nb = copy.deepcopy(clean_nb)
    index, cell = next((i, c) for i, c in enumerate(nb["cells"])
                       if "solution" in c["metadata"].get("tags", []))
    cell["outputs"] = [{"output_type": "stream", "name": "stdout",
                        "text": ["✅ count_parameters: correct. 34,944 parameters\n"]}]
    cell["execution_count"] = 7
    path = write(tmp_path, nb)
    assert check_notebooks.main([str(path)]) == 1
    assert f"cell {index + 1}: solution keeps outputs" in capsys.readouterr().err
    assert check_notebooks.main(["--fix", str(path)]) == 0
    fixed = load(path)
    assert fixed["cells"][index]["outputs"] == [] and fixed["cells"][index]["execution_count"] is None
    assert [c.get("outputs") for c in fixed["cells"]] == [c.get("outputs") for c in clean_nb["cells"]]


def test_unexecuted_notebook_is_caught(tmp_path, clean_nb, capsys):
    nb = copy.deepcopy(clean_nb)
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            cell["execution_count"] = None
            cell["outputs"] = []
    assert check_notebooks.main([str(write(tmp_path, nb))]) == 1
    assert "no cell has been executed" in capsys.readouterr().err


def test_missing_conventions_are_caught(tmp_path, clean_nb, capsys):
    nb = copy.deepcopy(clean_nb)
    nb["cells"][0]["source"] = "# A title without badges"
    for cell in nb["cells"]:
        cell["metadata"].pop("tags", None)
    assert check_notebooks.main([str(write(tmp_path, nb))]) == 1
    err = capsys.readouterr().err
    assert "no Colab badge" in err and "no Binder badge" in err
    assert "tagged 'parameters'" in err


def test_broken_json_is_reported(tmp_path, capsys):
    path = tmp_path / "01_broken.ipynb"
    path.write_text("{not json", encoding="utf-8")
    assert check_notebooks.main([str(path)]) == 1
    assert "01_broken.ipynb: not a readable notebook" in capsys.readouterr().err


def _with_output(nb, output):
    """``nb`` with every kept output removed but ``output``, in its first code cell."""
    nb = copy.deepcopy(nb)
    code = [c for c in nb["cells"] if c["cell_type"] == "code" and c.get("source")]
    for cell in code:
        cell["outputs"] = []
    code[0]["outputs"] = [output]
    return nb


@pytest.mark.parametrize("text", [
    "data in /root/course/data/caches\n",
    "python: /home/ana/.venv/bin/python\n",
    "weights (/work/main/data/weights/alexnet-owt-7be5be79.pth)\n",
    "saved C:\\Users\\ana\\course\\last.pt\n",
    "/Users/ana/data\n",
])
def test_machine_paths_in_outputs_are_caught(tmp_path, clean_nb, capsys, text):
    nb = _with_output(clean_nb, {"output_type": "stream", "name": "stdout", "text": [text]})
    assert check_notebooks.main([str(write(tmp_path, nb))]) == 1
    assert "output shows the machine path" in capsys.readouterr().err


@pytest.mark.parametrize("text", [
    "data/caches/synthnet-64 (in the data folder)\n",
    "see https://image-net.org/challenges/LSVRC/2012/ for the rules\n",
    "10/20 images, ratio 3/4, 2012/13\n",
    "resumed from /tmp/tmp008_ip8l/b/last.pt (a throw-away folder)\n",
])
def test_relative_paths_and_urls_pass(tmp_path, clean_nb, text):
    nb = _with_output(clean_nb, {"output_type": "stream", "name": "stdout", "text": [text]})
    assert check_notebooks.main([str(write(tmp_path, nb))]) == 0


def test_styler_text_fallback_is_caught(tmp_path, clean_nb, capsys):
    nb = _with_output(clean_nb, {
        "output_type": "execute_result", "execution_count": 3, "metadata": {},
        "data": {"text/html": ["<table></table>"],
                 "text/plain": ["<pandas.io.formats.style.Styler at 0x7fd5944c4e90>"]}})
    assert check_notebooks.main([str(write(tmp_path, nb))]) == 1
    assert "object repr '<pandas.io.formats.style.Styler at 0x7fd5944c4e90>'" in \
        capsys.readouterr().err


@pytest.mark.parametrize("value,caught", [("5509", True), ("-3", True), ("0.25", True),
                                          ("1,024", True), ("'5509 images'", False),
                                          ("(3, 224, 224)", False)])
def test_a_bare_number_as_a_cells_result_is_caught(tmp_path, clean_nb, capsys, value, caught):
    nb = _with_output(clean_nb, {"output_type": "execute_result", "execution_count": 3,
                                 "metadata": {}, "data": {"text/plain": [value]}})
    assert check_notebooks.main([str(write(tmp_path, nb))]) == (1 if caught else 0)
    assert ("bare value" in capsys.readouterr().err) is caught


def test_a_check_cell_showing_a_bare_boolean_is_caught(tmp_path, clean_nb, capsys):
    """A check prints its one-line verdict; the True/False it returns must not show under it:
    a kept bare boolean, and a check call without its `;`, are both refused."""
    nb = _with_output(clean_nb, {"output_type": "execute_result", "execution_count": 3,
                                 "metadata": {}, "data": {"text/plain": ["False"]}})
    assert check_notebooks.main([str(write(tmp_path, nb))]) == 1
    assert "bare False" in capsys.readouterr().err
    nb = copy.deepcopy(clean_nb)
    check = next(c for c in nb["cells"] if c["cell_type"] == "code"
                 and "".join(c["source"]).rstrip().endswith(");")
                 and "".join(c["source"]).lstrip().startswith("check_"))
    check["source"] = "".join(check["source"]).rstrip().rstrip(";")
    assert check_notebooks.main([str(write(tmp_path, nb))]) == 1
    assert "end it with `;`" in capsys.readouterr().err
