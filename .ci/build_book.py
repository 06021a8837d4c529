#!/usr/bin/env python3
"""Build the course site (``make book``): the executed notebooks as a static site in ``site/``.

Jupyter Book 1 (Sphinx + myst-nb) renders the notebooks' kept outputs (no re-execution) and
builds with no network; Jupyter Book 2 downloads its site template at build time, so it is not
used (``../shared/DESIGN.md``). The book is staged in ``.book/`` from what the repository
already holds, so there is one copy of every page:

* ``index.md``: the course map, made from the README's notebook table;
* every ``notebooks/NN_*.ipynb``, in order (navigation: previous / next, the sidebar);
* the workshop kit in ``docs/`` (instructor guide, learner checklist, chapter summaries).

Solutions stay collapsed on the site (cells tagged ``hide-input``). Exit status is
Sphinx's; warnings about the book's own pages are printed.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STAGE = ROOT / ".book"
SITE = ROOT / "site"

CONFIG = """\
title: "From ImageNet to AlexNet: the 2012 moment, hands-on"
author: The ImageNet-to-AlexNet course authors
copyright: "2026"
only_build_toc_files: true
execute:
  execute_notebooks: "off"
repository:
  url: {repository}
  branch: main
html:
  use_repository_button: true
  use_issues_button: false
  home_page_in_navbar: true
sphinx:
  config:
    html_show_sourcelink: false
    suppress_warnings: ["myst.header", "mystnb.unknown_mime_type"]
    nb_merge_streams: true
parse:
  myst_enable_extensions: [dollarmath, colon_fence]
"""


def repository_url() -> str:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return meta["project"]["urls"]["Repository"]


def notebooks() -> list[Path]:
    return sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def docs() -> list[Path]:
    folder = ROOT / "docs"
    return sorted(p for p in folder.glob("*.md")) if folder.is_dir() else []


def index_page() -> str:
    """The README from its title to the end of the notebook table, links made site-relative."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    head, _, rest = readme.partition("## The notebooks")
    table, _, _ = rest.partition("\n## ")
    text = head + "## The notebooks" + table
    return text.replace("](notebooks/", "](notebooks/").replace(".ipynb)", ".ipynb)")


def stage(STAGE: Path = STAGE) -> None:  # noqa: N803 - the module constant, overridable
    if STAGE.exists():
        shutil.rmtree(STAGE)
    (STAGE / "notebooks").mkdir(parents=True)
    (STAGE / "_config.yml").write_text(CONFIG.format(repository=repository_url()),
                                       encoding="utf-8")
    (STAGE / "index.md").write_text(index_page(), encoding="utf-8")
    toc = ["format: jb-book", "root: index", "parts:", "  - caption: Chapters", "    chapters:"]
    for nb in notebooks():
        shutil.copy2(nb, STAGE / "notebooks" / nb.name)
        toc.append(f"      - file: notebooks/{nb.stem}")
    if docs():
        (STAGE / "docs").mkdir()
        toc += ["  - caption: Workshop kit", "    chapters:"]
        for page in docs():
            shutil.copy2(page, STAGE / "docs" / page.name)
            toc.append(f"      - file: docs/{page.stem}")
    (STAGE / "_toc.yml").write_text("\n".join(toc) + "\n", encoding="utf-8")


def build(quiet: bool = False, STAGE: Path = STAGE, SITE: Path = SITE) -> int:  # noqa: N803
    stage(STAGE)
    command = [str(Path(sys.executable).with_name("jupyter-book")), "build", str(STAGE), "--builder", "html",
               "--keep-going"]
    done = subprocess.run(command, capture_output=quiet, text=True)
    if done.returncode != 0:
        if quiet:
            print(done.stdout[-4000:], done.stderr[-4000:], sep="\n", file=sys.stderr)
        return done.returncode
    if SITE.exists():
        shutil.rmtree(SITE)
    shutil.copytree(STAGE / "_build" / "html", SITE)
    print(f"site built: {SITE / 'index.html'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quiet", action="store_true", help="print Sphinx's output on failure only")
    parser.add_argument("--stage", type=Path, default=STAGE, help="staging folder (default .book/)")
    parser.add_argument("--site", type=Path, default=SITE, help="output folder (default site/)")
    args = parser.parse_args(argv)
    return build(args.quiet, args.stage, args.site)


if __name__ == "__main__":
    sys.exit(main())
