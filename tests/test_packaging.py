"""pyproject.toml, environment.yml and binder/ must agree, and the README's commands must exist."""

import re
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
REQ = re.compile(r"^([A-Za-z0-9_.\-]+)\s*(>=\s*[\w.]+)?")


def parse(lines):
    found = {}
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        match = REQ.match(line)
        assert match, f"cannot parse requirement {line!r}"
        found[match.group(1).lower().replace("_", "-")] = (match.group(2) or "").replace(" ", "")
    return found


def pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_torch_is_never_pinned_exactly():
    for dep in pyproject()["project"]["dependencies"]:
        assert "==" not in dep, f"exact pin in pyproject: {dep}"
        assert dep.replace(" ", "").count(">=") == 1, f"dependency without a lower bound: {dep}"


def test_binder_requirements_match_pyproject():
    # Binder runs JupyterLab itself: the runtime dependencies plus the lab extra
    meta = pyproject()["project"]
    ours = parse(meta["dependencies"] + meta["optional-dependencies"]["lab"])
    binder_lines = (ROOT / "binder" / "requirements.txt").read_text(encoding="utf-8").splitlines()
    assert parse(binder_lines) == ours
    assert any("download.pytorch.org/whl/cpu" in line for line in binder_lines), "Binder must use CPU torch"


def test_environment_yml_installs_the_course_editable():
    text = (ROOT / "environment.yml").read_text(encoding="utf-8")
    entries = [line.strip()[2:].strip() for line in text.splitlines()
               if line.strip().startswith("- ")]
    # python, pip, and the course itself: everything else comes from pyproject.toml, so the
    # two lists cannot drift apart.
    assert entries == ["conda-forge", "python>=3.10", "pip", "pip:", '-e ".[dev,lab]"'], entries


def test_the_library_pulls_in_no_jupyter_stack():
    """Colab runs its own notebook server: installing the course there must not add another."""
    runtime = parse(pyproject()["project"]["dependencies"])
    for server in ("jupyterlab", "notebook", "jupyter-server", "jupyter", "nbclassic"):
        assert server not in runtime, f"{server} is a runtime dependency"
    assert "jupyterlab" in parse(pyproject()["project"]["optional-dependencies"]["lab"])


def test_the_version_is_said_once():
    import course_lib

    assert course_lib.__version__ == pyproject()["project"]["version"]
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert f"## {course_lib.__version__}" in changelog, "CHANGELOG has no entry for this version"


def test_every_badge_points_at_a_ref_that_exists():
    """``main``, or a tag of this repository (a release commit's own tag): never a ref that is
    not there, which is what every badge pointed at while they named an untagged v0.2.0."""
    import subprocess

    from ci_scripts import load_ci_script

    _slug, ref = load_ci_script("notebook_links", "links_for_ref").project()
    if ref != "main":
        tags = subprocess.run(["git", "tag", "--list"], cwd=ROOT, capture_output=True,
                              text=True, timeout=30).stdout.split()
        assert ref in tags, f"badges point at {ref!r}, which is not a tag of this repository"


def test_a_links_ref_other_than_main_or_this_release_is_refused(tmp_path):
    from ci_scripts import load_ci_script

    links = load_ci_script("notebook_links", "links_refusing")
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    (tmp_path / "pyproject.toml").write_text(
        text.replace('links_ref = "main"', 'links_ref = "v9.9.9"'), encoding="utf-8")
    with pytest.raises(ValueError, match="links_ref is 'v9.9.9'"):
        links.project(tmp_path)
    (tmp_path / "pyproject.toml").write_text(
        text.replace('links_ref = "main"', 'links_ref = "v0.2.0"'), encoding="utf-8")
    assert links.project(tmp_path)[1] == "v0.2.0"


def test_a_workflow_runs_ci_on_push_and_pull_request():
    workflow = (ROOT / ".github" / "workflows" / "ci.yml").read_text(encoding="utf-8")
    assert re.search(r"^on:", workflow, re.M) and "push" in workflow and "pull_request" in workflow
    assert re.search(r"^\s+(- )?run: .*\.ci/run\b", workflow, re.M), "the workflow must run .ci/run"


def test_every_badge_and_colab_install_points_at_the_release():
    import subprocess
    import sys

    done = subprocess.run([sys.executable, str(ROOT / ".ci" / "notebook_links.py")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_the_link_checker_catches_a_wrong_badge(tmp_path):
    import importlib.util
    import json

    spec = importlib.util.spec_from_file_location("links", ROOT / ".ci" / "notebook_links.py")
    links = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(links)
    slug, tag = links.project()
    nb = json.loads((ROOT / "notebooks" / "00_start_here.ipynb").read_text(encoding="utf-8"))
    first = "".join(nb["cells"][0]["source"]).replace("00_start_here", "99_missing")
    nb["cells"][0]["source"] = first
    path = tmp_path / "00_start_here.ipynb"
    path.write_text(json.dumps(nb), encoding="utf-8")
    problems = links.check_notebook(path, slug, tag, fix=False)
    assert any("Colab badge" in p and "99_missing" in p for p in problems), problems
    assert any("Binder badge" in p for p in problems), problems


def test_requires_python_matches_the_environment():
    assert pyproject()["project"]["requires-python"] == ">=3.10"


def test_binder_post_build_fails_fast_and_installs_the_course():
    post = (ROOT / "binder" / "postBuild").read_text(encoding="utf-8")
    assert post.startswith("#!/bin/bash")
    assert "set -euo pipefail" in post or "set -e" in post
    assert "pip install --no-deps -e ." in post
    assert (ROOT / "binder" / "postBuild").stat().st_mode & 0o111, "postBuild must be executable"


def test_dev_extra_has_the_test_tools():
    dev = parse(pyproject()["project"]["optional-dependencies"]["dev"])
    for tool in ("pytest", "nbval", "pytest-xdist", "ruff", "nbstripout"):
        assert tool in dev


def test_makefile_has_the_readme_commands():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for target in ("lab", "test", "setup", "execute", "lint"):
        assert re.search(rf"^{target}:", makefile, re.M), target
    assert "make lab" in readme and "make test" in readme
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "make test" in ci
