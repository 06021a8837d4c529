"""The layers of ../shared/DESIGN.md, enforced: every import of every module is read (module
level, inside functions, and ``import_module("...")`` strings) and checked against the rules."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "course_lib"

# (importer prefix, forbidden prefix, why) — prefixes are dotted module names
RULES = [
    ("course_lib.models", "course_lib.datasets", "a network knows no dataset"),
    ("course_lib.models", "course_lib.train", "a network does not know how it is trained"),
    ("course_lib.scoring", "course_lib.train", "scoring needs no training core"),
    ("course_lib.scoring", "course_lib.models", "scoring needs no torch model"),
    ("course_lib.scoring", "course_lib.evaluate", "scoring works on scores, not models"),
    ("course_lib.hierarchy", "course_lib.models", "the class tree needs no model"),
    ("course_lib.hierarchy", "course_lib.train", "the class tree needs no training core"),
    ("course_lib.history", "course_lib.models", "the leaderboard needs no model"),
    ("course_lib.datasets", "course_lib.train", "data does not know how it is used"),
    ("course_lib.datasets", "course_lib.models", "data does not know which network reads it"),
    ("course_lib.train", "course_lib.datasets.synthnet", "train takes batches, not a dataset"),
    ("course_lib.train", "course_lib.datasets.registry", "train takes batches, not a dataset"),
    ("course_lib.train", "course_lib.datasets.cache", "train takes batches, not a dataset"),
    ("course_lib.train", "course_lib.recipe", "the recipe sits above the training core"),
    ("course_lib.train", "course_lib.profiles",
     "the training core takes a TrainConfig; course_lib.plan turns a profile into one"),
    ("course_lib.datasets", "course_lib.profiles",
     "data takes sizes; course_lib.plan turns a profile into them"),
    ("course_lib.recipe", "course_lib.profiles",
     "datasets open by explicit sizes; course_lib.plan reads the profile"),
    ("course_lib.recipe", "course_lib.plan", "the plan sits above the datasets it opens"),
    ("course_lib.evaluate", "course_lib.datasets.synthnet", "evaluate takes batches"),
    ("course_lib.evaluate", "course_lib.datasets.registry", "evaluate takes batches"),
]
# the bottom layer may import only itself
BOTTOM = ("course_lib.profiles", "course_lib.device", "course_lib.paths", "course_lib.memory",
          "course_lib.diskspace", "course_lib.errors")
BOTTOM_MAY_IMPORT = BOTTOM + ("course_lib",)  # the package itself, for __version__
# the top layers: nothing below may import them
TOP = ("course_lib.commands", "course_lib.plan", "course_lib.reference",
       "course_lib.pretrained_scores", "course_lib.bench",
       "course_lib.comparison", "course_lib.ablation", "course_lib.checks",
       "course_lib.exercises", "course_lib.__main__")


def module_name(path: Path, root: Path = PACKAGE) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _absolute(module: str, is_package: bool, level: int, target: str | None) -> str:
    if level == 0:
        return target or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([target] if target else []))


def imports_of(source: str, module: str, is_package: bool = False) -> list[tuple[int, str]]:
    """``(line, imported module)`` for every import in ``source`` (any depth), including
    ``from X import name`` as ``X.name`` and ``import_module("...")`` string literals."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(module, is_package, node.level, node.module)
            found.append((node.lineno, base))
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in ("import_module", "__import__") and node.args and isinstance(
                    node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                target = node.args[0].value
                level = len(target) - len(target.lstrip("."))
                found.append((node.lineno, _absolute(module, is_package, level,
                                                     target.lstrip(".") or None)))
    return found


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def violations(modules: dict[str, tuple[str, bool]]) -> list[str]:
    """Every broken rule in ``{module: (source, is_package)}``, as readable lines."""
    broken = []
    for module, (source, is_package) in sorted(modules.items()):
        for line, target in imports_of(source, module, is_package):
            where = f"{module} (line {line}) imports {target}"
            if "notebook" in target.lower():
                broken.append(f"{where}: nothing in course_lib imports a notebook")
            if not _within(target, "course_lib"):
                continue
            for importer, forbidden, why in RULES:
                if _within(module, importer) and _within(target, forbidden):
                    broken.append(f"{where}: {why}")
            if any(_within(module, b) for b in BOTTOM) and not any(
                    target == b or _within(target, b) for b in BOTTOM_MAY_IMPORT
                    if b != "course_lib") and target not in ("course_lib",
                                                              "course_lib.__version__"):
                broken.append(f"{where}: profiles/device/paths import nothing above them")
            if any(_within(target, t) for t in TOP) and not any(_within(module, t) for t in TOP):
                broken.append(f"{where}: {target} is a top layer; nothing below imports it")
    return broken


def package_modules() -> dict[str, tuple[str, bool]]:
    return {module_name(p): (p.read_text(encoding="utf-8"), p.name == "__init__.py")
            for p in PACKAGE.rglob("*.py")}


def test_the_package_keeps_its_layers():
    modules = package_modules()
    assert len(modules) > 40  # really read the package
    assert violations(modules) == []


@pytest.mark.parametrize("module,source,is_package,expected", [
    ("course_lib.models.pretrained", "from ..datasets import download\n", False,
     "a network knows no dataset"),
    ("course_lib.models.alexnet", "def f():\n    import course_lib.datasets.synthnet\n", False,
     "a network knows no dataset"),
    ("course_lib.scoring.submission",
     "import importlib\ndef f():\n    return importlib.import_module('course_lib.models')\n",
     False, "scoring needs no torch model"),
    ("course_lib.scoring", "from .. import train\n", True, "scoring needs no training core"),
    ("course_lib.datasets.cache", "from ..train.loop import fit\n", False,
     "data does not know how it is used"),
    ("course_lib.profiles", "from .hierarchy import Hierarchy\n", False,
     "import nothing above them"),
    ("course_lib.device", "def f():\n    from .datasets import augment\n", False,
     "import nothing above them"),
    ("course_lib.train.loop", "from ..plan import plan\n", False, "top layer"),
    ("course_lib.train.config", "def f():\n    from ..profiles import resolve\n", False,
     "course_lib.plan turns a profile into one"),
    ("course_lib.datasets.synthnet", "from ..profiles import resolve\n", False,
     "course_lib.plan turns a profile into them"),
    ("course_lib.recipe", "from .profiles import Profile\n", False,
     "course_lib.plan reads the profile"),
    ("course_lib.viz", "import_module('notebooks.helpers')\n", False, "imports a notebook"),
])
def test_a_planted_violation_is_caught(module, source, is_package, expected):
    modules = package_modules()
    modules[module] = (source, is_package)
    found = violations(modules)
    assert any(expected in line and module in line for line in found), found


# the modules that may read a profile: the plan turns one into a run; the reference model is
# named by its profile; doctor reports which was chosen and why; 00's exercise about profiles
READS_PROFILES = {"course_lib.plan", "course_lib.reference", "course_lib.device",
                  "course_lib.checks.start"}


def test_only_the_plan_turns_a_profile_into_run_settings():
    readers = {module for module, (source, is_package) in package_modules().items()
               if module != "course_lib.profiles" and any(
                   _within(target, "course_lib.profiles")
                   for _, target in imports_of(source, module, is_package))}
    assert readers == READS_PROFILES


# the only imports inside functions: optional heavy or platform-bound dependencies, each with
# its reason at the import; intra-library imports all stand at module level
IN_FUNCTION = {
    ("course_lib.bench.memory", "resource"): "Unix only",
    ("course_lib.bench.augment", "torchvision.transforms"): "heavy; the per-image baseline",
    ("course_lib.bench.augment", "torchvision.transforms.v2"): "heavy; the per-image baseline",
    ("course_lib.bench.loader", "torchvision.transforms"): "heavy; the per-image baseline",
    ("course_lib.bench.train", "torchvision"): "heavy; the tutorial-style baselines",
    ("course_lib.interpret", "sklearn.exceptions"): "heavy; the linear probe only",
    ("course_lib.interpret", "sklearn.linear_model"): "heavy; the linear probe only",
    ("course_lib.interpret", "sklearn.pipeline"): "heavy; the linear probe only",
    ("course_lib.interpret", "sklearn.preprocessing"): "heavy; the linear probe only",
    ("course_lib.interpret", "threadpoolctl"): "the probe's BLAS threads",
    ("course_lib.models.baselines", "skimage.feature"): "heavy; the baseline only",
    ("course_lib.models.baselines", "skimage.color"): "heavy; the baseline only",
    ("course_lib.models.baselines", "sklearn.linear_model"): "heavy; the baseline only",
    ("course_lib.models.baselines", "sklearn.pipeline"): "heavy; the baseline only",
    ("course_lib.models.baselines", "sklearn.preprocessing"): "heavy; the baseline only",
    ("course_lib.models.baselines", "sklearn.svm"): "heavy; the baseline only",
    ("course_lib.profiles", "torch"): "the bottom layer stays light",
    ("course_lib.scoring.calibration", "matplotlib.pyplot"): "scoring stays light",
    ("course_lib.scoring.metrics", "torch"): "import course_lib.scoring must not load torch",
}


def in_function_imports() -> list[tuple[str, str]]:
    found = []
    for module, (source, _) in package_modules().items():
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for sub in ast.walk(node):
                    if isinstance(sub, ast.ImportFrom):
                        found.append((module, "." * sub.level + (sub.module or "")))
                    elif isinstance(sub, ast.Import):
                        found += [(module, alias.name) for alias in sub.names]
    return found


def test_imports_stand_where_a_reader_looks():
    """Module-level imports everywhere but the listed optional ones: none inside a function
    reaches into the library, and a new one cannot creep in unnoticed."""
    found = in_function_imports()
    assert [f for f in found if f[1].startswith((".", "course_lib"))] == []  # none (≤ 20 asked)
    assert set(found) <= set(IN_FUNCTION), sorted(set(found) - set(IN_FUNCTION))


def test_only_the_bench_command_imports_bench():
    importers = {module for module, (source, is_package) in package_modules().items()
                 if not _within(module, "course_lib.bench") and any(
                     _within(target, "course_lib.bench")
                     for _, target in imports_of(source, module, is_package))}
    assert importers == {"course_lib.commands.bench"}
    notebooks = sorted(PACKAGE.parent.glob("notebooks/*.ipynb"))
    assert notebooks and not [nb.name for nb in notebooks
                              if "course_lib.bench" in nb.read_text(encoding="utf-8")]


def test_no_private_name_crosses_a_module():
    crossing = []
    for module, (source, _) in package_modules().items():
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith(
                    "course_lib")):
                crossing += [f"{module} imports {alias.name} from {node.module}"
                             for alias in node.names
                             if alias.name.startswith("_") and alias.name != "__version__"]
    assert crossing == []


def test_relative_imports_resolve_like_python():
    assert imports_of("from . import x\n", "course_lib.scoring", True)[0][1] == "course_lib.scoring"
    assert imports_of("from ..paths import data_dir\n", "course_lib.datasets.cache")[0][1] == \
        "course_lib.paths"
    assert imports_of("from .core import a\n", "course_lib.checks.start")[0][1] == \
        "course_lib.checks.core"


def code_lines(source: str, node: ast.AST) -> int:
    """Lines of ``node`` that hold code: not blank, not a comment, not its docstring."""
    body = getattr(node, "body", [])
    doc = set()
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
            and isinstance(body[0].value.value, str):
        doc = set(range(body[0].lineno, body[0].end_lineno + 1))
    lines = source.split("\n")[node.lineno - 1:node.end_lineno]
    return sum(1 for number, line in enumerate(lines, start=node.lineno)
               if line.strip() and not line.strip().startswith("#") and number not in doc)


def test_no_library_function_is_longer_than_60_lines_of_code():
    long = sorted((n, module, node.name) for module, (source, _) in package_modules().items()
                  for node in ast.walk(ast.parse(source))
                  if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                  and (n := code_lines(source, node)) > 60)
    assert long == []


def test_the_line_count_skips_docstrings_comments_and_blanks():
    source = 'def f():\n    """Doc.\n\n    More."""\n    # a comment\n\n    x = 1\n    return x\n'
    assert code_lines(source, ast.parse(source).body[0]) == 3  # def, x = 1, return


BRITISH = re.compile(r"colour|initialis|centre|normalis|summaris|behaviour|grey|favour|optimis"
                     r"|analys|recognis|visualis|neighbour|labell", re.IGNORECASE)


def test_identifiers_are_spelled_the_us_way():
    """Names in code follow PyTorch's spelling (``normalize``, ``center_crop``, ``color``);
    prose and messages stay British."""
    found = set()
    for module, (source, _) in package_modules().items():
        for node in ast.walk(ast.parse(source)):
            names = {ast.FunctionDef: "name", ast.ClassDef: "name", ast.arg: "arg",
                     ast.Name: "id", ast.Attribute: "attr", ast.keyword: "arg"}
            field = names.get(type(node))
            name = getattr(node, field, None) if field else None
            if name and BRITISH.search(name):
                found.add(f"{module}: {name}")
    assert sorted(found) == []
