"""``make book``: the course site builds offline from the kept outputs, every notebook has a
page, no internal link or anchor is broken, and no page hides an output the notebook has."""

from __future__ import annotations

import importlib.util
import json
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))

pytestmark = pytest.mark.slow  # one Sphinx build (about 20-40 s), shared by the module


class Page(HTMLParser):
    """Links, ids, output blocks and images of one HTML page."""

    def __init__(self):
        super().__init__()
        self.links: list[str] = []
        self.ids: set[str] = set()
        self.outputs = 0
        self.images = 0
        self.error_outputs = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])
        classes = (attrs.get("class") or "").split()
        if "cell_output" in classes:
            self.outputs += 1
        if "traceback" in classes or "error" in classes and "output" in classes:
            self.error_outputs += 1
        if tag == "img":
            self.images += 1


def parse(path: Path) -> Page:
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    pytest.importorskip("jupyter_book", reason="the book extra is not installed")
    spec = importlib.util.spec_from_file_location("build_book", ROOT / ".ci" / "build_book.py")
    book = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(book)
    out = tmp_path_factory.mktemp("book")
    assert book.build(quiet=True, STAGE=out / "stage", SITE=out / "site") == 0
    return out / "site"


def test_every_notebook_has_a_page(site):
    assert NOTEBOOKS, "no notebooks"
    for nb in NOTEBOOKS:
        assert (site / "notebooks" / f"{nb.stem}.html").is_file(), nb.name
    index = parse(site / "index.html")
    for nb in NOTEBOOKS:  # the course map links every chapter
        assert any(nb.stem in link for link in index.links), nb.stem


def test_no_internal_link_or_anchor_is_broken(site):
    broken = []
    pages = {path: parse(path) for path in site.rglob("*.html")}
    for path, page in pages.items():
        for link in page.links:
            parts = urlsplit(link)
            if parts.scheme or link.startswith("//") or link.startswith("mailto:"):
                continue  # external: checked by people, not offline CI
            target = path if not parts.path else (path.parent / unquote(parts.path)).resolve()
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                broken.append(f"{path.relative_to(site)}: {link} (no such file)")
                continue
            if parts.fragment and target.suffix == ".html":
                ids = pages[target].ids if target in pages else parse(target).ids
                if unquote(parts.fragment) not in ids:
                    broken.append(f"{path.relative_to(site)}: {link} (no anchor)")
    assert broken == []


def test_pages_show_every_kept_output_and_no_error(site):
    for nb in NOTEBOOKS:
        cells = json.loads(nb.read_text(encoding="utf-8"))["cells"]
        with_output = [c for c in cells if c["cell_type"] == "code" and c.get("outputs")]
        pictures = sum(1 for c in with_output for o in c["outputs"]
                       if "image/png" in o.get("data", {}))
        page = parse(site / "notebooks" / f"{nb.stem}.html")
        assert page.error_outputs == 0, nb.name
        assert page.outputs >= len(with_output), (nb.name, page.outputs, len(with_output))
        assert page.images >= pictures, (nb.name, page.images, pictures)


def test_the_link_checker_sees_a_broken_link(tmp_path):
    (tmp_path / "a.html").write_text('<a href="b.html#x">b</a><a href="#here">h</a>')
    (tmp_path / "b.html").write_text('<p id="y">no x here</p>')
    page = parse(tmp_path / "a.html")
    assert page.links == ["b.html#x", "#here"] and "x" not in parse(tmp_path / "b.html").ids
