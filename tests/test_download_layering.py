"""The verified downloader is neutral: networks fetch weights without importing datasets.

(The layer rules themselves, "models never import datasets" among them, are enforced for the
whole package by tests/test_import_rules.py.)"""

from __future__ import annotations

import ast
from pathlib import Path

import course_lib
from course_lib import download

PACKAGE = Path(course_lib.__file__).parent


def _imported_modules(path: Path) -> set[str]:
    """Every module a file imports, written out from the package root (relative ones resolved)."""
    package = path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1]  # ("course_lib", "models")
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = list(package[: len(package) - node.level + 1]) if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def test_pretrained_weights_use_the_neutral_downloader():
    assert "course_lib.download.download_file" in _imported_modules(PACKAGE / "models" / "pretrained.py")


def test_the_neutral_downloader_knows_no_dataset_or_model():
    imported = _imported_modules(PACKAGE / "download.py")
    assert not any(m.startswith(("course_lib.datasets", "course_lib.models")) for m in imported)


def test_the_dataset_layer_reuses_the_one_downloader():
    # One place per idea: the registry uses the downloader's functions, it does not copy them
    # (and does not re-export them: callers import course_lib.download)
    tree = ast.parse((PACKAGE / "datasets" / "registry.py").read_text(encoding="utf-8"))
    defined = {node.name for node in ast.walk(tree)
               if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
    shared = {name for name in vars(download) if not name.startswith("_")
              and callable(getattr(download, name))
              and getattr(getattr(download, name), "__module__", "") == download.__name__}
    assert shared and not defined & shared
    assert "course_lib.download.download_file" in _imported_modules(PACKAGE / "datasets" / "registry.py")
