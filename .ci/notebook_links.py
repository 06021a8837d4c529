#!/usr/bin/env python3
"""Colab and Binder badges and the Colab install cell, from one place: pyproject.toml.

The repository slug comes from ``[project.urls] Repository`` and the ref from ``[tool.course]
links_ref``: ``main`` until a release is tagged, ``v<version>`` in a release's own commit (the
tag is created on that commit, so the ref always exists). Every notebook's first cell must carry

* an "Open in Colab" badge for its own path at that ref,
* a Binder badge opening JupyterLab on its own path at that ref,

and its Colab setup cell must install the course at that ref, so a notebook and the library it
runs come from the same commit line. The README's badges follow the same rule. ``--fix``
rewrites them in place; without it, every mismatch is listed (exit 1), and a ref that is neither
``main`` nor ``v<version>`` is refused. ``python .ci/notebook_links.py --fix`` is a step of a
release (README, "Releases").
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
GITHUB = "https://github.com/"
COLAB_BADGE = "https://colab.research.google.com/assets/colab-badge.svg"
BINDER_BADGE = "https://mybinder.org/badge_logo.svg"
COLAB_LINK = re.compile(r"\[!\[Open In Colab\]\([^)]*\)\]\([^)]*\)")
BINDER_LINK = re.compile(r"\[!\[Binder\]\([^)]*\)\]\([^)]*\)")
INSTALL = re.compile(r'!pip install -q "course_lib @ git\+[^"]*"')


def project(root: Path = ROOT) -> tuple[str, str]:
    """``(slug, ref)``: ``owner/name`` from the Repository URL and ``[tool.course] links_ref``
    (``main``, or ``v<version>`` in a release commit)."""
    data = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    meta = data["project"]
    url = meta["urls"]["Repository"].rstrip("/")
    if not url.startswith(GITHUB):
        raise ValueError(f"pyproject.toml: Repository {url!r} is not a GitHub URL")
    ref = data.get("tool", {}).get("course", {}).get("links_ref", "main")
    if ref not in ("main", f"v{meta['version']}"):
        raise ValueError(f"pyproject.toml: [tool.course] links_ref is {ref!r}; it must be 'main' "
                         f"or this release's tag 'v{meta['version']}'")
    return url[len(GITHUB):], ref


def colab(slug: str, tag: str, path: str) -> str:
    return f"[![Open In Colab]({COLAB_BADGE})](https://colab.research.google.com/github/{slug}/blob/{tag}/{path})"


def binder(slug: str, tag: str, path: str) -> str:
    return f"[![Binder]({BINDER_BADGE})](https://mybinder.org/v2/gh/{slug}/{tag}?urlpath=lab/tree/{path})"


def install(slug: str, tag: str) -> str:
    return f'!pip install -q "course_lib @ git+https://github.com/{slug}@{tag}"'


def _fix_text(text: str, slug: str, tag: str, path: str, where: str,
              problems: list[str], need_install: bool = False) -> str:
    wanted = {"Colab badge": (COLAB_LINK, colab(slug, tag, path)),
              "Binder badge": (BINDER_LINK, binder(slug, tag, path))}
    if need_install:
        wanted["install line"] = (INSTALL, install(slug, tag))
    for what, (pattern, want) in wanted.items():
        found = pattern.findall(text)
        if not found:
            problems.append(f"{where}: no {what}")
        for got in found:
            if got != want:
                problems.append(f"{where}: {what} is {got!r}, expected {want!r}")
        text = pattern.sub(lambda _, want=want: want, text)
    return text


def check_notebook(path: Path, slug: str, tag: str, fix: bool) -> list[str]:
    nb = json.loads(path.read_text(encoding="utf-8"))
    rel = path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else f"notebooks/{path.name}"
    problems: list[str] = []
    cells = nb.get("cells", [])
    first = "".join(cells[0].get("source", [])) if cells else ""
    new_first = _fix_text(first, slug, tag, rel, f"{path.name}: cell 1", problems)
    installs = [c for c in cells if c.get("cell_type") == "code" and "google.colab" in
                "".join(c.get("source", []))]
    if not installs:
        problems.append(f"{path.name}: no Colab setup cell (`if \"google.colab\" in sys.modules`)")
    for cell in installs:
        source = "".join(cell["source"])
        found = INSTALL.findall(source)
        if not found:
            problems.append(f"{path.name}: the Colab setup cell does not install the course")
        for got in found:
            if got != install(slug, tag):
                problems.append(f"{path.name}: Colab install is {got!r}, expected "
                                f"{install(slug, tag)!r}")
        if fix:
            cell["source"] = INSTALL.sub(lambda _: install(slug, tag), source).splitlines(True)
    if fix and cells:
        cells[0]["source"] = new_first.splitlines(True)
        path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return problems


def check_readme(path: Path, slug: str, tag: str, fix: bool) -> list[str]:
    problems: list[str] = []
    text = path.read_text(encoding="utf-8")
    new = _fix_text(text, slug, tag, "notebooks/00_start_here.ipynb", path.name, problems)
    if fix:
        path.write_text(new, encoding="utf-8")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fix", action="store_true", help="rewrite badges and install lines")
    args = parser.parse_args(argv)
    slug, tag = project()
    problems = check_readme(ROOT / "README.md", slug, tag, args.fix)
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        problems += check_notebook(path, slug, tag, args.fix)
    if args.fix:
        print(f"links set to {slug} at {tag}")
        return 0
    for line in problems:
        print(line, file=sys.stderr)
    if not problems:
        print(f"notebook links: every badge and install line points at {slug} {tag}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
